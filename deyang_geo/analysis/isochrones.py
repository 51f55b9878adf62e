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
        for b, line in zip(breaks, lines, strict=True):
            poly = _buffer_union(line, walkoff)
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
# line is inside that line's buffer polygon (cos(pi/16) = 0.9808, less 2 % to spare).
_INNER_SHARE = math.cos(math.pi / 16) - 0.02
_CELLS_PER_WALKOFF = 5  # cell side = walkoff / 5 (10 m for the 50 m default)
_CELLS_PER_TILE = 4  # a tile is 4 x 4 cells
_MAX_CELLS = 40_000_000
_MIN_PARTS_FOR_CORE = 2_000


def _buffer_union(parts: NDArray[np.object_], distance_m: float) -> shapely.Geometry:
    """Return the union of the LineStrings' buffers (``quad_segs=4``).

    The same set as ``union_all(buffer(parts))``, without buffering and merging the parts
    deep inside it (most of them on a dense network): the tiles every point of which is
    surely inside some part's buffer (see :func:`_core`) are taken whole, and only the parts
    whose buffer reaches a tile outside them are buffered and merged with those tiles.
    """
    if parts.size == 0:
        return shapely.Polygon()
    if distance_m == 0:
        return shapely.union_all(parts)
    keep, core = _core(parts, distance_m)
    buffers = shapely.buffer(parts[keep], distance_m, quad_segs=4)
    if core is None:
        return shapely.union_all(buffers)
    return shapely.union_all(np.concatenate([np.array([core], dtype=object), buffers]))


def _core(parts: NDArray[np.object_],
          distance_m: float) -> tuple[NDArray[np.bool_], shapely.Geometry | None]:
    """Return which parts to buffer, and the tiles surely covered (``None``: buffer all).

    On a grid of cells a fifth of the distance, a cell is covered when its centre lies within
    ``0.96 * distance - half the cell diagonal`` of a segment: then every point of the cell is
    inside that part's buffer polygon (its arcs are chords of 22.5 degrees). A tile (4 x 4
    cells) is covered when all its cells are. A part is left out when every tile its buffer
    can touch is covered; its buffer then lies inside the covered tiles, so the covered tiles
    plus the other parts' buffers make exactly the union of all the buffers.
    """
    everything = np.ones(parts.size, dtype=bool)
    if parts.size < _MIN_PARTS_FOR_CORE:
        return everything, None
    cell = distance_m / _CELLS_PER_WALKOFF
    tile = cell * _CELLS_PER_TILE
    bounds = shapely.bounds(parts)
    x0 = float(np.floor((np.nanmin(bounds[:, 0]) - distance_m) / tile) * tile)
    y0 = float(np.floor((np.nanmin(bounds[:, 1]) - distance_m) / tile) * tile)
    n_tx = int(np.ceil((np.nanmax(bounds[:, 2]) + distance_m - x0) / tile)) + 1
    n_ty = int(np.ceil((np.nanmax(bounds[:, 3]) + distance_m - y0) / tile)) + 1
    if n_tx * n_ty * _CELLS_PER_TILE**2 > _MAX_CELLS:
        return everything, None
    coords, part = shapely.get_coordinates(parts, return_index=True)
    # a cell is covered when its centre is within the inner distance less half its diagonal
    reach = distance_m * _INNER_SHARE - cell * math.sqrt(0.5)
    covered = np.zeros((n_ty * _CELLS_PER_TILE, n_tx * _CELLS_PER_TILE), dtype=np.bool_)
    _mark_cells_near(coords[:, 0] - x0, coords[:, 1] - y0, part.astype(np.int64), cell,
                     reach, covered)
    k = _CELLS_PER_TILE
    tiles: NDArray[np.bool_] = np.asarray(covered.reshape(n_ty, k, n_tx, k).all(axis=(1, 3)))
    if not tiles.any():
        return everything, None
    # a part is left out when every tile its buffer can reach is covered (GEOS may simplify
    # the line by 1 % of the distance first: 2 % to spare)
    keep = _parts_near_open_tiles(coords[:, 0] - x0, coords[:, 1] - y0, part.astype(np.int64),
                                  parts.size, tile, distance_m * 1.02 + tile * math.sqrt(0.5),
                                  tiles)
    if keep.all():
        return everything, None
    gx = x0 + np.arange(n_tx + 1, dtype=np.float64) * tile
    gy = y0 + np.arange(n_ty + 1, dtype=np.float64) * tile
    return keep, _tiles_polygon(tiles, gx, gy)


def _tiles_polygon(tiles: NDArray[np.bool_], gx: NDArray[np.float64],
                   gy: NDArray[np.float64]) -> shapely.Geometry:
    """Return the union of the marked tiles (row ``j``, column ``i``) as polygons.

    Each row's runs of tiles become one rectangle carrying, on its lower and upper sides, the
    run ends of the rows below and above: the rectangles then share exact vertices and merge
    as a coverage.
    """
    padded = np.zeros((tiles.shape[0], tiles.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = tiles
    step = np.diff(padded, axis=1)
    row, a = np.nonzero(step == 1)
    b = np.nonzero(step == -1)[1]  # both in row-major order: the runs pair up
    if row.size == 0:
        return shapely.Polygon()
    width = tiles.shape[1] + 2
    ends = np.unique(np.concatenate([row * width + a, row * width + b]))  # sorted row by row
    # run ends of the row below (above) strictly inside each run, ascending
    lo_b = np.searchsorted(ends, (row - 1) * width + a, side="right")
    n_b = np.searchsorted(ends, (row - 1) * width + b, side="left") - lo_b
    lo_t = np.searchsorted(ends, (row + 1) * width + a, side="right")
    n_t = np.searchsorted(ends, (row + 1) * width + b, side="left") - lo_t
    count = n_b + n_t + 5
    first = np.cumsum(count) - count
    xs = np.empty(int(count.sum()), dtype=np.int64)
    ys = np.empty_like(xs)
    # ring: (a, j), lower ends, (b, j), (b, j+1), upper ends backwards, (a, j+1), (a, j)
    for offset, x_of, y_of in ((0, a, row), (n_b + 1, b, row), (n_b + 2, b, row + 1),
                               (n_b + n_t + 3, a, row + 1), (n_b + n_t + 4, a, row)):
        xs[first + offset] = x_of
        ys[first + offset] = y_of
    for n_k, lo, drow, base in ((n_b, lo_b, -1, first + 1), (n_t, lo_t, 1, first + n_b + 3)):
        run = np.repeat(np.arange(row.size), n_k)
        i = np.arange(run.size) - np.repeat(np.cumsum(n_k) - n_k, n_k)
        pick = lo[run] + (i if drow < 0 else n_k[run] - 1 - i)
        xs[base[run] + i] = ends[pick] - (row[run] + drow) * width
        ys[base[run] + i] = row[run] + (drow > 0)  # on the run's own lower or upper side
    polys = shapely.polygons(shapely.linearrings(
        np.stack([gx[xs], gy[ys]], axis=1), indices=np.repeat(np.arange(row.size), count)))
    return shapely.coverage_union_all(polys)


@njit(cache=True, inline="always")
def _cell_span(a: float, b: float, reach: float, size: float, n: int) -> tuple[int, int]:
    """First and last grid index whose cell centre can be within ``reach`` of ``[a, b]``."""
    lo = max(0, int(np.floor((min(a, b) - reach) / size - 0.5)))
    hi = min(n - 1, int(np.ceil((max(a, b) + reach) / size - 0.5)))
    return lo, hi


@njit(cache=True, inline="always")
def _within(  # noqa: PLR0917
        ax: float, ay: float, dx: float, dy: float, ll: float, px: float, py: float,
            r2: float) -> bool:
    """Whether point ``(px, py)`` is within ``sqrt(r2)`` of the segment from ``(ax, ay)``."""
    t = 0.0
    if ll > 0:
        t = min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / ll))
    ex, ey = ax + t * dx - px, ay + t * dy - py
    return bool(ex * ex + ey * ey <= r2)


@njit(cache=True)
def _parts_near_open_tiles(  # noqa: PLR0917
    x: NDArray[np.float64], y: NDArray[np.float64], part: NDArray[np.int64], n_parts: int,
    tile: float, reach: float, covered: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Flag the parts with a segment within ``reach`` of the centre of an uncovered tile."""
    n_rows, n_cols = covered.shape
    near = np.zeros(n_parts, dtype=np.bool_)
    r2 = reach * reach
    for k in range(x.size - 1):
        p = part[k]
        if p != part[k + 1] or near[p]:
            continue
        ax, ay, bx, by = x[k], y[k], x[k + 1], y[k + 1]
        dx, dy = bx - ax, by - ay
        ll = dx * dx + dy * dy
        c0, c1 = _cell_span(ax, bx, reach, tile, n_cols)
        r0, r1 = _cell_span(ay, by, reach, tile, n_rows)
        for r in range(r0, r1 + 1):
            py = (r + 0.5) * tile
            for c in range(c0, c1 + 1):
                if covered[r, c]:
                    continue
                if _within(ax, ay, dx, dy, ll, (c + 0.5) * tile, py, r2):
                    near[p] = True
                    break
            if near[p]:
                break
    return near


@njit(cache=True)
def _mark_cells_near(  # noqa: PLR0917
    x: NDArray[np.float64], y: NDArray[np.float64], part: NDArray[np.int64], cell: float,
    reach: float, covered: NDArray[np.bool_],
) -> None:
    """Mark the cells whose centre is within ``reach`` of a segment of the same part."""
    n_rows, n_cols = covered.shape
    r2 = reach * reach
    for k in range(x.size - 1):
        if part[k] != part[k + 1]:
            continue
        ax, ay, bx, by = x[k], y[k], x[k + 1], y[k + 1]
        dx, dy = bx - ax, by - ay
        ll = dx * dx + dy * dy
        c0, c1 = _cell_span(ax, bx, reach, cell, n_cols)
        r0, r1 = _cell_span(ay, by, reach, cell, n_rows)
        for r in range(r0, r1 + 1):
            py = (r + 0.5) * cell
            for c in range(c0, c1 + 1):
                if covered[r, c]:
                    continue
                if _within(ax, ay, dx, dy, ll, (c + 0.5) * cell, py, r2):
                    covered[r, c] = True


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
    canon = np.unique(canon).astype(np.int64)
    found: NDArray[np.int64] = canon[mask[canon]]
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
