"""Service-area polygons that follow the streets reached, including partly reached edges."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from numba import njit
from numpy.typing import NDArray

from deyang_geo.analysis import kernels as _kernels
from deyang_geo.analysis.access import (
    Direction,
    points_in_crs,
    routing_arrays,
    source_init,
    warn_unsnapped,
)
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import Snapped, end_costs, snap_index, snap_points
from deyang_geo.core import settings
from deyang_geo.core.errors import InputError, Problem

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["isochrones", "reached_lines"]


def isochrones(
    net: RoutingNetwork,
    facilities: gpd.GeoDataFrame,
    *,
    mode: str = "walk",
    breaks_minutes: Iterable[float] | None = None,
    walkoff_m: float | None = None,
    dissolve_by: Literal["category"] | None = "category",
    walk_speed_kmh: float | None = None,
    max_snap_m: float | None = None,
    direction: Direction = "to_facility",
) -> gpd.GeoDataFrame:
    """Return service-area polygons per category (or per facility) and time break.

    For each break the polygon is the union of the street parts reached within that many
    minutes (whole edges, plus the reached part of partly reached edges measured from
    either end, plus the facility's connector and its own edge part) buffered by
    ``walkoff_m``. Blocks the streets do not reach stay holes; no hull is drawn. Bands are
    **nested**: the 15-minute polygon contains the 10-minute one (take differences for rings).

    Parameters
    ----------
    net
        The network.
    facilities
        Point geometries (any CRS) with ``id`` and, when dissolving, ``category``.
    mode
        Travel mode.
    breaks_minutes
        Time breaks; default ``settings.isochrone_breaks_minutes``.
    walkoff_m
        Buffer distance off the street in metres; default ``settings.isochrone_walkoff_m``.
    dissolve_by
        ``"category"`` for one polygon per category and break, ``None`` for one per facility
        and break.
    walk_speed_kmh
        Walking speed (rescales walk modes, sets the connector speed).
    max_snap_m
        Largest connector in metres; facilities farther away get empty polygons and an
        :class:`~deyang_geo.core.errors.InputWarning`.
    direction
        ``"to_facility"`` (default): the streets from which the facility is reached within
        each break (walking from home); ``"from_facility"``: the streets reached from it.

    Returns
    -------
    geopandas.GeoDataFrame
        In ``net.crs``; columns ``category`` (dissolved) or ``facility_id`` and ``category``
        (when present), then ``minutes`` and ``geometry``; groups in sorted (dissolved) or
        input order, breaks ascending within each group.
    """
    net.check_mode(mode)
    breaks = sorted(float(b) for b in (settings.isochrone_breaks_minutes
                                       if breaks_minutes is None else breaks_minutes))
    walkoff = settings.isochrone_walkoff_m if walkoff_m is None else float(walkoff_m)
    limit = settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    problems: list[Problem] = []
    if not breaks or any(not b > 0 for b in breaks):
        problems.append(Problem(f"breaks_minutes must be positive numbers, got {breaks}"))
    if not walkoff >= 0:
        problems.append(Problem(f"walkoff_m must be >= 0, got {walkoff}"))
    if dissolve_by not in ("category", None):
        problems.append(Problem(f"dissolve_by must be 'category' or None, got {dissolve_by!r}"))
    needed = ["id"] + (["category"] if dissolve_by == "category" else [])
    problems.extend(Problem("facilities need this column", column=c)
                    for c in needed if c not in facilities.columns)
    fx, fy, p = points_in_crs(facilities, net.crs, what="facilities")
    problems.extend(p)
    if problems:
        raise InputError(problems)

    snapped = snap_points(net, fx, fy, mode=mode, max_snap_m=limit)
    ids = facilities["id"].to_numpy(dtype=object)
    warn_unsnapped(ids, snapped.snapped, "facilities", mode, limit)
    has_cat = "category" in facilities.columns
    cats = facilities["category"].astype(str).to_numpy() if has_cat else None
    if dissolve_by == "category":
        assert cats is not None
        groups = [(c, np.flatnonzero(cats == c)) for c in sorted(set(cats.tolist()))]
    else:
        groups = [(i, np.array([k])) for k, i in enumerate(ids)]

    rows: dict[str, list[Any]] = {"minutes": [], "geometry": []}
    key_cols = ["category"] if dissolve_by == "category" else (
        ["facility_id", "category"] if has_cat else ["facility_id"])
    for col in key_cols:
        rows[col] = []
    for key, members in groups:
        lines = _reached_parts(net, snapped.take(members), fx[members], fy[members],
                               mode=mode, breaks_minutes=breaks, walk_speed_kmh=walk_speed_kmh,
                               direction=direction)
        for b, poly in zip(breaks, _buffer_unions(lines, walkoff), strict=True):
            rows["minutes"].append(b)
            rows["geometry"].append(poly)
            if dissolve_by == "category":
                rows["category"].append(key)
            else:
                rows["facility_id"].append(key)
                if has_cat:
                    assert cats is not None
                    rows["category"].append(cats[members[0]])
    ordered = {c: rows[c] for c in [*key_cols, "minutes", "geometry"]}
    return gpd.GeoDataFrame(ordered, geometry="geometry", crs=net.crs)


def reached_lines(
    net: RoutingNetwork,
    sources: Snapped,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    *,
    mode: str,
    breaks_minutes: Iterable[float],
    walk_speed_kmh: float | None = None,
    direction: Direction = "to_facility",
) -> list[shapely.MultiLineString]:
    """Return, per break, the street parts reached from the sources as one MultiLineString.

    Parameters
    ----------
    net
        The network.
    sources
        Snapped sources (unsnapped ones reach nothing).
    x, y
        The sources' own coordinates (for the connector lines), in ``net.crs``.
    mode
        Travel mode.
    breaks_minutes
        Time breaks in minutes.
    walk_speed_kmh
        Walking speed (re-weights the ``walk`` mode, sets the connector speed).
    direction
        ``"to_facility"`` (default): street parts from which a source is reached in time;
        ``"from_facility"``: street parts reached from the sources.

    Returns
    -------
    list of shapely.MultiLineString
        One per break, in the order given: reached whole edges, reached parts of edges from
        either end, the sources' own edge parts and connectors (parts walked).
    """
    return [shapely.MultiLineString(p.tolist()) if len(p) else shapely.MultiLineString()
            for p in _reached_parts(net, sources, x, y, mode=mode, breaks_minutes=breaks_minutes,
                                    walk_speed_kmh=walk_speed_kmh, direction=direction)]


def _reached_parts(
    net: RoutingNetwork,
    sources: Snapped,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    *,
    mode: str,
    breaks_minutes: Iterable[float],
    walk_speed_kmh: float | None = None,
    direction: Direction = "to_facility",
) -> list[NDArray[np.object_]]:
    """Return, per break, the street parts of :func:`reached_lines` as an array of LineStrings.

    Whole edges come first (their own geometries), then the partly walked edge parts, then
    the connectors.
    """
    breaks = [float(b) for b in breaks_minutes]
    r = routing_arrays(net, mode, walk_speed_kmh, direction)
    net = r.net
    sc = end_costs(net, sources, r.weights_s, walk_speed_kmh=r.connector_kmh,
                   as_target=r.reverse)
    init_nodes, init_dist, init_label = source_init(sc)
    bound = max(breaks) * 60.0 if breaks else 0.0
    dist, _ = _kernels.multi_source_dijkstra(
        r.csr_indptr, r.csr_indices, r.csr_weights_s, init_nodes, init_dist, init_label, bound
    )
    # along each edge in the direction the search runs (u->v as w_fwd): in "to_facility"
    # a point on u->v reaches u by walking v->u, so the twins' times are swapped
    w_fwd, w_bwd = r.w_fwd, r.w_bwd
    edges = _candidate_edges(net, mode, dist)
    du, dv = dist[net.edge_u[edges]], dist[net.edge_v[edges]]
    ok = sources.snapped
    s_edge = sources.edge[ok]
    s_frac = sources.fraction[ok]
    s_conn = sc.connector_s[ok]
    sx, sy = np.asarray(x, dtype=np.float64)[ok], np.asarray(y, dtype=np.float64)[ok]
    s_pts = shapely.line_interpolate_point(net.geometry[s_edge], s_frac, normalized=True)
    out = []
    for b in breaks:
        t = b * 60.0
        a = _reach_fraction(t - du, w_fwd[edges])  # the part of u->v next to u
        c = _reach_fraction(t - dv, w_bwd[edges])  # the part next to v
        full = a + c >= 1.0
        pe = [edges[full], edges[~full & (a > 0)], edges[~full & (c > 0)]]
        ps = [np.zeros(full.sum()), np.zeros((~full & (a > 0)).sum()),
              1.0 - c[~full & (c > 0)]]
        pf = [np.ones(full.sum()), a[~full & (a > 0)], np.ones((~full & (c > 0)).sum())]
        # the sources' own edges, walked directly from the snapped point
        rest = t - s_conn
        live = rest >= 0
        fwd = np.minimum(1.0, s_frac + _reach_fraction(rest, w_fwd[s_edge]))
        bwd = np.maximum(0.0, s_frac - _reach_fraction(rest, w_bwd[s_edge]))
        pe += [s_edge[live], s_edge[live]]
        ps += [s_frac[live], bwd[live]]
        pf += [fwd[live], s_frac[live]]
        piece_edge = np.concatenate(pe)
        start = np.concatenate(ps)
        end = np.concatenate(pf)
        keep = end > start
        piece_edge, start, end = piece_edge[keep], start[keep], end[keep]
        whole = (start == 0.0) & (end == 1.0)
        parts = [net.geometry[piece_edge[whole]],
                 _substrings(net.geometry[piece_edge[~whole]], start[~whole], end[~whole])]
        # connectors, walked from the facility towards the street
        share = np.where(s_conn > 0, np.clip(t / np.where(s_conn > 0, s_conn, 1.0), 0, 1), 0)
        cx = sx + share * (shapely.get_x(s_pts) - sx)
        cy = sy + share * (shapely.get_y(s_pts) - sy)
        has_conn = share > 0
        if has_conn.any():
            seg = np.stack([np.stack([sx, sy], axis=1), np.stack([cx, cy], axis=1)], axis=1)
            parts.append(np.asarray(shapely.linestrings(seg[has_conn])))
        out.append(np.concatenate(parts).astype(object))
    return out


# Buffers are drawn with quad_segs=4 (arcs cut into 22.5-degree chords) and GEOS may simplify
# the line by 1 % of the distance first: every point within this share of the distance of a
# line is inside that line's buffer polygon (cos(pi/16) = 0.9808, less 2 % to spare), and no
# point of the buffer is farther than ``_OUTER_SHARE`` times the distance from the line.
_INNER_SHARE = math.cos(math.pi / 16) - 0.02
_OUTER_SHARE = 1.02
_CELLS_PER_WALKOFF = 8  # cell side = walkoff / 8 (6.25 m for the 50 m default)
_MAX_CELLS = 30_000_000  # larger areas take coarser cells, up to half the walk-off
_MIN_PARTS_FOR_CORE = 2_000
_MAX_GRID_PER_SWEPT = 8  # no grid over 8 times the area the buffers can sweep


def _union_all(polygons: NDArray[np.object_]) -> shapely.Geometry:
    """Return ``shapely.union_all(polygons)``, merging each group of touching polygons alone.

    ``disjoint_subset_union_all`` (shapely 2.1, GEOS 3.12) gives the same polygons about a
    fifth faster on many separate service areas; older versions take ``union_all``.
    """
    merge = getattr(shapely, "disjoint_subset_union_all", None)
    if merge is None or shapely.geos_version < (3, 12, 0):
        return shapely.union_all(polygons)
    merged: shapely.Geometry = merge(polygons)
    return merged


# parts to buffer, covered cells (row, column), grid origin (x, y) and cell side
_Core = tuple[NDArray[np.bool_], NDArray[np.bool_], tuple[float, float], float]


def _buffer_unions(parts_by_break: list[NDArray[np.object_]],
                   distance_m: float) -> list[shapely.Geometry]:
    """Return, per break, the union of the parts' buffers (``quad_segs=4``).

    On a dense network each break goes through :func:`_buffer_union` (covered cells and a
    rim). Otherwise the breaks share work: the parts found unchanged in a break and every
    later one (whole edges, mostly) are buffered once and merged into a running union, and
    each break adds only its other parts (the partly walked edges):
    ``U_b = A_b | union(buffers of the parts of b not in every later break)``, where
    ``A_b = A_(b-1) | union(buffers of the parts in b and every later break, new in b)``.
    The same sets as the union of each break's buffers.
    """
    if distance_m == 0:
        return [_buffer_union(p, 0.0) for p in parts_by_break]
    cores = [_core(p, distance_m) for p in parts_by_break]
    if any(c is not None for c in cores):
        return [_buffer_union(p, distance_m, core=c) for p, c in zip(parts_by_break, cores,
                                                                        strict=True)]
    keys = [shapely.to_wkb(p).tolist() for p in parts_by_break]
    out: list[shapely.Geometry] = []
    running: shapely.Geometry | None = None
    before: set[bytes] = set()
    for b, (parts, key) in enumerate(zip(parts_by_break, keys, strict=True)):
        stays = set(key).intersection(*keys[b + 1:])
        persist = np.fromiter((k in stays for k in key), dtype=bool, count=len(key))
        new = np.fromiter((k in stays and k not in before for k in key), dtype=bool,
                          count=len(key))
        before = stays
        if new.any():
            add = _union_all(shapely.buffer(parts[new], distance_m, quad_segs=4))
            running = add if running is None else shapely.union(running, add)
        poly = running
        if (~persist).any():
            rest = _union_all(shapely.buffer(parts[~persist], distance_m, quad_segs=4))
            poly = rest if poly is None else shapely.union(poly, rest)
        out.append(shapely.Polygon() if poly is None or shapely.is_empty(poly) else poly)
    return out


def _buffer_union(parts: NDArray[np.object_], distance_m: float, *,
                  core: _Core | None = None) -> shapely.Geometry:
    """Return the union of the LineStrings' buffers (``quad_segs=4``).

    The same set as ``union_all(buffer(parts))``, without buffering the parts deep inside it
    (most of them on a dense network) and without merging anything with the inside: on a grid
    of small cells, the cells surely covered by some buffer form a core (see :func:`_core`);
    only the parts whose buffer can reach a cell outside the core are buffered and merged
    (the rim). The core's edge lies strictly inside the rim, so the union of core and rim
    has for boundary exactly the rim's rings that lie outside the core (see
    :func:`_rings_outside`): no overlay with the core is needed.
    """
    if parts.size == 0:
        return shapely.Polygon()
    if distance_m == 0:
        return shapely.union_all(parts)
    if core is None:
        return _union_all(shapely.buffer(parts, distance_m, quad_segs=4))
    keep, covered, origin, cell = core
    rim = _union_all(shapely.buffer(parts[keep], distance_m, quad_segs=4))
    out = _rings_outside(rim, covered, origin, cell)
    if out is None:  # not expected: fall back to the definition
        return _union_all(shapely.buffer(parts, distance_m, quad_segs=4))
    return out


def _core(parts: NDArray[np.object_], distance_m: float) -> _Core | None:
    """Return the parts to buffer, the covered cells, the grid origin and cell side.

    A cell is covered when its centre lies within ``0.94 * distance - half the cell
    diagonal`` of a segment: then every point of the cell is inside that part's buffer
    polygon (its arcs are chords of 22.5 degrees), with 1 % of the distance to spare. A part
    is kept when a segment of it lies within ``1.02 * distance + half the cell diagonal`` of
    the centre of an uncovered cell, that is when its buffer can reach an uncovered cell; the
    parts left out have their buffers inside the covered cells. ``None``: buffer every part
    (few parts, or nothing left out).
    """
    if parts.size < _MIN_PARTS_FOR_CORE:
        return None
    bounds = shapely.bounds(parts)
    pad = distance_m * _OUTER_SHARE * 1.1
    lo_x, lo_y = float(np.nanmin(bounds[:, 0])) - pad, float(np.nanmin(bounds[:, 1])) - pad
    span_x = float(np.nanmax(bounds[:, 2])) + pad - lo_x
    span_y = float(np.nanmax(bounds[:, 3])) + pad - lo_y
    cell = max(distance_m / _CELLS_PER_WALKOFF, math.sqrt(span_x * span_y / _MAX_CELLS))
    if cell > distance_m / 2:
        return None
    n_cols, n_rows = int(np.ceil(span_x / cell)) + 1, int(np.ceil(span_y / cell)) + 1
    # a sparse layout (a few valleys in a large box) would fill a grid mostly empty
    swept_m2 = float(shapely.length(parts).sum()) * 2 * distance_m + math.pi * distance_m**2
    if n_cols * n_rows * cell * cell > _MAX_GRID_PER_SWEPT * swept_m2:
        return None
    coords, part = shapely.get_coordinates(parts, return_index=True)
    xs, ys, part = coords[:, 0] - lo_x, coords[:, 1] - lo_y, part.astype(np.int64)
    covered = np.zeros((n_rows, n_cols), dtype=np.bool_)
    half_diagonal = cell * math.sqrt(0.5)
    _mark_covered(xs, ys, part, cell, distance_m * _INNER_SHARE - half_diagonal, covered)
    keep = _parts_near_open_cells(xs, ys, part, parts.size, cell,
                                  distance_m * _OUTER_SHARE + half_diagonal, covered)
    if keep.all():
        return None
    return keep, covered, (lo_x, lo_y), cell


def _rings_outside(rim: shapely.Geometry, covered: NDArray[np.bool_],
                   origin: tuple[float, float], cell: float) -> shapely.Geometry | None:
    """Return the union of the covered cells and ``rim`` from the rim's rings alone.

    Every point of the covered cells' edge is inside a kept part's buffer by at least 1 % of
    the walk-off, so each ring of ``rim`` lies wholly inside the covered cells (it is then no
    boundary of the union: dropped) or wholly outside them (a boundary: kept), and one vertex
    tells which. Kept outer rings are the union's shells with their kept holes; a kept hole
    whose own shell was dropped (a hole inside the core's ring of rim) goes to the smallest
    kept shell around it. ``None`` when a hole finds no shell (not expected).
    """
    polys = shapely.get_parts(rim)
    if polys.size == 0:
        return shapely.Polygon()
    rings, owner = shapely.get_rings(polys, return_index=True)
    is_shell = np.r_[True, owner[1:] != owner[:-1]]
    first = shapely.get_coordinates(shapely.get_point(rings, 0))
    col = np.floor((first[:, 0] - origin[0]) / cell).astype(np.int64)
    row = np.floor((first[:, 1] - origin[1]) / cell).astype(np.int64)
    inside = (col >= 0) & (col < covered.shape[1]) & (row >= 0) & (row < covered.shape[0])
    inside[inside] = covered[row[inside], col[inside]]
    kept = ~inside
    shell_kept = np.zeros(polys.size, dtype=bool)
    shell_kept[owner[is_shell]] = kept[is_shell]
    shells = np.flatnonzero(is_shell & kept)  # ring index of each kept shell
    if shells.size == 0:
        return shapely.Polygon()
    shell_of_poly = np.full(polys.size, -1, dtype=np.int64)
    shell_of_poly[owner[shells]] = np.arange(shells.size)
    holes = np.flatnonzero(~is_shell & kept)
    target = shell_of_poly[owner[holes]]
    orphan = target < 0
    if orphan.any():
        found = _smallest_shell_around(rings[shells], rings[holes[orphan]])
        if found is None:
            return None
        target[orphan] = found
    ring_geoms = np.concatenate([rings[shells], rings[holes]])
    ring_shell = np.concatenate([np.arange(shells.size), target])
    order = np.lexsort((np.r_[np.zeros(shells.size), np.ones(holes.size)], ring_shell))
    out: NDArray[np.object_] = np.asarray(
        shapely.polygons(ring_geoms[order], indices=ring_shell[order]))
    if out.size == 1:
        first_poly: shapely.Geometry = out[0]
        return first_poly
    return shapely.MultiPolygon(out.tolist())


def _smallest_shell_around(shells: NDArray[np.object_],
                           holes: NDArray[np.object_]) -> NDArray[np.int64] | None:
    """Return the index of the smallest shell around each hole (``None`` if one has none)."""
    shell_polys: NDArray[np.object_] = np.asarray(shapely.polygons(shells))
    hole_polys: NDArray[np.object_] = np.asarray(shapely.polygons(holes))
    shell_i, hole_i = shapely.STRtree(hole_polys).query(shell_polys, predicate="contains")
    if np.unique(hole_i).size != holes.size:
        return None
    area = np.asarray(shapely.area(shell_polys))[shell_i]
    order = np.lexsort((shell_i, area, hole_i))  # per hole: smallest area first (ties: index)
    first = np.r_[True, hole_i[order][1:] != hole_i[order][:-1]]
    found: NDArray[np.int64] = shell_i[order][first].astype(np.int64)
    return found


@njit(cache=True, inline="always")
def _row_span(ax: float, ay: float, bx: float, by: float, yc: float,  # noqa: PLR0917
              reach: float) -> tuple[float, float]:
    """Return the x-range of row ``yc`` within ``reach`` of segment a-b (lo > hi: none).

    The points within ``reach`` of a segment form a convex capsule: its cut by the row is the
    hull of the cuts of its end discs and of its rectangle.
    """
    lo, hi = np.inf, -np.inf
    for cx, cy in ((ax, ay), (bx, by)):
        h = reach * reach - (yc - cy) * (yc - cy)
        if h >= 0:
            s = math.sqrt(h)
            lo, hi = min(lo, cx - s), max(hi, cx + s)
    dx, dy = bx - ax, by - ay
    length = math.sqrt(dx * dx + dy * dy)
    if length > 0:
        nx, ny = -dy / length * reach, dx / length * reach
        px = (ax + nx, bx + nx, bx - nx, ax - nx)
        py = (ay + ny, by + ny, by - ny, ay - ny)
        for i in range(4):
            j = (i + 1) % 4
            if (py[i] - yc) * (py[j] - yc) > 0:
                continue
            if py[i] == py[j]:
                lo, hi = min(lo, px[i], px[j]), max(hi, px[i], px[j])
            else:
                x = px[i] + (yc - py[i]) * (px[j] - px[i]) / (py[j] - py[i])
                lo, hi = min(lo, x), max(hi, x)
    return lo, hi


@njit(cache=True)
def _mark_covered(  # noqa: PLR0917
    x: NDArray[np.float64], y: NDArray[np.float64], part: NDArray[np.int64], cell: float,
    reach: float, covered: NDArray[np.bool_],
) -> None:
    """Mark the cells whose centre is within ``reach`` of a segment of the same part."""
    n_rows, n_cols = covered.shape
    if reach <= 0:
        return
    for k in range(x.size - 1):
        if part[k] != part[k + 1]:
            continue
        ax, ay, bx, by = x[k], y[k], x[k + 1], y[k + 1]
        r0 = max(0, math.ceil((min(ay, by) - reach) / cell - 0.5))
        r1 = min(n_rows - 1, math.floor((max(ay, by) + reach) / cell - 0.5))
        for r in range(r0, r1 + 1):
            lo, hi = _row_span(ax, ay, bx, by, (r + 0.5) * cell, reach)
            c0 = max(0, math.ceil(lo / cell - 0.5))
            c1 = min(n_cols - 1, math.floor(hi / cell - 0.5))
            for c in range(c0, c1 + 1):
                covered[r, c] = True


@njit(cache=True)
def _parts_near_open_cells(  # noqa: PLR0917
    x: NDArray[np.float64], y: NDArray[np.float64], part: NDArray[np.int64], n_parts: int,
    cell: float, reach: float, covered: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Flag the parts with a segment within ``reach`` of an uncovered cell's centre.

    Everything off the grid counts as uncovered.
    """
    n_rows, n_cols = covered.shape
    near = np.zeros(n_parts, dtype=np.bool_)
    for k in range(x.size - 1):
        p = part[k]
        if p != part[k + 1] or near[p]:
            continue
        ax, ay, bx, by = x[k], y[k], x[k + 1], y[k + 1]
        r0 = math.ceil((min(ay, by) - reach) / cell - 0.5)
        r1 = math.floor((max(ay, by) + reach) / cell - 0.5)
        if r0 < 0 or r1 > n_rows - 1:
            near[p] = True
            continue
        for r in range(r0, r1 + 1):
            lo, hi = _row_span(ax, ay, bx, by, (r + 0.5) * cell, reach)
            if lo > hi:
                continue
            c0 = math.ceil(lo / cell - 0.5)
            c1 = math.floor(hi / cell - 0.5)
            if c0 > c1:
                continue
            if c0 < 0 or c1 > n_cols - 1 or not covered[r, c0:c1 + 1].all():
                near[p] = True
                break
    return near


def _reach_fraction(rest_s: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of an edge of ``w`` seconds covered with ``rest_s`` seconds left (0..1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(np.isfinite(w), rest_s / w, 0.0)
    f = np.where(np.isnan(f) | ~np.isfinite(rest_s), 0.0, f)
    f = np.where((w == 0) & (rest_s >= 0), 1.0, f)
    return np.clip(f, 0.0, 1.0)


def _candidate_edges(net: RoutingNetwork, mode: str,
                     dist: NDArray[np.float64]) -> NDArray[np.int64]:
    """Return the snap-able (one per street) edges with a reached end, ascending."""
    reached = np.flatnonzero(np.isfinite(dist))
    if reached.size == 0:
        return np.zeros(0, dtype=np.int64)
    ptr = net._cache.get("tail_ptr")
    if ptr is None:
        ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(net.edge_u, minlength=net.n_nodes), out=ptr[1:])
        net._cache["tail_ptr"] = ptr
    starts, stops = ptr[reached], ptr[reached + 1]
    counts = stops - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts)
    out_edges = np.arange(total, dtype=np.int64) + offsets
    rev = net.reverse_edge[out_edges]
    canon = np.where((rev >= 0) & (rev < out_edges), rev, out_edges)
    key = f"snap_mask:{mode}"
    mask: NDArray[np.bool_] | None = net._cache.get(key)
    if mask is None:
        mask = np.zeros(net.n_edges, dtype=bool)
        mask[snap_index(net, mode)[0]] = True
        net._cache[key] = mask
    hit = np.zeros(net.n_edges, dtype=bool)
    hit[canon] = True  # the same as np.unique(canon), without sorting
    found: NDArray[np.int64] = np.flatnonzero(hit & mask).astype(np.int64)
    return found


def _substrings(geoms: NDArray[np.object_], start: NDArray[np.float64],
                end: NDArray[np.float64]) -> NDArray[np.object_]:
    """Return the parts of LineStrings between normalized positions ``start`` < ``end``.

    Vectorised: vertices strictly inside each range are kept, ends are interpolated.
    """
    n = geoms.shape[0]
    if n == 0:
        return np.empty(0, dtype=object)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    step = np.zeros(len(coords))
    step[1:] = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
    first = np.r_[True, idx[1:] != idx[:-1]]
    step[first] = 0.0
    cum = np.cumsum(step)
    cum -= np.maximum.accumulate(np.where(first, cum, 0.0))
    last = np.r_[idx[1:] != idx[:-1], True]
    total = np.zeros(n)
    total[idx[last]] = cum[last]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(total[idx] > 0, cum / total[idx], 0.0)
    inner = (t > start[idx]) & (t < end[idx])
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(geoms, start, normalized=True))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(geoms, end, normalized=True))
    pieces = np.arange(n)
    all_xy = np.concatenate([p0, coords[inner], p1])
    all_piece = np.concatenate([pieces, idx[inner], pieces])
    all_key = np.concatenate([np.full(n, -1.0), t[inner], np.full(n, 2.0)])
    order = np.lexsort((all_key, all_piece))
    return np.asarray(shapely.linestrings(all_xy[order], indices=all_piece[order]))
