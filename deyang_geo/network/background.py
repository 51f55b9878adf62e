"""An offline map background drawn from the study's own OSM file: water, rail, main roads, towns.

Inside China, OpenStreetMap and Esri tiles are slow or blocked, and a meeting room may have no
internet at all. The map then still needs something to read the overlays against; this module
takes it from the OSM extract the study already routes on: rivers and lakes, railways, the
main roads and built-up areas (``landuse`` polygons, or where the file has none, the area
around its residential streets).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Polygon

from deyang_geo.core.crs import utm_crs
from deyang_geo.core.errors import NetworkError, Problem

log = logging.getLogger("deyang_geo")

__all__ = ["BACKGROUND_KINDS", "background_from_edges", "background_from_osm"]

#: The kinds of background features, in drawing order (areas first, lines on top).
BACKGROUND_KINDS: tuple[str, ...] = ("builtup", "water_area", "water", "road", "rail")

_MAIN_ROADS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary",
})
_BUILTUP_LANDUSE = frozenset({"residential", "commercial", "retail", "industrial"})
_STREETS = frozenset({"residential", "living_street", "tertiary", "unclassified"})
#: Around residential streets, this far counts as built-up when the file has no landuse.
_BUILTUP_BUFFER_M = 120.0


def _kind(tags: dict[str, str], closed: bool) -> str | None:
    if "waterway" in tags:
        return "water"
    if tags.get("natural") == "water" or tags.get("landuse") in ("reservoir", "basin"):
        return "water_area" if closed else "water"
    if tags.get("railway") in ("rail", "light_rail", "subway", "narrow_gauge"):
        return "rail"
    if tags.get("landuse") in _BUILTUP_LANDUSE and closed:
        return "builtup"
    highway = tags.get("highway")
    if highway in _MAIN_ROADS:
        return "road"
    if highway in _STREETS:
        return "street"
    return None


def background_from_osm(path: str | os.PathLike[str], *,
                        clip: Any = None) -> gpd.GeoDataFrame:
    """Read the background features of an OSM file (WGS-84).

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.gz``, ``.osm.bz2`` or ``.osm.pbf`` file.
    clip
        A WGS-84 polygon: only what lies in it is returned, and built-up bands are drawn from
        the streets near it alone, so the result does not depend on how far the file reaches
        beyond it (a per-area extract and the whole file give the same background).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``kind`` (one of :data:`BACKGROUND_KINDS`), ``name`` and geometry (lines for
        water, rail and roads, polygons for lakes and built-up areas), EPSG:4326. Built-up
        areas come from ``landuse`` polygons or, when the file has none, from a
        120 m band around its residential streets (drawn as a light fill).

    Raises
    ------
    NetworkError
        If the file does not exist or cannot be read.
    """
    import osmium

    file = Path(path)
    if not file.is_file():
        raise NetworkError(Problem("the OSM file does not exist", file=str(file)))
    kinds: list[str] = []
    names: list[str] = []
    geoms: list[Any] = []
    streets: list[LineString] = []
    try:
        processor = (osmium.FileProcessor(str(file), osmium.osm.NODE | osmium.osm.WAY)
                     .with_locations()
                     .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)))
        for obj in processor:
            way: Any = obj
            tags = {t.k: t.v for t in way.tags}
            if not tags:
                continue
            coords = [(nd.location.lon, nd.location.lat) for nd in way.nodes
                      if nd.location.valid()]
            if len(coords) < 2:
                continue
            closed = len(coords) >= 4 and coords[0] == coords[-1]
            kind = _kind(tags, closed)
            if kind is None:
                continue
            if kind == "street":
                streets.append(LineString(coords))
                continue
            geom = Polygon(coords) if kind in ("builtup", "water_area") else LineString(coords)
            kinds.append(kind)
            names.append(tags.get("name", ""))
            geoms.append(geom)
    except RuntimeError as exc:
        raise NetworkError(Problem(f"not an OSM file that can be read ({exc})",
                                   file=str(file))) from None
    frame = gpd.GeoDataFrame({"kind": kinds, "name": names}, geometry=geoms, crs=4326)
    street_lines = gpd.GeoSeries(streets, crs=4326)
    if clip is not None:
        frame = frame[frame.intersects(clip)]
        near = gpd.GeoSeries([clip], crs=4326)
        utm = utm_crs(near)
        reach = near.to_crs(utm).buffer(2 * _BUILTUP_BUFFER_M).to_crs(4326).iloc[0]
        street_lines = street_lines[street_lines.intersects(reach)].reset_index(drop=True)
    if "builtup" not in kinds and len(street_lines):
        frame = _with_builtup(frame, street_lines)
    if clip is not None:
        frame = frame.clip(clip)
        frame = frame[~frame.geometry.is_empty]
        # one order whatever the order of ways in the file
        key = pd.DataFrame({"kind": frame["kind"].astype(str).to_numpy(),
                            "wkb": frame.geometry.normalize().to_wkb(hex=True).to_numpy()})
        frame = frame.iloc[key.sort_values(["kind", "wkb"], kind="mergesort").index]
        frame = frame.reset_index(drop=True)
    log.debug("offline background from %s: %d features", file, len(frame))
    return _ordered(frame)


def background_from_edges(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Built-up areas around a network's edges, when no OSM file is at hand (a saved graph).

    Parameters
    ----------
    edges
        Network edges (lines) in any CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind`` ``"builtup"``, ``name`` and polygons in EPSG:4326 (empty without edges).
    """
    empty = gpd.GeoDataFrame({"kind": [], "name": []}, geometry=[], crs=4326)
    if edges is None or not len(edges):
        return empty
    return _with_builtup(empty, edges.geometry)


def _with_builtup(frame: gpd.GeoDataFrame, lines: gpd.GeoSeries) -> gpd.GeoDataFrame:
    lines = lines.set_crs(4326) if lines.crs is None else lines
    metric = lines.to_crs(utm_crs(lines.to_crs(4326)))
    band = shapely.union_all(shapely.buffer(metric.to_numpy(), _BUILTUP_BUFFER_M,
                                            quad_segs=2))
    band = shapely.simplify(band, 30.0)
    parts = [p for p in shapely.get_parts(np.array([band])) if p.area > 50_000]
    if not parts:
        return frame
    built = gpd.GeoDataFrame({"kind": ["builtup"] * len(parts), "name": [""] * len(parts)},
                             geometry=parts, crs=metric.crs).to_crs(4326)
    return gpd.GeoDataFrame(
        {"kind": [*frame["kind"], *built["kind"]], "name": [*frame["name"], *built["name"]]},
        geometry=[*frame.geometry, *built.geometry], crs=4326)


def _ordered(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    order = {k: i for i, k in enumerate(BACKGROUND_KINDS)}
    rank = frame["kind"].map(order).to_numpy()
    idx = np.argsort(rank, kind="stable")
    return frame.iloc[idx].reset_index(drop=True)
