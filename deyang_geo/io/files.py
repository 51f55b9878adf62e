"""Outputs written atomically (a temporary file renamed into place) and formula-safe CSVs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas (0.3-0.5 s to import) is imported by the functions that take tables, so the atomic
# writers alone (the OSM file -> GraphML path) do not load it.



__all__ = [
    "atomic_path",
    "dumps_json",
    "excel_safe",
    "formula_safe",
    "formula_safe_cell",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_text_atomic",
]


# ---------------------------------------------------------------------------------------------
# Writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` and move it onto ``path`` only on success.

    A run that fails half-way leaves no half-written file: the temporary file is removed and any
    earlier file at ``path`` is kept as it was.

    Parameters
    ----------
    path
        The final destination. Its folder is created if needed.

    Yields
    ------
    Path
        A path in the same folder (same file system) with the same suffix, to write to.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(final.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{suffixes}",
                                    dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let writers that refuse to overwrite (GeoPackage drivers) create it
    try:
        yield tmp
        if not tmp.exists():
            msg = f"nothing was written to {final}"
            raise RuntimeError(msg)
        tmp.replace(final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def fixed_file_dates() -> Iterator[None]:
    """Make GDAL stamp a fixed date into the files it writes (GeoPackage ``last_change``).

    Same inputs then give byte-identical GeoPackages, run after run.

    Yields
    ------
    None
        Nothing; GDAL's own setting is restored afterwards.
    """
    import pyogrio

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path.

    Parameters
    ----------
    path
        Destination file.
    text
        The content.
    encoding
        Text encoding; ``"utf-8-sig"`` writes the byte-order mark that Excel needs to show
        Chinese in a CSV file.

    Returns
    -------
    Path
        The destination.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding, newline="")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Parameters
    ----------
    path
        Destination file.
    data
        The content.

    Returns
    -------
    Path
        The destination.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


_FORMULA_START = ("=", "+", "@", "\t", "\r")

_FORMULA_FIRST = frozenset({*_FORMULA_START, "-"})


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def formula_safe_cell(value: Any) -> Any:
    """Return ``value`` with a leading apostrophe when a spreadsheet would run it as a formula.

    Text starting with ``=``, ``+``, ``@``, a tab or a carriage return, or with ``-`` unless it
    is a number; anything else is returned unchanged (the one rule of every table written).
    """
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_FORMULA_START) or (value.startswith("-")
                                            and not _is_number_text(value)):
        return "'" + value
    return value


def formula_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy whose text cells (and headers) cannot run as spreadsheet formulas.

    Text starting with ``=``, ``+``, ``@``, a tab or a carriage return, or with ``-`` unless it
    is a number, gets a leading apostrophe (as OWASP recommends against CSV injection), so a
    name such as ``=HYPERLINK(...)`` taken from a planner's file or OpenStreetMap shows as text
    in Excel or WPS. Numbers stay numbers (a negative number is a number). Only the distinct
    values of a column are looked at, and unchanged columns are shared, not copied.

    Parameters
    ----------
    table
        Any table; it is not modified.

    Returns
    -------
    pandas.DataFrame
        The safe copy.
    """
    import pandas as pd  # noqa: PLC0415

    out = pd.DataFrame(table).copy(deep=False)
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if isinstance(column.dtype, pd.CategoricalDtype) and not _needs_formula_safety(column):
            continue  # a categorical left as it is (the text it holds is safe)
        if (column.dtype == object or pd.api.types.is_string_dtype(column)
                or isinstance(column.dtype, pd.CategoricalDtype)):
            safe = _formula_safe_column(column)
            if safe is not None:
                out.isetitem(j, safe)
    out.columns = pd.Index([formula_safe_cell(c) for c in out.columns])
    return out


def _needs_formula_safety(column: pd.Series) -> bool:
    """Whether a categorical column holds a value that needs an apostrophe.

    Only the categories its rows use are looked at: a block of rows of a table whose
    categories are a million community ids looks at the block's ids only.
    """
    codes = column.cat.codes.to_numpy()
    used = column.cat.categories.take(np.unique(codes[codes >= 0]))
    return any(formula_safe_cell(value) is not value for value in used)


def _formula_safe_column(column: pd.Series) -> np.ndarray[Any, np.dtype[np.object_]] | None:
    """Return the column's values made safe, or None when no cell needs it."""
    import pandas as pd  # noqa: PLC0415

    values = column.to_numpy(dtype=object)
    changed = {}
    for value in pd.unique(values):
        if isinstance(value, str) and value[:1] in _FORMULA_FIRST:
            safe = formula_safe_cell(value)
            if safe is not value:
                changed[value] = safe
    if not changed:
        return None
    values = values.copy()
    hit = np.flatnonzero(pd.Series(values).isin(list(changed)).to_numpy())
    values[hit] = [changed[v] for v in values[hit]]
    return values


def write_csv_atomic(table: pd.DataFrame, path: str | os.PathLike[str], *,
                     encoding: str = "utf-8-sig",
                     prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                     **options: Any) -> Path:
    """Write a table as a formula-safe CSV for Excel (UTF-8 with BOM), atomically.

    Every CSV output of the toolkit goes through this function: text cells that a spreadsheet
    would run as formulas are neutralised (:func:`formula_safe`). A large table is written a
    block of rows at a time, so the safe (and ``prepare``-d) copy of only one block is held in
    memory; the bytes are the same as writing it whole.

    Parameters
    ----------
    table
        The table (its index is not written).
    path
        Destination file.
    encoding
        Text encoding; the default writes the byte-order mark Excel needs for Chinese.
    prepare
        Applied to each block of rows before it is written (rounding, translating); it must
        treat each row on its own (the same rows give the same text, whatever the block) and
        return the same columns for every block.
    **options
        Passed to :meth:`pandas.DataFrame.to_csv` (``float_format``, ``na_rep``...).

    Returns
    -------
    Path
        The destination.
    """
    def block(rows: pd.DataFrame) -> pd.DataFrame:
        return formula_safe(rows if prepare is None else prepare(rows))

    # blocks are a whole number of pandas' own chunks (100,000 cells), which it formats
    # one at a time too, so a block boundary never falls inside one of them
    n_rows = len(table)
    n_columns = block(table.iloc[:0]).shape[1]  # as written (prepare may drop some)
    step = max(1, _CSV_CHUNK_CELLS // max(n_columns, 1)) * _CSV_CHUNKS_PER_BLOCK
    with atomic_path(path) as tmp:  # streamed to the file: no copy of the text in memory
        if n_rows <= step:
            block(table).to_csv(tmp, index=False, encoding=encoding, **options)
            return Path(path)
        with tmp.open("w", encoding=encoding, newline="") as handle:
            for start in range(0, n_rows, step):
                block(table.iloc[start:start + step]).to_csv(
                    handle, index=False, header=start == 0, **options)
    return Path(path)


#: Cells pandas formats at a time when writing a CSV (its ``_DEFAULT_CHUNKSIZE_CELLS``).
_CSV_CHUNK_CELLS = 100_000
#: pandas chunks per block of rows written by :func:`write_csv_atomic`.
_CSV_CHUNKS_PER_BLOCK = 10


def excel_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Return a copy whose text cells cannot run as spreadsheet formulas.

    Text starting with ``=``, ``+``, ``@``, a tab or a carriage return (and ``-`` unless it is
    a number) gets a leading apostrophe, so a name taken from OSM or a planner's file such as
    ``=HYPERLINK(...)`` shows as text in Excel. Lists become comma-separated text; geometry
    columns are dropped.

    Parameters
    ----------
    table
        Any table; it is not modified.

    Returns
    -------
    pandas.DataFrame
        The safe copy.
    """
    import pandas as pd  # noqa: PLC0415

    out = pd.DataFrame(table).copy()
    # geometry columns (geopandas' "geometry" dtype) dropped without importing geopandas here
    out = out.drop(columns=[c for c in out.columns if str(out[c].dtype) == "geometry"])
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_safe_cell)
    out.columns = [str(_safe_cell(str(c))) or f"column_{j + 1}"
                   for j, c in enumerate(out.columns)]
    return out


_ILLEGAL_IN_WORKBOOKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _safe_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        value = ", ".join(str(v) for v in value)
    if not isinstance(value, str) or not value:
        return value
    value = _ILLEGAL_IN_WORKBOOKS.sub("", value)  # control characters break .xlsx files
    return formula_safe_cell(value)


def dumps_json(data: Any) -> str:
    """Serialise to deterministic, human-readable JSON (sorted keys, UTF-8 characters)."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"
