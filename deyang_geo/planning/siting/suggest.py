"""Site suggestion on a road network: candidates, reach sets and a model in one call."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from deyang_geo.analysis.access import ReachSet, nearest_minutes, reach_set
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core import settings
from deyang_geo.core.errors import InputError
from deyang_geo.planning.siting.candidates import (
    combine_candidates,
    network_candidates,
    planner_candidates,
)
from deyang_geo.planning.siting.capacitated import capacitated_coverage
from deyang_geo.planning.siting.maximal_coverage import mclp
from deyang_geo.planning.siting.p_median import pmedian
from deyang_geo.planning.siting.set_cover import lscp
from deyang_geo.planning.siting.types import PerUnit

if TYPE_CHECKING:
    import geopandas as gpd

    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.planning.siting.result import SitingResult

log = logging.getLogger("deyang_geo")

Model = Literal["mclp", "lscp", "pmedian", "capacitated"]
CandidateSource = Literal["file", "nodes", "both"]


@dataclass(frozen=True)
class Suggestion:
    """A site suggestion on a network: the model's result and what it chose from.

    Attributes
    ----------
    result
        The model's :class:`~deyang_geo.planning.siting.SitingResult`.
    candidates
        The candidate sites (``id``, ``name``, ``kind``, ``cost``, ``source``...; in the
        network's CRS), in the order of the reach set's rows.
    existing_minutes
        Minutes from every demand unit to the nearest existing facility of the category
        (NaN when none is within reach).
    """

    result: SitingResult
    candidates: gpd.GeoDataFrame
    existing_minutes: np.ndarray[Any, np.dtype[np.float64]]


def suggest_sites(
    net: RoutingNetwork,
    *,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    category: str,
    model: Model = "mclp",
    new_sites: int | None = None,
    budget: float | None = None,
    target_share: float | None = None,
    minutes: float | None = None,
    mode: str = "walk",
    walk_speed_kmh: float | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    candidate_source: CandidateSource | None = None,
    candidate_spacing_m: float | None = None,
    exclusion_zones: gpd.GeoDataFrame | None = None,
    forced: Sequence[str] = (),
    excluded: Sequence[str] = (),
    existing_minutes: PerUnit | None = None,
    time_limit_s: float | None = None,
    n_alternatives: int = 3,
    max_snap_m: float | None = None,
    unit_minutes: Any | None = None,
    unit_modes: Sequence[str] | None = None,
) -> Suggestion:
    """Suggest new sites for one facility category on a road network.

    Existing facilities of the category are kept and counted; candidates come from the
    planner's list, from network nodes near uncovered demand (thinned to
    ``candidate_spacing_m``), or both; the model runs on the sparse candidate x demand reach set.

    Parameters
    ----------
    net
        The routing network.
    units
        Demand units (``unit_id``, ``community_id``, ``population``, optional ``households``;
        any CRS).
    facilities
        Existing facilities (``id``, ``category``; any CRS); those of ``category`` are kept.
    category
        The catalog key of the facilities to site.
    model
        ``"mclp"`` (most people covered with ``new_sites`` or within ``budget``), ``"lscp"``
        (fewest sites to cover ``target_share``), ``"pmedian"`` (least person-minutes with
        ``new_sites``) or ``"capacitated"`` (MCLP where a site serves at most its capacity:
        the candidates' ``capacity_population``, else ``floor_area_m2`` at the plan's 30 m2
        per 100 households).
    new_sites, budget, target_share
        The model's size: number of sites, total cost (candidates' ``cost``, 1 when missing),
        or population share to cover.
    minutes
        Coverage threshold (default ``settings.threshold_minutes``).
    mode
        Travel mode.
    walk_speed_kmh
        Walking speed for walk modes and connectors (default ``settings.walk_speed_kmh``).
    candidates
        The planner's candidate sites (``io.read_candidates``), or None.
    candidate_source
        ``"file"``, ``"nodes"`` or ``"both"``; default ``"file"`` when ``candidates`` is
        given, else ``"nodes"``.
    candidate_spacing_m
        Spacing of network-node candidates (default ``settings.candidate_spacing_m``).
    exclusion_zones
        Polygons where no site may go.
    forced, excluded
        Candidate ids that must be, or must not be, chosen.
    existing_minutes
        Minutes from each unit to the nearest existing facility of the category, when
        already computed (e.g. the ``access`` table); computed when None.
    time_limit_s
        Time limit of the whole call (default ``settings.siting_time_limit_s``): snapping,
        candidates and reach sets count against it, the model gets what is left (at least a
        twentieth of it) and budgets its alternatives out of that.
    n_alternatives
        Alternatives reported per chosen site.
    max_snap_m
        Largest snapping distance (default ``settings.max_snap_m``).
    unit_minutes, unit_modes
        Each demand unit's own threshold and travel mode (e.g. rural communities by e-bike,
        from :meth:`deyang_geo.study.resolved.ResolvedAnalysis.unit_arrays`), overriding ``minutes``
        and ``mode``: a unit is covered by a site within its own threshold in its own mode.

    Returns
    -------
    Suggestion
        The result, the candidates and the existing minutes.
    """
    started = time.perf_counter()

    limit = float(minutes if minutes is not None else settings.threshold_minutes)
    spacing = float(candidate_spacing_m if candidate_spacing_m is not None
                    else settings.candidate_spacing_m)
    source = candidate_source or ("file" if candidates is not None else "nodes")
    if source in {"file", "both"} and (candidates is None or len(candidates) == 0):
        msg = f"candidate sites from a file were asked for ({source!r}) but none were given"
        raise InputError(msg)
    n_units = len(units)
    limits = (np.full(n_units, limit) if unit_minutes is None
              else np.asarray(unit_minutes, dtype=np.float64).reshape(-1))
    modes = (np.full(n_units, mode, dtype=object) if unit_modes is None
             else np.asarray(list(unit_modes), dtype=object))
    if limits.shape != (n_units,) or modes.shape != (n_units,):
        msg = "unit_minutes and unit_modes need one value per demand unit"
        raise InputError(msg)
    if n_units:
        limit = float(limits.max())
    unit_reach = 2.0 * limits if model == "pmedian" else limits
    reach_minutes = 2.0 * limit if model == "pmedian" else limit
    groups = [(str(m), np.flatnonzero(modes == m)) for m in dict.fromkeys(modes.tolist())]

    def snapped(gdf: gpd.GeoDataFrame, how: str) -> Any:
        pts = gdf.geometry.to_crs(net.crs)
        return snap_points(net, pts.x.to_numpy(), pts.y.to_numpy(), mode=how,
                           max_snap_m=max_snap_m)

    unit_snap = {m: snapped(units.iloc[idx], m) for m, idx in groups}
    if existing_minutes is not None:
        existing = np.asarray(existing_minutes, dtype=np.float64)
    else:
        same = facilities[facilities["category"].astype(str) == category]
        existing = np.full(n_units, np.nan)
        if len(same):
            for m, idx in groups:
                existing[idx], _ = nearest_minutes(
                    net, snapped(same, m), unit_snap[m], mode=m,
                    max_minutes=float(unit_reach[idx].max()), walk_speed_kmh=walk_speed_kmh)
        else:
            log.info("no existing %s facilities: every demand unit starts uncovered", category)
    covered = np.nan_to_num(existing, nan=np.inf) <= limits + 1e-9
    tables = []
    if source in {"file", "both"} and candidates is not None:
        tables.append(planner_candidates(candidates.to_crs(net.crs),
                                         exclusion_zones=exclusion_zones))
    if source in {"nodes", "both"}:
        tables.append(network_candidates(net, uncovered=units.loc[~covered],
                                         spacing_m=spacing, exclusion_zones=exclusion_zones))
    cands = combine_candidates(*tables, min_separation_m=min(50.0, spacing / 2))
    if len(cands) == 0:
        msg = f"no candidate sites for {category} (all excluded, or nothing is uncovered)"
        raise InputError(msg)
    reach = _reach_by_group(net, cands, groups, unit_snap, unit_reach, snapped=snapped,
                            walk_speed_kmh=walk_speed_kmh)
    population = units["population"].to_numpy(dtype=float)
    budget_s = float(time_limit_s if time_limit_s is not None else settings.siting_time_limit_s)
    common: dict[str, Any] = {
        "candidate_ids": cands["id"].astype(str).tolist(),
        "unit_community": units["community_id"].astype(str).to_numpy()
        if "community_id" in units.columns else None,
        # one deadline for the whole call: what snapping and reach sets took is spent
        "time_limit_s": max(budget_s - (time.perf_counter() - started), budget_s / 20),
        "n_alternatives": n_alternatives,
        "forced": list(forced) or None,
        "excluded": list(excluded) or None,
    }
    costs = None
    if budget is not None:
        raw = cands["cost"].to_numpy(dtype=float) if "cost" in cands.columns else None
        costs = np.ones(len(cands)) if raw is None else np.where(np.isfinite(raw), raw, 1.0)
    result: SitingResult
    if model == "mclp":
        result = mclp(reach, population, new_sites=new_sites, budget=budget, costs=costs,
                      max_minutes=limit, existing_covered=covered, **common)
    elif model == "lscp":
        result = lscp(reach, population, target_share=target_share, max_minutes=limit,
                      existing_covered=covered, **common)
    elif model == "pmedian":
        if new_sites is None:
            msg = "the p-median model needs a number of new sites"
            raise InputError(msg)
        result = pmedian(reach, population, new_sites=int(new_sites),
                         existing_minutes=existing, max_minutes=reach_minutes,
                         threshold_minutes=limit, **common)
    elif model == "capacitated":
        result = capacitated_coverage(reach, population, new_sites=new_sites, budget=budget,
                                      costs=costs, max_minutes=limit, existing_covered=covered,
                                      **_capacity(cands, units), **common)
    else:
        msg = f"unknown model {model!r}: use mclp, lscp, pmedian or capacitated"
        raise InputError(msg)
    if "time_limit_s" in result.parameters:  # the user's limit, not what was left of it
        result = replace(result, parameters={**result.parameters, "time_limit_s": budget_s})
    return Suggestion(result=result, candidates=cands, existing_minutes=existing)


def _reach_by_group(net: RoutingNetwork, cands: gpd.GeoDataFrame,
                    groups: list[tuple[str, Any]], unit_snap: dict[str, Any],
                    unit_reach: Any, *, snapped: Any, walk_speed_kmh: float | None) -> Any:
    """Reach set of the candidates to every unit, each group of units in its own mode.

    Entries beyond a unit's own limit are dropped, so that one limit (the largest) applies
    afterwards.
    """
    if len(groups) == 1 and float(unit_reach.min(initial=0.0)) == float(
            unit_reach.max(initial=0.0)):
        m = groups[0][0]
        return reach_set(net, snapped(cands, m), unit_snap[m], mode=m,
                         max_minutes=float(unit_reach.max(initial=0.0)),
                         walk_speed_kmh=walk_speed_kmh)
    rows, cols, mins = [], [], []
    for m, idx in groups:
        part = reach_set(net, snapped(cands, m), unit_snap[m], mode=m,
                         max_minutes=float(unit_reach[idx].max()),
                         walk_speed_kmh=walk_speed_kmh)
        r = np.repeat(np.arange(part.n_sources, dtype=np.int64), np.diff(part.indptr))
        c = idx[np.asarray(part.indices, dtype=np.int64)]
        v = np.asarray(part.minutes, dtype=np.float64)
        keep = v <= unit_reach[c] + 1e-9
        rows.append(r[keep])
        cols.append(c[keep])
        mins.append(v[keep])
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    val = np.concatenate(mins)
    order = np.lexsort((col, row))
    indptr = np.zeros(len(cands) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=len(cands)), out=indptr[1:])
    return ReachSet(indptr=indptr, indices=col[order], minutes=val[order],
                    n_sources=len(cands), n_demand=len(unit_reach),
                    max_minutes=float(unit_reach.max(initial=0.0)))


def _capacity(cands: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> dict[str, Any]:
    """Capacity of each candidate: its ``capacity_population``, else its floor area.

    Floor area becomes people with the plan's 30 m2 of community-service floor area per 100
    households (target T5) and the demand's mean household size.
    """
    if "capacity_population" in cands.columns and cands["capacity_population"].notna().all():
        return {"capacity_population": cands["capacity_population"].to_numpy(dtype=float)}
    if "floor_area_m2" not in cands.columns or cands["floor_area_m2"].isna().any():
        msg = ("the capacitated model needs capacity_population or floor_area_m2 for every "
               "candidate site (network-node candidates have neither: use the file's "
               "candidates only)")
        raise InputError(msg)
    people = units["population"].to_numpy(dtype=float)
    persons_per_household = 2.7
    if "households" in units.columns:
        hh = units["households"].to_numpy(dtype=float)
        ok = np.isfinite(hh) & (hh > 0)
        if ok.any():
            persons_per_household = float(people[ok].sum() / hh[ok].sum())
    return {"floor_area_m2": cands["floor_area_m2"].to_numpy(dtype=float),
            "m2_per_person": 30.0 / 100.0 / persons_per_household}
