"""p-median: p new sites that minimise the population-weighted minutes to the nearest site."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from deyang_geo.core.errors import InputError
from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.common import (
    BoolArray,
    FloatArray,
    IntArray,
    candidate_id_list,
    check_forced_count,
    coverage_result,
    forced_excluded,
    forced_excluded_params,
    raise_if_infeasible,
    solver_time_limit,
    time_left,
)
from deyang_geo.planning.siting.result import (
    SitingResult,
)
from deyang_geo.planning.siting.types import CandidatePick, PerUnit, Reach

__all__ = [
    "pmedian",
]


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
    reach: Reach,
    population: PerUnit,
    *,
    new_sites: int,
    existing_minutes: PerUnit | None = None,
    max_minutes: float | None = None,
    nearest_k: int = 20,
    unreached_minutes: float | None = None,
    threshold_minutes: float | None = None,
    forced: CandidatePick | None = None,
    excluded: CandidatePick | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: PerUnit | None = None,
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
    time_limit_s = solver_time_limit(time_limit_s)
    mins = _core.minutes_csr(reach)
    if max_minutes is not None:
        keep = mins.data <= max_minutes
        rows_all = np.repeat(np.arange(mins.shape[0]), np.diff(mins.indptr))
        mins = sp.csr_array((mins.data[keep], (rows_all[keep], mins.indices[keep])),
                            shape=mins.shape)
    n, m = mins.shape
    w = _core.as_weights(population, m)
    ids = candidate_id_list(candidate_ids, n)
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
    forced_m, excl = forced_excluded(forced, excluded, n, ids)
    forced_idx = np.flatnonzero(forced_m).astype(np.int64)
    check_forced_count(forced_idx.size, new_sites)
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
                           time_limit_s=time_left(t0, time_limit_s),
                           deadline=t0 + time_limit_s, mip_rel_gap=mip_gap, start=start)
        raise_if_infeasible(sol, "the p-median model is infeasible")
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
              "mip_gap": mip_gap, **forced_excluded_params(ids, forced_m, excl)}
    # population assigned to each chosen site (nearest open facility; existing wins ties)
    sub = sp.coo_array(mins[chosen])
    best1, arg1, _ = _column_best_two(np.asarray(sub.row, dtype=np.int64),
                                      np.asarray(sub.col, dtype=np.int64),
                                      np.asarray(sub.data, dtype=np.float64), m)
    wins = (arg1 >= 0) & (best1 < b_exist)
    assigned_pop = np.bincount(arg1[wins], weights=w[wins], minlength=chosen.size)
    swaps = _pmedian_swaps(mins, w, b_exist, chosen, allowed=~excl & ~forced_m,
                           k=n_alternatives) if n_alternatives > 0 else []
    return coverage_result(
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

