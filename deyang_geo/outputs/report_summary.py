"""The report's one-screen summary for a review meeting, and its parameters table.

The summary says in planners' words, before any table: how many communities and people are
outside the 15-minute reach of each category, which plan targets are met or missed and by how
much (communities, people, square metres, facilities short), and what the proposed sites add.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import pandas as pd

from deyang_geo.core.style import Lang, category_label, label

__all__ = [
    "BREAK_COLUMN",
    "canonical_column",
    "canonical_table",
    "coverage_suffix",
    "parameters_table",
    "summary_html",
]

_MISSING_TEXT = frozenset({"", "nan", "none", "null", "<na>", "nat"})


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip().lower() in _MISSING_TEXT


def parameters_table(parameters: Mapping[str, Any]) -> pd.DataFrame:
    """Return the parameters as a two-column table, leaving out unset values.

    ``None``, NaN and empty values (``walk_speed_kmh nan``, ``budget None``) are parameters
    that were not set: the report does not show them.

    Parameters
    ----------
    parameters
        Name -> value (any object; mappings of a resolved settings object work too).

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter`` and ``value`` (text).
    """
    rows = [(str(k), str(v)) for k, v in parameters.items() if not _missing(v)]
    return pd.DataFrame({"parameter": [k for k, _ in rows], "value": [v for _, v in rows]})


def _num(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _people(value: Any) -> str:
    number = _num(value)
    return f"{round(number):,}" if math.isfinite(number) else ""


def _coverage_lines(area: pd.DataFrame, t: Callable[[str, str], str], lang: Lang,
                    catalog: Any) -> list[str]:
    """One line per category: communities and people outside the threshold's reach."""
    table = canonical_table(area)
    suffix = coverage_suffix(table)
    if suffix is None or "category" not in table.columns:
        return []
    if "kind" in table.columns:
        table = table.loc[table["kind"].astype(str) == "all"]
    minutes = suffix.strip("_").removesuffix("min")
    lines = []
    rows = []
    for row in table.to_dict("records"):
        population = _num(row.get("population"))
        covered = _num(row.get(f"covered_population{suffix}"))
        outside_people = population - covered if math.isfinite(population) else math.nan
        outside_communities = _num(row.get(f"outside_communities{suffix}"))
        communities = _num(row.get("communities"))
        rows.append((outside_people, str(row["category"]), outside_communities, communities,
                     population))
    rows.sort(key=lambda r: -(r[0] if math.isfinite(r[0]) else -1.0))
    thresholds = ({str(c): _num(v) for c, v in zip(table["category"], table["threshold_minutes"],
                                                    strict=True)}
                  if "threshold_minutes" in table.columns else {})
    for outside_people, category, outside_communities, communities, population in rows:
        name = html.escape(category_label(category, lang=lang, catalog=catalog))
        if not minutes and math.isfinite(thresholds.get(category, math.nan)):
            # each category at its own threshold: say which, since the header cannot
            name += html.escape(f" ({thresholds[category]:g} {t('分钟', 'min')})")
        share = (100 * outside_people / population if population and math.isfinite(population)
                 else math.nan)
        share_text = f" ({share:.0f}%)" if math.isfinite(share) else ""
        comm = (f"{round(outside_communities):,} / {round(communities):,}"
                if math.isfinite(outside_communities) and math.isfinite(communities) else "")
        lines.append(
            f"<tr><td>{name}</td><td class='num'>{html.escape(comm)}</td>"
            f"<td class='num'>{html.escape(_people(outside_people))}{share_text}</td></tr>")
    if not lines:
        return []
    if minutes:
        comm_head = t(f"{minutes}分钟范围外社区", f"communities outside {minutes} min")
        people_head = t(f"{minutes}分钟范围外人口", f"people outside {minutes} min")
    else:  # each category at its own threshold (shown after its name)
        comm_head = t("服务范围外社区", "communities outside reach")
        people_head = t("服务范围外人口", "people outside reach")
    head = (f"<tr><th>{html.escape(t('设施类别', 'Category'))}</th>"
            f"<th>{html.escape(comm_head)}</th><th>{html.escape(people_head)}</th></tr>")
    body = "".join(lines)
    return [f"<table class='summary'><thead>{head}</thead><tbody>{body}</tbody></table>"]


def _gap_words(row: Mapping[str, Any], t: Callable[[str, str], str]) -> str:
    parts = []
    for column, zh, en in (("communities_short", "个社区未达标", "communities short"),
                           ("people_short", "人未覆盖", "people not covered"),
                           ("m2_missing", "平方米面积缺口", "m² of floor area missing"),
                           ("facilities_short", "处设施面积不足", "facilities too small"),
                           ("amount_short", "缺口数量", "short")):
        value = _num(row.get(column))
        if math.isfinite(value) and value > 0:
            parts.append(f"{round(value):,} " + t(zh, en))
    return "; ".join(parts)


_SCOPE_WORDS = {"urban": ("城镇社区", "urban"), "rural": ("农村社区", "rural")}
_READING_WORDS = {"travel_time": ("按出行时间", "by travel time"),
                  "presence": ("按社区内建有", "by presence in the community")}


def _target_scope(row: Mapping[Any, Any], t: Callable[[str, str], str]) -> str:
    """`` (urban, by travel time)``: which line of a target this is, when a target has several."""
    words = [t(*_SCOPE_WORDS[str(row.get("scope"))])] if str(row.get("scope")) in _SCOPE_WORDS \
        else []
    if str(row.get("reading")) in _READING_WORDS:
        words.append(t(*_READING_WORDS[str(row.get("reading"))]))
    return f" ({', '.join(words)})" if words else ""


def _target_lines(targets: pd.DataFrame, t: Callable[[str, str], str], lang: Lang) -> list[str]:

    table = canonical_table(targets)
    if "met" not in table.columns or "target_id" not in table.columns:
        return []
    met_values = table["met"].map(_met)
    assessed = met_values.notna()
    n_met = int((met_values[assessed] == True).sum())  # noqa: E712 - object column of bools
    n_missed = int(assessed.sum()) - n_met
    items = []
    for row, met in zip(table.loc[assessed].to_dict("records"), met_values[assessed],
                        strict=True):
        if met:
            continue
        zh = row.get("description_zh", row.get("description", ""))
        en = row.get("description_en", zh)
        text = label(str(zh or ""), str(en or ""), lang) if not _missing(zh) else ""
        gap = _gap_words({str(k): v for k, v in row.items()}, t)
        which = _target_scope(row, t)
        items.append(f"<li><b>{html.escape(str(row['target_id']))}</b>"
                     f"{html.escape(which)} {html.escape(text)}"
                     + (f" — {html.escape(gap)}" if gap else "") + "</li>")
    head = html.escape(t(f"规划指标: {n_met} 项达标, {n_missed} 项未达标",
                         f"Plan targets: {n_met} met, {n_missed} missed"))
    out = [f"<p><b>{head}</b></p>"]
    if items:
        out.append(f"<ul class='summary'>{''.join(items)}</ul>")
    return out


def _met(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if _missing(value):
        return None
    text = str(value).strip().lower()
    if text in ("true", "1", "是 yes", "是", "yes", "met", "达标"):
        return True
    if text in ("false", "0", "否 no", "否", "no", "missed"):
        return False
    try:
        return bool(float(text))
    except ValueError:
        return None


def _site_lines(summary: pd.DataFrame, t: Callable[[str, str], str], lang: Lang,
                catalog: Any) -> list[str]:
    items = []
    for row in summary.to_dict("records"):
        before = _num(row.get("covered_population_before"))
        after = _num(row.get("covered_population_after"))
        n = _num(row.get("new_sites", row.get("n_sites")))
        if not (math.isfinite(before) and math.isfinite(after)):
            continue
        category = str(row.get("category", ""))
        name = category_label(category, lang=lang, catalog=catalog) if category else ""
        sites = f"{round(n)} " if math.isfinite(n) else ""
        # the category's name once, then the numbers with short bilingual labels
        text = (f"{name}: {t('新增选址', 'new sites')} {sites.strip()}, "
                f"{t('覆盖人口', 'people covered')} {_people(before)} → {_people(after)} "
                f"(+{_people(after - before)})")
        items.append(f"<li>{html.escape(text)}</li>")
    if not items:
        return []
    head = html.escape(t("建议选址的作用", "What the proposed sites add"))
    return [f"<p><b>{head}</b></p><ul class='summary'>{''.join(items)}</ul>"]


def summary_html(*, coverage_tables: Mapping[str, pd.DataFrame],
                 compliance_tables: Mapping[str, pd.DataFrame],
                 site_summary: pd.DataFrame | None, lang: Lang, catalog: Any = None) -> str:
    """Return the report's summary section body (HTML, every data text escaped).

    Parameters
    ----------
    coverage_tables
        The report's coverage tables (``coverage_study_area`` is read).
    compliance_tables
        The report's compliance tables (``compliance_targets`` is read: city-wide rows).
    site_summary
        One row per category with suggested sites (``covered_population_before/after``).
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    catalog
        A standards catalog for category names.

    Returns
    -------
    str
        The summary, or ``""`` when there is nothing to summarise.
    """

    def t(zh: str, en: str) -> str:
        return label(zh, en, lang)

    parts: list[str] = []
    area = coverage_tables.get("coverage_study_area")
    if area is not None and len(area):
        parts.extend(_coverage_lines(area, t, lang, catalog))
    targets = compliance_tables.get("compliance_targets")
    if targets is None and compliance_tables:
        targets = next(iter(compliance_tables.values()))
    if targets is not None and len(targets):
        parts.extend(_target_lines(targets, t, lang))
    if site_summary is not None and len(site_summary):
        parts.extend(_site_lines(site_summary, t, lang, catalog))
    return "".join(parts)

#: A per-break column name: ``covered_share_15min`` -> quantity ``covered_share``, minutes ``15``.
BREAK_COLUMN = re.compile(r"^(?P<q>[a-z_]+?)_(?P<m>[0-9.]+)min$")


def canonical_column(column: Any) -> str:
    """Return the English key of a column, also of a bilingual header (``"现状值 value"``).

    Parameters
    ----------
    column
        A column name.

    Returns
    -------
    str
        ``"value"`` for ``"现状值 value"``; other names unchanged.
    """
    text = str(column)
    match = re.search(r"\s([A-Za-z_][A-Za-z0-9_.]*)$", text)
    return match.group(1) if match and re.search(r"[^\x00-\x7f]", text) else text


def canonical_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with English column keys (bilingual headers mapped back), no geometry."""
    out = pd.DataFrame(table).copy()
    if isinstance(table, gpd.GeoDataFrame):
        out = out.drop(columns=[table.geometry.name])
    out.columns = [canonical_column(c) for c in out.columns]
    return out


def coverage_suffix(table: pd.DataFrame) -> str | None:
    """Return the suffix of the coverage columns to show.

    ``""`` when the table has the columns at each category's own threshold
    (``covered_share``...), else ``_<m>min``: 15 if present, else the largest break.
    """
    if "covered_share" in table.columns:
        return ""
    found = {}
    for column in table.columns:
        match = BREAK_COLUMN.match(str(column))
        if match and match["q"] == "covered_share":
            found[float(match["m"])] = f"_{match['m']}min"
    if not found:
        return None
    return found.get(15.0, found[max(found)])
