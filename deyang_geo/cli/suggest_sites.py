"""The ``suggest-sites`` command: where the next N facilities of a category should go."""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from deyang_geo.cli.analysis_options import add_study_options
from deyang_geo.cli.common import (
    demand_from_options,
    echo,
    log,
    population_label,
    protected_outputs,
    raster_inputs,
    read_routing_network,
)
from deyang_geo.core import settings

NAME = "suggest-sites"

#: What is left for the outputs once the model stops: this many times what reading the
#: inputs took before it (the map, the tables and the reading all grow with the same inputs).
OUTPUT_RESERVE_FACTOR = 2.0
HELP = ("suggest new sites for a facility category (maximal covering, set covering or "
        "p-median, solved exactly) with a proven gap and alternatives")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``suggest-sites``."""
    add_study_options(parser)
    parser.add_argument("--category", required=True, metavar="CAT",
                        help="facility category (catalog key, e.g. fitness_station)")
    parser.add_argument("--new-sites", type=int, default=None, metavar="N",
                        help="number of new sites (mclp, pmedian; not needed with --budget)")
    parser.add_argument("--model", default="mclp",
                        choices=("mclp", "lscp", "pmedian", "capacitated"),
                        help="mclp: cover the most people with N sites; lscp: fewest sites to "
                        "cover everyone reachable; pmedian: least person-minutes; capacitated: "
                        "mclp where a site serves at most its capacity (default: mclp)")
    parser.add_argument("--candidates", type=Path, default=None, metavar="CAND",
                        help="candidate sites (vacant lots, idle buildings) with id and "
                        "optional cost, floor_area_m2; default: network nodes in uncovered "
                        "areas")
    parser.add_argument("--candidate-source", default=None, choices=("file", "nodes", "both"),
                        help="where candidate sites come from, as a study file's candidates "
                        "key: the --candidates file, network nodes in uncovered areas, or "
                        "both (default: file with --candidates, else nodes)")
    parser.add_argument("--network-candidates", action="store_true",
                        help="the same as --candidate-source both")
    parser.add_argument("--candidate-spacing-m", type=float, default=None, metavar="M",
                        help="spacing of network-node candidates in metres (default: "
                        f"{settings.candidate_spacing_m:g})")
    parser.add_argument("--exclusion-zones", type=Path, default=None, metavar="FILE",
                        help="polygons (GeoJSON, GeoPackage, Shapefile) where no site may go")
    parser.add_argument("--budget", type=float, default=None, metavar="B",
                        help="total cost allowed (mclp; uses the candidates' cost column, "
                        "1 per site when missing)")
    parser.add_argument("--target-share", type=float, default=None, metavar="S",
                        help="lscp: share of the population to cover, 0-1 (e.g. 0.6 for a "
                        "plan target; default: everyone a candidate can reach)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="time limit of the whole command in seconds: reading, solving "
                        "and writing (default: "
                        f"{settings.siting_time_limit_s:g})")
    parser.epilog = ("writes DIR/sites.csv and DIR/sites.geojson (site_id, longitude, latitude, "
                     "added_population, rank), DIR/alternatives.csv, DIR/summary.json "
                     "(covered_population_before/after, objective, bound, gap, status, "
                     "parameters) and DIR/map.html")


def _check(args: argparse.Namespace) -> str:
    """Check the options with the study file's checks; return the candidate source."""
    from deyang_geo.core.checks import positive_problem
    from deyang_geo.core.errors import InputError, Problem
    from deyang_geo.study.config import check_siting

    options = {"new_sites": "--new-sites", "budget": "--budget",
               "target_share": "--target-share"}
    problems = [Problem(f"{options.get(key, key)}: {message}") for key, message in check_siting(
        model=args.model, new_sites=args.new_sites, budget=args.budget,
        target_share=args.target_share)]
    for value, option, unit in ((args.time_limit, "--time-limit", "seconds"),
                                (args.candidate_spacing_m, "--candidate-spacing-m", "metres")):
        problem = None if value is None else positive_problem(value, unit=unit)
        if problem is not None:
            problems.append(Problem(f"{option} {problem}"))
    source = args.candidate_source
    if args.network_candidates:
        if source not in (None, "both"):
            problems.append(Problem("--network-candidates is --candidate-source both; give "
                                    "one of them"))
        source = "both"
    if source is None:
        source = "file" if args.candidates is not None else "nodes"
    if source in ("file", "both") and args.candidates is None:
        problems.append(Problem(f"--candidate-source {source} needs --candidates FILE"))
    if problems:
        raise InputError(problems)
    return str(source)


def run(args: argparse.Namespace) -> int:
    """Run ``suggest-sites`` and return the exit code.

    The options are resolved like a study file and the step is the one ``deyang-geo run``
    calls (:func:`deyang_geo.study.pipeline.suggest_sites_for`). ``--time-limit`` holds for
    the whole command: reading the inputs counts against it, and the model stops early
    enough to leave the outputs (tables, alternatives, map) twice as long as the reading took.
    """
    started = time.perf_counter()
    import geopandas as gpd

    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.cli.analysis_options import resolve_args
    from deyang_geo.cli.common import (
        check_facility_options,
        facilities_label,
        read_facility_options,
        read_map_divisions,
        warnings_to_log,
    )
    from deyang_geo.core.standards import load_catalog
    from deyang_geo.io.categories import category_key
    from deyang_geo.io.points import read_candidates, read_communities
    from deyang_geo.network.osm_file import is_osm_path
    from deyang_geo.network.storage import read_network
    from deyang_geo.outputs.command_map import (
        map_isochrones,
        resolve_tianditu_key,
        write_command_map,
    )
    from deyang_geo.planning.siting.places import describe_sites, named_streets
    from deyang_geo.study.config import SitingScenario
    from deyang_geo.study.pipeline import empty_points, rural_units, suggest_sites_for

    source = _check(args)
    check_facility_options(args)
    resolve_tianditu_key(args.basemap, args.tianditu_key)  # a missing key fails before work
    category = category_key(args.category)
    out = Path(args.out)
    with protected_outputs(command=NAME, out=out, inputs=[
            args.network, args.facilities, args.demand, args.candidates,
            args.exclusion_zones, *raster_inputs(args)]), warnings_to_log(quiet=args.quiet):
        catalog = load_catalog()
        resolved = resolve_args(args, catalog=catalog, categories=[category])
        urban = resolved.setting(category, "urban")
        minutes = urban.threshold_minutes
        # the quick checks of the planner's tables before the slow OSM read
        communities = read_communities(args.demand, input_crs=args.input_crs)
        facilities, osm_note = read_facility_options(args, catalog=catalog)
        graph = (None if is_osm_path(args.network)
                 else read_network(args.network, modes=resolved.modes()))
        net = (read_routing_network(args.network, modes=resolved.modes()) if graph is None
               else RoutingNetwork.from_graph(graph))
        units, communities, population = demand_from_options(args, communities, crs=net.crs)
        same = facilities[facilities["category"].astype(str) == category]
        planner = (read_candidates(args.candidates, input_crs=args.input_crs)
                   if args.candidates is not None else empty_points(["id", "name"]))
        limit_s = float(args.time_limit if args.time_limit is not None
                        else settings.siting_time_limit_s)
        spent_s = time.perf_counter() - started
        scenario = SitingScenario(
            category=category, model=args.model, new_sites=args.new_sites, budget=args.budget,
            minutes=minutes, mode=urban.mode,
            time_limit_s=max(limit_s - (1.0 + OUTPUT_RESERVE_FACTOR) * spent_s, limit_s / 10),
            candidates=source,
            candidate_spacing_m=float(args.candidate_spacing_m
                                      if args.candidate_spacing_m is not None
                                      else settings.candidate_spacing_m),
            target_share=args.target_share,
            alternatives=3, exclusion_zones=args.exclusion_zones)
        result, cands = suggest_sites_for(
            scenario, net=net, units=units, facilities=facilities, candidates=planner,
            resolved=resolved, rural=rural_units(units, communities),
            walk_speed_kmh=args.walk_speed_kmh)
        if "time_limit_s" in result.parameters:  # the user's limit, not what was left of it
            result = replace(result, parameters={**result.parameters, "time_limit_s": limit_s})
        extra = {"inputs": {"network": str(args.network), "facilities": facilities_label(args),
                            **({"osm_facilities": osm_note} if osm_note else {}),
                            "demand": str(args.demand),
                            "candidates": None if args.candidates is None
                            else str(args.candidates)},
                 "category": category, "mode": urban.mode, "minutes": minutes,
                 "rural_mode": resolved.setting(category, "rural").mode,
                 "rural_minutes": resolved.setting(category, "rural").threshold_minutes,
                 "threshold_source": urban.sources["threshold_minutes"],
                 "walk_speed_kmh": args.walk_speed_kmh, "n_candidates": len(cands),
                 "n_demand_units": len(units), "population": population}
        streets = named_streets(args.network if graph is None else graph)
        result.write(out, candidates=cands, communities=communities, extra_summary=extra,
                     streets=streets, lang=args.lang)
        table = result.sites_table(cands)
        sites_map = None
        if "geometry" in table.columns and len(table):
            table = describe_sites(table, cands, streets=streets, communities=communities)
            table["alternatives"] = _alternative_texts(result, cands, streets, communities,
                                                       table)
            table["category"] = category
            sites_map = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
        synthetic = any(bool(f["synthetic"].fillna(False).astype(bool).any())
                        for f in (communities, facilities) if "synthetic" in f.columns)
        write_command_map(
            out / "map.html", title="Suggested sites / 建议选址",
            scenario=f"{category}, {args.model}, {resolved.summary()}"
            f"{population_label(population)}", net=net,
            mode=urban.mode, network_path=args.network,
            divisions=read_map_divisions(args.divisions), communities=communities,
            facilities=same, sites=sites_map, synthetic=synthetic,
            coverage=_existing_coverage(net, units, same, communities, resolved=resolved,
                                        walk_speed_kmh=args.walk_speed_kmh),
            isochrones=map_isochrones(net, same, mode=urban.mode,
                                      walk_speed_kmh=args.walk_speed_kmh),
            lang=args.lang, basemap=args.basemap, tianditu_key=args.tianditu_key)
    gap = "" if result.status == "optimal" else f", gap {result.gap:.2%}"
    added = result.covered_population_after - result.covered_population_before
    echo(f"wrote {len(result.sites)} suggested {category} sites ({args.model}, "
         f"{result.status}{gap}; covered population {result.covered_population_before:,.0f} "
         f"-> {result.covered_population_after:,.0f}, +{added:,.0f}) to sites.csv, "
         f"sites.geojson, summary.json and map.html in {out}")
    if math.isfinite(result.uncoverable_population) and result.uncoverable_population > 0:
        log.info("%s people are out of reach of every candidate",
                 f"{result.uncoverable_population:,.0f}")
    return 0


def _existing_coverage(net: Any, units: Any, facilities: Any, communities: Any, *,
                       resolved: Any, walk_speed_kmh: float | None) -> Any:
    """Coverage of the category's existing facilities per community (the map's colours)."""
    from deyang_geo.study.pipeline import compute_access, compute_study_coverage

    access = compute_access(net, units, facilities, communities=communities,
                            resolved=resolved, walk_speed_kmh=walk_speed_kmh)
    return compute_study_coverage(access, units, communities, resolved=resolved).communities


def _alternative_texts(result: Any, candidates: Any, streets: Any, communities: Any,
                       sites: Any) -> list[list[str]]:
    """Per site, its alternatives as "name: compared with the chosen site" (for the map)."""
    from deyang_geo.planning.siting.places import describe_alternatives

    names = dict(zip(sites["site_id"].astype(str), sites["name"], strict=True))
    alts = describe_alternatives(result.alternatives, candidates,
                                 objective_name=result.objective_name, streets=streets,
                                 communities=communities, site_names=names)
    out: dict[str, list[str]] = {}
    for row in alts.itertuples():
        out.setdefault(str(row.site_id), []).append(
            f"{row.alternative_name}: {row.compared_with_chosen}")
    return [out.get(str(s), []) for s in sites["site_id"]]
