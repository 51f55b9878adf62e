"""The comparison map opened in headless Chromium, offline: two panes that move together."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from deyang_geo.outputs.webmap_compare import compare_map
from deyang_geo.study.compare import Comparison

pytestmark = pytest.mark.browser

XSS_NAME = "<script>alert(1)</script></script>"


def _comparison(tmp_path, *, settings_differ: bool) -> Comparison:
    ids = ["A", "B", "C"]
    communities = pd.DataFrame({
        "community_id": ids * 2, "name": [XSS_NAME, "乙社区", "丙村"] * 2,
        "kind": "urban", "township": "城北街道", "division": "旌阳区",
        "category": ["health_room"] * 3 + ["fitness_station"] * 3,
        "population": [1000.0, 800.0, 500.0] * 2,
        "minutes_before": [20.0, 5.0, 30.0, 4.0, 4.0, 4.0],
        "minutes_after": [5.0, 5.0, 40.0, 4.0, 4.0, 4.0],
        "minutes_change": [-15.0, 0.0, 10.0, 0.0, 0.0, 0.0],
        "covered_population_before": [0.0, 800.0, 500.0, 1000.0, 800.0, 500.0],
        "covered_population_after": [1000.0, 800.0, 0.0, 1000.0, 800.0, 500.0],
        "covered_population_change": [1000.0, 0.0, -500.0, 0.0, 0.0, 0.0],
        "covered_share_before": [0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "covered_share_after": [1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        "class_before": ["outside", "covered", "covered"] + ["covered"] * 3,
        "class_after": ["covered", "covered", "outside"] + ["covered"] * 3,
        "class_change": ["outside -> covered", "", "covered -> outside", "", "", ""],
        "change": ["gain", "same", "loss", "same", "same", "same"],
    })
    geometry = gpd.GeoDataFrame(
        {"id": ids},
        geometry=[shapely.box(104.390, 31.130, 104.395, 31.134),
                  shapely.Point(104.40, 31.13), shapely.box(104.400, 31.135, 104.405, 31.139)],
        crs="EPSG:4326")
    settings = pd.DataFrame({
        "source": ["coverage_parameters.csv"] * 2, "parameter": ["synthetic", "walk_speed_kmh"],
        "before": ["true", ""], "after": ["true", "3.3" if settings_differ else ""],
        "compared": [True, True], "same": [True, not settings_differ],
        "expected": [False, False]})
    empty = pd.DataFrame()
    lines = gpd.GeoDataFrame({"name": [XSS_NAME]}, geometry=[
        shapely.LineString([(104.395, 31.132), (104.400, 31.136)])], crs="EPSG:4326")
    return Comparison(names=("today", "new room"), base_dir=tmp_path, scenario_dir=tmp_path,
                      threshold_minutes=15.0, communities=communities, townships=empty,
                      study_area=empty, targets=empty, settings=settings, geometry=geometry,
                      added_lines=lines if settings_differ else None)


def _open(page, path):
    page.goto(path.as_uri())
    page.wait_for_selector("#dy-map-after .leaflet-control-layers-overlays label",
                           state="attached", timeout=20_000)


def _fill(page, pane: str) -> list[str]:
    return page.evaluate(f"""() => Array.from(document.querySelectorAll(
        '#dy-map-{pane} path.leaflet-interactive')).map(p => p.getAttribute('fill'))""")


def test_compare_map_panes_sync_switch_and_escape(page, tmp_path):
    path = compare_map(_comparison(tmp_path, settings_differ=True), tmp_path / "cmp.html")
    _open(page, path)
    assert page.evaluate("() => typeof L") == "object"  # Leaflet inlined, no CDN
    assert page.locator(".leaflet-container").count() == 2
    titles = page.locator(".dy-pane-title").all_inner_texts()
    assert titles == ["方案前 / before · today", "方案后 / after · new room"]
    labels = [t.strip() for t in
              page.locator("#dy-map-after .leaflet-control-layers-overlays label")
              .all_inner_texts()]
    assert labels == ["方案后 / after", "差异 (覆盖人口变化) / difference (covered people)",
                      "新增道路或桥梁 / added paths or bridges"]
    assert page.locator("#dy-map-after path[stroke-dasharray='8 6']").count() == 1
    assert "SYNTHETIC DATA / 合成数据" in page.locator(".dy-synthetic").inner_text()
    note = page.locator(".dy-note")
    assert "WARNING: the two folders were made with different settings" in note.inner_text()
    assert "dy-warn" in (note.get_attribute("class") or "")

    # the first category (alphabetical) is fitness_station: all covered, no difference
    select = page.locator("select.dy-category")
    assert select.input_value() == "fitness_station"
    select.select_option("health_room")
    # before: A outside (red), C covered (green); after: A covered, C outside; the
    # difference layer on top: A gain (blue), B unchanged (transparent), C loss (magenta)
    before = _fill(page, "before")
    after = _fill(page, "after")
    assert before == ["#d7191c", "#1a9641", "#1a9641"]
    assert after[:3] == ["#1a9641", "#1a9641", "#d7191c"]
    assert after[3:6] == ["#2c7bb6", "#ffffff", "#d01c8b"]
    opacity = page.evaluate("""() => Array.from(document.querySelectorAll(
        '#dy-map-after path.leaflet-interactive')).map(p => p.getAttribute('fill-opacity'))""")
    assert opacity[3:6] == ["0.85", "0", "0.85"]

    # moving one pane moves the other
    page.evaluate("() => window.dyMaps.before.setView([31.1335, 104.3975], 17, "
                  "{animate: false})")
    center = page.evaluate("() => { const c = window.dyMaps.after.getCenter(); "
                           "return [c.lat, c.lng, window.dyMaps.after.getZoom()]; }")
    assert center[0] == pytest.approx(31.1335, abs=1e-4)
    assert center[1] == pytest.approx(104.3975, abs=1e-4)
    assert center[2] == 17
    page.evaluate("() => window.dyMaps.after.setZoom(15, {animate: false})")
    assert page.evaluate("() => window.dyMaps.before.getZoom()") == 15

    # popups show names as text, never as markup
    page.evaluate("() => window.dyMaps.before.eachLayer(l => { if (l.feature && "
                  "l.feature.properties.id === 'A') { l.openPopup(); } })")
    popup = page.locator("#dy-map-before .leaflet-popup-content").inner_text()
    assert XSS_NAME in popup
    assert "outside → covered (gain)" in popup
    assert page.dy_dialogs == []
    assert page.dy_errors == []


def test_compare_map_same_settings_is_calm(page, tmp_path):
    path = compare_map(_comparison(tmp_path, settings_differ=False), tmp_path / "cmp.html",
                       lang="en")
    _open(page, path)
    note = page.locator(".dy-note")
    assert "dy-warn" not in (note.get_attribute("class") or "")
    assert page.locator(".dy-pane-title").all_inner_texts()[0] == "before · today"
    assert page.locator("#dy-map-after .leaflet-control-layers-overlays label").count() == 2
    assert page.dy_errors == []
