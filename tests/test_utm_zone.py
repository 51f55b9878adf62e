"""The UTM zone asked of pyproj once per band gives geopandas' ``estimate_utm_crs`` answer."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from shapely.geometry import Point, box

from deyang_geo.core import crs as crsmod
from deyang_geo.core.crs import local_metric_crs, utm_crs, utm_epsg
from deyang_geo.core.errors import InputError


def _pyproj_epsg(lon: float, lat: float) -> int:
    zones = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(
        lon, lat, lon, lat))
    return int(zones[0].code)


def test_zone_equals_pyproj_query_everywhere_and_at_band_edges() -> None:
    rng = np.random.default_rng(17)
    points = [(float(x), float(y)) for x, y in
              zip(rng.uniform(-180, 180, 25), rng.uniform(-79.9, 83.9, 25), strict=True)]
    points += [(102.0, 31.0), (108.0, 31.0), (104.4, 0.0), (104.4, 1e-9), (104.4, -1e-9),
               (-180.0, 10.0), (179.9999999, 5.0), (6.0, 60.0), (104.4, 83.9999999),
               (104.4, -79.9999999), (104.39, 31.13)]
    for lon, lat in points:
        assert utm_epsg(lon, lat) == _pyproj_epsg(lon, lat), (lon, lat)


def test_layer_zone_equals_geopandas_estimate() -> None:
    layers = [
        gpd.GeoSeries([box(104.3, 31.0, 104.5, 31.2)], crs=4326),
        gpd.GeoSeries([box(104.3, 31.0, 104.5, 31.2)], crs=4326).to_crs(32648),
        gpd.GeoSeries([box(104.3, 31.0, 104.5, 31.2)], crs=4326).to_crs(4544),
        gpd.GeoDataFrame(geometry=[Point(-74.0, 40.7), Point(-73.9, 40.8)], crs=4326),
        gpd.GeoSeries([Point(151.2, -33.9)], crs=4326),
        gpd.GeoSeries([box(179.5, 10.0, 180.0, 11.0), box(-180.0, 10.0, -179.6, 11.0)],
                      crs=4326).to_crs(32660),  # across the antimeridian
    ]
    for layer in layers:
        assert utm_crs(layer) == layer.estimate_utm_crs()


def test_a_band_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[float, float]] = []
    real = crsmod._query_utm_epsg

    def counting(lon: float, lat: float) -> int:
        asked.append((lon, lat))
        return real(lon, lat)

    monkeypatch.setattr(crsmod, "_UTM_BANDS", {})
    monkeypatch.setattr(crsmod, "_query_utm_epsg", counting)
    for lon in (104.1, 104.3, 105.9):
        assert utm_epsg(lon, 31.1) == 32648
    assert local_metric_crs([104.2, 104.6], [31.0, 31.2]) == "EPSG:32648"
    assert len(asked) == 1
    utm_epsg(108.0, 31.1)  # on the edge between zones 48 and 49: asked each time
    utm_epsg(108.0, 31.1)
    assert len(asked) == 3


def test_a_layer_without_crs_is_refused() -> None:
    with pytest.raises(InputError, match="CRS"):
        utm_crs(gpd.GeoSeries([Point(104.4, 31.1)]))
