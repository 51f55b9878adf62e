"""Siting models against exhaustive search, hand-solved fixtures and spopt."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from deyang_geo.core.errors import InfeasibleError, InputError
from deyang_geo.planning.siting.maximal_coverage import mclp
from deyang_geo.planning.siting.p_median import pmedian
from deyang_geo.planning.siting.set_cover import lscp


def random_instance(seed: int, n: int = 8, m: int = 25, radius: float = 0.3):
    rng = np.random.default_rng(seed)
    cand = rng.uniform(0, 1, (n, 2))
    dem = rng.uniform(0, 1, (m, 2))
    dist = np.hypot(cand[:, None, 0] - dem[None, :, 0], cand[:, None, 1] - dem[None, :, 1])
    minutes = dist * 50.0
    rows, cols = np.nonzero(dist <= radius)
    reach = sp.csr_array((minutes[rows, cols], (rows, cols)), shape=(n, m))
    w = rng.integers(1, 50, m).astype(float)
    return reach, w, minutes, dist <= radius


def brute_mclp(cover: np.ndarray, w: np.ndarray, p: int, before: np.ndarray) -> float:
    n = cover.shape[0]
    best = 0.0
    for k in range(min(p, n) + 1):
        for combo in itertools.combinations(range(n), k):
            cov = before | cover[list(combo)].any(axis=0)
            best = max(best, float(w[cov & ~before].sum()))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_mclp_matches_exhaustive_search(seed: int) -> None:
    reach, w, _, cover = random_instance(seed)
    before = np.zeros(w.size, dtype=bool)
    before[::7] = True
    for p in (1, 2, 3):
        res = mclp(reach, w, new_sites=p, existing_covered=before, n_alternatives=2)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(brute_mclp(cover, w, p, before))
        assert res.bound == pytest.approx(res.objective)
        assert len(res.sites) <= p
        assert res.covered_population_after - res.covered_population_before == pytest.approx(
            res.objective)
        assert res.greedy_objective <= res.objective + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_mclp_budget_matches_exhaustive_search(seed: int) -> None:
    reach, w, _, cover = random_instance(seed)
    costs = np.random.default_rng(seed + 100).integers(1, 4, cover.shape[0]).astype(float)
    budget = 4.0
    best = 0.0
    for k in range(cover.shape[0] + 1):
        for combo in itertools.combinations(range(cover.shape[0]), k):
            if costs[list(combo)].sum() <= budget:
                best = max(best, float(w[cover[list(combo)].any(axis=0)].sum()))
    res = mclp(reach, w, budget=budget, costs=costs)
    assert res.objective == pytest.approx(best)
    chosen = res.sites["candidate_index"].to_numpy()
    assert costs[chosen].sum() <= budget


def test_mclp_hand_solved_fixture() -> None:
    # 3 candidates, 4 units: A covers u0,u1 (10+10); B covers u1,u2 (10+30); C covers u3 (25).
    reach = sp.csr_array(np.array([[1.0, 2.0, 0, 0], [0, 3.0, 0.0, 0], [0, 0, 0, 4.0]]))
    reach = sp.csr_array((np.array([1.0, 2.0, 3.0, 0.0, 4.0]),
                          (np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 3]))), shape=(3, 4))
    w = np.array([10.0, 10.0, 30.0, 25.0])
    res = mclp(reach, w, new_sites=1, candidate_ids=["A", "B", "C"])
    assert res.site_ids == ["B"]
    assert res.objective == 40.0
    res2 = mclp(reach, w, new_sites=2, candidate_ids=["A", "B", "C"])
    assert res2.site_ids == ["B", "C"]
    assert list(res2.sites["added_population"]) == [40.0, 25.0]
    # the 0-minute entry (B on u2) is a stored entry and covers
    res3 = mclp(reach, w, new_sites=1, candidate_ids=["A", "B", "C"], excluded=["B"])
    assert res3.site_ids == ["C"]
    res4 = mclp(reach, w, new_sites=2, candidate_ids=["A", "B", "C"], forced=["A"])
    assert sorted(res4.site_ids) == ["A", "B"]
    assert res4.objective == 50.0
    # alternatives: swapping B for A gives 20, for C gives 25 (exact)
    alts = res.alternatives
    assert list(alts["alternative_id"]) == ["C", "A"]
    assert list(alts["objective_if_swapped"]) == [25.0, 20.0]


def test_mclp_threshold_and_existing_minutes() -> None:
    reach = sp.csr_array((np.array([5.0, 20.0]), (np.array([0, 1]), np.array([0, 1]))),
                         shape=(2, 2))
    w = np.array([3.0, 7.0])
    res = mclp(reach, w, new_sites=1, max_minutes=15.0)
    assert res.objective == 3.0
    res = mclp(reach, w, new_sites=1, max_minutes=15.0,
               existing_covered=np.array([10.0, np.nan]))
    assert res.objective == 0.0
    assert res.covered_population_before == 3.0


def test_mclp_errors() -> None:
    reach, w, _, _ = random_instance(0)
    with pytest.raises(InputError):
        mclp(reach, w)
    with pytest.raises(InputError):
        mclp(reach, w[:-1], new_sites=1)
    with pytest.raises(InputError):
        mclp(np.ones((3, 3)), np.ones(3), new_sites=1)
    with pytest.raises(InfeasibleError):
        mclp(reach, w, new_sites=1, forced=[0, 1])
    with pytest.raises(InputError):
        mclp(reach, w, new_sites=1, forced=[0], excluded=[0])


def test_mclp_deterministic_and_does_not_mutate() -> None:
    reach, w, _, _ = random_instance(3, n=12, m=60)
    w0, data0 = w.copy(), reach.data.copy()
    a = mclp(reach, w, new_sites=3)
    b = mclp(reach, w, new_sites=3)
    assert a.site_ids == b.site_ids
    assert a.alternatives.equals(b.alternatives)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(reach.data, data0)


def brute_lscp(cover: np.ndarray, w: np.ndarray, share: float | None) -> int | None:
    n = cover.shape[0]
    coverable = cover.any(axis=0)
    for k in range(n + 1):
        for combo in itertools.combinations(range(n), k):
            cov = cover[list(combo)].any(axis=0)
            if share is None:
                if np.all(cov[coverable]):
                    return k
            elif w[cov].sum() >= share * w.sum() - 1e-9:
                return k
    return None


@pytest.mark.parametrize("seed", range(5))
def test_lscp_matches_exhaustive_search(seed: int) -> None:
    reach, w, _, cover = random_instance(seed)
    res = lscp(reach, w)
    assert res.status == "optimal"
    assert res.objective == brute_lscp(cover, w, None)
    assert res.uncoverable_population == pytest.approx(w[~cover.any(axis=0)].sum())
    res = lscp(reach, w, target_share=0.5)
    assert res.objective == brute_lscp(cover, w, 0.5)
    assert res.covered_population_after >= 0.5 * w.sum() - 1e-9


def test_lscp_infeasible_target_is_reported() -> None:
    reach, w, _, cover = random_instance(1, radius=0.15)
    assert not cover.any(axis=0).all()
    with pytest.raises(InfeasibleError, match="out of reach"):
        lscp(reach, w, target_share=1.0)


def brute_pmedian(minutes, reach_mask, w, p, base):
    n = minutes.shape[0]
    best = np.inf
    for combo in itertools.combinations(range(n), p):
        t = np.where(reach_mask[list(combo)], minutes[list(combo)], np.inf).min(axis=0)
        best = min(best, float((w * np.minimum(base, t)).sum()))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_pmedian_matches_exhaustive_search(seed: int) -> None:
    reach, w, minutes, cover = random_instance(seed, radius=0.5)
    existing = np.where(np.arange(w.size) % 5 == 0, 3.0, np.nan)
    base = np.where(np.isnan(existing), 60.0, existing)
    for p in (1, 2):
        res = pmedian(reach, w, new_sites=p, existing_minutes=existing, unreached_minutes=60.0,
                      nearest_k=20)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(brute_pmedian(minutes, cover, w, p, base))
        alts = res.alternatives
        # each alternative's objective is exact: recompute one by hand
        row = alts.iloc[0]
        sites = [int(s) for s in res.sites["candidate_index"]]
        sites[sites.index(int(row["site_id"]))] = int(row["alternative_id"])
        t = np.where(cover[sites], minutes[sites], np.inf).min(axis=0)
        assert row["objective_if_swapped"] == pytest.approx(
            float((w * np.minimum(base, t)).sum()))


def test_pmedian_small_k_keeps_a_valid_bound() -> None:
    reach, w, minutes, cover = random_instance(2, n=10, radius=0.6)
    res = pmedian(reach, w, new_sites=2, nearest_k=1, unreached_minutes=60.0)
    exact = brute_pmedian(minutes, cover, w, 2, np.full(w.size, 60.0))
    assert res.bound <= exact + 1e-6
    assert res.objective >= exact - 1e-6


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_mclp_equals_spopt() -> None:
    spopt = pytest.importorskip("spopt.locate")
    import pulp

    reach, w, _, cover = random_instance(7, n=15, m=80, radius=0.25)
    dense_cost = np.where(cover, 1.0, 100.0).T  # demand x candidates, only for spopt
    model = spopt.MCLP.from_cost_matrix(dense_cost, w, service_radius=1.0, p_facilities=4)
    model = model.solve(pulp.HiGHS(msg=False) if hasattr(pulp, "HiGHS")
                        else pulp.PULP_CBC_CMD(msg=False))
    spopt_obj = float(pulp.value(model.problem.objective))
    ours = mclp(reach, w, new_sites=4)
    assert ours.objective == pytest.approx(spopt_obj)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_lscp_equals_spopt() -> None:
    spopt = pytest.importorskip("spopt.locate")
    import pulp

    reach, w, _, cover = random_instance(8, n=15, m=60, radius=0.35)
    keep = cover.any(axis=0)
    dense_cost = np.where(cover[:, keep], 1.0, 100.0).T
    model = spopt.LSCP.from_cost_matrix(dense_cost, service_radius=1.0)
    model = model.solve(pulp.HiGHS(msg=False) if hasattr(pulp, "HiGHS")
                        else pulp.PULP_CBC_CMD(msg=False))
    spopt_obj = float(pulp.value(model.problem.objective))
    ours = lscp(reach, w)
    assert ours.objective == pytest.approx(spopt_obj)


def brute_capacitated(cover, w, cap, p):
    from scipy.optimize import linprog

    n, m = cover.shape
    best = 0.0
    for combo in itertools.combinations(range(n), p):
        pairs = [(j, i) for j in combo for i in range(m) if cover[j, i]]
        if not pairs:
            continue
        c = -np.array([w[i] for _, i in pairs])
        a_ub, b_ub = [], []
        for i in range(m):
            a_ub.append([1.0 if ii == i else 0.0 for _, ii in pairs])
            b_ub.append(1.0)
        for j in combo:
            a_ub.append([w[ii] if jj == j else 0.0 for jj, ii in pairs])
            b_ub.append(cap[j])
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
        best = max(best, -res.fun)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_capacitated_matches_exhaustive_search(seed: int) -> None:
    from deyang_geo.planning.siting.capacitated import capacitated_coverage

    reach, w, _, cover = random_instance(seed, n=6, m=20, radius=0.4)
    cap = np.random.default_rng(seed).integers(20, 120, 6).astype(float)
    for p in (1, 2):
        res = capacitated_coverage(reach, w, new_sites=p, capacity_population=cap)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(brute_capacitated(cover, w, cap, p), rel=1e-6)
        assert np.all(res.sites["assigned_population"].to_numpy()
                      <= res.sites["capacity_population"].to_numpy() + 1e-6)


def test_capacitated_from_floor_area() -> None:
    from deyang_geo.planning.siting.capacitated import capacitated_coverage

    reach = sp.csr_array((np.array([1.0, 1.0]), (np.array([0, 0]), np.array([0, 1]))),
                         shape=(1, 2))
    res = capacitated_coverage(reach, np.array([100.0, 100.0]), new_sites=1,
                               floor_area_m2=[300.0], m2_per_person=2.0)
    assert res.objective == pytest.approx(150.0)
    assert res.covered_population_after == pytest.approx(150.0)


def brute_multi(covers, w, site_cost, service_cost, budget):
    n = covers[0].shape[0]
    nk = len(covers)
    best = 0.0
    options = list(itertools.product([0, 1], repeat=n * nk))
    for opt in options:
        h = np.array(opt, dtype=bool).reshape(nk, n)
        open_ = h.any(axis=0)
        cost = site_cost[open_].sum() + (service_cost * h).sum()
        if cost > budget + 1e-9:
            continue
        val = sum(w[covers[k][h[k]].any(axis=0)].sum() for k in range(nk))
        best = max(best, val)
    return best


@pytest.mark.parametrize("seed", range(3))
def test_multi_category_matches_exhaustive_search(seed: int) -> None:
    from deyang_geo.planning.siting.shared_candidates import multi_category

    r1, w, _, c1 = random_instance(seed, n=4, m=15, radius=0.35)
    rng = np.random.default_rng(seed + 50)
    cand = rng.uniform(0, 1, (4, 2))
    r2, _, _, c2 = random_instance(seed + 10, n=4, m=15, radius=0.35)
    site_cost = np.array([3.0, 2.0, 4.0, 3.0])
    service_cost = np.array([[1.0] * 4, [2.0] * 4])
    res = multi_category({"a": r1, "b": r2}, w, budget=8.0, site_costs=site_cost,
                         service_costs={"a": 1.0, "b": 2.0})
    assert res.status == "optimal"
    assert res.objective == pytest.approx(brute_multi([c1, c2], w, site_cost, service_cost, 8.0))
    assert all(set(s) <= {"a", "b"} for s in res.sites["services"])
    del cand


@pytest.mark.parametrize("seed", range(4))
def test_mclp_subgradient_phase_is_exact(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from deyang_geo.planning.siting import maximal_coverage as models

    monkeypatch.setattr(models, "_SUBGRADIENT_NNZ", 0)
    reach, w, _, cover = random_instance(seed, n=10, m=40)
    before = np.zeros(w.size, dtype=bool)
    for p in (2, 3):
        res = mclp(reach, w, new_sites=p)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(brute_mclp(cover, w, p, before))


@pytest.mark.parametrize("seed", range(4))
def test_mclp_gap_tolerance_is_honoured(seed: int) -> None:
    reach, w, _, cover = random_instance(seed, n=10, m=40)
    best = brute_mclp(cover, w, 3, np.zeros(w.size, dtype=bool))
    res = mclp(reach, w, new_sites=3, mip_gap=0.05)
    assert res.status in ("optimal", "gap_reached")
    assert res.gap <= 0.05 + 1e-9
    assert res.bound >= best - 1e-6
    assert res.objective >= (1 - 0.05) * best - 1e-6


def test_tiny_time_limit_still_gives_a_consistent_answer() -> None:
    reach, w, _, _ = random_instance(11, n=60, m=400, radius=0.2)
    res = mclp(reach, w, new_sites=6, time_limit_s=0.05)
    assert res.status in ("optimal", "time_limit", "gap_reached")
    assert res.bound >= res.objective - 1e-6
    assert res.objective >= res.greedy_objective - 1e-6
    with pytest.raises(InputError):
        mclp(reach, w, new_sites=6, time_limit_s=0.0)


@pytest.mark.parametrize("seed", range(5))
def test_mclp_forced_excluded_existing_against_exhaustive_search(seed: int) -> None:
    reach, w, _, cover = random_instance(seed + 20, n=9, m=30)
    rng = np.random.default_rng(seed)
    before = rng.uniform(size=w.size) < 0.2
    forced, excluded = [0], [1, 2]
    p = 3
    best = 0.0
    for combo in itertools.combinations([j for j in range(9) if j not in (0, 1, 2)], p - 1):
        cov = before | cover[[0, *combo]].any(axis=0)
        best = max(best, float(w[cov & ~before].sum()))
    res = mclp(reach, w, new_sites=p, existing_covered=before, forced=forced, excluded=excluded)
    assert res.objective == pytest.approx(best)
    chosen = set(res.sites["candidate_index"])
    assert 0 in chosen
    assert not chosen & {1, 2}
    alt_ids = set(res.alternatives["alternative_id"])
    assert not alt_ids & {"1", "2"}


@pytest.mark.parametrize("seed", range(4))
def test_lscp_costs_against_exhaustive_search(seed: int) -> None:
    reach, w, _, cover = random_instance(seed + 30, n=8, m=25, radius=0.35)
    costs = np.random.default_rng(seed).integers(1, 5, 8).astype(float)
    coverable = cover.any(axis=0)
    best = np.inf
    for k in range(9):
        for combo in itertools.combinations(range(8), k):
            if np.all(cover[list(combo)].any(axis=0)[coverable]):
                best = min(best, costs[list(combo)].sum())
    res = lscp(reach, w, costs=costs)
    assert res.objective == pytest.approx(best)
    assert res.objective_name == "cost"
    assert res.covered_population_after == pytest.approx(w[coverable].sum())


def test_pmedian_forced_site_is_kept() -> None:
    reach, w, minutes, cover = random_instance(4, n=7, radius=0.6)
    res = pmedian(reach, w, new_sites=2, forced=[3], unreached_minutes=60.0)
    assert 3 in set(res.sites["candidate_index"])
    best = np.inf
    for j in range(7):
        if j == 3:
            continue
        sites = [3, j]
        t = np.where(cover[sites], minutes[sites], np.inf).min(axis=0)
        best = min(best, float((w * np.minimum(60.0, t)).sum()))
    assert res.objective == pytest.approx(best)


def test_multi_category_site_limit_hosts_everything() -> None:
    from deyang_geo.planning.siting.shared_candidates import multi_category

    r1, w, _, c1 = random_instance(1, n=5, m=20, radius=0.35)
    r2, _, _, c2 = random_instance(2, n=5, m=20, radius=0.35)
    res = multi_category({"a": r1, "b": r2}, w, new_sites=2)
    best = 0.0
    for combo in itertools.combinations(range(5), 2):
        val = w[c1[list(combo)].any(axis=0)].sum() + w[c2[list(combo)].any(axis=0)].sum()
        best = max(best, val)
    assert res.objective == pytest.approx(best)
    assert len(res.sites) <= 2
