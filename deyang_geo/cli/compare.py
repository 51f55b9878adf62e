"""``deyang-geo compare``: two result folders compared, per community and township, with a map."""

from __future__ import annotations

import argparse
from pathlib import Path

from deyang_geo.cli.common import add_lang_option, add_out_option

NAME = "compare"
HELP = ("compare two result folders (a scenario against the base): minutes, covered people, "
        "classes and plan targets before/after, and a side-by-side map")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``compare``."""
    parser.add_argument("base", type=Path, metavar="BASE_DIR",
                        help="result folder of the base (written by run, demo, access, "
                        "suggest-sites...)")
    parser.add_argument("scenario", type=Path, metavar="SCENARIO_DIR",
                        help="result folder of the scenario")
    add_out_option(parser)
    parser.add_argument("--names", default="base,scenario", metavar="BASE,SCENARIO",
                        help="names of the two runs in the outputs (default: base,scenario)")
    parser.add_argument("--demand", type=Path, default=None, metavar="DEM",
                        help="communities file for the map when the folders hold no "
                        "report_layers.gpkg (folders written by access)")
    parser.add_argument("--input-crs", default="wgs84", metavar="CRS",
                        help="coordinate system of --demand without one (default: wgs84)")
    add_lang_option(parser)
    parser.epilog = (
        "writes DIR/compare_communities.csv and compare_townships.csv (minutes, covered people "
        "and class before/after and their change), compare_study_area.csv, compare_targets.csv "
        "(plan targets whose status changes), compare_settings.csv (settings of both runs; "
        "those that differ are named), compare_summary.json and compare_map.html (before and "
        "after side by side, with a difference layer)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``compare`` and return the exit code."""
    from deyang_geo.cli.common import echo
    from deyang_geo.core.errors import InputError
    from deyang_geo.study.compare import compare_folders

    names = tuple(n.strip() for n in str(args.names).split(","))
    if len(names) != 2 or not all(names):
        msg = f"--names must be two names separated by a comma, got {args.names!r}"
        raise InputError(msg)
    comparison = compare_folders(args.base, args.scenario, names=(names[0], names[1]),
                                 communities=args.demand, input_crs=args.input_crs)
    written = comparison.write(args.out, lang=args.lang)
    area = comparison.study_area
    gain = float(area["covered_population_change"].clip(lower=0).sum())
    loss = abs(float(area["covered_population_change"].clip(upper=0).sum()))
    echo(f"compared {len(comparison.communities)} community-category pairs: "
         f"{int((comparison.communities['change'] == 'gain').sum())} gain, "
         f"{int((comparison.communities['change'] == 'loss').sum())} lose coverage "
         f"(+{gain:,.0f} / -{loss:,.0f} people over all categories); "
         f"{len(comparison.targets)} target results change")
    echo(comparison.settings_note())
    if "compare_map.html" not in written:
        echo("no community geometry in the folders: give --demand FILE for the map")
    echo(f"wrote {len(written)} files to {args.out}")
    return 0
