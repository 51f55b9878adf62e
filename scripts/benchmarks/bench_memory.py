"""Peak memory of coverage and compliance on 100,000 and 1,000,000 demand rows.

A planner's communities CSV with N rows (points in central Deyang, WGS-84) and a facilities CSV
(7 categories x 40 facilities) are written once per size; then one fresh process per size
runs what ``access`` and ``compliance`` run: read the CSVs, demand units, minutes to the
nearest facility, coverage (and its CSVs), compliance (reach sets, 2SFCA, its CSVs and
workbook), on a synthetic walk grid of 250 x 250 nodes (60 m spacing, 15 km across). Peak
resident memory (ru_maxrss) is printed after each step, so the step that sets the peak shows.

Usage: python scripts/benchmarks/bench_memory.py [--rows 100000,1000000] [--timeout-s 3600]
       [--no-compliance] [--keep DIR]

``--keep DIR`` keeps the outputs (``DIR/<rows>/coverage``, ``DIR/<rows>/compliance``) and prints
a SHA-256 of every CSV, and of every workbook's sheets (its members but the creation time), to
check that a change leaves the results byte-identical.

At the end a Markdown table to paste: per size and step, the peak resident memory so far, the
CPU seconds and wall seconds of the step, and the load average when the size started and ended
(the machine may be shared: CPU seconds are the fairer figure).

Measured for issue 13 (shared 2-core machine, load 6-9; peak RSS of the whole process, which
holds about 1.9 GB of network, inputs and access table at 1 M rows before coverage starts):

| rows | step | before (d790628) | after |
|---:|---|---|---|
| 100 k | coverage + its CSVs | 856 MB, 19.8 s CPU | 649 MB, 19.8 s CPU |
| 100 k | compliance + CSVs + workbook | 964 MB, 78.1 s CPU | 760 MB, 27.6 s CPU |
| 1 M | coverage | 3,898 MB | 3,261 MB |
| 1 M | coverage CSVs | 5,016 MB | 3,261 MB (no rise) |
| 1 M | compliance + CSVs + workbook | never finished | 3,697 MB, 247 s CPU |
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIZE = 250
SPACING_M = 60.0
ORIGIN = (405_000.0, 3_440_000.0)  # UTM 48N, central Deyang
CATEGORIES = ("service_station", "health_room", "fitness_station", "elderly_daycare",
              "childrens_home", "culture_sports", "library_room")


def _network() -> object:
    from deyang_geo.analysis.routing import RoutingNetwork

    rng = np.random.default_rng(7)
    n = SIZE * SIZE
    ii, jj = np.divmod(np.arange(n), SIZE)
    x = ORIGIN[0] + jj * SPACING_M + rng.uniform(-10, 10, n)
    y = ORIGIN[1] + ii * SPACING_M + rng.uniform(-10, 10, n)
    node = np.arange(n).reshape(SIZE, SIZE)
    h = np.stack([node[:, :-1].ravel(), node[:, 1:].ravel()], axis=1)
    v = np.stack([node[:-1, :].ravel(), node[1:, :].ravel()], axis=1)
    und = np.concatenate([h, v])
    u = np.concatenate([und[:, 0], und[:, 1]])
    w = np.concatenate([und[:, 1], und[:, 0]])
    length = np.hypot(x[u] - x[w], y[u] - y[w])
    return RoutingNetwork.from_arrays(
        "EPSG:32648", node_ids=np.arange(n, dtype=np.int64), x=x, y=y, edge_u=u, edge_v=w,
        length_m=length, weights_s={"walk": length / (4.0 / 3.6)}, speeds_kmh={"walk": 4.0},
        source="synthetic grid (benchmark)")


def write_inputs(folder: Path, rows: int) -> tuple[Path, Path]:
    """Write the synthetic communities and facilities CSVs (labelled synthetic)."""
    import pandas as pd
    from pyproj import Transformer

    to_wgs = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(rows)
    extent = (SIZE - 1) * SPACING_M
    x = ORIGIN[0] + rng.uniform(0, extent, rows)
    y = ORIGIN[1] + rng.uniform(0, extent, rows)
    lon, lat = to_wgs.transform(x, y)
    population = rng.integers(50, 5000, rows)
    communities = pd.DataFrame({
        "id": [f"C{i:07d}" for i in range(rows)],
        "name": [f"社区{i}" for i in range(rows)],
        "population": population,
        "households": population // 3,
        "township": [f"街道{i % 97}" for i in range(rows)],
        "division": ["旌阳区", "罗江区", "广汉市", "什邡市", "绵竹市", "中江县"] * (rows // 6)
        + ["旌阳区"] * (rows % 6),
        "lon": np.round(lon, 6), "lat": np.round(lat, 6), "synthetic": True,
    })
    com_path = folder / f"communities_{rows}.csv"
    communities.to_csv(com_path, index=False)
    n_fac = 40
    fx = ORIGIN[0] + rng.uniform(0, extent, n_fac * len(CATEGORIES))
    fy = ORIGIN[1] + rng.uniform(0, extent, n_fac * len(CATEGORIES))
    flon, flat = to_wgs.transform(fx, fy)
    facilities = pd.DataFrame({
        "id": [f"F{i}" for i in range(len(fx))],
        "category": np.repeat(CATEGORIES, n_fac),
        "floor_area_m2": rng.uniform(50, 800, len(fx)).round(1),
        "lon": np.round(flon, 6), "lat": np.round(flat, 6), "synthetic": True,
    })
    fac_path = folder / "facilities.csv"
    facilities.to_csv(fac_path, index=False)
    return com_path, fac_path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(com_path: Path, fac_path: Path, out: Path, *, with_compliance: bool) -> None:
    """Run the steps in this process and print one JSON line per step."""
    from deyang_geo.analysis.access import minutes_to_nearest, reach_set
    from deyang_geo.analysis.coverage import compute_coverage
    from deyang_geo.analysis.demand import demand_units
    from deyang_geo.analysis.snapping import snap_points
    from deyang_geo.io.points import read_communities, read_facilities
    from deyang_geo.planning.compliance import evaluate_compliance

    t0 = time.perf_counter()

    def report(step: str) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"step": step, "peak_rss_mb": round(_peak_mb()),
                          "elapsed_s": round(time.perf_counter() - t0, 1),
                          "cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}), flush=True)

    net = _network()
    report("network")
    communities = read_communities(com_path)
    facilities = read_facilities(fac_path)
    report("read")
    units = demand_units(communities, crs=net.crs)
    report("demand")
    access = minutes_to_nearest(net, units, facilities, mode="walk")
    report("access")
    coverage = compute_coverage(access, units, communities, threshold_minutes=15.0)
    report("coverage")
    coverage.write(out / "coverage")
    report("cov. write")
    del coverage
    if not with_compliance:
        return
    unit_xy = units.geometry.to_crs(net.crs)
    units_snapped = snap_points(net, unit_xy.x.to_numpy(), unit_xy.y.to_numpy(), mode="walk")

    def reach(subset: object, max_minutes: float) -> object:
        xy = subset.geometry.to_crs(net.crs)  # type: ignore[attr-defined]
        fac = snap_points(net, xy.x.to_numpy(), xy.y.to_numpy(), mode="walk")
        return reach_set(net, fac, units_snapped, mode="walk", max_minutes=max_minutes)

    result = evaluate_compliance(communities=communities, facilities=facilities, units=units,
                                 access=access, reach=reach, mode="walk")
    report("compliance")
    result.write(out / "compliance")
    report("comp. write")


def main() -> int:
    """Run the benchmark and print the peak memory per size and step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--timeout-s", type=float, default=3600)
    parser.add_argument("--no-compliance", action="store_true",
                        help="stop after coverage (compliance takes most of the time)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the outputs in this folder and print the CSVs' SHA-256")
    parser.add_argument("--child", nargs=3, metavar=("COM", "FAC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]),
                  with_compliance=not args.no_compliance)
        return 0
    print("synthetic data (benchmark only); the machine may be shared: figures are indicative")
    results: list[tuple[int, list[dict[str, float | str]], float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for rows in (int(r) for r in args.rows.split(",")):
            com, fac = write_inputs(folder, rows)
            out = folder / "out" if args.keep is None else args.keep / str(rows)
            size_mb = com.stat().st_size / 1e6
            print(f"\n{rows:,} demand rows ({size_mb:.0f} MB CSV):", flush=True)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            steps: list[dict[str, float | str]] = []
            load_start = os.getloadavg()[0]
            with subprocess.Popen(
                    [sys.executable, __file__, "--child", str(com), str(fac),
                     str(out), *(["--no-compliance"] if args.no_compliance else [])],
                    stdout=subprocess.PIPE, text=True, env=env) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:  # each step as it ends
                    step = json.loads(line)
                    steps.append(step)
                    print(f"  {step['step']:<11} peak {step['peak_rss_mb']:>6,} MB  "
                          f"at {step['elapsed_s']:>7.1f} s (CPU {step['cpu_s']:>7.1f} s)",
                          flush=True)
                code = proc.wait(timeout=args.timeout_s)
            if code != 0:
                print(f"  failed (exit {code})")
                steps.append({"step": f"failed (exit {code})"})
            results.append((rows, steps, load_start, os.getloadavg()[0]))
            if args.keep is not None:
                for path in sorted([*out.rglob("*.csv"), *out.rglob("*.xlsx")]):
                    print(f"  {_digest(path)[:16]}  {path.relative_to(out)}")
    print()
    print(_table(results))
    return 0


def _digest(path: Path) -> str:
    """SHA-256 of a CSV, or of a workbook's members (names, contents) but its creation time."""
    if path.suffix != ".xlsx":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    import zipfile

    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as book:
        for info in book.infolist():
            if info.filename != "docProps/core.xml":
                digest.update(info.filename.encode() + b"\0" + book.read(info.filename))
    return digest.hexdigest()


def _table(results: list[tuple[int, list[dict[str, float | str]], float, float]]) -> str:
    """Return the steps of every size as a Markdown table (CPU and wall seconds per step)."""
    lines = [("| demand rows | step | peak RSS so far (MB) | step CPU (s) | step wall (s) "
             "| load (1 min) start / end |"),
             "|---:|---|---:|---:|---:|---|"]
    for rows, steps, load_start, load_end in results:
        cpu = wall = 0.0
        for k, step in enumerate(steps):
            load = f"{load_start:.1f} / {load_end:.1f}" if k == 0 else ""
            if "peak_rss_mb" not in step:
                lines.append(f"| {rows:,} | {step['step']} | | | | {load} |")
                continue
            lines.append(f"| {rows:,} | {step['step']} | {int(step['peak_rss_mb']):,} | "
                         f"{float(step['cpu_s']) - cpu:.1f} | "
                         f"{float(step['elapsed_s']) - wall:.1f} | {load} |")
            cpu, wall = float(step["cpu_s"]), float(step["elapsed_s"])
        if steps and "cpu_s" in steps[-1]:
            lines.append(f"| {rows:,} | **whole run** | **{int(steps[-1]['peak_rss_mb']):,}** "
                         f"| **{cpu:.1f}** | **{wall:.1f}** | |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
