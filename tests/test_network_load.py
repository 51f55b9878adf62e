"""Network loading without detours (issue 17, goal 3): same bytes and numbers, fewer steps.

- ``network.graphml.write_graphml`` writes the bytes ``save_graph(arrays.graph())`` writes
  (and ``osmnx.save_graphml``, the anchor, see ``test_network_arrays.py``), on the fixtures,
  with every option, with text that XML must escape, and on the Andorra extract;
- its WKT is shapely's, coordinate for coordinate;
- the reader's flat refs and WKB coordinates give the ways and locations pyosmium gives node
  by node;
- the numpy versions of two pandas steps (modes changing along a street, km of street) give
  the results of the pandas code they replaced (kept here as the reference).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from deyang_geo.network.build import (
    _Segments,
    _through_nodes_to_keep,
    network_arrays_from_osm_file,
    street_length_km,
)
from deyang_geo.network.graphml import linestring_wkt, write_graphml
from deyang_geo.network.osm_file import RULE_TAGS, read_highways
from deyang_geo.network.storage import save_graph
from deyang_geo.network.summary import network_summary

FIXTURES = Path(__file__).parent / "fixtures"
ANDORRA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "andorra.osm.pbf"

OPTION_SETS = [
    {},
    {"retain_all": True},
    {"simplify": False},
    {"modes": ["walk", "drive"], "drop_disconnected": False},
    {"modes": "bike", "exclude_trunk": True, "crs": "cgcs2000_gk3"},
]


def _same_bytes(arrays_path: Path, tmp_path: Path, **options: object) -> None:
    arrays = network_arrays_from_osm_file(arrays_path, **options)  # type: ignore[arg-type]
    ours = write_graphml(arrays, tmp_path / "ours.graphml").read_bytes()
    reference = save_graph(arrays.graph(), tmp_path / "graph.graphml").read_bytes()
    assert ours == reference


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("name", ["net_basic.osm", "net_islet.osm", "std_streets.osm",
                                  "cli_access_streets.osm"])
def test_streamed_graphml_is_the_graph_writers_bytes(name: str, options: dict[str, object],
                                                     tmp_path: Path) -> None:
    _same_bytes(FIXTURES / name, tmp_path, **options)


ESCAPES_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
<node id="1" lat="31.1300000" lon="104.3900000"/>
<node id="2" lat="31.1300000" lon="104.3910000"/>
<node id="3" lat="31.1310000" lon="104.3910000"/>
<node id="4" lat="31.1310000" lon="104.3900000"/>
<node id="5" lat="31.1320000" lon="104.3900000"/>
<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
<tag k="highway" v="residential"/><tag k="name" v="A &amp; B &lt;路&gt; &quot;x&quot;"/></way>
<way id="11"><nd ref="3"/><nd ref="4"/><nd ref="1"/>
<tag k="highway" v="footway"/><tag k="name" v=""/><tag k="ref" v="  "/></way>
<way id="12"><nd ref="4"/><nd ref="5"/>
<tag k="highway" v="service"/><tag k="name" v="长江路"/><tag k="oneway" v="yes"/></way>
</osm>
"""


def test_streamed_graphml_escapes_text_as_elementtree(tmp_path: Path) -> None:
    """Names with &, <, >, quotes, Chinese, an empty and a blank value: the same bytes."""
    path = tmp_path / "escapes.osm"
    path.write_text(ESCAPES_OSM, encoding="utf-8")
    _same_bytes(path, tmp_path, retain_all=True)
    _same_bytes(path, tmp_path, retain_all=True, simplify=False)
    text = (tmp_path / "ours.graphml").read_text(encoding="utf-8")
    assert 'A &amp; B &lt;路&gt; "x"' in text


@pytest.mark.skipif(not ANDORRA.is_file(), reason="../shared/data/andorra.osm.pbf absent")
def test_streamed_graphml_on_andorra(tmp_path: Path) -> None:
    _same_bytes(ANDORRA, tmp_path)


def test_wkt_is_shapelys() -> None:
    """Coordinates as GEOS writes them, including tiny, huge, negative and whole values."""
    rng = np.random.default_rng(17)
    values = np.concatenate([
        rng.uniform(1e5, 9e5, 4000), rng.uniform(0, 1e7, 4000), rng.uniform(-1e4, 1e4, 4000),
        np.round(rng.uniform(0, 1e6, 500)), rng.uniform(-1, 1, 500),
        rng.uniform(-1e-3, 1e-3, 100), [0.0, -0.0, 1.0, -1.0, 1e15, 2.5e16, 123.0, 1e-9],
    ])
    rng.shuffle(values)
    xy = values[: len(values) // 2 * 2].reshape(-1, 2)
    sizes = rng.integers(2, 7, size=len(xy))
    sizes = sizes[np.cumsum(sizes) <= len(xy)]
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ours = linestring_wkt(xy, ptr)
    theirs = [str(shapely.LineString(xy[a:b])) for a, b in itertools.pairwise(ptr)]
    assert ours == theirs


MIXED_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
<node id="1" lat="31.1300000" lon="104.3900000"/>
<node id="2" lat="31.1300000" lon="104.3910000"/>
<node id="4" lat="31.1310000" lon="104.3920000"/>
<node id="6" lat="31.1320000" lon="104.3920000"><tag k="highway" v="traffic_signals"/></node>
<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/>
<tag k="highway" v="residential"/></way>
<way id="11"><nd ref="2"/><tag k="highway" v="residential"/></way>
<way id="12"><tag k="highway" v="residential"/></way>
<way id="13"><nd ref="4"/><nd ref="1"/><nd ref="4"/><tag k="highway" v="footway"/>
<tag k="a" v="1"/><tag k="b" v="2 N 3"/><tag k="c" v="3"/><tag k="foot" v="yes"/></way>
<way id="14"><nd ref="6"/><nd ref="4"/><tag k="name" v="no highway"/></way>
<relation id="20"><member type="way" ref="10" role="outer"/>
<tag k="highway" v="pedestrian"/><tag k="type" v="multipolygon"/></relation>
</osm>
"""


@pytest.mark.parametrize("source", ["mixed", "andorra"])
def test_reader_matches_pyosmium_node_by_node(source: str, tmp_path: Path) -> None:
    """Flat refs and WKB coordinates = refs and locations read node by node (the anchor)."""
    import osmium

    if source == "andorra":
        if not ANDORRA.is_file():
            pytest.skip("../shared/data/andorra.osm.pbf absent")
        path = ANDORRA
    else:
        path = tmp_path / "mixed.osm"
        path.write_text(MIXED_OSM, encoding="utf-8")
    data = read_highways(path, keep_tags=("foot", "b"))
    ways, tags, locations = [], [], {}
    for obj in (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
                .with_locations()
                .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                .with_filter(osmium.filter.KeyFilter("highway"))):
        ways.append([nd.ref for nd in obj.nodes])
        tags.append({t.k: t.v for t in obj.tags})
        for nd in obj.nodes:
            if nd.location.valid():
                locations[nd.ref] = (nd.location.lon, nd.location.lat)
    assert data.way_nodes == ways
    if source == "mixed":  # a tagged node, a way without highway, a relation: not ways read
        assert data.way_ids == [10, 11, 12, 13]
    kept = {*RULE_TAGS, "foot", "b"}
    assert data.way_tags == [{k: v for k, v in t.items() if k in kept} for t in tags]
    assert data.node_ids.tolist() == sorted(locations)
    assert list(zip(data.node_lon.tolist(), data.node_lat.tolist(), strict=True)) == [
        locations[i] for i in sorted(locations)]


def _through_nodes_pandas(segs: _Segments) -> np.ndarray:
    """The pandas code ``_through_nodes_to_keep`` replaced (the reference)."""
    u, v, mask = segs.u, segs.v, segs.mask
    nodes, counts = np.unique(np.concatenate([u, v]), return_counts=True)
    candidates = nodes[(counts == 2) | (counts == 4)]
    ins = pd.DataFrame({"n": v, "a": u, "m_in": mask})
    outs = pd.DataFrame({"n": u, "b": v, "m_out": mask})
    ins = ins[np.isin(ins["n"].to_numpy(), candidates)]
    outs = outs[np.isin(outs["n"].to_numpy(), candidates)]
    pairs = ins.merge(outs, on="n")
    pairs = pairs[(pairs["a"] != pairs["b"]) & (pairs["m_in"] != pairs["m_out"])]
    return np.unique(pairs["n"].to_numpy(dtype=np.int64))


def _street_km_pandas(iu: np.ndarray, iv: np.ndarray, length: np.ndarray,
                      sel: np.ndarray) -> float:
    """The pandas code ``street_length_km`` replaced (the reference)."""
    df = pd.DataFrame({"a": iu[sel], "b": iv[sel], "cm": np.round(length[sel] * 100)})
    rev = df.rename(columns={"a": "b", "b": "a"}).drop_duplicates()
    twins = df.merge(rev, on=["a", "b", "cm"], how="left", indicator=True)
    is_twin = (twins["_merge"] == "both").to_numpy()
    lengths = length[sel]
    total = lengths[~is_twin].sum() + lengths[is_twin].sum() / 2.0
    return round(float(total) / 1000.0, 3)


@pytest.mark.parametrize("seed", range(8))
def test_numpy_steps_equal_the_pandas_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 60, 150
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    # streets both ways, some with the same length, some parallel, some with other modes
    both = rng.random(m) < 0.5
    u, v = np.concatenate([u, v[both]]), np.concatenate([v, u[both]])
    length = np.round(rng.uniform(1, 200, len(u)), 1)
    length[m:] = length[:m][both]
    length[m:][rng.random(int(both.sum())) < 0.2] += 0.5
    mask = rng.integers(1, 4, len(u))
    segs = _Segments(u, v, np.zeros(len(u), np.int64), mask, np.zeros(len(u), bool), length)
    assert _through_nodes_to_keep(segs).tolist() == _through_nodes_pandas(segs).tolist()
    for sel in (np.ones(len(u), bool), rng.random(len(u)) < 0.6, np.zeros(len(u), bool)):
        assert street_length_km(u, v, length, sel) == _street_km_pandas(u, v, length, sel)


def test_arrays_summary_is_the_graphs(tmp_path: Path) -> None:
    """The network command's summary, computed on the arrays, is the graph's."""
    arrays = network_arrays_from_osm_file(FIXTURES / "std_streets.osm")
    assert network_summary(arrays) == network_summary(arrays.graph())


def test_geometry_built_on_first_use() -> None:
    """NetworkArrays keeps points; the LineStrings are the graph's, built once when asked."""
    arrays = network_arrays_from_osm_file(FIXTURES / "net_basic.osm", retain_all=True)
    assert "geometry" not in vars(arrays)
    geoms = arrays.geometry
    assert geoms is arrays.geometry
    G = arrays.graph()
    by_edge = {(u, v, k): d["geometry"] for u, v, k, d in G.edges(keys=True, data=True)}
    ids = arrays.node_ids
    for f, geom in enumerate(geoms):
        key = (ids[arrays.edge_u[f]], ids[arrays.edge_v[f]], arrays.edge_key[f])
        assert shapely.equals_exact(geom, by_edge[key], tolerance=0)
