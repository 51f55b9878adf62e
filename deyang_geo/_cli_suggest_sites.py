"""The ``suggest-sites`` command: where the next N facilities of a category should go."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ._cli_common import (
    add_network_option,
    add_out_option,
    add_points_options,
    add_travel_options,
    echo,
    log,
)

NAME = "suggest-sites"
HELP = ("suggest new sites for a facility category (maximal covering, set covering or "
        "p-median, solved exactly) with a proven gap and alternatives")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``suggest-sites``."""
    add_network_option(parser)
    add_points_options(parser)
    add_travel_options(parser)
    add_out_option(parser)
    parser.add_argument("--category", required=True, metavar="CAT",
                        help="facility category (catalog key, e.g. fitness_station)")
    parser.add_argument("--new-sites", type=int, default=None, metavar="N",
                        help="number of new sites (mclp, pmedian; not needed with --budget)")
    parser.add_argument("--model", default="mclp", choices=("mclp", "lscp", "pmedian"),
                        help="mclp: cover the most people with N sites; lscp: fewest sites to "
                        "cover everyone reachable; pmedian: least person-minutes (default: mclp)")
    parser.add_argument("--candidates", type=Path, default=None, metavar="CAND",
                        help="candidate sites (vacant lots, idle buildings) with id and "
                        "optional cost, floor_area_m2; default: network nodes in uncovered "
                        "areas")
    parser.add_argument("--network-candidates", action="store_true",
                        help="add network nodes in uncovered areas to the --candidates list")
    parser.add_argument("--candidate-spacing-m", type=float, default=200.0, metavar="M",
                        help="spacing of network-node candidates in metres (default: 200)")
    parser.add_argument("--exclusion-zones", type=Path, default=None, metavar="FILE",
                        help="polygons (GeoJSON, GeoPackage, Shapefile) where no site may go")
    parser.add_argument("--budget", type=float, default=None, metavar="B",
                        help="total cost allowed (mclp; uses the candidates' cost column, "
                        "1 per site when missing)")
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="solver time limit in seconds (default: 60)")
    parser.epilog = ("writes DIR/sites.csv and DIR/sites.geojson (site_id, longitude, latitude, "
                     "added_population, rank), DIR/alternatives.csv, DIR/summary.json "
                     "(covered_population_before/after, objective, bound, gap, status, "
                     "parameters) and DIR/map.html")


def _check(args: argparse.Namespace) -> None:
    from ._errors import InputError, Problem

    problems = []
    if not float(args.minutes) > 0:
        problems.append(Problem(f"--minutes must be a positive number, got {args.minutes:g}"))
    if args.walk_speed_kmh is not None and not args.walk_speed_kmh > 0:
        problems.append(Problem("--walk-speed-kmh must be a positive number"))
    if args.model in ("mclp", "pmedian") and args.new_sites is None and (
            args.model == "pmedian" or args.budget is None):
        problems.append(Problem(f"--model {args.model} needs --new-sites N"
                                + (" or --budget B" if args.model == "mclp" else "")))
    if args.new_sites is not None and args.new_sites < 0:
        problems.append(Problem("--new-sites must be >= 0"))
    if args.budget is not None and args.model != "mclp":
        problems.append(Problem("--budget works with --model mclp"))
    if args.budget is not None and args.new_sites is not None:
        problems.append(Problem("give --new-sites or --budget, not both"))
    if not args.time_limit > 0:
        problems.append(Problem("--time-limit must be > 0 seconds"))
    if not args.candidate_spacing_m > 0:
        problems.append(Problem("--candidate-spacing-m must be > 0"))
    if problems:
        raise InputError(problems)


def run(args: argparse.Namespace) -> int:
    """Run ``suggest-sites`` and return the exit code."""
    import geopandas as gpd
    import numpy as np

    from ._cli_access import warnings_to_log
    from ._errors import InputError
    from .access import nearest_minutes, reach_set
    from .demand import demand_units
    from .io import read_candidates, read_communities, read_facilities
    from .network import read_network
    from .routing import RoutingNetwork
    from .siting import lscp, mclp, pmedian
    from .siting.candidates import (
        combine_candidates,
        drop_in_zones,
        network_candidates,
        planner_candidates,
    )
    from .snapping import snap_points
    from .standards import load_catalog
    from .webmap import save_map, study_map

    _check(args)
    known = list(load_catalog().categories)
    if args.category not in known:
        msg = f"--category {args.category!r} is not a catalog key; known: {', '.join(known)}"
        raise InputError(msg)
    minutes = float(args.minutes)
    out = Path(args.out)
    with warnings_to_log():
        facilities = read_facilities(args.facilities, input_crs=args.input_crs)
        communities = read_communities(args.demand, input_crs=args.input_crs)
        net = RoutingNetwork.from_graph(read_network(args.network, modes=(args.mode,)))
        units = demand_units(communities, crs=net.crs)
        same = facilities[facilities["category"].astype(str) == args.category]
        if len(same) == 0:
            log.info("no existing %s facilities: every demand unit starts uncovered",
                     args.category)

        def snapped(gdf: Any) -> Any:
            pts = gdf.geometry.to_crs(net.crs)
            return snap_points(net, pts.x.to_numpy(), pts.y.to_numpy(), mode=args.mode)

        unit_snap = snapped(units)
        reach_minutes = minutes * 2.0 if args.model == "pmedian" else minutes
        if len(same):
            existing, _ = nearest_minutes(net, snapped(same), unit_snap, mode=args.mode,
                                          max_minutes=reach_minutes,
                                          walk_speed_kmh=args.walk_speed_kmh)
        else:
            existing = np.full(len(units), np.nan)
        zones = gpd.read_file(args.exclusion_zones) if args.exclusion_zones else None
        tables = []
        if args.candidates is not None:
            planner = read_candidates(args.candidates, input_crs=args.input_crs)
            tables.append(planner_candidates(planner.to_crs(net.crs), exclusion_zones=zones))
        if args.candidates is None or args.network_candidates:
            uncovered = units.loc[~(np.nan_to_num(existing, nan=np.inf) <= minutes)]
            tables.append(network_candidates(net, uncovered=uncovered,
                                             spacing_m=args.candidate_spacing_m,
                                             exclusion_zones=zones))
        cands = drop_in_zones(combine_candidates(*tables, min_separation_m=50.0), zones)
        if len(cands) == 0:
            msg = "no candidate sites left (all excluded, or nothing is uncovered)"
            raise InputError(msg)
        reach = reach_set(net, snapped(cands), unit_snap, mode=args.mode,
                          max_minutes=reach_minutes, walk_speed_kmh=args.walk_speed_kmh)
        population = units["population"].to_numpy(dtype=float)
        common: dict[str, Any] = {
            "candidate_ids": cands["id"].astype(str).tolist(),
            "unit_community": units["community_id"].astype(str).to_numpy(),
            "time_limit_s": float(args.time_limit),
        }
        if args.model == "mclp":
            costs = None
            if args.budget is not None:
                costs = cands["cost"].to_numpy(dtype=float)
                costs = np.where(np.isfinite(costs), costs, 1.0)
            result = mclp(reach, population, new_sites=args.new_sites, budget=args.budget,
                          costs=costs, max_minutes=minutes, existing_covered=existing,
                          **common)
        elif args.model == "lscp":
            result = lscp(reach, population, max_minutes=minutes, existing_covered=existing,
                          **common)
        else:
            result = pmedian(reach, population, new_sites=int(args.new_sites),
                             existing_minutes=existing, max_minutes=reach_minutes,
                             threshold_minutes=minutes, **common)
        extra = {"inputs": {"network": str(args.network), "facilities": str(args.facilities),
                            "demand": str(args.demand),
                            "candidates": None if args.candidates is None
                            else str(args.candidates)},
                 "category": args.category, "mode": args.mode, "minutes": minutes,
                 "walk_speed_kmh": args.walk_speed_kmh, "n_candidates": len(cands),
                 "n_demand_units": len(units)}
        result.write(out, candidates=cands, communities=communities, extra_summary=extra)
        table = result.sites_table(cands)
        sites_map = None
        if "geometry" in table.columns and len(table):
            alts = result.alternatives.groupby("site_id", sort=False)["alternative_id"].agg(list)
            table["alternatives"] = [alts.get(s, []) for s in table["site_id"]]
            table["category"] = args.category
            sites_map = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
        synthetic = any(bool(f["synthetic"].fillna(False).astype(bool).any())
                        for f in (communities, facilities) if "synthetic" in f.columns)
        fmap = study_map(
            title="Suggested sites / 建议选址",
            scenario=f"{args.category}, {args.model}, {args.mode} {minutes:g} min",
            communities=communities, facilities=same, sites=sites_map, synthetic=synthetic)
        save_map(fmap, out / "map.html")
    gap = "" if result.status == "optimal" else f", gap {result.gap:.2%}"
    added = result.covered_population_after - result.covered_population_before
    echo(f"wrote {len(result.sites)} suggested {args.category} sites ({args.model}, "
         f"{result.status}{gap}; covered population {result.covered_population_before:,.0f} "
         f"-> {result.covered_population_after:,.0f}, +{added:,.0f}) to sites.csv, "
         f"sites.geojson, summary.json and map.html in {out}")
    if math.isfinite(result.uncoverable_population) and result.uncoverable_population > 0:
        log.info("%s people are out of reach of every candidate",
                 f"{result.uncoverable_population:,.0f}")
    return 0
