"""Several categories sited at once on shared candidates (one site, one category)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
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
    checked_costs,
    existing_mask,
    forced_excluded,
    forced_excluded_params,
    raise_if_infeasible,
    reached_units,
    solver_time_limit,
    time_left,
)
from deyang_geo.planning.siting.result import (
    SitingResult,
    alternatives_frame,
    communities_reached,
)
from deyang_geo.planning.siting.types import CandidatePick, PerCandidate, PerUnit

__all__ = [
    "multi_category",
]


# --------------------------------------------------------------------------------------------
# several categories at once
# --------------------------------------------------------------------------------------------

def multi_category(
    reaches: Mapping[str, Any],
    population: PerUnit,
    *,
    new_sites: int | None = None,
    budget: float | None = None,
    site_costs: PerCandidate | None = None,
    service_costs: Mapping[str, Any] | None = None,
    max_minutes: float | Mapping[str, float] | None = None,
    existing_covered: Mapping[str, Any] | None = None,
    category_weights: Mapping[str, float] | None = None,
    forced: CandidatePick | None = None,
    excluded: CandidatePick | None = None,
    candidate_ids: Sequence[Any] | None = None,
    unit_community: PerUnit | None = None,
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
    time_limit_s = solver_time_limit(time_limit_s)
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
    ids = candidate_id_list(candidate_ids, n)
    f = checked_costs(site_costs, n, "site_costs")
    g_in = service_costs or {}
    if f is None:
        f = np.ones(n) if (budget is not None and not g_in) else np.zeros(n)
    g = np.zeros((len(cats), n))
    for kk, cat in enumerate(cats):
        if cat in g_in:
            g[kk] = np.broadcast_to(np.asarray(g_in[cat], dtype=np.float64), (n,))
    cw = np.array([float((category_weights or {}).get(cat, 1.0)) for cat in cats])
    forced_m, excl = forced_excluded(forced, excluded, n, ids)
    check_forced_count(int(forced_m.sum()), new_sites)
    befores = [existing_mask((existing_covered or {}).get(cat), m, thr)
               for cat, (_, thr) in zip(cats, mats, strict=True)]
    merged = [_core.merge_identical_columns(a, w, reached_units(a) & ~b)
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
                       integer=integer, maximize=True, time_limit_s=time_left(t0, time_limit_s),
                       deadline=t0 + time_limit_s,
                       mip_rel_gap=mip_gap, start=start)
    raise_if_infeasible(
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
                                 **forced_excluded_params(ids, forced_m, excl)})


def _multi_result(mats: list[tuple[sp.csr_array, float | None]], befores: list[BoolArray],
                  w: FloatArray, cw: FloatArray, cats: list[str], *,
                  hosts: npt.NDArray[np.bool_], chosen: IntArray, ids: list[str],
                  objective: float, bound: float, status: str, greedy: float, t0: float,
                  allowed: BoolArray, unit_community: PerUnit | None, n_alternatives: int,
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
            w[~b & ~reached_units(a)].sum()
            for (a, _), b in zip(mats, befores, strict=True))),
        objective=objective, bound=bound, gap=0.0 if status == "optimal" else gap,
        status=status, solve_time_s=time.perf_counter() - t0, greedy_objective=greedy,
        objective_name="added_population_services", parameters=params,
        reductions={"demand_units": int(w.size), "candidates": len(ids)},
        community_coverage=per_comm)

