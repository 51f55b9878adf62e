"""Saved networks: GraphML and GeoPackage written and read back, and any network source read."""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx

from deyang_geo.core.errors import NetworkError, Problem
from deyang_geo.io.files import atomic_path, fixed_file_dates
from deyang_geo.network.boundary import Boundary, clip_to_boundary
from deyang_geo.network.build import graph_from_osm_file
from deyang_geo.network.graphml import GRAPH_SUFFIXES
from deyang_geo.network.osm_file import (
    is_osm_path,
)
from deyang_geo.network.rules import MODE_KIND, check_modes

__all__ = [
    "load_graph",
    "read_network",
    "save_graph",
]



# --------------------------------------------------------------------------- saved graphs
_JSON_GRAPH_ATTRS = ("modes", "speeds_kmh", "components", "disconnected", "dropped_pieces")

_GPKG_META_PREFIX = "deyang_geo__"


def save_graph(G: nx.MultiDiGraph, path: str | os.PathLike[str]) -> Path:
    """Save a network as GraphML (``.graphml``) or GeoPackage (``.gpkg``), atomically.

    Parameters
    ----------
    G
        A road network graph.
    path
        Destination; the suffix chooses the format.

    Returns
    -------
    Path
        The destination.

    Raises
    ------
    NetworkError
        If the suffix is neither ``.graphml`` nor ``.gpkg``.
    """
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        msg = f"{final}: save a network as .graphml or .gpkg"
        raise NetworkError(msg)
    H = G.copy()
    for key in _JSON_GRAPH_ATTRS:
        if key in H.graph:
            H.graph[key] = json.dumps(_jsonable(H.graph[key]), ensure_ascii=False)
    with atomic_path(final) as tmp:
        if suffix == ".graphml":
            _save_graphml(H, tmp)
        else:
            _save_gpkg(H, tmp)
    return final


def _save_graphml(H: nx.MultiDiGraph, tmp: Path) -> None:
    """Write ``H`` (a copy, stringified in place) as ``osmnx.save_graphml`` writes it.

    Every graph, node and edge attribute value becomes ``str(value)``, then
    ``networkx.write_graphml`` in UTF-8: the same bytes as osmnx's writer (checked in the
    tests), without importing osmnx (about 1.5 s and 180 MiB) for it.
    """
    for attr, value in H.graph.items():
        H.graph[attr] = str(value)
    for _, data in H.nodes(data=True):
        for attr, value in data.items():
            data[attr] = str(value)
    for _, _, data in H.edges(keys=False, data=True):
        for attr, value in data.items():
            data[attr] = str(value)
    nx.write_graphml(H, path=tmp, encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _save_gpkg(H: nx.MultiDiGraph, tmp: Path) -> None:
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    nodes, edges = osmnx_adapter.graph_to_gdfs(H)
    meta = {f"{_GPKG_META_PREFIX}{k}": str(v) for k, v in H.graph.items()}
    nodes = osmnx_adapter.stringify_nonnumeric_columns(nodes)
    edges = osmnx_adapter.stringify_nonnumeric_columns(edges)

    with fixed_file_dates():
        nodes.to_file(tmp, layer="nodes", driver="GPKG", index=True, layer_metadata=meta)
        edges.to_file(tmp, layer="edges", driver="GPKG", index=True)


def load_graph(path: str | os.PathLike[str]) -> nx.MultiDiGraph:
    """Load a network saved by :func:`save_graph` (GraphML or GeoPackage).

    Parameters
    ----------
    path
        A ``.graphml`` or ``.gpkg`` file.

    Returns
    -------
    networkx.MultiDiGraph
        The graph, with per-mode travel times, lengths and coordinates as floats and
        ``G.graph["modes"]`` a tuple.

    Raises
    ------
    NetworkError
        If the file is missing or not a saved network.
    """
    file = Path(path)
    if not file.is_file():
        raise NetworkError(Problem("the network file does not exist", file=str(file)))
    suffix = file.suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        msg = "not a saved network: use .graphml or .gpkg"
        raise NetworkError(Problem(msg, file=str(file)))
    try:
        G = _load_graphml(file) if suffix == ".graphml" else _load_gpkg(file)
    except Exception as exc:
        msg = f"cannot read the saved network ({type(exc).__name__}: {exc})"
        raise NetworkError(Problem(msg, file=str(file))) from None
    for key in _JSON_GRAPH_ATTRS:
        value = G.graph.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                G.graph[key] = json.loads(value)
    if isinstance(G.graph.get("modes"), list):
        G.graph["modes"] = tuple(G.graph["modes"])
    if "crs" not in G.graph:
        raise NetworkError(Problem("the saved network has no CRS", file=str(file)))
    return G


def _float_edge_attrs() -> dict[str, Any]:
    types: dict[str, Any] = {f"travel_time_{m}": float for m in MODE_KIND}
    types.update({"length": float, "grade": float, "grade_abs": float})
    return types


def _load_graphml(file: Path) -> nx.MultiDiGraph:
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    return osmnx_adapter.load_graphml(
        file,
        node_dtypes={"lon": float, "lat": float, "elevation": float},
        edge_dtypes=_float_edge_attrs(),
        graph_dtypes={"simplified": osmnx_adapter.bool_from_text},
    )


def _load_gpkg(file: Path) -> nx.MultiDiGraph:
    import pyogrio

    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy


    nodes = gpd.read_file(file, layer="nodes").set_index("osmid")
    edges = gpd.read_file(file, layer="edges").set_index(["u", "v", "key"])
    meta = pyogrio.read_info(file, layer="nodes").get("layer_metadata") or {}
    graph_attrs: dict[str, Any] = {k.removeprefix(_GPKG_META_PREFIX): v for k, v in meta.items()
                                   if k.startswith(_GPKG_META_PREFIX)}
    if "simplified" in graph_attrs:
        graph_attrs["simplified"] = graph_attrs["simplified"] == "True"
    graph_attrs.setdefault("crs", str(nodes.crs) if nodes.crs is not None else None)
    for col in edges.columns:
        if col != "geometry" and edges[col].dtype == object:
            edges[col] = edges[col].map(_literal_list)
    if "osmid" in edges:
        edges["osmid"] = edges["osmid"].map(_literal)
    for col in ("oneway", "reversed"):
        if col in edges:
            edges[col] = edges[col].map(_literal_bool)
    for col, kind in _float_edge_attrs().items():
        if col in edges:
            edges[col] = edges[col].astype(kind)
    G = osmnx_adapter.graph_from_gdfs(nodes, edges, graph_attrs=graph_attrs)
    for _, _, d in G.edges(data=True):
        for key in [k for k, val in d.items() if _is_missing(val)]:
            del d[key]
    return G


def _literal(value: Any) -> Any:
    if isinstance(value, str) and (value.startswith("[") or value.lstrip("-").isdigit()):
        with contextlib.suppress(ValueError, SyntaxError):
            return ast.literal_eval(value)
    return value


def _literal_list(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        return _literal(value)
    return value


def _literal_bool(value: Any) -> Any:
    value = _literal(value) if isinstance(value, str) and value.startswith("[") else value
    if isinstance(value, list):
        return [_literal_bool(v) for v in value]
    if isinstance(value, str) and value in {"True", "False"}:
        return value == "True"
    return value


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return isinstance(value, float) and math.isnan(value)


def read_network(
    path: str | os.PathLike[str],
    *,
    modes: Iterable[str] | str | None = None,
    boundary: Boundary | None = None,
) -> nx.MultiDiGraph:
    """Read a network from an OSM file or a saved graph, choosing by the file name.

    This is what the commands' ``--network NET`` option calls.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.osm.pbf`` (built with default options) or a
        saved ``.graphml`` / ``.gpkg``.
    modes
        Modes needed; a saved graph must carry them (default: all modes of the source).
    boundary
        Study area (WGS-84 polygon or file) to clip to.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.

    Raises
    ------
    NetworkError
        If the file type is unknown, or a saved graph lacks a requested mode.
    """
    file = Path(path)
    if is_osm_path(file):
        return graph_from_osm_file(file, modes=modes, boundary=boundary)
    if file.suffix.lower() not in GRAPH_SUFFIXES:
        msg = ("unknown network file type: use .osm, .osm.bz2, .osm.gz, .osm.pbf, .graphml or "
               ".gpkg")
        raise NetworkError(Problem(msg, file=str(file)))
    G = load_graph(file)
    if modes is not None:
        wanted = check_modes(modes)
        have = tuple(G.graph.get("modes", ()))
        missing = [m for m in wanted if m not in have]
        if missing:
            msg = (f"the saved network has no travel times for {', '.join(missing)} "
                   f"(it has {', '.join(have) or 'none'}): rebuild it with these modes")
            raise NetworkError(Problem(msg, file=str(file)))
    if boundary is not None:
        G = clip_to_boundary(G, boundary)
    return G

