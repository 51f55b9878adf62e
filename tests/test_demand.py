"""Tests of deyang_geo.analysis.demand: communities into population-weighted demand units."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from deyang_geo import InputError
from deyang_geo.analysis.demand import demand_units

UTM = "EPSG:32648"
L_SHAPE = shapely.Polygon([(0, 0), (400, 0), (400, 200), (200, 200), (200, 400), (0, 400)])


def _communities(geoms: list[shapely.Geometry], population: list[float],
                 households: list[float] | None = None, crs: str = UTM) -> gpd.GeoDataFrame:
    data: dict[str, object] = {"id": [f"c{i}" for i in range(len(geoms))],
                               "population": population}
    if households is not None:
        data["households"] = households
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def _brute_force_grid(polygon: shapely.Geometry, spacing: float) -> set[tuple[float, float]]:
    minx, miny, maxx, maxy = polygon.bounds
    points = set()
    for i in range(math.floor(minx / spacing) - 1, math.ceil(maxx / spacing) + 1):
        for j in range(math.floor(miny / spacing) - 1, math.ceil(maxy / spacing) + 1):
            p = shapely.Point((i + 0.5) * spacing, (j + 0.5) * spacing)
            if polygon.contains(p):
                points.add((p.x, p.y))
    return points


def test_point_community_is_one_unit() -> None:
    units = demand_units(_communities([shapely.Point(500, 500)], [7], [3]), crs=UTM)
    assert list(units["unit_id"]) == ["c0#1"]
    assert list(units["community_id"]) == ["c0"]
    assert (units["population"].iloc[0], units["households"].iloc[0]) == (7.0, 3.0)
    assert units.geometry.iloc[0].equals(shapely.Point(500, 500))
    assert units.crs == UTM


@pytest.mark.parametrize("spacing", [50.0, 100.0, 130.0])
@pytest.mark.parametrize("polygon", [shapely.box(0, 0, 350, 250), L_SHAPE,
                                     shapely.box(-1234, 5678, -700, 6001)])
def test_grid_matches_brute_force(polygon: shapely.Geometry, spacing: float) -> None:
    units = demand_units(_communities([polygon], [1000]), crs=UTM, spacing_m=spacing)
    got = set(zip(units.geometry.x, units.geometry.y, strict=True))
    assert got == _brute_force_grid(polygon, spacing)
    assert len(got) == len(units)
    # equal weights: each unit within one quantum of the exact share
    assert np.abs(units["population"] - 1000 / len(units)).max() <= 1 / 1024
    assert units["population"].sum() == 1000


def test_box_grid_by_hand() -> None:
    units = demand_units(_communities([shapely.box(0, 0, 350, 250)], [600], [60]), crs=UTM,
                         spacing_m=100)
    # lattice x 50/150/250 (350 is on the edge: outside), y 50/150 (250 on the edge)
    assert list(zip(units.geometry.x, units.geometry.y, strict=True)) == [
        (50, 50), (150, 50), (250, 50), (50, 150), (150, 150), (250, 150)]
    assert list(units["unit_id"]) == [f"c0#{n}" for n in range(1, 7)]
    assert list(units["population"]) == [100.0] * 6
    assert list(units["households"]) == [10.0] * 6


def test_default_spacing_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from deyang_geo.core import settings as s

    monkeypatch.setattr(s, "demand_grid_spacing_m", 200.0)
    units = demand_units(_communities([shapely.box(0, 0, 400, 400)], [10]), crs=UTM)
    assert len(units) == 4


def test_small_polygon_gets_its_representative_point() -> None:
    tiny = shapely.box(10, 10, 30, 30)
    units = demand_units(_communities([tiny], [42]), crs=UTM, spacing_m=100)
    assert len(units) == 1
    assert tiny.contains(units.geometry.iloc[0])
    assert units["population"].iloc[0] == 42


def test_multipolygon_and_mixed_order() -> None:
    multi = shapely.MultiPolygon([shapely.box(0, 0, 200, 100), shapely.box(1000, 0, 1100, 100)])
    comm = _communities([shapely.Point(5, 5), multi, shapely.box(10, 10, 20, 20)], [1, 300, 2])
    units = demand_units(comm, crs=UTM, spacing_m=100)
    assert list(units["unit_id"]) == ["c0#1", "c1#1", "c1#2", "c1#3", "c2#1"]
    assert list(units["population"]) == [1.0, 100.0, 100.0, 100.0, 2.0]
    assert set(units[units["community_id"] == "c1"].geometry.x) == {50.0, 150.0, 1050.0}


def test_buildings_weight_by_footprint_area() -> None:
    comm = _communities([shapely.box(0, 0, 400, 400), shapely.box(1000, 0, 1200, 200)],
                        [1000, 80], [400, 8])
    buildings = gpd.GeoDataFrame(
        geometry=[shapely.box(10, 10, 20, 20),      # 100 m2 in c0
                  shapely.box(300, 300, 330, 310),  # 300 m2 in c0
                  shapely.box(2000, 0, 2010, 10)],  # outside every community
        crs=UTM,
    )
    units = demand_units(comm, crs=UTM, buildings=buildings, spacing_m=100)
    c0 = units[units["community_id"] == "c0"]
    assert list(c0["population"]) == [250.0, 750.0]
    assert list(c0["households"]) == [100.0, 300.0]
    assert list(zip(c0.geometry.x, c0.geometry.y, strict=True)) == [(15, 15), (315, 305)]
    # c1 has no building: falls back to the grid (2 x 2 points)
    assert (units["community_id"] == "c1").sum() == 4
    assert list(units["unit_id"]) == ["c0#1", "c0#2", "c1#1", "c1#2", "c1#3", "c1#4"]


def test_buildings_with_population_column_in_another_crs() -> None:
    comm = _communities([shapely.box(0, 0, 400, 400)], [10])
    buildings = gpd.GeoDataFrame({"population": [1, 3]},
                                 geometry=[shapely.Point(100, 100), shapely.Point(200, 300)],
                                 crs=UTM).to_crs("EPSG:4326")
    units = demand_units(comm.to_crs("EPSG:4326"), crs=UTM, buildings=buildings)
    assert list(units["population"]) == [2.5, 7.5]
    assert units.geometry.x.round(3).tolist() == [100.0, 200.0]


def test_wgs84_communities_are_projected() -> None:
    comm = _communities([shapely.box(0, 0, 300, 300)], [90]).to_crs("EPSG:4326")
    units = demand_units(comm, crs=UTM, spacing_m=100)
    assert units.crs == UTM
    assert len(units) == 9
    assert "households" in units.columns
    assert units["households"].isna().all()


def test_deterministic_and_inputs_untouched() -> None:
    comm = _communities([L_SHAPE, shapely.Point(0, 0)], [1234, 5])
    before = comm.copy()
    a = demand_units(comm, crs=UTM, spacing_m=70)
    b = demand_units(comm, crs=UTM, spacing_m=70)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(comm, before)


@settings(max_examples=60, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(st.integers(-3000, 3000), st.integers(-3000, 3000), st.integers(1, 900),
                  st.integers(1, 900), st.integers(0, 2_000_000), st.integers(0, 700_000)),
        min_size=1, max_size=6),
    spacing=st.sampled_from([37.0, 100.0, 250.0]),
)
def test_units_sum_exactly_to_community_totals(
        boxes: list[tuple[int, int, int, int, int, int]], spacing: float) -> None:
    geoms = [shapely.box(x, y, x + w, y + h) for x, y, w, h, _, _ in boxes]
    pops = [p for *_, p, _ in boxes]
    hh = [h for *_, h in boxes]
    units = demand_units(_communities(geoms, pops, hh), crs=UTM, spacing_m=spacing)
    for i, (pop, households) in enumerate(zip(pops, hh, strict=True)):
        mine = units[units["community_id"] == f"c{i}"]
        assert len(mine) >= 1
        # exact whatever the summation order
        assert mine["population"].sum() == pop
        assert math.fsum(mine["population"]) == pop
        assert float(np.sum(mine["population"].to_numpy()[::-1])) == pop
        assert mine["households"].sum() == households
        assert (mine["population"] >= 0).all()
        assert np.abs(mine["population"] - pop / len(mine)).max() <= 1 / 1024
        assert shapely.contains(geoms[i], np.asarray(mine.geometry.array)).all()
    assert units["unit_id"].is_unique


def test_bad_inputs_are_reported_together() -> None:
    comm = gpd.GeoDataFrame(
        {"id": ["a", "a", "b", "c"], "population": [1, -2, None, 3]},
        geometry=[shapely.Point(0, 0), shapely.Point(1, 1), shapely.LineString([(0, 0), (1, 1)]),
                  None],
        crs=UTM,
    )
    with pytest.raises(InputError) as info:
        demand_units(comm, crs=UTM)
    message = str(info.value)
    assert "5 problems" in message
    assert "row 2, column 'id': community id 'a' is used more than once" in message
    assert "row 2, column 'population'" in message
    assert "row 3, column 'population'" in message
    assert "row 3, column 'geometry': the community is a LineString" in message
    assert "row 4, column 'geometry': the community has no geometry" in message


def test_bad_crs_and_columns() -> None:
    comm = _communities([shapely.Point(0, 0)], [1])
    with pytest.raises(InputError, match="projected"):
        demand_units(comm, crs="EPSG:4326")
    with pytest.raises(InputError, match="no 'population' column"):
        demand_units(comm.drop(columns="population"), crs=UTM)
    with pytest.raises(InputError, match="spacing_m"):
        demand_units(comm, crs=UTM, spacing_m=0)
    with pytest.raises(InputError, match="no CRS"):
        demand_units(comm.set_crs(None, allow_override=True), crs=UTM)
