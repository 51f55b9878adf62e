"""Stream the highway ways and their node locations out of OSM files and Overpass responses."""

from __future__ import annotations

import itertools
import logging
import os
import sys
import tempfile
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
    refs
        The node ids of every way, flat, in way order: way ``i`` uses
        ``refs[way_ptr[i]:way_ptr[i + 1]]``.
    way_ptr
        Where each way's node ids start in ``refs`` (one more entry than ways).
    node_ids
        Sorted ids of every node with a known location.
    node_lon, node_lat
        WGS-84 location of each node in ``node_ids``.
    bounds
        The file's declared (west, south, east, north) extent, if it has one.
    """

    way_ids: list[int] = field(default_factory=list)
    way_tags: list[dict[str, str]] = field(default_factory=list)
    refs: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    way_ptr: NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    node_ids: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    node_lon: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    node_lat: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    bounds: tuple[float, float, float, float] | None = None

    @property
    def way_nodes(self) -> list[list[int]]:
        """The node ids of each way as lists (built on each call from ``refs``)."""
        flat = self.refs.tolist()
        bounds = self.way_ptr.tolist()
        return [flat[a:b] for a, b in itertools.pairwise(bounds)]


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
    # the node refs of every way come from a second pass in libosmium (written as OPL text,
    # parsed with numpy), their locations as WKB written by libosmium (one hex string per way,
    # decoded a block of ways at a time): no Python step per node
    counts = array("q")
    coords = _WayCoordinates()
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
        wkb = osmium.geom.WKBFactory()
        all_nodes = osmium.geom.use_nodes.ALL
        for obj in processor:
            way: Any = obj
            nodes = way.nodes
            counts.append(len(nodes))
            try:
                coords.add_wkb(wkb.create_linestring(way, all_nodes), len(nodes))
            except (osmium.InvalidLocationError, RuntimeError):
                # a node without a location, or fewer than two nodes: node by node
                coords.add_nodes(nodes)
            data.way_ids.append(way.id)
            data.way_tags.append(_way_tags(way.tags, keys))
        refs, ref_counts = _way_refs(file)
    except RuntimeError as exc:
        problem = Problem(f"not an OSM file that can be read ({exc})", file=str(file))
        raise NetworkError(problem) from None
    way_counts = np.frombuffer(counts, dtype=np.int64)
    if not np.array_equal(ref_counts, way_counts):
        problem = Problem("the file's ways changed between two reads", file=str(file))
        raise NetworkError(problem)
    lon, lat = coords.arrays()
    _set_way_nodes(data, refs, lon, lat, counts=way_counts, bbox=bbox)
    log.debug("read %d highway ways and %d nodes from %s", len(data.way_ids),
              len(data.node_ids), file)
    return data


def _way_refs(file: Path) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the node ids of every highway way (flat, file order) and the count per way.

    libosmium filters the ways and writes them as OPL text (``w<id> ... N n1,n2,...``, one
    line per way, the node list last) to a temporary file; numpy parses the ids. The ways
    are those, and in the order, the reader's own pass sees.
    """
    import osmium

    with tempfile.TemporaryDirectory(prefix="deyang_geo_ways_") as tmp:
        opl = Path(tmp) / "ways.opl"
        writer = osmium.SimpleWriter(osmium.io.File(str(opl), "opl"))
        try:
            osmium.apply(str(file), osmium.filter.EntityFilter(osmium.osm.WAY),
                         osmium.filter.KeyFilter("highway"), writer)
        finally:
            writer.close()
        text = opl.read_bytes()
    fields = [line[line.rfind(b" N") + 2:] for line in text.split(b"\n")
              if line.startswith(b"w")]
    counts = np.fromiter((f.count(b",") + 1 if f else 0 for f in fields), dtype=np.int64,
                         count=len(fields))
    flat = b",".join(f for f in fields if f).replace(b"n", b"").decode("ascii")
    refs = (np.fromstring(flat, dtype=np.int64, sep=",") if flat
            else np.empty(0, dtype=np.int64))
    if len(refs) != int(counts.sum()):
        msg = "could not parse the node lists libosmium wrote"
        raise RuntimeError(msg)
    return refs, counts


def _way_tags(tags: Any, keys: frozenset[str]) -> dict[str, str]:
    """Return the kept tags of a way.

    The tag iterator is advanced exactly ``len(tags)`` times: letting it run out raises
    StopIteration from C++, which costs ten times the reading of the tags.
    """
    out: dict[str, str] = {}
    it = iter(tags)
    for _ in range(len(tags)):
        tag = next(it)
        if tag.k in keys:
            out[tag.k] = tag.v
    return out


#: libosmium's fixed-point coordinate scale (``Location.lon == Location.x / 1e7`` exactly).
_COORDINATE_PRECISION = 10_000_000

#: Ways whose WKB is decoded at once.
_WKB_BLOCK = 4096

#: The WKB header of a little-endian LineString (byte order, type 2), before its point count.
_WKB_LINESTRING = b"\x01\x02\x00\x00\x00"


class _WayCoordinates:
    """Longitudes and latitudes of the ways' nodes, gathered from libosmium's WKB.

    A location libosmium does not know comes out as its undefined coordinate divided by
    1e7 (outside -180..180), which the reader treats as unknown, as before.
    """

    def __init__(self) -> None:
        self._hex: list[str] = []
        self._counts: list[int] = []
        self._blocks: list[NDArray[np.float64]] = []

    def add_wkb(self, wkb_hex: str, count: int) -> None:
        self._hex.append(wkb_hex)
        self._counts.append(count)
        if len(self._hex) >= _WKB_BLOCK:
            self._flush()

    def add_nodes(self, nodes: Any) -> None:
        """Add a way node by node (``Location.x / 1e7``, as ``Location.lon`` computes it)."""
        scale = float(_COORDINATE_PRECISION)
        xy = array("d")
        for nd in nodes:
            loc = nd.location
            xy.append(loc.x / scale)
            xy.append(loc.y / scale)
        blob = _WKB_LINESTRING + len(nodes).to_bytes(4, "little") + _little_endian(xy)
        self.add_wkb(blob.hex(), len(nodes))

    def _flush(self) -> None:
        if not self._hex:
            return
        raw = np.frombuffer(bytes.fromhex("".join(self._hex)), dtype=np.uint8)
        counts = np.asarray(self._counts, dtype=np.int64)
        sizes = 9 + 16 * counts
        starts = np.cumsum(sizes) - sizes
        if len(raw) != int(sizes.sum()) or (len(raw) and (raw[starts] != 1).any()):
            msg = "unexpected WKB from libosmium (not little-endian 2-D LineStrings)"
            raise RuntimeError(msg)
        body = np.ones(len(raw), dtype=bool)
        head = (starts[:, None] + np.arange(9)).ravel()
        body[head] = False
        self._blocks.append(raw[body].view("<f8").astype(np.float64))
        self._hex.clear()
        self._counts.clear()

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return (lon, lat) of every way node, in way order."""
        self._flush()
        flat = np.concatenate(self._blocks) if self._blocks else np.empty(0)
        return flat[0::2].copy(), flat[1::2].copy()


def _little_endian(values: array[float]) -> bytes:
    if sys.byteorder != "little":
        values = array("d", values)
        values.byteswap()
    return values.tobytes()


def _set_way_nodes(data: HighwayData, refs: NDArray[np.int64], lon: NDArray[np.float64],
                   lat: NDArray[np.float64], *, counts: NDArray[np.int64],
                   bbox: tuple[float, float, float, float] | None) -> None:
    """Set the ways' node ids and the node locations from the flat arrays of the read.

    A location is valid as libosmium's ``Location.valid()`` says; with ``bbox``, ways without
    a valid node inside it are left out with their nodes, as the reader always did.
    """
    valid = (lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)
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
    data.refs = np.array(refs, dtype=np.int64)
    data.way_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
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
    refs: list[int] = []
    counts: list[int] = []
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
                way_refs = [int(r) for r in element["nodes"]]
                refs.extend(way_refs)
                counts.append(len(way_refs))
    data.refs = np.array(refs, dtype=np.int64)
    data.way_ptr = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]
                                  ).astype(np.int64)
    _set_locations(data, locations)
    return data


__all__ = ["OSM_SUFFIXES", "HighwayData", "file_bounds", "highways_from_overpass",
           "is_osm_path", "read_highways"]
