"""Chinese-first tables: headers, class and kind values in Chinese, whole people, percentages.

A Chinese planner opens ``coverage.csv`` in Excel and should not have to clean it first. With
``lang="zh"`` every header is Chinese (``覆盖人口比例(15分钟)(%)``); with ``lang="both"`` (the
default of the command line) it is bilingual, Chinese first, the English column key last
(``覆盖人口比例(15分钟)(%) covered_share_15min``), so code can still read it. Class and kind
values are Chinese (覆盖/部分覆盖/未覆盖, 社区/村), categories carry their Chinese names, people
are whole, minutes have one decimal, shares are percentages, booleans 是/否. ``lang="en"``
leaves a table as it is.

:func:`read_table` reads any of these forms back into the English snake_case columns and the
keys the toolkit computes with (``covered_share`` as a 0-1 fraction, ``class`` ``covered``...),
so ``report`` and ``compare`` can read result folders whatever their language.
"""

from __future__ import annotations

import datetime
import functools
import io
import math
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from deyang_geo.core.style import CATEGORY_STYLES
from deyang_geo.io.files import atomic_path, excel_safe, write_csv_atomic

__all__ = ["BASE_HEADERS", "CLASS_VALUES", "KIND_VALUES", "column_header", "format_sheet",
           "localize", "read_table", "relative_path", "write_csv", "write_sheets",
           "write_workbook"]

#: Chinese names of the English column keys (without a time-break suffix).
BASE_HEADERS: dict[str, str] = {
    "demand_id": "需求点编号", "unit_id": "需求点编号", "category": "设施类别",
    "minutes": "出行时间(分钟)", "facility_id": "最近设施编号", "mode": "出行方式",
    "threshold_minutes": "时间阈值(分钟)", "unreachable_reason": "不可达原因",
    "community_id": "社区编号", "id": "编号", "name": "名称", "kind": "类型",
    "population": "人口", "households": "户数", "township": "街道/乡镇", "division": "区县",
    "class": "覆盖等级", "communities": "社区数", "units": "需求点数",
    "covered_population": "覆盖人口", "covered_share": "覆盖人口比例",
    "covered_communities": "覆盖社区数", "partly_covered_communities": "部分覆盖社区数",
    "outside_communities": "未覆盖社区数", "covered_communities_share": "覆盖社区比例",
    "uncovered_population": "未覆盖人口", "mean_minutes": "平均出行时间(分钟)",
    "median_minutes": "出行时间中位数(分钟)", "max_minutes": "最长出行时间(分钟)",
    "site_id": "选址编号", "site_name": "选址名称", "rank": "排序",
    "added_population": "新增覆盖人口", "assigned_population": "服务人口",
    "street": "最近道路", "street_distance_m": "距道路(米)", "community": "所在社区",
    "longitude": "经度(WGS-84)", "latitude": "纬度(WGS-84)",
    "longitude_gcj02": "经度(GCJ-02 高德)", "latitude_gcj02": "纬度(GCJ-02 高德)",
    "lon": "经度", "lat": "纬度",
    "candidate_index": "候选点序号", "newly_covered_communities": "新覆盖社区编号",
    "newly_covered_names": "新覆盖社区",
    "alternative_rank": "备选序号", "alternative_id": "备选编号", "alternative_name": "备选名称",
    "objective_if_swapped": "替换后目标值", "objective_change": "目标值变化",
    "compared_with_chosen": "与所选址比较", "parameter": "参数", "value": "值",
    "covered_population_before": "选址前覆盖人口", "covered_population_after": "选址后覆盖人口",
    "synthetic": "合成数据",
}
#: Coverage classes in Chinese.
CLASS_VALUES: dict[str, str] = {"covered": "覆盖", "partly": "部分覆盖", "outside": "未覆盖"}
#: Community kinds in Chinese.
KIND_VALUES: dict[str, str] = {"urban": "社区", "rural": "村", "all": "全部"}
_BOOL_VALUES = {True: "是", False: "否"}

_PEOPLE = frozenset({"population", "covered_population", "uncovered_population",
                     "added_population", "assigned_population", "households",
                     "covered_population_before", "covered_population_after", "people_short"})
_BREAK = re.compile(r"^(?P<base>.+?)_(?P<m>\d+(?:\.\d+)?)min$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_ID_COLUMNS = ("id", "community_id", "site_id", "demand_id", "unit_id", "facility_id",
               "alternative_id", "code")
_ZH_HEADER = re.compile(r"^(?P<base>.+?)(?:\((?P<m>\d+(?:\.\d+)?)分钟\))?(?P<pct>\(%\))?$")


def _split(key: str) -> tuple[str, str | None]:
    match = _BREAK.match(key)
    if match and match["base"] in BASE_HEADERS:
        return match["base"], match["m"]
    return key, None


def _is_share(base: str) -> bool:
    return base.endswith("share") or "_share" in base


def column_header(key: str, *, lang: str) -> str:
    """Return the header of an English column key in the chosen language.

    Parameters
    ----------
    key
        A column key such as ``covered_share_15min``.
    lang
        ``"zh"`` (Chinese only), ``"both"`` (Chinese then the key) or ``"en"`` (the key).

    Returns
    -------
    str
        E.g. ``"覆盖人口比例(15分钟)(%) covered_share_15min"`` for ``both``; unknown keys are
        kept as they are.
    """
    if lang == "en":
        return key
    base, minutes = _split(key)
    zh = BASE_HEADERS.get(base)
    if zh is None:
        return key
    text = zh + (f"({minutes}分钟)" if minutes else "") + ("(%)" if _is_share(base) else "")
    return text if lang == "zh" else f"{text} {key}"


def _category_names() -> dict[str, str]:
    return {k: s.name_zh for k, s in CATEGORY_STYLES.items()}


def _round_people(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.round(0).astype("Int64")


def localize(table: pd.DataFrame, *, lang: str) -> pd.DataFrame:
    """Return a copy of ``table`` ready for a Chinese planner (``lang="en"``: unchanged).

    Parameters
    ----------
    table
        A result table with English column keys (a geometry column is dropped).
    lang
        ``"zh"``, ``"both"`` or ``"en"``.

    Returns
    -------
    pandas.DataFrame
        Chinese (or bilingual) headers, Chinese class/kind/category values and 是/否, people
        whole, minutes to 1 decimal, shares as percentages to 1 decimal, other numbers to 2.
    """
    frame = pd.DataFrame(table).copy()
    if "geometry" in frame.columns:
        frame = frame.drop(columns="geometry")
    if lang == "en":
        return frame
    categories = _category_names()
    for column in list(frame.columns):
        key = str(column)
        base, _ = _split(key)
        values = frame[column]
        if base == "class":
            frame[column] = values.map(lambda v: CLASS_VALUES.get(str(v), v))
        elif key == "kind":
            frame[column] = values.map(lambda v: KIND_VALUES.get(str(v), v))
        elif key == "category":
            frame[column] = values.map(lambda v: categories.get(str(v), v))
        elif pd.api.types.is_bool_dtype(values):
            frame[column] = values.map(_BOOL_VALUES)
        elif pd.api.types.is_numeric_dtype(values):
            if base in _PEOPLE:
                frame[column] = _round_people(values)
            elif _is_share(base):
                frame[column] = (values.astype(float) * 100).round(1)
            elif "minutes" in base:
                frame[column] = values.astype(float).round(1)
            elif key in ("longitude", "latitude", "longitude_gcj02", "latitude_gcj02", "lon",
                         "lat"):
                frame[column] = values.astype(float).round(6)
            elif pd.api.types.is_float_dtype(values):
                frame[column] = values.astype(float).round(2)
    frame.columns = [column_header(str(c), lang=lang) for c in frame.columns]
    return frame


def _reverse_header(header: str) -> tuple[str, bool]:
    """Return ``(english key, was a percentage)`` of a localized header."""
    text = str(header).strip()
    last = text.rsplit(" ", 1)[-1]
    if " " in text and _KEY.match(last):
        base, _ = _split(last)
        return last, _is_share(base) and "(%)" in text
    if _KEY.match(text):
        return text, False
    match = _ZH_HEADER.match(text)
    if match:
        by_zh = {v: k for k, v in BASE_HEADERS.items() if k != "unit_id"}
        found = by_zh.get(match["base"])
        if found is not None:
            key = f"{found}_{match['m']}min" if match["m"] else found
            return key, bool(match["pct"])
    return text, False


def read_table(source: str | os.PathLike[str] | pd.DataFrame, *,
               text_columns: tuple[str, ...] = _ID_COLUMNS) -> pd.DataFrame:
    """Read a table written in any language back into English keys and computing values.

    Parameters
    ----------
    source
        A CSV file (UTF-8 with or without BOM) or a frame already read.
    text_columns
        English keys of columns kept as text (ids such as ``"007"`` keep their zeros).

    Returns
    -------
    pandas.DataFrame
        English snake_case columns; ``class``/``kind``/``category`` as keys; shares as 0-1
        fractions; 是/否 as booleans; numbers as numbers.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        frame = pd.read_csv(Path(source), encoding="utf-8-sig", dtype=str,
                            keep_default_na=False, na_values=[""])
        for column in frame.columns:
            if _reverse_header(str(column))[0] not in text_columns:
                frame[column] = _to_number(frame[column])
    renamed: dict[Any, str] = {}
    percent: list[str] = []
    for column in frame.columns:
        key, pct = _reverse_header(str(column))
        renamed[column] = key
        if pct:
            percent.append(key)
    frame = frame.rename(columns=renamed)
    for key in percent:
        frame[key] = pd.to_numeric(frame[key], errors="coerce") / 100.0
    reverse_class = {v: k for k, v in CLASS_VALUES.items()}
    reverse_kind = {v: k for k, v in KIND_VALUES.items()}
    reverse_cat = {v: k for k, v in _category_names().items()}
    for column in frame.columns:
        if _split(str(column))[0] == "class":
            frame[column] = frame[column].map(lambda v: reverse_class.get(v, v))
    if "kind" in frame.columns:
        frame["kind"] = frame["kind"].map(lambda v: reverse_kind.get(v, v))
    if "category" in frame.columns:
        frame["category"] = frame["category"].map(lambda v: reverse_cat.get(v, v))
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and values.dropna().isin(["是", "否"]).all() \
                and values.notna().any():
            frame[column] = values.map({"是": True, "否": False})
    return frame


def _to_number(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    if values.notna().sum() and numbers.notna().sum() == values.notna().sum():
        if (numbers.dropna() % 1 == 0).all() and not values.dropna().str.contains(
                r"[.eE]", regex=True).any():
            return numbers.astype("Int64")
        return numbers.astype(float)
    return values


def write_csv(table: pd.DataFrame, path: str | os.PathLike[str], *, lang: str) -> Path:
    """Write ``table`` localized (:func:`localize`) as CSV for Excel (UTF-8 with BOM), atomically.

    Parameters
    ----------
    table
        The table with English keys.
    path
        The ``.csv`` file.
    lang
        ``"zh"``, ``"both"`` or ``"en"``.

    Returns
    -------
    Path
        The written file.
    """
    # the one formula-safe CSV writer of the toolkit (text that Excel would run is neutralised)
    # localized a block of rows at a time (localize treats each row on its own)
    return write_csv_atomic(table, path, prepare=functools.partial(localize, lang=lang),
                            na_rep="", lineterminator="\n")


#: Characters two columns wide in Excel (CJK and everything above U+2E80).
_WIDE = re.compile("[\u2e81-\U0010ffff]")


def _display_width(value: Any) -> int:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    # CJK characters take two columns in Excel
    return len(text) if text.isascii() else len(text) + len(_WIDE.findall(text))


def format_sheet(sheet: Any, table: pd.DataFrame, *, max_width: int = 60) -> None:
    """Give an openpyxl sheet column widths, a frozen header row and filters.

    Parameters
    ----------
    sheet
        An openpyxl worksheet holding ``table`` from cell A1 (header in row 1).
    table
        The table written there (for the widths).
    max_width
        Widest column, in characters.
    """
    from openpyxl.utils import get_column_letter

    if table.shape[1] == 0:
        return
    for i, column in enumerate(table.columns, start=1):
        sample = table[column].head(200).tolist()
        width = max([_display_width(column), *(_display_width(v) for v in sample)])
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), max_width)
    sheet.freeze_panes = "A2"
    last = get_column_letter(table.shape[1])
    sheet.auto_filter.ref = f"A1:{last}{max(len(table) + 1, 2)}"


def write_workbook(path: str | os.PathLike[str], sheets: Mapping[str, pd.DataFrame]) -> Path:
    """Write tables (already localized) into one workbook, each sheet formatted, atomically.

    Parameters
    ----------
    path
        The ``.xlsx`` file.
    sheets
        Sheet name (at most 31 characters are kept) -> table.

    Returns
    -------
    Path
        The written file.
    """
    target = Path(path)
    with atomic_path(target) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        for name, raw in sheets.items():
            table = excel_safe(raw)
            table.to_excel(writer, sheet_name=name[:31], index=False)
            format_sheet(writer.sheets[name[:31]], table)
    return target


#: Strings openpyxl writes as error values, not text.
_XLSX_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!",
                               "#N/A"))
#: Characters openpyxl refuses in a cell.
_XLSX_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
#: The longest text an Excel cell holds.
_XLSX_MAX_TEXT = 32767


class _NotPlainError(ValueError):
    """A value that only openpyxl itself writes right (a date, a formula, an error code...)."""


def _xlsx_text(ref: str, text: str) -> str:
    """Return the ``<c>`` element openpyxl writes for a text cell."""
    if not text:
        return f'<c r="{ref}" t="inlineStr" />'
    if (len(text) > _XLSX_MAX_TEXT or (len(text) > 1 and text[0] == "=")
            or text in _XLSX_ERROR_CODES or _XLSX_ILLEGAL.search(text)):
        raise _NotPlainError(text)
    stripped = text.strip()
    space = ' xml:space="preserve"' if stripped and stripped != text else ""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _xlsx_cell(ref: str, value: Any) -> str:
    """Return the ``<c>`` element openpyxl writes for a plain Python value (never None)."""
    kind = type(value)
    if kind is str:
        return _xlsx_text(ref, value)
    if kind is bool:
        return f'<c r="{ref}" t="b"><v>{1 if value else 0}</v></c>'
    if kind is int or kind is float:
        try:
            if math.isfinite(value):  # openpyxl: "%.16g"
                return f'<c r="{ref}" t="n"><v>{value:.16g}</v></c>'
        except OverflowError:  # an int beyond floats
            pass
    raise _NotPlainError(value)


def _as_pandas_writes(value: Any) -> Any:
    """Return what ``DataFrame.to_excel`` gives openpyxl (missing ``""``, infinite ``"inf"``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return number
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, np.datetime64,
                          np.timedelta64)):
        raise _NotPlainError(value)
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    return str(value)


def _xlsx_rows(table: pd.DataFrame, *, like: str) -> tuple[str, int]:
    """Return a sheet's ``<sheetData>`` content and its number of rows, header included."""
    from openpyxl.utils import get_column_letter

    if table.shape[1] == 0 or any(not isinstance(c, str) for c in table.columns):
        raise _NotPlainError(table.columns)
    header = [str(c) for c in table.columns]
    letters = [get_column_letter(j + 1) for j in range(len(header))]
    if like == "pandas":
        columns = [[_as_pandas_writes(v) for v in table.iloc[:, j].tolist()]
                   for j in range(table.shape[1])]
    else:  # as the write-only workbook gets them: missing values None, no cell
        plain = table.astype(object).where(table.notna(), None)
        columns = [plain.iloc[:, j].tolist() for j in range(table.shape[1])]
    rows = ['<row r="1">' + "".join(_xlsx_cell(f"{letter}1", name)
                                    for letter, name in zip(letters, header, strict=True))
            + "</row>"]
    for i, values in enumerate(zip(*columns, strict=True), start=2):
        cells = "".join(_xlsx_cell(f"{letter}{i}", v)
                        for letter, v in zip(letters, values, strict=True) if v is not None)
        rows.append(f'<row r="{i}">{cells}</row>')
    return "".join(rows), len(rows)


def write_sheets(path: str | os.PathLike[str], sheets: Sequence[tuple[str, pd.DataFrame]], *,
                 like: Literal["pandas", "write_only"]) -> Path:
    """Write formatted sheets into a workbook, fast, exactly as openpyxl would write them.

    openpyxl builds one object per cell and serialises each through an XML tree; here the
    sheets (names, column widths, frozen header, filters: :func:`format_sheet`) still come
    from openpyxl, empty, and their rows are written as text, the same bytes openpyxl writes.
    A table holding a value openpyxl treats specially (a date, a formula, an error code, an
    infinite number in ``write_only`` form, an illegal character, an over-long text) is
    written by openpyxl itself, so files and errors stay exactly openpyxl's.

    Parameters
    ----------
    path
        The ``.xlsx`` file, written as it is (callers write atomically).
    sheets
        Sheet name -> table, already safe for Excel (:func:`~deyang_geo.io.files.excel_safe`,
        string column names); at most 31 characters of each name are kept.
    like
        ``"pandas"``: as ``DataFrame.to_excel(writer, index=False)`` with pandas' openpyxl
        writer (missing values as empty cells, infinities as text); ``"write_only"``: as
        openpyxl's write-only workbook with a header row of the column names and a row per
        record (missing values, which must be None, leave no cell).

    Returns
    -------
    Path
        The written file.
    """
    from openpyxl import Workbook

    target = Path(path)
    named = [(name[:31], table) for name, table in sheets]
    try:
        bodies = [_xlsx_rows(table, like=like) for _, table in named]
    except _NotPlainError:
        return _write_sheets_openpyxl(target, named, like=like)
    book = Workbook(write_only=like == "write_only")
    if like == "pandas":
        book.remove(book.worksheets[0])  # as pandas' writer does
    for name, table in named:
        format_sheet(book.create_sheet(title=name), table)
    skeleton = io.BytesIO()
    book.save(skeleton)
    rows_xml = {f"xl/worksheets/sheet{k}.xml": (body, table.shape[1])
                for k, (body, (_, table)) in enumerate(zip(bodies, named, strict=True), start=1)}
    with zipfile.ZipFile(skeleton) as src, \
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename in rows_xml:
                (body, n_rows), n_columns = rows_xml[info.filename]
                data = _filled_sheet(data.decode("utf-8"), body, n_rows=n_rows,
                                     n_columns=n_columns, like=like).encode("utf-8")
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type = info.compress_type
            copy.external_attr = info.external_attr
            copy.create_system = info.create_system
            out.writestr(copy, data)
    return target


def _filled_sheet(xml: str, body: str, *, n_rows: int, n_columns: int, like: str) -> str:
    """Put the rows (and, pandas' way, the used range) into an empty sheet's XML."""
    from openpyxl.utils import get_column_letter

    empty = "<sheetData></sheetData>"
    if xml.count(empty) != 1:
        msg = "openpyxl wrote an empty sheet in a form this writer does not know"
        raise RuntimeError(msg)
    if like == "pandas":
        blank = '<dimension ref="A1:A1" />'
        if xml.count(blank) != 1:
            msg = "openpyxl wrote an empty sheet's range in a form this writer does not know"
            raise RuntimeError(msg)
        xml = xml.replace(blank, f'<dimension ref="A1:{get_column_letter(n_columns)}{n_rows}" />')
    return xml.replace(empty, f"<sheetData>{body}</sheetData>")


def _write_sheets_openpyxl(target: Path, sheets: list[tuple[str, pd.DataFrame]], *,
                           like: str) -> Path:
    """Write the sheets of :func:`write_sheets` with openpyxl itself (any value it takes)."""
    from openpyxl import Workbook

    if like == "pandas":
        with pd.ExcelWriter(target, engine="openpyxl") as writer:
            for name, table in sheets:
                table.to_excel(writer, sheet_name=name, index=False)
                format_sheet(writer.sheets[name], table)
        return target
    book = Workbook(write_only=True)
    for name, table in sheets:
        sheet = book.create_sheet(title=name)
        format_sheet(sheet, table)  # widths, frozen header, filters (set before the rows)
        sheet.append([str(c) for c in table.columns])
        values = table.astype(object).where(table.notna(), None).to_numpy()
        for row in values.tolist():
            sheet.append(row)
    book.save(target)
    return target


def relative_path(value: Any, base: str | os.PathLike[str] | None) -> Any:
    """Return an absolute path as relative to ``base`` (or its file name); other values as is.

    Parameters
    ----------
    value
        Any value; strings and paths that are absolute are made relative.
    base
        The folder paths are relative to (the study file's folder); ``None``: the file name.

    Returns
    -------
    Any
        The value with no local absolute path in it.
    """
    if not isinstance(value, (str, os.PathLike)):
        return value
    text = os.fspath(value)
    if not Path(text).is_absolute():
        return value
    if base is not None:
        try:
            return Path(os.path.relpath(text, os.fspath(base))).as_posix()
        except ValueError:  # another drive on Windows
            pass
    return Path(text).name

