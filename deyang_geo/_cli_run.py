"""``deyang-geo run``: a whole study from one configuration file."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "run"
HELP = "run a whole study (network, access, compliance, sites, map, report) from a TOML file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument("study", type=Path, metavar="STUDY.toml",
                        help="study configuration file (see data/demo/study.toml)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default: the study file's [output] folder)")


def run(args: argparse.Namespace) -> int:
    """Run the study and print what was written."""
    from ._cli_common import echo, protected_outputs, step_progress, study_inputs
    from .config import load_study
    from .pipeline import STEPS, run_study

    config = load_study(args.study)
    out = args.out if args.out is not None else config.output.folder
    with protected_outputs(command=NAME, out=out, inputs=study_inputs(config)), \
            step_progress(STEPS, quiet=args.quiet) as on_step:
        result = run_study(config, out_dir=args.out, on_step=on_step)
    echo(result.summary_line())
    return 0
