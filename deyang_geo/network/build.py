"""Road networks from OpenStreetMap (online, OSM files, saved graphs) with per-mode travel times.

Every source funnels into one builder that returns the "Road network graph" of
``docs/architecture.md``: an osmnx-style ``networkx.MultiDiGraph`` projected to a local metric
CRS, edges carrying ``length`` (m), ``geometry`` (u -> v), ``highway``, ``osmid``, ``name`` and,
for each mode allowed on the edge in that direction, ``travel_time_{mode}`` in seconds.

How it is built: OSM files are streamed with pyosmium (``.osm``, ``.osm.bz2``, ``.osm.gz`` and
``.osm.pbf`` alike, so every format gives the same graph), online data comes through osmnx's
Overpass download; then one array-based builder makes osmnx's graph (same segments, lengths,
topological simplification and clipping rules, checked edge for edge against
``osmnx.graph_from_xml`` in the tests) and builds the networkx graph once, at the end.

Rules per mode (one graph serves all modes):

- walk, walk_elderly: every highway except motorways, cycleways and unbuilt roads (unless
  ``foot=yes|designated|permissive``); respects ``foot`` and ``access``; both directions.
  Trunk roads (``trunk``, ``trunk_link``: many urban arterials and national roads through
  Chinese towns) are walkable unless ``foot=no``, ``access=no|private``, ``motorroad=yes`` or
  a sidewalk tag says there is none (``sidewalk=no|none``, ``sidewalk:both=no|none``, or
  ``sidewalk:left`` and ``sidewalk:right`` both ``no|none``); ``exclude_trunk=True`` leaves
  every trunk road out of the walking network.
- bike, ebike: roads and cycleways; footways, paths, steps and pedestrian streets only with
  ``bicycle=yes|designated|permissive``; no motorways/trunks unless ``bicycle=yes``; respects
  ``bicycle``, ``vehicle``, ``access``; one-way streets unless ``oneway:bicycle=no``.
- drive: highway types in ``settings.drive_speeds_kmh``; respects ``motorcar``,
  ``motor_vehicle``, ``vehicle``, ``access`` and one-way streets (roundabouts and motorways are
  implied one-way); speed from ``maxspeed`` else ``settings.drive_speeds_kmh[highway]``,
  summed segment by segment along merged edges.

Simplification never merges across a node where the set of modes allowed changes, so a merged
edge's travel times are exact. Disconnected pieces are always reported (log and
:func:`network_summary`): by default the main piece and every piece with at least
``min_piece_km`` of street are kept, only smaller slivers are dropped (with a count); with
``keep_near`` (the communities and facilities), a smaller piece within the snapping distance of
one of them is kept too, so no one is reported "not snapped" because their street was dropped.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from deyang_geo.core import settings
from deyang_geo.core.errors import NetworkError, Problem
from deyang_geo.network.osm_file import (
    HighwayData,
    file_bounds,
    highways_from_overpass,
    is_osm_path,
    read_highways,
)

log = logging.getLogger("deyang_geo")

Boundary = BaseGeometry | str | os.PathLike[str]
DemTransform = Sequence[float] | Any

#: Which rule set each mode follows.
MODE_KIND: dict[str, str] = {
    "walk": "walk", "walk_elderly": "walk", "bike": "bike", "ebike": "bike", "drive": "drive",
}
#: Label stored in ``G.graph["speeds_kmh"]`` for the drive mode.
DRIVE_SPEED_LABEL = "maxspeed/highway defaults"
#: Suffixes of saved graphs :func:`load_graph` reads.
GRAPH_SUFFIXES: tuple[str, ...] = (".graphml", ".gpkg")

_UNBUILT = frozenset({
    "abandoned", "bus_guideway", "busway", "construction", "disused", "escape", "no", "planned",
    "platform", "proposed", "raceway", "razed", "rest_area", "services", "emergency_bay",
})
_MOTOR_ONLY = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
_TRUNK = frozenset({"trunk", "trunk_link"})
_NO_SIDEWALK = frozenset({"no", "none"})
#: Default smallest disconnected piece kept, in km of street: smaller slivers are dropped
#: (the main piece is always kept).
MIN_PIECE_KM: float = 0.5
_FOOT_ONLY = frozenset({
    "footway", "steps", "path", "pedestrian", "corridor", "bridleway", "elevator", "escalator",
    "via_ferrata",
})
_ALLOW = frozenset({"yes", "designated", "permissive"})
_DENY = frozenset({"no", "private", "use_sidepath", "agricultural", "forestry", "emergency",
                   "psv", "bus", "delivery", "military"})
_ONEWAY_FWD = frozenset({"yes", "true", "1"})
_ONEWAY_BWD = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "false", "0", "alternating", "reversible"})
_BIKE_CONTRAFLOW = frozenset({"opposite", "opposite_lane", "opposite_track"})
_MPH_TO_KMH = 1.609344
_MAXSPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
_BOUNDARY_BUFFER_M = 500.0
_RULE_KEYS = ("highway", "area", "access", "foot", "bicycle", "vehicle", "motor_vehicle",
              "motorcar", "oneway", "oneway:bicycle", "junction", "service", "cycleway",
              "motorroad", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")


# --------------------------------------------------------------------------- mode rules
def parse_maxspeed_kmh(value: object) -> float | None:
    """Parse an OSM ``maxspeed`` value into km/h.

    Parameters
    ----------
    value
        ``"50"``, ``"50 km/h"``, ``"30 mph"``, ``"50;60"`` (mean), a list of such values (as
        after simplification: mean), or anything else.

    Returns
    -------
    float or None
        The speed in km/h, or None when the value gives no usable number (``"none"``,
        ``"CN:urban"``, ``"signals"``...).
    """
    if isinstance(value, (list, tuple)):
        parts: list[object] = list(value)
    elif isinstance(value, str):
        parts = [p for p in value.split(";") if p.strip()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parts = [str(value)]
    else:
        return None
    speeds = []
    for part in parts:
        if isinstance(part, str) and ";" in part:
            inner = parse_maxspeed_kmh(part)
            if inner is not None:
                speeds.append(inner)
            continue
        match = _MAXSPEED_RE.match(str(part))
        if match is None:
            continue
        number = float(match.group(1))
        unit = (match.group(2) or "").lower()
        if unit == "mph":
            number *= _MPH_TO_KMH
        elif unit == "knots":
            number *= 1.852
        if number > 0:
            speeds.append(number)
    return float(np.mean(speeds)) if speeds else None


def _first(tags: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None:
            return value
    return None


def _oneway_direction(tags: Mapping[str, str]) -> int:
    """Return 1 for one-way forward, -1 for one-way backward, 0 for both directions."""
    oneway = tags.get("oneway", "").lower()
    if oneway in _ONEWAY_FWD:
        return 1
    if oneway in _ONEWAY_BWD:
        return -1
    if oneway in _ONEWAY_NO:
        return 0
    if tags.get("junction") in {"roundabout", "circular"} or tags.get("highway") == "motorway":
        return 1
    return 0


def _no_sidewalk(tags: Mapping[str, str]) -> bool:
    """Whether the way's tags say it has no sidewalk on either side."""
    if tags.get("sidewalk") in _NO_SIDEWALK or tags.get("sidewalk:both") in _NO_SIDEWALK:
        return True
    return (tags.get("sidewalk:left") in _NO_SIDEWALK
            and tags.get("sidewalk:right") in _NO_SIDEWALK)


def _may_use(kind: str, tags: Mapping[str, str], drive_highways: frozenset[str], *,
             exclude_trunk: bool = False) -> bool:
    highway = tags.get("highway", "")
    if highway in _UNBUILT or tags.get("area") == "yes" or tags.get("service") == "private":
        return False
    if kind == "walk":
        if highway in _TRUNK:
            if exclude_trunk or tags.get("motorroad") == "yes" or _no_sidewalk(tags):
                return False
            return _first(tags, "foot", "access") not in _DENY
        foot = tags.get("foot")
        if foot in _ALLOW:
            return True
        if highway in _MOTOR_ONLY or highway == "cycleway":
            return False
        return _first(tags, "foot", "access") not in _DENY
    if kind == "bike":
        bicycle = tags.get("bicycle")
        if bicycle in _ALLOW:
            return True
        if highway in _MOTOR_ONLY or highway in _FOOT_ONLY:
            return False
        return _first(tags, "bicycle", "vehicle", "access") not in _DENY
    if highway not in drive_highways:
        return False
    return _first(tags, "motorcar", "motor_vehicle", "vehicle", "access") not in _DENY


def way_modes(tags: Mapping[str, str], modes: Sequence[str], *,
              drive_highways: Iterable[str] | None = None,
              exclude_trunk: bool = False) -> tuple[int, int]:
    """Return the bit masks of the modes that may use a way forward and backward.

    Parameters
    ----------
    tags
        The way's OSM tags.
    modes
        The modes; bit ``i`` of a mask stands for ``modes[i]``.
    drive_highways
        Highway types open to driving; default the keys of ``settings.drive_speeds_kmh``.
    exclude_trunk
        Leave trunk roads out of the walking modes even where they may be walked.

    Returns
    -------
    tuple of int
        ``(forward, backward)``: forward runs in the way's node order.
    """
    drive_set = frozenset(settings.drive_speeds_kmh if drive_highways is None
                          else drive_highways)
    direction = _oneway_direction(tags)
    forward = backward = 0
    for i, mode in enumerate(modes):
        kind = MODE_KIND[mode]
        if not _may_use(kind, tags, drive_set, exclude_trunk=exclude_trunk):
            continue
        bit = 1 << i
        if kind == "walk":
            forward |= bit
            backward |= bit
            continue
        one_way = direction
        if kind == "bike" and (tags.get("oneway:bicycle") == "no"
                               or tags.get("cycleway") in _BIKE_CONTRAFLOW):
            one_way = 0
        if one_way >= 0:
            forward |= bit
        if one_way <= 0:
            backward |= bit
    return forward, backward


def _check_modes(modes: Iterable[str] | str | None) -> tuple[str, ...]:
    if modes is None:
        return tuple(settings.modes)
    items = [modes] if isinstance(modes, str) else list(modes)
    names: list[str] = []
    for item in items:
        names.extend(p.strip() for p in str(item).split(",") if p.strip())
    unknown = [m for m in names if m not in MODE_KIND]
    if unknown or not names:
        msg = (f"unknown travel mode(s) {', '.join(map(repr, unknown)) or '(none given)'}: "
               f"choose from {', '.join(MODE_KIND)}")
        raise NetworkError(msg)
    return tuple(m for m in settings.modes if m in names) + tuple(
        dict.fromkeys(m for m in names if m not in settings.modes))


def _mode_speeds(modes: Sequence[str], speeds_kmh: Mapping[str, float] | None) -> dict[str, Any]:
    speeds: dict[str, Any] = {}
    given = dict(speeds_kmh or {})
    problems: list[str] = []
    for mode in modes:
        if mode == "drive":
            speeds[mode] = DRIVE_SPEED_LABEL
            continue
        value = given.get(mode, getattr(settings, f"{mode}_speed_kmh", None))
        if value is None or not math.isfinite(float(value)) or float(value) <= 0:
            problems.append(f"speed of mode {mode!r} must be a positive number of km/h, "
                            f"got {value!r}")
            continue
        speeds[mode] = float(value)
    if problems:
        raise NetworkError(problems)
    return speeds


# --------------------------------------------------------------------------- boundaries
def read_boundary(boundary: Boundary) -> Polygon | MultiPolygon:
    """Return a study-area polygon in WGS-84 from a shapely geometry or a boundary file.

    Parameters
    ----------
    boundary
        A (Multi)Polygon in WGS-84 degrees, or a GeoJSON / GeoPackage / Shapefile path whose
        polygons are united (reprojected to WGS-84 when the file has another CRS).

    Returns
    -------
    Polygon or MultiPolygon
        The study area.

    Raises
    ------
    NetworkError
        If the file cannot be read or holds no polygon.
    """
    if isinstance(boundary, BaseGeometry):
        geom: BaseGeometry = boundary
        where = None
    else:
        import geopandas as gpd

        where = str(boundary)
        try:
            gdf = gpd.read_file(boundary)
        except Exception as exc:
            raise NetworkError(Problem(f"cannot read the boundary ({exc})", file=where)) from None
        if gdf.crs is not None:
            gdf = gdf.to_crs("EPSG:4326")
        geom = gdf.geometry.union_all() if len(gdf) else Polygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, shapely.GeometryCollection):
        polys = [g for g in geom.geoms if isinstance(g, (Polygon, MultiPolygon))]
        geom = shapely.union_all(polys) if polys else Polygon()
    if not isinstance(geom, (Polygon, MultiPolygon)) or geom.is_empty:
        raise NetworkError(Problem("the boundary must be a non-empty polygon", file=where))
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise NetworkError(Problem(
            "the boundary is not in WGS-84 degrees (give the file a CRS or reproject it)",
            file=where))
    return geom


def _buffer_wgs84(polygon: BaseGeometry, distance_m: float) -> Polygon | MultiPolygon:
    import pyproj

    from deyang_geo.core.crs import local_metric_crs

    minx, miny, maxx, maxy = polygon.bounds
    crs = local_metric_crs([minx, maxx], [miny, maxy])
    fwd = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    inv = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    projected = shapely.transform(polygon, lambda c: np.column_stack(fwd.transform(c[:, 0],
                                                                                   c[:, 1])))
    buffered = projected.buffer(distance_m)
    out = shapely.transform(buffered, lambda c: np.column_stack(inv.transform(c[:, 0], c[:, 1])))
    assert isinstance(out, (Polygon, MultiPolygon))
    return out


def osm_read_bbox(boundary: Boundary) -> tuple[float, float, float, float]:
    """Return the box of OSM data :func:`graph_from_osm_file` reads for a study area.

    A way with a node inside this box is read whole; an extract holding every such way with
    all its nodes gives the same graph as the whole file (see :mod:`deyang_geo.network.split`).

    Parameters
    ----------
    boundary
        The study area: a WGS-84 (Multi)Polygon or a boundary file.

    Returns
    -------
    tuple of float
        (west, south, east, north) in degrees: the area buffered by 500 m.
    """
    west, south, east, north = _buffer_wgs84(read_boundary(boundary), _BOUNDARY_BUFFER_M).bounds
    return (float(west), float(south), float(east), float(north))


def _check_bbox(bbox: Sequence[float]) -> Polygon:
    values = [float(v) for v in bbox]
    if len(values) != 4:
        msg = f"a bounding box is four numbers west, south, east, north; got {list(bbox)!r}"
        raise NetworkError(msg)
    west, south, east, north = values
    problems = []
    if not (-180 <= west < east <= 180):
        problems.append(f"bounding box: need -180 <= west < east <= 180, got {west}, {east}")
    if not (-90 <= south < north <= 90):
        problems.append(f"bounding box: need -90 <= south < north <= 90, got {south}, {north}")
    if problems:
        raise NetworkError(problems)
    return shapely.box(west, south, east, north)


# --------------------------------------------------------------------------- builder
@dataclass
class _Segments:
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    way: NDArray[np.int64]
    mask: NDArray[np.int64]
    reversed_: NDArray[np.bool_]
    length: NDArray[np.float64]


def _segments(data: HighwayData, fwd: NDArray[np.int64], bwd: NDArray[np.int64],
              boundary: BaseGeometry | None) -> tuple[_Segments, int]:
    """Directed edges (osmnx order: per way, forward segments then reversed ones)."""
    from osmnx.distance import great_circle

    kept = np.flatnonzero((fwd | bwd) != 0)
    lens = np.fromiter((len(data.way_nodes[i]) for i in kept), dtype=np.int64, count=len(kept))
    flat = np.fromiter(chain.from_iterable(data.way_nodes[i] for i in kept), dtype=np.int64,
                       count=int(lens.sum()))
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
        inside_u = shapely.contains_xy(boundary, data.node_lon[iu], data.node_lat[iu])
        inside_v = shapely.contains_xy(boundary, data.node_lon[iv], data.node_lat[iv])
        known &= inside_u & inside_v
    su, sv, sw, seq, iu, iv = su[known], sv[known], sw[known], seq[known], iu[known], iv[known]
    seg_len = np.asarray(great_circle(data.node_lat[iu], data.node_lon[iu],
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
        _, first = np.unique(np.stack([lo, hi]), axis=1, return_index=True)
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
        import pyproj

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
        xa, ya = self._tr.transform(lon_a[sel], lat_a[sel])
        xb, yb = self._tr.transform(lon_b[sel], lat_b[sel])
        coords = np.stack([np.column_stack([xa, ya]), np.column_stack([xb, yb])], axis=1)
        tree = shapely.STRtree(np.asarray(shapely.linestrings(coords), dtype=object))
        hits = tree.query(self.geoms, predicate="dwithin", distance=self.distance_m)[1]
        out[label[sel][np.unique(hits)]] = True
        return out


def _keep_near_geoms(keep_near: Any) -> NDArray[np.object_]:
    """WGS-84 geometries of ``keep_near``: a (lon, lat) pair of arrays or a GeoSeries."""
    import geopandas as gpd

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
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

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
    """Nodes where the set of modes changes along a street: simplification must stop there."""
    import pandas as pd

    u, v, mask = segs.u, segs.v, segs.mask
    nodes, counts = np.unique(np.concatenate([u, v]), return_counts=True)
    candidates = nodes[(counts == 2) | (counts == 4)]
    ins = pd.DataFrame({"n": v, "a": u, "m_in": mask})
    outs = pd.DataFrame({"n": u, "b": v, "m_out": mask})
    ins = ins[np.isin(ins["n"].to_numpy(), candidates)]
    outs = outs[np.isin(outs["n"].to_numpy(), candidates)]
    pairs = ins.merge(outs, on="n")
    pairs = pairs[(pairs["a"] != pairs["b"]) & (pairs["m_in"] != pairs["m_out"])]
    return np.unique(pairs["n"].to_numpy(dtype=np.int64))


def _edge_arrays(G: nx.MultiDiGraph) -> tuple[list[tuple[Any, Any, Any, dict[str, Any]]],
                                              NDArray[np.int64], NDArray[np.int64], int]:
    ids = list(G.nodes)
    pos = {n: i for i, n in enumerate(ids)}
    edges = list(G.edges(keys=True, data=True))
    iu = np.fromiter((pos[e[0]] for e in edges), dtype=np.int64, count=len(edges))
    iv = np.fromiter((pos[e[1]] for e in edges), dtype=np.int64, count=len(edges))
    return edges, iu, iv, len(ids)


def _mode_components(iu: NDArray[np.int64], iv: NDArray[np.int64], n: int,
                     sel: NDArray[np.bool_], *, length_m: NDArray[np.float64] | None = None,
                     min_piece_km: float = math.inf, near: _EdgeNear | None = None,
                     ) -> tuple[int, NDArray[np.bool_], int, int]:
    """Strongly connected components of the mode's edges.

    Returns their count, the edges outside the kept ones (the largest, plus those with at
    least ``min_piece_km`` of street, plus, with ``near``, those near a point to keep), the
    number of components dropped and the number kept only because of the points.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

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
    pair_keys = np.unique(np.concatenate([iu[nonloop] * n + iv[nonloop],
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
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

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


def _edge_base_attrs(data: HighwayData, segs: _Segments, edges: _Edges,
                     keep_tags: Sequence[str]) -> list[dict[str, Any]]:
    """OSM attributes of each final edge: its way's tags, merged osmnx-style across ways."""
    tag_keys = [k for k in keep_tags if k != "oneway"]
    ways = segs.way[edges.seg]
    revs = segs.reversed_[edges.seg].astype(np.int64)
    starts = edges.ptr[:-1]
    single = (np.minimum.reduceat(ways, starts) == np.maximum.reduceat(ways, starts)) & (
        np.minimum.reduceat(revs, starts) == np.maximum.reduceat(revs, starts))
    first_way = ways[starts].tolist()
    first_rev = revs[starts].astype(bool).tolist()

    base: dict[int, dict[str, Any]] = {}

    def way_attrs(w: int) -> dict[str, Any]:
        attrs = base.get(w)
        if attrs is None:
            tags = data.way_tags[w]
            attrs = {"osmid": data.way_ids[w]}
            attrs.update((k, tags[k]) for k in tag_keys if k in tags)
            # as in OSM: one-way for vehicles (walkers still get both directions)
            attrs["oneway"] = _oneway_direction(tags) != 0
            base[w] = attrs
        return attrs

    out: list[dict[str, Any]] = []
    ptr = edges.ptr.tolist()
    for f, is_single in enumerate(single.tolist()):
        if is_single:
            d = dict(way_attrs(first_way[f]))
            d["reversed"] = first_rev[f]
        else:
            collected: dict[str, list[Any]] = {}
            pairs = dict.fromkeys(zip(ways[ptr[f]:ptr[f + 1]].tolist(),
                                      revs[ptr[f]:ptr[f + 1]].tolist(), strict=True))
            for w, r in pairs:
                for key, value in way_attrs(w).items():
                    collected.setdefault(key, []).append(value)
                collected.setdefault("reversed", []).append(bool(r))
            d = {key: _merge_values(values) for key, values in collected.items()}
        out.append(d)
    return out


def _build_graph(
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
) -> nx.MultiDiGraph:
    """Build the graph from highway ways: the one builder every source funnels into.

    Everything up to the final graph runs on arrays: per-way mode masks, directed segments
    (osmnx's order), largest piece, simplification (osmnx's rules, never across a change of
    the allowed modes), clipping, projection, per-mode components; networkx is built once.
    """
    drive_set = frozenset(settings.drive_speeds_kmh)
    min_km = _check_min_piece_km(min_piece_km)
    n_ways = len(data.way_ids)
    fwd = np.zeros(n_ways, dtype=np.int64)
    bwd = np.zeros(n_ways, dtype=np.int64)
    cache: dict[tuple[str | None, ...], tuple[int, int]] = {}
    for i, tags in enumerate(data.way_tags):
        key = tuple(tags.get(k) for k in _RULE_KEYS)
        masks = cache.get(key)
        if masks is None:
            masks = way_modes(tags, modes, drive_highways=drive_set,
                              exclude_trunk=exclude_trunk)
            cache[key] = masks
        fwd[i], bwd[i] = masks
    buffered = _buffer_wgs84(boundary, _BOUNDARY_BUFFER_M) if boundary is not None else None
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
        f_drive = np.add.reduceat(segs.length[edges.seg] * _drive_s_per_m(data)[
            segs.way[edges.seg]], starts)
    # per-mode pieces: found, reported, dropped or kept
    f_len = np.maximum(f_len, 1e-3)
    components: dict[str, int] = {}
    disconnected: dict[str, dict[str, Any]] = {}
    near = None if test is None else _edge_near(test, edges, iu, iv, lon=lon, lat=lat)
    for i, mode in enumerate(modes):
        bit = 1 << i
        sel = (f_mask & bit) != 0
        count, outside, n_small, n_near = _mode_components(
            edges.u, edges.v, n, sel, length_m=f_len, min_piece_km=min_km, near=near)
        pieces = max(count - 1, 0)
        km = _street_km(edges.u, edges.v, f_len, outside)
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
    used = np.unique(np.concatenate([edges.u, edges.v]))
    chosen = _choose_crs(lon[used], lat[used], crs)
    x, y = _project_xy(lon, lat, chosen)
    geoms = _edge_geometries(edges, iu, iv, x, y)
    attrs = _edge_base_attrs(data, segs, edges, keep_tags)
    times = {m: f_len * 3.6 / speeds[m] for m in modes if m != "drive"}
    G = nx.MultiDiGraph(crs=chosen, modes=tuple(modes), speeds_kmh=dict(speeds), source=source,
                        simplified=bool(simplify), components=components,
                        disconnected=disconnected, dropped_pieces=lost_pieces)
    G.add_nodes_from(
        (node, {"y": yy, "x": xx, "street_count": sc, "lon": lo, "lat": la})
        for node, yy, xx, sc, lo, la in zip(
            nodes[used].tolist(), y[used].tolist(), x[used].tolist(),
            street_count[used].tolist(), lon[used].tolist(), lat[used].tolist(), strict=True))
    mode_bits = [(f"travel_time_{m}", 1 << i, times.get(m)) for i, m in enumerate(modes)]
    mask_l = f_mask.tolist()
    len_l = f_len.tolist()
    drive_l = f_drive.tolist()
    times_l = {m: t.tolist() for m, t in times.items()}
    for f, d in enumerate(attrs):
        d["length"] = len_l[f]
        d["geometry"] = geoms[f]
        mask = mask_l[f]
        for (attr, bit, _), mode in zip(mode_bits, modes, strict=True):
            if mask & bit:
                d[attr] = drive_l[f] if mode == "drive" else times_l[mode][f]
    G.add_edges_from(zip(nodes[edges.u].tolist(), nodes[edges.v].tolist(),
                         _edge_keys(edges).tolist(), attrs, strict=True))
    log.info("built a network of %d nodes and %d edges for %s from %s", len(G),
             len(attrs), ", ".join(modes), source)
    return G


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


def _drive_s_per_m(data: HighwayData) -> NDArray[np.float64]:
    """Seconds per metre of driving on each way: ``maxspeed``, else the highway default."""
    defaults = settings.drive_speeds_kmh
    fallback = defaults.get("road", 25.0)
    cache: dict[tuple[str | None, str | None], float] = {}
    out = np.empty(len(data.way_tags))
    for w, tags in enumerate(data.way_tags):
        key = (tags.get("maxspeed"), tags.get("highway"))
        value = cache.get(key)
        if value is None:
            kmh = parse_maxspeed_kmh(key[0])
            if kmh is None:
                kmh = defaults.get(key[1] or "", fallback)
            value = 3.6 / kmh
            cache[key] = value
        out[w] = value
    return out


def _choose_crs(lon: NDArray[np.float64], lat: NDArray[np.float64], crs: str | None) -> str:
    if crs is not None and crs not in {"utm", "cgcs2000_gk3"}:
        import pyproj

        try:
            parsed = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            msg = f"unknown CRS {crs!r}: use utm, cgcs2000_gk3 or EPSG:<code>"
            raise NetworkError(msg) from None
        if parsed.is_geographic:
            msg = f"the network CRS must be projected (metres), got {crs}"
            raise NetworkError(msg)
        return str(crs)
    from deyang_geo.core.crs import local_metric_crs

    return local_metric_crs(lon, lat, kind="cgcs2000_gk3" if crs == "cgcs2000_gk3" else "utm")


def _project_xy(lon: NDArray[np.float64], lat: NDArray[np.float64],
                crs: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    import pyproj

    tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _edge_geometries(edges: _Edges, iu: NDArray[np.int64], iv: NDArray[np.int64],
                     x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.object_]:
    """LineStrings u -> v through the merged nodes, built in one vectorised call."""
    n_edges = len(edges.u)
    counts = np.diff(edges.ptr)
    owner = np.repeat(np.arange(n_edges), counts)
    seq = np.empty(len(edges.seg) + n_edges, dtype=np.int64)
    seq[np.arange(len(edges.seg)) + owner] = iu[edges.seg]
    seq[edges.ptr[1:] + np.arange(n_edges)] = iv[edges.seg[edges.ptr[1:] - 1]]
    line = np.repeat(np.arange(n_edges), counts + 1)
    return np.asarray(shapely.linestrings(x[seq], y[seq], indices=line), dtype=object)


def _keep_tags() -> tuple[str, ...]:
    import osmnx as ox

    return tuple(dict.fromkeys([*ox.settings.useful_tags_way, "name", "highway", "maxspeed"]))


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
    mode_t = _check_modes(modes)
    speeds = _mode_speeds(mode_t, speeds_kmh)
    file = Path(path)
    poly = read_boundary(boundary) if boundary is not None else None
    bbox = None
    if poly is not None:
        buffered = _buffer_wgs84(poly, _BOUNDARY_BUFFER_M)
        bbox = buffered.bounds
    keep = _keep_tags()
    if poly is not None and file.is_file():
        _check_extent(file, file_bounds(file), poly)  # before reading a whole province
    data = read_highways(file, keep_tags=keep, bbox=bbox)
    if poly is not None:
        _check_extent(file, data.bounds or _node_bounds(data), poly)
    G = _build_graph(data, modes=mode_t, speeds=speeds, boundary=poly, simplify=simplify,
                     retain_all=retain_all, drop_disconnected=drop_disconnected, crs=crs,
                     source=str(file), keep_tags=keep, exclude_trunk=exclude_trunk,
                     min_piece_km=min_piece_km, keep_near=keep_near, keep_near_m=keep_near_m)
    if dem is not None:
        walk_modes = tuple(m for m in mode_t if MODE_KIND[m] == "walk")
        if walk_modes:
            G = add_slope_walk_times(G, dem, modes=walk_modes)
    return G


def _node_bounds(data: HighwayData) -> tuple[float, float, float, float] | None:
    if not len(data.node_ids):
        return None
    return (float(data.node_lon.min()), float(data.node_lat.min()), float(data.node_lon.max()),
            float(data.node_lat.max()))


def _check_extent(file: Path, bounds: tuple[float, float, float, float] | None,
                  poly: BaseGeometry) -> None:
    if bounds is None:
        return
    extent = shapely.box(*bounds)
    if not extent.intersects(poly):
        w, s, e, n = bounds
        pw, ps, pe, pn = poly.bounds
        msg = (f"the study area ({pw:.4f}, {ps:.4f}, {pe:.4f}, {pn:.4f}) lies outside the "
               f"file's extent ({w:.4f}, {s:.4f}, {e:.4f}, {n:.4f}): use an extract that "
               "covers it")
        raise NetworkError(Problem(msg, file=str(file)))


# --------------------------------------------------------------------------- online (osmnx)
@contextlib.contextmanager
def _osmnx_cache() -> Iterator[None]:
    import osmnx as ox

    old = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(settings.cache_folder)
    try:
        yield
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = old


def _graph_from_overpass(
    polygon: BaseGeometry,
    *,
    source: str,
    modes: Iterable[str] | str | None,
    simplify: bool,
    retain_all: bool,
    drop_disconnected: bool,
    crs: str | None,
    speeds_kmh: Mapping[str, float] | None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download with osmnx (Overpass) and build: what the online sources funnel into."""
    from osmnx import _overpass

    mode_t = _check_modes(modes)
    speeds = _mode_speeds(mode_t, speeds_kmh)
    buffered = _buffer_wgs84(polygon, _BOUNDARY_BUFFER_M)
    with _osmnx_cache():
        try:
            responses = list(_overpass._download_overpass_network(buffered, "all", None))
        except Exception as exc:
            msg = f"{source}: could not download the network from Overpass ({exc})"
            raise NetworkError(msg) from exc
    keep = _keep_tags()
    data = highways_from_overpass(responses, keep_tags=keep)
    return _build_graph(data, modes=mode_t, speeds=speeds, boundary=polygon, simplify=simplify,
                        retain_all=retain_all, drop_disconnected=drop_disconnected, crs=crs,
                        source=source, keep_tags=keep, exclude_trunk=exclude_trunk,
                        min_piece_km=min_piece_km, keep_near=keep_near,
                        keep_near_m=keep_near_m)


def graph_from_place(
    query: str,
    *,
    modes: Iterable[str] | str | None = None,
    which_result: int | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download the network of a named place (Chinese or English) through osmnx, with cache.

    Parameters
    ----------
    query
        A place name Nominatim resolves to a polygon, e.g. ``"旌阳区, 德阳市"``.
    modes, simplify, retain_all, drop_disconnected, crs, speeds_kmh, exclude_trunk
        As in :func:`graph_from_osm_file`.
    min_piece_km, keep_near, keep_near_m
        As in :func:`graph_from_osm_file`.
    which_result
        Which geocoding result to use (osmnx's meaning); default the first polygon.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.

    Raises
    ------
    NetworkError
        If the place cannot be resolved to a polygon or has no roads.
    """
    import osmnx as ox

    if not isinstance(query, str) or not query.strip():
        msg = f"a place name must be a non-empty string, got {query!r}"
        raise NetworkError(msg)
    with _osmnx_cache():
        try:
            gdf = ox.geocode_to_gdf(query, which_result=which_result)
        except Exception as exc:
            msg = f"the place {query!r} cannot be resolved to a boundary ({exc})"
            raise NetworkError(msg) from exc
    polygon = read_boundary(gdf.geometry.union_all())
    return _graph_from_overpass(polygon, source=f"OpenStreetMap place {query!r}", modes=modes,
                                simplify=simplify, retain_all=retain_all,
                                drop_disconnected=drop_disconnected, crs=crs,
                                speeds_kmh=speeds_kmh, exclude_trunk=exclude_trunk,
                                min_piece_km=min_piece_km, keep_near=keep_near,
                                keep_near_m=keep_near_m)


def graph_from_polygon(
    polygon: Boundary,
    *,
    modes: Iterable[str] | str | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download the network inside a polygon (WGS-84, or a boundary file) through osmnx.

    Parameters
    ----------
    polygon
        The study area: a shapely (Multi)Polygon in WGS-84 degrees or a boundary file.
    modes, simplify, retain_all, drop_disconnected, crs, speeds_kmh, exclude_trunk
        As in :func:`graph_from_osm_file`.
    min_piece_km, keep_near, keep_near_m
        As in :func:`graph_from_osm_file`.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.
    """
    poly = read_boundary(polygon)
    return _graph_from_overpass(poly, source="OpenStreetMap polygon", modes=modes,
                                simplify=simplify, retain_all=retain_all,
                                drop_disconnected=drop_disconnected, crs=crs,
                                speeds_kmh=speeds_kmh, exclude_trunk=exclude_trunk,
                                min_piece_km=min_piece_km, keep_near=keep_near,
                                keep_near_m=keep_near_m)


def graph_from_bbox(
    bbox: Sequence[float],
    *,
    modes: Iterable[str] | str | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download the network inside a bounding box (west, south, east, north) through osmnx.

    Parameters
    ----------
    bbox
        ``(west, south, east, north)`` in WGS-84 degrees (osmnx's order).
    modes, simplify, retain_all, drop_disconnected, crs, speeds_kmh, exclude_trunk
        As in :func:`graph_from_osm_file`.
    min_piece_km, keep_near, keep_near_m
        As in :func:`graph_from_osm_file`.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.
    """
    poly = _check_bbox(bbox)
    west, south, east, north = poly.bounds
    return _graph_from_overpass(poly, source=f"OpenStreetMap bbox {west},{south},{east},{north}",
                                modes=modes, simplify=simplify, retain_all=retain_all,
                                drop_disconnected=drop_disconnected, crs=crs,
                                speeds_kmh=speeds_kmh, exclude_trunk=exclude_trunk,
                                min_piece_km=min_piece_km, keep_near=keep_near,
                                keep_near_m=keep_near_m)


# --------------------------------------------------------------------------- saved graphs
_JSON_GRAPH_ATTRS = ("modes", "speeds_kmh", "components", "disconnected", "dropped_pieces")
_GPKG_META_PREFIX = "deyang_geo__"


def save_graph(G: nx.MultiDiGraph, path: str | os.PathLike[str]) -> Path:
    """Save a network as GraphML (``.graphml``) or GeoPackage (``.gpkg``), atomically.

    Parameters
    ----------
    G
        A road network graph.
    path
        Destination; the suffix chooses the format.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    NetworkError
        If the suffix is neither ``.graphml`` nor ``.gpkg``.
    """
    import osmnx as ox

    from deyang_geo.io.tables import atomic_path

    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        msg = f"{final}: save a network as .graphml or .gpkg"
        raise NetworkError(msg)
    H = G.copy()
    for key in _JSON_GRAPH_ATTRS:
        if key in H.graph:
            H.graph[key] = json.dumps(_jsonable(H.graph[key]), ensure_ascii=False)
    with atomic_path(final) as tmp:
        if suffix == ".graphml":
            ox.save_graphml(H, tmp)
        else:
            _save_gpkg(H, tmp)
    return final


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _save_gpkg(H: nx.MultiDiGraph, tmp: Path) -> None:
    import osmnx as ox

    nodes, edges = ox.graph_to_gdfs(H)
    meta = {f"{_GPKG_META_PREFIX}{k}": str(v) for k, v in H.graph.items()}
    nodes = ox.io._stringify_nonnumeric_cols(nodes)
    edges = ox.io._stringify_nonnumeric_cols(edges)
    from deyang_geo.io.tables import fixed_file_dates

    with fixed_file_dates():
        nodes.to_file(tmp, layer="nodes", driver="GPKG", index=True, layer_metadata=meta)
        edges.to_file(tmp, layer="edges", driver="GPKG", index=True)


def load_graph(path: str | os.PathLike[str]) -> nx.MultiDiGraph:
    """Load a network saved by :func:`save_graph` (GraphML or GeoPackage).

    Parameters
    ----------
    path
        A ``.graphml`` or ``.gpkg`` file.

    Returns
    -------
    networkx.MultiDiGraph
        The graph, with per-mode travel times, lengths and coordinates as floats and
        ``G.graph["modes"]`` a tuple.

    Raises
    ------
    NetworkError
        If the file is missing or not a saved network.
    """
    file = Path(path)
    if not file.is_file():
        raise NetworkError(Problem("the network file does not exist", file=str(file)))
    suffix = file.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        msg = "not a saved network: use .graphml or .gpkg"
        raise NetworkError(Problem(msg, file=str(file)))
    try:
        G = _load_graphml(file) if suffix == ".graphml" else _load_gpkg(file)
    except Exception as exc:
        msg = f"cannot read the saved network ({type(exc).__name__}: {exc})"
        raise NetworkError(Problem(msg, file=str(file))) from None
    for key in _JSON_GRAPH_ATTRS:
        value = G.graph.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                G.graph[key] = json.loads(value)
    if isinstance(G.graph.get("modes"), list):
        G.graph["modes"] = tuple(G.graph["modes"])
    if "crs" not in G.graph:
        raise NetworkError(Problem("the saved network has no CRS", file=str(file)))
    return G


def _float_edge_attrs() -> dict[str, Any]:
    types: dict[str, Any] = {f"travel_time_{m}": float for m in MODE_KIND}
    types.update({"length": float, "grade": float, "grade_abs": float})
    return types


def _load_graphml(file: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    return ox.load_graphml(
        file,
        node_dtypes={"lon": float, "lat": float, "elevation": float},
        edge_dtypes=_float_edge_attrs(),
        graph_dtypes={"simplified": ox.io._convert_bool_string},
    )


def _load_gpkg(file: Path) -> nx.MultiDiGraph:
    import geopandas as gpd
    import osmnx as ox
    import pyogrio

    nodes = gpd.read_file(file, layer="nodes").set_index("osmid")
    edges = gpd.read_file(file, layer="edges").set_index(["u", "v", "key"])
    meta = pyogrio.read_info(file, layer="nodes").get("layer_metadata") or {}
    graph_attrs: dict[str, Any] = {k.removeprefix(_GPKG_META_PREFIX): v for k, v in meta.items()
                                   if k.startswith(_GPKG_META_PREFIX)}
    if "simplified" in graph_attrs:
        graph_attrs["simplified"] = graph_attrs["simplified"] == "True"
    graph_attrs.setdefault("crs", str(nodes.crs) if nodes.crs is not None else None)
    for col in edges.columns:
        if col != "geometry" and edges[col].dtype == object:
            edges[col] = edges[col].map(_literal_list)
    if "osmid" in edges:
        edges["osmid"] = edges["osmid"].map(_literal)
    for col in ("oneway", "reversed"):
        if col in edges:
            edges[col] = edges[col].map(_literal_bool)
    for col, kind in _float_edge_attrs().items():
        if col in edges:
            edges[col] = edges[col].astype(kind)
    G = ox.graph_from_gdfs(nodes, edges, graph_attrs=graph_attrs)
    for _, _, d in G.edges(data=True):
        for key in [k for k, val in d.items() if _is_missing(val)]:
            del d[key]
    return G


def _literal(value: Any) -> Any:
    if isinstance(value, str) and (value.startswith("[") or value.lstrip("-").isdigit()):
        with contextlib.suppress(ValueError, SyntaxError):
            return ast.literal_eval(value)
    return value


def _literal_list(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        return _literal(value)
    return value


def _literal_bool(value: Any) -> Any:
    value = _literal(value) if isinstance(value, str) and value.startswith("[") else value
    if isinstance(value, list):
        return [_literal_bool(v) for v in value]
    if isinstance(value, str) and value in {"True", "False"}:
        return value == "True"
    return value


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return isinstance(value, float) and math.isnan(value)


def read_network(
    path: str | os.PathLike[str],
    *,
    modes: Iterable[str] | str | None = None,
    boundary: Boundary | None = None,
) -> nx.MultiDiGraph:
    """Read a network from an OSM file or a saved graph, choosing by the file name.

    This is what the commands' ``--network NET`` option calls.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.osm.pbf`` (built with default options) or a
        saved ``.graphml`` / ``.gpkg``.
    modes
        Modes needed; a saved graph must carry them (default: all modes of the source).
    boundary
        Study area (WGS-84 polygon or file) to clip to.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.

    Raises
    ------
    NetworkError
        If the file type is unknown, or a saved graph lacks a requested mode.
    """
    file = Path(path)
    if is_osm_path(file):
        return graph_from_osm_file(file, modes=modes, boundary=boundary)
    if file.suffix.lower() not in GRAPH_SUFFIXES:
        msg = ("unknown network file type: use .osm, .osm.bz2, .osm.gz, .osm.pbf, .graphml or "
               ".gpkg")
        raise NetworkError(Problem(msg, file=str(file)))
    G = load_graph(file)
    if modes is not None:
        wanted = _check_modes(modes)
        have = tuple(G.graph.get("modes", ()))
        missing = [m for m in wanted if m not in have]
        if missing:
            msg = (f"the saved network has no travel times for {', '.join(missing)} "
                   f"(it has {', '.join(have) or 'none'}): rebuild it with these modes")
            raise NetworkError(Problem(msg, file=str(file)))
    if boundary is not None:
        G = clip_to_boundary(G, boundary)
    return G


def clip_to_boundary(G: nx.MultiDiGraph, boundary: Boundary) -> nx.MultiDiGraph:
    """Return the part of a road network graph whose nodes lie inside a study area.

    Parameters
    ----------
    G
        A road network graph (nodes carry ``lon``/``lat``); not modified.
    boundary
        The study area: a WGS-84 (Multi)Polygon or a boundary file.

    Returns
    -------
    networkx.MultiDiGraph
        The induced subgraph (a copy).

    Raises
    ------
    NetworkError
        If no road is left inside the study area.
    """
    polygon = read_boundary(boundary)
    ids = list(G.nodes)
    lon = np.fromiter((G.nodes[n]["lon"] for n in ids), dtype=np.float64, count=len(ids))
    lat = np.fromiter((G.nodes[n]["lat"] for n in ids), dtype=np.float64, count=len(ids))
    inside = shapely.contains_xy(polygon, lon, lat)
    H = G.subgraph([n for n, ok in zip(ids, inside.tolist(), strict=True) if ok]).copy()
    if H.number_of_edges() == 0:
        msg = f"{G.graph.get('source', 'the network')}: no roads inside the study area"
        raise NetworkError(msg)
    return H


# --------------------------------------------------------------------------- slope
def tobler_factor(grade: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Tobler's hiking function relative to flat ground: 1 at grade 0, < 1 uphill.

    ``exp(-3.5 |g + 0.05|) / exp(-3.5 * 0.05)``: the ratio of Tobler's speed on grade ``g``
    (rise over run, signed in the direction of travel) to his speed on the flat, so that flat
    ground keeps each mode's own walking speed. Gentle descents (peak at ``g = -0.05``) are
    slightly faster than the flat.

    Parameters
    ----------
    grade
        Rise over run (0.1 is 10 %), positive uphill.

    Returns
    -------
    numpy.ndarray
        The speed factor.
    """
    g = np.asarray(grade, dtype=np.float64)
    return np.asarray(np.exp(-3.5 * np.abs(g + 0.05)) / np.exp(-3.5 * 0.05), dtype=np.float64)


def _sample_dem(dem: Any, transform: DemTransform | None, dem_crs: str | None,
                G: nx.MultiDiGraph, ids: list[Any]) -> NDArray[np.float64]:
    """Bilinear DEM elevations at the nodes (NaN outside the raster or on no-data)."""
    import pyproj

    x = np.fromiter((G.nodes[n]["x"] for n in ids), dtype=np.float64, count=len(ids))
    y = np.fromiter((G.nodes[n]["y"] for n in ids), dtype=np.float64, count=len(ids))
    nodata: float | None = None
    if isinstance(dem, (str, os.PathLike)):
        try:
            import rasterio
        except ImportError as exc:  # pragma: no cover - depends on the installation
            msg = ("reading a DEM raster needs rasterio: pip install 'deyang-geo[dem]'")
            raise ImportError(msg) from exc
        try:
            with rasterio.open(dem) as src:
                array = src.read(1).astype(np.float64)
                affine = tuple(src.transform)[:6]
                raster_crs = src.crs.to_string() if src.crs is not None else None
                nodata = src.nodata
        except rasterio.errors.RasterioIOError as exc:
            raise NetworkError(Problem(f"cannot read the DEM ({exc})", file=str(dem))) from None
    else:
        array = np.asarray(dem, dtype=np.float64)
        if transform is None:
            msg = "an in-memory DEM needs its affine transform (a, b, c, d, e, f)"
            raise NetworkError(msg)
        affine = tuple(float(t) for t in tuple(transform)[:6])
        raster_crs = dem_crs
    if array.ndim != 2:
        msg = f"the DEM must be a 2-D array, got shape {array.shape}"
        raise NetworkError(msg)
    if raster_crs is not None and pyproj.CRS.from_user_input(raster_crs) != \
            pyproj.CRS.from_user_input(G.graph["crs"]):
        tr = pyproj.Transformer.from_crs(G.graph["crs"], raster_crs, always_xy=True)
        x, y = (np.asarray(t, dtype=np.float64) for t in tr.transform(x, y))
    a, b, c, d, e, f = affine
    det = a * e - b * d
    col = (e * (x - c) - b * (y - f)) / det - 0.5
    row = (-d * (x - c) + a * (y - f)) / det - 0.5
    if nodata is not None:
        array = np.where(array == nodata, np.nan, array)
    h, w = array.shape
    c0 = np.floor(col).astype(np.int64)
    r0 = np.floor(row).astype(np.int64)
    fc = col - c0
    fr = row - r0
    c0c, c1c = np.clip(c0, 0, w - 1), np.clip(c0 + 1, 0, w - 1)
    r0c, r1c = np.clip(r0, 0, h - 1), np.clip(r0 + 1, 0, h - 1)
    z = (array[r0c, c0c] * (1 - fc) * (1 - fr) + array[r0c, c1c] * fc * (1 - fr)
         + array[r1c, c0c] * (1 - fc) * fr + array[r1c, c1c] * fc * fr)
    outside = (col < -0.5) | (row < -0.5) | (col > w - 0.5) | (row > h - 0.5)
    z[outside] = np.nan
    return np.asarray(z, dtype=np.float64)


def add_slope_walk_times(
    G: nx.MultiDiGraph,
    dem: str | os.PathLike[str] | NDArray[np.float64],
    *,
    modes: Sequence[str] = ("walk", "walk_elderly"),
    transform: DemTransform | None = None,
    dem_crs: str | None = None,
) -> nx.MultiDiGraph:
    """Return a copy of ``G`` whose walking times follow the slope (Tobler's hiking function).

    Node elevations are sampled from the DEM (bilinear); each edge's grade is the elevation
    difference from u to v over its length; its walking time becomes
    ``length / (speed * tobler_factor(grade))``, so flat ground keeps exactly the mode's speed,
    uphill is slower and the two directions of a sloping street differ.

    Parameters
    ----------
    G
        A road network graph (not modified).
    dem
        A raster file (rasterio, the ``dem`` extra) or a 2-D array of elevations in metres.
    modes
        Walking modes to adjust; each must be in ``G.graph["modes"]``.
    transform
        For an array: its affine transform ``(a, b, c, d, e, f)`` (rasterio / affine order:
        ``x = a*col + b*row + c``, ``y = d*col + e*row + f``).
    dem_crs
        For an array: its CRS; default the graph's CRS.

    Returns
    -------
    networkx.MultiDiGraph
        The copy, with node ``elevation``, edge ``grade`` and adjusted ``travel_time_{mode}``;
        edges touching a node without elevation keep their flat time (logged).

    Raises
    ------
    NetworkError
        If a mode is not a walking mode of the graph or the DEM is unusable.
    """
    have = tuple(G.graph.get("modes", ()))
    bad = [m for m in modes if MODE_KIND.get(m) != "walk" or m not in have]
    if bad:
        msg = (f"slope-aware times apply to walking modes the graph has ({', '.join(have)}); "
               f"cannot use {', '.join(bad)}")
        raise NetworkError(msg)
    speeds = G.graph.get("speeds_kmh", {})
    H = G.copy()
    ids = list(H.nodes)
    z = _sample_dem(dem, transform, dem_crs, H, ids)
    for n, zz in zip(ids, z.tolist(), strict=True):
        H.nodes[n]["elevation"] = zz
    pos = {n: i for i, n in enumerate(ids)}
    edges = list(H.edges(keys=True, data=True))
    m = len(edges)
    iu = np.fromiter((pos[e[0]] for e in edges), dtype=np.int64, count=m)
    iv = np.fromiter((pos[e[1]] for e in edges), dtype=np.int64, count=m)
    length = np.fromiter((d["length"] for *_, d in edges), dtype=np.float64, count=m)
    grade = (z[iv] - z[iu]) / length
    known = np.isfinite(grade)
    if not known.all():
        log.warning("%d edges touch nodes outside the DEM or on no-data: kept flat times",
                    int((~known).sum()))
    factor = np.where(known, tobler_factor(np.where(known, grade, 0.0)), 1.0)
    for mode in modes:
        attr = f"travel_time_{mode}"
        speed_ms = float(speeds[mode]) / 3.6
        seconds = length / (speed_ms * factor)
        for (_, _, _, d), s in zip(edges, seconds.tolist(), strict=True):
            if attr in d:
                d[attr] = s
    for (_, _, _, d), g, ok in zip(edges, grade.tolist(), known.tolist(), strict=True):
        if ok:
            d["grade"] = round(g, 6)
            d["grade_abs"] = round(abs(g), 6)
    H.graph["slope"] = "Tobler hiking function, normalised to each walking mode's flat speed"
    return H


# --------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class NetworkSummary:
    """What a planner needs to know about a road network before using it.

    Attributes
    ----------
    source
        Where the network came from.
    crs
        Its projected CRS.
    nodes, edges
        Node and directed-edge counts.
    modes
        Travel modes with travel times.
    street_km
        Kilometres of street each mode may use (a two-way street counted once).
    components
        Strongly connected pieces per mode.
    disconnected
        Per mode: pieces apart from the main network, the directed edges and km of the small
        ones (under ``min_piece_km``), whether and how many of those were dropped.
    bbox
        (west, south, east, north) in WGS-84 degrees.
    dropped_pieces
        Pieces not connected to the main network (for any mode) dropped while building, their
        node count, and the small pieces kept because people or facilities lie near them:
        ``{"pieces": p, "nodes": n, "kept_near": k}``.
    """

    source: str
    crs: str
    nodes: int
    edges: int
    modes: tuple[str, ...]
    street_km: dict[str, float] = field(default_factory=dict)
    components: dict[str, int] = field(default_factory=dict)
    disconnected: dict[str, dict[str, Any]] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] = (math.nan, math.nan, math.nan, math.nan)
    dropped_pieces: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        """Return a few readable lines: counts, km per mode, pieces, extent."""
        w, s, e, n = self.bbox
        lines = [
            f"network from {self.source}",
            f"  {self.nodes:,} nodes, {self.edges:,} directed edges, CRS {self.crs}",
            f"  extent W {w:.5f}  S {s:.5f}  E {e:.5f}  N {n:.5f} (WGS-84)",
        ]
        if self.dropped_pieces.get("pieces"):
            lines.append(f"  dropped {self.dropped_pieces['pieces']} piece(s) not connected to "
                         f"the main network ({self.dropped_pieces.get('nodes', 0):,} nodes)")
        if self.dropped_pieces.get("kept_near"):
            lines.append(f"  kept {self.dropped_pieces['kept_near']} small piece(s) because "
                         "people or facilities lie near them")
        for mode in self.modes:
            info = self.disconnected.get(mode, {})
            pieces = int(info.get("pieces", 0))
            note = ""
            if pieces:
                dropped = int(info.get("dropped_pieces", pieces if info.get("dropped") else 0))
                parts = []
                if pieces > dropped:
                    parts.append(f"kept {pieces - dropped} disconnected piece(s)")
                if info.get("kept_near"):
                    parts.append(f"{int(info['kept_near'])} of them small but holding people "
                                 "or facilities")
                if dropped:
                    parts.append(f"dropped {dropped} small disconnected piece(s), "
                                 f"{info.get('km', 0):.2f} km")
                note = "; " + ", ".join(parts)
            lines.append(f"  {mode:<13}{self.street_km.get(mode, 0.0):10.2f} km of street, "
                         f"{self.components.get(mode, 0)} component(s){note}")
        return "\n".join(lines)


def _street_km(iu: NDArray[np.int64], iv: NDArray[np.int64], length: NDArray[np.float64],
               sel: NDArray[np.bool_]) -> float:
    """Km of street among the selected directed edges, a street usable both ways counted once."""
    import pandas as pd

    df = pd.DataFrame({"a": iu[sel], "b": iv[sel], "cm": np.round(length[sel] * 100)})
    rev = df.rename(columns={"a": "b", "b": "a"}).drop_duplicates()
    twins = df.merge(rev, on=["a", "b", "cm"], how="left", indicator=True)
    is_twin = (twins["_merge"] == "both").to_numpy()
    lengths = length[sel]
    total = lengths[~is_twin].sum() + lengths[is_twin].sum() / 2.0
    return round(float(total) / 1000.0, 3)


def network_summary(G: nx.MultiDiGraph) -> NetworkSummary:
    """Summarise a road network graph.

    Parameters
    ----------
    G
        A road network graph.

    Returns
    -------
    NetworkSummary
        Counts, km of street per mode, components, dropped pieces, extent and CRS.
    """
    modes = tuple(G.graph.get("modes", ()))
    edges, iu, iv, n = _edge_arrays(G)
    m = len(edges)
    length = np.fromiter((float(d.get("length", 0.0)) for *_, d in edges), dtype=np.float64,
                         count=m)
    street_km: dict[str, float] = {}
    components: dict[str, int] = {}
    for mode in modes:
        attr = f"travel_time_{mode}"
        sel = np.fromiter((attr in d for *_, d in edges), dtype=bool, count=m)
        components[mode] = _mode_components(iu, iv, n, sel)[0]
        street_km[mode] = _street_km(iu, iv, length, sel)
    lon = np.fromiter((d.get("lon", np.nan) for d in G.nodes.values()), dtype=np.float64,
                      count=len(G))
    lat = np.fromiter((d.get("lat", np.nan) for d in G.nodes.values()), dtype=np.float64,
                      count=len(G))
    bbox = ((float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)),
             float(np.nanmax(lat))) if len(G) and np.isfinite(lon).any()
            else (math.nan, math.nan, math.nan, math.nan))
    return NetworkSummary(
        source=str(G.graph.get("source", "unknown")),
        crs=str(G.graph.get("crs")),
        nodes=len(G),
        edges=m,
        modes=modes,
        street_km=street_km,
        components=components,
        disconnected=dict(G.graph.get("disconnected", {})),
        bbox=bbox,
        dropped_pieces={k: int(v) for k, v in dict(G.graph.get("dropped_pieces", {})).items()},
    )


__all__ = [
    "DRIVE_SPEED_LABEL",
    "MODE_KIND",
    "NetworkSummary",
    "add_slope_walk_times",
    "clip_to_boundary",
    "graph_from_bbox",
    "graph_from_osm_file",
    "graph_from_place",
    "graph_from_polygon",
    "load_graph",
    "network_summary",
    "osm_read_bbox",
    "parse_maxspeed_kmh",
    "read_boundary",
    "read_network",
    "save_graph",
    "tobler_factor",
    "way_modes",
]
