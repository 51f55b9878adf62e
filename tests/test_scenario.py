"""Scenarios: lines noded onto a network (checked against networkx), facilities changed, config.

The network fixture (``fixtures/cli_access_streets.osm``, see ``test_cli_access.py``): a main
street n1..n5 along latitude 31.13, a side street n3-n6-n7 to the north, and an isolated street
n8-n9 far east (n2 and n4 are interstitial, so the streets are n1-n3, n3-n5, n3-n7 and
n8-n9). The bridge below joins the middle of n3-n4 to the middle of n8-n9, so the
isolated street becomes reachable; the expected minutes are computed on the *original* graph
with networkx and the bridge's length, independently of the splitting code.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from deyang_geo.analysis.access import node_minutes
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core.errors import ConfigError, InputError
from deyang_geo.network.build import graph_from_osm_file
from deyang_geo.study.config import load_study
from deyang_geo.study.scenario import (
    Scenario,
    add_lines_to_graph,
    close_facilities,
    enlarge_facilities,
    read_lines,
    read_sites,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NETWORK = FIXTURES / "cli_access_streets.osm"
WALK_MPS = 4.0 / 3.6


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return graph_from_osm_file(NETWORK, modes=("walk", "drive"), retain_all=True,
                               drop_disconnected=False)


def _bridge(start: tuple[float, float], end: tuple[float, float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["步行桥 footbridge"]},
                            geometry=[shapely.LineString([start, end])], crs="EPSG:4326")


def _point_on(G: nx.MultiDiGraph, u: int, v: int, p: shapely.Point) -> tuple[float, float]:
    """Fraction along u-v of p's projection and p's distance to it (metres)."""
    d = min(G[u][v].values(), key=lambda e: e["length"])
    geom = d["geometry"]
    return geom.project(p) / geom.length, geom.distance(p)


def test_bridge_minutes_match_networkx_on_the_original_graph(graph):
    G = graph
    a_lonlat = (104.39625, 31.13009)  # 10 m north of the middle of n3-n4
    b_lonlat = (104.42125, 31.12991)  # 10 m south of the middle of n8-n9
    lines = _bridge(a_lonlat, b_lonlat)
    H = add_lines_to_graph(G, lines, modes=("walk",), source="bridge.geojson")

    # independent reference on the original graph
    pts = lines.to_crs(G.graph["crs"]).geometry.iloc[0]
    pa, pb = shapely.Point(pts.coords[0]), shapely.Point(pts.coords[-1])
    fa, da = _point_on(G, 3, 5, pa)  # n4 is interstitial: the street is n3-n5
    fb, db = _point_on(G, 8, 9, pb)
    ea = G[3][5][0]["geometry"]
    eb = G[8][9][0]["geometry"]
    snap_a, snap_b = ea.interpolate(fa, normalized=True), eb.interpolate(fb, normalized=True)
    bridge_m = snap_a.distance(pa) + pa.distance(pb) + pb.distance(snap_b)
    assert da == pytest.approx(10, abs=0.5)
    assert db == pytest.approx(10, abs=0.5)
    t34 = G[3][5][0]["travel_time_walk"]
    t89 = G[8][9][0]["travel_time_walk"]
    d_orig = nx.single_source_dijkstra_path_length(G, 1, weight="travel_time_walk")
    to_a = min(d_orig[3] + fa * t34, d_orig[5] + (1 - fa) * t34)
    expected = dict(d_orig.items())
    expected[8] = to_a + bridge_m / WALK_MPS + fb * t89
    expected[9] = to_a + bridge_m / WALK_MPS + (1 - fb) * t89
    assert 8 not in d_orig
    assert 9 not in d_orig

    # networkx on the new graph agrees with the reference...
    d_new = nx.single_source_dijkstra_path_length(H, 1, weight="travel_time_walk")
    for n in (1, 3, 5, 7, 8, 9):
        assert d_new[n] == pytest.approx(expected[n], rel=1e-9), n
    # ... and so does the toolkit's compiled routing on the RoutingNetwork of the new graph
    net = RoutingNetwork.from_graph(H)
    x, y = net.x[net.node_ids == 1], net.y[net.node_ids == 1]
    src = snap_points(net, x, y, mode="walk")
    minutes, _ = node_minutes(net, src, mode="walk")
    for n in (1, 5, 7, 8, 9):
        got = minutes[np.flatnonzero(net.node_ids == n)[0]]
        assert got == pytest.approx(expected[n] / 60, abs=1e-6), n


def test_bridge_splits_streets_keeping_length_and_times(graph):
    G = graph
    H = add_lines_to_graph(G, _bridge((104.39625, 31.13009), (104.42125, 31.12991)),
                           modes=("walk",))
    assert H.number_of_nodes() == G.number_of_nodes() + 2
    new = sorted(set(H.nodes) - set(G.nodes))
    assert new == [max(G.nodes) + 1, max(G.nodes) + 2]  # deterministic ids, line order
    a = new[0]
    # n3-n5 split at a, both directions, length and time in proportion; drive times kept
    for u, v in ((3, 5), (5, 3)):
        orig = G[u][v][0]
        first, second = H[u][a][0], H[a][v][0]
        assert first["length"] + second["length"] == pytest.approx(orig["length"])
        for attr in ("travel_time_walk", "travel_time_drive"):
            assert first[attr] + second[attr] == pytest.approx(orig[attr])
        assert first["geometry"].coords[0] == pytest.approx(
            (G.nodes[u]["x"], G.nodes[u]["y"]))
    assert not H.has_edge(3, 5)
    assert not H.has_edge(5, 3)
    # the bridge: both ways, walk only, time from length and speed
    b = new[1]
    e = H[a][b][0]
    assert e["travel_time_walk"] == pytest.approx(e["length"] / WALK_MPS)
    assert "travel_time_drive" not in e
    assert H[b][a][0]["geometry"].equals(e["geometry"].reverse())
    assert G.number_of_edges() == len(list(G.edges))  # the input graph is unchanged
    assert not any(d.get("added") for *_, d in G.edges(data=True))


def test_bridge_end_on_a_node_joins_it(graph):
    G = graph
    n5 = (104.4000, 31.1300)
    n7 = (104.3950, 31.1336)
    H = add_lines_to_graph(G, _bridge(n7, n5), modes=("walk",))
    assert H.number_of_nodes() == G.number_of_nodes()
    assert H.has_edge(7, 5)
    assert H.has_edge(5, 7)
    d_new = nx.shortest_path_length(H, 1, 7, weight="travel_time_walk")
    d_old = nx.shortest_path_length(G, 1, 7, weight="travel_time_walk")
    assert d_new == pytest.approx(d_old)  # from n1 the old way is shorter
    assert nx.shortest_path_length(H, 5, 7, weight="travel_time_walk") == pytest.approx(
        H[5][7][0]["length"] / WALK_MPS)


def test_two_ends_on_one_street_and_shared_join_points(graph):
    G = graph
    lines = gpd.GeoDataFrame(geometry=[
        shapely.LineString([(104.3910, 31.13005), (104.3945, 31.1320)]),
        shapely.LineString([(104.3960, 31.12995), (104.3945, 31.1320)]),
        shapely.LineString([(104.39100001, 31.13004), (104.3958, 31.1330)]),
    ], crs="EPSG:4326")
    H = add_lines_to_graph(G, lines, modes=("walk",), snap_tolerance_m=250)
    new = sorted(set(H.nodes) - set(G.nodes))
    # join points: one on n1-n3 (lines 1 and 3), one on n3-n5 (line 2), two on n3-n7 (lines 1
    # and 2 share one, line 3 has its own): n3-n7 is cut twice
    assert len(new) == 4
    assert H.degree(new[0]) == 4 + 4  # in and out: two street halves and two lines
    path = nx.shortest_path(H, 3, 7, weight="length")
    assert len(path) == 4
    assert all(n in new for n in path[1:-1])
    total_g = sum(d["length"] for *_, d in G.edges(data=True))
    added = sum(d["length"] for *_, d in H.edges(data=True) if d.get("added"))
    total_h = sum(d["length"] for *_, d in H.edges(data=True))
    assert total_h == pytest.approx(total_g + added)


def test_line_far_from_the_network_names_file_and_row(graph):
    lines = _bridge((104.3925, 31.1300), (104.3925, 31.1400))  # the end is 1 km north
    with pytest.raises(InputError, match=r"bridge\.geojson, row 1: the end of the line is "
                                         r"\d+ m from the nearest usable street"):
        add_lines_to_graph(graph, lines, source="bridge.geojson")
    with pytest.raises(InputError, match="not \\['drive'\\]"):
        add_lines_to_graph(graph, lines, modes=("drive",))


def test_read_lines_geojson_and_osm(tmp_path):
    path = tmp_path / "bridge.geojson"
    _bridge((104.39625, 31.13009), (104.42125, 31.12991)).to_file(path, driver="GeoJSON")
    lines = read_lines(path)
    assert list(lines.columns) == ["name", "highway", "geometry"]
    assert lines["highway"].tolist() == ["footway"]
    osm = read_lines(NETWORK)
    # the fixture's streets, each once: n1-n3, n3-n5, n3-n7 and n8-n9 after simplification
    assert len(osm) == 4
    assert osm.crs.to_epsg() == 4326
    gpd.GeoDataFrame(geometry=[shapely.Point(104.39, 31.13)], crs=4326).to_file(
        tmp_path / "p.geojson", driver="GeoJSON")
    with pytest.raises(InputError, match="expected lines"):
        read_lines(tmp_path / "p.geojson")


def _facilities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["A", "B", "C"], "category": ["health_room"] * 3,
         "floor_area_m2": [100.0, np.nan, 50.0], "capacity_population": [1000.0, 500.0, 200.0]},
        geometry=gpd.points_from_xy([104.39, 104.395, 104.40], [31.13] * 3), crs="EPSG:4326")


def test_close_and_enlarge_facilities():
    fac = _facilities()
    closed = close_facilities(fac, ["B"])
    assert closed["id"].tolist() == ["A", "C"]
    big = enlarge_facilities(fac, ["A", "B"], factor=2.0)
    assert big["floor_area_m2"].tolist()[0] == 200.0
    assert np.isnan(big["floor_area_m2"][1])
    assert big["capacity_population"].tolist() == [2000.0, 1000.0, 200.0]
    assert big["enlarged"].tolist() == [True, True, False]
    assert fac["capacity_population"].tolist() == [1000.0, 500.0, 200.0]  # input unchanged
    with pytest.raises(InputError, match="close: facility ids not found: Z"):
        close_facilities(fac, ["Z"], source="study.toml")


def test_read_sites_from_a_suggest_sites_folder(tmp_path):
    folder = tmp_path / "sites"
    folder.mkdir()
    pd.DataFrame({"site_id": ["node:1", "c7"], "longitude": [104.39, 104.40],
                  "latitude": [31.13, 31.131], "rank": [1, 2]}).to_csv(
        folder / "sites.csv", index=False, encoding="utf-8-sig")
    (folder / "summary.json").write_text(json.dumps({"category": "fitness_station"}),
                                         encoding="utf-8")
    sites = read_sites(folder)
    assert sites["id"].tolist() == ["node:1", "c7"]
    assert set(sites["category"]) == {"fitness_station"}
    assert sites.geometry.x.tolist() == [104.39, 104.40]
    (folder / "summary.json").unlink()
    with pytest.raises(InputError, match="category of these sites is unknown"):
        read_sites(folder / "sites.csv")


def test_scenario_applies_to_config_and_inputs(tmp_path):
    from deyang_geo.study.pipeline import StudyInputs

    cfg = load_study(_study(tmp_path, "[scenario.older]\nwalk_speed_kmh = 3.3\n"))
    sc = cfg.scenarios[0]
    assert sc == Scenario(name="older", walk_speed_kmh=3.3)
    changed = sc.apply_to_config(cfg)
    assert changed.network.speeds_kmh["walk"] == 3.3
    assert changed.siting == ()
    assert "walk" not in cfg.network.speeds_kmh  # the base configuration is unchanged
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    inputs = StudyInputs(divisions=empty, study_area=None, communities=empty,
                         facilities=_facilities(), candidates=empty, context=empty)
    out = Scenario(name="x", close=("A",), enlarge=("C",), enlarge_factor=3).apply_to_inputs(
        inputs)
    assert out.facilities["id"].tolist() == ["B", "C"]
    assert out.facilities["floor_area_m2"].tolist()[1] == 150.0


def _study(folder: Path, extra: str) -> Path:
    path = folder / "study.toml"
    path.write_text(
        "[study]\nname = 't'\n[network]\n"
        f"osm = '{NETWORK.as_posix()}'\n"
        "[inputs]\n"
        f"communities = '{(FIXTURES / 'cli_access_communities.geojson').as_posix()}'\n"
        f"facilities = '{(FIXTURES / 'cli_access_facilities.csv').as_posix()}'\n" + extra,
        encoding="utf-8")
    return path


def test_study_file_scenarios_are_checked(tmp_path):
    (tmp_path / "bridge.geojson").write_text("{}", encoding="utf-8")
    cfg = load_study(_study(tmp_path, (
        "[scenario.bridge]\nadd_lines = 'bridge.geojson'\nline_modes = ['walk']\n"
        "[scenario.more]\nadd_sites = ['bridge.geojson']\nsites_category = '体育健身站(点)'\n"
        "close = ['H1']\nenlarge = ['H1']\nenlarge_factor = 2\n")))
    assert [s.name for s in cfg.scenarios] == ["bridge", "more"]
    assert cfg.scenarios[0].add_lines == ((tmp_path / "bridge.geojson").resolve(),)
    assert cfg.scenarios[1].sites_category == "fitness_station"
    with pytest.raises(ConfigError) as err:
        load_study(_study(tmp_path, (
            "[scenario.a]\nadd_lines = 'missing.geojson'\nwalk_speed = 3\n"
            "[scenario.b]\ndescription = 'nothing'\n"
            "[scenario.c]\nwalk_speed_kmh = 3.3\nline_modes = ['drive']\n")))
    text = str(err.value)
    assert "scenario.a.add_lines: file not found" in text
    assert "scenario.a.walk_speed: unknown key (did you mean 'walk_speed_kmh'?)" in text
    assert "scenario.b: the scenario changes nothing" in text
    assert "scenario.c.line_modes: added lines may be used by" in text


def test_sites_listed_in_the_study_file(tmp_path):
    from deyang_geo.study.pipeline import StudyInputs

    cfg = load_study(_study(tmp_path, (
        "[scenario.two]\nsites = [\n"
        "  {id = 'N1', category = '医疗卫生室', lon = 104.3950, lat = 31.1300},\n"
        "  {id = 'N2', name = '新站', category = 'fitness_station', lon = 104.40, lat = 31.13},\n"
        "]\n")))
    sc = cfg.scenarios[0]
    assert [s["category"] for s in sc.sites] == ["health_room", "fitness_station"]
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    inputs = StudyInputs(divisions=empty, study_area=None, communities=empty,
                         facilities=_facilities(), candidates=empty, context=empty)
    fac = sc.apply_to_inputs(inputs).facilities
    assert fac["id"].tolist() == ["A", "B", "C", "N1", "N2"]
    assert fac["proposed"].tolist() == [False, False, False, True, True]
    assert fac.geometry.x.tolist()[3:] == [104.395, 104.40]
    assert json.loads(json.dumps(sc.as_dict()))["sites"][1]["name"] == "新站"
    with pytest.raises(ConfigError) as err:
        load_study(_study(tmp_path, (
            "[scenario.bad]\nsites = [{id = 'N1', category = 'nope', lon = 31.13},\n"
            "  {id = 'N2', category = 'health_room', lon = 104.4, lat = 131.0, x = 1}]\n")))
    text = str(err.value)
    assert "scenario.bad.sites[1]: missing lat" in text
    assert "scenario.bad.sites[2]: unknown keys ['x']" in text
    assert "scenario.bad.sites[2]: lon and lat must be WGS-84 degrees" in text


def test_walking_speed_of_a_saved_graph_is_rescaled(graph):
    from deyang_geo.study.scenario import rescale_walk_speed

    old = graph.graph["speeds_kmh"]["walk"]
    assert old == 4.0
    H = Scenario(name="older", walk_speed_kmh=3.2).apply_to_graph(graph)
    assert H.graph["speeds_kmh"]["walk"] == 3.2
    for u, v, k, d in graph.edges(keys=True, data=True):
        e = H.edges[u, v, k]
        if "travel_time_walk" in d:
            assert e["travel_time_walk"] == pytest.approx(d["travel_time_walk"] * 4.0 / 3.2)
            assert e["travel_time_walk"] == pytest.approx(d["length"] / (3.2 / 3.6))
        if "travel_time_drive" in d:
            assert e["travel_time_drive"] == d["travel_time_drive"]
    assert rescale_walk_speed(graph, walk_speed_kmh=4.0) is graph  # nothing to do
    with pytest.raises(InputError, match="must be a positive number"):
        rescale_walk_speed(graph, walk_speed_kmh=0)


def test_scenario_is_named_in_titles_and_not_flagged_as_a_setting(tmp_path):
    cfg = load_study(_study(tmp_path, "[scenario.older]\nwalk_speed_kmh = 3.3\n"))
    changed = cfg.scenarios[0].apply_to_config(cfg)
    assert changed.name == "t · 方案 scenario older"
