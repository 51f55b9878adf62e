"""Networks downloaded from OpenStreetMap (Overpass) through osmnx: by place, polygon or box."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
from shapely.geometry.base import BaseGeometry

from deyang_geo.core import settings
from deyang_geo.core.errors import NetworkError
from deyang_geo.network.boundary import (
    BOUNDARY_BUFFER_M,
    Boundary,
    buffer_wgs84,
    check_bbox,
    read_boundary,
)
from deyang_geo.network.build import build_graph, way_tags_kept
from deyang_geo.network.osm_file import (
    highways_from_overpass,
)
from deyang_geo.network.rules import check_modes, mode_speeds

__all__ = [
    "graph_from_bbox",
    "graph_from_place",
    "graph_from_polygon",
]


# --------------------------------------------------------------------------- online (osmnx)
def _osmnx_cache() -> contextlib.AbstractContextManager[None]:
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    return osmnx_adapter.overpass_cache(settings.cache_folder)


def _graph_from_overpass(
    polygon: BaseGeometry,
    *,
    source: str,
    modes: Iterable[str] | str | None,
    simplify: bool,
    retain_all: bool,
    drop_disconnected: bool,
    crs: str | None,
    speeds_kmh: Mapping[str, float] | None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download with osmnx (Overpass) and build: what the online sources funnel into."""
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    mode_t = check_modes(modes)
    speeds = mode_speeds(mode_t, speeds_kmh)
    buffered = buffer_wgs84(polygon, BOUNDARY_BUFFER_M)
    with _osmnx_cache():
        try:
            responses = osmnx_adapter.overpass_network_responses(buffered)
        except Exception as exc:
            msg = f"{source}: could not download the network from Overpass ({exc})"
            raise NetworkError(msg) from exc
    keep = way_tags_kept()
    data = highways_from_overpass(responses, keep_tags=keep)
    return build_graph(data, modes=mode_t, speeds=speeds, boundary=polygon, simplify=simplify,
                        retain_all=retain_all, drop_disconnected=drop_disconnected, crs=crs,
                        source=source, keep_tags=keep, exclude_trunk=exclude_trunk,
                        min_piece_km=min_piece_km, keep_near=keep_near,
                        keep_near_m=keep_near_m)


def graph_from_place(
    query: str,
    *,
    modes: Iterable[str] | str | None = None,
    which_result: int | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download the network of a named place (Chinese or English) through osmnx, with cache.

    Parameters
    ----------
    query
        A place name Nominatim resolves to a polygon, e.g. ``"旌阳区, 德阳市"``.
    modes, simplify, retain_all, drop_disconnected, crs, speeds_kmh, exclude_trunk
        As in :func:`graph_from_osm_file`.
    min_piece_km, keep_near, keep_near_m
        As in :func:`graph_from_osm_file`.
    which_result
        Which geocoding result to use (osmnx's meaning); default the first polygon.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.

    Raises
    ------
    NetworkError
        If the place cannot be resolved to a polygon or has no roads.
    """
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    if not isinstance(query, str) or not query.strip():
        msg = f"a place name must be a non-empty string, got {query!r}"
        raise NetworkError(msg)
    with _osmnx_cache():
        try:
            gdf = osmnx_adapter.geocode_to_gdf(query, which_result=which_result)
        except Exception as exc:
            msg = f"the place {query!r} cannot be resolved to a boundary ({exc})"
            raise NetworkError(msg) from exc
    polygon = read_boundary(gdf.geometry.union_all())
    return _graph_from_overpass(polygon, source=f"OpenStreetMap place {query!r}", modes=modes,
                                simplify=simplify, retain_all=retain_all,
                                drop_disconnected=drop_disconnected, crs=crs,
                                speeds_kmh=speeds_kmh, exclude_trunk=exclude_trunk,
                                min_piece_km=min_piece_km, keep_near=keep_near,
                                keep_near_m=keep_near_m)


def graph_from_polygon(
    polygon: Boundary,
    *,
    modes: Iterable[str] | str | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download the network inside a polygon (WGS-84, or a boundary file) through osmnx.

    Parameters
    ----------
    polygon
        The study area: a shapely (Multi)Polygon in WGS-84 degrees or a boundary file.
    modes, simplify, retain_all, drop_disconnected, crs, speeds_kmh, exclude_trunk
        As in :func:`graph_from_osm_file`.
    min_piece_km, keep_near, keep_near_m
        As in :func:`graph_from_osm_file`.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.
    """
    poly = read_boundary(polygon)
    return _graph_from_overpass(poly, source="OpenStreetMap polygon", modes=modes,
                                simplify=simplify, retain_all=retain_all,
                                drop_disconnected=drop_disconnected, crs=crs,
                                speeds_kmh=speeds_kmh, exclude_trunk=exclude_trunk,
                                min_piece_km=min_piece_km, keep_near=keep_near,
                                keep_near_m=keep_near_m)


def graph_from_bbox(
    bbox: Sequence[float],
    *,
    modes: Iterable[str] | str | None = None,
    simplify: bool = True,
    retain_all: bool = False,
    drop_disconnected: bool = True,
    crs: str | None = None,
    speeds_kmh: Mapping[str, float] | None = None,
    exclude_trunk: bool = False,
    min_piece_km: float | None = None,
    keep_near: Any = None,
    keep_near_m: float | None = None,
) -> nx.MultiDiGraph:
    """Download the network inside a bounding box (west, south, east, north) through osmnx.

    Parameters
    ----------
    bbox
        ``(west, south, east, north)`` in WGS-84 degrees (osmnx's order).
    modes, simplify, retain_all, drop_disconnected, crs, speeds_kmh, exclude_trunk
        As in :func:`graph_from_osm_file`.
    min_piece_km, keep_near, keep_near_m
        As in :func:`graph_from_osm_file`.

    Returns
    -------
    networkx.MultiDiGraph
        The road network graph.
    """
    poly = check_bbox(bbox)
    west, south, east, north = poly.bounds
    return _graph_from_overpass(poly, source=f"OpenStreetMap bbox {west},{south},{east},{north}",
                                modes=modes, simplify=simplify, retain_all=retain_all,
                                drop_disconnected=drop_disconnected, crs=crs,
                                speeds_kmh=speeds_kmh, exclude_trunk=exclude_trunk,
                                min_piece_km=min_piece_km, keep_near=keep_near,
                                keep_near_m=keep_near_m)

