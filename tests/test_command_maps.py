"""The map of every command, opened in headless Chromium offline, as in a meeting room in China.

Each command (``access``, ``isochrones``, ``suggest-sites``, ``compliance``, ``run``) is run on
the embedded demo data with a different ``--basemap``; every map must carry the base map's tile
URLs (requests to them are aborted: no internet), the offline background drawn from the OSM
file, the road layer and the isochrones where the command has them, site labels that never
repeat inside a category, a legend fully inside the window, and the community popup when a
community is clicked with the isochrones switched on.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from deyang_geo.cli.app import main
from deyang_geo.study.demo import demo_data_dir

pytestmark = pytest.mark.browser

MAP_VAR = "map_000001"
BACKGROUND = "离线底图 / Offline background"
ROADS = "路网 / Road network"
ISOCHRONES = "等时圈 / Isochrones"
TIANDITU_KEY = "dummyKey123"
TIANDITU_ENV_KEY = "envKey456"


def _demo(name: str) -> str:
    return str(demo_data_dir() / name)


@pytest.fixture(scope="module")
def command_maps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run every command once on the demo data; return command -> map.html."""
    root = tmp_path_factory.mktemp("command_maps")
    common = ["--network", _demo("jingyang_synthetic.osm.gz"),
              "--facilities", _demo("facilities.geojson")]
    demand = ["--demand", _demo("communities.geojson")]
    divisions = ["--divisions", _demo("divisions.geojson")]
    maps: dict[str, Path] = {}
    assert main(["-q", "access", *common, *demand, *divisions, "--out", str(root / "access"),
                 "--basemap", "tianditu", "--tianditu-key", TIANDITU_KEY]) == 0
    maps["access"] = root / "access" / "map.html"
    assert main(["-q", "isochrones", *common, "--out", str(root / "iso.gpkg"),
                 "--basemap", "amap"]) == 0
    maps["isochrones"] = root / "iso.html"
    before = os.environ.get("TIANDITU_KEY")
    os.environ["TIANDITU_KEY"] = TIANDITU_ENV_KEY
    try:
        assert main(["-q", "suggest-sites", *common, *demand, "--candidates",
                     _demo("candidates.geojson"), "--category", "fitness_station",
                     "--new-sites", "3", "--out", str(root / "sites"),
                     "--basemap", "tianditu"]) == 0
    finally:
        if before is None:
            del os.environ["TIANDITU_KEY"]
        else:
            os.environ["TIANDITU_KEY"] = before
    maps["suggest-sites"] = root / "sites" / "map.html"
    assert main(["-q", "compliance", *common, *demand, "--out", str(root / "compliance"),
                 "--basemap", "none"]) == 0
    maps["compliance"] = root / "compliance" / "map.html"
    maps["run"] = _run_study(root / "study")
    return maps


def _run_study(folder: Path) -> Path:
    folder.mkdir()
    for name in ("communities.geojson", "facilities.geojson", "candidates.geojson",
                 "divisions.geojson", "context.geojson", "jingyang_synthetic.osm.gz"):
        shutil.copy(demo_data_dir() / name, folder / name)
    text = (demo_data_dir() / "study.toml").read_text(encoding="utf-8")
    head = text.split("[siting.fitness_station]")[0]
    head = head.replace(
        '  "service_centre", "service_station", "health_room", "fitness_station",\n'
        '  "elderly_daycare", "childrens_home", "culture_sports",\n',
        '  "fitness_station", "service_station", "health_room",\n')
    study = head + """
[siting.fitness_station]
model = "mclp"
new_sites = 3
minutes = 15
candidates = "file"
time_limit_s = 20

[siting.service_station]
model = "mclp"
new_sites = 2
minutes = 15
candidates = "file"
time_limit_s = 20

[output]
folder = "out"
lang = "both"
basemap = "amap"
outputs = ["isochrones", "map"]
"""
    (folder / "study.toml").write_text(study, encoding="utf-8")
    assert main(["-q", "run", str(folder / "study.toml")]) == 0
    return folder / "out" / "map.html"


#: What each command's map must show: layers that must be there, and the base map.
EXPECTED: dict[str, dict[str, Any]] = {
    "access": {"layers": [BACKGROUND, ROADS, ISOCHRONES, "覆盖 / Coverage",
                          "区县界 / Divisions", "服务范围外社区 / Communities outside reach"],
               "tiles": ["tianditu.gov.cn/vec_w/wmts", f"tk={TIANDITU_KEY}"], "sites": False},
    "isochrones": {"layers": [BACKGROUND, ROADS, ISOCHRONES, "现有设施 / Existing facilities"],
                   "tiles": ["webrd0{s}.is.autonavi.com/appmaptile"], "sites": False},
    "suggest-sites": {"layers": [BACKGROUND, ROADS, ISOCHRONES, "覆盖 / Coverage",
                                 "建议选址 (排序) / Proposed sites (ranked)"],
                      "tiles": ["tianditu.gov.cn/vec_w/wmts", f"tk={TIANDITU_ENV_KEY}"],
                      "sites": True},
    "compliance": {"layers": [BACKGROUND, ROADS, "覆盖 / Coverage"], "tiles": [],
                   "sites": False},
    "run": {"layers": [BACKGROUND, ROADS, ISOCHRONES, "覆盖 / Coverage",
                       "建议选址 (排序) / Proposed sites (ranked)"],
            "tiles": ["webrd0{s}.is.autonavi.com/appmaptile"], "sites": True},
}

_GROUP_SIZES = """
() => {
    // the number of drawn features in each named overlay group (switched groups included)
    const sizes = {};
    const key = Object.keys(window).find(k => k.startsWith("layer_control_")
                                             && k.endsWith("_layers"));
    const overlays = window[key].overlays;
    for (const [escaped, layer] of Object.entries(overlays)) {
        let n = 0;
        const walk = l => { if (l.getLayers) { l.getLayers().forEach(walk); } else { n++; } };
        walk(layer);
        const name = new DOMParser().parseFromString(escaped, "text/html")
            .documentElement.textContent;
        sizes[name] = n;
    }
    return sizes;
}
"""


def _open(page: Any, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector(".leaflet-control-layers-overlays label", state="attached",
                           timeout=30_000)


@pytest.mark.parametrize("command", list(EXPECTED))
def test_command_map(page: Any, command_maps: dict[str, Path], command: str) -> None:
    path = command_maps[command]
    expected = EXPECTED[command]
    assert path.is_file(), f"{command} wrote no map"
    html = path.read_text(encoding="utf-8")
    for tile in expected["tiles"]:  # the base map's tiles (not fetched: no internet here)
        assert tile in html, (command, tile)
    if command != "access":
        assert TIANDITU_KEY not in html
    if command not in ("suggest-sites",):
        assert TIANDITU_ENV_KEY not in html

    _open(page, path)
    sizes = page.evaluate(_GROUP_SIZES)
    for layer in expected["layers"]:
        assert sizes.get(layer, 0) > 0, (command, layer, sizes)

    # the scale bar is metric only
    scale = page.locator(".leaflet-control-scale-line")
    assert scale.count() == 1
    assert scale.inner_text().strip().endswith(("km", " m")), scale.inner_text()

    # the legend is wholly inside the window and nothing in it is cut off
    box = page.evaluate("""() => {
        const el = document.querySelector(".dy-legend");
        const r = el.getBoundingClientRect();
        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                w: window.innerWidth, h: window.innerHeight,
                hidden: el.scrollHeight - el.clientHeight};
    }""")
    assert box["left"] >= 0, box
    assert box["top"] >= 0, box
    assert box["right"] <= box["w"], box
    assert box["bottom"] <= box["h"], box
    assert box["hidden"] <= 1, box

    # site labels name the category and never repeat inside it, whatever the choice
    switch = page.locator("select.dy-category")
    options = switch.evaluate("s => Array.from(s.options).map(o => [o.value, o.disabled])")
    for value, disabled in options:
        if disabled:
            continue
        switch.select_option(value)
        labels = page.locator(".dy-rank").all_inner_texts()
        assert len(labels) == len(set(labels)), (command, value, labels)
        if expected["sites"] and value == "":
            assert labels, command
    if expected["sites"]:
        assert all(not t.strip().isdigit() for t in page.locator(".dy-rank").all_inner_texts())
    assert page.dy_errors == []


def test_community_popup_with_isochrones_on(page: Any, command_maps: dict[str, Path]) -> None:
    """A click on a community inside an isochrone opens the community's popup."""
    _open(page, command_maps["access"])
    sizes = page.evaluate(_GROUP_SIZES)
    assert sizes.get(ISOCHRONES, 0) > 0
    # a community polygon whose centre lies inside a drawn isochrone; zoom onto it
    target = page.evaluate("""() => {
        const iso = [];
        const polys = [];
        const walk = (l, into) => { if (l.getLayers) { l.getLayers().forEach(x => walk(x, into)); }
                                    else { into.push(l); } };
        const key = Object.keys(window).find(k => k.startsWith("layer_control_")
                                                 && k.endsWith("_layers"));
        for (const [escaped, layer] of Object.entries(window[key].overlays)) {
            const name = new DOMParser().parseFromString(escaped, "text/html")
                .documentElement.textContent;
            if (name.startsWith("等时圈")) { walk(layer, iso); }
            if (name.startsWith("社区与村")) { walk(layer, polys); }
        }
        for (const p of polys) {
            if (!p.getCenter || !p.feature.properties.t) { continue; }
            const c = p.getCenter();
            if (iso.some(i => i.getBounds().contains(c))) {
                %s.setView(c, 16, {animate: false});
                return {lat: c.lat, lng: c.lng, name: p.feature.properties.t};
            }
        }
        return null;
    }""" % MAP_VAR)  # noqa: UP031
    assert target is not None
    page.wait_for_timeout(300)
    point = page.evaluate(
        f"() => {{ const p = {MAP_VAR}.latLngToContainerPoint([{target['lat']}, "
        f"{target['lng']}]); const r = {MAP_VAR}.getContainer().getBoundingClientRect(); "
        "return [p.x + r.left, p.y + r.top]; }")
    page.mouse.click(point[0], point[1])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5_000)
    text = popup.inner_text()
    name = json.loads(json.dumps(target["name"]))
    assert name.split(" / ")[0] in text, (text, name)
    assert "≤" not in text  # not an isochrone's label
    assert page.dy_errors == []


def test_click_reaches_the_community_under_an_isochrone(page: Any, study_layers: dict[str, Any],
                                                         tmp_path: Path) -> None:
    """Found: with isochrones on, a click on a community showed an isochrone tooltip."""
    from deyang_geo.outputs import webmap

    layers = {k: study_layers[k] for k in ("communities", "isochrones", "facilities")}
    path = webmap.save_map(webmap.study_map(title="t", **layers), tmp_path / "m.html")
    _open(page, path)
    # community U1 (东山社区) lies inside the service station's 5-minute isochrone
    page.evaluate(f"() => {MAP_VAR}.setView([31.1265, 104.3830], 16, {{animate: false}})")
    page.wait_for_timeout(300)
    point = page.evaluate(
        f"() => {{ const p = {MAP_VAR}.latLngToContainerPoint([31.1265, 104.3830]); "
        f"const r = {MAP_VAR}.getContainer().getBoundingClientRect(); "
        "return [p.x + r.left, p.y + r.top]; }")
    page.mouse.click(point[0], point[1])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5_000)
    assert "东山社区" in popup.inner_text()
    assert page.dy_errors == []
