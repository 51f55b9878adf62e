"""Interactive HTML maps of a study: one self-contained file that also works without internet."""

from __future__ import annotations

import html
import importlib.resources
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from deyang_geo.core import settings
from deyang_geo.core.crs import utm_crs, wgs84_to_gcj02
from deyang_geo.core.errors import InputError
from deyang_geo.core.style import (
    CLASS_STYLES,
    ISO_COLOURS,
    MINUTE_BANDS,
    UNREACHABLE_COLOUR,
    Basemap,
    Lang,
    category_label,
    category_style,
    context_kind,
    label,
    minutes_band_label,
    minutes_colour,
)
from deyang_geo.io.files import write_text_atomic

__all__ = [
    "coverage_view",
    "overlay_names",
    "render_map",
    "save_map",
    "study_map",
    "to_wgs84",
]

_COORD_DECIMALS = 5  # about 1 m

_SAFE_KEY = re.compile(r"^[A-Za-z0-9]+$")

_MINOR_HIGHWAYS = frozenset({
    "footway", "path", "pedestrian", "steps", "cycleway", "track", "bridleway", "corridor",
    "living_street", "service",
})

_MAJOR_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link",
})


# --------------------------------------------------------------------------------------------
# geometry preparation


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` in EPSG:4326 (a frame without a CRS is taken as WGS-84).

    Parameters
    ----------
    gdf
        Any GeoDataFrame; it is not modified.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in WGS-84 without empty or missing geometries.
    """
    out = gdf.copy()
    if out.crs is None:
        out = out.set_crs(4326)
    elif not out.crs.equals("EPSG:4326"):
        out = out.to_crs(4326)
    geoms = out.geometry.to_numpy()
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    return out.loc[keep]


def _metric(gdf_wgs84: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf_wgs84.to_crs(utm_crs(gdf_wgs84))


def _prepare_geometry(geoms: np.ndarray[Any, Any], *, simplify_m: float, gcj02: bool
                      ) -> np.ndarray[Any, Any]:
    """Simplify (tolerance in metres, approximated in degrees), shift to GCJ-02, round."""
    out = geoms
    if simplify_m > 0:
        tolerance_deg = simplify_m / 111_320.0
        out = shapely.simplify(out, tolerance_deg, preserve_topology=True)
    if gcj02:
        def shift(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        out = shapely.transform(out, shift)
    return shapely.transform(out, lambda c: np.round(c, _COORD_DECIMALS))


def _js_json(value: Any) -> str:
    """Serialise ``value`` as JSON that is safe inside an HTML ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _esc(value: Any) -> str:
    """HTML-escape any value for display (``None``/NaN as an empty string)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(_esc(v) for v in value)
    return html.escape(str(value), quote=True)


def _fmt_int(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not math.isfinite(number):
        return ""
    return f"{round(number):,}"


def _popup(title: str, rows: Sequence[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """Return a popup from an escaped title and (escaped label, escaped value) rows.

    The layer turns it into a compact list (title, then one value per layer field) and the
    page builds the HTML when the popup opens: big layers stay small.
    """
    return title, [(k, v) for k, v in rows if v != ""]


def _compact_popups(props: Sequence[dict[str, Any]]) -> list[str]:
    """Replace each feature's popup by ``[title, value per field...]``; return the fields."""
    fields: dict[str, int] = {}
    for prop in props:
        if "p" in prop:
            for key, _ in prop["p"][1]:
                fields.setdefault(key, len(fields))
    for prop in props:
        if "p" in prop:
            title, rows = prop["p"]
            values = [""] * len(fields)
            for key, value in rows:
                values[fields[key]] = value
            while values and values[-1] == "":
                values.pop()
            prop["p"] = [title, *values]
    return list(fields)


class _GeoJsonLayer(MacroElement):  # type: ignore[misc]
    """A GeoJSON layer whose styles, popups and tooltips were prepared (and escaped) in Python.

    Feature properties: ``k`` style key, ``p`` popup (title and one value per field of
    ``fields``), ``t`` tooltip HTML, ``i`` icon HTML (a ``L.divIcon`` for points), all escaped.
    Points without ``i`` are circle markers. With a ``category`` the layer is registered in
    ``window.dyLayers[<group>][<category>]`` for the category switch instead of being added.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var styles = {{ this.styles_json }};
            var fields = {{ this.fields_json }};
            var data = {{ this.data_json }};
            function popupHtml(p) {
                var h = '<div class="dy-popup"><b>' + p[0] + '</b><table>';
                for (var i = 1; i < p.length; i++) {
                    if (p[i] !== "") {
                        h += '<tr><th>' + fields[i - 1] + '</th><td>' + p[i] + '</td></tr>';
                    }
                }
                return h + '</table></div>';
            }
            var layer = L.geoJSON(data, {
                interactive: {{ this.interactive_json }},
                style: function (f) { return styles[f.properties.k]; },
                pointToLayer: function (f, latlng) {
                    if (f.properties.i) {
                        return L.marker(latlng, {icon: L.divIcon({
                            html: f.properties.i, className: "dy-icon",
                            iconSize: null})});
                    }
                    var o = Object.assign({}, styles[f.properties.k]);
                    o.interactive = {{ this.interactive_json }};
                    return L.circleMarker(latlng, o);
                },
                onEachFeature: function (f, layer) {
                    if (f.properties.p) {
                        layer.bindPopup(function () { return popupHtml(f.properties.p); },
                                        {maxWidth: 380});
                    }
                    if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); }
                }
            });
            {%- if this.category_json %}
            window.dyLayers = window.dyLayers || {};
            var group = {{ this._parent.get_name()|tojson }};
            window.dyLayers[group] = window.dyLayers[group] || {};
            window.dyLayers[group][{{ this.category_json }}] = layer;
            {%- else %}
            layer.addTo({{ this._parent.get_name() }});
            {%- endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict[str, Any]], styles: Mapping[str, Mapping[str, Any]],
                 fields: Sequence[str] = (), category: str | None = None,
                 interactive: bool = True) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "DyGeoJson"
        # a layer that is not interactive lets clicks through to the layers under it
        self.interactive_json = "true" if interactive else "false"
        # a category layer is registered for the category switch instead of being shown
        self.category_json = "" if category is None else _js_json(category)
        self.fields_json = _js_json(list(fields))
        self.data_json = _js_json({"type": "FeatureCollection", "features": features})
        self.styles_json = _js_json(dict(styles))


def _features(geoms: np.ndarray[Any, Any], props: Sequence[dict[str, Any]]
              ) -> list[dict[str, Any]]:
    out = []
    for geom, prop in zip(geoms, props, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        out.append({"type": "Feature", "geometry": geom.__geo_interface__,
                    "properties": prop})
    return out


# --------------------------------------------------------------------------------------------
# big inputs


def _grid_aggregate(points: gpd.GeoDataFrame, *, max_cells: int,
                    weights: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    """Aggregate many points (WGS-84) into square cells (WGS-84 polygons).

    Columns: ``n_points``, ``population`` (sum, 0 when absent) and, for every ``out: column``
    of ``weights``, the population-weighted mean of that column.
    """
    metric = _metric(points)
    xy = shapely.get_coordinates(metric.geometry.to_numpy())
    span = max(float(np.ptp(xy[:, 0])), float(np.ptp(xy[:, 1])), 1.0)
    size = max(span / math.sqrt(max_cells), 50.0)
    pop = (pd.to_numeric(points["population"], errors="coerce").fillna(0.0).to_numpy(float)
           if "population" in points.columns else np.ones(len(points)))
    while True:
        ix = np.floor(xy[:, 0] / size).astype(np.int64)
        iy = np.floor(xy[:, 1] / size).astype(np.int64)
        keys, inverse = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
        if len(keys) <= max_cells:
            break
        size *= 1.5
    inverse = inverse.ravel()
    n = np.bincount(inverse, minlength=len(keys))
    pop_sum = np.bincount(inverse, weights=pop, minlength=len(keys))
    data: dict[str, Any] = {"n_points": n, "population": pop_sum}
    for out, column in (weights or {}).items():
        values = pd.to_numeric(points[column], errors="coerce").to_numpy(float)
        ok = np.isfinite(values)
        w = np.where(ok, pop if "population" in points.columns else 1.0, 0.0)
        num = np.bincount(inverse, weights=np.where(ok, values, 0.0) * w, minlength=len(keys))
        den = np.bincount(inverse, weights=w, minlength=len(keys))
        with np.errstate(invalid="ignore", divide="ignore"):
            data[out] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    boxes = shapely.box(keys[:, 0] * size, keys[:, 1] * size,
                        (keys[:, 0] + 1) * size, (keys[:, 1] + 1) * size)
    cells = gpd.GeoDataFrame(data, geometry=boxes, crs=metric.crs)
    cells["cell_size_m"] = size
    return cells.to_crs(4326)


# --------------------------------------------------------------------------------------------
# the map


class _InlineAssets(Element):  # type: ignore[misc]
    """Leaflet and the fullscreen control inlined, so the page needs no CDN."""

    def __init__(self) -> None:
        root = importlib.resources.files("deyang_geo") / "data" / "webmap"
        parts = [f"<style>{(root / name).read_text(encoding='utf-8')}</style>"
                 for name in ("leaflet.css", "Control.FullScreen.css")]
        parts.extend(f"<script>{(root / name).read_text(encoding='utf-8')}</script>"
                     for name in ("leaflet.js", "Control.FullScreen.js"))
        parts.append(f"<style>{_MAP_CSS}</style>")
        super().__init__("\n".join(parts))  # type: ignore[no-untyped-call]


_MAP_CSS = """
.dy-title{position:absolute;top:8px;left:50%;transform:translateX(-50%);z-index:1000;
 background:rgba(255,255,255,.92);padding:6px 14px;border-radius:6px;font:600 16px/1.3
 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;box-shadow:0 1px 4px #0004;
 text-align:center;max-width:70%}
.dy-title .dy-sub{font-weight:400;font-size:12px;color:#444}
.dy-title .dy-synthetic{color:#b00;font-weight:700;font-size:13px}
.dy-legend{background:rgba(255,255,255,.92);padding:6px 10px;border-radius:6px;
 font:12px/1.35 "Noto Sans CJK SC","Microsoft YaHei",sans-serif;box-shadow:0 1px 4px #0004;
 max-height:calc(100vh - 170px);overflow:auto;box-sizing:border-box}
.dy-legend summary{cursor:pointer;font-weight:600;margin:3px 0 1px}
.dy-legend details details{margin-left:2px}
.dy-legend div{max-width:300px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;
 line-height:18px;min-height:18px}
.dy-legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-2px;
 border:1px solid #0005}
.dy-icon{background:none;border:none}
.dy-switch{background:#fff;padding:5px 8px;font:12px/1.4 "Noto Sans CJK SC","Microsoft YaHei",
 sans-serif}
.dy-switch select{max-width:320px;font-size:13px;margin-top:2px}
.dy-badge{display:inline-block;min-width:18px;height:18px;padding:0 3px;border-radius:9px;
 color:#fff;font:700 10px/18px sans-serif;text-align:center;border:1.5px solid #fff;
 box-shadow:0 0 2px #000;transform:translate(-50%,-50%);white-space:nowrap}
.dy-rank{display:inline-block;min-width:22px;height:20px;padding:0 4px;border-radius:4px;
 background:#000;color:#ffeb3b;font:700 12px/20px "Noto Sans CJK SC","Microsoft YaHei",
 sans-serif;text-align:center;border:3px solid #ffeb3b;white-space:nowrap;
 transform:translate(-50%,-50%)}
.dy-popup table{border-collapse:collapse;font-size:12px}
.dy-popup th{text-align:left;padding:1px 6px 1px 0;color:#555;font-weight:400}
.dy-popup td{padding:1px 0}
"""


class _Fullscreen(MacroElement):  # type: ignore[misc]
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        if (L.control.fullscreen) {
            L.control.fullscreen({position: "topleft", title: {{ this.title_json }},
                                  titleCancel: {{ this.cancel_json }}})
                .addTo({{ this._parent.get_name() }});
        }
        {% endmacro %}
        """
    )

    def __init__(self, lang: Lang) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "DyFullscreen"
        self.title_json = _js_json(label("全屏", "Full screen", lang))
        self.cancel_json = _js_json(label("退出全屏", "Exit full screen", lang))


class _MetricScale(MacroElement):  # type: ignore[misc]
    """A scale bar in metres and kilometres only (no miles)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 160})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "DyScale"


class _Legend(MacroElement):  # type: ignore[misc]
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: "bottomleft"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "dy-legend");
                div.innerHTML = {{ this.html_json }};
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "DyLegend"
        self.html_json = _js_json(html_text)


class _CategorySwitch(MacroElement):  # type: ignore[misc]
    """A drop-down choosing the facility category that the switched layers show."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var groups = [
                {%- for group, union in this.groups %}
                [{{ group.get_name() }}, {{ group.get_name()|tojson }}, {{ union|tojson }}],
                {%- endfor %}
            ];
            var choices = {{ this.choices_json }};
            function show(category) {
                var registry = window.dyLayers || {};
                groups.forEach(function (g) {
                    var layers = registry[g[1]] || {};
                    g[0].clearLayers();
                    if (layers[category]) {
                        g[0].addLayer(layers[category]);
                    } else if (category === "" && g[2]) {
                        Object.keys(layers).sort().forEach(function (k) {
                            g[0].addLayer(layers[k]);
                        });
                    }
                });
            }
            var control = L.control({position: "topright"});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", "dy-switch leaflet-bar");
                var caption = document.createElement("div");
                caption.textContent = {{ this.caption_json }};
                var select = document.createElement("select");
                select.className = "dy-category";
                choices.forEach(function (c) {
                    var option = document.createElement("option");
                    option.value = c[0];
                    option.textContent = c[1];
                    option.disabled = !!c[2];
                    select.appendChild(option);
                });
                select.value = {{ this.initial_json }};
                select.addEventListener("change", function () { show(select.value); });
                div.appendChild(caption);
                div.appendChild(select);
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            control.addTo({{ this._parent.get_name() }});
            show({{ this.initial_json }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, groups: Sequence[tuple[folium.FeatureGroup, bool]],
                 choices: Sequence[tuple[str, str, bool]], initial: str, caption: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "DyCategorySwitch"
        self.groups = list(groups)
        # plain text: the page sets it with textContent, never as HTML
        self.choices_json = _js_json([list(c) for c in choices])
        self.initial_json = _js_json(initial)
        self.caption_json = _js_json(caption)


class _Builder:
    """Collects layers and legend entries of one map."""

    def __init__(self, m: folium.Map, *, lang: Lang, gcj02: bool, simplify_m: float,
                 max_features: int, catalog: Any) -> None:
        self.m = m
        self.lang = lang
        self.gcj02 = gcj02
        self.simplify_m = simplify_m
        self.max_features = max_features
        self.catalog = catalog
        self.legend: list[tuple[str, list[tuple[str, str, str]]]] = []
        self.layer_names: list[str] = []
        self.bounds: list[tuple[float, float, float, float]] = []
        self.focus: list[tuple[float, float, float, float]] = []
        self.category_groups: list[tuple[folium.FeatureGroup, bool]] = []
        self._cat_cache: dict[str, str] = {}

    def t(self, zh: str, en: str) -> str:
        return label(zh, en, self.lang)

    def cat(self, category: str) -> str:
        if category not in self._cat_cache:
            self._cat_cache[category] = category_label(category, lang=self.lang,
                                                       catalog=self.catalog)
        return self._cat_cache[category]

    def add_layer(self, name: str, gdf: gpd.GeoDataFrame, props: Sequence[dict[str, Any]],
                  styles: Mapping[str, Mapping[str, Any]], *, show: bool = True,
                  simplify: bool = True, interactive: bool = True) -> None:
        """Add one toggleable layer; ``name`` is plain text (escaped here)."""
        geoms = _prepare_geometry(gdf.geometry.to_numpy(),
                                  simplify_m=self.simplify_m if simplify else 0.0,
                                  gcj02=self.gcj02)
        props = [dict(p) for p in props]
        fields = _compact_popups(props)
        features = _features(geoms, props)
        if not features:
            return
        group = folium.FeatureGroup(name=html.escape(name), show=show)
        group.add_child(_GeoJsonLayer(features, styles, fields, interactive=interactive))
        group.add_to(self.m)
        self.layer_names.append(name)
        if len(gdf):
            self.bounds.append(tuple(gdf.total_bounds))

    def add_category_layers(
        self, name: str,
        items: Sequence[tuple[str, gpd.GeoDataFrame, Sequence[dict[str, Any]],
                              Mapping[str, Mapping[str, Any]]]],
        *, union: bool, show: bool = True, simplify: bool = True, interactive: bool = True,
    ) -> None:
        """Add one toggleable layer whose content follows the category switch.

        ``items`` are ``(category, frame, props, styles)``; the category ``""`` is what the
        layer shows when "all categories" is chosen; without it and with ``union`` the layer
        then shows every category's content, else nothing.
        """
        group = folium.FeatureGroup(name=html.escape(name), show=show)
        added = False
        for category, gdf, props, styles in items:
            geoms = _prepare_geometry(gdf.geometry.to_numpy(),
                                      simplify_m=self.simplify_m if simplify else 0.0,
                                      gcj02=self.gcj02)
            own = [dict(p) for p in props]
            fields = _compact_popups(own)
            features = _features(geoms, own)
            if not features:
                continue
            group.add_child(_GeoJsonLayer(features, styles, fields, category=category,
                                          interactive=interactive))
            added = True
            if len(gdf):
                self.bounds.append(tuple(gdf.total_bounds))
        if not added:
            return
        group.add_to(self.m)
        self.layer_names.append(name)
        self.category_groups.append((group, union))

    def add_legend(self, heading: str, entries: list[tuple[str, str, str]]) -> None:
        """Add legend entries ``(kind, colour, label)``; kind ``box``, ``line`` or ``dot``."""
        self.legend.append((heading, entries))

    def legend_html(self) -> str:
        """Return the legend: one foldable section per heading, long sections folded."""
        parts = [f"<summary><b>{html.escape(self.t('图例', 'Legend'))}</b></summary>"]
        for heading, entries in self.legend:
            folded = len(entries) > 6
            parts.append(f"<details{'' if folded else ' open'}><summary>"
                         f"{html.escape(heading)}</summary>")
            for kind, colour, text in entries:
                shape = {"line": "height:3px;border:none;",
                         "dot": "border-radius:6px;"}.get(kind, "")
                # a line cut by the legend's width shows in full on hover
                parts.append(f'<div title="{html.escape(text)}"><i style="background:'
                             f'{html.escape(colour)};{shape}"></i>{html.escape(text)}</div>')
            parts.append("</details>")
        body = "".join(parts)
        return f'<details open class="dy-legend-all">{body}</details>'


def _id_column(df: pd.DataFrame, *candidates: str) -> str | None:
    for name in candidates:
        if name in df.columns:
            return name
    return None


def _share_column(df: pd.DataFrame) -> str | None:
    columns = [c for c in df.columns if str(c).startswith("covered_share")]
    preferred = ([c for c in columns if str(c) == "covered_share"]  # at its threshold
                 or [c for c in columns if str(c) == "covered_share_15min"])
    pick = preferred or columns
    return str(pick[0]) if pick else None


def _minutes_column(df: pd.DataFrame) -> str | None:
    for name in ("minutes", "mean_minutes", "median_minutes", "max_minutes"):
        if name in df.columns:
            return name
    columns = [c for c in df.columns if "minutes" in str(c) and
               pd.api.types.is_numeric_dtype(df[c])]
    return columns[0] if columns else None


def coverage_view(coverage: pd.DataFrame, communities: gpd.GeoDataFrame | None
                  ) -> gpd.GeoDataFrame | None:
    """Attach community geometries to a coverage table (per community and category).

    Parameters
    ----------
    coverage
        coverage.py's table: ``community_id`` (or ``id``), ``category``, ``class``,
        ``covered_share_15min``, minutes; a GeoDataFrame is used as it is.
    communities
        The communities table with ``id`` and geometry, used when ``coverage`` has none.

    Returns
    -------
    geopandas.GeoDataFrame or None
        The coverage rows with geometry in WGS-84, or ``None`` when no geometry can be found.
    """
    if isinstance(coverage, gpd.GeoDataFrame) and coverage.geometry.notna().any():
        return to_wgs84(coverage)
    if communities is None:
        return None
    key = _id_column(coverage, "community_id", "id")
    if key is None or "id" not in communities.columns:
        return None
    com = to_wgs84(communities)
    extra = [c for c in ("name", "name_en", "kind", "population", "township", "division")
             if c in com.columns and c not in coverage.columns]
    geo = com[["id", *extra, "geometry"]].rename(columns={"id": "_cid"})
    cov = pd.DataFrame(coverage).copy()
    cov["_cid"] = cov[key].astype(str)
    geo["_cid"] = geo["_cid"].astype(str)
    merged = cov.merge(geo, on="_cid", how="inner").drop(columns="_cid")
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=4326)


def _name(row: Mapping[str, Any], lang: Lang) -> str:
    zh = row.get("name_zh", row.get("name"))
    en = row.get("name_en")
    zh_s = "" if zh is None or (isinstance(zh, float) and math.isnan(zh)) else str(zh)
    en_s = "" if en is None or (isinstance(en, float) and math.isnan(en)) else str(en)
    if not zh_s:
        return en_s
    if not en_s:
        return zh_s
    return label(zh_s, en_s, lang)


def _records(gdf: pd.DataFrame) -> list[dict[str, Any]]:
    records = gdf.drop(columns="geometry", errors="ignore").to_dict("records")
    return [{str(k): v for k, v in r.items()} for r in records]


def _draw_divisions(b: _Builder, divisions: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(divisions)
    props = []
    for row in _records(gdf):
        name = _esc(_name(row, b.lang))
        rows = [(_esc(b.t("代码", "code")), _esc(row.get("code", "")))]
        props.append({"k": "d", "t": name, "p": _popup(name, rows)})
    styles = {"d": {"color": "#6a3d9a", "weight": 2.5, "fill": False, "dashArray": "10 4 2 4"}}
    b.add_layer(b.t("区县界", "Divisions"), gdf, props, styles)
    b.add_legend(b.t("边界", "Boundaries"), [("line", "#6a3d9a", b.t("区县界", "division"))])


def _community_rows(b: _Builder, row: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind = row.get("kind")
    kind_text = {"urban": b.t("社区", "urban community"),
                 "rural": b.t("村", "rural village")}.get(str(kind), _esc(kind))
    return [
        (_esc(b.t("编号", "id")), _esc(row.get("id", row.get("community_id", "")))),
        (_esc(b.t("类型", "kind")), _esc(kind_text)),
        (_esc(b.t("人口", "population")), _fmt_int(row.get("population"))),
        (_esc(b.t("户数", "households")), _fmt_int(row.get("households"))),
        (_esc(b.t("街道/乡镇", "township")), _esc(row.get("township"))),
        (_esc(b.t("区县", "division")), _esc(row.get("division"))),
    ]


def _draw_communities(b: _Builder, communities: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(communities)
    is_point = gdf.geometry.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    points = gdf.loc[is_point]
    styles: dict[str, dict[str, Any]] = {
        "poly": {"color": "#555555", "weight": 1, "fillColor": "#bdbdbd", "fillOpacity": 0.15},
        "pt": {"radius": 4, "color": "#333333", "weight": 1, "fillColor": "#ffffff",
               "fillOpacity": 0.9},
        "cell": {"color": "#555555", "weight": 0.5, "fillColor": "#6a51a3",
                 "fillOpacity": 0.35},
    }
    if len(points) > b.max_features:
        cells = _grid_aggregate(points, max_cells=b.max_features)
        gdf = pd.concat([gdf.loc[~is_point], cells], ignore_index=True)
        gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=4326)
    props = []
    for row in _records(gdf):
        if "n_points" in row and not pd.isna(row.get("n_points")):
            title = _esc(b.t("聚合网格", "aggregated cell"))
            rows = [(_esc(b.t("点数", "points")), _fmt_int(row["n_points"])),
                    (_esc(b.t("人口", "population")), _fmt_int(row["population"]))]
            props.append({"k": "cell", "p": _popup(title, rows)})
            continue
        name = _esc(_name(row, b.lang))
        props.append({"k": "poly", "t": name, "p": _popup(name, _community_rows(b, row))})
    kinds = gdf.geometry.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    for prop, pt in zip(props, kinds, strict=True):
        if pt and prop["k"] == "poly":
            prop["k"] = "pt"
    b.add_layer(b.t("社区与村", "Communities"), gdf, props, styles)
    if len(gdf):
        b.focus.append(tuple(gdf.total_bounds))
    b.add_legend(b.t("社区", "Communities"),
                 [("box", "#bdbdbd", b.t("社区边界", "community boundary")),
                  ("dot", "#ffffff", b.t("村 (点)", "village (point)"))])


def _draw_coverage(b: _Builder, view: gpd.GeoDataFrame, *, colour_by: str,
                   categories: Sequence[str]) -> None:
    share_col = _share_column(view)
    minutes_col = _minutes_column(view)
    items: list[tuple[str, gpd.GeoDataFrame, list[dict[str, Any]], dict[str, Any]]] = []
    for category in categories:
        sub = view.loc[view["category"].astype(str) == category] if "category" in view else view
        if sub.empty:
            continue
        is_point = sub.geometry.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
        if is_point.sum() > b.max_features:
            weights = {}
            if share_col:
                weights["share"] = share_col
            if minutes_col:
                weights["minutes"] = minutes_col
            cells = _grid_aggregate(sub.loc[is_point], max_cells=b.max_features,
                                    weights=weights)
            if share_col:
                cells[share_col] = cells["share"]
                s = cells["share"].to_numpy(float)
                cells["class"] = np.where(
                    s >= settings.covered_share, "covered",
                    np.where(s >= settings.partly_covered_share, "partly", "outside"))
            if minutes_col:
                cells[minutes_col] = cells["minutes"]
            sub = gpd.GeoDataFrame(pd.concat([sub.loc[~is_point], cells], ignore_index=True),
                                   geometry="geometry", crs=4326)
        styles: dict[str, dict[str, Any]] = {}
        props = []
        for row in _records(sub):
            if colour_by == "minutes" and minutes_col:
                minutes = float(row.get(minutes_col, np.nan))
                colour = minutes_colour(minutes)
            else:
                colour = CLASS_STYLES.get(str(row.get("class")), ("#bdbdbd", "", ""))[0]
            key = colour
            styles.setdefault(key, {"color": colour, "weight": 1, "fillColor": colour,
                                    "fillOpacity": 0.55, "radius": 5})
            cls = str(row.get("class", ""))
            cls_text = label(*CLASS_STYLES[cls][1:], b.lang) if cls in CLASS_STYLES else cls
            name = _esc(_name(row, b.lang))
            title = name or _esc(b.t("聚合网格", "aggregated cell"))
            share = row.get(share_col) if share_col else None
            rows = [
                (_esc(b.t("设施类别", "category")), _esc(b.cat(category)) if name else ""),
                (_esc(b.t("覆盖等级", "class")), _esc(cls_text)),
                (_esc(b.t("覆盖人口比例", "population covered")),
                 "" if share is None or pd.isna(share) else f"{100 * float(share):.0f}%"),
                (_esc(b.t("人口", "population")), _fmt_int(row.get("population"))),
            ]
            if minutes_col:
                value = row.get(minutes_col)
                rows.append((_esc(b.t("分钟", "minutes")),
                             "" if value is None or pd.isna(value) else
                             f"{float(value):.1f}"))
            prop = {"k": key, "p": _popup(title, rows)}
            if name:
                prop["t"] = name
            props.append(prop)
        items.append((category, sub, props, styles))
    _add_switched(b, b.t("覆盖", "Coverage"), items, switched="category" in view.columns,
                  union=False)
    if colour_by == "minutes" and minutes_col:
        entries = [("box", c, minutes_band_label(i, b.lang))
                   for i, (_, c) in enumerate(MINUTE_BANDS)]
        entries.append(("box", UNREACHABLE_COLOUR, b.t("不可达", "unreachable")))
        b.add_legend(b.t("出行时间", "Travel time"), entries)
    else:
        b.add_legend(b.t("覆盖等级", "Coverage"),
                     [("box", c, label(zh, en, b.lang)) for c, zh, en in CLASS_STYLES.values()])


def _add_switched(
    b: _Builder, name: str,
    items: Sequence[tuple[str, gpd.GeoDataFrame, Sequence[dict[str, Any]],
                          Mapping[str, Mapping[str, Any]]]],
    *, switched: bool, union: bool, simplify: bool = True, interactive: bool = True,
) -> None:
    """Add a layer following the category switch, or a plain layer for uncategorised data."""
    if switched:
        b.add_category_layers(name, items, union=union, simplify=simplify,
                              interactive=interactive)
    elif items:
        _, gdf, props, styles = items[0]
        b.add_layer(name, gdf, props, styles, simplify=simplify, interactive=interactive)


def _draw_isochrones(b: _Builder, isochrones: gpd.GeoDataFrame, categories: Sequence[str]
                     ) -> None:
    gdf = to_wgs84(isochrones)
    if "minutes" not in gdf.columns:
        msg = "isochrones need a 'minutes' column"
        raise InputError(msg)
    breaks = sorted(float(x) for x in pd.unique(gdf["minutes"]))
    colours = {m: ISO_COLOURS[min(i, len(ISO_COLOURS) - 1)] for i, m in enumerate(breaks)}
    items: list[tuple[str, gpd.GeoDataFrame, list[dict[str, Any]], dict[str, Any]]] = []
    for category in categories:
        sub = gdf.loc[gdf["category"].astype(str) == category] if "category" in gdf else gdf
        if sub.empty:
            continue
        sub = sub.sort_values("minutes", ascending=False, kind="stable")
        styles = {f"{m:g}": {"color": colours[m], "weight": 1, "fillColor": colours[m],
                             "fillOpacity": 0.35} for m in breaks}
        props = []
        for row in _records(sub):
            m = float(row["minutes"])
            text = _esc(f"{b.cat(category)}: ≤ {m:g} " + b.t("分钟", "min"))
            props.append({"k": f"{m:g}", "t": text})
        items.append((category, sub, props, styles))
    # not interactive: a click inside an isochrone reaches the community under it
    _add_switched(b, b.t("等时圈", "Isochrones"), items, switched="category" in gdf.columns,
                  union=False, interactive=False)
    b.add_legend(b.t("等时圈", "Isochrones"),
                 [("box", colours[m], f"≤ {m:g} " + b.t("分钟", "min")) for m in breaks])


def _highway_tiers(highway: pd.Series) -> np.ndarray[Any, Any]:
    """Tier of every edge (``major``, ``street``, ``path``) from its OSM highway tag(s).

    osmnx stores merged ways' tags as lists; the first tag decides. Vectorised string ops.
    """
    extracted = highway.astype(str).str.extract(r"^[\[\s'\"]*([A-Za-z_]+)", expand=False)
    first = extracted.fillna("").to_numpy(dtype=object)
    return np.where(np.isin(first, list(_MAJOR_HIGHWAYS)), "major",
                    np.where(np.isin(first, list(_MINOR_HIGHWAYS)), "path", "street"))


def _draw_network(b: _Builder, edges: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(edges)
    geoms = shapely.normalize(gdf.geometry.to_numpy())
    unique = ~pd.Series(shapely.to_wkb(geoms)).duplicated().to_numpy()
    tiers = (_highway_tiers(gdf["highway"]) if "highway" in gdf.columns
             else np.full(len(gdf), "street", dtype=object))
    rows, geoms_out = [], []
    for tier in ("path", "street", "major"):
        pick = unique & (tiers == tier)
        if pick.any():
            parts = shapely.get_parts(geoms[pick])
            merged = shapely.line_merge(shapely.multilinestrings(parts))
            geoms_out.append(merged)
            rows.append(tier)
    if not rows:
        return
    names = {"major": b.t("主干道", "arterial"), "street": b.t("街道", "street"),
             "path": b.t("步行道", "footway/path")}
    styles = {"major": {"color": "#e6550d", "weight": 3, "opacity": 0.8},
              "street": {"color": "#636363", "weight": 1.5, "opacity": 0.7},
              "path": {"color": "#969696", "weight": 1, "opacity": 0.6, "dashArray": "3 3"}}
    lines = gpd.GeoDataFrame({"tier": rows}, geometry=geoms_out, crs=4326)
    props = [{"k": t, "t": _esc(names[t])} for t in rows]
    b.add_layer(b.t("路网", "Road network"), lines, props, styles)
    b.add_legend(b.t("路网", "Road network"),
                 [("line", str(styles[t]["color"]), names[t]) for t in ("major", "street", "path")
                  if t in rows])


_BACKGROUND_STYLES: dict[str, dict[str, Any]] = {
    "builtup": {"color": "#d9cbb8", "weight": 0.5, "fillColor": "#efe6d8", "fillOpacity": 0.7},
    "water_area": {"color": "#74a9cf", "weight": 1, "fillColor": "#bdd7ee",
                   "fillOpacity": 0.9},
    "water": {"color": "#74a9cf", "weight": 4, "opacity": 0.9},
    "road": {"color": "#f2b872", "weight": 3, "opacity": 0.9},
    "rail": {"color": "#555555", "weight": 2, "dashArray": "8 4", "opacity": 0.9},
}


def _draw_background(b: _Builder, background: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(background)
    if "kind" not in gdf.columns:
        msg = "the background needs a 'kind' column"
        raise InputError(msg)
    gdf = gdf.loc[gdf["kind"].astype(str).isin(list(_BACKGROUND_STYLES))]
    props = [{"k": str(k)} for k in gdf["kind"].astype(str)]
    b.add_layer(b.t("离线底图", "Offline background"), gdf, props, _BACKGROUND_STYLES,
                interactive=False)
    names = {"builtup": b.t("建成区", "built-up area"), "water_area": b.t("水面", "water"),
             "water": b.t("河流", "river"), "road": b.t("主要道路", "main road"),
             "rail": b.t("铁路", "railway")}
    present = set(gdf["kind"].astype(str))
    entries = [("line" if k in ("water", "road", "rail") else "box",
                str(_BACKGROUND_STYLES[k].get("fillColor", _BACKGROUND_STYLES[k]["color"])),
                names[k]) for k in names if k in present]
    b.add_legend(b.t("离线底图", "Offline background"), entries)


def _draw_context(b: _Builder, context: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(context)
    kind_col = _id_column(gdf, "kind", "type", "waterway", "railway", "feature")
    props = []
    styles = {"water": {"color": "#2b8cbe", "weight": 3, "fillColor": "#9ecae1",
                        "fillOpacity": 0.6},
              "rail": {"color": "#252525", "weight": 2.5, "dashArray": "10 5"},
              "park": {"color": "#41ab5d", "weight": 1, "fillColor": "#a1d99b",
                       "fillOpacity": 0.35},
              "area": {"color": "#737373", "weight": 1.5, "dashArray": "2 4", "fill": False},
              "other": {"color": "#737373", "weight": 1.5, "fill": False}}
    for row in _records(gdf):
        key = context_kind(row)
        name = _esc(_name(row, b.lang)) or _esc(row.get(kind_col, "") if kind_col else "")
        props.append({"k": key, "t": name})
    b.add_layer(b.t("河流、铁路与范围", "River, railway and extents"), gdf, props, styles)


def _outside_features(b: _Builder, gdf: gpd.GeoDataFrame, uncovered_col: str | None
                      ) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """One feature per community (worst first), its popup listing the categories missed."""
    key = _id_column(gdf, "community_id", "id")
    records = _records(gdf)
    keys = (gdf[key].astype(str).to_numpy() if key is not None
            else np.arange(len(gdf)).astype(str))
    order: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault(k, []).append(i)
    props: list[dict[str, Any]] = []
    rows_kept: list[int] = []
    for positions in list(order.values())[: b.max_features]:
        row = records[positions[0]]
        name = _esc(_name(row, b.lang))
        rows = _community_rows(b, row)
        for i in positions:
            rec = records[i]
            if "category" in rec:
                value = _fmt_int(rec.get(uncovered_col)) if uncovered_col else ""
                text = _esc(b.t("未覆盖人口", "people outside reach"))
                rows.append((_esc(b.cat(str(rec["category"]))), f"{text}: {value}" if value
                             else _esc(b.t("服务范围外", "outside reach"))))
        props.append({"k": "o", "t": name, "p": _popup(name, rows)})
        rows_kept.append(positions[0])
    return gdf.iloc[rows_kept], props


def _draw_outside(b: _Builder, outside: gpd.GeoDataFrame, categories: Sequence[str]) -> None:
    gdf = to_wgs84(outside)
    if gdf.empty:
        return
    uncovered_col = next((str(c) for c in gdf.columns
                          if str(c).startswith("uncovered_population")), None)
    styles = {"o": {"color": "#b2182b", "weight": 3, "fillColor": "#d73027",
                    "fillOpacity": 0.25, "radius": 7, "dashArray": "4 2"}}
    # coverage.py lists one row per (community, category), worst first; one category's gaps
    # at a time (all categories at once would outline almost every community)
    name = b.t("服务范围外社区", "Communities outside reach")
    if "category" not in gdf.columns:
        merged, merged_props = _outside_features(b, gdf, uncovered_col)
        b.add_layer(name, merged, merged_props, styles)
    else:
        items: list[tuple[str, gpd.GeoDataFrame, list[dict[str, Any]], dict[str, Any]]] = []
        for category in categories:
            sub = gdf.loc[gdf["category"].astype(str) == category]
            if len(sub):
                frame, props = _outside_features(b, sub, uncovered_col)
                items.append((category, frame, props, styles))
        b.add_category_layers(name, items, union=False)
    b.add_legend(b.t("服务缺口", "Gaps"),
                 [("box", "#d73027", b.t("服务范围外社区", "community outside reach"))])


def _draw_facilities(b: _Builder, facilities: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(facilities)
    gdf = gpd.GeoDataFrame(gdf, geometry=gdf.geometry.representative_point(), crs=4326)
    cats = (sorted(pd.unique(gdf["category"].astype(str))) if "category" in gdf.columns
            else ["other"])
    many = len(gdf) > 2000
    entries = []
    items: list[tuple[str, gpd.GeoDataFrame, list[dict[str, Any]], dict[str, Any]]] = []
    for category in cats:
        sub = gdf.loc[gdf["category"].astype(str) == category] if "category" in gdf else gdf
        style = category_style(category)
        symbol = _esc(style.symbol_en if b.lang == "en" else style.symbol_zh)
        badge = (f'<span class="dy-badge" style="background:{style.colour}">{symbol}</span>')
        styles = {"f": {"radius": 5, "color": "#ffffff", "weight": 1,
                        "fillColor": style.colour, "fillOpacity": 0.95}}
        props = []
        for row in _records(sub):
            name = _esc(_name(row, b.lang)) or _esc(row.get("id", ""))
            rows = [
                (_esc(b.t("类别", "category")), _esc(b.cat(category))),
                (_esc(b.t("编号", "id")), _esc(row.get("id", ""))),
                (_esc(b.t("建筑面积 m²", "floor area m²")), _fmt_int(row.get("floor_area_m2"))),
                (_esc(b.t("用地面积 m²", "site area m²")), _fmt_int(row.get("site_area_m2"))),
                (_esc(b.t("服务人口", "capacity (people)")),
                 _fmt_int(row.get("capacity_population"))),
                (_esc(b.t("每日开放小时", "opening hours/day")),
                 _esc(row.get("opening_hours_per_day"))),
                (_esc(b.t("无障碍", "barrier-free")), _esc(row.get("barrier_free"))),
                (_esc(b.t("数据来源", "source")), _esc(row.get("source"))),
            ]
            if row.get("synthetic") is True or str(row.get("synthetic")).lower() == "true":
                rows.append((_esc(b.t("数据", "data")), _esc(b.t("合成", "SYNTHETIC"))))
            prop: dict[str, Any] = {"k": "f", "t": name, "p": _popup(name, rows)}
            if not many:
                prop["i"] = badge
            props.append(prop)
        items.append((category, sub, props, styles))
        entries.append(("dot", style.colour, f"{b.cat(category)}"))
    _add_switched(b, b.t("现有设施", "Existing facilities"), items,
                  switched="category" in gdf.columns, union=True, simplify=False)
    b.add_legend(b.t("现有设施", "Existing facilities"), entries)


def _draw_sites(b: _Builder, sites: gpd.GeoDataFrame) -> None:
    gdf = to_wgs84(sites)
    gdf = gpd.GeoDataFrame(gdf, geometry=gdf.geometry.representative_point(), crs=4326)
    if "rank" in gdf.columns:
        gdf = gdf.sort_values("rank", kind="stable")
    props = []
    for i, row in enumerate(_records(gdf), start=1):
        rank = row.get("rank", i)
        rank_text = _esc(_fmt_int(rank))
        # the label names the category and the rank inside it (健1, 服2), so numbers never
        # repeat across categories
        style = category_style(str(row.get("category", "")))
        symbol = style.symbol_en if b.lang == "en" else style.symbol_zh
        site_label = _esc(f"{symbol}{_fmt_int(rank)}" if "category" in row else _fmt_int(rank))
        name = _esc(_name(row, b.lang))
        site_id = _esc(row.get("site_id", row.get("id", "")))
        title = f"{site_label} {name or site_id}"
        rows = [
            (_esc(b.t("排序", "rank")), rank_text),
            (_esc(b.t("选址编号", "site id")), site_id),
            (_esc(b.t("设施类别", "category")),
             _esc(b.cat(str(row["category"]))) if "category" in row else ""),
            (_esc(b.t("新增覆盖人口", "newly covered population")),
             _fmt_int(row.get("added_population"))),
            (_esc(b.t("用房类型", "kind")), _esc(row.get("kind"))),
            (_esc(b.t("建筑面积 m²", "floor area m²")), _fmt_int(row.get("floor_area_m2"))),
            (_esc(b.t("备选", "alternatives")), _esc(_alternatives(row.get("alternatives")))),
        ]
        props.append({"k": "s", "t": title, "p": _popup(title, rows),
                      "i": f'<span class="dy-rank" style="border-color:{style.colour}">'
                           f'{site_label}</span>'})
    styles = {"s": {"radius": 8, "color": "#000000", "fillColor": "#ffeb3b",
                    "fillOpacity": 1}}
    name = b.t("建议选址 (排序)", "Proposed sites (ranked)")
    if "category" in gdf.columns:
        cats = gdf["category"].astype(str).to_numpy()
        items = [(c, gdf.loc[cats == c], [p for p, k in zip(props, cats, strict=True) if k == c],
                  styles) for c in sorted(set(cats))]
        b.add_category_layers(name, items, union=True, simplify=False)
    else:
        b.add_layer(name, gdf, props, styles, simplify=False)
    b.add_legend(b.t("建议选址", "Proposed sites"), _site_legend(b, gdf))


def _site_legend(b: _Builder, sites: gpd.GeoDataFrame) -> list[tuple[str, str, str]]:
    """Legend lines that use the labels drawn on the map: ``站1–站3: 新设施 (按排序)``."""
    ranked = b.t("新设施 (按排序)", "new sites, ranked")
    if "rank" in sites.columns:
        ranks = pd.to_numeric(sites["rank"], errors="coerce").to_numpy(dtype=float)
    else:
        ranks = np.arange(1, len(sites) + 1, dtype=float)
    cats = (sites["category"].astype(str).to_numpy() if "category" in sites.columns
            else np.full(len(sites), "", dtype=object))
    entries = []
    for category in sorted(set(cats)):
        style = category_style(category)
        symbol = (style.symbol_en if b.lang == "en" else style.symbol_zh) if category else ""
        own = ranks[(cats == category) & np.isfinite(ranks)]
        if own.size == 0:
            continue
        low, high = _fmt_int(own.min()), _fmt_int(own.max())
        labels = f"{symbol}{low}" if low == high else f"{symbol}{low}–{symbol}{high}"
        text = f"{labels}: {ranked}" + (f" · {b.cat(category)}" if category else "")
        # the label's look (black, category-coloured rim), the category after the reading
        entries.append(("box", "#000000", text))
    return entries


def _alternatives(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _base_layers(m: folium.Map, *, basemap: str, amap: bool, tianditu_key: str | None,
                 lang: Lang) -> None:
    if amap:
        folium.TileLayer(
            tiles="https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
                  "&style=8&x={x}&y={y}&z={z}",
            attr="&copy; 高德地图 Amap (GCJ-02)", name=html.escape(label("高德地图", "Amap", lang)),
            subdomains="1234", max_zoom=18, show=True,
        ).add_to(m)
        folium.TileLayer(
            tiles="https://webst0{s}.is.autonavi.com/appmaptile?style=6&x={x}&y={y}&z={z}",
            attr="&copy; 高德地图 Amap (GCJ-02)",
            name=html.escape(label("高德影像", "Amap satellite", lang)),
            subdomains="1234", max_zoom=18, show=False,
        ).add_to(m)
        return
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", show=basemap == "osm").add_to(m)
    folium.TileLayer(
        tiles="https://server.arcgisonline.com/ArcGIS/rest/services/Canvas/"
              "World_Light_Gray_Base/MapServer/tile/{z}/{y}/{x}",
        attr="Tiles &copy; Esri &mdash; Esri, DeLorme, NAVTEQ", max_zoom=18, max_native_zoom=16,
        name=html.escape(label("浅色底图", "Light", lang)), show=basemap == "light",
    ).add_to(m)
    if tianditu_key:
        url = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
               "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
               "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + tianditu_key)
        folium.TileLayer(tiles=url.replace("{layer}", "vec"), attr="&copy; 天地图 Tianditu",
                         name=html.escape(label("天地图", "Tianditu", lang)),
                         subdomains="01234567", max_zoom=18, show=basemap == "tianditu",
                         ).add_to(m)
        folium.TileLayer(tiles=url.replace("{layer}", "cva"), attr="&copy; 天地图 Tianditu",
                         name=html.escape(label("天地图注记", "Tianditu labels", lang)),
                         subdomains="01234567", max_zoom=18, overlay=True,
                         show=basemap == "tianditu").add_to(m)


def study_map(
    *,
    title: str,
    scenario: str | None = None,
    divisions: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    network_edges: gpd.GeoDataFrame | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    coverage: pd.DataFrame | None = None,
    outside: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    context: gpd.GeoDataFrame | None = None,
    background: gpd.GeoDataFrame | None = None,
    synthetic: bool = False,
    lang: Lang = "both",
    basemap: Basemap = "osm",
    amap: bool = False,
    tianditu_key: str | None = None,
    catalog: Any = None,
    colour_by: Literal["class", "minutes"] = "class",
    categories: Sequence[str] | None = None,
    max_features: int | None = None,
    simplify_m: float | None = None,
) -> folium.Map:
    """Draw a study on an interactive map with toggleable layers, legend and title.

    Every table is optional: what is absent is not drawn, so the same function serves the demo
    map (boundaries, network, communities, facilities) and a full analysis. Inputs may be in
    any CRS and are never modified. Every text that comes from data is HTML-escaped.

    Parameters
    ----------
    title
        The study area's name, shown in the title bar.
    scenario
        The scenario's name (e.g. ``"walk 15 min, 4.0 km/h"``), shown under the title.
    divisions
        County-level divisions with ``name_zh``/``name_en`` (and ``code``).
    communities
        Communities (points or polygons) with ``id``, ``name``, ``kind``, ``population``...
    facilities
        Existing facilities with ``id``, ``name``, ``category``; one layer per category.
    network_edges
        Road network edges (lines, optional ``highway``), drawn merged in three tiers.
    isochrones
        Service areas with ``category``, ``minutes`` and polygons; one layer per category.
    coverage
        Coverage per community and category (``community_id``, ``category``, ``class``,
        ``covered_share_15min``, minutes); joined to ``communities`` by id unless it has
        geometry itself. One layer per category.
    outside
        Communities outside reach (e.g. coverage.py's outside table), highlighted in red;
        ``None`` takes the coverage rows classed ``outside``.
    sites
        Proposed sites with ``site_id``, ``rank``, ``added_population``, ``alternatives``.
    context
        Context lines such as the river and railway.
    background
        The offline background (:func:`deyang_geo.network.background.background_from_osm`: ``kind``
        builtup/water_area/water/road/rail), drawn under everything and never clickable, so
        the map stays readable without tiles.
    synthetic
        Mark the map "SYNTHETIC DATA / 合成数据" in the title.
    lang
        Labels in Chinese (``"zh"``), English (``"en"``) or both (``"both"``).
    basemap
        The base layer shown first: ``"osm"``, ``"light"``, ``"tianditu"`` (needs
        ``tianditu_key``), ``"amap"`` (same as ``amap=True``) or ``"none"``.
    amap
        Use Amap tiles (GCJ-02) as base layers and shift every overlay to GCJ-02 with
        :func:`deyang_geo.core.crs.wgs84_to_gcj02` so they line up; the WGS-84 base layers are then
        left out because overlays would be off by hundreds of metres on them.
    tianditu_key
        A Tianditu API key (letters and digits); adds Tianditu base and label layers.
    catalog
        A standards catalog for category names (``None``: built-in names).
    colour_by
        Colour communities in the coverage layers by coverage ``"class"`` or by ``"minutes"``.
    categories
        Categories to draw coverage and isochrone layers for (default: all present, sorted);
        the first one is shown, the others can be switched on.
    max_features
        Point layers with more points than this are aggregated into square cells
        (default ``settings.webmap_max_features``).
    simplify_m
        Tolerance in metres for simplifying lines and polygons (default
        ``settings.webmap_simplify_m``).

    Returns
    -------
    folium.Map
        The map; write it with :func:`save_map`.
    """
    if lang not in ("zh", "en", "both"):
        msg = f"lang must be 'zh', 'en' or 'both', got {lang!r}"
        raise InputError(msg)
    if basemap not in ("osm", "light", "tianditu", "amap", "none"):
        msg = f"basemap must be 'osm', 'light', 'tianditu', 'amap' or 'none', got {basemap!r}"
        raise InputError(msg)
    amap = amap or basemap == "amap"
    if tianditu_key is not None and not _SAFE_KEY.match(tianditu_key):
        msg = "tianditu_key must contain only letters and digits"
        raise InputError(msg)
    if basemap == "tianditu" and not tianditu_key and not amap:
        msg = "basemap='tianditu' needs a tianditu_key"
        raise InputError(msg)
    max_features = settings.webmap_max_features if max_features is None else max_features
    simplify_m = settings.webmap_simplify_m if simplify_m is None else simplify_m

    m = folium.Map(location=(31.13, 104.39), zoom_start=11, tiles=None, control_scale=False,
                   prefer_canvas=True)
    m.default_js = []
    m.default_css = []
    root: Any = m.get_root()
    root.header.add_child(_InlineAssets(), name="dy_assets")
    _base_layers(m, basemap=basemap, amap=amap, tianditu_key=tianditu_key, lang=lang)
    b = _Builder(m, lang=lang, gcj02=amap, simplify_m=simplify_m, max_features=max_features,
                 catalog=catalog)

    view = coverage_view(coverage, communities) if coverage is not None else None
    found: set[str] = set()
    for table in (view, isochrones):
        if table is not None and "category" in table.columns:
            found.update(str(c) for c in pd.unique(table["category"]))
    cats = list(categories) if categories is not None else sorted(found)
    found_cats = [c for c in cats if c in found]
    cats = [*found_cats, *[c for c in cats if c not in found]]
    others: set[str] = set()
    for table in (facilities, sites, outside):
        if table is not None and "category" in table.columns:
            others.update(str(c) for c in pd.unique(table["category"]))
    options = ["", *cats, *sorted(others - set(cats))]
    if not cats:
        cats = ["all"]

    if background is not None and len(background):
        _draw_background(b, background)
    if isochrones is not None and len(isochrones):
        _draw_isochrones(b, isochrones, cats if "category" in isochrones.columns else ["all"])
    if view is not None and len(view):
        _draw_coverage(b, view, colour_by=colour_by,
                       categories=cats if "category" in view.columns else ["all"])
    if communities is not None and len(communities):
        _draw_communities(b, communities)
    if divisions is not None and len(divisions):
        _draw_divisions(b, divisions)
    if network_edges is not None and len(network_edges):
        _draw_network(b, network_edges)
    if context is not None and len(context):
        _draw_context(b, context)
    if outside is None and view is not None and "class" in view.columns:
        # no outside table given: the coverage rows classed "outside" are the gaps
        outside = view.loc[view["class"].astype(str) == "outside"]
    if outside is not None and len(outside):
        _draw_outside(b, outside, [c for c in options if c])
    if facilities is not None and len(facilities):
        _draw_facilities(b, facilities)
    if sites is not None and len(sites):
        _draw_sites(b, sites)

    if b.category_groups:
        initial = cats[0] if cats[0] in options and (view is not None or isochrones is not None) \
            else ""
        # categories without coverage or isochrones were not analysed: listed greyed, with a
        # note, when some were analysed (else every category is a plain choice)
        analysed = set(options[1:len(found_cats) + 1]) if found_cats else set(options)
        note = b.t("未分析", "not analysed")
        choices = [(c, (b.cat(c) if c in analysed else f"{b.cat(c)} ({note})") if c
                    else b.t("全部类别 (设施与选址)", "all categories (facilities and sites)"),
                    bool(c) and c not in analysed) for c in options]
        _CategorySwitch(b.category_groups, choices, initial,
                        b.t("设施类别", "Facility category")).add_to(m)
    folium.LayerControl(collapsed=len(b.layer_names) > 14, position="topright").add_to(m)
    _Fullscreen(lang).add_to(m)
    _MetricScale().add_to(m)
    if b.legend:
        _Legend(b.legend_html()).add_to(m)
    root.html.add_child(Element(_title_html(title, scenario, synthetic, lang, amap)))
    root.title = html.escape(title)
    if b.bounds:
        # the map opens on the communities (the study), else on everything drawn
        arr = np.array(b.focus or b.bounds, dtype=float)
        west, south = arr[:, 0].min(), arr[:, 1].min()
        east, north = arr[:, 2].max(), arr[:, 3].max()
        if amap:
            (west, east), (south, north) = wgs84_to_gcj02([west, east], [south, north])
        m.fit_bounds([[float(south), float(west)], [float(north), float(east)]])
    return m


def _title_html(title: str, scenario: str | None, synthetic: bool, lang: Lang, amap: bool
                ) -> str:
    parts = [f'<div class="dy-title">{html.escape(title)}']
    if scenario:
        parts.append(f'<div class="dy-sub">{html.escape(scenario)}</div>')
    if synthetic:
        parts.append('<div class="dy-synthetic">SYNTHETIC DATA / 合成数据</div>')
    if amap:
        parts.append(f'<div class="dy-sub">{html.escape(label("坐标: GCJ-02 (高德)", "coordinates shifted to GCJ-02 (Amap)", lang))}</div>')  # noqa: E501
    parts.append("</div>")
    return "".join(parts)


def overlay_names(m: folium.Map) -> list[str]:
    """Return the names of the map's toggleable data layers, in drawing order (unescaped).

    Parameters
    ----------
    m
        A map from :func:`study_map`.

    Returns
    -------
    list of str
        The layer names as the layer control shows them.
    """
    return [html.unescape(str(child.layer_name)) for child in m._children.values()
            if isinstance(child, folium.FeatureGroup)]


def save_map(m: folium.Map, path: str | os.PathLike[str]) -> Path:
    """Write the map as one self-contained HTML file, atomically.

    Leaflet and the controls are inlined (no CDN, no local file): the page works offline,
    only the base-map tiles need internet.

    Parameters
    ----------
    m
        A map from :func:`study_map`.
    path
        The ``.html`` file to write.

    Returns
    -------
    Path
        The written file.
    """
    return write_text_atomic(path, render_map(m))


def render_map(m: folium.Map) -> str:
    """Return the map's HTML page; the same map always gives the same text.

    folium names every element with a random id; they are renumbered in tree order first, so
    that the same inputs give byte-identical files.

    Parameters
    ----------
    m
        A map from :func:`study_map`.

    Returns
    -------
    str
        The HTML page.
    """
    root: Any = m.get_root()
    counter = 0
    stack = [root]
    while stack:
        element = stack.pop(0)
        element._id = f"{counter:06d}"
        counter += 1
        stack.extend(element._children.values())
    return str(root.render())


#: Gini classes of the township equity shading: upper bound, colour (light: even access).
_GINI_CLASSES: tuple[tuple[float, str], ...] = (
    (0.1, "#fee5d9"), (0.2, "#fcae91"), (0.3, "#fb6a4a"), (0.4, "#de2d26"),
    (float("inf"), "#a50f15"),
)


def add_township_equity(
    m: folium.Map,
    *,
    communities: gpd.GeoDataFrame,
    equity: pd.DataFrame,
    categories: Sequence[str] | None = None,
    lang: Lang = "both",
    amap: bool = False,
) -> folium.Map:
    """Shade townships by the population-weighted Gini of minutes, one layer per category.

    Township shapes are the union of their communities (points count as 300 m discs). Only
    the first category's layer is shown at first; a tooltip gives Gini, Palma, mean minutes
    and the share of people in the study area's worst-served decile.

    Parameters
    ----------
    m
        A map from :func:`study_map` (layers are added to it and it is returned).
    communities
        Communities with ``township`` and geometry, any CRS.
    equity
        :attr:`deyang_geo.analysis.equity.EquityResult.table`.
    categories
        Categories to draw (default all in ``equity``).
    lang
        Label language.
    amap
        Shift to GCJ-02 like the map's other layers (Amap tiles).

    Returns
    -------
    folium.Map
        ``m``.
    """
    if "township" not in communities.columns or not len(equity):
        return m
    comm = to_wgs84(communities)
    metric = _metric(comm)
    geoms = metric.geometry.where(metric.geom_type.isin(["Polygon", "MultiPolygon"]),
                                  metric.geometry.buffer(300.0))
    shapes = (gpd.GeoDataFrame({"township": comm["township"].astype(str).to_numpy()},
                               geometry=geoms.to_numpy(), crs=metric.crs)
              .dissolve("township", sort=True).to_crs(4326))
    table = equity[equity["scope"] == "township"]
    cats = list(categories) if categories is not None else sorted(set(table["category"]))

    def t(zh: str, en: str) -> str:
        return label(zh, en, lang)

    prepared = _prepare_geometry(shapes.geometry.to_numpy(), simplify_m=5.0, gcj02=amap)
    for i, cat in enumerate(cats):
        rows = table[table["category"] == cat].set_index("group")
        features = []
        for township, geom in zip(shapes.index, prepared, strict=True):
            if township not in rows.index:
                continue
            r = rows.loc[township]
            gini = float(r["gini"])
            colour = next((c for bound, c in _GINI_CLASSES if gini < bound), "#cccccc")
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                             "properties": {
                                 "township": str(township), "gini": f"{gini:.3f}",
                                 "palma": f"{float(r['palma']):.2f}",
                                 "minutes": f"{float(r['value_mean']):.1f}",
                                 "worst": f"{float(r['worst_decile_share']):.0%}",
                                 "colour": colour}})
        if not features:
            continue
        group = folium.FeatureGroup(
            name=html.escape(f"{t('乡镇公平性', 'Township equity')}: {cat}"), show=i == 0)
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": "#555",
                                      "weight": 1, "fillOpacity": 0.45},
            tooltip=folium.GeoJsonTooltip(
                fields=["township", "gini", "palma", "minutes", "worst"],
                aliases=[t("乡镇", "Township"), t("基尼系数", "Gini"), "Palma",
                         t("平均分钟", "mean minutes"), t("最差10%人口占比", "worst decile")]),
        ).add_to(group)
        group.add_to(m)
    return m

