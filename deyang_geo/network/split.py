"""Split a province-sized OSM file into per-area extracts in one streaming pass.

Each extract holds every highway way with a node inside its box, whole (all its nodes, even
those outside the box), so :func:`~deyang_geo.network.graph_from_osm_file` builds the same graph
from the extract as from the whole file (the "complete ways" strategy of ``osmium extract``).
With ``facility_keys`` (the keys of the catalog's tag mapping) it also holds the tagged nodes
inside the box and the tagged ways with a node inside it (whole), so
:func:`deyang_geo.facilities.facilities_from_osm` finds the same facilities in the area.

How one pass is enough, with memory bounded by a chunk and the largest area:

- the node locations go into libosmium's on-disk index (``sparse_file_array``, 16 bytes per
  node in a temporary file, the page cache's business), filled in C++: no Python per node;
- tagged facility nodes are the only nodes Python sees; each is written to the areas whose box
  holds it as it comes;
- ways arrive with their node locations; each is written to the partial extract of every
  area whose box holds one of its nodes (a coarse grid gives the candidate areas, the way's own
  box settles most of them), and the (id, location) of its nodes are buffered, then appended
  to the area's node file on disk;
- at the end, area by area, the area's nodes (sorted, unique) are merged with its partial
  extract by libosmium (:class:`osmium.MergeInputReader`), which writes the extract sorted:
  nodes by id, then ways by id.

Extract nodes carry their id and location (and, for facility nodes, their tags and
attributes); ways keep their tags and attributes. Multipolygon relations are not carried over
(their member ways would be needed before the relation says which they are): the number of
facility-tagged relations skipped is reported.
"""

from __future__ import annotations

import array
import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deyang_geo.core.errors import NetworkError, Problem

log = logging.getLogger("deyang_geo")

BBox = tuple[float, float, float, float]

#: Way node references buffered (16 bytes each) before they are appended to the node files.
_BUFFER_REFS = 1_000_000
#: Nodes handed to libosmium's merge per piece of OPL text.
_OPL_NODES = 50_000
#: Cells per side of the grid that finds the areas a way may fall in.
_GRID = 64
#: Write buffer of each partial extract, in bytes (many writers are open at once).
_WRITER_BUFFER_BYTES = 256 * 1024
#: Location x/y of a node missing from the file (libosmium's undefined coordinate).
_UNDEFINED = 2_147_483_647
#: Fixed-point coordinates per degree (libosmium's coordinate precision).
_PER_DEGREE = 10_000_000
#: One node of an area's node file: id and fixed-point location.
_NODE_DTYPE = np.dtype([("id", "<i8"), ("x", "<i4"), ("y", "<i4")])


@dataclass(frozen=True)
class SplitSummary:
    """What :func:`split_osm_file` wrote.

    Attributes
    ----------
    paths
        Area key -> extract written.
    nodes, ways
        Area key -> number of nodes / ways in its extract.
    ways_read
        Highway (and facility-tagged) ways read from the source file.
    refs_read
        Node references of those ways.
    seconds
        Wall time of the pass and of the per-area merges.
    facility_relations_skipped
        Facility-tagged relations of the source, not carried into any extract.
    """

    paths: Mapping[str, Path]
    nodes: Mapping[str, int]
    ways: Mapping[str, int]
    ways_read: int
    refs_read: int
    seconds: float
    facility_relations_skipped: int = 0


def _fixed_bounds(low: float, high: float) -> tuple[int, int]:
    """Return the fixed-point range [lo, hi] of ``low <= c / 1e7 <= high`` (as osmium divides)."""
    lo = math.ceil(low * _PER_DEGREE)
    while (lo - 1) / _PER_DEGREE >= low:
        lo -= 1
    while lo / _PER_DEGREE < low:
        lo += 1
    hi = math.floor(high * _PER_DEGREE)
    while (hi + 1) / _PER_DEGREE <= high:
        hi += 1
    while hi / _PER_DEGREE > high:
        hi -= 1
    return lo, hi


class _Boxes:
    """The area boxes in fixed-point coordinates, with a coarse grid of candidate areas."""

    def __init__(self, boxes: NDArray[np.float64]) -> None:
        self.fixed: list[tuple[int, int, int, int]] = []
        for west, south, east, north in boxes.tolist():
            x0, x1 = _fixed_bounds(west, east)
            y0, y1 = _fixed_bounds(south, north)
            self.fixed.append((x0, y0, x1, y1))
        n = _GRID
        if self.fixed:
            self.gx0 = min(b[0] for b in self.fixed)
            self.gy0 = min(b[1] for b in self.fixed)
            self.cw = max(1, (max(b[2] for b in self.fixed) - self.gx0) // n + 1)
            self.ch = max(1, (max(b[3] for b in self.fixed) - self.gy0) // n + 1)
        else:
            self.gx0 = self.gy0 = 0
            self.cw = self.ch = 1
        cells: list[list[int]] = [[] for _ in range(n * n)]
        for a, (x0, y0, x1, y1) in enumerate(self.fixed):
            for cx in range(self._cx(x0), self._cx(x1) + 1):
                for cy in range(self._cy(y0), self._cy(y1) + 1):
                    cells[cx * n + cy].append(a)
        self.cells = [tuple(c) for c in cells]
        self.everything = tuple(range(len(self.fixed)))

    def _cx(self, x: int) -> int:
        return min(_GRID - 1, max(0, (x - self.gx0) // self.cw))

    def _cy(self, y: int) -> int:
        return min(_GRID - 1, max(0, (y - self.gy0) // self.ch))

    def candidates(self, x0: int, y0: int, x1: int, y1: int) -> tuple[int, ...]:
        """Return the areas whose box may hold a point of the box (x0, y0)-(x1, y1)."""
        cx0, cx1, cy0, cy1 = self._cx(x0), self._cx(x1), self._cy(y0), self._cy(y1)
        if cx0 == cx1 and cy0 == cy1:
            return self.cells[cx0 * _GRID + cy0]
        if (cx1 - cx0 + 1) * (cy1 - cy0 + 1) > 16:
            return self.everything
        found: set[int] = set()
        for cx in range(cx0, cx1 + 1):
            for cy in range(cy0, cy1 + 1):
                found.update(self.cells[cx * _GRID + cy])
        return tuple(sorted(found))

    def holding(self, xs: list[int], ys: list[int]) -> list[int]:
        """Return the areas whose box holds at least one of the points, in area order."""
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        out = []
        for a in self.candidates(x0, y0, x1, y1):
            bx0, by0, bx1, by1 = self.fixed[a]
            if x1 < bx0 or x0 > bx1 or y1 < by0 or y0 > by1:
                continue
            if (bx0 <= x0 and x1 <= bx1 and by0 <= y0 and y1 <= by1) or any(
                    bx0 <= x <= bx1 and by0 <= y <= by1 for x, y in zip(xs, ys, strict=True)):
                out.append(a)
        return out


class _Ways:
    """Write each way to the areas whose box holds one of its nodes; keep their nodes on disk."""

    def __init__(self, boxes: _Boxes, writers: list[Any], node_paths: list[Path]) -> None:
        self.boxes, self.writers, self.node_paths = boxes, writers, node_paths
        n = len(writers)
        self.ids = [array.array("q") for _ in range(n)]
        self.xs = [array.array("i") for _ in range(n)]
        self.ys = [array.array("i") for _ in range(n)]
        self.buffered = 0
        self.ways_written = [0] * n
        self.ways_read = 0
        self.refs_read = 0
        self.last_id = -(2**63)

    def add(self, way: Any, file: Path) -> None:
        if way.id < self.last_id:
            msg = "objects are not sorted by id (sort it first: osmium sort)"
            raise NetworkError(Problem(msg, file=str(file)))
        self.last_id = way.id
        nodes = way.nodes
        refs: list[int] = []
        xs: list[int] = []
        ys: list[int] = []
        low = getattr(nodes, "_list", None)
        if low is not None:  # pyosmium 4's node list: 3x faster than iterating way.nodes
            get, data = low.get, nodes._pyosmium_data
            for k in range(len(nodes)):
                node = get(data, k)
                loc = node.location
                refs.append(node.ref)
                xs.append(loc.x)
                ys.append(loc.y)
        else:  # pragma: no cover - another pyosmium
            for node in nodes:
                refs.append(node.ref)
                xs.append(node.x)
                ys.append(node.y)
        self.ways_read += 1
        self.refs_read += len(refs)
        if not refs:
            return
        for a in self.boxes.holding(xs, ys):
            self.writers[a].add_way(way)
            self.ways_written[a] += 1
            self.ids[a].extend(refs)
            self.xs[a].extend(xs)
            self.ys[a].extend(ys)
            self.buffered += len(refs)
        if self.buffered >= _BUFFER_REFS:
            self.flush()

    def flush(self) -> None:
        """Append the buffered nodes of each area's ways to its node file."""
        for a, ids in enumerate(self.ids):
            if not ids:
                continue
            x = np.frombuffer(self.xs[a], dtype=np.int32)
            y = np.frombuffer(self.ys[a], dtype=np.int32)
            keep = (x != _UNDEFINED) & (y != _UNDEFINED)  # nodes missing from the file
            rec = np.empty(int(keep.sum()), dtype=_NODE_DTYPE)
            rec["id"] = np.frombuffer(ids, dtype=np.int64)[keep]
            rec["x"], rec["y"] = x[keep], y[keep]
            with self.node_paths[a].open("ab") as f:
                f.write(rec.tobytes())
            del x, y
            self.ids[a] = array.array("q")
            self.xs[a] = array.array("i")
            self.ys[a] = array.array("i")
        self.buffered = 0


def _opl_nodes(rec: NDArray[Any]) -> bytes:
    """Return nodes as OPL lines (``n<id> v0 x<lon> y<lat>``) for libosmium to merge."""
    lon = (rec["x"] / _PER_DEGREE).tolist()
    lat = (rec["y"] / _PER_DEGREE).tolist()
    ids = rec["id"].tolist()
    text = "".join(f"n{i} v0 x{x:.7f} y{y:.7f}\n" for i, x, y in zip(ids, lon, lat, strict=True))
    return text.encode("ascii")


def _finish_area(node_file: Path, poi_ids: list[int], partial: Path, final: Path) -> int:
    """Merge an area's nodes into its partial extract, sorted; return the nodes written."""
    import osmium

    rec = np.fromfile(node_file, dtype=_NODE_DTYPE)
    _, first = np.unique(rec["id"], return_index=True)
    rec = rec[first]
    if poi_ids:  # facility nodes are in the partial extract already, tags and all
        rec = rec[~np.isin(rec["id"], np.asarray(poi_ids, dtype=np.int64))]
    written = len(rec) + len(poi_ids)
    merger = osmium.MergeInputReader()
    for start in range(0, len(rec), _OPL_NODES):  # in pieces: no province-sized text
        merger.add_buffer(_opl_nodes(rec[start:start + _OPL_NODES]), "opl")
    del rec
    reader = osmium.io.Reader(str(partial))
    try:
        writer = osmium.io.Writer(str(final), overwrite=True)
        try:
            merger.apply_to_reader(reader, writer)
        finally:
            writer.close()
    finally:
        reader.close()
    return written


def split_osm_file(path: str | os.PathLike[str], boxes: Mapping[str, BBox], *,
                   out_paths: Mapping[str, str | os.PathLike[str]],
                   facility_keys: Iterable[str] = ()) -> SplitSummary:
    """Write one extract per area box from an OSM file, reading it once.

    Parameters
    ----------
    path
        The source OSM file (``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2``), sorted by
        type then id as OSM extracts are.
    boxes
        Area key -> (west, south, east, north) in degrees, usually
        :func:`deyang_geo.network.osm_read_bbox` of the area.
    out_paths
        Area key -> extract to write (the format follows the suffix, e.g. ``.osm.pbf``). Each
        is written under a temporary name and renamed when complete.
    facility_keys
        Tag keys of facilities (the catalog's tag mapping,
        :meth:`deyang_geo.standards.Catalog.osm_tag_query`): nodes with one of them inside a
        box, and ways with one of them and a node inside it, go into that area's extract.

    Returns
    -------
    SplitSummary
        The extracts and how much each holds.

    Raises
    ------
    NetworkError
        If the source is missing, cannot be read or is not sorted.
    """
    import osmium

    file = Path(path)
    if not file.is_file():
        raise NetworkError(Problem("the OSM file does not exist", file=str(file)))
    keys = list(boxes)
    missing = [k for k in keys if k not in out_paths]
    if missing:
        msg = f"no output path for areas {missing}"
        raise ValueError(msg)
    fkeys = sorted(set(facility_keys))
    t0 = time.perf_counter()
    box_arr = np.array([boxes[k] for k in keys], dtype=np.float64).reshape(len(keys), 4)
    finals = [Path(out_paths[k]) for k in keys]
    tmps = [f.with_name(f".{f.name}.tmp{''.join(f.suffixes)}") for f in finals]
    for f in finals:
        f.parent.mkdir(parents=True, exist_ok=True)
    work_parent = Path(os.path.commonpath([f.parent for f in finals])) if finals else \
        file.parent
    with tempfile.TemporaryDirectory(prefix=".split-", dir=work_parent) as work_name:
        work = Path(work_name)
        partials = [work / f"{i}.osm.pbf" for i in range(len(keys))]
        node_paths = [work / f"{i}.nodes" for i in range(len(keys))]
        poi_ids: list[list[int]] = [[] for _ in keys]
        writers: list[Any] = []
        relations = 0
        area_boxes = _Boxes(box_arr)
        try:
            with contextlib.ExitStack() as stack:
                for partial, node_path in zip(partials, node_paths, strict=True):
                    w = osmium.SimpleWriter(str(partial), bufsz=_WRITER_BUFFER_BYTES,
                                            overwrite=True)
                    stack.callback(_close_quietly, w)
                    writers.append(w)
                    node_path.write_bytes(b"")
                ways = _Ways(area_boxes, writers, node_paths)
                entities = osmium.osm.NODE | osmium.osm.WAY
                if fkeys:
                    entities |= osmium.osm.RELATION
                node_filter: Any = osmium.filter.KeyFilter(*fkeys) if fkeys else \
                    osmium.filter.EntityFilter(osmium.osm.WAY)
                node_filter.enable_for(osmium.osm.NODE)
                way_filter = osmium.filter.KeyFilter("highway", *fkeys)
                way_filter.enable_for(osmium.osm.WAY | osmium.osm.RELATION)
                processor = (
                    osmium.FileProcessor(str(file), entities)
                    .with_locations(f"sparse_file_array,{work / 'locations.idx'}")
                    .with_filter(node_filter).with_filter(way_filter))
                for item in processor:
                    obj: Any = item
                    if obj.is_way():
                        ways.add(obj, file)
                    elif obj.is_node():
                        loc = obj.location
                        if not loc.valid():
                            continue
                        for a in area_boxes.holding([loc.x], [loc.y]):
                            writers[a].add_node(obj)
                            poi_ids[a].append(obj.id)
                    elif any(k in obj.tags for k in fkeys):
                        relations += 1
                ways.flush()
                for w in writers:
                    w.close()
        except RuntimeError as exc:
            raise NetworkError(Problem(f"not an OSM file that can be read ({exc})",
                                       file=str(file))) from None
        node_counts = []
        try:
            for i in range(len(keys)):
                node_counts.append(_finish_area(node_paths[i], poi_ids[i], partials[i],
                                                tmps[i]))
                partials[i].unlink()
                node_paths[i].unlink()
            for tmp, final in zip(tmps, finals, strict=True):
                tmp.replace(final)
        except RuntimeError as exc:
            raise NetworkError(Problem(f"cannot write the extracts ({exc})", file=str(file))
                               ) from None
        finally:
            for tmp in tmps:
                if tmp.exists():
                    tmp.unlink()
    seconds = time.perf_counter() - t0
    if relations:
        log.warning("%s: %d facility-tagged relations (multipolygons) are not carried into "
                    "the area extracts", file, relations)
    log.debug("split %s into %d extracts in %.1f s", file, len(keys), seconds)
    return SplitSummary(
        paths=dict(zip(keys, finals, strict=True)),
        nodes={k: int(c) for k, c in zip(keys, node_counts, strict=True)},
        ways={k: int(c) for k, c in zip(keys, ways.ways_written, strict=True)},
        ways_read=ways.ways_read, refs_read=ways.refs_read, seconds=seconds,
        facility_relations_skipped=relations)


def _close_quietly(writer: Any) -> None:
    with contextlib.suppress(RuntimeError):  # already closed
        writer.close()


__all__ = ["SplitSummary", "split_osm_file"]
