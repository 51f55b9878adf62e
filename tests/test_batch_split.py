"""The one-pass OSM split: the source is read once, the extracts are sorted, a bad source is
named (SYNTHETIC street grids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import osmium
import pytest

from deyang_geo.core.errors import NetworkError
from deyang_geo.network.split import split_osm_file
from deyang_geo.study.synthetic_province import write_street_grid

BOXES = {"west": (104.0, 30.5, 104.006, 30.51), "east": (104.008, 30.502, 104.014, 30.512),
         "nothing": (105.0, 31.0, 105.1, 31.1)}


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    osm = tmp_path / "grid.osm.pbf"
    write_street_grid(osm, columns=30, rows=20, way_segments=12, skip_cells=[(2, 1)],
                      cell_nodes=5, seed=1)
    return osm


def test_the_source_is_read_once(grid: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Found: the split read the province file twice (two passes)."""
    opened: list[str] = []
    real = osmium.FileProcessor

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(osmium, "FileProcessor", counting)
    split_osm_file(grid, BOXES, out_paths={k: tmp_path / f"{k}.osm.pbf" for k in BOXES})
    assert opened.count(str(grid)) == 1


def _objects(path: Path) -> list[tuple[str, int]]:
    return [("n" if o.is_node() else "w", o.id) for o in osmium.FileProcessor(str(path))]


def test_extracts_are_sorted_nodes_then_ways(grid: Path, tmp_path: Path) -> None:
    summary = split_osm_file(grid, BOXES,
                             out_paths={k: tmp_path / "out" / f"{k}.osm.pbf" for k in BOXES})
    for key in ("west", "east"):
        objs = _objects(summary.paths[key])
        kinds = [k for k, _ in objs]
        assert kinds == sorted(kinds)  # every node before every way
        nodes = [i for k, i in objs if k == "n"]
        ways = [i for k, i in objs if k == "w"]
        assert nodes == sorted(set(nodes))
        assert ways == sorted(set(ways))
        assert len(nodes) == summary.nodes[key]
        assert len(ways) == summary.ways[key]
    assert _objects(summary.paths["nothing"]) == []
    leftovers = [p.name for p in (tmp_path / "out").iterdir()]
    assert sorted(leftovers) == sorted(f"{k}.osm.pbf" for k in BOXES)  # no temporary left


def test_unsorted_ways_are_named(tmp_path: Path) -> None:
    osm = tmp_path / "unsorted.osm"
    with osmium.SimpleWriter(str(osm)) as w:
        for i in range(1, 4):
            w.add_node(osmium.osm.mutable.Node(id=i, location=(104.0 + 0.001 * i, 30.501)))
        w.add_way(osmium.osm.mutable.Way(id=9, nodes=[1, 2], tags={"highway": "primary"}))
        w.add_way(osmium.osm.mutable.Way(id=3, nodes=[2, 3], tags={"highway": "primary"}))
    with pytest.raises(NetworkError, match="not sorted") as exc:
        split_osm_file(osm, BOXES, out_paths={k: tmp_path / f"{k}.osm.pbf" for k in BOXES})
    assert str(osm) in str(exc.value)
    assert not list(tmp_path.glob("*.osm.pbf"))


def test_a_file_that_is_not_osm_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf at all")
    with pytest.raises(NetworkError, match="not an OSM file") as exc:
        split_osm_file(bad, BOXES, out_paths={k: tmp_path / f"{k}.x.osm.pbf" for k in BOXES})
    assert str(bad) in str(exc.value)
