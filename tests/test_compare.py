"""``compare``: differences of two result folders against the two runs computed separately.

The fixture study is the one of ``test_cli_access.py`` (a main street n1..n5, a side street
n3-n7, five communities, a health room H1 on n1). The scenario adds a second health room at the
far end of the main street (n5); both runs are made with ``deyang-geo access`` and, separately,
with the Python API, and the comparison must equal the difference of the two.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deyang_geo.cli.app import main
from deyang_geo.core.errors import InputWarning
from deyang_geo.study.compare import COMPARE_HEADERS, compare_coverage, compare_folders
from deyang_geo.study.config import load_study

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NETWORK = FIXTURES / "cli_access_streets.osm"
FACILITIES = FIXTURES / "cli_access_facilities.csv"
COMMUNITIES = FIXTURES / "cli_access_communities.geojson"


def _access(out: Path, facilities: Path, *extra: str) -> None:
    code = main(["access", "--network", str(NETWORK), "--facilities", str(facilities),
                 "--demand", str(COMMUNITIES), "--out", str(out), *extra])
    assert code == 0


def _coverage(facilities: Path, *, walk_speed_kmh: float | None = None) -> pd.DataFrame:
    """The coverage table of one run, computed with the Python API."""
    from deyang_geo.analysis.access import minutes_to_nearest
    from deyang_geo.analysis.coverage import compute_coverage
    from deyang_geo.analysis.demand import demand_units
    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.io.points import read_communities, read_facilities
    from deyang_geo.network.storage import read_network

    fac = read_facilities(facilities)
    comm = read_communities(COMMUNITIES)
    net = RoutingNetwork.from_graph(read_network(NETWORK, modes=("walk",)))
    units = demand_units(comm, crs=net.crs)
    with warnings.catch_warnings():  # C4 and the library are off the network, as intended
        warnings.simplefilter("ignore", InputWarning)
        acc = minutes_to_nearest(net, units, fac, mode="walk", walk_speed_kmh=walk_speed_kmh)
    # as the access command resolves them: 10 minutes urban, the catalog's 30 on foot rural
    own = {c: {"urban": 10.0, "rural": 30.0} for c in ("health_room", "library_room")}
    return compute_coverage(acc, units, comm, threshold_minutes=10,
                            thresholds_minutes=own).communities


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    more = root / "facilities_more.csv"
    text = FACILITIES.read_text(encoding="utf-8")
    more.write_text(text + "H2,新卫生室,health_room,104.4000000,31.1300000\n", encoding="utf-8")
    _access(root / "base", FACILITIES, "--minutes", "10")
    _access(root / "more", more, "--minutes", "10")
    _access(root / "slow", FACILITIES, "--minutes", "10", "--walk-speed-kmh", "3.3")
    _access(root / "fifteen", FACILITIES)
    return {"root": root, "base": root / "base", "more": root / "more",
            "slow": root / "slow", "fifteen": root / "fifteen", "more_csv": more}


def test_differences_equal_the_two_runs_computed_separately(runs):
    cmp = compare_folders(runs["base"], runs["more"])
    before = _coverage(FACILITIES).set_index(["community_id", "category"])
    after = _coverage(runs["more_csv"]).set_index(["community_id", "category"])
    got = cmp.communities.set_index(["community_id", "category"])
    assert sorted(got.index) == sorted(before.index)
    for key in before.index:
        b, a, g = before.loc[key], after.loc[key], got.loc[key]
        # result folders hold Chinese-first tables: minutes to one decimal, whole people
        assert g["minutes_before"] == pytest.approx(b["minutes"], abs=0.051, nan_ok=True)
        assert g["minutes_after"] == pytest.approx(a["minutes"], abs=0.051, nan_ok=True)
        assert g["covered_population_change"] == pytest.approx(
            a["covered_population"] - b["covered_population"], abs=1.0)
        assert g["class_before"] == b["class"]
        assert g["class_after"] == a["class"]
    health = cmp.communities[cmp.communities["category"] == "health_room"].set_index(
        "community_id")
    # C2 stands on n5, where the new health room is: 14.3 minutes before (outside 10), 0 after
    assert health.loc["C2", "class_change"] == "outside -> covered"
    assert health.loc["C2", "change"] == "gain"
    assert health.loc["C2", "minutes_after"] == pytest.approx(0.0, abs=0.01)
    # libraries: nothing changes (the only one is on the isolated street)
    assert set(cmp.communities.loc[cmp.communities["category"] == "library_room", "change"]) \
        == {"same"}


def test_townships_and_study_area_sum_the_communities(runs):
    cmp = compare_folders(runs["base"], runs["more"])
    before = _coverage(FACILITIES)
    after = _coverage(runs["more_csv"])
    for (town, cat), row in cmp.townships.set_index(["township", "category"]).iterrows():
        b = before[(before["township"] == town) & (before["category"] == cat)]
        a = after[(after["township"] == town) & (after["category"] == cat)]
        assert row["population"] == pytest.approx(b["population"].sum())
        # folders hold whole people and minutes to one decimal (Chinese-first tables)
        people_tol = 0.5 * len(b) + 0.01
        assert row["covered_population_before"] == pytest.approx(
            b["covered_population"].sum(), abs=people_tol)
        assert row["covered_population_change"] == pytest.approx(
            a["covered_population"].sum() - b["covered_population"].sum(),
            abs=2 * people_tol)
        ok = b["minutes"].notna()
        if ok.any():  # population-weighted mean of the communities' minutes, by hand
            expected = (b.loc[ok, "minutes"] * b.loc[ok, "population"]).sum() / \
                b.loc[ok, "population"].sum()
            assert row["minutes_before"] == pytest.approx(expected, abs=0.051)
        rank = {"outside": 0, "partly": 1, "covered": 2}  # class is categorical text
        better = (b.set_index("community_id")["class"].astype(str).map(rank)
                  < a.set_index("community_id")["class"].astype(str).map(rank)).sum()
        assert row["communities_better"] == better
    area = cmp.study_area.set_index("category")
    total = cmp.communities.groupby("category")["covered_population_change"].sum()
    assert area["covered_population_change"].to_dict() == pytest.approx(total.to_dict())


def test_cli_writes_bilingual_tables_and_says_settings_agree(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(runs["base"]), str(runs["more"]), "--out", str(out),
                 "--names", "today,new room", "--demand", str(COMMUNITIES)]) == 0
    printed = capsys.readouterr().out
    assert "both runs used the same settings" in printed
    table = pd.read_csv(out / "compare_communities.csv", encoding="utf-8-sig")
    assert table.columns[0] == "社区编号 community_id"
    assert COMPARE_HEADERS["covered_population_change"] in table.columns
    assert (out / "compare_map.html").exists()
    summary = json.loads((out / "compare_summary.json").read_text(encoding="utf-8"))
    assert summary["names"] == ["today", "new room"]
    assert summary["settings_differ"] is False
    assert summary["categories"]["health_room"]["covered_population_change"] > 0
    # deterministic: the same inputs give the same bytes
    out2 = tmp_path / "cmp2"
    assert main(["compare", str(runs["base"]), str(runs["more"]), "--out", str(out2),
                 "--names", "today,new room", "--demand", str(COMMUNITIES)]) == 0
    for name in ("compare_communities.csv", "compare_townships.csv", "compare_map.html",
                 "compare_summary.json"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes().replace(
            str(out2).encode(), str(out).encode()), name


def test_different_settings_are_said(runs, tmp_path, capsys):
    cmp = compare_folders(runs["base"], runs["slow"])
    assert cmp.settings_differ
    assert "walk_speed_kmh:  -> 3.3" in cmp.settings_note()
    assert main(["compare", str(runs["base"]), str(runs["slow"]), "--out",
                 str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: the two folders were made with different settings" in printed
    assert "no community geometry in the folders: give --demand FILE" in printed
    settings = pd.read_csv(tmp_path / "c" / "compare_settings.csv", encoding="utf-8-sig")
    row = settings[settings["参数 parameter"] == "walk_speed_kmh"].iloc[0]
    assert float(row["方案后 after"]) == 3.3
    assert row["相同 same"] == "否 no"
    assert row["方案所致 expected"] != "是 yes"


def test_bad_folders_exit_2(runs, tmp_path, capsys):
    assert main(["compare", str(runs["base"]), str(tmp_path / "nope"), "--out",
                 str(tmp_path / "c")]) == 2
    assert "result folder not found" in capsys.readouterr().err
    # thresholds per category differ (10 minutes and the catalog's): said, shown per row
    assert main(["compare", str(runs["base"]), str(runs["fifteen"]), "--out",
                 str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert "WARNING: the two folders were made with different settings" in printed
    assert "threshold_minutes" in printed
    table = pd.read_csv(tmp_path / "c" / "compare_communities.csv", encoding="utf-8-sig")
    urban = table[COMPARE_HEADERS["kind"]] == "urban"
    assert set(table.loc[urban, COMPARE_HEADERS["threshold_minutes_before"]]) == {10.0}
    # without --minutes each category takes the catalog's threshold (5 or 10 min on foot)
    after = table.loc[urban, COMPARE_HEADERS["threshold_minutes_after"]]
    assert set(after) != {10.0}
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(runs["base"]), "--out",
                 str(tmp_path / "c")]) == 2
    assert "no coverage.csv" in capsys.readouterr().err


def _compliance(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    pd.DataFrame(rows, columns=["目标 target_id", "范围 scope", "现状值 value",
                                "状态 status"]).to_csv(path, index=False, encoding="utf-8-sig")


def test_targets_with_urban_and_rural_rows_are_matched_by_scope(runs, tmp_path):
    """Found while building: T7 has an urban and a rural row per place; matching on the
    target id alone paired urban with rural and reported changes between identical folders."""
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        for f in ("coverage.csv", "coverage_parameters.csv"):
            (folder / f).write_bytes((runs["base"] / f).read_bytes())
    _compliance(tmp_path / "a" / "compliance_city.csv",
                [("T7", "urban", "1.0", "达标 met"), ("T7", "rural", "0.6", "未达标 missed")])
    _compliance(tmp_path / "b" / "compliance_city.csv",
                [("T7", "rural", "0.6", "未达标 missed"), ("T7", "urban", "1.0", "达标 met")])
    assert len(compare_folders(tmp_path / "a", tmp_path / "b").targets) == 0
    _compliance(tmp_path / "b" / "compliance_city.csv",
                [("T7", "rural", "0.9", "达标 met"), ("T7", "urban", "1.0", "达标 met")])
    targets = compare_folders(tmp_path / "a", tmp_path / "b").targets
    assert targets[["level", "target_id", "scope", "value_before", "value_after"]].values \
        .tolist() == [["city", "T7", "rural", "0.6", "0.9"]]


def test_compare_coverage_marks_faster_and_unreachable():
    def table(minutes: list[float], covered: list[float], cls: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"community_id": ["A", "B", "C"], "category": "x",
                             "population": [100.0, 100.0, 100.0], "minutes": minutes,
                             "covered_population_15min": covered,
                             "covered_share_15min": np.array(covered) / 100,
                             "class": cls})

    before = table([20.0, 5.0, np.nan], [0, 100, 0], ["outside", "covered", "outside"])
    after = table([18.0, 5.0, 30.0], [0, 100, 0], ["outside", "covered", "outside"])
    d = compare_coverage(before, after, threshold_minutes=15).set_index("community_id")
    assert d["change"].to_dict() == {"A": "faster", "B": "same", "C": "faster"}
    assert d.loc["A", "minutes_change"] == pytest.approx(-2.0)


@pytest.mark.slow
def test_study_file_runs_base_and_scenarios_and_compares(tmp_path, runs):
    (tmp_path / "bridge.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"name": "shortcut"},
            "geometry": {"type": "LineString",
                         "coordinates": [[104.3950, 31.1336], [104.4000, 31.1300]]}}]}),
        encoding="utf-8")
    (tmp_path / "new_room.csv").write_text(
        "id,name,category,lon,lat\nH2,新卫生室,health_room,104.4000000,31.1300000\n",
        encoding="utf-8")
    study = tmp_path / "study.toml"
    study.write_text(
        "[study]\nname = 'fixture'\n[network]\n"
        f"osm = '{NETWORK.as_posix()}'\n"
        "[inputs]\n"
        f"communities = '{COMMUNITIES.as_posix()}'\n"
        f"facilities = '{FACILITIES.as_posix()}'\n"
        "[analysis]\nthreshold_minutes = 10\nisochrone_breaks_minutes = [5, 10]\n"
        "categories = ['health_room', 'library_room']\n"
        "[output]\nfolder = 'out'\noutputs = ['access', 'coverage']\n"
        "[scenario.room]\nadd_sites = 'new_room.csv'\n"
        "[scenario.shortcut]\nadd_lines = 'bridge.geojson'\nadd_sites = 'new_room.csv'\n",
        encoding="utf-8")
    assert len(load_study(study).scenarios) == 2
    assert main(["run", str(study)]) == 0
    out = tmp_path / "out"
    for name in ("room", "shortcut"):
        assert (out / "scenarios" / name / "settings.json").exists()
        assert (out / "compare" / name / "compare_communities.csv").exists()
    assert json.loads((out / "settings.json").read_text(encoding="utf-8"))["scenario"] is None
    # the study-file scenario gives the same differences as the two folders compared by hand
    by_file = pd.read_csv(out / "compare" / "room" / "compare_communities.csv",
                          encoding="utf-8-sig")
    by_hand = compare_folders(runs["base"], runs["more"]).communities
    change = COMPARE_HEADERS["covered_population_change"]
    assert by_file[change].round(2).tolist() == by_hand["covered_population_change"].round(
        2).tolist()
    # the shortcut n7-n5 with the new room on n5: C3 (on n7) walks the shortcut's length
    short = pd.read_csv(out / "compare" / "shortcut" / "compare_communities.csv",
                        encoding="utf-8-sig")
    c3 = short[(short[COMPARE_HEADERS["community_id"]] == "C3")
               & (short[COMPARE_HEADERS["category"]] == "health_room")].iloc[0]
    from pyproj import Geod

    shortcut_m = Geod(ellps="WGS84").line_length([104.3950, 104.4000], [31.1336, 31.1300])
    assert c3[COMPARE_HEADERS["minutes_after"]] == pytest.approx(shortcut_m / (4000 / 60),
                                                                 rel=0.01)
    room = by_file[(by_file[COMPARE_HEADERS["community_id"]] == "C3")
                   & (by_file[COMPARE_HEADERS["category"]] == "health_room")].iloc[0]
    assert room[COMPARE_HEADERS["minutes_after"]] > c3[COMPARE_HEADERS["minutes_after"]] + 3


def _sites_folder(folder: Path, covered_after: list[float], new_sites: int) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame({"community_id": ["A", "B", "C"], "population": [100.0, 200.0, 50.0],
                  "covered_population_before": [0.0, 50.0, 0.0],
                  "covered_population_after": covered_after}).to_csv(
        folder / "community_coverage.csv", index=False, encoding="utf-8-sig")
    (folder / "summary.json").write_text(json.dumps({
        "category": "fitness_station", "model": "mclp", "synthetic": True,
        "parameters": {"new_sites": new_sites, "max_minutes": 15.0}}), encoding="utf-8")
    return folder


def test_two_suggest_sites_folders(tmp_path):
    five = _sites_folder(tmp_path / "five", [100.0, 150.0, 0.0], 5)
    eight = _sites_folder(tmp_path / "eight", [100.0, 200.0, 20.0], 8)
    cmp = compare_folders(five, eight, names=("5 sites", "8 sites"))
    d = cmp.communities.set_index("community_id")
    assert d["covered_population_change"].tolist() == [0.0, 50.0, 20.0]
    assert d["class_change"].tolist() == ["", "partly -> covered", "outside -> partly"]
    assert d["minutes_before"].isna().all()  # not recorded by suggest-sites
    assert cmp.threshold_minutes == 15.0
    assert cmp.settings_differ
    assert "parameters.new_sites: 5 -> 8" in cmp.settings_note()
    assert cmp.study_area["covered_population_change"].tolist() == [70.0]


def test_settings_changed_by_the_scenario_are_expected_others_warned(runs, tmp_path):
    def folder(name: str, walk: float, snap: float, scenario: dict | None) -> Path:
        f = tmp_path / name
        f.mkdir()
        for file in ("coverage.csv", "coverage_parameters.csv"):
            (f / file).write_bytes((runs["base"] / file).read_bytes())
        record = {"study": {"name": name, "network": {"speeds_kmh": {"walk": walk}},
                            "analysis": {"max_snap_m": snap}}, "scenario": scenario}
        (f / "settings.json").write_text(json.dumps(record), encoding="utf-8")
        return f

    base = folder("base", 4.0, 300.0, None)
    older = folder("older", 3.3, 300.0, {"name": "older", "walk_speed_kmh": 3.3})
    cmp = compare_folders(base, older)
    assert not cmp.settings_differ  # the speed and the name are the scenario's
    expected = cmp.settings[cmp.settings["expected"]]["parameter"].tolist()
    assert "study.network.speeds_kmh.walk" in expected
    assert "study.name" in expected
    snap = folder("snap", 4.0, 500.0, {"name": "snap", "walk_speed_kmh": None})
    cmp = compare_folders(base, snap)
    assert cmp.settings_differ
    assert "study.analysis.max_snap_m: 300.0 -> 500.0" in cmp.settings_note()


def test_a_record_in_one_folder_only_is_not_a_difference(runs, tmp_path):
    scen = tmp_path / "scen"
    scen.mkdir()
    for file in ("coverage.csv", "coverage_parameters.csv"):
        (scen / file).write_bytes((runs["base"] / file).read_bytes())
    (scen / "settings.json").write_text(json.dumps({"study": {"name": "x"}}), encoding="utf-8")
    cmp = compare_folders(runs["base"], scen)
    assert not cmp.settings_differ
    assert "settings.json only in one folder: not compared" in cmp.settings_note()
    assert "both runs used the same settings" in cmp.settings_note()
