"""The whole study pipeline: ``deyang-geo demo`` and ``deyang-geo run`` on the demo data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pytest

from deyang_geo.cli.app import main
from deyang_geo.io.tables_zh import read_table
from deyang_geo.study.config import load_study
from deyang_geo.study.demo import demo_data_dir


def _copy_demo_inputs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in demo_data_dir().iterdir():
        if f.is_file() and f.suffix in {".geojson", ".gz"}:
            shutil.copy(f, folder / f.name)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out dir 输出"
    assert main(["-q", "demo", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_demo_writes_every_output(demo_out: Path) -> None:
    for name in ["map.html", "report.html", "report_tables.xlsx", "report_layers.gpkg",
                 "access.csv", "coverage.csv", "outside_reach.csv", "compliance_city.csv",
                 "isochrones.gpkg",
                 "compliance.xlsx", "figures/map_fitness_station.png",
                 "figures/map_fitness_station.pdf", "figures/map_service_station.png",
                 "sites/fitness_station/sites.csv", "sites/fitness_station/sites.geojson",
                 "sites/fitness_station/summary.json", "sites/service_station/sites.csv"]:
        assert (demo_out / name).is_file(), name
    # nothing half-written is left behind
    assert not list(demo_out.rglob("*.tmp*"))


@pytest.mark.slow
def test_demo_outputs_say_synthetic(demo_out: Path) -> None:
    html = (demo_out / "map.html").read_text(encoding="utf-8")
    assert "SYNTHETIC" in html
    assert "合成" in html
    report = (demo_out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC" in report


@pytest.mark.slow
def test_demo_access_table_is_consistent(demo_out: Path) -> None:
    access = read_table(demo_out / "access.csv")
    assert list(access.columns[:4]) == ["demand_id", "category", "minutes", "facility_id"]
    config = load_study(demo_data_dir() / "study.toml")
    assert set(access["category"]) == set(config.analysis.categories)
    # one row per demand unit and category
    assert not access.duplicated(["demand_id", "category"]).any()
    per_cat = access.groupby("category").size()
    assert per_cat.nunique() == 1
    reachable = access["minutes"].notna()
    assert (access.loc[reachable, "minutes"] >= 0).all()
    assert access.loc[reachable, "facility_id"].notna().all()
    assert access.loc[~reachable, "facility_id"].isna().all()


@pytest.mark.slow
def test_demo_sites_improve_coverage(demo_out: Path) -> None:
    summary = json.loads((demo_out / "sites/fitness_station/summary.json").read_text("utf-8"))
    assert summary["covered_population_after"] > summary["covered_population_before"]
    assert summary["status"] in {"optimal", "time_limit"}
    assert summary["objective"] <= summary["bound"] + 1e-6
    sites = gpd.read_file(demo_out / "sites/fitness_station/sites.geojson")
    assert len(sites) == 5
    assert list(sites["rank"]) == [1, 2, 3, 4, 5]
    added = sites["added_population"].to_numpy()
    assert abs(added.sum() - (summary["covered_population_after"]
                              - summary["covered_population_before"])) < 1.0


def test_run_with_a_modified_study(tmp_path: Path) -> None:
    """A planner's own study file: fewer categories, an LSCP and a capacitated scenario."""
    src = demo_data_dir()
    _copy_demo_inputs(tmp_path)
    text = (src / "study.toml").read_text(encoding="utf-8")
    head = text.split("[siting.fitness_station]")[0]
    head = head.replace('folder = "../../out/demo"', 'folder = "out"')
    head = head.replace(
        '  "service_centre", "service_station", "health_room", "fitness_station",\n'
        '  "elderly_daycare", "childrens_home", "culture_sports",\n', '  "fitness_station",'
        ' "service_station",\n')
    study = head + """
[siting.fitness_station]
model = "lscp"
minutes = 15
target_share = 0.9
candidates = "both"
time_limit_s = 20

[siting.service_station]
model = "capacitated"
new_sites = 2
minutes = 15
candidates = "file"
time_limit_s = 20

[output]
folder = "out"
lang = "zh"
outputs = ["access", "coverage", "sites"]
"""
    (tmp_path / "study.toml").write_text(study, encoding="utf-8")
    assert main(["-q", "run", str(tmp_path / "study.toml")]) == 0
    out = tmp_path / "out"
    assert (out / "access.csv").is_file()
    assert not (out / "map.html").exists()
    lscp = json.loads((out / "sites/fitness_station/summary.json").read_text("utf-8"))
    reachable = lscp["total_population"] - lscp["uncoverable_population"]
    assert lscp["covered_population_after"] >= min(0.9 * lscp["total_population"],
                                                   reachable) - 1e-6
    cap = read_table(out / "sites/service_station/sites.csv")
    assert len(cap) == 2


def test_run_reports_a_bad_study_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "study.toml"
    bad.write_text((demo_data_dir() / "study.toml").read_text(encoding="utf-8")
                   .replace("new_sites = 5", 'new_sites = "five"'), encoding="utf-8")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "siting.fitness_station.new_sites" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_same_study_gives_the_same_bytes(tmp_path: Path) -> None:
    """Two runs of one study write byte-identical tables, sites and maps."""
    work = tmp_path / "study"
    _copy_demo_inputs(work)
    text = (demo_data_dir() / "study.toml").read_text(encoding="utf-8")
    text = text[:text.index("[output]")] + (
        '[output]\nfolder = "out"\noutputs = ["access", "coverage", "sites", "map"]\n')
    study = work / "study.toml"
    study.write_text(text, encoding="utf-8")
    assert main(["-q", "run", str(study), "--out", str(tmp_path / "a")]) == 0
    assert main(["-q", "run", str(study), "--out", str(tmp_path / "b")]) == 0
    names = ["access.csv", "coverage.csv", "outside_reach.csv", "map.html",
             "sites/fitness_station/sites.csv", "sites/fitness_station/sites.geojson",
             "sites/service_station/alternatives.csv"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.slow
def test_study_can_print_its_report_to_pdf(tmp_path: Path) -> None:
    import os

    from deyang_geo.outputs.report import BROWSERS

    if not any(shutil.which(b) for b in BROWSERS):
        if os.environ.get("DEYANG_REQUIRE_BROWSER") == "1":
            pytest.fail("no Chromium-family browser found")
        pytest.skip("no Chromium-family browser")
    work = tmp_path / "study"
    _copy_demo_inputs(work)
    text = (demo_data_dir() / "study.toml").read_text(encoding="utf-8")
    text = text[:text.index("[siting.fitness_station]")] + (
        '[output]\nfolder = "out"\noutputs = ["coverage", "report", "report_pdf"]\n')
    (work / "study.toml").write_text(text, encoding="utf-8")
    assert main(["-q", "run", str(work / "study.toml")]) == 0
    pdf = work / "out" / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf.stat().st_size > 10_000


# --------------------------------------------------------------------------- issue 11, item 8
ISLET_OSM = Path(__file__).parent / "fixtures" / "net_islet.osm"


def _islet_study(folder: Path) -> Path:
    """A study on the islet fixture: C2 and its health room sit by a 100 m isolated street."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ISLET_OSM, folder / "streets.osm")
    gpd.GeoDataFrame(
        {"id": ["C1", "C2"], "name": ["甲社区", "孤岛社区"], "kind": ["urban", "urban"],
         "population": [1000, 600], "households": [400, 250],
         "township": ["旌阳街道", "旌阳街道"], "division": ["旌阳区", "旌阳区"]},
        geometry=gpd.points_from_xy([104.3930, 104.4200], [31.1302, 31.1302]), crs="EPSG:4326",
    ).to_file(folder / "communities.geojson", driver="GeoJSON")
    pd.DataFrame({"id": ["H1", "H2"], "name": ["长江路卫生室", "孤岛卫生室"],
                  "category": ["health_room", "health_room"],
                  "lon": [104.3960, 104.42105], "lat": [31.1302, 31.1301]},
                 ).to_csv(folder / "facilities.csv", index=False)
    study = folder / "study.toml"
    study.write_text('[network]\nosm = "streets.osm"\n[inputs]\n'
                     'communities = "communities.geojson"\nfacilities = "facilities.csv"\n'
                     '[analysis]\ncategories = ["health_room"]\n', encoding="utf-8")
    return study


def test_people_on_a_small_isolated_street_are_routed(tmp_path: Path) -> None:
    """Item 8: the islet's community was reported "not snapped" because its street was dropped.

    Now its piece is kept (it holds people and a facility) and its minutes equal networkx's
    shortest path between the two snapped points.
    """
    import networkx as nx
    import pyproj
    import shapely

    from deyang_geo.study.pipeline import build_network, load_inputs, run_study

    config = load_study(_islet_study(tmp_path))
    result = run_study(config, out_dir=tmp_path / "out")
    access = result.access
    row = access[(access["demand_id"] == "C2#1") & (access["category"] == "health_room")]
    assert len(row) == 1
    assert "not snapped" not in str(row["unreachable_reason"].iloc[0])
    assert result.network_summary.dropped_pieces == {"pieces": 1, "nodes": 2, "kept_near": 1}
    # the anchor: networkx on the same graph, plus the straight connectors walked at 4 km/h
    G, _ = build_network(config, keep_near=gpd.GeoSeries(
        gpd.points_from_xy([104.42], [31.1302]), crs="EPSG:4326"))
    tr = pyproj.Transformer.from_crs("EPSG:4326", G.graph["crs"], always_xy=True)
    (cx, fx), (cy, fy) = tr.transform([104.4200, 104.42105], [31.1302, 31.1301])
    line = G.get_edge_data(11, 12)[0]["geometry"]
    c, f = shapely.points([cx, fx], [cy, fy])
    connectors_m = line.distance(c) + line.distance(f)
    along = (line.project(f) - line.project(c)) / line.length  # share of the edge walked
    speed_kmh = G.graph["speeds_kmh"]["walk"]
    expected = (along * nx.shortest_path_length(G, 11, 12, weight="travel_time_walk") / 60.0
                + connectors_m / 1000.0 / speed_kmh * 60.0)
    assert float(row["minutes"].iloc[0]) == pytest.approx(expected, rel=1e-9)
    # before this change (no points to keep) the piece went, and C2 with it
    G_old, net_old = build_network(config)
    assert not {11, 12} & set(G_old.nodes)
    from deyang_geo.analysis.access import minutes_to_nearest
    from deyang_geo.analysis.demand import demand_units
    from deyang_geo.core.errors import InputWarning

    inputs = load_inputs(config)
    units = demand_units(inputs.communities, crs=net_old.crs)
    with pytest.warns(InputWarning, match="snap"):
        old = minutes_to_nearest(net_old, units, inputs.facilities.to_crs(net_old.crs),
                                 categories=["health_room"])
    old_c2 = old[old["demand_id"] == "C2#1"]
    assert "not snapped" in str(old_c2["unreachable_reason"].iloc[0])
