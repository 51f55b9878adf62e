"""What the siting models share: inputs checked, candidates reduced, time budgets, results."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from deyang_geo.core import settings
from deyang_geo.core.checks import check_positive
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
from deyang_geo.planning.siting.types import CandidatePick, PerCandidate, PerUnit, Reach

FloatArray = npt.NDArray[np.float64]

IntArray = npt.NDArray[np.int64]

BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------------------------
# shared preparation
# --------------------------------------------------------------------------------------------

def existing_mask(existing: PerUnit | None, m: int, max_minutes: float | None) -> BoolArray:
    """Return which demand units existing facilities already cover (``None``: none)."""
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


def candidate_id_list(ids: Sequence[Any] | None, n: int) -> list[str]:
    """Return the candidate ids as texts, ``0..n-1`` when none are given; check their count."""
    if ids is None:
        return [str(j) for j in range(n)]
    out = [str(v) for v in ids]
    if len(out) != n:
        msg = f"candidate_ids has {len(out)} values but the reach set has {n} candidates"
        raise InputError(msg)
    return out


def checked_costs(costs: PerCandidate | None, n: int, name: str = "costs") -> FloatArray | None:
    """Return per-candidate costs as a float array of length ``n``, checked; ``None`` passes."""
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


def forced_excluded(forced: CandidatePick | None, excluded: CandidatePick | None, n: int,
                     ids: list[str] | None) -> tuple[BoolArray, BoolArray]:
    """Return the forced and excluded candidate masks, given as indices or ids; never both."""
    f = _core.index_mask(forced, n, name="forced", ids=ids)
    e = _core.index_mask(excluded, n, name="excluded", ids=ids)
    both = np.flatnonzero(f & e)
    if both.size:
        raise InputError([Problem(f"candidate {ids[b] if ids else b} is both forced and excluded")
                          for b in both])
    return f, e


def coverage_inputs(reach: Reach, population: PerUnit, max_minutes: float | None,
                     candidate_ids: Sequence[Any] | None) -> tuple[sp.csr_array, FloatArray,
                                                                  list[str]]:
    """Coverage matrix, demand weights and candidate ids, checked against each other."""
    a = _core.coverage_matrix(reach, max_minutes=max_minutes)
    n, m = a.shape
    w = _core.as_weights(population, m)
    return a, w, candidate_id_list(candidate_ids, n)


@dataclass(frozen=True)
class CoverageProblem:
    """The inputs every coverage model starts from, read and checked once.

    ``a`` is the candidates x demand coverage matrix, ``w`` the population of each demand
    unit, ``ids`` the candidate ids, ``costs`` the per-candidate costs (``None`` when none were
    given), ``before`` the units existing facilities already cover, ``forced`` and ``excluded``
    candidate masks, ``t0`` when the solve started and ``time_limit_s`` its whole budget.
    """

    a: sp.csr_array
    w: FloatArray
    ids: list[str]
    costs: FloatArray | None
    before: BoolArray
    forced: BoolArray
    excluded: BoolArray
    t0: float
    time_limit_s: float

    @property
    def forced_idx(self) -> IntArray:
        """Positions of the forced candidates."""
        return np.flatnonzero(self.forced).astype(np.int64)


def coverage_problem(reach: Reach, population: PerUnit, *, max_minutes: float | None,
                     candidate_ids: Sequence[Any] | None, costs: PerCandidate | None,
                     existing_covered: PerUnit | None, forced: CandidatePick | None,
                     excluded: CandidatePick | None,
                     time_limit_s: float | None) -> CoverageProblem:
    """Read and check what every coverage model (MCLP, LSCP, capacitated) starts from.

    The clock for ``time_limit_s`` starts here, so reading the inputs counts against it.
    """
    t0 = time.perf_counter()
    limit = solver_time_limit(time_limit_s)
    a, w, ids = coverage_inputs(reach, population, max_minutes, candidate_ids)
    n, m = a.shape
    cost = checked_costs(costs, n)
    before = existing_mask(existing_covered, m, max_minutes)
    forced_m, excl = forced_excluded(forced, excluded, n, ids)
    return CoverageProblem(a=a, w=w, ids=ids, costs=cost, before=before, forced=forced_m,
                           excluded=excl, t0=t0, time_limit_s=limit)


def check_one_limit(new_sites: int | None, budget: float | None) -> None:
    """Refuse unless exactly one of ``new_sites`` and ``budget`` is given."""
    if (new_sites is None) == (budget is None):
        msg = "give exactly one of new_sites (a number of sites) or budget (with costs)"
        raise InputError(msg)


def check_forced_count(n_forced: int, new_sites: int | None) -> None:
    """Refuse more forced sites than ``new_sites``."""
    if new_sites is not None and n_forced > new_sites:
        msg = f"{n_forced} forced sites exceed new_sites={new_sites}"
        raise InfeasibleError(msg)


def forced_excluded_params(ids: list[str], forced: BoolArray,
                            excluded: BoolArray) -> dict[str, list[str]]:
    """Return the forced and excluded candidate ids for the result's parameters."""
    return {"forced": [ids[j] for j in np.flatnonzero(forced)],
            "excluded": [ids[j] for j in np.flatnonzero(excluded)]}


def reached_units(a: sp.csr_array) -> BoolArray:
    """Demand columns that at least one candidate (row) of ``a`` reaches."""
    reached: BoolArray = np.diff(sp.csc_array(a).indptr) > 0
    return reached


def time_left(t0: float, time_limit_s: float) -> float:
    """Seconds left of ``time_limit_s`` since ``t0`` (0 when spent)."""
    return max(time_limit_s - (time.perf_counter() - t0), 0.0)


def gap_target(bound: float, mip_gap: float) -> float:
    """Return the smallest objective whose relative gap to ``bound`` is at most ``mip_gap``.

    ``relative_gap(obj, bound) = (bound - obj) / max(obj, 1) <= mip_gap`` holds for every
    ``obj >= bound / (1 + mip_gap)`` (objectives of at least 1).
    """
    return bound / (1.0 + mip_gap)


def raise_if_infeasible(sol: _solve.MipSolution, msg: str) -> None:
    """Raise :class:`InfeasibleError` with ``msg`` when the solver proved infeasibility."""
    if sol.status == "infeasible":
        raise InfeasibleError(msg)


def reduce_candidates(a_allowed: sp.csr_array, w: FloatArray, cols: BoolArray,
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


def solver_time_limit(value: float | None) -> float:
    """Return the solver's time limit in seconds (the setting when ``None``), checked > 0."""
    return check_positive(settings.siting_time_limit_s if value is None else value,
                          name="time_limit_s", unit="seconds")


def integral(w: FloatArray) -> bool:
    """Return whether every weight is a whole number (then the MIP objective is integral)."""
    return bool(np.all(w == np.round(w)))


def start_vector(a: sp.csr_array, sites: IntArray) -> FloatArray:
    """Return a MIP start (site and coverage variables) for the given open sites."""
    n, m = a.shape
    x = np.zeros(n + m)
    x[sites] = 1.0
    x[n:] = _core.covered_columns(a, sites).astype(np.float64)
    return x


def coverage_result(
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
    unit_community: PerUnit | None,
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


def serve_from_site(er: IntArray, ec: IntArray, remaining: FloatArray, z: FloatArray,
                    wg: FloatArray, *, j: int, cap: float) -> None:
    """Let site ``j`` serve up to ``cap`` of the remaining demand it reaches, proportionally."""
    sel = np.flatnonzero(er == j)
    avail = float(remaining[ec[sel]].sum())
    if avail <= 0:
        return
    share = min(1.0, cap / avail)
    served = remaining[ec[sel]] * share
    z[sel] += np.divide(served, wg[ec[sel]], out=np.zeros(sel.size), where=wg[ec[sel]] > 0)
    remaining[ec[sel]] -= served

