"""Benchmark the exact MCLP against spopt (PuLP + HiGHS) and on a network-scale instance.

Usage::

    python scripts/benchmarks/bench_siting.py                 # 5,000 x 1,000, ours only
    python scripts/benchmarks/bench_siting.py --spopt         # ... and spopt beside it
    python scripts/benchmarks/bench_siting.py --large         # 100,000 x 10,000, 50 sites
    python scripts/benchmarks/bench_siting.py --clustered --spopt --time-limit 60 --repeat 3
    python scripts/benchmarks/bench_siting.py --suggest --time-limit 20 --repeat 3

Instances (seeded, uniform random points):
- small: 5,000 demand points and 1,000 candidates in a 10 km x 10 km square, weights
  integers 1..99, coverage within 1,000 m (straight line), 20 sites;
- large: 100,000 demand points and 10,000 candidates in a 20 km x 20 km square on a
  synthetic street grid (streets every 100 m, 40,401 nodes) walked at 4 km/h, snapped and
  reached with ``deyang_geo.analysis.reach_set`` within 15 minutes, 50 sites, stop at a proven
  gap of 1 %, time limit 120 s;
- clustered: 20,000 demand points (80 % in 40 Gaussian clusters of 700 m, 20 % uniform) and
  5,000 uniform candidates in a 20 km x 20 km square, coverage within 1,000 m, 50 sites,
  asked for a proven gap of 1 % within ``--time-limit``: prints the objective, the proven gap,
  the wall time and the time-limit adherence (wall / limit; the target is at most 1.10) of ours
  and, with ``--spopt``, of spopt (PuLP + HiGHS with the same gap and time limit) in one run.

Both sides start from the same points: ours builds a sparse reach set (KD-tree) and calls
``deyang_geo.planning.siting.mclp``; spopt builds its dense cost matrix (scipy cdist) and calls
``MCLP.from_cost_matrix(...).solve(pulp.HiGHS())``. Times are wall-clock, end to end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from deyang_geo.analysis.access import reach_set
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.planning.siting.maximal_coverage import mclp


def small_instance(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10_000, (5_000, 2))
    cand = rng.uniform(0, 10_000, (1_000, 2))
    weights = rng.integers(1, 100, 5_000).astype(float)
    return demand, cand, weights


def reach_from_points(cand: np.ndarray, demand: np.ndarray, radius_m: float) -> sp.csr_array:
    dist = cKDTree(cand).sparse_distance_matrix(cKDTree(demand), radius_m,
                                                output_type="coo_matrix")
    return sp.csr_array((dist.data, (dist.row, dist.col)), shape=(len(cand), len(demand)))


def run_ours_small() -> tuple[float, float, str, float, float, dict[str, int]]:
    demand, cand, weights = small_instance()
    t0 = time.perf_counter()
    reach = reach_from_points(cand, demand, 1000.0)
    res = mclp(reach, weights, new_sites=20, time_limit_s=300.0)
    elapsed = time.perf_counter() - t0
    return (res.objective, res.bound, res.status, elapsed, res.greedy_objective,
            dict(res.reductions))


def run_spopt_small() -> tuple[float, str, float, float]:
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    demand, cand, weights = small_instance()
    t0 = time.perf_counter()
    cost = cdist(demand, cand)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MCLP.from_cost_matrix(cost, weights, service_radius=1000.0, p_facilities=20)
        t_build = time.perf_counter() - t0
        model = model.solve(pulp.HiGHS(msg=False, timeLimit=600))
    elapsed = time.perf_counter() - t0
    obj = float(pulp.value(model.problem.objective))
    return obj, pulp.LpStatus[model.problem.status], elapsed, t_build


def clustered_instance(seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(2_000, 18_000, (40, 2))
    k = rng.integers(0, 40, 16_000)
    demand = np.r_[centres[k] + rng.normal(0, 700, (16_000, 2)),
                   rng.uniform(0, 20_000, (4_000, 2))]
    cand = rng.uniform(0, 20_000, (5_000, 2))
    weights = rng.integers(1, 100, 20_000).astype(float)
    return demand, cand, weights


def run_ours_clustered(time_limit_s: float) -> tuple[float, float, str, float, float]:
    demand, cand, weights = clustered_instance()
    t0 = time.perf_counter()
    c0 = time.process_time()
    reach = reach_from_points(cand, demand, 1000.0)
    res = mclp(reach, weights, new_sites=50, time_limit_s=time_limit_s, mip_gap=0.01,
               n_alternatives=3)
    return (res.objective, res.gap, res.status, time.perf_counter() - t0,
            time.process_time() - c0)


def run_spopt_clustered(time_limit_s: float) -> tuple[float, float, str, float, float]:
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    demand, cand, weights = clustered_instance()
    t0 = time.perf_counter()
    c0 = time.process_time()  # this process only: HiGHS runs inside it through PuLP's API
    cost = cdist(demand, cand)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MCLP.from_cost_matrix(cost, weights, service_radius=1000.0, p_facilities=50)
        del cost
        model = model.solve(pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=0.01))
    elapsed = time.perf_counter() - t0
    obj = float(pulp.value(model.problem.objective))
    return (obj, math.nan, pulp.LpStatus[model.problem.status], elapsed,
            time.process_time() - c0)


def run_clustered(*, time_limit_s: float, repeat: int, spopt: bool) -> None:
    print(f"clustered instance: 20,000 demand x 5,000 candidates, MCLP 50 sites, 1,000 m, "
          f"asked for <= 1 % gap, time limit {time_limit_s:g} s; load average "
          f"{os.getloadavg()[0]:.1f} (2 cores shared: figures are indicative)")
    print(f"  {'run':>3} {'solver':<34} {'objective':>10} {'gap':>8} {'status':>11} "
          f"{'wall s':>8} {'CPU s':>7} {'wall/limit':>10} {'load':>5}")
    walls: dict[str, list[float]] = {"ours": [], "spopt": []}
    for k in range(repeat):
        runs = [("ours", "deyang_geo.planning.siting.mclp", run_ours_clustered)]
        if spopt:
            runs.append(("spopt", "spopt MCLP + PuLP/HiGHS", run_spopt_clustered))
        for key, name, fn in runs:
            obj, gap, status, wall, cpu = fn(time_limit_s)
            walls[key].append(wall)
            gap_s = "n/a" if math.isnan(gap) else f"{gap:.2%}"
            print(f"  {k + 1:>3} {name:<34} {obj:>10,.0f} {gap_s:>8} {status:>11} "
                  f"{wall:>8.1f} {cpu:>7.1f} {wall / time_limit_s:>10.2f} "
                  f"{os.getloadavg()[0]:>5.1f}", flush=True)
    for key, vals in walls.items():
        if vals:
            med = float(np.median(vals))
            print(f"  median wall, {key}: {med:.1f} s = {med / time_limit_s:.2f} x the limit "
                  f"({'within' if med <= 1.1 * time_limit_s else 'beyond'} 10 %)")


def grid_network(size_m: float = 20_000.0, step_m: float = 100.0) -> RoutingNetwork:
    """A square street grid (every 100 m) walked at 4 km/h: a synthetic network."""
    k = int(size_m / step_m) + 1
    idx = np.arange(k * k).reshape(k, k)
    jj, ii = np.meshgrid(np.arange(k), np.arange(k))
    x = (jj * step_m).ravel().astype(float)
    y = (ii * step_m).ravel().astype(float)
    hu, hv = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    vu, vv = idx[:-1, :].ravel(), idx[1:, :].ravel()
    u = np.r_[hu, hv, vu, vv].astype(np.int64)
    v = np.r_[hv, hu, vv, vu].astype(np.int64)
    seconds = np.full(u.size, step_m / (4.0 / 3.6))
    return RoutingNetwork.from_arrays(
        "EPSG:32648", node_ids=np.arange(k * k, dtype=np.int64), x=x, y=y, edge_u=u,
        edge_v=v, weights_s={"walk": seconds}, length_m=np.full(u.size, step_m),
        speeds_kmh={"walk": 4.0}, source="synthetic grid")


def run_large(seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 20_000, (100_000, 2))
    cand = rng.uniform(0, 20_000, (10_000, 2))
    weights = rng.integers(1, 100, 100_000).astype(float)
    t0 = time.perf_counter()
    net = grid_network()
    d_snap = snap_points(net, demand[:, 0], demand[:, 1], mode="walk")
    c_snap = snap_points(net, cand[:, 0], cand[:, 1], mode="walk")
    reach = reach_set(net, c_snap, d_snap, mode="walk", max_minutes=15.0)
    t_reach = time.perf_counter() - t0
    res = mclp(reach, weights, new_sites=50, max_minutes=15.0, time_limit_s=120.0,
               mip_gap=0.01, n_alternatives=3)
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"large instance: 100,000 demand x 10,000 candidates on a {net.n_nodes:,}-node street "
          f"grid, 15 min walk; reach entries {reach.nnz:,}, network + snapping + reach set "
          f"{t_reach:.1f} s")
    print(f"  objective {res.objective:,.0f}  bound {res.bound:,.0f}  gap {res.gap:.4%}  "
          f"status {res.status}  greedy {res.greedy_objective:,.0f}")
    print(f"  reductions {res.reductions}")
    print(f"  end to end {elapsed:.1f} s (mclp {res.solve_time_s:.1f} s), "
          f"peak memory (max RSS of the process) {peak_mb:,.0f} MB; a dense float64 "
          f"demand x candidate matrix alone would need {100_000 * 10_000 * 8 / 1e9:.0f} GB")


def write_suggest_inputs(folder: Path, *, size: int = 80, n_units: int = 4_000,
                         seed: int = 3) -> dict[str, Path]:
    """A synthetic street grid (OSM XML, ``size`` x ``size`` nodes about 100 m apart) and
    clustered synthetic communities, labelled synthetic, for ``deyang-geo suggest-sites``."""
    lon0, lat0, dlon, dlat = 104.39, 31.12, 0.00105, 0.0009
    nid = lambda i, j: 1 + i * size + j  # noqa: E731
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="bench">']
    lines += [f'  <node id="{nid(i, j)}" version="1" lat="{lat0 + i * dlat:.7f}" '
              f'lon="{lon0 + j * dlon:.7f}"/>' for i in range(size) for j in range(size)]
    wid = 10_000_000
    for i in range(size):
        refs = "".join(f'<nd ref="{nid(i, j)}"/>' for j in range(size))
        lines.append(f'  <way id="{wid}" version="1">{refs}'
                     '<tag k="highway" v="residential"/></way>')
        wid += 1
    for j in range(size):
        refs = "".join(f'<nd ref="{nid(i, j)}"/>' for i in range(size))
        lines.append(f'  <way id="{wid}" version="1">{refs}'
                     '<tag k="highway" v="residential"/></way>')
        wid += 1
    lines.append("</osm>")
    (folder / "grid.osm").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.15, 0.85, (25, 2)) * (size - 1)
    k = rng.integers(0, 25, n_units)
    ij = np.clip(centres[k] + rng.normal(0, size / 18, (n_units, 2)), 0, size - 1)
    feats = [{"type": "Feature", "properties": {
        "id": f"C{u}", "name": f"社区{u}", "kind": "urban",
        "population": int(rng.integers(300, 3000)), "households": 100,
        "township": "旌阳街道", "division": "旌阳区", "synthetic": True},
        "geometry": {"type": "Point", "coordinates": [lon0 + ij[u, 1] * dlon,
                                                      lat0 + ij[u, 0] * dlat]}}
        for u in range(n_units)]
    (folder / "communities.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
        encoding="utf-8")
    (folder / "facilities.csv").write_text(
        "id,name,category,lon,lat,synthetic\n"
        f"F1,健身点,fitness_station,{lon0:.6f},{lat0:.6f},true\n", encoding="utf-8")
    return {"network": folder / "grid.osm", "demand": folder / "communities.geojson",
            "facilities": folder / "facilities.csv"}


#: The command line run the way the ``deyang-geo`` script runs it (this checkout's package).
_CLI = "import sys; from deyang_geo.cli.app import main; sys.exit(main(sys.argv[1:]))"


def run_suggest(*, time_limit_s: float, repeat: int, new_sites: int) -> None:
    """Time ``deyang-geo suggest-sites`` end to end (a fresh process, alternatives and map
    included) against its ``--time-limit``, on a synthetic grid where the exact MCLP does
    not finish within the limit."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_suggest_inputs(folder)
        print(f"suggest-sites on a synthetic 80 x 80-node street grid (100 m), 4,000 "
              f"synthetic clustered communities, network-node candidates every 150 m, "
              f"{new_sites} sites, 10 min walk, --time-limit {time_limit_s:g}; "
              f"load average {os.getloadavg()[0]:.1f} (2 cores shared: figures are indicative)")
        print(f"  {'run':>3} {'status':>11} {'gap':>8} {'solve s':>8} {'whole s':>8} "
              f"{'CPU s':>7} {'whole/limit':>11} {'load':>5}")
        ratios = []
        for k in range(repeat):
            out = folder / f"out{k}"
            cmd = [sys.executable, "-c", _CLI, "-q", "suggest-sites",
                   "--network", str(files["network"]), "--facilities", str(files["facilities"]),
                   "--demand", str(files["demand"]), "--category", "fitness_station",
                   "--minutes", "10", "--new-sites", str(new_sites), "--candidate-source",
                   "nodes", "--candidate-spacing-m", "150", "--time-limit", f"{time_limit_s:g}",
                   "--out", str(out)]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            ratios.append(wall / time_limit_s)
            print(f"  {k + 1:>3} {summary['status']:>11} {summary['gap']:>8.2%} "
                  f"{summary['solve_time_s']:>8.1f} {wall:>8.1f} {cpu:>7.1f} "
                  f"{wall / time_limit_s:>11.2f} {os.getloadavg()[0]:>5.1f}", flush=True)
        med = float(np.median(ratios))
        print(f"  median whole run: {med:.2f} x the limit "
              f"({'within' if med <= 1.1 else 'beyond'} 10 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spopt", action="store_true", help="also run spopt (minutes)")
    parser.add_argument("--large", action="store_true", help="run the network-scale instance")
    parser.add_argument("--clustered", action="store_true",
                        help="run only the clustered 20,000 x 5,000 instance (gap 1 %%)")
    parser.add_argument("--time-limit", type=float, default=150.0, metavar="S",
                        help="time limit of the clustered instance (default 150)")
    parser.add_argument("--repeat", type=int, default=1, help="paired runs of the clustered case")
    parser.add_argument("--suggest", action="store_true",
                        help="time the whole suggest-sites command against --time-limit")
    parser.add_argument("--new-sites", type=int, default=30, help="sites of --suggest")
    args = parser.parse_args()
    if args.suggest:
        run_suggest(time_limit_s=args.time_limit, repeat=args.repeat, new_sites=args.new_sites)
        return
    if args.clustered:
        run_clustered(time_limit_s=args.time_limit, repeat=args.repeat, spopt=args.spopt)
        return
    obj, bound, status, t_ours, greedy, red = run_ours_small()
    print("small instance: 5,000 demand x 1,000 candidates, MCLP 20 sites, 1,000 m")
    print(f"  reductions {red}")
    rows = [("deyang_geo.planning.siting.mclp", obj, status, t_ours)]
    if args.spopt:
        s_obj, s_status, t_spopt, t_build = run_spopt_small()
        rows.append((f"spopt MCLP + PuLP/HiGHS (build {t_build:.1f} s)", s_obj, s_status,
                     t_spopt))
    print(f"  {'solver':<44} {'objective':>12} {'status':>10} {'seconds':>9}")
    for name, o, st, t in rows:
        print(f"  {name:<44} {o:>12,.0f} {st:>10} {t:>9.2f}")
    print(f"  ours: bound {bound:,.0f}, greedy {greedy:,.0f} ({greedy / obj:.2%} of optimum)")
    if args.spopt:
        same = abs(rows[0][1] - rows[1][1]) < 0.5
        print(f"  same objective: {same}; speed-up {rows[1][3] / rows[0][3]:.1f}x")
    if args.large:
        run_large()


if __name__ == "__main__":
    main()
