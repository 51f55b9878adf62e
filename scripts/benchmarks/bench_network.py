"""Benchmark: loading an OSM file, ours beside pyrosm, whole processes (imports counted).

Usage::

    python scripts/benchmarks/bench_network.py [--andorra PATH] [--rounds 3]
        [--grid-nodes 160000] [--big-nodes 0] [--big-file PBF] [--big-case CASE]
        [--skip-pyrosm] [--with-graph-path] [--only andorra|helsinki|grid|big]

Every case runs in a fresh interpreter: the time is the whole process, from start to exit
(imports counted), the memory the process's peak resident set size (``wait4``), so both
count what a user waits for and what the machine must hold. The cases of one data set run
in paired rounds (ours, then pyrosm, ``--rounds`` times) and the table prints the medians.

Cases:

- ``deyang-geo network``: the whole command, OSM file to a saved GraphML graph (all five
  modes, simplified, pieces dropped);
- ``RoutingNetwork.from_osm_file``: the routing arrays straight from the builder's arrays,
  no networkx graph (what ``run``, ``demo``, ``access``, ``isochrones``, ``compliance`` and
  ``suggest-sites`` do with an OSM file);
- ``network_arrays_from_osm_file``: the builder's arrays alone (nodes, edges, lengths, times
  per mode), what the ``network`` command writes its GraphML from;
- ``graph + from_graph`` (``--with-graph-path``): the detour the arrays path replaced;
- ``pyrosm get_network + to_graph``: ``OSM(path).get_network("all", nodes=True)`` then
  ``to_graph(..., graph_type="networkx")`` (simplified MultiDiGraph, osmnx-compatible);
- ``pyrosm get_network + CSR``: the same network as scipy CSR arrays of edge lengths.

Data: pyrosm's bundled Helsinki PBF (``pyrosm/data/Helsinki.osm.pbf``),
``../shared/data/andorra.osm.pbf`` when present, and SYNTHETIC street grids written with
``deyang_geo.study.synthetic_province.write_street_grid``: ``--grid-nodes`` (default
160,000), and ``--big-nodes`` (e.g. 5,000,000) for one run of the routing arrays path
(a networkx graph of 20 million edges would not fit the machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ANDORRA = ROOT.parent / "shared" / "data" / "andorra.osm.pbf"

OURS_NETWORK = "deyang-geo network (GraphML)"
OURS_ARRAYS = "RoutingNetwork.from_osm_file"
OURS_BUILD = "network_arrays_from_osm_file"
OURS_DETOUR = "graph_from_osm_file + from_graph"
PYROSM_GRAPH = "pyrosm get_network + to_graph"
PYROSM_CSR = "pyrosm get_network + CSR"

CODE = {
    OURS_NETWORK: (
        "import sys\nfrom deyang_geo.cli import main\n"
        "sys.exit(main(['--quiet', 'network', '--osm', sys.argv[1], '--out', sys.argv[2]]))"
    ),
    OURS_ARRAYS: (
        "import sys\nfrom deyang_geo.analysis.routing import RoutingNetwork\n"
        "net = RoutingNetwork.from_osm_file(sys.argv[1])\n"
        "print(net.n_nodes, net.n_edges)"
    ),
    OURS_BUILD: (
        "import sys\nfrom deyang_geo.network.build import network_arrays_from_osm_file\n"
        "a = network_arrays_from_osm_file(sys.argv[1])\n"
        "print(len(a.node_ids), len(a.edge_u))"
    ),
    OURS_DETOUR: (
        "import sys\nfrom deyang_geo.analysis.routing import RoutingNetwork\n"
        "from deyang_geo.network.build import graph_from_osm_file\n"
        "net = RoutingNetwork.from_graph(graph_from_osm_file(sys.argv[1]))\n"
        "print(net.n_nodes, net.n_edges)"
    ),
    PYROSM_GRAPH: (
        "import sys, warnings\nwarnings.simplefilter('ignore')\nfrom pyrosm import OSM\n"
        "osm = OSM(sys.argv[1])\n"
        "nodes, edges = osm.get_network(network_type='all', nodes=True)\n"
        "G = osm.to_graph(nodes, edges, graph_type='networkx')\n"
        "print(G.number_of_nodes(), G.number_of_edges())"
    ),
    PYROSM_CSR: (
        "import sys, warnings\nwarnings.simplefilter('ignore')\nimport numpy as np\n"
        "from scipy.sparse import csr_matrix\nfrom pyrosm import OSM\n"
        "osm = OSM(sys.argv[1])\n"
        "nodes, edges = osm.get_network(network_type='all', nodes=True)\n"
        "ids = np.sort(nodes['id'].to_numpy())\n"
        "u = np.searchsorted(ids, edges['u'].to_numpy())\n"
        "v = np.searchsorted(ids, edges['v'].to_numpy())\n"
        "w = edges['length'].to_numpy(dtype=float)\n"
        "A = csr_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(len(ids),) * 2)\n"
        "print(A.shape[0], A.nnz)"
    ),
}


def run_process(case: str, path: Path, tmp: Path) -> tuple[float, float, float, str]:
    """Run one case in a fresh interpreter: (wall s, CPU s, peak RSS in MB, its output).

    The peak is GNU time's ``%M`` of the Python process itself (a child forked straight from
    this script would inherit this script's high-water mark in ``ru_maxrss``).
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out_file = tmp / "bench_out.graphml"
    if out_file.exists():
        out_file.unlink()
    rss_file = tmp / "bench_rss.txt"
    args = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(rss_file), sys.executable, "-c",
            CODE[case], str(path), str(out_file)]
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        print(f"  {case} failed ({done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
        return math.nan, math.nan, math.nan, ""
    rss_kb, user_s, sys_s = rss_file.read_text().split()[-3:]
    lines = done.stdout.strip().splitlines()
    return (seconds, float(user_s) + float(sys_s), int(rss_kb) / 1024.0,
            lines[-1] if lines else "")


def write_grid(path: Path, nodes: int) -> None:
    """Write a SYNTHETIC square street grid of about ``nodes`` nodes (in a child process)."""
    side = round(math.sqrt(nodes))
    code = ("import sys\nfrom deyang_geo.study.synthetic_province import write_street_grid\n"
            "write_street_grid(sys.argv[1], columns=int(sys.argv[2]), rows=int(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(path), str(side)], check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))


def bench(title: str, path: Path, cases: list[str], rounds: int, tmp: Path) -> None:
    """Run the cases in paired rounds and print the medians."""
    runs: dict[str, list[tuple[float, float, float]]] = {c: [] for c in cases}
    sizes: dict[str, str] = {}
    for _ in range(rounds):
        for case in cases:
            wall, cpu, mb, size = run_process(case, path, tmp)
            runs[case].append((wall, cpu, mb))
            sizes[case] = size
    print(f"\n{title} ({path.name}, {path.stat().st_size / 1e6:.1f} MB), median of {rounds} "
          f"paired run(s), whole process; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'case':<36}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}  wall runs (s)         "
          "size (nodes edges)")
    med: dict[str, tuple[float, float, float]] = {}
    for case in cases:
        walls = [r[0] for r in runs[case]]
        med[case] = (statistics.median(walls), statistics.median(r[1] for r in runs[case]),
                     statistics.median(r[2] for r in runs[case]))
        listed = " ".join(f"{x:.2f}" for x in walls)
        print(f"{case:<36}{med[case][0]:8.2f}{med[case][1]:8.2f}{med[case][2]:9.0f}  "
              f"{listed:<22}{sizes[case]}")
    for ours, ref in ((OURS_NETWORK, PYROSM_GRAPH), (OURS_BUILD, PYROSM_CSR),
                      (OURS_ARRAYS, PYROSM_CSR),
                      (OURS_ARRAYS, PYROSM_GRAPH), (OURS_ARRAYS, OURS_DETOUR)):
        if ours in med and ref in med:
            (w1, c1, m1), (w2, c2, m2) = med[ours], med[ref]
            print(f"  {ours} vs {ref}: {w2 / w1:.2f}x faster (wall), {c2 / c1:.2f}x less CPU, "
                  f"{m2 / m1:.2f}x less memory")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--andorra", type=Path, default=DEFAULT_ANDORRA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grid-nodes", type=int, default=160_000,
                        help="nodes of the synthetic grid (0: skip)")
    parser.add_argument("--big-nodes", type=int, default=0,
                        help="nodes of a big synthetic grid measured once, ours only (0: skip)")
    parser.add_argument("--big-file", type=Path, default=None,
                        help="an already written big grid PBF (instead of writing one)")
    parser.add_argument("--big-case", dest="big_cases", action="append",
                        choices=(OURS_BUILD, OURS_ARRAYS, OURS_NETWORK),
                        help=f"cases run on the big grid (default: {OURS_ARRAYS})")
    parser.add_argument("--skip-pyrosm", action="store_true")
    parser.add_argument("--with-graph-path", action="store_true",
                        help="also time the networkx detour (graph, then from_graph)")
    parser.add_argument("--only", choices=("helsinki", "andorra", "grid", "big"),
                        action="append", help="run only these data sets")
    args = parser.parse_args()
    ours = [OURS_NETWORK, OURS_BUILD, OURS_ARRAYS] + (
        [OURS_DETOUR] if args.with_graph_path else [])
    theirs = [] if args.skip_pyrosm else [PYROSM_GRAPH, PYROSM_CSR]
    only = set(args.only or ("helsinki", "andorra", "grid", "big"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start (figures are indicative on a shared machine)")
    with tempfile.TemporaryDirectory(prefix="bench_network_") as tmp_name:
        tmp = Path(tmp_name)
        spec = importlib.util.find_spec("pyrosm")  # its folder, without importing it
        if "helsinki" in only and spec is not None and spec.submodule_search_locations:
            helsinki = Path(spec.submodule_search_locations[0]) / "data" / "Helsinki.osm.pbf"
            bench("Helsinki (pyrosm's bundled PBF)", helsinki, ours + theirs, args.rounds, tmp)
        if "andorra" in only:
            if args.andorra.is_file():
                bench("Andorra", args.andorra, ours + theirs, args.rounds, tmp)
            else:
                print(f"skipping Andorra: {args.andorra} not found")
        if "grid" in only and args.grid_nodes > 0:
            side = round(math.sqrt(args.grid_nodes))
            grid = tmp / f"grid_{side}x{side}.osm.pbf"
            write_grid(grid, side * side)
            bench(f"SYNTHETIC street grid {side} x {side}", grid, ours + theirs, args.rounds,
                  tmp)
        if "big" in only and (args.big_nodes > 0 or args.big_file is not None):
            big = args.big_file
            if big is None:
                side = round(math.sqrt(args.big_nodes))
                big = tmp / f"grid_{side}x{side}.osm.pbf"
                write_grid(big, side * side)
            bench("SYNTHETIC big street grid", big, args.big_cases or [OURS_ARRAYS], 1, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
