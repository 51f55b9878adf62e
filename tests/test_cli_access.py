"""End-to-end tests of the ``access`` and ``isochrones`` commands on a hand-drawn OSM fixture.

The fixture (``fixtures/cli_access_streets.osm``) is a main street running east along latitude
31.13 with nodes every 0.0025 degrees of longitude (n1..n5), a side street running north from
its middle node n3 (two steps of 0.0018 degrees of latitude, n6 and n7) and an isolated street
far east that the network reader drops as a disconnected piece. The health room H1 stands on
n1; the library L1 on the isolated street (hence unsnapped: no library is reachable).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from deyang_geo.cli.app import main
from deyang_geo.io.tables_zh import read_table

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NETWORK = FIXTURES / "cli_access_streets.osm"
FACILITIES = FIXTURES / "cli_access_facilities.csv"
COMMUNITIES = FIXTURES / "cli_access_communities.geojson"

EARTH_RADIUS_M = 6_371_009.0  # osmnx's great-circle radius
LAT0 = 31.13
STEP_EAST_M = EARTH_RADIUS_M * math.cos(math.radians(LAT0)) * math.radians(0.0025)
STEP_NORTH_M = EARTH_RADIUS_M * math.radians(0.0018)
CONNECTOR_C1_M = EARTH_RADIUS_M * math.radians(0.00018)  # C1 stands 20 m north of n2


def _walk_minutes(metres: float, speed_kmh: float = 4.0) -> float:
    return metres / (speed_kmh * 1000 / 60)


def _run_access(out: Path, *extra: str, facilities: Path = FACILITIES) -> int:
    return main(["access", "--network", str(NETWORK), "--facilities", str(facilities),
                 "--demand", str(COMMUNITIES), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("access")
    # one threshold for every category (without --minutes: each category's catalog threshold)
    assert _run_access(out, "--minutes", "15") == 0
    return out


def _access(out: Path) -> pd.DataFrame:
    return read_table(out / "access.csv")


def _minutes(table: pd.DataFrame, demand_id: str, category: str = "health_room") -> float:
    row = table[(table["demand_id"] == demand_id) & (table["category"] == category)]
    assert len(row) == 1
    return float(row["minutes"].iloc[0])


def test_access_csv_rows_and_minutes(default_run: Path) -> None:
    raw = (default_run / "access.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = _access(default_run)
    assert list(table.columns) == ["demand_id", "category", "minutes", "facility_id"]
    # C1..C4 are points (one unit each), C5 is a polygon spread over two grid points
    assert list(table["demand_id"]) == [d for d in ("C1#1", "C2#1", "C3#1", "C4#1", "C5#1",
                                                    "C5#2") for _ in range(2)]
    assert list(table["category"]) == ["health_room", "library_room"] * 6
    expected = {
        "C1#1": _walk_minutes(CONNECTOR_C1_M + STEP_EAST_M),
        "C2#1": _walk_minutes(4 * STEP_EAST_M),
        "C3#1": _walk_minutes(2 * STEP_EAST_M + 2 * STEP_NORTH_M),
    }
    for demand_id, minutes in expected.items():
        assert _minutes(table, demand_id) == pytest.approx(minutes, abs=0.05)
    health = table[table["category"] == "health_room"]
    assert set(health["facility_id"].dropna()) == {"H1"}
    # C4 is 1.7 km from any street, the library is unreachable: empty minutes and facility
    assert math.isnan(_minutes(table, "C4#1"))
    library = table[table["category"] == "library_room"]
    assert library["minutes"].isna().all()
    assert library["facility_id"].isna().all()
    # Chinese first (the default --lang both): bilingual headers, Chinese category names,
    # minutes to one decimal; read_table maps it back (above)
    text = raw.decode("utf-8-sig")
    assert text.startswith("需求点编号 demand_id,设施类别 category,出行时间(分钟) minutes,")
    assert f"C1#1,医疗卫生室,{expected['C1#1']:.1f},H1" in text


def test_coverage_csv(default_run: Path) -> None:
    cov = read_table(default_run / "coverage.csv")
    health = cov[cov["category"] == "health_room"].set_index("community_id")
    assert list(health.index) == ["C1", "C2", "C3", "C4", "C5"]
    assert health.loc["C1", "name"] == "甲社区"
    assert list(health["population"]) == [1000, 800, 500, 300, 1200]
    assert list(health["class"]) == ["covered", "covered", "covered", "outside", "covered"]
    # C2 is 14.3 minutes away: covered at 15 minutes only
    assert (health.loc["C2", "covered_share_10min"], health.loc["C2", "covered_share_15min"]) == (
        0.0, 1.0)
    assert health.loc["C1", "covered_population_5min"] == 1000
    assert (cov[cov["category"] == "library_room"]["class"] == "outside").all()
    study = read_table(default_run / "coverage_study_area.csv")
    row = study[(study["kind"] == "all") & (study["category"] == "health_room")].iloc[0]
    assert row["covered_population_15min"] == 3500
    assert row["covered_share_15min"] == pytest.approx(3500 / 3800, abs=1e-4)
    outside = read_table(default_run / "outside_reach.csv")
    assert list(outside["community_id"])[:2] == ["C5", "C1"]  # most people uncovered first
    html = (default_run / "map.html").read_text(encoding="utf-8")
    assert "甲社区" in html


def test_walk_speed_and_threshold(tmp_path: Path, default_run: Path) -> None:
    assert _run_access(tmp_path, "--walk-speed-kmh", "5", "--minutes", "12") == 0
    table = _access(tmp_path)
    base = _access(default_run)
    # minutes have one decimal in the Chinese-first file
    assert _minutes(table, "C2#1") == pytest.approx(_minutes(base, "C2#1") * 4 / 5, abs=0.11)
    cov = read_table(tmp_path / "coverage.csv")
    assert "covered_share_12min" in cov.columns
    c2 = cov[(cov["community_id"] == "C2") & (cov["category"] == "health_room")].iloc[0]
    assert (c2["covered_share_12min"], c2["class"]) == (1.0, "covered")  # 11.4 <= 12


def test_bad_input_exits_2_with_a_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run_access(tmp_path / "out", facilities=FIXTURES / "cli_access_bad_facilities.csv")
    assert code == 2
    err = capsys.readouterr().err
    assert "cli_access_bad_facilities.csv" in err
    assert "'category'" in err
    assert not (tmp_path / "out" / "access.csv").exists()
    assert _run_access(tmp_path / "out", "--minutes", "0") == 2
    assert "--minutes must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_isochrones(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"areas{suffix}"
    code = main(["isochrones", "--network", str(NETWORK), "--facilities", str(FACILITIES),
                 "--minutes", "10,5", "--out", str(out)])
    assert code == 0
    areas = gpd.read_file(out)
    assert areas.crs is not None
    assert areas.crs.to_epsg() == 4326
    health = areas[areas["category"] == "health_room"].sort_values("minutes")
    assert list(health["minutes"]) == [5.0, 10.0]
    five, ten = health.geometry.iloc[0], health.geometry.iloc[1]
    assert five.contains(shapely.Point(104.3905, 31.13))
    assert ten.contains(shapely.Point(104.3945, 31.13))
    assert not five.contains(shapely.Point(104.3945, 31.13))
    # 5 minutes = 333 m of street from H1, buffered by 50 m: a 333 x 100 m band + round ends
    area_m2 = float(health.to_crs("EPSG:32648").area.iloc[0])
    assert area_m2 == pytest.approx(5 * 4000 / 60 * 100 + math.pi * 50**2, rel=0.02)
    metric = health.to_crs("EPSG:32648").geometry
    assert metric.iloc[0].difference(metric.iloc[1]).area < 1e-3  # nested bands


def test_isochrones_bad_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["isochrones", "--network", str(NETWORK), "--facilities", str(FACILITIES),
                 "--out", str(tmp_path / "areas.shp")])
    assert code == 2
    assert "--out must end in .gpkg or .geojson" in capsys.readouterr().err
