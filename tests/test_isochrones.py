"""Tests of isochrones: reached street parts, buffering, holes, grouping."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from deyang_geo.analysis.access import nearest_minutes
from deyang_geo.analysis.isochrones import _substrings, isochrones, reached_lines
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points
from deyang_geo.core.errors import InputError, InputWarning

WALK_MS = 4.0 / 3.6
CRS = "EPSG:32648"


def grid(n: int = 5, spacing: float = 100.0, *, one_way_row: bool = False) -> RoutingNetwork:
    """An n x n grid of 100 m streets with a bend in each, walked both ways at 4 km/h.

    With ``one_way_row`` the bottom row is walkable east-bound only (to test one-way edges).
    """
    G = nx.MultiDiGraph(crs=CRS, speeds_kmh={"walk": 4.0})
    for i in range(n):
        for j in range(n):
            G.add_node(i * n + j, x=j * spacing, y=i * spacing)
    for i in range(n):
        for j in range(n):
            a = i * n + j
            for b, dx, dy in ((a + 1, 1, 0), (a + n, 0, 1)):
                if (dx and j == n - 1) or (dy and i == n - 1):
                    continue
                p0 = (j * spacing, i * spacing)
                p1 = (p0[0] + dx * spacing, p0[1] + dy * spacing)
                mid = (p0[0] + dx * spacing * 0.3, p0[1] + dy * spacing * 0.3)
                line = shapely.LineString([p0, mid, p1])
                L = line.length
                G.add_edge(a, b, length=L, geometry=line, travel_time_walk=L / WALK_MS)
                if not (one_way_row and i == 0 and dx):
                    G.add_edge(b, a, length=L, geometry=line.reverse(),
                               travel_time_walk=L / WALK_MS)
    return RoutingNetwork.from_graph(G)


def sample_edges(net: RoutingNetwork, k: int = 21):
    """Points at k evenly spaced fractions along every edge."""
    edges = np.repeat(np.arange(net.n_edges), k)
    fr = np.tile(np.linspace(0, 1, k), net.n_edges)
    return shapely.line_interpolate_point(net.geometry[edges], fr, normalized=True)


def test_substrings_match_shapely_ops():
    from shapely.ops import substring

    lines = np.array([shapely.LineString([(0, 0), (3, 0), (3, 4)]),
                      shapely.LineString([(0, 0), (10, 0)])], dtype=object)
    start = np.array([0.1, 0.0])
    end = np.array([0.9, 0.55])
    got = _substrings(lines, start, end)
    for g, line, a, b in zip(got, lines, start, end, strict=True):
        want = substring(line, a, b, normalized=True)
        assert g.equals_exact(want, 1e-9)


@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
@pytest.mark.parametrize("one_way", [False, True])
def test_reached_lines_contain_exactly_the_reached_parts(one_way, direction):
    net = grid(one_way_row=one_way)
    fx, fy = np.array([130.0, 330.0]), np.array([8.0, 260.0])
    s = snap_points(net, fx, fy)
    pts = sample_edges(net)
    t = snap_points(net, shapely.get_x(pts), shapely.get_y(pts), max_snap_m=1e-6)
    assert t.snapped.all()
    minutes, _ = nearest_minutes(net, s, t, mode="walk", direction=direction)
    breaks = [1.0, 2.5, 4.0]
    lines = reached_lines(net, s, fx, fy, mode="walk", breaks_minutes=breaks,
                          direction=direction)
    for b, line in zip(breaks, lines, strict=True):
        d = shapely.distance(pts, line)
        inside = minutes <= b - 1e-9
        outside = ~(minutes <= b + 1 / 60)  # more than one second beyond the break
        assert inside.any()
        assert outside.any()
        assert (d[inside] < 1e-6).all()
        assert (d[outside] > 1e-3).all()


def test_one_way_edge_reached_in_its_direction_only():
    net = grid(n=3, one_way_row=True)
    # source at the middle of the bottom row's first street (x=50, y=0), east-bound only
    s = snap_points(net, [50.0], [0.0])
    (line,) = reached_lines(net, s, np.array([50.0]), np.array([0.0]), mode="walk",
                            breaks_minutes=[0.5], direction="from_facility")
    # 30 s at 4 km/h = 33.3 m: east to x=83.3, nothing west of the source
    assert shapely.distance(shapely.Point(80.0, 0.0), line) < 1e-9
    assert shapely.distance(shapely.Point(86.0, 0.0), line) > 1.0
    assert shapely.distance(shapely.Point(45.0, 0.0), line) > 1.0
    # walking to the facility (the default): from the west, x=16.7..50, not from the east
    (line,) = reached_lines(net, s, np.array([50.0]), np.array([0.0]), mode="walk",
                            breaks_minutes=[0.5])
    assert shapely.distance(shapely.Point(20.0, 0.0), line) < 1e-9
    assert shapely.distance(shapely.Point(14.0, 0.0), line) > 1.0
    assert shapely.distance(shapely.Point(55.0, 0.0), line) > 1.0


def test_isochrones_per_category_with_holes():
    net = grid()
    fac = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "category": ["health_room", "health_room", "police_room"]},
        geometry=gpd.points_from_xy([200.0, 0.0, 400.0], [210.0, 0.0, 400.0]), crs=CRS,
    ).to_crs("EPSG:4326")
    before = fac.copy()
    iso = isochrones(net, fac, breaks_minutes=[15, 5], walkoff_m=20.0)
    assert list(iso.columns) == ["category", "minutes", "geometry"]
    assert iso["category"].tolist() == ["health_room"] * 2 + ["police_room"] * 2
    assert iso["minutes"].tolist() == [5.0, 15.0, 5.0, 15.0]
    assert iso.crs == CRS
    big = iso.geometry.iloc[1]
    small = iso.geometry.iloc[0]
    assert big.contains(small.buffer(-1e-6))  # nested bands
    # 15 minutes (1000 m) reaches every street of the 400 m grid, but block centres stay holes
    assert big.contains(shapely.Point(250, 0))
    assert not big.contains(shapely.Point(150, 150))
    assert len(shapely.get_parts(big)[0].interiors) >= 1
    # the walk-off buffer: 20 m from a street is in, 30 m is out
    assert big.contains(shapely.Point(150, 119))
    assert not big.contains(shapely.Point(150, 131))
    assert fac.equals(before)


def test_isochrones_per_facility_and_connector():
    net = grid()
    fac = gpd.GeoDataFrame({"id": ["a", "b"]},
                           geometry=gpd.points_from_xy([200.0, 130.0], [240.0, 100.0]), crs=CRS)
    iso = isochrones(net, fac, breaks_minutes=[1.0], walkoff_m=1.0, dissolve_by=None)
    assert list(iso.columns) == ["facility_id", "minutes", "geometry"]
    assert iso["facility_id"].tolist() == ["a", "b"]
    a = iso.geometry.iloc[0]
    # facility a is 40 m from the street at (200, 200): the connector is in the polygon,
    # and 66.7 m of walking leaves 26.7 m along the streets from (200, 200)
    assert a.contains(shapely.Point(200, 230))
    assert a.contains(shapely.Point(200 + 25, 200))
    assert not a.contains(shapely.Point(200 + 30, 200))


def test_unsnapped_facility_gets_empty_polygon():
    net = grid()
    fac = gpd.GeoDataFrame({"id": ["a", "far"], "category": ["x", "y"]},
                           geometry=gpd.points_from_xy([0.0, 5000.0], [0.0, 0.0]), crs=CRS)
    with pytest.warns(InputWarning, match="far"):
        iso = isochrones(net, fac, breaks_minutes=[5])
    assert iso.geometry.iloc[1].is_empty
    assert not iso.geometry.iloc[0].is_empty


def test_isochrone_inputs_checked():
    net = grid()
    fac = gpd.GeoDataFrame({"name": ["a"]}, geometry=gpd.points_from_xy([0.0], [0.0]), crs=CRS)
    with pytest.raises(InputError) as info:
        isochrones(net, fac, breaks_minutes=[-1], walkoff_m=-1, dissolve_by="kind")  # type: ignore[arg-type]
    assert len(info.value.problems) == 4
