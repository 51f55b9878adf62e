"""Tests of deyang_geo.io.tables: planners' tables and geometry files, and atomic writing."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deyang_geo import io as dio
from deyang_geo.core.errors import InputError, InputWarning

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Truth points in central Jingyang (WGS-84 lon, lat).
TRUTH = [(104.3905, 31.1301), (104.4012, 31.1422), (104.3718, 31.1189), (104.4150, 31.1055)]
JINGYANG = shapely.box(104.30, 31.05, 104.50, 31.20)


def metres(lon1, lat1, lon2, lat2):
    """Haversine distance in metres."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float))
                              for v in (lon1, lat1, lon2, lat2))
    h = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6371000.0 * np.arcsin(np.sqrt(h))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def facilities_csv(rows: list[tuple[str, ...]], header: str = "编号,名称,类别,经度,纬度") -> str:
    return "\n".join([header, *(",".join(r) for r in rows)]) + "\n"


FAC_ROWS = [
    ("001", "旌阳健身点", "体育健身站(点)", "104.3905", "31.1301"),
    ("002", "文庙社区服务站", "service_station", "104.4012", "31.1422"),
    ("003", "Day care", "Elderly day-care centre", "104.3718", "31.1189"),
]


# ---------------------------------------------------------------------------------------------
# read_table


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_read_table_detects_encoding(tmp_path, encoding):
    path = tmp_path / f"t_{encoding}.csv"
    path.write_bytes(facilities_csv(FAC_ROWS).encode(encoding))
    table = dio.read_table(path)
    assert list(table.columns) == ["编号", "名称", "类别", "经度", "纬度"]
    assert table["名称"].tolist() == ["旌阳健身点", "文庙社区服务站", "Day care"]
    assert table["编号"].tolist() == ["001", "002", "003"]  # leading zeros kept
    assert table["经度"].dtype == np.float64
    assert table["经度"].iloc[0] == pytest.approx(104.3905)


def test_read_table_tab_delimited_title_row_and_blank_lines(tmp_path):
    text = ("德阳市旌阳区社区名单\t\t\n\n编号\t人口\t户数\nC1\t1200\t400\n\n\t\t\nC2\t800\t300\n")
    path = tmp_path / "t.tsv"
    path.write_text(text, encoding="utf-8")
    table = dio.read_table(path)
    assert list(table.columns) == ["编号", "人口", "户数"]
    assert table["人口"].tolist() == [1200, 800]
    assert table["人口"].dtype == np.int64


@pytest.mark.parametrize("content", [b"", b"  \n\n", "\ufeff".encode()])
def test_read_table_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="empty") as info:
        dio.read_table(path)
    assert info.value.problems[0].file == str(path)


def test_read_table_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        dio.read_table(tmp_path / "nope.csv")


def test_read_table_undecodable(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,name\n1,\xff\xfe\xfa\n")
    with pytest.raises(InputError, match="UTF-8"):
        dio.read_table(path)


def test_read_table_excel_with_title_rows(tmp_path):
    path = tmp_path / "社区 名单.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([["德阳市社区名单", None, None], ["编号", "人口", "户数"],
                      ["C1", 1200, 400], ["C2", 800, 300]]).to_excel(
            writer, sheet_name="社区", header=False, index=False)
    table = dio.read_table(path)
    assert table["编号"].tolist() == ["C1", "C2"]
    assert table["人口"].tolist() == [1200, 800]
    with pytest.raises(InputError, match="no sheet named"):
        dio.read_table(path, sheet="nope")


# ---------------------------------------------------------------------------------------------
# read_facilities


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_read_facilities_csv_chinese_headers(tmp_path, encoding):
    path = tmp_path / "设施 清单.csv"
    path.write_bytes(facilities_csv(FAC_ROWS).encode(encoding))
    fac = dio.read_facilities(path)
    assert fac.crs.to_epsg() == 4326
    assert fac["id"].tolist() == ["001", "002", "003"]
    assert fac["category"].tolist() == ["fitness_station", "service_station", "elderly_daycare"]
    assert fac["synthetic"].tolist() == [False, False, False]
    assert list(fac.columns[:3]) == ["id", "name", "category"]
    assert fac.geometry.x.tolist() == pytest.approx([104.3905, 104.4012, 104.3718])


def test_category_variants_and_english_headers(tmp_path):
    text = ("ID,Name,Type,lng,latitude,floor area (m2),barrier_free\n"
            "a,x,体育健身点,104.39,31.13,350,是\n"
            "b,y,体育健身站,104.39,31.13,1.2万,否\n"
            'c,z,街道便民服务中心,104.39,31.13,"1,200㎡",\n'
            "d,w,FITNESS_STATION,104.39,31.13,,yes\n")
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    fac = dio.read_facilities(path)
    assert fac["category"].tolist() == ["fitness_station", "fitness_station", "service_centre",
                                        "fitness_station"]
    np.testing.assert_allclose(fac["floor_area_m2"], [350, 12000, 1200, np.nan])
    assert fac["barrier_free"].tolist() == [True, False, pd.NA, True]


def test_unknown_category_names_row_value_and_suggests(tmp_path):
    """A key with a typo and a name several categories end with are still refused."""
    rows = [*FAC_ROWS, ("004", "x", "fitnes_station", "104.39", "31.13"),
            ("005", "y", "服务站", "104.39", "31.13")]
    path = tmp_path / "f.csv"
    path.write_text(facilities_csv(rows), encoding="utf-8")
    with pytest.raises(InputError) as info:
        dio.read_facilities(path)
    problems = info.value.problems
    assert len(problems) == 2
    assert (problems[0].row, problems[0].column) == (4, "类别")
    assert "did you mean 'fitness_station'" in problems[0].message
    assert (problems[1].row, problems[1].column) == (5, "类别")
    assert "ambiguous category '服务站'" in problems[1].message
    assert "service_station" in problems[1].message


def test_categories_beyond_the_catalog_are_kept_with_one_notice(tmp_path):
    """Regression: a planner's 药店 / 游泳池 / 菜市场 made the whole file be refused."""
    rows = [*FAC_ROWS, ("004", "老百姓大药房", "药店", "104.39", "31.13"),
            ("005", "仁和药房", "药店", "104.391", "31.131"),
            ("006", "市游泳馆", "游泳池", "104.392", "31.132"),
            ("007", "旌阳菜市场", " 菜市场 ", "104.393", "31.133")]
    path = tmp_path / "f.csv"
    path.write_text(facilities_csv(rows), encoding="utf-8")
    with pytest.warns(InputWarning) as record:
        fac = dio.read_facilities(path)
    notices = [w for w in record if issubclass(w.category, InputWarning)]
    assert len(notices) == 1
    text = str(notices[0].message)
    assert "\n" not in text
    assert "3 categories not in the standards catalog" in text
    assert "药店 (2)" in text
    assert "游泳池 (1)" in text
    assert "菜市场 (1)" in text
    assert "default threshold" in text
    by_id = fac.set_index("id")["category"]
    assert by_id["004"] == by_id["005"] == "药店"
    assert by_id["007"] == "菜市场"
    assert list(by_id[[r[0] for r in FAC_ROWS]]) == [dio.category_key(r[2]) for r in FAC_ROWS]


def test_facilities_community_column(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("编号,类别,所属社区,经度,纬度\nF1,儿童之家,文庙社区,104.39,31.13\n"
                    "F2,儿童之家,,104.39,31.13\n", encoding="utf-8")
    fac = dio.read_facilities(path)
    assert fac.loc[0, "community_id"] == "文庙社区"
    assert pd.isna(fac.loc[1, "community_id"])


def test_excel_facilities_name_the_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"a": [1]}).to_excel(writer, sheet_name="说明", index=False)
        pd.DataFrame({"编号": ["F1", "F1"], "类别": ["体育健身站(点)", "??"],
                      "经度": [104.39, 104.40], "纬度": [31.13, 31.14]}).to_excel(
            writer, sheet_name="设施", index=False)
    with pytest.raises(InputError) as info:
        dio.read_facilities(path)
    problems = info.value.problems
    assert {p.file for p in problems} == {f"{path} [sheet 设施]"}
    assert [(p.row, p.column) for p in problems] == [(2, "编号"), (2, "类别")]
    assert f"{path} [sheet 设施], row 2, column '编号': duplicate id 'F1'" in str(info.value)


def test_excel_numbers_become_text_ids(tmp_path):
    path = tmp_path / "book.xlsx"
    pd.DataFrame({"编号": [1, 2], "类别": ["service_station"] * 2, "经度": [104.39, 104.40],
                  "纬度": [31.13, 31.14]}).to_excel(path, index=False)
    fac = dio.read_facilities(path)
    assert fac["id"].tolist() == ["1", "2"]


# ---------------------------------------------------------------------------------------------
# coordinate systems


def test_gcj02_and_bd09_land_within_1m_of_truth(tmp_path):
    prcoords = pytest.importorskip("prcoords")
    lon = np.array([p[0] for p in TRUTH])
    lat = np.array([p[1] for p in TRUTH])
    for name, forward in (("gcj02", prcoords.wgs_gcj), ("bd09", prcoords.wgs_bd)):
        shifted = [forward(prcoords.Coords(la, lo)) for lo, la in TRUTH]
        rows = [(f"F{i}", "n", "fitness_station", repr(c.lon), repr(c.lat))
                for i, c in enumerate(shifted)]
        path = tmp_path / f"{name}.csv"
        path.write_bytes(facilities_csv(rows).encode("gbk"))
        assert metres(lon, lat, [c.lon for c in shifted], [c.lat for c in shifted]).min() > 50
        fac = dio.read_facilities(path, input_crs=name)
        error = metres(lon, lat, fac.geometry.x, fac.geometry.y)
        assert error.max() < 1.0, (name, error)


def test_geojson_keeps_its_wgs84_when_input_crs_is_for_tables(tmp_path):
    # one --input-crs gcj02 for a planner's CSV must not shift the GeoJSON read beside it
    gdf = gpd.GeoDataFrame({"id": ["a"], "population": [10]},
                           geometry=[shapely.Point(104.3905, 31.1301)], crs=4326)
    path = tmp_path / "c.geojson"
    gdf.to_file(path)
    with pytest.warns(InputWarning, match="input_crs='gcj02' applies to files without one"):
        com = dio.read_communities(path, input_crs="gcj02")
    assert (com.geometry.x[0], com.geometry.y[0]) == (104.3905, 31.1301)
    gpkg = tmp_path / "c.gpkg"
    gdf.to_crs(4544).to_file(gpkg)
    com = dio.read_communities(gpkg)  # declared CGCS2000 Gauss-Kruger: converted
    assert metres(104.3905, 31.1301, com.geometry.x, com.geometry.y)[0] < 0.01


def test_shapefile_without_prj_uses_input_crs(tmp_path):
    from deyang_geo.core.crs import from_wgs84

    glon, glat = from_wgs84(104.3905, 31.1301, output_crs="bd09")
    path = tmp_path / "c.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # geopandas: no crs given
        gpd.GeoDataFrame({"id": ["a"], "population": [10]},
                         geometry=[shapely.Point(glon, glat)], crs=None).to_file(path)
    com = dio.read_communities(path, input_crs="bd09")
    assert metres(104.3905, 31.1301, com.geometry.x, com.geometry.y)[0] < 0.01


def test_projected_cgcs2000_columns(tmp_path):
    pyproj = pytest.importorskip("pyproj")
    tr = pyproj.Transformer.from_crs(4326, 4544, always_xy=True)
    x, y = tr.transform([p[0] for p in TRUTH], [p[1] for p in TRUTH])
    text = "id,population,x,y\n" + "".join(f"c{i},100,{a!r},{b!r}\n"
                                           for i, (a, b) in enumerate(zip(x, y, strict=True)))
    path = tmp_path / "c.csv"
    path.write_text(text, encoding="utf-8")
    com = dio.read_communities(path, input_crs="EPSG:4544")
    error = metres([p[0] for p in TRUTH], [p[1] for p in TRUTH], com.geometry.x, com.geometry.y)
    assert error.max() < 0.01
    with pytest.raises(InputError, match="look projected") as info:
        dio.read_communities(path)  # declared wgs84
    assert len(info.value.problems) == 1
    assert "EPSG:" in str(info.value)


def test_degrees_declared_projected_is_an_error(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\nc1,1,104.39,31.13\n", encoding="utf-8")
    with pytest.raises(InputError, match="look like degrees"):
        dio.read_communities(path, input_crs="EPSG:4544")


def test_projected_shapefile_without_prj_and_gbk_attributes(tmp_path):
    pyproj = pytest.importorskip("pyproj")
    tr = pyproj.Transformer.from_crs(4326, 32648, always_xy=True)
    x, y = tr.transform(104.3905, 31.1301)
    folder = tmp_path / "中文 路径"
    folder.mkdir()
    path = folder / "社区.shp"
    gdf = gpd.GeoDataFrame({"编号": ["c1"], "名称": ["文庙社区"], "人口": [1200]},
                           geometry=[shapely.Point(x, y)], crs=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL notes about field-name encodings
        gdf.to_file(path, encoding="gbk")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    com = dio.read_communities(path, input_crs="EPSG:32648")
    assert com["name"].tolist() == ["文庙社区"]
    assert com["kind"].tolist() == ["urban"]
    assert metres(104.3905, 31.1301, com.geometry.x, com.geometry.y)[0] < 0.01


def test_swapped_columns_warn_and_are_fixed(tmp_path):
    path = tmp_path / "f.csv"
    rows = [("a", "n", "fitness_station", "31.1301", "104.3905"),
            ("b", "n", "fitness_station", "104.4012", "31.1422")]
    path.write_text(facilities_csv(rows), encoding="utf-8")
    with pytest.warns(InputWarning, match=r"rows 1\b.*swapped"):
        fac = dio.read_facilities(path)
    assert fac.geometry.x.tolist() == pytest.approx([104.3905, 104.4012])
    assert fac.geometry.y.tolist() == pytest.approx([31.1301, 31.1422])


def test_swapped_inside_degrees_fixed_by_study_area(tmp_path):
    # lat/lon both below 90: only the study area tells that the columns are swapped
    area = shapely.box(30.0, 40.0, 31.0, 41.0)
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\nc1,5,40.5,30.5\nc2,5,30.6,40.6\n", encoding="utf-8")
    with pytest.warns(InputWarning, match="swapped"):
        com = dio.read_communities(path, study_area=area)
    assert com.geometry.x.tolist() == pytest.approx([30.5, 30.6])


def test_outside_study_area_warns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\nin,5,104.39,31.13\nfar,5,116.40,39.91\n",
                    encoding="utf-8")
    area = gpd.GeoDataFrame(geometry=[JINGYANG], crs=4326).to_crs(32648)
    with pytest.warns(InputWarning, match=r"1 of 2 features lie outside.*far"):
        dio.read_communities(path, study_area=area)


def test_one_coordinate_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('编号,人口,坐标\nc1,5,"104.39,31.13"\nc2,5,104.40\n', encoding="utf-8")
    with pytest.raises(InputError, match="expected 'longitude,latitude'") as info:
        dio.read_communities(path)
    assert (info.value.problems[0].row, info.value.problems[0].column) == (2, "坐标")


# ---------------------------------------------------------------------------------------------
# communities, candidates


def test_communities_kind_population_divisions(tmp_path):
    text = ("编号,名称,类型,常住人口(人),户数,街道/乡镇,区县,经度,纬度\n"
            'C1,文庙社区,,"1,200",400,旌阳街道,旌阳,104.39,31.13\n'
            "C2,八角村,,800人,,孝泉镇,Jingyang,104.40,31.14\n"
            "C3,某地,村,1.5万,5000,孝泉镇,510603,104.41,31.12\n"
            "C4,某某,城市社区,0,0,,什邡市,104.41,31.12\n")
    path = tmp_path / "c.csv"
    path.write_text(text, encoding="utf-8")
    com = dio.read_communities(path)
    assert com["kind"].tolist() == ["urban", "rural", "rural", "urban"]
    assert com["population"].tolist() == [1200, 800, 15000, 0]
    assert com["population"].dtype == np.int64
    assert com["households"].tolist() == [400, pd.NA, 5000, 0]
    assert com["division"].tolist() == ["旌阳区", "旌阳区", "旌阳区", "什邡市"]
    assert com["township"].tolist()[:2] == ["旌阳街道", "孝泉镇"]


def test_kind_defaults(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\nc1,5,104.39,31.13\n", encoding="utf-8")
    com = dio.read_communities(path)  # no kind column: urban without a warning
    assert com["kind"].tolist() == ["urban"]
    assert com["name"].tolist() == ["c1"]
    path.write_text("id,kind,population,lon,lat\nc1,,5,104.39,31.13\nc2,村,5,104.39,31.13\n",
                    encoding="utf-8")
    with pytest.warns(InputWarning, match="1 communities have an empty kind"):
        com = dio.read_communities(path)
    assert com["kind"].tolist() == ["urban", "rural"]


def test_all_problems_reported_together(tmp_path):
    text = ("编号,名称,人口,经度,纬度\n"
            "C1,文庙社区,1200,104.39,31.13\n"
            "C1,八角村,-5,104.40,31.14\n"
            ",西街社区,,104.41,\n"
            "C4,东街社区,many,104.41,31.12\n")
    path = tmp_path / "c.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        dio.read_communities(path)
    found = {(p.row, p.column, p.message.split(":")[0].split(" (first")[0])
             for p in info.value.problems}
    assert found == {
        (2, "编号", "duplicate id 'C1'"),
        (2, "人口", "population is negative"),
        (3, "编号", "id is missing"),
        (3, "人口", "population is missing"),
        (3, "纬度", "latitude (y) is missing"),
        (4, "人口", "population must be a number, got 'many'"),
    }
    assert all(p.file == str(path) for p in info.value.problems)
    assert str(info.value).startswith("6 problems found:")


def test_missing_required_columns_say_what_was_looked_for(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("code_x,people,经度,纬度\na,5,104.39,31.13\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        dio.read_communities(path)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2
    assert "required column 'id' is missing (looked for: id, 编号" in messages[0]
    assert "required column 'population' is missing (looked for: population, pop, 人口" \
        in messages[1]
    assert "the file has: 'code_x', 'people'" in messages[1]


def test_no_coordinates(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population\na,5\n", encoding="utf-8")
    with pytest.raises(InputError, match="no coordinate columns"):
        dio.read_communities(path)


def test_header_only_and_empty_geojson(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\n", encoding="utf-8")
    with pytest.raises(InputError, match="no data rows"):
        dio.read_communities(path)
    geo = tmp_path / "c.geojson"
    geo.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InputError, match="no features"):
        dio.read_communities(geo)
    (tmp_path / "z.geojson").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        dio.read_communities(tmp_path / "z.geojson")


def test_invalid_empty_and_missing_geometries(tmp_path):
    features = [
        {"type": "Feature", "properties": {"id": "ok", "population": 5},
         "geometry": {"type": "Polygon", "coordinates": [[[104.39, 31.13], [104.40, 31.13],
                                                           [104.40, 31.14], [104.39, 31.13]]]}},
        {"type": "Feature", "properties": {"id": "bowtie", "population": 5},
         "geometry": {"type": "Polygon", "coordinates": [[[104.39, 31.13], [104.40, 31.14],
                                                           [104.40, 31.13], [104.39, 31.14],
                                                           [104.39, 31.13]]]}},
        {"type": "Feature", "properties": {"id": "none", "population": 5}, "geometry": None},
        {"type": "Feature", "properties": {"id": "line", "population": 5},
         "geometry": {"type": "LineString", "coordinates": [[104.39, 31.13], [104.4, 31.1]]}},
    ]
    path = tmp_path / "社区 面.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    with pytest.raises(InputError) as info:
        dio.read_communities(path)
    problems = info.value.problems
    assert [(p.row, p.column) for p in problems] == [(2, "geometry"), (3, "geometry"),
                                                    (4, "geometry")]
    assert "invalid (Self-intersection" in problems[0].message
    assert "missing" in problems[1].message
    assert "LineString" in problems[2].message


def test_polygon_communities_and_point_candidates(tmp_path):
    poly = shapely.box(104.39, 31.13, 104.40, 31.14)
    gdf = gpd.GeoDataFrame({"名称": ["文庙社区"], "编号": ["c1"], "人口": [100], "extra": ["k"]},
                           geometry=[poly], crs=4326)
    gdf.to_file(tmp_path / "c.gpkg", layer="社区")
    gpd.GeoDataFrame({"name": ["lot"], "造价": [1.5]}, geometry=[poly], crs=4326).to_file(
        tmp_path / "c.gpkg", layer="candidates")
    com = dio.read_communities(tmp_path / "c.gpkg")
    assert com.geometry.iloc[0].equals(poly)
    assert com["extra"].tolist() == ["k"]
    cand = dio.read_candidates(tmp_path / "c.gpkg")
    assert cand["id"].tolist() == ["candidate_1"]
    assert cand["cost"].tolist() == [1.5]
    assert cand.geometry.iloc[0].geom_type == "Point"
    assert poly.contains(cand.geometry.iloc[0])


def test_many_problems_of_one_kind_are_grouped(tmp_path):
    lines = ["id,population,lon,lat"] + [f"c{i},,104.39,31.13" for i in range(50)]
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as info:
        dio.read_communities(path)
    assert len(info.value.problems) == 1
    assert "population is missing in 50 rows (1, 2, 3" in str(info.value)


def test_unknown_crs_and_file_type(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\nc1,5,104.39,31.13\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown coordinate system"):
        dio.read_communities(path, input_crs="mars")
    other = tmp_path / "c.docx"
    other.write_bytes(b"x")
    with pytest.raises(InputError, match="unknown file type"):
        dio.read_communities(other)


def test_inputs_never_modified(tmp_path):
    csv_path = tmp_path / "设施 gbk.csv"
    csv_path.write_bytes(facilities_csv(FAC_ROWS).encode("gbk"))
    xlsx = tmp_path / "c.xlsx"
    pd.DataFrame({"编号": ["c1"], "人口": [5], "经度": [104.39], "纬度": [31.13]}).to_excel(
        xlsx, index=False)
    geo = tmp_path / "c.geojson"
    gpd.GeoDataFrame({"id": ["c1"], "population": [5]}, geometry=[shapely.Point(104.39, 31.13)],
                     crs=4326).to_file(geo)
    before = {p: (sha(p), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    dio.read_facilities(csv_path, input_crs="gcj02")
    dio.read_table(csv_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        dio.read_communities(xlsx)
        dio.read_communities(geo, input_crs="wgs84")
    after = {p: (sha(p), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert before == after


def test_study_area_is_not_modified(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,population,lon,lat\nc1,5,104.39,31.13\n", encoding="utf-8")
    area = gpd.GeoDataFrame({"name": ["x"]}, geometry=[JINGYANG], crs=4326).to_crs(32648)
    copy = area.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        dio.read_communities(path, study_area=area)
    pd.testing.assert_frame_equal(area, copy)
    assert area.crs == copy.crs


def test_fixture_gbk_gcj02_facilities():
    path = FIXTURES / "io_facilities_gbk_gcj02.csv"
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    fac = dio.read_facilities(path, input_crs="gcj02")
    truth = dio.read_facilities(FIXTURES / "io_facilities_wgs84.geojson")
    assert fac["id"].tolist() == truth["id"].tolist()
    assert fac["category"].tolist() == truth["category"].tolist()
    error = metres(truth.geometry.x, truth.geometry.y, fac.geometry.x, fac.geometry.y)
    assert error.max() < 1.0


# ---------------------------------------------------------------------------------------------
# atomic writing


def test_write_text_atomic_and_failure_keeps_old_file(tmp_path):
    path = tmp_path / "子 目录" / "out.csv"
    dio.write_text_atomic(path, "a,b\n中文,1\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    def fail() -> None:
        with dio.atomic_path(path) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert path.read_text(encoding="utf-8-sig") == "a,b\n中文,1\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.csv"]
    dio.write_bytes_atomic(path, b"x")
    assert path.read_bytes() == b"x"


def test_degrees_minutes_seconds_and_hemisphere_letters(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("编号,人口,经度,纬度\n"
                    "c1,5,104°23'26.1\"E,31°07′48″N\n"
                    "c2,5,东经104度23分26.1秒,北纬31度7分48秒\n"
                    "c3,5,104.390583E,31.13N\n", encoding="utf-8")
    com = dio.read_communities(path)
    assert com.geometry.x.tolist() == pytest.approx([104.3905833] * 3, abs=1e-6)
    assert com.geometry.y.tolist() == pytest.approx([31.13] * 3, abs=1e-9)


def test_old_excel_without_xlrd_says_what_to_do(tmp_path):
    pytest.importorskip("openpyxl")
    import importlib.util

    if importlib.util.find_spec("xlrd") is not None:
        pytest.skip("xlrd is installed")
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputError, match=r"xlrd.*\.xlsx"):
        dio.read_table(path)


def test_projected_geojson_declared_geographic(tmp_path):
    gdf = gpd.GeoDataFrame({"id": ["a"], "population": [1]},
                           geometry=[shapely.Point(405000.0, 3445000.0)], crs=None)
    path = tmp_path / "c.geojson"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # geopandas: no crs given
        gdf.to_file(path)
    with pytest.raises(InputError, match="look projected") as info:
        dio.read_communities(path)
    assert info.value.problems[0].column == "geometry"
    com = dio.read_communities(path, input_crs="EPSG:32648")
    assert 104 < com.geometry.x.iloc[0] < 105


def test_single_swapped_row_is_not_taken_for_projected(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,category,lon,lat\na,fitness_station,31.13,104.39\n", encoding="utf-8")
    with pytest.warns(InputWarning, match="swapped") as record:
        fac = dio.read_facilities(path)
    assert record[0].filename == __file__  # the warning points at the caller
    assert (fac.geometry.x[0], fac.geometry.y[0]) == (104.39, 31.13)


def test_category_key():
    texts = ("体育健身站(点)", "体育健身点", "体育健身站点", "Fitness station",
             "fitness_station", " FITNESS-STATION ")
    for text in texts:
        assert dio.category_key(text) == "fitness_station", text
    assert dio.category_key("乡镇便民服务中心") == "service_centre"
    assert dio.category_key("室外活动广场") == "outdoor_square"
    assert dio.category_key("卫生室") == "health_room"  # the only category ending so
    assert dio.category_key("卫生计生室") == "health_room"
    with pytest.raises(InputError, match="ambiguous category '服务站'"):
        dio.category_key("服务站")  # ends two categories' names: ambiguous
    with pytest.raises(InputError, match="unknown category 'gym'"):
        dio.category_key("gym")


_NAME_CHARS = "文庙社区八角村旌阳街道孝泉镇黄许东西南北abcXYZ 0123456789-()"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(st.text(_NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool),
                  st.integers(0, 200_000),
                  st.floats(104.0, 104.8), st.floats(30.9, 31.5)),
        min_size=1, max_size=15),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030"]),
    english=st.booleans(),
)
def test_round_trip_any_encoding_and_headers(tmp_path, data, encoding, english):
    header = "id,name,population,lng,lat" if english else "编号,名称,人口,经度,纬度"
    lines = [header] + [f'C{i},"{name}",{pop},{lon!r},{lat!r}'
                        for i, (name, pop, lon, lat) in enumerate(data)]
    path = tmp_path / f"c_{encoding}.csv"
    path.write_bytes("\r\n".join(lines).encode(encoding))
    com = dio.read_communities(path)
    assert com["id"].tolist() == [f"C{i}" for i in range(len(data))]
    assert com["name"].tolist() == [d[0] for d in data]
    assert com["population"].tolist() == [d[1] for d in data]
    assert com.geometry.x.tolist() == [d[2] for d in data]
    assert com.geometry.y.tolist() == [d[3] for d in data]


def test_other_columns_are_kept_and_typed(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("编号,人口,经度,纬度,老年人口,备注,代码2\n"
                    "c1,100,104.39,31.13,12,旧城,007\nc2,50,104.40,31.14,3.5,,008\n",
                    encoding="utf-8")
    com = dio.read_communities(path)
    assert com["老年人口"].tolist() == [12.0, 3.5]
    assert com["备注"].iloc[0] == "旧城"
    assert pd.isna(com["备注"].iloc[1])
    assert com["代码2"].tolist() == ["007", "008"]
    assert "经度" not in com.columns


def test_plan_attribute_columns_for_targets_t12_to_t16(tmp_path: Path) -> None:
    """Columns the compliance targets T12-T16 read are recognised by their Chinese names."""
    from deyang_geo import io as dio

    path = tmp_path / "社区.csv"
    path.write_text("编号,名称,人口,户数,经度,纬度,注册志愿者,试点社区,驻区单位,共建单位\n"
                    "A1,长乐社区,5000,1800,104.39,31.13,700,是,20,17\n", encoding="gbk")
    gdf = dio.read_communities(path)
    row = gdf.iloc[0]
    assert row["registered_volunteers"] == 700
    assert row["resident_units"] == 20
    assert row["cobuilding_units"] == 17
    assert bool(row["pilot_community"]) is True
    assert "volunteers" not in gdf.columns
