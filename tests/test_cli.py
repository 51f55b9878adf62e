"""The command line as a whole: help, exit codes, consoles that cannot show Chinese."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deyang_geo.cli.app import COMMAND_MODULES, build_parser, main
from deyang_geo.study.demo import demo_data_dir

EXPECTED = ["demo", "run", "network", "access", "isochrones", "compliance", "suggest-sites",
            "report", "compare", "batch"]


def test_help_lists_every_command_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    names = [c.dest for c in sub._choices_actions]  # type: ignore[attr-defined]
    assert names == EXPECTED
    assert all(c.help for c in sub._choices_actions)  # type: ignore[attr-defined]
    assert len(COMMAND_MODULES) == len(EXPECTED)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["access", "--no-such-option"]) == 2
    assert "usage" in capsys.readouterr().err


def test_missing_input_file_is_exit_2_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["access", "--network", str(demo_data_dir() / "jingyang_synthetic.osm.gz"),
                 "--facilities", str(tmp_path / "无此文件.csv"),
                 "--demand", str(demo_data_dir() / "communities.geojson"),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "无此文件.csv" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "access.csv").exists()


@pytest.mark.slow
def test_gbk_console_and_chinese_paths(tmp_path: Path) -> None:
    """A Chinese Windows console (GBK) and a path with Chinese characters and spaces."""
    folder = tmp_path / "规划 数据"
    folder.mkdir()
    fac = folder / "设施 清单.csv"
    fac.write_bytes((Path(__file__).parent / "fixtures" / "io_facilities_gbk_gcj02.csv")
                    .read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "gbk"}
    proc = subprocess.run(
        [sys.executable, "-m", "deyang_geo", "suggest-sites",
         "--network", str(demo_data_dir() / "jingyang_synthetic.osm.gz"),
         "--facilities", str(fac), "--input-crs", "gcj02",
         "--demand", str(demo_data_dir() / "communities.geojson"),
         "--category", "fitness_station", "--new-sites", "2",
         "--out", str(folder / "结果")],
        env=env, capture_output=True, check=False, timeout=600)
    stderr = proc.stderr.decode("gbk", errors="replace")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert (folder / "结果" / "sites.csv").is_file()
    assert (folder / "结果" / "summary.json").is_file()


def test_quiet_prints_nothing_on_success(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-q", "network", "--osm", str(demo_data_dir() / "jingyang_synthetic.osm.gz"),
                 "--mode", "walk", "--out", str(tmp_path / "g.graphml")])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == ""
    assert captured.err == ""
    assert (tmp_path / "g.graphml").is_file()
    assert main(["network", "--osm", str(demo_data_dir() / "jingyang_synthetic.osm.gz"),
                 "--mode", "walk", "--out", str(tmp_path / "g2.graphml")]) == 0
    assert "g2.graphml" in capsys.readouterr().out
