"""One analysis, one answer: settings resolved once and every step of a study agreeing.

Regression tests of issue 11, "What was found" items 1, 2 and 4, and the cross-step
consistency test (coverage = siting before = compliance numerator, urban and rural apart).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deyang_geo.cli.app import main
from deyang_geo.core.errors import ConfigError
from deyang_geo.core.standards import load_catalog
from deyang_geo.io.tables_zh import read_table
from deyang_geo.study.config import load_study
from deyang_geo.study.demo import demo_data_dir
from deyang_geo.study.resolved import distance_minutes, resolve_analysis

DEMO_FILES = ("communities.geojson", "facilities.geojson", "candidates.geojson",
              "jingyang_synthetic.osm.gz")


def _copy_demo(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        shutil.copy(demo_data_dir() / name, folder / name)


def _demo_text() -> str:
    return (demo_data_dir() / "study.toml").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# resolution rules


def test_resolution_per_category_and_group_with_sources() -> None:
    catalog = load_catalog()
    r = resolve_analysis(catalog=catalog, categories=["service_station", "service_centre",
                                                      "pharmacy"],
                         mode="walk", rural_mode="ebike", given=["rural_mode"])
    station = r.setting("service_station", "urban")
    assert station.threshold_minutes == catalog.categories["service_station"].threshold_for(
        "walk")
    assert station.sources["threshold_minutes"].startswith("catalog")
    assert station.sources["mode"].startswith("default")
    rural = r.setting("service_station", "rural")
    assert (rural.mode, rural.speed_kmh) == ("ebike", 20.0)
    assert rural.threshold_minutes == catalog.categories["service_station"].threshold_for(
        "ebike", rural=True)
    assert rural.sources["mode"] == "study file"
    assert r.setting("service_centre", "urban").threshold_minutes == 15.0
    # a category the catalog does not know takes the default threshold, said so
    assert r.setting("pharmacy", "urban").threshold_minutes == 15.0
    assert "not in the catalog" in r.setting("pharmacy", "urban").sources["threshold_minutes"]
    assert set(r.breaks_minutes) >= {5.0, 10.0, 15.0, rural.threshold_minutes}
    assert r.setting("pharmacy", "rural").direction == "to_facility"
    table = r.table()
    assert len(table) == 6
    assert set(table["group"]) == {"urban", "rural"}


def test_standard_walking_distances_become_minutes() -> None:
    catalog = load_catalog()
    r = resolve_analysis(catalog=catalog, categories=["service_station", "police_room",
                                                      "service_centre"],
                         threshold_distance_m="standard", speeds_kmh={"walk": 4.0})
    # GB 50180: 300 m (5-minute level), 500 m (10), 1000 m (15), walked at 4 km/h
    got = {c: r.setting(c, "urban").threshold_minutes for c in r.categories}
    assert got == pytest.approx({"service_station": 4.5, "police_room": 7.5,
                                 "service_centre": 15.0})
    assert r.setting("police_room", "urban").distance_m == 500.0
    assert "500 m at 4 km/h" in r.setting("police_room", "urban").sources["threshold_minutes"]
    # one distance for every category
    one = resolve_analysis(catalog=catalog, categories=["fitness_station"],
                           threshold_distance_m=500, speeds_kmh={"walk": 4.0})
    assert one.setting("fitness_station", "urban").threshold_minutes == pytest.approx(
        distance_minutes(500, 4.0))
    with pytest.raises(ConfigError, match="not both"):
        resolve_analysis(catalog=catalog, categories=["fitness_station"],
                         threshold_minutes=10, threshold_distance_m=500)


# ---------------------------------------------------------------------------------------------
# item 4: the command line and the study file accept the same values with the same meaning

MINIMAL = """
[network]
osm = "jingyang_synthetic.osm.gz"
[inputs]
communities = "communities.geojson"
facilities = "facilities.geojson"
"""


def _problems(folder: Path, text: str) -> list[str]:
    path = folder / "study.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_study(path)
    return [p.message for p in info.value.problems]


def test_study_file_refuses_what_the_command_line_refuses(tmp_path: Path) -> None:
    _copy_demo(tmp_path)
    messages = _problems(tmp_path, MINIMAL + """
[siting.fitness_station]
model = "lscp"
target_share = 0
[siting.service_station]
model = "lscp"
new_sites = 3
[siting.health_room]
model = "mclp"
budget = 0
""")
    text = "\n".join(messages)
    assert "siting.fitness_station.target_share: must be in (0, 1], got 0" in text
    assert "siting.service_station.new_sites: model 'lscp' finds the fewest sites" in text
    assert "siting.health_room.budget: must be a positive number, got 0" in text


def test_candidates_file_missing_fails_at_load(tmp_path: Path) -> None:
    """``candidates = "file"`` (and the old default) without a file fails at load, not at 8/9."""
    _copy_demo(tmp_path)
    messages = _problems(tmp_path, MINIMAL + """
[siting.fitness_station]
new_sites = 2
candidates = "file"
""")
    assert any(m.startswith("siting.fitness_station.candidates: 'file' needs a candidates file")
               for m in messages)
    # without a candidates file and without a candidates key: network nodes, as on the CLI
    (tmp_path / "study.toml").write_text(MINIMAL + """
[siting.fitness_station]
new_sites = 2
""", encoding="utf-8")
    assert load_study(tmp_path / "study.toml").scenario("fitness_station").candidates == "nodes"


def test_duplicate_breaks_refused_on_both(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _copy_demo(tmp_path)
    messages = _problems(tmp_path, MINIMAL + """
[analysis]
isochrone_breaks_minutes = [5, 5, 15]
""")
    assert any("expected each break once" in m for m in messages)
    fixtures = Path(__file__).parent / "fixtures"
    code = main(["isochrones", "--network", str(fixtures / "cli_access_streets.osm"),
                 "--facilities", str(fixtures / "cli_access_facilities.csv"),
                 "--minutes", "5,5,15", "--out", str(tmp_path / "iso.gpkg")])
    assert code == 2
    assert "expected each break once" in capsys.readouterr().err
    assert not (tmp_path / "iso.gpkg").exists()


def test_suggest_sites_refuses_what_the_study_file_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_siting_cli import base_args, write_inputs

    files = write_inputs(tmp_path)
    out = tmp_path / "x"
    assert main([*base_args(files, out), "--budget", "0"]) == 2
    assert "--budget: must be a positive number" in capsys.readouterr().err
    assert main([*base_args(files, out), "--model", "lscp", "--new-sites", "3"]) == 2
    assert "model 'lscp' finds the fewest sites itself" in capsys.readouterr().err
    assert main([*base_args(files, out), "--model", "lscp", "--target-share", "0"]) == 2
    assert "--target-share: must be in (0, 1]" in capsys.readouterr().err
    assert main([*base_args(files, out), "--new-sites", "1",
                 "--candidate-source", "file"]) == 2
    assert "needs --candidates" in capsys.readouterr().err
    # the study file's vocabulary works on the command line
    assert main([*base_args(files, out), "--new-sites", "1", "--candidates",
                 str(files["candidates"]), "--candidate-source", "both"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["minutes"] == 5.0
    assert summary["mode"] == "walk"


def test_compliance_command_calls_the_pipeline_step(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import deyang_geo.study.pipeline as pipeline

    calls: list[Any] = []
    original = pipeline.compute_compliance

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("resolved"))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "compute_compliance", spy)
    fixtures = Path(__file__).parent / "fixtures"
    code = main(["-q", "compliance", "--network", str(fixtures / "std_streets.osm"),
                 "--facilities", str(fixtures / "std_facilities.csv"),
                 "--demand", str(fixtures / "std_communities.geojson"),
                 "--rural-mode", "ebike", "--out", str(tmp_path / "out")])
    assert code == 0
    assert len(calls) == 1
    assert calls[0] is not None
    assert {calls[0].setting(c, "rural").mode for c in calls[0].categories} == {"ebike"}
    city = pd.read_csv(tmp_path / "out" / "compliance_city.csv", encoding="utf-8-sig")
    scope = next(c for c in city.columns if str(c).endswith("scope"))
    rural = city[city[scope].astype(str) == "rural"]
    threshold = rural[next(c for c in city.columns if str(c).endswith(" threshold"))]
    threshold = threshold.astype(str)
    judged = threshold[threshold.str.contains("min")]
    assert len(judged)
    assert judged.str.contains("ebike").all()


# ---------------------------------------------------------------------------------------------
# items 1 and 2, and the consistency of every step


def _kind_of_units(result: Any) -> pd.Series:
    comm = result.inputs.communities.set_index(result.inputs.communities["id"].astype(str))
    return comm["kind"]


def _check_consistency(result: Any) -> int:
    """Coverage = siting before = compliance numerator per category and group; return checks."""
    cov = result.coverage.study_area
    resolved = result.resolved
    kinds = _kind_of_units(result)
    checks = 0
    for category, site in result.sites.items():
        rows = cov[cov["category"] == category].set_index("kind")
        assert site.covered_population_before == pytest.approx(
            rows.loc["all", "covered_population"], rel=1e-9, abs=1e-6)
        per = site.community_coverage.assign(
            kind=lambda d: d["community_id"].map(kinds))
        for group in ("urban", "rural"):
            if group in rows.index:
                before = per.loc[per["kind"] == group, "covered_population_before"].sum()
                assert before == pytest.approx(rows.loc[group, "covered_population"],
                                               rel=1e-9, abs=1e-6), (category, group)
                checks += 1
    catalog = load_catalog(result.config.standards_catalog)
    targets = result.compliance.targets
    for target in catalog.targets:
        if target.kind != "coverage" or len(target.categories) != 1:
            continue
        cat = target.categories[0]
        if cat not in resolved.categories:
            continue
        for group in ("urban", "rural"):
            row = targets[(targets["target_id"] == target.id) & (targets["scope"] == group)]
            if "reading" in row.columns:  # the travel-time reading, not presence
                row = row[row["reading"].astype(str).str.contains("travel")]
            if not len(row):
                continue
            used = (target.threshold_minutes if group == "urban"
                    and target.threshold_minutes is not None
                    else resolved.setting(cat, group).threshold_minutes)
            if used != resolved.setting(cat, group).threshold_minutes:
                continue
            numerator = float(row["population"].iloc[0] * row["population_share"].iloc[0])
            covered = cov[(cov["category"] == cat) & (cov["kind"] == group)]
            assert numerator == pytest.approx(float(covered["covered_population"].iloc[0]),
                                              rel=1e-6), (target.id, group)
            assert resolved.setting(cat, group).mode in str(row["threshold"].iloc[0])
            checks += 1
    return checks


def _run(config: Any, out: Path, outputs: tuple[str, ...]) -> tuple[Any, list[str]]:
    """Run a study with some outputs, recording the modes of the 2SFCA reach sets."""
    from deyang_geo.study import pipeline
    from deyang_geo.study.pipeline import run_study

    modes: list[str] = []
    original = pipeline.reach_set

    def spy(*args: Any, **kwargs: Any) -> Any:
        modes.append(kwargs["mode"])
        return original(*args, **kwargs)

    config = dataclasses.replace(config, output=dataclasses.replace(config.output,
                                                                    outputs=outputs))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "reach_set", spy)
        result = run_study(config, out_dir=out)
    return result, modes


@pytest.mark.slow
def test_demo_every_step_gives_the_same_answer(tmp_path: Path) -> None:
    """Item 2: fitness stations, coverage 515,782 people versus siting "before 468,722"."""
    config = load_study(demo_data_dir() / "study.toml")
    result, reach_modes = _run(config, tmp_path, ("coverage", "compliance", "sites"))
    assert _check_consistency(result) >= 4
    fitness = result.sites["fitness_station"]
    cov = result.coverage.study_area
    covered = cov[(cov["category"] == "fitness_station") & (cov["kind"] == "all")]
    assert round(fitness.covered_population_before) == round(
        float(covered["covered_population"].iloc[0]))
    # the 2SFCA catchments of rural units are reached by e-bike, as their access
    assert "ebike" in reach_modes
    assert "walk" in reach_modes
    # rural units are judged against the rural threshold of the mode they travelled in
    t7 = result.compliance.targets
    rural_t7 = t7[(t7["target_id"] == "T7") & (t7["scope"] == "rural")]
    assert "15 min ebike" in str(rural_t7["threshold"].iloc[0])


@pytest.mark.slow
def test_catalog_thresholds_and_ebike_rural_agree_everywhere(tmp_path: Path) -> None:
    """Per-category catalog thresholds (no threshold_minutes) and an e-bike rural mode."""
    _copy_demo(tmp_path)
    text = _demo_text()
    text = text.replace("threshold_minutes = 15                   # the plan's", "# ")
    text = text.replace("rural_threshold_minutes = 15\n", "")
    text = text.replace("minutes = 15\n", "")
    text = text.replace('folder = "../../out/demo"', 'folder = "out"')
    text = text.replace('boundary = "divisions.geojson"', "# no boundary")
    text = text.replace('divisions = ["旌阳区"]', "")
    (tmp_path / "study.toml").write_text(text, encoding="utf-8")
    config = load_study(tmp_path / "study.toml")
    assert config.analysis.threshold_minutes is None
    result, reach_modes = _run(config, tmp_path / "out", ("coverage", "compliance", "sites"))
    catalog = load_catalog()
    resolved = result.resolved
    for cat in resolved.categories:
        assert resolved.setting(cat, "urban").threshold_minutes == \
            catalog.categories[cat].threshold_for("walk")
        assert resolved.setting(cat, "rural").threshold_minutes == \
            catalog.categories[cat].threshold_for("ebike", rural=True)
    # coverage decides each category at its own threshold
    comm = result.coverage.communities
    urban = comm[comm["kind"] == "urban"].groupby("category")["threshold_minutes"].unique()
    assert {c: list(v) for c, v in urban.items()} == {
        c: [catalog.categories[c].threshold_for("walk")] for c in resolved.categories}
    assert _check_consistency(result) >= 4
    assert "ebike" in reach_modes


@pytest.mark.slow
def test_minimal_study_runs_end_to_end(tmp_path: Path) -> None:
    """Item 1: without threshold_minutes the run died at 9/9 with an internal TypeError."""
    _copy_demo(tmp_path)
    (tmp_path / "study.toml").write_text(MINIMAL + """
[siting.fitness_station]
new_sites = 2
""", encoding="utf-8")
    assert main(["-q", "run", str(tmp_path / "study.toml"), "--out",
                 str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    for name in ("report.html", "map.html", "coverage.csv", "compliance_city.csv",
                 "sites/fitness_station/summary.json"):
        assert (out / name).is_file(), name
    catalog = load_catalog()
    coverage = read_table(out / "coverage.csv")  # Chinese-first file, read back to keys
    urban = coverage[coverage["kind"] == "urban"]
    for cat, minutes in urban.groupby("category")["threshold_minutes"]:
        assert set(minutes) == {catalog.categories[cat].threshold_for("walk")}, cat
    summary = json.loads((out / "sites/fitness_station/summary.json").read_text("utf-8"))
    area = read_table(out / "coverage_study_area.csv")
    fitness = area[(area["category"] == "fitness_station") & (area["kind"] == "all")]
    # the Chinese-first table holds whole people
    assert summary["covered_population_before"] == pytest.approx(
        float(fitness["covered_population"].iloc[0]), abs=0.5)
    # the report prints the resolved analysis, per category, urban and rural
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Mode and threshold per category, urban and rural" in report
    assert catalog.categories["fitness_station"].name_zh in report
    assert "to_facility" in report
    by_cat = pd.read_csv(out / "report_csv" / "parameters_by_category.csv",
                         encoding="utf-8-sig")
    assert set(np.unique(by_cat.iloc[:, 1].astype(str))) >= {"urban", "rural"}
