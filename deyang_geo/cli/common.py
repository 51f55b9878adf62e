"""Options shared by several commands, so that they keep one name and one meaning everywhere."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deyang_geo.core import settings

if TYPE_CHECKING:
    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.study.config import StudyConfig

log = logging.getLogger("deyang_geo")


def add_network_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--network``: an OSM file (.osm, .osm.bz2, .osm.gz, .osm.pbf) or a saved graph."""
    parser.add_argument(
        "--network", required=True, type=Path, metavar="NET",
        help="road network: .osm, .osm.bz2, .osm.gz, .osm.pbf or a saved graph (.graphml, .gpkg)",
    )


def add_points_options(parser: argparse.ArgumentParser, *, facilities: bool = True,
                       demand: bool = True, osm_facilities: bool = False) -> None:
    """Add ``--facilities``, ``--demand`` and ``--input-crs``.

    With ``osm_facilities`` also ``--osm-facilities`` and ``--merge-distance-m``, and
    ``--facilities`` may then be left out (facilities from the OSM file alone).
    """
    if facilities:
        parser.add_argument(
            "--facilities", required=not osm_facilities, type=Path, metavar="FAC",
            help="facilities (GeoJSON, GeoPackage, Shapefile, CSV or Excel) with id and category"
            + (" (or --osm-facilities, or both)" if osm_facilities else ""),
        )
    if demand:
        parser.add_argument(
            "--demand", required=True, type=Path, metavar="DEM",
            help="communities or demand points (GeoJSON, GeoPackage, Shapefile, CSV or Excel) "
            "with id and population",
        )
    if facilities and osm_facilities:
        parser.add_argument(
            "--osm-facilities", action="store_true",
            help="also take facilities from the --network OSM file through the catalog's tag "
            "mapping; the planner's facilities win over OSM ones of the same category nearby",
        )
        parser.add_argument(
            "--merge-distance-m", type=float, default=50.0, metavar="M",
            help="with --osm-facilities: an OSM facility this close to a planner's facility of "
            "the same category is the same facility (default: 50)",
        )
    parser.add_argument(
        "--input-crs", default="wgs84", metavar="CRS",
        help="coordinate system of point files without one: wgs84, gcj02 (Amap, Tencent), "
        "bd09 (Baidu) or EPSG:<code> (default: wgs84)",
    )


def add_travel_options(parser: argparse.ArgumentParser, *, minutes: bool = True,
                       minutes_list: bool = False) -> None:
    """Add ``--mode``, ``--walk-speed-kmh`` and (unless ``minutes=False``) ``--minutes``."""
    parser.add_argument(
        "--mode", default="walk", choices=settings.modes,
        help="travel mode (default: walk)",
    )
    parser.add_argument(
        "--walk-speed-kmh", type=walk_speed_kmh, default=None, metavar="KMH",
        help=f"walking speed in km/h (default: {settings.walk_speed_kmh}, GB 50180-2018)",
    )
    if not minutes:
        return
    if minutes_list:
        parser.add_argument(
            "--minutes", default=",".join(f"{m:g}" for m in settings.isochrone_breaks_minutes),
            metavar="M[,M...]", help="time breaks in minutes, comma-separated (default: 5,10,15)",
        )
    else:
        parser.add_argument(
            "--minutes", type=float, default=None, metavar="M",
            help="time threshold in minutes (study file: threshold_minutes; default: each "
            "category's threshold from the standards catalog)",
        )


def walk_speed_kmh(text: str) -> float:
    """Parse ``--walk-speed-kmh``: a number within the plausible walking range (argparse type).

    Parameters
    ----------
    text
        The option's value.

    Returns
    -------
    float
        The speed in km/h.

    Raises
    ------
    argparse.ArgumentTypeError
        When it is not a number or not a plausible walking speed (argparse then exits 2
        naming the option).
    """
    from deyang_geo.core.errors import InputError
    from deyang_geo.io.validate import check_speed_kmh

    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number of km/h, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    try:
        return check_speed_kmh(value, mode="walk", option="--walk-speed-kmh")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--walk-speed-kmh: ")) from None


def add_out_option(parser: argparse.ArgumentParser, *, is_dir: bool = True) -> None:
    """Add ``--out``: the output folder (or file)."""
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR" if is_dir else "FILE",
        help="output folder" if is_dir else "output file",
    )


def add_lang_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--lang``: labels of maps, figures and reports in Chinese, English or both."""
    parser.add_argument("--lang", choices=("zh", "en", "both"), default="both",
                        help="labels in Chinese, English or both (default: both)")


def parse_minutes_list(text: str) -> tuple[float, ...]:
    """Parse ``"5,10,15"`` into ``(5.0, 10.0, 15.0)``; raise a usage error when malformed.

    A break given twice (``5,5,15``) is refused, as in a study file.
    """
    from deyang_geo.core.errors import InputError
    from deyang_geo.study.config import check_minutes_list

    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        msg = f"--minutes must be numbers separated by commas, got {text!r}"
        raise InputError(msg) from None
    problem = check_minutes_list(values)  # the study file's isochrone_breaks_minutes check
    if problem:
        msg = f"--minutes: {problem}"
        raise InputError(msg)
    return tuple(sorted(values))


def echo(message: str) -> None:
    """Print a line for the user, surviving consoles that cannot show Chinese (GBK, ASCII).

    Nothing is printed under ``--quiet`` (the ``deyang_geo`` logger then shows warnings only).
    """
    if not log.isEnabledFor(logging.INFO):
        return
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    safe = message.encode(encoding, errors="replace").decode(encoding, errors="replace")
    print(safe, file=stream)


@contextlib.contextmanager
def warnings_to_log(*, quiet: bool = False) -> Iterator[None]:
    """Show the toolkit's input warnings as plain log lines instead of Python warnings.

    Parameters
    ----------
    quiet
        Leave the warning filters as they are (``--quiet`` ignores warnings).

    Yields
    ------
    None
        Nothing: the warnings raised inside the block are logged when it ends.
    """
    from deyang_geo.core.errors import InputWarning

    with warnings.catch_warnings(record=True) as caught:
        if not quiet:
            warnings.simplefilter("always", InputWarning)
        yield
    for w in caught:
        if issubclass(w.category, InputWarning):
            log.warning("warning: %s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@contextlib.contextmanager
def step_progress(steps: tuple[str, ...], *, quiet: bool = False
                  ) -> Iterator[Callable[[str], None]]:
    """Yield an ``on_step(name)`` callback that drives a progress bar on an interactive console.

    On a terminal (and without ``--quiet``) a tqdm bar counts the steps and log lines are
    printed above it; elsewhere (files, CI, notebooks) the callback does nothing and the
    numbered step lines of the log are the progress report.

    Parameters
    ----------
    steps
        The names of the steps, in order.
    quiet
        No bar at all.

    Yields
    ------
    callable
        ``on_step(name)``, to call as each step starts.
    """
    if quiet or not sys.stderr.isatty():
        yield lambda _name: None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with tqdm(total=len(steps), unit="step", file=sys.stderr, leave=False) as bar, \
            logging_redirect_tqdm(loggers=[log]):
        seen: list[str] = []

        def on_step(name: str) -> None:
            if seen:
                bar.update(1)
            seen.append(name)
            bar.set_description(name)

        yield on_step
        bar.update(len(steps) - bar.n)


def add_map_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--basemap``, ``--tianditu-key`` and ``--divisions``: how the command's map looks."""
    from deyang_geo.core.style import BASEMAPS, TIANDITU_ENV

    parser.add_argument(
        "--basemap", choices=BASEMAPS, default="osm",
        help="map background: osm, light (Esri), tianditu (needs a key), amap (overlays "
        "shifted to GCJ-02) or none; offline, the map always shows water, rail, main roads "
        "and built-up areas drawn from the OSM file (default: osm)",
    )
    parser.add_argument(
        "--tianditu-key", default=None, metavar="KEY",
        help=f"Tianditu API key for --basemap tianditu (default: the {TIANDITU_ENV} "
        "environment variable); written only into the map that uses it",
    )
    parser.add_argument(
        "--divisions", type=Path, default=None, metavar="FILE",
        help="division boundaries (GeoJSON, GeoPackage, Shapefile) drawn on the map",
    )


def read_map_divisions(path: Path | None) -> object:
    """Read ``--divisions`` (``None`` when not given) as a WGS-84 GeoDataFrame."""
    if path is None:
        return None
    import geopandas as gpd

    from deyang_geo.core.errors import InputError

    if not Path(path).is_file():
        msg = f"--divisions: the file does not exist: {path}"
        raise InputError(msg)
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        msg = f"--divisions: cannot read {path} as a GeoJSON, GeoPackage or Shapefile ({exc})"
        raise InputError(msg) from None
    if frame.crs is None:
        frame = frame.set_crs(4326)
    if "name_zh" not in frame.columns and "name" in frame.columns:
        frame = frame.rename(columns={"name": "name_zh"})
    return frame


def add_basemap_override(parser: argparse.ArgumentParser) -> None:
    """Add ``--basemap`` and ``--tianditu-key`` overriding a study file's ``[output] basemap``."""
    from deyang_geo.core.style import BASEMAPS, TIANDITU_ENV

    parser.add_argument(
        "--basemap", choices=BASEMAPS, default=None,
        help="map background, overriding the study file's [output] basemap: osm, light, "
        "tianditu, amap (overlays in GCJ-02) or none",
    )
    parser.add_argument(
        "--tianditu-key", default=None, metavar="KEY",
        help=f"Tianditu API key for --basemap tianditu (default: the {TIANDITU_ENV} "
        "environment variable)",
    )


def with_basemap(config: StudyConfig, args: argparse.Namespace) -> StudyConfig:
    """Return the study configuration with ``--basemap`` applied (the Tianditu key checked)."""
    import dataclasses

    from deyang_geo.outputs.command_map import resolve_tianditu_key

    basemap = args.basemap or config.output.basemap
    resolve_tianditu_key(basemap, args.tianditu_key)
    if args.basemap is None:
        return config
    return dataclasses.replace(config, output=dataclasses.replace(config.output,
                                                                   basemap=basemap))


@contextlib.contextmanager
def tianditu_key_env(key: str | None) -> Iterator[None]:
    """Hand ``--tianditu-key`` to the map builder for the block, then restore the environment.

    The key travels through the ``TIANDITU_KEY`` environment variable of this process only
    while the study runs; it is never written into the configuration or any table.
    """
    import os

    from deyang_geo.core.style import TIANDITU_ENV

    if not key:
        yield
        return
    before = os.environ.get(TIANDITU_ENV)
    os.environ[TIANDITU_ENV] = key
    try:
        yield
    finally:
        if before is None:
            del os.environ[TIANDITU_ENV]
        else:
            os.environ[TIANDITU_ENV] = before


def add_demand_raster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--demand-raster``, ``--demand-totals``, ``--demand-cell-m`` and the age options."""
    group = parser.add_argument_group(
        "demand from a population raster (the --demand file then gives names, townships and "
        "where each cell belongs)")
    group.add_argument("--demand-raster", type=Path, default=None, metavar="FILE",
                       help="population raster (GeoTIFF, people per cell, any CRS, e.g. "
                       "WorldPop or GHS-POP): every cell with people becomes a demand unit")
    group.add_argument("--demand-totals", type=Path, default=None, metavar="FILE",
                       help="CSV/Excel of known totals (township or community_id, population) "
                       "the raster's people are rescaled to")
    group.add_argument("--demand-buildings", type=Path, default=None, metavar="FILE",
                       help="building footprints: each cell's people are spread over the "
                       "buildings inside it (dasymetric)")
    group.add_argument("--demand-cell-m", type=float, default=None, metavar="M",
                       help="sum raster cells into a grid of M metres (default: one unit per "
                       "cell)")
    ages = group.add_mutually_exclusive_group()
    ages.add_argument("--elderly-raster", type=Path, default=None, metavar="FILE",
                      help="raster of people aged 60+ (elderly day care is judged against them)")
    ages.add_argument("--elderly-share", type=float, default=None, metavar="X",
                      help="share (0-1) of people aged 60+ in every demand unit")


def demand_from_options(args: argparse.Namespace, communities: Any, *, crs: Any
                        ) -> tuple[Any, Any, dict[str, str]]:
    """Turn the demand options into demand units, the communities and provenance entries.

    Without ``--demand-raster`` the communities are spread into units as before
    (:func:`deyang_geo.analysis.demand.demand_units`); with it, units come from the raster
    (:func:`deyang_geo.analysis.raster_demand.demand_from_raster`) and the communities' populations
    are the raster's. The provenance says where the people came from, at which resolution.

    Parameters
    ----------
    args
        Parsed options (from :func:`add_demand_raster_options`).
    communities
        The communities read from ``--demand``.
    crs
        The network's projected CRS.

    Returns
    -------
    tuple
        ``(units, communities, provenance)``.
    """
    from deyang_geo.analysis.demand import demand_units
    from deyang_geo.analysis.raster_demand import (
        age_groups_from_shares,
        demand_from_raster,
        read_buildings,
    )
    from deyang_geo.core.errors import InputError

    raster = getattr(args, "demand_raster", None)
    share = getattr(args, "elderly_share", None)
    if raster is None:
        stray = [name for name in ("demand_totals", "demand_cell_m", "elderly_raster",
                                   "demand_buildings")
                 if getattr(args, name, None) is not None]
        if stray:
            msg = (f"--{stray[0].replace('_', '-')} needs --demand-raster (population from a "
                   "raster)")
            raise InputError(msg)
        units = age_groups_from_shares(demand_units(communities, crs=crs), communities,
                                       elderly_share=share)
        return units, communities, {"population_source": "communities table"}
    buildings = getattr(args, "demand_buildings", None)
    result = demand_from_raster(
        raster, communities, crs=crs, cell_size_m=args.demand_cell_m,
        buildings=None if buildings is None else read_buildings(buildings),
        totals=args.demand_totals, elderly_raster=args.elderly_raster, elderly_share=share)
    log.info("%s", result.note())
    return result.units, result.communities, result.provenance()


def add_graded_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--graded`` and its options: decay-weighted scores, E2SFCA, completeness, equity."""
    group = parser.add_argument_group("graded accessibility and equity")
    group.add_argument("--graded", action="store_true",
                       help="also write accessibility.csv (decay scores, E2SFCA, minutes to "
                       "the 3rd nearest), completeness.csv, equity.csv and Lorenz curves")
    group.add_argument("--decay", choices=("gaussian", "exponential"), default="gaussian",
                       help="distance decay of the graded scores (default: gaussian)")
    group.add_argument("--decay-minutes", type=float, default=10.0, metavar="M",
                       help="decay parameter in minutes (Gaussian sigma, exponential scale; "
                       "default: 10)")
    group.add_argument("--supply", choices=("capacity_population", "floor_area_m2"),
                       default=None, help="facility supply for E2SFCA (default: 1 per facility)")


def write_graded_from_options(args: argparse.Namespace, net: Any, *, units: Any,
                              facilities: Any, communities: Any, access: Any,
                              provenance: dict[str, str], out: Path) -> list[Path]:
    """Compute and write the graded outputs when ``--graded`` was given (else nothing).

    Parameters
    ----------
    args
        Parsed options (from :func:`add_graded_options` and :func:`add_travel_options`).
    net
        The routing network.
    units, facilities, communities, access
        The command's tables.
    provenance
        From :func:`demand_from_options` (the population note is carried over).
    out
        Output folder.

    Returns
    -------
    list of Path
        The files written.
    """
    if not getattr(args, "graded", False):
        return []
    from deyang_geo.analysis.graded import compute_graded
    from deyang_geo.core.standards import load_catalog

    graded = compute_graded(
        net, units=units, facilities=facilities, communities=communities, access=access,
        catalog=load_catalog(getattr(args, "standards", None)), mode=args.mode,
        walk_speed_kmh=args.walk_speed_kmh, decay=args.decay, decay_minutes=args.decay_minutes,
        supply_column=args.supply, population_note=provenance.get("population_note", ""))
    synthetic = any(bool(f["synthetic"].fillna(False).astype(bool).any())
                    for f in (communities, facilities) if "synthetic" in f.columns)
    return graded.write(out, lang=getattr(args, "lang", "both"), synthetic=synthetic)


def population_label(provenance: dict[str, str]) -> str:
    """Return ``"; 人口栅格 population raster ~100.0 m"`` for map titles, or ``""``."""
    if "raster_resolution_m" not in provenance:
        return ""
    return f"; 人口栅格 population raster ~{provenance['raster_resolution_m']} m"


#: Output files each folder-writing command may write, as patterns relative to its folder.
OUTPUT_PATTERNS: dict[str, tuple[str, ...]] = {
    "access": ("access.csv", "coverage*.csv", "outside_reach.csv", "map.html"),
    "compliance": ("compliance*.csv", "compliance.xlsx"),
    "suggest-sites": ("sites.csv", "sites.geojson", "alternatives.csv", "summary.json",
                      "map.html", "*_coverage.csv"),
    "report": ("report*", "report_csv/*", "map.png", "map.pdf", "coverage_chart.png"),
    "run": ("*", "*/*", "*/*/*"),
    "demo": ("*", "*/*", "*/*/*"),
}


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()


def check_outputs(*, command: str, out: Path, inputs: Sequence[Path | None],
                  out_option: str = "--out", is_dir: bool = True) -> None:
    """Refuse an output that is, or would overwrite, one of the run's input files.

    Parameters
    ----------
    command
        The command name (a key of :data:`OUTPUT_PATTERNS` for folder outputs).
    out
        The output folder or file.
    inputs
        The run's input files (``None`` entries are skipped).
    out_option
        How the output is named on the command line, for messages.
    is_dir
        Whether ``out`` is a folder of results.

    Raises
    ------
    InputError
        Naming the input and the output when one would overwrite the other, or when a file
        output names a folder.
    """
    import fnmatch

    from deyang_geo.core.errors import InputError, Problem
    from deyang_geo.io.output_set import INCOMPLETE_NAME, MANIFEST_NAME

    target = _resolved(Path(out))
    problems = []
    for file in (Path(p) for p in inputs if p is not None):
        source = _resolved(file)
        if is_dir:
            try:
                rel = source.relative_to(target).as_posix()
            except ValueError:
                continue
            patterns = (*OUTPUT_PATTERNS.get(command, ("*",)), MANIFEST_NAME, INCOMPLETE_NAME)
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                problems.append(Problem(
                    f"the input file {file} is in the output folder, where {command} writes "
                    f"{rel}: it would be overwritten; move it or choose another {out_option}",
                    file=str(out)))
        elif source == target or (target.exists() and source.exists()
                                  and target.samefile(source)):
            problems.append(Problem(
                f"{out_option} would overwrite the input file {file}; choose another output "
                "file", file=str(out)))
    if not is_dir and target.is_dir():
        problems.append(Problem(f"{out_option} names a folder; give a file name", file=str(out)))
    if problems:
        raise InputError(problems)


@contextlib.contextmanager
def protected_outputs(*, command: str, out: Path, inputs: Sequence[Path | None],
                      out_option: str = "--out", is_dir: bool = True) -> Iterator[Path]:
    """Check that no output overwrites an input, then write inside a locked output set.

    Every command that writes calls this before writing anything (through
    :func:`check_outputs`): an output path that is (or would overwrite) one of the run's input
    files is refused, naming both. A folder of results is written as an output set
    (:func:`deyang_geo.io.output_set.output_set`: lock file, ``INCOMPLETE.txt`` until
    ``manifest.json`` is written last); a single output file is written atomically by the
    command itself.

    Parameters
    ----------
    command
        The command name (a key of :data:`OUTPUT_PATTERNS` for folder outputs).
    out
        The output folder or file.
    inputs
        The run's input files (``None`` entries are skipped).
    out_option
        How the output is named on the command line, for messages.
    is_dir
        Whether ``out`` is a folder of results.

    Yields
    ------
    Path
        ``out``.

    Raises
    ------
    InputError
        Naming the input and the output when one would overwrite the other, or the output
        folder when it cannot be used.
    """
    from deyang_geo.io.output_set import output_set

    check_outputs(command=command, out=out, inputs=inputs, out_option=out_option,
                  is_dir=is_dir)
    if not is_dir:
        yield Path(out)
        return
    with output_set(out, command=command, inputs=[p for p in inputs if p is not None]) as folder:
        yield folder


def study_inputs(config: object) -> list[Path]:
    """Return every file path a study configuration names (its inputs), the study file first.

    Parameters
    ----------
    config
        A :class:`deyang_geo.study.config.StudyConfig` (any tree of dataclasses, mappings and
        sequences holding paths).

    Returns
    -------
    list of Path
        The paths, without duplicates; the output folder is left out.
    """
    import dataclasses

    found: list[Path] = []

    def visit(value: object, depth: int) -> None:
        if depth > 6:
            return
        if isinstance(value, Path):
            if value not in found and value.is_file():
                found.append(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                if field.name != "folder":
                    visit(getattr(value, field.name), depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item, depth + 1)

    visit(config, 0)
    return found


def raster_inputs(args: argparse.Namespace) -> list[Path | None]:
    """Return the demand-raster option files of a command (inputs that must not be overwritten).

    Parameters
    ----------
    args
        Parsed options.

    Returns
    -------
    list
        ``--demand-raster``, ``--demand-totals``, ``--demand-buildings`` and the age rasters
        (``None`` when not given).
    """
    names = ("demand_raster", "demand_totals", "demand_buildings", "elderly_raster",
             "children_raster")
    return [getattr(args, name, None) for name in names]


def read_routing_network(path: Path, *, modes: Sequence[str]) -> RoutingNetwork:
    """Read ``--network NET`` into its routing form, for the commands that only route.

    An OSM file goes straight from the builder's arrays to the routing arrays (no networkx
    graph); a saved graph is loaded and converted.
    """
    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.network.osm_file import is_osm_path
    from deyang_geo.network.storage import read_network

    if is_osm_path(path):
        return RoutingNetwork.from_osm_file(path, modes=modes)
    return RoutingNetwork.from_graph(read_network(path, modes=modes))


def check_facility_options(args: argparse.Namespace) -> None:
    """Check ``--facilities``/``--osm-facilities`` before any work (exit 2 with the option).

    Raises
    ------
    InputError
        When neither is given, ``--merge-distance-m`` is negative, or ``--osm-facilities``
        is asked with a ``--network`` that is not an OSM file.
    """
    from deyang_geo.core.errors import InputError
    from deyang_geo.network.osm_file import is_osm_path

    osm = bool(getattr(args, "osm_facilities", False))
    if args.facilities is None and not osm:
        msg = ("no facilities: give --facilities FILE (the planner's list), or "
               "--osm-facilities to take them from the --network OSM file, or both")
        raise InputError(msg)
    distance = getattr(args, "merge_distance_m", 0.0)
    if not distance >= 0:
        msg = f"--merge-distance-m must be >= 0, got {distance:g}"
        raise InputError(msg)
    if osm and not is_osm_path(args.network):
        msg = ("--osm-facilities needs --network to be an OSM file (.osm, .osm.gz, "
               f".osm.bz2, .osm.pbf), got {args.network}")
        raise InputError(msg)


def read_facility_options(args: argparse.Namespace, *, catalog: Any) -> tuple[Any, str]:
    """Read the facilities of ``--facilities`` and/or ``--osm-facilities``.

    Returns
    -------
    tuple
        The facilities (EPSG:4326; the planner's first) and a note on what came from OSM
        (empty without ``--osm-facilities``).
    """
    from deyang_geo.analysis.facilities import facilities_from_osm, merge_facilities
    from deyang_geo.core.errors import InputError
    from deyang_geo.io.points import read_facilities
    from deyang_geo.study.pipeline import empty_points

    check_facility_options(args)
    facilities = (read_facilities(args.facilities, input_crs=args.input_crs, catalog=catalog)
                  if args.facilities is not None
                  else empty_points(["id", "name", "category"]))
    if not getattr(args, "osm_facilities", False):
        return facilities, ""
    osm = facilities_from_osm(args.network, catalog=catalog)
    if args.facilities is None and not len(osm):
        msg = (f"{args.network}: no facility of the catalog's categories is tagged in this OSM "
               "file; give the planner's list with --facilities FILE")
        raise InputError(msg)
    merged = merge_facilities(facilities, osm, distance_m=args.merge_distance_m)
    note = (f"{len(osm)} from OSM, {merged.n_merged} merged as duplicates "
            f"within {args.merge_distance_m:g} m")
    return merged.facilities, note


def facilities_label(args: argparse.Namespace) -> str:
    """Where the facilities came from, for provenance: the file, ``OSM``, or both."""
    parts = [] if args.facilities is None else [str(args.facilities)]
    if getattr(args, "osm_facilities", False):
        parts.append(f"OSM tags of {args.network}")
    return " + ".join(parts)
