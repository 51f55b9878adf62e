"""``deyang-geo batch``: a study over many areas at once, one Dask task per area."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "batch"
HELP = ("run a study over many areas (one polygon per area) on a local Dask cluster or an "
        "existing one")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number of workers >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        msg = f"expected a positive number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _distance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        msg = f"expected a distance >= 0 in metres, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument("study", type=Path, metavar="STUDY.toml",
                        help="the single-area study file; its OSM file and tables cover every "
                        "area")
    parser.add_argument("--areas", type=Path, required=True, metavar="AREAS_FILE",
                        help="one polygon per area (GeoJSON, GeoPackage, Shapefile...)")
    parser.add_argument("--area-id-column", required=True, metavar="COL",
                        help="column of AREAS_FILE with the area ids (also folder names)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output folder: DIR/<area id>/ per area, merged tables and map")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="worker processes of the local cluster (default: CPU count)")
    parser.add_argument("--memory-per-worker", type=_positive_float, default=None,
                        metavar="GB", help="memory limit per local worker in GiB")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="an existing Dask scheduler (tcp://host:8786) instead of a local "
                        "cluster; its workers must see the same files at the same paths")
    parser.add_argument("--facility-margin-m", type=_distance, default=None, metavar="M",
                        help="facilities this far outside an area still serve it "
                        "(default 1000)")


def run(args: argparse.Namespace) -> int:
    """Run the batch, print failed areas; 0 all succeeded, 2 some failed for their input."""
    from deyang_geo.cli.common import echo
    from deyang_geo.study.batch import echo_outcomes, run_batch

    show = not args.quiet and sys.stderr.isatty()
    result = run_batch(args.study, areas=args.areas, area_id_column=args.area_id_column,
                       out_dir=args.out, workers=args.workers,
                       memory_per_worker_gb=args.memory_per_worker,
                       scheduler=args.scheduler, facility_margin_m=args.facility_margin_m,
                       progress=show)
    echo(result.summary_line())
    echo_outcomes(result)
    return result.exit_code
