"""Tests of snapping points onto edges and of the connector and partial-edge costs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import connector_speed_kmh, end_costs, snap_points
from deyang_geo.core import settings
from deyang_geo.core.errors import InputError

WALK_MS = 4.0 / 3.6


def grid_network(n: int = 6, spacing: float = 100.0, seed: int = 1) -> RoutingNetwork:
    """A perturbed n x n grid, walk both ways; drive one-way on the rows only."""
    rng = np.random.default_rng(seed)
    G = nx.MultiDiGraph(crs="EPSG:32648", speeds_kmh={"walk": 4.0})
    xy = {}
    for i in range(n):
        for j in range(n):
            node = i * n + j + 1
            xy[node] = (j * spacing + rng.uniform(-20, 20), i * spacing + rng.uniform(-20, 20))
            G.add_node(node, x=xy[node][0], y=xy[node][1])
    for i in range(n):
        for j in range(n):
            a = i * n + j + 1
            for b, row in ((a + 1, True), (a + n, False)):
                if (row and j == n - 1) or (not row and i == n - 1):
                    continue
                mid = ((xy[a][0] + xy[b][0]) / 2 + rng.uniform(-10, 10),
                       (xy[a][1] + xy[b][1]) / 2 + rng.uniform(-10, 10))
                line = shapely.LineString([xy[a], mid, xy[b]])
                L = line.length
                G.add_edge(a, b, length=L, geometry=line, travel_time_walk=L / WALK_MS,
                           **({"travel_time_drive": L / 10} if row else {}))
                G.add_edge(b, a, length=L, geometry=line.reverse(),
                           travel_time_walk=L / WALK_MS)
    return RoutingNetwork.from_graph(G)


def test_snap_matches_brute_force_nearest():
    net = grid_network()
    rng = np.random.default_rng(7)
    x = rng.uniform(-100, 600, 400)
    y = rng.uniform(-100, 600, 400)
    s = snap_points(net, x, y, mode="walk", max_snap_m=1e9)
    assert s.snapped.all()
    lines = shapely.MultiLineString(list(net.geometry))
    pts = shapely.points(x, y)
    np.testing.assert_allclose(s.distance_m, shapely.distance(pts, lines), atol=1e-9)
    geoms = net.geometry[s.edge]
    np.testing.assert_allclose(shapely.distance(pts, geoms), s.distance_m, atol=1e-9)
    on_edge = shapely.line_interpolate_point(geoms, s.fraction, normalized=True)
    np.testing.assert_allclose(shapely.distance(pts, on_edge), s.distance_m, atol=1e-6)
    assert ((s.fraction >= 0) & (s.fraction <= 1)).all()
    # one edge of each twin pair is used
    rev = net.reverse_edge
    assert (s.edge < rev[s.edge]).all()


def test_snap_respects_mode_edges():
    net = grid_network()
    # a point right on a column street (walk only) snaps to a row street for drive
    col = np.flatnonzero(~np.isfinite(net.weights_s["drive"]) & (net.edge_u < net.edge_v))
    e = int(col[0])
    p = shapely.line_interpolate_point(net.geometry[e], 0.5, normalized=True)
    walk = snap_points(net, [p.x], [p.y], mode="walk")
    drive = snap_points(net, [p.x], [p.y], mode="drive", max_snap_m=1e9)
    assert walk.edge[0] == e
    assert walk.distance_m[0] == pytest.approx(0.0, abs=1e-9)
    assert drive.edge[0] != e
    assert np.isfinite(net.weights_s["drive"][drive.edge[0]])
    assert drive.distance_m[0] > 1.0


def test_far_and_missing_points_are_not_snapped():
    net = grid_network()
    x = np.array([250.0, 250.0, np.nan, 5000.0])
    y = np.array([-100.0, -100.0, 0.0, 0.0])
    near = snap_points(net, x, y, max_snap_m=1000.0)
    assert near.snapped.tolist() == [True, True, False, False]
    far = snap_points(net, x, y, max_snap_m=50.0)
    assert not far.snapped.any()
    assert (far.edge == -1).all()
    assert np.isnan(far.fraction).all()
    assert np.isnan(far.distance_m).all()


def test_default_max_snap_is_read_at_call_time(monkeypatch):
    net = grid_network()
    x, y = [250.0], [-150.0]  # about 130-170 m below the bottom row
    assert snap_points(net, x, y).snapped[0]
    monkeypatch.setattr(settings, "max_snap_m", 20.0)
    assert not snap_points(net, x, y).snapped[0]


def test_snap_rejects_bad_input():
    net = grid_network()
    with pytest.raises(InputError):
        snap_points(net, [1.0, 2.0], [1.0])
    with pytest.raises(InputError):
        snap_points(net, [1.0], [1.0], max_snap_m=-1)
    with pytest.raises(InputError, match="bike"):
        snap_points(net, [1.0], [1.0], mode="bike")


def test_end_costs_by_hand():
    net = grid_network()
    e = int(np.flatnonzero(np.isfinite(net.weights_s["drive"]))[0])
    p = shapely.line_interpolate_point(net.geometry[e], 0.25, normalized=True)
    s = snap_points(net, [p.x], [p.y + 3.0], mode="drive", max_snap_m=100)
    assert s.edge[0] == e
    f, d = s.fraction[0], s.distance_m[0]
    w = net.weights_s["drive"]
    conn = d / WALK_MS
    src = end_costs(net, s, w, walk_speed_kmh=4.0, as_target=False)
    tgt = end_costs(net, s, w, walk_speed_kmh=4.0, as_target=True)
    assert src.to_v_s[0] == pytest.approx(conn + (1 - f) * w[e])
    assert src.to_u_s[0] == np.inf  # the reverse direction may not be driven
    assert tgt.to_u_s[0] == pytest.approx(conn + f * w[e])
    assert tgt.to_v_s[0] == np.inf
    walk = net.weights_s["walk"]
    back = net.reverse_edge[e]
    src_w = end_costs(net, s, walk, walk_speed_kmh=5.0, as_target=False)
    assert src_w.to_u_s[0] == pytest.approx(d / (5 / 3.6) + f * walk[back])


def test_connector_speed():
    net = grid_network()
    assert connector_speed_kmh(net, "walk", None) == settings.walk_speed_kmh
    assert connector_speed_kmh(net, "drive", None) == settings.walk_speed_kmh
    assert connector_speed_kmh(net, "drive", 5.0) == 5.0
    assert connector_speed_kmh(net, "walk_elderly", None) == settings.walk_elderly_speed_kmh
    # a walking mode's connector is walked at that mode's own speed in the network
    assert connector_speed_kmh(net, "walk_elderly", 5.0) == settings.walk_elderly_speed_kmh
    assert connector_speed_kmh(net.with_speed("walk", 3.0), "walk", None) == 3.0
    assert connector_speed_kmh(net.with_speed("walk", 3.0), "drive", None) == 3.0
    with pytest.raises(InputError):
        connector_speed_kmh(net, "walk", -1.0)


def _fields(s):
    return (s.edge, s.fraction, s.distance_m, s.snapped)


def test_the_same_points_are_snapped_once(monkeypatch):
    """Issue 17: a study snapped its demand units in access, compliance and siting (3x)."""
    from deyang_geo.analysis import snapping

    net = grid_network()
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-50, 550, 300), rng.uniform(-50, 550, 300)
    calls = []
    real = snapping._snap

    def counting(*args, **kwargs):
        calls.append(kwargs["mode"])
        return real(*args, **kwargs)

    monkeypatch.setattr(snapping, "_snap", counting)
    first = snap_points(net, x, y, mode="walk", max_snap_m=40)
    again = snap_points(net, x.copy(), list(y), mode="walk", max_snap_m=40)
    assert calls == ["walk"]
    for a, b in zip(_fields(first), _fields(again), strict=True):
        np.testing.assert_array_equal(a, b)
    first.edge[:] = -7  # a caller changing its result does not change the next one
    assert (snap_points(net, x, y, mode="walk", max_snap_m=40).edge != -7).any()
    # another mode, limit or point set is snapped anew, and equals a fresh network's answer
    snap_points(net, x, y, mode="drive", max_snap_m=40)
    snap_points(net, x, y, mode="walk", max_snap_m=10)
    moved = y.copy()
    moved[0] += 1.0
    snap_points(net, x, moved, mode="walk", max_snap_m=40)
    assert calls == ["walk", "drive", "walk", "walk"]
    fresh = real(grid_network(), x, moved, mode="walk", limit=40.0)
    for a, b in zip(_fields(fresh), _fields(snap_points(net, x, moved, mode="walk",
                                                          max_snap_m=40)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_snapping_keeps_a_bounded_number_of_points(monkeypatch):
    from deyang_geo.analysis import snapping

    net = grid_network()
    monkeypatch.setattr(snapping, "SNAP_CACHE_POINTS", 250)
    rng = np.random.default_rng(6)
    for _ in range(3):
        snap_points(net, rng.uniform(0, 500, 100), rng.uniform(0, 500, 100))
    assert sum(len(v) for v in net._cache["snapped"].values()) == 200
    snap_points(net, rng.uniform(0, 500, 300), rng.uniform(0, 500, 300))  # alone too many
    assert net._cache["snapped"] == {}
