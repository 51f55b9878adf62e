"""Isochrone polygons built from covered cells plus a rim of buffers, or break by break on a
running union, against the plain union.

Reference: ``shapely.union_all`` of every reached part's buffer (the definition, and the way
the polygons were built before). The covered-cell path normally starts at 2,000 parts; these
tests lower the threshold so that it runs on small networks, or raise it to take the
running-union path.
"""

from __future__ import annotations

import importlib

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from deyang_geo.analysis.isochrones import (
    _core,
    _reached_parts,
    _rings_outside,
    _row_span,
    isochrones,
)
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points

# the module (the package's `isochrones` attribute is the function)
iso_mod = importlib.import_module("deyang_geo.analysis.isochrones")
WALK_MS = 4.0 / 3.6
CRS = "EPSG:32648"


def jittered_grid(n: int, *, spacing: float = 60.0, seed: int = 0,
                  one_way_share: float = 0.0) -> RoutingNetwork:
    """An n x n grid of bent streets with jittered nodes, some streets missing or one-way."""
    rng = np.random.default_rng(seed)
    G = nx.MultiDiGraph(crs=CRS, speeds_kmh={"walk": 4.0})
    xy = {}
    for i in range(n):
        for j in range(n):
            xy[i * n + j] = (j * spacing + rng.uniform(-12, 12) + 500_000.0,
                             i * spacing + rng.uniform(-12, 12) + 3_400_000.0)
            G.add_node(i * n + j, x=xy[i * n + j][0], y=xy[i * n + j][1])
    for i in range(n):
        for j in range(n):
            a = i * n + j
            for b, ok in ((a + 1, j < n - 1), (a + n, i < n - 1)):
                if not ok or rng.random() < 0.08:
                    continue
                p0, p1 = np.array(xy[a]), np.array(xy[b])
                mid = p0 + 0.4 * (p1 - p0) + rng.uniform(-6, 6, 2)
                line = shapely.LineString([p0, mid, p1])
                L = line.length
                G.add_edge(a, b, length=L, geometry=line, travel_time_walk=L / WALK_MS)
                if rng.random() >= one_way_share:
                    G.add_edge(b, a, length=L, geometry=line.reverse(),
                               travel_time_walk=L / WALK_MS)
    return RoutingNetwork.from_graph(G)


def facilities(net: RoutingNetwork, count: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(net.x.min(), net.x.max(), count)
    y = rng.uniform(net.y.min(), net.y.max(), count)
    return gpd.GeoDataFrame({"id": np.arange(count), "category": "clinic"},
                            geometry=gpd.points_from_xy(x, y), crs=CRS)


def reference(net: RoutingNetwork, fac: gpd.GeoDataFrame, breaks: list[float],
              walkoff_m: float, direction: str = "to_facility") -> list[shapely.Geometry]:
    """The definition: union_all of every reached part's buffer."""
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    parts = _reached_parts(net, snap_points(net, fx, fy), fx, fy, mode="walk",
                           breaks_minutes=breaks, direction=direction)  # type: ignore[arg-type]
    return [shapely.union_all(shapely.buffer(p, walkoff_m, quad_segs=4)) for p in parts]


@pytest.fixture
def tiles_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso_mod, "_MIN_PARTS_FOR_CORE", 0)


@pytest.fixture(params=["cells", "running union"])
def either_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(iso_mod, "_MIN_PARTS_FOR_CORE",
                        0 if request.param == "cells" else 10**9)
    return str(request.param)


@pytest.mark.parametrize(("seed", "walkoff_m", "one_way_share", "direction"), [
    (1, 50.0, 0.0, "to_facility"),
    (2, 30.0, 0.0, "to_facility"),
    (3, 50.0, 0.3, "to_facility"),
    (4, 50.0, 0.3, "from_facility"),
    (5, 80.0, 0.0, "from_facility"),
])
def test_same_polygons_as_union_of_every_buffer(seed, walkoff_m, one_way_share, direction,
                                                either_path):
    net = jittered_grid(24, seed=seed, one_way_share=one_way_share)
    fac = facilities(net, 6, seed)
    breaks = [2.0, 4.0, 7.0]
    got = isochrones(net, fac, breaks_minutes=breaks, walkoff_m=walkoff_m,
                     direction=direction)  # type: ignore[arg-type]
    want = reference(net, fac, breaks, walkoff_m, direction)
    for g, w in zip(got.geometry, want, strict=True):
        assert w.area > 0
        assert shapely.is_valid(g)
        assert shapely.symmetric_difference(g, w).area < 1e-3 * w.area
        assert shapely.hausdorff_distance(g, w) < 1.0
        assert shapely.get_num_interior_rings(shapely.get_parts(g)).sum() == \
            shapely.get_num_interior_rings(shapely.get_parts(w)).sum()
    # nested breaks stay nested
    for small, big in zip(got.geometry[:-1], got.geometry[1:], strict=True):
        assert shapely.difference(small, big).area < 1e-6 * small.area


@pytest.mark.usefixtures("tiles_always")
@pytest.mark.parametrize("walkoff_m", [35.0, 50.0])
def test_covered_cells_lie_inside_the_buffers_and_leave_parts_out(walkoff_m):
    net = jittered_grid(30, seed=7)
    fac = facilities(net, 8, 7)
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    (parts,) = _reached_parts(net, snap_points(net, fx, fy), fx, fy, mode="walk",
                              breaks_minutes=[12.0])
    buffers = shapely.buffer(parts, walkoff_m, quad_segs=4)
    whole = shapely.union_all(buffers)
    found = _core(parts, walkoff_m)
    assert found is not None
    keep, covered, (x0, y0), cell = found
    assert 0 < keep.sum() < parts.size  # the cell path does leave parts out
    row, col = np.nonzero(covered)
    cells = shapely.union_all(shapely.box(x0 + col * cell, y0 + row * cell,
                                          x0 + (col + 1) * cell, y0 + (row + 1) * cell))
    # no covered cell reaches outside the buffers, every part left out is inside them,
    # and the cells' edge lies inside the kept parts' buffers by a margin
    assert shapely.difference(cells, whole).area < 1e-6
    assert shapely.difference(shapely.union_all(buffers[~keep]), cells).area < 1e-6
    rim = shapely.union_all(buffers[keep])
    assert shapely.buffer(cells.boundary, 0.005 * walkoff_m).within(rim)


def test_rings_inside_the_covered_cells_are_dropped_and_holes_find_their_shell():
    # rim: an outer band (its inner ring in the core) and an inner band around a hole (its
    # outer ring in the core): the union is the big square less the small hole
    outer = shapely.box(0, 0, 100, 100).difference(shapely.box(10, 10, 90, 90))
    inner = shapely.box(40, 40, 60, 60).difference(shapely.box(45, 45, 55, 55))
    island = shapely.box(48, 48, 52, 52)  # an island in the hole, outside the core
    cell = 1.0
    covered = np.zeros((110, 110), dtype=bool)
    covered[5:95, 5:95] = True
    covered[42:58, 42:58] = False
    got = _rings_outside(shapely.MultiPolygon([outer, inner, island]), covered, (0.0, 0.0),
                         cell)
    want = shapely.box(0, 0, 100, 100).difference(shapely.box(45, 45, 55, 55)).union(island)
    assert got is not None
    assert shapely.is_valid(got)
    assert shapely.symmetric_difference(got, want).area < 1e-9


def test_row_span_is_the_capsule_cut_by_the_row():
    rng = np.random.default_rng(3)
    for _ in range(300):
        a, b = rng.uniform(-50, 50, 2), rng.uniform(-50, 50, 2)
        if rng.random() < 0.2:
            b = a.copy() if rng.random() < 0.5 else np.array([b[0], a[1]])
        reach, yc = rng.uniform(1, 40), rng.uniform(-90, 90)
        lo, hi = _row_span(a[0], a[1], b[0], b[1], yc, reach)
        seg = shapely.LineString([a, b]) if (a != b).any() else shapely.Point(a)
        xs = np.linspace(-150, 150, 3001)
        inside = shapely.distance(seg, shapely.points(xs, np.full_like(xs, yc))) <= reach
        if not inside.any():
            assert lo > hi or hi - lo < 0.2
            continue
        assert abs(lo - xs[inside].min()) < 0.2
        assert abs(hi - xs[inside].max()) < 0.2


def test_partly_reached_edges_and_connectors_keep_their_buffers(tiles_always):
    # a single facility: every part is near the edge of its area (partial edges, the
    # connector), so most parts stay; the result is still the plain union
    net = jittered_grid(20, seed=11)
    fac = gpd.GeoDataFrame({"id": [1], "category": ["clinic"]},
                           geometry=gpd.points_from_xy([net.x.mean() + 31.0],
                                                       [net.y.mean() + 17.0]), crs=CRS)
    got = isochrones(net, fac, breaks_minutes=[1.5, 6.0], walkoff_m=25.0)
    want = reference(net, fac, [1.5, 6.0], 25.0)
    for g, w in zip(got.geometry, want, strict=True):
        assert shapely.symmetric_difference(g, w).area < 1e-3 * w.area
        assert shapely.hausdorff_distance(g, w) < 1.0


def test_without_walkoff_the_lines_themselves(tiles_always):
    net = jittered_grid(10, seed=3)
    fac = facilities(net, 2, 3)
    got = isochrones(net, fac, breaks_minutes=[3.0], walkoff_m=0.0)
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    (parts,) = _reached_parts(net, snap_points(net, fx, fy), fx, fy, mode="walk",
                              breaks_minutes=[3.0])
    assert got.geometry.iloc[0].equals(shapely.union_all(parts))


def test_breaks_share_the_buffers_of_unchanged_parts(monkeypatch):
    # running-union path: a whole edge reached at 4 minutes is buffered once, not per break
    monkeypatch.setattr(iso_mod, "_MIN_PARTS_FOR_CORE", 10**9)
    net = jittered_grid(16, seed=9)
    fac = facilities(net, 3, 9)
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    breaks = [4.0, 6.0, 8.0]
    parts = _reached_parts(net, snap_points(net, fx, fy), fx, fy, mode="walk",
                           breaks_minutes=breaks)
    buffered: list[int] = []
    real_buffer = shapely.buffer

    def counting_buffer(geoms, *args, **kwargs):
        buffered.append(np.asarray(geoms).size)
        return real_buffer(geoms, *args, **kwargs)

    monkeypatch.setattr(iso_mod.shapely, "buffer", counting_buffer)
    got = iso_mod._buffer_unions(parts, 40.0)
    monkeypatch.setattr(iso_mod.shapely, "buffer", real_buffer)
    # each part found in every later break is buffered once; the others once per break
    keys = [shapely.to_wkb(p).tolist() for p in parts]
    expected, before = 0, set()
    for b, key in enumerate(keys):
        stays = set(key).intersection(*keys[b + 1:])
        expected += sum(k not in stays or k not in before for k in key)
        before = stays
    assert sum(buffered) == expected
    assert sum(buffered) < 0.8 * sum(p.size for p in parts)
    for g, p in zip(got, parts, strict=True):
        want = shapely.union_all(shapely.buffer(p, 40.0, quad_segs=4))
        assert shapely.symmetric_difference(g, want).area < 1e-6 * want.area


def test_dense_path_merges_only_the_rim_and_never_the_core(monkeypatch, tiles_always):
    # the covered cells are never turned into polygons and merged with the buffers: only the
    # kept parts' buffers go through one union, and every other part is left unbuffered
    net = jittered_grid(30, seed=12)
    fac = facilities(net, 8, 12)
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    (parts,) = _reached_parts(net, snap_points(net, fx, fy), fx, fy, mode="walk",
                              breaks_minutes=[12.0])
    found = _core(parts, 50.0)
    assert found is not None
    merged: list[int] = []
    real = iso_mod._union_all
    monkeypatch.setattr(iso_mod, "_union_all",
                        lambda polys: merged.append(len(polys)) or real(polys))
    for name in ("union", "coverage_union_all"):
        monkeypatch.setattr(iso_mod.shapely, name, None)  # would fail if called
    got = iso_mod._buffer_union(parts, 50.0, core=found)
    monkeypatch.undo()
    assert merged == [int(found[0].sum())]
    assert merged[0] < parts.size / 2
    want = shapely.union_all(shapely.buffer(parts, 50.0, quad_segs=4))
    assert shapely.symmetric_difference(got, want).area < 1e-6 * want.area
