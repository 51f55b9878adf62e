"""Benchmark: many areas at once on Dask (``run_batch``) and the streaming OSM split.

Usage::

    python scripts/benchmarks/bench_batch.py [--areas-x 6 --areas-y 4] [--area-nodes 160]
        [--workers 1,2] [--split-nodes 5000000] [--skip-batch] [--skip-split] [--keep DIR]

Everything here is SYNTHETIC (a jittered street grid written with pyosmium's SimpleWriter).

- Batch: a province of ``areas_x * areas_y`` areas (default 24) of ``area_nodes**2`` street
  nodes each (default 160**2 = 25,600), 40 communities, 3 facilities and 4 candidate sites per
  area, the study of :mod:`deyang_geo.study.synthetic_province` (access, coverage, isochrones,
  compliance, one MCLP site per area, map). ``run_batch`` on a local cluster of 1 and of 2
  workers: wall time (cluster start, OSM split, tables and merge included), areas per
  minute, and each worker's peak resident memory.
- Split: a grid of at least ``--split-nodes`` nodes cut into 24 area extracts by
  :func:`deyang_geo.network.split.split_osm_file` (one streaming pass), in a fresh subprocess:
  wall time and peak resident memory (the process's maximum RSS minus the one after imports;
  also its anonymous part, without the file pages of libosmium's on-disk location index),
  beside the two-pass split it replaced (``split_two_pass.py``, the module as it was) and the
  anchor a per-area read needs: one pass over the whole file with pyosmium's node-location
  index (``FileProcessor.with_locations()``), which ``graph_from_osm_file`` does once per area.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_now_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _anon_now_mb() -> float:
    """Resident memory without file-backed pages (mapped files such as an on-disk index)."""
    import psutil

    info = psutil.Process().memory_info()
    return (info.rss - info.shared) / 2**20


class _PeakSampler:
    """Sample this process's resident memory every 20 ms (C allocations included)."""

    def __init__(self) -> None:
        import threading

        self.base = _rss_now_mb()
        self.base_anon = _anon_now_mb()
        self.peak = self.base
        self.peak_anon = self.base_anon
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_now_mb())
            self.peak_anon = max(self.peak_anon, _anon_now_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_anon = max(self.peak_anon, _anon_now_mb()) - self.base_anon
        return max(self.peak, _rss_now_mb()) - self.base


def _child(args: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


#: Grid of the split benchmark (write_street_grid's defaults).
_ORIGIN = (104.0, 30.5)
_SPACING_M = 100.0


def _tiles(side: int) -> dict[str, tuple[float, float, float, float]]:
    """24 tiles (6 x 4) covering the side x side grid written by ``write_street_grid``."""
    lon0, lat0 = _ORIGIN
    dlat = _SPACING_M / 110_540.0
    dlon = _SPACING_M / (110_540.0 * math.cos(math.radians(lat0)))
    w, s = lon0 - 0.5 * dlon, lat0 - 0.5 * dlat
    e, n = lon0 + (side - 0.5) * dlon, lat0 + (side - 0.5) * dlat
    dx, dy = (e - w) / 6, (n - s) / 4
    return {f"T{j}_{i}": (w + i * dx, s + j * dy, w + (i + 1) * dx, s + (j + 1) * dy)
            for j in range(4) for i in range(6)}


def child_split(path: str, folder: str, side: str, how: str) -> None:
    """Run a split in this (fresh) process and print time and peak memory as JSON.

    ``how`` is ``one_pass`` (:func:`deyang_geo.network.split.split_osm_file`) or ``two_pass``
    (the module before it read the file once, kept in ``split_two_pass.py``).
    """
    if how == "two_pass":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from split_two_pass import split_osm_file  # type: ignore[import-not-found]
    else:
        from deyang_geo.network.split import split_osm_file

    boxes = _tiles(int(side))
    sampler = _PeakSampler()
    t0 = time.perf_counter()
    summary = split_osm_file(path, boxes,
                             out_paths={k: Path(folder) / f"{k}.osm.pbf" for k in boxes})
    seconds = time.perf_counter() - t0
    peak = sampler.stop()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "peak_anon_mb": sampler.peak_anon,
                      "largest_extract_nodes": max(summary.nodes.values()),
                      "largest_extract_ways": max(summary.ways.values()),
                      "extract_nodes": sum(summary.nodes.values()),
                      "ways_read": summary.ways_read}))


def child_locations(path: str) -> None:
    """The anchor: one pass over the whole file with pyosmium's node-location index."""
    import osmium

    sampler = _PeakSampler()
    t0 = time.perf_counter()
    n = 0
    for obj in osmium.FileProcessor(str(path)).with_locations().with_filter(
            osmium.filter.KeyFilter("highway")):
        if obj.is_way():
            n += len(obj.nodes)
    print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": sampler.stop(),
                      "refs": n}))


def bench_split(nodes: int, folder: Path) -> None:
    from deyang_geo.study.synthetic_province import write_street_grid

    side = math.ceil(math.sqrt(nodes))
    pbf = folder / f"split_{side}.osm.pbf"
    if pbf.exists():
        print(f"SYNTHETIC grid for the split: reusing {pbf}")
    else:
        t0 = time.perf_counter()
        written = write_street_grid(pbf, columns=side, rows=side, way_segments=10, seed=7,
                                    origin=_ORIGIN, spacing_m=_SPACING_M)
        print(f"SYNTHETIC grid for the split: {written:,} nodes, "
              f"{pbf.stat().st_size / 1e6:.0f} MB PBF, written in "
              f"{time.perf_counter() - t0:.0f} s")
    runs = {}
    for how, label in (("two_pass", "before: 2 passes (split_two_pass.py)"),
                       ("one_pass", "after:  1 streaming pass          ")):
        r = _child(["_split", str(pbf), str(folder / f"extracts_{how}"), str(side), how])
        runs[how] = r
        print(f"split into 24 extracts, {label}: {r['seconds']:.1f} s, peak RSS "
              f"{r['peak_mb']:.0f} MB above the process before (anonymous "
              f"{r['peak_anon_mb']:.0f} MB); largest extract {r['largest_extract_nodes']:,} "
              f"nodes / {r['largest_extract_ways']:,} ways; {r['extract_nodes']:,} nodes in "
              f"all extracts; {r['ways_read']:,.0f} highway ways read")
    same = _same_extracts(folder / "extracts_two_pass", folder / "extracts_one_pass")
    print(f"the 24 extracts of both splits hold the same nodes (id, location) and ways: {same}")
    anchor = _child(["_locations", str(pbf)])
    print(f"anchor, 1 pass with a location index: {anchor['seconds']:.1f} s, peak "
          f"{anchor['peak_mb']:.0f} MB (a per-area read does this once per area: "
          f"x24 = {24 * anchor['seconds']:.0f} s)")


def _same_extracts(a: Path, b: Path) -> bool:
    import osmium

    def content(path: Path) -> tuple[dict[int, tuple[int, int]], dict[int, list[int]]]:
        nodes, ways = {}, {}
        for obj in osmium.FileProcessor(str(path)):
            if obj.is_node():
                nodes[obj.id] = (obj.location.x, obj.location.y)
            elif obj.is_way():
                ways[obj.id] = [n.ref for n in obj.nodes]
        return nodes, ways

    names = sorted(p.name for p in a.glob("*.osm.pbf"))
    return names == sorted(p.name for p in b.glob("*.osm.pbf")) and all(
        content(a / n) == content(b / n) for n in names)


def bench_batch(areas_x: int, areas_y: int, area_nodes: int, workers: list[int],
                folder: Path) -> None:
    import pandas as pd

    from deyang_geo.study.batch import run_batch
    from deyang_geo.study.synthetic_province import write_synthetic_province

    t0 = time.perf_counter()
    p = write_synthetic_province(folder / "province", areas_x=areas_x, areas_y=areas_y,
                                 area_nodes=area_nodes, communities_per_area=40, seed=11)
    n = len(p.area_ids)
    print(f"SYNTHETIC province: {n} areas x {area_nodes**2:,} street nodes "
          f"({p.nodes:,} in all), written in {time.perf_counter() - t0:.0f} s")
    for w in workers:
        out = folder / f"out_{w}"
        t0 = time.perf_counter()
        result = run_batch(p.study, areas=p.areas, area_id_column="area_id", out_dir=out,
                           workers=w, memory_per_worker_gb=4)
        wall = time.perf_counter() - t0
        areas = pd.read_csv(out / "batch_areas.csv", encoding="utf-8-sig")
        per_area = areas["seconds"]
        print(f"{w} worker(s): {n} areas in {wall:.0f} s = {n / wall * 60:.1f} areas/min "
              f"(split {result.split_seconds:.1f} s; per area median {per_area.median():.1f} s, "
              f"max {per_area.max():.1f} s); worker peak RSS max "
              f"{areas['worker_peak_rss_mb'].max():.0f} MB; failed {len(result.failed)}")
        shutil.rmtree(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_split":
        child_split(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_locations":
        child_locations(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas-x", type=int, default=6)
    ap.add_argument("--areas-y", type=int, default=4)
    ap.add_argument("--area-nodes", type=int, default=160)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--split-nodes", type=int, default=5_000_000)
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-split", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_split:
            bench_split(args.split_nodes, folder)
        if not args.skip_batch:
            bench_batch(args.areas_x, args.areas_y, args.area_nodes,
                        [int(w) for w in args.workers.split(",")], folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
