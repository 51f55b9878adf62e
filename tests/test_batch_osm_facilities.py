"""Facilities from OSM tags in a batch: the per-area extracts keep what the catalog's tag
mapping reads, so each area finds the facilities a whole-file run finds (SYNTHETIC data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from deyang_geo.analysis.facilities import facilities_from_osm
from deyang_geo.cli.app import main
from deyang_geo.core.standards import load_catalog
from deyang_geo.network.boundary import osm_read_bbox
from deyang_geo.network.build import graph_from_osm_file
from deyang_geo.network.split import split_osm_file
from deyang_geo.study.batch import WORK_FOLDER, area_boundary, margin_name, read_areas
from deyang_geo.study.synthetic_province import write_synthetic_province


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_synthetic_province(tmp_path_factory.mktemp("poi_province"), areas_x=3,
                                    areas_y=2, area_nodes=10, seed=5, osm_facilities=True)


def _split(province: Any, folder: Path, *, with_keys: bool
           ) -> tuple[gpd.GeoDataFrame, dict[str, Any], Any]:
    areas = read_areas(province.areas, id_column="area_id")
    reach = {a: area_boundary(a, g, margin_m=1000.0).geometry.iloc[0]
             for a, g in zip(areas["area_id"], areas.geometry, strict=True)}
    boxes = {a: osm_read_bbox(r) for a, r in reach.items()}
    keys = sorted(load_catalog().osm_tag_query()) if with_keys else []
    summary = split_osm_file(province.osm, boxes,
                             out_paths={a: folder / f"{a}.osm.pbf" for a in boxes},
                             facility_keys=keys)
    return areas, reach, summary


def test_extracts_hold_the_facilities_of_a_whole_file_read(province: Any,
                                                           tmp_path: Path) -> None:
    areas, reach, summary = _split(province, tmp_path, with_keys=True)
    found = 0
    for area_id in areas["area_id"]:
        want = facilities_from_osm(province.osm, boundary=reach[area_id])
        got = facilities_from_osm(summary.paths[area_id], boundary=reach[area_id])
        assert len(want) >= 3, area_id  # its own node, outline and park at least
        pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                      pd.DataFrame(want.drop(columns="geometry")))
        assert list(got.geometry.to_wkb()) == list(want.geometry.to_wkb()), area_id
        found += len(got)
        # the long park leaves the box: its outside nodes came along, the outline is whole
        assert any(i.startswith("osm:way/") for i in got["id"])
    assert found > 3 * len(areas)  # neighbours' parks reach into the margins too
    assert summary.facility_relations_skipped == 0


def test_facility_keys_leave_the_street_graph_unchanged(province: Any, tmp_path: Path) -> None:
    areas, reach, summary = _split(province, tmp_path, with_keys=True)
    for area_id in list(areas["area_id"])[:2]:
        whole = graph_from_osm_file(province.osm, boundary=reach[area_id], modes=["walk"])
        part = graph_from_osm_file(summary.paths[area_id], boundary=reach[area_id],
                                   modes=["walk"])
        assert list(whole.nodes(data=True)) == list(part.nodes(data=True))
        assert [(u, v, k, d["length"]) for u, v, k, d in whole.edges(keys=True, data=True)] \
            == [(u, v, k, d["length"]) for u, v, k, d in part.edges(keys=True, data=True)]


def test_without_facility_keys_the_extracts_are_streets_only(province: Any,
                                                             tmp_path: Path) -> None:
    areas, reach, summary = _split(province, tmp_path, with_keys=False)
    area_id = str(areas["area_id"].iloc[0])
    assert len(facilities_from_osm(summary.paths[area_id], boundary=reach[area_id])) == 0


def _compared(folder: Path) -> dict[str, bytes]:
    out = {}
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name in ("manifest.json", "_batch_area.json") \
                or f.suffix == ".xlsx":
            continue
        data = f.read_bytes()
        if f.name == "summary.json":
            summary = json.loads(data)
            summary.pop("solve_time_s")
            data = json.dumps(summary, sort_keys=True).encode()
        out[f.relative_to(folder).as_posix()] = data
    return out


@pytest.mark.slow
def test_batch_reads_facilities_from_osm_per_area(province: Any, tmp_path: Path) -> None:
    """Refused before ("not supported in a batch yet"); now each area equals its own run."""
    out = tmp_path / "out"
    code = main(["-q", "batch", str(province.study), "--areas", str(province.areas),
                 "--area-id-column", "area_id", "--out", str(out), "--workers", "2",
                 "--memory-per-worker", "2"])
    assert code == 0
    for area_id in ("A0", "A4"):
        work = tmp_path / f"single_{area_id}"
        work.mkdir()
        area_work = out / WORK_FOLDER / area_id
        shutil.copy(area_work / "boundary.gpkg", work / "boundary.gpkg")
        boundary = gpd.read_file(area_work / "boundary.gpkg")
        for name, polygon in (("communities", boundary.geometry.iloc[1]),
                              ("facilities", boundary.geometry.iloc[0]),
                              ("candidates", boundary.geometry.iloc[1])):
            table = gpd.read_file(getattr(province, name))
            table[shapely.covers(polygon, table.geometry.to_numpy())].to_file(
                work / f"{name}.geojson")
        text = province.study.read_text(encoding="utf-8")
        assert "facilities_from_osm = true" in text
        text = text.replace('name = "合成省 Synthetic province"',
                            f'name = "合成省 Synthetic province · {area_id}"')
        text = text.replace("[network]\n", f'[area]\nname = "{area_id}"\n'
                            'boundary = "boundary.gpkg"\n'
                            f'divisions = ["{margin_name(area_id, 1000.0)}"]\n\n[network]\n')
        text = text.replace('osm = "province.osm.pbf"', f'osm = "{province.osm.as_posix()}"')
        (work / "study.toml").write_text(text, encoding="utf-8")
        assert main(["-q", "run", str(work / "study.toml"), "--out", str(work / "out")]) == 0
        got, want = _compared(out / area_id), _compared(work / "out")
        assert sorted(got) == sorted(want), area_id
        for name in want:
            assert got[name] == want[name], f"{area_id}/{name}"
        access = (out / area_id / "access.csv").read_text(encoding="utf-8-sig")
        assert "osm:node/" in access or "osm:way/" in access  # OSM facilities were used
