"""BENCHMARK BASELINE: ``deyang_geo.osm_split`` as it was before the one-pass split.

Kept verbatim (but this paragraph) so ``bench_batch.py`` prints the time and memory of the
split before and after; not used by the package.

Split a province-sized OSM file into per-area road extracts, reading the file twice in all.

Each extract holds every highway way with a node inside its box, whole (all its nodes, even
those outside the box), so :func:`deyang_geo.network.graph_from_osm_file` builds the same graph
from the extract as from the whole file (the "complete ways" strategy of ``osmium extract``).
The first pass keeps only node ids (8 bytes each, in numpy arrays), the second streams the
nodes and ways into one writer per area: neither holds node locations of the province.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deyang_geo.core.errors import NetworkError, Problem

log = logging.getLogger("deyang_geo")

BBox = tuple[float, float, float, float]

#: Objects gathered before a vectorised look-up (bounds the memory of a chunk).
_CHUNK = 200_000
#: Write buffer per area, in bytes (many writers are open at once).
_WRITER_BUFFER_BYTES = 256 * 1024


@dataclass(frozen=True)
class SplitSummary:
    """What :func:`split_osm_file` wrote.

    Attributes
    ----------
    paths
        Area key -> extract written.
    nodes, ways
        Area key -> number of nodes / highway ways in its extract.
    nodes_read, ways_read
        Nodes and highway ways read from the source file (per pass).
    seconds
        Wall time of the two passes.
    """

    paths: Mapping[str, Path]
    nodes: Mapping[str, int]
    ways: Mapping[str, int]
    nodes_read: int
    ways_read: int
    seconds: float


def _ranges(sorted_ids: NDArray[np.int64], queries: NDArray[np.int64]
            ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return (query index, position in ``sorted_ids``) for every match, repeats included."""
    left = np.searchsorted(sorted_ids, queries, side="left")
    right = np.searchsorted(sorted_ids, queries, side="right")
    counts = right - left
    total = int(counts.sum())
    qidx = np.repeat(np.arange(len(queries), dtype=np.int64), counts)
    starts = np.repeat(left - (np.cumsum(counts) - counts), counts)
    return qidx, starts + np.arange(total, dtype=np.int64)


class _Pass1:
    """Node ids inside each box, then the (node id, area) pairs every extract needs."""

    def __init__(self, boxes: NDArray[np.float64]) -> None:
        self.boxes = boxes
        self.in_box_ids: list[NDArray[np.int64]] = []
        self.in_box_area: list[NDArray[np.int64]] = []
        self.node_ids: list[int] = []
        self.node_lon: list[float] = []
        self.node_lat: list[float] = []
        self.box_ids = np.empty(0, np.int64)
        self.box_area = np.empty(0, np.int64)
        self.way_ids: list[int] = []
        self.way_refs: list[int] = []
        self.way_len: list[int] = []
        self.need_ref: list[NDArray[np.int64]] = []
        self.need_area: list[NDArray[np.int64]] = []
        self.sel_way: list[NDArray[np.int64]] = []
        self.sel_area: list[NDArray[np.int64]] = []
        self.nodes_read = 0
        self.ways_read = 0

    def flush_nodes(self) -> None:
        if not self.node_ids:
            return
        ids = np.asarray(self.node_ids, dtype=np.int64)
        lon = np.asarray(self.node_lon)
        lat = np.asarray(self.node_lat)
        order = np.argsort(lon, kind="stable")
        slon = lon[order]
        for a, (west, south, east, north) in enumerate(self.boxes):
            lo = np.searchsorted(slon, west, side="left")
            hi = np.searchsorted(slon, east, side="right")
            cand = order[lo:hi]
            inside = cand[(lat[cand] >= south) & (lat[cand] <= north)]
            if len(inside):
                self.in_box_ids.append(ids[inside])
                self.in_box_area.append(np.full(len(inside), a, dtype=np.int64))
        self.node_ids.clear()
        self.node_lon.clear()
        self.node_lat.clear()

    def close_nodes(self) -> None:
        self.flush_nodes()
        if self.in_box_ids:
            ids = np.concatenate(self.in_box_ids)
            area = np.concatenate(self.in_box_area)
            order = np.lexsort((area, ids))
            self.box_ids, self.box_area = ids[order], area[order]
        self.in_box_ids.clear()
        self.in_box_area.clear()

    def flush_ways(self) -> None:
        if not self.way_ids:
            return
        refs = np.asarray(self.way_refs, dtype=np.int64)
        lengths = np.asarray(self.way_len, dtype=np.int64)
        way_of_ref = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        qidx, pos = _ranges(self.box_ids, refs)
        if len(qidx):
            key = np.unique(way_of_ref[qidx] * len(self.boxes) + self.box_area[pos])
            way_idx, area = key // len(self.boxes), key % len(self.boxes)
            ids = np.asarray(self.way_ids, dtype=np.int64)
            self.sel_way.append(ids[way_idx])
            self.sel_area.append(area)
            starts = np.cumsum(lengths) - lengths
            counts = lengths[way_idx]
            offs = np.repeat(starts[way_idx] - (np.cumsum(counts) - counts), counts)
            self.need_ref.append(refs[offs + np.arange(int(counts.sum()), dtype=np.int64)])
            self.need_area.append(np.repeat(area, counts))
        self.way_ids.clear()
        self.way_refs.clear()
        self.way_len.clear()

    def result(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                              NDArray[np.int64]]:
        self.flush_ways()
        n = len(self.boxes)

        def pairs(a: list[NDArray[np.int64]], b: list[NDArray[np.int64]]
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
            if not a:
                return np.empty(0, np.int64), np.empty(0, np.int64)
            ids, area = np.concatenate(a), np.concatenate(b)
            # unique (id, area) pairs sorted by id then area; ids may be negative in test data
            order = np.lexsort((area, ids))
            ids, area = ids[order], area[order]
            keep = np.ones(len(ids), dtype=bool)
            keep[1:] = (ids[1:] != ids[:-1]) | (area[1:] != area[:-1])
            return ids[keep], area[keep]

        need_ids, need_area = pairs(self.need_ref, self.need_area)
        way_ids, way_area = pairs(self.sel_way, self.sel_area)
        assert need_area.max(initial=-1) < n
        return need_ids, need_area, way_ids, way_area


class _Walker:
    """Walk sorted (id, area) pairs alongside the ids of a sorted file, a chunk at a time.

    Python lists of one chunk make each look-up a few integer comparisons, without holding
    all pairs as Python objects.
    """

    def __init__(self, ids: NDArray[np.int64], areas: NDArray[np.int64], file: Path,
                 chunk: int = 65_536) -> None:
        self.ids, self.areas, self.file, self.chunk = ids, areas, file, chunk
        self.start = 0
        self.buf_ids: list[int] = []
        self.buf_areas: list[int] = []
        self.i = 0
        self.last = -(2**63)

    def _more(self) -> bool:
        self.start += len(self.buf_ids)
        self.buf_ids = self.ids[self.start:self.start + self.chunk].tolist()
        self.buf_areas = self.areas[self.start:self.start + self.chunk].tolist()
        self.i = 0
        return bool(self.buf_ids)

    def areas_of(self, key: int) -> list[int]:
        """Return the areas of ``key``; keys must come in increasing order."""
        if key < self.last:
            msg = "objects are not sorted by id (sort it first: osmium sort)"
            raise NetworkError(Problem(msg, file=str(self.file)))
        self.last = key
        out: list[int] = []
        while True:
            if self.i >= len(self.buf_ids) and not self._more():
                return out
            value = self.buf_ids[self.i]
            if value > key:
                return out
            if value == key:
                out.append(self.buf_areas[self.i])
            self.i += 1


def split_osm_file(path: str | os.PathLike[str], boxes: Mapping[str, BBox], *,
                   out_paths: Mapping[str, str | os.PathLike[str]]) -> SplitSummary:
    """Write one road extract per area box from an OSM file.

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

    Returns
    -------
    SplitSummary
        The extracts and how much each holds.

    Raises
    ------
    NetworkError
        If the source is missing or cannot be read.
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
    t0 = time.perf_counter()
    box_arr = np.array([boxes[k] for k in keys], dtype=np.float64).reshape(len(keys), 4)
    entities = osmium.osm.NODE | osmium.osm.WAY

    def processor() -> osmium.FileProcessor:
        highways = osmium.filter.KeyFilter("highway")
        highways.enable_for(osmium.osm.WAY)  # nodes pass unfiltered
        return osmium.FileProcessor(str(file), entities).with_filter(highways)

    p1 = _Pass1(box_arr)
    try:
        in_ways = False
        for item in processor():
            obj: Any = item
            if obj.is_node():
                loc = obj.location
                if loc.valid():
                    p1.node_ids.append(obj.id)
                    p1.node_lon.append(loc.lon)
                    p1.node_lat.append(loc.lat)
                p1.nodes_read += 1
                if len(p1.node_ids) >= _CHUNK:
                    p1.flush_nodes()
                continue
            if not in_ways:
                p1.close_nodes()
                in_ways = True
            refs = [nd.ref for nd in obj.nodes]
            p1.way_ids.append(obj.id)
            p1.way_refs.extend(refs)
            p1.way_len.append(len(refs))
            p1.ways_read += 1
            if len(p1.way_refs) >= _CHUNK:
                p1.flush_ways()
        if not in_ways:
            p1.close_nodes()
        need_ids, need_area, way_ids, way_area = p1.result()
        nodes_read, ways_read = p1.nodes_read, p1.ways_read
    except RuntimeError as exc:
        raise NetworkError(Problem(f"not an OSM file that can be read ({exc})",
                                   file=str(file))) from None
    del p1
    node_counts = np.bincount(need_area, minlength=len(keys))
    way_counts = np.bincount(way_area, minlength=len(keys))

    finals = [Path(out_paths[k]) for k in keys]
    tmps = [f.with_name(f".{f.name}.tmp{''.join(f.suffixes)}") for f in finals]
    writers = []
    try:
        for tmp in tmps:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            writers.append(osmium.SimpleWriter(str(tmp), bufsz=_WRITER_BUFFER_BYTES,
                                               overwrite=True))
        nodes = _Walker(need_ids, need_area, file)
        ways = _Walker(way_ids, way_area, file)
        for item2 in processor():
            obj2: Any = item2
            if obj2.is_node():
                for a in nodes.areas_of(obj2.id):
                    writers[a].add_node(obj2)
            else:
                for a in ways.areas_of(obj2.id):
                    writers[a].add_way(obj2)
        for w in writers:
            w.close()
        for tmp, final in zip(tmps, finals, strict=True):
            tmp.replace(final)
    except RuntimeError as exc:
        raise NetworkError(Problem(f"cannot split the OSM file ({exc})", file=str(file))
                           ) from None
    finally:
        for w in writers:
            with contextlib.suppress(RuntimeError):  # already closed
                w.close()
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
    seconds = time.perf_counter() - t0
    log.debug("split %s into %d extracts in %.1f s", file, len(keys), seconds)
    return SplitSummary(
        paths=dict(zip(keys, finals, strict=True)),
        nodes={k: int(c) for k, c in zip(keys, node_counts, strict=True)},
        ways={k: int(c) for k, c in zip(keys, way_counts, strict=True)},
        nodes_read=nodes_read, ways_read=ways_read, seconds=seconds)


__all__ = ["SplitSummary", "split_osm_file"]
