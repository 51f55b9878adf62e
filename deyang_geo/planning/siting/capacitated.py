"""Capacitated coverage: sites whose capacity limits the people each may serve."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from deyang_geo.core.errors import InfeasibleError, InputError
from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.common import (
    FloatArray,
    IntArray,
    check_forced_count,
    check_one_limit,
    coverage_problem,
    coverage_result,
    forced_excluded_params,
    raise_if_infeasible,
    reached_units,
    serve_from_site,
    time_left,
)
from deyang_geo.planning.siting.result import (
    SitingResult,
    coverage_swaps,
)
from deyang_geo.planning.siting.types import CandidatePick, PerCandidate, PerUnit, Reach

log = logging.getLogger("deyang_geo")

__all__ = [
    "capacitated_coverage",
]


# --------------------------------------------------------------------------------------------
# capacitated coverage
# --------------------------------------------------------------------------------------------

def _capacity(capacity_population: PerCandidate | None, floor_area_m2: PerCandidate | None,
              m2_per_person: float | None, n: int) -> FloatArray:
    if capacity_population is not None:
        return _core.as_weights(capacity_population, n, name="capacity_population")
    if floor_area_m2 is None or m2_per_person is None or m2_per_person <= 0:
        msg = ("give capacity_population, or floor_area_m2 with m2_per_person (a per-capita "
               "floor-area standard > 0)")
        raise InputError(msg)
    return _core.as_weights(floor_area_m2, n, name="floor_area_m2") / float(m2_per_person)


def _served_lp(a: sp.csr_array, w: FloatArray, cap: FloatArray, sites: IntArray, *,
               deadline: float) -> float:
    """Return the population the open ``sites`` can serve within reach and capacity (LP).

    NaN when the LP is not solved by ``deadline`` (a ``time.perf_counter()`` value).
    """
    if len(sites) == 0:
        return 0.0
    sub = sp.coo_array(a[np.asarray(sites, dtype=np.int64)])
    r = np.asarray(sub.row, dtype=np.int64)
    c = np.asarray(sub.col, dtype=np.int64)
    ne = r.size
    if ne == 0:
        return 0.0
    m = a.shape[1]
    k = len(sites)
    matrix = sp.vstack([
        sp.csr_array((np.ones(ne), (c, np.arange(ne))), shape=(m, ne)),
        sp.csr_array((w[c], (r, np.arange(ne))), shape=(k, ne)),
    ], format="csr")
    sol = _solve.solve(w[c], matrix, (np.full(m + k, -np.inf),
                       np.r_[np.ones(m), cap[np.asarray(sites, dtype=np.int64)]]),
                       (np.zeros(ne), np.ones(ne)), integer=None, maximize=True,
                       time_limit_s=max(deadline - time.perf_counter(), 0.0), deadline=deadline,
                       lp_method="simplex")
    return float(sol.objective) if sol.status == "optimal" else math.nan


def capacitated_coverage(
    reach: Reach,
    population: PerUnit,
    *,
    new_sites: int | None = None,
    budget: float | None = None,
    costs: PerCandidate | None = None,
    capacity_population: PerCandidate | None = None,
    floor_area_m2: PerCandidate | None = None,
    m2_per_person: float | None = None,
    max_minutes: float | None = None,
    existing_covered: PerUnit | None = None,
    forced: CandidatePick | None = None,
    excluded: CandidatePick | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: PerUnit | None = None,
    time_limit_s: float | None = None,
    mip_gap: float = 0.0,
    n_alternatives: int = 3,
) -> SitingResult:
    r"""Capacitated maximal covering: each new site serves at most its capacity in people.

    Capacity ``Q_j`` comes from ``capacity_population`` or from ``floor_area_m2 /
    m2_per_person`` (a per-capita floor-area standard of the catalog). Demand already
    covered by an existing facility is taken as served by it. With ``z_ij`` the share of unit
    ``i`` served by site ``j``::

        max   sum_i sum_{j in N_i} w_i z_ij
        s.t.  sum_{j in N_i} z_ij <= 1           for every uncovered unit i
              sum_i w_i z_ij <= Q_j x_j           for every candidate j
              z_ij <= x_j                         (strengthening)
              sum_j x_j <= N                      (or  sum_j cost_j x_j <= B)
              x_j in {0, 1},  z_ij >= 0

    Units with identical candidate sets are merged (a merged unit may be split, so this is
    exact). Swap alternatives are screened by coverage and evaluated exactly by an LP.

    Parameters
    ----------
    reach, population, new_sites, budget, costs, max_minutes, existing_covered, forced,
    excluded, candidate_ids, unit_community, time_limit_s, mip_gap, n_alternatives
        As in :func:`mclp`.
    capacity_population
        People each candidate can serve.
    floor_area_m2, m2_per_person
        Alternative to ``capacity_population``: capacity = floor area / m2 per person.

    Returns
    -------
    SitingResult
        Objective ``served_population``; ``sites`` has ``assigned_population`` and
        ``capacity_population``.
    """
    prob = coverage_problem(reach, population, max_minutes=max_minutes,
                            candidate_ids=candidate_ids, costs=costs,
                            existing_covered=existing_covered, forced=forced,
                            excluded=excluded, time_limit_s=time_limit_s)
    a, w, ids, before = prob.a, prob.w, prob.ids, prob.before
    forced_m, excl = prob.forced, prob.excluded
    t0, time_limit_s = prob.t0, prob.time_limit_s
    n, m = a.shape
    cap = _capacity(capacity_population, floor_area_m2, m2_per_person, n)
    check_one_limit(new_sites, budget)
    cost = np.ones(n) if prob.costs is None else prob.costs
    check_forced_count(int(forced_m.sum()), new_sites)
    if budget is not None and float(cost[forced_m].sum()) > budget + 1e-9:
        msg = f"forced sites cost more than the budget {budget:g}"
        raise InfeasibleError(msg)
    use_idx = np.flatnonzero(~excl).astype(np.int64)
    sub = sp.csr_array(a[use_idx])
    reachable = reached_units(sub)
    mg = _core.merge_identical_columns(sub, w, reachable & ~before)
    coo = sp.coo_array(mg.a)
    er = np.asarray(coo.row, dtype=np.int64)
    ec = np.asarray(coo.col, dtype=np.int64)
    nr, mr = mg.a.shape
    ne = er.size
    wg = mg.weights
    cr = cap[use_idx]
    # greedy: open the site serving most remaining demand (per cost with a budget)
    remaining = wg.copy()
    z_start = np.zeros(ne)
    chosen_local: list[int] = [int(j) for j in np.flatnonzero(forced_m[use_idx])]
    for j in chosen_local:
        serve_from_site(er, ec, remaining, z_start, wg, j=j, cap=float(cr[j]))
    spent = float(cost[use_idx][chosen_local].sum())
    limit = nr if new_sites is None else int(new_sites)
    while len(chosen_local) < limit:
        reach_w = np.bincount(er, weights=remaining[ec], minlength=nr)
        score = np.minimum(reach_w, cr)
        score[chosen_local] = -1.0
        if budget is not None:
            score = np.where(spent + cost[use_idx] <= budget + 1e-9,
                             score / np.maximum(cost[use_idx], 1e-12), -1.0)
        j = int(np.argmax(score))
        if score[j] <= 1e-12:
            break
        chosen_local.append(j)
        spent += float(cost[use_idx][j])
        serve_from_site(er, ec, remaining, z_start, wg, j=j, cap=float(cr[j]))
    greedy_obj = float((wg - remaining).sum())
    # MIP
    xcol = np.arange(nr)
    dem = sp.csr_array((np.ones(ne), (ec, nr + np.arange(ne))), shape=(mr, nr + ne))
    capr = sp.csr_array((np.r_[wg[ec], -cr], (np.r_[er, xcol], np.r_[nr + np.arange(ne), xcol])),
                        shape=(nr, nr + ne))
    link = sp.csr_array((np.r_[np.ones(ne), -np.ones(ne)],
                         (np.r_[np.arange(ne), np.arange(ne)], np.r_[nr + np.arange(ne), er])),
                        shape=(ne, nr + ne))
    lim_row = np.r_[np.ones(nr) if new_sites is not None else cost[use_idx], np.zeros(ne)]
    lim = float(new_sites) if new_sites is not None else float(budget or 0.0)
    matrix = sp.vstack([dem, capr, link, sp.csr_array(lim_row.reshape(1, -1))], format="csr")
    row_lo = np.full(mr + nr + ne + 1, -np.inf)
    row_hi = np.r_[np.ones(mr), np.zeros(nr), np.zeros(ne), lim]
    col_lo = np.r_[forced_m[use_idx].astype(np.float64), np.zeros(ne)]
    start = np.zeros(nr + ne)
    start[chosen_local] = 1.0
    start[nr:] = z_start
    status = "optimal"
    sites_local = np.asarray(sorted(chosen_local), dtype=np.int64)
    objective, bound = greedy_obj, greedy_obj
    if ne:
        mip_share = 0.9 if n_alternatives > 0 else 1.0  # the rest for the swap LPs
        sol = _solve.solve(np.r_[np.zeros(nr), wg[ec]], matrix, (row_lo, row_hi),
                           (col_lo, np.ones(nr + ne)), integer=np.r_[np.ones(nr, dtype=bool),
                                                           np.zeros(ne, dtype=bool)],
                           maximize=True, time_limit_s=time_left(t0, mip_share * time_limit_s),
                           deadline=t0 + mip_share * time_limit_s,
                           mip_rel_gap=mip_gap, start=start)
        raise_if_infeasible(sol, "the capacitated model is infeasible")
        if np.all(np.isfinite(sol.x)) and sol.objective > greedy_obj + 1e-9:
            sites_local = np.flatnonzero(sol.x[:nr] > 0.5).astype(np.int64)
            objective = float(sol.objective)
            z_start = sol.x[nr:]
        bound = max(objective, sol.bound) if math.isfinite(sol.bound) else objective
        status = "optimal" if bound - objective <= 1e-6 * max(1.0, objective) else sol.status
    assigned_local = np.bincount(er, weights=wg[ec] * z_start, minlength=nr)
    chosen = use_idx[sites_local]
    params = {"new_sites": new_sites, "budget": budget, "max_minutes": max_minutes,
              "m2_per_person": m2_per_person, "time_limit_s": time_limit_s, "mip_gap": mip_gap,
              **forced_excluded_params(ids, forced_m, excl)}
    swaps: list[tuple[int, list[tuple[int, float]]]] = []
    if n_alternatives > 0 and chosen.size:
        # one LP per screened swap, out of the same budget (the MIP left them a tenth of it)
        screen = coverage_swaps(a, np.where(before, 0.0, w), before, chosen, allowed=~excl,
                                k=n_alternatives + 3)
        skipped = 0
        for s, alts in screen:
            vals = []
            for alt, _ in alts:
                trial = np.where(chosen == s, alt, chosen)
                val = _served_lp(a, np.where(before, 0.0, w), cap, trial,
                                 deadline=t0 + time_limit_s)
                if math.isnan(val):
                    skipped += 1
                else:
                    vals.append((alt, val))
            vals.sort(key=lambda t: (-t[1], t[0]))
            swaps.append((s, vals[:n_alternatives]))
        if skipped:
            log.warning("capacitated model: %d swap alternatives not evaluated within the "
                        "time limit of %g s", skipped, time_limit_s)
    result = coverage_result(
        "capacitated", a, w, before, chosen, ids=ids, objective=objective, bound=bound,
        status=status, greedy=greedy_obj, t0=t0, params=params,
        reductions={"demand_units": m, "demand_columns_after": int(mr), "candidates": n},
        allowed=~excl, uncoverable=~before & ~reachable, unit_community=unit_community,
        n_alternatives=n_alternatives, objective_name="served_population",
        extra_columns={"assigned_population": assigned_local[sites_local].tolist(),
                       "capacity_population": cr[sites_local].tolist()}, swaps=swaps)
    return replace(result, covered_population_after=float(w[before].sum()) + objective)

