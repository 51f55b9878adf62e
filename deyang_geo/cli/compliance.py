"""The ``compliance`` command: which targets of the plan are met, and the gaps, per level."""

from __future__ import annotations

import argparse
from pathlib import Path

from deyang_geo.cli.analysis_options import add_analysis_options
from deyang_geo.cli.common import (
    add_demand_raster_options,
    add_lang_option,
    add_map_options,
    add_network_option,
    add_out_option,
    add_points_options,
    add_travel_options,
    demand_from_options,
    echo,
    log,
    protected_outputs,
    raster_inputs,
    read_routing_network,
)
from deyang_geo.core import settings

NAME = "compliance"
HELP = ("check the plan's targets (coverage, floor area per household, sizes, attributes) per "
        "community, township, division and city")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``compliance``."""
    add_network_option(parser)
    add_points_options(parser, osm_facilities=True)
    add_travel_options(parser)
    add_analysis_options(parser)
    parser.add_argument(
        "--standards", type=Path, default=None, metavar="FILE",
        help="standards catalog (TOML) to use instead of the packaged Deyang one",
    )
    parser.add_argument(
        "--threshold", action="append", default=[], metavar="KEY=MIN",
        help="override a category's or a target's time threshold in minutes, repeatable "
        "(e.g. elderly_daycare=10, T7=15)",
    )
    add_out_option(parser)
    add_lang_option(parser)
    add_map_options(parser)
    add_demand_raster_options(parser)
    parser.epilog = (
        "writes DIR/compliance_city.csv (one row per target and scope: value, target, met, "
        "gaps, source, verified), compliance_divisions.csv, compliance_townships.csv, "
        "compliance_communities.csv, compliance_undersized.csv, compliance_parameters.csv "
        "(UTF-8 with BOM, bilingual headers), compliance.xlsx (a sheet per level) and map.html "
        "(15-minute coverage per category)"
    )


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """Parse ``["elderly_daycare=10", "T7=15"]`` into a mapping; raise InputError when bad."""
    from deyang_geo.core.errors import InputError

    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            minutes = float(value)
        except ValueError:
            minutes = float("nan")
        if not sep or not key.strip() or not minutes > 0:
            msg = f"--threshold must look like KEY=MINUTES with positive minutes, got {item!r}"
            raise InputError(msg)
        out[key.strip()] = minutes
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``compliance`` and return the exit code.

    The options are resolved like a study file's ``[analysis]`` and the step is the one
    ``deyang-geo run`` calls (:func:`deyang_geo.study.pipeline.compute_compliance`).
    """
    from deyang_geo.cli.analysis_options import resolve_args
    from deyang_geo.cli.common import (
        check_facility_options,
        facilities_label,
        read_facility_options,
        read_map_divisions,
        warnings_to_log,
    )
    from deyang_geo.core.standards import load_catalog
    from deyang_geo.io.points import read_communities
    from deyang_geo.io.validate import warn_unreachable_categories
    from deyang_geo.outputs.command_map import resolve_tianditu_key, write_command_map
    from deyang_geo.planning.compliance import gap_summary
    from deyang_geo.study.pipeline import (
        StudyInputs,
        analysed_categories,
        compute_access,
        compute_compliance,
        compute_study_coverage,
        empty_points,
    )

    thresholds = parse_thresholds(args.threshold)
    check_facility_options(args)
    out = Path(args.out)
    resolve_tianditu_key(args.basemap, args.tianditu_key)  # a missing key fails before work
    with protected_outputs(command=NAME, out=out, inputs=[args.network, args.facilities,
                                                          args.demand, args.standards,
                                                          *raster_inputs(args)]), \
            warnings_to_log(quiet=args.quiet):
        catalog = load_catalog(args.standards)
        # the quick checks of the planner's tables before the slow OSM read
        communities = read_communities(args.demand, input_crs=args.input_crs)
        facilities, merged_note = read_facility_options(args, catalog=catalog)
        resolved = resolve_args(args, catalog=catalog,
                                categories=analysed_categories(None, facilities))
        net = read_routing_network(args.network, modes=resolved.modes())
        units, communities, population = demand_from_options(args, communities, crs=net.crs)
        access = compute_access(net, units, facilities, communities=communities,
                                resolved=resolved, walk_speed_kmh=args.walk_speed_kmh)
        warn_unreachable_categories(access, facilities_file=facilities_label(args))
        inputs = StudyInputs(divisions=empty_points(["name_zh", "name_en"]), study_area=None,
                             communities=communities, facilities=facilities,
                             candidates=empty_points(["id", "name"]),
                             context=empty_points(["name"]))
        result = compute_compliance(
            net, units, inputs, access=access, catalog=catalog, resolved=resolved,
            thresholds=thresholds, walk_speed_kmh=args.walk_speed_kmh,
            provenance={
                "network": str(args.network), "facilities": facilities_label(args),
                "demand": str(args.demand), "input_crs": args.input_crs,
                "walk_speed_kmh": f"{args.walk_speed_kmh or settings.walk_speed_kmh:g}",
                "osm_facilities": merged_note, **population,
            },
        )
        result.write(out)
        coverage = compute_study_coverage(access, units, communities, resolved=resolved)
        write_command_map(
            out / "map.html", title="Plan targets / 规划指标",
            scenario=resolved.summary(), net=net, mode=args.mode,
            network_path=args.network, divisions=read_map_divisions(args.divisions),
            communities=communities, facilities=facilities, coverage=coverage.communities,
            outside=coverage.outside, catalog=catalog, lang=args.lang, basemap=args.basemap,
            tianditu_key=args.tianditu_key)
    table = result.targets
    assessed = table["met"].notna()
    n_met = int(table.loc[assessed, "met"].astype(bool).sum())
    for line in gap_summary(result):
        log.info("missed: %s", line)
    echo(f"wrote compliance tables and compliance.xlsx to {out}: {int(assessed.sum())} of "
         f"{len(table)} target rows assessed, {n_met} met, {int(assessed.sum()) - n_met} missed "
         f"({len(communities)} communities, {len(facilities)} facilities, catalog "
         f"{catalog.version})")
    return 0
