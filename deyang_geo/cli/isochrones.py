"""The ``isochrones`` command: service-area polygons around facilities for several time breaks."""

from __future__ import annotations

import argparse
from pathlib import Path

from deyang_geo.cli.common import (
    add_lang_option,
    add_map_options,
    add_network_option,
    add_out_option,
    add_points_options,
    add_travel_options,
    echo,
    parse_minutes_list,
    protected_outputs,
    read_routing_network,
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
    add_lang_option(parser)
    add_map_options(parser)
    parser.add_argument("--map", type=Path, default=None, metavar="HTML",
                        help="the map of the service areas (default: FILE with .html)")
    parser.epilog = ("FILE ends in .gpkg (layer 'isochrones') or .geojson; polygons are nested "
                     "(the 15-minute one contains the 10-minute one); the map is written "
                     "beside it (FILE with .html)")


def run(args: argparse.Namespace) -> int:
    """Run ``isochrones`` and return the exit code."""
    from deyang_geo.analysis.isochrones import isochrones
    from deyang_geo.cli.common import read_map_divisions, warnings_to_log
    from deyang_geo.core.checks import check_positive
    from deyang_geo.core.errors import InputError
    from deyang_geo.io.exports import write_exports
    from deyang_geo.io.files import atomic_path, fixed_file_dates
    from deyang_geo.io.points import read_facilities
    from deyang_geo.outputs.command_map import resolve_tianditu_key, write_command_map

    out = Path(args.out)
    map_path = Path(args.map) if args.map is not None else out.with_suffix(".html")
    resolve_tianditu_key(args.basemap, args.tianditu_key)  # a missing key fails before work
    suffix = out.suffix.lower()
    if suffix not in DRIVERS:
        msg = f"--out must end in .gpkg or .geojson, got {out.name!r}"
        raise InputError(msg)
    breaks = parse_minutes_list(args.minutes)
    if args.walkoff_m is not None and not args.walkoff_m >= 0:
        msg = f"--walkoff-m must be a number of metres >= 0, got {args.walkoff_m:g}"
        raise InputError(msg)
    if args.walk_speed_kmh is not None:
        check_positive(args.walk_speed_kmh, name="--walk-speed-kmh", unit="km/h")
    with protected_outputs(command=NAME, out=out, inputs=[args.network, args.facilities],
                           is_dir=False), warnings_to_log(quiet=args.quiet):
        facilities = read_facilities(args.facilities, input_crs=args.input_crs)
        net = read_routing_network(args.network, modes=(args.mode,))
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
        write_exports(areas, out.with_suffix(""), name="等时圈 / Service areas")
        speed = "" if args.walk_speed_kmh is None else f", {args.walk_speed_kmh:g} km/h"
        write_command_map(
            map_path, title="Service areas / 等时圈",
            scenario=f"{args.mode} {','.join(f'{b:g}' for b in breaks)} min{speed}", net=net,
            mode=args.mode, network_path=args.network,
            divisions=read_map_divisions(args.divisions), facilities=facilities,
            isochrones=areas if "category" in areas.columns else None,
            lang=args.lang, basemap=args.basemap, tianditu_key=args.tianditu_key)
    echo(f"wrote {out} ({len(areas)} polygons: {len(breaks)} breaks "
         f"{','.join(f'{b:g}' for b in breaks)} min) and the map {map_path}")
    return 0
