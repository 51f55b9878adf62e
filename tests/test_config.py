"""Tests of deyang_geo.study.config: the study configuration file."""

from __future__ import annotations

import dataclasses
import json
import math
import textwrap
from pathlib import Path

import pytest

from deyang_geo.core import settings
from deyang_geo.core.errors import ConfigError
from deyang_geo.study.config import StudyConfig, load_study

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "study.toml"
DEMO_FILES = ("jingyang_synthetic.osm.gz", "divisions.geojson", "communities.geojson",
              "facilities.geojson", "candidates.geojson")

MINIMAL = """
[network]
osm = "net.osm"

[inputs]
communities = "communities.csv"
facilities = "facilities.csv"
"""


def write_study(folder: Path, text: str, files: tuple[str, ...] = ("net.osm",
                "communities.csv", "facilities.csv")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_bytes(b"")
    path = folder / "study.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_study(path)
    assert all(p.file == str(path.resolve()) for p in info.value.problems)
    return [p.message for p in info.value.problems]


def test_demo_study_parses(tmp_path):
    copy = tmp_path / "demo"
    copy.mkdir()
    (copy / "study.toml").write_bytes(DEMO.read_bytes())
    for name in DEMO_FILES:
        (copy / name).write_bytes(b"")
    study = load_study(copy / "study.toml")
    assert study.synthetic
    assert study.network.source == "osm"
    assert study.network.osm == (copy / "jingyang_synthetic.osm.gz").resolve()
    assert study.area.divisions == ("旌阳区",)
    assert [s.category for s in study.siting] == ["fitness_station", "service_station"]
    fitness = study.scenario("fitness_station")
    assert (fitness.model, fitness.new_sites, fitness.minutes) == ("mclp", 5, 15.0)
    assert study.scenario("service_station").candidates == "file"
    assert study.inputs.candidates is not None
    assert study.analysis.isochrone_breaks_minutes == (5.0, 10.0, 15.0)
    json.dumps(study.as_dict(), ensure_ascii=False)  # provenance is plain JSON
    with pytest.raises(KeyError):
        study.scenario("library_room")


def test_real_demo_study_when_built():
    if not all((DEMO.parent / name).exists() for name in DEMO_FILES):
        pytest.skip("demo data not built yet")
    study = load_study(DEMO)
    assert study.inputs.communities.path.exists()


def test_minimal_study_defaults_from_settings(tmp_path, monkeypatch):
    path = write_study(tmp_path / "中文 路径", MINIMAL)
    monkeypatch.setattr(settings, "max_snap_m", 123.0)
    study = load_study(path)
    assert isinstance(study, StudyConfig)
    assert study.name == "study"
    assert study.analysis.max_snap_m == 123.0  # read at call time
    assert study.analysis.mode == "walk"
    assert study.analysis.threshold_minutes is None  # per category from the catalog
    assert study.network.modes == ("walk",)
    assert study.inputs.facilities is not None
    assert study.inputs.facilities.input_crs == "wgs84"
    assert study.inputs.candidates is None
    assert study.output.folder == (path.parent / "out").resolve()
    assert study.siting == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.name = "x"  # type: ignore[misc]


def test_input_files_with_their_own_crs(tmp_path):
    path = write_study(tmp_path, """
        [network]
        graph = "g.graphml"
        [inputs]
        input_crs = "gcj02"
        communities = "c.csv"
        [inputs.facilities]
        path = "sub/f.xlsx"
        input_crs = "EPSG:4544"
        """, files=("g.graphml", "c.csv"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.xlsx").write_bytes(b"")
    study = load_study(path)
    assert study.inputs.communities.input_crs == "gcj02"
    assert study.inputs.facilities is not None
    assert study.inputs.facilities.path == (tmp_path / "sub" / "f.xlsx").resolve()
    assert study.inputs.facilities.input_crs == "EPSG:4544"
    assert study.network.source == "graph"


def test_siting_scenario_wrong_types_and_unknown_keys_named(tmp_path):
    path = write_study(tmp_path, MINIMAL + """
        [siting.fitness_station]
        model = "mclp"
        new_sites = "five"
        time_limit = 30

        [siting."体育健身点"]
        new_sites = 2
        """)
    messages = problems_of(path)
    assert messages[0] == 'siting.fitness_station.new_sites: expected an integer, got "five"'
    assert messages[1].startswith("siting.fitness_station.time_limit: unknown key "
                                  "(did you mean 'time_limit_s'?)")
    assert messages[2] == "siting.体育健身点: a second scenario for 'fitness_station'"
    assert len(messages) == 3


def test_every_problem_reported_together(tmp_path):
    path = write_study(tmp_path, """
        [study]
        name = 3
        colour = "red"

        [network]
        osm = "missing.osm"
        place = "旌阳区"
        modes = ["walk", "fly"]
        [network.speeds_kmh]
        walk = -4

        [inputs]
        input_crs = "mars"
        communities = "communities.csv"

        [analysis]
        threshold_minutes = "15"
        isochrone_breaks_minutes = [10, 5, 10]
        categories = ["fitness_station", "gym"]
        covered_share = 1.5

        [siting.unknown_thing]
        model = "best"

        [output]
        lang = "fr"
        outputs = ["map", "poster"]
        """, files=("communities.csv",))
    messages = problems_of(path)
    expected_starts = [
        "study.name: expected a string, got 3",
        "study.colour: unknown key",
        "network.osm: file not found",
        "network: exactly one source is needed (osm, place, bbox or graph), got osm, place",
        'network.modes: unknown mode "fly"',
        "network.speeds_kmh.walk: must be a positive number of km/h, got -4",
        "inputs.input_crs: unknown coordinate system 'mars'",
        "inputs.facilities: missing: give a facilities file or set facilities_from_osm",
        'analysis.threshold_minutes: expected a number, got "15"',
        "analysis.isochrone_breaks_minutes: expected each break once",
        'analysis.categories: unknown category "gym"',
        "analysis.covered_share: must be at most 1",
        'siting.unknown_thing: unknown category "unknown_thing"',
        'siting.unknown_thing.model: expected one of mclp, lscp, pmedian, capacitated, got "best"',
        "siting.unknown_thing.new_sites: missing",
        'output.lang: expected one of zh, en, both, got "fr"',
        'output.outputs: unknown output "poster"',
    ]
    assert len(messages) == len(expected_starts), messages
    for message, start in zip(messages, expected_starts, strict=True):
        assert message.startswith(start), (message, start)


def test_categories_by_name_become_keys(tmp_path):
    path = write_study(tmp_path, MINIMAL + """
        [analysis]
        categories = ["体育健身站(点)", "Elderly day-care centre", "service_station"]
        rural_mode = "ebike"
        [siting."社区便民服务站"]
        model = "lscp"
        target_share = 0.6
        """)
    study = load_study(path)
    assert study.analysis.categories == ("fitness_station", "elderly_daycare", "service_station")
    scenario = study.scenario("service_station")
    assert (scenario.model, scenario.new_sites, scenario.target_share) == ("lscp", None, 0.6)
    # no minutes of its own: the site suggestion answers from the resolved analysis
    assert math.isnan(scenario.minutes)
    assert study.analysis.rural_mode == "ebike"


def test_bbox_network(tmp_path):
    path = write_study(tmp_path, """
        [network]
        bbox = [104.3, 31.05, 104.5, 31.2]
        [inputs]
        communities = "c.csv"
        facilities_from_osm = true
        """, files=("c.csv",))
    study = load_study(path)
    assert study.network.bbox == (104.3, 31.05, 104.5, 31.2)
    assert study.network.source == "bbox"
    assert study.inputs.facilities is None
    bad = write_study(tmp_path / "b", """
        [network]
        bbox = [104.5, 31.05, 104.3, 31.2]
        [inputs]
        communities = "c.csv"
        facilities_from_osm = true
        """, files=("c.csv",))
    assert problems_of(bad)[0].startswith("network.bbox: expected [west, south, east, north]")


def test_toml_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[network]\nosm = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        load_study(path)
    with pytest.raises(ConfigError, match="study file not found"):
        load_study(tmp_path / "nope.toml")
    path.write_bytes("name = '旌阳'".encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_study(path)


def test_windows_notepad_bom_and_crlf(tmp_path):
    path = write_study(tmp_path, MINIMAL)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert load_study(path).network.osm == (tmp_path / "net.osm").resolve()


def test_missing_catalog_is_named(tmp_path):
    path = write_study(tmp_path, MINIMAL + """
        [standards]
        catalog = "mine.toml"
        """)
    assert problems_of(path) == [f"standards.catalog: file not found: {tmp_path / 'mine.toml'}"]


def test_scenario_budget_rules_and_forced_sites(tmp_path):
    path = write_study(tmp_path, MINIMAL + """
        [siting.fitness_station]
        new_sites = 3
        budget = 500
        [siting.service_station]
        model = "pmedian"
        budget = 100
        """)
    assert problems_of(path) == [
        "siting.fitness_station.budget: give new_sites or budget, not both",
        ("siting.service_station.budget: works with models 'mclp' and 'capacitated', not "
         "'pmedian'"),
        "siting.service_station.new_sites: missing: model 'pmedian' needs new_sites",
    ]
    ok = write_study(tmp_path / "ok", MINIMAL + """
        [siting.fitness_station]
        budget = 500.5
        forced = ["JY-C-001"]
        excluded = ["JY-C-002", "JY-C-003"]
        exclusion_zones = "zones.geojson"
        """, files=("net.osm", "communities.csv", "facilities.csv", "zones.geojson"))
    scenario = load_study(ok).scenario("fitness_station")
    assert (scenario.new_sites, scenario.budget) == (None, 500.5)
    assert scenario.forced == ("JY-C-001",)
    assert scenario.excluded == ("JY-C-002", "JY-C-003")
    assert scenario.exclusion_zones == (ok.parent / "zones.geojson").resolve()
