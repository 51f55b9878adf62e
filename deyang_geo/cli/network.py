"""The ``network`` command: build a road network from OpenStreetMap and save it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deyang_geo.cli.common import add_out_option, check_outputs, echo, walk_speed_kmh
from deyang_geo.core import settings

NAME = "network"
HELP = "build a road network with per-mode travel times from an OSM file or OpenStreetMap"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``network`` options: one source, study area, modes and the output graph."""
    parser.epilog = (
        "examples: deyang-geo network --osm sichuan.osm.pbf --boundary jingyang.geojson "
        "--mode walk --out jingyang.graphml | deyang-geo network --place '旌阳区, 德阳市' "
        "--out jingyang.gpkg | deyang-geo network --bbox 104.35,31.10,104.45,31.18 "
        "--mode walk,bike --out centre.graphml"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--osm", type=Path, metavar="FILE",
        help="offline OpenStreetMap file: .osm, .osm.bz2, .osm.gz or .osm.pbf (e.g. a "
        "Geofabrik extract of Sichuan); no internet needed",
    )
    source.add_argument(
        "--place", metavar="NAME",
        help="download by place name, Chinese or English (e.g. '旌阳区, 德阳市'); needs "
        "internet once, then osmnx's cache",
    )
    source.add_argument(
        "--bbox", metavar="W,S,E,N",
        help="download the box west,south,east,north in WGS-84 degrees",
    )
    parser.add_argument(
        "--boundary", type=Path, metavar="AREA",
        help="study-area polygon file (GeoJSON, GeoPackage, Shapefile): clips --osm to it; "
        "alone, downloads the network inside it",
    )
    parser.add_argument(
        "--mode", action="append", metavar="MODE[,MODE...]",
        help=f"travel mode(s) to compute, repeatable or comma-separated: "
        f"{', '.join(settings.modes)} (default: all)",
    )
    parser.add_argument(
        "--walk-speed-kmh", type=walk_speed_kmh, default=None, metavar="KMH",
        help=f"walking speed in km/h (default: {settings.walk_speed_kmh}, GB 50180-2018)",
    )
    parser.add_argument(
        "--crs", default=None, metavar="CRS",
        help="projected CRS of the result: utm (default, the local UTM zone), cgcs2000_gk3 "
        "(CGCS2000 3-degree Gauss-Kruger) or EPSG:<code>",
    )
    parser.add_argument(
        "--keep-disconnected", action="store_true",
        help="keep pieces not connected to the main network (default: drop them; what is "
        "dropped is always reported)",
    )
    parser.add_argument(
        "--exclude-trunk", action="store_true",
        help="leave trunk roads out of the walking network (default: trunk roads are walkable "
        "unless tagged foot=no, access=no/private, motorroad=yes or without sidewalks)",
    )
    parser.add_argument(
        "--no-simplify", action="store_true",
        help="keep every OSM node instead of merging nodes that are not junctions",
    )
    parser.add_argument(
        "--dem", type=Path, metavar="RASTER",
        help="elevation raster (GeoTIFF): walking times follow the slope (Tobler's hiking "
        "function); needs the 'dem' extra (rasterio)",
    )
    add_out_option(parser, is_dir=False)


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    from deyang_geo.core.errors import InputError

    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        msg = f"--bbox must be four numbers west,south,east,north; got {text!r}"
        raise InputError(msg)
    return values[0], values[1], values[2], values[3]


def run(args: argparse.Namespace) -> int:
    """Build the network, save it to ``--out`` and print its summary."""
    from deyang_geo.core.errors import InputError
    from deyang_geo.network.graphml import GRAPH_SUFFIXES

    out: Path = args.out
    if out.suffix.lower() not in GRAPH_SUFFIXES:
        msg = f"--out must end in .graphml or .gpkg, got {out}"
        raise InputError(msg)
    check_outputs(command=NAME, out=out, inputs=[args.osm, args.boundary, args.dem],
                  is_dir=False)
    speeds = {"walk": args.walk_speed_kmh} if args.walk_speed_kmh is not None else None
    options: dict[str, Any] = {
        "modes": args.mode,
        "simplify": not args.no_simplify,
        "retain_all": args.keep_disconnected,
        "drop_disconnected": not args.keep_disconnected,
        "crs": args.crs,
        "speeds_kmh": speeds,
        "exclude_trunk": args.exclude_trunk,
    }
    if args.osm is not None and args.dem is None and out.suffix.lower() == ".graphml":
        return _run_arrays(args, out, options)
    from deyang_geo import network

    if args.osm is not None:
        G = network.graph_from_osm_file(args.osm, boundary=args.boundary, dem=args.dem,
                                        **options)
    else:
        if args.place is not None:
            G = network.graph_from_place(args.place, **options)
        elif args.bbox is not None:
            G = network.graph_from_bbox(_parse_bbox(args.bbox), **options)
        elif args.boundary is not None:
            G = network.graph_from_polygon(args.boundary, **options)
        else:
            msg = "give a source: --osm FILE, --place NAME, --bbox W,S,E,N or --boundary AREA"
            raise InputError(msg)
        if args.boundary is not None and (args.place is not None or args.bbox is not None):
            G = network.clip_to_boundary(G, args.boundary)
        if args.dem is not None:
            walk_modes = tuple(m for m in G.graph["modes"] if network.MODE_KIND[m] == "walk")
            G = network.add_slope_walk_times(G, args.dem, modes=walk_modes)
    network.save_graph(G, out)
    echo(str(network.network_summary(G)))
    echo(f"wrote {out} ({G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges)")
    return 0


def _run_arrays(args: argparse.Namespace, out: Path, options: dict[str, Any]) -> int:
    """Write an OSM file's network as GraphML straight from the builder's arrays.

    No networkx graph, no shapely geometries, no geopandas (unless ``--boundary`` needs it).
    """
    from deyang_geo.network.build import network_arrays_from_osm_file
    from deyang_geo.network.graphml import write_graphml
    from deyang_geo.network.summary import network_summary

    arrays = network_arrays_from_osm_file(args.osm, boundary=args.boundary, **options)
    write_graphml(arrays, out)
    echo(str(network_summary(arrays)))
    echo(f"wrote {out} ({len(arrays.node_ids):,} nodes, {len(arrays.edge_u):,} edges)")
    return 0
