"""Demand units from population rasters: sums per cell, per grid, per township after rescaling."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from deyang_geo.analysis.raster_demand import (
    demand_from_raster,
    raster_cells,
    read_population_totals,
)
from deyang_geo.core.errors import InputError, InputWarning

rasterio = pytest.importorskip("rasterio")
from affine import Affine  # noqa: E402


def from_origin(west, north, xsize, ysize):
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)

CRS = "EPSG:32648"
X0, Y0 = 400_000.0, 3_445_000.0  # top-left corner (UTM 48N, near Deyang)

#: People per 100 m cell, 4 x 4; -1 is nodata, 0 empty.
GRID = np.array([
    [10, 0, 0, 5],
    [20, 30, -1, 0],
    [0, 0, 0, 0],
    [1, 2, 3, 4],
], dtype=np.float32)


def write_raster(path, data, *, crs=CRS, transform=None, nodata=-1.0):
    transform = transform or from_origin(X0, Y0, 100.0, 100.0)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                       count=1, dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata) as ds:
        ds.write(data, 1)
    return path


def communities():
    """Two townships: west half (T-W, community w) and east half (T-E, community e)."""
    west = shapely.box(X0, Y0 - 400, X0 + 200, Y0)
    east = shapely.box(X0 + 200, Y0 - 400, X0 + 400, Y0)
    return gpd.GeoDataFrame({"id": ["w", "e"], "name": ["西", "东"], "township": ["T-W", "T-E"],
                             "kind": ["urban", "urban"], "population": [0, 0]},
                            geometry=[west, east], crs=CRS)


def test_cells_by_hand(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    cells = raster_cells(path, crs=CRS)
    assert cells.population.sum() == 75.0  # nodata and zeros left out
    assert len(cells.population) == 8
    assert cells.resolution_m == pytest.approx(100.0)
    # first cell: row 0, col 0 centre
    assert (cells.x[0], cells.y[0]) == (X0 + 50, Y0 - 50)


def test_units_per_cell_and_per_community(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    res = demand_from_raster(path, communities(), crs=CRS)
    u = res.units
    assert len(u) == 8
    by = u.groupby("community_id")["population"].sum()
    assert by["w"] == 10 + 20 + 30 + 1 + 2
    assert by["e"] == 5 + 3 + 4
    assert res.communities.set_index("id")["population"].to_dict() == {"w": 63, "e": 12}
    assert (res.communities["population_source"] == "raster").all()
    assert u["unit_id"].iloc[0] == "w#r1"
    assert "100 m" in res.note()
    assert "Coarse rasters mislead" in res.note()
    assert res.provenance()["population_source"] == "raster"


def test_coarser_grid_sums_and_weighted_centre(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    res = demand_from_raster(path, communities(), crs=CRS, cell_size_m=200.0)
    u = res.units
    assert u["population"].sum() == 75.0
    # the north-west 200 m block holds 10 + 20 + 30 = 60 people; centre weighted by people
    block = u[u["population"] == 60.0].iloc[0]
    x = (10 * 50 + 20 * 50 + 30 * 150) / 60 + X0
    y = Y0 - (10 * 50 + 20 * 150 + 30 * 150) / 60
    assert (block.geometry.x, block.geometry.y) == (pytest.approx(x), pytest.approx(y))
    assert len(u) == 4  # 4 blocks hold people
    assert res.cell_size_m == 200.0


def test_rescaled_to_township_totals(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    totals = tmp_path / "totals.csv"
    totals.write_text("街道,人口\nT-W,630\nT-E,24\n", encoding="gbk")
    res = demand_from_raster(path, communities(), crs=CRS, totals=totals)
    by = res.units.groupby("township")["population"].sum()
    assert by["T-W"] == pytest.approx(630.0)
    assert by["T-E"] == pytest.approx(24.0)
    # each cell keeps its share within the township
    cell = res.units[res.units["community_id"] == "e"]["population"].to_numpy()
    np.testing.assert_allclose(cell, np.array([5, 3, 4]) * 2.0)
    assert res.rescaled_by == "township"


def test_totals_errors_name_file_row_and_column(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    totals = tmp_path / "totals.csv"
    totals.write_text("township,population\nT-W,x\nNowhere,10\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1.*population") as err:
        demand_from_raster(path, communities(), crs=CRS, totals=totals)
    assert "totals.csv" in str(err.value)
    totals.write_text("township,population\nT-W,10\nNowhere,10\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2.*Nowhere"):
        demand_from_raster(path, communities(), crs=CRS, totals=totals)
    totals.write_text("name,value\n", encoding="utf-8")
    with pytest.raises(InputError, match="township"):
        read_population_totals(totals)


def test_age_groups_by_share_and_by_raster(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    res = demand_from_raster(path, communities(), crs=CRS, elderly_share=0.2,
                             children_share=0.1)
    np.testing.assert_allclose(res.units["population_elderly"], res.units["population"] * 0.2)
    old = np.where(GRID > 0, GRID / 2, 0).astype(np.float32)
    elderly = write_raster(tmp_path / "old.tif", old)
    res = demand_from_raster(path, communities(), crs=CRS, elderly_raster=elderly)
    np.testing.assert_allclose(res.units["population_elderly"], res.units["population"] / 2)
    assert res.units["population_children"].isna().all()
    assert res.age_source["population_elderly"].startswith("raster")


def test_raster_in_another_crs(tmp_path):
    # the same grid written in WGS-84 degrees (about 100 m cells): people are all kept
    t = from_origin(104.39, 31.13, 0.001, 0.001)
    path = write_raster(tmp_path / "pop4326.tif", GRID, crs="EPSG:4326", transform=t)
    comm = gpd.GeoDataFrame({"id": ["c"], "township": ["T"]},
                            geometry=[shapely.Point(104.391, 31.129)], crs="EPSG:4326")
    res = demand_from_raster(path, comm, crs=CRS)
    assert res.units["population"].sum() == pytest.approx(75.0)
    assert 80 < res.resolution_m < 110
    assert res.units.crs == CRS


def test_dasymetric_over_buildings(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    # two buildings in the 30-person cell (row 1, col 1): areas 100 and 300 m2
    b1 = shapely.box(X0 + 110, Y0 - 190, X0 + 120, Y0 - 180)
    b2 = shapely.box(X0 + 150, Y0 - 160, X0 + 180, Y0 - 150)
    buildings = gpd.GeoDataFrame(geometry=[b1, b2], crs=CRS)
    res = demand_from_raster(path, communities(), crs=CRS, buildings=buildings)
    u = res.units
    assert u["population"].sum() == pytest.approx(75.0)
    at_b1 = u[np.isclose(u.geometry.x, b1.centroid.x) & np.isclose(u.geometry.y, b1.centroid.y)]
    at_b2 = u[np.isclose(u.geometry.x, b2.centroid.x) & np.isclose(u.geometry.y, b2.centroid.y)]
    assert at_b1["population"].item() == pytest.approx(7.5)
    assert at_b2["population"].item() == pytest.approx(22.5)
    assert len(u) == 8 - 1 + 2
    assert res.dasymetric


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        demand_from_raster(tmp_path / "nope.tif", communities(), crs=CRS)
    path = write_raster(tmp_path / "pop.tif", GRID)
    with pytest.raises(InputError) as err:
        demand_from_raster(path, communities(), crs=CRS, elderly_share=1.5, cell_size_m=-3)
    assert "elderly_share" in str(err.value)
    assert "cell_size_m" in str(err.value)
    with pytest.raises(InputError, match="projected"):
        demand_from_raster(path, communities(), crs="EPSG:4326")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="cannot read"):
        demand_from_raster(bad, communities(), crs=CRS)


def test_empty_communities_warned(tmp_path):
    path = write_raster(tmp_path / "pop.tif", GRID)
    comm = pd.concat([communities(), gpd.GeoDataFrame(
        {"id": ["far"], "township": ["T-X"]},
        geometry=[shapely.box(X0 + 5000, Y0, X0 + 5100, Y0 + 100)], crs=CRS)])
    comm = gpd.GeoDataFrame(comm, crs=CRS)
    with pytest.warns(InputWarning, match="no people"):
        res = demand_from_raster(path, comm, crs=CRS)
    assert res.communities.set_index("id").loc["far", "population"] == 0


def test_age_groups_from_community_share_columns(tmp_path):
    from deyang_geo.analysis.raster_demand import age_groups_from_shares

    path = write_raster(tmp_path / "pop.tif", GRID)
    comm = communities().assign(elderly_share=[0.1, 0.3], children_share=[0.2, 0.05])
    res = demand_from_raster(path, comm, crs=CRS)
    u = res.units
    share = u["community_id"].map({"w": 0.1, "e": 0.3})
    np.testing.assert_allclose(u["population_elderly"], u["population"] * share)
    assert res.communities.set_index("id").loc["e", "population_elderly"] == pytest.approx(3.6)
    units = gpd.GeoDataFrame({"community_id": ["w", "e"], "population": [10.0, 20.0]},
                             geometry=[shapely.Point(0, 0)] * 2, crs=CRS)
    out = age_groups_from_shares(units, comm)
    np.testing.assert_allclose(out["population_children"], [2.0, 1.0])
    out = age_groups_from_shares(units, comm, elderly_share=0.5)
    np.testing.assert_allclose(out["population_elderly"], [5.0, 10.0])
    with pytest.raises(InputError, match=r"row 2.*children_share"):
        age_groups_from_shares(units, comm.assign(children_share=[0.2, 1.5]))


def test_read_buildings(tmp_path):
    from deyang_geo.analysis.raster_demand import read_buildings

    with pytest.raises(InputError, match="does not exist"):
        read_buildings(tmp_path / "none.geojson")
    b = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 110, Y0 - 190, X0 + 120, Y0 - 180)],
                         crs=CRS)
    b.to_file(tmp_path / "b.geojson")
    assert len(read_buildings(tmp_path / "b.geojson")) == 1
    path = write_raster(tmp_path / "pop.tif", GRID)
    res = demand_from_raster(path, communities(), crs=CRS,
                             buildings=read_buildings(tmp_path / "b.geojson"))
    # the 30 people of the building's cell now stand on the building
    at = res.units[np.isclose(res.units.geometry.x, X0 + 115)]
    assert at["population"].item() == pytest.approx(30.0)
    assert res.communities.set_index("id").loc["w", "population_raster_units"] == 5
