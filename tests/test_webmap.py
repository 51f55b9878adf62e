"""Tests of the interactive HTML map."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from deyang_geo.core.crs import wgs84_to_gcj02
from deyang_geo.core.errors import InputError
from deyang_geo.outputs import webmap

XSS_NAME = "<script>alert(1)</script>"


def _data_layers(page_html: str) -> list[dict]:
    """The FeatureCollections embedded by the map's GeoJSON layers."""
    found = re.findall(r"var data = (\{.*?\});\n", page_html)
    return [json.loads(text) for text in found]


def test_every_layer_is_drawn_and_named(study_layers):
    m = webmap.study_map(title="德阳", **study_layers)
    names = webmap.overlay_names(m)
    expected = [
        "等时圈 / Isochrones",
        "覆盖 / Coverage",
        "社区与村 / Communities",
        "区县界 / Divisions",
        "路网 / Road network",
        "河流、铁路与范围 / River, railway and extents",
        "服务范围外社区 / Communities outside reach",
        "现有设施 / Existing facilities",
        "建议选址 (排序) / Proposed sites (ranked)",
    ]
    assert names == expected


def test_category_switch_registers_one_layer_per_category(study_layers):
    page = webmap.render_map(webmap.study_map(title="t", lang="en", **study_layers))
    registered = re.findall(r"window\.dyLayers\[group\]\[(\"[^\"]*\")\] = layer", page)
    keys = [json.loads(k) for k in registered]
    # isochrones: 1 category; coverage: 2; outside: 1 (one category's gaps at a time, none
    # for "all categories"); facilities: 3; sites: 1
    assert keys == ["service_station", "fitness_station", "service_station",
                    "service_station",
                    "fitness_station", "health_room", "service_station", "service_station"]
    choices = json.loads(re.search(r"var choices = (\[.*?\]);\n", page).group(1))
    # only analysed categories can be chosen; the others are listed greyed, with a note
    assert choices == [["", "all categories (facilities and sites)", False],
                       ["fitness_station", "Fitness station", False],
                       ["service_station", "Community service station", False],
                       ["health_room", "Health room (not analysed)", True]]
    assert 'select.value = "fitness_station";' in page


def test_absent_tables_are_not_drawn(study_layers):
    m = webmap.study_map(title="demo", divisions=study_layers["divisions"],
                         facilities=study_layers["facilities"], lang="en")
    assert webmap.overlay_names(m) == ["Divisions", "Existing facilities"]
    # without coverage the switch starts on "all categories": every facility shows
    assert 'select.value = "";' in webmap.render_map(m)


def test_languages(study_layers):
    zh = webmap.overlay_names(webmap.study_map(title="t", lang="zh", **study_layers))
    en = webmap.overlay_names(webmap.study_map(title="t", lang="en", **study_layers))
    assert all(not re.search(r"[A-Za-z]", n) for n in zh)
    assert all(not re.search(r"[\u4e00-\u9fff]", n) for n in en)
    with pytest.raises(InputError, match="lang"):
        webmap.study_map(title="t", lang="fr")  # type: ignore[arg-type]


def test_data_text_is_escaped_everywhere(study_layers):
    page = webmap.render_map(webmap.study_map(title="<i>T</i>", scenario="<b>s</b>",
                                              **study_layers))
    # hostile names never appear raw, neither as HTML nor inside a script
    assert XSS_NAME not in page
    assert "<b>西街</b>" not in page
    assert "<i>T</i>" not in page
    assert "&lt;i&gt;T&lt;/i&gt;" in page
    # popups are built with escaped HTML (JSON-encoded) and never with folium's template
    # literals, which a backtick in a name would break out of
    assert "$(`" not in page
    popups = ["".join(f["properties"].get("p", [])) + f["properties"].get("t", "")
              for layer in _data_layers(page) for f in layer["features"]]
    joined = "".join(popups)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined
    assert "<script" not in joined
    # the only <script> elements are ours: Leaflet, the fullscreen control, folium's switches
    # and the map
    assert len(re.findall(r"<script", page)) == 4


def test_page_is_self_contained(study_layers, tmp_path):
    path = webmap.save_map(webmap.study_map(title="t", **study_layers), tmp_path / "m.html")
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert "L.map(" in page
    assert "leaflet" in page.lower()
    assert "Control.FullScreen" in page or "control.fullscreen" in page
    assert "SYNTHETIC DATA" not in page  # only when asked
    synthetic = webmap.render_map(webmap.study_map(title="t", synthetic=True, **study_layers))
    assert "SYNTHETIC DATA / 合成数据" in synthetic


def test_same_inputs_same_bytes(study_layers, tmp_path):
    a = webmap.save_map(webmap.study_map(title="t", **study_layers), tmp_path / "a.html")
    b = webmap.save_map(webmap.study_map(title="t", **study_layers), tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()


def test_inputs_are_not_modified(study_layers):
    before = {k: v.copy(deep=True) for k, v in study_layers.items()}
    webmap.render_map(webmap.study_map(title="t", amap=True, **study_layers))
    for key, table in study_layers.items():
        pd.testing.assert_frame_equal(pd.DataFrame(table), pd.DataFrame(before[key]))
        if isinstance(table, gpd.GeoDataFrame):
            assert table.crs == before[key].crs


def test_amap_shifts_overlays_to_gcj02():
    lon, lat = 104.39, 31.13
    facility = gpd.GeoDataFrame({"id": ["F"], "name": ["x"], "category": ["health_room"]},
                                geometry=[Point(lon, lat)], crs=4326)
    wgs = _data_layers(webmap.render_map(webmap.study_map(title="t", facilities=facility)))
    gcj = _data_layers(webmap.render_map(webmap.study_map(title="t", facilities=facility,
                                                          amap=True)))
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert wgs[0]["features"][0]["geometry"]["coordinates"] == [lon, lat]
    shifted = gcj[0]["features"][0]["geometry"]["coordinates"]
    assert shifted == pytest.approx([glon, glat], abs=1e-5)
    # the GCJ-02 offset in Deyang is hundreds of metres: the shift really happened
    assert abs(shifted[0] - lon) * 95_000 > 200
    page = webmap.render_map(webmap.study_map(title="t", facilities=facility, amap=True))
    assert "autonavi" in page
    assert "openstreetmap.org" not in page


def test_tianditu_key_is_checked():
    with pytest.raises(InputError, match="tianditu_key"):
        webmap.study_map(title="t", tianditu_key="abc'+alert(1)+'")
    page = webmap.render_map(webmap.study_map(title="t", tianditu_key="abc123",
                                              basemap="tianditu"))
    assert "tianditu.gov.cn" in page
    assert "tk=abc123" in page


def test_many_points_are_aggregated_with_population_kept():
    rng = np.random.default_rng(7)
    n = 20_000
    points = gpd.GeoDataFrame(
        {"id": [f"P{i}" for i in range(n)], "population": rng.integers(1, 50, n)},
        geometry=gpd.points_from_xy(rng.uniform(104.3, 104.5, n), rng.uniform(31.05, 31.2, n)),
        crs=4326)
    page = webmap.render_map(webmap.study_map(title="t", communities=points, max_features=500))
    layers = _data_layers(page)
    assert len(layers) == 1
    assert 0 < len(layers[0]["features"]) <= 500
    cells = webmap._grid_aggregate(points, max_cells=500)
    assert len(cells) <= 500
    assert cells["population"].sum() == pytest.approx(points["population"].sum())
    assert cells["n_points"].sum() == n


def test_network_is_deduplicated_and_merged_by_tier():
    edges = gpd.GeoDataFrame(
        {"highway": ["residential", "residential", ["primary", "secondary"]]},
        geometry=[LineString([(104.0, 31.0), (104.01, 31.0)]),
                  LineString([(104.01, 31.0), (104.0, 31.0)]),
                  LineString([(104.0, 31.0), (104.0, 31.01)])], crs=4326)
    layers = _data_layers(webmap.render_map(webmap.study_map(title="t", network_edges=edges)))
    features = layers[0]["features"]
    assert sorted(f["properties"]["k"] for f in features) == ["major", "street"]
    street = next(f for f in features if f["properties"]["k"] == "street")
    # the two directions of one street are drawn once
    assert street["geometry"]["type"] == "LineString"
    assert len(street["geometry"]["coordinates"]) == 2


def test_coverage_coloured_by_minutes(study_layers):
    m = webmap.study_map(title="t", communities=study_layers["communities"],
                         coverage=study_layers["coverage"], colour_by="minutes",
                         categories=["fitness_station"], lang="en")
    assert webmap.overlay_names(m) == ["Coverage", "Communities", "Communities outside reach"]
    layer = _data_layers(webmap.render_map(m))[0]
    colours = {f["properties"]["t"]: f["properties"]["k"] for f in layer["features"]}
    assert colours["五里村"] == webmap.minutes_colour(40.0) == "#d73027"
    assert colours["东山社区"] == "#1a9850"


def test_category_label_uses_catalog():
    class Cat:
        name_zh = "测试"
        name_en = "Test"

    assert webmap.category_label("x", lang="en", catalog={"x": Cat()}) == "Test"
    assert webmap.category_label("fitness_station", lang="zh") == "体育健身站(点)"
    assert webmap.category_label("unknown_key", lang="both") == "unknown_key"


def test_outside_taken_from_coverage_when_not_given(study_layers):
    layers = {k: v for k, v in study_layers.items() if k != "outside"}
    m = webmap.study_map(title="t", lang="en", **layers)
    assert "Communities outside reach" in webmap.overlay_names(m)
    page = webmap.render_map(m)
    outside = [f for layer in _data_layers(page) for f in layer["features"]
               if f["properties"].get("k") == "o"]
    # R1 is outside for both categories: once per category ("all categories" draws no gaps:
    # every category's gaps at once outlined almost every community)
    assert sorted(f["properties"]["t"] for f in outside) == ["五里村"] * 2


def _legend(page_html: str) -> str:
    """The legend's HTML, as the page's script sets it."""
    found = re.search(r"div\.innerHTML = (\".*?\");\n", page_html)
    assert found is not None
    return str(json.loads(found.group(1)))


def test_site_legend_uses_the_labels_drawn_on_the_map(study_layers):
    """Found: the legend said "健1 / F1" while the map labelled its sites 站1-站3, and the
    line was cut ("new site (F1 = categor…") with no way to read the rest."""
    category = str(study_layers["sites"]["category"].iloc[0])
    style = webmap.category_style(category)
    text = _legend(webmap.render_map(webmap.study_map(title="t", **study_layers)))
    ranks = sorted(study_layers["sites"]["rank"])
    assert (f"{style.symbol_zh}{ranks[0]}–{style.symbol_zh}{ranks[-1]}: 新设施 (按排序) / "
            "new sites, ranked · 社区便民服务站") in text
    assert "F1 = " not in text
    assert "健1 = " not in text
    # every legend line carries its full text for hover, so a cut line can still be read
    lines = re.findall(r'<div title="([^"]*)"><i[^>]*></i>([^<]*)</div>', text)
    assert len(lines) > 5
    assert all(title == body for title, body in lines)
    en = _legend(webmap.render_map(webmap.study_map(title="t", lang="en", **study_layers)))
    assert f"{style.symbol_en}{ranks[0]}–{style.symbol_en}{ranks[-1]}: new sites, ranked" in en
