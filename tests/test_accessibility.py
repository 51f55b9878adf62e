"""Graded accessibility: decay scores, E2SFCA, k-th nearest and completeness.

Checked by hand on tiny reach sets and against pysal ``access`` (two_stage_fca with the same
weights) on random ones.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from deyang_geo.analysis.access import ReachSet, minutes_to_nearest, reach_set
from deyang_geo.analysis.accessibility import (
    completeness,
    compute_accessibility,
    decay_weights,
    e2sfca_scores,
    kth_nearest_minutes,
    potential_scores,
)
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core.errors import InputError

CRS = "EPSG:32648"


def small_reach() -> ReachSet:
    """2 facilities x 3 demand points.

    f0 reaches d0 at 0 min and d1 at 10 min; f1 reaches d1 at 5 min and d2 at 20 min.
    """
    return ReachSet(indptr=np.array([0, 2, 4]), indices=np.array([0, 1, 1, 2]),
                    minutes=np.array([0.0, 10.0, 5.0, 20.0]), n_sources=2, n_demand=3,
                    max_minutes=30.0)


def test_decay_functions_by_hand():
    t = np.array([0.0, 10.0, 20.0])
    np.testing.assert_allclose(decay_weights(t, decay="gaussian", decay_minutes=10.0),
                               [1.0, np.exp(-0.5), np.exp(-2.0)])
    np.testing.assert_allclose(decay_weights(t, decay="exponential", decay_minutes=10.0),
                               [1.0, np.exp(-1.0), np.exp(-2.0)])
    np.testing.assert_allclose(decay_weights(t, decay="step", decay_minutes=1.0), 1.0)
    with pytest.raises(InputError, match="decay must be"):
        decay_weights(t, decay="linear", decay_minutes=1.0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="decay_minutes"):
        decay_weights(t, decay="gaussian", decay_minutes=0.0)


def test_gaussian_matches_pysal_access_weights():
    weights = pytest.importorskip("access.weights")
    fn = weights.gaussian(7.0)
    t = np.linspace(0, 30, 31)
    np.testing.assert_allclose(decay_weights(t, decay="gaussian", decay_minutes=7.0), fn(t))


def test_potential_by_hand():
    r = small_reach()
    w = np.exp(-np.array([0.0, 10.0, 5.0, 20.0]) / 10.0)
    got = potential_scores(r, decay="exponential", decay_minutes=10.0)
    np.testing.assert_allclose(got, [w[0], w[1] + w[2], w[3]])
    got = potential_scores(r, decay="step", decay_minutes=1.0, supply=np.array([2.0, 3.0]))
    np.testing.assert_allclose(got, [2.0, 5.0, 3.0])


def test_e2sfca_by_hand():
    r = small_reach()
    pop = np.array([100.0, 200.0, 300.0])
    s = np.array([10.0, 30.0])
    a, ratio = e2sfca_scores(r, population=pop, supply=s, decay="step", decay_minutes=1.0)
    # classic 2SFCA: R0 = 10 / (100 + 200), R1 = 30 / (200 + 300)
    np.testing.assert_allclose(ratio, [10 / 300, 30 / 500])
    np.testing.assert_allclose(a, [10 / 300, 10 / 300 + 30 / 500, 30 / 500])
    # total supply is conserved when every demand point is reached: sum_i A_i D_i = sum_j S_j
    assert (a * pop).sum() == pytest.approx(s.sum())
    a, ratio = e2sfca_scores(r, population=pop, supply=s, decay="gaussian", decay_minutes=10.0)
    g = np.exp(-np.array([0.0, 10.0, 5.0, 20.0]) ** 2 / 200.0)
    r0 = 10 / (100 * g[0] + 200 * g[1])
    r1 = 30 / (200 * g[2] + 300 * g[3])
    np.testing.assert_allclose(a, [r0 * g[0], r0 * g[1] + r1 * g[2], r1 * g[3]])


def test_e2sfca_source_without_demand_adds_nothing():
    r = ReachSet(indptr=np.array([0, 1, 1]), indices=np.array([0]), minutes=np.array([3.0]),
                 n_sources=2, n_demand=2, max_minutes=10.0)
    a, ratio = e2sfca_scores(r, population=np.array([0.0, 5.0]), decay="step",
                             decay_minutes=1.0)
    assert np.isnan(ratio).all()
    np.testing.assert_array_equal(a, [0.0, 0.0])


def random_reach(seed: int, n_src: int = 15, n_dem: int = 40, cut: float = 30.0):
    rng = np.random.default_rng(seed)
    minutes = rng.uniform(0, 45, size=(n_src, n_dem))
    minutes[rng.random((n_src, n_dem)) < 0.3] = np.inf
    rows, cols = np.nonzero(minutes <= cut)
    indptr = np.zeros(n_src + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_src), out=indptr[1:])
    reach = ReachSet(indptr=indptr, indices=cols.astype(np.int64), minutes=minutes[rows, cols],
                     n_sources=n_src, n_demand=n_dem, max_minutes=cut)
    return reach, minutes, rng.integers(50, 2000, n_dem).astype(float), \
        rng.integers(1, 20, n_src).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decay", ["gaussian", "step"])
def test_e2sfca_matches_pysal_access(seed, decay):
    fca = pytest.importorskip("access.fca")
    weights = pytest.importorskip("access.weights")
    reach, dense, pop, supply = random_reach(seed)
    n_src, n_dem = dense.shape
    src, dem = np.nonzero(np.isfinite(dense))
    cost = pd.DataFrame({"origin": dem, "dest": src, "cost": dense[src, dem]})
    demand_df = pd.DataFrame({"pop": pop}, index=pd.RangeIndex(n_dem, name="geoid"))
    supply_df = pd.DataFrame({"beds": supply}, index=pd.RangeIndex(n_src, name="geoid"))
    fn = weights.gaussian(12.0) if decay == "gaussian" else weights.step_fn({30.0: 1.0})
    ref = fca.two_stage_fca(demand_df, supply_df, cost, max_cost=30.0, demand_index=True,
                            demand_name="pop", supply_name="beds", weight_fn=fn)
    ours, _ = e2sfca_scores(reach, population=pop, supply=supply, decay=decay,
                            decay_minutes=12.0)
    ref = ref.reindex(range(n_dem)).fillna(0.0).to_numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-14)


def test_kth_nearest_against_dense_sort():
    reach, dense, _, _ = random_reach(5)
    d = np.where(dense <= 30.0, dense, np.inf)
    srt = np.sort(d, axis=0)
    for k in (1, 2, 4):
        expected = np.where(np.isfinite(srt[k - 1]), srt[k - 1], np.nan)
        np.testing.assert_array_equal(kth_nearest_minutes(reach, k=k), expected)
    with pytest.raises(InputError, match="k must be"):
        kth_nearest_minutes(reach, k=0)


def test_kth_nearest_by_hand():
    np.testing.assert_array_equal(kth_nearest_minutes(small_reach(), k=2), [np.nan, 10.0, np.nan])


# ---------------------------------------------------------------------- on a network
def line_network() -> RoutingNetwork:
    """A 1 km straight street, nodes every 100 m, 90 s per edge on foot (4 km/h)."""
    G = nx.MultiDiGraph(crs=CRS, modes=("walk",), speeds_kmh={"walk": 4.0})
    for k in range(11):
        G.add_node(k, x=100.0 * k, y=0.0)
    for k in range(10):
        line = shapely.LineString([(100.0 * k, 0), (100.0 * (k + 1), 0)])
        G.add_edge(k, k + 1, length=100.0, geometry=line, travel_time_walk=90.0)
        G.add_edge(k + 1, k, length=100.0, geometry=line.reverse(), travel_time_walk=90.0)
    return RoutingNetwork.from_graph(G)


def frames():
    units = gpd.GeoDataFrame(
        {"unit_id": ["a#1", "a#2", "b#1"], "community_id": ["a", "a", "b"],
         "population": [100.0, 300.0, 200.0], "population_elderly": [10.0, 60.0, 50.0]},
        geometry=gpd.points_from_xy([0.0, 200.0, 1000.0], [0.0, 0.0, 0.0]), crs=CRS)
    facilities = gpd.GeoDataFrame(
        {"id": ["h1", "h2", "e1"], "category": ["health_room", "health_room", "elderly_daycare"],
         "floor_area_m2": [100.0, np.nan, 300.0]},
        geometry=gpd.points_from_xy([100.0, 900.0, 0.0], [0.0, 0.0, 0.0]), crs=CRS)
    communities = pd.DataFrame({"id": ["a", "b"], "name": ["甲", "乙"],
                                "kind": ["urban", "rural"], "township": ["T1", "T2"]})
    return units, facilities, communities


def test_compute_accessibility_matches_reach_set_scores():
    net = line_network()
    units, facilities, communities = frames()
    with pytest.warns(UserWarning, match="no floor_area_m2"):
        res = compute_accessibility(net, units, facilities, communities, mode="walk",
                                    max_minutes=20.0, decay="gaussian", decay_minutes=5.0,
                                    supply_column="floor_area_m2", k=1)
    h = res.units[res.units["category"] == "health_room"]
    d = snap_points(net, np.array([0.0, 200.0, 1000.0]), np.zeros(3), mode="walk",
                    max_snap_m=300)
    f = snap_points(net, np.array([100.0, 900.0]), np.zeros(2), mode="walk", max_snap_m=300)
    reach = reach_set(net, f, d, mode="walk", max_minutes=20.0)
    # missing floor area takes the category's median (100)
    a, _ = e2sfca_scores(reach, population=np.array([100.0, 300.0, 200.0]),
                         supply=np.array([100.0, 100.0]), decay="gaussian", decay_minutes=5.0)
    np.testing.assert_allclose(h["e2sfca_per_1000"], a * 1000)
    np.testing.assert_allclose(h["minutes_kth"], [1.5, 1.5, 1.5])
    # elderly day care is judged against the elderly
    e = res.units[res.units["category"] == "elderly_daycare"]
    np.testing.assert_array_equal(e["population_used"], [10.0, 60.0, 50.0])
    np.testing.assert_allclose(e["minutes_kth"], [0.0, 3.0, 15.0])
    # communities: population-weighted means of the units
    c = res.communities
    row = c[(c["community_id"] == "a") & (c["category"] == "health_room")].iloc[0]
    assert row["e2sfca_per_1000"] == pytest.approx((100 * a[0] + 300 * a[1]) / 400 * 1000)
    assert row["name"] == "甲"
    assert row["population_used"] == 400.0


def test_accessibility_write(tmp_path):
    net = line_network()
    units, facilities, communities = frames()
    res = compute_accessibility(net, units, facilities, communities, max_minutes=20.0)
    written = res.write(tmp_path)
    assert [p.name for p in written] == ["accessibility.csv", "accessibility_parameters.csv"]
    table = pd.read_csv(tmp_path / "accessibility.csv", encoding="utf-8-sig")
    assert len(table) == 4
    assert res.parameters["supply"].startswith("count")


def test_accessibility_bad_inputs_listed_together():
    net = line_network()
    units, facilities, communities = frames()
    with pytest.raises(InputError) as err:
        compute_accessibility(net, units.drop(columns=["community_id"]), facilities,
                              communities, supply_column="beds", max_minutes=-1)
    text = str(err.value)
    assert "community_id" in text
    assert "beds" in text
    assert "max_minutes" in text


def test_completeness_by_hand():
    net = line_network()
    units, facilities, communities = frames()
    access = minutes_to_nearest(net, units, facilities, mode="walk")
    # a#1: health 1.5, daycare 0; a#2: health 1.5, daycare 3; b#1: health 1.5, daycare 15
    out = completeness(access, units, communities,
                       thresholds_minutes={"health_room": 10.0, "elderly_daycare": 10.0},
                       rural_thresholds_minutes={"elderly_daycare": 20.0}, covered_share=0.8)
    a = out.set_index("community_id").loc["a"]
    b = out.set_index("community_id").loc["b"]
    assert a["categories_within"] == 2
    assert a["completeness"] == 1.0
    assert b["categories_within"] == 2  # rural: 15 min <= 20
    out = completeness(access, units, communities,
                       thresholds_minutes={"health_room": 10.0, "elderly_daycare": 2.0})
    a = out.set_index("community_id").loc["a"]
    # only a#1 (100 of 400 people) reaches day care within 2 minutes: 25 % < 80 %
    assert a["categories_within"] == 1
    assert a["share_people_all_within"] == 0.25
    assert a["missing_categories"] == "elderly_daycare"


@pytest.mark.parametrize("seed", [3, 4])
def test_potential_matches_pysal_weighted_catchment(seed):
    fca = pytest.importorskip("access.fca")
    weights = pytest.importorskip("access.weights")
    reach, dense, _, supply = random_reach(seed)
    n_src, n_dem = dense.shape
    src, dem = np.nonzero(np.isfinite(dense))
    cost = pd.DataFrame({"origin": dem, "dest": src, "cost": dense[src, dem]})
    supply_df = pd.DataFrame({"s": supply}, index=pd.RangeIndex(n_src, name="geoid"))
    ref = fca.weighted_catchment(supply_df, cost, 30.0, cost_source="dest", cost_dest="origin",
                                 cost_cost="cost", loc_index=True, loc_value="s",
                                 weight_fn=weights.gaussian(9.0))
    ours = potential_scores(reach, decay="gaussian", decay_minutes=9.0, supply=supply)
    np.testing.assert_allclose(ours, ref.reindex(range(n_dem)).fillna(0.0).to_numpy(),
                               rtol=1e-12)


def test_community_aggregation_against_a_loop():
    from deyang_geo.analysis.accessibility import aggregate_by_community

    rng = np.random.default_rng(8)
    n = 300
    minutes = rng.uniform(0, 30, n)
    minutes[rng.random(n) < 0.2] = np.nan
    units = pd.DataFrame({
        "unit_id": [f"u{i}" for i in range(n)],
        "community_id": rng.choice(["a", "b", "c", "zzz"], n),
        "category": rng.choice(["x", "y"], n),
        "population_used": np.where(rng.random(n) < 0.1, 0.0, rng.uniform(1, 50, n)),
        "facilities_within": rng.integers(0, 3, n),
        "potential": rng.uniform(0, 2, n),
        "e2sfca_per_1000": rng.uniform(0, 5, n),
        "minutes_kth": minutes,
    })
    communities = pd.DataFrame({"id": ["c", "a", "b"], "name": ["C", "A", "B"]})
    out = aggregate_by_community(units, communities)
    assert list(out["community_id"]) == ["c", "c", "a", "a", "b", "b"]  # community order
    for row in out.itertuples():
        g = units[(units["community_id"] == row.community_id) & (units["category"] ==
                                                                 row.category)]
        w = g["population_used"].to_numpy()
        assert row.population_used == pytest.approx(w.sum())
        assert row.potential == pytest.approx(np.average(g["potential"], weights=w))
        v = np.where(np.isnan(g["minutes_kth"]), np.inf, g["minutes_kth"])
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(w[order])
        med = v[order][np.searchsorted(cum, cum[-1] / 2)]
        if np.isfinite(med):
            assert row.minutes_kth == pytest.approx(med)
        else:
            assert np.isnan(row.minutes_kth)
