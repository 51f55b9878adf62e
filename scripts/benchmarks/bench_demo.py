"""Benchmark of ``deyang-geo demo`` (issue 17, goal 5: under 6 s warm on the 2-core machine).

Times, after one warm-up run that is not counted (files in the page cache, fonts cached):
  cli     ``deyang-geo demo --out DIR`` in a fresh process, Python start-up and imports
          included: wall time and CPU time (user + system, the process and its children),
          median of ``--repeat`` runs
  steps   one in-process run (``--steps``), wall and CPU seconds per study step and per part
          of the outputs step (tables, map, figures, report images, workbooks...), so a slow
          part shows where the time goes

No anchor tool runs this study; the issue's measurement before the work (11.8 s warm, of which
6.5 s writing outputs) is printed beside ours. The machine is shared: print ``os.getloadavg``
with the figures, they are indicative when other work runs.

Usage: python scripts/benchmarks/bench_demo.py [--repeat 3] [--steps] [--work DIR]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: The issue's measurement before the work (seconds, warm, whole process).
BEFORE_S = 11.8


def run_cli(out: Path) -> tuple[float, float]:
    """Run the demo in a fresh process; return its wall and CPU seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
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
            (outmod.figmod, "write_figures", "  figures (PNG + PDF)"),
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


def main() -> None:
    """Time the demo and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--steps", action="store_true",
                        help="also time each step in one in-process run")
    parser.add_argument("--work", type=Path, default=None, help="folder for the outputs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_demo_"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
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
