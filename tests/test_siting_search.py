"""Local search for the MCLP start: incremental swaps and the perturbed (iterated) search.

The swap search keeps each candidate's gain up to date incrementally; it is checked against
a plain reference that recomputes every gain from scratch, and the iterated search against
exhaustive search on small random instances.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from test_siting_models import random_instance

from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import maximal_coverage as models


def _reference_swap_search(a: sp.csr_array, w: np.ndarray, chosen: np.ndarray,
                           allowed: np.ndarray) -> list[int]:
    """The swap search written plainly: every gain recomputed by a full product."""
    sites = [int(s) for s in chosen]
    at = sp.csr_array(a.T)
    pick = np.zeros(a.shape[0])
    pick[sites] = 1.0
    cnt = np.asarray(at @ pick)
    for _ in range(50):
        improved = False
        for pos in range(len(sites)):
            j = sites[pos]
            row = a.indices[a.indptr[j]:a.indptr[j + 1]]
            cnt[row] -= 1.0
            loss = float(w[row][cnt[row] == 0].sum())
            gain = np.asarray(a @ (w * (cnt == 0)), dtype=np.float64)
            gain[~allowed] = -np.inf
            gain[sites] = -np.inf
            k = int(np.argmax(gain))
            if gain[k] - loss > 1e-9:
                sites[pos] = k
                cnt[a.indices[a.indptr[k]:a.indptr[k + 1]]] += 1.0
                improved = True
            else:
                cnt[row] += 1.0
        if not improved:
            break
    return sites


def _brute(a: sp.csr_array, w: np.ndarray, p: int, allowed: np.ndarray) -> float:
    dense = a.toarray() > 0
    ok = np.flatnonzero(allowed)
    return max(float(w[dense[list(c)].any(axis=0)].sum())
               for c in itertools.combinations(ok.tolist(), min(p, ok.size)))


@pytest.mark.parametrize("seed", range(8))
def test_incremental_swap_search_matches_the_plain_reference(seed: int) -> None:
    reach, w, _, _ = random_instance(seed, n=30, m=200, radius=0.2)
    a = _core.coverage_matrix(reach)
    allowed = np.ones(a.shape[0], dtype=bool)
    allowed[seed % 5::7] = False
    for p in (2, 4, 6):
        start = _core.greedy_cover(a, w, max_sites=p, allowed=allowed)
        got = _core.swap_search(a, w, start, allowed=allowed)
        assert got.tolist() == _reference_swap_search(a, w, start, allowed)


@pytest.mark.parametrize("seed", range(10))
def test_perturbed_search_is_valid_deterministic_and_never_worse(seed: int) -> None:
    reach, w, _, _ = random_instance(seed, n=14, m=120, radius=0.22)
    a = _core.coverage_matrix(reach)
    allowed = np.ones(a.shape[0], dtype=bool)
    allowed[seed % 3] = False
    for p in (2, 3, 5):
        start = _core.greedy_cover(a, w, max_sites=p, allowed=allowed)
        swapped = _core.swap_search(a, w, start, allowed=allowed)
        got = _core.perturbed_swap_search(a, w, start, allowed=allowed)
        again = _core.perturbed_swap_search(a, w, start, allowed=allowed)
        assert got.tolist() == again.tolist()
        assert len(set(got.tolist())) == got.size == start.size
        assert bool(np.all(allowed[got]))
        val = _core.covered_weight(a, w, got)
        assert val >= _core.covered_weight(a, w, swapped) - 1e-9
        assert val <= _brute(a, w, p, allowed) + 1e-9


def test_perturbed_search_finds_optima_the_swap_search_misses() -> None:
    hits = misses_of_swap = 0
    for seed in range(12):
        reach, w, _, _ = random_instance(100 + seed, n=16, m=150, radius=0.2)
        a = _core.coverage_matrix(reach)
        allowed = np.ones(a.shape[0], dtype=bool)
        start = _core.greedy_cover(a, w, max_sites=4)
        best = _brute(a, w, 4, allowed)
        swap_val = _core.covered_weight(a, w, _core.swap_search(a, w, start))
        val = _core.covered_weight(a, w, _core.perturbed_swap_search(a, w, start))
        hits += val >= best - 1e-9
        misses_of_swap += swap_val < best - 1e-9
    assert hits >= 11
    assert hits > 12 - misses_of_swap


def test_fixed_subproblem_starts_from_the_incumbent(monkeypatch: pytest.MonkeyPatch) -> None:
    # found: after Lagrangian fixing the subproblem restarted from a fresh greedy cover, so
    # the exact phase measured its gap against a worse incumbent than the one already found
    reach, w, _, _ = random_instance(4, n=30, m=250, radius=0.2)
    a = _core.coverage_matrix(reach)
    p = 4
    inc = _core.perturbed_swap_search(a, w, _core.greedy_cover(a, w, max_sites=p))
    monkeypatch.setattr(_core, "subgradient_bound",
                        lambda a_, wt, p_, target, **kw: (float(wt.sum()), np.zeros_like(wt)))
    starts: list[float] = []
    orig = models._solve_mclp_exact

    def spy(a_: sp.csr_array, w_: np.ndarray, sites0: np.ndarray, p_: int,
            **kw: Any) -> Any:
        starts.append(_core.covered_weight(a_, w_, sites0) + kw.get("offset", 0.0))
        return orig(a_, w_, sites0, p_, **kw)

    monkeypatch.setattr(models, "_solve_mclp_exact", spy)
    models._solve_mclp_cardinality(a, w, inc, p, deadline=1e18, mip_gap=0.01)
    assert starts
    assert starts[0] >= _core.covered_weight(a, w, inc) - 1e-9
    assert starts[0] > _core.covered_weight(a, w, _core.greedy_cover(a, w, max_sites=p))


def test_perturbed_search_stops_once_the_target_is_reached() -> None:
    reach, w, _, _ = random_instance(100, n=16, m=150, radius=0.2)
    a = _core.coverage_matrix(reach)
    start = _core.greedy_cover(a, w, max_sites=4)
    swapped = _core.swap_search(a, w, start)
    reached = _core.perturbed_swap_search(a, w, start,
                                          target=_core.covered_weight(a, w, swapped))
    assert reached.tolist() == swapped.tolist()
    free = _core.perturbed_swap_search(a, w, start)
    assert _core.covered_weight(a, w, free) > _core.covered_weight(a, w, swapped)
