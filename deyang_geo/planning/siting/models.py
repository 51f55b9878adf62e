"""Location-allocation models on sparse reach sets, solved exactly with HiGHS.

Every model takes a reach set of candidates x demand units (CSR minutes, see
:func:`~deyang_geo.planning.siting.coverage_matrix`; a 0-minute entry must be stored explicitly)
and the
population of each demand unit; none builds a dense demand x site matrix. Existing facilities
enter as per-unit coverage (a boolean, or minutes to the nearest existing facility); they are
fixed and counted. Candidates can be ``excluded`` or ``forced`` (positions, ids or masks).

Determinism: the same inputs give the same sites. Reductions number groups in input order,
greedy and swap searches break ties towards the lowest candidate position, HiGHS runs with a
fixed seed, and when several solutions share the optimal objective the exact search keeps
the incumbent (greedy + swaps, lowest positions first) unless it finds a strictly better one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from deyang_geo.core import settings
from deyang_geo.core.errors import InfeasibleError, InputError, Problem
from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.result import (
    SitingResult,
    alternatives_frame,
    communities_reached,
    coverage_swaps,
    rank_sites,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

log = logging.getLogger("deyang_geo")

__all__ = ["capacitated_coverage", "lscp", "mclp", "multi_category", "pmedian"]


# --------------------------------------------------------------------------------------------
# shared preparation
# --------------------------------------------------------------------------------------------

def _existing_mask(existing: Any, m: int, max_minutes: float | None) -> BoolArray:
    if existing is None:
        return np.zeros(m, dtype=bool)
    arr = np.asarray(existing)
    if arr.shape != (m,):
        msg = f"existing coverage has {arr.shape} values, expected one per demand unit ({m})"
        raise InputError(msg)
    if arr.dtype == bool:
        return arr.copy()
    if max_minutes is None:
        msg = ("existing coverage given as minutes needs max_minutes (the threshold); "
               "or pass a boolean mask")
        raise InputError(msg)
    mins = arr.astype(np.float64)
    return np.isfinite(mins) & (mins <= max_minutes)


def _candidate_ids(ids: Sequence[Any] | None, n: int) -> list[str]:
    if ids is None:
        return [str(j) for j in range(n)]
    out = [str(v) for v in ids]
    if len(out) != n:
        msg = f"candidate_ids has {len(out)} values but the reach set has {n} candidates"
        raise InputError(msg)
    return out


def _costs(costs: Any, n: int, name: str = "costs") -> FloatArray | None:
    if costs is None:
        return None
    c = np.asarray(costs, dtype=np.float64).reshape(-1)
    if c.shape != (n,):
        msg = f"{name} has {c.shape[0]} values, expected one per candidate ({n})"
        raise InputError(msg)
    bad = np.flatnonzero(~np.isfinite(c) | (c < 0))
    if bad.size:
        raise InputError([Problem(f"{name} must be a number >= 0, got {c[b]!r}", row=int(b) + 1,
                                  column=name) for b in bad[:20]])
    return c.copy()


def _forced_excluded(forced: Any, excluded: Any, n: int,
                     ids: list[str] | None) -> tuple[BoolArray, BoolArray]:
    f = _core.index_mask(forced, n, name="forced", ids=ids)
    e = _core.index_mask(excluded, n, name="excluded", ids=ids)
    both = np.flatnonzero(f & e)
    if both.size:
        raise InputError([Problem(f"candidate {ids[b] if ids else b} is both forced and excluded")
                          for b in both])
    return f, e


def _coverage_inputs(reach: Any, population: Any, max_minutes: float | None,
                     candidate_ids: Sequence[Any] | None) -> tuple[sp.csr_array, FloatArray,
                                                                  list[str]]:
    """Coverage matrix, demand weights and candidate ids, checked against each other."""
    a = _core.coverage_matrix(reach, max_minutes=max_minutes)
    n, m = a.shape
    w = _core.as_weights(population, m)
    return a, w, _candidate_ids(candidate_ids, n)


def _check_one_limit(new_sites: int | None, budget: float | None) -> None:
    if (new_sites is None) == (budget is None):
        msg = "give exactly one of new_sites (a number of sites) or budget (with costs)"
        raise InputError(msg)


def _check_forced_count(n_forced: int, new_sites: int | None) -> None:
    if new_sites is not None and n_forced > new_sites:
        msg = f"{n_forced} forced sites exceed new_sites={new_sites}"
        raise InfeasibleError(msg)


def _forced_excluded_params(ids: list[str], forced: BoolArray,
                            excluded: BoolArray) -> dict[str, list[str]]:
    return {"forced": [ids[j] for j in np.flatnonzero(forced)],
            "excluded": [ids[j] for j in np.flatnonzero(excluded)]}


def _reached(a: sp.csr_array) -> BoolArray:
    """Demand columns that at least one candidate (row) of ``a`` reaches."""
    reached: BoolArray = np.diff(sp.csc_array(a).indptr) > 0
    return reached


def _time_left(t0: float, time_limit_s: float) -> float:
    """Seconds left of ``time_limit_s`` since ``t0`` (0 when spent)."""
    return max(time_limit_s - (time.perf_counter() - t0), 0.0)


def _gap_target(bound: float, mip_gap: float) -> float:
    """Return the smallest objective whose relative gap to ``bound`` is at most ``mip_gap``.

    ``relative_gap(obj, bound) = (bound - obj) / max(obj, 1) <= mip_gap`` holds for every
    ``obj >= bound / (1 + mip_gap)`` (objectives of at least 1).
    """
    return bound / (1.0 + mip_gap)


def _raise_if_infeasible(sol: _solve.MipSolution, msg: str) -> None:
    if sol.status == "infeasible":
        raise InfeasibleError(msg)


def _reduce_candidates(a_allowed: sp.csr_array, w: FloatArray, cols: BoolArray,
                       cost_allowed: FloatArray, n: int) -> tuple[sp.csr_array, FloatArray,
                                                                  IntArray, dict[str, int]]:
    """Merge identical demand columns ``cols`` and drop dominated allowed candidates.

    Returns the reduced reach set, its column weights, the positions (in ``a_allowed``) of
    the candidates kept and the reductions report (``n``: number of all candidates).
    """
    merged = _core.merge_identical_columns(a_allowed, w, cols)
    dropped = _core.dominated_candidates(merged.a, cost_allowed,
                                         np.zeros(cost_allowed.size, dtype=bool))
    keep_c = np.flatnonzero(~dropped)
    r = sp.csr_array(merged.a[keep_c])
    reductions = {"demand_units": a_allowed.shape[1],
                  "demand_columns_after": int(merged.weights.size), "candidates": n,
                  "candidates_after": int(keep_c.size)}
    return r, merged.weights, keep_c, reductions


#: Above this many reach entries the cardinality MCLP starts with a subgradient phase.
_SUBGRADIENT_NNZ = 1_000_000


def _time_limit(value: float | None) -> float:
    limit = settings.siting_time_limit_s if value is None else float(value)
    if not limit > 0:
        msg = f"time_limit_s must be > 0 seconds, got {limit}"
        raise InputError(msg)
    return limit


def _integral(w: FloatArray) -> bool:
    return bool(np.all(w == np.round(w)))


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


def _start_vector(a: sp.csr_array, sites: IntArray) -> FloatArray:
    n, m = a.shape
    x = np.zeros(n + m)
    x[sites] = 1.0
    x[n:] = _core.covered_columns(a, sites).astype(np.float64)
    return x


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
                       mip_rel_gap=mip_gap, start=_start_vector(a, sites0), stop_at=stop_at)
    _raise_if_infeasible(sol, "the covering model is infeasible")
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
    mg = _core.merge_identical_columns(sub, w, _reached(sub) & ~base)
    return free, ones, p_left, mg, float(w[base].sum())


def _keep_better(a: sp.csr_array, w: FloatArray, sites: IntArray, inc_sites: IntArray,
                 inc: float) -> tuple[IntArray, float]:
    """``sites`` and their covered weight if strictly better than the incumbent, else it."""
    val = _core.covered_weight(a, w, sites)
    if val > inc + 1e-9:
        return sites, val
    return inc_sites, inc


def _solve_mclp_cardinality(a: sp.csr_array, w: FloatArray, sites0: IntArray, p: int, *,
                            deadline: float, mip_gap: float) -> tuple[IntArray, float,
                                                                    float, str]:
    """Cardinality MCLP: a subgradient Lagrangian phase on big or gap-tolerant instances.

    The Lagrangian bound (subgradient on the multipliers of ``y_i <= sum_j a_ji x_j``) may
    prove the requested gap at once; otherwise it fixes candidates and the LP-based exact
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
    step = 1.0 - 1e-6 if _integral(w) else 1e-9 * max(1.0, total)
    lag, lam = _core.subgradient_bound(
        a, w, p, inc, time_limit_s=0.5 * max(deadline - time.perf_counter(), 0.0),
        stop_gap=mip_gap)
    bound = min(total, math.floor(lag + 1e-6) if _integral(w) else lag)
    if _solve.relative_gap(inc, bound) <= max(mip_gap, 1e-12) or inc >= bound - 1e-9:
        return inc_sites, inc, max(inc, bound), ("optimal" if inc >= bound - 1e-9
                                                 else "gap_reached")
    _, c, order = _core.lagrangian_bound(a, w, lam, p)
    fixed0, fixed1 = _lagrangian_fixing(c, order, lag, p, inc=inc, step=step)
    rest = _fixed_subproblem(a, w, fixed0, fixed1, p)
    if rest is None:
        return inc_sites, inc, inc, "optimal"
    free, ones, p_left, mg, const = rest
    r_start = _core.greedy_cover(mg.a, mg.weights, max_sites=p_left)
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
    step = 1.0 - 1e-6 if _integral(w) else 1e-9 * max(1.0, total)

    def left() -> float:
        return max(deadline - time.perf_counter(), 0.0)

    def proven(obj: float, bnd: float) -> bool:
        return mip_gap > 0 and _solve.relative_gap(offset + obj, offset + bnd) <= mip_gap

    def target(bnd: float) -> float | None:
        return _gap_target(offset + bnd, mip_gap) - offset if mip_gap > 0 else None

    model = _mclp_model(a, w, p=p, costs=None, budget=None)
    lp = _solve.solve(*model[:4], integer=None, maximize=True, time_limit_s=left(),
                      deadline=deadline)
    bound = min(total, outer_bound - offset)
    lag = math.inf
    c = order = None
    if lp.row_duals.size == m + 1:
        for sign in (1.0, -1.0):
            val, cc, oo = _core.lagrangian_bound(a, w, sign * lp.row_duals[:m], p)
            if val < lag:
                lag, c, order = val, cc, oo
        bound = min(bound, lag)
    if _integral(w):
        bound = math.floor(bound + 1e-6)
    if proven(inc, bound) and inc < bound - 1e-9 * max(1.0, total):
        return inc_sites, inc, max(inc, bound), "gap_reached"
    if math.isfinite(lp.objective) and np.all(np.isfinite(lp.x)):
        support = np.union1d(np.flatnonzero(lp.x[:n] > 1e-6), inc_sites).astype(np.int64)
        if support.size > p and left() > 0:
            sub = sp.csr_array(a[support])
            mg = _core.merge_identical_columns(sub, w, _reached(sub))
            local0 = np.searchsorted(support, inc_sites).astype(np.int64)
            # the support's own bound proves nothing globally: stop at the global target
            s_sites, _, _, _ = _solve_mclp_mip(
                mg.a, mg.weights, local0, p=p, costs=None, budget=None,
                deadline=time.perf_counter() + max(left() / 4, 0.5), mip_gap=0.0,
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
    start_ok = bool(np.all(np.isin(ones, inc_sites))) and bool(
        np.all(np.isin(inc_sites, np.r_[free, ones])))
    local0 = (np.searchsorted(free, inc_sites[np.isin(inc_sites, free)]).astype(np.int64)
              if start_ok else _core.greedy_cover(mg.a, mg.weights, max_sites=p_left))
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
    reach: Any,
    population: Any,
    *,
    new_sites: int | None = None,
    budget: float | None = None,
    costs: Any | None = None,
    max_minutes: float | None = None,
    existing_covered: Any | None = None,
    forced: Any | None = None,
    excluded: Any | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: Any | None = None,
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
    t0 = time.perf_counter()
    time_limit_s = _time_limit(time_limit_s)
    a, w, ids = _coverage_inputs(reach, population, max_minutes, candidate_ids)
    n, m = a.shape
    _check_one_limit(new_sites, budget)
    if new_sites is not None and new_sites < 0:
        msg = f"new_sites must be >= 0, got {new_sites}"
        raise InputError(msg)
    cost = _costs(costs, n)
    before = _existing_mask(existing_covered, m, max_minutes)
    forced_m, excl = _forced_excluded(forced, excluded, n, ids)
    forced_idx = np.flatnonzero(forced_m).astype(np.int64)
    p_left: int | None = None
    budget_left: float | None = None
    if new_sites is not None:
        _check_forced_count(forced_idx.size, new_sites)
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
    reachable = _reached(a_allowed)
    any_reach = _reached(sp.csr_array(a[np.flatnonzero(~excl)]))
    cost_allowed = np.ones(allowed_idx.size) if cost is None else cost[allowed_idx]
    r, wr, keep_c, reductions = _reduce_candidates(a_allowed, w, reachable & ~base,
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
              **_forced_excluded_params(ids, forced_m, excl)}
    return _coverage_result(
        "mclp", a, w, before, chosen, ids=ids, objective=const + obj_r, bound=const + bound_r,
        status=status, greedy=const + greedy_val, t0=t0, params=params, reductions=reductions,
        allowed=~excl, uncoverable=~before & ~any_reach, unit_community=unit_community,
        n_alternatives=n_alternatives, objective_name="added_population")


def _coverage_result(
    model: str,
    a: sp.csr_array,
    w: FloatArray,
    before: BoolArray,
    chosen: IntArray,
    *,
    ids: list[str],
    objective: float,
    bound: float,
    status: str,
    greedy: float,
    t0: float,
    params: dict[str, Any],
    reductions: dict[str, int],
    allowed: BoolArray,
    uncoverable: BoolArray,
    unit_community: Any | None,
    n_alternatives: int,
    objective_name: str,
    swap_base: float | None = None,
    extra_columns: Mapping[str, Sequence[Any]] | None = None,
    swaps: list[tuple[int, list[tuple[int, float]]]] | None = None,
) -> SitingResult:
    """Rank the chosen sites and assemble the result of a coverage-type model.

    ``swaps`` are alternatives the model evaluated itself (objective values); without them
    coverage swaps are computed (``n_alternatives`` per site).
    """
    w_new = np.where(before, 0.0, w)
    order, added = rank_sites(a, w_new, chosen)
    covered = before.copy()
    newly: list[BoolArray] = []
    for s in order:
        row = a.indices[a.indptr[s]:a.indptr[s + 1]]
        mask = np.zeros(a.shape[1], dtype=bool)
        mask[row[~covered[row]]] = True
        covered |= mask
        newly.append(mask)
    lists, per_comm = communities_reached(newly, unit_community, w, before, covered)
    sites = pd.DataFrame({
        "site_id": [ids[s] for s in order],
        "candidate_index": order,
        "rank": np.arange(1, order.size + 1),
        "added_population": added,
    })
    if unit_community is not None:
        sites["newly_covered_communities"] = lists
    if extra_columns:
        pos = {int(s): k for k, s in enumerate(chosen)}
        for name, values in extra_columns.items():
            sites[name] = [values[pos[int(s)]] for s in order]
    before_pop = float(w[before].sum())
    if swaps is not None:
        alts = alternatives_frame(swaps, ids, objective)
    elif n_alternatives > 0 and order.size:
        swaps = coverage_swaps(a, w, before, order, allowed=allowed, k=n_alternatives)
        offset = before_pop if swap_base is None else swap_base
        swaps = [(s, [(k, v - offset) for k, v in alts]) for s, alts in swaps]
        alt_obj = objective if swap_base is None else float(w[covered].sum()) - offset
        alts = alternatives_frame(swaps, ids, alt_obj)
    else:
        alts = alternatives_frame([], ids, objective)
    gap = _solve.relative_gap(objective, bound)
    if status == "optimal":
        gap = 0.0 if gap < 1e-6 else gap
    return SitingResult(
        model=model, sites=sites, alternatives=alts,
        covered_population_before=before_pop,
        covered_population_after=float(w[covered].sum()),
        total_population=float(w.sum()),
        uncoverable_population=float(w[uncoverable].sum()),
        objective=float(objective), bound=float(bound), gap=float(gap), status=status,
        solve_time_s=time.perf_counter() - t0, greedy_objective=float(greedy),
        objective_name=objective_name, parameters=params, reductions=reductions,
        community_coverage=per_comm,
    )


# --------------------------------------------------------------------------------------------
# LSCP
# --------------------------------------------------------------------------------------------

def lscp(
    reach: Any,
    population: Any,
    *,
    target_share: float | None = None,
    costs: Any | None = None,
    max_minutes: float | None = None,
    existing_covered: Any | None = None,
    forced: Any | None = None,
    excluded: Any | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: Any | None = None,
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
    t0 = time.perf_counter()
    time_limit_s = _time_limit(time_limit_s)
    a, w, ids = _coverage_inputs(reach, population, max_minutes, candidate_ids)
    n, m = a.shape
    cost_in = _costs(costs, n)
    cost = np.ones(n) if cost_in is None else cost_in
    before = _existing_mask(existing_covered, m, max_minutes)
    forced_m, excl = _forced_excluded(forced, excluded, n, ids)
    forced_idx = np.flatnonzero(forced_m).astype(np.int64)
    allowed_idx = np.flatnonzero(~excl & ~forced_m).astype(np.int64)
    base = before | _core.covered_columns(a, forced_idx)
    a_allowed = sp.csr_array(a[allowed_idx])
    reachable = _reached(a_allowed)
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
    r, wr, keep_c, reductions = _reduce_candidates(a_allowed, w, reachable & ~base,
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
            start = _start_vector(r, g)
        sol = _solve.solve(*model, integer=integer, maximize=False,
                           time_limit_s=_time_left(t0, time_limit_s),
                           deadline=t0 + time_limit_s, mip_rel_gap=mip_gap, start=start)
        _raise_if_infeasible(sol, "the set-covering model is infeasible")
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
              **_forced_excluded_params(ids, forced_m, excl)}
    return _coverage_result(
        "lscp", a, w, before, chosen, ids=ids, objective=fixed_cost + obj,
        bound=fixed_cost + bound, status=status, greedy=fixed_cost + greedy_cost, t0=t0,
        params=params, reductions=reductions, allowed=~excl, uncoverable=uncoverable,
        unit_community=unit_community, n_alternatives=n_alternatives,
        objective_name="sites" if cost_in is None else "cost", swap_base=0.0)


# --------------------------------------------------------------------------------------------
# p-median
# --------------------------------------------------------------------------------------------

def _column_best_two(rows: IntArray, cols: IntArray, vals: FloatArray,
                     m: int) -> tuple[FloatArray, IntArray, FloatArray]:
    """Per column: smallest value, its row, second smallest value (inf when missing)."""
    best1 = np.full(m, np.inf)
    arg1 = np.full(m, -1, dtype=np.int64)
    best2 = np.full(m, np.inf)
    if vals.size == 0:
        return best1, arg1, best2
    order = np.lexsort((rows, vals, cols))
    c, v, r = cols[order], vals[order], rows[order]
    first = np.ones(c.size, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    best1[c[first]] = v[first]
    arg1[c[first]] = r[first]
    pos = np.flatnonzero(first) + 1
    ok = pos < c.size
    pos = pos[ok]
    same = c[pos] == c[pos - 1]
    best2[c[pos[same]]] = v[pos[same]]
    return best1, arg1, best2


def _assigned_minutes(mins: sp.csr_array, sites: IntArray, base: FloatArray) -> FloatArray:
    sub = sp.coo_array(mins[np.asarray(sites, dtype=np.int64)])
    best1, _, _ = _column_best_two(np.asarray(sub.row, dtype=np.int64),
                                   np.asarray(sub.col, dtype=np.int64),
                                   np.asarray(sub.data, dtype=np.float64), mins.shape[1])
    return np.minimum(base, best1)


def pmedian(
    reach: Any,
    population: Any,
    *,
    new_sites: int,
    existing_minutes: Any | None = None,
    max_minutes: float | None = None,
    nearest_k: int = 20,
    unreached_minutes: float | None = None,
    threshold_minutes: float | None = None,
    forced: Any | None = None,
    excluded: Any | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: Any | None = None,
    time_limit_s: float | None = None,
    mip_gap: float = 0.0,
    n_alternatives: int = 3,
) -> SitingResult:
    r"""p-median: open new sites minimising population-weighted minutes to the nearest facility.

    Everyone is assigned to the nearest open facility, existing ones included. Let ``b_i`` be
    the minutes from unit ``i`` to its nearest existing or forced facility, capped at
    ``unreached_minutes`` (the charge for a unit no facility reaches), ``K_i`` its
    ``nearest_k`` nearest allowed candidates closer than ``b_i`` and ``r_i = min(b_i, minutes
    to its (k+1)-th nearest candidate)``::

        min   sum_i w_i r_i + sum_i sum_{j in K_i} w_i (t_ij - r_i) z_ij
        s.t.  sum_{j in K_i} z_ij <= 1           for every unit i
              z_ij <= x_j                        for j in K_i
              sum_j x_j <= N - (number forced)
              x_j in {0, 1},  z_ij >= 0

    Charging ``r_i`` instead of ``b_i`` for units not assigned within ``K_i`` makes the model a
    relaxation, so its bound is a valid lower bound of the full problem; the objective of the
    chosen sites is then evaluated exactly on the whole reach set (the gap closes when the
    nearest-k lists suffice, which the reported gap shows).

    Parameters
    ----------
    reach
        Candidates x demand minutes (sparse, explicit 0 entries).
    population
        Population of each demand unit.
    new_sites
        Number of new sites (forced ones count).
    existing_minutes
        Minutes from each unit to its nearest existing facility (NaN/inf: none reachable).
    max_minutes
        Entries above it are ignored; also the threshold for the coverage figures.
    nearest_k
        Candidates kept per unit (the sparse assignment lists).
    unreached_minutes
        Minutes charged to a unit that no facility reaches (default: twice the largest minutes
        in the reach set and the existing minutes).
    threshold_minutes
        Threshold of the coverage figures (covered population before/after, added
        population per site); default ``max_minutes``.
    forced, excluded, candidate_ids, unit_community, time_limit_s, mip_gap, n_alternatives
        As in :func:`mclp`.

    Returns
    -------
    SitingResult
        Objective ``weighted_minutes`` (person-minutes); swap alternatives are exact.
    """
    t0 = time.perf_counter()
    time_limit_s = _time_limit(time_limit_s)
    mins = _core.minutes_csr(reach)
    if max_minutes is not None:
        keep = mins.data <= max_minutes
        rows_all = np.repeat(np.arange(mins.shape[0]), np.diff(mins.indptr))
        mins = sp.csr_array((mins.data[keep], (rows_all[keep], mins.indices[keep])),
                            shape=mins.shape)
    n, m = mins.shape
    w = _core.as_weights(population, m)
    ids = _candidate_ids(candidate_ids, n)
    if new_sites < 0 or nearest_k < 1:
        msg = "new_sites must be >= 0 and nearest_k >= 1"
        raise InputError(msg)
    ex = (np.full(m, np.inf) if existing_minutes is None
          else np.asarray(existing_minutes, dtype=np.float64).reshape(-1).copy())
    if ex.shape != (m,):
        msg = f"existing_minutes has {ex.shape[0]} values, expected {m}"
        raise InputError(msg)
    ex[~np.isfinite(ex)] = np.inf
    if unreached_minutes is None:
        big = max(float(mins.data.max()) if mins.nnz else 0.0,
                  float(ex[np.isfinite(ex)].max()) if np.isfinite(ex).any() else 0.0, 1.0)
        unreached_minutes = 2.0 * big
    forced_m, excl = _forced_excluded(forced, excluded, n, ids)
    forced_idx = np.flatnonzero(forced_m).astype(np.int64)
    _check_forced_count(forced_idx.size, new_sites)
    p_left = int(new_sites) - forced_idx.size
    b_exist = np.minimum(ex, unreached_minutes)
    b = _assigned_minutes(mins, forced_idx, b_exist)
    allowed = ~excl & ~forced_m
    coo = sp.coo_array(mins)
    er = np.asarray(coo.row, dtype=np.int64)
    ec = np.asarray(coo.col, dtype=np.int64)
    ev = np.asarray(coo.data, dtype=np.float64)
    use = allowed[er] & (ev < b[ec])
    er, ec, ev = er[use], ec[use], ev[use]
    order = np.lexsort((er, ev, ec))
    er, ec, ev = er[order], ec[order], ev[order]
    start_of = np.searchsorted(ec, np.arange(m))
    rank = np.arange(ec.size) - start_of[ec]
    kth = np.full(m, np.inf)
    beyond = rank == nearest_k
    kth[ec[beyond]] = ev[beyond]
    rcap = np.minimum(b, kth)
    inlist = (rank < nearest_k) & (ev < rcap[ec])
    er, ec, ev = er[inlist], ec[inlist], ev[inlist]
    const = float((w * rcap).sum())
    # greedy on the full entries (exact objective)
    full_mask = allowed[np.asarray(coo.row)]
    fr = np.asarray(coo.row, dtype=np.int64)[full_mask]
    fc = np.asarray(coo.col, dtype=np.int64)[full_mask]
    fv = np.asarray(coo.data, dtype=np.float64)[full_mask]
    d = b.copy()
    greedy: list[int] = []
    for _ in range(p_left):
        gain = np.bincount(fr, weights=w[fc] * np.maximum(d[fc] - fv, 0.0), minlength=n)
        gain[greedy] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        greedy.append(j)
        sel = fr == j
        d[fc[sel]] = np.minimum(d[fc[sel]], fv[sel])
    greedy_idx = np.asarray(sorted(greedy), dtype=np.int64)
    greedy_obj = float((w * d).sum())
    # MIP on the nearest-k lists
    used = np.unique(er)
    nx_, ne = used.size, er.size
    xcol = np.searchsorted(used, er)
    sites = greedy_idx
    bound = float("-inf")
    status = "optimal"
    if ne and p_left > 0 and nx_ > p_left:
        cost = np.r_[np.zeros(nx_), w[ec] * (ev - rcap[ec])]
        dem_rows = sp.csr_array((np.ones(ne), (ec, nx_ + np.arange(ne))), shape=(m, nx_ + ne))
        link = sp.csr_array((np.r_[np.ones(ne), -np.ones(ne)],
                             (np.r_[np.arange(ne), np.arange(ne)], np.r_[nx_ + np.arange(ne),
                                                                        xcol])),
                            shape=(ne, nx_ + ne))
        card = sp.csr_array(np.r_[np.ones(nx_), np.zeros(ne)].reshape(1, -1))
        matrix = sp.vstack([dem_rows, link, card], format="csr")
        row_lo = np.full(m + ne + 1, -np.inf)
        row_hi = np.r_[np.ones(m), np.zeros(ne), float(p_left)]
        integer = np.r_[np.ones(nx_, dtype=bool), np.zeros(ne, dtype=bool)]
        start = np.zeros(nx_ + ne)
        gpos = np.searchsorted(used, greedy_idx)
        valid = (gpos < nx_) & (used[np.minimum(gpos, nx_ - 1)] == greedy_idx)
        start[gpos[valid]] = 1.0
        openx = np.zeros(n, dtype=bool)
        openx[greedy_idx] = True
        cand_e = np.flatnonzero(openx[er])
        if cand_e.size:
            first = np.ones(cand_e.size, dtype=bool)
            first[1:] = ec[cand_e[1:]] != ec[cand_e[:-1]]
            start[nx_ + cand_e[first]] = 1.0
        sol = _solve.solve(cost, matrix, (row_lo, row_hi), (np.zeros(nx_ + ne), np.ones(nx_ + ne)),
                           integer=integer, maximize=False,
                           time_limit_s=_time_left(t0, time_limit_s),
                           deadline=t0 + time_limit_s, mip_rel_gap=mip_gap, start=start)
        _raise_if_infeasible(sol, "the p-median model is infeasible")
        if np.all(np.isfinite(sol.x)):
            cand_sites = used[np.flatnonzero(sol.x[:nx_] > 0.5)]
            val = float((w * _assigned_minutes(mins, np.r_[forced_idx, cand_sites], b_exist))
                        .sum())
            if val < greedy_obj - 1e-9:
                sites = cand_sites.astype(np.int64)
        bound = const + sol.bound if math.isfinite(sol.bound) else float("-inf")
        status = sol.status
    elif p_left > 0 and nx_ <= p_left:
        sites = used.astype(np.int64)  # every useful candidate opens: optimal
        bound = float((w * _assigned_minutes(mins, np.r_[forced_idx, sites], b_exist)).sum())
    chosen = np.sort(np.r_[forced_idx, sites]).astype(np.int64)
    assigned = _assigned_minutes(mins, chosen, b_exist)
    objective = float((w * assigned).sum())
    if not math.isfinite(bound):
        bound = objective if (p_left == 0 or ne == 0) else min(objective, const)
    bound = min(bound, objective)
    if objective - bound <= 1e-6 * max(1.0, objective):
        status = "optimal"
    elif status == "optimal":
        status = "feasible"  # optimal for the nearest-k model; the gap is what the lists cost
    thr = max_minutes if threshold_minutes is None else threshold_minutes
    cov_mask = _core.coverage_matrix(mins, max_minutes=thr)
    before = np.isfinite(ex) & (ex <= (thr if thr is not None else np.inf))
    params = {"new_sites": new_sites, "max_minutes": max_minutes, "nearest_k": nearest_k,
              "threshold_minutes": thr,
              "unreached_minutes": unreached_minutes, "time_limit_s": time_limit_s,
              "mip_gap": mip_gap, **_forced_excluded_params(ids, forced_m, excl)}
    # population assigned to each chosen site (nearest open facility; existing wins ties)
    sub = sp.coo_array(mins[chosen])
    best1, arg1, _ = _column_best_two(np.asarray(sub.row, dtype=np.int64),
                                      np.asarray(sub.col, dtype=np.int64),
                                      np.asarray(sub.data, dtype=np.float64), m)
    wins = (arg1 >= 0) & (best1 < b_exist)
    assigned_pop = np.bincount(arg1[wins], weights=w[wins], minlength=chosen.size)
    swaps = _pmedian_swaps(mins, w, b_exist, chosen, allowed=~excl & ~forced_m,
                           k=n_alternatives) if n_alternatives > 0 else []
    return _coverage_result(
        "pmedian", cov_mask, w, before, chosen, ids=ids, objective=objective, bound=bound,
        status=status, greedy=greedy_obj, t0=t0, params=params,
        reductions={"demand_units": m, "candidates": n, "assignment_pairs": int(ne)},
        allowed=~excl, uncoverable=~np.isfinite(np.minimum(ex, _assigned_minutes(
            mins, np.flatnonzero(~excl), np.full(m, np.inf)))),
        unit_community=unit_community, n_alternatives=n_alternatives,
        objective_name="weighted_minutes",
        extra_columns={"assigned_population": assigned_pop.tolist()}, swaps=swaps)


def _pmedian_swaps(mins: sp.csr_array, w: FloatArray, base: FloatArray, chosen: IntArray, *,
                   allowed: BoolArray, k: int) -> list[tuple[int, list[tuple[int, float]]]]:
    """Exact objective of every single swap (chosen site out, allowed candidate in)."""
    n, m = mins.shape
    sub = sp.coo_array(mins[chosen])
    best1, arg1, best2 = _column_best_two(np.asarray(sub.row, dtype=np.int64),
                                          np.asarray(sub.col, dtype=np.int64),
                                          np.asarray(sub.data, dtype=np.float64), m)
    coo = sp.coo_array(mins)
    fr = np.asarray(coo.row, dtype=np.int64)
    fc = np.asarray(coo.col, dtype=np.int64)
    fv = np.asarray(coo.data, dtype=np.float64)
    out: list[tuple[int, list[tuple[int, float]]]] = []
    for pos, s in enumerate(chosen):
        d_wo = np.minimum(base, np.where(arg1 == pos, best2, best1))
        total_wo = float((w * d_wo).sum())
        red = np.bincount(fr, weights=w[fc] * np.maximum(d_wo[fc] - fv, 0.0), minlength=n)
        ok = allowed.copy()
        ok[chosen] = False
        cand = np.flatnonzero(ok)
        values = total_wo - red[cand]
        order = np.lexsort((cand, values))[:k]
        out.append((int(s), [(int(cand[o]), float(values[o])) for o in order]))
    return out


# --------------------------------------------------------------------------------------------
# capacitated coverage
# --------------------------------------------------------------------------------------------

def _capacity(capacity_population: Any, floor_area_m2: Any, m2_per_person: float | None,
              n: int) -> FloatArray:
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
    reach: Any,
    population: Any,
    *,
    new_sites: int | None = None,
    budget: float | None = None,
    costs: Any | None = None,
    capacity_population: Any | None = None,
    floor_area_m2: Any | None = None,
    m2_per_person: float | None = None,
    max_minutes: float | None = None,
    existing_covered: Any | None = None,
    forced: Any | None = None,
    excluded: Any | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: Any | None = None,
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
    from dataclasses import replace

    t0 = time.perf_counter()
    time_limit_s = _time_limit(time_limit_s)
    a, w, ids = _coverage_inputs(reach, population, max_minutes, candidate_ids)
    n, m = a.shape
    cap = _capacity(capacity_population, floor_area_m2, m2_per_person, n)
    _check_one_limit(new_sites, budget)
    cost = _costs(costs, n)
    cost = np.ones(n) if cost is None else cost
    before = _existing_mask(existing_covered, m, max_minutes)
    forced_m, excl = _forced_excluded(forced, excluded, n, ids)
    _check_forced_count(int(forced_m.sum()), new_sites)
    if budget is not None and float(cost[forced_m].sum()) > budget + 1e-9:
        msg = f"forced sites cost more than the budget {budget:g}"
        raise InfeasibleError(msg)
    use_idx = np.flatnonzero(~excl).astype(np.int64)
    sub = sp.csr_array(a[use_idx])
    reachable = _reached(sub)
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
        _take(er, ec, remaining, z_start, wg, j=j, cap=float(cr[j]))
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
        _take(er, ec, remaining, z_start, wg, j=j, cap=float(cr[j]))
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
                           maximize=True, time_limit_s=_time_left(t0, mip_share * time_limit_s),
                           deadline=t0 + mip_share * time_limit_s,
                           mip_rel_gap=mip_gap, start=start)
        _raise_if_infeasible(sol, "the capacitated model is infeasible")
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
              **_forced_excluded_params(ids, forced_m, excl)}
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
    result = _coverage_result(
        "capacitated", a, w, before, chosen, ids=ids, objective=objective, bound=bound,
        status=status, greedy=greedy_obj, t0=t0, params=params,
        reductions={"demand_units": m, "demand_columns_after": int(mr), "candidates": n},
        allowed=~excl, uncoverable=~before & ~reachable, unit_community=unit_community,
        n_alternatives=n_alternatives, objective_name="served_population",
        extra_columns={"assigned_population": assigned_local[sites_local].tolist(),
                       "capacity_population": cr[sites_local].tolist()}, swaps=swaps)
    return replace(result, covered_population_after=float(w[before].sum()) + objective)


def _take(er: IntArray, ec: IntArray, remaining: FloatArray, z: FloatArray, wg: FloatArray,
          *, j: int, cap: float) -> None:
    """Let site ``j`` serve up to ``cap`` of the remaining demand it reaches, proportionally."""
    sel = np.flatnonzero(er == j)
    avail = float(remaining[ec[sel]].sum())
    if avail <= 0:
        return
    share = min(1.0, cap / avail)
    served = remaining[ec[sel]] * share
    z[sel] += np.divide(served, wg[ec[sel]], out=np.zeros(sel.size), where=wg[ec[sel]] > 0)
    remaining[ec[sel]] -= served


# --------------------------------------------------------------------------------------------
# several categories at once
# --------------------------------------------------------------------------------------------

def multi_category(
    reaches: Mapping[str, Any],
    population: Any,
    *,
    new_sites: int | None = None,
    budget: float | None = None,
    site_costs: Any | None = None,
    service_costs: Mapping[str, Any] | None = None,
    max_minutes: float | Mapping[str, float] | None = None,
    existing_covered: Mapping[str, Any] | None = None,
    category_weights: Mapping[str, float] | None = None,
    forced: Any | None = None,
    excluded: Any | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: Any | None = None,
    time_limit_s: float | None = None,
    mip_gap: float = 0.0,
    n_alternatives: int = 3,
) -> SitingResult:
    r"""Several categories at once: a new site may host several services (a service complex).

    With ``u_j`` (site ``j`` opened), ``x_jk`` (site ``j`` hosts service ``k``), ``y_ik``
    (unit ``i`` newly covered for ``k``), ``f_j`` the site cost, ``g_jk`` the service cost and
    ``c_k`` the category weight::

        max   sum_k c_k sum_{i in U_k} w_i y_ik
        s.t.  y_ik <= sum_{j in N_ik} x_jk        for every category k and unit i in U_k
              x_jk <= u_j
              sum_j u_j <= N                                   (if new_sites)
              sum_j f_j u_j + sum_jk g_jk x_jk <= B             (if budget)
              u_j = 1 (forced), u_j = 0 (excluded),  u, x binary,  0 <= y <= 1

    ``U_k``: units not covered by an existing facility of category ``k``; units with the same
    candidate set are merged per category.

    Parameters
    ----------
    reaches
        Category -> reach set (all candidates x demand, same shape).
    population
        Population of each demand unit.
    new_sites
        Most new sites opened.
    budget
        Total cost allowed (site costs plus service costs).
    site_costs
        Cost of opening each candidate (default 0; 1 each if only a budget is given and no
        costs at all).
    service_costs
        Category -> cost of hosting it (a number or one per candidate; default 0).
    max_minutes
        Threshold (one for all, or per category).
    existing_covered
        Category -> per-unit coverage by existing facilities (booleans or minutes).
    category_weights
        Category -> weight of a covered person (default 1).
    forced, excluded, candidate_ids, unit_community, time_limit_s, mip_gap, n_alternatives
        As in :func:`mclp`.

    Returns
    -------
    SitingResult
        Objective ``added_population_services`` (weighted person-services newly covered);
        ``sites`` has a ``services`` column; coverage figures sum over categories.
    """
    t0 = time.perf_counter()
    time_limit_s = _time_limit(time_limit_s)
    cats = list(reaches)
    if not cats:
        msg = "give at least one category"
        raise InputError(msg)
    if new_sites is None and budget is None:
        msg = "give new_sites, budget or both"
        raise InputError(msg)
    mats = []
    for cat in cats:
        thr = max_minutes.get(cat) if isinstance(max_minutes, Mapping) else max_minutes
        mats.append((_core.coverage_matrix(reaches[cat], max_minutes=thr), thr))
    n, m = mats[0][0].shape
    if any(a.shape != (n, m) for a, _ in mats):
        msg = "every category's reach set must have the same candidates and demand units"
        raise InputError(msg)
    w = _core.as_weights(population, m)
    ids = _candidate_ids(candidate_ids, n)
    f = _costs(site_costs, n, "site_costs")
    g_in = service_costs or {}
    if f is None:
        f = np.ones(n) if (budget is not None and not g_in) else np.zeros(n)
    g = np.zeros((len(cats), n))
    for kk, cat in enumerate(cats):
        if cat in g_in:
            g[kk] = np.broadcast_to(np.asarray(g_in[cat], dtype=np.float64), (n,))
    cw = np.array([float((category_weights or {}).get(cat, 1.0)) for cat in cats])
    forced_m, excl = _forced_excluded(forced, excluded, n, ids)
    _check_forced_count(int(forced_m.sum()), new_sites)
    befores = [_existing_mask((existing_covered or {}).get(cat), m, thr)
               for cat, (_, thr) in zip(cats, mats, strict=True)]
    merged = [_core.merge_identical_columns(a, w, _reached(a) & ~b)
              for (a, _), b in zip(mats, befores, strict=True)]
    nk = len(cats)
    # greedy on (site, service) pairs
    remaining = [mg.weights.copy() for mg in merged]
    is_open = forced_m.copy()
    hosts = np.zeros((nk, n), dtype=bool)
    spent = float(f[forced_m].sum())
    while True:
        gains = np.stack([cw[k] * np.asarray(merged[k].a @ remaining[k]) for k in range(nk)])
        inc_cost = g + np.where(is_open, 0.0, f)[None, :]
        ok = ~hosts & ~excl[None, :]
        if new_sites is not None and int(is_open.sum()) >= new_sites:
            ok &= is_open[None, :]
        if budget is not None:
            ok &= spent + inc_cost <= budget + 1e-9
        score = np.where(ok & (gains > 1e-12), gains / np.maximum(inc_cost, 1e-9)
                         if budget is not None else gains, -np.inf)
        flat = int(np.argmax(score))
        if not np.isfinite(score.reshape(-1)[flat]):
            break
        kk, j = divmod(flat, n)
        hosts[kk, j] = True
        spent += float(inc_cost[kk, j])
        is_open[j] = True
        a_k = merged[kk].a
        remaining[kk][a_k.indices[a_k.indptr[j]:a_k.indptr[j + 1]]] = 0.0
    greedy_obj = float(sum(cw[k] * (merged[k].weights - remaining[k]).sum() for k in range(nk)))
    # MIP: columns [u (n) | x_k (n each) | y_k (m_k each)]
    sizes = [mg.a.shape[1] for mg in merged]
    off_x = n
    off_y = n + nk * n
    ncol = off_y + sum(sizes)
    blocks = []
    rhs_hi = []
    host_rows = sp.hstack([-sp.csr_array(sp.kron(np.ones((nk, 1)), sp.eye_array(n))),
                           sp.eye_array(nk * n, format="csr"),
                           sp.csr_array((nk * n, sum(sizes)))], format="csr")
    blocks.append(host_rows)
    rhs_hi.append(np.zeros(nk * n))
    y_off = 0
    for k in range(nk):
        mk = sizes[k]
        at = sp.csr_array(merged[k].a.T)
        row = sp.hstack([sp.csr_array((mk, n + k * n)), -at, sp.csr_array((mk, (nk - k - 1) * n)),
                         sp.csr_array((mk, y_off)), sp.eye_array(mk, format="csr"),
                         sp.csr_array((mk, sum(sizes) - y_off - mk))], format="csr")
        blocks.append(row)
        rhs_hi.append(np.zeros(mk))
        y_off += mk
    if new_sites is not None:
        blocks.append(sp.csr_array(np.r_[np.ones(n), np.zeros(ncol - n)].reshape(1, -1)))
        rhs_hi.append(np.array([float(new_sites)]))
    if budget is not None:
        blocks.append(sp.csr_array(np.r_[f, g.reshape(-1), np.zeros(sum(sizes))]
                                   .reshape(1, -1)))
        rhs_hi.append(np.array([float(budget)]))
    matrix = sp.vstack(blocks, format="csr")
    row_hi = np.concatenate(rhs_hi)
    cost = np.r_[np.zeros(off_y), np.concatenate([cw[k] * merged[k].weights
                                                   for k in range(nk)])]
    col_lo = np.r_[forced_m.astype(np.float64), np.zeros(ncol - n)]
    col_hi = np.r_[(~excl).astype(np.float64), np.tile((~excl).astype(np.float64), nk),
                   np.ones(sum(sizes))]
    integer = np.r_[np.ones(off_y, dtype=bool), np.zeros(sum(sizes), dtype=bool)]
    y_cov = [_core.covered_columns(merged[k].a, np.flatnonzero(hosts[k])) for k in range(nk)]
    start = np.r_[is_open.astype(np.float64), hosts.reshape(-1).astype(np.float64),
                  np.concatenate(y_cov).astype(np.float64)]
    sol = _solve.solve(cost, matrix, (np.full(matrix.shape[0], -np.inf), row_hi), (col_lo, col_hi),
                       integer=integer, maximize=True, time_limit_s=_time_left(t0, time_limit_s),
                       deadline=t0 + time_limit_s,
                       mip_rel_gap=mip_gap, start=start)
    _raise_if_infeasible(
        sol, "the multi-category model is infeasible (forced sites over the budget?)")
    objective, bound, status = greedy_obj, greedy_obj, "optimal"
    if np.all(np.isfinite(sol.x)) and sol.objective > greedy_obj + 1e-9:
        hosts = sol.x[off_x:off_y].reshape(nk, n) > 0.5
        is_open = sol.x[:n] > 0.5
        objective = float(sum(cw[k] * merged[k].weights[_core.covered_columns(
            merged[k].a, np.flatnonzero(hosts[k]))].sum() for k in range(nk)))
    if math.isfinite(sol.bound):
        bound = max(objective, sol.bound)
    if bound - objective > 1e-6 * max(1.0, objective):
        status = sol.status
    chosen = np.flatnonzero(is_open).astype(np.int64)
    return _multi_result(mats, befores, w, cw, cats, hosts=hosts, chosen=chosen, ids=ids,
                         objective=objective, bound=bound, status=status, greedy=greedy_obj,
                         t0=t0, allowed=~excl, unit_community=unit_community,
                         n_alternatives=n_alternatives,
                         params={"categories": cats, "new_sites": new_sites, "budget": budget,
                                 "time_limit_s": time_limit_s, "mip_gap": mip_gap,
                                 "category_weights": dict(zip(cats, cw.tolist(), strict=True)),
                                 **_forced_excluded_params(ids, forced_m, excl)})


def _multi_result(mats: list[tuple[sp.csr_array, float | None]], befores: list[BoolArray],
                  w: FloatArray, cw: FloatArray, cats: list[str], *,
                  hosts: npt.NDArray[np.bool_], chosen: IntArray, ids: list[str],
                  objective: float, bound: float, status: str, greedy: float, t0: float,
                  allowed: BoolArray, unit_community: Any | None, n_alternatives: int,
                  params: dict[str, Any]) -> SitingResult:
    nk = len(cats)
    covered = [b.copy() for b in befores]
    left = [int(s) for s in chosen]
    order: list[int] = []
    added: list[float] = []
    newly_any: list[BoolArray] = []
    while left:
        best, best_val = left[0], -1.0
        for s in left:
            val = 0.0
            for k in range(nk):
                if hosts[k, s]:
                    a = mats[k][0]
                    row = a.indices[a.indptr[s]:a.indptr[s + 1]]
                    val += cw[k] * float(w[row[~covered[k][row]]].sum())
            if val > best_val + 1e-12:
                best, best_val = s, val
        left.remove(best)
        order.append(best)
        added.append(best_val)
        mask = np.zeros(w.size, dtype=bool)
        for k in range(nk):
            if hosts[k, best]:
                a = mats[k][0]
                row = a.indices[a.indptr[best]:a.indptr[best + 1]]
                mask[row[~covered[k][row]]] = True
                covered[k][row] = True
        newly_any.append(mask)
    before_any = np.logical_or.reduce(befores)
    after_any = np.logical_or.reduce(covered)
    lists, per_comm = communities_reached(newly_any, unit_community, w, before_any, after_any)
    sites = pd.DataFrame({
        "site_id": [ids[s] for s in order],
        "candidate_index": np.asarray(order, dtype=np.int64),
        "rank": np.arange(1, len(order) + 1),
        "added_population": added,
        "services": [[cats[k] for k in range(nk) if hosts[k, s]] for s in order],
    })
    if unit_community is not None:
        sites["newly_covered_communities"] = lists
    swaps: list[tuple[int, list[tuple[int, float]]]] = []
    if n_alternatives > 0:
        counts = []
        for k in range(nk):
            a = mats[k][0]
            pick = hosts[k].astype(np.float64)
            counts.append(np.asarray(sp.csr_array(a.T) @ pick) + befores[k])
        for s in order:
            delta = np.zeros(len(ids))
            for k in range(nk):
                if not hosts[k, s]:
                    continue
                a = mats[k][0]
                row = a.indices[a.indptr[s]:a.indptr[s + 1]]
                cnt2 = counts[k].copy()
                cnt2[row] -= 1.0
                loss = float(w[row][cnt2[row] == 0].sum())
                gain = np.asarray(a @ (w * (cnt2 == 0)), dtype=np.float64)
                delta += cw[k] * (gain - loss)
            ok = allowed.copy()
            ok[chosen] = False
            cand = np.flatnonzero(ok)
            values = objective + delta[cand]
            o = np.lexsort((cand, -values))[:n_alternatives]
            swaps.append((s, [(int(cand[i]), float(values[i])) for i in o]))
    gap = _solve.relative_gap(objective, bound)
    return SitingResult(
        model="multi_category", sites=sites,
        alternatives=alternatives_frame(swaps, ids, objective),
        covered_population_before=float(sum(w[b].sum() for b in befores)),
        covered_population_after=float(sum(w[c].sum() for c in covered)),
        total_population=float(w.sum()) * nk,
        uncoverable_population=float(sum(
            w[~b & ~_reached(a)].sum()
            for (a, _), b in zip(mats, befores, strict=True))),
        objective=objective, bound=bound, gap=0.0 if status == "optimal" else gap,
        status=status, solve_time_s=time.perf_counter() - t0, greedy_objective=greedy,
        objective_name="added_population_services", parameters=params,
        reductions={"demand_units": int(w.size), "candidates": len(ids)},
        community_coverage=per_comm)
