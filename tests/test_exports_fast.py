"""KML and GCJ-02 GeoJSON exports written in bulk give the text of the per-pair reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon

from deyang_geo.io import exports

_HOLE = Polygon([(104.30, 31.10), (104.34, 31.10), (104.34, 31.14), (104.30, 31.14)],
                [[(104.31, 31.11), (104.32, 31.11), (104.32, 31.12), (104.31, 31.12)]])


def _layer() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(17)
    jitter = rng.uniform(-1e-3, 1e-3, size=(12, 2))
    ring = [(104.35 + dx, 31.15 + dy) for dx, dy in jitter[:6]]
    geoms = [
        Point(104.3912345678901, 31.1298765432109),
        LineString([(104.39, 31.12), (104.3912345, 31.1212345), (104.40, 31.13)]),
        _HOLE,
        MultiPolygon([_HOLE, Polygon(ring).convex_hull]),
        MultiLineString([[(104.3, 31.1), (104.31, 31.1)], [(104.32, 31.2), (104.33, 31.21)]]),
        MultiPoint([(104.36, 31.16), (104.37, 31.17)]),
        shapely.GeometryCollection([Point(104.38, 31.18), LineString([(104.3, 31.1),
                                                                      (104.4, 31.2)])]),
        Point(104.39, 31.13, 500.0),  # 3-D: the reference path
    ]
    return gpd.GeoDataFrame({"name": [f"甲{i}" for i in range(len(geoms))],
                             "minutes": np.arange(len(geoms), dtype=float)},
                            geometry=geoms, crs=4326)


def _reference_rounded(geom: Any) -> dict[str, Any]:
    """The export's geometry before: shapely's mapping, through JSON and back."""
    mapped = shapely.geometry.mapping(shapely.transform(geom, lambda c: np.round(c, 6)))
    plain: dict[str, Any] = json.loads(json.dumps(mapped))
    return plain


def _reference_coords(coords: Any) -> str:
    """The KML coordinates before: one f-string per pair."""
    return " ".join(f"{x:.6f},{y:.6f}" for x, y in np.asarray(coords)[:, :2])


def test_geojson_geometry_equals_shapely_mapping() -> None:
    for geom in _layer().geometry:
        ours = exports._rounded(geom)
        assert ours == _reference_rounded(geom), geom.geom_type
        assert json.dumps(ours) == json.dumps(_reference_rounded(geom))


def test_kml_coordinates_equal_the_per_pair_text() -> None:
    rng = np.random.default_rng(3)
    coords = np.column_stack([rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500)])
    coords[:5] = [[0.0000005, -0.0000005], [1.0000015, 2.5], [-0.0, 0.0], [179.9999995, 1e-7],
                  [104.123456789, 31.987654321]]
    assert exports._kml_coords(coords) == _reference_coords(coords)
    assert exports._kml_coords(np.zeros((0, 2))) == ""


def test_write_exports_equals_the_single_file_writers(tmp_path: Path) -> None:
    layer = _layer().to_crs(32648)
    kml, geojson = exports.write_exports(layer, tmp_path / "both", name="等时圈 / areas")
    alone_kml = exports.write_kml(layer, tmp_path / "kml.kml", name="等时圈 / areas")
    alone_json = exports.write_gcj02_geojson(layer, tmp_path / "gcj.geojson")
    assert kml.read_bytes() == alone_kml.read_bytes()
    assert geojson.read_bytes() == alone_json.read_bytes()
    features = json.loads(geojson.read_text("utf-8"))["features"]
    assert [f["geometry"]["type"] for f in features] == list(layer.geom_type)
    assert "<innerBoundaryIs>" in kml.read_text("utf-8")
