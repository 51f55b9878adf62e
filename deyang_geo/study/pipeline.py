"""The whole analysis of a study, step by step: what ``deyang-geo run`` and ``demo`` call."""

from __future__ import annotations

import functools
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from deyang_geo import io
from deyang_geo import network as netmod
from deyang_geo.analysis.access import ReachSet, minutes_to_nearest, reach_set
from deyang_geo.analysis.coverage import compute_coverage
from deyang_geo.analysis.demand import demand_units
from deyang_geo.analysis.facilities import facilities_from_osm, merge_facilities
from deyang_geo.analysis.graded import compute_graded
from deyang_geo.analysis.isochrones import isochrones
from deyang_geo.analysis.raster_demand import (
    age_groups_from_shares,
    demand_from_raster,
    read_buildings,
)
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.core.forked import ForkedCall, can_fork
from deyang_geo.core.standards import load_catalog
from deyang_geo.network.build import NetworkArrays, network_arrays_from_osm_file
from deyang_geo.network.summary import network_summary
from deyang_geo.planning.compliance import evaluate_compliance
from deyang_geo.planning.siting.suggest import suggest_sites
from deyang_geo.study.outputs import write_study_outputs
from deyang_geo.study.resolved import direction_kwargs, resolve_study

if TYPE_CHECKING:
    import networkx as nx

    from deyang_geo.analysis.coverage import CoverageResult
    from deyang_geo.analysis.graded import GradedResult
    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.core.standards import Catalog
    from deyang_geo.network.summary import NetworkSummary
    from deyang_geo.planning.compliance import ComplianceResult
    from deyang_geo.planning.siting.result import SitingResult
    from deyang_geo.study.config import SitingScenario, StudyConfig
    from deyang_geo.study.resolved import ResolvedAnalysis
    from deyang_geo.study.scenario import Scenario

log = logging.getLogger("deyang_geo")

#: The steps of a study in the order they run (for progress messages).
STEPS: tuple[str, ...] = (
    "inputs", "network", "demand", "access", "isochrones", "coverage", "compliance", "siting",
    "outputs",
)


@dataclass(frozen=True)
class StudyInputs:
    """The tables of a study, read and checked, in WGS-84 (EPSG:4326).

    Attributes
    ----------
    divisions
        Every division of the boundary file (``name_zh``, ``name_en``), possibly empty: maps
        show them all for orientation.
    study_area
        The union of the divisions the study selects (``[area] divisions``), or None when
        there is no boundary file.
    communities, facilities, candidates
        Canonical tables (see ``docs/architecture.md``); ``candidates`` may be empty.
    context
        Extra map layers (rivers, railways), possibly empty.
    """

    divisions: gpd.GeoDataFrame
    study_area: Any
    communities: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    context: gpd.GeoDataFrame


@dataclass(frozen=True)
class StudyResult:
    """Everything a study produced, so a notebook can look at any step.

    Attributes
    ----------
    config
        The study configuration.
    inputs
        The input tables.
    graph_source
        The road network graph (projected, osmnx-style), or the builder's arrays it is built
        from on first use of :attr:`graph` (an OSM file: the routing form is read straight
        from the arrays, no networkx graph is built unless asked for).
    network
        Its compact routing form.
    network_summary
        The network's summary (km per mode, components...).
    units
        Demand units (projected).
    access
        Minutes to the nearest facility per unit and category (``demand_id, category,
        minutes, facility_id, mode``).
    isochrones
        Service areas per category and break (projected).
    coverage
        Coverage per community, township, division and the study area.
    compliance
        Plan targets evaluated, or None when not asked for.
    sites
        Site suggestion per category.
    written
        Files written, by kind.
    timings_s
        Seconds spent per step.
    resolved
        The analysis settings every step used, per category, urban and rural.
    graded
        Graded accessibility, completeness and equity (outputs ``accessibility`` or
        ``equity``), else None.
    population
        Where the population came from (``population_source`` ... when from a raster).
    """

    config: StudyConfig
    inputs: StudyInputs
    graph_source: nx.MultiDiGraph | NetworkArrays
    network: RoutingNetwork
    network_summary: NetworkSummary
    units: gpd.GeoDataFrame
    access: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    coverage: CoverageResult
    compliance: ComplianceResult | None
    sites: dict[str, SitingResult] = field(default_factory=dict)
    written: dict[str, Path] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    resolved: ResolvedAnalysis | None = None
    graded: GradedResult | None = None
    population: dict[str, str] = field(default_factory=dict)
    _built: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                   compare=False)

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The road network graph (projected, osmnx-style), built once on first use."""
        return graph_of(self.graph_source, cache=self._built)

    def summary_line(self) -> str:
        """Return a one-line summary of what was computed and written."""
        n_comm = len(self.inputs.communities)
        outside = self.coverage.outside
        out_dir = next(iter(self.written.values())).parent if self.written else None
        return (
            f"{n_comm} communities, {len(self.inputs.facilities)} facilities, "
            f"{len(outside)} community-category pairs outside reach ("
            f"{self.resolved.summary() if self.resolved is not None else ''}), "
            f"{sum(len(r.sites) for r in self.sites.values())} sites suggested; "
            f"{len(self.written)} files written to {out_dir}"
        )


class _Progress:
    """Numbered step messages with timings on the ``deyang_geo`` logger."""

    def __init__(self, steps: tuple[str, ...]) -> None:
        self.steps = steps
        self.timings_s: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        i = self.steps.index(name) + 1
        log.info("[%d/%d] %s ...", i, len(self.steps), what)
        t0 = time.perf_counter()
        yield
        self.timings_s[name] = time.perf_counter() - t0
        log.info("      done in %.1f s", self.timings_s[name])


def load_inputs(config: StudyConfig, *, catalog: Catalog | None = None) -> StudyInputs:
    """Read the study's boundary, communities, facilities and candidates.

    Parameters
    ----------
    config
        The study configuration.
    catalog
        The standards catalog (categories named in files are checked against it).

    Returns
    -------
    StudyInputs
        The tables in WGS-84.
    """
    divisions, area = _read_divisions(config)
    inp = config.inputs
    communities = io.read_communities(inp.communities.path, input_crs=inp.communities.input_crs,
                                      study_area=area)
    if inp.facilities is not None:
        facilities = io.read_facilities(inp.facilities.path,
                                        input_crs=inp.facilities.input_crs,
                                        catalog=catalog, study_area=area)
    else:
        facilities = empty_points(["id", "name", "category"])
    if inp.facilities_from_osm and config.network.osm is not None:
        osm = facilities_from_osm(config.network.osm, catalog=catalog, boundary=area)
        facilities = merge_facilities(facilities, osm,
                                      distance_m=inp.merge_distance_m).facilities
    if inp.candidates is not None:
        candidates = io.read_candidates(inp.candidates.path,
                                        input_crs=inp.candidates.input_crs, study_area=area)
    else:
        candidates = empty_points(["id", "name"])
    context = _read_context(config)
    return StudyInputs(divisions=divisions, study_area=area, communities=communities,
                       facilities=facilities, candidates=candidates, context=context)


def empty_points(columns: list[str]) -> gpd.GeoDataFrame:
    """Return an empty WGS-84 point table (no facilities or candidates of a kind given)."""
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns},
                            geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def _read_divisions(config: StudyConfig) -> tuple[gpd.GeoDataFrame, Any]:
    """Return every division of the boundary file and the union of the selected ones."""
    path = config.area.boundary
    if path is None:
        return empty_points(["name_zh", "name_en"]), None
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own errors for unreadable files
        msg = f"cannot read the study-area boundary: {exc}"
        raise InputError(msg) from None
    gdf = gdf.set_crs("EPSG:4326") if gdf.crs is None else gdf.to_crs("EPSG:4326")
    wanted = config.area.divisions
    if wanted:
        name_col = next((c for c in ("name_zh", "name", "NAME") if c in gdf.columns), None)
        if name_col is None:
            msg = f"{path}: no name_zh or name column to select divisions {list(wanted)}"
            raise InputError(msg)
        missing = sorted(set(wanted) - set(gdf[name_col].astype(str)))
        if missing:
            msg = (f"{path}: divisions {missing} not found in column {name_col!r} "
                   f"(found: {sorted(gdf[name_col].astype(str))})")
            raise InputError(msg)
        selected = gdf[gdf[name_col].astype(str).isin(wanted)]
    else:
        selected = gdf
    return gdf.reset_index(drop=True), selected.union_all()


def _read_context(config: StudyConfig) -> gpd.GeoDataFrame:
    path = config.path.parent / "context.geojson"
    if config.synthetic and path.exists():
        gdf = gpd.read_file(path)
        return gdf.set_crs("EPSG:4326") if gdf.crs is None else gdf.to_crs("EPSG:4326")
    return empty_points(["name"])


def build_network(config: StudyConfig, *, boundary: Any = None, keep_near: Any = None
                  ) -> tuple[nx.MultiDiGraph, RoutingNetwork]:
    """Build the study's road network graph and its routing form.

    The options and the result are those of :func:`build_routing_network`, with the graph
    built.
    """
    source, net = build_routing_network(config, boundary=boundary, keep_near=keep_near)
    return graph_of(source), net


def graph_of(source: nx.MultiDiGraph | NetworkArrays, *,
             cache: dict[str, Any] | None = None) -> nx.MultiDiGraph:
    """Return the graph itself, or the graph of the builder's arrays (kept in ``cache``)."""
    if not isinstance(source, NetworkArrays):
        return source
    if cache is None:
        return source.graph()
    if "graph" not in cache:
        cache["graph"] = source.graph()
    return cache["graph"]


def build_routing_network(config: StudyConfig, *, boundary: Any = None, keep_near: Any = None
                          ) -> tuple[nx.MultiDiGraph | NetworkArrays, RoutingNetwork]:
    """Build the study's road network and its routing form, the graph only where needed.

    An OSM file (without a DEM) is read into the builder's arrays and the routing form is
    built straight from them: no networkx graph (``NetworkArrays.graph()`` builds it on
    demand). Other sources, and slope-aware times, go through the graph.

    Parameters
    ----------
    config
        The study configuration (its ``network`` section).
    boundary
        Study-area polygon (WGS-84) to clip an OSM extract to, or None.
    keep_near
        Geometries (the communities and facilities): a small disconnected piece within the
        study's ``max_snap_m`` of one is kept (see ``network.graph_from_osm_file``).

    Returns
    -------
    tuple
        The graph (or the builder's arrays) and its
        :class:`~deyang_geo.analysis.routing.RoutingNetwork`.
    """
    nc = config.network
    modes = _needed_modes(config)
    common: dict[str, Any] = {"modes": modes, "retain_all": nc.keep_disconnected,
                              "drop_disconnected": not nc.keep_disconnected,
                              "speeds_kmh": dict(nc.speeds_kmh) or None,
                              "exclude_trunk": nc.exclude_trunk,
                              "keep_near": keep_near,
                              "keep_near_m": config.analysis.max_snap_m}
    if nc.osm is not None and nc.dem is None:
        arrays = network_arrays_from_osm_file(nc.osm, boundary=boundary, **common)
        return arrays, RoutingNetwork.from_network_arrays(arrays)
    if nc.osm is not None:
        G = netmod.graph_from_osm_file(nc.osm, boundary=boundary, dem=nc.dem, **common)
    elif nc.graph is not None:
        G = netmod.load_graph(nc.graph)
    elif nc.place is not None:
        G = netmod.graph_from_place(nc.place, **common)
    elif nc.bbox is not None:
        G = netmod.graph_from_bbox(nc.bbox, **common)
    else:  # config.py guarantees one source; keep mypy and readers sure
        msg = f"{config.path}: [network] needs one of osm, graph, place or bbox"
        raise InputError(msg)
    return G, RoutingNetwork.from_graph(G)


def _people_and_facilities(inputs: StudyInputs) -> gpd.GeoSeries:
    """Return the communities' and facilities' geometries (WGS-84): pieces near them stay."""
    parts = [g.geometry.to_crs("EPSG:4326") for g in (inputs.communities, inputs.facilities)
             if len(g) and g.crs is not None]
    return gpd.GeoSeries(pd.concat(parts, ignore_index=True) if parts else [], crs="EPSG:4326")


def _needed_modes(config: StudyConfig) -> tuple[str, ...]:
    modes = list(config.network.modes)
    extra = [config.analysis.mode, config.analysis.rural_mode]
    for m in extra:
        if m and m not in modes:
            modes.append(m)
    return tuple(modes)


def rural_units(units: gpd.GeoDataFrame, communities: pd.DataFrame) -> np.ndarray[Any, Any]:
    """Return, per demand unit, whether its community is rural (``kind == "rural"``)."""
    kind = (communities["kind"].astype(str).str.strip().str.lower()
            if "kind" in communities.columns else pd.Series("urban", communities.index))
    rural_ids = set(communities.loc[kind == "rural", "id"].astype(str))
    return np.asarray(units["community_id"].astype(str).isin(rural_ids).to_numpy(), dtype=bool)


def analysed_categories(config: StudyConfig | None, facilities: pd.DataFrame) -> list[str]:
    """Return the categories a study analyses: ``[analysis] categories``, else those present."""
    if config is not None and config.analysis.categories:
        return list(config.analysis.categories)
    return sorted(facilities["category"].astype(str).unique())


def compute_access(net: RoutingNetwork, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                   *, communities: pd.DataFrame, config: StudyConfig | None = None,
                   resolved: ResolvedAnalysis | None = None,
                   walk_speed_kmh: float | None = None) -> pd.DataFrame:
    """Minutes from every demand unit to the nearest facility of each analysed category.

    Each group of communities (urban, rural) travels in the mode the resolved analysis gives
    it for each category (e.g. rural communities by e-bike: an assumption a planner states in
    the study file, since no national rural threshold exists).

    Parameters
    ----------
    net
        Routing network.
    units
        Demand units (``unit_id``, ``community_id``...).
    facilities
        Facilities (``id``, ``category``).
    communities
        Communities (``id``, ``kind``).
    config
        The study configuration (used only when ``resolved`` is None).
    resolved
        The resolved analysis; None resolves ``config`` with the packaged catalog.
    walk_speed_kmh
        Walking speed overriding the network's (the command line's ``--walk-speed-kmh``).

    Returns
    -------
    pandas.DataFrame
        ``demand_id, category, minutes, facility_id, mode``.
    """
    if resolved is None:
        if config is None:
            msg = "compute_access needs a resolved analysis or a study configuration"
            raise TypeError(msg)

        resolved = resolve_study(config, load_catalog(config.standards_catalog),
                                 analysed_categories(config, facilities))
    categories = list(resolved.categories)
    is_rural = rural_units(units, communities)
    parts = []
    for mode, group, cats in resolved.mode_groups():
        mask = is_rural if group == "rural" else ~is_rural
        if not mask.any():
            continue
        direction = resolved.setting(cats[0], group).direction
        if direction != "to_facility" and not direction_kwargs(minutes_to_nearest, direction):
            log.warning("direction %r is not supported by this version's routing: minutes "
                        "are computed as before", direction)
        part = minutes_to_nearest(net, units[mask], facilities, mode=mode,
                                  categories=list(cats), max_snap_m=resolved.max_snap_m,
                                  walk_speed_kmh=walk_speed_kmh,
                                  **direction_kwargs(minutes_to_nearest, direction))
        parts.append(part.assign(mode=mode))
    if not parts:
        return pd.DataFrame({"demand_id": pd.Series(dtype=object),
                             "category": pd.Series(dtype=object),
                             "minutes": pd.Series(dtype=float),
                             "facility_id": pd.Series(dtype=object),
                             "mode": pd.Series(dtype=object)})
    out = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(categories)}
    out = out.assign(_c=out["category"].map(order))
    return (out.sort_values(["_c", "demand_id"], kind="mergesort")
            .drop(columns="_c").reset_index(drop=True))


def suggest_sites_for(scenario: SitingScenario, *, net: RoutingNetwork,
                      units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                      candidates: gpd.GeoDataFrame, access: pd.DataFrame | None = None,
                      max_snap_m: float | None = None, resolved: ResolvedAnalysis | None = None,
                      rural: np.ndarray[Any, Any] | None = None,
                      walk_speed_kmh: float | None = None,
                      ) -> tuple[SitingResult, gpd.GeoDataFrame]:
    """Run one site-suggestion scenario (one category) of a study.

    With a resolved analysis, each demand unit is covered within its own threshold in its
    own mode (urban and rural apart), exactly as in the coverage tables: the population covered
    before new sites equals ``coverage.csv``'s covered population of the category.

    Parameters
    ----------
    scenario
        Category, model, number of sites or budget, minutes, mode, candidates...
    net
        Routing network.
    units
        Demand units (projected, with ``unit_id``, ``community_id``, ``population``).
    facilities
        Existing facilities (all categories; those of the scenario's category are kept fixed).
    candidates
        The planner's candidate sites (may be empty).
    access
        Minutes to the nearest existing facility per unit and category; reused when it has a
        row for every unit, computed otherwise.
    max_snap_m
        Largest snapping distance.
    resolved
        The resolved analysis (modes and thresholds per group); None uses the scenario's
        ``minutes`` (``settings.threshold_minutes`` when NaN) and ``mode`` for every unit.
    rural
        Per unit, whether it is rural (needed with ``resolved``).
    walk_speed_kmh
        Walking speed overriding the network's (the command line's ``--walk-speed-kmh``).

    Returns
    -------
    tuple
        The :class:`~deyang_geo.planning.siting.SitingResult` and the candidate table it chose from.
    """
    cat = scenario.category
    unit_minutes = unit_modes = None
    minutes: float | None = scenario.minutes if np.isfinite(scenario.minutes) else None
    mode = scenario.mode
    if resolved is not None and cat in resolved.settings:
        flags = np.zeros(len(units), dtype=bool) if rural is None else np.asarray(rural)
        modes_arr, limits = resolved.unit_arrays(cat, flags)
        unit_modes, unit_minutes = list(modes_arr), limits
        mode = resolved.setting(cat, "urban").mode
        minutes = resolved.setting(cat, "urban").threshold_minutes
    existing = None
    if access is not None:
        acc = access[access["category"] == cat]
        if len(acc) == len(units):
            existing = (acc.set_index("demand_id")["minutes"]
                        .reindex(units["unit_id"].astype(str)).to_numpy(dtype=float))
    zones = None
    if scenario.exclusion_zones is not None:
        zones = gpd.read_file(scenario.exclusion_zones)
        zones = zones.set_crs("EPSG:4326") if zones.crs is None else zones
    suggestion = suggest_sites(
        net, units=units, facilities=facilities, category=cat,
        model=scenario.model,  # type: ignore[arg-type]  # checked by config.py
        new_sites=scenario.new_sites, budget=scenario.budget,
        target_share=scenario.target_share, minutes=minutes, mode=mode,
        walk_speed_kmh=walk_speed_kmh,
        candidates=candidates if len(candidates) else None,
        candidate_source=scenario.candidates,  # type: ignore[arg-type]  # checked by config.py
        candidate_spacing_m=scenario.candidate_spacing_m, exclusion_zones=zones,
        forced=scenario.forced, excluded=scenario.excluded, existing_minutes=existing,
        time_limit_s=scenario.time_limit_s, n_alternatives=scenario.alternatives,
        max_snap_m=max_snap_m, unit_minutes=unit_minutes, unit_modes=unit_modes)
    return suggestion.result, suggestion.candidates


def resolve(config: StudyConfig, catalog: Catalog, facilities: pd.DataFrame
            ) -> ResolvedAnalysis:
    """Resolve a study's analysis settings once (see :mod:`deyang_geo.study.resolved`).

    Parameters
    ----------
    config
        The study configuration.
    catalog
        The standards catalog.
    facilities
        The facilities (their categories, when the study does not list categories).

    Returns
    -------
    ResolvedAnalysis
        Mode, speed, threshold and direction per category, urban and rural, with sources.
    """
    return resolve_study(config, catalog, analysed_categories(config, facilities))


def _fewer_collections(run: Callable[..., StudyResult]) -> Callable[..., StudyResult]:
    """Run with the garbage collector's first threshold raised (restored after).

    A study allocates millions of short-lived objects (rows, geometries, map elements); at
    Python's default threshold (700) the collector runs over a thousand times in the demo,
    about 1 s of CPU.
    """

    @functools.wraps(run)
    def fewer(*args: Any, **kwargs: Any) -> StudyResult:
        before = gc.get_threshold()
        gc.set_threshold(max(before[0], GC_THRESHOLD), *before[1:])
        try:
            return run(*args, **kwargs)
        finally:
            gc.set_threshold(*before)

    return fewer


#: The collector's first threshold (new container objects between collections) while a
#: study runs.
GC_THRESHOLD = 20_000


@_fewer_collections
def run_study(config: StudyConfig, *, out_dir: str | os.PathLike[str] | None = None,
              on_step: Callable[[str], None] | None = None,
              proposal: Scenario | None = None) -> StudyResult:
    """Run a whole study: network, access, isochrones, coverage, compliance, sites, outputs.

    The analysis settings are resolved once (:func:`resolve`) and every step reads them.

    Parameters
    ----------
    config
        The study configuration (from :func:`deyang_geo.study.config.load_study`).
    out_dir
        Output folder; None means the study file's ``[output] folder``.
    on_step
        Called with each step's name as it starts (for progress bars).
    proposal
        A planning scenario applied to the configuration, the inputs and the network (see
        :mod:`deyang_geo.study.scenario`), or None for the study as it is.

    Returns
    -------
    StudyResult
        Every intermediate result and the files written.
    """
    if proposal is not None:
        config = proposal.apply_to_config(config)
    progress = _Progress(STEPS)
    a = config.analysis
    out = Path(out_dir) if out_dir is not None else config.output.folder

    def step(name: str, what: str) -> Any:
        if on_step is not None:
            on_step(name)
        return progress.step(name, what)

    with step("inputs", "reading inputs"):
        catalog = load_catalog(config.standards_catalog)
        inputs = load_inputs(config, catalog=catalog)
        if proposal is not None:
            inputs = proposal.apply_to_inputs(inputs, catalog=catalog)
        resolved = resolve(config, catalog, inputs.facilities)
    with step("network", "building the road network"):
        boundary = inputs.study_area
        G, net = build_routing_network(config, boundary=boundary,
                                       keep_near=_people_and_facilities(inputs))
        if proposal is not None and proposal.changes_graph:
            built = graph_of(G)
            changed = proposal.apply_to_graph(built)
            G = built if changed is built else changed
            if changed is not built:
                net = RoutingNetwork.from_graph(changed)
        summary = network_summary(G)
    # the service areas need only the network and the facilities: on a multi-core machine
    # they are computed meanwhile in a forked process (the same polygons, pickled back)
    iso_call = functools.partial(compute_isochrones, net, inputs.facilities, resolved=resolved,
                                 walkoff_m=a.isochrone_walkoff_m,
                                 breaks_minutes=a.isochrone_breaks_minutes)
    iso_run = (ForkedCall(iso_call, background=True, name="deyang-geo isochrones")
               if can_fork() else None)
    with step("demand", "spreading population over demand units"):
        population: dict[str, str] = {}
        if config.inputs.population_raster is None:
            units = demand_units(inputs.communities, crs=net.crs,
                                 spacing_m=a.demand_grid_spacing_m)
            units = age_groups_from_shares(units, inputs.communities,
                                           elderly_share=config.inputs.elderly_share)
        else:
            units, inputs, population = raster_demand_step(config, inputs, crs=net.crs)
    with step("access", "minutes to the nearest facility of each category"):
        access = compute_access(net, units, inputs.facilities,
                                communities=inputs.communities, resolved=resolved)
    with step("isochrones", "service areas"):
        iso = iso_call() if iso_run is None else None  # else collected after the sites
    with step("coverage", "coverage per community, township and division"):
        coverage = compute_study_coverage(access, units, inputs.communities, resolved=resolved,
                                          provenance={"study": config.name,
                                                      "synthetic": str(config.synthetic).lower(),
                                                      **population})
        graded = None
        if {"accessibility", "equity"} & set(config.output.outputs):
            graded = compute_graded(
                net, units=units, facilities=inputs.facilities,
                communities=inputs.communities, access=access, catalog=catalog, mode=a.mode,
                rural_mode=a.rural_mode,
                categories=list(resolved.categories),
                population_note=population.get("population_note", ""))
    compliance = None
    with step("compliance", "plan targets"):
        if "compliance" in config.output.outputs:
            compliance = compute_compliance(net, units, inputs, access=access,
                                            catalog=catalog, config=config, resolved=resolved)
    sites: dict[str, SitingResult] = {}
    site_candidates: dict[str, gpd.GeoDataFrame] = {}
    rural = rural_units(units, inputs.communities)
    with step("siting", "site suggestion"):
        for scenario in config.siting:
            try:
                res, cands = suggest_sites_for(scenario, net=net, units=units,
                                               facilities=inputs.facilities,
                                               candidates=inputs.candidates, access=access,
                                               max_snap_m=a.max_snap_m, resolved=resolved,
                                               rural=rural)
            except InputError as exc:  # forced/excluded ids...: name the study file's table
                raise InputError([p if p.file is not None else Problem(
                    f"[siting.{scenario.category}] {p.message}", file=str(config.path))
                    for p in exc.problems]) from None
            sites[scenario.category] = res
            site_candidates[scenario.category] = cands
    if iso_run is not None:
        iso = iso_run.result()
    assert iso is not None
    result = StudyResult(config=config, inputs=inputs, graph_source=G, network=net,
                         network_summary=summary, units=units, access=access, isochrones=iso,
                         coverage=coverage, compliance=compliance, sites=sites,
                         timings_s=progress.timings_s, resolved=resolved, graded=graded,
                         population=population)
    with step("outputs", "maps, figures, report and tables"):
        written = write_study_outputs(result, out, catalog=catalog,
                                      site_candidates=site_candidates)
    result.written.update(written)
    return result


def compute_isochrones(net: RoutingNetwork, facilities: gpd.GeoDataFrame, *,
                       resolved: ResolvedAnalysis, walkoff_m: float | None = None,
                       breaks_minutes: tuple[float, ...] | None = None,
                       walk_speed_kmh: float | None = None,
                       dissolve_by: Literal["category"] | None = "category"
                       ) -> gpd.GeoDataFrame:
    """Service areas of the analysed categories in the urban mode of the resolved analysis.

    Parameters
    ----------
    net
        Routing network.
    facilities
        Facilities (``id``, ``category``).
    resolved
        The resolved analysis (categories, urban mode, snapping distance).
    walkoff_m
        How far the areas reach off the street.
    breaks_minutes
        Time breaks; None uses the resolved breaks.
    walk_speed_kmh
        Walking speed overriding the network's.
    dissolve_by
        ``"category"``, or None for one polygon per facility.

    Returns
    -------
    geopandas.GeoDataFrame
        The service areas (projected).
    """
    cats = list(resolved.categories)
    fac = facilities[facilities["category"].isin(cats)]
    modes = [resolved.setting(c, "urban").mode for c in cats] or ["walk"]
    return isochrones(net, fac, mode=modes[0],
                      breaks_minutes=breaks_minutes or resolved.breaks_minutes,
                      walkoff_m=walkoff_m, dissolve_by=dissolve_by,
                      max_snap_m=resolved.max_snap_m, walk_speed_kmh=walk_speed_kmh)


def compute_study_coverage(access: pd.DataFrame, units: gpd.GeoDataFrame,
                           communities: pd.DataFrame, *, resolved: ResolvedAnalysis,
                           provenance: dict[str, str] | None = None) -> CoverageResult:
    """Coverage per community, township and division at each category's resolved threshold.

    Parameters
    ----------
    access
        Minutes to the nearest facility (:func:`compute_access`).
    units
        Demand units.
    communities
        Communities.
    resolved
        The resolved analysis.
    provenance
        Notes kept with the parameters.

    Returns
    -------
    CoverageResult
        The tables.
    """
    notes = {"modes": resolved.summary(), **(provenance or {})}
    thresholds = resolved.thresholds_minutes()
    first = next(iter(thresholds.values()), {}).get("urban")
    return compute_coverage(
        access, units, communities, breaks_minutes=resolved.breaks_minutes,
        threshold_minutes=first, covered_share=resolved.covered_share,
        partly_covered_share=resolved.partly_covered_share,
        categories=list(resolved.categories), provenance=notes,
        thresholds_minutes=thresholds)


def raster_demand_step(config: StudyConfig, inputs: StudyInputs, *, crs: Any
                       ) -> tuple[gpd.GeoDataFrame, StudyInputs, dict[str, str]]:
    """Build the demand units from the study's ``[inputs] population_raster``.

    Parameters
    ----------
    config
        The study configuration.
    inputs
        The study's tables (the communities give names, townships and where cells belong).
    crs
        The network's projected CRS.

    Returns
    -------
    tuple
        The units, the inputs with the communities' populations from the raster, and the
        provenance entries (resolution, rescaling, the note every output carries).
    """
    inp = config.inputs
    assert inp.population_raster is not None
    res = demand_from_raster(inp.population_raster, inputs.communities, crs=crs,
                             cell_size_m=inp.population_cell_m, totals=inp.population_totals,
                             buildings=(None if inp.population_buildings is None
                                        else read_buildings(inp.population_buildings)),
                             elderly_raster=inp.elderly_raster,
                             elderly_share=inp.elderly_share)
    log.info("      %s", res.note())
    return res.units, replace(inputs, communities=res.communities), res.provenance()


def compute_compliance(net: RoutingNetwork, units: gpd.GeoDataFrame, inputs: StudyInputs, *,
                       access: pd.DataFrame, catalog: Catalog, config: StudyConfig | None = None,
                       resolved: ResolvedAnalysis | None = None,
                       thresholds: dict[str, float] | None = None,
                       walk_speed_kmh: float | None = None,
                       provenance: dict[str, str] | None = None) -> ComplianceResult:
    """Evaluate the plan's targets for a study, with reach sets as far as each catchment needs.

    Urban and rural units travel in their own modes and are judged against their own
    thresholds (the resolved analysis), in the coverage targets and in the 2SFCA catchments.

    Parameters
    ----------
    net
        Routing network.
    units
        Demand units.
    inputs
        The study's tables.
    access
        Minutes to the nearest facility per unit and category (:func:`compute_access`).
    catalog
        The standards catalog.
    config
        The study configuration (used when ``resolved`` is None, and for provenance).
    resolved
        The resolved analysis; None resolves ``config``.
    thresholds
        Minutes overriding the catalog by category key or target id (the command line's
        ``--threshold``).
    walk_speed_kmh
        Walking speed overriding the network's.
    provenance
        Notes kept with the parameters.

    Returns
    -------
    ComplianceResult
        Targets per community, township, division and city.
    """
    if resolved is None:
        if config is None:
            msg = "compute_compliance needs a resolved analysis or a study configuration"
            raise TypeError(msg)
        resolved = resolve(config, catalog, inputs.facilities)
    rural = rural_units(units, inputs.communities)
    direction = direction_kwargs(
        reach_set, resolved.setting(resolved.categories[0], "urban").direction
        if resolved.categories else "to_facility")
    uproj = units.to_crs(net.crs)
    ux, uy = uproj.geometry.x.to_numpy(), uproj.geometry.y.to_numpy()
    # every category's group travels in one mode per group here (the study's mode and
    # rural_mode); the catalog categories outside the analysis take the same modes
    first = resolved.categories[0] if resolved.categories else None
    urban_mode = resolved.setting(first, "urban").mode if first else "walk"
    rural_mode = resolved.setting(first, "rural").mode if first else urban_mode
    groups = [(m, np.flatnonzero(mask)) for m, mask in
              ((urban_mode, ~rural), (rural_mode, rural)) if mask.any()]
    snapped_units = {(m, i): snap_points(net, ux[idx], uy[idx], mode=m,
                                         max_snap_m=resolved.max_snap_m)
                     for i, (m, idx) in enumerate(groups)}

    def reach(facilities: gpd.GeoDataFrame, max_minutes: float) -> Any:
        """Reach set of some facilities to every unit, each group in its own mode."""
        fac = facilities.to_crs(net.crs)
        fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
        rows, cols, mins = [], [], []
        for i, (m, idx) in enumerate(groups):
            s_f = snap_points(net, fx, fy, mode=m, max_snap_m=resolved.max_snap_m)
            part = reach_set(net, s_f, snapped_units[(m, i)], mode=m, max_minutes=max_minutes,
                             walk_speed_kmh=walk_speed_kmh, **direction)
            rows.append(np.repeat(np.arange(part.n_sources, dtype=np.int64),
                                  np.diff(part.indptr)))
            cols.append(idx[np.asarray(part.indices, dtype=np.int64)])
            mins.append(np.asarray(part.minutes, dtype=np.float64))
        n = len(facilities)
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        val = np.concatenate(mins) if mins else np.zeros(0)
        order = np.lexsort((col, row))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
        return ReachSet(indptr=indptr, indices=col[order], minutes=val[order], n_sources=n,
                        n_demand=len(units), max_minutes=max_minutes)

    notes = {"modes": resolved.summary(), **(provenance or {})}
    if config is not None:
        notes = {"study": config.name, "synthetic": str(config.synthetic), **notes}
    return evaluate_compliance(communities=inputs.communities, facilities=inputs.facilities,
                               units=units,
                               access=access, reach=reach, catalog=catalog, mode=urban_mode,
                               rural_mode=rural_mode, thresholds=thresholds,
                               group_thresholds=resolved.thresholds_minutes(),
                               covered_share=resolved.covered_share, provenance=notes)
