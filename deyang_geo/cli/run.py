"""``deyang-geo run``: a whole study from one configuration file."""

from __future__ import annotations

import argparse
from pathlib import Path

from deyang_geo.cli.common import add_basemap_override

NAME = "run"
HELP = "run a whole study (network, access, compliance, sites, map, report) from a TOML file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument("study", type=Path, metavar="STUDY.toml",
                        help="study configuration file (see data/demo/study.toml)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default: the study file's [output] folder)")
    add_basemap_override(parser)


def run(args: argparse.Namespace) -> int:
    """Run the study and print what was written."""
    from deyang_geo.cli.common import (
        echo,
        protected_outputs,
        step_progress,
        study_inputs,
        tianditu_key_env,
        with_basemap,
    )
    from deyang_geo.study.config import load_study
    from deyang_geo.study.pipeline import STEPS, run_study

    config = with_basemap(load_study(args.study), args)
    out = args.out if args.out is not None else config.output.folder
    if config.scenarios:  # the base, then each [scenario.NAME], each compared with the base
        from deyang_geo.study.scenario_runs import run_scenarios

        runs = 1 + len(config.scenarios)
        with protected_outputs(command=NAME, out=out, inputs=study_inputs(config)), \
                step_progress(STEPS * runs, quiet=args.quiet) as on_step:
            base, compared = run_scenarios(config, out_dir=args.out, on_step=on_step)
        echo(base.summary_line())
        for name, (_res, comparison) in compared.items():
            echo(f"scenario {name}: compared with the base in "
                 f"{comparison.base_dir / 'compare' / name}; {comparison.settings_note()}")
        return 0
    with protected_outputs(command=NAME, out=out, inputs=study_inputs(config)), \
            step_progress(STEPS, quiet=args.quiet) as on_step, \
            tianditu_key_env(args.tianditu_key):
        result = run_study(config, out_dir=args.out, on_step=on_step)
    echo(result.summary_line())
    return 0
