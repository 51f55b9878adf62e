"""Reductions and building blocks of the siting models, and writing a result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from deyang_geo.core.errors import InputError
from deyang_geo.planning.siting import coverage_matrix, minutes_csr
from deyang_geo.planning.siting.core import dominated_candidates, merge_identical_columns
from deyang_geo.planning.siting.maximal_coverage import mclp


def test_minutes_csr_keeps_zeros_and_smallest_duplicate() -> None:
    coo = sp.coo_array((np.array([0.0, 5.0, 3.0, np.nan]),
                        (np.array([0, 1, 1, 0]), np.array([0, 1, 1, 1]))), shape=(2, 2))
    m = minutes_csr(coo)
    assert m.nnz == 2
    assert m[0, 0] == 0.0
    assert m[1, 1] == 3.0
    cov = coverage_matrix(coo, max_minutes=2.0)
    assert cov.nnz == 1  # the 0-minute entry covers, 3 minutes does not
    with pytest.raises(InputError):
        minutes_csr(sp.csr_array(np.array([[-1.0]])))


def test_merge_identical_columns_groups_exactly() -> None:
    rng = np.random.default_rng(5)
    base = (rng.uniform(size=(12, 30)) < 0.3).astype(float)
    dense = np.concatenate([base, base[:, :10], base[:, 5:15]], axis=1)
    a = sp.csr_array(dense)
    w = rng.integers(1, 9, dense.shape[1]).astype(float)
    keep = dense.any(axis=0)
    mg = merge_identical_columns(a, w, keep)
    groups: dict[bytes, float] = {}
    for i in np.flatnonzero(keep):
        key = dense[:, i].tobytes()
        groups[key] = groups.get(key, 0.0) + w[i]
    assert mg.a.shape[1] == len(groups)
    got = {mg.a.toarray()[:, g].tobytes(): mg.weights[g] for g in range(mg.a.shape[1])}
    assert got == groups
    assert np.all(mg.group[~keep] == -1)


def test_dominated_candidates_against_brute_force() -> None:
    rng = np.random.default_rng(2)
    dense = (rng.uniform(size=(10, 12)) < 0.35).astype(float)
    dense[3] = dense[1]  # identical to a lower index: dropped
    dense[4] = np.maximum(dense[4], dense[5])  # 5 inside 4
    costs = np.ones(10)
    drop = dominated_candidates(sp.csr_array(dense), costs, np.zeros(10, dtype=bool))
    sets = [set(np.flatnonzero(r)) for r in dense]
    for j in range(10):
        dominated = not sets[j] or any(
            k != j and sets[j] <= sets[k] and (len(sets[k]) > len(sets[j]) or k < j)
            for k in range(10))
        assert drop[j] == dominated, j
    assert drop[3]
    assert drop[5]
    # a cheaper subset is not dominated
    costs[5] = 0.5
    drop = dominated_candidates(sp.csr_array(dense), costs, np.zeros(10, dtype=bool))
    assert not drop[5] or not sets[5]


def test_result_write(tmp_path: Path) -> None:
    import geopandas as gpd

    reach = sp.csr_array((np.array([1.0, 2.0, 3.0, 0.0, 4.0]),
                          (np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 3]))), shape=(3, 4))
    w = np.array([10.0, 10.0, 30.0, 25.0])
    res = mclp(reach, w, new_sites=2, candidate_ids=["A", "B", "C"],
               unit_community=["c1", "c1", "c2", "c3"])
    assert list(res.sites["newly_covered_communities"]) == [["c1", "c2"], ["c3"]]
    cands = gpd.GeoDataFrame({"id": ["A", "B", "C"]},
                             geometry=gpd.points_from_xy([104.1, 104.2, 104.3], [31.1] * 3),
                             crs="EPSG:4326")
    import pandas as pd

    comms = pd.DataFrame({"id": ["c1", "c2", "c3"], "division": ["旌阳区", "旌阳区", "罗江区"],
                          "name": ["甲社区", "乙社区", "丙村"]})
    paths = res.write(tmp_path, candidates=cands, communities=comms,
                      extra_summary={"category": "x"})
    div = pd.read_csv(tmp_path / "division_coverage.csv", encoding="utf-8-sig")
    assert dict(zip(div["division"], div["covered_population_after"], strict=True)) == {
        "旌阳区": 40.0, "罗江区": 25.0}
    assert set(paths) >= {"sites.csv", "sites.geojson", "summary.json", "alternatives.csv"}
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective"] == 65.0
    assert summary["covered_population_after"] == 65.0
    assert summary["category"] == "x"
    text = (tmp_path / "sites.csv").read_text(encoding="utf-8-sig")
    # sites a person can find: a name, street, community, township, then both coordinates
    assert text.splitlines()[0].startswith(
        "site_id,name,street,street_distance_m,community,township,longitude,latitude,"
        "longitude_gcj02,latitude_gcj02")
    assert {"sites.kml", "sites_gcj02.geojson"} <= set(paths)
    # found: lists of communities gave ids only; the names come alongside
    assert "甲社区;乙社区" in text
    gj = json.loads((tmp_path / "sites.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["site_id"] for f in gj["features"]] == ["B", "C"]
    with pytest.raises(AttributeError):
        res.objective = 0.0  # type: ignore[misc]
    # writing twice gives the same files (deterministic)
    first = (tmp_path / "sites.csv").read_bytes()
    res.write(tmp_path, candidates=cands, communities=comms)
    assert (tmp_path / "sites.csv").read_bytes() == first


def test_sites_csv_rounds_people_once(tmp_path: Path) -> None:
    """Found: sites.csv rounded added_population to 1 decimal and then to whole persons,
    so 12.51 people became 12.5 and then 12 (half to even) instead of 13."""
    import pandas as pd

    reach = sp.csr_array((np.array([1.0, 1.0]), (np.array([0, 1]), np.array([0, 1]))),
                         shape=(2, 2))
    res = mclp(reach, np.array([12.51, 3.0]), new_sites=1, candidate_ids=["A", "B"])
    assert res.sites["added_population"].iloc[0] == pytest.approx(12.51)
    res.write(tmp_path / "zh", lang="zh")
    zh = pd.read_csv(tmp_path / "zh" / "sites.csv", encoding="utf-8-sig")
    assert zh["新增覆盖人口"].tolist() == [13]
    res.write(tmp_path / "en", lang="en")
    en = pd.read_csv(tmp_path / "en" / "sites.csv", encoding="utf-8-sig")
    assert en["added_population"].tolist() == [12.5]
