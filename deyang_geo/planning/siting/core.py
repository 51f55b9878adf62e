"""Sparse building blocks of the siting models: coverage, reductions, greedy and swap search."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from deyang_geo.analysis.access import ReachSet
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.planning.siting.types import CandidatePick, PerUnit, Reach

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Largest number of candidate-pair overlaps computed when looking for dominated candidates.
_MAX_OVERLAP_WORK = 30_000_000


def minutes_csr(reach: Reach) -> sp.csr_array:
    """Return a reach set as a canonical CSR array of minutes (candidates x demand).

    Parameters
    ----------
    reach
        An object with ``to_csr()`` (``access.ReachSet``) or any scipy sparse matrix/array.
        Every stored entry means "reached"; an entry of 0 minutes (a candidate standing on the
        demand point) must be stored explicitly. Duplicate entries keep the smallest minutes.

    Returns
    -------
    scipy.sparse.csr_array
        Sorted indices, no duplicates, explicit zeros kept, NaN/inf entries removed.

    Raises
    ------
    InputError
        If ``reach`` is not sparse or holds negative minutes.
    """
    obj: Any = reach.to_csr() if isinstance(reach, ReachSet) or hasattr(reach, "to_csr") \
        else reach
    if not sp.issparse(obj):
        msg = ("the reach set must be a scipy sparse matrix or have .to_csr() "
               f"(got {type(reach).__name__}); dense demand x site matrices are not accepted")
        raise InputError(msg)
    if obj.format == "csr" and obj.has_canonical_format:
        csr = sp.csr_array(obj)  # sorted, no duplicates: only drop NaN/inf entries
        data = np.asarray(csr.data, dtype=np.float64)
        ok = np.isfinite(data)
        if data.size and float(data[ok].min(initial=0.0)) < 0:
            msg = "the reach set holds negative minutes"
            raise InputError(msg)
        if bool(ok.all()):
            return sp.csr_array((data.copy(), csr.indices.astype(np.int64),
                                 csr.indptr.astype(np.int64)), shape=csr.shape)
    coo = sp.coo_array(obj)
    rows = np.asarray(coo.row, dtype=np.int64)
    cols = np.asarray(coo.col, dtype=np.int64)
    vals = np.asarray(coo.data, dtype=np.float64)
    ok = np.isfinite(vals)
    rows, cols, vals = rows[ok], cols[ok], vals[ok]
    if vals.size and float(vals.min()) < 0:
        msg = "the reach set holds negative minutes"
        raise InputError(msg)
    n_rows, n_cols = (int(s) for s in coo.shape)
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    if rows.size:
        first = np.ones(rows.size, dtype=bool)
        first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        rows, cols, vals = rows[first], cols[first], vals[first]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return sp.csr_array((vals, cols, indptr), shape=(n_rows, n_cols))


def coverage_matrix(reach: Reach, *, max_minutes: float | None = None) -> sp.csr_array:
    """Return the 0/1 coverage matrix (candidates x demand, CSR, float 1.0 entries).

    Parameters
    ----------
    reach
        Reach set (see :func:`minutes_csr`).
    max_minutes
        Entries above this many minutes do not cover; ``None`` keeps every stored entry.

    Returns
    -------
    scipy.sparse.csr_array
        ``a[j, i] == 1`` when candidate ``j`` covers demand ``i``.
    """
    m = minutes_csr(reach)
    keep = np.ones(m.data.size, dtype=bool) if max_minutes is None else m.data <= max_minutes
    return _mask_entries(m, keep)


def _mask_entries(m: sp.csr_array, keep: BoolArray) -> sp.csr_array:
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))[keep]
    indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m.shape[0]), out=indptr[1:])
    return sp.csr_array((np.ones(int(keep.sum())), m.indices[keep].astype(np.int64), indptr),
                        shape=m.shape)


def as_weights(population: PerUnit, n: int, *, name: str = "population") -> FloatArray:
    """Return demand weights as a float array of length ``n``, checked (finite, >= 0)."""
    w = np.asarray(population, dtype=np.float64).reshape(-1)
    problems = []
    if w.shape[0] != n:
        problems.append(Problem(f"{name} has {w.shape[0]} values but the reach set has "
                                f"{n} demand units", column=name))
    elif not np.all(np.isfinite(w)) or (w.size and float(w.min()) < 0):
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        problems.extend(Problem(f"{name} must be a number >= 0, got {w[i]!r}", row=int(i) + 1,
                                column=name) for i in bad[:20])
    if problems:
        raise InputError(problems)
    return w.copy()


def index_mask(values: CandidatePick | None, n: int, *, name: str,
               ids: Sequence[str] | None = None) -> BoolArray:
    """Turn a list of candidate positions or ids (or a boolean mask of length n) into a mask."""
    mask = np.zeros(n, dtype=bool)
    if values is None:
        return mask
    arr = np.asarray(values)
    if arr.dtype == bool:
        if arr.shape != (n,):
            msg = f"{name} as a boolean mask must have {n} values, got {arr.shape[0]}"
            raise InputError(msg)
        return arr.copy()
    if arr.size == 0:
        return mask
    if ids is not None:
        lookup = {str(v): k for k, v in enumerate(np.asarray(ids).tolist())}
        missing = [str(v) for v in arr.tolist() if str(v) not in lookup]
        if missing:
            raise InputError([Problem(f"{name}: unknown candidate id {m!r}") for m in missing])
        mask[[lookup[str(v)] for v in arr.tolist()]] = True
        return mask
    pos = arr.astype(np.int64)
    if pos.min() < 0 or pos.max() >= n:
        msg = f"{name}: candidate positions must be in 0..{n - 1}"
        raise InputError(msg)
    mask[pos] = True
    return mask


@dataclass(frozen=True)
class Merged:
    """Demand columns with identical candidate sets merged into one weighted column.

    Attributes
    ----------
    a
        Merged coverage (candidates x groups, CSR).
    weights
        Summed weight of each group.
    group
        Group of each original demand column (-1 when the column was not kept).
    """

    a: sp.csr_array
    weights: FloatArray
    group: IntArray


def merge_identical_columns(a: sp.csr_array, weights: FloatArray, keep: BoolArray) -> Merged:
    """Merge the kept demand columns whose sets of covering candidates are identical.

    Columns are keyed by two sums of fixed random numbers over their row sets plus their
    length (a fixed seed, so deterministic; identical sets always give identical keys, and a
    false merge of different sets is vanishingly unlikely). Groups are numbered in the order
    of their first column.
    """
    csc = sp.csc_array(a)
    n_rows, n_cols = csc.shape
    rng = np.random.default_rng(20180420)
    r = rng.uniform(1.0, 2.0, size=(n_rows, 2))
    deg = np.diff(csc.indptr)
    ones = sp.csc_array((np.ones(csc.indices.size), csc.indices, csc.indptr), shape=csc.shape)
    h = np.asarray(ones.T @ r)
    kept = np.flatnonzero(keep)
    group = np.full(n_cols, -1, dtype=np.int64)
    if kept.size == 0:
        return Merged(sp.csr_array((n_rows, 0)), np.zeros(0, dtype=np.float64), group)
    keys = np.stack([h[kept, 0], h[kept, 1], deg[kept].astype(np.float64)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    # renumber groups in order of first appearance (deterministic, input order)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    g = rank[inverse]
    group[kept] = g
    reps = kept[np.sort(first)]
    merged_w = np.bincount(g, weights=weights[kept], minlength=reps.size).astype(np.float64)
    return Merged(sp.csr_array(csc[:, reps]), merged_w, group)


def dominated_candidates(a: sp.csr_array, costs: FloatArray, protect: BoolArray) -> BoolArray:
    """Return candidates whose covered set is inside another's that costs no more.

    Candidate ``j`` is dropped when some ``k`` covers every column ``j`` covers, ``cost_k <=
    cost_j``, and ``k`` is strictly preferred by (cost, then more columns, then lower index).
    Candidates covering nothing are dropped too. ``protect`` marks candidates never dropped.
    The search is skipped (nothing dropped but empty candidates) when the pairwise overlap
    matrix would be too large.
    """
    n = a.shape[0]
    deg = np.diff(a.indptr)
    drop = (deg == 0) & ~protect
    col_deg = np.diff(sp.csc_array(a).indptr).astype(np.float64)
    if float((col_deg * col_deg).sum()) > _MAX_OVERLAP_WORK or n < 2:
        return np.asarray(drop, dtype=bool)
    overlap = sp.coo_array(a @ a.T)
    j = np.asarray(overlap.row, dtype=np.int64)
    k = np.asarray(overlap.col, dtype=np.int64)
    ov = np.asarray(overlap.data)
    subset = (j != k) & (ov >= deg[j]) & (deg[j] > 0) & (costs[k] <= costs[j])
    j, k = j[subset], k[subset]
    better = (costs[k] < costs[j]) | (deg[k] > deg[j]) | ((deg[k] == deg[j]) & (k < j))
    drop[j[better]] = True
    drop &= ~protect
    return np.asarray(drop, dtype=bool)


def _column_weight_sums(csc: sp.csc_array, weights: FloatArray,
                        cols: IntArray) -> FloatArray:
    """Per row of ``csc``: the summed ``weights`` of the columns ``cols`` it covers."""
    n = csc.shape[0]
    if cols.size == 0:
        return np.zeros(n)
    starts = csc.indptr[cols].astype(np.int64)
    lengths = (csc.indptr[cols + 1] - csc.indptr[cols]).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(n)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    pos = offsets + np.arange(total, dtype=np.int64)
    return np.bincount(csc.indices[pos], weights=np.repeat(weights[cols], lengths),
                       minlength=n).astype(np.float64)


def greedy_cover(
    a: sp.csr_array,
    weights: FloatArray,
    *,
    max_sites: int | None = None,
    costs: FloatArray | None = None,
    budget: float | None = None,
    allowed: BoolArray | None = None,
    need: float | None = None,
    csc: sp.csc_array | None = None,
) -> IntArray:
    """Pick candidates one at a time by covered weight (per cost when costs are given).

    Stops after ``max_sites`` picks, when the budget allows no more, when ``need`` weight is
    covered, or when nothing adds weight. Ties go to the lowest candidate index. ``csc`` is
    ``a`` in CSC form when the caller already has it.
    """
    n, m = a.shape
    if n == 0 or m == 0:
        return np.zeros(0, dtype=np.int64)
    if csc is None:
        csc = sp.csc_array(a)
    gain = np.asarray(a @ weights, dtype=np.float64)
    ok = np.ones(n, dtype=bool) if allowed is None else allowed.copy()
    covered = np.zeros(m, dtype=bool)
    chosen: list[int] = []
    spent = 0.0
    got = 0.0
    limit = n if max_sites is None else max_sites
    while len(chosen) < limit:
        if need is not None and got >= need - 1e-9:
            break
        score = np.where(ok, gain, -np.inf)
        if costs is not None:
            if budget is not None:
                score = np.where(spent + costs <= budget + 1e-9, score, -np.inf)
            score = score / np.maximum(costs, 1e-12)
        j = int(np.argmax(score))
        if not np.isfinite(score[j]) or gain[j] <= 0:
            break
        chosen.append(j)
        ok[j] = False
        if costs is not None:
            spent += float(costs[j])
        row = a.indices[a.indptr[j]:a.indptr[j + 1]]
        new = row[~covered[row]]
        covered[new] = True
        got += float(weights[new].sum())
        if new.size:
            gain -= _column_weight_sums(csc, weights, new)
    return np.asarray(chosen, dtype=np.int64)


def swap_search(
    a: sp.csr_array,
    weights: FloatArray,
    chosen: IntArray,
    *,
    allowed: BoolArray | None = None,
    max_rounds: int = 50,
    csc: sp.csc_array | None = None,
) -> IntArray:
    """Improve a cardinality-constrained cover by best single swaps until none helps.

    For each chosen site in turn, the best replacement (most weight gained, lowest index on
    ties) is swapped in when it covers strictly more. The gain of every candidate is kept up
    to date incrementally: a swap touches only the columns whose coverage count crosses zero,
    so one try costs ``O(candidates)`` plus the reach of those columns, not a full product.
    ``csc`` is ``a`` in CSC form when the caller already has it.
    """
    n, m = a.shape
    sites = [int(s) for s in chosen]
    if not sites:
        return np.asarray(sites, dtype=np.int64)
    if csc is None:
        csc = sp.csc_array(a)
    cnt = np.bincount(a[np.asarray(sites, dtype=np.int64)].indices,
                      minlength=m).astype(np.int64)
    ok = np.ones(n, dtype=bool) if allowed is None else allowed.copy()

    def column_gain(cols: IntArray) -> FloatArray:
        return _column_weight_sums(csc, weights, cols)

    for _ in range(max_rounds):
        improved = False
        gain = np.asarray(a @ (weights * (cnt == 0)), dtype=np.float64)  # fresh each round
        for pos in range(len(sites)):
            j = sites[pos]
            row = a.indices[a.indptr[j]:a.indptr[j + 1]]
            cnt[row] -= 1
            lost = row[cnt[row] == 0]
            loss = float(weights[lost].sum())
            delta = column_gain(lost)
            trial = gain + delta
            trial[~ok] = -np.inf
            trial[sites] = -np.inf
            k = int(np.argmax(trial))
            if trial[k] - loss > 1e-9:
                sites[pos] = k
                gain += delta
                rowk = a.indices[a.indptr[k]:a.indptr[k + 1]]
                newly = rowk[cnt[rowk] == 0]
                cnt[rowk] += 1
                gain -= column_gain(newly)
                improved = True
            else:
                cnt[row] += 1
        if not improved:
            break
    return np.asarray(sites, dtype=np.int64)


def perturbed_swap_search(
    a: sp.csr_array,
    weights: FloatArray,
    chosen: IntArray,
    *,
    allowed: BoolArray | None = None,
    max_tries: int = 200,
    max_stall: int = 40,
    seed: int = 20180420,
    deadline: float | None = None,
    target: float | None = None,
) -> IntArray:
    """Improve a cover by iterated local search: swaps, then re-open a fifth of the sites.

    Each try closes ``max(1, p // 5)`` sites of the best cover found and opens as many: one
    at random, the others greedily on the demand left uncovered (draws from a fixed seed);
    it then runs :func:`swap_search` and keeps the result when it covers strictly more.
    Stops after ``max_tries`` tries, ``max_stall`` tries in a row without progress, once
    the cover reaches ``target`` weight, or at ``deadline`` (a ``time.perf_counter()``
    value). Without a deadline the result is deterministic.
    """
    n = a.shape[0]
    ok = np.ones(n, dtype=bool) if allowed is None else allowed.copy()
    csc = sp.csc_array(a)
    best = swap_search(a, weights, chosen, allowed=ok, csc=csc)
    p = best.size
    if p < 2 or p >= int(ok.sum()):
        return best
    best_val = covered_weight(a, weights, best)
    rng = np.random.default_rng(seed)
    k = max(1, p // 5)
    stall = 0
    for _ in range(max_tries):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        if target is not None and best_val >= target:
            break
        keep = np.delete(best, rng.choice(p, size=k, replace=False))
        free_ok = ok.copy()
        free_ok[keep] = False
        seed_site = rng.choice(np.flatnonzero(free_ok), size=1)  # a random site, to diversify
        keep = np.r_[keep, seed_site].astype(np.int64)
        free_ok[seed_site] = False
        left = weights * ~covered_columns(a, keep)
        refill = greedy_cover(a, left, max_sites=k - 1, allowed=free_ok, csc=csc)
        trial = swap_search(a, weights, np.r_[keep, refill].astype(np.int64), allowed=ok,
                            csc=csc)
        val = covered_weight(a, weights, trial)
        if val > best_val + 1e-9:
            best, best_val, stall = trial, val, 0
        else:
            stall += 1
            if stall >= max_stall:
                break
    return best


def covered_weight(a: sp.csr_array, weights: FloatArray, sites: IntArray) -> float:
    """Return the weight of the columns covered by at least one of ``sites``."""
    return float(weights[covered_columns(a, sites)].sum())


def covered_columns(a: sp.csr_array, sites: IntArray) -> BoolArray:
    """Return the mask of columns covered by at least one of ``sites``."""
    mask = np.zeros(a.shape[1], dtype=bool)
    if len(sites):
        sub = a[np.asarray(sites, dtype=np.int64)]
        mask[sub.indices] = True
    return mask


def lagrangian_bound(a: sp.csr_array, weights: FloatArray, lam: FloatArray,
                     p: int) -> tuple[float, FloatArray, IntArray]:
    """Return the Lagrangian bound of the cardinality MCLP for multipliers ``lam``.

    ``L(lam) = sum_i max(0, w_i - lam_i) + (sum of the p largest positive c_j)`` with
    ``c_j = sum_{i in N_j} lam_i``: a valid upper bound for any ``lam >= 0``.
    Also returns ``c`` and the candidate order by decreasing ``c`` (stable).
    """
    lam = np.clip(lam, 0.0, weights)
    c = np.asarray(a @ lam, dtype=np.float64)
    order = np.argsort(-c, kind="stable")
    top = np.maximum(c[order[:p]], 0.0)
    return float(np.maximum(weights - lam, 0.0).sum() + top.sum()), c, order


def subgradient_bound(
    a: sp.csr_array,
    weights: FloatArray,
    p: int,
    target: float,
    *,
    max_iter: int = 400,
    time_limit_s: float = 30.0,
    stop_gap: float = 0.0,
) -> tuple[float, FloatArray]:
    """Minimise the Lagrangian bound of the cardinality MCLP by subgradient steps.

    Polyak steps towards ``target`` (the incumbent), the step factor starting at 2 and halved
    after 20 steps without progress. Stops when the bound is within ``stop_gap`` (relative)
    of ``target``, after ``max_iter`` steps or ``time_limit_s`` seconds.

    Returns
    -------
    tuple
        The best bound and its multipliers.
    """
    t0 = time.perf_counter()
    m = a.shape[1]
    lam = 0.5 * weights
    best, best_lam = float(weights.sum()), lam.copy()
    factor, stall = 2.0, 0
    for _ in range(max_iter):
        val, _, order = lagrangian_bound(a, weights, lam, p)
        if val < best - 1e-9:
            best, best_lam, stall = val, lam.copy(), 0
        else:
            stall += 1
            if stall >= 20:
                factor, stall = factor * 0.5, 0
        if (best - target) <= stop_gap * max(abs(target), 1.0) or factor < 1e-4:
            break
        if time.perf_counter() - t0 > time_limit_s:
            break
        # integer subgradient: its squared norm is an exact integer sum (a float dot product
        # would go to a multi-threaded BLAS, six times slower on a busy machine)
        sub = np.bincount(a[order[:p]].indices, minlength=m) - (lam < weights).astype(np.int64)
        norm = float(np.dot(sub, sub))
        if norm == 0.0:
            break
        lam = np.clip(lam - factor * max(val - target, 1e-9) / norm * sub, 0.0, weights)
    return best, best_lam
