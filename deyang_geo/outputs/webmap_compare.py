"""The comparison map: before and after side by side in two synchronized panes, with differences.

One self-contained HTML page (Leaflet inlined from ``deyang_geo/data/webmap/``, no CDN): the
left pane shows each community's covered share of the chosen category before the scenario,
the right pane after it, and the right pane's "difference" layer colours the change in covered
people (gains green, losses red). Moving or zooming one pane moves the other.
"""

from __future__ import annotations

import html
import importlib.resources
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deyang_geo.core.crs import local_metric_crs
from deyang_geo.io.files import write_text_atomic

if TYPE_CHECKING:
    from deyang_geo.study.compare import Comparison

__all__ = ["compare_map"]

_LABELS = {
    "before": ("方案前", "before"),
    "after": ("方案后", "after"),
    "difference": ("差异 (覆盖人口变化)", "difference (covered people)"),
    "category": ("设施类别", "category"),
    "gain": ("增加", "gain"),
    "loss": ("减少", "loss"),
    "same": ("不变", "no change"),
    "share": ("覆盖率", "covered share"),
    "title": ("方案比较", "Scenarios compared"),
    "lines": ("新增道路或桥梁", "added paths or bridges"),
}


def _label(key: str, lang: str) -> str:
    zh, en = _LABELS[key]
    return zh if lang == "zh" else en if lang == "en" else f"{zh} / {en}"


def _geojson(comparison: Comparison, simplify_m: float) -> list[dict[str, Any]]:
    geo = comparison.geometry
    if geo is None:
        return []

    b = geo.total_bounds
    metric = geo.to_crs(local_metric_crs([b[0], b[2]], [b[1], b[3]]))
    simple = metric.geometry.simplify(simplify_m, preserve_topology=True)
    back = simple.set_crs(metric.crs, allow_override=True).to_crs("EPSG:4326")
    info = (comparison.communities.drop_duplicates("community_id")
            .set_index("community_id"))
    feats = []
    for cid, g in zip(geo["id"].astype(str), back, strict=True):
        if g is None or g.is_empty:
            continue
        gj = json.loads(json.dumps(g.__geo_interface__), parse_float=lambda s: round(float(s), 6))
        name = str(info["name"].get(cid, "")) if "name" in info.columns else ""
        town = str(info["township"].get(cid, "")) if "township" in info.columns else ""
        feats.append({"type": "Feature", "geometry": gj,
                      "properties": {"id": cid, "name": name, "township": town}})
    return feats


def _lines(comparison: Comparison) -> list[dict[str, Any]]:
    lines = comparison.added_lines
    if lines is None or not len(lines):
        return []
    feats = []
    for name, g in zip(lines["name"].astype(str), lines.to_crs("EPSG:4326").geometry,
                       strict=True):
        gj = json.loads(json.dumps(g.__geo_interface__), parse_float=lambda s: round(float(s), 6))
        feats.append({"type": "Feature", "geometry": gj, "properties": {"name": name}})
    return feats


def _values(comparison: Comparison) -> dict[str, dict[str, list[Any]]]:
    out: dict[str, dict[str, list[Any]]] = {}
    d = comparison.communities

    def num(v: Any, digits: int) -> float | None:
        f = float(v)
        return round(f, digits) if np.isfinite(f) else None

    for r in d.itertuples():
        out.setdefault(str(r.category), {})[str(r.community_id)] = [
            num(r.covered_share_before, 4), num(r.covered_share_after, 4),
            num(r.covered_population_change, 1), num(r.minutes_before, 2),
            num(r.minutes_after, 2), str(r.class_before), str(r.class_after), str(r.change),
            num(r.population, 0),
        ]
    return out


def _synthetic(comparison: Comparison) -> bool:
    s = comparison.settings
    if not len(s):
        return False
    hit = s[s["parameter"].isin(["synthetic", "study.synthetic"])]
    values = {str(v).strip().lower() for v in [*hit["before"], *hit["after"]]}
    return bool(values & {"true", "1"})


def compare_map(comparison: Comparison, path: str | os.PathLike[str], *, lang: str = "both",
                simplify_m: float = 5.0) -> Path:
    """Write the side-by-side comparison map as one offline HTML page.

    Parameters
    ----------
    comparison
        The comparison (with :attr:`~deyang_geo.study.compare.Comparison.geometry`).
    path
        Destination ``.html`` file (written atomically).
    lang
        Labels in ``"zh"``, ``"en"`` or ``"both"``.
    simplify_m
        Tolerance in metres for simplifying community polygons.

    Returns
    -------
    Path
        The file written.
    """
    root = importlib.resources.files("deyang_geo") / "data" / "webmap"
    leaflet_css = (root / "leaflet.css").read_text(encoding="utf-8")
    leaflet_js = (root / "leaflet.js").read_text(encoding="utf-8")
    values = _values(comparison)
    categories = sorted(values)
    data = {
        "features": _geojson(comparison, simplify_m),
        "lines": _lines(comparison),
        "values": values,
        "categories": categories,
        "labels": {k: _label(k, lang) for k in _LABELS},
        "names": list(comparison.names),
        "threshold": comparison.threshold_minutes,
        "note": comparison.settings_note(),
        "settings_differ": comparison.settings_differ,
        "synthetic": _synthetic(comparison),
    }
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    title = (f"{_label('title', lang)}: {comparison.names[0]} → {comparison.names[1]} "
             f"({comparison.threshold_minutes:g} min)")
    page = _PAGE.format(title=html.escape(title), leaflet_css=leaflet_css,
                        leaflet_js=leaflet_js, payload=payload, script=_SCRIPT)
    return write_text_atomic(Path(path), page)


_PAGE = """<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{leaflet_css}</style>
<script>{leaflet_js}</script>
<style>
html,body{{margin:0;height:100%;font:14px/1.35 "Noto Sans CJK SC","Microsoft YaHei",
 "PingFang SC",sans-serif}}
#dy-bar{{padding:6px 10px;background:#f6f6f6;border-bottom:1px solid #ccc;display:flex;
 flex-wrap:wrap;gap:10px;align-items:center}}
.dy-title{{font-weight:600;font-size:16px}}
.dy-synthetic{{color:#fff;background:#c0392b;padding:2px 8px;border-radius:4px;font-weight:600}}
.dy-note{{flex-basis:100%;font-size:12px;color:#333}}
.dy-note.dy-warn{{color:#a40000;font-weight:600}}
#dy-panes{{display:flex;height:calc(100% - 92px)}}
.dy-pane{{flex:1;position:relative;border-left:2px solid #fff}}
.dy-pane-title{{position:absolute;top:10px;left:56px;z-index:1000;
 background:rgba(255,255,255,.92);padding:3px 10px;border-radius:4px;font-weight:600;
 box-shadow:0 1px 4px #0004}}
.dy-legend{{background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;font-size:12px;
 line-height:18px}}
.dy-legend i{{display:inline-block;width:12px;height:12px;margin-right:5px;
 vertical-align:middle}}
</style></head>
<body>
<div id="dy-bar"><span class="dy-title">{title}</span><span class="dy-synthetic"
 hidden></span><label><span class="dy-category-label"></span>
<select class="dy-category"></select></label><div class="dy-note"></div></div>
<div id="dy-panes"><div id="dy-map-before" class="dy-pane"></div>
<div id="dy-map-after" class="dy-pane"></div></div>
<script id="dy-data" type="application/json">{payload}</script>
<script>{script}</script>
</body></html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("dy-data").textContent);
  var GAIN = "#2c7bb6", LOSS = "#d01c8b";
  var L_ = D.labels;
  document.querySelector(".dy-category-label").textContent = L_.category + ": ";
  var note = document.querySelector(".dy-note");
  note.textContent = D.note;
  if (D.settings_differ) { note.classList.add("dy-warn"); }
  if (D.synthetic) {
    var s = document.querySelector(".dy-synthetic");
    s.textContent = "SYNTHETIC DATA / 合成数据";
    s.hidden = false;
  }
  var select = document.querySelector("select.dy-category");
  D.categories.forEach(function (c) {
    var o = document.createElement("option");
    o.value = c; o.textContent = c; select.appendChild(o);
  });
  function shareColor(v) {
    if (v === null || v === undefined) { return "#bbbbbb"; }
    return v >= 0.8 ? "#1a9641" : v >= 0.2 ? "#fdae61" : "#d7191c";
  }
  function diffColor(v) {
    if (v === null || v === undefined) { return null; }
    return v > 0.5 ? GAIN : v < -0.5 ? LOSS : null;
  }
  function makeMap(id, title) {
    var map = L.map(id, {preferCanvas: false, zoomControl: true});
    L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", {
      attribution: "&copy; OpenStreetMap contributors", maxZoom: 19}).addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    var t = L.DomUtil.create("div", "dy-pane-title");
    t.textContent = title;
    document.getElementById(id).appendChild(t);
    return map;
  }
  var before = makeMap("dy-map-before", L_.before + " · " + D.names[0]);
  var after = makeMap("dy-map-after", L_.after + " · " + D.names[1]);
  window.dyMaps = {before: before, after: after};
  function popupFor(p, cat) {
    var v = (D.values[cat] || {})[p.id];
    var div = document.createElement("div");
    var lines = [p.name + " (" + p.id + ")", p.township, cat];
    if (v) {
      lines.push(L_.share + ": " + v[0] + " → " + v[1]);
      lines.push("min: " + v[3] + " → " + v[4]);
      lines.push(v[5] + " → " + v[6] + " (" + v[7] + ")");
      lines.push("Δ " + v[2]);
    }
    lines.forEach(function (s) {
      var l = document.createElement("div"); l.textContent = s; div.appendChild(l);
    });
    return div;
  }
  function layer(which) {
    return L.geoJSON({type: "FeatureCollection", features: D.features}, {
      pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 7}); },
      onEachFeature: function (f, l) {
        l.bindPopup(function () { return popupFor(f.properties, select.value); });
      }
    });
  }
  var layers = {before: layer("before"), after: layer("after"), diff: layer("diff")};
  function restyle() {
    var cat = select.value;
    var vals = D.values[cat] || {};
    function styler(idx, colorFn) {
      return function (f) {
        var v = vals[f.properties.id];
        var c = colorFn(v ? v[idx] : null);
        if (c === null) {  // the difference layer shows changes only
          return {color: "#555", weight: 0, fillColor: "#ffffff", fillOpacity: 0};
        }
        var diff = colorFn === diffColor;
        return {color: diff ? c : "#555", weight: diff ? 3 : 1, fillColor: c,
                fillOpacity: diff ? 0.85 : 0.7};
      };
    }
    layers.before.setStyle(styler(0, shareColor));
    layers.after.setStyle(styler(1, shareColor));
    layers.diff.setStyle(styler(2, diffColor));
  }
  layers.before.addTo(before);
  layers.after.addTo(after);
  layers.diff.addTo(after);
  var ctl = {};
  ctl[L_.after] = layers.after;
  ctl[L_.difference] = layers.diff;
  if (D.lines.length) {
    var added = L.geoJSON({type: "FeatureCollection", features: D.lines}, {
      style: function () { return {color: "#000", weight: 5, dashArray: "8 6"}; },
      onEachFeature: function (f, l) {
        var div = document.createElement("div");
        div.textContent = L_.lines + (f.properties.name ? ": " + f.properties.name : "");
        l.bindTooltip(div);
      }
    }).addTo(after);
    ctl[L_.lines] = added;
  }
  L.control.layers(null, ctl, {collapsed: false}).addTo(after);
  select.addEventListener("change", restyle);
  restyle();
  function legend(map, items) {
    var c = L.control({position: "bottomright"});
    c.onAdd = function () {
      var div = L.DomUtil.create("div", "dy-legend");
      items.forEach(function (it) {
        var row = document.createElement("div");
        var sw = document.createElement("i"); sw.style.background = it[0];
        row.appendChild(sw);
        row.appendChild(document.createTextNode(it[1]));
        div.appendChild(row);
      });
      return div;
    };
    c.addTo(map);
  }
  var shareItems = [["#1a9641", L_.share + " ≥ 80%"], ["#fdae61", "20–80%"],
                    ["#d7191c", "< 20%"]];
  legend(before, shareItems);
  legend(after, shareItems.concat([[GAIN, "Δ " + L_.gain], [LOSS, "Δ " + L_.loss]]));
  var bounds = layers.before.getBounds();
  if (bounds.isValid()) { before.fitBounds(bounds); after.fitBounds(bounds); }
  else { before.setView([31.13, 104.4], 12); after.setView([31.13, 104.4], 12); }
  var syncing = false;
  function sync(src, dst) {
    src.on("move", function () {
      if (syncing) { return; }
      syncing = true;
      dst.setView(src.getCenter(), src.getZoom(), {animate: false});
      syncing = false;
    });
  }
  sync(before, after);
  sync(after, before);
})();
"""
