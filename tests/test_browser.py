"""The map and the report opened in headless Chromium, offline, as in a meeting room."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pytest

from deyang_geo.outputs import report, webmap

pytestmark = pytest.mark.browser

XSS_NAME = "<script>alert(1)</script>"
EXPECTED_LAYERS = [
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
# the map's Leaflet variable: element ids are renumbered in tree order by render_map
MAP_VAR = "map_000001"

_OPEN_ALL_POPUPS = """
() => {
    const texts = [];
    const layers = [];
    %s.eachLayer(l => layers.push(l));
    for (const l of layers) {
        if (l.getPopup && l.getPopup()) {
            l.openPopup();
            const el = l.getPopup().getElement();
            if (el) { texts.push(el.innerText); }
        }
        if (l.getTooltip && l.getTooltip()) {
            l.openTooltip();
            const el = l.getTooltip().getElement();
            if (el) { texts.push(el.innerText); }
        }
    }
    return texts;
}
""" % MAP_VAR  # noqa: UP031


def _open(page, path):
    page.goto(path.as_uri())
    page.wait_for_selector(".leaflet-control-layers-overlays label", state="attached",
                           timeout=20_000)


def _map_layer_count(page) -> int:
    return page.evaluate(f"() => Object.keys({MAP_VAR}._layers).length")


def test_map_offline_layers_toggle_and_escaping(page, study_layers, tmp_path):
    m = webmap.study_map(title="德阳 Deyang", scenario="步行 15 分钟 walk", synthetic=True,
                         **study_layers)
    path = webmap.save_map(m, tmp_path / "map.html")
    _open(page, path)
    assert page.evaluate("() => typeof L") == "object"  # Leaflet inlined, no CDN
    labels = [t.strip() for t in
              page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert labels == EXPECTED_LAYERS
    assert "SYNTHETIC DATA / 合成数据" in page.locator(".dy-title").inner_text()
    assert "区县界 / division" in page.locator(".dy-legend").inner_text()
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1

    # the category switch chooses what the category layers show
    switch = page.locator("select.dy-category")
    assert switch.input_value() == "fitness_station"  # the first analysed category
    switch.select_option("")
    assert page.locator(".dy-badge").count() == 3  # every facility
    switch.select_option("fitness_station")
    assert page.locator(".dy-badge").count() == 1
    switch.select_option("service_station")
    assert page.locator(".dy-badge").count() == 1
    assert page.locator(".dy-rank").count() == 2  # both proposed sites are service stations

    # every layer toggles: switching it off removes its features from the map, on restores
    checkboxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
    for i in range(checkboxes.count()):
        box = checkboxes.nth(i)
        was_checked = box.is_checked()
        before = _map_layer_count(page)
        box.click()
        after = _map_layer_count(page)
        assert (after < before) if was_checked else (after > before), labels[i]
        box.click()
        assert _map_layer_count(page) == before, labels[i]

    # the hostile names show as text in popups and tooltips, and nothing runs
    scripts_before = page.evaluate("() => document.scripts.length")
    page.locator(".dy-badge", has_text="站").first.click()
    popup = page.locator(".leaflet-popup-content").first
    assert XSS_NAME in popup.inner_text()
    switch.select_option("")  # every facility, whatever its category
    texts = page.evaluate(_OPEN_ALL_POPUPS)
    assert any(XSS_NAME in t for t in texts)
    assert any("`);alert(2);//${alert(3)}" in t for t in texts)
    assert any("<b>西街</b>社区" in t for t in texts)
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.scripts.length") == scripts_before
    assert page.dy_dialogs == []
    assert page.dy_errors == []
    page.screenshot(path=str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").stat().st_size > 10_000


def test_gcj02_map_loads(page, study_layers, tmp_path):
    path = webmap.save_map(webmap.study_map(title="t", amap=True, lang="en", **study_layers),
                           tmp_path / "gcj.html")
    _open(page, path)
    bases = page.locator(".leaflet-control-layers-base label").all_inner_texts()
    assert [b.strip() for b in bases] == ["Amap", "Amap satellite"]
    assert page.dy_errors == []


def test_report_opens(page, study_layers, tmp_path):
    from deyang_geo.outputs.figures import study_figure

    fig = study_figure(title="德阳", **study_layers)
    paths = report.build_report(
        tmp_path, title="德阳 <Deyang>", parameters={"mode": "walk"},
        sources=[report.DataSource("Facilities", "synthetic", XSS_NAME)],
        coverage={"coverage": study_layers["coverage"]}, sites=study_layers["sites"],
        figures={"地图 Map": fig})
    page.goto(paths.html.as_uri())
    page.wait_for_load_state("load")
    assert XSS_NAME in page.locator("body").inner_text()
    widths = page.evaluate("() => Array.from(document.images).map(i => i.naturalWidth)")
    assert widths
    assert all(w > 100 for w in widths)
    assert "SYNTHETIC DATA" in page.locator(".banner").inner_text()
    assert page.dy_dialogs == []
    assert page.dy_errors == []
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)


@pytest.mark.slow
def test_map_of_100k_demand_points_stays_usable(page, tmp_path):
    """Measure the HTML size and load time of a 100,000-point map (printed, not asserted)."""
    rng = np.random.default_rng(2026)
    n = 100_000
    lon = rng.normal(104.39, 0.05, n)
    lat = rng.normal(31.13, 0.04, n)
    points = gpd.GeoDataFrame(
        {"id": [f"D{i}" for i in range(n)], "population": rng.integers(5, 200, n)},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)
    coverage = gpd.pd.DataFrame({
        "community_id": points["id"], "category": "service_station",
        "minutes": rng.gamma(4.0, 3.0, n),
    })
    coverage["covered_share_15min"] = (coverage["minutes"] <= 15).astype(float)
    coverage["class"] = np.where(coverage["covered_share_15min"] > 0, "covered", "outside")
    start = time.perf_counter()
    m = webmap.study_map(title="100k", communities=points, coverage=coverage,
                         colour_by="minutes")
    path = webmap.save_map(m, tmp_path / "big.html")
    build_s = time.perf_counter() - start
    size_mb = path.stat().st_size / 1e6
    start = time.perf_counter()
    _open(page, path)
    page.wait_for_function(f"() => Object.keys({MAP_VAR}._layers).length > 100")
    load_s = time.perf_counter() - start
    print(f"\n100k points: build+save {build_s:.1f} s, HTML {size_mb:.2f} MB, "
          f"browser load {load_s:.2f} s")
    assert size_mb < 10
    assert page.dy_errors == []


def test_report_printed_as_pdf(browser, study_layers, tmp_path):
    paths = report.build_report(tmp_path, title="德阳", parameters={"mode": "walk"},
                                sources={"OSM": "real"},
                                coverage={"coverage": study_layers["coverage"]})
    pdf = report.write_pdf(paths.html, browser="/usr/bin/chromium")
    data = pdf.read_bytes()
    assert pdf == tmp_path / "report.pdf"
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") >= 2  # the page tree and at least one page
