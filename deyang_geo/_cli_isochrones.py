"""The ``isochrones`` command: service-area polygons around facilities for several time breaks."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._cli_common import (
    add_network_option,
    add_out_option,
    add_points_options,
    add_travel_options,
    echo,
    parse_minutes_list,
    protected_outputs,
)

NAME = "isochrones"
HELP = ("service-area polygons that follow the streets reached within each time break "
        "(GeoPackage or GeoJSON, WGS-84)")

#: Output drivers by file-name ending.
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``isochrones``."""
    add_network_option(parser)
    add_points_options(parser, demand=False)
    add_travel_options(parser, minutes_list=True)
    parser.add_argument(
        "--walkoff-m", type=float, default=None, metavar="M",
        help="distance the areas reach off the street in metres (default: "
        "settings.isochrone_walkoff_m)",
    )
    parser.add_argument(
        "--per-facility", action="store_true",
        help="one polygon per facility and break instead of one per category and break",
    )
    add_out_option(parser, is_dir=False)
    parser.epilog = ("FILE ends in .gpkg (layer 'isochrones') or .geojson; polygons are nested "
                     "(the 15-minute one contains the 10-minute one)")


def run(args: argparse.Namespace) -> int:
    """Run ``isochrones`` and return the exit code."""
    from ._cli_common import warnings_to_log
    from ._errors import InputError
    from .io import atomic_path, fixed_file_dates, read_facilities
    from .isochrones import isochrones
    from .network import read_network
    from .routing import RoutingNetwork

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in DRIVERS:
        msg = f"--out must end in .gpkg or .geojson, got {out.name!r}"
        raise InputError(msg)
    breaks = parse_minutes_list(args.minutes)
    if args.walkoff_m is not None and not args.walkoff_m >= 0:
        msg = f"--walkoff-m must be a number of metres >= 0, got {args.walkoff_m:g}"
        raise InputError(msg)
    if args.walk_speed_kmh is not None and not args.walk_speed_kmh > 0:
        msg = f"--walk-speed-kmh must be a positive number, got {args.walk_speed_kmh:g}"
        raise InputError(msg)
    with protected_outputs(command=NAME, out=out, inputs=[args.network, args.facilities],
                           is_dir=False), warnings_to_log(quiet=args.quiet):
        facilities = read_facilities(args.facilities, input_crs=args.input_crs)
        net = RoutingNetwork.from_graph(read_network(args.network, modes=(args.mode,)))
        areas = isochrones(net, facilities, mode=args.mode, breaks_minutes=breaks,
                           walkoff_m=args.walkoff_m,
                           dissolve_by=None if args.per_facility else "category",
                           walk_speed_kmh=args.walk_speed_kmh)
        areas = areas.to_crs("EPSG:4326")
        with atomic_path(out) as tmp:
            if DRIVERS[suffix] == "GPKG":
                with fixed_file_dates():
                    areas.to_file(tmp, driver="GPKG", layer="isochrones")
            else:
                areas.to_file(tmp, driver="GeoJSON", layer="isochrones")
    echo(f"wrote {out} ({len(areas)} polygons: {len(breaks)} breaks "
         f"{','.join(f'{b:g}' for b in breaks)} min)")
    return 0
