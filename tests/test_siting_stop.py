"""Solves that stop when done: the requested gap, the deadline, one budget for the whole call.

Regression tests for issue 17, goal 4 (no timing: every check counts solver calls or reads
statuses and parameters).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_siting_cli import base_args, write_inputs
from test_siting_models import brute_mclp, random_instance

from deyang_geo.planning.siting import common
from deyang_geo.planning.siting import core as _core
from deyang_geo.planning.siting import maximal_coverage as models
from deyang_geo.planning.siting import solve as _solve
from deyang_geo.planning.siting.maximal_coverage import mclp


def _count_mips(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    orig = _solve.solve

    def counting(*args: Any, **kwargs: Any) -> _solve.MipSolution:
        if kwargs.get("integer") is not None:
            calls.append(kwargs)
        return orig(*args, **kwargs)

    monkeypatch.setattr(_solve, "solve", counting)
    return calls


@pytest.mark.parametrize("seed", [8, 11])
def test_exact_phase_stops_once_the_lp_bound_proves_the_gap(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # found: with a gap asked for, the LP phase ran a MIP on the LP support (to gap 0) even
    # when the LP bound already proved the gap, then a second MIP
    reach, w, _, cover = random_instance(seed, n=12, m=60, radius=0.25)
    # a subgradient that proves nothing sends the solve to the LP-based phase
    monkeypatch.setattr(_core, "subgradient_bound",
                        lambda a, wt, p, target, **kw: (float(wt.sum()), np.zeros_like(wt)))
    mips = _count_mips(monkeypatch)
    res = mclp(reach, w, new_sites=3, mip_gap=0.2, n_alternatives=0)
    best = brute_mclp(cover, w, 3, np.zeros(w.size, dtype=bool))
    assert res.status in ("gap_reached", "optimal")
    assert res.gap <= 0.2
    assert res.bound >= best - 1e-6
    assert mips == []


def test_exact_phase_does_not_stop_early_without_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    reach, w, _, cover = random_instance(6, n=12, m=60, radius=0.25)
    monkeypatch.setattr(models, "_SUBGRADIENT_NNZ", 10**9)
    mips = _count_mips(monkeypatch)
    res = mclp(reach, w, new_sites=3)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(brute_mclp(cover, w, 3, np.zeros(w.size, dtype=bool)))
    assert all(call.get("stop_at") is None for call in mips)


def _mclp_mip(seed: int = 3) -> tuple[Any, ...]:
    reach, w, _, _ = random_instance(seed, n=40, m=300, radius=0.2)
    a = _core.coverage_matrix(reach)
    start = _core.greedy_cover(a, w, max_sites=4)
    model = models._mclp_model(a, w, p=4, costs=None, budget=None)
    return a, w, start, model


def test_highs_is_interrupted_at_the_deadline_not_only_at_its_own_time_limit() -> None:
    # found: HiGHS ran 61.8 s on an 8 s limit; the deadline is now enforced from callbacks
    a, w, start, model = _mclp_mip()
    sol = _solve.solve(*model[:4], integer=model[4], maximize=True, time_limit_s=1000.0,
                       deadline=time.perf_counter() - 1.0, start=common.start_vector(a, start))
    assert sol.status == "time_limit"
    assert sol.objective <= _core.covered_weight(a, w, start) + 1e-9 or np.isnan(sol.objective)


def test_highs_stops_once_the_outside_target_is_reached() -> None:
    a, w, start, model = _mclp_mip()
    inc = _core.covered_weight(a, w, start)
    sol = _solve.solve(*model[:4], integer=model[4], maximize=True, time_limit_s=1000.0,
                       start=common.start_vector(a, start), stop_at=inc)
    assert sol.status == "gap_reached"
    assert sol.objective >= inc - 1e-9
    full = _solve.solve(*model[:4], integer=model[4], maximize=True, time_limit_s=1000.0,
                        start=common.start_vector(a, start))
    assert full.status == "optimal"
    assert full.objective >= sol.objective - 1e-9


def test_big_mips_skip_the_uninterruptible_presolve_and_stay_exact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_solve, "_PRESOLVE_MAX_NNZ", 0)
    reach, w, _, cover = random_instance(2)
    for p in (1, 2, 3):
        res = mclp(reach, w, new_sites=p)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(brute_mclp(cover, w, p, np.zeros(w.size, bool)))


def test_no_time_left_keeps_the_start_without_calling_highs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, w, start, _ = _mclp_mip()
    mips = _count_mips(monkeypatch)
    sites, obj, bound, status = models._solve_mclp_mip(
        a, w, start, p=4, costs=None, budget=None, deadline=time.perf_counter() - 1.0,
        mip_gap=0.0)
    assert mips == []
    assert status == "time_limit"
    assert list(sites) == list(start)
    assert bound >= obj


def test_suggest_sites_spends_one_budget_and_reports_the_users_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # found: --time-limit went to the model afresh, after snapping and reach sets had run
    import deyang_geo.planning.siting.suggest as suggest
    from deyang_geo.cli.app import main

    seen: list[float] = []
    orig = suggest.mclp

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(float(kwargs["time_limit_s"]))
        return orig(*args, **kwargs)

    monkeypatch.setattr(suggest, "mclp", spy)
    files = write_inputs(tmp_path)
    out = tmp_path / "out"
    assert main([*base_args(files, out), "--new-sites", "2", "--candidates",
                 str(files["candidates"]), "--time-limit", "7"]) == 0
    assert len(seen) == 1
    # the whole command's budget: what reading took, and twice that for the outputs, is
    # taken off; the model gets at least a twentieth of the tenth kept for it
    assert 7.0 / 200 - 1e-9 <= seen[0] < 7.0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["parameters"]["time_limit_s"] == 7.0
