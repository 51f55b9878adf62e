"""``deyang-geo demo``: the full analysis on the embedded Deyang demo study area."""

from __future__ import annotations

import argparse
from pathlib import Path

from deyang_geo.cli.common import add_basemap_override

NAME = "demo"
HELP = "run the full analysis on the embedded Deyang demo data (synthetic city, real boundaries)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                        help="output folder (default: out)")
    add_basemap_override(parser)


def run(args: argparse.Namespace) -> int:
    """Run the demo study and print what was written."""
    from deyang_geo.cli.common import (
        echo,
        protected_outputs,
        step_progress,
        study_inputs,
        tianditu_key_env,
        with_basemap,
    )
    from deyang_geo.study.config import load_study
    from deyang_geo.study.demo import demo_data_dir
    from deyang_geo.study.pipeline import STEPS, run_study

    config = with_basemap(load_study(demo_data_dir() / "study.toml"), args)
    with protected_outputs(command=NAME, out=args.out, inputs=study_inputs(config)), \
            step_progress(STEPS, quiet=args.quiet) as on_step, \
            tianditu_key_env(args.tianditu_key):
        result = run_study(config, out_dir=args.out, on_step=on_step)
    echo(result.summary_line())
    echo(f"open {result.written['map']} and {result.written['report']} in a browser"
         if "map" in result.written and "report" in result.written else "")
    return 0
