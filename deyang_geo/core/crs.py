"""Chinese map coordinates (GCJ-02, BD-09) to and from WGS-84, and a local metric CRS choice.

Amap (高德), Tencent and most Chinese web maps publish GCJ-02 ("Mars") coordinates; Baidu
publishes BD-09, a further shift of GCJ-02. Both are offsets of WGS-84 by published formulas,
not datums, so they cannot be expressed as a pyproj CRS. Forward conversions are closed
formulas; inverse conversions iterate the forward formula to a fixed point, exact to far
below a millimetre (the one-step approximation found in many scripts is off by up to a metre
or two).

Every function takes longitudes and latitudes in degrees as scalars or array-likes (which
broadcast against each other) and returns ``(lon, lat)``: two floats for two scalars, else
two float64 arrays. Points outside China are left unchanged by GCJ-02, as the standard
algorithm does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from deyang_geo.core.errors import InputError

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "crs_name",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geometry_to_wgs84",
    "local_metric_crs",
    "out_of_china",
    "to_wgs84",
    "utm_crs",
    "utm_epsg",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]

# Krasovsky 1940 ellipsoid, used by the GCJ-02 formula.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# Baidu's constant offsets and its angular factor (pi * 3000 / 180).
_BD_DLON = 0.0065
_BD_DLAT = 0.0060
_BD_XPI = math.pi * 3000.0 / 180.0
# The rectangle the standard GCJ-02 algorithm treats as China.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# Fixed-point iteration of inverse conversions: a point stops once its step is below this many
# degrees (1e-10 degree is about 10 micrometres; each step shrinks the error about 200-fold,
# so the remaining error is below 1e-12 degree) or after this many steps.
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_STEPS = 30

_NAMED_CRS = {"wgs84": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray, bool]:
    """Return broadcast float64 copies of ``lon`` and ``lat`` and whether both were scalars."""
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    try:
        lon_b, lat_b = np.broadcast_arrays(lon_a, lat_a)
    except ValueError:
        msg = (
            f"longitudes (shape {lon_a.shape}) and latitudes (shape {lat_a.shape}) "
            "do not have matching shapes"
        )
        raise InputError(msg) from None
    scalar = lon_a.ndim == 0 and lat_a.ndim == 0
    # 0-d inputs become 1-element arrays so that item assignment works; _out undoes it.
    return (
        np.array(lon_b, dtype=np.float64, ndmin=1),
        np.array(lat_b, dtype=np.float64, ndmin=1),
        scalar,
    )


def _out(lon: FloatArray, lat: FloatArray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(lon.reshape(-1)[0]), float(lat.reshape(-1)[0])
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Tell which points lie outside the rectangle the GCJ-02 algorithm treats as China.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees.

    Returns
    -------
    numpy.ndarray
        Boolean array, True where GCJ-02 leaves the point unchanged.
    """
    lon_a, lat_a, _ = _as_arrays(lon, lat)
    return np.asarray(
        (lon_a < _CHINA_LON[0])
        | (lon_a > _CHINA_LON[1])
        | (lat_a < _CHINA_LAT[0])
        | (lat_a > _CHINA_LAT[1]),
        dtype=np.bool_,
    )


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS-84 points, China or not."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat_m = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon_m = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat_m * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon_m * 180.0 / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_XPI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_XPI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_rough(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_XPI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_XPI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: FloatArray,
    lat: FloatArray,
    start: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x) = (lon, lat)`` by fixed-point iteration from ``start``.

    The offsets vary slowly (their derivatives are about 1e-5), so each step gains about five
    decimal digits; three or four steps reach the float64 floor.
    """
    x, y = start[0].copy(), start[1].copy()
    active = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    for _ in range(_INVERSE_MAX_STEPS):
        if active.size == 0:
            break
        fx, fy = forward(x[active], y[active])
        dx = fx - lon[active]
        dy = fy - lat[active]
        x[active] -= dx
        y[active] -= dy
        # only points still moving take another step (NaN compares False: it stops too)
        active = active[(np.abs(dx) > _INVERSE_TOL_DEG) | (np.abs(dy) > _INVERSE_TOL_DEG)]
    return x, y


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS-84 (GPS, OpenStreetMap) coordinates to GCJ-02 (Amap, Tencent).

    Parameters
    ----------
    lon, lat
        WGS-84 longitudes and latitudes in degrees.

    Returns
    -------
    tuple
        GCJ-02 ``(lon, lat)``; points outside China are returned unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(104.39, 31.13)
    >>> round(lon, 6), round(lat, 6)
    (104.392674, 31.127858)
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    glon, glat = lon_a.copy(), lat_a.copy()  # outside China: unchanged
    inside = ~out_of_china(lon_a, lat_a)
    if np.any(inside):
        glon[inside], glat[inside] = _wgs_to_gcj(lon_a[inside], lat_a[inside])
    return _out(glon, glat, scalar)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert GCJ-02 (Amap, Tencent) coordinates to WGS-84, exactly, by iteration.

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in degrees.

    Returns
    -------
    tuple
        WGS-84 ``(lon, lat)`` whose GCJ-02 image is the input to about 1e-12 degree; points
        outside China are returned unchanged.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    wlon, wlat = lon_a.copy(), lat_a.copy()  # outside China: unchanged
    inside = ~out_of_china(lon_a, lat_a)
    if np.any(inside):
        glon, glat = lon_a[inside], lat_a[inside]
        dlon, dlat = _gcj_offset(glon, glat)
        wlon[inside], wlat[inside] = _invert(_wgs_to_gcj, glon, glat,
                                             (glon - dlon, glat - dlat))
    return _out(wlon, wlat, scalar)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert GCJ-02 coordinates to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 longitudes and latitudes in degrees.

    Returns
    -------
    tuple
        BD-09 ``(lon, lat)``.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_bd(lon_a, lat_a), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert BD-09 (Baidu) coordinates to GCJ-02, exactly, by iteration.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in degrees.

    Returns
    -------
    tuple
        GCJ-02 ``(lon, lat)`` whose BD-09 image is the input to about 1e-12 degree.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    glon, glat = _invert(_gcj_to_bd, lon_a, lat_a, _bd_to_gcj_rough(lon_a, lat_a))
    return _out(glon, glat, scalar)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS-84 coordinates to BD-09 (Baidu), through GCJ-02.

    Parameters
    ----------
    lon, lat
        WGS-84 longitudes and latitudes in degrees.

    Returns
    -------
    tuple
        BD-09 ``(lon, lat)``; outside China only Baidu's own shift is applied.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    glon, glat = wgs84_to_gcj02(lon_a, lat_a)
    return _out(*_gcj_to_bd(glon, glat), scalar)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert BD-09 (Baidu) coordinates to WGS-84, through GCJ-02, exactly, by iteration.

    Parameters
    ----------
    lon, lat
        BD-09 longitudes and latitudes in degrees.

    Returns
    -------
    tuple
        WGS-84 ``(lon, lat)``.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    glon, glat = bd09_to_gcj02(lon_a, lat_a)
    return _out(*gcj02_to_wgs84(glon, glat), scalar)


def crs_name(input_crs: str) -> str:
    """Normalise a coordinate-system name as :func:`to_wgs84` understands it.

    Parameters
    ----------
    input_crs
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` (any case, dashes and underscores ignored) or
        ``"EPSG:<code>"``.

    Returns
    -------
    str
        ``"wgs84"`` (also for ``"EPSG:4326"``), ``"gcj02"``, ``"bd09"`` or ``"EPSG:<code>"``
        with a code pyproj knows.

    Raises
    ------
    InputError
        If the name is not a known system.
    """
    return _normalise_crs_name(input_crs)


def _normalise_crs_name(input_crs: str) -> str:
    """Return ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or a pyproj-checked ``"EPSG:<code>"``."""
    if not isinstance(input_crs, str):
        msg = (
            "input_crs must be a string such as 'wgs84', 'gcj02', 'bd09' or 'EPSG:4490', "
            f"not {input_crs!r}"
        )
        raise InputError(msg)
    key = input_crs.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in _NAMED_CRS:
        return _NAMED_CRS[key]
    if key.startswith("epsg:") and key[5:].isdigit():
        code = int(key[5:])
        try:
            pyproj.CRS.from_epsg(code)
        except pyproj.exceptions.CRSError:
            msg = f"unknown coordinate system {input_crs!r}: EPSG:{code} is not a known EPSG code"
            raise InputError(msg) from None
        return "wgs84" if code == 4326 else f"EPSG:{code}"
    msg = (
        f"unknown coordinate system {input_crs!r}: use 'wgs84' (GPS, OpenStreetMap), 'gcj02' "
        "(Amap, Tencent), 'bd09' (Baidu) or 'EPSG:<code>' (e.g. 'EPSG:4490' for CGCS2000, "
        "'EPSG:4544' for CGCS2000 3-degree Gauss-Kruger CM 105E)"
    )
    raise InputError(msg)


@overload
def to_wgs84(lon: float, lat: float, *, input_crs: str) -> tuple[float, float]: ...
@overload
def to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, input_crs: str
) -> tuple[FloatArray, FloatArray]: ...
def to_wgs84(lon: ArrayLike, lat: ArrayLike, *, input_crs: str) -> tuple[Any, Any]:
    """Convert coordinates in any supported system to WGS-84 longitudes and latitudes.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees, or for a projected ``EPSG`` system eastings
        (x) and northings (y) in its units.
    input_crs
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` (case-insensitive; ``"GCJ-02"`` works too) or
        ``"EPSG:<code>"`` for any system pyproj knows, e.g. ``"EPSG:4490"`` (CGCS2000) or
        ``"EPSG:4544"`` (CGCS2000 3-degree Gauss-Kruger CM 105E).

    Returns
    -------
    tuple
        WGS-84 ``(lon, lat)``.

    Raises
    ------
    InputError
        If ``input_crs`` is not a known system.
    """
    name = _normalise_crs_name(input_crs)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    if name == "wgs84":
        return _out(lon_a, lat_a, scalar)
    if name == "gcj02":
        return _out(*gcj02_to_wgs84(lon_a, lat_a), scalar)
    if name == "bd09":
        return _out(*bd09_to_wgs84(lon_a, lat_a), scalar)

    transformer = pyproj.Transformer.from_crs(name, "EPSG:4326", always_xy=True)
    x, y = transformer.transform(lon_a, lat_a)
    return _out(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), scalar)


@overload
def from_wgs84(lon: float, lat: float, *, output_crs: str) -> tuple[float, float]: ...
@overload
def from_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, output_crs: str
) -> tuple[FloatArray, FloatArray]: ...
def from_wgs84(lon: ArrayLike, lat: ArrayLike, *, output_crs: str) -> tuple[Any, Any]:
    """Convert WGS-84 longitudes and latitudes to any supported system (inverse of `to_wgs84`).

    Parameters
    ----------
    lon, lat
        WGS-84 longitudes and latitudes in degrees.
    output_crs
        Same names as ``input_crs`` of :func:`to_wgs84`.

    Returns
    -------
    tuple
        ``(lon, lat)`` or, for a projected system, ``(x, y)``.

    Raises
    ------
    InputError
        If ``output_crs`` is not a known system.
    """
    name = _normalise_crs_name(output_crs)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    if name == "wgs84":
        return _out(lon_a, lat_a, scalar)
    if name == "gcj02":
        return _out(*wgs84_to_gcj02(lon_a, lat_a), scalar)
    if name == "bd09":
        return _out(*wgs84_to_bd09(lon_a, lat_a), scalar)

    transformer = pyproj.Transformer.from_crs("EPSG:4326", name, always_xy=True)
    x, y = transformer.transform(lon_a, lat_a)
    return _out(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), scalar)


def geometry_to_wgs84(geometry: Any, *, input_crs: str) -> Any:
    """Convert shapely geometries (one, or an array / GeoSeries of them) to WGS-84.

    All vertices are converted in one vectorised call; the input is not modified.

    Parameters
    ----------
    geometry
        A shapely geometry or an array-like of them, with x = longitude (or easting).
    input_crs
        As for :func:`to_wgs84`.

    Returns
    -------
    shapely.Geometry or numpy.ndarray
        New geometries of the same kind with WGS-84 coordinates.
    """
    # shapely only here: the OSM-file path uses this module without geometries
    import shapely  # noqa: PLC0415

    _normalise_crs_name(input_crs)  # fail early, even on empty input

    def _convert(coords: FloatArray) -> FloatArray:
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1], input_crs=input_crs)
        return np.column_stack([lon, lat])

    if isinstance(geometry, shapely.Geometry):
        return shapely.transform(geometry, _convert)
    return shapely.transform(np.asarray(geometry, dtype=object), _convert)


def local_metric_crs(
    lon: ArrayLike,
    lat: ArrayLike,
    *,
    kind: Literal["utm", "cgcs2000_gk3"] = "utm",
) -> str:
    """Choose a metric projected CRS suited to the points' area.

    The centre is the middle of the points' bounding box (NaN ignored).

    Parameters
    ----------
    lon, lat
        WGS-84 longitudes and latitudes in degrees.
    kind
        ``"utm"``: the WGS-84 UTM zone of the centre (``"EPSG:326xx"`` north, ``"EPSG:327xx"``
        south); ``"cgcs2000_gk3"``: the CGCS2000 3-degree Gauss-Kruger projection whose central
        meridian is nearest the centre (``"EPSG:4534"`` for CM 75E ... ``"EPSG:4554"`` for
        CM 135E, false easting 500 km, no zone prefix), the system of Chinese planning maps.

    Returns
    -------
    str
        An ``"EPSG:<code>"`` string, e.g. ``"EPSG:32648"`` or ``"EPSG:4544"`` for Deyang.

    Raises
    ------
    InputError
        If there are no finite points, they are not valid longitudes/latitudes, ``kind`` is
        unknown, or (for ``"cgcs2000_gk3"``) the centre is outside China's 75E-135E range.
    """
    lon_a, lat_a, _ = _as_arrays(lon, lat)
    finite = np.isfinite(lon_a) & np.isfinite(lat_a)
    if not np.any(finite):
        msg = "cannot choose a metric CRS: no point with finite coordinates"
        raise InputError(msg)
    lon_f, lat_f = lon_a[finite], lat_a[finite]
    if np.any(np.abs(lon_f) > 180.0) or np.any(np.abs(lat_f) > 90.0):
        msg = (
            "cannot choose a metric CRS: coordinates are not WGS-84 degrees "
            f"(longitudes {lon_f.min():g}..{lon_f.max():g}, latitudes {lat_f.min():g}.."
            f"{lat_f.max():g})"
        )
        raise InputError(msg)
    centre_lon = 0.5 * (float(lon_f.min()) + float(lon_f.max()))
    centre_lat = 0.5 * (float(lat_f.min()) + float(lat_f.max()))
    if kind == "utm":
        # pyproj's UTM zone query at the centre, as geopandas' estimate_utm_crs() does
        return f"EPSG:{utm_epsg(centre_lon, centre_lat)}"
    if kind == "cgcs2000_gk3":
        central_meridian = 3 * round(centre_lon / 3.0)
        if not 75 <= central_meridian <= 135:
            msg = (
                f"cannot use CGCS2000 3-degree Gauss-Kruger at longitude {centre_lon:.3f}: it "
                "covers China only (central meridians 75E-135E); use UTM instead "
                "(kind='utm', or --crs utm on the command line)"
            )
            raise InputError(msg)
        return f"EPSG:{4534 + (central_meridian - 75) // 3}"
    msg = f"unknown kind {kind!r}: use 'utm' or 'cgcs2000_gk3'"
    raise InputError(msg)


#: Within this many degrees of a UTM band's edge (a multiple of 6 degrees of longitude, the
#: equator, 80 S, 84 N) pyproj is asked every time; elsewhere once per band and process.
_UTM_BAND_EDGE_DEG = 1e-6
_UTM_BANDS: dict[tuple[int, bool], int] = {}


def _utm_band(lon: float, lat: float) -> tuple[int, bool] | None:
    """Return the UTM band (zone, north) strictly inside which a point lies, else None."""
    if not (math.isfinite(lon) and math.isfinite(lat)) or not -80.0 < lat < 84.0:
        return None
    shifted = (lon + 180.0) / 6.0
    zone = math.floor(shifted)
    edge = min(shifted - zone, zone + 1 - shifted) * 6.0
    if edge < _UTM_BAND_EDGE_DEG or abs(lat) < _UTM_BAND_EDGE_DEG or not 0 <= zone < 60:
        return None
    if 84.0 - lat < _UTM_BAND_EDGE_DEG or lat + 80.0 < _UTM_BAND_EDGE_DEG:
        return None
    return zone + 1, lat > 0


def _query_utm_epsg(lon: float, lat: float) -> int:
    zones = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(
        lon, lat, lon, lat))
    if not zones:
        msg = f"no WGS-84 UTM zone found at longitude {lon:g}, latitude {lat:g}"
        raise InputError(msg)
    return int(zones[0].code)


def utm_epsg(lon: float, lat: float) -> int:
    """Return the EPSG code of the WGS-84 UTM zone at a point, as pyproj's query gives it.

    pyproj's database query (what geopandas' ``estimate_utm_crs`` runs) takes about 0.1 s; its
    answer is kept for the rest of the process for every point well inside the same band
    (zone and hemisphere), and asked again near a band's edge, so the answer is always
    pyproj's.

    Parameters
    ----------
    lon, lat
        WGS-84 degrees.

    Returns
    -------
    int
        E.g. 32648 (zone 48 N, Deyang).

    Raises
    ------
    InputError
        If pyproj knows no UTM zone there.
    """
    band = _utm_band(float(lon), float(lat))
    if band is None:
        return _query_utm_epsg(float(lon), float(lat))
    code = _UTM_BANDS.get(band)
    if code is None:
        code = _UTM_BANDS[band] = _query_utm_epsg(float(lon), float(lat))
    return code


def utm_crs(layer: Any) -> pyproj.CRS:
    """Return the UTM CRS of a GeoSeries or GeoDataFrame: geopandas' ``estimate_utm_crs()``.

    The same centre (the middle of the layer's bounds in WGS-84, across the antimeridian too)
    and the same zone as geopandas, without asking pyproj's database again for a band already
    asked (see :func:`utm_epsg`).

    Parameters
    ----------
    layer
        A GeoSeries or GeoDataFrame with a CRS.

    Returns
    -------
    pyproj.CRS
        The zone's CRS, e.g. EPSG:32648.

    Raises
    ------
    InputError
        If the layer has no CRS.
    """
    crs = layer.crs
    if not crs:
        msg = "a layer needs a CRS before its UTM zone can be chosen"
        raise InputError(msg)
    minx, miny, maxx, maxy = (float(v) for v in layer.total_bounds)
    crs = pyproj.CRS(crs)
    if crs.is_geographic:
        x_center, y_center = float(np.mean([minx, maxx])), float(np.mean([miny, maxy]))
    else:
        transformer = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        minx, miny, maxx, maxy = transformer.transform_bounds(minx, miny, maxx, maxy)
        y_center = float(np.mean([miny, maxy]))
        if minx > maxx:  # across the antimeridian
            maxx += 360
            x_center = ((float(np.mean([minx, maxx])) + 180) % 360) - 180
        else:
            x_center = float(np.mean([minx, maxx]))
    return pyproj.CRS.from_epsg(utm_epsg(x_center, y_center))
