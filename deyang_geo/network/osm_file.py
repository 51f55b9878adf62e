"""Stream the highway ways and their node locations out of OSM files and Overpass responses."""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deyang_geo.core.errors import NetworkError, Problem

log = logging.getLogger("deyang_geo")

#: File name endings the offline reader accepts (pyosmium reads all of them natively).
OSM_SUFFIXES: tuple[str, ...] = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")

#: Way tags kept besides osmnx's ``useful_tags_way``: the ones travel-mode rules read.
RULE_TAGS: tuple[str, ...] = (
    "highway", "area", "access", "foot", "bicycle", "vehicle", "motor_vehicle", "motorcar",
    "oneway", "oneway:bicycle", "junction", "service", "cycleway",
    "motorroad", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right",
)


@dataclass
class HighwayData:
    """Highway ways and the locations of their nodes, in file order.

    Attributes
    ----------
    way_ids
        OSM id of each way.
    way_tags
        The tags of each way (only the keys the network needs).
    way_nodes
        The node ids of each way, in way order.
    node_ids
        Sorted ids of every node with a known location.
    node_lon, node_lat
        WGS-84 location of each node in ``node_ids``.
    bounds
        The file's declared (west, south, east, north) extent, if it has one.
    """

    way_ids: list[int] = field(default_factory=list)
    way_tags: list[dict[str, str]] = field(default_factory=list)
    way_nodes: list[list[int]] = field(default_factory=list)
    node_ids: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    node_lon: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    node_lat: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    bounds: tuple[float, float, float, float] | None = None


def is_osm_path(path: str | os.PathLike[str]) -> bool:
    """Return True when the file name ends like an OSM data file."""
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in OSM_SUFFIXES)


def file_bounds(path: str | os.PathLike[str]) -> tuple[float, float, float, float] | None:
    """Return the (west, south, east, north) extent an OSM file declares, if any.

    Parameters
    ----------
    path
        An OSM file.

    Returns
    -------
    tuple of float or None
        The header's bounding box, or None when the file declares none or cannot be read.
    """
    import osmium

    try:
        box = osmium.io.Reader(str(path), osmium.osm.NOTHING).header().box()
    except RuntimeError:
        return None
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _kept_keys(extra: Iterable[str]) -> frozenset[str]:
    return frozenset(RULE_TAGS) | frozenset(extra)


def read_highways(
    path: str | os.PathLike[str],
    *,
    keep_tags: Iterable[str] = (),
    bbox: tuple[float, float, float, float] | None = None,
) -> HighwayData:
    """Read every way with a ``highway`` tag and its nodes' locations from an OSM file.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.
    keep_tags
        Way tag keys to keep besides the ones the travel-mode rules need.
    bbox
        (west, south, east, north) in degrees: keep only ways with a node inside it.

    Returns
    -------
    HighwayData
        The ways in file order and the locations of the nodes they use.

    Raises
    ------
    NetworkError
        If the file does not exist or is not an OSM file pyosmium can read.
    """
    import osmium

    file = Path(path)
    if not file.is_file():
        raise NetworkError(Problem("the OSM file does not exist", file=str(file)))
    keys = _kept_keys(keep_tags)
    data = HighwayData()
    # node refs and fixed-point locations of every way, flat (no Python object per node
    # kept): one pass in Python over the refs, the rest on arrays
    refs, xs, ys = array("q"), array("q"), array("q")
    counts = array("q")
    entities = osmium.osm.NODE | osmium.osm.WAY
    try:
        processor = (
            osmium.FileProcessor(str(file), entities)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        box = processor.header.box()
        if box.valid():
            data.bounds = (box.bottom_left.lon, box.bottom_left.lat,
                           box.top_right.lon, box.top_right.lat)
        for obj in processor:
            way: Any = obj
            before = len(refs)
            for nd in way.nodes:
                loc = nd.location
                refs.append(nd.ref)
                xs.append(loc.x)
                ys.append(loc.y)
            counts.append(len(refs) - before)
            data.way_ids.append(way.id)
            data.way_tags.append({t.k: t.v for t in way.tags if t.k in keys})
    except RuntimeError as exc:
        problem = Problem(f"not an OSM file that can be read ({exc})", file=str(file))
        raise NetworkError(problem) from None
    _set_way_nodes(data, np.frombuffer(refs, dtype=np.int64),
                   np.frombuffer(xs, dtype=np.int64), np.frombuffer(ys, dtype=np.int64),
                   counts=np.frombuffer(counts, dtype=np.int64), bbox=bbox)
    log.debug("read %d highway ways and %d nodes from %s", len(data.way_ids),
              len(data.node_ids), file)
    return data


#: libosmium's fixed-point coordinate scale (``Location.lon == Location.x / 1e7`` exactly).
_COORDINATE_PRECISION = 10_000_000


def _set_way_nodes(data: HighwayData, refs: NDArray[np.int64], x: NDArray[np.int64],
                   y: NDArray[np.int64], *, counts: NDArray[np.int64],
                   bbox: tuple[float, float, float, float] | None) -> None:
    """Set the ways' node lists and the node locations from the flat arrays of the read.

    A location is valid as libosmium's ``Location.valid()`` says; with ``bbox``, ways without
    a valid node inside it are left out with their nodes, as the reader always did.
    """
    scale = _COORDINATE_PRECISION
    valid = (x >= -180 * scale) & (x <= 180 * scale) & (y >= -90 * scale) & (y <= 90 * scale)
    lon = x / float(scale)
    lat = y / float(scale)
    ends = np.cumsum(counts)
    starts = ends - counts
    if bbox is not None:
        west, south, east, north = bbox
        inside = valid & (west <= lon) & (lon <= east) & (south <= lat) & (lat <= north)
        hits = np.concatenate([[0], np.cumsum(inside, dtype=np.int64)])
        way_ok = hits[ends] > hits[starts]
        keep = np.flatnonzero(way_ok).tolist()
        data.way_ids = [data.way_ids[i] for i in keep]
        data.way_tags = [data.way_tags[i] for i in keep]
        node_ok = np.repeat(way_ok, counts)
        refs, valid = refs[node_ok], valid[node_ok]
        lon, lat = lon[node_ok], lat[node_ok]
        counts = counts[way_ok]
        ends = np.cumsum(counts)
        starts = ends - counts
    flat = refs.tolist()
    data.way_nodes = [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    ids, first = np.unique(refs[valid], return_index=True)
    data.node_ids = ids.astype(np.int64)
    data.node_lon = np.ascontiguousarray(lon[valid][first], dtype=np.float64)
    data.node_lat = np.ascontiguousarray(lat[valid][first], dtype=np.float64)


def _set_locations(data: HighwayData, locations: Mapping[int, tuple[float, float]]) -> None:
    n = len(locations)
    ids = np.fromiter(locations.keys(), dtype=np.int64, count=n)
    coords = np.fromiter((c for xy in locations.values() for c in xy), dtype=np.float64,
                         count=2 * n).reshape(n, 2)
    order = np.argsort(ids, kind="stable")
    data.node_ids = ids[order]
    data.node_lon = coords[order, 0].copy()
    data.node_lat = coords[order, 1].copy()


def highways_from_overpass(response_jsons: Iterable[Mapping[str, Any]], *,
                           keep_tags: Iterable[str] = ()) -> HighwayData:
    """Collect highway ways and node locations from Overpass API JSON responses.

    Parameters
    ----------
    response_jsons
        Overpass responses (``{"elements": [...]}``), as osmnx downloads them.
    keep_tags
        Way tag keys to keep besides the ones the travel-mode rules need.

    Returns
    -------
    HighwayData
        The ways (first occurrence of each id, in response order) and node locations.
    """
    keys = _kept_keys(keep_tags)
    data = HighwayData()
    locations: dict[int, tuple[float, float]] = {}
    seen: set[int] = set()
    for response in response_jsons:
        for element in response.get("elements", ()):
            kind = element.get("type")
            if kind == "node":
                locations[int(element["id"])] = (float(element["lon"]), float(element["lat"]))
            elif kind == "way":
                tags = element.get("tags", {})
                way_id = int(element["id"])
                if "highway" not in tags or way_id in seen:
                    continue
                seen.add(way_id)
                data.way_ids.append(way_id)
                data.way_tags.append({k: str(v) for k, v in tags.items() if k in keys})
                data.way_nodes.append([int(r) for r in element["nodes"]])
    _set_locations(data, locations)
    return data


__all__ = ["OSM_SUFFIXES", "HighwayData", "file_bounds", "highways_from_overpass",
           "is_osm_path", "read_highways"]
