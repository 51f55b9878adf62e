"""Points onto the nearest edge of a mode's network, with connector and partial-edge costs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.core import settings
from deyang_geo.core.checks import check_positive
from deyang_geo.core.errors import InputError

__all__ = [
    "EndCosts",
    "Snapped",
    "connector_speed_kmh",
    "end_costs",
    "nearest_street_m",
    "snap_points",
]


@dataclass(frozen=True, eq=False)
class Snapped:
    """Points placed on edges of a :class:`~deyang_geo.analysis.routing.RoutingNetwork`.

    Attributes
    ----------
    edge
        The edge each point lies on (``-1`` when not snapped). For a street with two directed
        edges it is the lower-numbered of the pair; :func:`end_costs` uses both directions.
    fraction
        Position along the edge from its tail ``u`` (0) to its head ``v`` (1), by geometry
        length (``nan`` when not snapped).
    distance_m
        Length of the straight connector from the point to the edge (``nan`` when not snapped;
        the distance to the nearest edge is not reported beyond ``max_snap_m``).
    snapped
        Whether the point is within ``max_snap_m`` of an edge the mode may use.
    """

    edge: NDArray[np.int64]
    fraction: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    snapped: NDArray[np.bool_]

    def __len__(self) -> int:
        """Return the number of points."""
        return int(self.edge.shape[0])

    def take(self, index: ArrayLike) -> Snapped:
        """Return the points at ``index`` (integer positions or a boolean mask)."""
        i = np.asarray(index)
        return Snapped(self.edge[i], self.fraction[i], self.distance_m[i], self.snapped[i])


def snap_index(net: RoutingNetwork, mode: str) -> tuple[NDArray[np.int64], shapely.STRtree]:
    key = f"snap:{mode}"
    cached = net._cache.get(key)
    if cached is None:
        w = net.weights_s[mode]
        rev = net.reverse_edge
        has_rev = rev >= 0
        usable = np.isfinite(w)
        usable[has_rev] |= np.isfinite(w[rev[has_rev]])
        canonical = usable & (~has_rev | (np.arange(net.n_edges) < rev))
        edges = np.flatnonzero(canonical).astype(np.int64)
        cached = (edges, shapely.STRtree(net.geometry[edges], node_capacity=4))
        net._cache[key] = cached
    return cached  # type: ignore[no-any-return]


def snap_points(
    net: RoutingNetwork,
    x: ArrayLike,
    y: ArrayLike,
    *,
    mode: str = "walk",
    max_snap_m: float | None = None,
) -> Snapped:
    """Project points onto their nearest edge among the edges ``mode`` may use.

    Vectorised: one STRtree nearest query and one ``line_locate_point`` call for all points.
    Points farther than ``max_snap_m`` from every usable edge (or with missing coordinates) are
    returned with ``snapped=False`` and are never attached to the network.

    Parameters
    ----------
    net
        The network.
    x, y
        Point coordinates in ``net.crs`` (metres).
    mode
        The travel mode whose edges may be snapped to (in either direction).
    max_snap_m
        Largest connector length in metres; default ``settings.max_snap_m``.

    Returns
    -------
    Snapped
        One entry per point, in input order.
    """
    net.check_mode(mode)
    limit = settings.max_snap_m if max_snap_m is None else max_snap_m
    if not limit >= 0:
        msg = f"max_snap_m must be >= 0, got {limit}"
        raise InputError(msg)
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        msg = f"x and y differ in length ({xa.size} and {ya.size})"
        raise InputError(msg)
    # the same points are snapped by access, compliance, siting and graded access: once
    key = (mode, float(limit), xa.size,
           hashlib.blake2b(xa.tobytes() + ya.tobytes(), digest_size=16).digest())
    recent: dict[Any, Snapped] = net._cache.setdefault("snapped", {})
    found = recent.pop(key, None)
    if found is None:
        found = _snap(net, xa, ya, mode=mode, limit=float(limit))
    recent[key] = found  # the most recently used last
    while recent and (len(recent) > SNAP_CACHE_ENTRIES or sum(
            len(v) for v in recent.values()) > SNAP_CACHE_POINTS):
        del recent[next(iter(recent))]
    # copies: a caller changing its result cannot change the next caller's
    return Snapped(found.edge.copy(), found.fraction.copy(), found.distance_m.copy(),
                   found.snapped.copy())


#: How many snapping results a network keeps, the most recently used (each point set keyed
#: by its coordinates, mode and distance limit), and how many points in all (25 bytes each).
SNAP_CACHE_ENTRIES = 16
SNAP_CACHE_POINTS = 2_000_000


def _snap(net: RoutingNetwork, xa: NDArray[np.float64], ya: NDArray[np.float64], *,
          mode: str, limit: float) -> Snapped:
    """Snap points (see :func:`snap_points`), without looking for an earlier result."""
    n = xa.size
    edge = np.full(n, -1, dtype=np.int64)
    fraction = np.full(n, np.nan)
    distance = np.full(n, np.nan)
    ok = np.isfinite(xa) & np.isfinite(ya)
    edges, tree = snap_index(net, mode)
    if n and edges.size and ok.any():
        pts_idx = np.flatnonzero(ok)
        # query in Z-order: neighbouring points walk the same tree nodes (2-3x faster)
        pts_idx = pts_idx[np.argsort(_morton(xa[pts_idx], ya[pts_idx]), kind="stable")]
        pts: NDArray[np.object_] = np.asarray(shapely.points(xa[pts_idx], ya[pts_idx]))
        (qi, ti), dist = tree.query_nearest(
            pts, max_distance=float(limit), return_distance=True, all_matches=False
        )
        within = dist <= limit
        qi, ti, dist = qi[within], ti[within], dist[within]
        hit = pts_idx[qi]
        e = edges[ti]
        geoms = net.geometry[e]
        frac = shapely.line_locate_point(geoms, pts[qi], normalized=True)
        # zero-length geometries give nan: put such points at the tail
        frac = np.clip(np.nan_to_num(frac, nan=0.0), 0.0, 1.0)
        edge[hit] = e
        fraction[hit] = frac
        distance[hit] = dist
    return Snapped(edge, fraction, distance, edge >= 0)


def _morton(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Return Z-order (Morton) keys of points on a 2^16 x 2^16 grid over their extent."""

    def spread(v: NDArray[np.uint64]) -> NDArray[np.uint64]:
        for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF),
                            (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333),
                            (1, 0x5555555555555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    scale = float(2**16 - 1)
    xi = ((x - x.min()) / (np.ptp(x) + 1e-9) * scale).astype(np.uint64)
    yi = ((y - y.min()) / (np.ptp(y) + 1e-9) * scale).astype(np.uint64)
    return spread(xi) | (spread(yi) << np.uint64(1))


def connector_speed_kmh(net: RoutingNetwork, mode: str,
                        walk_speed_kmh: float | None = None) -> float:
    """Return the speed at which connectors (point to street) are walked, in km/h.

    For walk-type modes (``walk``, ``walk_elderly``) the mode's own speed in this network
    (:meth:`RoutingNetwork.speed_kmh`), so the connector and the streets are walked alike; for
    ``walk``, ``walk_speed_kmh`` when given (it re-weights the streets too). For bike and drive
    modes the connector is walked: at ``walk_speed_kmh`` when given, else the network's
    ``walk`` speed (``settings.walk_speed_kmh`` if unknown). ``walk_speed_kmh`` never changes
    the speed of ``walk_elderly``.
    """
    if walk_speed_kmh is not None:
        check_positive(walk_speed_kmh, name="walk_speed_kmh", unit="km/h")
    if mode == "walk_elderly":
        own = net.speed_kmh(mode)
        if own is not None:
            return own
    if walk_speed_kmh is not None:
        return float(walk_speed_kmh)
    walk = net.speed_kmh("walk")
    if walk is None:  # pragma: no cover - settings always define a walking speed
        return float(settings.walk_speed_kmh)
    return walk


def nearest_street_m(net: RoutingNetwork, x: ArrayLike, y: ArrayLike, *,
                     mode: str = "walk") -> NDArray[np.float64]:
    """Return the distance in metres from each point to the nearest street ``mode`` may use.

    Without a distance limit (used to explain why a point was not snapped); ``nan`` for
    missing coordinates or when the mode has no street.
    """
    net.check_mode(mode)
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    out = np.full(xa.size, np.nan)
    ok = np.isfinite(xa) & np.isfinite(ya)
    edges, tree = snap_index(net, mode)
    if ok.any() and edges.size:
        pts = shapely.points(xa[ok], ya[ok])
        (qi, _), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        found = np.full(int(ok.sum()), np.nan)
        found[qi] = dist
        out[ok] = found
    return out


@dataclass(frozen=True, eq=False)
class EndCosts:
    """Seconds from snapped points to the two ends of their edge (and back: same values).

    Attributes
    ----------
    u, v
        Tail and head node of the point's edge (``-1`` when not snapped).
    to_u_s, to_v_s
        Connector plus the part of the edge to ``u`` (needs the reverse edge) or to ``v``;
        ``inf`` when the mode may not go that way or the point is not snapped. Travel is
        symmetric only for walk-type modes: for a target, ``to_u_s`` is the cost of arriving
        from ``u`` along ``u->v`` (``f * w_uv``), see :func:`end_costs`.
    connector_s
        Seconds to walk the connector.
    """

    u: NDArray[np.int64]
    v: NDArray[np.int64]
    to_u_s: NDArray[np.float64]
    to_v_s: NDArray[np.float64]
    connector_s: NDArray[np.float64]


def edge_weights_both_ways(
    net: RoutingNetwork, weights_s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return per edge the seconds along it (u->v) and along its twin (v->u, ``inf`` if none)."""
    stored = [m for m, w in net.weights_s.items() if w is weights_s]
    key = f"w_bwd:{stored[0]}" if stored else ""
    if key and key in net._cache:
        return weights_s, net._cache[key]  # type: ignore[no-any-return]
    rev = net.reverse_edge
    w_bwd = np.full(net.n_edges, np.inf)
    has = rev >= 0
    w_bwd[has] = weights_s[rev[has]]
    if key:
        net._cache[key] = w_bwd
    return weights_s, w_bwd


def end_costs(
    net: RoutingNetwork,
    points: Snapped,
    weights_s: NDArray[np.float64],
    *,
    walk_speed_kmh: float,
    as_target: bool,
) -> EndCosts:
    """Return the seconds between each snapped point and the two ends of its edge.

    For a point at fraction ``f`` of edge ``u->v`` with reverse edge ``v->u``, walked
    connector ``c``: as a source, to ``v`` costs ``c + (1-f) w_uv`` and to ``u`` costs
    ``c + f w_vu``; as a target, from ``u`` costs ``c + f w_uv`` and from ``v`` costs
    ``c + (1-f) w_vu``.

    Parameters
    ----------
    net
        The network.
    points
        Snapped points.
    weights_s
        Edge seconds of the mode (see :meth:`RoutingNetwork.weights_for`).
    walk_speed_kmh
        Connector walking speed.
    as_target
        Costs for arriving at the points instead of leaving them.

    Returns
    -------
    EndCosts
        Per point.
    """
    ok = points.snapped
    e = np.where(ok, points.edge, 0)
    f = np.where(ok, points.fraction, 0.0)
    w_fwd, w_bwd = edge_weights_both_ways(net, weights_s)
    conn = np.where(ok, points.distance_m, np.inf) / (walk_speed_kmh / 3.6)
    if as_target:
        to_u = conn + _times(f, w_fwd[e])
        to_v = conn + _times(1.0 - f, w_bwd[e])
    else:
        to_u = conn + _times(f, w_bwd[e])
        to_v = conn + _times(1.0 - f, w_fwd[e])
    to_u[~ok] = np.inf
    to_v[~ok] = np.inf
    u = np.where(ok, net.edge_u[e], -1)
    v = np.where(ok, net.edge_v[e], -1)
    return EndCosts(u, v, to_u, to_v, np.where(ok, conn, np.nan))


def _times(frac: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    # frac * w, where 0 * inf = 0: a point exactly at a node is at that node
    with np.errstate(invalid="ignore"):
        out = frac * w
    out[frac == 0] = 0.0
    return out
