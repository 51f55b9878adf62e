"""Big cardinality MCLPs: the PDLP bound, the restarted search, no exact phase when hopeless.

Issue 17, goal 4: on the clustered 20,000 x 5,000 instance the interior-point LP took about
20 s of CPU and, stopped by the deadline, gave no bound at all; PDLP's duals at any moment
give a valid bound once ``L(lam)`` is evaluated exactly. Every check here is against
exhaustive search on small instances (the size thresholds are lowered to reach the paths).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from test_siting_models import brute_mclp, random_instance

from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import maximal_coverage as models
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.maximal_coverage import mclp


def _spy_solves(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    orig = _solve.solve

    def spy(*args: Any, **kwargs: Any) -> _solve.MipSolution:
        calls.append(kwargs)
        return orig(*args, **kwargs)

    monkeypatch.setattr(_solve, "solve", spy)
    return calls


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("seconds", [0.0, 5.0])
def test_pdlp_bound_is_valid_even_when_stopped_early(seed: int, seconds: float) -> None:
    reach, w, _, cover = random_instance(seed, n=10, m=40, radius=0.3)
    a = _core.coverage_matrix(reach)
    p = 3
    best = brute_mclp(cover, w, p, np.zeros(w.size, dtype=bool))
    got = models._pdlp_bound(a, w, p, deadline=time.perf_counter() + seconds + 0.01)
    assert got is not None
    bound, lam = got
    assert np.all((lam >= 0) & (lam <= w))
    assert bound >= best - 1e-6
    assert bound == pytest.approx(_core.lagrangian_bound(a, w, lam, p)[0])
    if seconds > 0:  # converged: the LP optimum, so no weaker than the interior point's
        model = models._mclp_model(a, w, p=p, costs=None, budget=None)
        lp = _solve.solve(*model[:4], integer=None, maximize=True, time_limit_s=60.0)
        assert bound <= lp.objective * (1 + 1e-3) + 1e-6


def test_pdlp_bound_without_time_gives_nothing() -> None:
    reach, w, _, _ = random_instance(0, n=10, m=40)
    a = _core.coverage_matrix(reach)
    assert models._pdlp_bound(a, w, 3, deadline=time.perf_counter() - 1.0) is None


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gap", [0.0, 0.05])
def test_big_path_matches_exhaustive_search(seed: int, gap: float,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_SUBGRADIENT_NNZ", 0)
    monkeypatch.setattr(models, "_PDLP_NNZ", 0)
    reach, w, _, cover = random_instance(seed, n=12, m=60, radius=0.25)
    calls = _spy_solves(monkeypatch)
    res = mclp(reach, w, new_sites=3, mip_gap=gap, time_limit_s=60.0, n_alternatives=0)
    best = brute_mclp(cover, w, 3, np.zeros(w.size, dtype=bool))
    assert res.objective <= best + 1e-6
    assert res.bound >= best - 1e-6
    assert res.status in ("optimal", "gap_reached")
    assert res.gap <= gap + 1e-9
    if gap == 0.0:
        assert res.objective == pytest.approx(best)
    # the bound phase ran PDLP unless the subgradient had proven the gap already
    assert any(c.get("lp_method") == "pdlp" for c in calls) or not calls


@pytest.mark.parametrize("seed", range(6))
def test_hopeless_exact_phase_is_skipped_for_the_search(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # found: on the clustered instance the bound fixed no candidate, yet the exact phase
    # solved the LP again from scratch and started two MIPs that could not finish
    monkeypatch.setattr(models, "_SUBGRADIENT_NNZ", 0)
    monkeypatch.setattr(models, "_PDLP_NNZ", 0)
    monkeypatch.setattr(models, "_BIG_FREE_SHARE", -1.0)  # never enough fixed
    monkeypatch.setattr(_core, "subgradient_bound",
                        lambda a, wt, p, target, **kw: (float(wt.sum()), 0.5 * wt))
    reach, w, _, cover = random_instance(seed, n=12, m=60, radius=0.25)
    calls = _spy_solves(monkeypatch)
    res = mclp(reach, w, new_sites=3, mip_gap=1e-9, time_limit_s=0.5, n_alternatives=0)
    best = brute_mclp(cover, w, 3, np.zeros(w.size, dtype=bool))
    assert [c.get("lp_method") for c in calls] == ["pdlp"]
    assert res.objective <= best + 1e-6
    assert res.bound >= best - 1e-6
    assert res.objective == pytest.approx(_core.covered_weight(
        _core.coverage_matrix(reach), w, res.sites["candidate_index"].to_numpy()))


def test_restarted_search_is_never_worse_and_stops_at_the_target() -> None:
    reach, w, _, cover = random_instance(4, n=14, m=70, radius=0.22)
    a = _core.coverage_matrix(reach)
    start = _core.greedy_cover(a, w, max_sites=4)
    got = models._restarted_search(a, w, start, target=None,
                                   deadline=time.perf_counter() + 0.3, restarts=True)
    assert got.size == 4
    assert len(set(got.tolist())) == 4
    val = _core.covered_weight(a, w, got)
    assert val >= _core.covered_weight(a, w, start) - 1e-9
    assert val <= brute_mclp(cover, w, 4, np.zeros(w.size, dtype=bool)) + 1e-9
    # a target already met: one search, nothing more
    once = models._restarted_search(a, w, start, target=0.0,
                                    deadline=time.perf_counter() + 60.0, restarts=True)
    assert _core.covered_weight(a, w, once) >= _core.covered_weight(a, w, start) - 1e-9
