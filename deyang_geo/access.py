"""Minutes to the nearest facility of each category, and reach sets (sources x demand, sparse)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from . import _kernels
from ._errors import InputError, InputWarning, Problem
from .routing import RoutingNetwork
from .snapping import (
    EndCosts,
    Snapped,
    connector_speed_kmh,
    edge_weights_both_ways,
    end_costs,
    snap_points,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import scipy.sparse

__all__ = [
    "ReachSet",
    "minutes_to_nearest",
    "nearest_minutes",
    "node_minutes",
    "reach_set",
]

#: Sources per call of the compiled reach kernel (bounds the size of one output buffer).
_REACH_CHUNK = 2048


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
        import scipy.sparse

        return scipy.sparse.csr_array(
            (self.minutes, self.indices, self.indptr), shape=(self.n_sources, self.n_demand)
        )

    def to_membership(self) -> scipy.sparse.csr_array:
        """Return a boolean ``csr_array``: True where the demand point is within reach."""
        import scipy.sparse

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


def _source_init(
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


def _node_seconds(
    net: RoutingNetwork, sources: Snapped, mode: str, bound_s: float,
    walk_speed_kmh: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    w = net.weights_for(mode, walk_speed_kmh=walk_speed_kmh)
    csr = net.csr(mode, walk_speed_kmh=walk_speed_kmh)
    speed = connector_speed_kmh(net, mode, walk_speed_kmh)
    init_nodes, init_dist, init_label = _source_init(
        end_costs(net, sources, w, walk_speed_kmh=speed, as_target=False)
    )
    dist, label = _kernels.multi_source_dijkstra(
        csr.indptr, csr.indices, csr.weights_s, init_nodes, init_dist, init_label, bound_s
    )
    return dist, label, w


def node_minutes(
    net: RoutingNetwork,
    sources: Snapped,
    *,
    mode: str,
    max_minutes: float | None = None,
    walk_speed_kmh: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return the minutes from the nearest source to every node, and which source it is.

    One multi-source Dijkstra (compiled) over the mode's edges; each source enters at both
    ends of its edge with its connector and partial-edge cost (see
    :func:`deyang_geo.snapping.end_costs`).

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
        Walking speed: rescales walk-type modes and sets the connector speed; default the
        network's speed and ``settings.walk_speed_kmh``.

    Returns
    -------
    tuple of numpy.ndarray
        ``minutes`` per node (``nan`` when unreachable or beyond ``max_minutes``) and the
        index of the nearest source per node (``-1`` then).
    """
    dist, label, _ = _node_seconds(net, sources, mode, _bound_s(max_minutes), walk_speed_kmh)
    minutes = dist / 60.0
    minutes[~np.isfinite(dist)] = np.nan
    return minutes, label


def nearest_minutes(
    net: RoutingNetwork,
    sources: Snapped,
    targets: Snapped,
    *,
    mode: str,
    max_minutes: float | None = None,
    walk_speed_kmh: float | None = None,
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

    Returns
    -------
    tuple of numpy.ndarray
        ``minutes`` per target (``nan`` unreachable) and source index (``-1`` unreachable).
    """
    bound = _bound_s(max_minutes)
    dist, label, w = _node_seconds(net, sources, mode, bound, walk_speed_kmh)
    speed = connector_speed_kmh(net, mode, walk_speed_kmh)
    tc = end_costs(net, targets, w, walk_speed_kmh=speed, as_target=True)
    best, best_src = _targets_from_nodes(dist, label, tc)
    w_fwd, w_bwd = edge_weights_both_ways(net, w)
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

    Returns
    -------
    ReachSet
        Shape ``(len(sources), len(targets))``.
    """
    bound = _bound_s(max_minutes)
    if not np.isfinite(bound):
        msg = "reach_set needs a finite max_minutes (a reach set without limit is dense)"
        raise InputError(msg)
    w = net.weights_for(mode, walk_speed_kmh=walk_speed_kmh)
    csr = net.csr(mode, walk_speed_kmh=walk_speed_kmh)
    speed = connector_speed_kmh(net, mode, walk_speed_kmh)
    sc = end_costs(net, sources, w, walk_speed_kmh=speed, as_target=False)
    tc = end_costs(net, targets, w, walk_speed_kmh=speed, as_target=True)
    n_src, n_tgt = len(sources), len(targets)
    w_fwd, w_bwd = edge_weights_both_ways(net, w)

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
            csr.indptr, csr.indices, csr.weights_s,
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
    import shapely

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


def _warn_unsnapped(ids: Any, snapped: NDArray[np.bool_], what: str, mode: str,
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
) -> pd.DataFrame:
    """Return the minutes from every demand unit to the nearest facility of each category.

    One multi-source shortest-path run per category. Demand and facilities are snapped to the
    mode's edges once; points farther than ``max_snap_m`` are reported with an
    :class:`~deyang_geo._errors.InputWarning` and in ``result.attrs["unsnapped_demand"]`` /
    ``result.attrs["unsnapped_facilities"]`` (their ids); unsnapped demand gets ``nan``.

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
        Walking speed (rescales walk modes, sets the connector speed); default
        ``settings.walk_speed_kmh``.
    max_snap_m
        Largest connector in metres; default ``settings.max_snap_m``.

    Returns
    -------
    pandas.DataFrame
        Columns ``demand_id, category, minutes, facility_id``: one row per demand unit and
        category, demand units in input order, categories in order within each unit.
        ``minutes`` is ``nan`` and ``facility_id`` missing when nothing is reachable.

    Raises
    ------
    InputError
        Missing columns, missing CRS, missing or non-point geometries (all listed at once).
    """
    import pandas as pd

    from . import settings

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
    lost_demand = _warn_unsnapped(demand_ids, dsnap.snapped, "demand units", mode, limit)
    lost_fac = _warn_unsnapped(fac_ids, fsnap.snapped, "facilities", mode, limit)
    cats = sorted(set(fac_cat.tolist())) if categories is None else list(categories)

    bound = _bound_s(max_minutes)
    n = len(demand)
    minutes = np.full((n, len(cats)), np.nan)
    fac_of = np.full((n, len(cats)), None, dtype=object)
    for j, cat in enumerate(cats):
        pick = np.flatnonzero((fac_cat == cat) & fsnap.snapped)
        if pick.size == 0:
            continue
        mins, src = nearest_minutes(
            net, fsnap.take(pick), dsnap, mode=mode,
            max_minutes=None if not np.isfinite(bound) else bound / 60.0,
            walk_speed_kmh=walk_speed_kmh,
        )
        minutes[:, j] = mins
        found = src >= 0
        fac_of[found, j] = fac_ids[pick[src[found]]]
    result = pd.DataFrame({
        "demand_id": np.repeat(demand_ids, len(cats)),
        "category": np.tile(np.asarray(cats, dtype=object), n),
        "minutes": minutes.ravel(),
        "facility_id": fac_of.ravel(),
    })
    result.attrs["unsnapped_demand"] = lost_demand
    result.attrs["unsnapped_facilities"] = lost_fac
    result.attrs["mode"] = mode
    return result
