"""Studies with ``[inputs] population_raster`` and the ``accessibility`` / ``equity`` outputs."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from deyang_geo.core.errors import ConfigError
from deyang_geo.io.tables_zh import read_table
from deyang_geo.study.config import load_study
from deyang_geo.study.pipeline import run_study

pytest.importorskip("rasterio")

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def study_file(folder: Path, inputs_extra: str, outputs: str) -> Path:
    text = f"""
[study]
name = "raster demo (synthetic)"
synthetic = true

[network]
osm = "{(DEMO / 'jingyang_synthetic.osm.gz').as_posix()}"
modes = ["walk"]

[inputs]
communities = "{(DEMO / 'communities.geojson').as_posix()}"
facilities = "{(DEMO / 'facilities.geojson').as_posix()}"
{inputs_extra}

[analysis]
mode = "walk"
threshold_minutes = 15
categories = ["health_room", "elderly_daycare", "fitness_station"]

[output]
folder = "{(folder / 'out').as_posix()}"
lang = "both"
outputs = {outputs}
"""
    path = folder / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def raster_study(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("study")
    path = study_file(
        folder,
        f'population_raster = "{(DEMO / "population_synthetic.tif").as_posix()}"\n'
        "population_cell_m = 200\nelderly_share = 0.2",
        '["access", "coverage", "accessibility", "equity", "map", "report", "workbook"]')
    return run_study(load_study(path))


def test_population_from_raster_in_every_output(raster_study) -> None:
    res = raster_study
    out = next(iter(res.written.values())).parent
    assert res.population["population_source"] == "raster"
    assert res.units["unit_id"].str.contains("#r").all()
    params = read_table(out / "coverage_parameters.csv")  # Chinese-first headers
    assert "raster" in params["value"].astype(str).tolist()
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Coarse rasters mislead for small communities" in report
    assert "Population raster / 人口栅格" in report
    assert (out / "population_source.txt").exists()


def testgraded_written(raster_study) -> None:
    res = raster_study
    out = next(iter(res.written.values())).parent
    for name in ("accessibility.csv", "completeness.csv", "equity.csv",
                 "lorenz_health_room.png"):
        assert (out / name).exists(), name
    eq = pd.read_csv(out / "equity.csv", encoding="utf-8-sig")
    assert set(eq["category"]) == {"health_room", "elderly_daycare", "fitness_station"}
    book = openpyxl.load_workbook(out / "report_tables.xlsx", read_only=True)
    assert {"accessibility", "completeness", "equity"} <= set(book.sheetnames)
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Township equity" in page
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "洛伦兹曲线" in report
    # the elderly (a share of 0.2) are the users of elderly day care
    acc = res.graded.accessibility.units
    day = acc[acc["category"] == "elderly_daycare"]["population_used"].sum()
    assert day == pytest.approx(0.2 * res.units["population"].sum())


def test_raster_keys_need_the_raster(tmp_path: Path) -> None:
    path = study_file(tmp_path, "population_cell_m = 200\nelderly_share = 2",
                      '["access"]')
    with pytest.raises(ConfigError) as err:
        load_study(path)
    text = str(err.value)
    assert "population_cell_m" in text
    assert "needs population_raster" in text
    assert "elderly_share" in text
