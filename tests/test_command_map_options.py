"""``--basemap`` / ``--tianditu-key`` / ``[output] basemap``: one option everywhere, key kept in."""

from __future__ import annotations

from pathlib import Path

import pytest

from deyang_geo.cli.app import main
from deyang_geo.io.tables_zh import read_table
from deyang_geo.outputs.command_map import resolve_tianditu_key
from deyang_geo.study.config import load_study
from deyang_geo.study.demo import demo_data_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARGS = ["--network", str(FIXTURES / "cli_access_streets.osm"),
        "--facilities", str(FIXTURES / "cli_access_facilities.csv")]
DEMAND = ["--demand", str(FIXTURES / "cli_access_communities.geojson")]


def test_tianditu_without_a_key_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    for command in (["access", *ARGS, *DEMAND, "--out", str(tmp_path / "a")],
                    ["isochrones", *ARGS, "--out", str(tmp_path / "i.gpkg")],
                    ["run", str(demo_data_dir() / "study.toml"), "--out", str(tmp_path / "r")]):
        assert main([*command, "--basemap", "tianditu"]) == 2
        err = capsys.readouterr().err
        assert "--tianditu-key" in err
        assert "TIANDITU_KEY" in err
        assert "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing computed before the check


def test_key_from_the_environment_only_for_tianditu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANDITU_KEY", "envKey456")
    assert resolve_tianditu_key("tianditu", None) == "envKey456"
    assert resolve_tianditu_key("tianditu", "cliKey789") == "cliKey789"
    assert resolve_tianditu_key("osm", None) is None  # never passed on when not asked for
    assert resolve_tianditu_key("amap", "cliKey789") is None
    with pytest.raises(ValueError, match="letters and digits"):
        resolve_tianditu_key("tianditu", 'bad key"><script>')


def test_key_is_written_only_into_the_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("TIANDITU_KEY", "envKey456")
    out = tmp_path / "osm"
    assert main(["-q", "access", *ARGS, *DEMAND, "--out", str(out)]) == 0
    for path in out.iterdir():  # the default base map: the key is nowhere
        assert b"envKey456" not in path.read_bytes(), path.name
    out = tmp_path / "tdt"
    assert main(["-q", "access", *ARGS, *DEMAND, "--out", str(out), "--basemap", "tianditu",
                 "--tianditu-key", "cliKey789"]) == 0
    holding = sorted(p.name for p in out.iterdir() if b"cliKey789" in p.read_bytes())
    assert holding == ["map.html"]
    # the outside-reach list also comes as KML and GCJ-02 GeoJSON for Amap / Tianditu users
    assert (out / "outside_reach.kml").is_file()
    assert (out / "outside_reach_gcj02.geojson").is_file()
    assert read_table(out / "coverage.csv")["class"].isin(["covered", "partly",
                                                           "outside"]).all()


def test_study_file_basemap(tmp_path: Path) -> None:
    text = (demo_data_dir() / "study.toml").read_text(encoding="utf-8")
    for name in ("communities.geojson", "facilities.geojson", "candidates.geojson",
                 "divisions.geojson", "context.geojson", "jingyang_synthetic.osm.gz"):
        (tmp_path / name).write_bytes((demo_data_dir() / name).read_bytes())
    (tmp_path / "study.toml").write_text(text.replace('lang = "both"',
                                                      'lang = "both"\nbasemap = "amap"'),
                                         encoding="utf-8")
    assert load_study(tmp_path / "study.toml").output.basemap == "amap"
    assert load_study(demo_data_dir() / "study.toml").output.basemap == "osm"
    (tmp_path / "study.toml").write_text(text.replace('lang = "both"',
                                                      'lang = "both"\nbasemap = "google"'),
                                         encoding="utf-8")
    with pytest.raises(ValueError, match="basemap"):
        load_study(tmp_path / "study.toml")


def test_isochrones_writes_a_map_and_exports(tmp_path: Path) -> None:
    """Found: ``isochrones`` wrote no map at all."""
    assert main(["-q", "isochrones", *ARGS, "--out", str(tmp_path / "iso.gpkg")]) == 0
    page = (tmp_path / "iso.html").read_text(encoding="utf-8")
    assert "等时圈 / Isochrones" in page
    assert "路网 / Road network" in page
    assert "离线底图 / Offline background" in page
    assert (tmp_path / "iso.kml").is_file()
    assert (tmp_path / "iso_gcj02.geojson").is_file()
