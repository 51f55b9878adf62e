"""Compliance on a hand-made study whose answers are worked out by hand below.

Communities (township, division):
  C1 urban, 1000 people, 400 households (A, 旌阳区)
  C2 urban,  500 people, 200 households (A, 旌阳区)
  C3 rural,  300 people, 100 households (B, 罗江区)
One demand unit each: U1, U2, U3.

Service stations (T2/T5 threshold 15 min urban, 30 min rural in the catalog):
  F1 120 m2, F2 30 m2.  Reach (minutes): F1->U1 2, F1->U2 4, F1->U3 40 (beyond 30);
  F2->U2 0 (explicit zero), F2->U3 10.
2SFCA for T5 (demand = households / 100: U1 4, U2 2, U3 1):
  R1 = 120 / (4 + 2) = 20, R2 = 30 / (2 + 1) = 10
  A(U1) = 20, A(U2) = 20 + 10 = 30, A(U3) = 10   [m2 per 100 households]
  city = (4*20 + 2*30 + 1*10) / 7 = 150/7; missing: C1 (30-20)*4 = 40, C3 (30-10)*1 = 20.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from deyang_geo.core.errors import InputError
from deyang_geo.core.standards import default_catalog_path, load_catalog
from deyang_geo.io.tables_zh import read_table
from deyang_geo.planning.compliance import evaluate_compliance, gap_summary
from deyang_geo.planning.compliance_tables import HEADERS, for_planners


def _communities(**extra: list[object]) -> gpd.GeoDataFrame:
    data: dict[str, list[object]] = {
        "id": ["C1", "C2", "C3"],
        "name": ["陕西馆社区", "文庙社区", "白马村"],
        "kind": ["urban", "urban", "rural"],
        "population": [1000, 500, 300],
        "households": [400, 200, 100],
        "township": ["A", "A", "B"],
        "division": ["旌阳区", "旌阳区", "罗江区"],
    }
    data.update(extra)
    return gpd.GeoDataFrame(
        data, geometry=[shapely.Point(104.40, 31.13), shapely.Point(104.41, 31.13),
                        shapely.Point(104.50, 31.20)], crs="EPSG:4326")


def _facilities(**extra: list[object]) -> gpd.GeoDataFrame:
    data: dict[str, list[object]] = {
        "id": ["F1", "F2", "F3", "F4", "F5"],
        "name": ["站1", "站2", "中心1", "中心2", "健身"],
        "category": ["service_station", "service_station", "service_centre", "service_centre",
                     "fitness_station"],
        "floor_area_m2": [120.0, 30.0, 900.0, 700.0, np.nan],
    }
    data.update(extra)
    return gpd.GeoDataFrame(
        data,
        # F1 next to C1, F2 next to C3 (rural), F3/F4 near C2, F5 near C1
        geometry=[shapely.Point(104.4001, 31.13), shapely.Point(104.5001, 31.20),
                  shapely.Point(104.4101, 31.13), shapely.Point(104.4102, 31.13),
                  shapely.Point(104.4002, 31.13)],
        crs="EPSG:4326")


UNITS = pd.DataFrame({
    "unit_id": ["U1", "U2", "U3"],
    "community_id": ["C1", "C2", "C3"],
    "population": [1000.0, 500.0, 300.0],
    "households": [400.0, 200.0, 100.0],
})

ACCESS = pd.DataFrame({
    "demand_id": ["U1", "U2", "U3"] * 2,
    "category": ["service_station"] * 3 + ["fitness_station"] * 3,
    "minutes": [2.0, 3.0, 10.0, 4.0, 17.0, np.nan],
    "facility_id": ["F1", "F2", "F2", "F5", "F5", None],
})


def _reach() -> sp.csr_array:
    # rows F1..F5 (facility table order), columns U1..U3; explicit 0.0 for F2->U2
    indptr = np.array([0, 3, 5, 5, 5, 5])
    indices = np.array([0, 1, 2, 1, 2])
    minutes = np.array([2.0, 4.0, 40.0, 0.0, 10.0])
    return sp.csr_array((minutes, indices, indptr), shape=(5, 3))


def _run(**kw: object) -> object:
    args: dict[str, object] = {
        "communities": _communities(), "facilities": _facilities(), "units": UNITS,
        "access": ACCESS, "reach": _reach(),
    }
    args.update(kw)
    return evaluate_compliance(**args)  # type: ignore[arg-type]


def _row(table: pd.DataFrame, target: str, scope: str, **keys: str) -> pd.Series:
    sel = (table["target_id"] == target) & (table["scope"] == scope)
    if "reading" not in keys and "reading" in table.columns:
        # targets read both ways: the travel-time row unless the presence one is asked for
        sel &= ~table["reading"].astype(str).str.endswith("presence")
    for k, v in keys.items():
        sel &= table[k] == v
    assert sel.sum() == 1, (target, scope, keys)
    return table.loc[sel].iloc[0]


def test_two_step_floating_catchment_by_hand() -> None:
    res = _run()
    city = _row(res.targets, "T5", "all")
    assert city["value"] == pytest.approx(150 / 7)
    assert city["met"] == False  # noqa: E712
    assert city["m2_missing"] == pytest.approx(60.0)
    assert city["communities_short"] == 2
    assert city["people_short"] == 1300
    comm = res.by_community[res.by_community["target_id"] == "T5"].set_index("community_id")
    assert comm.loc["C1", "value"] == pytest.approx(20.0)
    assert comm.loc["C2", "value"] == pytest.approx(30.0)
    assert comm.loc["C3", "value"] == pytest.approx(10.0)
    assert list(comm["met"]) == [False, True, False]
    assert comm.loc["C1", "m2_missing"] == pytest.approx(40.0)
    # township A = C1 + C2: (80 + 60) / 6
    town = _row(res.by_township, "T5", "all", township="A")
    assert town["value"] == pytest.approx(140 / 6)
    div = _row(res.by_division, "T5", "all", division="罗江区")
    assert div["value"] == pytest.approx(10.0)
    assert div["m2_missing"] == pytest.approx(20.0)


def test_2sfca_matches_a_reach_set_and_a_callable() -> None:
    from deyang_geo.analysis.access import ReachSet

    m = _reach()
    rs = ReachSet(indptr=m.indptr.astype(np.int64), indices=m.indices.astype(np.int64),
                  minutes=m.data, n_sources=5, n_demand=3, max_minutes=60.0)
    a = _row(_run(reach=rs).targets, "T5", "all")["value"]
    calls = []

    def reach(fac: pd.DataFrame, max_minutes: float) -> sp.csr_array:
        calls.append((list(fac["id"]), max_minutes))
        return sp.csr_array(_reach()[[0, 1]])

    b = _row(_run(reach=reach).targets, "T5", "all")["value"]
    assert a == pytest.approx(150 / 7)
    assert b == pytest.approx(150 / 7)
    assert calls[0] == (["F1", "F2"], 30.0)


def test_reach_set_too_short_warns() -> None:
    from deyang_geo.analysis.access import ReachSet
    from deyang_geo.core.errors import InputWarning

    m = _reach()
    rs = ReachSet(indptr=m.indptr.astype(np.int64), indices=m.indices.astype(np.int64),
                  minutes=m.data, n_sources=5, n_demand=3, max_minutes=15.0)
    with pytest.warns(InputWarning, match="cut short"):
        _run(reach=rs, targets=["T5"])


def test_supply_is_conserved() -> None:
    # every facility with a non-empty catchment hands out exactly its area
    res = _run(targets=["T5"])
    comm = res.by_community.set_index("community_id")
    demand = np.array([4.0, 2.0, 1.0])
    assert float((comm["value"].to_numpy() * demand).sum()) == pytest.approx(150.0)


def test_coverage_shares_urban_and_rural() -> None:
    res = _run()
    t2 = _row(res.targets, "T2", "urban")  # U1 2 min, U2 3 min <= 15
    assert t2["value"] == 1.0
    assert t2["met"] == True  # noqa: E712
    assert t2["population_share"] == 1.0
    t3 = _row(res.targets, "T3", "rural")  # U3 10 min <= 30 (rural assumption)
    assert t3["value"] == 1.0
    t7u = _row(res.targets, "T7", "urban")  # U1 4 <= 15 yes, U2 17 no
    assert t7u["value"] == 0.5
    assert t7u["met"] == False  # noqa: E712
    assert t7u["communities_short"] == 1
    assert t7u["people_short"] == 500
    assert t7u["population_share"] == pytest.approx(1000 / 1500)
    t7r = _row(res.targets, "T7", "rural")  # unreachable
    assert t7r["value"] == 0.0
    assert t7r["communities_short"] == 1  # ceil(0.6 * 1)
    assert t7r["people_short"] == 180  # ceil(0.6 * 300)
    t10 = _row(res.targets, "T10", "all")  # no children's home at all
    assert t10["value"] == 0.0
    assert t10["communities_short"] == 3  # ceil(0.9 * 3)
    # T1: every basic service within 15 min; health room etc. missing -> nobody
    assert _row(res.targets, "T1", "urban")["value"] == 0.0
    comm = res.by_community[res.by_community["target_id"] == "T7"].set_index("community_id")
    assert list(comm["met"]) == [True, False, False]


def test_threshold_override_by_category_and_target() -> None:
    res = _run(thresholds={"fitness_station": 20})
    assert _row(res.targets, "T7", "urban")["value"] == 1.0
    res = _run(thresholds={"T7": 3})
    assert _row(res.targets, "T7", "urban")["value"] == 0.0
    assert "set by the user" in _row(res.targets, "T7", "urban")["standard_source"]
    with pytest.raises(InputError, match="neither a category nor a target"):
        _run(thresholds={"nonsense": 3})


def test_size_targets_t6_and_t2_size() -> None:
    res = _run()
    t6 = _row(res.targets, "T6", "all")
    # F1 120 < 300, F2 30 < 300, F3 900 >= 800, F4 700 < 800
    assert t6["value"] == pytest.approx(0.25)
    assert t6["facilities"] == 4
    assert t6["facilities_short"] == 3
    assert t6["m2_missing"] == pytest.approx(180 + 270 + 100)
    und = res.undersized.set_index("id")
    assert sorted(und.index) == ["F1", "F2", "F4"]
    assert und.loc["F4", "m2_missing"] == pytest.approx(100.0)
    assert und.loc["F2", "community_id"] == "C3"
    assert und.loc["F4", "division"] == "旌阳区"
    # T2.size: urban stations only (F1 in C1); F2 lies in rural C3
    t2s = _row(res.targets, "T2.size", "urban")
    assert t2s["facilities"] == 1
    assert t2s["value"] == 0.0
    assert t2s["facilities_short"] == 1
    assert "300" in t2s["standard_source"]


def test_attribute_targets_present_and_missing() -> None:
    comm = _communities(
        social_workers=[1, 0, 2],
        info_platform=["是", "否", True],
        volunteers=[400, 100, 60],
    )
    fac = _facilities(barrier_free=[None, None, None, None, "yes"],
                      opening_hours_per_day=[8, 6, None, 9, None])
    res = _run(communities=comm, facilities=fac)
    t12 = _row(res.targets, "T12", "all")
    assert t12["value"] == pytest.approx(2 / 3)
    assert t12["communities_short"] == 1
    t15u = _row(res.targets, "T15", "urban")
    assert t15u["value"] == 0.5
    assert t15u["met"] == False  # noqa: E712
    assert t15u["communities_short"] == 1  # ceil(0.6 * 2) - 1
    assert _row(res.targets, "T15", "rural")["met"] == True  # noqa: E712
    t13 = _row(res.targets, "T13", "all")
    assert t13["value"] == pytest.approx(560 / 1800)
    assert t13["met"] == True  # noqa: E712
    per = res.by_community[res.by_community["target_id"] == "T13"].set_index("community_id")
    assert list(per["met"]) == [True, False, False]
    t9 = _row(res.targets, "T9", "all")
    assert t9["value"] == 1.0
    t11 = _row(res.targets, "T11", "all")
    assert t11["value"] == pytest.approx(2 / 3)
    assert t11["facilities_unknown"] == 1
    assert t11["facilities_short"] == 1
    t14 = _row(res.targets, "T14", "urban")
    assert t14["status"] == "not assessed: column social_organisations missing"
    assert pd.isna(t14["met"])
    assert _row(res.by_division, "T14", "rural", division="罗江区")["status"].startswith(
        "not assessed")
    assert _row(res.targets, "T16", "rural")["status"].startswith("not assessable")
    # without the columns at all
    bare = _run()
    assert _row(bare.targets, "T12", "all")["status"] == (
        "not assessed: column social_workers missing")
    assert _row(bare.targets, "T9", "all")["status"] == (
        "not assessed: column barrier_free missing")


def test_capacity_not_assessed_without_reach_or_column() -> None:
    res = _run(reach=None)
    assert _row(res.targets, "T5", "all")["status"] == "not assessed: no reach set given"
    res = _run(targets=["T8"])
    assert _row(res.targets, "T8", "all")["status"] == "not assessed: column site_area_m2 missing"


def test_t4_per_person_rural_scope() -> None:
    fac = _facilities(site_area_m2=[np.nan] * 5,
                      category=["outdoor_square", "outdoor_square", "service_centre",
                                "service_centre", "fitness_station"])
    fac.loc[0, "site_area_m2"] = 1800.0
    fac.loc[1, "site_area_m2"] = 400.0
    # outdoor_square: threshold 10 min urban, 30 min rural
    # F1 catchment U1 (2), U2 (4) -> 1500 people; F2 catchment U2 (0), U3 (10) -> 800 people
    # R1 = 1.2, R2 = 0.5; A(U3) = 0.5 < 2.5 -> C3 short 2.0 * 300 = 600 m2
    res = _run(facilities=fac, targets=["T4"])
    t4 = _row(res.targets, "T4", "rural")
    assert t4["value"] == pytest.approx(0.5)
    assert t4["m2_missing"] == pytest.approx(600.0)
    assert t4["people_short"] == 300
    assert set(res.by_community["community_id"]) == {"C3"}


def test_inputs_not_mutated_and_deterministic() -> None:
    comm, fac = _communities(), _facilities()
    c0, f0, u0, a0 = comm.copy(), fac.copy(), UNITS.copy(), ACCESS.copy()
    r1 = _run(communities=comm, facilities=fac)
    r2 = _run(communities=comm, facilities=fac)
    pd.testing.assert_frame_equal(r1.targets, r2.targets)
    pd.testing.assert_frame_equal(r1.by_community, r2.by_community)
    pd.testing.assert_frame_equal(comm, c0)
    pd.testing.assert_frame_equal(fac, f0)
    pd.testing.assert_frame_equal(UNITS, u0)
    pd.testing.assert_frame_equal(ACCESS, a0)


def test_bad_inputs_reported_together() -> None:
    comm = _communities()
    comm.loc[1, "kind"] = "town"
    acc = ACCESS.copy()
    acc.loc[0, "demand_id"] = "U9"
    with pytest.raises(InputError) as info:
        _run(communities=comm, access=acc)
    text = str(info.value)
    assert "kind" in text
    assert "U9" in text
    with pytest.raises(InputError, match="population"):
        _run(communities=_communities().drop(columns="population"))


def test_every_row_carries_source_and_verified() -> None:
    res = _run()
    assert res.targets["source"].str.len().gt(0).all()
    assert res.targets["verified"].notna().all()
    t2 = _row(res.targets, "T2", "urban")
    assert "15分钟" in t2["standard_source"]
    assert t2["standard_verified"] == False  # noqa: E712
    t3 = _row(res.targets, "T3", "rural")
    assert "ASSUMPTION" in t3["standard_source"]
    assert t3["standard_verified"] == False  # noqa: E712
    t1 = _row(res.targets, "T1", "urban")
    assert t1["standard_verified"] == True  # noqa: E712
    assert set(res.targets["target_id"]) >= {f"T{i}" for i in range(1, 17)}


def test_modified_catalog_copy_changes_results(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    text = text.replace('version = "deyang-2018.2"', 'version = "other-1"')
    assert text.count("target = 30.0") == 1
    text = text.replace("target = 30.0", "target = 20.0")
    path = tmp_path / "std_other.toml"
    path.write_text(text, encoding="utf-8")
    res = _run(catalog=load_catalog(path), targets=["T5"])
    assert res.catalog_version == "other-1"
    assert res.parameters["catalog_version"] == "other-1"
    t5 = _row(res.targets, "T5", "all")
    assert t5["target"] == 20.0
    assert t5["m2_missing"] == pytest.approx(10.0)  # only C3: (20 - 10) * 1
    # the average 150/7 meets 20, yet C3 stays short: the gap is kept
    assert t5["met"] == True  # noqa: E712
    assert t5["communities_short"] == 1
    assert t5["people_short"] == 300


def test_write_csv_with_bom_and_workbook(tmp_path: Path) -> None:
    res = _run()
    files = res.write(tmp_path / "out")
    names = sorted(p.name for p in files)
    assert "compliance.xlsx" in names
    assert "compliance_city.csv" in names
    raw = (tmp_path / "out" / "compliance_city.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(tmp_path / "out" / "compliance_city.csv", encoding="utf-8-sig")
    assert HEADERS["value"] in back.columns
    assert "现状值 value" in back.columns
    assert len(back) == len(res.targets)
    with pd.ExcelFile(tmp_path / "out" / "compliance.xlsx") as book:
        sheets = book.sheet_names
        city = pd.read_excel(book, sheet_name="全市 city")
    assert "社区 communities" in sheets
    assert "区县 divisions" in sheets
    assert len(city) == len(res.targets)
    params = pd.read_csv(tmp_path / "out" / "compliance_parameters.csv", encoding="utf-8-sig")
    assert "deyang-2018.2" in params.iloc[:, 1].tolist()
    std = pd.read_csv(tmp_path / "out" / "compliance_standards.csv", encoding="utf-8-sig")
    assert {"未核实 UNVERIFIED", "已核实 verified"} <= set(std["已核实 verified"])
    assert std["依据 source"].notna().all()
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_community_wide_sheet() -> None:
    res = _run()
    wide = res.community_wide()
    assert list(wide["community_id"]) == ["C1", "C2", "C3"]
    assert wide.loc[0, "T5 value"] == pytest.approx(20.0)
    assert wide.loc[2, "T5 value"] == pytest.approx(10.0)
    assert list(wide["T5 met"]) == [False, True, False]
    # T2 is urban only: C3 has no value
    assert pd.isna(wide.loc[2, "T2 value"])
    assert pd.isna(wide.loc[2, "T2 met"])


def test_gap_summary_lines() -> None:
    lines = gap_summary(_run())
    t5 = next(line for line in lines if line.startswith("T5 all"))
    assert "60 m2" in t5
    assert "2 communities" in t5
    assert not any(line.startswith("T2 urban") for line in lines)


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_cli_end_to_end(tmp_path: Path) -> None:
    """A straight street (nodes every 0.002 deg = 190.6 m at 31.13 N), walk 4 km/h.

    C1 (urban, 400 households) sits 47.6 m from station S1 (400 m2): 0.7 min;
    C2 (urban, 300 households) 1143 m away: 17.2 min > 15; C3 (rural, 100) 1906 m: 28.6 <= 30.
    2SFCA T5: S1 serves C1 and C3 (demand 4 + 1): R = 80; city = (4*80 + 1*80) / 8 = 50;
    C2 gets nothing: 30 * 3 = 90 m2 missing. Centre M1 600 m2 < 800: T6 value 1/2.
    """
    from deyang_geo.cli.app import main

    out = tmp_path / "out"
    code = main([
        "-q", "compliance", "--network", str(FIXTURES / "std_streets.osm"),
        "--facilities", str(FIXTURES / "std_facilities.csv"),
        "--demand", str(FIXTURES / "std_communities.geojson"),
        "--osm-facilities", "--out", str(out),
    ])
    assert code == 0
    city = pd.read_csv(out / "compliance_city.csv", encoding="utf-8-sig")
    city = city.rename(columns={v: k for k, v in HEADERS.items()})
    t2 = _row(city, "T2", "urban")
    assert t2["value"] == 0.5
    assert t2["status"] == "未达标 missed"
    t5 = _row(city, "T5", "all")
    assert t5["value"] == pytest.approx(50.0, abs=1e-3)
    assert t5["m2_missing"] == pytest.approx(90.0, abs=1e-3)
    assert _row(city, "T6", "all")["value"] == 0.5
    assert _row(city, "T3", "rural")["value"] == 1.0
    # the fitness station at C3 comes from the OSM file
    assert _row(city, "T7", "rural")["value"] == 1.0
    assert "未核实 UNVERIFIED" in set(city["standard_verified"])
    assert (out / "compliance.xlsx").exists()
    assert main(["-q", "compliance", "--network", str(FIXTURES / "std_streets.osm"),
                 "--facilities", str(FIXTURES / "std_facilities.csv"),
                 "--demand", str(FIXTURES / "std_communities.geojson"),
                 "--threshold", "nonsense", "--out", str(out)]) == 2


def test_target_threshold_is_urban_only() -> None:
    # T7 sets 15 min for urban communities; the rural one keeps the 30-min assumption
    acc = ACCESS.copy()
    acc.loc[5, "minutes"] = 25.0
    res = _run(access=acc, targets=["T7"])
    assert _row(res.targets, "T7", "rural")["value"] == 1.0
    assert "rural threshold" in _row(res.targets, "T7", "rural")["standard_source"]
    assert _row(res.targets, "T7", "urban")["threshold"] == "fitness_station <= 15 min walk"
    assert _row(res.targets, "T7", "rural")["threshold"] == "fitness_station <= 30 min walk"


def test_workbook_text_never_becomes_a_formula(tmp_path: Path) -> None:
    """A community named like a formula is written as text in compliance.xlsx."""
    from openpyxl import load_workbook

    from deyang_geo.planning.compliance_tables import write_compliance_workbook

    table = pd.DataFrame({"name": ['=HYPERLINK("http://x")', "长乐社区"], "value": [1.0, 2.0]})
    path = tmp_path / "book.xlsx"
    write_compliance_workbook(path, [("communities", table)])
    sheet = load_workbook(path)["communities"]
    assert sheet["A2"].data_type == "s"
    assert str(sheet["A2"].value).startswith("'=")
    assert sheet["A3"].value == "长乐社区"


def _openpyxl_workbook(path: Path, sheets: list[tuple[str, pd.DataFrame]]) -> None:
    """The compliance workbook as openpyxl's write-only mode wrote it before issue 13."""
    from openpyxl import Workbook

    from deyang_geo.io.files import excel_safe
    from deyang_geo.io.tables_zh import format_sheet

    book = Workbook(write_only=True)
    for name, raw in sheets:
        table = excel_safe(raw)
        sheet = book.create_sheet(title=name[:31])
        format_sheet(sheet, table)
        sheet.append([str(c) for c in table.columns])
        for row in table.astype(object).where(table.notna(), None).to_numpy().tolist():
            sheet.append(row)
    book.save(path)


def _members(path: Path) -> list[tuple[object, ...]]:
    import zipfile

    with zipfile.ZipFile(path) as book:
        return [(i.filename, i.compress_type, i.external_attr,
                 b"" if i.filename == "docProps/core.xml" else book.read(i.filename))
                for i in book.infolist()]


def test_workbook_is_what_openpyxl_wrote(tmp_path: Path) -> None:
    """Issue 13: the fast compliance workbook holds openpyxl's cells, formats and sheets."""
    from openpyxl import load_workbook

    res = _run(communities=_communities(name=['=HYPERLINK("http://x")', "长乐社区", "五里村"]))
    res.write(tmp_path / "out")
    ours = tmp_path / "out" / "compliance.xlsx"
    tables = res.tables()
    tables["community"] = res.community_wide()
    names = ["全市 city", "区县 divisions", "街道乡镇 townships", "社区 communities",
             "面积不足 undersized", "标准依据 standards", "参数 parameters"]
    sheets = [(name, table if key == "parameters" else for_planners(table))
              for name, (key, table) in zip(names, tables.items(), strict=True)]
    _openpyxl_workbook(tmp_path / "reference.xlsx", sheets)
    assert _members(ours) == _members(tmp_path / "reference.xlsx")
    book = load_workbook(ours)
    assert str(book["社区 communities"]["B2"].value).startswith("'=")


def test_community_csv_translated_block_by_block(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: the long community CSV is translated a block of rows at a time (no whole
    translated copy of a 1 M-community table); the bytes are those of the whole table."""
    from deyang_geo.io import files
    from deyang_geo.io.files import write_csv_atomic

    res = _run(communities=_communities(name=['=HYPERLINK("http://x")', "长乐社区", "五里村"]))
    write_csv_atomic(for_planners(res.by_community), tmp_path / "whole.csv")
    monkeypatch.setattr(files, "_CSV_CHUNK_CELLS", 30)  # a row or two per block
    monkeypatch.setattr(files, "_CSV_CHUNKS_PER_BLOCK", 1)
    res.write(tmp_path / "out")
    assert len(res.by_community) > 5
    assert ((tmp_path / "out" / "compliance_communities.csv").read_bytes()
            == (tmp_path / "whole.csv").read_bytes())


def test_workbook_sheet_too_long_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13: a community sheet longer than Excel's limit continues on sheet (2), said in
    the log; every community is in the workbook and the CSV."""
    import logging

    from openpyxl import load_workbook

    from deyang_geo.io import tables_zh

    res = _run()
    wide = res.community_wide()
    assert len(wide) == 3
    monkeypatch.setattr(tables_zh, "EXCEL_MAX_ROWS", 3)  # a header and 2 communities
    monkeypatch.setattr(logging.getLogger("deyang_geo"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="deyang_geo"):
        res.write(tmp_path / "out")
    assert ("compliance.xlsx: sheet 社区 communities has more rows than an Excel sheet holds; "
            "it continues on sheet 社区 communities (2)") in caplog.text
    book = load_workbook(tmp_path / "out" / "compliance.xlsx", read_only=True)
    names = book.sheetnames
    assert names[names.index("社区 communities") + 1] == "社区 communities (2)"
    first = list(book["社区 communities"].iter_rows(values_only=True))
    second = list(book["社区 communities (2)"].iter_rows(values_only=True))
    book.close()
    assert first[0] == second[0] == tuple(for_planners(wide).columns)
    assert [r[0] for r in first[1:] + second[1:]] == wide["community_id"].tolist()
    long = pd.read_csv(tmp_path / "out" / "compliance_communities.csv", encoding="utf-8-sig")
    assert len(long) == len(res.by_community)


# --------------------------------------------------------------------------------------------
# the plan read as the plan means it: presence (建有 / 全覆盖) next to travel time
# --------------------------------------------------------------------------------------------


def _squares(communities: gpd.GeoDataFrame, which: tuple[int, ...] = (0, 1, 2),
             half_deg: float = 0.004) -> gpd.GeoDataFrame:
    """Communities C1-C3 as squares around their points (C1 holds F1 and F5, C2 F3 and F4,
    C3 F2)."""
    out = communities.copy()
    geoms = list(out.geometry)
    for i in which:
        geoms[i] = shapely.box(geoms[i].x - half_deg, geoms[i].y - half_deg,
                               geoms[i].x + half_deg, geoms[i].y + half_deg)
    return out.set_geometry(gpd.GeoSeries(geoms, crs="EPSG:4326"))


def test_presence_is_read_next_to_travel_time_with_polygons() -> None:
    res = _run(communities=_squares(_communities()), targets=["T1", "T2", "T3", "T7", "T10"])
    city = res.targets
    # T1 is a travel-time target only; T2, T3, T7, T10 are read both ways
    assert set(city.loc[city["target_id"] == "T1", "reading"]) == {"travel_time"}
    for tid in ("T2", "T3", "T7", "T10"):
        assert set(city.loc[city["target_id"] == tid, "reading"]) == {"travel_time", "presence"}
    t2 = _row(city, "T2", "urban", reading="presence")
    # C1 has station F1 inside it, C2 (500 people) has none: 1 of 2 urban communities
    assert t2["value"] == 0.5
    assert t2["met"] == False  # noqa: E712
    assert (t2["communities_short"], t2["people_short"]) == (1, 500)
    assert t2["population_share"] == pytest.approx(1000 / 1500)
    assert "inside the community" in t2["threshold"]
    assert t2["standard_source"].startswith("plan text: PLAN 三(一)2")
    assert t2["unit"] == "communities with the facility"
    # the travel-time reading of the same target answers differently: both are shown
    assert _row(city, "T2", "urban")["value"] == 1.0
    assert _row(city, "T3", "rural", reading="presence")["value"] == 1.0  # F2 in C3
    assert _row(city, "T7", "urban", reading="presence")["value"] == 0.5  # F5 in C1
    assert _row(city, "T7", "rural", reading="presence")["value"] == 0.0
    assert _row(city, "T10", "all", reading="presence")["value"] == 0.0  # no children's home
    comm = res.by_community
    c2 = comm[(comm["target_id"] == "T2") & (comm["reading"] == "presence")
              & (comm["community_id"] == "C2")].iloc[0]
    assert (c2["value"], c2["met"], c2["target"]) == (0.0, False, 1.0)
    wide = res.community_wide()
    assert wide["T2 presence value"].tolist()[:2] == [1.0, 0.0]
    assert pd.isna(wide.loc[2, "T2 presence value"])  # C3 is rural: T2 is urban only
    assert list(wide["T2 presence met"])[:2] == [True, False]
    assert "T2 value" in wide.columns
    assert any(line.startswith("T2 urban (presence): 0.5 < 1") for line in gap_summary(res))


def test_presence_of_point_communities_needs_a_community_column() -> None:
    """Never a silent 0: point communities without the column are 'not assessable'."""
    res = _run(targets=["T2", "T7"])
    t2 = _row(res.targets, "T2", "urban", reading="presence")
    assert t2["status"] == "not assessable: no polygon or community column"
    assert pd.isna(t2["met"])
    assert pd.isna(t2["value"])
    assert _row(res.targets, "T2", "urban")["status"] == "met"  # travel time still judged
    out = res.tables()["city"]
    assert len(out) == len(res.targets)
    # an empty column says nothing either
    res = _run(facilities=_facilities(community_id=[None, "", None, " ", None]), targets=["T2"])
    assert _row(res.targets, "T2", "urban", reading="presence")["status"] == (
        "not assessable: no polygon or community column")
    # assigned by the facilities' community column: an id (F1 -> C1) or a name (F5 -> 白马村)
    fac = _facilities(community_id=["C1", None, "", "  ", "白马村"])
    res = _run(facilities=fac, targets=["T2", "T7"])
    assert _row(res.targets, "T2", "urban", reading="presence")["value"] == 0.5
    assert _row(res.targets, "T7", "rural", reading="presence")["value"] == 1.0
    assert _row(res.targets, "T7", "urban", reading="presence")["value"] == 0.0


def test_presence_with_some_point_communities_judges_only_the_polygons() -> None:
    res = _run(communities=_squares(_communities(), which=(0,)), targets=["T2"])
    t2 = _row(res.targets, "T2", "urban", reading="presence")
    assert (t2["value"], t2["communities"]) == (1.0, 1)  # C1 only; C2 is a point
    assert "2 point communities not assessable" in t2["note"]  # C2 and C3
    comm = res.by_community
    c2 = comm[(comm["reading"] == "presence") & (comm["community_id"] == "C2")].iloc[0]
    assert c2["status"] == "not assessable: no polygon or community column"
    assert pd.isna(c2["met"])


def test_reading_in_catalog_chooses_the_rows(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    old = 'id = "T2"\n'
    i = text.index(old)
    j = text.index('reading = "both"', i)
    text = text[:j] + 'reading = "presence"' + text[j + len('reading = "both"'):]
    # its travel-time threshold and assumptions no longer apply
    for key in ("travel_time_assumptions", "threshold_verified", "threshold_source",
                "threshold_minutes"):
        k = text.index(f"\n{key} = ", i) + 1
        assert k < text.index("[[targets]]", i)  # inside the T2 block
        text = text[:k] + text[text.index("\n", k) + 1:]
    path = tmp_path / "std_presence.toml"
    path.write_text(text, encoding="utf-8")
    res = _run(catalog=load_catalog(path), communities=_squares(_communities()),
               targets=["T2"])
    assert res.targets["reading"].tolist() == ["presence"]
    assert res.targets["value"].tolist() == [0.5]


def test_every_interpretation_is_labelled_an_assumption() -> None:
    """The brief's list: each interpretation the plan does not state shows in the outputs."""
    res = _run(covered_share=0.7)
    city = res.targets

    def text(tid: str, scope: str, reading: str | None = None) -> str:
        row = _row(city, tid, scope, **({"reading": reading} if reading else {}))
        return str(row["assumptions"])

    # the covered share, with the value used
    t1 = text("T1", "urban")
    assert "at least 0.7 of its people" in t1
    assert "{covered_share}" not in " ".join(city["assumptions"])
    assert "health room" in t1  # T1's facility list
    assert "2SFCA" in text("T4", "rural")
    assert "2SFCA" in text("T5", "all")
    assert "2SFCA" in text("T8", "all")
    assert "普遍" in text("T7", "urban")
    assert "100 %" in text("T7", "urban")
    assert "基本" in text("T9", "all")
    assert "一般" in text("T11", "all")
    assert "township centres" in text("T11", "all")
    assert "300 m2" in text("T2.size", "urban")
    assert "service_centre" in text("T6", "all")  # the 800 m2 centre category
    # the presence reading is the plan's text: no covered share there
    assert "covered" not in text("T2", "urban", "presence")
    assert "ASSUMPTION" in text("T2", "urban")
    for value in city["assumptions"]:
        for part in filter(None, str(value).split(" | ")):
            assert part.startswith("ASSUMPTION"), part
    # the community rows carry them too, and the OSM tag mapping is in the standards table
    comm = res.by_community
    assert comm.loc[comm["target_id"] == "T5", "assumptions"].str.contains("2SFCA").all()
    std = res.standards
    tags = std[std["figure"] == "osm_tags"]
    assert len(tags) == 18
    assert tags["source"].str.startswith("ASSUMPTION").all()
    assert (tags["verified"] == False).all()  # noqa: E712


def test_outputs_name_plan_edition_and_target_year(tmp_path: Path) -> None:
    res = _run()
    assert res.parameters["target_year"] == "2020"
    assert "十三五" in res.parameters["plan_edition"]
    assert (res.targets["target_year"] == 2020).all()
    assert res.targets["plan_edition"].str.contains("十三五").all()
    res.write(tmp_path)
    city = pd.read_csv(tmp_path / "compliance_city.csv", encoding="utf-8-sig")
    assert set(city["目标年份 target_year"]) == {2020}
    assert city["判读方式 reading"].isin(["出行时间 travel_time", "社区内建有 presence",
                                       "两步移动搜索 2sfca", "设施面积 size",
                                       "属性 attribute"]).all()
    assert city["假设(规划未明示) assumptions"].fillna("").str.contains("ASSUMPTION").any()
    comm = pd.read_csv(tmp_path / "compliance_communities.csv", encoding="utf-8-sig")
    assert "假设(规划未明示) assumptions" in comm.columns


def test_categories_beyond_the_catalog_are_analysed_not_refused() -> None:
    """Regression: facilities of a category the catalog does not know stopped compliance."""
    fac = pd.concat([_facilities(), gpd.GeoDataFrame(
        {"id": ["P1", "P2", "M9"], "name": ["药房", "药房2", "菜场"],
         "category": ["药店", "药店", "菜市场"], "floor_area_m2": [50.0, 60.0, 900.0]},
        geometry=[shapely.Point(104.40, 31.13)] * 3, crs="EPSG:4326")], ignore_index=True)
    reach = sp.vstack([_reach(), sp.csr_array((3, 3))]).tocsr()
    acc = pd.concat([ACCESS, pd.DataFrame({
        "demand_id": ["U1", "U2", "U3"], "category": ["药店"] * 3,
        "minutes": [1.0, 2.0, np.nan], "facility_id": ["P1", "P1", None]})],
        ignore_index=True)
    res = _run(facilities=fac, access=acc, reach=reach)
    base = _run()
    assert res.parameters["categories_beyond_catalog"] == "药店 (2), 菜市场 (1)"
    cols = ["target_id", "scope", "reading", "value", "met"]
    pd.testing.assert_frame_equal(res.targets[cols], base.targets[cols])
    assert not res.targets["categories"].str.contains("药店").any()


def _facilities_csv(tmp_path: Path, extra_rows: str = "") -> Path:
    """The fixture's station S1 and centre M1, assigned to communities by 所属社区."""
    path = tmp_path / "facilities_assigned.csv"
    path.write_text(
        "编号,名称,类别,经度,纬度,建筑面积,所属社区\n"
        "S1,长江社区服务站,service_station,104.3900,31.1300,400,长江社区\n"
        "S2,白马村服务站,service_station,104.4100,31.1300,320,C3\n"
        "M1,白马镇便民服务中心,service_centre,104.4000,31.1300,600,\n" + extra_rows,
        encoding="utf-8")
    return path


def test_a_newer_catalog_is_used_end_to_end(tmp_path: Path) -> None:
    """`compliance --standards` with a 14th-plan edition: its targets, edition and year flow
    into the tables, the parameters and the report, without code changes."""
    from deyang_geo.cli.app import main

    out = tmp_path / "out"
    catalog = FIXTURES / "std_catalog_14th.toml"
    assert main([
        "-q", "compliance", "--network", str(FIXTURES / "std_streets.osm"),
        "--facilities", str(_facilities_csv(tmp_path)),
        "--demand", str(FIXTURES / "std_communities.geojson"),
        "--standards", str(catalog), "--out", str(out),
    ]) == 0
    city = pd.read_csv(out / "compliance_city.csv", encoding="utf-8-sig")
    city = city.rename(columns={v: k for k, v in HEADERS.items()})
    assert sorted(set(city["target_id"])) == ["T2", "T3"]
    assert set(city["target_year"]) == {2025}
    assert set(city["plan_edition"]) == {"测试用 十四五 14th Five-Year edition (TEST FIXTURE)"}
    t3 = _row(city, "T3", "rural", reading="社区内建有 presence")
    assert (t3["target"], t3["value"]) == (0.8, 1.0)  # S2 is assigned to C3 by its id
    t2 = _row(city, "T2", "urban", reading="社区内建有 presence")
    assert t2["value"] == 0.5  # S1 in 长江社区 (by name); 文庙社区 has none
    assert "within 15 minutes" in _row(city, "T2", "urban")["assumptions"]
    params = pd.read_csv(out / "compliance_parameters.csv", encoding="utf-8-sig")
    params = dict(zip(params["parameter"], params["value"].astype(str), strict=True))
    assert params["target_year"] == "2025"
    assert params["catalog_version"] == "test-14th.1"
    assert params["catalog_path"] == catalog.name  # no local absolute path in an output
    report = tmp_path / "report"
    assert main(["-q", "report", str(out), "--out", str(report)]) == 0
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "14th Five-Year edition (TEST FIXTURE)" in page
    assert "2025" in page
    assert "ASSUMPTION: TEST FIXTURE" in page


def test_cli_analyses_categories_beyond_the_catalog(tmp_path: Path) -> None:
    """Regression: a 药店 / 游泳池 row made `access` and `compliance` refuse the whole file.

    The pharmacy P1 sits on the street next to 长江社区 (C1), the pool at 文庙社区 (C2).
    """
    from deyang_geo.cli.app import main

    fac = _facilities_csv(tmp_path, "P1,老百姓大药房,药店,104.3905,31.1300,80,\n"
                                    "W1,游泳馆,游泳池,104.4020,31.1300,2000,\n")
    common = ["--network", str(FIXTURES / "std_streets.osm"), "--facilities", str(fac),
              "--demand", str(FIXTURES / "std_communities.geojson")]
    assert main(["-q", "access", *common, "--out", str(tmp_path / "acc")]) == 0
    acc = read_table(tmp_path / "acc" / "access.csv")  # Chinese-first file, read back
    ph = acc[acc["category"] == "药店"].set_index("demand_id")
    assert len(ph) == 3
    assert ph.loc["C1#1", "facility_id"] == "P1"
    assert ph.loc["C1#1", "minutes"] < 1.0
    assert ph["minutes"].notna().all()
    assert acc.loc[acc["category"] == "游泳池", "facility_id"].eq("W1").all()
    cov = read_table(tmp_path / "acc" / "coverage.csv")
    assert {"药店", "游泳池"} <= set(cov["category"])
    # judged at the study's default threshold (15 min): 白马村 is 27.8 min from the pharmacy
    ph_cov = cov[cov["category"] == "药店"].set_index("community_id")
    assert ph_cov.loc["C1", "covered_share_15min"] == 1.0
    assert ph_cov.loc["C3", "class"] == "outside"
    assert main(["-q", "compliance", *common, "--out", str(tmp_path / "cmp")]) == 0
    params = pd.read_csv(tmp_path / "cmp" / "compliance_parameters.csv", encoding="utf-8-sig")
    params = dict(zip(params["parameter"], params["value"].astype(str), strict=True))
    assert params["categories_beyond_catalog"] == "游泳池 (1), 药店 (1)"


def test_presence_scope_of_only_point_communities_says_why() -> None:
    """Urban polygons, a rural point village: the rural presence row is not a plain 'no data'."""
    res = _run(communities=_squares(_communities(), which=(0, 1)), targets=["T7"])
    rural = _row(res.targets, "T7", "rural", reading="presence")
    assert rural["status"] == "not assessable: no polygon or community column"
    assert pd.isna(rural["met"])
    assert _row(res.targets, "T7", "urban", reading="presence")["value"] == 0.5
    township_b = res.by_township[(res.by_township["township"] == "B")
                                 & (res.by_township["reading"] == "presence")]
    assert set(township_b["status"]) == {"not assessable: no polygon or community column"}


def test_community_column_by_name_places_facilities_for_sizes_too() -> None:
    """F2 (30 m2) stands next to 白马村 but the file assigns it to 文庙社区 by name."""
    fac = _facilities(community_id=[None, "文庙社区", None, None, None])
    res = _run(facilities=fac, targets=["T6"])
    under = res.undersized.set_index("id")
    assert under.loc["F2", "community_id"] == "C2"
    assert under.loc["F2", "township"] == "A"
    base = _run(targets=["T6"]).undersized.set_index("id")
    assert base.loc["F2", "community_id"] == "C3"  # the nearest without the column
