"""GraphML written straight from the builder's arrays, a block of lines at a time.

``write_graphml(arrays, path)`` writes the bytes ``save_graph(arrays.graph(), path)`` writes
(and ``osmnx.save_graphml`` would: every value as ``str(value)``, keys in networkx's order,
networkx's indentation), without building the networkx graph, the shapely geometries or an
XML tree in memory: on a 160,000-node network networkx's writer held 6.6 GB. The tests compare
the bytes with ``save_graph`` and ``osmnx.save_graphml``.

Geometries are written as shapely writes their WKT: a coordinate ``v`` with
``1 <= |v| < 1e15`` is ``repr(v)`` without a trailing ``.0`` (GEOS's shortest round-trip
digits; checked in the tests on a million values); an edge with another coordinate (under a
metre from the CRS origin, huge or not finite) is written by shapely itself.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from deyang_geo.io.files import atomic_path
from deyang_geo.network.build import NetworkArrays

__all__ = ["GRAPH_SUFFIXES", "linestring_wkt", "write_graphml"]

#: Suffixes of saved networks (``storage.save_graph`` / ``load_graph``): GraphML, GeoPackage.
GRAPH_SUFFIXES: tuple[str, ...] = (".graphml", ".gpkg")

#: Graph attributes saved as JSON text (as ``storage.save_graph`` does).
JSON_GRAPH_ATTRS: tuple[str, ...] = (
    "modes", "speeds_kmh", "components", "disconnected", "dropped_pieces")

#: Node attributes, in the order :meth:`NetworkArrays.graph` sets them.
NODE_ATTRS: tuple[str, ...] = ("y", "x", "street_count", "lon", "lat")

_HEADER = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)

#: Nodes or edges written at once.
_BLOCK_PARTS = 16_384


def _escape_text(text: str) -> str:
    """Escape element text as ElementTree does (``&``, ``<``, ``>``)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attribute(text: str) -> str:
    """Escape an attribute value as ElementTree does."""
    text = _escape_text(text)
    for raw, escaped in (('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;")):
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def _coordinate_text(values: NDArray[np.float64]) -> tuple[list[str], NDArray[np.bool_]]:
    """Coordinates as GEOS writes them, and which ones need GEOS itself."""
    plain = np.isfinite(values) & (np.abs(values) >= 1) & (np.abs(values) < 1e15)
    values = np.where(plain, values, 1.0)
    texts = list(map(repr, values.tolist()))
    for i in np.flatnonzero(values == np.floor(values)).tolist():
        texts[i] = texts[i].removesuffix(".0")  # GEOS writes whole numbers without ".0"
    return texts, plain


def linestring_wkt(xy: NDArray[np.float64], ptr: NDArray[np.int64]) -> list[str]:
    """Return the WKT of each line (``str(shapely.LineString)``) from flat points.

    Parameters
    ----------
    xy
        The points of every line, shape (k, 2).
    ptr
        Line ``f`` runs through ``xy[ptr[f]:ptr[f + 1]]``.

    Returns
    -------
    list of str
        ``LINESTRING (x y, x y, ...)`` for each line.
    """
    xs, x_plain = _coordinate_text(np.ascontiguousarray(xy[:, 0]))
    ys, y_plain = _coordinate_text(np.ascontiguousarray(xy[:, 1]))
    points = list(map("{} {}".format, xs, ys))
    bounds = ptr.tolist()
    out = [f"LINESTRING ({', '.join(points[a:b])})"
           for a, b in itertools.pairwise(bounds)]
    odd_points = np.flatnonzero(~(x_plain & y_plain))
    if len(odd_points):
        import shapely  # noqa: PLC0415 - only for coordinates GEOS writes its own way

        lines = np.unique(np.searchsorted(ptr, odd_points, side="right") - 1)
        for f in lines.tolist():
            out[f] = str(shapely.LineString(xy[bounds[f]:bounds[f + 1]]))
    return out


class _Keys:
    """GraphML keys ``d0, d1, ...`` in order of first use, as networkx numbers them."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], str] = {}

    def add(self, scope: str, names: Iterable[str]) -> None:
        for name in names:
            if (name, scope) not in self.ids:
                self.ids[(name, scope)] = f"d{len(self.ids)}"

    def lines(self) -> Iterator[str]:
        """Yield the key declarations, newest first (networkx inserts each at the top)."""
        for (name, scope), key_id in reversed(self.ids.items()):
            yield (f'  <key id="{key_id}" for="{scope}" attr.name="{_escape_attribute(name)}" '
                   'attr.type="string" />\n')


def _data_line(key_id: str, text: str, indent: str) -> str:
    if text == "":
        return f'{indent}<data key="{key_id}" />\n'
    return f'{indent}<data key="{key_id}">{_escape_text(text)}</data>\n'


def write_graphml(arrays: NetworkArrays, path: str | os.PathLike[str]) -> Path:
    """Write the network as GraphML, atomically, without building a networkx graph.

    Parameters
    ----------
    arrays
        The builder's arrays (:func:`~deyang_geo.network.build.network_arrays_from_osm_file`).
    path
        Destination ``.graphml`` file.

    Returns
    -------
    Path
        The destination. Its bytes are those of ``save_graph(arrays.graph(), path)``.
    """
    final = Path(path)
    graph_attrs = arrays.graph_attributes()
    for key in JSON_GRAPH_ATTRS:
        if key in graph_attrs:
            value = graph_attrs[key]
            graph_attrs[key] = json.dumps(list(value) if isinstance(value, tuple) else value,
                                          ensure_ascii=False)
    graph_text = {k: str(v) for k, v in graph_attrs.items()}
    order = arrays.graph_edge_order()
    group, groups = arrays.osm_attrs.groups()
    mask = arrays.mode_mask
    times = [f"travel_time_{m}" for m in arrays.modes]
    # keys in networkx's order: graph, nodes, then each edge's in edge order; an edge's keys
    # are its group's OSM attributes, length, geometry and the times of its modes, so the
    # first edge of each (group, modes) pair is enough to see every key in order
    keys = _Keys()
    keys.add("graph", graph_text)
    keys.add("node", NODE_ATTRS)
    _, first = np.unique((group * (int(mask.max(initial=0)) + 1) + mask)[order],
                         return_index=True)
    for f in order[np.sort(first)].tolist():
        keys.add("edge", groups[group[f]])
        keys.add("edge", ("length", "geometry"))
        keys.add("edge", (t for i, t in enumerate(times) if int(mask[f]) >> i & 1))
    with atomic_path(final) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        _write_lines(out, _document(arrays, graph_text, keys, group=group, groups=groups,
                                     order=order))
    return final


def _document(arrays: NetworkArrays, graph_text: dict[str, str], keys: _Keys, *,
              group: NDArray[np.int64], groups: list[dict[str, Any]],
              order: NDArray[np.int64]) -> Iterator[str]:
    """Yield the document's text, a node or an edge at a time."""
    yield _HEADER
    yield from keys.lines()
    yield '  <graph edgedefault="directed">\n'
    ids = keys.ids
    node_tpl = '    <node id="%s">\n' + "".join(
        f'      <data key="{ids[(name, "node")]}">%s</data>\n' for name in NODE_ATTRS
    ) + "    </node>\n"
    columns = (arrays.node_ids.tolist(), arrays.y.tolist(), arrays.x.tolist(),
               arrays.street_count.tolist(), arrays.lon.tolist(), arrays.lat.tolist())
    for row in zip(*columns, strict=True):
        yield node_tpl % row
    # an edge: its group's OSM attributes (text made once per group), then length, geometry
    # and the times of its modes (one template per set of modes)
    group_text: dict[int, str] = {}
    mode_tpl: dict[int, tuple[str, list[list[float]]]] = {}
    time_attrs = [(f"travel_time_{m}", 1 << i) for i, m in enumerate(arrays.modes)]
    tail = arrays.node_ids[arrays.edge_u].tolist()
    head = arrays.node_ids[arrays.edge_v].tolist()
    edge_key = arrays.edge_key.tolist()
    group_l = group.tolist()
    mask_l = arrays.mode_mask.tolist()
    length = arrays.length_m.tolist()
    time_l = [arrays.travel_time_s[m].tolist() for m in arrays.modes]
    for start in range(0, len(order), _BLOCK_PARTS):
        block = order[start:start + _BLOCK_PARTS]
        wkt = _block_wkt(arrays, block)
        for j, f in enumerate(block.tolist()):
            g = group_l[f]
            osm = group_text.get(g)
            if osm is None:
                osm = "".join(_data_line(ids[(name, "edge")], str(value), "      ")
                              for name, value in groups[g].items())
                group_text[g] = osm
            m = mask_l[f]
            known = mode_tpl.get(m)
            if known is None:
                tpl = "".join(f'      <data key="{ids[(name, "edge")]}">%s</data>\n'
                              for name in ("length", "geometry"))
                tpl += "".join(f'      <data key="{ids[(name, "edge")]}">%s</data>\n'
                               for name, bit in time_attrs if m & bit)
                known = (tpl, [time_l[i] for i, (_, bit) in enumerate(time_attrs) if m & bit])
                mode_tpl[m] = known
            tpl, columns_of_modes = known
            values = [length[f], wkt[j], *[column[f] for column in columns_of_modes]]
            yield (f'    <edge source="{tail[f]}" target="{head[f]}" id="{edge_key[f]}">\n'
                   + osm + tpl % tuple(values) + "    </edge>\n")
    for name, text in graph_text.items():
        yield _data_line(ids[(name, "graph")], text, "    ")
    yield "  </graph>\n"
    yield "</graphml>\n"


def _block_wkt(arrays: NetworkArrays, edges: NDArray[np.int64]) -> list[str]:
    """Return the WKT of the given edges' lines."""
    ptr = arrays.edge_xy_ptr
    counts = ptr[edges + 1] - ptr[edges]
    block_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = np.repeat(ptr[edges] - block_ptr[:-1], counts) + np.arange(int(block_ptr[-1]))
    return linestring_wkt(arrays.edge_xy[rows], block_ptr)


def _write_lines(out: IO[str], parts: Iterable[str]) -> None:
    block: list[str] = []
    for part in parts:
        block.append(part)
        if len(block) >= _BLOCK_PARTS:
            out.write("".join(block))
            block.clear()
    out.write("".join(block))
