"""Many areas at once on Dask: ``deyang-geo batch`` / ``study.run_batch`` on a SYNTHETIC
province, compared area by area with ``deyang-geo run`` on the whole OSM file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from deyang_geo.cli.app import main
from deyang_geo.io.tables_zh import read_table
from deyang_geo.network.boundary import osm_read_bbox
from deyang_geo.network.build import graph_from_osm_file
from deyang_geo.network.split import split_osm_file
from deyang_geo.study import batch
from deyang_geo.study.batch import AREA_RECORD, WORK_FOLDER, margin_name, read_areas, run_batch
from deyang_geo.study.synthetic_province import write_street_grid, write_synthetic_province

STREETLESS = "Z9"  # far from every street: its run fails for its input
EMPTY = "E1"  # streets but no communities: fails for its input
REGULAR = [f"A{k}" for k in range(6)]


def _province(folder: Path) -> Any:
    p = write_synthetic_province(folder, areas_x=3, areas_y=2, area_nodes=10, seed=3)
    areas = gpd.read_file(p.areas)
    west, south, east, north = areas.total_bounds
    extra = gpd.GeoDataFrame(
        {"area_id": [STREETLESS, EMPTY], "name": ["合成湖区", "合成空区"], "synthetic": True},
        geometry=[box(east + 0.2, south, east + 0.25, south + 0.05),
                  box(west, north, west + 0.01, north + 0.005)], crs=4326)
    pd.concat([areas, extra], ignore_index=True).pipe(gpd.GeoDataFrame, crs=4326).to_file(
        p.areas)
    comm = gpd.read_file(p.communities)
    lake = gpd.GeoDataFrame({"id": ["Z9-C0"], "name": ["合成湖村"], "kind": ["rural"],
                             "population": [900], "households": [300],
                             "township": ["合成湖区"], "division": ["合成湖区"],
                             "synthetic": [True]},
                            geometry=[Point(east + 0.22, south + 0.02)], crs=4326)
    pd.concat([comm, lake], ignore_index=True).pipe(gpd.GeoDataFrame, crs=4326).to_file(
        p.communities)
    return p


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _province(tmp_path_factory.mktemp("province"))


# --------------------------------------------------------------------------------------------
# the streaming split against a reference reading the whole file


def _reference_extract(osm: Path, bbox: tuple[float, float, float, float]
                       ) -> tuple[dict[int, tuple[int, int]], dict[int, list[int]]]:
    """Every highway way with a node in the box, whole, read with pyosmium's location index."""
    import osmium

    west, south, east, north = bbox
    nodes: dict[int, tuple[int, int]] = {}
    ways: dict[int, list[int]] = {}
    for w in osmium.FileProcessor(str(osm)).with_locations().with_filter(
            osmium.filter.KeyFilter("highway")):
        if not w.is_way():
            continue
        locs = [(n.ref, n.location) for n in w.nodes]
        if any(west <= loc.lon <= east and south <= loc.lat <= north for _, loc in locs):
            ways[w.id] = [r for r, _ in locs]
            for r, loc in locs:
                nodes[r] = (loc.x, loc.y)
    return nodes, ways


def _read_extract(path: Path) -> tuple[dict[int, tuple[int, int]], dict[int, list[int]]]:
    import osmium

    nodes: dict[int, tuple[int, int]] = {}
    ways: dict[int, list[int]] = {}
    for obj in osmium.FileProcessor(str(path)):
        if obj.is_node():
            nodes[obj.id] = (obj.location.x, obj.location.y)
        elif obj.is_way():
            ways[obj.id] = [n.ref for n in obj.nodes]
    return nodes, ways


def test_split_writes_complete_ways_like_a_full_read(tmp_path: Path) -> None:
    osm = tmp_path / "grid.osm.pbf"
    # a hole in the grid makes ways that leave a box and come back in
    write_street_grid(osm, columns=30, rows=20, way_segments=12, skip_cells=[(2, 1)],
                      cell_nodes=5, seed=1)
    boxes = {"west": (104.0, 30.5, 104.006, 30.51), "middle": (104.008, 30.502, 104.014, 30.512),
             "overlap": (104.004, 30.5, 104.01, 30.52), "nothing": (105.0, 31.0, 105.1, 31.1)}
    summary = split_osm_file(osm, boxes,
                             out_paths={k: tmp_path / f"{k}.osm.pbf" for k in boxes})
    for key, bbox in boxes.items():
        want_nodes, want_ways = _reference_extract(osm, bbox)
        got_nodes, got_ways = _read_extract(summary.paths[key])
        assert got_ways == want_ways, key
        assert got_nodes == want_nodes, key
        assert summary.nodes[key] == len(want_nodes)
        assert summary.ways[key] == len(want_ways)
    assert summary.ways["nothing"] == 0
    assert not list(tmp_path.glob(".*tmp*"))


def test_extract_gives_the_same_graph_as_the_whole_file(province: Any, tmp_path: Path) -> None:
    areas = read_areas(province.areas, id_column="area_id")
    areas = areas[areas["area_id"].isin(REGULAR[:3])]
    boxes = {a: osm_read_bbox(g) for a, g in zip(areas["area_id"], areas.geometry, strict=True)}
    summary = split_osm_file(province.osm, boxes,
                             out_paths={k: tmp_path / f"{k}.osm.pbf" for k in boxes})
    for area_id, geom in zip(areas["area_id"], areas.geometry, strict=True):
        whole = graph_from_osm_file(province.osm, boundary=geom, modes=["walk"])
        part = graph_from_osm_file(summary.paths[area_id], boundary=geom, modes=["walk"])
        assert list(whole.nodes(data=True)) == list(part.nodes(data=True))
        assert [(u, v, k, d["length"], d["geometry"].wkb) for u, v, k, d in
                whole.edges(keys=True, data=True)] == \
            [(u, v, k, d["length"], d["geometry"].wkb) for u, v, k, d in
             part.edges(keys=True, data=True)]


# --------------------------------------------------------------------------------------------
# the areas file


def test_areas_file_problems_are_named(tmp_path: Path) -> None:
    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame({"code": ["a", "a", "x/y", None]},
                     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1),
                               Point(0, 0)], crs=4326).to_file(path)
    with pytest.raises(ValueError, match="code") as exc:
        read_areas(path, id_column="code")
    text = str(exc.value)
    assert "repeats row 1" in text
    assert "x/y" in text
    assert "empty area id" in text
    assert "not a polygon" in text
    with pytest.raises(ValueError, match="no column 'id'"):
        read_areas(path, id_column="id")


def test_batch_needs_an_osm_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_synthetic_province(tmp_path, areas_x=1, areas_y=1, area_nodes=3)
    text = p.study.read_text(encoding="utf-8").replace('osm = "province.osm.pbf"',
                                                       "bbox = [104.0, 30.5, 104.1, 30.6]")
    p.study.write_text(text, encoding="utf-8")
    code = main(["-q", "batch", str(p.study), "--areas", str(p.areas), "--area-id-column",
                 "area_id", "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "[network] osm" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# the whole batch


def _compared(folder: Path) -> dict[str, bytes]:
    """Every output of an area, but the known time-bearing ones (xlsx dates, solve times) and
    the command's run manifest (``deyang-geo run`` writes it around the study, naming its own
    command and input files; batch areas keep their own record ``_batch_area.json``)."""
    out = {}
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name in (AREA_RECORD, "manifest.json") or f.suffix == ".xlsx":
            continue
        data = f.read_bytes()
        if f.name == "summary.json":
            summary = json.loads(data)
            summary.pop("solve_time_s")
            data = json.dumps(summary, sort_keys=True).encode()
        out[f.relative_to(folder).as_posix()] = data
    return out


def _single_area_run(province: Any, area_id: str, batch_out: Path, work: Path) -> Path:
    """``deyang-geo run`` on one area with the whole province OSM file and the area's rows."""
    work.mkdir(parents=True)
    boundary = gpd.read_file(batch_out / WORK_FOLDER / area_id / "boundary.gpkg")
    shutil.copy(batch_out / WORK_FOLDER / area_id / "boundary.gpkg", work / "boundary.gpkg")
    reach = boundary.geometry.iloc[0]
    area = boundary.geometry.iloc[1]
    for name, polygon in (("communities", area), ("facilities", reach), ("candidates", area)):
        table = gpd.read_file(getattr(province, name))
        inside = shapely.covers(polygon, table.geometry.to_numpy())
        table[inside].to_file(work / f"{name}.geojson")
    text = province.study.read_text(encoding="utf-8")
    text = text.replace('name = "合成省 Synthetic province"',
                        f'name = "合成省 Synthetic province · {area_id}"')
    text = text.replace("[network]\n", f'[area]\nname = "{area_id}"\nboundary = "boundary.gpkg"\n'
                        f'divisions = ["{margin_name(area_id, 1000.0)}"]\n\n[network]\n')
    text = text.replace('osm = "province.osm.pbf"', f'osm = "{province.osm.as_posix()}"')
    (work / "study.toml").write_text(text, encoding="utf-8")
    assert main(["-q", "run", str(work / "study.toml"), "--out", str(work / "out")]) == 0
    return work / "out"


@pytest.fixture(scope="module")
def batch_run(province: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("batch") / "out 输出"
    code = main(["-q", "batch", str(province.study), "--areas", str(province.areas),
                 "--area-id-column", "area_id", "--out", str(out), "--workers", "2",
                 "--memory-per-worker", "2"])
    return {"out": out, "code": code}


@pytest.mark.slow
def test_batch_reports_failed_areas_and_exits_2(batch_run: dict[str, Any]) -> None:
    out = batch_run["out"]
    assert batch_run["code"] == 2
    areas = pd.read_csv(out / "batch_areas.csv", encoding="utf-8-sig", keep_default_na=False)
    status = dict(zip(areas["area_id"], areas["status"], strict=True))
    assert status == {**dict.fromkeys(REGULAR, "ok"), STREETLESS: "failed", EMPTY: "failed"}
    message = dict(zip(areas["area_id"], areas["message"], strict=True))
    assert "no roads" in message[STREETLESS]
    assert "no communities" in message[EMPTY]
    for area_id in REGULAR:
        # each area is an output set: its manifest (written last) lists its record
        manifest = json.loads((out / area_id / "manifest.json").read_text(encoding="utf-8"))
        assert AREA_RECORD in {e["path"] for e in manifest["files"]}
        assert not (out / area_id / "INCOMPLETE.txt").exists()
    assert not (out / STREETLESS).exists()  # failed before writing anything


@pytest.mark.slow
def test_merged_table_has_one_row_per_area_and_category(batch_run: dict[str, Any]) -> None:
    out = batch_run["out"]
    table = pd.read_csv(out / "batch_coverage.csv", encoding="utf-8-sig",
                        keep_default_na=False, na_values=[""])
    ok = table[table["status"] == "ok"]
    assert sorted(ok["area_id"].unique()) == REGULAR
    assert not ok.duplicated(["area_id", "category"]).any()
    assert set(ok["category"]) == {"service_station", "fitness_station"}
    failed = table[table["status"] == "failed"].set_index("area_id")
    assert set(failed.index) == {STREETLESS, EMPTY}
    assert "no roads" in failed.loc[STREETLESS, "message"]
    # the merged figures are each area's own study-area coverage and site summary
    for area_id in REGULAR:
        # per-area folders hold Chinese-first tables, read back to English keys
        own = read_table(out / area_id / "coverage_study_area.csv")
        own = own[own["kind"] == "all"].set_index("category")
        mine = ok[ok["area_id"] == area_id].set_index("category")
        for cat in mine.index:
            assert mine.loc[cat, "population"] == own.loc[cat, "population"]
            for b in ("5min", "10min", "15min"):
                assert mine.loc[cat, f"covered_population_{b}"] == pytest.approx(
                    own.loc[cat, f"covered_population_{b}"], abs=0.5)
        sites = read_table(out / area_id / "sites/fitness_station/sites.csv")
        assert mine.loc["fitness_station", "sites_added"] == len(sites)
        assert mine.loc["service_station", "sites_added"] == 0


@pytest.mark.slow
def test_overview_map_links_every_area_and_works_offline(batch_run: dict[str, Any]) -> None:
    page = (batch_run["out"] / "batch_map.html").read_text(encoding="utf-8")
    for area_id in REGULAR:
        assert f'href=\\"{area_id}/map.html\\"' in page or f'href="{area_id}/map.html"' in page
    assert "SYNTHETIC" in page
    assert "<script src=" not in page  # Leaflet is embedded
    assert "no roads" in page  # the failed area says why


@pytest.mark.slow
def test_each_area_is_the_same_as_a_single_area_run(province: Any, batch_run: dict[str, Any],
                                                    tmp_path: Path) -> None:
    out = batch_run["out"]
    for area_id in REGULAR:
        single = _single_area_run(province, area_id, out, tmp_path / area_id)
        got, want = _compared(out / area_id), _compared(single)
        assert sorted(got) == sorted(want), area_id
        assert "map.html" in got
        for name in want:
            assert got[name] == want[name], f"{area_id}/{name}"


@pytest.mark.slow
def test_rerun_skips_complete_areas_and_redoes_interrupted_ones(
        province: Any, batch_run: dict[str, Any]) -> None:
    from distributed import LocalCluster

    out = batch_run["out"]
    before = {a: _compared(out / a) for a in REGULAR}
    # A2 interrupted for real just before its set was complete (Ctrl-C in its task)
    record = json.loads((out / "A2" / AREA_RECORD).read_text(encoding="utf-8"))

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "_area_rows", interrupted)
        with pytest.raises(KeyboardInterrupt):
            batch.run_area(str(province.study), area_id="A2",
                           work_dir=str(out / WORK_FOLDER / "A2"), out_dir=str(out / "A2"),
                           margin_m=1000.0, fingerprint=record["fingerprint"])
    assert (out / "A2" / "INCOMPLETE.txt").is_file()
    assert not (out / "A2" / "manifest.json").exists()
    # A3 killed while writing (the state its output set leaves), A5's map cut short after
    # it was complete, A1's table changed in place (same size, other bytes)
    (out / "A3" / "manifest.json").unlink()
    (out / "A3" / "INCOMPLETE.txt").write_text("interrupted", encoding="utf-8")
    (out / "A3" / "access.csv").unlink()
    (out / "A5" / "map.html").write_bytes(b"<html>")
    table_a1 = out / "A1" / "coverage_study_area.csv"
    data = bytearray(table_a1.read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")
    table_a1.write_bytes(bytes(data))
    # on an existing cluster with one worker this time
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster:
        result = run_batch(province.study, areas=province.areas,
                                    area_id_column="area_id", out_dir=out,
                                    scheduler=cluster.scheduler_address)
    status = {a.area_id: a.status for a in result.areas}
    assert status == {"A0": "skipped", "A1": "ok", "A2": "ok", "A3": "ok",
                      "A4": "skipped", "A5": "ok", STREETLESS: "failed", EMPTY: "failed"}
    assert result.exit_code == 2
    for area_id in REGULAR:
        assert _compared(out / area_id) == before[area_id], area_id
        assert not (out / area_id / "INCOMPLETE.txt").exists()
        assert batch._complete(out / area_id, result_print(out, area_id)) is not None
    table = pd.read_csv(out / "batch_coverage.csv", encoding="utf-8-sig")
    assert sorted(table.loc[table["status"].isin(["ok", "skipped"]), "area_id"].unique()) \
        == REGULAR


def result_print(out: Path, area_id: str) -> str:
    return str(json.loads((out / area_id / AREA_RECORD).read_text(encoding="utf-8"))
               ["fingerprint"])


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    p = write_synthetic_province(tmp_path, areas_x=1, areas_y=1, area_nodes=3)
    code = main(["-q", "batch", str(p.study), "--areas", str(p.areas), "--area-id-column",
                 "area_id", "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:9" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "_batch_work").exists()  # nothing split before connecting
