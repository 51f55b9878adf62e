"""Equity of access: Gini and Palma against pysal ``inequality`` and by hand, concentration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deyang_geo.analysis.equity import (
    compute_equity,
    concentration_index,
    gini,
    lorenz_curve,
    palma_ratio,
    worst_decile_threshold,
    write_lorenz_figures,
)
from deyang_geo.core.errors import InputError


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gini_unweighted_matches_inequality(seed):
    ineq = pytest.importorskip("inequality.gini")
    v = np.random.default_rng(seed).gamma(2.0, 5.0, size=57)
    assert gini(v) == pytest.approx(ineq.Gini(v).g, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_gini_equals_gini_of_repeated_values(seed):
    ineq = pytest.importorskip("inequality.gini")
    rng = np.random.default_rng(seed)
    v = rng.uniform(0, 30, size=20)
    w = rng.integers(1, 9, size=20)
    assert gini(v, weights=w) == pytest.approx(ineq.Gini(np.repeat(v, w)).g, rel=1e-12)


def test_gini_by_hand():
    # two people, values 0 and 1: Gini = 1/2 (sum|xi-xj| / (2 n^2 mean) = 2 / (2*4*0.5))
    assert gini([0.0, 1.0]) == pytest.approx(0.5)
    assert gini([3.0, 3.0, 3.0]) == pytest.approx(0.0)
    assert np.isnan(gini([0.0, 0.0]))
    with pytest.raises(InputError, match=">= 0"):
        gini([-1.0, 2.0])


def test_palma_by_hand():
    # ten people 1..10: top 10 % hold 10, bottom 40 % hold 1+2+3+4 = 10 -> Palma 1
    assert palma_ratio(np.arange(1.0, 11.0)) == pytest.approx(1.0)
    # weights split people at the boundaries: 5 people valued 1 and 5 valued 3 (total 20);
    # bottom 40 % = 4 people x 1 = 4/20, top 10 % = 1 person x 3 = 3/20 -> 0.75
    assert palma_ratio([1.0, 3.0], weights=[5, 5]) == pytest.approx(0.75)
    assert palma_ratio([0.0, 0.0, 0.0, 0.0, 1.0]) == float("inf")


def test_concentration_index_against_covariance_formula():
    rng = np.random.default_rng(4)
    y = rng.uniform(1, 20, 30)
    w = rng.integers(1, 5, 30).astype(float)
    income = rng.permutation(30).astype(float)  # no ties
    order = np.argsort(income)
    ws, ys = w[order], y[order]
    share = ws / ws.sum()
    rank = np.cumsum(share) - share / 2
    mean = np.sum(share * ys)
    expected = 2 * np.sum(share * (ys - mean) * (rank - np.sum(share * rank))) / mean
    assert concentration_index(y, rank_by=income, weights=w) == pytest.approx(expected)
    # access that grows with income gives a positive index, the reverse a negative one
    assert concentration_index(income + 1, rank_by=income) > 0
    assert concentration_index(31 - income, rank_by=income) < 0


def test_concentration_ties_merged():
    # equal ranks share one point of the curve: the order within a tie does not matter
    a = concentration_index([1.0, 5.0, 2.0], rank_by=[1, 1, 2])
    b = concentration_index([5.0, 1.0, 2.0], rank_by=[1, 1, 2])
    assert a == pytest.approx(b)


def test_lorenz_curve_ends():
    p, lor = lorenz_curve([1.0, 2.0, np.nan], weights=[1, 3, 5])
    np.testing.assert_allclose(p, [0, 0.25, 1])
    np.testing.assert_allclose(lor, [0, 1 / 7, 1])


def test_worst_decile_threshold():
    v = np.arange(1.0, 11.0)
    assert worst_decile_threshold(v) == 9.0 or worst_decile_threshold(v) == 10.0
    assert worst_decile_threshold(v, higher_is_worse=False) in (1.0, 2.0)


def tables():
    units = pd.DataFrame({
        "unit_id": ["a#1", "a#2", "b#1", "c#1"], "community_id": ["a", "a", "b", "c"],
        "population": [100.0, 100.0, 200.0, 600.0],
        "population_elderly": [10.0, 30.0, 40.0, 20.0]})
    communities = pd.DataFrame({"id": ["a", "b", "c"], "kind": ["urban", "urban", "rural"],
                                "township": ["T1", "T1", "T2"], "income": [3.0, 2.0, 1.0]})
    access = pd.DataFrame({
        "demand_id": ["a#1", "a#2", "b#1", "c#1"] * 2,
        "category": ["health_room"] * 4 + ["elderly_daycare"] * 4,
        "minutes": [2.0, 4.0, 10.0, np.nan, 5.0, 5.0, 5.0, 30.0]})
    return access, units, communities


def test_compute_equity_table():
    access, units, communities = tables()
    res = compute_equity(access, units, communities, cap_minutes=60.0, rank_by="income")
    t = res.table.set_index(["category", "scope", "group"])
    whole = t.loc[("health_room", "study_area", "全部 all")]
    # unreachable = 60 min
    v = np.array([2.0, 4.0, 10.0, 60.0])
    w = np.array([100.0, 100.0, 200.0, 600.0])
    assert whole["gini"] == pytest.approx(gini(v, weights=w))
    assert whole["value_mean"] == pytest.approx(np.average(v, weights=w))
    assert whole["population"] == 1000.0
    # the worst decile (60 min) holds the rural community, 60 % of the people
    assert whole["worst_decile_share"] == pytest.approx(0.6)
    assert t.loc[("health_room", "kind", "rural"), "worst_decile_share"] == 1.0
    assert t.loc[("health_room", "township", "T1"), "worst_decile_share"] == 0.0
    # longer trips among the poorer: negative concentration of minutes by income
    assert whole["concentration_index"] < 0
    # elderly day care weighed by the elderly
    e = t.loc[("elderly_daycare", "study_area", "全部 all")]
    assert e["population"] == 100.0
    assert e["gini"] == pytest.approx(gini([5, 5, 5, 30], weights=[10, 30, 40, 20]))


def test_equity_write_and_figures(tmp_path):
    access, units, communities = tables()
    res = compute_equity(access, units, communities)
    [path] = res.write(tmp_path)
    table = pd.read_csv(path, encoding="utf-8-sig")
    assert set(table["scope"]) == {"study_area", "kind", "township"}
    assert "township" in res.township_gini("health_room").columns
    written = write_lorenz_figures(res, tmp_path, lang="en")
    assert sorted(p.name for p in written) == ["lorenz_elderly_daycare.png",
                                                "lorenz_health_room.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_equity_bad_inputs():
    access, units, communities = tables()
    with pytest.raises(InputError) as err:
        compute_equity(access.drop(columns=["minutes"]), units.drop(columns=["population"]),
                       communities, rank_by="wealth")
    text = str(err.value)
    assert "minutes" in text
    assert "population" in text
    assert "wealth" in text
