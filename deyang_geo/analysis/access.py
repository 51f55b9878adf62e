"""Minutes to the nearest facility of each category, and reach sets (sources x demand, sparse)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse
import shapely
from numpy.typing import NDArray

from deyang_geo.analysis import kernels as _kernels
from deyang_geo.analysis.routing import RoutingNetwork, SearchArrays
from deyang_geo.analysis.snapping import (
    EndCosts,
    Snapped,
    connector_speed_kmh,
    edge_weights_both_ways,
    end_costs,
    nearest_street_m,
    snap_points,
)
from deyang_geo.core import settings
from deyang_geo.core.errors import InputError, InputWarning, Problem

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import scipy.sparse

__all__ = [
    "DIRECTIONS",
    "Direction",
    "ReachSet",
    "minutes_to_nearest",
    "nearest_minutes",
    "node_minutes",
    "node_minutes_many",
    "reach_set",
]

#: Sources per call of the compiled reach kernel (bounds the size of one output buffer).
_REACH_CHUNK = 2048

#: Direction of travel: ``"to_facility"`` (from each home / demand point to the facility, the
#: default) or ``"from_facility"`` (from the facility out to the homes). They differ only where
#: travel is not symmetric: slope-aware walking on a DEM, one-way streets for bike and drive.
Direction = Literal["to_facility", "from_facility"]
DIRECTIONS: tuple[str, ...] = ("to_facility", "from_facility")

#: Warn when more than this share of the population (of demand units without a population
#: column) cannot reach any facility of a category at all.
UNREACHABLE_WARN_SHARE = 0.02


@dataclass(frozen=True, eq=False)
class ReachSet:
    """Demand reached from each source within a time limit, as CSR arrays (never dense).

    Row ``s`` (a source) holds the demand indices ``indices[indptr[s]:indptr[s+1]]``
    (ascending) and their ``minutes``. An entry exists exactly when the demand point is
    reached within ``max_minutes``; a source standing on its demand point gives an entry of
    0.0 minutes, which is a stored entry like any other.

    Attributes
    ----------
    indptr
        Row pointers, length ``n_sources + 1``.
    indices
        Demand indices.
    minutes
        Travel minutes of each entry.
    n_sources, n_demand
        Shape.
    max_minutes
        The time limit the set was built with.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    minutes: NDArray[np.float64]
    n_sources: int
    n_demand: int
    max_minutes: float = np.inf

    @property
    def nnz(self) -> int:
        """Number of (source, demand) pairs within reach."""
        return int(self.indices.shape[0])

    def to_csr(self) -> scipy.sparse.csr_array:
        """Return a ``scipy.sparse.csr_array`` of minutes, shape ``(n_sources, n_demand)``.

        Entries of 0.0 minutes are kept as explicit stored values (the array is built from the
        CSR arrays directly, without ``eliminate_zeros``). Test membership with the sparsity
        structure (``.indices``/``.indptr``, ``.nnz``, or ``(m != 0)`` on
        :meth:`to_membership`), never with ``m.data != 0`` or ``m > 0``, and avoid operations
        that drop explicit zeros (``eliminate_zeros``, ``sum_duplicates`` after arithmetic).
        """
        return scipy.sparse.csr_array(
            (self.minutes, self.indices, self.indptr), shape=(self.n_sources, self.n_demand)
        )

    def to_membership(self) -> scipy.sparse.csr_array:
        """Return a boolean ``csr_array``: True where the demand point is within reach."""
        return scipy.sparse.csr_array(
            (np.ones(self.nnz, dtype=bool), self.indices, self.indptr),
            shape=(self.n_sources, self.n_demand),
        )


# ---------------------------------------------------------------------- array-level API
def _bound_s(max_minutes: float | None) -> float:
    if max_minutes is None:
        return float(np.inf)
    if not max_minutes >= 0:
        msg = f"max_minutes must be >= 0, got {max_minutes}"
        raise InputError(msg)
    return float(max_minutes) * 60.0


def source_init(
    costs: EndCosts,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    n = costs.u.shape[0]
    nodes = np.concatenate([costs.u, costs.v])
    dist = np.concatenate([costs.to_u_s, costs.to_v_s])
    label = np.concatenate([np.arange(n), np.arange(n)]).astype(np.int64)
    keep = (nodes >= 0) & np.isfinite(dist)
    # by source then end, so equal distances resolve to the lower source index
    order = np.lexsort((nodes[keep], label[keep]))
    return nodes[keep][order], dist[keep][order], label[keep][order]


@dataclass(frozen=True, eq=False)
class _Routing:
    """One mode at one speed, in one direction: the arrays a search needs."""

    net: RoutingNetwork
    weights_s: NDArray[np.float64]
    csr_indptr: NDArray[np.int64]
    csr_indices: NDArray[np.int64]
    csr_weights_s: NDArray[np.float64]
    w_fwd: NDArray[np.float64]  # along each edge, in the direction the search runs
    w_bwd: NDArray[np.float64]
    connector_kmh: float
    reverse: bool
    mode: str

    @property
    def search(self) -> SearchArrays:
        """The renumbered adjacency the bucket search runs on (cached on the network)."""
        return self.net.search_arrays(self.mode, reverse=self.reverse)


def check_direction(direction: str) -> bool:
    """Return True for ``"to_facility"`` (search the transposed graph), False for the other.

    Raises
    ------
    InputError
        For any other value.
    """
    if direction not in DIRECTIONS:
        msg = (f"direction must be one of {', '.join(map(repr, DIRECTIONS))}, "
               f"got {direction!r}")
        raise InputError(msg)
    return direction == "to_facility"


def routing_arrays(net: RoutingNetwork, mode: str, walk_speed_kmh: float | None,
             direction: str) -> _Routing:
    reverse = check_direction(direction)
    net.check_mode(mode)
    speed = connector_speed_kmh(net, mode, walk_speed_kmh)
    if walk_speed_kmh is not None and mode == "walk":
        net = net.with_speed(mode, walk_speed_kmh)
    w = net.weights_s[mode]
    csr = net.csr(mode, reverse=reverse)
    w_fwd, w_bwd = edge_weights_both_ways(net, w)
    if reverse:  # walking towards the facility: a point's edge is walked the other way
        w_fwd, w_bwd = w_bwd, w_fwd
    return _Routing(net, w, csr.indptr, csr.indices, csr.weights_s, w_fwd, w_bwd, speed,
                    reverse, mode=mode)


_T = TypeVar("_T")
_R = TypeVar("_R")


def resolve_threads(threads: int | None) -> int:
    """Return the number of threads to search with: ``threads``, or every usable core.

    Raises
    ------
    InputError
        When ``threads`` is not a positive whole number.
    """
    if threads is None:
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return max(1, os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        msg = f"threads must be a positive whole number, got {threads!r}"
        raise InputError(msg)
    return int(threads)


def _in_threads(fn: Callable[[_T], _R], items: Sequence[_T], threads: int) -> list[_R]:
    """Return ``[fn(x) for x in items]``, run on up to ``threads`` threads (results in order).

    The searches release the GIL, so independent searches use the cores side by side; each
    result only depends on its own item, so the thread count never changes a result.
    """
    if threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


#: Extra float64s in a search's work buffer: pushes it past numpy's 4 MiB huge-page threshold
#: and gives room to align a 2 MiB page inside.
_PAD = 2**19


def _search_nodes(  # noqa: PLR0917
    r: _Routing, init_nodes: NDArray[np.int64], init_dist: NDArray[np.float64],
    init_label: NDArray[np.int64], bound_s: float,
    out: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None, per_unit: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Run the bucket search on the renumbered adjacency; results in the network's numbers.

    The distances are written into ``out`` when given (divided by ``per_unit``, ``nan`` for
    unreached nodes when it is not 1), else into new arrays.
    """
    sa = r.search
    n = sa.rank.shape[0]
    dist_out, label_out = (np.empty(n), np.empty(n, dtype=np.int64)) if out is None else out
    nodes = sa.rank[init_nodes]
    capacity = sa.indices.shape[0] + init_nodes.shape[0] + 1
    # one numpy buffer for both (numpy puts large buffers on huge pages: fewer TLB misses)
    work = np.empty(2 * n + _PAD, dtype=np.float64)
    dist = work[_PAD:_PAD + n]
    label = work[_PAD + n:].view(np.int64)
    while capacity < 2**31:
        ok = _kernels.bucket_search(
            sa.indptr, sa.indices, sa.weights_s, nodes, init_dist, init_label, bound_s,
            sa.bucket_s, sa.n_buckets, capacity, dist, label,
        )
        if ok:
            _kernels.unpermute(dist, label, sa.rank, dist_out, label_out, per_unit)
            return dist_out, label_out
        capacity *= 2
    # more queued entries than int32 can count (never seen): the heap search needs no pool
    dist, label = _kernels.multi_source_dijkstra(
        r.csr_indptr, r.csr_indices, r.csr_weights_s, init_nodes, init_dist, init_label,
        bound_s)
    _kernels.unpermute(dist, label, np.arange(n, dtype=np.int64), dist_out, label_out,
                       per_unit)
    return dist_out, label_out


def _node_seconds(
    r: _Routing, sources: Snapped, bound_s: float,
    out: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None, per_unit: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    init_nodes, init_dist, init_label = source_init(
        end_costs(r.net, sources, r.weights_s, walk_speed_kmh=r.connector_kmh,
                  as_target=r.reverse)
    )
    return _search_nodes(r, init_nodes, init_dist, init_label, bound_s, out, per_unit)


def node_minutes(
    net: RoutingNetwork,
    sources: Snapped,
    *,
    mode: str,
    max_minutes: float | None = None,
    walk_speed_kmh: float | None = None,
    direction: Direction = "to_facility",
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return the minutes between every node and its nearest source, and which source it is.

    One multi-source shortest-path search (compiled) over the mode's edges; each source
    enters at both ends of its edge with its connector and partial-edge cost (see
    :func:`deyang_geo.analysis.snapping.end_costs`). The minutes are those of a Dijkstra to the last
    bit; a node equally near two sources takes the lower source index.

    Parameters
    ----------
    net
        The network.
    sources
        Snapped sources (unsnapped ones are ignored).
    mode
        Travel mode.
    max_minutes
        Stop the search beyond this many minutes (default: no limit).
    walk_speed_kmh
        Speed of the ``walk`` mode (re-weights its streets, as ``net.with_speed("walk", ...)``)
        and of the connectors of bike and drive modes; default the network's speeds. It never
        changes another walking mode: use ``net.with_speed("walk_elderly", ...)`` for that.
        Connectors of a walking mode are walked at that mode's speed.
    direction
        ``"to_facility"`` (default): minutes from each node to its nearest source (the sources
        are the facilities); ``"from_facility"``: from the nearest source to each node.

    Returns
    -------
    tuple of numpy.ndarray
        ``minutes`` per node (``nan`` when unreachable or beyond ``max_minutes``) and the
        index of the nearest source per node (``-1`` then).
    """
    r = routing_arrays(net, mode, walk_speed_kmh, direction)
    return _node_seconds(r, sources, _bound_s(max_minutes), per_unit=60.0)


def node_minutes_many(
    net: RoutingNetwork,
    source_sets: Sequence[Snapped],
    *,
    mode: str,
    max_minutes: float | None = None,
    walk_speed_kmh: float | None = None,
    direction: Direction = "to_facility",
    threads: int | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return :func:`node_minutes` for several sets of sources (one per category), in parallel.

    The sets are independent searches run side by side on ``threads`` threads; row ``j`` of
    each result equals ``node_minutes(net, source_sets[j], ...)`` whatever the thread count.

    Parameters
    ----------
    net
        The network.
    source_sets
        Snapped sources, one set per row of the result.
    mode, max_minutes, walk_speed_kmh, direction
        As in :func:`node_minutes`.
    threads
        Searches at once; default every core this process may use.

    Returns
    -------
    tuple of numpy.ndarray
        ``minutes`` and nearest source index, each of shape ``(len(source_sets), n_nodes)``
        (``nan`` and ``-1`` where nothing is reached).
    """
    n_threads = resolve_threads(threads)
    r = routing_arrays(net, mode, walk_speed_kmh, direction)
    bound = _bound_s(max_minutes)
    minutes = np.empty((len(source_sets), r.net.n_nodes), dtype=np.float64)
    label = np.empty((len(source_sets), r.net.n_nodes), dtype=np.int64)

    def one(j: int) -> None:
        _node_seconds(r, source_sets[j], bound, (minutes[j], label[j]), 60.0)

    _in_threads(one, list(range(len(source_sets))), n_threads)
    return minutes, label


def nearest_minutes(
    net: RoutingNetwork,
    sources: Snapped,
    targets: Snapped,
    *,
    mode: str,
    max_minutes: float | None = None,
    walk_speed_kmh: float | None = None,
    direction: Direction = "to_facility",
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return per target the minutes to the nearest source and that source's index.

    A target is reached through either end of its edge (connector and partial edge added) or
    directly along the edge from a source on the same edge.

    Parameters
    ----------
    net
        The network.
    sources, targets
        Snapped points (unsnapped sources are ignored; unsnapped targets get ``nan``).
    mode
        Travel mode.
    max_minutes
        Targets farther than this get ``nan`` (default: no limit).
    walk_speed_kmh
        Walking speed, as in :func:`node_minutes`.
    direction
        ``"to_facility"`` (default): from each target to its nearest source (a walk from home
        to the facility); ``"from_facility"``: from the sources to the targets.

    Returns
    -------
    tuple of numpy.ndarray
        ``minutes`` per target (``nan`` unreachable) and source index (``-1`` unreachable).
    """
    bound = _bound_s(max_minutes)
    r = routing_arrays(net, mode, walk_speed_kmh, direction)
    tc = end_costs(r.net, targets, r.weights_s, walk_speed_kmh=r.connector_kmh,
                   as_target=not r.reverse)
    return _nearest(r, sources, targets, tc, bound)


def _nearest(
    r: _Routing, sources: Snapped, targets: Snapped, tc: EndCosts, bound: float,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Body of :func:`nearest_minutes` once the target end costs ``tc`` are known."""
    net = r.net
    dist, label = _node_seconds(r, sources, bound)
    speed = r.connector_kmh
    best, best_src = _targets_from_nodes(dist, label, tc)
    w_fwd, w_bwd = r.w_fwd, r.w_bwd
    src_ok = np.flatnonzero(sources.snapped)
    if src_ok.size and targets.snapped.any():
        src_edges = sources.edge[src_ok]
        order = src_ok[np.argsort(src_edges, kind="stable")]
        counts = np.bincount(src_edges, minlength=net.n_edges)
        ptr = np.zeros(net.n_edges + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        _kernels.same_edge_best(
            ptr, order.astype(np.int64), np.nan_to_num(sources.fraction),
            np.nan_to_num(sources.distance_m) / (speed / 3.6),
            targets.edge, np.nan_to_num(targets.fraction), np.nan_to_num(tc.connector_s),
            w_fwd, w_bwd, best, best_src,
        )
    out = best / 60.0
    gone = ~np.isfinite(best) | (best > bound)
    out[gone] = np.nan
    best_src[gone] = -1
    return out, best_src


def _targets_from_nodes(
    dist: NDArray[np.float64], label: NDArray[np.int64], tc: EndCosts
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    ok = tc.u >= 0
    u = np.where(ok, tc.u, 0)
    v = np.where(ok, tc.v, 0)
    via_u = np.where(ok, dist[u] + tc.to_u_s, np.inf)
    via_v = np.where(ok, dist[v] + tc.to_v_s, np.inf)
    use_v = (via_v < via_u) | ((via_v == via_u) & (label[v] < label[u]) & (label[v] >= 0))
    best = np.where(use_v, via_v, via_u)
    src = np.where(use_v, label[v], label[u])
    src[~np.isfinite(best)] = -1
    return best, src.astype(np.int64)


def reach_set(
    net: RoutingNetwork,
    sources: Snapped,
    targets: Snapped,
    *,
    mode: str,
    max_minutes: float,
    walk_speed_kmh: float | None = None,
    direction: Direction = "to_facility",
) -> ReachSet:
    """Return, for every source, the targets reached within ``max_minutes``.

    One bounded Dijkstra per source in compiled code; between sources only the touched nodes
    are reset, and rows are written chunk by chunk straight into CSR arrays, so memory grows
    with the number of reached pairs, never with sources x nodes.

    Parameters
    ----------
    net
        The network.
    sources
        Snapped sources (e.g. candidate sites); unsnapped ones get empty rows.
    targets
        Snapped demand points; unsnapped ones are never reached.
    mode
        Travel mode.
    max_minutes
        Time limit in minutes (inclusive).
    walk_speed_kmh
        Walking speed, as in :func:`node_minutes`.
    direction
        ``"to_facility"`` (default): a target is in a source's row when it reaches the source
        within the limit (home to facility); ``"from_facility"``: when the source reaches it.

    Returns
    -------
    ReachSet
        Shape ``(len(sources), len(targets))``.
    """
    bound = _bound_s(max_minutes)
    if not np.isfinite(bound):
        msg = "reach_set needs a finite max_minutes (a reach set without limit is dense)"
        raise InputError(msg)
    r = routing_arrays(net, mode, walk_speed_kmh, direction)
    net = r.net
    csr = r
    speed = r.connector_kmh
    sc = end_costs(net, sources, r.weights_s, walk_speed_kmh=speed, as_target=r.reverse)
    tc = end_costs(net, targets, r.weights_s, walk_speed_kmh=speed, as_target=not r.reverse)
    n_src, n_tgt = len(sources), len(targets)
    w_fwd, w_bwd = r.w_fwd, r.w_bwd

    # node -> (target, cost) map
    t_idx = np.arange(n_tgt, dtype=np.int64)
    nodes = np.concatenate([tc.u, tc.v])
    tcost = np.concatenate([tc.to_u_s, tc.to_v_s])
    tt = np.concatenate([t_idx, t_idx])
    keep = (nodes >= 0) & np.isfinite(tcost) & (tcost <= bound)
    nodes, tcost, tt = nodes[keep], tcost[keep], tt[keep]
    order = np.lexsort((tt, nodes))
    node_target, node_tcost = tt[order], tcost[order]
    node_tptr = _ptr(nodes[order], net.n_nodes)
    # edge -> targets on it (for sources on the same edge)
    t_ok = np.flatnonzero(targets.snapped)
    t_edges = targets.edge[t_ok]
    eorder = np.argsort(t_edges, kind="stable")
    edge_target = t_ok[eorder].astype(np.int64)
    edge_tptr = _ptr(t_edges[eorder], net.n_edges)
    edge_tfrac = targets.fraction[edge_target]
    edge_tconn = tc.connector_s[edge_target]

    src_nodes = np.stack([sc.u, sc.v], axis=1)
    src_cost = np.stack([sc.to_u_s, sc.to_v_s], axis=1)
    src_edge = np.where(sources.snapped, sources.edge, -1)
    src_frac = np.nan_to_num(sources.fraction)
    src_conn = np.nan_to_num(sc.connector_s)

    counts_parts: list[NDArray[np.int64]] = []
    idx_parts: list[NDArray[np.int64]] = []
    sec_parts: list[NDArray[np.float64]] = []
    for start in range(0, n_src, _REACH_CHUNK):
        sl = slice(start, min(start + _REACH_CHUNK, n_src))
        counts, found, secs = _kernels.reach_chunk(
            csr.csr_indptr, csr.csr_indices, csr.csr_weights_s,
            np.ascontiguousarray(src_nodes[sl]), np.ascontiguousarray(src_cost[sl]),
            src_edge[sl], src_frac[sl], src_conn[sl],
            node_tptr, node_target, node_tcost,
            edge_tptr, edge_target, edge_tfrac, edge_tconn,
            w_fwd, w_bwd, n_tgt, bound,
        )
        counts_parts.append(counts)
        idx_parts.append(found)
        sec_parts.append(secs / 60.0)
    indptr = np.zeros(n_src + 1, dtype=np.int64)
    if counts_parts:
        np.cumsum(np.concatenate(counts_parts), out=indptr[1:])
    indices = np.concatenate(idx_parts) if idx_parts else np.zeros(0, dtype=np.int64)
    minutes = np.concatenate(sec_parts) if sec_parts else np.zeros(0, dtype=np.float64)
    return ReachSet(indptr, indices, minutes, n_src, n_tgt, float(max_minutes))


def _ptr(sorted_keys: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_keys, minlength=n), out=ptr[1:])
    return ptr


# ---------------------------------------------------------------------- table-level API
def points_in_crs(
    gdf: gpd.GeoDataFrame, crs: str, *, what: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[Problem]]:
    """Return the x, y of point geometries in ``crs`` and the problems found (row-located).

    Missing or empty geometries and non-point geometries are problems; their coordinates are
    ``nan``.
    """
    problems: list[Problem] = []
    if gdf.crs is None:
        problems.append(Problem(f"the {what} have no coordinate reference system"))
        nan = np.full(len(gdf), np.nan)
        return nan, nan.copy(), problems
    geoms = gdf.geometry.to_crs(crs).to_numpy()
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms) | (types < 0)
    not_point = ~empty & (types != 0)
    for kind, mask in (("missing or empty geometry", empty), ("geometry is not a point",
                                                              not_point)):
        problems.extend(Problem(f"{what}: {kind}", row=int(row) + 1, column="geometry")
                        for row in np.flatnonzero(mask)[:20])
        if mask.sum() > 20:
            problems.append(Problem(f"{what}: {int(mask.sum()) - 20} more rows with {kind}"))
    ok = ~empty & ~not_point
    x = np.full(len(gdf), np.nan)
    y = np.full(len(gdf), np.nan)
    x[ok] = shapely.get_x(geoms[ok])
    y[ok] = shapely.get_y(geoms[ok])
    return x, y, problems


def warn_unsnapped(ids: Any, snapped: NDArray[np.bool_], what: str, mode: str,
                    limit: float) -> list[Any]:
    lost = list(np.asarray(ids, dtype=object)[~snapped])
    if lost:
        shown = ", ".join(str(i) for i in lost[:10]) + (" ..." if len(lost) > 10 else "")
        msg = (f"{len(lost)} {what} farther than {limit:g} m from the {mode} network were not "
               f"snapped (minutes left empty): {shown}")
        warnings.warn(msg, InputWarning, stacklevel=3)
    return lost


def minutes_to_nearest(
    net: RoutingNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    mode: str = "walk",
    categories: Iterable[str] | None = None,
    max_minutes: float | None = None,
    walk_speed_kmh: float | None = None,
    max_snap_m: float | None = None,
    direction: Direction = "to_facility",
    threads: int | None = None,
) -> pd.DataFrame:
    """Return the minutes from every demand unit to the nearest facility of each category.

    One multi-source shortest-path run per category, categories in parallel on ``threads``
    threads (the result does not depend on the thread count). Demand and facilities are
    snapped to the mode's edges once; points farther than ``max_snap_m`` are reported with an
    :class:`~deyang_geo.core.errors.InputWarning` and in ``result.attrs["unsnapped_demand"]`` /
    ``result.attrs["unsnapped_facilities"]`` (their ids); unsnapped demand gets ``nan``.

    Every row without minutes says why in ``unreachable_reason``: not snapped (and how far
    the nearest street is), snapped into a piece of the network that holds no facility of the
    category (the piece's id, street km and the population of this table in it), no facility
    within ``max_minutes``, no route (one-way streets), or no facility of the category at
    all. When more than ``UNREACHABLE_WARN_SHARE`` of the population (``population`` column,
    else of the units) is snapped to the network yet cannot reach any facility of a category
    that has facilities, an :class:`~deyang_geo.core.errors.InputWarning` gives the counts
    (unsnapped units have their own warning).

    Parameters
    ----------
    net
        The network.
    demand
        Demand units: point geometries (any CRS) and an id column, ``unit_id`` if present,
        else ``id``.
    facilities
        Facilities: point geometries (any CRS), ``id`` and ``category``.
    mode
        Travel mode.
    categories
        Categories to report, in this order (a category without facilities gives ``nan``);
        default the facilities' categories, sorted.
    max_minutes
        Stop searching beyond this many minutes; farther demand gets ``nan``.
    walk_speed_kmh
        Speed of the ``walk`` mode and of connectors of bike and drive modes, as in
        :func:`node_minutes`; default the network's speeds.
    max_snap_m
        Largest connector in metres; default ``settings.max_snap_m``.
    direction
        ``"to_facility"`` (default): minutes walked (ridden...) from the demand unit to the
        facility; ``"from_facility"``: from the facility to the unit.
    threads
        Categories searched at once; default every core this process may use.

    Returns
    -------
    pandas.DataFrame
        Columns ``demand_id, category, minutes, facility_id, unreachable_reason``: one row
        per demand unit and category, demand units in input order, categories in order within
        each unit. ``minutes`` is ``nan`` and ``facility_id`` missing when nothing is
        reachable; ``unreachable_reason`` is then a short English sentence, else ``""``.

    Raises
    ------
    InputError
        Missing columns, missing CRS, missing or non-point geometries (all listed at once).
    """
    net.check_mode(mode)
    problems: list[Problem] = []
    id_col = "unit_id" if "unit_id" in demand.columns else "id"
    if id_col not in demand.columns:
        problems.append(Problem("demand needs an 'id' (or 'unit_id') column", column="id"))
    problems.extend(Problem("facilities need this column", column=col)
                    for col in ("id", "category") if col not in facilities.columns)
    dx, dy, p = points_in_crs(demand, net.crs, what="demand")
    problems.extend(p)
    fx, fy, p = points_in_crs(facilities, net.crs, what="facilities")
    problems.extend(p)
    if problems:
        raise InputError(problems)

    limit = settings.max_snap_m if max_snap_m is None else max_snap_m
    dsnap = snap_points(net, dx, dy, mode=mode, max_snap_m=limit)
    fsnap = snap_points(net, fx, fy, mode=mode, max_snap_m=limit)
    demand_ids = demand[id_col].to_numpy()
    fac_ids = facilities["id"].to_numpy(dtype=object)
    fac_cat = facilities["category"].astype(str).to_numpy()
    lost_demand = warn_unsnapped(demand_ids, dsnap.snapped, "demand units", mode, limit)
    lost_fac = warn_unsnapped(fac_ids, fsnap.snapped, "facilities", mode, limit)
    cats = sorted(set(fac_cat.tolist())) if categories is None else list(categories)

    check_direction(direction)
    n_threads = resolve_threads(threads)

    bound = _bound_s(max_minutes)
    n = len(demand)
    minutes = np.full((n, len(cats)), np.nan)
    fac_of = np.full((n, len(cats)), None, dtype=object)
    picks = [np.flatnonzero((fac_cat == cat) & fsnap.snapped) for cat in cats]
    todo = [j for j, pick in enumerate(picks) if pick.size]
    results: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = []
    if todo:
        r = routing_arrays(net, mode, walk_speed_kmh, direction)
        tc = end_costs(r.net, dsnap, r.weights_s, walk_speed_kmh=r.connector_kmh,
                       as_target=not r.reverse)
        # the limit in seconds as nearest_minutes(max_minutes=...) rounds it
        bound_cat = _bound_s(bound / 60.0) if np.isfinite(bound) else bound
        results = _in_threads(
            lambda j: _nearest(r, fsnap.take(picks[j]), dsnap, tc, bound_cat), todo,
            n_threads)
    for j, (mins, src) in zip(todo, results, strict=True):
        pick = picks[j]
        minutes[:, j] = mins
        found = src >= 0
        fac_of[found, j] = fac_ids[pick[src[found]]]
    population = (demand["population"].to_numpy(dtype=np.float64)
                  if "population" in demand.columns else np.ones(n))
    reasons = _unreachable_reasons(
        net, mode, minutes, cats, dx=dx, dy=dy, dsnap=dsnap, fsnap=fsnap, fac_cat=fac_cat,
        population=population, limit_m=limit,
        max_minutes=None if not np.isfinite(bound) else bound / 60.0,
        weighted="population" in demand.columns,
    )
    result = pd.DataFrame({
        "demand_id": np.repeat(demand_ids, len(cats)),
        "category": np.tile(np.asarray(cats, dtype=object), n),
        "minutes": minutes.ravel(),
        "facility_id": fac_of.ravel(),
        "unreachable_reason": reasons.ravel(),
    })
    result.attrs["unsnapped_demand"] = lost_demand
    result.attrs["unsnapped_facilities"] = lost_fac
    result.attrs["mode"] = mode
    result.attrs["direction"] = direction
    return result


def _unreachable_reasons(
    net: RoutingNetwork, mode: str, minutes: NDArray[np.float64], cats: list[str], *,
    dx: NDArray[np.float64], dy: NDArray[np.float64], dsnap: Snapped, fsnap: Snapped,
    fac_cat: NDArray[Any], population: NDArray[np.float64], limit_m: float,
    max_minutes: float | None, weighted: bool,
) -> NDArray[np.object_]:
    """Why each (demand unit, category) without minutes has none; ``""`` where it has."""
    n = minutes.shape[0]
    out = np.full(minutes.shape, "", dtype=object)
    missing = np.isnan(minutes)
    if not missing.any():
        return out
    pieces = net.pieces(mode)
    d_piece = np.where(dsnap.snapped,
                       pieces.node_piece[net.edge_u[np.maximum(dsnap.edge, 0)]], -1)
    f_piece = np.where(fsnap.snapped,
                       pieces.node_piece[net.edge_u[np.maximum(fsnap.edge, 0)]], -1)
    pop = np.nan_to_num(population)
    piece_pop = np.bincount(d_piece[d_piece >= 0], weights=pop[d_piece >= 0],
                            minlength=pieces.count)
    lost = np.flatnonzero(~dsnap.snapped)
    far = nearest_street_m(net, dx[lost], dy[lost], mode=mode)
    not_snapped = np.empty(n, dtype=object)
    for k, d in zip(lost.tolist(), far.tolist(), strict=True):
        where = (f"{d:.0f} m from the nearest {mode} street" if np.isfinite(d)
                 else "no coordinates or no street")
        not_snapped[k] = f"not snapped: {where} (limit {limit_m:g} m)"
    total = float(pop.sum()) if weighted else float(n)
    for j, cat in enumerate(cats):
        col = out[:, j]
        miss = missing[:, j]
        has_fac = (fac_cat == cat) & fsnap.snapped
        if not has_fac.any():
            col[miss] = f"no {cat} facility on the {mode} network"
            continue
        col[miss & ~dsnap.snapped] = not_snapped[miss & ~dsnap.snapped]
        fac_pieces = np.unique(f_piece[has_fac])
        apart = miss & dsnap.snapped & ~np.isin(d_piece, fac_pieces)
        for p in np.unique(d_piece[apart]).tolist():
            col[apart & (d_piece == p)] = (
                f"no {cat} facility in network piece {p} ({pieces.street_km[p]:.2f} km of "
                f"{mode} street, population {piece_pop[p]:,.0f})")
        rest = miss & dsnap.snapped & ~apart
        col[rest] = (f"no {cat} facility within {max_minutes:g} minutes"
                     if max_minutes is not None else f"no route to a {cat} facility "
                     "(one-way streets)")
        # unsnapped units have their own warning; here: on the network, yet cut off
        cut = apart | (rest if max_minutes is None else np.zeros(n, dtype=bool))
        share = float((pop if weighted else np.ones(n))[cut].sum()) / total if total else 0.0
        if share > UNREACHABLE_WARN_SHARE:
            what = "population" if weighted else "demand units"
            msg = (f"{cat}: {share:.1%} of the {what} cannot reach any {cat} facility by "
                   f"{mode}: {int(apart.sum())} demand units in network pieces without one"
                   + (f", {int(cut.sum() - apart.sum())} without a route (one-way streets)"
                      if cut.sum() > apart.sum() else ""))
            warnings.warn(msg, InputWarning, stacklevel=3)
    return out
