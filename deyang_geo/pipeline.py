"""The whole analysis of a study, step by step: what ``deyang-geo run`` and ``demo`` call."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import InputError

if TYPE_CHECKING:
    import networkx as nx

    from .compliance import ComplianceResult
    from .config import SitingScenario, StudyConfig
    from .coverage import CoverageResult
    from .network import NetworkSummary
    from .routing import RoutingNetwork
    from .siting import SitingResult
    from .standards import Catalog

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
    graph
        The road network graph (projected, osmnx-style).
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
    """

    config: StudyConfig
    inputs: StudyInputs
    graph: nx.MultiDiGraph
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

    def summary_line(self) -> str:
        """Return a one-line summary of what was computed and written."""
        n_comm = len(self.inputs.communities)
        outside = self.coverage.outside
        out_dir = next(iter(self.written.values())).parent if self.written else None
        return (
            f"{n_comm} communities, {len(self.inputs.facilities)} facilities, "
            f"{len(outside)} community-category pairs outside "
            f"{self.coverage.threshold_minutes:g}-minute reach, "
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
    from . import io

    divisions, area = _read_divisions(config)
    inp = config.inputs
    communities = io.read_communities(inp.communities.path, input_crs=inp.communities.input_crs,
                                      study_area=area)
    if inp.facilities is not None:
        facilities = io.read_facilities(inp.facilities.path,
                                        input_crs=inp.facilities.input_crs,
                                        catalog=catalog, study_area=area)
    else:
        facilities = _empty_points(["id", "name", "category"])
    if inp.facilities_from_osm and config.network.osm is not None:
        from .facilities import facilities_from_osm, merge_facilities

        osm = facilities_from_osm(config.network.osm, catalog=catalog, boundary=area)
        facilities = merge_facilities(facilities, osm,
                                      distance_m=inp.merge_distance_m).facilities
    if inp.candidates is not None:
        candidates = io.read_candidates(inp.candidates.path,
                                        input_crs=inp.candidates.input_crs, study_area=area)
    else:
        candidates = _empty_points(["id", "name"])
    context = _read_context(config)
    return StudyInputs(divisions=divisions, study_area=area, communities=communities,
                       facilities=facilities, candidates=candidates, context=context)


def _empty_points(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns},
                            geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def _read_divisions(config: StudyConfig) -> tuple[gpd.GeoDataFrame, Any]:
    """Return every division of the boundary file and the union of the selected ones."""
    path = config.area.boundary
    if path is None:
        return _empty_points(["name_zh", "name_en"]), None
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
    return _empty_points(["name"])


def build_network(config: StudyConfig, *, boundary: Any = None
                  ) -> tuple[nx.MultiDiGraph, RoutingNetwork]:
    """Build the study's road network and its routing form.

    Parameters
    ----------
    config
        The study configuration (its ``network`` section).
    boundary
        Study-area polygon (WGS-84) to clip an OSM extract to, or None.

    Returns
    -------
    tuple
        The graph and its :class:`~deyang_geo.routing.RoutingNetwork`.
    """
    from . import network as netmod
    from .routing import RoutingNetwork

    nc = config.network
    modes = _needed_modes(config)
    common: dict[str, Any] = {"modes": modes, "retain_all": nc.keep_disconnected,
                              "drop_disconnected": not nc.keep_disconnected,
                              "speeds_kmh": dict(nc.speeds_kmh) or None}
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


def _needed_modes(config: StudyConfig) -> tuple[str, ...]:
    modes = list(config.network.modes)
    extra = [config.analysis.mode, config.analysis.rural_mode,
             *(s.mode for s in config.siting)]
    for m in extra:
        if m and m not in modes:
            modes.append(m)
    return tuple(modes)


def compute_access(net: RoutingNetwork, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                   *, communities: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Minutes from every demand unit to the nearest facility of each analysed category.

    Urban communities travel by ``analysis.mode``; rural ones by ``analysis.rural_mode`` when
    set (an assumption a planner states in the study file: no national rural threshold exists).

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
        The study configuration.

    Returns
    -------
    pandas.DataFrame
        ``demand_id, category, minutes, facility_id, mode``.
    """
    from .access import minutes_to_nearest

    a = config.analysis
    categories = list(a.categories) or sorted(facilities["category"].unique())
    kind = communities["kind"] if "kind" in communities.columns else pd.Series("urban",
                                                                             communities.index)
    rural_ids = set(communities.loc[kind == "rural", "id"].astype(str))
    is_rural = units["community_id"].astype(str).isin(rural_ids).to_numpy()
    if a.rural_mode and a.rural_mode != a.mode:
        groups = [(a.mode, ~is_rural), (a.rural_mode, is_rural)]
    else:
        groups = [(a.mode, np.ones(len(units), dtype=bool))]
    parts = []
    for mode, mask in groups:
        if not mask.any():
            continue
        part = minutes_to_nearest(net, units[mask], facilities, mode=mode,
                                  categories=categories, max_snap_m=a.max_snap_m)
        parts.append(part.assign(mode=mode))
    out = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(categories)}
    out = out.assign(_c=out["category"].map(order))
    return (out.sort_values(["_c", "demand_id"], kind="mergesort")
            .drop(columns="_c").reset_index(drop=True))


def suggest_sites_for(scenario: SitingScenario, *, net: RoutingNetwork,
                      units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                      candidates: gpd.GeoDataFrame, access: pd.DataFrame | None = None,
                      max_snap_m: float | None = None) -> tuple[SitingResult, gpd.GeoDataFrame]:
    """Run one site-suggestion scenario (one category) of a study.

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
        Minutes to the nearest existing facility per unit and category; reused for the units
        it covers in the scenario's mode, computed otherwise.
    max_snap_m
        Largest snapping distance.

    Returns
    -------
    tuple
        The :class:`~deyang_geo.siting.SitingResult` and the candidate table it chose from.
    """
    from .siting.suggest import suggest_sites

    cat = scenario.category
    existing = None
    if access is not None and "mode" in access.columns:
        acc = access[(access["category"] == cat) & (access["mode"] == scenario.mode)]
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
        target_share=scenario.target_share, minutes=scenario.minutes, mode=scenario.mode,
        candidates=candidates if len(candidates) else None,
        candidate_source=scenario.candidates,  # type: ignore[arg-type]  # checked by config.py
        candidate_spacing_m=scenario.candidate_spacing_m, exclusion_zones=zones,
        forced=scenario.forced, excluded=scenario.excluded, existing_minutes=existing,
        time_limit_s=scenario.time_limit_s, n_alternatives=scenario.alternatives,
        max_snap_m=max_snap_m)
    return suggestion.result, suggestion.candidates


def run_study(config: StudyConfig, *, out_dir: str | os.PathLike[str] | None = None,
              on_step: Callable[[str], None] | None = None) -> StudyResult:
    """Run a whole study: network, access, isochrones, coverage, compliance, sites, outputs.

    Parameters
    ----------
    config
        The study configuration (from :func:`deyang_geo.config.load_study`).
    out_dir
        Output folder; None means the study file's ``[output] folder``.
    on_step
        Called with each step's name as it starts (for progress bars).

    Returns
    -------
    StudyResult
        Every intermediate result and the files written.
    """
    from .coverage import compute_coverage
    from .demand import demand_units
    from .isochrones import isochrones
    from .network import network_summary
    from .standards import load_catalog

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
    with step("network", "building the road network"):
        boundary = inputs.study_area
        G, net = build_network(config, boundary=boundary)
        summary = network_summary(G)
    with step("demand", "spreading population over demand units"):
        units = demand_units(inputs.communities, crs=net.crs,
                             spacing_m=a.demand_grid_spacing_m)
    with step("access", "minutes to the nearest facility of each category"):
        access = compute_access(net, units, inputs.facilities,
                                communities=inputs.communities, config=config)
    with step("isochrones", "service areas"):
        cats = list(a.categories)
        fac = inputs.facilities[inputs.facilities["category"].isin(cats)]
        iso = isochrones(net, fac, mode=a.mode, breaks_minutes=a.isochrone_breaks_minutes,
                         walkoff_m=a.isochrone_walkoff_m, dissolve_by="category",
                         max_snap_m=a.max_snap_m)
    with step("coverage", "coverage per community, township and division"):
        provenance = {"study": config.name, "mode": a.mode,
                      "rural_mode": a.rural_mode or a.mode,
                      "synthetic": str(config.synthetic).lower()}
        coverage = compute_coverage(
            access, units, inputs.communities, breaks_minutes=a.isochrone_breaks_minutes,
            threshold_minutes=a.threshold_minutes, covered_share=a.covered_share,
            partly_covered_share=a.partly_covered_share, categories=cats,
            provenance=provenance)
    compliance = None
    with step("compliance", "plan targets"):
        if "compliance" in config.output.outputs:
            compliance = compute_compliance(net, units, inputs, access=access,
                                            catalog=catalog, config=config)
    sites: dict[str, SitingResult] = {}
    site_candidates: dict[str, gpd.GeoDataFrame] = {}
    with step("siting", "site suggestion"):
        for scenario in config.siting:
            res, cands = suggest_sites_for(scenario, net=net, units=units,
                                           facilities=inputs.facilities,
                                           candidates=inputs.candidates, access=access,
                                           max_snap_m=a.max_snap_m)
            sites[scenario.category] = res
            site_candidates[scenario.category] = cands
    result = StudyResult(config=config, inputs=inputs, graph=G, network=net,
                         network_summary=summary, units=units, access=access, isochrones=iso,
                         coverage=coverage, compliance=compliance, sites=sites,
                         timings_s=progress.timings_s)
    with step("outputs", "maps, figures, report and tables"):
        from ._outputs import write_study_outputs

        written = write_study_outputs(result, out, catalog=catalog,
                                      site_candidates=site_candidates)
    result.written.update(written)
    return result


def compute_compliance(net: RoutingNetwork, units: gpd.GeoDataFrame, inputs: StudyInputs, *,
                       access: pd.DataFrame, catalog: Catalog, config: StudyConfig
                       ) -> ComplianceResult:
    """Evaluate the plan's targets for a study, with reach sets as far as each catchment needs.

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
        The study configuration.

    Returns
    -------
    ComplianceResult
        Targets per community, township, division and city.
    """
    from .access import reach_set
    from .compliance import evaluate_compliance
    from .snapping import snap_points

    a = config.analysis
    uproj = units.to_crs(net.crs)
    s_u = snap_points(net, uproj.geometry.x.to_numpy(), uproj.geometry.y.to_numpy(),
                      mode=a.mode, max_snap_m=a.max_snap_m)

    def reach(facilities: gpd.GeoDataFrame, max_minutes: float) -> Any:
        """Reach set of some facilities to every unit, as far as the catchment needs."""
        fac = facilities.to_crs(net.crs)
        s_f = snap_points(net, fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy(),
                          mode=a.mode, max_snap_m=a.max_snap_m)
        return reach_set(net, s_f, s_u, mode=a.mode, max_minutes=max_minutes)

    return evaluate_compliance(communities=inputs.communities, facilities=inputs.facilities,
                               units=units,
                               access=access, reach=reach, catalog=catalog, mode=a.mode,
                               covered_share=a.covered_share,
                               provenance={"study": config.name,
                                           "synthetic": str(config.synthetic)})


def dumps_json(data: Any) -> str:
    """Serialise to deterministic, human-readable JSON (sorted keys, UTF-8 characters)."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"



# Many areas at once (one Dask task per area), in its own module, re-exported here.
from .batch import BatchResult as BatchResult  # noqa: E402, PLC0414
from .batch import run_batch as run_batch  # noqa: E402, PLC0414
