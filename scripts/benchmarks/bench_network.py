"""Benchmark: our OSM loading + routing form vs osmnx.graph_from_xml on the same data.

Usage::

    python scripts/benchmarks/bench_network.py [--andorra PATH] [--grid N] [--skip-osmnx]

Cases (each timed in a fresh subprocess, imports excluded; peak memory is the process's
maximum resident set size minus the one after imports, so it counts C allocations too):

- Andorra (``../shared/data/andorra.osm.pbf``): our ``graph_from_osm_file`` on the PBF
  (all five modes) + ``RoutingNetwork.from_graph``, vs ``osmnx.graph_from_xml`` on the same
  highway ways written as OSM XML (what osmnx can read offline), bidirectional.
- A synthetic N x N street grid (default N=500: about 1 million directed edges) written
  deterministically as OSM XML and PBF in a temporary folder, with a mix of residential,
  one-way, primary (maxspeed) and footway rows, and interstitial nodes to simplify.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ANDORRA = ROOT.parent / "shared" / "data" / "andorra.osm.pbf"


# --------------------------------------------------------------------------- data
def write_highway_xml(src: Path, dst: Path) -> None:
    """Write the highway ways of an OSM file (with all their nodes present) as OSM XML."""
    import osmium

    present: set[int] = set()
    for obj in osmium.FileProcessor(str(src), osmium.osm.NODE):
        present.add(obj.id)
    refs: set[int] = set()
    for w in osmium.FileProcessor(str(src), osmium.osm.WAY).with_filter(
            osmium.filter.KeyFilter("highway")):
        if all(n.ref in present for n in w.nodes):
            refs.update(n.ref for n in w.nodes)
    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node():
                if obj.id in refs:
                    writer.add_node(obj)
            elif "highway" in obj.tags and all(n.ref in present for n in obj.nodes):
                writer.add_way(obj)


def write_grid(n: int, xml: Path, pbf: Path) -> None:
    """Write an n x n grid (rows and columns as ways) with interstitial nodes; ~4 n^2 edges."""
    import osmium

    lon0, lat0, step = 104.30, 31.05, 0.0009  # about 85-100 m in Deyang
    # node ids: grid node (i, j) -> 1 + i * n + j; a midpoint on each row segment -> offset
    mid_base = 1 + n * n
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="bench">']
    lines.extend(f'<node id="{1 + i * n + j}" lat="{lat0 + i * step:.7f}" '
                 f'lon="{lon0 + j * step:.7f}"/>' for i in range(n) for j in range(n))
    lines.extend(f'<node id="{mid_base + i * n + j}" lat="{lat0 + i * step:.7f}" '
                 f'lon="{lon0 + (j + 0.5) * step:.7f}"/>' for i in range(n) for j in range(n - 1))
    way_id = 1
    kinds = [("residential", ""), ("residential", "yes"), ("primary", ""), ("footway", ""),
             ("tertiary", "")]
    for i in range(n):  # rows, with a midpoint between grid nodes
        highway, oneway = kinds[i % len(kinds)]
        refs = []
        for j in range(n):
            refs.append(1 + i * n + j)
            if j < n - 1:
                refs.append(mid_base + i * n + j)
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tags = f'<tag k="highway" v="{highway}"/>'
        if oneway:
            tags += f'<tag k="oneway" v="{oneway}"/>'
        if highway == "primary":
            tags += '<tag k="maxspeed" v="50"/>'
        lines.append(f'<way id="{way_id}">{nds}{tags}</way>')
        way_id += 1
    for j in range(n):  # columns
        nds = "".join(f'<nd ref="{1 + i * n + j}"/>' for i in range(n))
        highway = "secondary" if j % 7 == 0 else "residential"
        lines.append(f'<way id="{way_id}">{nds}<tag k="highway" v="{highway}"/></way>')
        way_id += 1
    lines.append("</osm>")
    xml.write_text("\n".join(lines), encoding="utf-8")
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)


# --------------------------------------------------------------------------- one case
def run_case(case: str, path: str) -> dict[str, float]:
    """Run one case in this process and return seconds, peak MB, nodes and edges."""
    import resource

    import osmnx as ox

    from deyang_geo import network

    try:
        from deyang_geo.analysis.routing import RoutingNetwork
    except ImportError:  # routing.py not there yet
        RoutingNetwork = None
    import geopandas  # noqa: F401 - import what either side loads lazily, before timing
    import osmium  # noqa: F401
    import pandas  # noqa: F401
    import pyproj  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if case == "osmnx":
        G = ox.graph_from_xml(path, bidirectional=True)
        t_graph = time.perf_counter() - t0
        t_routing = 0.0
    else:
        G = network.graph_from_osm_file(path)
        t_graph = time.perf_counter() - t0
        t1 = time.perf_counter()
        if RoutingNetwork is not None:
            RoutingNetwork.from_graph(G)
        t_routing = time.perf_counter() - t1
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": total, "graph_s": t_graph, "routing_s": t_routing,
            "peak_mb": (peak - base) / 1024.0, "nodes": len(G), "edges": G.number_of_edges()}


def measure(case: str, path: Path) -> dict[str, float]:
    """Run a case in a fresh interpreter (so peak memory and caches are its own)."""
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, "--file", str(path)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'case':<44}{'total s':>9}{'graph s':>9}{'routing s':>10}{'peak MB':>9}"
          f"{'nodes':>10}{'edges':>10}")
    for name, r in rows:
        print(f"{name:<44}{r['seconds']:9.2f}{r['graph_s']:9.2f}{r['routing_s']:10.2f}"
              f"{r['peak_mb']:9.0f}{int(r['nodes']):10,}{int(r['edges']):10,}")
    ref = dict(rows).get("osmnx.graph_from_xml (XML)")
    if ref:
        for name, r in rows:
            if not name.startswith("osmnx"):
                print(f"  {name}: {r['seconds'] / ref['seconds']:.2f}x osmnx time, "
                      f"{r['peak_mb'] / max(ref['peak_mb'], 1):.2f}x osmnx peak memory")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--andorra", type=Path, default=DEFAULT_ANDORRA)
    parser.add_argument("--grid", type=int, default=500, help="grid side (500: ~1M edges)")
    parser.add_argument("--skip-osmnx", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.file)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_network_") as tmp_name:
        tmp = Path(tmp_name)
        if args.andorra.is_file():
            xml = tmp / "andorra_highways.osm"
            write_highway_xml(args.andorra, xml)
            rows = [("deyang_geo PBF + RoutingNetwork", measure("ours", args.andorra)),
                    ("deyang_geo XML + RoutingNetwork", measure("ours", xml))]
            if not args.skip_osmnx:
                rows.append(("osmnx.graph_from_xml (XML)", measure("osmnx", xml)))
            table(f"Andorra ({args.andorra})", rows)
        else:
            print(f"skipping Andorra: {args.andorra} not found")
        if args.grid > 1:
            xml, pbf = tmp / "grid.osm", tmp / "grid.osm.pbf"
            write_grid(args.grid, xml, pbf)
            rows = [("deyang_geo PBF + RoutingNetwork", measure("ours", pbf))]
            if not args.skip_osmnx:
                rows.append(("osmnx.graph_from_xml (XML)", measure("osmnx", xml)))
            table(f"synthetic grid {args.grid} x {args.grid}", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
