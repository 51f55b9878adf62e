"""``deyang-geo demo``: the full analysis on the embedded Deyang demo study area."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "run the full analysis on the embedded Deyang demo data (synthetic city, real boundaries)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                        help="output folder (default: out)")


def run(args: argparse.Namespace) -> int:
    """Run the demo study and print what was written."""
    from ._cli_common import echo, protected_outputs, step_progress, study_inputs
    from .config import load_study
    from .demo import demo_data_dir
    from .pipeline import STEPS, run_study

    config = load_study(demo_data_dir() / "study.toml")
    with protected_outputs(command=NAME, out=args.out, inputs=study_inputs(config)), \
            step_progress(STEPS, quiet=args.quiet) as on_step:
        result = run_study(config, out_dir=args.out, on_step=on_step)
    echo(result.summary_line())
    echo(f"open {result.written['map']} and {result.written['report']} in a browser"
         if "map" in result.written and "report" in result.written else "")
    return 0
