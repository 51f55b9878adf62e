"""The ``access`` command: minutes to the nearest facility of each category, coverage and a map."""

from __future__ import annotations

import argparse
from pathlib import Path

from deyang_geo.cli.analysis_options import add_study_options
from deyang_geo.cli.common import (
    add_graded_options,
    demand_from_options,
    echo,
    population_label,
    protected_outputs,
    raster_inputs,
    read_routing_network,
    warnings_to_log,
    write_graded_from_options,
)

NAME = "access"
HELP = ("minutes from every demand unit to the nearest facility of each category, population "
        "coverage per community and a map")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``access``."""
    add_study_options(parser)
    add_graded_options(parser)
    parser.epilog = (
        "writes DIR/access.csv (demand_id, category, minutes, facility_id; minutes empty when "
        "unreachable), DIR/coverage.csv (per community and category: population, covered "
        "population, share, class), the township/division/study-area tables, "
        "DIR/outside_reach.csv and DIR/map.html; with --graded also accessibility.csv, "
        "completeness.csv, equity.csv and lorenz_<category>.png"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``access`` and return the exit code.

    The options are resolved like a study file's ``[analysis]`` and the steps are those of
    ``deyang-geo run`` (:func:`deyang_geo.study.pipeline.compute_access`,
    :func:`deyang_geo.study.pipeline.compute_study_coverage`).
    """
    from deyang_geo.cli.analysis_options import resolve_args
    from deyang_geo.cli.common import (
        check_facility_options,
        facilities_label,
        read_facility_options,
        read_map_divisions,
    )
    from deyang_geo.core.standards import load_catalog
    from deyang_geo.io.exports import write_exports
    from deyang_geo.io.points import read_communities
    from deyang_geo.io.validate import warn_unreachable_categories
    from deyang_geo.outputs.command_map import (
        map_isochrones,
        resolve_tianditu_key,
        write_command_map,
    )
    from deyang_geo.study.outputs import write_access_csv
    from deyang_geo.study.pipeline import (
        analysed_categories,
        compute_access,
        compute_study_coverage,
    )

    check_facility_options(args)
    out = Path(args.out)
    resolve_tianditu_key(args.basemap, args.tianditu_key)  # a missing key fails before work
    with protected_outputs(command=NAME, out=out,
                           inputs=[args.network, args.facilities, args.demand,
                                   *raster_inputs(args)]), \
            warnings_to_log(quiet=args.quiet):
        catalog = load_catalog()
        # the quick checks of the planner's tables before the slow OSM read
        communities = read_communities(args.demand, input_crs=args.input_crs)
        facilities, osm_note = read_facility_options(args, catalog=catalog)
        resolved = resolve_args(args, catalog=catalog,
                                categories=analysed_categories(None, facilities))
        net = read_routing_network(args.network, modes=resolved.modes())
        units, communities, population = demand_from_options(args, communities, crs=net.crs)
        access = compute_access(net, units, facilities, communities=communities,
                                resolved=resolved, walk_speed_kmh=args.walk_speed_kmh)
        warn_unreachable_categories(access, facilities_file=facilities_label(args))
        speed = "" if args.walk_speed_kmh is None else f", {args.walk_speed_kmh:g} km/h"
        coverage = compute_study_coverage(
            access, units, communities, resolved=resolved,
            provenance={"network": str(args.network), "facilities": facilities_label(args),
                        **({"osm_facilities": osm_note} if osm_note else {}),
                        "demand": str(args.demand), "mode": args.mode,
                        "walk_speed_kmh": "" if args.walk_speed_kmh is None
                        else f"{args.walk_speed_kmh:g}", **population},
        )
        # one row per unit and category, units in the order of the demand file
        unit_pos = {u: i for i, u in enumerate(units["unit_id"].astype(str))}
        cat_pos = {c: i for i, c in enumerate(resolved.categories)}
        rows = access.assign(_u=access["demand_id"].astype(str).map(unit_pos),
                             _c=access["category"].map(cat_pos))
        rows = rows.sort_values(["_u", "_c"], kind="mergesort")
        write_access_csv(rows[["demand_id", "category", "minutes", "facility_id"]],
                         out / "access.csv", lang=args.lang)
        coverage.write(out, lang=args.lang)
        write_exports(coverage.outside, out / "outside_reach",
                      name="服务范围外社区 / Communities outside reach")
        write_graded_from_options(args, net, units=units, facilities=facilities,
                                  communities=communities, access=access,
                                  provenance=population, out=out)
        write_command_map(
            out / "map.html",
            title="15-minute service circle / 15分钟服务圈",
            scenario=f"{resolved.summary()}{speed}{population_label(population)}", net=net,
            mode=args.mode, network_path=args.network,
            divisions=read_map_divisions(args.divisions),
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
         f"category pairs outside reach: {resolved.summary()}) and map.html in {out}")
    return 0


def _any_true(frame: object, column: str) -> bool:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame) or column not in frame.columns:
        return False
    return bool(frame[column].fillna(False).astype(bool).any())
