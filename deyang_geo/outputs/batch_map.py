"""The overview map of a batch: every area shaded by coverage, each linking to its own map."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template
from shapely.geometry import mapping

from deyang_geo.core.style import category_label
from deyang_geo.outputs import webmap

if TYPE_CHECKING:
    import geopandas as gpd

    from deyang_geo.core.style import Lang

#: Shades of the covered share, from low to high (share thresholds and colours).
SHADES: tuple[tuple[float, str], ...] = (
    (0.0, "#d7191c"), (0.5, "#fdae61"), (0.7, "#ffffbf"), (0.8, "#a6d96a"), (0.9, "#1a9641"),
)
FAILED_COLOUR = "#9e9e9e"


def _shade(share: float) -> str:
    if not math.isfinite(share):
        return FAILED_COLOUR
    colour = SHADES[0][1]
    for threshold, c in SHADES:
        if share >= threshold:
            colour = c
    return colour


class _AreasLayer(MacroElement):  # type: ignore[misc]
    """Areas as a GeoJSON layer with escaped popups prepared in Python."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var data = {{ this.data_json }};
            var layer = L.geoJSON(data, {
                style: function (f) {
                    return {color: "#333", weight: 1, fillColor: f.properties.c,
                            fillOpacity: 0.7};
                },
                onEachFeature: function (f, l) {
                    l.bindPopup(f.properties.p);
                    l.bindTooltip(f.properties.t);
                }
            }).addTo({{ this._parent.get_name() }});
            {{ this._parent.get_name() }}.fitBounds(layer.getBounds());
        })();
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "DyBatchAreas"
        self.data_json = json.dumps(data, ensure_ascii=False, sort_keys=True).replace(
            "</", "<\\/")


def _label(zh: str, en: str, lang: str) -> str:
    return zh if lang == "zh" else en if lang == "en" else f"{zh} / {en}"


def batch_map(areas: gpd.GeoDataFrame, table: pd.DataFrame, path: str | os.PathLike[str], *,
              title: str, synthetic: bool, lang: str = "both",
              threshold_minutes: float | None = None) -> Path:
    """Write the overview map of a batch (offline: Leaflet is embedded).

    Each area is shaded by the mean share of its people within the threshold over the
    categories analysed (grey: failed); its popup gives the share per category and links to
    the area's own ``<area id>/map.html``.

    Parameters
    ----------
    areas
        ``area_id`` and polygons (WGS-84).
    table
        The merged table of :func:`deyang_geo.study.batch.merged_table`.
    path
        The ``.html`` file to write.
    title
        The study's name.
    synthetic
        Whether the data is synthetic (said in the title).
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    threshold_minutes
        The break whose share shades the areas; default the largest break in the table.

    Returns
    -------
    Path
        The written file.
    """
    shares = [c for c in table.columns if c.startswith("covered_share_")]
    wanted = f"covered_share_{threshold_minutes:g}min" if threshold_minutes else None
    column = wanted if wanted in shares else (shares[-1] if shares else None)
    minutes = column.removeprefix("covered_share_") if column else ""
    m = webmap.study_map(title=f"{title} · {_label('各区域覆盖率', 'coverage by area', lang)}",
                         scenario=_label(f"{minutes} 内人口比例", f"people within {minutes}",
                                         lang) if column else None,
                         synthetic=synthetic, lang=cast("Lang", lang))
    features = []
    geoms = shapely.simplify(np.asarray(areas.geometry.values, dtype=object), 0.0001)
    for area_id, geom in zip(areas["area_id"].astype(str), geoms, strict=True):
        rows = table[table["area_id"].astype(str) == area_id]
        failed = bool(len(rows)) and bool((rows["status"] == "failed").any())
        share = float("nan")
        lines = []
        if failed:
            message = str(rows["message"].iloc[0])
            lines.append(f"<i>{html.escape(_label('失败', 'failed', lang))}:</i> "
                         f"{html.escape(message[:300])}")
        elif column is not None and len(rows):
            values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
            share = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            for cat, v in zip(rows["category"].astype(str), values, strict=True):
                shown = f"{v:.0%}" if math.isfinite(v) else "-"
                lines.append(f"{html.escape(category_label(cat, lang=cast('Lang', lang)))}"
                             f": {shown}")
        href = html.escape(quote(area_id))
        link = (f'<a href="{href}/map.html">'
                f'{html.escape(_label("打开本区域地图", "open this area", lang))}</a>')
        popup = (f"<b>{html.escape(area_id)}</b><br>" + "<br>".join(lines)
                 + ("" if failed else f"<br>{link}"))
        tip = html.escape(area_id) + (f" {share:.0%}" if math.isfinite(share) else "")
        features.append({"type": "Feature", "geometry": mapping(geom),
                         "properties": {"c": _shade(share), "p": popup, "t": tip}})
    _AreasLayer({"type": "FeatureCollection", "features": features}).add_to(m)
    legend = "".join(f'<div><i style="background:{c}"></i>&ge; {t:.0%}</div>'
                     for t, c in SHADES)
    legend += (f'<div><i style="background:{FAILED_COLOUR}"></i>'
               f"{html.escape(_label('失败', 'failed', lang))}</div>")
    root: Any = m.get_root()
    root.html.add_child(Element(
        '<div class="dy-legend" style="position:absolute;bottom:20px;right:10px;z-index:1000">'
        f"<b>{html.escape(_label('平均覆盖率', 'mean coverage', lang))}</b>{legend}</div>"))
    return webmap.save_map(m, path)


__all__ = ["batch_map"]
