"""The ``access`` command: minutes to the nearest facility of each category, coverage and a map."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._cli_common import (
    add_lang_option,
    add_map_options,
    add_network_option,
    add_out_option,
    add_points_options,
    add_travel_options,
    echo,
    warnings_to_log,
)

NAME = "access"
HELP = ("minutes from every demand unit to the nearest facility of each category, population "
        "coverage per community and a map")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``access``."""
    add_network_option(parser)
    add_points_options(parser)
    add_travel_options(parser)
    add_out_option(parser)
    add_lang_option(parser)
    add_map_options(parser)
    parser.epilog = (
        "writes DIR/access.csv (demand_id, category, minutes, facility_id; minutes empty when "
        "unreachable), DIR/coverage.csv (per community and category: population, covered "
        "population, share, class), the township/division/study-area tables, "
        "DIR/outside_reach.csv and DIR/map.html"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``access`` and return the exit code."""
    from ._cli_common import read_map_divisions
    from ._errors import InputError
    from ._outputs import write_access_csv
    from .access import minutes_to_nearest
    from .command_map import map_isochrones, resolve_tianditu_key, write_command_map
    from .coverage import compute_coverage
    from .demand import demand_units
    from .exports import write_exports
    from .io import read_communities, read_facilities
    from .network import read_network
    from .routing import RoutingNetwork

    minutes = float(args.minutes)
    if not minutes > 0:
        msg = f"--minutes must be a positive number, got {args.minutes:g}"
        raise InputError(msg)
    if args.walk_speed_kmh is not None and not args.walk_speed_kmh > 0:
        msg = f"--walk-speed-kmh must be a positive number, got {args.walk_speed_kmh:g}"
        raise InputError(msg)
    out = Path(args.out)
    resolve_tianditu_key(args.basemap, args.tianditu_key)  # a missing key fails before work
    with warnings_to_log(quiet=args.quiet):
        facilities = read_facilities(args.facilities, input_crs=args.input_crs)
        communities = read_communities(args.demand, input_crs=args.input_crs)
        net = RoutingNetwork.from_graph(read_network(args.network, modes=(args.mode,)))
        units = demand_units(communities, crs=net.crs)
        access = minutes_to_nearest(net, units, facilities, mode=args.mode,
                                    walk_speed_kmh=args.walk_speed_kmh)
        speed = "" if args.walk_speed_kmh is None else f", {args.walk_speed_kmh:g} km/h"
        coverage = compute_coverage(
            access, units, communities, threshold_minutes=minutes,
            provenance={"network": str(args.network), "facilities": str(args.facilities),
                        "demand": str(args.demand), "mode": args.mode,
                        "walk_speed_kmh": "" if args.walk_speed_kmh is None
                        else f"{args.walk_speed_kmh:g}"},
        )
        write_access_csv(access[["demand_id", "category", "minutes", "facility_id"]],
                         out / "access.csv", lang=args.lang)
        coverage.write(out, lang=args.lang)
        write_exports(coverage.outside, out / "outside_reach",
                      name="服务范围外社区 / Communities outside reach")
        write_command_map(
            out / "map.html",
            title="15-minute service circle / 15分钟服务圈",
            scenario=f"{args.mode} {minutes:g} min{speed}", net=net, mode=args.mode,
            network_path=args.network, divisions=read_map_divisions(args.divisions),
            communities=communities, facilities=facilities, coverage=coverage.communities,
            outside=coverage.outside,
            isochrones=map_isochrones(net, facilities, mode=args.mode,
                                      walk_speed_kmh=args.walk_speed_kmh),
            synthetic=bool(_any_true(communities, "synthetic") or _any_true(facilities,
                                                                             "synthetic")),
            lang=args.lang, basemap=args.basemap, tianditu_key=args.tianditu_key)
    n_outside = int((coverage.communities["class"] == "outside").sum())
    echo(f"wrote {out / 'access.csv'} ({len(units)} demand units x {len(coverage.categories)} "
         f"categories), coverage.csv ({len(communities)} communities, {n_outside} community-"
         f"category pairs outside {minutes:g} min) and map.html in {out}")
    return 0


def _any_true(frame: object, column: str) -> bool:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame) or column not in frame.columns:
        return False
    return bool(frame[column].fillna(False).astype(bool).any())
