"""Printable figures (PNG, PDF) of the study's maps and charts, with Chinese that really renders."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import struct
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from deyang_geo.core.crs import utm_crs
from deyang_geo.core.errors import InputError
from deyang_geo.core.forked import ForkedCall, can_fork
from deyang_geo.core.style import (
    CATEGORY_STYLES,
    CLASS_STYLES,
    MINUTE_BANDS,
    Lang,
    category_label,
    context_kind,
    label,
)
from deyang_geo.io.fonts import (
    FontWarning,
    english_only,
    figure_language,
    find_cjk_font,
    save_figure,
)
from deyang_geo.outputs.webmap import coverage_view

__all__ = [
    "FigureFiles",
    "FigureRun",
    "FontWarning",
    "can_draw_in_background",
    "coverage_chart",
    "figure_language",
    "save_figure",
    "start_figures",
    "study_figure",
    "write_figures",
]

#: A4 portrait in inches, the printed report's page.
A4_PORTRAIT_IN = (8.27, 11.69)
_UNREACHABLE = "#7f7f7f"
ISO_COLOURS = ("#08519c", "#4292c6", "#9ecae1", "#c6dbef", "#deebf7")






@contextlib.contextmanager
def _font_context(family: str | None) -> Iterator[None]:
    import matplotlib as mpl

    families = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    with mpl.rc_context({"font.family": families, "axes.unicode_minus": False,
                         "pdf.fonttype": 42, "svg.fonttype": "none"}):
        yield


def _name(row: Mapping[str, Any], lang: Lang) -> str:
    zh = row.get("name_zh", row.get("name"))
    en = row.get("name_en")
    zh_s = "" if zh is None or (isinstance(zh, float) and math.isnan(zh)) else str(zh)
    en_s = "" if en is None or (isinstance(en, float) and math.isnan(en)) else str(en)
    if lang == "en":
        return en_s or zh_s
    if lang == "zh" or not en_s:
        return zh_s or en_s
    return label(zh_s, en_s, lang) if zh_s else en_s


def _projected(gdf: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame | None:
    if gdf is None or len(gdf) == 0:
        return None
    out = gdf if gdf.crs is not None else gdf.set_crs(4326)
    out = out.to_crs(crs)
    keep = out.geometry.notna().to_numpy() & ~out.geometry.is_empty.to_numpy()
    return out.loc[keep]


def _nice_length_m(span_m: float) -> float:
    target = span_m / 5.0
    exponent = 10 ** math.floor(math.log10(max(target, 1.0)))
    for step in (5, 2, 1):
        if step * exponent <= target:
            return float(step * exponent)
    return float(exponent)


def _scale_bar(ax: Any, lang: Lang) -> None:
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice_length_m(x1 - x0)
    height = (y1 - y0) * 0.008
    left = x0 + (x1 - x0) * 0.04
    bottom = y0 + (y1 - y0) * 0.04
    half = length / 2
    ax.add_patch(Rectangle((left - length * 0.08, bottom - height * 4.5), length * 1.16,
                           height * 9, facecolor="white", edgecolor="none", alpha=0.85,
                           zorder=19))
    ax.add_patch(Rectangle((left, bottom), half, height, facecolor="black", edgecolor="black",
                           zorder=20))
    ax.add_patch(Rectangle((left + half, bottom), half, height, facecolor="white",
                           edgecolor="black", zorder=20))
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(left, bottom + height * 1.8, "0", ha="center", va="bottom", fontsize=7, zorder=20)
    ax.text(left + length, bottom + height * 1.8, text, ha="center", va="bottom", fontsize=7,
            zorder=20)
    ax.text(left + half, bottom - height * 1.2, label("比例尺", "scale", lang), ha="center",
            va="top", fontsize=6, zorder=20)


def _north_arrow(ax: Any) -> None:
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.87), xycoords="axes fraction",
                ha="center", va="center", fontsize=11, fontweight="bold", zorder=20,
                arrowprops={"facecolor": "black", "width": 4, "headwidth": 11,
                            "headlength": 10})


def _cat_rows(df: pd.DataFrame | None, category: str | None) -> pd.DataFrame | None:
    if df is None or category is None or "category" not in df.columns:
        return df
    return df.loc[df["category"].astype(str) == category]


def study_figure(
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
    synthetic: bool = False,
    lang: Lang = "both",
    catalog: Any = None,
    category: str | None = None,
    colour_by: Literal["class", "minutes"] = "class",
    extent: gpd.GeoDataFrame | None = None,
    figsize_in: tuple[float, float] | None = None,
    label_communities: bool | None = None,
) -> Any:
    """Draw a printable map of the study: the same layers as :func:`~.webmap.study_map`.

    Absent tables are not drawn. Everything is drawn in the study's UTM zone, so the scale bar
    is true; the north arrow points up (grid north, within a degree of true north here).

    Parameters
    ----------
    title
        The study area's name.
    scenario
        The scenario, printed under the title.
    divisions, communities, facilities, network_edges, isochrones, coverage, outside, sites, \
context
        The layers, as for :func:`deyang_geo.outputs.webmap.study_map`, in any CRS; never modified.
    synthetic
        Print "SYNTHETIC DATA / 合成数据" in red under the title.
    lang
        ``"zh"``, ``"en"`` or ``"both"``; without a CJK font English is used (with a
        :class:`FontWarning`).
    catalog
        A standards catalog for category names (``None``: built-in names).
    category
        Show only this facility category's coverage, isochrones, facilities and sites; when
        ``None`` and the coverage or isochrones hold several categories, the first (sorted)
        is drawn and named in the title, facilities and sites of every category are drawn.
    colour_by
        Colour communities by coverage ``"class"`` or by ``"minutes"``.
    extent
        A layer whose bounds set the map extent (default: the communities, else everything).
    figsize_in
        Figure size in inches (default A4, portrait or landscape to suit the extent).
    label_communities
        Write community names on the map (default: when there are at most 150 communities).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot); write it with :func:`save_figure`.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lang, family = figure_language(lang)
    if family is None:  # no CJK font: no empty boxes in the title either
        title = english_only(title)
        scenario = english_only(scenario) if scenario else scenario
    layers = [x for x in (divisions, communities, facilities, network_edges, isochrones, sites,
                          outside, context) if x is not None and len(x)]
    if not layers:
        msg = "a figure needs at least one layer (divisions, communities, facilities...)"
        raise InputError(msg)
    base = layers[0] if layers[0].crs is not None else layers[0].set_crs(4326)
    crs = utm_crs(base.to_crs(4326))

    def cat(key: str) -> str:
        return category_label(key, lang=lang, catalog=catalog)

    view_category = category
    if view_category is None:
        found = sorted({str(c) for t in (coverage, isochrones) if t is not None
                        and "category" in t.columns for c in pd.unique(t["category"])})
        view_category = found[0] if found else None

    frame = _projected(extent if extent is not None else communities, crs)
    if frame is None:
        frame = pd.concat([_projected(x, crs) for x in layers], ignore_index=True)
    x0, y0, x1, y1 = (float(v) for v in frame.total_bounds)
    pad = max(x1 - x0, y1 - y0, 200.0) * 0.04
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    if figsize_in is None:
        wide = (x1 - x0) > (y1 - y0) * 1.1
        figsize_in = (A4_PORTRAIT_IN[1], A4_PORTRAIT_IN[0]) if wide else A4_PORTRAIT_IN

    handles: list[Any] = []
    with _font_context(family):
        fig = Figure(figsize=figsize_in, layout="constrained")
        ax = fig.add_subplot()
        ax.set_aspect("equal")
        ax.set_axis_off()

        iso = _projected(_cat_rows(isochrones, view_category), crs)
        if iso is not None and "minutes" in iso.columns:
            breaks = sorted(float(x) for x in pd.unique(iso["minutes"]))
            for i, minutes in reversed(list(enumerate(breaks))):
                colour = ISO_COLOURS[min(i, len(ISO_COLOURS) - 1)]
                iso.loc[iso["minutes"].astype(float) == minutes].plot(
                    ax=ax, color=colour, alpha=0.35, linewidth=0, zorder=1)
                handles.append(Patch(color=colour, alpha=0.5,
                                     label=f"≤ {minutes:g} " + label("分钟", "min", lang)))

        com = _projected(communities, crs)
        cov_rows = _cat_rows(coverage, view_category)
        view = coverage_view(cov_rows, communities) if cov_rows is not None else None
        cov = _projected(view, crs)
        if cov is not None and len(cov):
            if colour_by == "minutes" and "minutes" in cov.columns:
                minutes = pd.to_numeric(cov["minutes"], errors="coerce").to_numpy(float)
                colours = np.full(len(cov), _UNREACHABLE, dtype=object)
                lower = 0.0
                for upper, colour in MINUTE_BANDS:
                    colours[(minutes > lower) & (minutes <= upper)] = colour
                    colours[(minutes == 0) & (lower == 0)] = colour
                    lower = upper
                cov.plot(ax=ax, color=list(colours), edgecolor="#555555", linewidth=0.3,
                         alpha=0.75, zorder=2, markersize=12, rasterized=len(cov) > 5000)
                prev = 0.0
                for upper, colour in MINUTE_BANDS:
                    text = (f"> {prev:g}" if math.isinf(upper) else f"{prev:g}-{upper:g}")
                    handles.append(Patch(color=colour, label=text + " " +
                                         label("分钟", "min", lang)))
                    prev = upper
                handles.append(Patch(color=_UNREACHABLE, label=label("不可达", "unreachable",
                                                                      lang)))
            elif "class" in cov.columns:
                class_colours = [CLASS_STYLES.get(str(c), ("#bdbdbd", "", ""))[0]
                                 for c in cov["class"]]
                cov.plot(ax=ax, color=class_colours, edgecolor="#555555", linewidth=0.3, alpha=0.75,
                         zorder=2, markersize=12, rasterized=len(cov) > 5000)
                handles.extend(Patch(color=c, label=label(zh, en, lang))
                               for c, zh, en in CLASS_STYLES.values())
        elif com is not None:
            com.plot(ax=ax, facecolor="#e0e0e0", edgecolor="#777777", linewidth=0.4,
                     zorder=2, markersize=8, rasterized=len(com) > 5000)
            handles.append(Patch(facecolor="#e0e0e0", edgecolor="#777777",
                                 label=label("社区/村", "community", lang)))

        net = _projected(network_edges, crs)
        if net is not None:
            net.plot(ax=ax, color="#8c8c8c", linewidth=0.35, zorder=3,
                     rasterized=len(net) > 20000)
            handles.append(Line2D([], [], color="#8c8c8c", linewidth=1,
                                  label=label("路网", "roads", lang)))
        ctx = _projected(context, crs)
        if ctx is not None:
            kinds = np.array([context_kind({str(k): v for k, v in r.items()}) for r in
                              ctx.drop(columns="geometry").to_dict("records")], dtype=object)
            polygonal = ctx.geom_type.str.contains("Polygon").to_numpy()
            for kind, face, edge, z in (("water", "#9ecae1", "#2b8cbe", 3),
                                        ("park", "#c7e9c0", "#41ab5d", 1.5)):
                pick = (kinds == kind) & polygonal
                if pick.any():
                    ctx.loc[pick].plot(ax=ax, facecolor=face, edgecolor=edge, linewidth=0.6,
                                       alpha=0.8, zorder=z)
            lines = ctx.loc[~polygonal]
            line_kinds = kinds[~polygonal]
            if (line_kinds == "water").any():
                lines.loc[line_kinds == "water"].plot(ax=ax, color="#2b8cbe", linewidth=1.4,
                                                     zorder=3)
            if (line_kinds == "rail").any():
                lines.loc[line_kinds == "rail"].plot(ax=ax, color="#252525", linewidth=1.2,
                                                    linestyle=(0, (6, 3)), zorder=3)
                handles.append(Line2D([], [], color="#252525", linestyle=(0, (6, 3)),
                                      label=label("铁路", "railway", lang)))
            other = ~np.isin(line_kinds, ["water", "rail"])
            if other.any():
                lines.loc[other].plot(ax=ax, color="#737373", linewidth=0.8, zorder=3)
            area = polygonal & np.isin(kinds, ["area", "other"])
            if area.any():
                ctx.loc[area].boundary.plot(ax=ax, color="#737373", linewidth=0.8,
                                            linestyle=":", zorder=3)

        div = _projected(divisions, crs)
        if div is not None:
            div.boundary.plot(ax=ax, color="#6a3d9a", linewidth=1.1, linestyle="-.", zorder=4)
            handles.append(Line2D([], [], color="#6a3d9a", linestyle="-.",
                                  label=label("区县界", "division", lang)))

        out = _projected(_cat_rows(outside, view_category), crs)
        if outside is None and cov is not None and "class" in cov.columns:
            out = cov.loc[cov["class"].astype(str) == "outside"]
            out = out if len(out) else None
        if out is not None:
            out.plot(ax=ax, facecolor="none", edgecolor="#b2182b", linewidth=1.4, zorder=5,
                     markersize=30)
            handles.append(Patch(facecolor="none", edgecolor="#b2182b",
                                 label=label("服务范围外", "outside reach", lang)))

        fac = _projected(_cat_rows(facilities, category), crs)
        if fac is not None:
            fac = fac.set_geometry(fac.geometry.representative_point())
            cats = (sorted(pd.unique(fac["category"].astype(str)))
                    if "category" in fac.columns else ["other"])
            for key in cats:
                sub = fac.loc[fac["category"].astype(str) == key] if "category" in fac else fac
                colour = CATEGORY_STYLES[key].colour if key in CATEGORY_STYLES else "#525252"
                sub.plot(ax=ax, color=colour, markersize=22, edgecolor="white", linewidth=0.5,
                         zorder=6)
                handles.append(Line2D([], [], marker="o", linestyle="", color=colour,
                                      markeredgecolor="white", label=cat(key)))

        site = _projected(_cat_rows(sites, category), crs)
        if site is not None:
            site = site.set_geometry(site.geometry.representative_point())
            site.plot(ax=ax, marker="D", color="#ffeb3b", edgecolor="black", markersize=70,
                      linewidth=1, zorder=7)
            ranks = site["rank"] if "rank" in site.columns else range(1, len(site) + 1)
            for point, rank in zip(site.geometry, ranks, strict=True):
                ax.annotate(f"{int(rank)}", (point.x, point.y), ha="center", va="center",
                            fontsize=6, fontweight="bold", zorder=8)
            handles.append(Line2D([], [], marker="D", linestyle="", color="#ffeb3b",
                                  markeredgecolor="black",
                                  label=label("建议选址 (排序)", "proposed site (rank)", lang)))

        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)

        show_labels = (label_communities if label_communities is not None else
                       com is not None and len(com) <= 150)
        if show_labels and com is not None:
            points = com.geometry.representative_point()
            for row, point in zip(com.drop(columns="geometry").to_dict("records"), points,
                                  strict=True):
                text = _name({str(k): v for k, v in row.items()}, "en" if lang == "en" else "zh")
                text = english_only(text) if family is None else text
                if text:
                    ax.text(point.x, point.y, text, fontsize=3.5, ha="center", va="center",
                            color="#333333", zorder=9, clip_on=True)

        _north_arrow(ax)
        _scale_bar(ax, lang)
        heading = title
        if view_category is not None and (cov is not None or iso is not None):
            heading = f"{title} — {cat(view_category)}"
        width_chars = int(figsize_in[0] * 9)
        fig.suptitle("\n".join(textwrap.wrap(heading, width_chars)), fontsize=13,
                     fontweight="bold")
        subtitle = [scenario] if scenario else []
        if synthetic:
            subtitle.append("SYNTHETIC DATA / 合成数据" if lang != "en" else "SYNTHETIC DATA")
        if subtitle:
            ax.set_title("   ".join(subtitle), fontsize=9,
                         color="#b00000" if synthetic else "#333333")
        if handles:
            for handle in handles:
                handle.set_label("\n".join(textwrap.wrap(handle.get_label(), 34)))
            fig.legend(handles=handles, loc="outside right center", fontsize=6.5,
                       frameon=False, title=label("图例", "Legend", lang), title_fontsize=7)
        crs_name = str(getattr(crs, "name", crs))
        fig.text(0.01, 0.003, f"{label('坐标系', 'CRS', lang)}: {crs_name}",
                 fontsize=5, color="#555555")
    return fig


def coverage_chart(
    table: pd.DataFrame,
    *,
    title: str,
    lang: Lang = "both",
    catalog: Any = None,
    share_column: str | None = None,
    target_share: float | None = None,
    figsize_in: tuple[float, float] = (8.0, 4.5),
) -> Any:
    """Draw a bar chart of the population share covered per category (and kind when given).

    Parameters
    ----------
    table
        An aggregate coverage table (e.g. ``CoverageResult.study_area``) with ``category``, a
        ``covered_share_<b>min`` column and optionally ``kind`` (``all``/``urban``/``rural``).
    title
        Chart title.
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    catalog
        A standards catalog for category names.
    share_column
        The share column (default ``covered_share_15min`` or the first ``covered_share_*``).
    target_share
        Draw a dashed line at this share (e.g. a plan target of 1.0 or 0.5).
    figsize_in
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The chart.
    """
    from matplotlib.figure import Figure

    lang, family = figure_language(lang)
    if family is None:  # no CJK font: no empty boxes in the title either
        title = english_only(title)
    columns = [str(c) for c in table.columns if str(c).startswith("covered_share")]
    column = share_column or ("covered_share" if "covered_share" in columns else
                              "covered_share_15min" if "covered_share_15min" in columns else
                              (columns[0] if columns else None))
    if column is None or "category" not in table.columns:
        msg = "the coverage table needs 'category' and a 'covered_share_<b>min' column"
        raise InputError(msg)
    data = table.copy()
    if "kind" not in data.columns:
        data["kind"] = "all"
    pivot = data.pivot_table(index="category", columns="kind", values=column, aggfunc="mean")
    kinds = [k for k in ("all", "urban", "rural") if k in pivot.columns] or list(pivot.columns)
    names = {"all": label("全部", "all", lang), "urban": label("城市社区", "urban", lang),
             "rural": label("农村", "rural", lang)}
    colours = {"all": "#4d4d4d", "urban": "#2166ac", "rural": "#b2182b"}
    with _font_context(family):
        fig = Figure(figsize=figsize_in, layout="constrained")
        ax = fig.add_subplot()
        x = np.arange(len(pivot.index))
        width = 0.8 / max(len(kinds), 1)
        for i, kind in enumerate(kinds):
            values = pivot[kind].to_numpy(float) * 100
            ax.bar(x + (i - (len(kinds) - 1) / 2) * width, values, width,
                   label=names.get(str(kind), str(kind)),
                   color=colours.get(str(kind), "#777777"))
        ax.set_xticks(x, [category_label(str(c), lang=lang, catalog=catalog)
                          for c in pivot.index], rotation=35, ha="right", fontsize=7)
        ax.set_ylim(0, 105)
        ax.set_ylabel(label("覆盖人口比例 (%)", "population covered (%)", lang))
        if target_share is not None:
            ax.axhline(target_share * 100, color="black", linestyle="--", linewidth=1,
                       label=label("规划目标", "plan target", lang))
        ax.legend(fontsize=7)
        ax.set_title(title, fontsize=11)
        ax.grid(axis="y", linewidth=0.3)
    return fig




def write_figures(
    out_dir: str | os.PathLike[str],
    *,
    stem: str = "map",
    formats: Sequence[str] = ("png", "pdf"),
    categories: Sequence[str | None] = (None,),
    dpi: int | None = None,
    **layers: Any,
) -> list[Path]:
    """Draw :func:`study_figure` for each category and write it in each format.

    Parameters
    ----------
    out_dir
        Output folder.
    stem
        File name stem; a category adds ``_<category>``.
    formats
        ``"png"`` and/or ``"pdf"``.
    categories
        ``None`` draws everything in one figure; a key draws that category's view.
    dpi
        PNG resolution (default ``settings.figure_dpi``).
    **layers
        Keyword arguments of :func:`study_figure` (``title``, ``divisions``, ...).

    Returns
    -------
    list of Path
        The files written.
    """
    return _draw_all(out_dir, stem=stem, formats=formats, categories=categories, dpi=dpi,
                     preview=None, layers=layers).paths


@dataclass(frozen=True)
class FigureFiles:
    """The figures written by :func:`start_figures`.

    Attributes
    ----------
    paths
        The files, in the order :func:`write_figures` writes them.
    previews
        PNG file -> the image an HTML report embeds (see ``preview`` of
        :func:`start_figures`); empty without ``preview``.
    """

    paths: list[Path]
    previews: dict[Path, bytes] = field(default_factory=dict)


def _drawn_image(fig: Any, path: Path) -> Any:
    """Return the PNG just written from ``fig`` as a PIL image, without decoding the file.

    Agg keeps the pixels it wrote to the (lossless) PNG in its buffer; when the buffer does not
    have the file's size (it was redrawn), the file is read instead.
    """
    from PIL import Image

    pixels = np.asarray(fig.canvas.buffer_rgba())
    with path.open("rb") as f:
        head = f.read(24)
    width, height = struct.unpack(">II", head[16:24])
    if pixels.shape[:2] == (height, width):
        return Image.fromarray(pixels)  # (height, width, 4) uint8: RGBA, as in the file
    with Image.open(path) as image:
        image.load()
        return image


def _draw_all(out_dir: str | os.PathLike[str], *, stem: str, formats: Sequence[str],
              categories: Sequence[str | None], dpi: int | None,
              preview: Callable[[Any], bytes | None] | None,
              layers: Mapping[str, Any]) -> FigureFiles:
    """Draw and write every figure in this process (see :func:`write_figures`)."""
    written: list[Path] = []
    previews: dict[Path, bytes] = {}
    for category in categories:
        fig = study_figure(category=category, **layers)
        name = stem if category is None else f"{stem}_{category}"
        for fmt in formats:
            path = save_figure(fig, Path(out_dir) / f"{name}.{fmt}", dpi=dpi)
            written.append(path)
            if preview is not None and path.suffix == ".png":
                small = preview(_drawn_image(fig, path))
                previews[path] = small if small is not None else path.read_bytes()
    return FigureFiles(paths=written, previews=previews)


class FigureRun:
    """Figures being drawn, in background processes or already done (:func:`start_figures`).

    Call :meth:`result` for the files; :meth:`close` (or leaving a ``with`` block) stops the
    background processes whose result is no longer wanted.
    """

    def __init__(self, draw: Callable[[], FigureFiles] | Sequence[Callable[[], FigureFiles]],
                 *, background: bool) -> None:
        draws = [draw] if callable(draw) else list(draw)
        self._jobs = [ForkedCall(d, background=background, name="deyang-geo figures")
                      for d in draws]

    def result(self) -> FigureFiles:
        """Wait for the figures and return them.

        Warnings the background processes gave are given again here. When one failed (or
        died), its figures are drawn in this process, so its error is raised as it is.

        Returns
        -------
        FigureFiles
            The files written (in the order :func:`write_figures` writes them) and the
            previews.
        """
        paths: list[Path] = []
        previews: dict[Path, bytes] = {}
        for job in self._jobs:
            files = job.result()
            paths.extend(files.paths)
            previews.update(files.previews)
        return FigureFiles(paths=paths, previews=previews)

    def close(self) -> None:
        """Stop the background processes still drawing (their results are dropped)."""
        for job in self._jobs:
            job.close()

    def __enter__(self) -> FigureRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def can_draw_in_background() -> bool:
    """Whether figures can be drawn in a background process here.

    Needs ``fork`` (Linux: the process starts at once with the layers already in memory;
    spawning a fresh interpreter would import matplotlib and geopandas again and cost more
    than it saves), at least two CPUs available to this process, and a process that may
    have children (not a daemonic one such as a Dask worker): see
    :func:`deyang_geo.core.forked.can_fork`.

    Returns
    -------
    bool
        True on a multi-core Linux machine.
    """
    return can_fork()


def start_figures(
    out_dir: str | os.PathLike[str],
    *,
    stem: str = "map",
    formats: Sequence[str] = ("png", "pdf"),
    categories: Sequence[str | None] = (None,),
    dpi: int | None = None,
    preview: Callable[[Any], bytes | None] | None = None,
    background: bool | None = None,
    **layers: Any,
) -> FigureRun:
    """Start writing the figures of :func:`write_figures`, in a background process if it pays.

    The caller writes its other outputs meanwhile and calls :meth:`FigureRun.result` when it
    needs the figures: the files are the same, byte for byte, as :func:`write_figures` writes.

    Parameters
    ----------
    out_dir, stem, formats, categories, dpi, **layers
        As for :func:`write_figures`.
    preview
        Called with each PNG as drawn (a PIL image) and returning the bytes to embed in a
        report, or None to embed the PNG file as it is (e.g.
        :func:`deyang_geo.outputs.report.reduced_png`): the print-size PNG is then never read
        back.
    background
        Draw in background processes, one per category (each figure's PNG, preview and PDF
        in one process); None: when :func:`can_draw_in_background`.

    Returns
    -------
    FigureRun
        The figures being drawn; use it in a ``with`` block or call ``close``.
    """
    wanted = can_draw_in_background() if background is None else background
    groups = [(c,) for c in categories] if wanted else [tuple(categories)]
    if wanted and len(groups) > 1:
        _warm_up()  # once here, not once per process
    draws = [functools.partial(_draw_all, out_dir, stem=stem, formats=tuple(formats),
                               categories=group, dpi=dpi, preview=preview, layers=layers)
             for group in groups]
    return FigureRun(draws, background=wanted)


def _warm_up() -> None:
    """Import the drawing libraries and find the CJK font before forking the figure processes.

    Each forked process inherits them instead of importing matplotlib and reading the font
    list again (about 0.5 s of CPU each).
    """
    import matplotlib.backends.backend_agg
    import matplotlib.backends.backend_pdf
    import matplotlib.figure  # noqa: F401

    find_cjk_font()  # the processes warn when there is none, where the caller sees it
