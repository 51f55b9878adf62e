"""Benchmark of ``deyang-geo demo`` (issue 17, goal 5: under 6 s warm on the 2-core machine).

Times, after one warm-up run that is not counted (files in the page cache, fonts cached):
  cli     ``deyang-geo demo --out DIR`` in a fresh process, Python start-up and imports
          included: wall time and CPU time (user + system, the process and its children),
          median of ``--repeat`` runs
  steps   one in-process run (``--steps``), wall and CPU seconds per study step and per part
          of the outputs step (tables, map, figures, report images, workbooks...), so a slow
          part shows where the time goes. The service areas and the figures are computed in
          forked processes on a multi-core machine: their CPU counts once they are waited for
          (a process's CPU is known when it ends), their wait shows how far they lag behind

No anchor tool runs this study; the issue's measurement before the work (11.8 s warm, of which
6.5 s writing outputs) is printed beside ours. The machine is shared: print ``os.getloadavg``
with the figures, they are indicative when other work runs.

With ``--compare BEFORE AFTER`` it compares two demo output folders instead (e.g. one written
before a change, one after): the sha256 of every file, and for files that differ, what
differs. Known to change from run to run: a workbook's creation time
(``docProps/core.xml``), the solvers' ``solve_time_s`` (site summaries, the report's
``sites_summary`` table and sheet) and ``manifest.json``'s hashes of those files.

Usage: python scripts/benchmarks/bench_demo.py [--repeat 3] [--steps] [--work DIR]
       python scripts/benchmarks/bench_demo.py --base TREE --repeat 3   # paired with TREE
       python scripts/benchmarks/bench_demo.py --compare BEFORE_DIR AFTER_DIR
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: The issue's measurement before the work (seconds, warm, whole process).
BEFORE_S = 11.8


def run_cli(out: Path, root: Path = ROOT) -> tuple[float, float]:
    """Run the demo of the source tree ``root`` in a fresh process; return wall and CPU s."""
    env = dict(os.environ, PYTHONPATH=str(root))
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "deyang_geo", "-q", "demo", "--out",
                             str(out)], env=env, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"deyang-geo demo failed with exit status {status}")
    # the process's own CPU; a process pool's workers are its children, counted by wait4 too
    return wall, usage.ru_utime + usage.ru_stime


class _Clock:
    """Wall and CPU seconds (this process and its finished children) per label."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.order: list[str] = []

    @staticmethod
    def cpu_now() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        w0, c0 = time.perf_counter(), self.cpu_now()
        try:
            yield
        finally:
            if name not in self.wall:
                self.order.append(name)
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w0
            self.cpu[name] = self.cpu.get(name, 0.0) + self.cpu_now() - c0

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        """Replace ``owner.attr`` by a timed version of itself."""
        inner: Callable[..., Any] = getattr(owner, attr)

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.part(name):
                return inner(*args, **kwargs)

        setattr(owner, attr, timed)


def run_steps(out: Path) -> _Clock:
    """Run the demo study in this process with every step and output part timed."""
    clock = _Clock()
    with clock.part("imports"):
        from deyang_geo.outputs import report as repmod
        from deyang_geo.planning import compliance as compmod
        from deyang_geo.study import outputs as outmod
        from deyang_geo.study import pipeline
        from deyang_geo.study.config import load_study
        from deyang_geo.study.demo import demo_data_dir
    # the parts of the outputs step (nested parts are also counted in their parent)
    for owner, attr, name in (
            (outmod, "write_access_csv", "  access.csv"),
            (outmod, "write_exports", "  GeoJSON/KML exports"),
            (outmod, "_study_map", "  map: build"),
            (outmod.webmap, "save_map", "  map: save"),
            (outmod.figmod, "start_figures", "  figures: start (one process per category)"),
            (outmod.figmod.FigureRun, "result", "  figures: wait for their processes"),
            (pipeline.ForkedCall, "result", "isochrones: wait for their process"),
            (outmod, "_streets", "  street names (sites)"),
            (outmod, "_sites_layer", "  sites layer"),
            (compmod.ComplianceResult, "write", "  compliance tables + workbook"),
            (outmod.repmod, "build_report", "  report (all of it)"),
            (repmod, "_figure_png", "    report images"),
            (repmod, "write_tables", "    report workbook + CSVs"),
            (repmod, "write_geopackage", "    report GeoPackage")):
        clock.wrap(owner, attr, name)
    config = load_study(demo_data_dir() / "study.toml")
    current: list[Any] = []

    def on_step(step: str) -> None:
        if current:
            current.pop().__exit__(None, None, None)
        part = clock.part(step)
        part.__enter__()
        current.append(part)

    pipeline.run_study(config, out_dir=out, on_step=on_step)
    if current:
        current.pop().__exit__(None, None, None)
    return clock


#: What may differ between two runs of the same demo (see the module's docstring).
VOLATILE = ("docProps/core.xml", "solve_time_s")


def _what_differs(a: Path, b: Path) -> str:
    """Say what differs between two versions of a demo file, volatile parts marked."""
    if a.suffix == ".xlsx":
        with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
            if za.namelist() != zb.namelist():
                return "workbook members differ"
            members = [n for n in za.namelist() if za.read(n) != zb.read(n)]
            loose = [n for n in members if n != "docProps/core.xml"]
            if not loose:
                return "only the creation time (docProps/core.xml): volatile"
            texts = [(za.read(n).decode("utf-8"), zb.read(n).decode("utf-8")) for n in loose]
            if all("solve_time_s" in x for x, _ in texts):
                return f"creation time and {loose}, the sheet with solve_time_s: volatile?"
            return f"members {members}"
    if a.suffix == ".json":
        ja, jb = json.loads(a.read_text("utf-8")), json.loads(b.read_text("utf-8"))
        if a.name == "manifest.json":
            fa = {f["path"]: f for f in ja.get("files", [])}
            fb = {f["path"]: f for f in jb.get("files", [])}
            changed = sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))
            return f"entries of {changed}"
        keys = sorted(k for k in ja.keys() | jb.keys() if ja.get(k) != jb.get(k))
        return f"keys {keys}" + (": volatile" if keys == ["solve_time_s"] else "")
    if a.suffix == ".csv":
        ra, rb = a.read_text("utf-8-sig").splitlines(), b.read_text("utf-8-sig").splitlines()
        if len(ra) == len(rb) and ra[:1] == rb[:1]:
            header = ra[0].split(",")
            cols = sorted({header[j] for x, y in zip(ra[1:], rb[1:], strict=True) if x != y
                           for j, (u, v) in enumerate(zip(x.split(","), y.split(","),
                                                          strict=False)) if u != v
                           and j < len(header)})
            return f"columns {cols}" + (": volatile" if cols == ["solve_time_s"] else "")
    return "content"


def compare_folders(before: Path, after: Path) -> int:
    """Print the sha256 of every file of two demo folders and what differs (1: files missing)."""
    names_a = sorted(p.relative_to(before) for p in before.rglob("*") if p.is_file())
    names_b = sorted(p.relative_to(after) for p in after.rglob("*") if p.is_file())
    status = 0
    for missing in sorted(set(names_a) ^ set(names_b)):
        print(f"ONLY IN ONE  {missing}")
        status = 1
    same = 0
    for rel in [n for n in names_a if n in set(names_b)]:
        ha = hashlib.sha256((before / rel).read_bytes()).hexdigest()
        hb = hashlib.sha256((after / rel).read_bytes()).hexdigest()
        if ha == hb:
            same += 1
            print(f"identical  {ha[:16]}  {rel}")
        else:
            print(f"differs    {ha[:16]} {hb[:16]}  {rel}: "
                  f"{_what_differs(before / rel, after / rel)}")
    print(f"{same} of {len(names_a)} files byte-identical")
    return status


def paired(base: Path, work: Path, repeat: int) -> int:
    """Run the base tree's demo and ours alternately; print medians and compare the files."""
    trees = {"base": base.resolve(), "ours": ROOT}
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in trees}
    for name, root in trees.items():
        run_cli(work / f"warmup_{name}", root)
    for i in range(repeat):
        for name, root in trees.items():
            load = os.getloadavg()[0]
            wall, cpu = run_cli(work / f"{name}{i}", root)
            runs[name].append((wall, cpu, load))
            print(f"  {name} run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU (load {load:.1f})")
    for name, values in runs.items():
        loads = [v[2] for v in values]
        print(f"{name}: median {statistics.median(v[0] for v in values):.2f} s wall, "
              f"{statistics.median(v[1] for v in values):.2f} s CPU "
              f"(load {min(loads):.1f}-{max(loads):.1f})")
    return compare_folders(work / "base0", work / "ours0")


def main() -> None:
    """Time the demo and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--steps", action="store_true",
                        help="also time each step in one in-process run")
    parser.add_argument("--work", type=Path, default=None, help="folder for the outputs")
    parser.add_argument("--base", type=Path, default=None, metavar="TREE",
                        help="paired runs: the demo of this source tree (e.g. `git archive main "
                             "| tar -x -C TREE`) and ours alternately, then --compare")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                        help="compare two demo output folders instead of timing")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(compare_folders(*args.compare))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_demo_"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    if args.base is not None:
        raise SystemExit(paired(args.base, work, args.repeat))
    run_cli(work / "warmup")
    walls, cpus = [], []
    for i in range(args.repeat):
        wall, cpu = run_cli(work / f"run{i}")
        walls.append(wall)
        cpus.append(cpu)
        print(f"  run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| what | ours (median) | before (issue 17) |")
    print("|---|---|---|")
    print(f"| `deyang-geo demo`, warm, whole process | {statistics.median(walls):.2f} s wall, "
          f"{statistics.median(cpus):.2f} s CPU (runs: "
          f"{', '.join(f'{w:.1f}' for w in walls)} s) | {BEFORE_S} s wall |")
    if args.steps:
        clock = run_steps(work / "steps")
        print()
        print(f"{'step (in process)':<36} {'wall s':>8} {'CPU s':>8}")
        for name in clock.order:
            print(f"{name:<36} {clock.wall[name]:8.2f} {clock.cpu[name]:8.2f}")


if __name__ == "__main__":
    main()
