"""Benchmark of graded accessibility from sparse reach sets (SYNTHETIC points).

100,000 demand units x 1,000 facilities x 10 categories at a 30-minute cut-off: potential
(Gaussian decay), E2SFCA and minutes to the 3rd nearest facility, per category, computed from
the reach sets' CSR arrays only (never a dense 100,000 x 1,000 matrix). The reach sets stand
for network reach sets: units spread over 40 x 40 km in settlements, minutes = straight-line
distance x 1.3 detour at 4 km/h (built with a k-d tree; building them is not timed).

Beside it, the anchor: pysal ``access`` (two_stage_fca with the same Gaussian weights) on one
category, and the largest difference between the two.

With ``--network SIZE`` it also runs the whole table-level call on a street network
(``compute_accessibility``: snapping, one reach set per category on the synthetic SIZE x SIZE
grid of ``bench_access.py``, 60 m blocks, then the scores and the per-community table).

Target (issue 15): under 10 s for all 10 categories.

Usage: python scripts/benchmarks/bench_graded.py [--units 100000] [--facilities 1000]
       [--categories 10] [--anchor-categories 1] [--network 500]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deyang_geo.analysis.access import ReachSet  # noqa: E402
from deyang_geo.analysis.accessibility import e2sfca_scores, kth_nearest_minutes, potential_scores  # noqa: E402

SIDE_M = 40_000.0
M_PER_MIN = 4000.0 / 60.0 / 1.3


def points(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.uniform(0, SIDE_M, size=(60, 2))
    which = rng.integers(0, 60, n)
    return centres[which] + rng.normal(0, 1500, size=(n, 2))


def reach_from_points(fac: np.ndarray, units: np.ndarray, cut_min: float) -> ReachSet:
    from scipy.spatial import cKDTree

    tree_u = cKDTree(units)
    tree_f = cKDTree(fac)
    sdm = tree_f.sparse_distance_matrix(tree_u, cut_min * M_PER_MIN, output_type="coo_matrix")
    csr = sdm.tocsr()
    csr.sort_indices()
    return ReachSet(indptr=csr.indptr.astype(np.int64), indices=csr.indices.astype(np.int64),
                    minutes=csr.data / M_PER_MIN, n_sources=len(fac), n_demand=len(units),
                    max_minutes=cut_min)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--facilities", type=int, default=1000)
    ap.add_argument("--categories", type=int, default=10)
    ap.add_argument("--anchor-categories", type=int, default=1)
    ap.add_argument("--network", type=int, default=0, metavar="SIZE",
                    help="also time compute_accessibility on a SIZE x SIZE street grid")
    args = ap.parse_args()
    if args.network:
        network_part(args)
        return
    rng = np.random.default_rng(3)
    units = points(args.units, rng)
    pop = rng.integers(20, 400, args.units).astype(float)
    t0 = time.perf_counter()
    reaches = []
    supplies = []
    for _ in range(args.categories):
        fac = points(args.facilities, rng)
        reaches.append(reach_from_points(fac, units, 30.0))
        supplies.append(rng.uniform(100, 2000, args.facilities))
    nnz = sum(r.nnz for r in reaches)
    print(f"reach sets built (not timed) in {time.perf_counter() - t0:.1f} s: "
          f"{nnz:,} pairs within 30 min over {args.categories} categories "
          f"(a dense matrix would hold {args.units * args.facilities * args.categories:,})")

    t0 = time.perf_counter()
    c0 = time.process_time()
    for r, s in zip(reaches, supplies, strict=True):
        potential_scores(r, decay="gaussian", decay_minutes=10.0)
        e2sfca_scores(r, population=pop, supply=s, decay="gaussian", decay_minutes=10.0)
        kth_nearest_minutes(r, k=3)
    ours_s = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"deyang-geo: potential + E2SFCA + 3rd nearest, {args.categories} categories: "
          f"{ours_s:.2f} s wall, {cpu_s:.2f} s CPU (peak RSS of the process {rss:.0f} MB)")

    try:
        import pandas as pd
        from access import fca, weights
    except ImportError:
        print("pysal access not installed: anchor skipped (pip install access)")
        return
    for c in range(args.anchor_categories):
        r, s = reaches[c], supplies[c]
        rows = np.repeat(np.arange(r.n_sources), np.diff(r.indptr))
        cost = pd.DataFrame({"origin": r.indices, "dest": rows, "cost": r.minutes})
        demand_df = pd.DataFrame({"pop": pop}, index=pd.RangeIndex(r.n_demand, name="geoid"))
        supply_df = pd.DataFrame({"s": s}, index=pd.RangeIndex(r.n_sources, name="geoid"))
        t0 = time.perf_counter()
        ref = fca.two_stage_fca(demand_df, supply_df, cost, max_cost=30.0, demand_index=True,
                                demand_name="pop", supply_name="s",
                                weight_fn=weights.gaussian(10.0))
        anchor_s = time.perf_counter() - t0
        ours, _ = e2sfca_scores(r, population=pop, supply=s, decay="gaussian",
                                decay_minutes=10.0)
        ref_v = ref.reindex(range(r.n_demand)).fillna(0.0).to_numpy()
        diff = float(np.max(np.abs(ours - ref_v) / np.maximum(np.abs(ref_v), 1e-12)))
        print(f"pysal access two_stage_fca (Gaussian), category {c + 1}: {anchor_s:.2f} s; "
              f"largest relative difference from ours {diff:.1e}")


def network_part(args: argparse.Namespace) -> None:
    import geopandas as gpd
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_access import random_points, synthetic_network, warm_up

    from deyang_geo.analysis.accessibility import compute_accessibility

    warm_up()
    t0 = time.perf_counter()
    net = synthetic_network(args.network)
    print(f"network {args.network}x{args.network} built (not timed) in "
          f"{time.perf_counter() - t0:.1f} s: {net.n_nodes:,} nodes, {net.n_edges:,} edges")
    ux, uy = random_points(net, args.units, seed=1)
    n_comm = 1000
    units = gpd.GeoDataFrame(
        {"unit_id": [f"u{i}" for i in range(args.units)],
         "community_id": [f"c{i % n_comm}" for i in range(args.units)],
         "population": np.random.default_rng(2).integers(20, 400, args.units).astype(float)},
        geometry=gpd.points_from_xy(ux, uy), crs=net.crs)
    n_fac = args.facilities * args.categories
    fx, fy = random_points(net, n_fac, seed=3)
    facilities = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(n_fac)],
         "category": [f"cat{i % args.categories:02d}" for i in range(n_fac)],
         "floor_area_m2": np.random.default_rng(4).uniform(100, 2000, n_fac)},
        geometry=gpd.points_from_xy(fx, fy), crs=net.crs)
    communities = pd.DataFrame({"id": [f"c{i}" for i in range(n_comm)]})
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = compute_accessibility(net, units, facilities, communities, mode="walk",
                                max_minutes=30.0, decay="gaussian", decay_minutes=10.0,
                                supply_column="floor_area_m2", k=3)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"compute_accessibility, {args.units:,} units x {args.facilities:,} facilities x "
          f"{args.categories} categories at 30 min on the network: {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU, peak RSS {rss:.0f} MB "
          f"({int(res.units['facilities_within'].sum()):,} pairs within reach)")


if __name__ == "__main__":
    main()
