"""Benchmark of the routing core on a synthetic walk network (~250,000 nodes, ~1M edges).

Parts, each run in its own process so that peak memory (ru_maxrss) is per part:
  scipy    minutes to the nearest facility, 10 categories x 200 facilities, all nodes:
           node_minutes_many (categories on all cores) beside scipy.sparse.csgraph.dijkstra
           (min_only=True) on the same arrays, paired runs (--repeats, median), results
           compared bit for bit, machine load printed
  scaling  the same search (one category, one thread) and scipy's on 10k-1M node grids: time
           per search and the exponent of its growth in nodes
  nearest  minutes to the nearest facility, 10 categories x 200 facilities, all nodes,
           beside networkx multi_source_dijkstra_path_length on the same graph and sources
  reach    reach sets within 15 minutes for 10,000 sources to 100,000 demand points
  pandana  pandana nodes_in_range from the same sources' nodes (preprocessing included)
  snap     snapping 100,000 points

Usage: python scripts/benchmarks/bench_access.py [--part all|scipy|scaling|nearest|reach|
       pandana|snap] [--size 500] [--repeats 5] [--threads N] [--timeout-s 1200]
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deyang_geo.analysis.routing import RoutingNetwork  # noqa: E402

WALK_MS = 4.0 / 3.6
SPACING_M = 60.0


def synthetic_network(size: int, seed: int = 42, *, lean: bool = False) -> RoutingNetwork:
    """A size x size perturbed grid; 5 % of streets removed, diagonals added in 5 % of cells.

    ``lean``: no edge geometries (fast to build at 1M nodes; no snapping on it then).
    """
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
        geometry=np.full(length.size, None, dtype=object) if lean else None,
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


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} cores"


def _facility_sets(net: RoutingNetwork, n_sets: int, per_set: int,
                   seed: int = 1) -> tuple[list[np.ndarray], list[object]]:
    """Random facility nodes, placed on one of their out-edges at fraction 0 (no snapping)."""
    from deyang_geo.analysis.snapping import Snapped

    rng = np.random.default_rng(seed)
    first_edge = np.searchsorted(net.edge_u, np.arange(net.n_nodes))  # edges sorted by tail
    has_edge = np.zeros(net.n_nodes, dtype=bool)
    has_edge[net.edge_u] = True
    pool = np.flatnonzero(has_edge)
    nodes = [np.sort(rng.choice(pool, per_set, replace=False)) for _ in range(n_sets)]
    sets: list[object] = [
        Snapped(first_edge[c].astype(np.int64), np.zeros(c.size), np.zeros(c.size),
                np.ones(c.size, dtype=bool)) for c in nodes]
    return nodes, sets


def _scipy_matrix(net: RoutingNetwork) -> object:
    import scipy.sparse

    c = net.csr("walk", reverse=True)  # to_facility: the search runs on the transposed graph
    return scipy.sparse.csr_array((c.weights_s, c.indices, c.indptr),
                                  shape=(net.n_nodes, net.n_nodes))


def part_scipy(size: int, repeats: int, threads: int | None) -> dict[str, object]:
    from scipy.sparse.csgraph import dijkstra

    from deyang_geo.analysis.access import node_minutes_many, resolve_threads

    warm_up()
    net = synthetic_network(size)
    nodes, sets = _facility_sets(net, 10, 200)
    t0 = time.perf_counter()
    net.search_arrays("walk", reverse=True)
    prep_s = time.perf_counter() - t0
    matrix = _scipy_matrix(net)
    n_threads = resolve_threads(threads)
    load_before = _load()
    ours_w, ours_c, one_w, one_c, sp_w, sp_c = [], [], [], [], [], []
    ours = ref = one = None
    for k in range(repeats):
        runs = ["ours", "one", "scipy"] if k % 2 == 0 else ["scipy", "one", "ours"]
        for name in runs:
            with Timer() as t:
                if name == "ours":
                    ours = node_minutes_many(net, sets, mode="walk", threads=n_threads)[0]
                elif name == "one":
                    one = node_minutes_many(net, sets, mode="walk", threads=1)[0]
                else:
                    ref = np.stack([dijkstra(matrix, directed=True, indices=c, min_only=True)
                                    for c in nodes])
            {"ours": ours_w, "one": one_w, "scipy": sp_w}[name].append(t.wall)
            {"ours": ours_c, "one": one_c, "scipy": sp_c}[name].append(t.cpu)
    if ours is None or ref is None or one is None:
        msg = "no run: --repeats must be at least 1"
        raise SystemExit(msg)
    ref_min = ref / 60.0
    ref_min[~np.isfinite(ref)] = np.nan
    same = np.array_equal(ours, ref_min, equal_nan=True)
    diff = np.abs(ours - ref_min)
    ratio = [s_ / o_ for s_, o_ in zip(sp_w, ours_w, strict=True)]
    return {"nodes": net.n_nodes, "edges": net.n_edges, "threads": n_threads,
            "repeats": repeats, "ours_s": float(np.median(ours_w)),
            "ours_cpu_s": float(np.median(ours_c)), "ours_1thread_s": float(np.median(one_w)),
            "ours_1thread_cpu_s": float(np.median(one_c)), "scipy_s": float(np.median(sp_w)),
            "scipy_cpu_s": float(np.median(sp_c)), "ratio_median": float(np.median(ratio)),
            "ratio_runs": [round(x, 2) for x in ratio],
            "identical": bool(same), "nodes_differing": int(np.sum(~((ours == ref_min) | (
                np.isnan(ours) & np.isnan(ref_min))))),
            "max_abs_diff_min": float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0,
            "same_as_1thread": bool(np.array_equal(ours, one, equal_nan=True)),
            "search_arrays_s": prep_s, "load_before": load_before, "load_after": _load()}


def part_scaling(sizes: list[int], repeats: int) -> dict[str, object]:
    from scipy.sparse.csgraph import dijkstra

    from deyang_geo.analysis.access import node_minutes_many

    warm_up()
    rows = []
    for size in sizes:
        net = synthetic_network(size, lean=True)
        nodes, sets = _facility_sets(net, 1, 200)
        net.search_arrays("walk", reverse=True)
        matrix = _scipy_matrix(net)
        ours_t, sp_t = [], []
        for _ in range(repeats):
            with Timer() as t:
                node_minutes_many(net, sets, mode="walk", threads=1)
            ours_t.append(t.cpu)
            with Timer() as t:
                dijkstra(matrix, directed=True, indices=nodes[0], min_only=True)
            sp_t.append(t.cpu)
        rows.append({"nodes": net.n_nodes, "edges": net.n_edges,
                     "ours_cpu_s": float(np.median(ours_t)),
                     "scipy_cpu_s": float(np.median(sp_t))})
        del net, matrix
    n = np.log([r["nodes"] for r in rows])
    ours_exp = float(np.polyfit(n, np.log([r["ours_cpu_s"] for r in rows]), 1)[0])
    sp_exp = float(np.polyfit(n, np.log([r["scipy_cpu_s"] for r in rows]), 1)[0])
    nlogn = float(np.polyfit(n, np.log(np.exp(n) * n), 1)[0])
    return {"rows": rows, "ours_exponent": ours_exp, "scipy_exponent": sp_exp,
            "nlogn_exponent": nlogn, "load": _load()}


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


def scipy_rows(sc: dict[str, Any], sg: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Table rows of the scipy and scaling parts (empty when a part did not finish)."""
    rows: list[tuple[str, str, str, str]] = []
    if "ours_s" in sc:
        rows += [
            (f"(a0) nearest, 10 cat x 200 fac, all nodes, {sc['threads']} threads",
             f"{sc['ours_s']:.3f} s (cpu {sc['ours_cpu_s']:.3f})",
             (f"scipy dijkstra min_only {sc['scipy_s']:.3f} s (cpu {sc['scipy_cpu_s']:.3f}): "
              f"{sc['ratio_median']:.1f}x (median of {sc['repeats']} paired runs)"),
             ">= 3x scipy"),
            ("    same, one thread", (f"{sc['ours_1thread_s']:.3f} s "
                                     f"(cpu {sc['ours_1thread_cpu_s']:.3f})"),
             f"{sc['scipy_s'] / sc['ours_1thread_s']:.1f}x scipy", ""),
            ("    minutes identical to scipy (bit for bit)",
             (f"{sc['identical']} ({sc['nodes_differing']} nodes differ, max "
              f"{sc['max_abs_diff_min']:.1e} min)"),
             f"threads change nothing: {sc['same_as_1thread']}", "identical"),
            ("    machine", sc["load_before"], f"after: {sc['load_after']}", ""),
        ]
    if "rows" in sg:
        sizes = ", ".join(f"{row['nodes'] / 1000:.0f}k {row['ours_cpu_s'] * 1000:.0f} ms"
                          for row in sg["rows"])
        ref = ", ".join(f"{row['scipy_cpu_s'] * 1000:.0f}" for row in sg["rows"])
        rows.append(("(a1) one search (1 cat, 1 thread), cpu per size", sizes,
                     f"scipy {ref} ms", ""))
        rows.append(("    growth exponent in nodes", f"{sg['ours_exponent']:.2f}",
                     f"scipy {sg['scipy_exponent']:.2f}",
                     f"n log n: {sg['nlogn_exponent']:.2f}"))
    return rows


PARTS = {"nearest": part_nearest, "reach": part_reach, "pandana": part_pandana,
         "snap": part_snap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["all", "scipy", "scaling", *PARTS])
    parser.add_argument("--size", type=int, default=500, help="grid side (default 500)")
    parser.add_argument("--timeout-s", type=float, default=1200.0,
                        help="give up on a part (pandana's preprocessing) after this long")
    parser.add_argument("--no-pandana", action="store_true",
                        help="skip pandana (its preprocessing took 27 min on a shared 2-core box)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="paired runs of ours and scipy (medians reported; default 5)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the categories (default: every core)")
    parser.add_argument("--scale-sizes", default="100,224,500,1000",
                        help="grid sides of the scaling part (default 100,224,500,1000: "
                             "10k-1M nodes)")
    args = parser.parse_args()
    if args.part == "scipy":
        print(json.dumps(part_scipy(args.size, args.repeats, args.threads)))
        return
    if args.part == "scaling":
        sizes = [int(v) for v in args.scale_sizes.split(",")]
        print(json.dumps(part_scaling(sizes, max(3, args.repeats // 2 + 1))))
        return
    if args.part != "all":
        print(json.dumps(PARTS[args.part](args.size)))
        return
    results: dict[str, dict[str, Any]] = {}
    for name in ["scipy", "scaling", *PARTS]:
        if name == "pandana" and args.no_pandana:
            results[name] = {}
            continue
        extra = ["--repeats", str(args.repeats), "--scale-sizes", args.scale_sizes]
        if args.threads is not None:
            extra += ["--threads", str(args.threads)]
        try:
            proc = subprocess.run([sys.executable, __file__, "--part", name, "--size",
                                   str(args.size), *extra], capture_output=True, text=True,
                                  check=True,
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
    rows = [*scipy_rows(results["scipy"], results["scaling"]),
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
    rows = [row for row in rows if row is not None]
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    head = ("benchmark", "deyang-geo", "reference", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
