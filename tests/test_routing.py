"""Tests of the compact routing form: conversion, edge order, twins, CSR, save/load."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.core.errors import InputError, NetworkError

WALK_MS = 4.0 / 3.6


def square_graph(*, one_way_drive: bool = True) -> nx.MultiDiGraph:
    """A 100 m square 1-2-3-4 walked both ways; drive only 1->2 on the bottom street."""
    G = nx.MultiDiGraph(crs="EPSG:32648", modes=("walk", "drive"),
                        speeds_kmh={"walk": 4.0, "drive": "maxspeed"}, source="hand-made")
    pts = {10: (0.0, 0.0), 20: (100.0, 0.0), 30: (100.0, 100.0), 40: (0.0, 100.0)}
    for n, (x, y) in pts.items():
        G.add_node(n, x=x, y=y)
    for a, b in [(10, 20), (20, 30), (30, 40), (40, 10)]:
        for u, v in [(a, b), (b, a)]:
            data = {"length": 100.0, "geometry": shapely.LineString([pts[u], pts[v]]),
                    "travel_time_walk": 100.0 / WALK_MS, "highway": "residential"}
            if not one_way_drive or (u, v) == (10, 20):
                data["travel_time_drive"] = 10.0
            G.add_edge(u, v, **data)
    return G


def test_from_graph_arrays_match_graph():
    G = square_graph()
    net = RoutingNetwork.from_graph(G)
    assert net.crs == "EPSG:32648"
    assert net.modes == ("walk", "drive")
    assert net.n_nodes == 4
    assert net.n_edges == 8
    np.testing.assert_array_equal(net.node_ids, [10, 20, 30, 40])
    # edges sorted by (u, v)
    pairs = list(zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True))
    assert pairs == sorted(pairs)
    for e in range(net.n_edges):
        u, v = int(net.node_ids[net.edge_u[e]]), int(net.node_ids[net.edge_v[e]])
        data = G.edges[u, v, 0]
        assert net.length_m[e] == data["length"]
        assert net.weights_s["walk"][e] == data["travel_time_walk"]
        assert net.weights_s["drive"][e] == data.get("travel_time_drive", np.inf)
        assert net.geometry[e].equals(data["geometry"])
    assert np.isfinite(net.weights_s["drive"]).sum() == 1
    assert net.speeds_kmh["walk"] == 4.0
    assert G.number_of_edges() == 8  # input untouched


def test_edge_order_is_deterministic():
    G = square_graph()
    H = nx.MultiDiGraph(**G.graph)
    H.add_nodes_from(reversed(list(G.nodes(data=True))))
    H.add_edges_from(reversed(list(G.edges(keys=True, data=True))))
    a, b = RoutingNetwork.from_graph(G), RoutingNetwork.from_graph(H)
    np.testing.assert_array_equal(a.edge_u, b.edge_u)
    np.testing.assert_array_equal(a.edge_v, b.edge_v)
    np.testing.assert_array_equal(a.weights_s["walk"], b.weights_s["walk"])


def test_reverse_edges_pair_twins():
    net = RoutingNetwork.from_graph(square_graph())
    rev = net.reverse_edge
    assert (rev >= 0).all()
    np.testing.assert_array_equal(rev[rev], np.arange(net.n_edges))
    np.testing.assert_array_equal(net.edge_u[rev], net.edge_v)
    np.testing.assert_array_equal(net.edge_v[rev], net.edge_u)


def test_reverse_edges_parallel_streets_pair_by_length():
    G = nx.MultiDiGraph(crs="EPSG:32648")
    G.add_node(1, x=0.0, y=0.0)
    G.add_node(2, x=100.0, y=0.0)
    straight = shapely.LineString([(0, 0), (100, 0)])
    bent = shapely.LineString([(0, 0), (50, 50), (100, 0)])
    for geom in (bent, straight):
        L = geom.length
        G.add_edge(1, 2, length=L, geometry=geom, travel_time_walk=L)
        G.add_edge(2, 1, length=L, geometry=geom.reverse(), travel_time_walk=L)
    G.add_edge(1, 1, length=5.0, travel_time_walk=5.0)  # self-loop: no twin, gets a line
    net = RoutingNetwork.from_graph(G)
    rev = net.reverse_edge
    for e in range(net.n_edges):
        if net.edge_u[e] == net.edge_v[e]:
            assert rev[e] == -1
        else:
            assert net.length_m[rev[e]] == pytest.approx(net.length_m[e])
    assert net.geometry[np.flatnonzero(net.edge_u == net.edge_v)[0]] is not None


def test_csr_lists_usable_edges_only():
    net = RoutingNetwork.from_graph(square_graph())
    csr = net.csr("drive")
    assert csr.indptr[-1] == 1
    e = int(csr.edge[0])
    assert (net.node_ids[net.edge_u[e]], net.node_ids[net.edge_v[e]]) == (10, 20)
    walk = net.csr("walk")
    assert walk.indptr.tolist() == [0, 2, 4, 6, 8]
    np.testing.assert_array_equal(walk.indices, net.edge_v)


def test_walk_speed_rescales_walk_weights_only():
    net = RoutingNetwork.from_graph(square_graph())
    fast = net.weights_for("walk", walk_speed_kmh=5.0)
    np.testing.assert_allclose(fast, net.weights_s["walk"] * 4.0 / 5.0)
    assert net.weights_for("drive", walk_speed_kmh=5.0) is net.weights_s["drive"]
    np.testing.assert_allclose(net.csr("walk", walk_speed_kmh=5.0).weights_s, 100.0 / (5 / 3.6))
    with pytest.raises(InputError):
        net.weights_for("walk", walk_speed_kmh=0.0)
    with pytest.raises(InputError, match="bike"):
        net.csr("bike")


def test_with_speed_reweights_one_mode_only():
    G = square_graph()
    G.graph["modes"] = ("walk", "walk_elderly", "drive")
    G.graph["speeds_kmh"] = {"walk": 4.0, "walk_elderly": 2.5, "drive": "maxspeed"}
    for *_, d in G.edges(data=True):
        d["travel_time_walk_elderly"] = d["length"] / (2.5 / 3.6)
    net = RoutingNetwork.from_graph(G)
    assert net.speed_kmh("walk_elderly") == 2.5
    assert net.speed_kmh("drive") is None
    fast = net.with_speed("walk", 5.0)
    assert fast.speeds_kmh["walk"] == 5.0
    assert fast.speeds_kmh["walk_elderly"] == 2.5
    np.testing.assert_allclose(fast.weights_s["walk"], 100.0 / (5 / 3.6))
    assert fast.weights_s["walk_elderly"] is net.weights_s["walk_elderly"]
    assert net.with_speed("walk", 5.0) is fast  # cached
    assert net.with_speed("walk", 4.0) is net
    np.testing.assert_allclose(fast.csr("walk").weights_s, 100.0 / (5 / 3.6))
    # walk_speed_kmh is the speed of walk, never of walk_elderly
    assert net.weights_for("walk_elderly", walk_speed_kmh=4.0) is net.weights_s["walk_elderly"]
    with pytest.raises(InputError, match="no single speed"):
        net.with_speed("drive", 30.0)
    with pytest.raises(InputError, match="positive"):
        net.with_speed("walk", -1.0)


def test_reverse_csr_is_the_transpose():
    import scipy.sparse

    net = RoutingNetwork.from_graph(square_graph())
    for mode in ("walk", "drive"):
        fwd, rev = net.csr(mode), net.csr(mode, reverse=True)
        n = net.n_nodes
        a = scipy.sparse.csr_array((fwd.weights_s, fwd.indices, fwd.indptr), shape=(n, n))
        b = scipy.sparse.csr_array((rev.weights_s, rev.indices, rev.indptr), shape=(n, n))
        np.testing.assert_allclose(a.T.toarray(), b.toarray())
        # edge ids point at edges whose head is the row
        rows = np.repeat(np.arange(n), np.diff(rev.indptr))
        np.testing.assert_array_equal(net.edge_v[rev.edge], rows)


def test_self_loops_pair_with_the_loop_drawn_the_other_way():
    G = square_graph()
    loop = shapely.LineString([(0, 0), (-30, 0), (-30, -30), (0, 0)])
    other = shapely.LineString([(0, 0), (-50, 0), (-50, -50), (0, 0)])
    for geom in (loop, loop.reverse(), other):  # `other` is a one-way loop: no twin
        G.add_edge(10, 10, length=geom.length, geometry=geom,
                   travel_time_walk=geom.length / WALK_MS)
    net = RoutingNetwork.from_graph(G)
    loops = np.flatnonzero(net.edge_u == net.edge_v)
    assert loops.size == 3
    rev = net.reverse_edge
    paired = [e for e in loops if rev[e] >= 0]
    assert len(paired) == 2
    a, b = paired
    assert rev[a] == b
    assert rev[b] == a
    assert net.geometry[a].equals_exact(net.geometry[b].reverse(), 0)
    (lonely,) = [e for e in loops if rev[e] < 0]
    assert net.geometry[lonely].equals(other)


def test_pieces_numbered_by_street_length():
    G = square_graph()
    G.add_node(50, x=1000.0, y=0.0)
    G.add_node(60, x=1000.0, y=30.0)
    line = shapely.LineString([(1000, 0), (1000, 30)])
    G.add_edge(50, 60, length=30.0, geometry=line, travel_time_walk=30 / WALK_MS)
    G.add_edge(60, 50, length=30.0, geometry=line.reverse(), travel_time_walk=30 / WALK_MS)
    net = RoutingNetwork.from_graph(G)
    p = net.pieces("walk")
    assert p.node_piece.tolist() == [0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(p.street_km, [0.4, 0.03])
    assert p.n_nodes.tolist() == [4, 2]
    d = net.pieces("drive")  # only 10->20 is drivable
    assert d.node_piece.tolist() == [0, 0, -1, -1, -1, -1]
    assert net.with_speed("walk", 5.0).pieces("walk") is p


def test_save_load_round_trip(tmp_path):
    net = RoutingNetwork.from_graph(square_graph())
    path = net.save(tmp_path / "net.npz")
    assert path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "net.npz"]
    back = RoutingNetwork.load(path)
    for name in ("node_ids", "x", "y", "edge_u", "edge_v", "length_m"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    assert back.modes == net.modes
    for m in net.modes:
        np.testing.assert_array_equal(back.weights_s[m], net.weights_s[m])
    assert all(a.equals_exact(b, 0) for a, b in zip(back.geometry, net.geometry, strict=True))
    assert back.crs == net.crs
    assert back.speeds_kmh == net.speeds_kmh
    assert back.source == "hand-made"


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.arange(3))
    with pytest.raises(InputError, match="not a saved RoutingNetwork"):
        RoutingNetwork.load(bad)
    with pytest.raises(InputError):
        RoutingNetwork.load(tmp_path / "missing.npz")


def test_edges_gdf():
    net = RoutingNetwork.from_graph(square_graph())
    gdf = net.edges_gdf()
    assert list(gdf.columns) == ["edge", "u", "v", "length_m", "walk_s", "drive_s", "geometry"]
    assert gdf.crs == "EPSG:32648"
    assert len(gdf) == 8


def test_bad_graphs_are_refused():
    G = square_graph()
    G.graph["crs"] = "EPSG:4326"
    with pytest.raises(NetworkError, match="geographic"):
        RoutingNetwork.from_graph(G)
    H = nx.MultiDiGraph(crs="EPSG:32648")
    H.add_node("a", x=0.0, y=0.0)
    with pytest.raises(NetworkError, match="integers"):
        RoutingNetwork.from_graph(H)
    with pytest.raises(NetworkError, match="no nodes"):
        RoutingNetwork.from_graph(nx.MultiDiGraph(crs="EPSG:32648"))
    with pytest.raises(NetworkError, match="bike"):
        RoutingNetwork.from_graph(square_graph(), modes=["bike"])


def test_graph_from_osm_xml(tmp_path):
    ox = pytest.importorskip("osmnx")
    xml = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
  <node id="1" lat="31.1000" lon="104.4000"/>
  <node id="2" lat="31.1000" lon="104.4010"/>
  <node id="3" lat="31.1010" lon="104.4010"/>
  <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
</osm>"""
    path = tmp_path / "tiny.osm"
    path.write_text(xml, encoding="utf-8")
    G = ox.graph_from_xml(path, simplify=False, retain_all=True)
    G = ox.project_graph(G)
    for _, _, d in G.edges(data=True):
        d["travel_time_walk"] = d["length"] / WALK_MS
    net = RoutingNetwork.from_graph(G)
    assert net.n_nodes == 3
    assert net.n_edges == 4
    assert (net.reverse_edge >= 0).all()
    assert net.length_m.sum() == pytest.approx(2 * (95.3 + 111.2), rel=0.02)
