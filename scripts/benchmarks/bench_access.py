"""Benchmark of the routing core on a synthetic walk network (~250,000 nodes, ~1M edges).

Parts, each run in its own process so that peak memory (ru_maxrss) is per part:
  nearest  minutes to the nearest facility, 10 categories x 200 facilities, all nodes,
           beside networkx multi_source_dijkstra_path_length on the same graph and sources
  reach    reach sets within 15 minutes for 10,000 sources to 100,000 demand points
  pandana  pandana nodes_in_range from the same sources' nodes (preprocessing included)
  snap     snapping 100,000 points

Usage: python scripts/benchmarks/bench_access.py [--part all|nearest|reach|pandana|snap]
       [--size 500] [--timeout-s 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deyang_geo.analysis.routing import RoutingNetwork  # noqa: E402

WALK_MS = 4.0 / 3.6
SPACING_M = 60.0


def synthetic_network(size: int, seed: int = 42) -> RoutingNetwork:
    """A size x size perturbed grid; 5 % of streets removed, diagonals added in 5 % of cells."""
    rng = np.random.default_rng(seed)
    n = size * size
    ii, jj = np.divmod(np.arange(n), size)
    x = jj * SPACING_M + rng.uniform(-15, 15, n)
    y = ii * SPACING_M + rng.uniform(-15, 15, n)
    node = np.arange(n).reshape(size, size)
    h = np.stack([node[:, :-1].ravel(), node[:, 1:].ravel()], axis=1)
    v = np.stack([node[:-1, :].ravel(), node[1:, :].ravel()], axis=1)
    grid = np.concatenate([h, v])
    grid = grid[rng.random(len(grid)) >= 0.05]
    d = np.stack([node[:-1, :-1].ravel(), node[1:, 1:].ravel()], axis=1)
    d = d[rng.random(len(d)) < 0.05]
    und = np.concatenate([grid, d])
    u = np.concatenate([und[:, 0], und[:, 1]])
    w = np.concatenate([und[:, 1], und[:, 0]])
    length = np.hypot(x[u] - x[w], y[u] - y[w])
    return RoutingNetwork.from_arrays(
        "EPSG:32648", node_ids=np.arange(n, dtype=np.int64), x=x, y=y, edge_u=u, edge_v=w,
        length_m=length, weights_s={"walk": length / WALK_MS}, speeds_kmh={"walk": 4.0},
        source=f"synthetic grid {size}x{size} seed {seed}",
    )


def random_points(net: RoutingNetwork, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.uniform(net.x.min(), net.x.max(), count),
            rng.uniform(net.y.min(), net.y.max(), count))


def warm_up() -> None:
    """Compile (or load from cache) the numba kernels on a tiny network."""
    from deyang_geo.analysis.access import nearest_minutes, reach_set
    from deyang_geo.analysis.snapping import snap_points

    tiny = synthetic_network(5)
    s = snap_points(tiny, [10.0, 100.0], [10.0, 100.0])
    nearest_minutes(tiny, s, s, mode="walk")
    reach_set(tiny, s, s, mode="walk", max_minutes=5)


class Timer:
    """Wall and CPU seconds of a block (the machine is shared: CPU time is the steadier)."""

    def __enter__(self) -> Timer:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def part_nearest(size: int) -> dict[str, float]:
    import networkx as nx

    from deyang_geo.analysis.access import nearest_minutes, node_minutes
    from deyang_geo.analysis.snapping import snap_points

    warm_up()
    net = synthetic_network(size)
    rng = np.random.default_rng(1)
    cats = [rng.choice(net.n_nodes, 200, replace=False) for _ in range(10)]
    snapped = [snap_points(net, net.x[c], net.y[c]) for c in cats]  # facilities at nodes
    with Timer() as t_ours:
        ours = [node_minutes(net, s, mode="walk")[0] for s in snapped]
    dx, dy = random_points(net, 100_000, 3)
    demand = snap_points(net, dx, dy)
    with Timer() as t_demand:
        for s in snapped:
            nearest_minutes(net, s, demand, mode="walk")

    G = nx.DiGraph()
    G.add_weighted_edges_from(zip(net.edge_u.tolist(), net.edge_v.tolist(),
                                  net.weights_s["walk"].tolist(), strict=True))
    with Timer() as t_nx:
        ref = [nx.multi_source_dijkstra_path_length(G, set(c.tolist())) for c in cats]
    worst = 0.0
    for mine, theirs in zip(ours, ref, strict=True):
        r = np.full(net.n_nodes, np.nan)
        r[np.fromiter(theirs.keys(), dtype=np.int64)] = np.fromiter(theirs.values(), float) / 60
        worst = max(worst, float(np.nanmax(np.abs(mine - r))))
    return {"nodes": net.n_nodes, "edges": net.n_edges, "ours_s": t_ours.wall,
            "ours_cpu_s": t_ours.cpu, "ours_100k_demand_s": t_demand.wall,
            "ours_100k_demand_cpu_s": t_demand.cpu, "networkx_s": t_nx.wall,
            "networkx_cpu_s": t_nx.cpu, "max_abs_diff_min": worst, "peak_mb": peak_mb()}


def part_reach(size: int) -> dict[str, float]:
    from deyang_geo.analysis.access import reach_set
    from deyang_geo.analysis.snapping import snap_points

    warm_up()
    net = synthetic_network(size)
    base_mb = peak_mb()
    sx, sy = random_points(net, 10_000, 5)
    dx, dy = random_points(net, 100_000, 6)
    src = snap_points(net, sx, sy)
    dem = snap_points(net, dx, dy)
    before_mb = peak_mb()
    with Timer() as t_ours:
        rs = reach_set(net, src, dem, mode="walk", max_minutes=15.0)
    ours_peak = peak_mb()
    return {"sources": 10_000, "demand": 100_000, "pairs": rs.nnz, "ours_s": t_ours.wall,
           "ours_cpu_s": t_ours.cpu, "peak_mb": ours_peak, "peak_mb_network": base_mb,
           "peak_mb_before_reach": before_mb,
           "reach_arrays_mb": (rs.indices.nbytes + rs.minutes.nbytes) / 2**20}


def part_pandana(size: int) -> dict[str, float]:
    import pandana
    import pandas as pd

    from deyang_geo.analysis.snapping import snap_points

    net = synthetic_network(size)
    sx, sy = random_points(net, 10_000, 5)
    src = snap_points(net, sx, sy)
    with Timer() as t_prep:
        pnet = pandana.Network(pd.Series(net.x), pd.Series(net.y), pd.Series(net.edge_u),
                               pd.Series(net.edge_v),
                               pd.DataFrame({"s": net.weights_s["walk"]}), twoway=False)
    print(json.dumps({"pandana_prep_s": t_prep.wall}), file=sys.stderr, flush=True)
    src_nodes = np.where(src.snapped, net.edge_u[np.maximum(src.edge, 0)], 0)
    with Timer() as t_query:
        res = pnet.nodes_in_range(src_nodes.tolist(), 900.0, "s")
    return {"pandana_prep_s": t_prep.wall, "pandana_query_s": t_query.wall,
            "pandana_cpu_s": t_prep.cpu + t_query.cpu, "pandana_pairs": len(res),
            "peak_mb_after_pandana": peak_mb()}


def part_snap(size: int) -> dict[str, float]:
    from deyang_geo.analysis.snapping import snap_points

    net = synthetic_network(size)
    x, y = random_points(net, 100_000, 9)
    with Timer() as t_cold:
        s = snap_points(net, x, y)
    with Timer() as t_warm:
        snap_points(net, x, y)
    return {"points": 100_000, "snapped": int(s.snapped.sum()), "cold_s": t_cold.wall,
            "cold_cpu_s": t_cold.cpu, "warm_s": t_warm.wall, "warm_cpu_s": t_warm.cpu,
            "peak_mb": peak_mb()}


PARTS = {"nearest": part_nearest, "reach": part_reach, "pandana": part_pandana,
         "snap": part_snap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["all", *PARTS])
    parser.add_argument("--size", type=int, default=500, help="grid side (default 500)")
    parser.add_argument("--timeout-s", type=float, default=1200.0,
                        help="give up on a part (pandana's preprocessing) after this long")
    parser.add_argument("--no-pandana", action="store_true",
                        help="skip pandana (its preprocessing took 27 min on a shared 2-core box)")
    args = parser.parse_args()
    if args.part != "all":
        print(json.dumps(PARTS[args.part](args.size)))
        return
    results: dict[str, dict[str, float]] = {}
    for name in PARTS:
        if name == "pandana" and args.no_pandana:
            results[name] = {}
            continue
        try:
            proc = subprocess.run([sys.executable, __file__, "--part", name, "--size",
                                   str(args.size)], capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore"},
                                  timeout=args.timeout_s)
        except subprocess.TimeoutExpired:
            results[name] = {"timeout_s": args.timeout_s}
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    net = synthetic_network(args.size)
    t_build = time.perf_counter() - t0
    print(f"synthetic walk network: {net.n_nodes:,} nodes, {net.n_edges:,} directed edges "
          f"(built in {t_build:.1f} s); machine: {os.cpu_count()} cores, shared")
    n, r, s = results["nearest"], results["reach"], results["snap"]
    r = {**r, **results["pandana"]}
    rows = [
        ("(a) nearest, 10 cat x 200 fac, all nodes",
         f"{n['ours_s']:.2f} s (cpu {n['ours_cpu_s']:.2f})",
         (f"networkx {n['networkx_s']:.1f} s (cpu {n['networkx_cpu_s']:.1f}): "
         f"{n['networkx_cpu_s'] / n['ours_cpu_s']:.0f}x by cpu"), "< 1 s, >= 20x"),
        ("    same, to 100,000 demand points",
         f"{n['ours_100k_demand_s']:.2f} s (cpu {n['ours_100k_demand_cpu_s']:.2f})", "", ""),
        ("    max |ours - networkx| (minutes)", f"{n['max_abs_diff_min']:.1e}", "", ""),
        ("(b) reach sets 15 min, 10,000 sources",
         f"{r['ours_s']:.2f} s (cpu {r['ours_cpu_s']:.2f})",
         (f"pandana {r['pandana_prep_s'] + r['pandana_query_s']:.1f} s "
          f"(prep {r['pandana_prep_s']:.1f} + query {r['pandana_query_s']:.1f}; "
          f"cpu {r['pandana_cpu_s']:.1f})" if "pandana_prep_s" in r
          else f"pandana stopped after {r['timeout_s']:.0f} s" if "timeout_s" in r
          else "pandana not run"), "< 10 s"),
        ("    pairs (ours to demand / pandana nodes)", f"{r['pairs']:,}",
         f"{r.get('pandana_pairs', 0):,}", ""),
        ("    peak RSS: network / before / after reach",
         (f"{r['peak_mb_network']:.0f} / {r['peak_mb_before_reach']:.0f} / "
         f"{r['peak_mb']:.0f} MB (CSR {r['reach_arrays_mb']:.0f} MB)"),
         f"after pandana {r.get('peak_mb_after_pandana', 0):.0f} MB", "< 1 GB"),
        ("(c) snapping 100,000 points",
         (f"{s['cold_s']:.2f} s cold (cpu {s['cold_cpu_s']:.2f}), "
         f"{s['warm_s']:.2f} s warm (cpu {s['warm_cpu_s']:.2f})"), "", "< 5 s"),
    ]
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    head = ("benchmark", "deyang-geo", "reference", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
