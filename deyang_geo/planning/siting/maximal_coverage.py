"""Maximal covering location (MCLP): the most people covered by p new sites, existing kept."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from deyang_geo.core.errors import InfeasibleError, InputError
from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.common import (
    BoolArray,
    FloatArray,
    IntArray,
    check_forced_count,
    check_one_limit,
    coverage_problem,
    coverage_result,
    forced_excluded_params,
    gap_target,
    integral,
    raise_if_infeasible,
    reached_units,
    reduce_candidates,
    start_vector,
)
from deyang_geo.planning.siting.result import (
    SitingResult,
)
from deyang_geo.planning.siting.types import CandidatePick, PerCandidate, PerUnit, Reach

__all__ = [
    "mclp",
]


#: Above this many reach entries the cardinality MCLP starts with a subgradient phase.
_SUBGRADIENT_NNZ = 1_000_000

#: Above this many reach entries the cardinality MCLP also bounds the LP with PDLP, gives
#: it this share of the time left, and the restarted search this share of what is left then.
_PDLP_NNZ = 200_000
_PDLP_SHARE = 0.45
_BIG_SEARCH_SHARE = 0.6

#: A big model whose bound leaves more than this share of its candidates free skips the
#: exact phase (LP and MIP would not finish) and searches until the deadline instead.
_BIG_FREE_SHARE = 0.5

#: Share of the time left that the perturbed swap search for a better start may use.
_SEARCH_SHARE = 0.2


def _mclp_model(a: sp.csr_array, w: FloatArray, *, p: int | None, costs: FloatArray | None,
                budget: float | None) -> tuple[FloatArray, sp.csr_array,
                                               tuple[FloatArray, FloatArray],
                                               tuple[FloatArray, FloatArray], BoolArray]:
    n, m = a.shape
    link = sp.hstack([-sp.csr_array(a.T), sp.eye_array(m, format="csr")], format="csr")
    if p is not None:
        cap_row = sp.csr_array(np.r_[np.ones(n), np.zeros(m)].reshape(1, -1))
        cap = float(p)
    else:
        assert costs is not None
        assert budget is not None
        cap_row = sp.csr_array(np.r_[costs, np.zeros(m)].reshape(1, -1))
        cap = float(budget)
    matrix = sp.vstack([link, cap_row], format="csr")
    cost = np.r_[np.zeros(n), w]
    row_lo = np.full(m + 1, -np.inf)
    row_hi = np.r_[np.zeros(m), cap]
    integer = np.r_[np.ones(n, dtype=bool), np.zeros(m, dtype=bool)]
    return cost, matrix, (row_lo, row_hi), (np.zeros(n + m), np.ones(n + m)), integer


def _solve_mclp_mip(a: sp.csr_array, w: FloatArray, sites0: IntArray, *, p: int | None,
                    costs: FloatArray | None, budget: float | None, deadline: float,
                    mip_gap: float, stop_at: float | None = None) -> tuple[IntArray, float,
                                                                         float, str]:
    """Solve the MCLP MIP on ``a`` directly; return sites, objective, bound, status.

    HiGHS stops at ``deadline`` (a ``time.perf_counter()`` value), at its own ``mip_gap`` or
    once its incumbent covers ``stop_at`` (a target proven good enough by an outside bound).
    """
    inc = _core.covered_weight(a, w, sites0)
    if deadline - time.perf_counter() <= 0.0:  # no time left: keep the start
        return sites0, inc, float(w.sum()), "time_limit"
    model = _mclp_model(a, w, p=p, costs=costs, budget=budget)
    sol = _solve.solve(*model[:4], integer=model[4], maximize=True,
                       time_limit_s=max(deadline - time.perf_counter(), 0.0), deadline=deadline,
                       mip_rel_gap=mip_gap, start=start_vector(a, sites0), stop_at=stop_at)
    raise_if_infeasible(sol, "the covering model is infeasible")
    if not np.all(np.isfinite(sol.x)):
        return sites0, inc, sol.bound if math.isfinite(sol.bound) else float(w.sum()), sol.status
    sites = np.flatnonzero(sol.x[: a.shape[0]] > 0.5).astype(np.int64)
    obj = _core.covered_weight(a, w, sites)
    if obj <= inc + 1e-9:
        sites, obj = sites0, inc
    bound = max(min(sol.bound, float(w.sum())), obj)
    return sites, obj, bound, sol.status


def _lagrangian_fixing(c: FloatArray, order: IntArray, lag: float, p: int, *, inc: float,
                       step: float) -> tuple[BoolArray, BoolArray]:
    """Candidates that no solution better than ``inc`` opens (closes), from ``L(lam)``.

    Opening ``j`` outside the top ``p`` of ``c`` costs at least ``c_p - c_j``; closing one
    inside costs at least ``c_j - c_(p+1)``: if the bound left is below ``inc + step``, no
    strictly better solution does it.
    """
    n = c.size
    cpos = np.maximum(c, 0.0)
    in_top = np.zeros(n, dtype=bool)
    in_top[order[:p]] = True
    cp = cpos[order[p - 1]]
    cp1 = cpos[order[p]] if p < n else 0.0
    ub_open = np.where(in_top, lag, lag - (cp - cpos))
    ub_closed = np.where(in_top, lag - (cpos - cp1), lag)
    return ub_open < inc + step, ub_closed < inc + step


def _fixed_subproblem(a: sp.csr_array, w: FloatArray, fixed0: BoolArray, fixed1: BoolArray,
                      p: int) -> tuple[IntArray, IntArray, int, _core.Merged, float] | None:
    """Return what is left once ``fixed0`` are closed and ``fixed1`` opened.

    Returns the free candidates, the fixed-open ones, the sites left to open, the free
    candidates' reach set on the demand the fixed-open ones leave (identical columns merged)
    and the weight those cover; ``None`` when nothing is left to decide.
    """
    free = np.flatnonzero(~fixed0 & ~fixed1)
    ones = np.flatnonzero(fixed1)
    p_left = p - ones.size
    if p_left < 0 or free.size == 0:
        return None
    base = _core.covered_columns(a, ones)
    sub = sp.csr_array(a[free])
    mg = _core.merge_identical_columns(sub, w, reached_units(sub) & ~base)
    return free, ones, p_left, mg, float(w[base].sum())


def _subproblem_start(inc_sites: IntArray, free: IntArray, ones: IntArray,
                      mg: _core.Merged, p_left: int) -> IntArray:
    """Return the incumbent in the fixed subproblem's numbering if fixing kept it, else greedy."""
    if bool(np.all(np.isin(ones, inc_sites))) and bool(
            np.all(np.isin(inc_sites, np.r_[free, ones]))):
        return np.searchsorted(free, inc_sites[np.isin(inc_sites, free)]).astype(np.int64)
    return _core.greedy_cover(mg.a, mg.weights, max_sites=p_left)


def _keep_better(a: sp.csr_array, w: FloatArray, sites: IntArray, inc_sites: IntArray,
                 inc: float) -> tuple[IntArray, float]:
    """``sites`` and their covered weight if strictly better than the incumbent, else it."""
    val = _core.covered_weight(a, w, sites)
    if val > inc + 1e-9:
        return sites, val
    return inc_sites, inc


def _pdlp_bound(a: sp.csr_array, w: FloatArray, p: int, *,
                deadline: float) -> tuple[float, FloatArray] | None:
    """``L(lam)`` and ``lam`` from the LP relaxation's duals found by PDLP by ``deadline``.

    PDLP's duals when its time runs out are approximate, but ``L`` is evaluated exactly for
    them (clipped to ``[0, w]``), so the bound is valid; ``None`` when no duals came back.
    """
    m = a.shape[1]
    left = deadline - time.perf_counter()
    if left <= 0:
        return None
    model = _mclp_model(a, w, p=p, costs=None, budget=None)
    lp = _solve.solve(*model[:4], integer=None, maximize=True, time_limit_s=left,
                      deadline=deadline, lp_method="pdlp")
    if lp.row_duals.size != m + 1 or not np.all(np.isfinite(lp.row_duals)):
        return None
    best: tuple[float, FloatArray] | None = None
    for sign in (1.0, -1.0):
        lam = np.clip(sign * lp.row_duals[:m], 0.0, w)
        val, _, _ = _core.lagrangian_bound(a, w, lam, p)
        if best is None or val < best[0]:
            best = (val, lam)
    return best


def _restarted_search(a: sp.csr_array, w: FloatArray, sites: IntArray, *,
                      target: float | None, deadline: float, restarts: bool) -> IntArray:
    """Run the perturbed swap search from ``sites``, restarted when it stalls.

    With ``restarts``, each stalled search is followed by another with a new seed from the
    best cover found, until ``deadline`` or ``target``; without, one search as before.
    """
    best = _core.perturbed_swap_search(a, w, sites, target=target, deadline=deadline)
    if not restarts:
        return best
    best_val = _core.covered_weight(a, w, best)
    seed = 20180420
    while time.perf_counter() < deadline and (target is None or best_val < target):
        seed += 1
        trial = _core.perturbed_swap_search(a, w, best, target=target, deadline=deadline,
                                            seed=seed)
        best, best_val = _keep_better(a, w, trial, best, best_val)
    return best


def _solve_mclp_cardinality(a: sp.csr_array, w: FloatArray, sites0: IntArray, p: int, *,
                            deadline: float, mip_gap: float) -> tuple[IntArray, float,
                                                                    float, str]:
    """Cardinality MCLP: a subgradient Lagrangian phase on big or gap-tolerant instances.

    The Lagrangian bound (subgradient on the multipliers of ``y_i <= sum_j a_ji x_j``) may
    prove the requested gap at once; otherwise a perturbed swap search improves the start
    (until the gap is proven or a share of the time is spent), then the bound fixes
    candidates and the LP-based exact
    phase (:func:`_solve_mclp_exact`) runs on what is left, stopping as soon as the
    requested gap is proven against the better of both bounds.
    """
    n = a.shape[0]
    total = float(w.sum())
    inc_sites = np.asarray(sites0, dtype=np.int64)
    inc = _core.covered_weight(a, w, inc_sites)
    if p >= n or inc >= total - 1e-9 or p == 0:
        sites = np.arange(n, dtype=np.int64) if p >= n else inc_sites
        return sites, _core.covered_weight(a, w, sites), (
            _core.covered_weight(a, w, sites) if p < n else total), "optimal"
    if mip_gap <= 0 and a.nnz <= _SUBGRADIENT_NNZ:
        return _solve_mclp_exact(a, w, inc_sites, p, deadline=deadline, mip_gap=mip_gap)
    step = 1.0 - 1e-6 if integral(w) else 1e-9 * max(1.0, total)
    lag, lam = _core.subgradient_bound(
        a, w, p, inc, time_limit_s=0.5 * max(deadline - time.perf_counter(), 0.0),
        stop_gap=mip_gap)
    bound = min(total, math.floor(lag + 1e-6) if integral(w) else lag)
    if _solve.relative_gap(inc, bound) <= max(mip_gap, 1e-12) or inc >= bound - 1e-9:
        return inc_sites, inc, max(inc, bound), ("optimal" if inc >= bound - 1e-9
                                                 else "gap_reached")
    big = a.nnz > _PDLP_NNZ
    if big:  # a first-order LP: a tighter bound than the subgradient's, at any moment
        got = _pdlp_bound(a, w, p, deadline=time.perf_counter() + _PDLP_SHARE * max(
            deadline - time.perf_counter(), 0.0))
        if got is not None and got[0] < lag:
            lag, lam = got
            bound = min(total, math.floor(lag + 1e-6) if integral(w) else lag)
        if _solve.relative_gap(inc, bound) <= max(mip_gap, 1e-12) or inc >= bound - 1e-9:
            return inc_sites, inc, max(inc, bound), ("optimal" if inc >= bound - 1e-9
                                                     else "gap_reached")
    # the exact phase only pays when the bound fixes most candidates; when it fixes under
    # half of a big model's, its LP and MIP would not finish: the search gets all the time
    share = _SEARCH_SHARE
    hopeless = False
    if big:
        _, c, order = _core.lagrangian_bound(a, w, lam, p)
        fixed0, fixed1 = _lagrangian_fixing(c, order, lag, p, inc=inc, step=step)
        hopeless = int((~fixed0 & ~fixed1).sum()) > _BIG_FREE_SHARE * n
        share = 1.0 if hopeless else _BIG_SEARCH_SHARE
    if inc_sites.size == p:  # not proven: a better start (stopping once the gap is proven)
        better = _restarted_search(
            a, w, inc_sites, target=gap_target(bound, mip_gap) if mip_gap > 0 else None,
            deadline=time.perf_counter() + share * max(deadline - time.perf_counter(), 0.0),
            restarts=big)
        inc_sites, inc = _keep_better(a, w, better, inc_sites, inc)
        if _solve.relative_gap(inc, bound) <= max(mip_gap, 1e-12) or inc >= bound - 1e-9:
            return inc_sites, inc, max(inc, bound), ("optimal" if inc >= bound - 1e-9
                                                     else "gap_reached")
    if hopeless:
        return inc_sites, inc, max(inc, bound), "time_limit"
    _, c, order = _core.lagrangian_bound(a, w, lam, p)
    fixed0, fixed1 = _lagrangian_fixing(c, order, lag, p, inc=inc, step=step)
    rest = _fixed_subproblem(a, w, fixed0, fixed1, p)
    if rest is None:
        return inc_sites, inc, inc, "optimal"
    free, ones, p_left, mg, const = rest
    r_start = _subproblem_start(inc_sites, free, ones, mg, p_left)
    r_sites, _, r_bound, status = _solve_mclp_cardinality_exact_or_trivial(
        mg.a, mg.weights, r_start, p_left, deadline=deadline, mip_gap=mip_gap, offset=const,
        outer_bound=bound)
    inc_sites, inc = _keep_better(a, w, np.sort(np.r_[ones, free[r_sites]]).astype(np.int64),
                                  inc_sites, inc)
    final_bound = max(inc, min(bound, max(inc, const + r_bound)))
    if inc >= final_bound - 1e-9 * max(1.0, total):
        status = "optimal"
    elif _solve.relative_gap(inc, final_bound) <= mip_gap:
        status = "gap_reached"
    elif status in ("optimal", "gap_reached"):  # proven on the fixed part, not on the whole
        status = "time_limit"
    return inc_sites, inc, final_bound, status


def _solve_mclp_cardinality_exact_or_trivial(
        a: sp.csr_array, w: FloatArray, sites0: IntArray, p: int, *, deadline: float,
        mip_gap: float, offset: float = 0.0,
        outer_bound: float = math.inf) -> tuple[IntArray, float, float, str]:
    n = a.shape[0]
    if p >= n or a.shape[1] == 0:
        sites = np.arange(n, dtype=np.int64)
        val = _core.covered_weight(a, w, sites)
        return sites, val, val, "optimal"
    return _solve_mclp_exact(a, w, sites0, p, deadline=deadline, mip_gap=mip_gap,
                             offset=offset, outer_bound=outer_bound)


def _solve_mclp_exact(a: sp.csr_array, w: FloatArray, sites0: IntArray, p: int, *,
                      deadline: float, mip_gap: float, offset: float = 0.0,
                      outer_bound: float = math.inf) -> tuple[IntArray, float, float, str]:
    """Exact cardinality MCLP: LP duals -> Lagrangian bound -> fixing -> small MIP.

    1. the LP relaxation (interior point, no crossover) gives multipliers ``lam`` for the
       rows ``y_i <= sum_j a_ji x_j``; the Lagrangian ``L(lam)`` is evaluated exactly, so it
       is a valid bound whatever the LP accuracy;
    2. a MIP restricted to the candidates the LP uses (plus the incumbent's) improves the
       incumbent;
    3. Lagrangian fixing: a candidate whose forced opening (or closing) pushes ``L`` below
       what a strictly better solution needs is fixed closed (open);
    4. the MIP on the remaining candidates (identical columns merged again) with the incumbent
       as start; the global bound is ``max(incumbent, bound of that MIP)``.

    Every step stops the search as soon as ``mip_gap`` is proven. When this is the fixed part
    of a bigger problem, ``offset`` is the weight the fixed-open sites cover and
    ``outer_bound`` the bigger problem's bound: the gap is measured on the whole,
    ``relative_gap(offset + objective, min(outer_bound, offset + bound))``.
    """
    n, m = a.shape
    total = float(w.sum())
    inc_sites = np.asarray(sites0, dtype=np.int64)
    inc = _core.covered_weight(a, w, inc_sites)
    if p >= n or inc >= total - 1e-9:
        sites = np.arange(n, dtype=np.int64) if p >= n else inc_sites
        return sites, _core.covered_weight(a, w, sites), total, "optimal"
    step = 1.0 - 1e-6 if integral(w) else 1e-9 * max(1.0, total)

    def left() -> float:
        return max(deadline - time.perf_counter(), 0.0)

    def proven(obj: float, bnd: float) -> bool:
        return mip_gap > 0 and _solve.relative_gap(offset + obj, offset + bnd) <= mip_gap

    def target(bnd: float) -> float | None:
        return gap_target(offset + bnd, mip_gap) - offset if mip_gap > 0 else None

    model = _mclp_model(a, w, p=p, costs=None, budget=None)
    # big models: PDLP, stopped half-way through the time left with usable duals (interior
    # point gives nothing when stopped and took 20 s of CPU on the clustered 20,000 x 5,000)
    pdlp = a.nnz > _PDLP_NNZ
    lp = _solve.solve(*model[:4], integer=None, maximize=True,
                      time_limit_s=left() / 2 if pdlp else left(), deadline=deadline,
                      lp_method="pdlp" if pdlp else "ipm")
    bound = min(total, outer_bound - offset)
    lag = math.inf
    c = order = None
    if lp.row_duals.size == m + 1:
        for sign in (1.0, -1.0):
            val, cc, oo = _core.lagrangian_bound(a, w, sign * lp.row_duals[:m], p)
            if val < lag:
                lag, c, order = val, cc, oo
        bound = min(bound, lag)
    if integral(w):
        bound = math.floor(bound + 1e-6)
    if proven(inc, bound) and inc < bound - 1e-9 * max(1.0, total):
        return inc_sites, inc, max(inc, bound), "gap_reached"
    if math.isfinite(lp.objective) and np.all(np.isfinite(lp.x)):
        support = np.union1d(np.flatnonzero(lp.x[:n] > 1e-6), inc_sites).astype(np.int64)
        if support.size > p and left() > 0:
            sub = sp.csr_array(a[support])
            mg = _core.merge_identical_columns(sub, w, reached_units(sub))
            local0 = np.searchsorted(support, inc_sites).astype(np.int64)
            # the support's own bound proves nothing globally: stop at the global target
            s_sites, _, _, _ = _solve_mclp_mip(
                mg.a, mg.weights, local0, p=p, costs=None, budget=None,
                deadline=min(deadline, time.perf_counter() + max(left() / 4, 0.5)), mip_gap=0.0,
                stop_at=target(bound))
            inc_sites, inc = _keep_better(a, w, support[s_sites], inc_sites, inc)
    if inc >= bound - 1e-9 * max(1.0, total):
        return inc_sites, inc, max(inc, bound), "optimal"
    if proven(inc, bound):
        return inc_sites, inc, max(inc, bound), "gap_reached"
    fixed0 = np.zeros(n, dtype=bool)
    fixed1 = np.zeros(n, dtype=bool)
    if c is not None and order is not None:
        fixed0, fixed1 = _lagrangian_fixing(c, order, lag, p, inc=inc, step=step)
    rest = _fixed_subproblem(a, w, fixed0, fixed1, p)
    if rest is None:
        return inc_sites, inc, inc, "optimal"
    free, ones, p_left, mg, const = rest
    local0 = _subproblem_start(inc_sites, free, ones, mg, p_left)
    if p_left >= free.size:
        chosen = np.r_[ones, free].astype(np.int64)
        val = _core.covered_weight(a, w, chosen)
        if val > inc:
            inc_sites, inc = np.sort(chosen), val
        return inc_sites, inc, max(inc, min(bound, const + float(mg.weights.sum()))), "optimal"
    r_target = target(bound)
    r_sites, _, r_bound, status = _solve_mclp_mip(
        mg.a, mg.weights, local0, p=p_left, costs=None, budget=None, deadline=deadline,
        mip_gap=mip_gap, stop_at=None if r_target is None else r_target - const)
    inc_sites, inc = _keep_better(a, w, np.sort(np.r_[ones, free[r_sites]]).astype(np.int64),
                                  inc_sites, inc)
    final_bound = min(bound, max(inc, const + r_bound))
    if inc >= final_bound - 1e-9 * max(1.0, total):
        status = "optimal"
    elif proven(inc, final_bound):
        status = "gap_reached"
    return inc_sites, inc, max(inc, final_bound), status


# --------------------------------------------------------------------------------------------
# MCLP
# --------------------------------------------------------------------------------------------

def mclp(
    reach: Reach,
    population: PerUnit,
    *,
    new_sites: int | None = None,
    budget: float | None = None,
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
    r"""Maximal covering: open new sites that bring the most uncovered population within reach.

    Formulation (``N_i``: candidates reaching demand unit ``i``; ``U``: units not covered by
    an existing facility; ``w_i``: population)::

        max   sum_{i in U} w_i y_i
        s.t.  y_i <= sum_{j in N_i} x_j          for i in U
              sum_j x_j <= N                      (or  sum_j cost_j x_j <= B)
              x_j = 1 (forced),  x_j = 0 (excluded)
              x_j in {0, 1},  0 <= y_i <= 1

    ``y`` needs no integrality: at an optimum ``y_i = min(1, sum x)``.

    Reductions (exact): units covered by existing or forced sites, and units no allowed
    candidate reaches, are dropped; units with the same ``N_i`` are merged (weights summed);
    candidates whose covered set lies inside another's that costs no more are dropped. With
    ``new_sites`` the greedy + swap solution, the LP bound evaluated as a Lagrangian bound,
    Lagrangian variable fixing and a MIP on the remaining candidates prove optimality; with
    a budget the MIP is solved directly from the greedy start.

    Parameters
    ----------
    reach
        Candidates x demand reach set: ``access.ReachSet`` or a scipy sparse matrix of
        minutes with explicit entries (0-minute entries must be stored).
    population
        Population (weight) of each demand unit.
    new_sites
        Number of new sites ``N`` (forced sites count towards it).
    budget
        Alternative to ``new_sites``: the total cost allowed (with ``costs``).
    costs
        Cost of each candidate (default 1 each).
    max_minutes
        Threshold: entries above it do not cover (``None``: every stored entry covers).
    existing_covered
        Per demand unit, a boolean (covered by an existing facility) or minutes to the
        nearest existing facility (covered when ``<= max_minutes``).
    forced, excluded
        Candidates that must / must not be opened (positions, ids or boolean masks).
    candidate_ids
        Ids of the candidates (default their positions as strings).
    unit_community
        Community id of each demand unit, to list newly covered communities.
    time_limit_s
        Wall-clock limit for the whole solve (default ``settings.siting_time_limit_s``).
    mip_gap
        Relative gap at which the search may stop (0: prove optimality).
    n_alternatives
        Swap alternatives reported per chosen site.

    Returns
    -------
    SitingResult
        Objective ``added_population``: population newly within reach.

    Raises
    ------
    InputError
        On malformed inputs (neither or both of ``new_sites``/``budget``, bad lengths...).
    InfeasibleError
        When forced sites alone exceed ``new_sites`` or the budget.
    """
    check_one_limit(new_sites, budget)
    if new_sites is not None and new_sites < 0:
        msg = f"new_sites must be >= 0, got {new_sites}"
        raise InputError(msg)
    prob = coverage_problem(reach, population, max_minutes=max_minutes,
                            candidate_ids=candidate_ids, costs=costs,
                            existing_covered=existing_covered, forced=forced,
                            excluded=excluded, time_limit_s=time_limit_s)
    a, w, ids, cost, before = prob.a, prob.w, prob.ids, prob.costs, prob.before
    forced_m, excl, forced_idx = prob.forced, prob.excluded, prob.forced_idx
    t0, time_limit_s = prob.t0, prob.time_limit_s
    n = a.shape[0]
    p_left: int | None = None
    budget_left: float | None = None
    if new_sites is not None:
        check_forced_count(forced_idx.size, new_sites)
        p_left = int(new_sites) - forced_idx.size
    else:
        assert budget is not None
        cost = np.ones(n) if cost is None else cost
        budget_left = float(budget) - float(cost[forced_idx].sum())
        if budget_left < -1e-9:
            msg = f"forced sites cost {cost[forced_idx].sum():g}, more than the budget {budget:g}"
            raise InfeasibleError(msg)
    allowed = ~excl & ~forced_m
    allowed_idx = np.flatnonzero(allowed).astype(np.int64)
    base = before | _core.covered_columns(a, forced_idx)
    a_allowed = sp.csr_array(a[allowed_idx])
    reachable = reached_units(a_allowed)
    any_reach = reached_units(sp.csr_array(a[np.flatnonzero(~excl)]))
    cost_allowed = np.ones(allowed_idx.size) if cost is None else cost[allowed_idx]
    r, wr, keep_c, reductions = reduce_candidates(a_allowed, w, reachable & ~base,
                                                   cost_allowed, n)
    cr = cost_allowed[keep_c]
    if p_left is not None:
        g = _core.greedy_cover(r, wr, max_sites=p_left)
        greedy_val = _core.covered_weight(r, wr, g)
        start = _core.swap_search(r, wr, g) if g.size == p_left else g
        sites, obj_r, bound_r, status = _solve_mclp_cardinality(
            r, wr, start, p_left, deadline=t0 + time_limit_s, mip_gap=mip_gap)
    else:
        assert budget_left is not None
        g = _core.greedy_cover(r, wr, costs=cr, budget=budget_left)
        greedy_val = _core.covered_weight(r, wr, g)
        if r.shape[0] == 0 or r.shape[1] == 0:
            sites, obj_r, bound_r, status = g, greedy_val, greedy_val, "optimal"
        else:
            sites, obj_r, bound_r, status = _solve_mclp_mip(
                r, wr, g, p=None, costs=cr, budget=budget_left, deadline=t0 + time_limit_s,
                mip_gap=mip_gap)
    const = float(w[base & ~before].sum())
    chosen = np.sort(np.r_[forced_idx, allowed_idx[keep_c[sites]]]).astype(np.int64)
    params = {"new_sites": new_sites, "budget": budget, "max_minutes": max_minutes,
              "time_limit_s": time_limit_s, "mip_gap": mip_gap,
              **forced_excluded_params(ids, forced_m, excl)}
    return coverage_result(
        "mclp", a, w, before, chosen, ids=ids, objective=const + obj_r, bound=const + bound_r,
        status=status, greedy=const + greedy_val, t0=t0, params=params, reductions=reductions,
        allowed=~excl, uncoverable=~before & ~any_reach, unit_community=unit_community,
        n_alternatives=n_alternatives, objective_name="added_population")

