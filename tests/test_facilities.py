from __future__ import annotations

import gzip
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from deyang_geo.analysis.facilities import (
    classify_tags_frame,
    facilities_from_osm,
    facilities_from_place,
    merge_facilities,
)
from deyang_geo.core.errors import InputError
from deyang_geo.core.standards import default_catalog_path, load_catalog

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "std_facilities.osm"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"

EXPECTED = {
    "osm:node/1": ("fitness_station", "陕西馆健身点"),
    "osm:node/2": ("elderly_daycare", "旌阳日间照料中心"),  # name:zh preferred
    "osm:node/4": ("health_room", ""),
    "osm:node/6": ("culture_sports", "文化活动站"),  # more specific than service_station
    "osm:way/100": ("outdoor_square", "文庙广场"),
    "osm:relation/300": ("sports_ground", "体育场"),
}


def _check(table: gpd.GeoDataFrame) -> None:
    assert list(table["id"]) == list(EXPECTED)
    for row in table.itertuples():
        assert (row.category, row.name) == EXPECTED[row.id]
    assert (table["source"] == "OpenStreetMap").all()
    assert table.crs.to_epsg() == 4326
    assert (table.geometry.geom_type == "Point").all()
    square = table.set_index("id").geometry["osm:way/100"]
    assert square.x == pytest.approx(104.3955, abs=1e-6)
    assert square.y == pytest.approx(31.1255, abs=1e-6)
    pitch = table.set_index("id").geometry["osm:relation/300"]
    assert pitch.x == pytest.approx(104.3960, abs=1e-6)
    assert pitch.y == pytest.approx(31.1360, abs=1e-6)


def test_xml_file() -> None:
    _check(facilities_from_osm(FIXTURE))


def test_gz_file(tmp_path: Path) -> None:
    gz = tmp_path / "std_facilities.osm.gz"
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    _check(facilities_from_osm(gz))


def test_pbf_file_gives_same_table(tmp_path: Path) -> None:
    osmium = pytest.importorskip("osmium")
    pbf = tmp_path / "std_facilities.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(FIXTURE)):
            writer.add(obj)
    from_pbf = facilities_from_osm(pbf)
    _check(from_pbf)
    from_xml = facilities_from_osm(FIXTURE)
    pd.testing.assert_frame_equal(
        pd.DataFrame(from_pbf.drop(columns="geometry")),
        pd.DataFrame(from_xml.drop(columns="geometry")),
    )
    assert from_pbf.geometry.geom_equals_exact(from_xml.geometry, tolerance=1e-7).all()


def test_boundary_clips() -> None:
    box = shapely.box(104.399, 31.129, 104.4035, 31.1335)
    table = facilities_from_osm(FIXTURE, boundary=box)
    assert list(table["id"]) == ["osm:node/1", "osm:node/2", "osm:node/4"]


def test_modified_catalog_mapping(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    text = text.replace('osm_tags = [{ amenity = "police" }]',
                        'osm_tags = [{ amenity = "police" }, { shop = "bakery" }]')
    path = tmp_path / "std_bakery.toml"
    path.write_text(text, encoding="utf-8")
    table = facilities_from_osm(FIXTURE, catalog=load_catalog(path))
    assert table.set_index("id").loc["osm:node/5", "category"] == "police_room"


def test_missing_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        facilities_from_osm(tmp_path / "nope.osm")
    bad = tmp_path / "bad.osm"
    bad.write_text("this is not xml", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.osm"):
        facilities_from_osm(bad)


def test_classify_frame_matches_scalar_classifier() -> None:
    cat = load_catalog()
    rows = [
        {"amenity": "clinic"},
        {"amenity": "social_facility", "social_facility:for": "senior"},
        {"amenity": "social_facility"},
        {"leisure": "pitch"},
        {"amenity": "community_centre", "community_centre": "culture"},
        {"amenity": "community_centre"},
        {"shop": "bakery"},
    ]
    frame = pd.DataFrame.from_records(rows)
    got = classify_tags_frame(frame, cat).tolist()
    assert got == [cat.classify_tags(r) for r in rows]
    assert got[2] is None


def test_from_place_uses_osmnx_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from deyang_geo.network import osmnx_adapter

    calls = {}

    def fake(query: str, tags: dict[str, object]) -> gpd.GeoDataFrame:
        calls["query"], calls["tags"] = query, tags
        index = pd.MultiIndex.from_tuples([("node", 7), ("way", 8)], names=["element", "id"])
        return gpd.GeoDataFrame(
            {"amenity": ["clinic", None], "leisure": [None, "pitch"], "name": ["A", "B"]},
            geometry=[shapely.Point(104.4, 31.13),
                      shapely.box(104.40, 31.13, 104.401, 31.131)],
            index=index, crs="EPSG:4326",
        )

    monkeypatch.setattr(osmnx_adapter, "features_from_place", fake)
    table = facilities_from_place("旌阳区, 德阳市")
    assert calls["query"] == "旌阳区, 德阳市"
    assert "clinic" in calls["tags"]["amenity"]
    assert list(table["id"]) == ["osm:node/7", "osm:way/8"]
    assert list(table["category"]) == ["health_room", "sports_ground"]


def _planner() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["P1", "P2"], "name": ["站", "健身"], "category": ["health_room", "fitness_station"],
         "floor_area_m2": [320.0, None]},
        geometry=[shapely.Point(104.4030, 31.1330), shapely.Point(104.3000, 31.0000)],
        crs="EPSG:4326",
    )


def test_merge_drops_same_category_within_distance() -> None:
    osm = facilities_from_osm(FIXTURE)
    planner = _planner()
    before_p, before_o = planner.copy(), osm.copy()
    # P1 sits on osm:node/4 (health_room): a duplicate. P2 is far from osm:node/1.
    result = merge_facilities(planner, osm, distance_m=50)
    assert result.n_merged == 1
    assert result.duplicates.loc[0, "osm_id"] == "osm:node/4"
    assert result.duplicates.loc[0, "planner_id"] == "P1"
    assert result.duplicates.loc[0, "distance_m"] == pytest.approx(0.0)
    assert list(result.facilities["id"]) == ["P1", "P2", "osm:node/1", "osm:node/2",
                                             "osm:node/6", "osm:way/100", "osm:relation/300"]
    assert result.facilities.loc[0, "floor_area_m2"] == 320.0
    pd.testing.assert_frame_equal(planner, before_p)
    pd.testing.assert_frame_equal(osm, before_o)


def test_merge_distance_and_category_matter() -> None:
    osm = facilities_from_osm(FIXTURE)
    planner = _planner()
    # 0.0005 degrees of latitude is about 55.6 m
    planner.loc[0, "geometry"] = shapely.Point(104.4030, 31.1335)
    assert merge_facilities(planner, osm, distance_m=50).n_merged == 0
    assert merge_facilities(planner, osm, distance_m=60).n_merged == 1
    planner.loc[0, "category"] = "police_room"
    assert merge_facilities(planner, osm, distance_m=60).n_merged == 0


def test_merge_rejects_bad_input() -> None:
    osm = facilities_from_osm(FIXTURE)
    with pytest.raises(InputError, match="category"):
        merge_facilities(_planner().drop(columns="category"), osm)
    clash = _planner()
    clash.loc[0, "id"] = "osm:node/1"
    with pytest.raises(InputError, match="osm:node/1"):
        merge_facilities(clash, osm)


@pytest.mark.skipif(not (SHARED / "data" / "andorra.osm.pbf").exists(),
                    reason="shared test data absent")
def test_real_extract_andorra() -> None:
    table = facilities_from_osm(SHARED / "data" / "andorra.osm.pbf")
    assert len(table) > 0
    assert table["id"].is_unique
    assert set(table["category"]) <= set(load_catalog().categories)
    lon, lat = table.geometry.x, table.geometry.y
    assert lon.between(1.4, 1.8).all()
    assert lat.between(42.4, 42.7).all()
