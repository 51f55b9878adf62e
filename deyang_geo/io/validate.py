"""Collect-then-report checks on planners' tables, each problem naming file, row and column."""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from deyang_geo.core.checks import speed_problem
from deyang_geo.core.errors import InputError, InputWarning, Problem

__all__ = [
    "ProblemLog",
    "check_geometries",
    "check_required_columns",
    "check_speed_kmh",
    "check_unique",
    "is_blank",
    "is_missing",
    "parse_bools",
    "parse_numbers",
    "parse_texts",
    "warn_unreachable_categories",
]

#: How many rows with the same problem in the same column are listed one by one before they
#: are reported as one problem naming the rows.
MAX_ROWS_LISTED = 10

_TRUE = frozenset({"true", "t", "yes", "y", "1", "是", "有", "对", "√", "✓", "✔"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "否", "无", "没有", "不是", "×", "✗", "✘", ""})
_MISSING_TEXTS = frozenset(
    {"", "nan", "none", "null", "na", "n/a", "#n/a", "-", "--", "—", "无数据"}
)
# Unit words planners type after numbers: 1200人, 350㎡, 350 m2, 300平方米, 12 万元 (the 万 is a
# multiplier and handled separately).
_UNIT_SUFFIX = re.compile(
    r"(人|户|口|个|名|家|处|小时|h|hours?|㎡|m2|m²|平方米|平米|元|yuan|rmb|分钟|min|minutes?)$",
    re.IGNORECASE,
)
_WAN = "万"


class ProblemLog:
    """Problems found in one file, collected so that they are all reported together.

    Parameters
    ----------
    file
        How to name the file in messages (for Excel, the sheet is included).
    """

    def __init__(self, file: str | None) -> None:
        self.file = file
        self._items: list[tuple[str, int | None, str | None, str]] = []

    def add(self, message: str, *, row: int | None = None, column: str | None = None,
            kind: str | None = None) -> None:
        """Record one problem.

        Parameters
        ----------
        message
            What is wrong, in a planner's words.
        row
            The 1-based data row (header excluded).
        column
            The column as it is named in the file.
        kind
            A short tag grouping problems of the same sort in the same column (for example
            ``"missing"``), so that a file with thousands of them gives a readable message.
        """
        self._items.append((message, row, column, kind or message))

    def __len__(self) -> int:
        """Return the number of problems recorded."""
        return len(self._items)

    def __bool__(self) -> bool:
        """Return True when at least one problem was recorded."""
        return bool(self._items)

    def problems(self) -> list[Problem]:
        """Return the problems, those of one kind in one column beyond a few merged into one.

        Returns
        -------
        list of Problem
            Whole-file problems first, then by row; within a row in the order found.
        """
        groups: dict[tuple[str | None, str], list[int]] = {}
        for i, (_, row, column, kind) in enumerate(self._items):
            if row is not None:
                groups.setdefault((column, kind), []).append(i)
        merged: dict[int, Problem] = {}
        skipped: set[int] = set()
        for (column, kind), idx in groups.items():
            if len(idx) <= MAX_ROWS_LISTED:
                continue
            rows = [self._items[i][1] for i in idx]
            shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
            message = (f"{kind} in {len(rows)} rows ({shown}, ...); first: "
                       f"row {rows[0]}: {self._items[idx[0]][0]}")
            merged[idx[0]] = Problem(message, file=self.file, row=None, column=column)
            skipped.update(idx[1:])
        out = []
        for i, (message, row, column, _) in enumerate(self._items):
            if i in skipped:
                continue
            out.append(merged.get(i) or Problem(message, file=self.file, row=row, column=column))
        # whole-file problems first, then row by row (a stable sort keeps the column order)
        return sorted(out, key=lambda p: -1 if p.row is None else p.row)

    def raise_if_any(self, error: type[InputError] = InputError) -> None:
        """Raise one ``error`` listing every problem recorded, if there is any.

        Parameters
        ----------
        error
            The exception class, :class:`InputError` or a subclass.

        Raises
        ------
        InputError
            When at least one problem was recorded.
        """
        if self._items:
            raise error(self.problems())


def is_missing(value: Any) -> bool:
    """Tell whether a cell is empty (None, NaN, NA or a text such as ``""``, ``"NA"``, ``"-"``).

    Parameters
    ----------
    value
        A cell value.

    Returns
    -------
    bool
        True for an empty cell.
    """
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_TEXTS
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def is_blank(value: Any) -> bool:
    """Tell whether a cell is empty (None, NaN, NA or only spaces); ``"NA"`` is not blank.

    Parameters
    ----------
    value
        A cell value.

    Returns
    -------
    bool
        True for an empty cell.
    """
    if isinstance(value, str):
        return not value.strip()
    return is_missing(value)


def _number(value: Any) -> float:
    """Return ``value`` as a float; raise ValueError when it is not a number."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = text.replace(",", "").replace(" ", "").replace("\u00a0", "").replace("，", "")
    text = _UNIT_SUFFIX.sub("", text).strip()
    factor = 1.0
    if text.endswith(_WAN):
        factor = 10_000.0
        text = text[:-1]
    result = float(text) * factor
    if not np.isfinite(result):
        raise ValueError(value)
    return result


def parse_numbers(
    values: Sequence[Any] | pd.Series,
    *,
    rows: Sequence[int] | NDArray[np.int64],
    column: str,
    log: ProblemLog,
    what: str,
    required: bool = False,
    integer: bool = False,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    maximum_setting: str | None = None,
) -> NDArray[np.float64]:
    """Parse a column of numbers, recording every cell that is missing, not a number or too small.

    Texts such as ``"1,234"``, ``"1200人"``, ``"350㎡"`` and ``"1.2万"`` are understood.

    Parameters
    ----------
    values
        The cells.
    rows
        The 1-based data row of each cell.
    column
        The column as named in the file.
    log
        Where problems go.
    what
        What the column holds, for messages (``"population"``).
    required
        Whether an empty cell is a problem.
    integer
        Whether values are counts: they are rounded to whole numbers.
    minimum
        The smallest value allowed (``None`` for no bound).
    maximum
        The largest plausible value (``None`` for no bound); a larger value is a problem
        showing the cell as typed.
    maximum_setting
        The setting that holds ``maximum``, named in the message so a user can raise it.

    Returns
    -------
    numpy.ndarray
        Float values, NaN where a cell is empty or wrong.
    """
    cells = _objects(values)
    series = pd.Series(cells, dtype=object)
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "integer", "floating",
                                                          "mixed-integer-float", "empty"):
        is_bool = np.zeros(len(cells), dtype=bool)
    else:
        is_bool = series.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
    quick = pd.to_numeric(series.where(~is_bool, None), errors="coerce").to_numpy(dtype=float)
    out = np.where(np.isfinite(quick), quick, np.nan)
    row_numbers = np.asarray(rows, dtype=np.int64)
    # only cells pandas could not read go through the slow path (texts with units, 万, blanks)
    for i in np.flatnonzero(~np.isfinite(quick)):
        cell = cells[i]
        row = int(row_numbers[i])
        if is_missing(cell):
            if required:
                log.add(f"{what} is missing", row=row, column=column, kind=f"{what} is missing")
            continue
        try:
            out[i] = _number(cell)
        except (ValueError, TypeError):
            log.add(f"{what} must be a number, got {cell!r}", row=row, column=column,
                    kind=f"{what} is not a number")
    if minimum is not None:
        qualifier = "negative" if minimum == 0 else f"below {minimum:g}"
        for i in np.flatnonzero(out < minimum):
            log.add(f"{what} is {qualifier}: {cells[i]!r}", row=int(row_numbers[i]),
                    column=column, kind=f"{what} is {qualifier}")
            out[i] = np.nan
    if maximum is not None:
        where = f" ({maximum_setting})" if maximum_setting else ""
        for i in np.flatnonzero(out > maximum):
            log.add(f"{what} is implausibly large: {_as_typed(cells[i])} (more than "
                    f"{maximum:,.0f}{where}); check the cell", row=int(row_numbers[i]),
                    column=column, kind=f"{what} is implausibly large")
            out[i] = np.nan
    return np.rint(out) if integer else out


def _as_typed(cell: Any) -> str:
    """Show a cell as the user typed it (a float such as 1e20 as ``1e+20``, never an overflow)."""
    if isinstance(cell, str):
        return repr(cell)
    if isinstance(cell, float | np.floating):
        return f"{float(cell):g}"
    return repr(cell)


def check_speed_kmh(value: float, *, mode: str, option: str) -> float:
    """Refuse a speed outside the plausible range of its travel mode.

    Parameters
    ----------
    value
        The speed in km/h.
    mode
        The travel mode (a key of ``settings.plausible_speeds_kmh``).
    option
        How the speed was given (``"--walk-speed-kmh"``, ``"[network.speeds_kmh] walk"``).

    Returns
    -------
    float
        ``value``.

    Raises
    ------
    InputError
        Naming the option, the value and the plausible range.
    """
    problem = speed_problem(value, mode=mode)
    if problem is not None:
        msg = f"{option}: {problem}"
        raise InputError(msg)
    return value


def _objects(values: Sequence[Any] | pd.Series) -> NDArray[np.object_]:
    """Return cells as a 1-D object array."""
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def parse_bools(
    values: Sequence[Any] | pd.Series,
    *,
    rows: Sequence[int] | NDArray[np.int64],
    column: str,
    log: ProblemLog,
    what: str,
) -> list[bool | None]:
    """Parse yes/no cells (是/否, 有/无, yes/no, true/false, 1/0, √/×); empty cells give None.

    Parameters
    ----------
    values
        The cells.
    rows
        The 1-based data row of each cell.
    column
        The column as named in the file.
    log
        Where problems go.
    what
        What the column holds, for messages.

    Returns
    -------
    list
        True, False or None (empty or wrong cell) per row.
    """
    out: list[bool | None] = []
    for cell, row in zip(list(values), rows, strict=True):
        if isinstance(cell, bool | np.bool_):
            out.append(bool(cell))
            continue
        if is_missing(cell):
            out.append(None)
            continue
        if isinstance(cell, int | float | np.integer | np.floating) and cell in (0, 1):
            out.append(bool(cell))
            continue
        text = unicodedata.normalize("NFKC", str(cell)).strip().lower()
        if text in _TRUE:
            out.append(True)
        elif text in _FALSE:
            out.append(False if text else None)
        else:
            log.add(f"{what} must be yes or no (是/否), got {cell!r}", row=int(row),
                    column=column, kind=f"{what} is not yes/no")
            out.append(None)
    return out


def parse_texts(values: Sequence[Any] | pd.Series) -> list[str | None]:
    """Return cells as stripped texts (whole floats without ``.0``), None where blank.

    Parameters
    ----------
    values
        The cells.

    Returns
    -------
    list
        One text or None per cell.
    """
    cells = _objects(values)
    series = pd.Series(cells, dtype=object)
    if pd.api.types.infer_dtype(series, skipna=False) == "string":
        stripped = series.str.strip()
        return [t or None for t in stripped.tolist()]
    out: list[str | None] = []
    for cell in cells:
        if isinstance(cell, str):
            text = cell.strip()
            out.append(text or None)
        elif is_missing(cell):
            out.append(None)
        elif isinstance(cell, float | np.floating) and float(cell).is_integer():
            out.append(str(int(cell)))
        else:
            out.append(str(cell).strip())
    return out


def check_unique(
    values: Sequence[str | None],
    *,
    rows: Sequence[int] | NDArray[np.int64],
    column: str,
    log: ProblemLog,
    what: str = "id",
) -> None:
    """Record every empty or repeated value of an identifier column.

    Parameters
    ----------
    values
        The identifiers (None for an empty cell).
    rows
        The 1-based data row of each value.
    column
        The column as named in the file.
    log
        Where problems go.
    what
        What the column holds, for messages.
    """
    first: dict[str, int] = {}
    for value, row in zip(values, rows, strict=True):
        if value is None or value == "":
            log.add(f"{what} is missing", row=int(row), column=column, kind=f"{what} is missing")
            continue
        if value in first:
            log.add(f"duplicate {what} {value!r} (first in row {first[value]})", row=int(row),
                    column=column, kind=f"duplicate {what}")
        else:
            first[value] = int(row)


def check_required_columns(
    found: Mapping[str, str | None],
    aliases: Mapping[str, Sequence[str]],
    required: Iterable[str],
    *,
    log: ProblemLog,
    columns: Sequence[str],
) -> None:
    """Record each required column that is missing, saying which names were looked for.

    Parameters
    ----------
    found
        Canonical name -> the file's column that holds it (None when absent).
    aliases
        Canonical name -> the column names accepted for it.
    required
        The canonical names that must be present.
    log
        Where problems go.
    columns
        The file's columns, listed in the message.
    """
    have = ", ".join(repr(str(c)) for c in columns) or "none"
    for name in required:
        if found.get(name) is None:
            looked = ", ".join(aliases.get(name, (name,)))
            log.add(f"required column {name!r} is missing (looked for: {looked}); the file "
                    f"has: {have}", column=name)


def check_geometries(
    geometries: Sequence[Any] | NDArray[np.object_],
    *,
    rows: Sequence[int] | NDArray[np.int64],
    log: ProblemLog,
    allowed_types: Collection[str],
    column: str = "geometry",
) -> NDArray[np.bool_]:
    """Record missing, empty, invalid and unexpected geometries.

    Parameters
    ----------
    geometries
        Shapely geometries (None for a missing one).
    rows
        The 1-based data row of each geometry.
    log
        Where problems go.
    allowed_types
        Geometry type names accepted (``{"Point"}``, ``{"Point", "Polygon", ...}``).
    column
        How to name the geometry in messages.

    Returns
    -------
    numpy.ndarray
        Boolean array, True where the geometry is usable.
    """
    geoms = np.asarray(list(geometries), dtype=object)
    ok = np.zeros(len(geoms), dtype=bool)
    if len(geoms) == 0:
        return ok
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    valid = shapely.is_valid(geoms)
    types = shapely.get_type_id(geoms)
    names = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
             5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
    allowed = ", ".join(sorted(allowed_types))
    for i, row in enumerate(rows):
        if missing[i]:
            log.add("geometry is missing", row=int(row), column=column, kind="missing geometry")
        elif empty[i]:
            log.add("geometry is empty", row=int(row), column=column, kind="empty geometry")
        elif names.get(int(types[i]), "?") not in allowed_types:
            log.add(f"geometry is a {names.get(int(types[i]), 'unknown type')}, expected "
                    f"{allowed}", row=int(row), column=column, kind="wrong geometry type")
        elif not valid[i]:
            reason = shapely.is_valid_reason(geoms[i])
            log.add(f"geometry is invalid ({reason})", row=int(row), column=column,
                    kind="invalid geometry")
        else:
            ok[i] = True
    return ok


def warn_unreachable_categories(access: pd.DataFrame, *, facilities_file: str | None = None
                                ) -> list[str]:
    """Warn about every category none of whose facilities any demand unit can reach.

    Such a category gives a confident 0 % coverage that is usually a data problem (facilities
    far from the network, in the wrong coordinate system, or on a piece of network that was
    dropped).

    Parameters
    ----------
    access
        ``category`` and ``minutes`` per demand unit (NaN when unreachable).
    facilities_file
        The facilities file, named in the warning.

    Returns
    -------
    list of str
        The categories warned about.
    """
    if access.empty or not {"category", "minutes"} <= set(access.columns):
        return []
    reached = (pd.to_numeric(access["minutes"], errors="coerce").notna()
               .groupby(access["category"].astype(str), sort=True).any())
    unreachable = [str(c) for c, ok in reached.items() if not ok]
    where = f"{facilities_file}: " if facilities_file else ""
    for category in unreachable:
        warnings.warn(f"{where}no {category} facility is reachable from any community (all "
                      "are far from the network or on a dropped piece of it); check their "
                      "coordinates and coordinate system", InputWarning, stacklevel=2)
    return unreachable
