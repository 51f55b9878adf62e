"""Exports for Amap, Tianditu and Google Earth users: KML and GCJ-02 GeoJSON.

A planner in China opens proposed sites, communities outside reach and service areas in Amap
(GCJ-02 coordinates), Tianditu or Google Earth (KML, WGS-84). Every file is written atomically
and the same layer always gives the same bytes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import shapely

from deyang_geo.core.crs import wgs84_to_gcj02
from deyang_geo.io.files import write_text_atomic

__all__ = ["to_gcj02", "write_exports", "write_gcj02_geojson", "write_kml"]

_DECIMALS = 6
_LABEL_COLUMNS = ("name", "site_id", "community_id", "id", "category")


def _wgs84(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = layer.set_crs(4326) if layer.crs is None else layer.to_crs(4326)
    geoms = out.geometry.to_numpy()
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    return out.loc[keep]


def to_gcj02(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of ``layer`` with coordinates shifted from WGS-84 to GCJ-02 (Amap).

    Parameters
    ----------
    layer
        Any GeoDataFrame (a frame without CRS is WGS-84); never modified.

    Returns
    -------
    geopandas.GeoDataFrame
        The same rows; coordinates in GCJ-02 (the frame has no CRS: GCJ-02 has no EPSG code).
    """
    return _shifted(_wgs84(layer))


def _shifted(wgs: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a WGS-84 layer (empty geometries dropped) with its coordinates in GCJ-02."""

    def shift(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    shifted = shapely.transform(wgs.geometry.to_numpy(), shift)
    return gpd.GeoDataFrame(wgs.drop(columns=wgs.geometry.name), geometry=list(shifted))


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return None if not math.isfinite(number) else round(number, _DECIMALS)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None:
        return None
    return str(value)


def _rounded(geom: Any) -> dict[str, Any]:
    """Return the GeoJSON mapping of ``geom`` with coordinates rounded to 6 decimals.

    Points, lines and polygons (single or multi, 2-D) take their coordinates from numpy in one
    step per ring; anything else goes through shapely's ``mapping``. Both give the same JSON.
    """
    rounded = shapely.transform(geom, lambda c: np.round(c, _DECIMALS))
    kind = rounded.geom_type
    if not shapely.has_z(rounded) and kind in _ARRAY_KINDS:
        return {"type": kind, "coordinates": _coordinates(rounded, kind)}
    mapped: dict[str, Any] = shapely.geometry.mapping(rounded)
    plain: dict[str, Any] = json.loads(json.dumps(mapped))
    return plain


_ARRAY_KINDS = frozenset(("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                          "MultiPolygon"))


def _coordinates(geom: Any, kind: str) -> Any:
    """Return the nested coordinate lists of a 2-D point, line or polygon (single or multi)."""
    if kind == "Point":
        return shapely.get_coordinates(geom)[0].tolist() if not geom.is_empty else []
    if kind == "LineString":
        return shapely.get_coordinates(geom).tolist()
    if kind == "Polygon":
        if geom.is_empty:
            return []
        rings = [geom.exterior, *geom.interiors]
        return [shapely.get_coordinates(r).tolist() for r in rings]
    part_kind = kind[len("Multi"):]
    return [_coordinates(g, part_kind) for g in shapely.get_parts(geom)]


def write_gcj02_geojson(layer: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``layer`` as GeoJSON in GCJ-02 coordinates (for Amap), atomically.

    Parameters
    ----------
    layer
        Any GeoDataFrame in any CRS.
    path
        The ``.geojson`` file.

    Returns
    -------
    Path
        The written file; its ``crs_note`` member says the coordinates are GCJ-02.
    """
    return _write_geojson(_wgs84(layer), path)


def _write_geojson(wgs: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    shifted = _shifted(wgs)
    features = []
    for row, geom in zip(shifted.drop(columns=shifted.geometry.name).to_dict("records"),
                         shifted.geometry, strict=True):
        features.append({"type": "Feature",
                         "properties": {str(k): _plain(v) for k, v in row.items()},
                         "geometry": _rounded(geom)})
    document = {"type": "FeatureCollection",
                "crs_note": "GCJ-02 (Amap / Tencent), shifted from WGS-84 by deyang-geo",
                "features": features}
    return write_text_atomic(path, json.dumps(document, ensure_ascii=False) + "\n")


def _kml_coords(coords: Any) -> str:
    xy = np.asarray(coords, dtype=np.float64)[:, :2]
    if not len(xy):
        return ""
    # one %-format of every pair at once: the same text as f"{x:.6f},{y:.6f}" per pair
    pair = f"%.{_DECIMALS}f,%.{_DECIMALS}f"
    return " ".join([pair] * len(xy)) % tuple(xy.ravel().tolist())


def _kml_geometry(geom: Any) -> str:
    kind = geom.geom_type
    if kind == "Point":
        return f"<Point><coordinates>{_kml_coords(geom.coords)}</coordinates></Point>"
    if kind == "LineString":
        return (f"<LineString><coordinates>{_kml_coords(geom.coords)}</coordinates>"
                "</LineString>")
    if kind == "Polygon":
        inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{_kml_coords(r.coords)}"
                        "</coordinates></LinearRing></innerBoundaryIs>" for r in geom.interiors)
        return (f"<Polygon><outerBoundaryIs><LinearRing><coordinates>"
                f"{_kml_coords(geom.exterior.coords)}</coordinates></LinearRing>"
                f"</outerBoundaryIs>{inner}</Polygon>")
    parts = "".join(_kml_geometry(g) for g in shapely.get_parts(geom))
    return f"<MultiGeometry>{parts}</MultiGeometry>"


def write_kml(layer: gpd.GeoDataFrame, path: str | os.PathLike[str], *, name: str,
              label_columns: Sequence[str] = _LABEL_COLUMNS,
              ) -> Path:
    """Write ``layer`` as KML (WGS-84, for Google Earth, Tianditu and Amap imports), atomically.

    Parameters
    ----------
    layer
        Any GeoDataFrame in any CRS.
    path
        The ``.kml`` file.
    name
        The document's name.
    label_columns
        The first of these columns present names each placemark.

    Returns
    -------
    Path
        The written file; every attribute is in the placemark's ``ExtendedData`` (escaped).
    """
    return _write_kml(_wgs84(layer), path, name=name, label_columns=label_columns)


def _write_kml(wgs: gpd.GeoDataFrame, path: str | os.PathLike[str], *, name: str,
               label_columns: Sequence[str]) -> Path:
    label = next((c for c in label_columns if c in wgs.columns), None)
    marks = []
    for row, geom in zip(wgs.drop(columns=wgs.geometry.name).to_dict("records"),
                         wgs.geometry, strict=True):
        title = "" if label is None else str(_plain(row.get(label)) or "")
        data = "".join(
            f'<Data name="{escape(str(k), {chr(34): "&quot;"})}"><value>'
            f"{escape(str(_plain(v)) if _plain(v) is not None else '')}</value></Data>"
            for k, v in row.items())
        marks.append(f"<Placemark><name>{escape(title)}</name><ExtendedData>{data}"
                     f"</ExtendedData>{_kml_geometry(geom)}</Placemark>")
    document = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
                f"<name>{escape(name)}</name>{''.join(marks)}</Document></kml>\n")
    return write_text_atomic(path, document)


def write_exports(layer: gpd.GeoDataFrame | None, stem: str | os.PathLike[str], *, name: str
                  ) -> list[Path]:
    """Write ``<stem>.kml`` and ``<stem>_gcj02.geojson`` for a layer (nothing when empty).

    Parameters
    ----------
    layer
        The layer (sites, communities outside reach, isochrones), any CRS.
    stem
        The path without suffix, e.g. ``out/sites``.
    name
        The KML document's name.

    Returns
    -------
    list of Path
        The written files.
    """
    if layer is None or not len(layer) or not isinstance(layer, gpd.GeoDataFrame):
        return []
    base = Path(stem)
    wgs = _wgs84(layer)  # projected once for both files
    return [_write_kml(wgs, base.with_name(base.name + ".kml"), name=name,
                       label_columns=_LABEL_COLUMNS),
            _write_geojson(wgs, base.with_name(base.name + "_gcj02.geojson"))]
