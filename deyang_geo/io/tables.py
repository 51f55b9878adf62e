"""Planners' tables read as they come: CSV or Excel, UTF-8, BOM or GBK, Chinese or English names."""

from __future__ import annotations

import codecs
import csv
import functools
import importlib.util
import io
import os
import re
import unicodedata
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from deyang_geo.core.errors import InputError, InputWarning, Problem
from deyang_geo.io.validate import (
    ProblemLog,
    is_missing,
    parse_texts,
)

if TYPE_CHECKING:
    pass



__all__ = [
    "COLUMN_ALIASES",
    "read_table",
]

#: File name endings read as tables with coordinate columns.
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")

#: File name endings read as geometry files.
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml")

# Column names accepted for each canonical column, in order of preference. Matching ignores
# case, spaces, underscores, full-width forms and anything in brackets (units: 人口(人)).
_COMMON: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "编码", "代码", "设施编号", "社区编号", "点位编号", "code", "fid",
           "序号", "no"),
    "name": ("name", "名称", "设施名称", "社区名称", "村社区名称", "村名", "社区", "名字",
             "title"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x", "东经", "x坐标", "横坐标",
            "point_x", "easting"),
    "lat": ("lat", "latitude", "纬度", "y", "北纬", "y坐标", "纵坐标", "point_y", "northing"),
    "coordinates": ("coordinates", "coordinate", "location", "lnglat", "lonlat", "坐标",
                    "经纬度", "经纬度坐标", "位置坐标"),
    "township": ("township", "subdistrict", "sub_district", "街道", "乡镇",
                 "街道乡镇", "乡镇街道", "镇街", "所属街道", "所属乡镇", "所属镇街"),
    "division": ("division", "county", "district", "区县", "县", "县市区", "区市县",
                 "所属区县", "行政区", "行政区划"),
    "synthetic": ("synthetic", "is_synthetic", "合成", "虚构", "模拟"),
    "floor_area_m2": ("floor_area_m2", "floor_area", "area_m2", "area", "建筑面积", "面积",
                      "使用面积", "用房面积", "服务用房面积"),
}

#: Column names accepted per table and canonical column (facilities, communities, candidates).
COLUMN_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "facilities": {
        **_COMMON,
        "category": ("category", "类别", "类型", "设施类别", "设施类型", "type", "设施种类",
                     "种类"),
        "site_area_m2": ("site_area_m2", "site_area", "占地面积", "用地面积"),
        "capacity_population": ("capacity_population", "capacity", "服务人口", "服务能力",
                                "容量"),
        "opening_hours_per_day": ("opening_hours_per_day", "opening_hours", "hours_per_day",
                                  "开放时长", "每日开放时长", "开放时间", "每天开放小时"),
        "barrier_free": ("barrier_free", "accessible", "无障碍", "无障碍设施"),
        # the community a facility belongs to (its id or name): the presence reading of 建有
        "community_id": ("community_id", "所属社区", "所属社区编号", "所在社区", "所属村社区",
                         "社区编号", "community"),
    },
    "communities": {
        **_COMMON,
        "kind": ("kind", "urban_rural", "类型", "类别", "社区类型", "城乡类型", "城乡",
                 "城乡属性", "type"),
        "population": ("population", "pop", "人口", "常住人口", "人口数", "总人口", "户籍人口",
                       "人数"),
        "households": ("households", "hh", "户数", "总户数", "住户数"),
        "social_workers": ("social_workers", "社工人数", "社会工作者", "社工"),
        "social_organisations": ("social_organisations", "social_organizations", "社会组织",
                                 "社会组织数"),
        "volunteers": ("volunteers", "志愿者", "志愿者人数", "参与志愿服务人数"),
        "registered_volunteers": ("registered_volunteers", "注册志愿者", "注册志愿者人数"),
        "party_members": ("party_members", "党员", "党员人数"),
        "party_member_volunteers": ("party_member_volunteers", "党员志愿者"),
        "social_work_professionals": ("social_work_professionals", "社会工作专业人才",
                                      "社工专业人才"),
        "assistant_social_workers": ("assistant_social_workers", "助理社会工作师",
                                     "初级以上社工"),
        "cobuilding_units": ("cobuilding_units", "共建单位", "签订共建协议单位"),
        "resident_units": ("resident_units", "驻区单位", "辖区单位"),
        "info_platform": ("info_platform", "信息平台", "公共服务信息平台"),
        "pilot_community": ("pilot_community", "试点社区", "农村社区建设试点"),
    },
    "candidates": {
        **_COMMON,
        "cost": ("cost", "cost_yuan", "费用", "造价", "成本", "投资", "改造费用", "建设费用"),
        "kind": ("kind", "type", "类型", "类别", "用地类型", "场地类型"),
    },
}

_BRACKETS = re.compile(r"[(\[【{（].*?[)\]】}）]")

_SEPARATORS = re.compile(r"[\s_\-/、·.:：]+")


@functools.lru_cache(maxsize=65536)
def fold_name(text: Any) -> str:
    """Normalise a column name or category for matching: NFKC, lower case, no units."""
    out = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "").strip().lower()
    stripped = _BRACKETS.sub("", out)
    return _SEPARATORS.sub("", stripped or out)


def fold_name_keep_brackets(text: Any) -> str:
    out = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "").strip().lower()
    return _SEPARATORS.sub("", re.sub(r"[()\[\]【】{}（）]", "", out))


_ALL_ALIASES = frozenset(
    fold_name(a) for table in COLUMN_ALIASES.values() for names in table.values() for a in names
)


# ---------------------------------------------------------------------------------------------
# Plain tables


@dataclass(frozen=True)
class RawTable:
    """Cells as read (texts, or numbers from Excel), with their 1-based data row numbers."""

    frame: pd.DataFrame
    rows: np.ndarray[Any, np.dtype[np.int64]]
    label: str


def _decode(data: bytes, label: str) -> str:
    """Decode CSV bytes in UTF-8 (with or without BOM), UTF-16 (with BOM) or GBK/GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    msg = ("cannot read the text: it is neither UTF-8 nor GBK/GB18030; save it again as "
           "'CSV UTF-8' from Excel")
    raise InputError(Problem(msg, file=label))


def _sniff_delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", "\t", ";", "|", "，")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _header_row(frame: pd.DataFrame) -> int:
    """Return the position of the header row.

    That is the first of the first ten rows naming at least two known columns (title rows
    above a header are common in planners' workbooks), else 0.
    """
    for i in range(min(10, len(frame))):
        cells = [fold_name(c) for c in frame.iloc[i].tolist() if not is_missing(c)]
        if sum(c in _ALL_ALIASES for c in cells) >= 2:
            return i
    return 0


def _with_header(grid: pd.DataFrame, label: str) -> RawTable:
    """Turn a header-less grid of cells into a table: header found, empty rows dropped."""
    if grid.empty or all(is_missing(v) for v in grid.to_numpy().ravel()):
        raise InputError(Problem("the file is empty", file=label))
    head = _header_row(grid)
    names: list[str] = []
    for j, cell in enumerate(grid.iloc[head].tolist()):
        name = "" if is_missing(cell) else str(cell).replace("\ufeff", "").strip()
        if isinstance(cell, float) and cell.is_integer():
            name = str(int(cell))
        names.append(name or f"column_{j + 1}")
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    body = grid.iloc[head + 1:].reset_index(drop=True)
    body.columns = pd.Index(unique)
    rows = np.arange(1, len(body) + 1, dtype=np.int64)
    blank = _blank_cells(body)
    keep = np.asarray(~blank.all(axis=1), dtype=bool)
    body = body.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    # drop columns with neither a header nor any value (trailing commas, Excel formatting)
    empty_cols = [c for j, c in enumerate(body.columns)
                  if c.startswith("column_") and blank[keep, j].all()]
    body = body.drop(columns=empty_cols)
    return RawTable(body, rows[keep], label)


def _blank_cells(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Return a boolean array, True where a cell is None, NaN or only spaces."""
    if frame.empty:
        return np.zeros(frame.shape, dtype=bool)
    out = np.zeros(frame.shape, dtype=bool)
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        if pd.api.types.infer_dtype(column, skipna=False) == "string":
            out[:, j] = column.str.strip().eq("").to_numpy(dtype=bool)
        else:
            values = column.to_numpy(dtype=object)
            texts = np.frompyfunc(lambda v: isinstance(v, str) and not v.strip(), 1, 1)(values)
            out[:, j] = pd.isna(values) | texts.astype(bool)
    return out


def _read_csv_grid(path: Path, label: str) -> pd.DataFrame:
    data = path.read_bytes()
    if not data.strip():
        raise InputError(Problem("the file is empty", file=label))
    text = _decode(data, label)
    delimiter = _sniff_delimiter(text)
    try:  # pandas' C parser is fast; it refuses rows longer than the first one
        return pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=str,
                           keep_default_na=False, na_filter=False, skip_blank_lines=False,
                           engine="c").astype(object)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        pass
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise InputError(Problem(f"cannot read as CSV: {exc}", file=label)) from None
    width = max((len(r) for r in records), default=0)
    grid = [[*r, *[None] * (width - len(r))] for r in records]
    return pd.DataFrame(grid, dtype=object)


def _pick_sheet(sheets: Mapping[str, pd.DataFrame], hints: Sequence[str]) -> str:
    non_empty = [name for name, grid in sheets.items()
                 if not grid.empty and not all(is_missing(v) for v in grid.to_numpy().ravel())]
    for name in non_empty:
        if any(h in name.lower() for h in hints):
            return name
    return non_empty[0] if non_empty else next(iter(sheets))


def _read_excel_grid(path: Path, sheet: str | int | None,
                     hints: Sequence[str]) -> tuple[pd.DataFrame, str]:
    engine: Literal["xlrd", "openpyxl"] = (
        "xlrd" if path.suffix.lower() == ".xls" else "openpyxl"
    )
    if engine == "xlrd" and importlib.util.find_spec("xlrd") is None:
        msg = ("old Excel files (.xls) need the package xlrd (pip install xlrd); or save "
               "the workbook as .xlsx")
        raise InputError(Problem(msg, file=str(path)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and data validation
            sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object,
                                   engine=engine)
    except Exception as exc:  # any reader failure is a bad file for the user
        msg = f"cannot read as an Excel workbook: {exc}"
        raise InputError(Problem(msg, file=str(path))) from None
    if not sheets:
        raise InputError(Problem("the workbook has no sheets", file=str(path)))
    if sheet is None:
        name = _pick_sheet(sheets, hints)
    elif isinstance(sheet, int):
        names = list(sheets)
        if not 0 <= sheet < len(names):
            msg = f"the workbook has {len(names)} sheets, sheet {sheet} does not exist"
            raise InputError(Problem(msg, file=str(path)))
        name = names[sheet]
    else:
        if sheet not in sheets:
            msg = f"no sheet named {sheet!r}; the sheets are {', '.join(map(repr, sheets))}"
            raise InputError(Problem(msg, file=str(path)))
        name = sheet
    if engine == "openpyxl":
        _check_formulas_saved(path, name, sheets[name])
    return sheets[name], name


def _check_formulas_saved(path: Path, sheet: str, grid: pd.DataFrame) -> None:
    """Refuse formula cells whose value was never saved (read as empty, they would be lost).

    Workbooks written by scripts (or saved by tools that do not calculate) keep formulas
    without their results; Excel and WPS store the results when they save.
    """
    if not grid.isna().to_numpy().any():
        return
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        problems = []
        for row in book[sheet].iter_rows():
            for cell in row:
                value = getattr(cell, "value", None)
                r, c = getattr(cell, "row", None), getattr(cell, "column", None)
                if not (isinstance(value, str) and value.startswith("=") and r and c):
                    continue
                if r > grid.shape[0] or c > grid.shape[1] or is_missing(grid.iloc[r - 1, c - 1]):
                    problems.append(Problem(
                        f"cell {cell.coordinate} holds a formula ({value[:40]}) whose value "
                        "was never saved; open the workbook in Excel or WPS and save it, or "
                        "paste the values", file=f"{path} [sheet {sheet}]"))
    finally:
        book.close()
    if problems:
        raise InputError(problems[:20])


def read_raw_table(path: str | os.PathLike[str], *, sheet: str | int | None = None,
                    hints: Sequence[str] = ()) -> RawTable:
    file = Path(path)
    if not file.is_file():
        msg = "file not found" if not file.exists() else "not a file"
        raise InputError(Problem(msg, file=str(file)))
    suffix = file.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        grid, name = _read_excel_grid(file, sheet, hints)
        return _with_header(grid, f"{file} [sheet {name}]")
    return _with_header(_read_csv_grid(file, str(file)), str(file))


_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def infer_column(values: pd.Series) -> pd.Series:
    """Return numbers when every non-empty cell is a plain number, else stripped texts."""
    texts = parse_texts(values)
    present = [t for t in texts if t is not None]
    if present and not any(_LEADING_ZERO.match(t) for t in present):
        try:
            numbers = [float(t) for t in present]
        except ValueError:
            pass
        else:
            if (all(float(n).is_integer() and abs(n) < 2.0 ** 63 for n in numbers)
                    and len(present) == len(texts)):  # larger integers stay floats
                return pd.Series([int(float(t)) for t in present], dtype="int64")
            return pd.Series([np.nan if t is None else float(t) for t in texts],
                             dtype="float64")
    return pd.Series(texts, dtype=object)


def read_table(path: str | os.PathLike[str], *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV or Excel table as planners keep them.

    The encoding of a CSV file (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK/GB18030) and its
    delimiter (comma, tab, semicolon) are detected. Title rows above the header are skipped
    when a later row names known columns. Fully empty rows and unnamed empty columns are
    dropped. A column becomes numeric when all its cells are plain numbers, except
    identifiers with leading zeros (``"007"``), which stay texts; empty cells are NaN/None.

    Parameters
    ----------
    path
        A ``.csv`` / ``.txt`` / ``.tsv`` file or an Excel workbook (``.xlsx``; ``.xls`` needs
        xlrd).
    sheet
        For a workbook: sheet name or 0-based position; by default the first non-empty sheet.

    Returns
    -------
    pandas.DataFrame
        The table with the file's own column names.

    Raises
    ------
    InputError
        If the file is missing, empty or cannot be decoded.
    """
    raw = read_raw_table(path, sheet=sheet)
    return pd.DataFrame({c: infer_column(raw.frame[c]) for c in raw.frame.columns},
                        index=pd.RangeIndex(len(raw.frame)))


# ---------------------------------------------------------------------------------------------
# Points and areas


def match_columns(columns: Sequence[str],
                   aliases: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    """Return canonical name -> the file's column holding it (first alias present wins)."""
    normed: dict[str, str] = {}
    for c in columns:
        normed.setdefault(fold_name(c), c)
    found: dict[str, str | None] = {}
    taken: set[str] = set()
    for name, names in aliases.items():
        found[name] = None
        for alias in (name, *names):
            column = normed.get(fold_name(alias))
            if column is not None and column not in taken:
                found[name] = column
                taken.add(column)
                break
    return found


_DUPLICATE_SUFFIX = re.compile(r"\.\d+$")


def check_ambiguous_columns(frame: pd.DataFrame, found: Mapping[str, str | None],
                             aliases: Mapping[str, Sequence[str]], *, log: ProblemLog,
                             label: str, skip: Collection[str] = ()) -> None:
    """Refuse two columns that both fit one field with different values; warn when identical.

    A second header of the same name (read as ``name.1``) counts as a second column.
    """
    columns = [str(c) for c in frame.columns]
    used = {c for c in found.values() if c is not None}
    for name, names in aliases.items():
        chosen = found.get(name)
        if chosen is None or name in skip:
            continue
        wanted = {fold_name(a) for a in (name, *names)}
        others = [c for c in columns if c != chosen and c not in used
                  and (fold_name(c) in wanted
                       or (_DUPLICATE_SUFFIX.search(c) is not None
                           and fold_name(_DUPLICATE_SUFFIX.sub("", c)) in wanted))]
        for other in others:
            same = parse_texts(frame[chosen]) == parse_texts(frame[other])
            if same:
                warnings.warn(f"{label}: columns {chosen!r} and {other!r} both look like "
                              f"{name} and hold the same values; using {chosen!r}",
                              InputWarning, stacklevel=4)
            else:
                log.add(f"columns {chosen!r} and {other!r} both look like {name} but hold "
                        f"different values; keep one of them (rename or delete the other)",
                        column=other, kind=f"ambiguous {name}")

