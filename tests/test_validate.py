"""Tests of deyang_geo.io.validate: collect-then-report checks."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from deyang_geo.core.errors import ConfigError, InputError
from deyang_geo.io.validate import (
    MAX_ROWS_LISTED,
    ProblemLog,
    check_geometries,
    check_required_columns,
    check_unique,
    is_blank,
    is_missing,
    parse_bools,
    parse_numbers,
    parse_texts,
)


def test_problem_log_orders_and_raises_once():
    log = ProblemLog("f.csv")
    assert not log
    log.add("b wrong", row=3, column="b")
    log.add("a wrong", row=1, column="a")
    log.add("file wrong")
    assert len(log) == 3
    problems = log.problems()
    assert [(p.row, p.column) for p in problems] == [(None, None), (1, "a"), (3, "b")]
    assert all(p.file == "f.csv" for p in problems)
    with pytest.raises(InputError) as info:
        log.raise_if_any()
    assert str(info.value).splitlines() == [
        "3 problems found:",
        "  - f.csv: file wrong",
        "  - f.csv, row 1, column 'a': a wrong",
        "  - f.csv, row 3, column 'b': b wrong",
    ]
    with pytest.raises(ConfigError):
        log.raise_if_any(ConfigError)
    ProblemLog("g.csv").raise_if_any()  # nothing recorded: no error


def test_problem_log_groups_many_of_a_kind():
    log = ProblemLog("f.csv")
    for row in range(1, MAX_ROWS_LISTED + 6):
        log.add(f"population is missing ({row})", row=row, column="人口", kind="missing")
    log.add("other", row=2, column="编号")
    problems = log.problems()
    assert len(problems) == 2
    assert problems[0].row is None
    assert problems[0].column == "人口"
    assert f"missing in {MAX_ROWS_LISTED + 5} rows (1, 2, 3" in problems[0].message
    assert problems[1].row == 2


@pytest.mark.parametrize(("cell", "expected"), [
    ("1,234", 1234.0), ("1200人", 1200.0), ("350㎡", 350.0), ("350 m2", 350.0),
    ("1.2万", 12000.0), ("１２３", 123.0), (42, 42.0), (3.5, 3.5), ("300平方米", 300.0),
    (np.int64(7), 7.0),
])
def test_parse_numbers_understands_planners_texts(cell, expected):
    log = ProblemLog("f")
    out = parse_numbers([cell], rows=[1], column="c", log=log, what="x")
    assert not log
    assert out[0] == expected


def test_parse_numbers_records_every_problem():
    log = ProblemLog("f")
    cells = ["5", "", "-3", "abc", None, True, "2.6"]
    out = parse_numbers(cells, rows=list(range(1, 8)), column="人口", log=log,
                        what="population", required=True, integer=True)
    np.testing.assert_array_equal(out, [5, np.nan, np.nan, np.nan, np.nan, np.nan, 3])
    messages = [(p.row, p.message) for p in log.problems()]
    assert messages == [
        (2, "population is missing"),
        (3, "population is negative: '-3'"),
        (4, "population must be a number, got 'abc'"),
        (5, "population is missing"),
        (6, "population must be a number, got True"),
    ]


def test_parse_numbers_optional_and_unbounded():
    log = ProblemLog("f")
    out = parse_numbers(["", "-104.5"], rows=[1, 2], column="x", log=log, what="x",
                        minimum=None)
    assert not log
    assert np.isnan(out[0])
    assert out[1] == -104.5


def test_parse_bools():
    log = ProblemLog("f")
    cells = ["是", "否", "yes", "No", 1, 0, True, "", None, "√", "maybe"]
    out = parse_bools(cells, rows=list(range(1, 12)), column="无障碍", log=log,
                      what="barrier-free")
    assert out == [True, False, True, False, True, False, True, None, None, True, None]
    assert [(p.row, p.column) for p in log.problems()] == [(11, "无障碍")]


def test_missing_and_blank():
    assert is_missing(None)
    assert is_missing(float("nan"))
    assert is_missing(" NA ")
    assert is_missing("-")
    assert not is_missing("0")
    assert not is_missing(0)
    assert is_blank("  ")
    assert not is_blank("NA")
    assert parse_texts([" a ", 3.0, 2.5, "", None, "none"]) == ["a", "3", "2.5", None, None,
                                                                "none"]


def test_check_unique():
    log = ProblemLog("f")
    check_unique(["a", "b", "a", None, "a"], rows=[1, 2, 3, 4, 5], column="编号", log=log)
    assert [(p.row, p.message) for p in log.problems()] == [
        (3, "duplicate id 'a' (first in row 1)"),
        (4, "id is missing"),
        (5, "duplicate id 'a' (first in row 1)"),
    ]


def test_check_required_columns_names_aliases():
    log = ProblemLog("f")
    check_required_columns({"id": "编号", "population": None},
                           {"id": ("编号",), "population": ("population", "人口")},
                           ("id", "population"), log=log, columns=["编号", "people"])
    (problem,) = log.problems()
    assert problem.column == "population"
    assert problem.message == ("required column 'population' is missing (looked for: "
                               "population, 人口); the file has: '编号', 'people'")


def test_check_geometries():
    log = ProblemLog("f")
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    geoms = [shapely.Point(1, 2), None, shapely.Point(), bowtie,
             shapely.LineString([(0, 0), (1, 1)]), shapely.box(0, 0, 1, 1)]
    ok = check_geometries(geoms, rows=[1, 2, 3, 4, 5, 6], log=log,
                          allowed_types={"Point", "Polygon"})
    assert ok.tolist() == [True, False, False, False, False, True]
    messages = [(p.row, p.message.split(" (")[0]) for p in log.problems()]
    assert messages == [(2, "geometry is missing"), (3, "geometry is empty"),
                        (4, "geometry is invalid"),
                        (5, "geometry is a LineString, expected Point, Polygon")]
    assert check_geometries([], rows=[], log=log, allowed_types={"Point"}).shape == (0,)
