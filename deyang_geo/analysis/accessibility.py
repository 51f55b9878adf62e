"""Graded accessibility from sparse reach sets: decay scores, E2SFCA, k-th nearest, completeness.

Beside the binary "within 15 minutes or not" of :mod:`deyang_geo.analysis.coverage`, these measures
grade access:

- the decay-weighted potential ``P_i = sum_j S_j f(t_ij)`` (with ``S_j = 1``: a decay-weighted
  count of facilities);
- the enhanced two-step floating catchment (E2SFCA, Luo & Qi 2009):
  ``R_j = S_j / sum_k D_k f(t_kj)`` then ``A_i = sum_j R_j f(t_ij)``, supply per person;
- the minutes to the k-th nearest facility (choice);
- the 15-minute completeness of a community: how many of the plan's essential categories its
  people reach within their thresholds.

``f`` is a Gaussian ``exp(-t^2 / (2 sigma^2))`` or exponential ``exp(-t / tau)`` decay with its
parameter in minutes (``decay_minutes``), or a step (1 within the cut-off). Every sum runs over
the stored entries of a :class:`~deyang_geo.analysis.ReachSet` (CSR arrays), never over a dense
demand x facility matrix.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from deyang_geo.analysis.access import ReachSet, points_in_crs, reach_set
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core import settings
from deyang_geo.core.checks import positive_problem
from deyang_geo.core.errors import InputError, InputWarning, Problem
from deyang_geo.io.files import write_csv_atomic

if TYPE_CHECKING:
    import geopandas as gpd

    from deyang_geo.analysis.routing import RoutingNetwork

__all__ = [
    "CATEGORY_POPULATION",
    "AccessibilityResult",
    "Decay",
    "aggregate_by_community",
    "completeness",
    "compute_accessibility",
    "decay_weights",
    "e2sfca_scores",
    "kth_nearest_minutes",
    "plan_thresholds",
    "potential_scores",
]

Decay = Literal["gaussian", "exponential", "step"]
_DECAYS: tuple[str, ...] = ("gaussian", "exponential", "step")

#: Which people use a category (the rest are judged against everyone).
CATEGORY_POPULATION: dict[str, str] = {
    "elderly_daycare": "population_elderly",
    "childrens_home": "population_children",
}


# ---------------------------------------------------------------------- array-level API
def decay_weights(minutes: NDArray[np.float64], *, decay: Decay, decay_minutes: float
                  ) -> NDArray[np.float64]:
    """Return the decay weight of each travel time.

    Parameters
    ----------
    minutes
        Travel minutes (>= 0).
    decay
        ``"gaussian"``: ``exp(-t^2 / (2 d^2))`` (pysal ``access.weights.gaussian(d)``);
        ``"exponential"``: ``exp(-t / d)``; ``"step"``: 1 everywhere (the cut-off of the reach
        set does the rest).
    decay_minutes
        The parameter ``d`` in minutes (> 0).

    Returns
    -------
    numpy.ndarray
        Weights in (0, 1], 1 at 0 minutes.

    Raises
    ------
    InputError
        Unknown decay or ``decay_minutes`` not positive.
    """
    _check_decay(decay, decay_minutes)
    t = np.asarray(minutes, dtype=np.float64)
    if decay == "gaussian":
        return np.exp(-(t * t) / (2.0 * decay_minutes * decay_minutes))
    if decay == "exponential":
        return np.exp(-t / decay_minutes)
    return np.ones_like(t)


def _check_decay(decay: str, decay_minutes: float) -> None:
    if decay not in _DECAYS:
        msg = f"decay must be one of {', '.join(_DECAYS)}, got {decay!r}"
        raise InputError(Problem(msg, column="decay"))
    problem = positive_problem(decay_minutes, unit="minutes")
    if problem is not None:
        raise InputError(Problem(f"decay_minutes {problem}", column="decay_minutes"))


def _rows(reach: ReachSet) -> NDArray[np.int64]:
    return np.repeat(np.arange(reach.n_sources, dtype=np.int64), np.diff(reach.indptr))


def _supply(reach: ReachSet, supply: NDArray[np.float64] | None) -> NDArray[np.float64]:
    if supply is None:
        return np.ones(reach.n_sources)
    s = np.asarray(supply, dtype=np.float64)
    if s.shape != (reach.n_sources,):
        msg = f"supply has {s.shape[0]} values for {reach.n_sources} sources"
        raise InputError(msg)
    return s


def potential_scores(reach: ReachSet, *, decay: Decay, decay_minutes: float,
                     supply: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Return the decay-weighted potential of every demand point: ``sum_j S_j f(t_ij)``.

    Parameters
    ----------
    reach
        Sources (facilities) x demand reach set.
    decay, decay_minutes
        The decay function (see :func:`decay_weights`).
    supply
        Supply ``S_j`` per source; default 1 (a decay-weighted count of facilities).

    Returns
    -------
    numpy.ndarray
        One value per demand point (0 where nothing is within reach).
    """
    w = decay_weights(reach.minutes, decay=decay, decay_minutes=decay_minutes)
    s = _supply(reach, supply)
    return np.bincount(reach.indices, weights=w * s[_rows(reach)],
                       minlength=reach.n_demand).astype(np.float64)


def e2sfca_scores(reach: ReachSet, *, population: NDArray[np.float64],
                  supply: NDArray[np.float64] | None = None, decay: Decay,
                  decay_minutes: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the E2SFCA accessibility per demand point and the supply ratio per source.

    Step 1: ``R_j = S_j / sum_k D_k f(t_kj)`` over the demand ``k`` within reach of ``j``.
    Step 2: ``A_i = sum_j R_j f(t_ij)`` over the sources ``j`` within reach of ``i``. A source
    with no demand within reach gets ``R_j = nan`` and adds nothing.

    Parameters
    ----------
    reach
        Sources (facilities) x demand reach set.
    population
        People ``D_k`` per demand point.
    supply
        Supply ``S_j`` per source (capacity in people, floor area in m2...); default 1.
    decay, decay_minutes
        The decay function (see :func:`decay_weights`); ``"step"`` gives the classic 2SFCA.

    Returns
    -------
    tuple of numpy.ndarray
        ``A`` per demand point (supply per person; 0 where nothing is within reach) and ``R``
        per source.
    """
    pop = np.asarray(population, dtype=np.float64)
    if pop.shape != (reach.n_demand,):
        msg = f"population has {pop.shape[0]} values for {reach.n_demand} demand points"
        raise InputError(msg)
    w = decay_weights(reach.minutes, decay=decay, decay_minutes=decay_minutes)
    rows = _rows(reach)
    s = _supply(reach, supply)
    weighted_demand = np.bincount(rows, weights=w * pop[reach.indices],
                                  minlength=reach.n_sources)
    ratio = np.divide(s, weighted_demand, out=np.full(reach.n_sources, np.nan),
                      where=weighted_demand > 0)
    contrib = w * np.nan_to_num(ratio)[rows]
    scores = np.bincount(reach.indices, weights=contrib, minlength=reach.n_demand)
    return scores.astype(np.float64), ratio


def kth_nearest_minutes(reach: ReachSet, *, k: int) -> NDArray[np.float64]:
    """Return per demand point the minutes to its k-th nearest source within the reach set.

    Parameters
    ----------
    reach
        Sources x demand reach set (its ``max_minutes`` bounds the answer).
    k
        Rank (1 = the nearest).

    Returns
    -------
    numpy.ndarray
        Minutes, ``nan`` where fewer than ``k`` sources are within ``reach.max_minutes``.
    """
    if k < 1:
        msg = f"k must be >= 1, got {k}"
        raise InputError(Problem(msg, column="k"))
    out = np.full(reach.n_demand, np.nan)
    if reach.nnz == 0:
        return out
    order = np.lexsort((reach.minutes, reach.indices))
    counts = np.bincount(reach.indices, minlength=reach.n_demand)
    start = np.cumsum(counts) - counts
    enough = counts >= k
    out[enough] = reach.minutes[order][start[enough] + k - 1]
    return out


# ---------------------------------------------------------------------- table-level API
@dataclass(frozen=True, eq=False)
class AccessibilityResult:
    """Graded accessibility per demand unit and per community, with its parameters.

    Attributes
    ----------
    units
        Per unit and category: ``unit_id``, ``community_id``, ``category``,
        ``population_used`` (the people of the category's users), ``facilities_within``,
        ``potential`` (decay-weighted facilities), ``e2sfca_per_1000`` (supply per 1000
        people), ``minutes_kth``.
    communities
        Per community and category: ``community_id``, ``name``, ``kind``, ``township``,
        ``category``, ``population_used`` and the population-weighted mean of ``potential``
        and ``e2sfca_per_1000``, the population-weighted median ``minutes_kth``.
    parameters
        Decay, its minutes, cut-off, k, supply column, mode.
    """

    units: pd.DataFrame
    communities: pd.DataFrame
    parameters: dict[str, str] = field(default_factory=dict)

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``accessibility.csv`` (communities) and ``accessibility_parameters.csv``.

        Parameters
        ----------
        out_dir
            The output folder.

        Returns
        -------
        list of Path
            The files written.
        """
        folder = Path(out_dir)
        written = []
        params = pd.DataFrame(list(self.parameters.items()), columns=["parameter", "value"])
        for name, table in (("accessibility.csv", _rounded(self.communities)),
                            ("accessibility_parameters.csv", params)):
            written.append(write_csv_atomic(table, folder / name))
        return written


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in out.columns:
        if col in ("potential", "e2sfca_per_1000"):
            out[col] = out[col].round(4)
        elif col.startswith(("minutes", "population")):
            out[col] = out[col].round(2)
    return out


def compute_accessibility(
    net: RoutingNetwork,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    communities: pd.DataFrame,
    *,
    mode: str = "walk",
    categories: Iterable[str] | None = None,
    max_minutes: float = 30.0,
    decay: Decay = "gaussian",
    decay_minutes: float = 10.0,
    supply_column: str | None = None,
    k: int = 3,
    walk_speed_kmh: float | None = None,
    max_snap_m: float | None = None,
    category_population: Mapping[str, str] | None = None,
) -> AccessibilityResult:
    """Compute graded accessibility of every demand unit and community, category by category.

    One reach set per category (facilities x units within ``max_minutes``) feeds the
    potential, E2SFCA and k-th nearest measures.

    Parameters
    ----------
    net
        The routing network.
    units
        Demand units (``unit_id`` or ``id``, ``community_id``, ``population``, optional
        ``population_elderly`` / ``population_children``), points.
    facilities
        Facilities (``id``, ``category``, the ``supply_column`` when given), points.
    communities
        Communities (``id``, ``name``, ``kind``, ``township``) for the per-community table.
    mode
        Travel mode.
    categories
        Categories to score (default: those of the facilities, sorted).
    max_minutes
        Cut-off of the reach sets in minutes.
    decay, decay_minutes
        The distance decay (see :func:`decay_weights`).
    supply_column
        Facility column of supply for E2SFCA (``capacity_population`` or ``floor_area_m2``);
        None counts facilities (supply 1). A missing value takes the category's median.
    k
        Rank for ``minutes_kth``.
    walk_speed_kmh
        Walking speed (see :func:`deyang_geo.analysis.access.node_minutes`).
    max_snap_m
        Snapping distance (default ``settings.max_snap_m``).
    category_population
        Which unit column holds the users of a category (default: the elderly for
        ``elderly_daycare``, children for ``childrens_home``, when the units have them).

    Returns
    -------
    AccessibilityResult
        Per unit and per community.

    Raises
    ------
    InputError
        Missing columns or bad parameters (listed together).
    """
    _check_decay(decay, decay_minutes)
    net.check_mode(mode)
    problems: list[Problem] = []
    if not (np.isfinite(max_minutes) and max_minutes > 0):
        problems.append(Problem(f"max_minutes must be a positive number, got {max_minutes}",
                                column="max_minutes"))
    id_col = "unit_id" if "unit_id" in units.columns else "id"
    problems.extend(Problem("the demand units need this column", column=c)
                    for c in (id_col, "population", "community_id") if c not in units.columns)
    problems.extend(Problem("the facilities need this column", column=c)
                    for c in ("id", "category") if c not in facilities.columns)
    if supply_column is not None and supply_column not in facilities.columns:
        problems.append(Problem(f"the facilities have no supply column {supply_column!r}",
                                column=supply_column))
    if problems:
        raise InputError(problems)
    dx, dy, p = points_in_crs(units, net.crs, what="demand units")
    fx, fy, p2 = points_in_crs(facilities, net.crs, what="facilities")
    if p or p2:
        raise InputError([*p, *p2])
    limit = settings.max_snap_m if max_snap_m is None else max_snap_m
    dsnap = snap_points(net, dx, dy, mode=mode, max_snap_m=limit)
    fsnap = snap_points(net, fx, fy, mode=mode, max_snap_m=limit)
    fac_cat = facilities["category"].astype(str).to_numpy()
    cats = sorted(set(fac_cat.tolist())) if categories is None else list(categories)
    users = dict(CATEGORY_POPULATION if category_population is None else category_population)
    supply_all = (None if supply_column is None else
                  pd.to_numeric(facilities[supply_column], errors="coerce").to_numpy(float))
    pop_all = pd.to_numeric(units["population"], errors="coerce").fillna(0).to_numpy(float)

    frames = []
    for cat in cats:
        pick = np.flatnonzero((fac_cat == cat) & fsnap.snapped)
        col = users.get(cat)
        pop = pop_all
        if col is not None and col in units.columns:
            group = pd.to_numeric(units[col], errors="coerce").to_numpy(float)
            if np.isfinite(group).any():
                pop = np.nan_to_num(group)
        reach = reach_set(net, fsnap.take(pick), dsnap, mode=mode, max_minutes=max_minutes,
                          walk_speed_kmh=walk_speed_kmh)
        supply = None if supply_all is None else _filled_supply(supply_all[pick], cat,
                                                                supply_column)
        a, _ = e2sfca_scores(reach, population=pop, supply=supply, decay=decay,
                             decay_minutes=decay_minutes)
        frames.append(pd.DataFrame({
            "unit_id": units[id_col].astype(str).to_numpy(),
            "community_id": units["community_id"].astype(str).to_numpy(),
            "category": cat,
            "population_used": pop,
            "facilities_within": np.bincount(reach.indices, minlength=reach.n_demand),
            "potential": potential_scores(reach, decay=decay, decay_minutes=decay_minutes),
            "e2sfca_per_1000": a * 1000.0,
            "minutes_kth": kth_nearest_minutes(reach, k=k),
        }))
    unit_table = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["unit_id", "community_id", "category", "population_used",
                 "facilities_within", "potential", "e2sfca_per_1000", "minutes_kth"]))
    params = {"mode": mode, "max_minutes": f"{max_minutes:g}", "decay": decay,
              "decay_minutes": f"{decay_minutes:g}", "k": str(k),
              "supply": supply_column or "count (1 per facility)",
              "e2sfca_unit": f"{supply_column or 'facilities'} per 1000 people"}
    return AccessibilityResult(units=unit_table,
                               communities=aggregate_by_community(unit_table, communities),
                               parameters=params)


def _filled_supply(values: NDArray[np.float64], category: str, column: str | None
                   ) -> NDArray[np.float64]:
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return values
    known = values[~bad]
    fill = float(np.median(known)) if known.size else 1.0
    used = f"the category's median ({fill:g})" if known.size else "1 (no facility has one)"
    msg = f"{int(bad.sum())} {category} facilities have no {column}; {used} is used for them"
    warnings.warn(msg, InputWarning, stacklevel=3)
    return np.where(bad, fill, values)


def _community_frame(communities: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"community_id": communities["id"].astype(str).to_numpy(dtype=object)})
    for col in ("name", "kind", "township"):
        frame[col] = (communities[col].fillna("").astype(str).to_numpy(dtype=object)
                      if col in communities.columns else "")
    return frame


def aggregate_by_community(unit_table: pd.DataFrame, communities: pd.DataFrame
                           ) -> pd.DataFrame:
    """Aggregate a per-unit accessibility table to communities (population-weighted).

    Parameters
    ----------
    unit_table
        :attr:`AccessibilityResult.units`.
    communities
        Communities with ``id`` (and ``name``, ``kind``, ``township``).

    Returns
    -------
    pandas.DataFrame
        One row per community and category: population-weighted means of ``potential`` and
        ``e2sfca_per_1000``, the population-weighted median of ``minutes_kth`` (``nan`` when
        more than half of the people have fewer than k facilities within reach), the share of
        people with at least one facility within reach.
    """
    base = _community_frame(communities)
    if unit_table.empty:
        return base.iloc[0:0].assign(category=[], population_used=[])
    t = unit_table
    order = {c: i for i, c in enumerate(base["community_id"])}
    comm_code = t["community_id"].map(order).to_numpy(dtype=float)
    known = ~np.isnan(comm_code)
    t = t[known]
    comm_code = comm_code[known].astype(np.int64)
    cats, cat_code = np.unique(t["category"].astype(str).to_numpy(), return_inverse=True)
    key = comm_code * len(cats) + cat_code
    keys, gid = np.unique(key, return_inverse=True)
    n = keys.size
    w = t["population_used"].to_numpy(float)
    total = np.bincount(gid, weights=w, minlength=n)
    wt = np.where(total[gid] > 0, w, 1.0)  # a group without people weighs its units equally
    wsum = np.bincount(gid, weights=wt, minlength=n)

    def mean(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.bincount(gid, weights=wt * values, minlength=n) / wsum,
                          dtype=np.float64)

    agg = pd.DataFrame({
        "community_id": base["community_id"].to_numpy()[keys // len(cats)],
        "category": cats[keys % len(cats)],
        "population_used": total,
        "potential": mean(t["potential"].to_numpy(float)),
        "e2sfca_per_1000": mean(t["e2sfca_per_1000"].to_numpy(float)),
        "minutes_kth": _grouped_weighted_median(t["minutes_kth"].to_numpy(float), wt, gid, n),
        "share_with_facility_within": mean(
            (t["facilities_within"].to_numpy(float) > 0).astype(float)),
    })
    return base.merge(agg, on="community_id", how="inner", sort=False)


def _grouped_weighted_median(values: NDArray[np.float64], weights: NDArray[np.float64],
                             group: NDArray[np.int64], n: int) -> NDArray[np.float64]:
    """Weighted median per group (lower median), ``nan`` (unreached) ranking last."""
    v = np.where(np.isnan(values), np.inf, values)
    order = np.lexsort((v, group))
    g, vs, ws = group[order], v[order], weights[order]
    cum = np.cumsum(ws)
    totals = np.bincount(g, weights=ws, minlength=n)
    before = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
    within = cum - before[g]
    hit = np.flatnonzero(within >= totals[g] / 2.0 - 1e-9 * np.maximum(totals[g], 1.0))
    first_groups, first = np.unique(g[hit], return_index=True)
    out = np.full(n, np.nan)
    m = vs[hit[first]]
    out[first_groups] = np.where(np.isfinite(m), m, np.nan)
    return out


# ---------------------------------------------------------------------- completeness
def completeness(
    access: pd.DataFrame,
    units: pd.DataFrame,
    communities: pd.DataFrame,
    *,
    thresholds_minutes: Mapping[str, float],
    rural_thresholds_minutes: Mapping[str, float] | None = None,
    covered_share: float | None = None,
) -> pd.DataFrame:
    """Return the 15-minute completeness of each community.

    A category counts for a community when at least ``covered_share`` of its people reach
    it within the category's threshold (rural communities use the rural threshold when given).

    Parameters
    ----------
    access
        Minutes to the nearest facility (``demand_id, category, minutes``), as from
        :func:`deyang_geo.analysis.access.minutes_to_nearest`.
    units
        Demand units (``unit_id`` or ``id``, ``community_id``, ``population``).
    communities
        Communities (``id``, ``name``, ``kind``, ``township``).
    thresholds_minutes
        The essential categories and their thresholds (urban), e.g. from the plan's catalog.
    rural_thresholds_minutes
        Thresholds for rural communities (``kind == "rural"``); default the urban ones.
    covered_share
        Share of people from which a category counts; default ``settings.covered_share``.

    Returns
    -------
    pandas.DataFrame
        One row per community: ``community_id, name, kind, township, population,
        categories_essential, categories_within, completeness`` (their ratio),
        ``share_people_all_within`` (people who reach every essential category in time) and
        ``missing_categories`` (comma-separated).
    """
    share = settings.covered_share if covered_share is None else float(covered_share)
    cats = list(thresholds_minutes)
    if not cats:
        msg = "completeness needs at least one essential category"
        raise InputError(msg)
    id_col = "unit_id" if "unit_id" in units.columns else "id"
    unit_ids = units[id_col].astype(str).to_numpy()
    base = _community_frame(communities)
    comm_index = {c: i for i, c in enumerate(base["community_id"])}
    comm_of = np.array([comm_index.get(c, -1) for c in units["community_id"].astype(str)],
                       dtype=np.int64)
    pop = pd.to_numeric(units["population"], errors="coerce").fillna(0).to_numpy(float)
    rural = (base["kind"].to_numpy(dtype=object) == "rural")[np.maximum(comm_of, 0)]
    a = access[access["category"].isin(cats)]
    pos = pd.Series(np.arange(len(unit_ids)), index=unit_ids)
    minutes = np.full((len(unit_ids), len(cats)), np.nan)
    ui = pos.reindex(a["demand_id"].astype(str)).to_numpy()
    ci = pd.Series(np.arange(len(cats)), index=cats).reindex(a["category"]).to_numpy()
    ok = ~np.isnan(ui)
    minutes[ui[ok].astype(np.int64), ci[ok].astype(np.int64)] = a["minutes"].to_numpy(float)[ok]
    urban_t = np.array([thresholds_minutes[c] for c in cats], dtype=float)
    rural_t = np.array([(rural_thresholds_minutes or thresholds_minutes).get(
        c, thresholds_minutes[c]) for c in cats], dtype=float)
    limit = np.where(rural[:, None], rural_t[None, :], urban_t[None, :])
    within = np.nan_to_num(minutes, nan=np.inf) <= limit
    valid = comm_of >= 0
    n_comm = len(base)
    people = np.bincount(comm_of[valid], weights=pop[valid], minlength=n_comm)
    counts = np.bincount(comm_of[valid], minlength=n_comm).astype(float)
    weight = np.where(people[np.maximum(comm_of, 0)] > 0, pop, 1.0)
    denom = np.where(people > 0, people, counts)
    cat_share = np.stack([np.bincount(comm_of[valid], weights=(weight * within[:, j])[valid],
                                      minlength=n_comm) for j in range(len(cats))], axis=1)
    cat_share = np.divide(cat_share, denom[:, None], out=np.zeros_like(cat_share),
                          where=denom[:, None] > 0)
    counted = cat_share >= share
    all_within = np.bincount(comm_of[valid], weights=(weight * within.all(axis=1))[valid],
                             minlength=n_comm)
    out = base.copy()
    out["population"] = np.round(people, 2)
    out["categories_essential"] = len(cats)
    out["categories_within"] = counted.sum(axis=1)
    out["completeness"] = out["categories_within"] / len(cats)
    out["share_people_all_within"] = np.round(np.divide(
        all_within, denom, out=np.zeros(n_comm), where=denom > 0), 4)
    out["missing_categories"] = [",".join(c for c, ok in zip(cats, row, strict=True) if not ok)
                                 for row in counted]
    return out[counts > 0].reset_index(drop=True)


def plan_thresholds(catalog: Any, *, mode: str, rural_mode: str | None = None,
                    target_id: str = "T1") -> tuple[dict[str, float], dict[str, float]]:
    """Return the plan's essential categories with their urban and rural thresholds.

    The essential categories are those of the plan's 15-minute basic public service circle
    (target ``T1`` of the catalog); the urban threshold is the target's own (15 minutes),
    the rural one each category's rural threshold for ``mode`` (an assumption of the catalog).

    Parameters
    ----------
    catalog
        A :class:`deyang_geo.core.standards.Catalog`.
    mode
        Travel mode.
    rural_mode
        Travel mode of rural communities (default ``mode``).
    target_id
        The catalog target that lists the essential categories.

    Returns
    -------
    tuple of dict
        ``(urban, rural)`` thresholds in minutes by category.
    """
    target = catalog.target(target_id)
    urban: dict[str, float] = {}
    rural: dict[str, float] = {}
    for cat in target.categories:
        category = catalog.categories[cat]
        urban[cat] = float(target.threshold_minutes if target.threshold_minutes is not None
                           else category.threshold_for(mode))
        rural[cat] = float(category.threshold_for(rural_mode or mode, rural=True))
    return urban, rural
