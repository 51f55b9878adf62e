"""Chinese-first tables a planner does not have to clean, and the reader that maps them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from deyang_geo.io.tables_zh import (
    column_header,
    format_sheet,
    localize,
    read_table,
    relative_path,
    write_csv,
    write_workbook,
)


def _coverage() -> pd.DataFrame:
    return pd.DataFrame({
        "community_id": ["007", "U2"], "name": ["东山社区", "五里村"],
        "kind": ["urban", "rural"], "category": ["fitness_station", "health_room"],
        "population": [3200.0, 1200.0], "minutes": [3.14159, np.nan],
        "covered_population_15min": [70179.673828125, 0.0],
        "covered_share_15min": [0.68625, 0.0], "class_15min": ["covered", "outside"],
        "class": ["partly", "outside"], "synthetic": [False, True],
    })


def test_headers_are_chinese_first_and_keep_the_key() -> None:
    assert column_header("covered_share_15min", lang="both") == (
        "覆盖人口比例(15分钟)(%) covered_share_15min")
    assert column_header("covered_share_15min", lang="zh") == "覆盖人口比例(15分钟)(%)"
    assert column_header("covered_share_15min", lang="en") == "covered_share_15min"
    assert column_header("something_else", lang="zh") == "something_else"


def test_values_a_planner_reads() -> None:
    """Found: 3200.0 people, 70179.673828125, 0-1 shares, False, covered/urban keys."""
    table = localize(_coverage(), lang="zh")
    row = table.iloc[0]
    assert row["人口"] == 3200
    assert str(table["人口"].dtype) == "Int64"  # whole people, no ".0"
    assert row["覆盖人口(15分钟)"] == 70180
    assert row["覆盖人口比例(15分钟)(%)"] == pytest.approx(68.6)
    assert row["出行时间(分钟)"] == pytest.approx(3.1)
    assert list(table["类型"]) == ["社区", "村"]
    assert list(table["覆盖等级"]) == ["部分覆盖", "未覆盖"]
    assert list(table["覆盖等级(15分钟)"]) == ["覆盖", "未覆盖"]
    assert list(table["设施类别"]) == ["体育健身站(点)", "医疗卫生室"]
    assert list(table["合成数据"]) == ["否", "是"]
    text = table.to_csv(index=False)
    assert "70179.67" not in text
    assert "False" not in text
    assert "urban" not in text


@pytest.mark.parametrize("lang", ["zh", "both", "en"])
def test_reader_maps_every_language_back(tmp_path: Path, lang: str) -> None:
    path = write_csv(_coverage(), tmp_path / f"coverage_{lang}.csv", lang=lang)
    back = read_table(path)
    assert list(back.columns) == list(_coverage().columns)
    assert list(back["community_id"]) == ["007", "U2"]  # ids keep their leading zeros
    assert list(back["kind"]) == ["urban", "rural"]
    assert list(back["class"]) == ["partly", "outside"]
    assert list(back["class_15min"]) == ["covered", "outside"]
    assert list(back["category"]) == ["fitness_station", "health_room"]
    tolerance = 0.0006 if lang != "en" else 1e-9
    assert back["covered_share_15min"].iloc[0] == pytest.approx(0.68625, abs=tolerance)
    assert back["population"].iloc[0] == 3200
    assert bool(back["synthetic"].iloc[1]) is True


def test_workbook_has_widths_frozen_header_and_filters(tmp_path: Path) -> None:
    """Found: workbooks had no column widths, frozen header or filters."""
    table = localize(_coverage(), lang="both")
    path = write_workbook(tmp_path / "t.xlsx", {"coverage": table})
    sheet = load_workbook(path)["coverage"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, table.shape[1]).column_letter}3"
    widths = [sheet.column_dimensions[c.column_letter].width for c in sheet[1]]
    assert all(w >= 6 for w in widths)
    # the bilingual header of the share column is wide: Chinese counts double
    assert max(widths) >= len("覆盖人口比例(15分钟)(%) covered_share_15min")


def test_no_absolute_local_paths(tmp_path: Path) -> None:
    """Found: the parameters sheet held an absolute local path."""
    study = tmp_path / "study"
    assert relative_path(str(study / "data" / "社区.csv"), study) == "data/社区.csv"
    assert relative_path(str(study / "standards.toml"), None) == "standards.toml"
    assert relative_path("data/x.csv", study) == "data/x.csv"
    assert relative_path(15, study) == 15


def _members(path: Path) -> list[tuple[Any, ...]]:
    """Every member of a workbook with its zip attributes; creation time left out."""
    import zipfile

    with zipfile.ZipFile(path) as book:
        return [(i.filename, i.compress_type, i.external_attr, i.create_system,
                 b"" if i.filename == "docProps/core.xml" else book.read(i.filename))
                for i in book.infolist()]


def _hard_table() -> pd.DataFrame:
    from deyang_geo.io.files import excel_safe

    return excel_safe(pd.DataFrame({
        "text": ["a", "", " lead", "trail ", "   ", "x & <y> > z", "旌阳区 中文", None,
                 "tab\there", "a\r\nb"],
        "float": [1.5, np.nan, 0.1, -0.0, 1e300, 123456789.123456789, 2020.0, 1e-7, 3.0,
                  7.25],
        "int": list(range(-3, 7)),
        "big": [10**17, 12345678901234567, 2**53 + 1, 0, 1, 2, 3, 4, 5, 6],
        "bool": [True, False] * 5,
        "mixed": [1, "x", 2.5, None, True, np.nan, "", 3, "y", 0],
    }))


@pytest.mark.parametrize("rows_per_block", [10_000, 3])
@pytest.mark.parametrize("like", ["pandas", "write_only"])
@pytest.mark.parametrize("extra", [None, "formula", "error_code", "date", "inf"])
def test_fast_workbook_is_what_openpyxl_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               like: str, extra: str | None,
                                               rows_per_block: int) -> None:
    """Issue 17: the rows written as text are the bytes openpyxl (and pandas) write.

    Values openpyxl treats specially (formulas, error codes, dates, infinities in write-only
    form) make the whole workbook go through openpyxl itself: the same file either way. The
    rows are streamed a block at a time (issue 13: bounded memory): any block size gives the
    same file.
    """
    from openpyxl import Workbook

    from deyang_geo.io import tables_zh
    from deyang_geo.io.tables_zh import write_sheets

    monkeypatch.setattr(tables_zh, "_XLSX_ROWS_PER_BLOCK", rows_per_block)

    table = _hard_table()
    if extra is not None:
        table[extra] = {"formula": "=SUM(A1:A2)", "error_code": "#N/A",
                        "date": pd.Timestamp("2020-01-02"), "inf": float("inf")}[extra]
    sheets = [("first", table), ("empty", pd.DataFrame({"only": []}, dtype=object)),
              ("a sheet name longer than thirty-one characters", table.head(2))]
    ours = write_sheets(tmp_path / "ours.xlsx", sheets, like=like)
    reference = tmp_path / "reference.xlsx"
    if like == "pandas":
        with pd.ExcelWriter(reference, engine="openpyxl") as writer:
            for name, t in sheets:
                t.to_excel(writer, sheet_name=name[:31], index=False)
                format_sheet(writer.sheets[name[:31]], t)
    else:
        book = Workbook(write_only=True)
        for name, t in sheets:
            sheet = book.create_sheet(title=name[:31])
            format_sheet(sheet, t)
            sheet.append([str(c) for c in t.columns])
            for row in t.astype(object).where(t.notna(), None).to_numpy().tolist():
                sheet.append(row)
        book.save(reference)
    assert _members(ours) == _members(reference)


def test_a_sheet_never_silently_cuts_rows_off(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: a table longer than a sheet continues on numbered sheets, or is refused."""
    from deyang_geo.io import tables_zh
    from deyang_geo.io.tables_zh import split_long_sheets, write_sheets

    monkeypatch.setattr(tables_zh, "EXCEL_MAX_ROWS", 5)  # a header and 4 rows per sheet
    table = pd.DataFrame({"id": [f"C{i}" for i in range(11)], "value": np.arange(11.0)})
    with pytest.raises(ValueError, match="would have 12 rows; an Excel sheet holds 5"):
        write_sheets(tmp_path / "refused.xlsx", [("t", table)], like="write_only")
    assert not (tmp_path / "refused.xlsx").exists()
    name = "sheet name of 31 characters ..."
    assert len(name) == 31
    pieces = split_long_sheets([(name, table), ("short", table.head(4))])
    assert [(n, len(t)) for n, t in pieces] == [
        (name, 4), ("sheet name of 31 characters (2)", 4), ("sheet name of 31 characters (3)", 3),
        ("short", 4)]
    path = write_sheets(tmp_path / "split.xlsx", pieces, like="write_only")
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == [n for n, _ in pieces]
    rows = [row for n in book.sheetnames[:3]
            for row in list(book[n].iter_rows(values_only=True))[1:]]
    book.close()
    assert rows == list(table.itertuples(index=False, name=None))
