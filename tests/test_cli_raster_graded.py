"""The demand-raster and graded options of the commands, end to end on the demo data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from deyang_geo.cli.app import main

pytest.importorskip("rasterio")

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
RASTER = DEMO / "population_synthetic.tif"


def _base(command: str, out: Path) -> list[str]:
    return [command, "--network", str(DEMO / "jingyang_synthetic.osm.gz"),
            "--facilities", str(DEMO / "facilities.geojson"),
            "--demand", str(DEMO / "communities.geojson"), "--out", str(out)]


@pytest.fixture(scope="module")
def totals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Known totals per township: the communities table's, written in GBK with Chinese names."""
    comm = gpd.read_file(DEMO / "communities.geojson")
    sums = comm.groupby("township")["population"].sum()
    path = tmp_path_factory.mktemp("totals") / "totals.csv"
    pd.DataFrame({"街道": sums.index, "人口": sums.to_numpy()}).to_csv(
        path, index=False, encoding="gbk")
    return path


@pytest.fixture(scope="module")
def access_run(tmp_path_factory: pytest.TempPathFactory, totals: Path) -> Path:
    out = tmp_path_factory.mktemp("access_raster")
    code = main([*_base("access", out), "--demand-raster", str(RASTER), "--demand-cell-m",
                 "200", "--demand-totals", str(totals), "--elderly-share", "0.2", "--graded",
                 "--decay", "exponential", "--decay-minutes", "8", "--lang", "en"])
    assert code == 0
    return out


def test_raster_population_rescaled_per_township(access_run: Path) -> None:
    comm = gpd.read_file(DEMO / "communities.geojson")
    expected = comm.groupby("township")["population"].sum()
    cov = pd.read_csv(access_run / "coverage.csv", encoding="utf-8-sig")
    one_cat = cov[cov["category"] == cov["category"].iloc[0]]
    got = one_cat.groupby("township")["population"].sum()
    # community populations are the raster's, rounded to whole people
    np.testing.assert_allclose(got.reindex(expected.index), expected, atol=len(comm))
    params = pd.read_csv(access_run / "coverage_parameters.csv", encoding="utf-8-sig")
    values = dict(zip(params["parameter"], params["value"], strict=True))
    assert values["population_source"] == "raster"
    assert values["population_rescaled_by"] == "township"
    assert "Coarse rasters mislead" in values["population_note"]
    assert "100 m" in (access_run / "population_source.txt").read_text(encoding="utf-8")


def testgraded(access_run: Path) -> None:
    acc = pd.read_csv(access_run / "accessibility.csv", encoding="utf-8-sig")
    assert {"potential", "e2sfca_per_1000", "minutes_kth"} <= set(acc.columns)
    assert (acc["potential"] >= 0).all()
    # elderly day care is judged against the 20 % aged 60+
    daycare = acc[acc["category"] == "elderly_daycare"]
    health = acc[acc["category"] == "health_room"].set_index("community_id")
    np.testing.assert_allclose(daycare.set_index("community_id")["population_used"],
                               health["population_used"].reindex(daycare["community_id"]) * 0.2,
                               rtol=1e-3, atol=0.02)
    params = pd.read_csv(access_run / "accessibility_parameters.csv", encoding="utf-8-sig")
    assert "exponential" in params["value"].tolist()
    eq = pd.read_csv(access_run / "equity.csv", encoding="utf-8-sig")
    assert set(eq["scope"]) == {"study_area", "kind", "township"}
    assert eq["gini"].between(0, 1).all()
    comp = pd.read_csv(access_run / "completeness.csv", encoding="utf-8-sig")
    assert (comp["categories_essential"] == 5).all()
    assert comp["completeness"].between(0, 1).all()
    assert (access_run / "lorenz_health_room.png").stat().st_size > 1000


def test_raster_options_need_the_raster(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    code = main([*_base("access", tmp_path / "o"), "--demand-totals", "x.csv"])
    assert code == 2
    assert "--demand-totals needs --demand-raster" in capsys.readouterr().err
    code = main([*_base("access", tmp_path / "o"), "--demand-raster",
                 str(tmp_path / "missing.tif")])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.tif" in err
    assert "population raster does not exist" in err


def test_compliance_with_raster_demand(tmp_path: Path) -> None:
    code = main([*_base("compliance", tmp_path), "--demand-raster", str(RASTER),
                 "--elderly-share", "0.18"])
    assert code == 0
    params = pd.read_csv(tmp_path / "compliance_parameters.csv", encoding="utf-8-sig")
    values = dict(zip(params["parameter"], params["value"], strict=True))
    assert values["population_source"] == "raster"
    assert values["raster_resolution_m"] == "100.0"
