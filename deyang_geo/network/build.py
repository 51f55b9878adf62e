"""Road networks built from OSM ways: segments, pieces kept, simplification, travel times.

Every source funnels into one builder that returns the "Road network graph" of
``docs/architecture.md``: an osmnx-style ``networkx.MultiDiGraph`` projected to a local metric
CRS, edges carrying ``length`` (m), ``geometry`` (u -> v), ``highway``, ``osmid``, ``name`` and,
for each mode allowed on the edge in that direction, ``travel_time_{mode}`` in seconds.

How it is built: OSM files are streamed with pyosmium (``.osm``, ``.osm.bz2``, ``.osm.gz`` and
``.osm.pbf`` alike, so every format gives the same graph), online data comes through osmnx's
Overpass download; then one array-based builder makes osmnx's graph (same segments, lengths,
topological simplification and clipping rules, checked edge for edge against
``osmnx.graph_from_xml`` in the tests) and builds the networkx graph once, at the end.

Simplification never merges across a node where the set of modes allowed changes, so a merged
edge's travel times are exact. Disconnected pieces are always reported (log and
:func:`network_summary`): by default the main piece and every piece with at least
``min_piece_km`` of street are kept, only smaller slivers are dropped (with a count); with
``keep_near`` (the communities and facilities), a smaller piece within the snapping distance of
one of them is kept too, so no one is reported "not snapped" because their street was dropped.


The per-mode tag rules live in :mod:`deyang_geo.network.rules`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from deyang_geo.core import settings
from deyang_geo.core.crs import local_metric_crs
from deyang_geo.core.errors import NetworkError, Problem
from deyang_geo.network.osm_file import (
    HighwayData,
    file_bounds,
    read_highways,
)
from deyang_geo.network.rules import (
    MODE_KIND,
    RULE_KEYS,
    WAY_TAGS_KEPT,
    check_modes,
    drive_s_per_m,
    mode_speeds,
    oneway_direction,
    way_modes,
)

if TYPE_CHECKING:
    import networkx as nx
    from shapely.geometry.base import BaseGeometry

    from deyang_geo.network.boundary import Boundary

# The OSM-file path to arrays (and to GraphML, network/graphml.py) imports neither networkx,
# shapely, geopandas nor pandas (tests/test_layout.py): they are imported inside the functions
# that need them (a boundary, points to keep near, a networkx graph, shapely geometries),
# which PLC0415 is told case by case.

log = logging.getLogger("deyang_geo")

__all__ = [
    "NetworkArrays",
    "build_arrays",
    "graph_from_osm_file",
    "network_arrays_from_osm_file",
]

#: Default smallest disconnected piece kept, in km of street: smaller slivers are dropped
#: (the main piece is always kept).
MIN_PIECE_KM: float = 0.5


# --------------------------------------------------------------------------- builder
@dataclass
class _Segments:
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    way: NDArray[np.int64]
    mask: NDArray[np.int64]
    reversed_: NDArray[np.bool_]
    length: NDArray[np.float64]


#: The mean Earth radius osmnx measures edge lengths with (``osmnx.distance.great_circle``).
EARTH_RADIUS_M = 6_371_009.0


def unique_sorted(values: NDArray[Any]) -> NDArray[Any]:
    """Return the sorted distinct values, as ``np.unique(values)``, by one sort.

    numpy 2.4's ``np.unique`` without ``return_*`` options goes through a hash table that is
    about 50x slower than sorting on a million OSM ids (1.1 s vs 0.02 s).
    """
    flat = np.sort(np.asarray(values).ravel())
    if not len(flat):
        return flat
    keep = np.empty(len(flat), dtype=bool)
    keep[0] = True
    np.not_equal(flat[1:], flat[:-1], out=keep[1:])
    return flat[keep]


def great_circle_m(lat1: NDArray[np.float64], lon1: NDArray[np.float64],
                   lat2: NDArray[np.float64], lon2: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return haversine distances in metres, the same formula and radius as osmnx uses.

    ``osmnx.distance.great_circle`` computed here so reading an OSM file does not import osmnx
    (about 1.5 s and 180 MiB); the tests check both agree to the last bit.
    """
    y1, y2 = np.deg2rad(lat1), np.deg2rad(lat2)
    x1, x2 = np.deg2rad(lon1), np.deg2rad(lon2)
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    h = np.minimum(1, h)  # protect against floating point errors
    out: NDArray[np.float64] = 2 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M
    return out


def _segments(data: HighwayData, fwd: NDArray[np.int64], bwd: NDArray[np.int64],
              boundary: BaseGeometry | None) -> tuple[_Segments, int]:
    """Directed edges (osmnx order: per way, forward segments then reversed ones)."""
    kept = np.flatnonzero((fwd | bwd) != 0)
    all_lens = np.diff(data.way_ptr)
    lens = all_lens[kept]
    flat = data.refs[np.repeat((fwd | bwd) != 0, all_lens)]
    way_of = np.repeat(kept, lens)
    within = np.ones(len(flat), dtype=bool)
    within[np.cumsum(lens) - 1] = False  # the last node of each way starts no segment
    within = within[:-1] if len(flat) else within
    su, sv, sw = flat[:-1][within], flat[1:][within], way_of[:-1][within]
    seq = np.arange(len(su))
    nonloop = su != sv
    su, sv, sw, seq = su[nonloop], sv[nonloop], sw[nonloop], seq[nonloop]
    ids = data.node_ids
    iu = np.clip(np.searchsorted(ids, su), 0, max(len(ids) - 1, 0))
    iv = np.clip(np.searchsorted(ids, sv), 0, max(len(ids) - 1, 0))
    known = (ids[iu] == su) & (ids[iv] == sv) if len(ids) else np.zeros(len(su), dtype=bool)
    missing = int((~known).sum())
    if missing:
        log.info("left out %d way segments whose nodes lie outside the file's extract", missing)
    if boundary is not None and known.any():
        import shapely  # noqa: PLC0415 - only with a boundary

        inside_u = shapely.contains_xy(boundary, data.node_lon[iu], data.node_lat[iu])
        inside_v = shapely.contains_xy(boundary, data.node_lon[iv], data.node_lat[iv])
        known &= inside_u & inside_v
    su, sv, sw, seq, iu, iv = su[known], sv[known], sw[known], seq[known], iu[known], iv[known]
    seg_len = np.asarray(great_circle_m(data.node_lat[iu], data.node_lon[iu],
                                        data.node_lat[iv], data.node_lon[iv]), dtype=np.float64)
    f = fwd[sw] != 0
    b = bwd[sw] != 0
    u = np.concatenate([su[f], sv[b]])
    v = np.concatenate([sv[f], su[b]])
    way = np.concatenate([sw[f], sw[b]])
    mask = np.concatenate([fwd[sw][f], bwd[sw][b]])
    rev = np.concatenate([np.zeros(int(f.sum()), bool), np.ones(int(b.sum()), bool)])
    length = np.concatenate([seg_len[f], seg_len[b]])
    order = np.lexsort((np.concatenate([seq[f], seq[b]]), rev, way))
    segs = _Segments(u[order], v[order], way[order], mask[order], rev[order], length[order])
    return segs, missing


def _kept_pieces(labels_u: NDArray[np.int64], a: NDArray[np.int64], b: NDArray[np.int64],
                 length_m: NDArray[np.float64], *, n_labels: int, biggest: int,
                 min_piece_km: float) -> NDArray[np.bool_]:
    """Labels to keep: the main piece and every piece with at least ``min_piece_km`` of street.

    ``labels_u`` is the piece of each directed edge ``a -> b``; a street with an edge each
    way is counted once.
    """
    keep = np.zeros(n_labels, dtype=bool)
    keep[biggest] = True
    if len(a) and np.isfinite(min_piece_km):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        # one street per node pair, first occurrence, in (lo, hi) order: a 1-D key sorts
        # the same as the pairs and far faster than np.unique(..., axis=1)
        _, first = np.unique(lo * (int(hi.max()) + 1) + hi, return_index=True)
        km = np.bincount(labels_u[first], weights=length_m[first] / 1000.0,
                         minlength=n_labels)
        keep |= km >= min_piece_km
    return keep


class _NearTest:
    """Which small pieces lie within ``distance_m`` of the people or facilities to keep.

    The points (or any geometries) are projected once to the network's metric CRS; each test
    builds a shapely STRtree on the straight segments of the small pieces only and queries it
    with every point at once (``dwithin``), no Python loop over nodes.
    """

    def __init__(self, geoms: NDArray[np.object_], distance_m: float, crs: str) -> None:
        import shapely  # noqa: PLC0415 - only with points to keep near

        self.distance_m = distance_m
        self.crs = crs
        self._tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self.geoms = np.asarray(shapely.transform(geoms, self._xy), dtype=object)

    def _xy(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = self._tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def pieces(self, lon_a: NDArray[np.float64], lat_a: NDArray[np.float64],
               lon_b: NDArray[np.float64], lat_b: NDArray[np.float64], *,
               label: NDArray[np.int64], candidates: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Candidate labels with a point within the distance of one of their segments."""
        out = np.zeros(len(candidates), dtype=bool)
        sel = candidates[label]
        if not sel.any() or not len(self.geoms):
            return out
        import shapely  # noqa: PLC0415 - only with points to keep near

        xa, ya = self._tr.transform(lon_a[sel], lat_a[sel])
        xb, yb = self._tr.transform(lon_b[sel], lat_b[sel])
        coords = np.stack([np.column_stack([xa, ya]), np.column_stack([xb, yb])], axis=1)
        tree = shapely.STRtree(np.asarray(shapely.linestrings(coords), dtype=object))
        hits = tree.query(self.geoms, predicate="dwithin", distance=self.distance_m)[1]
        out[label[sel][unique_sorted(hits)]] = True
        return out


def _keep_near_geoms(keep_near: Any) -> NDArray[np.object_]:
    """WGS-84 geometries of ``keep_near``: a (lon, lat) pair of arrays or a GeoSeries."""
    import geopandas as gpd  # noqa: PLC0415 - only with points to keep near
    import shapely  # noqa: PLC0415 - only with points to keep near

    if isinstance(keep_near, (gpd.GeoSeries, gpd.GeoDataFrame)):
        gs = keep_near.geometry if isinstance(keep_near, gpd.GeoDataFrame) else keep_near
        if gs.crs is not None:
            gs = gs.to_crs("EPSG:4326")
        geoms = np.asarray(gs.values, dtype=object)
    else:
        try:
            lon, lat = keep_near
            lon_a = np.asarray(lon, dtype=np.float64).ravel()
            lat_a = np.asarray(lat, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            msg = ("keep_near must be a (lon, lat) pair of WGS-84 arrays or a GeoSeries, got "
                   f"{type(keep_near).__name__}")
            raise NetworkError(msg) from None
        if lon_a.shape != lat_a.shape:
            msg = f"keep_near: {len(lon_a)} longitudes but {len(lat_a)} latitudes"
            raise NetworkError(msg)
        ok = np.isfinite(lon_a) & np.isfinite(lat_a)
        geoms = np.asarray(shapely.points(lon_a[ok], lat_a[ok]), dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return np.asarray(geoms[keep], dtype=object)


def _check_keep_near_m(value: float | None) -> float:
    """Return the keep-near distance in metres (default ``settings.max_snap_m``), checked."""
    if value is None:
        return float(settings.max_snap_m)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or not math.isfinite(value):
        msg = f"keep_near_m must be a finite distance in metres >= 0, got {value!r}"
        raise NetworkError(msg)
    return float(value)


def _largest_weak(segs: _Segments, min_piece_km: float = math.inf,
                  near: tuple[_NearTest, HighwayData] | None = None,
                  ) -> tuple[_Segments, int, int, int]:
    """Keep the largest weakly connected piece and the pieces of ``min_piece_km`` or more.

    With ``near``, a smaller piece is kept too when a point to keep lies near one of its
    segments. Returns the kept segments, the number of OSM nodes dropped, of pieces dropped
    and of small pieces kept because of the points.
    """
    nodes, inv = np.unique(np.concatenate([segs.u, segs.v]), return_inverse=True)
    m = len(segs.u)
    if m == 0:
        return segs, 0, 0, 0
    iu, iv = inv[:m], inv[m:]
    adj = coo_matrix((np.ones(m), (iu, iv)), shape=(len(nodes), len(nodes))).tocsr()
    n_comp, labels = connected_components(adj, directed=True, connection="weak")
    if n_comp <= 1:
        return segs, 0, 0, 0
    biggest = int(np.argmax(np.bincount(labels)))
    kept_labels = _kept_pieces(labels[iu], iu, iv, segs.length, n_labels=n_comp,
                               biggest=biggest, min_piece_km=min_piece_km)
    n_near = 0
    if near is not None and not kept_labels.all():
        test, data = near
        pa = np.searchsorted(data.node_ids, segs.u)
        pb = np.searchsorted(data.node_ids, segs.v)
        hit = test.pieces(data.node_lon[pa], data.node_lat[pa], data.node_lon[pb],
                          data.node_lat[pb], label=labels[iu], candidates=~kept_labels)
        n_near = int(hit.sum())
        kept_labels |= hit
    if kept_labels.all():
        return segs, 0, 0, n_near
    keep = kept_labels[labels[iu]]
    dropped_nodes = int((~kept_labels[labels]).sum())
    out = _Segments(segs.u[keep], segs.v[keep], segs.way[keep], segs.mask[keep],
                    segs.reversed_[keep], segs.length[keep])
    return out, dropped_nodes, int((~kept_labels).sum()), n_near


def _through_nodes_to_keep(segs: _Segments) -> NDArray[np.int64]:
    """Nodes where the set of modes changes along a street: simplification must stop there.

    A node of 2 or 4 segment ends is kept when a segment into it and a segment out of it
    lead to different neighbours and carry different modes.
    """
    u, v, mask = segs.u, segs.v, segs.mask
    nodes, counts = np.unique(np.concatenate([u, v]), return_counts=True)
    candidates = nodes[(counts == 2) | (counts == 4)]
    if not len(candidates):
        return np.empty(0, dtype=np.int64)
    # the (at most 4) segments out of each candidate, side by side
    out_sel = np.flatnonzero(np.isin(u, candidates))
    out_node = np.searchsorted(candidates, u[out_sel])
    order = np.argsort(out_node, kind="stable")
    out_sel, out_node = out_sel[order], out_node[order]
    first = np.searchsorted(out_node, np.arange(len(candidates)))
    slot = np.arange(len(out_node)) - first[out_node]
    width = int(slot.max()) + 1 if len(slot) else 1
    head = np.full((len(candidates), width), -1, dtype=np.int64)
    out_mask = np.zeros((len(candidates), width), dtype=np.int64)
    head[out_node, slot] = v[out_sel]
    out_mask[out_node, slot] = mask[out_sel]
    # every segment into a candidate against every segment out of it
    in_sel = np.flatnonzero(np.isin(v, candidates))
    in_node = np.searchsorted(candidates, v[in_sel])
    b, m_out = head[in_node], out_mask[in_node]
    hit = (b >= 0) & (b != u[in_sel][:, None]) & (m_out != mask[in_sel][:, None])
    return unique_sorted(candidates[in_node[hit.any(axis=1)]]).astype(np.int64)


def edge_arrays(G: nx.MultiDiGraph) -> tuple[list[tuple[Any, Any, Any, dict[str, Any]]],
                                              NDArray[np.int64], NDArray[np.int64], int]:
    ids = list(G.nodes)
    pos = {n: i for i, n in enumerate(ids)}
    edges = list(G.edges(keys=True, data=True))
    iu = np.fromiter((pos[e[0]] for e in edges), dtype=np.int64, count=len(edges))
    iv = np.fromiter((pos[e[1]] for e in edges), dtype=np.int64, count=len(edges))
    return edges, iu, iv, len(ids)


def mode_components(iu: NDArray[np.int64], iv: NDArray[np.int64], n: int,
                     sel: NDArray[np.bool_], *, length_m: NDArray[np.float64] | None = None,
                     min_piece_km: float = math.inf, near: _EdgeNear | None = None,
                     ) -> tuple[int, NDArray[np.bool_], int, int]:
    """Strongly connected components of the mode's edges.

    Returns their count, the edges outside the kept ones (the largest, plus those with at
    least ``min_piece_km`` of street, plus, with ``near``, those near a point to keep), the
    number of components dropped and the number kept only because of the points.
    """
    if not sel.any():
        return 0, np.zeros(len(iu), dtype=bool), 0, 0
    a, b = iu[sel], iv[sel]
    adj = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)).tocsr()
    n_labels, labels = connected_components(adj, directed=True, connection="strong")
    touched = np.zeros(n, dtype=bool)
    touched[a] = True
    touched[b] = True
    used_labels, sizes = np.unique(labels[touched], return_counts=True)
    biggest = int(used_labels[np.argmax(sizes)])
    if length_m is None:
        kept = np.zeros(n_labels, dtype=bool)
        kept[biggest] = True
    else:
        inside = labels[a] == labels[b]
        kept = _kept_pieces(labels[a][inside], a[inside], b[inside], length_m[sel][inside],
                            n_labels=n_labels, biggest=biggest, min_piece_km=min_piece_km)
    n_near = 0
    if near is not None and not kept[used_labels].all():
        inside_all = sel & (labels[iu] == labels[iv])
        hit = near(labels[iu], inside_all, ~kept)
        n_near = int(hit.sum())
        kept |= hit
    outside = sel & ~(kept[labels[iu]] & kept[labels[iv]])
    dropped = int((~kept[used_labels]).sum())
    return len(used_labels), outside, dropped, n_near


@dataclass
class _Edges:
    """Final directed edges: endpoints (node indices) and their segments, in order."""

    u: NDArray[np.int64]
    v: NDArray[np.int64]
    ptr: NDArray[np.int64]  # segments of edge f: seg[ptr[f]:ptr[f + 1]]
    seg: NDArray[np.int64]


def _node_index(segs: _Segments) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                           NDArray[np.int64]]:
    nodes, inv = np.unique(np.concatenate([segs.u, segs.v]), return_inverse=True)
    m = len(segs.u)
    return nodes, inv[:m].astype(np.int64), inv[m:].astype(np.int64)


def _endpoints(iu: NDArray[np.int64], iv: NDArray[np.int64], n: int,
               keep: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Flag endpoints by osmnx's rules: self-loop, source/sink, not 2 neighbours of degree 2|4."""
    in_deg = np.bincount(iv, minlength=n)
    out_deg = np.bincount(iu, minlength=n)
    deg = in_deg + out_deg
    loop = np.zeros(n, dtype=bool)
    loop[iu[iu == iv]] = True
    nonloop = iu != iv
    pair_keys = unique_sorted(np.concatenate([iu[nonloop] * n + iv[nonloop],
                                          iv[nonloop] * n + iu[nonloop]]))
    neighbours = np.bincount(pair_keys // n, minlength=n)
    through = (neighbours == 2) & ((deg == 2) | (deg == 4))
    return np.asarray(loop | (in_deg == 0) | (out_deg == 0) | ~through | keep, dtype=bool)


def _simplify_arrays(iu: NDArray[np.int64], iv: NDArray[np.int64], n: int,
                     keep: NDArray[np.bool_]) -> _Edges:
    """Simplify topology as osmnx does, on arrays: merge chains through interstitial nodes.

    Edges between endpoints stay as they are; every chain endpoint -> interstitial nodes ->
    endpoint becomes one edge (one per distinct first hop, keeping the first of parallel
    segments, as osmnx does); components made only of interstitial nodes (isolated rings) are
    dropped, as osmnx's ``remove_rings`` does.
    """
    m = len(iu)
    seg_ids = np.arange(m, dtype=np.int64)
    endpoint = _endpoints(iu, iv, n, keep)
    for _ in range(n + 1):
        # first out-segment per distinct (node, successor), for interstitial nodes
        inter_out = ~endpoint[iu]
        cand = seg_ids[inter_out]
        pair_key = iu[cand] * n + iv[cand]
        _, first = np.unique(pair_key, return_index=True)
        first_seg = cand[np.sort(first)]
        # each interstitial node has at most two distinct successors: slot 0 and slot 1
        node_of = iu[first_seg]
        order = np.argsort(node_of, kind="stable")
        first_seg = first_seg[order]
        node_of = node_of[order]
        slot = np.ones(len(node_of), dtype=bool)
        slot[1:] = node_of[1:] != node_of[:-1]  # True: slot 0
        succ_seg = np.full((n, 2), -1, dtype=np.int64)
        succ_seg[node_of[slot], 0] = first_seg[slot]
        succ_seg[node_of[~slot], 1] = first_seg[~slot]
        succ_node = np.where(succ_seg >= 0, iv[np.maximum(succ_seg, 0)], -1)
        # next segment after a -> b (b interstitial): b's out-segment to the node that is not a
        into = seg_ids[~endpoint[iv]]
        b = iv[into]
        a = iu[into]
        nxt = np.where(succ_node[b, 0] != a, succ_seg[b, 0], succ_seg[b, 1])
        nxt = np.where(succ_node[b, 0] == a, succ_seg[b, 1], nxt)
        stuck = nxt < 0
        if not stuck.any():
            break
        endpoint[b[stuck]] = True  # a digitisation quirk: make the node an endpoint
    next_seg = np.full(m, -1, dtype=np.int64)
    next_seg[into] = nxt
    # edges between endpoints stay; chains start at an endpoint with an interstitial head
    direct = seg_ids[endpoint[iu] & endpoint[iv]]
    starts = seg_ids[endpoint[iu] & ~endpoint[iv]]
    _, first = np.unique(iu[starts] * n + iv[starts], return_index=True)
    starts = starts[np.sort(first)]
    path_of = [np.arange(len(starts), dtype=np.int64)]
    step_of = [np.zeros(len(starts), dtype=np.int64)]
    seg_of = [starts]
    cur = starts.copy()
    ids = np.arange(len(starts), dtype=np.int64)
    step = 0
    while len(cur) and step <= m:
        open_ = ~endpoint[iv[cur]]
        cur, ids = next_seg[cur[open_]], ids[open_]
        step += 1
        path_of.append(ids)
        step_of.append(np.full(len(ids), step, dtype=np.int64))
        seg_of.append(cur)
    p_id = np.concatenate(path_of)
    p_step = np.concatenate(step_of)
    p_seg = np.concatenate(seg_of)
    order = np.lexsort((p_step, p_id))
    p_id, p_seg = p_id[order], p_seg[order]
    counts = np.bincount(p_id, minlength=len(starts))
    last = p_seg[np.cumsum(counts) - 1] if len(starts) else np.empty(0, np.int64)
    # merge direct edges and paths in the order of their first segment
    first_seg = np.concatenate([direct, starts])
    n_seg = np.concatenate([np.ones(len(direct), np.int64), counts])
    seg_lists_ptr = np.concatenate([[0], np.cumsum(n_seg)])
    all_segs = np.concatenate([direct, p_seg])
    order = np.argsort(first_seg, kind="stable")
    starts_in = seg_lists_ptr[:-1][order]
    n_in = n_seg[order]
    ptr = np.concatenate([[0], np.cumsum(n_in)]).astype(np.int64)
    gather = np.repeat(starts_in - ptr[:-1], n_in) + np.arange(int(ptr[-1]))
    seg = all_segs[gather]
    fu = iu[first_seg[order]]
    fv = np.concatenate([iv[direct], iv[last]])[order]
    return _Edges(fu, fv, ptr, seg)


def _unsimplified(iu: NDArray[np.int64], iv: NDArray[np.int64]) -> _Edges:
    m = len(iu)
    return _Edges(iu.copy(), iv.copy(), np.arange(m + 1, dtype=np.int64),
                  np.arange(m, dtype=np.int64))


def _select(edges: _Edges, keep: NDArray[np.bool_]) -> _Edges:
    counts = np.diff(edges.ptr)
    seg_keep = np.repeat(keep, counts)
    ptr = np.concatenate([[0], np.cumsum(counts[keep])]).astype(np.int64)
    return _Edges(edges.u[keep], edges.v[keep], ptr, edges.seg[seg_keep])


_EdgeNear = Callable[[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_]],
                     NDArray[np.bool_]]


def _edge_near(test: _NearTest, edges: _Edges, seg_node_a: NDArray[np.int64],
               seg_node_b: NDArray[np.int64], *, lon: NDArray[np.float64],
               lat: NDArray[np.float64]) -> _EdgeNear:
    """Return the near test on final edges (each edge tested through its straight segments)."""

    def near(label: NDArray[np.int64], edge_sel: NDArray[np.bool_],
             candidates: NDArray[np.bool_]) -> NDArray[np.bool_]:
        counts = np.diff(edges.ptr)
        owner = np.repeat(np.arange(len(edges.u)), counts)
        take = edge_sel[owner] & candidates[label[owner]]
        seg = edges.seg[take]
        a, b = seg_node_a[seg], seg_node_b[seg]
        return test.pieces(lon[a], lat[a], lon[b], lat[b], label=label[owner[take]],
                           candidates=np.ones(len(candidates), dtype=bool))

    return near


def _largest_weak_edges(edges: _Edges, n: int, length_m: NDArray[np.float64] | None = None,
                        min_piece_km: float = math.inf, near: _EdgeNear | None = None,
                        ) -> tuple[NDArray[np.bool_], int, int, int]:
    """Edges of the largest weakly connected piece and of pieces with ``min_piece_km`` or more.

    With ``near``, smaller pieces near a point to keep are kept too. Returns the edge mask,
    the number of pieces, the number of pieces dropped and the number kept for the points.
    """
    used = np.zeros(n, dtype=bool)
    used[edges.u] = True
    used[edges.v] = True
    adj = coo_matrix((np.ones(len(edges.u)), (edges.u, edges.v)), shape=(n, n)).tocsr()
    n_labels, labels = connected_components(adj, directed=True, connection="weak")
    pieces, sizes = np.unique(labels[used], return_counts=True)
    if len(pieces) <= 1:
        return np.ones(len(edges.u), dtype=bool), len(pieces), 0, 0
    biggest = int(pieces[np.argmax(sizes)])
    if length_m is None:
        kept = np.zeros(n_labels, dtype=bool)
        kept[biggest] = True
    else:
        kept = _kept_pieces(labels[edges.u], edges.u, edges.v, length_m, n_labels=n_labels,
                            biggest=biggest, min_piece_km=min_piece_km)
    n_near = 0
    if near is not None and not kept[pieces].all():
        hit = near(labels[edges.u], np.ones(len(edges.u), dtype=bool), ~kept)
        n_near = int(hit.sum())
        kept |= hit
    return kept[labels[edges.u]], len(pieces), int((~kept[pieces]).sum()), n_near


def _street_count(edges: _Edges, length: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """Physical streets at each node (a two-way street counted once, a self-loop twice)."""
    a = np.minimum(edges.u, edges.v)
    b = np.maximum(edges.u, edges.v)
    cm = np.round(length * 100).astype(np.int64)
    order = np.lexsort((cm, b, a))
    a, b, cm = a[order], b[order], cm[order]
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1]) | (cm[1:] != cm[:-1])
    return (np.bincount(a[new], minlength=n) + np.bincount(b[new], minlength=n)).astype(np.int64)


def _merge_values(values: list[Any]) -> Any:
    """Merge values as osmnx does: the one value, or the (here sorted) distinct values."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0]
    return sorted(distinct, key=str)


def _edge_attr_groups(data: HighwayData, segs: _Segments, edges: _Edges,
                      keep_tags: Sequence[str],
                      ) -> tuple[NDArray[np.int64], list[dict[str, Any]]]:
    """OSM attributes of the final edges: its way's tags, merged osmnx-style across ways.

    Edges from one way in one direction share their attributes: returns the group of each
    edge and each group's attributes (one group per merged edge).
    """
    tag_keys = [k for k in keep_tags if k != "oneway"]
    ways = segs.way[edges.seg]
    revs = segs.reversed_[edges.seg].astype(np.int64)
    starts = edges.ptr[:-1]
    n_edges = len(starts)
    single = (np.minimum.reduceat(ways, starts) == np.maximum.reduceat(ways, starts)) & (
        np.minimum.reduceat(revs, starts) == np.maximum.reduceat(revs, starts)) \
        if n_edges else np.zeros(0, dtype=bool)
    group = np.empty(n_edges, dtype=np.int64)
    # single-way edges: one group per (way, direction), numbered in order of first edge
    one = np.flatnonzero(single)
    sig = ways[starts[one]] * 2 + revs[starts[one]]
    uniq, first, inv = np.unique(sig, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    group[one] = rank[inv.ravel()]
    by_rank = uniq[np.argsort(first, kind="stable")].tolist()

    base: dict[int, dict[str, Any]] = {}

    def way_attrs(w: int) -> dict[str, Any]:
        attrs = base.get(w)
        if attrs is None:
            tags = data.way_tags[w]
            attrs = {"osmid": data.way_ids[w]}
            attrs.update((k, tags[k]) for k in tag_keys if k in tags)
            # as in OSM: one-way for vehicles (walkers still get both directions)
            attrs["oneway"] = oneway_direction(tags) != 0
            base[w] = attrs
        return attrs

    groups: list[dict[str, Any]] = []
    for key in by_rank:
        d = dict(way_attrs(key // 2))
        d["reversed"] = bool(key % 2)
        groups.append(d)
    ptr = edges.ptr.tolist()
    merged = np.flatnonzero(~single)
    group[merged] = len(groups) + np.arange(len(merged))
    for f in merged.tolist():
        collected: dict[str, list[Any]] = {}
        pairs = dict.fromkeys(zip(ways[ptr[f]:ptr[f + 1]].tolist(),
                                  revs[ptr[f]:ptr[f + 1]].tolist(), strict=True))
        for w, r in pairs:
            for key, value in way_attrs(w).items():
                collected.setdefault(key, []).append(value)
            collected.setdefault("reversed", []).append(bool(r))
        groups.append({key: _merge_values(values) for key, values in collected.items()})
    return group, groups


@dataclass(frozen=True)
class _OsmAttrs:
    """What the OSM attributes of the edges are built from, kept until a graph is asked for."""

    data: HighwayData
    segs: _Segments
    edges: _Edges
    keep_tags: tuple[str, ...]

    def groups(self) -> tuple[NDArray[np.int64], list[dict[str, Any]]]:
        """Return the attribute group of each edge and each group's attributes (shared)."""
        return _edge_attr_groups(self.data, self.segs, self.edges, self.keep_tags)

    def build(self) -> list[dict[str, Any]]:
        """Return a fresh attribute dict per edge."""
        group, groups = self.groups()
        return [dict(groups[g]) for g in group.tolist()]


@dataclass(frozen=True, eq=False)
class NetworkArrays:
    """The built road network as arrays, before (and without) any networkx graph.

    Nodes are the ones the edges use, by ascending OSM id; edges are in the builder's order
    (the order of the graph's ``add_edges_from``). :meth:`graph` builds the networkx graph of
    ``docs/architecture.md`` from them; the routing form reads them directly.

    Attributes
    ----------
    node_ids
        OSM ids of the nodes, ascending.
    x, y
        Node coordinates in metres, in ``graph_attrs["crs"]``.
    lon, lat
        Node coordinates in WGS-84 degrees.
    street_count
        Physical streets at each node (osmnx's ``street_count``).
    edge_u, edge_v
        Tail and head of each directed edge as node positions.
    edge_key
        The graph key of each edge (0, 1, ... per tail and head).
    length_m
        Edge length in metres.
    mode_mask
        Per edge, bit ``i`` set when ``graph_attrs["modes"][i]`` may use it in its direction.
    travel_time_s
        Per mode, the seconds of each edge (meaningful where the mode's bit is set).
    edge_xy
        The points of every edge's line from tail to head, in metres, flat: edge ``f`` runs
        through ``edge_xy[edge_xy_ptr[f]:edge_xy_ptr[f + 1]]`` (:attr:`geometry` makes the
        shapely LineStrings from them on first use).
    edge_xy_ptr
        Where each edge's points start in ``edge_xy`` (one more entry than edges).
    graph_attrs
        The graph attributes: ``crs``, ``modes``, ``speeds_kmh``, ``source``, ``simplified``,
        ``components``, ``disconnected``, ``dropped_pieces``.
    """

    node_ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    street_count: NDArray[np.int64]
    edge_u: NDArray[np.int64]
    edge_v: NDArray[np.int64]
    edge_key: NDArray[np.int64]
    length_m: NDArray[np.float64]
    mode_mask: NDArray[np.int64]
    travel_time_s: Mapping[str, NDArray[np.float64]]
    edge_xy: NDArray[np.float64]
    edge_xy_ptr: NDArray[np.int64]
    graph_attrs: Mapping[str, Any]
    osm_attrs: _OsmAttrs = field(repr=False)

    @cached_property
    def geometry(self) -> NDArray[np.object_]:
        """LineStrings from tail to head, in metres (built with shapely on first use)."""
        import shapely  # noqa: PLC0415 - only when geometries are asked for

        line = np.repeat(np.arange(len(self.edge_u)), np.diff(self.edge_xy_ptr))
        return np.asarray(shapely.linestrings(self.edge_xy[:, 0], self.edge_xy[:, 1],
                                              indices=line), dtype=object)

    def graph_attributes(self) -> dict[str, Any]:
        """Return the graph attributes of :meth:`graph`, in its order (fresh copies)."""
        ga = self.graph_attrs
        return {"crs": ga["crs"], "modes": self.modes, "speeds_kmh": dict(ga["speeds_kmh"]),
                "source": ga["source"], "simplified": ga["simplified"],
                "components": dict(ga["components"]),
                "disconnected": {k: dict(v) for k, v in ga["disconnected"].items()},
                "dropped_pieces": dict(ga["dropped_pieces"])}

    def edge_attributes(self, *, geometry: Sequence[Any] | None = None,
                        ) -> list[dict[str, Any]]:
        """Return each edge's attributes as :meth:`graph` sets them, in edge order.

        The OSM attributes, ``length``, ``geometry`` (a shapely LineString, or the value of
        ``geometry`` given, e.g. its WKT) and the ``travel_time_{mode}`` of each mode allowed.
        """
        attrs = self.osm_attrs.build()
        modes = self.modes
        mode_bits = [(f"travel_time_{m}", 1 << i) for i, m in enumerate(modes)]
        mask_l = self.mode_mask.tolist()
        len_l = self.length_m.tolist()
        times_l = {m: t.tolist() for m, t in self.travel_time_s.items()}
        geoms = self.geometry if geometry is None else geometry
        for f, d in enumerate(attrs):
            d["length"] = len_l[f]
            d["geometry"] = geoms[f]
            mask = mask_l[f]
            for (attr, bit), mode in zip(mode_bits, modes, strict=True):
                if mask & bit:
                    d[attr] = times_l[mode][f]
        return attrs

    def graph_edge_order(self) -> NDArray[np.int64]:
        """Return the edge indices in the order networkx iterates :meth:`graph`'s edges.

        By tail (node order), then head in order of the first edge between them, then key.
        """
        n = len(self.node_ids)
        m = len(self.edge_u)
        pair = self.edge_u * max(n, 1) + self.edge_v
        _, first, inv = np.unique(pair, return_index=True, return_inverse=True)
        order: NDArray[np.int64] = np.lexsort((np.arange(m), first[inv.ravel()], self.edge_u))
        return order

    @property
    def modes(self) -> tuple[str, ...]:
        """The travel modes computed."""
        return tuple(self.graph_attrs["modes"])

    def mode_weights_s(self, mode: str) -> NDArray[np.float64]:
        """Return the seconds of each edge for ``mode``, ``inf`` where it may not go."""
        bit = 1 << self.modes.index(mode)
        out: NDArray[np.float64] = np.where((self.mode_mask & bit) != 0,
                                            self.travel_time_s[mode], np.inf)
        return out

    def graph(self) -> nx.MultiDiGraph:
        """Build the networkx graph (a new one at each call).

        Returns
        -------
        networkx.MultiDiGraph
            The road network graph of ``docs/architecture.md``: node ``x``, ``y``,
            ``street_count``, ``lon``, ``lat``; edge OSM attributes, ``length``, ``geometry``
            and ``travel_time_{mode}`` for each mode allowed.
        """
        import networkx as nx  # noqa: PLC0415 - only when a graph is asked for

        G = nx.MultiDiGraph(**self.graph_attributes())
        G.add_nodes_from(
            (node, {"y": yy, "x": xx, "street_count": sc, "lon": lo, "lat": la})
            for node, yy, xx, sc, lo, la in zip(
                self.node_ids.tolist(), self.y.tolist(), self.x.tolist(),
                self.street_count.tolist(), self.lon.tolist(), self.lat.tolist(), strict=True))
        G.add_edges_from(zip(self.node_ids[self.edge_u].tolist(),
                             self.node_ids[self.edge_v].tolist(), self.edge_key.tolist(),
                             self.edge_attributes(), strict=True))
        return G


def build_arrays(
    data: HighwayData,
    *,
    modes: Sequence[str],
    speeds: Mapping[str, Any],
    boundary: BaseGeometry | None,
    simplify: bool,
    retain_all: bool,
    drop_disconnected: bool,
    crs: str | None,
    source: str,
    keep_tags: Sequence[str],
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> NetworkArrays:
    """Build the network from highway ways as arrays: the one builder every source funnels into.

    Everything runs on arrays: per-way mode masks, directed segments (osmnx's order), largest
    piece, simplification (osmnx's rules, never across a change of the allowed modes),
    clipping, projection, per-mode components, edge geometries. The networkx graph is built
    only when asked for (:meth:`NetworkArrays.graph`); the routing form reads the arrays
    directly (``RoutingNetwork.from_network_arrays``).
    """
    drive_set = frozenset(settings.drive_speeds_kmh)
    min_km = _check_min_piece_km(min_piece_km)
    n_ways = len(data.way_ids)
    fwd = np.zeros(n_ways, dtype=np.int64)
    bwd = np.zeros(n_ways, dtype=np.int64)
    cache: dict[tuple[str | None, ...], tuple[int, int]] = {}
    for i, tags in enumerate(data.way_tags):
        key = tuple(map(tags.get, RULE_KEYS))
        masks = cache.get(key)
        if masks is None:
            masks = way_modes(tags, modes, drive_highways=drive_set,
                              exclude_trunk=exclude_trunk)
            cache[key] = masks
        fwd[i], bwd[i] = masks
    buffered = None
    if boundary is not None:
        from deyang_geo.network.boundary import (  # noqa: PLC0415 - geopandas, with a boundary
            BOUNDARY_BUFFER_M,
            buffer_wgs84,
        )

        buffered = buffer_wgs84(boundary, BOUNDARY_BUFFER_M)
    segs, _ = _segments(data, fwd, bwd, buffered)
    if len(segs.u) == 0:
        where = " inside the study area" if boundary is not None else ""
        msg = (f"{source}: no roads usable by {', '.join(modes)}{where} "
               f"({n_ways} highway ways read)")
        raise NetworkError(msg)
    lost_pieces = {"pieces": 0, "nodes": 0}
    near_m = _check_keep_near_m(keep_near_m)
    test: _NearTest | None = None
    if keep_near is not None and (drop_disconnected or not retain_all):
        geoms = _keep_near_geoms(keep_near)
        if len(geoms):
            ends = np.searchsorted(data.node_ids, np.concatenate([segs.u, segs.v]))
            test = _NearTest(geoms, near_m,
                             _choose_crs(data.node_lon[ends], data.node_lat[ends], crs))
    if not retain_all:
        segs, dropped_nodes, n_dropped, n_near = _largest_weak(
            segs, min_km, None if test is None else (test, data))
        if test is not None:
            lost_pieces["kept_near"] = n_near
        if n_near:
            log.warning("kept %d small piece(s) not connected to the main network because "
                        "people or facilities lie within %g m of them", n_near, near_m)
        if dropped_nodes:
            lost_pieces.update(pieces=n_dropped, nodes=dropped_nodes)
            log.warning("dropped %d small piece(s) not connected to the main network (under "
                        "%g km of street each, %d OSM nodes before simplification; use "
                        "retain_all=True / --keep-disconnected to keep them)", n_dropped,
                        min_km, dropped_nodes)
    nodes, iu, iv = _node_index(segs)
    n = len(nodes)
    if simplify:
        keep = np.isin(nodes, _through_nodes_to_keep(segs))
        edges = _simplify_arrays(iu, iv, n, keep)
    else:
        edges = _unsimplified(iu, iv)
    if len(edges.u) == 0:
        msg = f"{source}: no roads usable by {', '.join(modes)} (only isolated rings)"
        raise NetworkError(msg)
    starts = edges.ptr[:-1]
    f_len = np.add.reduceat(segs.length[edges.seg], starts)
    idx = np.searchsorted(data.node_ids, nodes)
    lon, lat = data.node_lon[idx], data.node_lat[idx]
    street_count = _street_count(edges, f_len, n)
    if boundary is not None:
        import shapely  # noqa: PLC0415 - only with a boundary

        inside = shapely.contains_xy(boundary, lon, lat)
        sel = inside[edges.u] & inside[edges.v]
        edges, f_len = _select(edges, sel), f_len[sel]
        if not retain_all and len(edges.u):
            near = None if test is None else _edge_near(test, edges, iu, iv, lon=lon, lat=lat)
            sel, pieces, n_dropped, n_near = _largest_weak_edges(edges, n, f_len, min_km, near)
            if test is not None:  # the pieces kept once cut: counted again, not added
                lost_pieces["kept_near"] = n_near
            if n_near:
                log.warning("clipping to the study area: kept %d small piece(s) because people "
                            "or facilities lie within %g m of them", n_near, near_m)
            if n_dropped:
                lost = np.setdiff1d(np.concatenate([edges.u[~sel], edges.v[~sel]]),
                                    np.concatenate([edges.u[sel], edges.v[sel]]))
                lost_pieces["pieces"] += n_dropped
                lost_pieces["nodes"] += len(lost)
                log.warning("clipping to the study area cut the network into %d pieces; "
                            "dropped %d under %g km of street (%d nodes)", pieces, n_dropped,
                            min_km, len(lost))
            edges, f_len = _select(edges, sel), f_len[sel]
        if len(edges.u) == 0:
            msg = f"{source}: no roads usable by {', '.join(modes)} inside the study area"
            raise NetworkError(msg)
        starts = edges.ptr[:-1]
    f_mask = segs.mask[edges.seg[starts]]
    drive_bit = 1 << modes.index("drive") if "drive" in modes else 0
    f_drive = np.full(len(edges.u), np.nan)
    if drive_bit:
        f_drive = np.add.reduceat(segs.length[edges.seg] * drive_s_per_m(data)[
            segs.way[edges.seg]], starts)
    # per-mode pieces: found, reported, dropped or kept
    f_len = np.maximum(f_len, 1e-3)
    components: dict[str, int] = {}
    disconnected: dict[str, dict[str, Any]] = {}
    near = None if test is None else _edge_near(test, edges, iu, iv, lon=lon, lat=lat)
    for i, mode in enumerate(modes):
        bit = 1 << i
        sel = (f_mask & bit) != 0
        count, outside, n_small, n_near = mode_components(
            edges.u, edges.v, n, sel, length_m=f_len, min_piece_km=min_km, near=near)
        pieces = max(count - 1, 0)
        km = street_length_km(edges.u, edges.v, f_len, outside)
        dropped = bool(drop_disconnected and n_small)
        components[mode] = count - n_small if drop_disconnected else count
        disconnected[mode] = {"pieces": pieces, "edges": int(outside.sum()), "km": km,
                              "dropped": dropped,
                              "dropped_pieces": n_small if drop_disconnected else 0}
        if test is not None:
            disconnected[mode]["kept_near"] = n_near
        if n_near:
            log.warning("%s: kept %d small piece(s) because people or facilities lie within "
                        "%g m of them", mode, n_near, near_m)
        if n_small:
            log.warning("%s: %s %d small piece(s) disconnected from the main network "
                        "(under %g km of street each: %d directed edges, %.2f km)", mode,
                        "dropped" if dropped else "kept", n_small, min_km,
                        int(outside.sum()), km)
        if pieces > n_small + n_near:
            log.warning("%s: kept %d piece(s) of %g km of street or more apart from the main "
                        "network", mode, pieces - n_small - n_near, min_km)
        if drop_disconnected:
            f_mask = np.where(outside, f_mask & ~bit, f_mask)
    sel = f_mask != 0
    edges, f_len, f_mask, f_drive = _select(edges, sel), f_len[sel], f_mask[sel], f_drive[sel]
    if len(edges.u) == 0:
        msg = f"{source}: no roads usable by {', '.join(modes)} remain"
        raise NetworkError(msg)
    used = unique_sorted(np.concatenate([edges.u, edges.v]))
    chosen = _choose_crs(lon[used], lat[used], crs)
    x, y = _project_xy(lon, lat, chosen)
    edge_xy, edge_xy_ptr = _edge_points(edges, iu, iv, x, y)
    times = {m: f_drive if m == "drive" else f_len * 3.6 / speeds[m] for m in modes}
    position = np.full(n, -1, dtype=np.int64)
    position[used] = np.arange(len(used), dtype=np.int64)
    log.info("built a network of %d nodes and %d edges for %s from %s", len(used),
             len(edges.u), ", ".join(modes), source)
    graph_attrs: dict[str, Any] = {
        "crs": chosen, "modes": tuple(modes), "speeds_kmh": dict(speeds), "source": source,
        "simplified": bool(simplify), "components": components,
        "disconnected": disconnected, "dropped_pieces": lost_pieces}
    return NetworkArrays(
        node_ids=nodes[used], x=x[used], y=y[used], lon=lon[used], lat=lat[used],
        street_count=street_count[used], edge_u=position[edges.u], edge_v=position[edges.v],
        edge_key=_edge_keys(edges), length_m=f_len, mode_mask=f_mask, travel_time_s=times,
        edge_xy=edge_xy, edge_xy_ptr=edge_xy_ptr, graph_attrs=graph_attrs,
        osm_attrs=_OsmAttrs(data, segs, edges, tuple(keep_tags)))


def build_graph(data: HighwayData, **options: Any) -> nx.MultiDiGraph:
    """Build the graph from highway ways: :func:`build_arrays`, then the networkx graph.

    Parameters
    ----------
    data
        The highway ways and node locations.
    **options
        Keyword options of :func:`build_arrays`.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph of ``docs/architecture.md``.
    """
    return build_arrays(data, **options).graph()


def _check_min_piece_km(value: float | None) -> float:
    """Return the smallest piece kept in km (default :data:`MIN_PIECE_KM`), checked."""
    if value is None:
        return MIN_PIECE_KM
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        msg = f"min_piece_km must be a number of km >= 0, got {value!r}"
        raise NetworkError(msg)
    return float(value)


def _edge_keys(edges: _Edges) -> NDArray[np.int64]:
    """Keys 0, 1, ... per (u, v) in edge order, as networkx would give them (but vectorised)."""
    m = len(edges.u)
    order = np.lexsort((np.arange(m), edges.v, edges.u))
    u, v = edges.u[order], edges.v[order]
    new = np.ones(m, dtype=bool)
    new[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    group_start = np.maximum.accumulate(np.where(new, np.arange(m), 0))
    keys = np.empty(m, dtype=np.int64)
    keys[order] = np.arange(m) - group_start
    return keys


def _choose_crs(lon: NDArray[np.float64], lat: NDArray[np.float64], crs: str | None) -> str:
    if crs is not None and crs not in {"utm", "cgcs2000_gk3"}:
        try:
            parsed = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            msg = f"unknown CRS {crs!r}: use utm, cgcs2000_gk3 or EPSG:<code>"
            raise NetworkError(msg) from None
        if parsed.is_geographic:
            msg = f"the network CRS must be projected (metres), got {crs}"
            raise NetworkError(msg)
        return str(crs)

    return local_metric_crs(lon, lat, kind="cgcs2000_gk3" if crs == "cgcs2000_gk3" else "utm")


def _project_xy(lon: NDArray[np.float64], lat: NDArray[np.float64],
                crs: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:

    tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _edge_points(edges: _Edges, iu: NDArray[np.int64], iv: NDArray[np.int64],
                 x: NDArray[np.float64], y: NDArray[np.float64],
                 ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return the points of each edge's line u -> v (flat, through merged nodes), starts."""
    n_edges = len(edges.u)
    counts = np.diff(edges.ptr)
    owner = np.repeat(np.arange(n_edges), counts)
    seq = np.empty(len(edges.seg) + n_edges, dtype=np.int64)
    seq[np.arange(len(edges.seg)) + owner] = iu[edges.seg]
    seq[edges.ptr[1:] + np.arange(n_edges)] = iv[edges.seg[edges.ptr[1:] - 1]]
    ptr = np.concatenate([[0], np.cumsum(counts + 1)]).astype(np.int64)
    return np.column_stack([x[seq], y[seq]]), ptr


def way_tags_kept() -> tuple[str, ...]:
    """Return the way tags kept on edges: osmnx's default ``useful_tags_way`` (a fixed copy).

    Fixed rather than read from ``osmnx.settings`` so reading an OSM file never imports osmnx
    and a file and an online download keep the same tags whatever osmnx's settings say.
    """
    return WAY_TAGS_KEPT


# --------------------------------------------------------------------------- offline files
def graph_from_osm_file(
    path: str | os.PathLike[str],
    *,
    modes: Iterable[str] | str | None = None,
    boundary: Boundary | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    dem: str | os.PathLike[str] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Build the multi-mode road network from an ``.osm``, ``.osm.bz2/.gz`` or ``.osm.pbf`` file.

    Parameters
    ----------
    path
        The OSM file (a Geofabrik extract, a JOSM export...), read with pyosmium.
    modes
        Travel modes to compute (names, or one comma-separated string); default
        ``settings.modes``.
    boundary
        Study area in WGS-84 (polygon or boundary file): the graph is clipped to it, osmnx-style
        (built in a 500 m buffer, simplified, then cut to the polygon).
    simplify
        Merge interstitial nodes as osmnx does, never across a change of the allowed modes.
    retain_all
        Keep every connected piece; by default the largest and every piece with at least
        ``min_piece_km`` of street are kept, smaller slivers dropped (logged and counted in
        ``G.graph["dropped_pieces"]``).
    drop_disconnected
        Per mode, remove the mode's travel time from edges outside the mode's strongly
        connected components that are kept (the largest, and those with ``min_piece_km`` of
        street or more; logged and reported in :func:`network_summary`).
    crs
        Projected CRS of the result; default a local UTM zone (``"cgcs2000_gk3"`` for the
        CGCS2000 Gauss-Kruger zone).
    speeds_kmh
        Speeds per mode overriding the settings (drive speeds come from the data).
    dem
        A DEM raster: walking modes get slope-aware times (see :func:`add_slope_walk_times`).
    exclude_trunk
        Leave every trunk road out of the walking modes (by default trunk roads are walkable
        unless their tags say otherwise, see the module notes).
    min_piece_km
        Smallest disconnected piece kept, in km of street; default :data:`MIN_PIECE_KM`
        (``math.inf`` keeps only the largest piece, as before).
    keep_near
        Points (or other geometries) whose pieces must stay: a ``(lon, lat)`` pair of WGS-84
        arrays, or a GeoSeries / GeoDataFrame (any CRS). A piece under ``min_piece_km`` is
        kept when one of them lies within ``keep_near_m`` of one of its edges, so the
        communities and facilities on a small isolated street are snapped and routed there
        instead of reported "not snapped"; the count is logged and stored in
        ``G.graph["dropped_pieces"]["kept_near"]`` (and per mode in ``disconnected``).
    keep_near_m
        Distance for ``keep_near`` in metres; default ``settings.max_snap_m`` (the snapping
        distance).

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph of ``docs/architecture.md``.

    Raises
    ------
    NetworkError
        If the file is not an OSM file, has no usable roads (in the study area), or the study
        area lies outside the file's extent.
    """
    arrays = network_arrays_from_osm_file(
        path, modes=modes, boundary=boundary, simplify=simplify, retain_all=retain_all,
        drop_disconnected=drop_disconnected, crs=crs, speeds_kmh=speeds_kmh,
        exclude_trunk=exclude_trunk, min_piece_km=min_piece_km, keep_near=keep_near,
        keep_near_m=keep_near_m)
    G = arrays.graph()
    if dem is not None:
        from deyang_geo.network.slope import (  # noqa: PLC0415 - networkx, only with a DEM
            add_slope_walk_times,
        )

        walk_modes = tuple(m for m in arrays.modes if MODE_KIND[m] == "walk")
        if walk_modes:
            G = add_slope_walk_times(G, dem, modes=walk_modes)
    return G


def network_arrays_from_osm_file(
    path: str | os.PathLike[str],
    *,
    modes: Iterable[str] | str | None = None,
    boundary: Boundary | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> NetworkArrays:
    """Build the network of :func:`graph_from_osm_file` as arrays, without a networkx graph.

    The options are those of :func:`graph_from_osm_file` (no DEM: slope-aware times are
    computed on the graph). ``network_arrays_from_osm_file(path, ...).graph()`` is
    ``graph_from_osm_file(path, ...)``; ``RoutingNetwork.from_network_arrays`` reads the
    arrays straight into the routing form.

    Returns
    -------
    NetworkArrays
        Nodes, edges, lengths, travel times, geometries and the graph attributes.

    Raises
    ------
    NetworkError
        As :func:`graph_from_osm_file`.
    """
    mode_t = check_modes(modes)
    speeds = mode_speeds(mode_t, speeds_kmh)
    file = Path(path)
    poly = None
    bbox = None
    if boundary is not None:
        from deyang_geo.network.boundary import (  # noqa: PLC0415 - geopandas, with a boundary
            BOUNDARY_BUFFER_M,
            buffer_wgs84,
            read_boundary,
        )

        poly = read_boundary(boundary)
        buffered = buffer_wgs84(poly, BOUNDARY_BUFFER_M)
        bbox = buffered.bounds
    keep = way_tags_kept()
    if poly is not None and file.is_file():
        _check_extent(file, file_bounds(file), poly)  # before reading a whole province
    data = read_highways(file, keep_tags=keep, bbox=bbox)
    if poly is not None:
        _check_extent(file, data.bounds or _node_bounds(data), poly)
    return build_arrays(data, modes=mode_t, speeds=speeds, boundary=poly, simplify=simplify,
                        retain_all=retain_all, drop_disconnected=drop_disconnected, crs=crs,
                        source=str(file), keep_tags=keep, exclude_trunk=exclude_trunk,
                        min_piece_km=min_piece_km, keep_near=keep_near,
                        keep_near_m=keep_near_m)


def _node_bounds(data: HighwayData) -> tuple[float, float, float, float] | None:
    if not len(data.node_ids):
        return None
    return (float(data.node_lon.min()), float(data.node_lat.min()), float(data.node_lon.max()),
            float(data.node_lat.max()))


def _check_extent(file: Path, bounds: tuple[float, float, float, float] | None,
                  poly: BaseGeometry) -> None:
    if bounds is None:
        return
    import shapely  # noqa: PLC0415 - only with a boundary

    extent = shapely.box(*bounds)
    if not extent.intersects(poly):
        w, s, e, n = bounds
        pw, ps, pe, pn = poly.bounds
        msg = (f"the study area ({pw:.4f}, {ps:.4f}, {pe:.4f}, {pn:.4f}) lies outside the "
               f"file's extent ({w:.4f}, {s:.4f}, {e:.4f}, {n:.4f}): use an extract that "
               "covers it")
        raise NetworkError(Problem(msg, file=str(file)))


def street_length_km(iu: NDArray[np.int64], iv: NDArray[np.int64], length: NDArray[np.float64],
               sel: NDArray[np.bool_]) -> float:
    """Km of street among the selected directed edges, a street usable both ways counted once.

    An edge ``a -> b`` is a twin when a selected edge ``b -> a`` has the same length to the
    centimetre; twins count half each.
    """
    a, b = iu[sel], iv[sel]
    lengths = length[sel]
    cm = np.round(lengths * 100)
    # (tail, head, cm) and its reverse as small integers, then membership of one in the other
    _, pair_id = np.unique(np.concatenate([a, b]) * (int(max(a.max(initial=0),
                                                              b.max(initial=0))) + 1)
                           + np.concatenate([b, a]), return_inverse=True)
    _, cm_id = np.unique(cm, return_inverse=True)
    n_cm = int(cm_id.max(initial=-1)) + 1
    m = len(a)
    key = pair_id[:m].astype(np.int64) * n_cm + cm_id
    rev_key = pair_id[m:].astype(np.int64) * n_cm + cm_id
    is_twin = np.isin(rev_key, key)
    total = lengths[~is_twin].sum() + lengths[is_twin].sum() / 2.0
    return round(float(total) / 1000.0, 3)
