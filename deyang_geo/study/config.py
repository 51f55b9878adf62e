"""The study configuration: one TOML file that makes a whole analysis reproducible."""

from __future__ import annotations

import difflib
import json
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from deyang_geo.core import settings
from deyang_geo.core.checks import positive_problem, speed_problem
from deyang_geo.core.crs import crs_name
from deyang_geo.core.errors import ConfigError, Problem
from deyang_geo.core.standards import load_catalog
from deyang_geo.io.categories import category_lookup
from deyang_geo.io.tables import fold_name, fold_name_keep_brackets
from deyang_geo.study.resolved import check_distance, resolve_analysis
from deyang_geo.study.scenario import LINE_MODES, Scenario

__all__ = [
    "AnalysisConfig",
    "AreaConfig",
    "InputFile",
    "InputsConfig",
    "NetworkConfig",
    "OutputConfig",
    "SitingScenario",
    "StudyConfig",
    "check_minutes_list",
    "check_siting",
    "load_study",
]

#: Location-allocation models a scenario may ask for.
SITING_MODELS: tuple[str, ...] = ("mclp", "lscp", "pmedian", "capacitated")
#: Where candidate sites come from: the candidates file, network nodes in uncovered areas, or
#: both.
CANDIDATE_SOURCES: tuple[str, ...] = ("file", "nodes", "both")
#: Outputs a study can write.
OUTPUTS: tuple[str, ...] = (
    "access", "coverage", "isochrones", "compliance", "sites", "map", "figures", "report",
    "workbook", "geopackage", "report_pdf", "accessibility", "equity",
)
#: Languages of labels in maps, figures and reports.
LANGS: tuple[str, ...] = ("zh", "en", "both")
#: Map backgrounds of ``[output] basemap`` (and ``--basemap``).
BASEMAPS: tuple[str, ...] = ("osm", "light", "tianditu", "amap", "none")
#: Network sources, exactly one of which a study names.
NETWORK_SOURCES: tuple[str, ...] = ("osm", "place", "bbox", "graph")
#: Directions of travel (``[analysis] direction``).
DIRECTIONS: tuple[str, ...] = ("to_facility", "from_facility")

T = TypeVar("T")


@dataclass(frozen=True)
class AreaConfig:
    """The study area.

    Attributes
    ----------
    name
        How the area is called in titles (``"旌阳区"``).
    boundary
        A boundary file (GeoJSON, GeoPackage, Shapefile), or None for the county-level
        divisions shipped with the demo.
    divisions
        Division names (Chinese) to keep from the boundary file; empty keeps all features.
    """

    name: str
    boundary: Path | None
    divisions: tuple[str, ...]


@dataclass(frozen=True)
class NetworkConfig:
    """Where the road network comes from and how it is travelled.

    Attributes
    ----------
    osm, place, bbox, graph
        Exactly one is set: an OSM file (.osm, .osm.bz2, .osm.gz, .osm.pbf), a place name for
        osmnx, a bounding box ``(west, south, east, north)`` in WGS-84 degrees, or a saved
        graph (.graphml, .gpkg).
    modes
        Travel modes to compute (``settings.modes``).
    speeds_kmh
        Speeds overriding the settings, per mode (drive speeds come from ``maxspeed``).
    dem
        An elevation raster for slope-aware walking, or None.
    keep_disconnected
        Keep pieces of the network not connected to the largest one.
    exclude_trunk
        Leave trunk roads out of the walking modes (``[network] exclude_trunk``; by default
        they are walkable unless their tags say otherwise).
    """

    osm: Path | None
    place: str | None
    bbox: tuple[float, float, float, float] | None
    graph: Path | None
    modes: tuple[str, ...]
    speeds_kmh: Mapping[str, float]
    dem: Path | None
    keep_disconnected: bool
    exclude_trunk: bool = False

    @property
    def source(self) -> str:
        """Return which source is used: ``"osm"``, ``"place"``, ``"bbox"`` or ``"graph"``."""
        for name in NETWORK_SOURCES:
            if getattr(self, name) is not None:
                return name
        return "osm"  # pragma: no cover - load_study guarantees one source


@dataclass(frozen=True)
class InputFile:
    """A planner's file and the coordinate system of coordinates that do not declare one.

    Attributes
    ----------
    path
        The file (absolute).
    input_crs
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or ``"EPSG:<code>"``.
    """

    path: Path
    input_crs: str


@dataclass(frozen=True)
class InputsConfig:
    """The study's own data.

    Attributes
    ----------
    communities
        Communities (or demand points) with population.
    facilities
        Existing facilities, or None when they come only from OpenStreetMap.
    candidates
        Candidate sites for new facilities, or None.
    facilities_from_osm
        Also take facilities from the OSM source through the catalog's tag mapping.
    merge_distance_m
        OSM facilities this close to a listed one of the same category are the same facility.
    population_raster
        A population raster (GeoTIFF, any CRS): demand units come from its cells and the
        communities' populations from their cells (``population_raster = "pop.tif"``).
    population_totals
        Known totals per township or community the raster is rescaled to (CSV/Excel).
    population_cell_m
        Grid the raster's cells are summed into, in metres (None: one unit per cell).
    population_buildings
        Building footprints each cell's people are spread over (dasymetric), or None.
    elderly_raster, elderly_share
        People aged 60+: a second raster, or a share of everyone (0-1).
    """

    communities: InputFile
    facilities: InputFile | None
    candidates: InputFile | None
    facilities_from_osm: bool
    merge_distance_m: float
    population_raster: Path | None = None
    population_totals: Path | None = None
    population_cell_m: float | None = None
    elderly_raster: Path | None = None
    elderly_share: float | None = None
    population_buildings: Path | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    """Accessibility and coverage parameters.

    Attributes
    ----------
    mode
        Travel mode of the analysis.
    threshold_minutes
        Time threshold; None uses each category's threshold from the standards catalog.
    rural_mode, rural_threshold_minutes
        Mode and threshold for rural communities (assumptions, labelled in reports); None uses
        ``mode`` and the catalog's rural thresholds.
    isochrone_breaks_minutes
        Isochrone breaks, increasing.
    categories
        Catalog keys analysed; empty analyses every category present in the facilities.
    max_snap_m
        Largest distance between a point and the network for it to be snapped.
    covered_share, partly_covered_share
        Population shares at or above which a community counts as covered / partly covered.
    demand_grid_spacing_m
        Grid spacing spreading a community polygon's population.
    isochrone_walkoff_m
        How far isochrones reach off the street.
    threshold_distance_m
        A walking distance in metres (or ``"standard"``: each category's GB 50180 distance,
        300 / 500 / 1000 m) turned into each category's urban threshold at the urban speed,
        instead of ``threshold_minutes``; None when not used.
    direction
        ``"to_facility"`` (home to facility, the default) or ``"from_facility"``.
    given
        The keys the study file actually set (the others are defaults), so that the resolved
        analysis can say where each value came from.
    """

    mode: str
    threshold_minutes: float | None
    rural_mode: str | None
    rural_threshold_minutes: float | None
    isochrone_breaks_minutes: tuple[float, ...]
    categories: tuple[str, ...]
    max_snap_m: float
    covered_share: float
    partly_covered_share: float
    demand_grid_spacing_m: float
    isochrone_walkoff_m: float
    threshold_distance_m: float | str | None = None
    direction: str = "to_facility"
    given: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SitingScenario:
    """Site suggestion for one category.

    Attributes
    ----------
    category
        Catalog key.
    model
        ``"mclp"``, ``"lscp"``, ``"pmedian"`` or ``"capacitated"``.
    new_sites
        Number of new sites (mclp, pmedian, capacitated), or None.
    budget
        Budget in the unit of the candidates' ``cost`` column, or None.
    minutes
        Coverage time limit when the study file sets one (it must then equal the resolved
        threshold of the category); NaN uses the resolved analysis.
    mode
        Travel mode (it must equal the resolved urban mode of the category).
    time_limit_s
        Solver time limit in seconds.
    candidates
        ``"file"``, ``"nodes"`` or ``"both"``.
    candidate_spacing_m
        Spacing of network-node candidates.
    target_share
        Population share to cover (lscp); None covers every unit a candidate can reach (the
        same as the command line without ``--target-share``).
    alternatives
        Alternative sites reported per chosen site.
    exclusion_zones
        Polygons where no site may go, or None.
    forced, excluded
        Candidate ids that must be chosen / may not be chosen.
    given
        The keys the study file set.
    """

    category: str
    model: str
    new_sites: int | None
    budget: float | None
    minutes: float
    mode: str
    time_limit_s: float
    candidates: str
    candidate_spacing_m: float
    target_share: float | None
    alternatives: int
    exclusion_zones: Path | None = None
    forced: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    given: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OutputConfig:
    """What the study writes and where.

    Attributes
    ----------
    folder
        Output folder (absolute; the command line's ``--out`` overrides it).
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    outputs
        Which outputs are written (:data:`OUTPUTS`).
    basemap
        The map's background: ``"osm"``, ``"light"``, ``"tianditu"`` (key from the
        ``TIANDITU_KEY`` environment variable), ``"amap"`` (overlays in GCJ-02) or ``"none"``
        (only the offline background drawn from the study's own data).
    """

    folder: Path
    lang: str
    outputs: tuple[str, ...]
    basemap: str = "osm"


@dataclass(frozen=True)
class StudyConfig:
    """A whole study, as read from its TOML file.

    Attributes
    ----------
    path
        The TOML file (absolute); relative paths in it are relative to its folder.
    name
        Study name for titles.
    synthetic
        Whether the study's data is synthetic (said in every output).
    area, network, inputs, analysis, output
        The sections.
    standards_catalog
        A standards catalog file, or None for the packaged one.
    siting
        One scenario per category, in file order.
    scenarios
        Planning scenarios compared with the study (``[scenario.NAME]``), in file order.
    """

    path: Path
    name: str
    synthetic: bool
    area: AreaConfig
    network: NetworkConfig
    inputs: InputsConfig
    analysis: AnalysisConfig
    standards_catalog: Path | None
    siting: tuple[SitingScenario, ...]
    output: OutputConfig
    scenarios: tuple[Scenario, ...] = ()

    def scenario(self, category: str) -> SitingScenario:
        """Return the site-suggestion scenario of a category.

        Parameters
        ----------
        category
            Catalog key.

        Returns
        -------
        SitingScenario
            The scenario.

        Raises
        ------
        KeyError
            If the study has no scenario for the category.
        """
        for s in self.siting:
            if s.category == category:
                return s
        raise KeyError(category)

    def as_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-ready values, for reports and provenance.

        Returns
        -------
        dict
            Nested dictionaries; paths as strings.
        """
        result = _plain(self)
        assert isinstance(result, dict)
        return result


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# Reading and checking


def _show(value: Any) -> str:
    """Show a TOML value the way a planner typed it (strings in double quotes)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


class _Section:
    """One TOML table being read: values are taken key by key, problems collected."""

    def __init__(self, data: Mapping[str, Any], where: str, reader: _Reader) -> None:
        self.data = data
        self.where = where
        self.reader = reader
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def problem(self, name: str, message: str) -> None:
        self.reader.problem(f"{self.key(name)}: {message}")

    def _get(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def has(self, name: str) -> bool:
        return name in self.data

    def _typed(self, name: str, default: T, check: Callable[[Any], bool], expected: str,
               convert: Callable[[Any], T]) -> T:
        value = self._get(name)
        if value is None:
            return default
        if not check(value):
            self.problem(name, f"expected {expected}, got {_show(value)}")
            return default
        return convert(value)

    def text(self, name: str, default: str | None = None) -> str | None:
        return self._typed(name, default, lambda v: isinstance(v, str), "a string", str)

    def boolean(self, name: str, default: bool) -> bool:
        return self._typed(name, default, lambda v: isinstance(v, bool), "true or false", bool)

    def integer(self, name: str, default: int | None = None, *,
                minimum: int | None = None) -> int | None:
        value = self._typed(name, default, lambda v: isinstance(v, int)
                            and not isinstance(v, bool), "an integer", int)
        if value is not None and minimum is not None and value < minimum and self.has(name):
            self.problem(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float | None = None, *, positive: bool = False,
               minimum: float | None = None, maximum: float | None = None) -> float | None:
        value = self._typed(
            name, default,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v), "a number", float)
        if value is None or not self.has(name):
            return value
        if positive and positive_problem(value) is not None:
            self.problem(name, str(positive_problem(self.data[name])))
        if minimum is not None and value < minimum:
            self.problem(name, f"must be at least {minimum:g}, got {_show(self.data[name])}")
        if maximum is not None and value > maximum:
            self.problem(name, f"must be at most {maximum:g}, got {_show(self.data[name])}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name)
        if value is None:
            return default
        if value not in choices:
            self.problem(name, f"expected one of {', '.join(choices)}, got {_show(value)}")
            return default
        return value

    def texts(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(name, f"expected a list of strings, got {_show(value)}")
            return default
        return tuple(value)

    def numbers(self, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, list) or not value or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            self.problem(name, f"expected a list of numbers, got {_show(value)}")
            return default
        return tuple(float(v) for v in value)

    def path(self, name: str, *, must_exist: bool = True) -> Path | None:
        value = self.text(name)
        if value is None or not value.strip():
            return None
        file = (self.reader.folder / Path(value).expanduser()).resolve()
        if must_exist and not file.exists():
            self.problem(name, f"file not found: {file}")
        return file

    def table(self, name: str) -> _Section:
        value = self._get(name)
        if value is None:
            value = {}
        elif not isinstance(value, Mapping):
            self.problem(name, f"expected a table, got {_show(value)}")
            value = {}
        return _Section(value, self.key(name), self.reader)

    def finish(self) -> None:
        """Record each key that was not read as unknown, suggesting the nearest known key."""
        for name in self.data:
            if name in self.used:
                continue
            close = difflib.get_close_matches(name, sorted(self.used), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(self.used))
            self.problem(name, f"unknown key{hint}; known keys here: {known}")


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.parent
        self.problems: list[Problem] = []

    def problem(self, message: str) -> None:
        self.problems.append(Problem(message, file=str(self.path)))


def _input_file(section: _Section, name: str, default_crs: str,
                required: bool) -> InputFile | None:
    """Read ``name = "file"`` or ``[inputs.name] path = ..., input_crs = ...``."""
    value = section.data.get(name)
    if isinstance(value, Mapping):
        sub = section.table(name)
        path = sub.path("path")
        crs = sub.text("input_crs", default_crs) or default_crs
        sub.finish()
        if path is None:
            sub.problem("path", "missing: the file to read")
            return None
        _check_crs(sub, "input_crs", crs)
        return InputFile(path, crs)
    path = section.path(name)
    if path is None:
        if required:
            section.problem(name, "missing: the file to read")
        return None
    return InputFile(path, default_crs)


def _check_crs(section: _Section, name: str, value: str) -> None:
    try:
        crs_name(value)
    except ValueError as exc:
        section.problem(name, str(exc))


def _category_key(section: _Section, name: str, value: str,
                  lookup: Mapping[str, str] | None) -> str:
    if lookup is None:
        return value

    key = lookup.get(fold_name_keep_brackets(value)) or lookup.get(fold_name(value))
    if key is None:
        close = difflib.get_close_matches(value, sorted(set(lookup.values())), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        section.problem(name, f"unknown category {_show(value)}{hint}: use a key of the "
                        "standards catalog")
        return value
    return key


def _categories(catalog_path: Path | None, reader: _Reader) -> tuple[Any, Mapping[str, str]]:
    """Return the catalog and its category lookup, (None, {}) if it cannot be read."""
    try:
        catalog = load_catalog(catalog_path)
    except ConfigError as exc:
        reader.problems.extend(exc.problems)
        return None, {}
    lookup, _ = category_lookup(catalog)
    return catalog, lookup


def load_study(path: str | os.PathLike[str]) -> StudyConfig:
    """Read and check a study configuration file.

    Every problem (TOML syntax, unknown keys, wrong types, missing files, unknown categories)
    is collected and reported together, each naming its key path, e.g.
    ``siting.fitness_station.new_sites: expected an integer, got "five"``. Relative paths are
    relative to the folder of the TOML file. Defaults not given come from
    :mod:`deyang_geo.core.settings` at the time of the call.

    Parameters
    ----------
    path
        The ``.toml`` file.

    Returns
    -------
    StudyConfig
        The checked configuration (frozen).

    Raises
    ------
    ConfigError
        Listing every problem found.
    """
    file = Path(path).expanduser().resolve()
    try:
        raw = file.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(Problem("study file not found", file=str(file))) from None
    try:
        # Windows Notepad saves UTF-8 with a byte-order mark, which TOML does not allow
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(Problem(f"not valid TOML: {exc}", file=str(file))) from None
    except UnicodeDecodeError:
        msg = "not valid TOML: the file must be saved as UTF-8"
        raise ConfigError(Problem(msg, file=str(file))) from None
    reader = _Reader(file)
    top = _Section(data, "", reader)

    study = top.table("study")
    name = study.text("name", file.stem) or file.stem
    synthetic = study.boolean("synthetic", False)
    study.finish()

    standards = top.table("standards")
    catalog_path = standards.path("catalog")
    standards.finish()
    catalog, lookup = (None, {}) if catalog_path is not None and not catalog_path.exists() \
        else _categories(catalog_path, reader)

    area_s = top.table("area")
    area = AreaConfig(
        name=area_s.text("name", name) or name,
        boundary=area_s.path("boundary"),
        divisions=area_s.texts("divisions"),
    )
    area_s.finish()

    network = _network(top.table("network"))
    inputs = _inputs(top.table("inputs"))
    analysis = _analysis(top.table("analysis"), lookup or None)
    siting = _siting(top.table("siting"), analysis, lookup or None, inputs)
    scenarios = _scenarios(top.table("scenario"), lookup or None)

    out_s = top.table("output")
    output = OutputConfig(
        folder=out_s.path("folder", must_exist=False) or (file.parent / "out").resolve(),
        lang=out_s.choice("lang", "both", LANGS),
        outputs=out_s.texts("outputs", OUTPUTS),
        basemap=out_s.choice("basemap", "osm", BASEMAPS),
    )
    for item in output.outputs:
        if item not in OUTPUTS:
            out_s.problem("outputs", f"unknown output {_show(item)}; expected some of "
                          f"{', '.join(OUTPUTS)}")
    out_s.finish()
    top.finish()
    if catalog is not None and not reader.problems:
        _check_scenarios(reader, siting, analysis, network, catalog)
    if reader.problems:
        raise ConfigError(reader.problems)
    return StudyConfig(
        path=file, name=name, synthetic=synthetic, area=area, network=network, inputs=inputs,
        analysis=analysis, standards_catalog=catalog_path, siting=siting, output=output,
        scenarios=scenarios,
    )


def _network(s: _Section) -> NetworkConfig:
    osm = s.path("osm")
    place = s.text("place")
    bbox_value = s._get("bbox")
    bbox: tuple[float, float, float, float] | None = None
    if bbox_value is not None:
        if (isinstance(bbox_value, list) and len(bbox_value) == 4
                and all(isinstance(v, int | float) and not isinstance(v, bool)
                        for v in bbox_value)):
            west, south, east, north = (float(v) for v in bbox_value)
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                s.problem("bbox", f"expected [west, south, east, north] in degrees with west < "
                          f"east and south < north, got {_show(bbox_value)}")
            bbox = (west, south, east, north)
        else:
            s.problem("bbox", f"expected [west, south, east, north], got {_show(bbox_value)}")
    graph = s.path("graph")
    given = [n for n, v in (("osm", osm), ("place", place), ("bbox", bbox_value),
                            ("graph", graph)) if v is not None]
    if len(given) != 1:
        what = "none" if not given else ", ".join(given)
        s.reader.problem(f"{s.where}: exactly one source is needed (osm, place, bbox or "
                         f"graph), got {what}")
    modes = s.texts("modes", ("walk",))
    for mode in modes:
        if mode not in settings.modes:
            s.problem("modes", f"unknown mode {_show(mode)}; expected some of "
                      f"{', '.join(settings.modes)}")
    speeds_s = s.table("speeds_kmh")
    speeds: dict[str, float] = {}
    for mode in settings.modes:
        if mode == "drive":
            continue
        value = speeds_s.number(mode)
        problem = None if value is None else speed_problem(speeds_s.data[mode], mode=mode)
        if problem is not None:
            speeds_s.problem(mode, problem)  # the same words as --walk-speed-kmh
        elif value is not None:
            speeds[mode] = value
    speeds_s.finish()
    network = NetworkConfig(
        osm=osm, place=place, bbox=bbox, graph=graph, modes=modes,
        speeds_kmh=MappingProxyType(speeds), dem=s.path("dem"),
        keep_disconnected=s.boolean("keep_disconnected", False),
        exclude_trunk=s.boolean("exclude_trunk", False),
    )
    s.finish()
    return network


def _inputs(s: _Section) -> InputsConfig:
    default_crs = s.text("input_crs", "wgs84") or "wgs84"
    if s.has("input_crs"):
        _check_crs(s, "input_crs", default_crs)
    communities = _input_file(s, "communities", default_crs, required=True)
    facilities = _input_file(s, "facilities", default_crs, required=False)
    candidates = _input_file(s, "candidates", default_crs, required=False)
    from_osm = s.boolean("facilities_from_osm", False)
    merge = s.number("merge_distance_m", 50.0, minimum=0.0)
    if facilities is None and not from_osm and not s.has("facilities"):
        s.problem("facilities", "missing: give a facilities file or set "
                  "facilities_from_osm = true")
    raster = s.path("population_raster")
    totals = s.path("population_totals")
    cell = s.number("population_cell_m", positive=True)
    elderly_raster = s.path("elderly_raster")
    buildings = s.path("population_buildings")
    elderly_share = s.number("elderly_share", minimum=0.0, maximum=1.0)
    for name, value in (("population_totals", totals), ("population_cell_m", cell),
                        ("elderly_raster", elderly_raster),
                        ("population_buildings", buildings)):
        if value is not None and raster is None:
            s.problem(name, "needs population_raster (population from a raster)")
    if elderly_raster is not None and elderly_share is not None:
        s.problem("elderly_share", "give elderly_raster or elderly_share, not both")
    s.finish()
    placeholder = InputFile(Path(), default_crs)
    return InputsConfig(
        communities=communities or placeholder, facilities=facilities,
        candidates=candidates, facilities_from_osm=from_osm,
        merge_distance_m=float(merge if merge is not None else 50.0),
        population_raster=raster, population_totals=totals, population_cell_m=cell,
        elderly_raster=elderly_raster, elderly_share=elderly_share,
        population_buildings=buildings,
    )


def _analysis(s: _Section, lookup: Mapping[str, str] | None) -> AnalysisConfig:
    mode = s.choice("mode", "walk", settings.modes)
    threshold = s.number("threshold_minutes", positive=True)
    rural_mode = s.text("rural_mode")
    if rural_mode is not None and rural_mode not in settings.modes:
        s.problem("rural_mode", f"expected one of {', '.join(settings.modes)}, got "
                  f"{_show(rural_mode)}")
        rural_mode = None
    rural_threshold = s.number("rural_threshold_minutes", positive=True)
    breaks = s.numbers("isochrone_breaks_minutes", tuple(settings.isochrone_breaks_minutes))
    bad_breaks = check_minutes_list(breaks)
    if bad_breaks:
        s.problem("isochrone_breaks_minutes", bad_breaks)
    breaks = tuple(sorted(breaks))
    distance = s._get("threshold_distance_m")
    if distance is not None:
        bad = check_distance(distance)
        if bad:
            s.problem("threshold_distance_m", bad)
            distance = None
        elif threshold is not None:
            s.problem("threshold_distance_m", "give threshold_minutes or threshold_distance_m, "
                      "not both")
        elif mode == "drive":
            s.problem("threshold_distance_m", "a walking distance needs a walk, bike or ebike "
                      "mode, not drive")
    direction = s.choice("direction", "to_facility", DIRECTIONS)
    categories = tuple(_category_key(s, "categories", c, lookup) for c in s.texts("categories"))
    if s.has("categories") and not categories:
        s.problem("categories", "is empty: list the categories to analyse, or leave the key "
                  "out for every category of the facilities")
    covered = s.number("covered_share", settings.covered_share, minimum=0.0, maximum=1.0)
    partly = s.number("partly_covered_share", settings.partly_covered_share, minimum=0.0,
                      maximum=1.0)
    if covered is not None and partly is not None and partly > covered:
        s.problem("partly_covered_share", f"must not exceed covered_share ({covered:g})")
    analysis = AnalysisConfig(
        mode=mode,
        threshold_minutes=threshold,
        rural_mode=rural_mode,
        rural_threshold_minutes=rural_threshold,
        isochrone_breaks_minutes=breaks,
        categories=categories,
        max_snap_m=_f(s.number("max_snap_m", settings.max_snap_m, positive=True)),
        covered_share=_f(covered),
        partly_covered_share=_f(partly),
        demand_grid_spacing_m=_f(s.number("demand_grid_spacing_m",
                                          settings.demand_grid_spacing_m, positive=True)),
        isochrone_walkoff_m=_f(s.number("isochrone_walkoff_m", settings.isochrone_walkoff_m,
                                        minimum=0.0)),
        threshold_distance_m=(None if distance is None else
                              distance if isinstance(distance, str) else float(distance)),
        direction=direction,
        given=frozenset(k for k in s.data if k in s.used),
    )
    s.finish()
    return analysis


def _f(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _siting(s: _Section, analysis: AnalysisConfig, lookup: Mapping[str, str] | None,
            inputs: InputsConfig) -> tuple[SitingScenario, ...]:
    scenarios: list[SitingScenario] = []
    seen: set[str] = set()
    for name in list(s.data):
        sub = s.table(name)
        category = _category_key(s, name, name, lookup)
        if category in seen:
            s.problem(name, f"a second scenario for {category!r}")
        seen.add(category)
        model = sub.choice("model", "mclp", SITING_MODELS)
        new_sites = sub.integer("new_sites")
        budget = sub.number("budget")
        target_share = sub.number("target_share")
        typed = all(sub.has(k) == (v is not None) for k, v in (
            ("new_sites", new_sites), ("budget", budget), ("target_share", target_share)))
        if typed:  # a value of the wrong type is reported once, as such
            for key, message in check_siting(model=model, new_sites=new_sites, budget=budget,
                                             target_share=target_share):
                sub.problem(key, message)
        # minutes and mode, when given, must agree with the resolved analysis (one answer)
        mode = sub.choice("mode", analysis.mode, settings.modes)
        minutes = sub.number("minutes", positive=True)
        default_candidates = "file" if inputs.candidates is not None else "nodes"
        source = sub.choice("candidates", default_candidates, CANDIDATE_SOURCES)
        if source in ("file", "both") and inputs.candidates is None:
            sub.problem("candidates", f"{source!r} needs a candidates file: set [inputs] "
                        'candidates, or use candidates = "nodes"')
        scenarios.append(SitingScenario(
            category=category,
            model=model,
            new_sites=new_sites,
            budget=budget,
            minutes=_f(minutes),
            mode=mode,
            time_limit_s=_f(sub.number("time_limit_s", 60.0, positive=True)),
            candidates=source,
            candidate_spacing_m=_f(sub.number("candidate_spacing_m", 200.0, positive=True)),
            target_share=None if target_share is None else float(target_share),
            alternatives=int(sub.integer("alternatives", 3, minimum=0) or 0),
            exclusion_zones=sub.path("exclusion_zones"),
            forced=sub.texts("forced"),
            excluded=sub.texts("excluded"),
            given=frozenset(k for k in sub.data if k in sub.used),
        ))
        sub.finish()
    return tuple(scenarios)


def check_minutes_list(values: tuple[float, ...] | list[float]) -> str | None:
    """Return the problem with a list of minutes (time breaks), or None when it is good.

    The study file's ``isochrone_breaks_minutes`` and the command line's ``--minutes 5,10,15``
    use this one check: positive, finite, no value twice (both then sort them).
    """
    values = list(values)
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        return f"expected positive minutes, got {_show(values)}"
    if len(set(values)) != len(values):
        twice = sorted({v for v in values if values.count(v) > 1})
        return (f"expected each break once, got {_show(values)} "
                f"({', '.join(f'{v:g}' for v in twice)} twice)")
    return None


def check_siting(*, model: str, new_sites: int | None, budget: float | None,
                 target_share: float | None) -> list[tuple[str, str]]:
    """Return the problems of a site-suggestion size as ``(key, message)`` pairs.

    The study file's ``[siting.<category>]`` and the ``suggest-sites`` command use this one
    check, so that both accept the same values with the same meaning: ``new_sites`` at least
    1, ``budget`` positive, ``target_share`` in (0, 1]; mclp and capacitated need new_sites or
    budget (not both), pmedian needs new_sites, lscp takes target_share and neither
    new_sites nor budget; budget works with mclp and capacitated only.
    """
    out: list[tuple[str, str]] = []
    if new_sites is not None and new_sites < 1:
        out.append(("new_sites", f"must be at least 1, got {new_sites}"))
    if budget is not None and positive_problem(budget) is not None:
        out.append(("budget", str(positive_problem(budget))))
    if target_share is not None and not 0 < target_share <= 1:
        out.append(("target_share", f"must be in (0, 1], got {target_share:g}"))
    if model in ("mclp", "capacitated") and new_sites is None and budget is None:
        out.append(("new_sites", f"missing: model {model!r} needs new_sites or budget"))
    if new_sites is not None and budget is not None:
        out.append(("budget", "give new_sites or budget, not both"))
    if budget is not None and model not in ("mclp", "capacitated"):
        out.append(("budget", f"works with models 'mclp' and 'capacitated', not {model!r}"))
    if model == "pmedian" and new_sites is None:
        out.append(("new_sites", "missing: model 'pmedian' needs new_sites"))
    if model == "lscp" and new_sites is not None:
        out.append(("new_sites", ("model 'lscp' finds the fewest sites itself: give "
                                  "target_share, not new_sites")))
    if target_share is not None and model != "lscp":
        out.append(("target_share", f"works with model 'lscp', not {model!r}"))
    return out



def _check_scenarios(reader: _Reader, siting: tuple[SitingScenario, ...],
                     analysis: AnalysisConfig, network: NetworkConfig, catalog: Any) -> None:
    """Check that each scenario's minutes and mode agree with the resolved analysis.

    Site suggestion answers from the same settings as coverage and compliance, so that the
    population covered before new sites is the population ``coverage.csv`` reports.
    """
    if not siting:
        return
    try:
        resolved = resolve_analysis(
            catalog=catalog, categories=[s.category for s in siting], mode=analysis.mode,
            threshold_minutes=analysis.threshold_minutes,
            threshold_distance_m=analysis.threshold_distance_m, rural_mode=analysis.rural_mode,
            rural_threshold_minutes=analysis.rural_threshold_minutes,
            direction=analysis.direction, speeds_kmh=dict(network.speeds_kmh))
    except ConfigError as exc:
        reader.problems.extend(Problem(f"analysis: {p.message}", file=str(reader.path))
                               for p in exc.problems)
        return
    for s in siting:
        urban = resolved.setting(s.category, "urban")
        if "mode" in s.given and s.mode != urban.mode:
            reader.problem(f"siting.{s.category}.mode: {s.mode!r} differs from the analysis "
                           f"mode {urban.mode!r}; site suggestion uses the analysis settings "
                           "(leave mode out, or change [analysis] mode)")
        if "minutes" in s.given and abs(s.minutes - urban.threshold_minutes) > 1e-9:
            reader.problem(f"siting.{s.category}.minutes: {s.minutes:g} differs from the "
                           f"threshold of {s.category} ({urban.threshold_minutes:g} min, "
                           f"{urban.sources['threshold_minutes']}); site suggestion uses the "
                           "analysis thresholds (leave minutes out, or set [analysis] "
                           "threshold_minutes)")


def _scenarios(s: _Section, lookup: Mapping[str, str] | None) -> tuple[Scenario, ...]:
    """Read ``[scenario.NAME]`` tables: what each planning scenario changes."""
    scenarios: list[Scenario] = []
    for name in list(s.data):
        sub = s.table(name)
        if not name.strip() or any(c in name for c in '/\\:*?"<>|') or name.startswith("."):
            s.problem(name, 'a scenario name is used as a folder name: no / \\ : * ? " < > | '
                      "and no leading dot")
        category = sub.text("sites_category")
        if category is not None:
            category = _category_key(sub, "sites_category", category, lookup)
        line_modes = sub.texts("line_modes", LINE_MODES)
        for mode in line_modes:
            if mode not in LINE_MODES:
                sub.problem("line_modes", f"added lines may be used by {', '.join(LINE_MODES)}, "
                            f"not {_show(mode)}")
        scenario = Scenario(
            name=name,
            description=sub.text("description", "") or "",
            add_sites=tuple(p for p in (_scenario_path(sub, "add_sites", v)
                                        for v in sub.texts("add_sites")) if p is not None),
            sites=_scenario_sites(sub, lookup),
            sites_category=category,
            close=sub.texts("close"),
            enlarge=sub.texts("enlarge"),
            enlarge_factor=_f(sub.number("enlarge_factor", 1.5, positive=True)),
            add_lines=tuple(p for p in (_scenario_path(sub, "add_lines", v)
                                        for v in sub.texts("add_lines")) if p is not None),
            line_modes=line_modes,
            snap_tolerance_m=_f(sub.number("snap_tolerance_m", 50.0, positive=True)),
            walk_speed_kmh=sub.number("walk_speed_kmh", positive=True, maximum=20),
        )
        if scenario.summary().endswith(": no change"):
            sub.reader.problem(f"{sub.where}: the scenario changes nothing (give add_sites, "
                               "close, enlarge, add_lines or walk_speed_kmh)")
        sub.finish()
        scenarios.append(scenario)
    return tuple(scenarios)


def _scenario_path(s: _Section, name: str, value: str) -> Path | None:
    file = (s.reader.folder / Path(value).expanduser()).resolve()
    if not file.exists():
        s.problem(name, f"file not found: {file}")
        return None
    return file


def _scenario_sites(s: _Section, lookup: Mapping[str, str] | None) -> tuple[dict[str, Any], ...]:
    """Read ``sites = [{id = "N1", category = "...", lon = 104.4, lat = 31.13}, ...]``."""
    value = s._get("sites")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        s.problem("sites", "expected a list of tables {id, category, lon, lat[, name]}, got "
                  f"{_show(value)}")
        return ()
    out = []
    for i, item in enumerate(value, start=1):
        where = f"sites[{i}]"
        unknown = sorted(set(item) - {"id", "name", "category", "lon", "lat"})
        if unknown:
            s.problem(where, f"unknown keys {unknown}; known: id, name, category, lon, lat")
        missing = [k for k in ("id", "category", "lon", "lat") if k not in item]
        if missing:
            s.problem(where, f"missing {', '.join(missing)}")
            continue
        lon, lat = item["lon"], item["lat"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)) \
                or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            s.problem(where, f"lon and lat must be WGS-84 degrees, got {_show([lon, lat])}")
            continue
        site = {"id": str(item["id"]), "name": str(item.get("name", item["id"])),
                "category": _category_key(s, where, str(item["category"]), lookup),
                "lon": float(lon), "lat": float(lat)}
        out.append(site)
    return tuple(out)
