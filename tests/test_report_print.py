"""The meeting report printed on A4: a summary first, no empty sections, no table cut off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deyang_geo.outputs import report

CHROMIUM = Path("/usr/bin/chromium")
MM = 72 / 25.4  # PDF points per millimetre
PAGE_MARGIN_MM = 12.0  # report.py's @page margin


def _wide_compliance() -> pd.DataFrame:
    """A compliance table as wide as the real one: every column a meeting reads."""
    n = 6
    return pd.DataFrame({
        "target_id": [f"T{i}" for i in range(1, n + 1)],
        "scope": ["urban", "rural", "all", "urban", "all", "rural"],
        "description": [("城市社区15分钟基本公共服务圈：社区服务站、卫生室、文化体育站、健身点、"
                         "日间照料均在15分钟内 / 15-minute basic public service circle")] * n,
        "unit": ["share of communities within the threshold (urban communities only)"] * n,
        "value": np.linspace(0.1, 0.9, n), "target": [1.0] * n,
        "met": [False, True, False, False, True, False],
        "status": ["未达标 missed: 26 communities short, see the gap column for details"] * n,
        "communities_short": [26.0, 0.0, 83.0, 12.0, 0.0, 5.0],
        "people_short": [86447.0, 0.0, 516898.0, 1200.0, 0.0, 300.0],
        "m2_missing": [np.nan, np.nan, 1140.0, np.nan, np.nan, 20.0],
        "facilities_short": [np.nan, np.nan, 7.0, np.nan, np.nan, np.nan],
        "amount_short": [1.0, 0.0, 2.0, 3.0, 0.0, 1.0],
        "gap": ["26 communities, 86,447 people short of the 15-minute circle"] * n,
        "source": [("PLAN 三(二)2: 推进“城市社区15分钟基本公共服务圈” (the set of basic "
                    "services is an interpretation)")] * n,
        "verified": [True] * n,
        "description_zh": ["城市社区综合服务设施全覆盖"] * n,
        "description_en": ["Community service facilities cover every urban community"] * n,
    })


def _study_area() -> pd.DataFrame:
    return pd.DataFrame({
        "kind": ["all", "all"], "category": ["service_station", "fitness_station"],
        "communities": [127, 127], "population": [612170.0, 612170.0],
        "covered_population_15min": [420088.15, 137030.86],
        "covered_share_15min": [0.6862, 0.2238], "outside_communities_15min": [29, 83],
    })


def _build(tmp_path: Path, study_layers: dict[str, Any]) -> report.ReportPaths:
    coverage = {"coverage_study_area": _study_area(),
                "coverage_divisions": pd.DataFrame({
                    "division": ["旌阳区"], "category": ["service_station"], "kind": ["all"],
                    "covered_share_15min": [0.7]}),
                "coverage": study_layers["coverage"]}
    summary = [{"category": "fitness_station", "model": "mclp", "status": "optimal",
                "new_sites": 3, "covered_population_before": 468722.4,
                "covered_population_after": 489937.1}]
    return report.build_report(
        tmp_path, title="德阳 Deyang", parameters={"mode": "walk", "walk_speed_kmh": float("nan"),
                                                  "budget": None, "threshold minutes": 15},
        sources={"OSM": "synthetic"}, coverage=coverage,
        compliance={"compliance_targets": _wide_compliance()},
        sites=pd.DataFrame(study_layers["sites"].drop(columns="geometry")),
        site_summary=summary)


def test_report_starts_with_a_summary_and_has_no_unset_parameters(
        tmp_path: Path, study_layers: dict[str, Any]) -> None:
    paths = _build(tmp_path, study_layers)
    text = paths.html.read_text(encoding="utf-8")
    assert text.index("摘要 / Summary") < text.index("1. 参数 / Parameters")
    summary = text[text.index("摘要 / Summary"):text.index("1. 参数 / Parameters")]
    # people outside reach per category, in whole people, worst first
    assert "475,139" in summary  # 612,170 - 137,030.86 people outside the fitness stations
    assert summary.index("475,139") < summary.index("192,082")
    assert "83 / 127" in summary
    # targets met and missed, the gap in planners' words
    assert "2 项达标, 4 项未达标" in summary
    assert "86,447 人未覆盖" in summary
    assert "1,140 平方米面积缺口" in summary
    # what the proposed sites add
    added = ("体育健身站(点) / Fitness station: 新增选址 / new sites 3, 覆盖人口 / people "
             "covered 468,722 → 489,937 (+21,215)")
    assert added in summary
    # unset parameters are not shown; a single division is not a second empty table
    assert "nan" not in text.split("1. 参数 / Parameters")[1].split("</table>")[0]
    assert "None" not in text.split("1. 参数 / Parameters")[1].split("</table>")[0]
    assert "按区县" not in text


@pytest.mark.browser
def test_report_pdf_tables_fit_the_a4_page(tmp_path: Path, study_layers: dict[str, Any]
                                           ) -> None:
    """Render report.pdf with Chromium; every character lies inside the printable area."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    pdfium = pytest.importorskip("pypdfium2")
    paths = _build(tmp_path, study_layers)
    pdf_path = report.write_pdf(paths.html, browser=str(CHROMIUM))
    pdf = pdfium.PdfDocument(str(pdf_path))
    texts = []
    worst_right = 0.0
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            width, height = page.get_size()
            assert abs(width - 210 * MM) < 2  # A4 portrait
            assert abs(height - 297 * MM) < 2
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            for c in range(textpage.count_chars()):
                left, _bottom, right, _top = textpage.get_charbox(c)
                if right > left:  # a drawn glyph
                    worst_right = max(worst_right, right - width + PAGE_MARGIN_MM * MM)
                    assert left >= PAGE_MARGIN_MM * MM - 2, (i, c, left)
    finally:
        pdf.close()
    # nothing reaches into the right margin: no table is wider than the printable area
    assert worst_right <= 2.0, f"text reaches {worst_right:.1f} pt into the right margin"
    text = "".join(texts).replace("\r", "").replace("\n", "")
    # the compliance table's last columns are printed, not cut off
    assert "已核实" in text
    assert "T6" in text


def test_site_coordinates_keep_six_decimals(tmp_path: Path) -> None:
    """Found: the report rounded site coordinates to 2 decimals (about 1 km)."""
    sites = pd.DataFrame({"site_id": ["S1"], "name": ["长江路旁"], "longitude": [104.3925431],
                          "latitude": [31.1302117], "longitude_gcj02": [104.3951234],
                          "latitude_gcj02": [31.1280001], "rank": [1],
                          "added_population": [1200.0]})
    paths = report.build_report(tmp_path, title="t", parameters={"mode": "walk"},
                                sources={"OSM": "real"}, sites=sites)
    text = paths.html.read_text(encoding="utf-8")
    assert "104.392543" in text
    assert "31.130212" in text
    assert "104.395123" in text
    assert ">104.39<" not in text


def test_report_tables_use_the_report_language(tmp_path: Path, study_layers: dict[str, Any]
                                               ) -> None:
    """Found: English class values (covered/outside) mixed into the Chinese tables."""
    paths = report.build_report(tmp_path, title="t", parameters={"mode": "walk"},
                                sources={"OSM": "real"}, lang="zh",
                                coverage={"coverage": study_layers["coverage"]})
    body = paths.html.read_text(encoding="utf-8").split("<h2>", 2)[-1]
    assert "部分覆盖" in body
    assert ">covered<" not in body
    assert ">outside<" not in body
