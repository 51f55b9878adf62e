"""Sites a person can find (street, community, WGS-84 and GCJ-02) and KML/GCJ-02 exports."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from deyang_geo.io.exports import write_gcj02_geojson, write_kml
from deyang_geo.planning.siting.places import (
    alternative_words,
    describe_alternatives,
    describe_points,
    describe_sites,
    named_streets,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STREETS_OSM = FIXTURES / "cli_access_streets.osm"  # 长江路 along 31.13 N, 黄河路 north at 104.395
EARTH_RADIUS_M = 6_371_009.0


def _communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["C1", "C2"], "name": ["甲社区", "乙社区"], "township": ["旌阳街道", "城北街道"]},
        geometry=[box(104.389, 31.129, 104.394, 31.134), box(104.394, 31.129, 104.40, 31.134)],
        crs=4326)


def test_named_streets_from_the_osm_file() -> None:
    streets = named_streets(STREETS_OSM)
    assert sorted(streets["name"]) == ["孤路", "长江路", "黄河路"]
    assert streets.crs.equals("EPSG:4326")


def test_points_get_street_community_and_both_coordinates() -> None:
    prcoords = pytest.importorskip("prcoords")
    points = gpd.GeoDataFrame(geometry=[Point(104.3925, 31.1302), Point(104.3952, 31.1325),
                                        Point(104.6, 31.5)], crs=4326)
    where = describe_points(points, streets=named_streets(STREETS_OSM),
                            communities=_communities())
    assert list(where["street"]) == ["长江路", "黄河路", ""]  # the last is 40 km away
    north_m = EARTH_RADIUS_M * math.radians(0.0002)
    east_m = EARTH_RADIUS_M * math.cos(math.radians(31.1325)) * math.radians(0.0002)
    assert where["street_distance_m"].iloc[0] == pytest.approx(north_m, abs=1.0)
    assert where["street_distance_m"].iloc[1] == pytest.approx(east_m, abs=1.0)
    assert list(where["community"][:2]) == ["甲社区", "乙社区"]
    assert list(where["township"][:2]) == ["旌阳街道", "城北街道"]
    # 6 decimals (about 0.1 m), not 2 (about 1 km)
    assert where["longitude"].iloc[1] == 104.3952
    assert where["latitude"].iloc[0] == 31.1302
    for i, (lon, lat) in enumerate([(104.3925, 31.1302), (104.3952, 31.1325)]):
        anchor = prcoords.wgs_gcj((lat, lon))  # the reference implementation of GCJ-02
        assert where["longitude_gcj02"].iloc[i] == pytest.approx(anchor.lon, abs=1.1e-6)
        assert where["latitude_gcj02"].iloc[i] == pytest.approx(anchor.lat, abs=1.1e-6)


def test_network_node_sites_are_named_by_their_street() -> None:
    """Found: network-node candidates were named ``node:51401444``."""
    candidates = gpd.GeoDataFrame(
        {"id": ["node:51401444", "B1"], "name": ["", "闲置用房"]},
        geometry=[Point(104.3925, 31.1302), Point(104.3952, 31.1325)], crs=4326).to_crs(32648)
    sites = pd.DataFrame({"site_id": ["node:51401444", "B1"], "rank": [1, 2]})
    table = describe_sites(sites, candidates, streets=named_streets(STREETS_OSM),
                           communities=_communities())
    assert table["name"].iloc[0] == "长江路旁 (路网节点) / by 长江路 (network node)"
    assert table["name"].iloc[1] == "闲置用房"
    assert "node:" not in table["name"].iloc[0]


def test_alternatives_say_their_numbers_in_words() -> None:
    """Found: alternatives read ``node:3718 (-734)`` with the sign unexplained."""
    assert alternative_words(-734.4, "added_population") == (
        "比所选址少覆盖 734 人 / covers 734 fewer people than the chosen site")
    assert alternative_words(0.2, "added_population").startswith("与所选址覆盖人数相同")
    assert "人·分钟" in alternative_words(1200.0, "weighted_minutes")
    candidates = gpd.GeoDataFrame({"id": ["node:1", "node:2"], "name": ["", ""]},
                                  geometry=[Point(104.3925, 31.1302), Point(104.3952, 31.1325)],
                                  crs=4326)
    alts = pd.DataFrame({"site_id": ["node:1"], "alternative_rank": [1],
                         "alternative_id": ["node:2"], "objective_if_swapped": [100.0],
                         "objective_change": [-734.4]})
    table = describe_alternatives(alts, candidates, objective_name="added_population",
                                  streets=named_streets(STREETS_OSM),
                                  site_names={"node:1": "长江路旁"})
    assert table["alternative_name"].iloc[0].startswith("黄河路旁")
    assert table["site_name"].iloc[0] == "长江路旁"
    assert table["compared_with_chosen"].iloc[0].startswith("比所选址少覆盖 734 人")


def test_kml_is_valid_escaped_and_in_wgs84(tmp_path: Path) -> None:
    layer = gpd.GeoDataFrame(
        {"name": ["<script>alert(1)</script>", "乙"], "population": [1200.0, float("nan")]},
        geometry=[Point(104.3925, 31.1302), box(104.39, 31.12, 104.40, 31.13)],
        crs=4326).to_crs(32648)
    path = write_kml(layer, tmp_path / "x.kml", name="建议选址 & sites")
    root = ET.parse(path).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    marks = root.findall(".//k:Placemark", ns)
    assert [m.find("k:name", ns).text for m in marks] == ["<script>alert(1)</script>", "乙"]
    lon, lat = map(float, marks[0].find(".//k:coordinates", ns).text.split(","))
    assert lon == pytest.approx(104.3925, abs=1e-6)
    assert lat == pytest.approx(31.1302, abs=1e-6)
    assert "<script>" not in path.read_text(encoding="utf-8")


def test_gcj02_geojson_matches_the_reference_shift(tmp_path: Path) -> None:
    prcoords = pytest.importorskip("prcoords")
    layer = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[Point(104.3925, 31.1302)],
                             crs=4326)
    path = write_gcj02_geojson(layer, tmp_path / "s_gcj02.geojson")
    data = json.loads(path.read_text(encoding="utf-8"))
    lon, lat = data["features"][0]["geometry"]["coordinates"]
    anchor = prcoords.wgs_gcj((31.1302, 104.3925))
    assert lon == pytest.approx(anchor.lon, abs=1.1e-6)
    assert lat == pytest.approx(anchor.lat, abs=1.1e-6)
    assert "GCJ-02" in data["crs_note"]
    assert write_gcj02_geojson(layer, tmp_path / "again.geojson").read_bytes() == \
        path.read_bytes()
