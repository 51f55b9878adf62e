"""Tests of deyang_geo.core.crs: GCJ-02 / BD-09 conversions and the local metric CRS."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import shapely

from deyang_geo.core import crs
from deyang_geo.core.errors import InputError

prcoords = pytest.importorskip("prcoords")

# WGS-84 lat, lon -> GCJ-02 lat, lon, from the test suite of googollee/eviltransform.
WGS_GCJ_REFERENCE = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# From the README of wandergis/coordtransform (lon, lat): WGS-84 -> GCJ-02, GCJ-02 -> BD-09
# and BD-09 -> GCJ-02 (the last computed there with the one-step inverse, good to < 1 m).
WGS_GCJ_REFERENCE_LONLAT = [(116.404, 39.915, 116.41024449916938, 39.91640428150164)]
GCJ_BD_REFERENCE = [(116.404, 39.915, 116.41036949371029, 39.92133699351021)]
BD_GCJ_REFERENCE = [(116.404, 39.915, 116.39762729119315, 39.90865673957631)]


def metres(lon1, lat1, lon2, lat2):
    """Haversine distance in metres (enough for differences of a few metres)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float))
                              for v in (lon1, lat1, lon2, lat2))
    h = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6371000.0 * np.arcsin(np.sqrt(h))


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(20260101)
    lon = rng.uniform(73.0, 135.0, 3000)
    lat = rng.uniform(18.0, 53.0, 3000)
    return lon, lat


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), WGS_GCJ_REFERENCE)
def test_reference_points_wgs_gcj_within_1m(wlat, wlon, glat, glon):
    lon, lat = crs.wgs84_to_gcj02(wlon, wlat)
    assert metres(lon, lat, glon, glat) < 1.0
    lon, lat = crs.gcj02_to_wgs84(glon, glat)
    assert metres(lon, lat, wlon, wlat) < 1.0


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), WGS_GCJ_REFERENCE_LONLAT)
def test_reference_points_wgs_gcj_lonlat(wlon, wlat, glon, glat):
    assert metres(*crs.wgs84_to_gcj02(wlon, wlat), glon, glat) < 0.01


@pytest.mark.parametrize(("blon", "blat", "glon", "glat"), BD_GCJ_REFERENCE)
def test_reference_points_bd_gcj_within_1m(blon, blat, glon, glat):
    assert metres(*crs.bd09_to_gcj02(blon, blat), glon, glat) < 1.0


@pytest.mark.parametrize(("glon", "glat", "blon", "blat"), GCJ_BD_REFERENCE)
def test_reference_points_gcj_bd(glon, glat, blon, blat):
    lon, lat = crs.gcj02_to_bd09(glon, glat)
    assert metres(lon, lat, blon, blat) < 0.01


def test_forward_matches_prcoords(china_points):
    lon, lat = china_points
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    ref = np.array([prcoords.wgs_gcj((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    assert metres(glon, glat, ref[:, 1], ref[:, 0]).max() < 0.001
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    ref = np.array([prcoords.wgs_bd((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    assert metres(blon, blat, ref[:, 1], ref[:, 0]).max() < 0.001
    # the conversion moves points by tens to hundreds of metres: the test above is not vacuous
    assert metres(lon, lat, glon, glat).min() > 1.0


def test_inverse_matches_prcoords_iterative(china_points):
    lon, lat = china_points
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    ref = np.array([prcoords.gcj_wgs_bored((la, lo)) for lo, la in zip(glon, glat, strict=True)])
    assert metres(wlon, wlat, ref[:, 1], ref[:, 0]).max() < 0.01
    blon, blat = crs.gcj02_to_bd09(glon, glat)
    ref = np.array([prcoords.bd_gcj_bored((la, lo)) for lo, la in zip(blon, blat, strict=True)])
    g2lon, g2lat = crs.bd09_to_gcj02(blon, blat)
    assert metres(g2lon, g2lat, ref[:, 1], ref[:, 0]).max() < 0.01


def test_inverse_is_exact_not_one_step(china_points):
    lon, lat = china_points
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    wlon, wlat = crs.gcj02_to_wgs84(glon, glat)
    assert metres(wlon, wlat, lon, lat).max() < 1e-4
    # the one-step approximation is off by more than a centimetre somewhere: we must beat it
    rough = np.array([prcoords.gcj_wgs((la, lo)) for lo, la in zip(glon, glat, strict=True)])
    assert metres(rough[:, 1], rough[:, 0], lon, lat).max() > 0.01


def test_round_trips(china_points):
    lon, lat = china_points
    for forward, inverse in [
        (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84),
        (crs.gcj02_to_bd09, crs.bd09_to_gcj02),
        (crs.wgs84_to_bd09, crs.bd09_to_wgs84),
    ]:
        back = inverse(*forward(lon, lat))
        assert metres(back[0], back[1], lon, lat).max() < 1e-4
        fwd = forward(*inverse(lon, lat))
        assert metres(fwd[0], fwd[1], lon, lat).max() < 1e-4


def test_outside_china_unchanged():
    lon = np.array([2.35, -74.0, 151.2, 104.0])
    lat = np.array([48.85, 40.7, -33.9, 60.0])
    for func in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
    np.testing.assert_array_equal(crs.out_of_china(lon, lat), [True, True, True, True])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert prcoords.wgs_gcj((48.85, 2.35)) == (48.85, 2.35)


def test_mixed_inside_and_outside():
    lon, lat = crs.wgs84_to_gcj02([104.39, 2.35], [31.13, 48.85])
    assert lon[1] == 2.35
    assert lat[1] == 48.85
    assert lon[0] != 104.39


def test_types_scalars_and_arrays():
    lon, lat = crs.wgs84_to_gcj02(104.39, 31.13)
    assert type(lon) is float
    assert type(lat) is float
    lon_a, lat_a = crs.wgs84_to_gcj02(np.array([[104.39, 104.40]]), 31.13)
    assert lon_a.shape == (1, 2)
    assert lat_a.shape == (1, 2)
    assert lon_a.dtype == np.float64
    assert lon_a[0, 0] == lon
    lon_l, _ = crs.bd09_to_wgs84([104.39], [31.13])
    assert isinstance(lon_l, np.ndarray)
    empty_lon, empty_lat = crs.gcj02_to_wgs84([], [])
    assert empty_lon.shape == (0,)
    assert empty_lat.shape == (0,)


def test_nan_propagates_without_breaking_others():
    lon, _ = crs.gcj02_to_wgs84([np.nan, 104.39], [31.13, 31.13])
    assert math.isnan(lon[0])
    assert np.isfinite(lon[1])


def test_inputs_not_mutated():
    lon = np.array([104.39, 104.40])
    lat = np.array([31.13, 31.14])
    crs.gcj02_to_wgs84(lon, lat)
    crs.to_wgs84(lon, lat, input_crs="bd09")
    np.testing.assert_array_equal(lon, [104.39, 104.40])
    np.testing.assert_array_equal(lat, [31.13, 31.14])


def test_shape_mismatch_is_input_error():
    with pytest.raises(InputError, match="matching shapes"):
        crs.wgs84_to_gcj02([1.0, 2.0, 3.0], [1.0, 2.0])


@pytest.mark.parametrize("name", ["gcj02", "GCJ02", "GCJ-02", "gcj_02"])
def test_to_wgs84_named_case_insensitive(name):
    glon, glat = crs.wgs84_to_gcj02(104.39, 31.13)
    lon, lat = crs.to_wgs84(glon, glat, input_crs=name)
    assert metres(lon, lat, 104.39, 31.13) < 1e-4


def test_to_wgs84_bd09_and_wgs84():
    blon, blat = crs.wgs84_to_bd09(104.39, 31.13)
    assert metres(*crs.to_wgs84(blon, blat, input_crs="BD09"), 104.39, 31.13) < 1e-4
    assert crs.to_wgs84(104.39, 31.13, input_crs="WGS84") == (104.39, 31.13)
    assert crs.to_wgs84(104.39, 31.13, input_crs="EPSG:4326") == (104.39, 31.13)


def test_to_wgs84_epsg_projected_gauss_kruger():
    # CGCS2000 3-degree Gauss-Kruger CM 105E: x = 500 000 m lies on the central meridian
    lon, lat = crs.to_wgs84(500000.0, 3445000.0, input_crs="EPSG:4544")
    assert lon == pytest.approx(105.0, abs=1e-9)
    assert 31.0 < lat < 31.2
    # and a point 60 km west of it is about 0.63 degrees west at this latitude
    lon2, _ = crs.to_wgs84(440000.0, 3445000.0, input_crs="epsg:4544")
    assert lon2 == pytest.approx(105.0 - 60000.0 / (111320.0 * math.cos(math.radians(31.1))),
                                 abs=0.01)


def test_to_wgs84_epsg_geographic_cgcs2000_is_lon_lat_order():
    lon, lat = crs.to_wgs84(np.array([104.39]), np.array([31.13]), input_crs="EPSG:4490")
    assert metres(lon, lat, 104.39, 31.13).max() < 1.0


def test_from_wgs84_inverts_to_wgs84():
    lon = np.array([104.30, 104.39, 104.45])
    lat = np.array([31.05, 31.13, 31.20])
    for name in ("gcj02", "bd09", "wgs84", "EPSG:4544", "EPSG:32648"):
        x, y = crs.from_wgs84(lon, lat, output_crs=name)
        back = crs.to_wgs84(x, y, input_crs=name)
        assert metres(back[0], back[1], lon, lat).max() < 1e-3


@pytest.mark.parametrize("name", ["wgs", "mars", "EPSG:", "EPSG:99999999", "", "utm"])
def test_unknown_crs_is_input_error(name):
    with pytest.raises(InputError, match="coordinate system"):
        crs.to_wgs84(104.39, 31.13, input_crs=name)


def test_geometry_to_wgs84():
    glon, glat = crs.wgs84_to_gcj02([104.38, 104.40, 104.40], [31.12, 31.12, 31.14])
    poly = shapely.Polygon(np.column_stack([glon, glat]))
    out = crs.geometry_to_wgs84(poly, input_crs="gcj02")
    assert isinstance(out, shapely.Polygon)
    coords = np.asarray(out.exterior.coords)
    assert metres(coords[:3, 0], coords[:3, 1], [104.38, 104.40, 104.40],
                  [31.12, 31.12, 31.14]).max() < 1e-4
    arr = crs.geometry_to_wgs84([poly, shapely.Point(glon[0], glat[0])], input_crs="gcj02")
    assert arr.shape == (2,)
    assert metres(arr[1].x, arr[1].y, 104.38, 31.12) < 1e-4
    # input untouched
    assert np.asarray(poly.exterior.coords)[0, 0] == glon[0]


def test_local_metric_crs_deyang():
    lon = [104.2, 104.6]
    lat = [31.0, 31.3]
    assert crs.local_metric_crs(lon, lat) == "EPSG:32648"
    assert crs.local_metric_crs(lon, lat, kind="cgcs2000_gk3") == "EPSG:4544"


def test_local_metric_crs_codes_exist_and_match_names():
    pyproj = pytest.importorskip("pyproj")
    for lon, expected_cm in [(75.4, 75), (104.39, 105), (106.6, 108), (116.4, 117), (134.9, 135)]:
        code = crs.local_metric_crs(lon, 31.0, kind="cgcs2000_gk3")
        name = pyproj.CRS.from_user_input(code).name
        assert name == f"CGCS2000 / 3-degree Gauss-Kruger CM {expected_cm}E"
    for lon, lat, zone in [(104.39, 31.13, "48N"), (-0.5, 51.5, "30N"), (151.2, -33.9, "56S")]:
        name = pyproj.CRS.from_user_input(crs.local_metric_crs(lon, lat)).name
        assert name == f"WGS 84 / UTM zone {zone}"


def test_local_metric_crs_errors():
    with pytest.raises(InputError, match="no point"):
        crs.local_metric_crs([np.nan], [np.nan])
    with pytest.raises(InputError, match="not WGS-84 degrees"):
        crs.local_metric_crs([500000.0], [3445000.0])
    with pytest.raises(InputError, match="covers China only"):
        crs.local_metric_crs([2.35], [48.85], kind="cgcs2000_gk3")
    with pytest.raises(InputError, match="unknown kind"):
        crs.local_metric_crs([104.0], [31.0], kind="lambert")  # type: ignore[arg-type]


def test_far_and_invalid_points_left_alone_without_warnings():
    # out-of-range input must not make the iteration overflow (warnings are errors in tests)
    lon, lat = crs.gcj02_to_wgs84([1e10, 200.0, np.inf], [31.0, 95.0, 31.0])
    np.testing.assert_array_equal(lon, [1e10, 200.0, np.inf])
    np.testing.assert_array_equal(lat, [31.0, 95.0, 31.0])


@pytest.mark.parametrize(("name", "expected"), [
    ("WGS84", "wgs84"), ("wgs-84", "wgs84"), ("EPSG:4326", "wgs84"), ("Gcj-02", "gcj02"),
    ("BD09", "bd09"), ("epsg:4490", "EPSG:4490"), (" EPSG:4544 ", "EPSG:4544"),
])
def test_crs_name(name, expected):
    assert crs.crs_name(name) == expected


def test_crs_name_not_a_string_is_input_error():
    with pytest.raises(InputError, match="must be a string"):
        crs.crs_name(4326)  # type: ignore[arg-type]
