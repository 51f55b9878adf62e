"""Facilities from OpenStreetMap tags alone: ``--osm-facilities`` without ``--facilities``.

Found: ``compliance --osm-facilities`` still required ``--facilities``, and ``access`` and
``suggest-sites`` had no way to take facilities from the OSM file: a planner with only an OSM
extract and a community list could not ask how far the fitness stations are.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from deyang_geo.cli.app import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STREETS = FIXTURES / "std_streets.osm"  # one street; a fitness station tagged at its east end
COMMUNITIES = FIXTURES / "std_communities.geojson"


def _hashes(*paths: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_compliance_from_osm_tags_alone(tmp_path: Path) -> None:
    before = _hashes(STREETS, COMMUNITIES)
    out = tmp_path / "out"
    code = main(["-q", "compliance", "--network", str(STREETS), "--osm-facilities",
                 "--demand", str(COMMUNITIES), "--out", str(out)])
    assert code == 0
    city = pd.read_csv(out / "compliance_city.csv", encoding="utf-8-sig")
    target = city.columns[city.columns.str.endswith("target_id")][0]
    scope = city.columns[city.columns.str.endswith(" scope")][0]
    value = city.columns[city.columns.str.endswith(" value")][0]
    unit = city.columns[city.columns.str.endswith(" unit")][0]
    t7 = city[(city[target] == "T7") & (city[unit] == "share of communities")]
    # the OSM fitness station stands at the rural community C3; of the two urban ones only
    # C2 lies within 15 walking minutes of it
    assert dict(zip(t7[scope], t7[value], strict=True)) == {"urban": 0.5, "rural": 1.0}
    params = (out / "compliance_parameters.csv").read_text(encoding="utf-8-sig")
    assert f"OSM tags of {STREETS}" in params
    assert "1 from OSM" in params
    assert _hashes(STREETS, COMMUNITIES) == before


def test_access_from_osm_tags_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["-q", "access", "--network", str(STREETS), "--osm-facilities", "--lang", "en",
                 "--demand", str(COMMUNITIES), "--out", str(out)])
    assert code == 0
    access = pd.read_csv(out / "access.csv", encoding="utf-8-sig")
    assert set(access["category"]) == {"fitness_station"}
    assert access["facility_id"].dropna().str.startswith("osm:").all()
    # the rural community C3 stands at the station: nearly zero minutes
    c3 = access[access["demand_id"].astype(str).str.startswith("C3")]
    assert float(c3["minutes"].min()) < 1.0


def test_suggest_sites_from_osm_tags_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["-q", "suggest-sites", "--network", str(STREETS), "--osm-facilities",
                 "--demand", str(COMMUNITIES), "--category", "fitness_station",
                 "--new-sites", "1", "--lang", "en", "--out", str(out)])
    assert code == 0
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig")
    assert len(sites) == 1
    assert "OSM tags of" in (out / "summary.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["access", "compliance", "suggest-sites"])
def test_no_facilities_at_all_is_a_user_error(tmp_path: Path, command: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    extra = ["--category", "fitness_station", "--new-sites", "1"] \
        if command == "suggest-sites" else []
    code = main([command, "--network", str(STREETS), "--demand", str(COMMUNITIES),
                 *extra, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--facilities" in err
    assert "--osm-facilities" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_osm_file_without_tagged_facilities_names_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare = tmp_path / "bare.osm"
    text = STREETS.read_text(encoding="utf-8")
    start = text.index('<node id="50"')
    bare.write_text(text[:start] + text[text.index("</node>", start) + len("</node>"):],
                    encoding="utf-8")
    out = tmp_path / "out"
    code = main(["access", "--network", str(bare), "--osm-facilities",
                 "--demand", str(COMMUNITIES), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bare) in err
    assert "--facilities" in err
    assert not (out / "access.csv").exists()
