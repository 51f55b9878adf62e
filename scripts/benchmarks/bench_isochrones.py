"""Benchmark: our street-following isochrones beside the ego-graph + convex-hull recipe.

Two cases, each with 200 facilities and 5/10/15-minute walking breaks dissolved per category:

- ``grid``: the synthetic walk network of ``bench_access.py`` (500 x 500 nodes, ~1M directed
  edges), facilities at random points (seeded), one category;
- ``andorra``: the real extract ``../shared/data/andorra.osm.pbf`` (walk mode), facilities
  20 m off random walk nodes (seeded), one category. Skipped when the file is absent.

For each case and each of ``--runs`` paired runs (ours, then the recipes, back to back) it
times:

- ours: :func:`deyang_geo.analysis.isochrones.isochrones` (the polygon is every street part reached,
  buffered by the walk-off distance: 0 % off-street area by definition; built from covered
  cells and a rim of buffers on dense networks, from a running union shared by the breaks on
  sparse ones, the same polygons either way);
- ``hull (lean)``: one Dijkstra per facility (networkx, cut off at the largest break), the
  convex hull of the nodes reached per break, union per break (the cheapest form of the recipe);
- ``hull (osmnx example)``: the osmnx example as written, ``nx.ego_graph(G, node, radius,
  distance="time")`` per facility and break, convex hull, union (``--skip-ego`` leaves it out).

It prints the medians (wall and CPU seconds) side by side with the machine's load, then, once,
our polygons beside today's definition computed the slow way (``union_all`` of every part's
buffer): areas, symmetric-difference area and vertices more than 1 m outside the other, and the
share of each hull that lies farther than the walk-off from every street reached.

Usage::

    python scripts/benchmarks/bench_isochrones.py [--case all|grid|andorra] [--runs 3]
        [--size 500] [--facilities 200] [--skip-ego] [--skip-check]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_access import synthetic_network  # noqa: E402

from deyang_geo.analysis.routing import RoutingNetwork  # noqa: E402

DEFAULT_ANDORRA = ROOT.parent / "shared" / "data" / "andorra.osm.pbf"
BREAKS_MINUTES = (5.0, 10.0, 15.0)
WALKOFF_M = 50.0


def grid_case(size: int, n_fac: int) -> tuple[RoutingNetwork, Any]:
    import geopandas as gpd

    net = synthetic_network(size)
    rng = np.random.default_rng(7)
    x = rng.uniform(net.x.min(), net.x.max(), n_fac)
    y = rng.uniform(net.y.min(), net.y.max(), n_fac)
    fac = gpd.GeoDataFrame({"id": np.arange(n_fac), "category": "clinic"},
                           geometry=gpd.points_from_xy(x, y), crs=net.crs)
    return net, fac


def andorra_case(path: Path, n_fac: int) -> tuple[RoutingNetwork, Any]:
    import geopandas as gpd

    from deyang_geo.network import graph_from_osm_file

    net = RoutingNetwork.from_graph(graph_from_osm_file(path, modes="walk"))
    rng = np.random.default_rng(7)
    nodes = rng.choice(net.n_nodes, n_fac, replace=False)
    angle = rng.uniform(0, 2 * np.pi, n_fac)
    x, y = net.x[nodes] + 20 * np.cos(angle), net.y[nodes] + 20 * np.sin(angle)
    fac = gpd.GeoDataFrame({"id": np.arange(n_fac), "category": "clinic"},
                           geometry=gpd.points_from_xy(x, y), crs=net.crs)
    return net, fac


def nx_graph(net: RoutingNetwork) -> Any:
    """The same walk network as a networkx graph with x/y and travel times (not timed)."""
    import networkx as nx

    G = nx.MultiDiGraph(crs=net.crs)
    G.add_nodes_from((i, {"x": float(a), "y": float(b)})
                     for i, (a, b) in enumerate(zip(net.x, net.y, strict=True)))
    G.add_edges_from((int(u), int(v), {"time": float(w)}) for u, v, w in
                     zip(net.edge_u, net.edge_v, net.weights_s["walk"], strict=True))
    return G


def hull_lean(G: Any, net: RoutingNetwork, fx: np.ndarray, fy: np.ndarray) -> list[Any]:
    import networkx as nx
    import shapely
    from scipy.spatial import cKDTree

    _, near = cKDTree(np.c_[net.x, net.y]).query(np.c_[fx, fy])
    hulls: dict[float, list[Any]] = {b: [] for b in BREAKS_MINUTES}
    for node in near.tolist():
        d = nx.single_source_dijkstra_path_length(G, node, cutoff=max(BREAKS_MINUTES) * 60,
                                                  weight="time")
        k = np.fromiter(d.keys(), dtype=np.int64)
        t = np.fromiter(d.values(), dtype=np.float64)
        for b in BREAKS_MINUTES:
            sel = k[t <= b * 60]
            hulls[b].append(shapely.convex_hull(shapely.multipoints(
                np.c_[net.x[sel], net.y[sel]])))
    return [shapely.union_all(hulls[b]) for b in BREAKS_MINUTES]


def hull_osmnx_example(G: Any, net: RoutingNetwork, fx: np.ndarray,
                       fy: np.ndarray) -> list[Any]:
    import networkx as nx
    import shapely
    from scipy.spatial import cKDTree

    _, near = cKDTree(np.c_[net.x, net.y]).query(np.c_[fx, fy])
    hulls: dict[float, list[Any]] = {b: [] for b in BREAKS_MINUTES}
    for node in near.tolist():
        for b in sorted(BREAKS_MINUTES, reverse=True):
            sub = nx.ego_graph(G, node, radius=b * 60, distance="time")
            xy = np.array([(d["x"], d["y"]) for _, d in sub.nodes(data=True)])
            hulls[b].append(shapely.convex_hull(shapely.multipoints(xy)))
    return [shapely.union_all(hulls[b]) for b in BREAKS_MINUTES]


def ours(net: RoutingNetwork, fac: Any) -> list[Any]:
    from deyang_geo.analysis.isochrones import isochrones

    iso = isochrones(net, fac, breaks_minutes=BREAKS_MINUTES, walkoff_m=WALKOFF_M)
    return list(iso.geometry)


def timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


def reference(net: RoutingNetwork, fac: Any) -> list[Any]:
    """Today's definition the slow way: union_all of every reached part's buffer."""
    import shapely

    from deyang_geo.analysis.isochrones import _reached_parts
    from deyang_geo.analysis.snapping import snap_points

    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    s = snap_points(net, fx, fy)
    parts = _reached_parts(net, s, fx, fy, mode="walk", breaks_minutes=BREAKS_MINUTES)
    return [shapely.union_all(shapely.buffer(p, WALKOFF_M, quad_segs=4)) for p in parts]


def run_case(name: str, net: RoutingNetwork, fac: Any, args: argparse.Namespace) -> None:
    import shapely

    G = nx_graph(net)
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    ours(net, fac.iloc[:20])  # numba kernels compiled or loaded from cache, caches filled
    names = ["ours (street parts + walk-off)", "hull (lean: 1 Dijkstra/facility)"]
    if not args.skip_ego:
        names.append("hull (osmnx example: ego_graph)")
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    out: dict[str, list[Any]] = {}
    load0 = os.getloadavg()
    for _ in range(args.runs):
        for n in names:
            fn = (ours if n.startswith("ours") else
                  hull_lean if "lean" in n else hull_osmnx_example)
            a = (net, fac) if fn is ours else (G, net, fx, fy)
            w, c, out[n] = timed(fn, *a)
            wall[n].append(w)
            cpu[n].append(c)
            print(f"  {name}: {n} {w:.2f} s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    print(f"\n{name}: {net.n_nodes:,} nodes, {net.n_edges:,} directed edges, "
          f"{len(fac)} facilities x {len(BREAKS_MINUTES)} breaks, walk-off {WALKOFF_M:g} m; "
          f"median of {args.runs} paired runs; load average {load0[0]:.1f} -> {load1[0]:.1f} "
          f"on {os.cpu_count()} cores (shared machine: figures are indicative)")
    base_w, base_c = statistics.median(wall[names[0]]), statistics.median(cpu[names[0]])
    print(f"  {'method':<36}{'wall s':>9}{'cpu s':>9}   ours / it (wall, cpu)")
    for n in names:
        mw, mc = statistics.median(wall[n]), statistics.median(cpu[n])
        ratio = "" if n == names[0] else f"{base_w / mw:.2f}x, {base_c / mc:.2f}x"
        print(f"  {n:<36}{mw:9.2f}{mc:9.2f}   {ratio}")
    mine = out[names[0]]
    hulls = out[names[1]]
    print(f"  {'break':<8}{'ours km2':>10}{'hull km2':>10}{'hull off-street':>17}")
    for b, poly, hull in zip(BREAKS_MINUTES, mine, hulls, strict=True):
        off = shapely.difference(hull, poly).area / hull.area if hull.area else 0.0
        print(f"  {b:<8g}{poly.area / 1e6:10.2f}{hull.area / 1e6:10.2f}{off:16.1%}")
    if args.skip_check:
        return
    w_ref, c_ref, ref = timed(reference, net, fac)
    print(f"  check against union_all of every part's buffer (the definition, one run: "
          f"{w_ref:.2f} s wall, {c_ref:.2f} s cpu):")
    for b, poly, r in zip(BREAKS_MINUTES, mine, ref, strict=True):
        sym = shapely.symmetric_difference(poly, r).area / r.area
        print(f"    {b:g} min: area {poly.area:,.1f} vs {r.area:,.1f} m2, symmetric difference "
              f"{sym:.2e} of the area, vertices more than 1 m outside the other: "
              f"{far_vertices(poly, r)} of ours, {far_vertices(r, poly)} of the reference")


def far_vertices(a: Any, b: Any) -> int:
    """How many vertices of ``a`` lie more than 1 m outside ``b`` (a cheap Hausdorff check)."""
    import shapely

    near = shapely.buffer(b, 1.0, quad_segs=4)
    shapely.prepare(near)
    xy = shapely.get_coordinates(a)
    return int((~shapely.contains_xy(near, xy[:, 0], xy[:, 1])).sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="all", choices=["all", "grid", "andorra"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=500, help="grid side (default 500)")
    parser.add_argument("--facilities", type=int, default=200)
    parser.add_argument("--andorra", type=Path, default=DEFAULT_ANDORRA)
    parser.add_argument("--skip-ego", action="store_true",
                        help="leave out the osmnx example (ego_graph per facility and break)")
    parser.add_argument("--skip-check", action="store_true",
                        help="do not compare with the slow union of every buffer")
    args = parser.parse_args()
    if args.case in ("all", "andorra"):
        if args.andorra.is_file():
            net, fac = andorra_case(args.andorra, args.facilities)
            run_case(f"Andorra ({args.andorra.name})", net, fac, args)
        else:
            print(f"skipping Andorra: {args.andorra} not found")
    if args.case in ("all", "grid"):
        net, fac = grid_case(args.size, args.facilities)
        run_case(f"synthetic grid {args.size} x {args.size}", net, fac, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
