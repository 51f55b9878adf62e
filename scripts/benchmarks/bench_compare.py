"""Benchmark of ``deyang-geo compare`` on two results of the demo (issue 15: under 10 s).

Without ``--base`` / ``--scenario`` the two folders are made first (not timed): the demo study
with all its outputs, and the same study with older walkers (``walk_speed_kmh = 3.3``), as
``deyang-geo run`` writes them for a ``[scenario.NAME]`` table. Then it times:
  cli       ``deyang-geo compare BASE SCENARIO --out DIR`` in a fresh process (wall time,
            Python start-up and imports included; peak memory of the process)
  api       ``compare_folders(...)`` and ``Comparison.write(...)`` in this process
  pandas    reading the two ``coverage.csv`` and merging them with pandas: the floor of any
            comparison of these files (no anchor tool compares result folders)

Usage: python scripts/benchmarks/bench_compare.py [--base DIR --scenario DIR] [--work DIR]
       [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def make_folders(work: Path) -> tuple[Path, Path]:
    """Run the demo study and its older-walkers scenario into ``work`` (not timed)."""
    from deyang_geo.study.config import load_study
    from deyang_geo.study.demo import demo_data_dir
    from deyang_geo.study.scenario import Scenario
    from deyang_geo.study.scenario_runs import run_scenarios

    config = load_study(demo_data_dir() / "study.toml")
    study = dataclasses.replace(config, scenarios=(Scenario(name="older", walk_speed_kmh=3.3),))
    run_scenarios(study, out_dir=work)
    return work, work / "scenarios" / "older"


def main() -> None:
    """Time the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path)
    parser.add_argument("--scenario", type=Path)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_compare_"))
    if args.base is None or args.scenario is None:
        t0 = time.perf_counter()
        base, scenario = make_folders(work)
        print(f"made the two demo result folders in {time.perf_counter() - t0:.1f} s "
              f"(not part of the benchmark): {base}, {scenario}")
    else:
        base, scenario = args.base, args.scenario

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli_s = []
    child_mb = 0.0
    for i in range(args.repeat):
        out = work / f"cmp_cli_{i}"
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "deyang_geo", "-q", "compare",
                                 str(base), str(scenario), "--out", str(out)], env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        proc.returncode = os.waitstatus_to_exitcode(status)
        cli_s.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"deyang-geo compare failed with exit code {proc.returncode}")
        child_mb = max(child_mb, usage.ru_maxrss / 1024)

    from deyang_geo.study.compare import compare_folders

    api_s = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        cmp = compare_folders(base, scenario)
        cmp.write(work / f"cmp_api_{i}")
        api_s.append(time.perf_counter() - t0)

    import pandas as pd

    pandas_s = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        a = pd.read_csv(base / "coverage.csv", encoding="utf-8-sig")
        b = pd.read_csv(scenario / "coverage.csv", encoding="utf-8-sig")
        a.merge(b, on=["community_id", "category"], suffixes=("_before", "_after"))
        pandas_s.append(time.perf_counter() - t0)

    n = len(cmp.communities)
    print(f"{n} community-category pairs, {len(cmp.townships)} township rows, "
          f"{len(cmp.targets)} target results changed")
    print(f"deyang-geo compare (CLI, fresh process): best {min(cli_s):.2f} s, "
          f"runs {', '.join(f'{s:.2f}' for s in cli_s)}; peak {child_mb:.0f} MB")
    print(f"compare_folders + write (in process):   best {min(api_s):.2f} s")
    print(f"pandas read + merge of coverage.csv:     best {min(pandas_s):.3f} s (floor)")
    print("target (issue 15): under 10 s")


if __name__ == "__main__":
    main()
