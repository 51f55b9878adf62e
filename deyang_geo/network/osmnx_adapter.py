"""The one place deyang-geo calls osmnx: its public API where it has one, the rest named here.

deyang-geo reads OSM files itself (pyosmium) and builds its graphs itself, so osmnx is needed
only online (geocoding, the Overpass download, OSM features) and for GraphML files. Importing
osmnx costs about 1.5 s and 180 MiB, so no module imports this one at module level (ruff's
``banned-module-level-imports`` says so): the file path never loads osmnx.

Private osmnx names used, each because osmnx has no public equivalent (re-check them before
raising the ``osmnx<2.2`` cap in ``pyproject.toml``):

- ``osmnx._overpass._download_overpass_network``: the raw Overpass responses of a polygon, which
  our own builder turns into a graph (``osmnx.graph_from_polygon`` would build osmnx's graph);
- ``osmnx._errors.InsufficientResponseError``: what ``features_from_*`` raise when an area has
  no matching feature (an empty answer, not an error, for us).

Tests patch the functions of this module, never osmnx's internals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pandas as pd
from osmnx import _errors as _ox_errors  # private: see the module docstring
from osmnx import _overpass  # private: see the module docstring

__all__ = [
    "InsufficientResponseError",
    "bool_from_text",
    "features_from_place",
    "features_from_xml",
    "geocode_to_gdf",
    "graph_from_gdfs",
    "graph_to_gdfs",
    "load_graphml",
    "overpass_cache",
    "overpass_network_responses",
    "save_graphml",
    "stringify_nonnumeric_columns",
    "useful_way_tags",
]

#: Raised by osmnx's ``features_from_*`` when no feature matches (osmnx keeps it private).
InsufficientResponseError = _ox_errors.InsufficientResponseError


def useful_way_tags() -> tuple[str, ...]:
    """Return the way tags osmnx keeps (``ox.settings.useful_tags_way``), as they are set now."""
    return tuple(ox.settings.useful_tags_way)


@contextlib.contextmanager
def overpass_cache(folder: str | Path) -> Iterator[None]:
    """Let osmnx cache Overpass and Nominatim answers in ``folder`` for the duration."""
    old = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(folder)
    try:
        yield
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = old


def overpass_network_responses(polygon: Any) -> list[dict[str, Any]]:
    """Download every highway way (with its nodes) inside a WGS-84 polygon from Overpass.

    osmnx's private ``_download_overpass_network`` with ``network_type="all"``: the raw JSON
    responses, so the toolkit's own builder makes the graph.
    """
    return list(_overpass._download_overpass_network(polygon, "all", None))


def geocode_to_gdf(query: str, *, which_result: int | None = None) -> gpd.GeoDataFrame:
    """Geocode a place name to its boundary with Nominatim (``ox.geocode_to_gdf``)."""
    return ox.geocode_to_gdf(query, which_result=which_result)


def features_from_place(query: str | dict[str, str], *,
                        tags: dict[str, Any]) -> gpd.GeoDataFrame:
    """Download the OSM features of a place with the given tags (``ox.features_from_place``)."""
    return ox.features_from_place(query, tags=tags)


def features_from_xml(path: str | Path, *, tags: dict[str, Any]) -> gpd.GeoDataFrame:
    """Read the OSM features with the given tags from an OSM XML file (``ox.features_from_xml``)."""
    return ox.features_from_xml(path, tags=tags)


def save_graphml(G: nx.MultiDiGraph, path: str | Path) -> None:
    """Write a graph as GraphML (``ox.save_graphml``)."""
    ox.save_graphml(G, path)


def load_graphml(path: str | Path, *, node_dtypes: dict[str, Any],
                 edge_dtypes: dict[str, Any], graph_dtypes: dict[str, Any]) -> nx.MultiDiGraph:
    """Read a GraphML graph with typed attributes (``ox.load_graphml``)."""
    return ox.load_graphml(path, node_dtypes=node_dtypes, edge_dtypes=edge_dtypes,
                           graph_dtypes=graph_dtypes)


def graph_to_gdfs(G: nx.MultiDiGraph) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return a graph's nodes and edges as GeoDataFrames (``ox.graph_to_gdfs``)."""
    nodes, edges = ox.graph_to_gdfs(G)
    return nodes, edges


def graph_from_gdfs(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *,
                    graph_attrs: dict[str, Any]) -> nx.MultiDiGraph:
    """Build a graph from node and edge GeoDataFrames (``ox.graph_from_gdfs``)."""
    return ox.graph_from_gdfs(nodes, edges, graph_attrs=graph_attrs)


def stringify_nonnumeric_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy whose non-numeric, non-geometry columns are text (lists as their repr).

    What osmnx does before writing a GeoPackage (its private ``_stringify_nonnumeric_cols``),
    written here so no private osmnx helper is needed for it.
    """
    out = gdf.copy()
    for col in out.columns:
        if col != "geometry" and not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].fillna("").astype(str)
    return out


def bool_from_text(value: bool | str) -> bool:
    """Return ``True`` / ``False`` for the texts ``"True"`` / ``"False"`` (or a bool as is).

    The graph-attribute converter osmnx uses when reading GraphML (its private
    ``_convert_bool_string``), written here so no private osmnx helper is needed for it.

    Raises
    ------
    ValueError
        For any other value.
    """
    if isinstance(value, bool):
        return value
    if value in {"True", "False"}:
        return value == "True"
    msg = f"Invalid literal for boolean: {value!r}."
    raise ValueError(msg)
