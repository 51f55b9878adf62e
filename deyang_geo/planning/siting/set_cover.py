"""Location set covering (LSCP): the fewest new sites that cover everyone (or a target share)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from deyang_geo.core.errors import InfeasibleError, InputError
from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.common import (
    coverage_problem,
    coverage_result,
    forced_excluded_params,
    raise_if_infeasible,
    reached_units,
    reduce_candidates,
    start_vector,
    time_left,
)
from deyang_geo.planning.siting.result import (
    SitingResult,
)
from deyang_geo.planning.siting.types import CandidatePick, PerCandidate, PerUnit, Reach

__all__ = [
    "lscp",
]


# --------------------------------------------------------------------------------------------
# LSCP
# --------------------------------------------------------------------------------------------

def lscp(
    reach: Reach,
    population: PerUnit,
    *,
    target_share: float | None = None,
    costs: PerCandidate | None = None,
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
    r"""Set covering: the fewest (or least-cost) new sites reaching a target share of population.

    Formulation with ``target_share=None`` (cover every unit some allowed candidate reaches;
    ``U``: those units not covered by an existing or forced site)::

        min   sum_j cost_j x_j
        s.t.  sum_{j in N_i} x_j >= 1            for i in U
              x_j in {0, 1}

    With a ``target_share`` ``s`` (of the total population ``W``, existing coverage counted)::

        min   sum_j cost_j x_j
        s.t.  y_i <= sum_{j in N_i} x_j          for i in U
              sum_{i in U} w_i y_i >= s W - (population already covered)
              x_j in {0, 1},  0 <= y_i <= 1

    Units no allowed candidate reaches are reported (``uncoverable_population``). Identical
    units are merged and dominated candidates (covered set inside a no-dearer one's) dropped;
    the greedy cover is the MIP's start.

    Parameters
    ----------
    reach, population, costs, max_minutes, existing_covered, forced, excluded, candidate_ids,
    unit_community, time_limit_s, mip_gap, n_alternatives
        As in :func:`mclp` (``costs`` default 1: the objective counts sites).
    target_share
        Share of the total population to cover, between 0 and 1; ``None`` covers every unit
        any allowed candidate reaches.

    Returns
    -------
    SitingResult
        Objective ``sites`` (or ``cost``). Swap alternatives report the covered population
        after the swap (the count does not change).

    Raises
    ------
    InfeasibleError
        When ``target_share`` exceeds what existing and all allowed candidates can reach.
    """
    prob = coverage_problem(reach, population, max_minutes=max_minutes,
                            candidate_ids=candidate_ids, costs=costs,
                            existing_covered=existing_covered, forced=forced,
                            excluded=excluded, time_limit_s=time_limit_s)
    a, w, ids, cost_in, before = prob.a, prob.w, prob.ids, prob.costs, prob.before
    forced_m, excl, forced_idx = prob.forced, prob.excluded, prob.forced_idx
    t0, time_limit_s = prob.t0, prob.time_limit_s
    n = a.shape[0]
    cost = np.ones(n) if cost_in is None else cost_in
    allowed_idx = np.flatnonzero(~excl & ~forced_m).astype(np.int64)
    base = before | _core.covered_columns(a, forced_idx)
    a_allowed = sp.csr_array(a[allowed_idx])
    reachable = reached_units(a_allowed)
    uncoverable = ~base & ~reachable
    total = float(w.sum())
    need: float | None = None
    if target_share is not None:
        if not 0.0 <= target_share <= 1.0:
            msg = f"target_share must be between 0 and 1, got {target_share}"
            raise InputError(msg)
        best_share = float(w[base | reachable].sum()) / total if total > 0 else 1.0
        if target_share > best_share + 1e-12:
            msg = (f"target share {target_share:.1%} cannot be reached: existing facilities and "
                   f"every allowed candidate together reach {best_share:.1%}; "
                   f"{int(uncoverable.sum())} demand units ({w[uncoverable].sum():g} people) "
                   "are out of reach of every candidate")
            raise InfeasibleError(msg)
        need = target_share * total - float(w[base].sum())
    cost_allowed = cost[allowed_idx]
    r, wr, keep_c, reductions = reduce_candidates(a_allowed, w, reachable & ~base,
                                                   cost_allowed, n)
    cr = cost_allowed[keep_c]
    nr, mr = r.shape
    if need is None:
        unit = np.ones(mr)
        g = _core.greedy_cover(r, unit, costs=cr, need=float(mr))
    else:
        g = _core.greedy_cover(r, wr, costs=cr, need=max(need, 0.0))
    greedy_cost = float(cr[g].sum())
    if mr == 0 or (need is not None and need <= 1e-9):
        sites, obj, bound, status = np.zeros(0, dtype=np.int64), 0.0, 0.0, "optimal"
    else:
        if need is None:
            matrix = sp.csr_array(r.T)
            model = (cr, matrix, (np.ones(mr), np.full(mr, np.inf)), (np.zeros(nr), np.ones(nr)))
            integer = np.ones(nr, dtype=bool)
            start = np.zeros(nr)
            start[g] = 1.0
        else:
            link = sp.hstack([-sp.csr_array(r.T), sp.eye_array(mr, format="csr")], format="csr")
            row = sp.csr_array(np.r_[np.zeros(nr), wr].reshape(1, -1))
            matrix = sp.vstack([link, row], format="csr")
            model = (np.r_[cr, np.zeros(mr)], matrix,
                     (np.r_[np.full(mr, -np.inf), need], np.r_[np.zeros(mr), np.inf]),
                     (np.zeros(nr + mr), np.ones(nr + mr)))
            integer = np.r_[np.ones(nr, dtype=bool), np.zeros(mr, dtype=bool)]
            start = start_vector(r, g)
        sol = _solve.solve(*model, integer=integer, maximize=False,
                           time_limit_s=time_left(t0, time_limit_s),
                           deadline=t0 + time_limit_s, mip_rel_gap=mip_gap, start=start)
        raise_if_infeasible(sol, "the set-covering model is infeasible")
        if np.all(np.isfinite(sol.x)):
            sites = np.flatnonzero(sol.x[:nr] > 0.5).astype(np.int64)
            obj = float(cr[sites].sum())
            if obj >= greedy_cost - 1e-9:
                sites, obj = g, greedy_cost
        else:
            sites, obj = g, greedy_cost
        bound = min(obj, sol.bound) if math.isfinite(sol.bound) else 0.0
        status = "optimal" if obj - bound <= 1e-9 * max(1.0, obj) else sol.status
    fixed_cost = float(cost[forced_idx].sum())
    chosen = np.sort(np.r_[forced_idx, allowed_idx[keep_c[sites]]]).astype(np.int64)
    params = {"target_share": target_share, "max_minutes": max_minutes,
              "time_limit_s": time_limit_s, "mip_gap": mip_gap,
              **forced_excluded_params(ids, forced_m, excl)}
    return coverage_result(
        "lscp", a, w, before, chosen, ids=ids, objective=fixed_cost + obj,
        bound=fixed_cost + bound, status=status, greedy=fixed_cost + greedy_cost, t0=t0,
        params=params, reductions=reductions, allowed=~excl, uncoverable=uncoverable,
        unit_community=unit_community, n_alternatives=n_alternatives,
        objective_name="sites" if cost_in is None else "cost", swap_base=0.0)

