"""The review-meeting report: a self-contained HTML file, an Excel workbook, CSVs, a GeoPackage."""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from deyang_geo.core.errors import InputError
from deyang_geo.core.style import Lang, category_label, label
from deyang_geo.io.files import (
    atomic_path,
    excel_safe,
    fixed_file_dates,
    write_csv_atomic,
    write_text_atomic,
)
from deyang_geo.io.tables_zh import write_sheets
from deyang_geo.outputs.report_summary import (
    BREAK_COLUMN,
    canonical_table,
    coverage_suffix,
    parameters_table,
    summary_html,
)

__all__ = [
    "DataSource",
    "ReportPaths",
    "build_report",
    "reduced_png",
    "write_geopackage",
    "write_pdf",
    "write_tables",
]

#: Rows of one table shown in the HTML report; the workbook and CSVs have every row.
MAX_HTML_ROWS = 300

#: Bilingual headers of common columns (Chinese, English).
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    # the resolved analysis (mode and threshold per category, urban and rural)
    "group": ("城乡", "group"),
    "mode": ("出行方式", "mode"),
    "speed_kmh": ("速度 (km/h)", "speed (km/h)"),
    "threshold_minutes": ("时间阈值 (分钟)", "threshold (min)"),
    "distance_m": ("距离阈值 (米)", "distance (m)"),
    "direction": ("出行方向", "direction"),
    "mode_source": ("出行方式来源", "mode from"),
    "speed_source": ("速度来源", "speed from"),
    "threshold_source": ("阈值来源", "threshold from"),
    "direction_source": ("方向来源", "direction from"),
    "category": ("设施类别", "category"),
    "community_id": ("社区编号", "community id"),
    "id": ("编号", "id"),
    "name": ("名称", "name"),
    "kind": ("类型", "kind"),
    "township": ("街道/乡镇", "township"),
    "division": ("区县", "division"),
    "population": ("人口", "population"),
    "households": ("户数", "households"),
    "communities": ("社区数", "communities"),
    "units": ("需求单元", "demand units"),
    "minutes": ("分钟", "minutes"),
    "class": ("覆盖等级", "class"),
    "target_id": ("目标", "target"),
    "description": ("说明", "description"),
    "description_zh": ("说明", "description (zh)"),
    "description_en": ("说明 (英文)", "description"),
    "scope": ("范围", "scope"),
    "value": ("现状值", "value"),
    "target": ("目标值", "target"),
    "met": ("达标", "met"),
    "gap": ("差距", "gap"),
    "source": ("来源", "source"),
    "verified": ("已核实", "verified"),
    "site_id": ("选址编号", "site id"),
    "rank": ("排序", "rank"),
    "added_population": ("新增覆盖人口", "newly covered population"),
    "alternatives": ("备选", "alternatives"),
    "covered_population_before": ("选址前覆盖人口", "covered before"),
    "covered_population_after": ("选址后覆盖人口", "covered after"),
    "floor_area_m2": ("建筑面积 m²", "floor area m²"),
    "parameter": ("参数", "parameter"),
    "unit": ("单位", "unit"),
    "share_all": ("覆盖率 (全部)", "covered share (all)"),
    "share_urban": ("覆盖率 (城市社区)", "covered share (urban)"),
    "share_rural": ("覆盖率 (农村)", "covered share (rural)"),
    "status": ("状态", "status"),
    "communities_short": ("缺口社区数", "communities short"),
    "people_short": ("缺口人口", "people short"),
    "m2_missing": ("缺口面积 m²", "m² missing"),
    "facilities_short": ("不达标设施数", "facilities short"),
    "amount_short": ("缺口数量", "amount short"),
    "result": ("结果", "result"),
    "model": ("模型", "model"),
    "n_sites": ("新增设施数", "new sites"),
    "new_sites": ("新增设施数", "new sites"),
    "total_population": ("总人口", "total population"),
    "median_minutes": ("分钟中位数", "median minutes"),
    "p90_minutes": ("90%分位分钟", "90th percentile minutes"),
    "max_minutes": ("最长分钟", "longest minutes"),
    "unreachable_units": ("不可达单元", "unreachable units"),
}
_QUANTITY_LABELS: dict[str, tuple[str, str]] = {
    "covered_population": ("覆盖人口", "covered population"),
    "uncovered_population": ("未覆盖人口", "people outside reach"),
    "covered_share": ("覆盖率", "covered share"),
    "class": ("覆盖等级", "class"),
    "covered_communities_share": ("达标社区比例", "share of communities covered"),
    "covered_communities": ("覆盖社区数", "communities covered"),
    "partly_covered_communities": ("部分覆盖社区数", "communities partly covered"),
    "outside_communities": ("未覆盖社区数", "communities outside reach"),
    "covered": ("覆盖", "covered"),
}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_LAYER_BAD = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True)
class DataSource:
    """One input of the study and whether it is real or synthetic.

    Parameters
    ----------
    name
        What it is (e.g. ``"Divisions"``, ``"Road network"``).
    status
        ``"real"``, ``"synthetic"``, ``"mixed"`` or ``"unknown"``.
    origin
        Where it comes from (file, OSM extract, planner's list), with attribution.
    note
        Anything a reader should know (date, licence, caveats).
    """

    name: str
    status: str
    origin: str = ""
    note: str = ""


@dataclass(frozen=True)
class ReportPaths:
    """The files written by :func:`build_report`."""

    html: Path
    workbook: Path | None
    csv: tuple[Path, ...]
    geopackage: Path | None
    figures: tuple[Path, ...] = field(default=())

    def all(self) -> list[Path]:
        """Return every written file.

        Returns
        -------
        list of Path
            HTML, workbook, CSVs, GeoPackage and figure files.
        """
        out = [self.html]
        if self.workbook is not None:
            out.append(self.workbook)
        out.extend(self.csv)
        if self.geopackage is not None:
            out.append(self.geopackage)
        out.extend(self.figures)
        return out


# --------------------------------------------------------------------------------------------
# tables




#: Characters an .xlsx file cannot hold (XML 1.0 control characters).




def _sheet_name(name: str, used: set[str]) -> str:
    base = _SHEET_BAD.sub("_", name)[:31] or "table"
    candidate, i = base, 2
    while candidate.lower() in used:
        suffix = f"_{i}"
        candidate = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(candidate.lower())
    return candidate


def _file_stem(name: str) -> str:
    stem = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("_")
    return stem or "table"


def write_tables(out_dir: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame], *,
                 workbook_name: str = "tables.xlsx", csv: bool = True,
                 csv_folder: str | os.PathLike[str] | None = None,
                 ) -> tuple[Path | None, tuple[Path, ...]]:
    """Write tables as one Excel workbook (a sheet each) and CSVs (UTF-8 with BOM), atomically.

    Parameters
    ----------
    out_dir
        Output folder.
    tables
        Name -> table; the name becomes the sheet and the CSV file name.
    workbook_name
        The workbook's file name.
    csv
        Also write one CSV per table.
    csv_folder
        Folder of the CSV files (default ``out_dir``).

    Returns
    -------
    tuple
        ``(workbook path or None when there is no table, CSV paths)``.
    """
    folder = Path(out_dir)
    present = {name: excel_safe(t) for name, t in tables.items() if t is not None}
    if not present:
        return None, ()
    workbook = folder / workbook_name
    used: set[str] = set()
    # a sheet per table as pandas' to_excel writes it, with column widths, a frozen header
    # row and filters; the rows written as text, not a cell object each (same file, faster)
    sheets = [(_sheet_name(name, used), table) for name, table in present.items()]
    with atomic_path(workbook) as tmp:
        write_sheets(tmp, sheets, like="pandas")
    written: list[Path] = []
    if csv:
        for name, table in present.items():
            path = Path(csv_folder or folder) / f"{_file_stem(name)}.csv"
            written.append(write_csv_atomic(table, path))
    return workbook, tuple(written)


def write_geopackage(path: str | os.PathLike[str], layers: Mapping[str, gpd.GeoDataFrame]
                     ) -> Path | None:
    """Write layers into one GeoPackage (WGS-84) that QGIS opens, atomically.

    A layer mixing points, lines and polygons is split into ``<name>_points``, ``_lines`` and
    ``_polygons`` so that each GeoPackage layer has one geometry type. List values become
    comma-separated text.

    Parameters
    ----------
    path
        The ``.gpkg`` file.
    layers
        Layer name -> GeoDataFrame (any CRS; a frame without CRS is taken as WGS-84).

    Returns
    -------
    Path or None
        The file, or ``None`` when there was no layer with geometry.
    """
    prepared: list[tuple[str, gpd.GeoDataFrame]] = []
    for name, gdf in layers.items():
        if gdf is None or not isinstance(gdf, gpd.GeoDataFrame) or len(gdf) == 0:
            continue
        frame = gdf if gdf.crs is not None else gdf.set_crs(4326)
        frame = frame.to_crs(4326)
        frame = frame.loc[frame.geometry.notna().to_numpy()
                          & ~frame.geometry.is_empty.to_numpy()]
        if frame.empty:
            continue
        attrs = excel_safe(frame.drop(columns=frame.geometry.name))
        for col in attrs.columns:
            if attrs[col].dtype == object:
                attrs[col] = attrs[col].map(lambda v: v if v is None or isinstance(
                    v, (str, int, float, bool)) else str(v))
        frame = gpd.GeoDataFrame(attrs, geometry=frame.geometry.to_numpy(), crs=4326)
        layer = _LAYER_BAD.sub("_", name).strip("_") or "layer"
        kinds = frame.geometry.geom_type.str.replace("Multi", "", regex=False)
        families = {"Point": "points", "LineString": "lines", "Polygon": "polygons"}
        present = sorted(set(kinds))
        if len(present) == 1:
            prepared.append((layer, frame))
        else:
            for kind in present:
                suffix = families.get(kind, kind.lower())
                prepared.append((f"{layer}_{suffix}", frame.loc[(kinds == kind).to_numpy()]))
    if not prepared:
        return None
    with atomic_path(path) as tmp, fixed_file_dates():
        for layer, frame in prepared:
            frame.to_file(tmp, layer=layer, driver="GPKG")
    return Path(path)


# --------------------------------------------------------------------------------------------
# HTML


def _header(column: str, lang: Lang, catalog: Any = None) -> str:
    if column in COLUMN_LABELS:
        return label(*COLUMN_LABELS[column], lang)
    if column in _COMPLIANCE_LABELS:
        return label(*_COMPLIANCE_LABELS[column], lang)
    if column.endswith(" share") and " " not in column[:-6]:
        name = category_label(column[:-6], lang=lang, catalog=catalog)
        return f"{name} ({label('覆盖率', 'share', lang)})"
    match = BREAK_COLUMN.match(column)
    if match and match["q"] in COLUMN_LABELS:
        zh, en = COLUMN_LABELS[match["q"]]
        return label(f"{zh} ({match['m']}分钟)", f"{en} ({match['m']} min)", lang)
    if match and match["q"] in _QUANTITY_LABELS:
        zh, en = _QUANTITY_LABELS[match["q"]]
        minutes = match["m"]
        return label(f"{zh} ({minutes}分钟)", f"{en} ({minutes} min)", lang)
    return column


_VALUE_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "class": {"covered": ("覆盖", "covered"), "partly": ("部分覆盖", "partly covered"),
              "outside": ("未覆盖", "outside reach")},
    "kind": {"urban": ("社区", "urban"), "rural": ("村", "rural"), "all": ("全部", "all")},
    "scope": {"urban": ("城市社区", "urban"), "rural": ("农村社区", "rural"),
              "all": ("全部", "all"), "city": ("全市", "city")},
    "status": {"met": ("达标", "met"), "missed": ("未达标", "missed"),
               "unknown": ("无法判断", "unknown")},
}
_COORDINATE_COLUMNS = frozenset({"longitude", "latitude", "longitude_gcj02", "latitude_gcj02",
                                 "lon", "lat"})


def _cell(column: str, value: Any, *, lang: Lang, catalog: Any) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return html.escape(", ".join(str(v) for v in value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        if column in ("met", "verified", "synthetic", "standard_verified"):
            mark = "✔" if value else "✘"
            cls = "ok" if value else "bad"
            return f'<span class="{cls}">{mark}</span>'
        return "✔" if value else ""
    if column == "category":
        return html.escape(category_label(str(value), lang=lang, catalog=catalog))
    if column in _VALUE_WORDS and str(value) in _VALUE_WORDS[column]:
        # class and kind values in the report's language, never English keys in a Chinese table
        zh, en = _VALUE_WORDS[column][str(value)]
        return html.escape(label(zh, en, lang))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if column in _COORDINATE_COLUMNS:  # 6 decimals (about 0.1 m), not 2 (about 1 km)
            return f"{number:.6f}" if math.isfinite(number) else ""
        if column.endswith("share") or "share_" in column:
            return f"{100 * number:.1f}%"
        if "population" in column or column in ("households", "communities", "units"):
            return f"{number:,.0f}"
        return f"{number:,.2f}".rstrip("0").rstrip(".") if math.isfinite(number) else ""
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if column not in ("rank", "code") else str(int(value))
    return html.escape(str(value))


def _table_html(table: pd.DataFrame, *, lang: Lang, catalog: Any,
                max_rows: int = MAX_HTML_ROWS) -> str:
    frame = pd.DataFrame(table)
    if isinstance(table, gpd.GeoDataFrame):
        frame = frame.drop(columns=[table.geometry.name])
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    head = "".join(f"<th>{html.escape(_header(c, lang, catalog))}</th>" for c in columns)
    body = []
    for record in frame.head(max_rows).to_dict("records"):
        cells = "".join(
            f'<td class="long">{text}</td>' if len(text) > 40 else f"<td>{text}</td>"
            for text in (_cell(str(c), record[c], lang=lang, catalog=catalog)
                         for c in columns))
        body.append(f"<tr>{cells}</tr>")
    more = ""
    if len(frame) > max_rows:
        note = label(f"仅显示前 {max_rows} 行, 共 {len(frame)} 行; 完整表格见工作簿",
                     f"first {max_rows} of {len(frame)} rows shown; the workbook has them all",
                     lang)
        more = f'<p class="note">{html.escape(note)}</p>'
    return (f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{more}")


def _parameters_frame(parameters: Mapping[str, Any]) -> pd.DataFrame:
    """Return the parameters table (unset values left out)."""
    return parameters_table(parameters)


def _parameters_html(params: pd.DataFrame, *, lang: Lang, catalog: Any) -> str:
    """Return the report's parameters table (its one place, restyled here only)."""
    return _table_html(params, lang=lang, catalog=catalog)


#: Largest width in pixels of a figure embedded in the report (print-size PNGs are reduced).
MAX_EMBED_WIDTH_PX = 1800


def reduced_png(image: Any) -> bytes | None:
    """Return the PNG the report embeds for a print-size image, or None to embed it as it is.

    Parameters
    ----------
    image
        A PIL image (e.g. a figure's PNG as drawn, see
        :func:`deyang_geo.outputs.figures.start_figures`).

    Returns
    -------
    bytes or None
        The image reduced to :data:`MAX_EMBED_WIDTH_PX` wide as PNG, or None when it is no
        wider than that.
    """
    from PIL import Image

    if image.width <= MAX_EMBED_WIDTH_PX:
        return None
    height = round(image.height * MAX_EMBED_WIDTH_PX / image.width)
    small = image.convert("RGB").resize((MAX_EMBED_WIDTH_PX, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _reduced(data: bytes) -> bytes:
    """Return the PNG reduced to :data:`MAX_EMBED_WIDTH_PX` wide, or unchanged."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        small = reduced_png(image)
    return data if small is None else small


def _figure_png(figure: Any, *, dpi: int = 150) -> bytes:
    if isinstance(figure, (str, os.PathLike)):
        path = Path(figure)
        if path.suffix.lower() != ".png":
            msg = f"figures embedded in the report must be PNG files, got {path.name!r}"
            raise InputError(msg)
        return _reduced(path.read_bytes())
    if isinstance(figure, bytes):
        return _reduced(figure)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if figure.canvas is None or type(figure.canvas).__name__ == "FigureCanvasBase":
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


_CSS = """
body{font:14px/1.5 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:0;
 color:#222;background:#f4f4f4}
main{max-width:1100px;margin:0 auto;background:#fff;padding:24px 36px 48px}
h1{font-size:26px;margin:0 0 4px}h2{border-bottom:2px solid #08519c;padding-bottom:2px;
 margin-top:32px;font-size:19px}h3{font-size:15px;margin:18px 0 6px}
.banner{background:#b00000;color:#fff;font-weight:700;font-size:18px;padding:10px 16px;
 border-radius:6px;margin:12px 0}
.banner.real{background:#1a7f37}
.tablewrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:12px;margin:6px 0 12px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
td.long{min-width:16em}
th{background:#eef3f8}tbody tr:nth-child(even){background:#fafafa}
.ok{color:#1a7f37;font-weight:700}.bad{color:#b00000;font-weight:700}
.status-synthetic{color:#b00000;font-weight:700}.status-real{color:#1a7f37;font-weight:700}
.status-mixed,.status-unknown{color:#a05a00;font-weight:700}.status-result{color:#08519c}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}
.note{font-size:12px;color:#555}
div.summary{background:#f3f7fb;border-left:4px solid #08519c;padding:6px 14px;margin:8px 0}
table.summary td.num{text-align:right}ul.summary{margin:4px 0 8px;padding-left:20px}
@page{size:A4;margin:12mm}
@media print{body{background:#fff}main{padding:0;max-width:none}h2{page-break-after:avoid}
 h3{page-break-after:avoid}
 .tablewrap{overflow:visible}
 table{font-size:8px;width:100%;table-layout:fixed}
 th,td{overflow-wrap:anywhere;word-break:break-word;padding:2px 3px}td.long{min-width:0}
 tr{page-break-inside:avoid}figure{page-break-inside:avoid}
 table.summary{font-size:10.5px}ul.summary{font-size:12px}
 .banner,div.summary,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


# --------------------------------------------------------------------------------------------
# the summaries shown in the HTML (the workbook and CSVs keep every row and column)








def _coverage_views(tables: Mapping[str, pd.DataFrame], *, t: Any
                    ) -> list[tuple[str, pd.DataFrame]]:
    """Short tables for the report: by category, by division, the worst communities."""
    views: list[tuple[str, pd.DataFrame]] = []
    area = tables.get("coverage_study_area")
    if area is not None:
        area = canonical_table(area)
        suffix = coverage_suffix(area)
        if suffix is not None and {"category", "kind"} <= set(area.columns):
            share = f"covered_share{suffix}"
            pivot = area.pivot_table(index="category", columns="kind", values=share,
                                     aggfunc="first", sort=False)
            view = pd.DataFrame({"category": pivot.index})
            for kind in ("all", "urban", "rural"):
                if kind in pivot.columns:
                    view[f"share_{kind}{suffix}"] = pivot[kind].to_numpy()
            every = area.loc[area["kind"].astype(str) == "all"].set_index("category")
            needed = {"population", f"covered_population{suffix}",
                      f"outside_communities{suffix}"}
            if len(every) and needed <= set(every.columns):
                pop = every["population"].reindex(view["category"]).to_numpy(float)
                covered = every[f"covered_population{suffix}"].reindex(view["category"])
                view["population"] = pop
                view[f"uncovered_population{suffix}"] = pop - covered.to_numpy(float)
                view[f"outside_communities{suffix}"] = every[
                    f"outside_communities{suffix}"].reindex(view["category"]).to_numpy()
            views.append((t("按设施类别 (全域)", "By category (study area)"), view))
        else:
            views.append((t("全域", "Study area"), area.head(40)))
    divisions = tables.get("coverage_divisions")
    if divisions is not None:
        divisions = canonical_table(divisions)
        suffix = coverage_suffix(divisions)
        if suffix is not None and {"division", "category"} <= set(divisions.columns):
            rows = divisions
            if "kind" in rows.columns:
                rows = rows.loc[rows["kind"].astype(str) == "all"]
            view = rows.pivot_table(index="division", columns="category",
                                    values=f"covered_share{suffix}", aggfunc="first",
                                    sort=False).reset_index()
            view.columns = [str(c) if c == "division" else f"{c} share" for c in view.columns]
            if len(view) > 1:  # one division is the study area, shown above
                    views.append((t("按区县 (覆盖人口比例)", "By division (share of population "
                                "covered)"), view))
    outside = tables.get("outside_reach")
    if outside is not None and len(outside):
        outside = canonical_table(outside)
        keep = [c for c in outside.columns if c in (
            "name", "kind", "township", "division", "category", "population", "minutes")
            or str(c).startswith("uncovered_population")]
        views.append((t("服务范围外人口最多的社区 (前 20)", "Communities outside reach with the "
                        "most people (top 20)"), outside[keep].head(20)))
    if area is None and "coverage" in tables:
        views.append((t("按社区 (前 40 行)", "By community (first 40 rows)"),
                      canonical_table(tables["coverage"]).head(40)))
    return views


_COMPLIANCE_COLUMNS = ("target_id", "scope", "reading", "description", "threshold", "unit",
                       "value", "target", "met", "status", "communities_short", "people_short",
                       "m2_missing", "facilities_short", "amount_short", "gap", "source",
                       "verified", "standard_source", "standard_verified", "assumptions")
#: Headers of the compliance provenance columns (the rest are in COLUMN_LABELS).
_COMPLIANCE_LABELS: dict[str, tuple[str, str]] = {
    "reading": ("判读方式", "reading"),
    "threshold": ("门槛", "threshold"),
    "standard_source": ("标准依据", "standard source"),
    "standard_verified": ("标准已核实", "standard verified"),
    "assumptions": ("假设 (规划未明示)", "assumptions (not stated by the plan)"),
}


def _compliance_edition(targets: pd.DataFrame, *, lang: Lang) -> str:
    """One line naming the plan edition(s) and target year(s) the targets check."""
    table = canonical_table(targets)
    if "plan_edition" not in table.columns:
        return ""
    editions = [str(e) for e in dict.fromkeys(table["plan_edition"].dropna()) if str(e)]
    year_column = table["target_year"] if "target_year" in table.columns else pd.Series(
        dtype=float)
    years = [f"{float(y):g}" for y in dict.fromkeys(
        pd.to_numeric(year_column, errors="coerce").dropna())]
    if not editions:
        return ""
    return label(f"检查的规划版本: {'; '.join(editions)}, 目标年份 {', '.join(years) or '-'}",
                 f"Plan edition checked: {'; '.join(editions)}; targets for "
                 f"{', '.join(years) or '-'}", lang)


def _compliance_view(targets: pd.DataFrame, *, lang: Lang) -> pd.DataFrame:
    """Return the targets with the columns a meeting reads, described in the report language."""
    table = canonical_table(targets)
    if "description" not in table.columns:
        zh, en = table.get("description_zh"), table.get("description_en")
        if zh is not None and en is not None:
            table["description"] = zh.astype(str) if lang == "zh" else (
                en.astype(str) if lang == "en" else zh.astype(str) + " / " + en.astype(str))
        elif zh is not None or en is not None:
            table["description"] = zh if zh is not None else en
    keep = [c for c in _COMPLIANCE_COLUMNS if c in table.columns
            and not table[c].isna().all()]
    return table[keep] if keep else table


_SUMMARY_COLUMNS = ("result", "category", "model", "status", "new_sites", "n_sites",
                    "covered_population_before", "covered_population_after",
                    "added_population", "total_population", "gap")


def _site_summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    table = summary.copy()
    if {"covered_population_before", "covered_population_after"} <= set(table.columns) \
            and "added_population" not in table.columns:
        table["added_population"] = (table["covered_population_after"].astype(float)
                                     - table["covered_population_before"].astype(float))
    keep = [c for c in _SUMMARY_COLUMNS if c in table.columns]
    return table[keep] if keep else table



def _coerce_sources(sources: Any) -> list[DataSource]:
    out = []
    if isinstance(sources, Mapping):
        for name, value in sources.items():
            if isinstance(value, DataSource):
                out.append(value)
            elif isinstance(value, Mapping):
                out.append(DataSource(str(name), str(value.get("status", "unknown")),
                                      str(value.get("origin", "")), str(value.get("note", ""))))
            else:
                out.append(DataSource(str(name), str(value)))
        return out
    for item in sources or ():
        if isinstance(item, DataSource):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(DataSource(str(item.get("name", "")), str(item.get("status", "unknown")),
                                  str(item.get("origin", "")), str(item.get("note", ""))))
        else:
            msg = f"a data source must be a DataSource or a mapping, got {item!r}"
            raise InputError(msg)
    return out


def _named_tables(value: Any, attrs: Sequence[tuple[str, str]]) -> dict[str, pd.DataFrame]:
    """Tables from a result object (attributes), a mapping or one table."""
    if value is None:
        return {}
    if isinstance(value, pd.DataFrame):
        return {attrs[0][1]: value}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if isinstance(v, pd.DataFrame)}
    out = {}
    for attr, name in attrs:
        table = getattr(value, attr, None)
        if isinstance(table, pd.DataFrame):
            out[name] = table
    return out


_COVERAGE_ATTRS = (("study_area", "coverage_study_area"), ("divisions", "coverage_divisions"),
                   ("townships", "coverage_townships"), ("communities", "coverage"),
                   ("outside", "outside_reach"))
_COMPLIANCE_ATTRS = (("targets", "compliance_targets"), ("by_division", "compliance_divisions"),
                     ("by_township", "compliance_townships"),
                     ("by_community", "compliance_communities"))


def build_report(
    out_dir: str | os.PathLike[str],
    *,
    title: str,
    parameters: Mapping[str, Any],
    sources: Sequence[DataSource | Mapping[str, Any]] | Mapping[str, Any],
    coverage: Any = None,
    compliance: Any = None,
    sites: pd.DataFrame | None = None,
    site_summary: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    figures: Mapping[str, Any] | None = None,
    synthetic: bool | None = None,
    lang: Lang = "both",
    catalog: Any = None,
    links: Mapping[str, str] | None = None,
    name: str = "report",
    resolved: pd.DataFrame | None = None,
) -> ReportPaths:
    """Write the meeting report with whatever parts of the analysis exist.

    Writes ``<name>.html`` (self-contained: styles inline, figures as base64 PNG, no script),
    ``<name>_tables.xlsx`` (a sheet per table), one CSV per table in ``<name>_csv/`` (UTF-8
    with BOM, for Excel) and ``<name>_layers.gpkg`` (a layer per table with geometry,
    WGS-84), all atomically.

    Parameters
    ----------
    out_dir
        Output folder.
    title
        The report's title (study area and scenario).
    parameters
        Parameter name -> value (mode, speed, thresholds...), shown first.
    sources
        The data sources with their status (:class:`DataSource`, mappings with ``name``,
        ``status``, ``origin``, ``note``, or a mapping name -> status).
    coverage
        A ``CoverageResult`` (its ``study_area``, ``divisions``, ``townships``,
        ``communities``, ``outside`` tables), a mapping name -> table, or one table.
    compliance
        A ``ComplianceResult`` (its ``targets`` table: target id, description, scope, value,
        target, met, gap, source, verified; and ``by_*`` tables), a mapping or one table.
    sites
        Proposed sites (``site_id``, ``rank``, ``added_population``, ``alternatives``...).
    site_summary
        Before/after figures of the site suggestion (e.g. ``summary.json``: one mapping, or
        one per category), shown as a table.
    tables
        Further tables name -> table for the workbook and CSVs (and shown in an appendix).
    layers
        Layer name -> GeoDataFrame for the GeoPackage.
    figures
        Caption -> matplotlib figure, PNG file path or PNG bytes, embedded in order.
    synthetic
        Whether the data is synthetic (a red banner); ``None`` decides from ``sources`` (any
        source with status ``synthetic`` or ``mixed``).
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    catalog
        A standards catalog for category names.
    links
        Caption -> relative file name of companion outputs (e.g. the interactive map).
    name
        Stem of the written files.
    resolved
        The resolved analysis, one row per category and group (urban, rural): mode, speed,
        threshold, direction and where each came from
        (:meth:`deyang_geo.study.resolved.ResolvedAnalysis.table`); shown under the parameters.

    Returns
    -------
    ReportPaths
        The written files.
    """
    folder = Path(out_dir)
    source_list = _coerce_sources(sources)
    if synthetic is None:
        synthetic = any(s.status.lower() in ("synthetic", "mixed") for s in source_list)
    coverage_tables = _named_tables(coverage, _COVERAGE_ATTRS)
    compliance_tables = _named_tables(compliance, _COMPLIANCE_ATTRS)
    site_tables: dict[str, pd.DataFrame] = {}
    if sites is not None:
        site_tables["sites"] = sites
    if site_summary is not None:
        summaries = ([site_summary] if isinstance(site_summary, Mapping)
                     else list(site_summary))
        site_tables["sites_summary"] = pd.DataFrame(
            [{k: v for k, v in r.items() if not isinstance(v, (Mapping, list))}
             for r in summaries])
    extra = dict(tables or {})
    params = _parameters_frame(parameters)
    source_table = pd.DataFrame([s.__dict__ for s in source_list],
                                columns=["name", "status", "origin", "note"])

    def t(zh: str, en: str) -> str:
        return label(zh, en, lang)

    esc = html.escape
    parts = [f"<h1>{esc(title)}</h1>"]
    if synthetic:
        parts.append('<div class="banner">SYNTHETIC DATA / 合成数据 — '
                     + esc(t("本报告使用合成数据, 结果不代表实际情况",
                             "results do not describe the real situation")) + "</div>")
    else:
        parts.append(f'<div class="banner real">{esc(t("真实数据", "Real data"))}</div>')

    summary = summary_html(coverage_tables=coverage_tables,
                           compliance_tables=compliance_tables,
                           site_summary=site_tables.get("sites_summary"), lang=lang,
                           catalog=catalog)
    if summary:  # the one-screen summary for the meeting comes first
        parts.append(f"<h2>{esc(t('摘要', 'Summary'))}</h2><div class='summary'>{summary}</div>")

    parts.append(f"<h2>1. {esc(t('参数', 'Parameters'))}</h2>")
    parts.append(_parameters_html(params, lang=lang, catalog=catalog))
    if resolved is not None and len(resolved):
        heading = t("各类设施的出行方式与时间阈值 (城镇/农村)",
                    "Mode and threshold per category, urban and rural")
        parts.append(f"<h3>{esc(heading)}</h3>")
        parts.append(_table_html(resolved, lang=lang, catalog=catalog, max_rows=400))

    parts.append(f"<h2>2. {esc(t('数据来源', 'Data sources'))}</h2>")
    rows = []
    for s in source_list:
        status = s.status.lower()
        status_text = {"real": t("真实", "real"), "synthetic": t("合成", "SYNTHETIC"),
                       "mixed": t("部分合成", "mixed"), "result": t("分析结果", "result"),
                       "unknown": t("未知", "unknown")}.get(status, s.status)
        css = re.sub(r"[^a-z]", "", status) or "unknown"
        rows.append(f'<tr><td>{esc(s.name)}</td><td class="status-{css}">{esc(status_text)}'
                    f"</td><td>{esc(s.origin)}</td><td>{esc(s.note)}</td></tr>")
    parts.append(f"<table><thead><tr><th>{esc(t('数据', 'data'))}</th>"
                 f"<th>{esc(t('状态', 'status'))}</th><th>{esc(t('来源', 'origin'))}</th>"
                 f"<th>{esc(t('说明', 'note'))}</th></tr></thead><tbody>{''.join(rows)}"
                 "</tbody></table>")

    section = 3
    figure_items = list((figures or {}).items())
    if figure_items:
        parts.append(f"<h2>{section}. {esc(t('图', 'Figures'))}</h2>")
        section += 1
        for caption, figure in figure_items:
            data = base64.b64encode(_figure_png(figure)).decode("ascii")
            parts.append(f'<figure><img alt="{esc(str(caption))}" '
                         f'src="data:image/png;base64,{data}">'
                         f"<figcaption>{esc(str(caption))}</figcaption></figure>")
    note = t("完整明细 (街道/乡镇、社区) 见表格工作簿和 CSV。",
             "Full detail (townships, communities) is in the workbook and the CSV files.")
    full_note = f'<p class="note">{esc(note)}</p>'
    if coverage_tables:
        parts.append(f"<h2>{section}. {esc(t('覆盖情况', 'Coverage'))}</h2>")
        section += 1
        for caption, table in _coverage_views(coverage_tables, t=t):
            if table.empty:  # no empty sections
                continue
            parts.append(f"<h3>{esc(caption)}</h3>")
            parts.append(_table_html(table, lang=lang, catalog=catalog))
        parts.append(full_note)
    if compliance_tables:
        parts.append(f"<h2>{section}. {esc(t('规划目标达标情况', 'Compliance with plan targets'))}"
                     "</h2>")
        section += 1
        targets = compliance_tables.get("compliance_targets")
        if targets is None:
            targets = next(iter(compliance_tables.values()))
        edition = _compliance_edition(targets, lang=lang)
        if edition:
            parts.append(f'<p class="edition">{esc(edition)}</p>')
        parts.append(_table_html(_compliance_view(targets, lang=lang), lang=lang,
                                 catalog=catalog))
        parts.append(full_note)
    if site_tables:
        parts.append(f"<h2>{section}. {esc(t('建议选址', 'Proposed sites'))}</h2>")
        section += 1
        if "sites_summary" in site_tables:
            parts.append(f"<h3>{esc(t('选址前后', 'Before and after'))}</h3>")
            parts.append(_table_html(_site_summary_view(site_tables["sites_summary"]),
                                     lang=lang, catalog=catalog))
        if "sites" in site_tables:
            parts.append(f"<h3>{esc(t('选址 (排序, 含备选)', 'Sites (ranked, with alternatives)'))}"
                         "</h3>")
            parts.append(_table_html(site_tables["sites"], lang=lang, catalog=catalog))
    if extra:
        parts.append(f"<h2>{section}. {esc(t('附表', 'Appendix tables'))}</h2>")
        section += 1
        for key, table in extra.items():
            parts.append(f"<h3>{esc(key)}</h3>")
            parts.append(_table_html(table, lang=lang, catalog=catalog, max_rows=40))

    if resolved is not None and len(resolved):
        extra_params = {"parameters_by_category": resolved}
    else:
        extra_params = {}
    all_tables: dict[str, pd.DataFrame] = {"parameters": params, **extra_params,
                                           "sources": source_table,
                                           **coverage_tables, **compliance_tables,
                                           **site_tables, **extra}
    # the CSVs go to their own folder: other commands write coverage.csv etc. next to the
    # report, with their own rounding, and must not be overwritten
    workbook, csvs = write_tables(folder, all_tables, workbook_name=f"{name}_tables.xlsx",
                                  csv_folder=folder / f"{name}_csv")
    geo_layers = dict(layers or {})
    for key, table in {**coverage_tables, **site_tables}.items():
        if isinstance(table, gpd.GeoDataFrame) and key not in geo_layers:
            geo_layers[key] = table
    gpkg = write_geopackage(folder / f"{name}_layers.gpkg", geo_layers)

    files = [(t("表格工作簿", "workbook"), workbook.name if workbook else None),
             (t("图层 (GeoPackage, QGIS)", "layers (GeoPackage, QGIS)"),
              gpkg.name if gpkg else None)]
    files.extend((caption, target) for caption, target in (links or {}).items())
    items = "".join(f'<li>{esc(c)}: <a href="{esc(f)}">{esc(f)}</a></li>'
                    for c, f in files if f)
    parts.append(f"<h2>{section}. {esc(t('其他文件', 'Companion files'))}</h2><ul>{items}</ul>")
    if csvs:
        parts.append(f'<p class="note">CSV (UTF-8 BOM), {esc(csvs[0].parent.name)}/: '
                     f'{esc(", ".join(p.name for p in csvs))}</p>')

    document = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )
    html_path = write_text_atomic(folder / f"{name}.html", document)
    return ReportPaths(html=html_path, workbook=workbook, csv=csvs, geopackage=gpkg)


#: Browser executables tried, in order, to print the report as PDF.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
            "microsoft-edge", "msedge", "chrome")


def write_pdf(html_path: str | os.PathLike[str], pdf_path: str | os.PathLike[str] | None = None,
              *, browser: str | os.PathLike[str] | None = None, timeout_s: float = 120.0
              ) -> Path:
    """Print the HTML report to PDF (A4) with a headless Chromium-family browser, atomically.

    Parameters
    ----------
    html_path
        The report written by :func:`build_report`.
    pdf_path
        The PDF to write (default: the HTML file's name with ``.pdf``).
    browser
        The browser executable; ``None`` looks for :data:`BROWSERS` on the ``PATH``.
    timeout_s
        Time allowed to the browser, in seconds.

    Returns
    -------
    Path
        The PDF file.

    Raises
    ------
    InputError
        When no browser is found or the browser fails.
    """
    source = Path(html_path).resolve()
    target = Path(pdf_path) if pdf_path is not None else source.with_suffix(".pdf")
    executable = str(browser) if browser is not None else next(
        (found for name in BROWSERS if (found := shutil.which(name))), None)
    if executable is None or shutil.which(executable) is None:
        msg = ("no Chromium, Chrome or Edge found to print the report as PDF: install one "
               "(Debian: apt-get install chromium) or pass browser=PATH")
        raise InputError(msg)
    with atomic_path(target) as tmp:
        command = [executable, "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-quic", "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-pdf-header-footer",
                   f"--print-to-pdf={tmp}", source.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            msg = f"{executable} did not print {source.name} within {timeout_s:g} s"
            raise InputError(msg) from None
        if done.returncode != 0 or not tmp.exists():
            tail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:]
            msg = f"{executable} could not print {source.name} as PDF: {' '.join(tail)}"
            raise InputError(msg)
    return target
