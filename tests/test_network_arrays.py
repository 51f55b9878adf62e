"""Routing arrays built straight from the builder's arrays, without the networkx round trip.

``RoutingNetwork.from_osm_file`` / ``from_network_arrays`` and ``network_summary`` of the
arrays must give exactly what ``RoutingNetwork.from_graph(graph_from_osm_file(...))`` and
``network_summary(graph)`` give: same node order, edge order, weights, geometries, summary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.network.build import graph_from_osm_file, network_arrays_from_osm_file
from deyang_geo.network.summary import network_summary

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ANDORRA = SHARED / "data" / "andorra.osm.pbf"
ISLET_LON = np.array([104.4200, 104.42105])
ISLET_LAT = np.array([31.1302, 31.1301])


def assert_same_network(a: RoutingNetwork, b: RoutingNetwork) -> None:
    """Assert two routing networks are identical, array by array and bit by bit."""
    assert a.crs == b.crs
    assert a.source == b.source
    assert a.modes == b.modes
    assert dict(a.speeds_kmh) == dict(b.speeds_kmh)
    assert list(a.speeds_kmh) == list(b.speeds_kmh)
    for name in ("node_ids", "x", "y", "edge_u", "edge_v", "length_m"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        assert np.array_equal(left, right), name
    for mode in a.modes:
        assert a.weights_s[mode].dtype == b.weights_s[mode].dtype
        assert np.array_equal(a.weights_s[mode], b.weights_s[mode]), mode
    assert a.geometry.shape == b.geometry.shape
    assert np.array_equal(shapely.to_wkb(a.geometry), shapely.to_wkb(b.geometry))


CASES: list[tuple[str, dict[str, Any]]] = [
    ("net_basic.osm", {}),
    ("net_basic.osm", {"retain_all": True, "drop_disconnected": False}),
    ("net_basic.osm", {"simplify": False, "modes": "walk,drive"}),
    ("net_basic.osm", {"modes": "walk,drive", "boundary": box(104.3895, 31.1285, 104.3935,
                                                               31.1315)}),
    ("net_basic.osm", {"modes": "walk", "crs": "EPSG:32648", "speeds_kmh": {"walk": 3.3}}),
    ("net_islet.osm", {"modes": "walk"}),
    ("net_islet.osm", {"modes": "walk", "keep_near": (ISLET_LON, ISLET_LAT)}),
    ("net_islet.osm", {"modes": "walk", "min_piece_km": 0.0}),
    ("std_streets.osm", {}),
    ("cli_access_streets.osm", {"exclude_trunk": True}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_arrays_path_equals_graph_round_trip(name: str, options: dict[str, Any]) -> None:
    path = FIXTURES / name
    G = graph_from_osm_file(path, **options)
    expected = RoutingNetwork.from_graph(G)
    assert_same_network(RoutingNetwork.from_osm_file(path, **options), expected)
    arrays = network_arrays_from_osm_file(path, **options)
    assert_same_network(RoutingNetwork.from_network_arrays(arrays), expected)
    assert network_summary(arrays) == network_summary(G)


def test_graph_from_arrays_is_the_graph() -> None:
    """The lazy graph is the graph graph_from_osm_file returns, attributes in the same order."""
    path = FIXTURES / "std_streets.osm"
    G = graph_from_osm_file(path)
    H = network_arrays_from_osm_file(path).graph()
    assert H.graph == G.graph
    assert list(H.nodes(data=True)) == list(G.nodes(data=True))
    for (u, v, k, d), (u2, v2, k2, d2) in zip(G.edges(keys=True, data=True),
                                              H.edges(keys=True, data=True), strict=True):
        assert (u, v, k) == (u2, v2, k2)
        assert list(d) == list(d2)
        assert {a: b for a, b in d.items() if a != "geometry"} == {
            a: b for a, b in d2.items() if a != "geometry"}
        assert d["geometry"].equals_exact(d2["geometry"], 0.0)


def test_dem_falls_back_to_the_graph(tmp_path: Path) -> None:
    """With a DEM the slope-aware times are computed on the graph: same result either way."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    path = FIXTURES / "net_basic.osm"
    G = graph_from_osm_file(path, modes="walk")
    xs = [d["x"] for d in G.nodes.values()]
    ys = [d["y"] for d in G.nodes.values()]
    x0, y1, cell = min(xs) - 100.0, max(ys) + 100.0, 10.0
    ncols = int((max(xs) - x0 + 100.0) / cell) + 1
    nrows = int((y1 - min(ys) + 100.0) / cell) + 1
    z = np.tile(0.08 * cell * (np.arange(ncols) + 0.5), (nrows, 1))
    raster = tmp_path / "dem.tif"
    with rasterio.open(raster, "w", driver="GTiff", height=nrows, width=ncols, count=1,
                       dtype="float64", crs=G.graph["crs"],
                       transform=Affine(cell, 0.0, x0, 0.0, -cell, y1)) as dst:
        dst.write(z, 1)
    expected = RoutingNetwork.from_graph(graph_from_osm_file(path, modes="walk", dem=raster))
    got = RoutingNetwork.from_osm_file(path, modes="walk", dem=raster)
    assert_same_network(got, expected)
    flat = RoutingNetwork.from_osm_file(path, modes="walk")
    assert not np.array_equal(got.weights_s["walk"], flat.weights_s["walk"])


def test_arrays_path_builds_no_networkx_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """The routing path never constructs a MultiDiGraph (the detour the issue measured)."""
    import networkx as nx

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a networkx graph was built")

    monkeypatch.setattr(nx.MultiDiGraph, "__init__", refuse)
    net = RoutingNetwork.from_osm_file(FIXTURES / "std_streets.osm")
    assert net.n_edges > 0


@pytest.mark.skipif(not ANDORRA.is_file(), reason="../shared/data/andorra.osm.pbf is absent")
def test_andorra_arrays_path_equals_graph_round_trip() -> None:
    G = graph_from_osm_file(ANDORRA)
    expected = RoutingNetwork.from_graph(G)
    arrays = network_arrays_from_osm_file(ANDORRA)
    assert_same_network(RoutingNetwork.from_network_arrays(arrays), expected)
    assert network_summary(arrays) == network_summary(G)
    clip = box(1.50, 42.49, 1.56, 42.53)
    assert_same_network(RoutingNetwork.from_osm_file(ANDORRA, boundary=clip, modes="walk"),
                        RoutingNetwork.from_graph(graph_from_osm_file(ANDORRA, boundary=clip,
                                                                      modes="walk")))


MISSING_NODE_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
<node id="1" lat="31.1300000" lon="104.3900000"/>
<node id="2" lat="31.1300000" lon="104.3910000"/>
<node id="4" lat="-31.1310000" lon="-104.3920000"/>
<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/>
<tag k="highway" v="residential"/><tag k="name" v="x"/></way>
<way id="11"><nd ref="3"/><nd ref="5"/><tag k="highway" v="residential"/></way>
<way id="12"><nd ref="4"/><nd ref="1"/><tag k="highway" v="footway"/></way>
</osm>
"""


def test_reader_flat_arrays_keep_missing_nodes_and_bbox_rules(tmp_path: Path) -> None:
    """The array-based reader: refs kept, unknown locations left out, bbox per way."""
    from deyang_geo.network.osm_file import read_highways

    path = tmp_path / "missing.osm"
    path.write_text(MISSING_NODE_OSM, encoding="utf-8")
    data = read_highways(path, keep_tags=("name",))
    assert data.way_ids == [10, 11, 12]
    assert data.way_nodes == [[1, 2, 3, 4], [3, 5], [4, 1]]
    assert data.way_tags[0] == {"highway": "residential", "name": "x"}
    assert data.node_ids.tolist() == [1, 2, 4]
    assert data.node_lon.tolist() == [104.39, 104.391, -104.392]
    assert data.node_lat.tolist() == [31.13, 31.13, -31.131]
    # a way is kept when one of its known nodes lies in the box (11 has none known)
    boxed = read_highways(path, bbox=(-105.0, -32.0, -104.0, -31.0))
    assert boxed.way_ids == [10, 12]
    assert boxed.node_ids.tolist() == [1, 2, 4]
    assert read_highways(path, bbox=(0.0, 0.0, 1.0, 1.0)).way_ids == []


def test_graphml_written_without_osmnx_is_osmnx_bytes(tmp_path: Path) -> None:
    """save_graph's own GraphML writer gives the bytes of osmnx.save_graphml (the anchor)."""
    import json

    import osmnx as ox

    from deyang_geo.network.storage import save_graph

    G = graph_from_osm_file(FIXTURES / "net_basic.osm", retain_all=True)
    ours = save_graph(G, tmp_path / "ours.graphml")
    H = G.copy()
    for key in ("modes", "speeds_kmh", "components", "disconnected", "dropped_pieces"):
        value = H.graph[key]
        H.graph[key] = json.dumps(list(value) if isinstance(value, tuple) else value,
                                  ensure_ascii=False)
    ox.save_graphml(H, tmp_path / "osmnx.graphml")
    assert ours.read_bytes() == (tmp_path / "osmnx.graphml").read_bytes()


def test_study_network_is_built_from_arrays(tmp_path: Path) -> None:
    """A study on an OSM file routes on the arrays; its graph is built only when asked for."""
    import geopandas as gpd

    from deyang_geo.network.build import NetworkArrays
    from deyang_geo.study.config import load_study
    from deyang_geo.study.pipeline import build_network, build_routing_network, graph_of

    (tmp_path / "streets.osm").write_bytes((FIXTURES / "net_islet.osm").read_bytes())
    gpd.GeoDataFrame(
        {"id": ["C1"], "name": ["甲社区"], "kind": ["urban"], "population": [1000],
         "households": [400], "township": ["旌阳街道"], "division": ["旌阳区"]},
        geometry=gpd.points_from_xy([104.3930], [31.1302]), crs="EPSG:4326",
    ).to_file(tmp_path / "communities.geojson", driver="GeoJSON")
    (tmp_path / "facilities.csv").write_text(
        "id,name,category,lon,lat\nH1,卫生室,health_room,104.3960,31.1302\n", encoding="utf-8")
    study = tmp_path / "study.toml"
    study.write_text('[network]\nosm = "streets.osm"\n[inputs]\n'
                     'communities = "communities.geojson"\nfacilities = "facilities.csv"\n'
                     '[analysis]\ncategories = ["health_room"]\n', encoding="utf-8")
    config = load_study(study)
    keep = gpd.GeoSeries(gpd.points_from_xy([104.4200], [31.1302]), crs="EPSG:4326")
    source, net = build_routing_network(config, keep_near=keep)
    assert isinstance(source, NetworkArrays)
    G, net_graph = build_network(config, keep_near=keep)
    assert_same_network(net, RoutingNetwork.from_graph(G))
    assert_same_network(net, net_graph)
    assert network_summary(source) == network_summary(G)
    cache: dict[str, Any] = {}
    assert graph_of(source, cache=cache) is graph_of(source, cache=cache)
    assert list(graph_of(source).edges(keys=True)) == list(G.edges(keys=True))


def test_building_the_parser_imports_no_engine() -> None:
    """Found while measuring `deyang-geo network`: building the parser imported the map module
    (and with it analysis, geopandas...), seconds paid by every command."""
    import subprocess

    code = ("import sys\nfrom deyang_geo.cli.app import build_parser\nbuild_parser()\n"
            "heavy = [m for m in ('geopandas', 'networkx', 'scipy', 'deyang_geo.analysis',"
            " 'deyang_geo.outputs.command_map') if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ,
                                          "PYTHONPATH": str(Path(__file__).parents[1])})
    assert out.stdout.strip() == "[]"
