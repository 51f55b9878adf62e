"""Study-area boundaries for networks: reading them, the OSM read box, clipping a graph."""

from __future__ import annotations

import os
from collections.abc import Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from deyang_geo.core.crs import utm_crs
from deyang_geo.core.errors import NetworkError, Problem

__all__ = [
    "clip_to_boundary",
    "osm_read_bbox",
    "read_boundary",
]

Boundary = BaseGeometry | str | os.PathLike[str]

BOUNDARY_BUFFER_M = 500.0


# --------------------------------------------------------------------------- boundaries
def read_boundary(boundary: Boundary) -> Polygon | MultiPolygon:
    """Return a study-area polygon in WGS-84 from a shapely geometry or a boundary file.

    Parameters
    ----------
    boundary
        A (Multi)Polygon in WGS-84 degrees, or a GeoJSON / GeoPackage / Shapefile path whose
        polygons are united (reprojected to WGS-84 when the file has another CRS).

    Returns
    -------
    Polygon or MultiPolygon
        The study area.

    Raises
    ------
    NetworkError
        If the file cannot be read or holds no polygon.
    """
    if isinstance(boundary, BaseGeometry):
        geom: BaseGeometry = boundary
        where = None
    else:
        where = str(boundary)
        try:
            gdf = gpd.read_file(boundary)
        except Exception as exc:
            raise NetworkError(Problem(f"cannot read the boundary ({exc})", file=where)) from None
        if gdf.crs is not None:
            gdf = gdf.to_crs("EPSG:4326")
        geom = gdf.geometry.union_all() if len(gdf) else Polygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, shapely.GeometryCollection):
        polys = [g for g in geom.geoms if isinstance(g, (Polygon, MultiPolygon))]
        geom = shapely.union_all(polys) if polys else Polygon()
    if not isinstance(geom, (Polygon, MultiPolygon)) or geom.is_empty:
        raise NetworkError(Problem("the boundary must be a non-empty polygon", file=where))
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise NetworkError(Problem(
            "the boundary is not in WGS-84 degrees (give the file a CRS or reproject it)",
            file=where))
    return geom


def buffer_wgs84(polygon: BaseGeometry, distance_m: float) -> Polygon | MultiPolygon:
    """Return a WGS-84 polygon buffered by ``distance_m`` metres in its UTM zone.

    geopandas' public ``estimate_utm_crs`` / ``to_crs`` / ``buffer`` (what osmnx's
    ``utils_geo.buffer_geometry`` does too, without importing osmnx on the file path).
    """
    series = gpd.GeoSeries([polygon], crs="EPSG:4326")
    out = series.to_crs(utm_crs(series)).buffer(distance_m).to_crs("EPSG:4326").iloc[0]
    assert isinstance(out, (Polygon, MultiPolygon))
    return out


def osm_read_bbox(boundary: Boundary) -> tuple[float, float, float, float]:
    """Return the box of OSM data :func:`graph_from_osm_file` reads for a study area.

    A way with a node inside this box is read whole; an extract holding every such way with
    all its nodes gives the same graph as the whole file (see :mod:`deyang_geo.network.split`).

    Parameters
    ----------
    boundary
        The study area: a WGS-84 (Multi)Polygon or a boundary file.

    Returns
    -------
    tuple of float
        (west, south, east, north) in degrees: the area buffered by 500 m.
    """
    west, south, east, north = buffer_wgs84(read_boundary(boundary), BOUNDARY_BUFFER_M).bounds
    return (float(west), float(south), float(east), float(north))


def check_bbox(bbox: Sequence[float]) -> Polygon:
    values = [float(v) for v in bbox]
    if len(values) != 4:
        msg = f"a bounding box is four numbers west, south, east, north; got {list(bbox)!r}"
        raise NetworkError(msg)
    west, south, east, north = values
    problems = []
    if not (-180 <= west < east <= 180):
        problems.append(f"bounding box: need -180 <= west < east <= 180, got {west}, {east}")
    if not (-90 <= south < north <= 90):
        problems.append(f"bounding box: need -90 <= south < north <= 90, got {south}, {north}")
    if problems:
        raise NetworkError(problems)
    return shapely.box(west, south, east, north)


def clip_to_boundary(G: nx.MultiDiGraph, boundary: Boundary) -> nx.MultiDiGraph:
    """Return the part of a road network graph whose nodes lie inside a study area.

    Parameters
    ----------
    G
        A road network graph (nodes carry ``lon``/``lat``); not modified.
    boundary
        The study area: a WGS-84 (Multi)Polygon or a boundary file.

    Returns
    -------
    networkx.MultiDiGraph
        The induced subgraph (a copy).

    Raises
    ------
    NetworkError
        If no road is left inside the study area.
    """
    polygon = read_boundary(boundary)
    ids = list(G.nodes)
    lon = np.fromiter((G.nodes[n]["lon"] for n in ids), dtype=np.float64, count=len(ids))
    lat = np.fromiter((G.nodes[n]["lat"] for n in ids), dtype=np.float64, count=len(ids))
    inside = shapely.contains_xy(polygon, lon, lat)
    H = G.subgraph([n for n, ok in zip(ids, inside.tolist(), strict=True) if ok]).copy()
    if H.number_of_edges() == 0:
        msg = f"{G.graph.get('source', 'the network')}: no roads inside the study area"
        raise NetworkError(msg)
    return H

