"""Tests of the fast nearest-minutes search: bucket kernel, node renumbering, threads.

The bucket search must give the minutes of a Dijkstra bit for bit (the heap kernel it
replaced, scipy's csgraph and networkx as references) on random graphs with one-way edges,
disconnected pieces and zero-length edges, whatever the node order and thread count.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import scipy.sparse
from scipy.sparse.csgraph import dijkstra

from deyang_geo.analysis import kernels as _kernels
from deyang_geo.analysis.access import (
    minutes_to_nearest,
    nearest_minutes,
    node_minutes,
    node_minutes_many,
    resolve_threads,
)
from deyang_geo.analysis.routing import RoutingNetwork, hilbert_index
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core.errors import InputError, InputWarning, NetworkError

CRS = "EPSG:32648"
WALK_MS = 4.0 / 3.6


def random_graph(rng: np.random.Generator, n: int, *, integer: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random directed edges (u, v, w): one-way edges, parallel edges, zero-length edges,
    self-loops and, with half the nodes kept apart, disconnected pieces."""
    m = 3 * n
    half = n // 2
    u = rng.integers(0, n, m)
    v = np.where(u < half, rng.integers(0, half, m), rng.integers(half, n, m))  # two pieces
    w = rng.integers(0, 20, m).astype(float) if integer else rng.uniform(0.0, 50.0, m)
    w[rng.random(m) < 0.1] = 0.0  # zero-length edges
    two_way = rng.random(m) < 0.6
    uu = np.concatenate([u, v[two_way]])
    vv = np.concatenate([v, u[two_way]])
    ww = np.concatenate([w, w[two_way]])
    return uu, vv, ww


def csr_of(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.lexsort((v, u))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return indptr, v[order].astype(np.int64), w[order].astype(np.float64)


def bucket(indptr, indices, weights, nodes, dist, label, bound=np.inf, *, capacity=None):
    positive = weights[weights > 0]
    longest = float(weights.max()) if weights.size else 0.0
    delta = max(float(positive.min()), longest / 65536) if positive.size else 1.0
    n_slots = 1 << int(np.ceil(np.log2(longest / delta + 3)))
    cap = indices.shape[0] + nodes.shape[0] + 1 if capacity is None else capacity
    n = indptr.shape[0] - 1
    out_dist = np.full(n, -7.0)  # garbage the kernel must overwrite
    out_label = np.full(n, -7, dtype=np.int64)
    ok = _kernels.bucket_search(indptr, indices.astype(np.int32), weights, nodes, dist, label,
                                bound, delta, n_slots, cap, out_dist, out_label)
    return out_dist, out_label, ok


@pytest.mark.parametrize("seed", range(12))
def test_bucket_search_equals_dijkstra_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    u, v, w = random_graph(rng, n)
    indptr, indices, weights = csr_of(n, u, v, w)
    k = int(rng.integers(1, 8))
    nodes = rng.integers(0, n, k).astype(np.int64)
    init = rng.uniform(0.0, 30.0, k)
    label = np.arange(k, dtype=np.int64)
    bound = float(rng.choice([np.inf, 40.0, 5.0]))
    d_heap, _ = _kernels.multi_source_dijkstra(indptr, indices, weights, nodes, init, label,
                                               bound)
    d_bucket, lab, ok = bucket(indptr, indices, weights, nodes, init, label, bound)
    assert ok
    np.testing.assert_array_equal(d_bucket, d_heap)
    assert ((lab >= 0) == np.isfinite(d_bucket)).all()
    # scipy from sources at 0 (a different code path entirely): same floats
    zero = np.zeros(k)
    ref = dijkstra(scipy.sparse.csr_array((weights, indices, indptr), shape=(n, n)),
                   directed=True, indices=np.unique(nodes), min_only=True)
    if bound < np.inf:
        ref[ref > bound] = np.inf
    d0, _, ok = bucket(indptr, indices, weights, nodes, zero, label, bound)
    assert ok
    np.testing.assert_array_equal(d0, ref)


@pytest.mark.parametrize("seed", range(8))
def test_ties_go_to_the_lowest_source(seed):
    # integer times add exactly, so every tie is a true tie: the label must be the lowest
    # source reaching the node in its minimum time, whatever the node numbering
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 120))
    u, v, w = random_graph(rng, n, integer=True)
    k = int(rng.integers(2, 7))
    nodes = rng.integers(0, n, k).astype(np.int64)
    init = rng.integers(0, 10, k).astype(float)
    label = np.arange(k, dtype=np.int64)
    indptr, indices, weights = csr_of(n, u, v, w)
    per_source = dijkstra(scipy.sparse.csr_array((weights, indices, indptr), shape=(n, n)),
                          directed=True, indices=nodes) + init[:, None]
    best = per_source.min(axis=0)
    expected = np.where(np.isfinite(best), np.argmax(per_source == best, axis=0), -1)
    perm = rng.permutation(n)  # renumber the nodes: row r is old node perm[r]
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n)
    p_ptr, p_idx, p_w = csr_of(n, rank[u], rank[v], w)
    for ptr, idx, wt, nd, back in ((indptr, indices, weights, nodes, np.arange(n)),
                                   (p_ptr, p_idx, p_w, rank[nodes], rank)):
        dist, lab, ok = bucket(ptr, idx, wt, nd, init, label)
        assert ok
        np.testing.assert_array_equal(dist[back], best)
        np.testing.assert_array_equal(lab[back], expected)


def test_tie_through_zero_length_edges():
    # 0 -> 1 -> 2 <- 3 with a zero-length edge 1 -> 2: node 2 is 5 s from both sources;
    # source 1 (at node 3) is met first in any order, source 0 must still win
    u = np.array([0, 1, 3])
    v = np.array([1, 2, 2])
    w = np.array([5.0, 0.0, 5.0])
    indptr, indices, weights = csr_of(4, u, v, w)
    dist, lab, ok = bucket(indptr, indices, weights, np.array([3, 0]), np.array([0.0, 0.0]),
                           np.array([1, 0]))
    assert ok
    np.testing.assert_array_equal(dist, [0.0, 5.0, 5.0, 0.0])
    np.testing.assert_array_equal(lab, [0, 0, 0, 1])


def test_small_pool_is_reported_and_retried():
    rng = np.random.default_rng(7)
    u, v, w = random_graph(rng, 200)
    indptr, indices, weights = csr_of(200, u, v, w)
    nodes, init, label = np.array([0, 150]), np.zeros(2), np.arange(2)
    _, _, ok = bucket(indptr, indices, weights, nodes, init, label, capacity=2)
    assert not ok
    full, _, ok = bucket(indptr, indices, weights, nodes, init, label)
    assert ok
    ref, _ = _kernels.multi_source_dijkstra(indptr, indices, weights, nodes, init, label,
                                            np.inf)
    np.testing.assert_array_equal(full, ref)


def test_hilbert_index_walks_cell_to_cell():
    side = 16
    yy, xx = np.divmod(np.arange(side * side), side)
    d = hilbert_index(xx.astype(float), yy.astype(float), bits=4)
    assert np.array_equal(np.sort(d), np.arange(side * side))
    order = np.argsort(d)
    steps = np.abs(np.diff(xx[order])) + np.abs(np.diff(yy[order]))
    assert (steps == 1).all()  # each next cell touches the previous one
    # missing coordinates do not break it
    nan = hilbert_index(np.array([np.nan, 1.0, 2.0]), np.array([0.0, np.nan, 2.0]))
    assert nan.shape == (3,)


# ---------------------------------------------------------------------- the network level
def random_network(seed: int, n: int = 150) -> RoutingNetwork:
    """Random points joined to near neighbours; some streets one-way for drive, some very
    short (duplicate positions), two pieces."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2000, n)
    y = rng.uniform(0, 2000, n)
    x[n // 2:] += 5000  # a second town, not connected
    x[1], y[1] = x[0], y[0] + 1e-3  # a zero-ish length street
    pairs = []
    for i in range(n):
        d = np.hypot(x - x[i], y - y[i])
        pairs.extend((min(i, j), max(i, j)) for j in np.argsort(d)[1:4] if d[j] < 1000)
    pairs.append((0, 1))
    und = np.array(sorted(set(pairs)))
    u = np.concatenate([und[:, 0], und[:, 1]])
    v = np.concatenate([und[:, 1], und[:, 0]])
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    drive = length / 10.0
    one_way = np.concatenate([rng.random(len(und)) < 0.3, np.zeros(len(und), dtype=bool)])
    drive[np.concatenate([np.zeros(len(und), dtype=bool), one_way[:len(und)]])] = np.inf
    ids = rng.permutation(10 * n)[:n].astype(np.int64) + 1000  # ids unrelated to place
    return RoutingNetwork.from_arrays(
        CRS, node_ids=ids, x=x, y=y, edge_u=u, edge_v=v, length_m=length,
        weights_s={"walk": length / WALK_MS, "drive": drive},
        speeds_kmh={"walk": 4.0}, source="synthetic random test network")


def heap_node_seconds(net: RoutingNetwork, sources, mode: str, direction: str, bound: float):
    """The previous search (heap kernel on the original numbering)."""
    from deyang_geo.analysis.access import routing_arrays, source_init
    from deyang_geo.analysis.snapping import end_costs

    r = routing_arrays(net, mode, None, direction)
    init = source_init(end_costs(net, sources, r.weights_s, walk_speed_kmh=r.connector_kmh,
                                  as_target=r.reverse))
    return _kernels.multi_source_dijkstra(r.csr_indptr, r.csr_indices, r.csr_weights_s, *init,
                                          bound)


def test_search_arrays_are_the_csr_renumbered():
    net = random_network(1)
    for mode in ("walk", "drive"):
        for reverse in (False, True):
            sa = net.search_arrays(mode, reverse=reverse)
            csr = net.csr(mode, reverse=reverse)
            assert np.array_equal(np.sort(sa.order), np.arange(net.n_nodes))
            assert np.array_equal(sa.rank[sa.order], np.arange(net.n_nodes))
            rows = np.repeat(np.arange(net.n_nodes), np.diff(csr.indptr))
            old = sorted(zip(sa.rank[rows].tolist(), sa.rank[csr.indices].tolist(),
                             csr.weights_s.tolist(), strict=True))
            new_rows = np.repeat(np.arange(net.n_nodes), np.diff(sa.indptr))
            new = sorted(zip(new_rows.tolist(), sa.indices.tolist(), sa.weights_s.tolist(),
                             strict=True))
            assert old == new
            # the shortest positive edge, floored (the 1 mm street is shorter than the floor)
            assert sa.bucket_s == max(sa.weights_s[sa.weights_s > 0].min(),
                                      sa.weights_s.max() / 65536)
            assert sa.n_buckets > sa.weights_s.max() / sa.bucket_s + 2
    # walk is two-way with equal times: both directions share the arrays
    assert net.search_arrays("walk", reverse=True) is net.search_arrays("walk")
    # a re-weighted copy keeps the node order
    assert net.with_speed("walk", 3.0).node_order is net.node_order


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["walk", "drive"])
@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_node_minutes_as_before_and_as_networkx(seed, mode, direction):
    net = random_network(seed)
    rng = np.random.default_rng(seed)
    sx, sy = rng.uniform(0, 7000, 12), rng.uniform(0, 2000, 12)
    sources = snap_points(net, sx, sy, mode=mode, max_snap_m=400.0)
    for max_minutes in (None, 4.0):
        minutes, label = node_minutes(net, sources, mode=mode, max_minutes=max_minutes,
                                      direction=direction)
        bound = np.inf if max_minutes is None else max_minutes * 60.0
        before, before_label = heap_node_seconds(net, sources, mode, direction, bound)
        expected = before / 60.0
        expected[~np.isfinite(before)] = np.nan
        np.testing.assert_array_equal(minutes, expected)  # bit for bit
        assert ((label >= 0) == (before_label >= 0)).all()
        # the chosen source really is that near (its own search gives the same time)
        for s in np.unique(label[label >= 0]).tolist():
            own, _ = node_minutes(net, sources.take([s]), mode=mode, max_minutes=max_minutes,
                                  direction=direction)
            mine = label == s
            np.testing.assert_array_equal(own[mine], minutes[mine])
    # networkx on the node graph, from the sources' node entries (one-way streets included)
    G = nx.DiGraph()
    w = net.weights_s[mode]
    for e in np.flatnonzero(np.isfinite(w)).tolist():
        a, b = int(net.edge_u[e]), int(net.edge_v[e])
        if direction == "to_facility":
            a, b = b, a
        if not G.has_edge(a, b) or G.edges[a, b]["w"] > w[e]:
            G.add_edge(a, b, w=float(w[e]))
    from deyang_geo.analysis.access import routing_arrays, source_init
    from deyang_geo.analysis.snapping import end_costs

    r = routing_arrays(net, mode, None, direction)
    nodes, dist, _ = source_init(end_costs(net, sources, r.weights_s,
                                            walk_speed_kmh=r.connector_kmh,
                                            as_target=r.reverse))
    for node, d in zip(nodes.tolist(), dist.tolist(), strict=True):
        G.add_edge(("src", node, d), node, w=d)
    ref = nx.multi_source_dijkstra_path_length(
        G, {s for s in G.nodes if isinstance(s, tuple)}, weight="w")
    expected = np.array([ref.get(i, np.inf) for i in range(net.n_nodes)]) / 60.0
    minutes, _ = node_minutes(net, sources, mode=mode, direction=direction)
    np.testing.assert_allclose(np.where(np.isnan(minutes), np.inf, minutes), expected,
                               rtol=1e-12)


@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_threads_change_nothing(direction):
    net = random_network(3)
    rng = np.random.default_rng(3)
    sets = [snap_points(net, rng.uniform(0, 7000, k), rng.uniform(0, 2000, k), mode="drive",
                        max_snap_m=400.0) for k in (1, 5, 9, 3)]
    one = node_minutes_many(net, sets, mode="drive", direction=direction, threads=1)
    two = node_minutes_many(net, sets, mode="drive", direction=direction, threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    for j, s in enumerate(sets):
        m, lab = node_minutes(net, s, mode="drive", direction=direction)
        np.testing.assert_array_equal(one[0][j], m)
        np.testing.assert_array_equal(one[1][j], lab)
    empty = node_minutes_many(net, [], mode="drive")
    assert empty[0].shape == (0, net.n_nodes)


def test_minutes_to_nearest_threads_and_categories():
    import geopandas as gpd
    import shapely

    net = random_network(5)
    rng = np.random.default_rng(5)
    fx, fy = rng.uniform(0, 7000, 30), rng.uniform(0, 2000, 30)
    dx, dy = rng.uniform(0, 7000, 200), rng.uniform(0, 2000, 200)
    fac = gpd.GeoDataFrame({"id": [f"f{i}" for i in range(30)],
                            "category": rng.choice(["clinic", "school", "park"], 30)},
                           geometry=shapely.points(fx, fy), crs=CRS)
    dem = gpd.GeoDataFrame({"id": np.arange(200)}, geometry=shapely.points(dx, dy), crs=CRS)
    kw = {"mode": "walk", "max_snap_m": 3000.0, "max_minutes": 30.0}
    with warnings.catch_warnings():  # unsnapped units, towns without some categories
        warnings.simplefilter("ignore", InputWarning)
        one = minutes_to_nearest(net, dem, fac, threads=1, **kw)
        two = minutes_to_nearest(net, dem, fac, threads=2, **kw)
    assert one.equals(two)
    # each category as nearest_minutes gives it
    d = snap_points(net, dx, dy, mode="walk", max_snap_m=3000.0)
    f = snap_points(net, fx, fy, mode="walk", max_snap_m=3000.0)
    cats = sorted(set(fac["category"]))
    for j, cat in enumerate(cats):
        pick = np.flatnonzero(fac["category"].to_numpy() == cat)
        mins, _ = nearest_minutes(net, f.take(pick), d, mode="walk", max_minutes=30.0)
        np.testing.assert_array_equal(one["minutes"].to_numpy()[j::len(cats)], mins)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_count(bad):
    with pytest.raises(InputError, match="threads"):
        resolve_threads(bad)
    assert resolve_threads(None) >= 1
    assert resolve_threads(3) == 3


def test_negative_times_are_refused():
    net = RoutingNetwork.from_arrays(
        CRS, node_ids=np.arange(3), x=np.array([0.0, 10.0, 20.0]), y=np.zeros(3),
        edge_u=np.array([0, 1]), edge_v=np.array([1, 2]),
        weights_s={"walk": np.array([5.0, -1.0])})
    with pytest.raises(NetworkError, match="negative"):
        net.search_arrays("walk")


def test_pool_overflow_falls_back_to_the_heap_search(monkeypatch):
    net = random_network(2)
    rng = np.random.default_rng(2)
    sources = snap_points(net, rng.uniform(0, 7000, 6), rng.uniform(0, 2000, 6), mode="walk",
                          max_snap_m=400.0)
    expected, _ = node_minutes(net, sources, mode="walk")
    calls = []

    def always_full(*args):
        calls.append(args[9])
        return False

    monkeypatch.setattr(_kernels, "bucket_search", always_full)
    minutes, label = node_minutes(net, sources, mode="walk")
    np.testing.assert_array_equal(minutes, expected)
    assert ((label >= 0) == ~np.isnan(expected)).all()
    assert calls == sorted(calls)  # the pool was doubled before giving up on it
    assert calls[-1] < 2**31 <= 2 * calls[-1]
