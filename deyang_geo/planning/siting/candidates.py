"""Candidate sites: a planner's list, network nodes in uncovered areas, exclusion zones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from deyang_geo.core import settings
from deyang_geo.core.checks import check_positive
from deyang_geo.core.errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

    from deyang_geo.analysis.routing import RoutingNetwork

IntArray = npt.NDArray[np.int64]

__all__ = [
    "combine_candidates",
    "drop_in_zones",
    "network_candidates",
    "planner_candidates",
    "thin_points",
]

#: Columns every candidate table returned here has, in this order (plus ``geometry``).
COLUMNS = ("id", "name", "kind", "cost", "floor_area_m2", "source", "node")


def thin_points(x: Any, y: Any, *, spacing_m: float, priority: Any | None = None) -> IntArray:
    """Keep about one point per ``spacing_m`` x ``spacing_m`` square (vectorised, deterministic).

    In each grid cell the point with the highest ``priority`` is kept (default: the one
    nearest the cell centre), ties to the lower position.

    Parameters
    ----------
    x, y
        Coordinates in metres.
    spacing_m
        Grid spacing in metres (> 0).
    priority
        Optional score per point (higher is kept).

    Returns
    -------
    numpy.ndarray
        Positions of the kept points, ascending.
    """
    check_positive(spacing_m, name="spacing_m", unit="metres")
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.size == 0:
        return np.zeros(0, dtype=np.int64)
    gx = np.floor(xa / spacing_m).astype(np.int64)
    gy = np.floor(ya / spacing_m).astype(np.int64)
    if priority is None:
        cx = (gx + 0.5) * spacing_m
        cy = (gy + 0.5) * spacing_m
        score = -np.hypot(xa - cx, ya - cy)
    else:
        score = np.asarray(priority, dtype=np.float64)
    pos = np.arange(xa.size)
    order = np.lexsort((pos, -score, gy, gx))
    first = np.ones(order.size, dtype=bool)
    first[1:] = (gx[order][1:] != gx[order][:-1]) | (gy[order][1:] != gy[order][:-1])
    return np.sort(order[first]).astype(np.int64)


def drop_in_zones(candidates: gpd.GeoDataFrame, zones: Any | None) -> gpd.GeoDataFrame:
    """Return the candidates outside every exclusion zone (polygons, any CRS).

    Parameters
    ----------
    candidates
        Candidate points with a CRS.
    zones
        A GeoDataFrame/GeoSeries of polygons (with a CRS), or ``None``.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy without the candidates inside (or on the border of) a zone.
    """
    if zones is None or len(zones) == 0 or len(candidates) == 0:
        return candidates.copy()

    geoms = zones.geometry if hasattr(zones, "geometry") else zones
    if getattr(geoms, "crs", None) is not None and candidates.crs is not None:
        geoms = geoms.to_crs(candidates.crs)
    union = shapely.union_all(np.asarray(geoms))
    pts = candidates.geometry
    inside = shapely.intersects_xy(union, pts.x.to_numpy(), pts.y.to_numpy())
    return candidates.loc[~inside].copy()


def _standard(gdf: gpd.GeoDataFrame, *, source: str) -> gpd.GeoDataFrame:
    out = gdf.copy()
    if "id" not in out.columns:
        msg = "candidates need an 'id' column"
        raise InputError(msg)
    out["id"] = out["id"].astype(str)
    for col, default in (("name", ""), ("kind", ""), ("cost", np.nan),
                         ("floor_area_m2", np.nan), ("source", source), ("node", -1)):
        if col not in out.columns:
            out[col] = default
    extra = [c for c in out.columns if c not in (*COLUMNS, "geometry")]
    return out[[*COLUMNS, *extra, "geometry"]]


def planner_candidates(candidates: gpd.GeoDataFrame, *,
                       exclusion_zones: Any | None = None) -> gpd.GeoDataFrame:
    """Return a planner's candidate list (``io.read_candidates``) in the standard columns.

    Parameters
    ----------
    candidates
        Candidate points with ``id`` and optional ``name``, ``kind``, ``cost``,
        ``floor_area_m2``.
    exclusion_zones
        Polygons where no site may go.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``id, name, kind, cost, floor_area_m2, source ("planner"), node`` + geometry.
    """
    dup = candidates["id"].astype(str).duplicated()
    if bool(dup.any()):
        msg = f"candidate ids must be unique; repeated: {sorted(set(candidates['id'][dup]))}"
        raise InputError(msg)
    return drop_in_zones(_standard(candidates, source="planner"), exclusion_zones)


def network_candidates(
    net: RoutingNetwork,
    *,
    uncovered: Any | None = None,
    within_m: float = 300.0,
    spacing_m: float | None = None,
    exclusion_zones: Any | None = None,
) -> gpd.GeoDataFrame:
    """Return network nodes in uncovered areas as candidates, thinned to ``spacing_m``.

    Parameters
    ----------
    net
        The routing network (projected, metres).
    uncovered
        Where sites are wanted: polygons (nodes inside are kept) or points such as uncovered
        demand units (nodes within ``within_m`` of one are kept); any CRS. ``None`` keeps
        every node.
    within_m
        Distance from an uncovered point within which a node qualifies.
    spacing_m
        Thinning grid spacing in metres (about one candidate per square); default
        ``settings.candidate_spacing_m``.
    exclusion_zones
        Polygons where no site may go.

    Returns
    -------
    geopandas.GeoDataFrame
        Ids ``node:<node id>``, ``kind`` ``"network_node"``, ``source`` ``"network"``,
        ``node`` the node index; in the network's CRS.
    """
    x = np.asarray(net.x, dtype=np.float64)
    y = np.asarray(net.y, dtype=np.float64)
    keep = np.ones(x.size, dtype=bool)
    if uncovered is not None:
        geoms = uncovered.geometry if hasattr(uncovered, "geometry") else uncovered
        if getattr(geoms, "crs", None) is not None:
            geoms = geoms.to_crs(net.crs)
        arr = np.asarray(geoms)
        if arr.size == 0:
            keep[:] = False
        else:
            kinds = shapely.get_type_id(arr)
            is_point = kinds == 0
            keep[:] = False
            if is_point.any():
                px = shapely.get_x(arr[is_point])
                py = shapely.get_y(arr[is_point])
                dist, _ = cKDTree(np.c_[px, py]).query(np.c_[x, y],
                                                       distance_upper_bound=within_m)
                keep |= np.isfinite(dist)
            if (~is_point).any():
                union = shapely.union_all(arr[~is_point])
                keep |= shapely.intersects_xy(union, x, y)
    idx = np.flatnonzero(keep)
    spacing = settings.candidate_spacing_m if spacing_m is None else spacing_m
    idx = idx[thin_points(x[idx], y[idx], spacing_m=spacing)]
    frame = gpd.GeoDataFrame(
        {"id": [f"node:{int(v)}" for v in np.asarray(net.node_ids)[idx]],
         "name": "", "kind": "network_node", "cost": np.nan, "floor_area_m2": np.nan,
         "source": "network", "node": idx.astype(np.int64)},
        geometry=gpd.points_from_xy(x[idx], y[idx]), crs=net.crs,
    )
    return drop_in_zones(frame, exclusion_zones)


def combine_candidates(*tables: gpd.GeoDataFrame | None,
                       min_separation_m: float | None = None) -> gpd.GeoDataFrame:
    """Concatenate candidate tables (planner's first), dropping later ones too close to earlier.

    Parameters
    ----------
    *tables
        Candidate tables in standard columns (``None`` entries are skipped); later tables are
        projected to the first one's CRS.
    min_separation_m
        When given, a candidate of a later table closer than this to one already kept is
        dropped (a network node next to a planner's site adds nothing).

    Returns
    -------
    geopandas.GeoDataFrame
        The combined table with unique ids.
    """
    parts = [t for t in tables if t is not None and len(t)]
    if not parts:
        msg = "no candidate sites: give a candidate list or let network nodes be used"
        raise InputError(msg)
    crs = parts[0].crs
    kept = [parts[0]]
    for part in parts[1:]:
        p = part.to_crs(crs) if crs is not None and part.crs != crs else part
        if min_separation_m is not None:
            prev = pd.concat(kept)
            tree = cKDTree(np.c_[prev.geometry.x, prev.geometry.y])
            dist, _ = tree.query(np.c_[p.geometry.x, p.geometry.y])
            p = p.loc[dist >= min_separation_m]
        kept.append(p)
    out = gpd.GeoDataFrame(pd.concat(kept, ignore_index=True), geometry="geometry", crs=crs)
    dup = out["id"].duplicated()
    if bool(dup.any()):
        msg = f"candidate ids must be unique; repeated: {sorted(set(out['id'][dup]))[:10]}"
        raise InputError(msg)
    return out
