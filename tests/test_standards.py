from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deyang_geo.core.errors import ConfigError
from deyang_geo.core.standards import (
    CATEGORY_KEYS,
    catalog_figures,
    default_catalog_path,
    load_catalog,
)

ARCHITECTURE_KEYS = {
    "service_centre", "service_station", "mediation_room", "health_room", "police_room",
    "culture_sports", "library_room", "fitness_station", "elderly_daycare", "childrens_home",
    "volunteer_station", "social_work_room", "micro_fire_station", "emergency_shelter",
    "disaster_supply_store", "rural_service_outlet", "outdoor_square", "sports_ground",
}


def test_shipped_catalog_has_exactly_the_architecture_keys() -> None:
    cat = load_catalog()
    assert set(cat.categories) == ARCHITECTURE_KEYS
    assert tuple(cat.categories) == CATEGORY_KEYS
    assert cat.version
    for key, c in cat.categories.items():
        assert c.key == key
        assert c.name_zh
        assert c.name_en
        assert c.life_circle in cat.life_circles


def test_targets_t1_to_t16_present_with_plan_figures() -> None:
    cat = load_catalog()
    ids = {t.id for t in cat.targets}
    assert {f"T{i}" for i in range(1, 17)} <= ids
    assert cat.target("T5").target == {"all": 30.0}
    assert cat.target("T5").measure == "m2_per_100_households"
    assert cat.target("T7").target == {"urban": 1.0, "rural": 0.6}
    assert cat.target("T3").target == {"rural": 0.5}
    assert cat.target("T4").target == {"rural": 2.5}
    assert cat.target("T8").target == {"all": 2.0}
    assert cat.target("T10").target == {"all": 0.9}
    assert cat.target("T1").threshold_minutes == 15.0
    assert cat.target("T1").threshold_verified is True
    assert cat.target("T3").threshold_minutes is None
    assert cat.target("T16").assessable is False
    assert cat.categories["service_station"].min_floor_area_m2 == 300
    assert cat.categories["service_centre"].min_floor_area_m2 == 800
    with pytest.raises(KeyError):
        cat.target("T99")


def test_every_figure_has_source_and_verified() -> None:
    cat = load_catalog()
    for t in cat.targets:
        assert t.source.strip(), t.id
        assert isinstance(t.verified, bool)
    for lc in cat.life_circles.values():
        assert lc.source
        assert lc.distance_source
    for c in cat.categories.values():
        assert c.sources["category"]
        assert "threshold" in c.sources
        if c.rural_threshold_minutes:
            assert c.sources["rural_threshold"].startswith("ASSUMPTION")
            assert c.verified_flags["rural_threshold"] is False
        for figure, value in (
            ("min_floor_area", c.min_floor_area_m2),
            ("floor_area_per_households", c.floor_area_m2_per_100_households),
            ("site_area_per_person", c.site_area_m2_per_person),
        ):
            if value is not None:
                assert c.sources[figure], (c.key, figure)
                assert isinstance(c.verified_flags[figure], bool)


def test_life_circles_gb50180() -> None:
    cat = load_catalog()
    lc = cat.life_circles
    assert sorted(lc) == [5, 10, 15]
    # the residential block (居住街坊) below the 5-minute circle, with its source; GB 50180-2018
    # gives it a population and dwelling range but no walking time or distance
    block = cat.residential_block
    assert block is not None
    assert (block.name_zh, block.level, block.minutes) == ("居住街坊", "block", None)
    assert (block.population_min, block.population_max) == (1000, 3000)
    assert (block.dwellings_min, block.dwellings_max) == (300, 1000)
    assert "GB50180" in block.source
    assert block.verified is False
    assert [x.level for x in cat.levels()] == ["15", "10", "5", "block"]
    fig = catalog_figures(cat)
    rows = fig[fig["entry"] == "life_circles.block"]
    assert set(rows["figure"]) == {"population", "dwellings", "distance"}
    assert rows.loc[rows["figure"] == "distance", "value"].item() == "-"
    assert (lc[15].population_min, lc[15].population_max) == (50000, 100000)
    assert (lc[15].dwellings_min, lc[15].dwellings_max) == (17000, 32000)
    assert (lc[10].population_min, lc[10].population_max) == (15000, 25000)
    assert lc[15].verified
    assert lc[10].verified
    assert not lc[5].verified


def test_thresholds_default_to_life_circle_and_rural_assumption() -> None:
    cat = load_catalog()
    station = cat.categories["service_station"]
    assert station.threshold_for("walk") == 5.0
    assert station.threshold_for("ebike", rural=True) == 15.0
    assert cat.categories["service_centre"].threshold_for("walk") == 15.0


def test_tag_mapping_is_and_within_or_across() -> None:
    cat = load_catalog()
    assert cat.classify_tags({"leisure": "fitness_station"}) == "fitness_station"
    assert cat.classify_tags({"leisure": "fitness_centre"}) == "fitness_station"
    assert cat.classify_tags(
        {"amenity": "social_facility", "social_facility:for": "senior"}) == "elderly_daycare"
    assert cat.classify_tags({"amenity": "social_facility"}) is None  # AND not satisfied
    assert cat.classify_tags({"amenity": "clinic"}) == "health_room"
    assert cat.classify_tags({"healthcare": "clinic"}) == "health_room"
    # the more specific filter wins
    assert cat.classify_tags(
        {"amenity": "community_centre", "community_centre": "culture"}) == "culture_sports"
    assert cat.classify_tags({"amenity": "community_centre"}) == "service_station"
    assert cat.classify_tags({"shop": "bakery"}) is None
    query = cat.osm_tag_query()
    assert "clinic" in query["amenity"]
    assert "fitness_station" in query["leisure"]


def _copy(tmp_path: Path, old: str, new: str) -> Path:
    text = default_catalog_path().read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "std_modified.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_modified_copy_is_used(tmp_path: Path) -> None:
    path = _copy(tmp_path, "floor_area_m2_per_100_households = 30",
                 "floor_area_m2_per_100_households = 40")
    text = path.read_text(encoding="utf-8").replace('version = "deyang-2018.2"',
                                                    'version = "other-city-1"')
    path.write_text(text, encoding="utf-8")
    cat = load_catalog(path)
    assert cat.version == "other-city-1"
    assert cat.categories["service_station"].floor_area_m2_per_100_households == 40
    assert cat.path == str(path)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('[categories.health_room]\nname_zh = "医疗卫生室（卫生计生室）"',
         '[categories.health_room]\ncolour = "red"\nname_zh = "医疗卫生室（卫生计生室）"',
         "categories.health_room.colour"),
        ("min_floor_area_m2 = 300", "min_floor_area_m2 = -300",
         "categories.service_station.min_floor_area_m2"),
        ('id = "T5"\n', 'id = "T5"\nbogus = 1\n', "targets[T5].bogus"),
        ('kind = "capacity"\ncategories = ["service_station"]',
         'kind = "capacity"\ncategories = ["service_statoin"]', "targets[T5].categories"),
        ('id = "T3"\n', 'id = "T3"\nthreshold_minutes = "x"\n', "targets[T3].threshold_minutes"),
        ("[categories.sports_ground]", "[categories.sport_ground]", "categories.sport_ground"),
        ('scope = "rural"\nkind = "coverage"', 'scope = "village"\nkind = "coverage"',
         "targets[T3].scope"),
        ('threshold_source = "PLAN 三(二)2: 城市社区15分钟基本公共服务圈"\n', "",
         "targets[T1].threshold_source"),
        ('id = "T3"\n', 'id = "T3"\nthreshold_verified = true\n',
         "targets[T3].threshold_verified"),
        ('edition = "', 'editio = "', "catalog.edition"),
        ("target_year = 2020", "target_year = 20", "catalog.target_year"),
        ("target_year = 2020", "target_year = 2020.5", "catalog.target_year"),
        ('reading = "both"', 'reading = "walk"', "targets[T2].reading"),
        ('id = "T5"\n', 'id = "T5"\nreading = "presence"\n', "targets[T5].reading"),
        ('id = "T1"\n', 'id = "T1"\npresence_assumptions = ["ASSUMPTION: x"]\n',
         "targets[T1].presence_assumptions"),
        ('id = "T12"\n', 'id = "T12"\nassumptions = ["800 m2 is the centre"]\n',
         "targets[T12].assumptions"),
        ("[life_circles.block]\n", "[life_circles.block]\nminutes = 3\n",
         "life_circles.block.minutes"),
        ("[life_circles.10]\nname_zh", "[life_circles.12]\nname_zh", "life_circles.12.minutes"),
        ('reading = "both"', 'reading = "presence"', "targets[T2].threshold_minutes"),
        ("osm_tags_verified = false", 'osm_tags_verified = "no"',
         "categories.service_centre.osm_tags_verified"),
    ],
)
def test_errors_name_entry_and_key(tmp_path: Path, old: str, new: str, where: str) -> None:
    path = _copy(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    assert where in str(info.value)
    assert str(path) in str(info.value)


def test_all_problems_collected_at_once(tmp_path: Path) -> None:
    path = _copy(tmp_path, "min_floor_area_m2 = 300", "min_floor_area_m2 = 0")
    text = path.read_text(encoding="utf-8").replace('id = "T8"\n', 'id = "T8"\nfoo = 2\n')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    assert len(info.value.problems) == 2


def test_missing_figure_source_is_an_error(tmp_path: Path) -> None:
    line = 'min_floor_area_source = "PLAN 三(一)2: 城乡社区服务站面积不低于300平方米"\n'
    path = _copy(tmp_path, line, "")
    with pytest.raises(ConfigError, match="min_floor_area_source"):
        load_catalog(path)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "std_bad.toml"
    bad.write_text("version = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_catalog(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_catalog(tmp_path / "nope.toml")


def test_shipped_file_is_plain_toml() -> None:
    with default_catalog_path().open("rb") as fh:
        data = tomllib.load(fh)
    assert set(data["categories"]) == ARCHITECTURE_KEYS


def test_edition_target_year_readings_and_assumptions() -> None:
    cat = load_catalog()
    assert cat.target_year == 2020
    assert "十三五" in cat.edition
    readings = {t.id: t.readings for t in cat.targets if t.kind == "coverage"}
    assert readings == {
        "T1": ("travel_time",),
        "T2": ("travel_time", "presence"),
        "T3": ("travel_time", "presence"),
        "T7": ("travel_time", "presence"),
        "T10": ("travel_time", "presence"),
    }
    assert all(not t.readings for t in cat.targets if t.kind != "coverage")
    t1 = cat.target("T1")
    assert t1.assumptions_for("travel_time", covered_share=0.8)[-1].startswith(
        "ASSUMPTION: a community counts as covered when at least 0.8 of its people")
    assert t1.assumptions_for("presence") == t1.assumptions
    for t in cat.targets:
        for text in t.assumptions_for("travel_time") + t.presence_assumptions:
            assert text.startswith("ASSUMPTION"), (t.id, text)
    for c in cat.categories.values():
        assert c.osm_tags_source.startswith("ASSUMPTION")
        assert c.osm_tags_verified is False


def test_osm_tags_source_defaults_to_an_assumption(tmp_path: Path) -> None:
    text = default_catalog_path().read_text(encoding="utf-8")
    line = ('osm_tags_source = "ASSUMPTION: OpenStreetMap tags chosen by this catalog for the '
            'category (the plan names no tags)"\nosm_tags_verified = false\n')
    assert text.count(line) == 18
    path = tmp_path / "std_no_tag_source.toml"
    path.write_text(text.replace(line, ""), encoding="utf-8")
    cat = load_catalog(path)
    assert all(c.osm_tags_source.startswith("ASSUMPTION") for c in cat.categories.values())


def test_fourteenth_plan_fixture_loads() -> None:
    cat = load_catalog(Path(__file__).parent / "fixtures" / "std_catalog_14th.toml")
    assert (cat.target_year, cat.version) == (2025, "test-14th.1")
    assert "TEST FIXTURE" in cat.edition
    assert cat.target("T3").readings == ("presence",)
    assert cat.target("T3").target == {"rural": 0.8}
    assert cat.residential_block is None


def test_readme_table_lists_every_target_and_its_reading() -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not in this checkout")
    rows = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| T") and len(cells) == 5:
            rows[cells[0]] = cells
    cat = load_catalog()
    assert set(rows) == {t.id for t in cat.targets}
    for t in cat.targets:
        checked = rows[t.id][1]
        assert ("presence" in checked) == ("presence" in t.readings), t.id
        has_assumption = bool(t.assumptions or t.travel_time_assumptions)
        assert ("ASSUMPTION" in rows[t.id][4]) == has_assumption, t.id
