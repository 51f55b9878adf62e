"""Facilities, communities and candidates read from tables or geodata, in WGS-84, row-checked."""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from deyang_geo.core import settings
from deyang_geo.core.crs import crs_name, geometry_to_wgs84, to_wgs84
from deyang_geo.core.errors import InputError, InputWarning, Problem
from deyang_geo.io.validate import (
    ProblemLog,
    check_geometries,
    check_required_columns,
    check_unique,
    is_missing,
    parse_bools,
    parse_numbers,
    parse_texts,
)

if TYPE_CHECKING:
    import geopandas as gpd

from deyang_geo.io.categories import beyond_catalog_notice, category_keys
from deyang_geo.io.tables import (
    COLUMN_ALIASES,
    GEO_SUFFIXES,
    TABLE_SUFFIXES,
    check_ambiguous_columns,
    fold_name,
    infer_column,
    match_columns,
    read_raw_table,
)

__all__ = [
    "read_candidates",
    "read_communities",
    "read_facilities",
]

# Canonical columns of each table, in output order (geometry last).
_CANONICAL: dict[str, tuple[str, ...]] = {
    "facilities": ("id", "name", "category", "floor_area_m2", "site_area_m2",
                   "capacity_population", "opening_hours_per_day", "barrier_free", "township",
                   "division", "synthetic", "community_id"),
    "communities": ("id", "name", "kind", "population", "households", "township", "division",
                    "floor_area_m2", "social_workers", "social_organisations", "volunteers",
                    "registered_volunteers", "party_members", "party_member_volunteers",
                    "social_work_professionals", "assistant_social_workers", "cobuilding_units",
                    "resident_units", "info_platform", "pilot_community", "synthetic"),
    "candidates": ("id", "name", "kind", "cost", "floor_area_m2", "township", "division",
                   "synthetic"),
}

_REQUIRED = {
    "facilities": ("id", "category"),
    "communities": ("id", "population"),
    "candidates": (),
}

# Numeric columns: name -> (integer, what for messages).
_NUMERIC: dict[str, tuple[bool, str]] = {
    "population": (True, "population"),
    "households": (True, "households"),
    "floor_area_m2": (False, "floor area (m2)"),
    "site_area_m2": (False, "site area (m2)"),
    "capacity_population": (True, "capacity (people)"),
    "opening_hours_per_day": (False, "opening hours per day"),
    "cost": (False, "cost"),
    "social_workers": (True, "social workers"),
    "social_organisations": (True, "social organisations"),
    "volunteers": (True, "volunteers"),
    "party_members": (True, "party members"),
    "party_member_volunteers": (True, "party-member volunteers"),
    "registered_volunteers": (True, "registered volunteers"),
    "social_work_professionals": (True, "social-work professionals"),
    "assistant_social_workers": (True, "assistant social workers"),
    "cobuilding_units": (True, "co-building units"),
    "resident_units": (True, "resident units"),
}

_BOOLEAN = {"barrier_free": "barrier-free", "synthetic": "synthetic", "info_platform":
            "information platform", "pilot_community": "pilot community"}

_GEOMETRY_TYPES = {
    "facilities": {"Point", "MultiPoint", "Polygon", "MultiPolygon"},
    "communities": {"Point", "Polygon", "MultiPolygon"},
    "candidates": {"Point", "MultiPoint", "Polygon", "MultiPolygon"},
}

# Sheet names preferred in a workbook with several sheets.
_SHEET_HINTS = {
    "facilities": ("设施", "facilit"),
    "communities": ("社区", "村", "communit", "demand"),
    "candidates": ("候选", "candidate", "备选"),
}

_DIVISIONS: dict[str, tuple[str, ...]] = {
    "旌阳区": ("旌阳", "jingyang", "jingyangdistrict", "510603"),
    "罗江区": ("罗江", "罗江县", "luojiang", "luojiangdistrict", "510604", "510626"),
    "广汉市": ("广汉", "guanghan", "guanghancity", "510681"),
    "什邡市": ("什邡", "shifang", "shifangcity", "510682"),
    "绵竹市": ("绵竹", "mianzhu", "mianzhucity", "510683"),
    "中江县": ("中江", "zhongjiang", "zhongjiangcounty", "510623"),
}

_KIND_WORDS = {
    "urban": ("urban", "city", "town", "社区", "城市社区", "城镇社区", "城市", "城镇", "城",
              "居委会", "居民委员会", "街道社区"),
    "rural": ("rural", "village", "村", "行政村", "农村", "农村社区", "乡村", "村委会",
              "村民委员会", "乡"),
}

_DIVISION_LOOKUP = {
    fold_name(alias): name for name, aliases in _DIVISIONS.items() for alias in (name, *aliases)
}

_KIND_LOOKUP = {fold_name(w): kind for kind, words in _KIND_WORDS.items() for w in words}


def _crs_info(input_crs: str) -> tuple[str, bool]:
    """Return the normalised system name and whether it is geographic (degrees)."""
    name = crs_name(input_crs)
    if name in ("wgs84", "gcj02", "bd09"):
        return name, True

    return name, bool(pyproj.CRS.from_user_input(name).is_geographic)


def _geographic_hint() -> str:
    return ("pass input_crs='EPSG:<code>' (--input-crs) with the projected system, e.g. "
            "'EPSG:4544' for CGCS2000 3-degree Gauss-Kruger CM 105E or 'EPSG:32648' for UTM 48N")


def _fix_coordinates(
    x: np.ndarray[Any, np.dtype[np.float64]],
    y: np.ndarray[Any, np.dtype[np.float64]],
    *,
    geographic: bool,
    crs_name: str,
    rows: np.ndarray[Any, np.dtype[np.int64]],
    columns: tuple[str, str],
    log: ProblemLog,
    label: str,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """Check coordinate ranges; swap rows whose latitude is in the longitude column."""
    x = x.copy()
    y = y.copy()
    have = np.isfinite(x) & np.isfinite(y)
    if not have.any():
        return x, y
    lon_col, lat_col = columns
    if geographic:
        swappable = have & (np.abs(x) <= 90) & (np.abs(y) > 90) & (np.abs(y) <= 180)
        bad = have & ((np.abs(x) > 180) | (np.abs(y) > 90)) & ~swappable
        if bad.sum() == have.sum() or (have.sum() >= 3 and bad[have].mean() > 0.5
                                       and np.nanmax(np.abs(np.r_[x[bad], y[bad]])) > 1000):
            first = int(np.flatnonzero(bad)[0])
            log.add(f"coordinates look projected (e.g. {x[first]:.6g}, {y[first]:.6g} in row "
                    f"{rows[first]}) but the coordinate system {crs_name!r} is in degrees; "
                    + _geographic_hint(), column=lon_col)
            return np.full_like(x, np.nan), np.full_like(y, np.nan)
        swapped = swappable
        if swapped.any():
            shown = ", ".join(str(r) for r in rows[swapped][:10])
            more = ", ..." if swapped.sum() > 10 else ""
            warnings.warn(
                f"{label}: {int(swapped.sum())} rows have the latitude in the longitude column "
                f"{lon_col!r} and the longitude in {lat_col!r} (rows {shown}{more}); they were "
                "swapped back: check the columns", InputWarning, stacklevel=5)
            x[swapped], y[swapped] = y[swapped], x[swapped].copy()
        for i in np.flatnonzero(have & ((np.abs(x) > 180) | (np.abs(y) > 90))):
            log.add(f"coordinates out of range: longitude {x[i]:g}, latitude {y[i]:g}",
                    row=int(rows[i]), column=lon_col if abs(x[i]) > 180 else lat_col,
                    kind="coordinates out of range")
            x[i] = y[i] = np.nan
    elif np.all((np.abs(x[have]) <= 180) & (np.abs(y[have]) <= 90)):
        log.add(f"coordinates look like degrees (e.g. {x[have][0]:g}, {y[have][0]:g}) but the "
                f"coordinate system {crs_name!r} is projected; pass input_crs='wgs84', 'gcj02' "
                "or 'bd09' (--input-crs)", column=lon_col)
        return np.full_like(x, np.nan), np.full_like(y, np.nan)
    return x, y


def _split_coordinates(values: Sequence[Any], rows: np.ndarray[Any, np.dtype[np.int64]],
                       column: str, log: ProblemLog) -> tuple[list[Any], list[Any]]:
    """Split ``"104.39,31.12"`` cells (Amap's coordinate picker) into two lists."""
    xs: list[Any] = []
    ys: list[Any] = []
    for cell, row in zip(values, rows, strict=True):
        if is_missing(cell):
            xs.append(None)
            ys.append(None)
            continue
        parts = [p for p in re.split(r"[,，;\s]+", unicodedata.normalize("NFKC", str(cell)))
                 if p]
        if len(parts) != 2:
            log.add(f"expected 'longitude,latitude', got {cell!r}", row=int(row), column=column,
                    kind="malformed coordinates")
            xs.append(None)
            ys.append(None)
        else:
            xs.append(parts[0])
            ys.append(parts[1])
    return xs, ys


_DMS = re.compile(
    r"^\s*([NSEW东西南北]?)\s*(\d+(?:\.\d+)?)\s*[°度]\s*(?:(\d+(?:\.\d+)?)\s*['′分])?"
    r"\s*(?:(\d+(?:\.\d+)?)\s*(?:[\"″秒]|''|′′)?)?\s*([NSEW东西南北]?)\s*$",
    re.IGNORECASE,
)


_DEC_HEMI = re.compile(r"^\s*([NSEW]?)\s*(\d+(?:\.\d+)?)()()\s*([NSEW]?)\s*$", re.IGNORECASE)


def _dms_to_degrees(values: Sequence[Any]) -> list[Any]:
    """Turn texts such as ``104°23'26.1"E`` or ``东经104度23分26秒`` into decimal degrees."""
    out: list[Any] = list(values)
    plain = pd.to_numeric(pd.Series(out, dtype=object), errors="coerce").notna().to_numpy()
    for i in np.flatnonzero(~plain):
        out[i] = _dms_cell(out[i])
    return out


def _dms_cell(cell: Any) -> Any:
    """Return one DMS or hemisphere-suffixed text as degrees, anything else unchanged."""
    if not isinstance(cell, str) or not cell.strip():
        return cell
    text = unicodedata.normalize("NFKC", cell)
    match = _DMS.match(text.replace("东经", "E").replace("北纬", "N").replace("西经", "W")
                       .replace("南纬", "S")) or _DEC_HEMI.match(text)
    if match is None:
        return cell
    hemi = (match.group(1) or match.group(5) or "").upper()
    value = (float(match.group(2)) + float(match.group(3) or 0) / 60.0
             + float(match.group(4) or 0) / 3600.0)
    return -value if hemi in ("S", "W", "西", "南") else value


def _to_wgs84_points(x: np.ndarray[Any, np.dtype[np.float64]],
                     y: np.ndarray[Any, np.dtype[np.float64]], crs_name: str) -> Any:


    have = np.isfinite(x) & np.isfinite(y)
    lon = np.full_like(x, np.nan)
    lat = np.full_like(y, np.nan)
    if have.any():
        lon[have], lat[have] = to_wgs84(x[have], y[have], input_crs=crs_name)
    geoms = np.full(len(x), None, dtype=object)
    geoms[have] = shapely.points(lon[have], lat[have])
    return geoms


def _study_area_wgs84(study_area: Any) -> Any:
    """Return the study area as one shapely geometry in WGS-84 (or None)."""
    if study_area is None:
        return None

    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        series = study_area.geometry if isinstance(study_area, gpd.GeoDataFrame) else study_area
        if series.crs is not None:
            series = series.to_crs(4326)
        return shapely.union_all(np.asarray(series.values, dtype=object))
    if isinstance(study_area, shapely.Geometry):
        return study_area
    msg = f"study_area must be a shapely geometry, GeoSeries or GeoDataFrame, not {study_area!r}"
    raise InputError(msg)


@dataclass(frozen=True)
class _Source:
    """What a file gives before interpretation: attribute cells, geometries or coordinates."""

    frame: pd.DataFrame
    rows: np.ndarray[Any, np.dtype[np.int64]]
    label: str
    geometry: Any  # numpy object array of shapely geometries, or None for a table
    file_crs: str | None


def _read_geo(file: Path, hints: Sequence[str]) -> _Source:
    import pyogrio

    label = str(file)
    if file.stat().st_size == 0:
        raise InputError(Problem("the file is empty", file=label))
    layer: str | None = None
    try:
        layers = pyogrio.list_layers(file)
    except Exception as exc:  # GDAL's errors for unreadable files vary
        msg = f"cannot read as a geometry file (GeoJSON, GeoPackage, Shapefile): {exc}"
        raise InputError(Problem(msg, file=label)) from None
    if len(layers) > 1:
        names = [str(n) for n in layers[:, 0]]
        layer = next((n for n in names if any(h in n.lower() for h in hints)), names[0])
        label = f"{file} [layer {layer}]"
    kwargs: dict[str, Any] = {}
    if file.suffix.lower() == ".shp" and not file.with_suffix(".cpg").exists():
        kwargs["encoding"] = _guess_dbf_encoding(file.with_suffix(".dbf"))
    try:
        with warnings.catch_warnings():
            # GDAL's notes on odd values ("could not parse column as JSON"): the checks below
            # report the cells themselves, with row and column
            warnings.simplefilter("ignore")
            gdf = pyogrio.read_dataframe(file, layer=layer, **kwargs)
    except Exception as exc:
        msg = f"cannot read as a geometry file (GeoJSON, GeoPackage, Shapefile): {exc}"
        raise InputError(Problem(msg, file=label)) from None
    if len(gdf) == 0:
        raise InputError(Problem("the file has no features", file=label))
    crs = None if gdf.crs is None else gdf.crs.to_string()
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object)
    frame.columns = pd.Index([str(c) for c in frame.columns])
    rows = np.arange(1, len(gdf) + 1, dtype=np.int64)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    return _Source(frame.reset_index(drop=True), rows, label, geoms, crs)


def _guess_dbf_encoding(dbf: Path) -> str:
    """Guess the text encoding of a shapefile's table without a .cpg file: UTF-8 or GBK."""
    try:
        data = dbf.read_bytes()
    except OSError:
        return "utf-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _load(path: str | os.PathLike[str], hints: Sequence[str]) -> _Source:
    file = Path(path)
    if not file.exists():
        raise InputError(Problem("file not found", file=str(file)))
    suffix = file.suffix.lower()
    if suffix in GEO_SUFFIXES:
        return _read_geo(file, hints)
    if suffix in TABLE_SUFFIXES:
        raw = read_raw_table(file, hints=hints)
        if raw.frame.empty:
            raise InputError(Problem("the file has a header but no data rows", file=raw.label))
        return _Source(raw.frame, raw.rows, raw.label, None, None)
    known = ", ".join((*GEO_SUFFIXES, *TABLE_SUFFIXES))
    msg = f"unknown file type {suffix!r}; expected one of {known}"
    raise InputError(Problem(msg, file=str(file)))


_RURAL_NAME = r"(?:村|村委会|村民委员会)$|village$"

_URBAN_NAME = r"(?:社区|居委会|居民委员会)$|community"


def _kinds(values: Sequence[str | None] | None, names: Sequence[str | None], *,
           rows: np.ndarray[Any, np.dtype[np.int64]], column: str | None, log: ProblemLog,
           label: str) -> list[str]:
    """Return ``"urban"`` / ``"rural"`` per community, from the kind column or the name."""
    n = len(rows)
    given = pd.Series(list(values) if values is not None else [None] * n, dtype=object)
    kinds = given.map(lambda v: None if v is None else _KIND_LOOKUP.get(fold_name(v), "?"))
    for i in np.flatnonzero((kinds == "?").to_numpy()):
        log.add(f"kind must be urban (社区) or rural (村), got {given.iloc[i]!r}",
                row=int(rows[i]), column=column, kind="unknown kind")
    from_name = pd.Series(list(names), dtype=object).fillna("").astype(str)
    rural = from_name.str.contains(_RURAL_NAME, case=False, regex=True).to_numpy(dtype=bool)
    urban = from_name.str.contains(_URBAN_NAME, case=False, regex=True).to_numpy(dtype=bool)
    empty = kinds.isna().to_numpy(dtype=bool)
    out = np.where(kinds.isin(["urban", "rural"]), kinds.to_numpy(dtype=object), "urban")
    out[empty & rural] = "rural"
    guessed = int((empty & ~rural & ~urban).sum())
    if guessed and values is not None:
        warnings.warn(f"{label}: {guessed} communities have an empty kind (column {column!r}) "
                      "and a name that does not end in 社区 or 村; they are taken as urban",
                      InputWarning, stacklevel=4)
    return [str(k) for k in out]


def _divisions(values: Sequence[str | None]) -> list[str | None]:
    return [None if v is None else _DIVISION_LOOKUP.get(fold_name(v), v) for v in values]


def _file_crs_name(file_crs: str) -> str:
    """Return ``"wgs84"`` for any spelling of WGS-84 degrees (EPSG:4326, OGC:CRS84), else as is."""
    crs = pyproj.CRS.from_user_input(file_crs)
    if crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True):
        return "wgs84"
    code = crs.to_epsg()
    return f"EPSG:{code}" if code is not None else file_crs


def _geometries_from_file(src: _Source, *, input_crs: str, log: ProblemLog,
                          table: str) -> Any:
    """Check the file's geometries and return them in WGS-84 (None where unusable)."""
    ok = check_geometries(src.geometry, rows=src.rows, log=log,
                          allowed_types=_GEOMETRY_TYPES[table])
    geoms = np.array(src.geometry, dtype=object, copy=True)
    geoms[~ok] = None
    requested, requested_geographic = _crs_info(input_crs)
    file_crs = src.file_crs
    file_name = None if file_crs is None else _file_crs_name(file_crs)
    present = np.flatnonzero(ok)
    bounds = shapely.bounds(geoms[present]) if len(present) else np.zeros((0, 4))
    inside_degrees = ((np.abs(bounds[:, [0, 2]]) <= 180).all(axis=1)
                      & (np.abs(bounds[:, [1, 3]]) <= 90).all(axis=1))
    # The file's own coordinate system wins (GeoJSON is WGS-84 by definition), so that one
    # --input-crs for a planner's CSV does not shift a GeoJSON read beside it. input_crs is for
    # files without one, and for a GeoJSON whose metres show that its implicit WGS-84 is wrong.
    implicit_wrong = (file_name == "wgs84" and not requested_geographic and len(present) > 0
                      and not inside_degrees.any())
    if file_name is None or implicit_wrong:
        crs_name = requested
    else:
        crs_name = file_name
        if requested not in ("wgs84", file_name):
            warnings.warn(f"{src.label}: the file's coordinate system ({file_crs}) is used; "
                          f"input_crs={input_crs!r} applies to files without one (tables, "
                          "shapefiles without .prj)", InputWarning, stacklevel=4)
    if crs_name.upper().startswith("EPSG:") or crs_name not in ("wgs84", "gcj02", "bd09"):
        geographic = bool(pyproj.CRS.from_user_input(crs_name).is_geographic)
    else:
        geographic = True
    if len(present) == 0:
        return geoms
    if geographic and not inside_degrees.any():
        log.add(f"coordinates look projected (e.g. x={bounds[0, 0]:.6g}, y={bounds[0, 1]:.6g}) "
                f"but the coordinate system {crs_name!r} is in degrees; " + _geographic_hint(),
                column="geometry")
        return np.full(len(geoms), None, dtype=object)
    if not geographic and inside_degrees.all():
        log.add(f"coordinates look like degrees but the coordinate system {crs_name!r} is "
                "projected; pass input_crs='wgs84', 'gcj02' or 'bd09' (--input-crs)",
                column="geometry")
        return np.full(len(geoms), None, dtype=object)
    if geographic:
        points = shapely.get_type_id(geoms[present]) == 0
        xs = shapely.get_x(geoms[present])
        ys = shapely.get_y(geoms[present])
        swap = points & (np.abs(xs) <= 90) & (np.abs(ys) > 90) & (np.abs(ys) <= 180)
        if swap.any():
            idx = present[swap]
            warnings.warn(f"{src.label}: {int(swap.sum())} points have x and y swapped (rows "
                          f"{', '.join(str(r) for r in src.rows[idx][:10])}); they were swapped "
                          "back", InputWarning, stacklevel=4)
            geoms[idx] = shapely.points(ys[swap], xs[swap])
        for i in present[~inside_degrees & ~np.isin(present, present[swap])]:
            log.add("coordinates out of range for degrees", row=int(src.rows[i]),
                    column="geometry", kind="coordinates out of range")
            geoms[i] = None
    if crs_name in ("wgs84", "gcj02", "bd09") or crs_name.upper().startswith("EPSG:"):
        keep = np.flatnonzero(np.array([g is not None for g in geoms], dtype=bool))
        if len(keep) and crs_name != "wgs84":
            geoms[keep] = geometry_to_wgs84(geoms[keep], input_crs=crs_name)
        return geoms

    keep = np.flatnonzero(np.array([g is not None for g in geoms], dtype=bool))
    geoms[keep] = np.asarray(gpd.GeoSeries(geoms[keep], crs=crs_name).to_crs(4326).values,
                             dtype=object)
    return geoms


def _geometries_from_columns(src: _Source, found: Mapping[str, str | None], *,
                             input_crs: str, log: ProblemLog, study_area: Any) -> Any:
    lon_col, lat_col, coord_col = found.get("lon"), found.get("lat"), found.get("coordinates")
    if lon_col is not None and lat_col is not None:
        xs: Sequence[Any] = list(src.frame[lon_col])
        ys: Sequence[Any] = list(src.frame[lat_col])
        columns = (lon_col, lat_col)
    elif coord_col is not None:
        xs, ys = _split_coordinates(list(src.frame[coord_col]), src.rows, coord_col, log)
        columns = (coord_col, coord_col)
    else:
        looked = ", ".join((*COLUMN_ALIASES["facilities"]["lon"][:7],
                            *COLUMN_ALIASES["facilities"]["lat"][:6]))
        have = ", ".join(repr(str(c)) for c in src.frame.columns)
        log.add(f"no coordinate columns (looked for: {looked}; or one 'coordinates' column "
                f"with 'lon,lat'); the file has: {have}", column="lon/lat")
        return np.full(len(src.frame), None, dtype=object)
    xs, ys = _dms_to_degrees(xs), _dms_to_degrees(ys)
    x = parse_numbers(xs, rows=src.rows, column=columns[0], log=log, what="longitude (x)",
                      required=True, minimum=None)
    y = parse_numbers(ys, rows=src.rows, column=columns[1], log=log, what="latitude (y)",
                      required=True, minimum=None)
    crs_name, geographic = _crs_info(input_crs)
    x, y = _fix_coordinates(x, y, geographic=geographic, crs_name=crs_name, rows=src.rows,
                            columns=columns, log=log, label=src.label)
    if geographic and study_area is not None:
        x, y = _swap_into_area(x, y, crs_name=crs_name, study_area=study_area, src=src,
                               columns=columns)
    return _to_wgs84_points(x, y, crs_name)


def _swap_into_area(x: np.ndarray[Any, np.dtype[np.float64]],
                    y: np.ndarray[Any, np.dtype[np.float64]], *, crs_name: str,
                    study_area: Any, src: _Source, columns: tuple[str, str],
                    ) -> tuple[np.ndarray[Any, np.dtype[np.float64]],
                               np.ndarray[Any, np.dtype[np.float64]]]:
    """Swap back rows that fall outside the study area only because lon and lat are swapped."""
    have = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 90)
    if not have.any():
        return x, y
    idx = np.flatnonzero(have)
    lon, lat = to_wgs84(x[idx], y[idx], input_crs=crs_name)
    slon, slat = to_wgs84(y[idx], x[idx], input_crs=crs_name)
    outside = ~shapely.covers(study_area, shapely.points(lon, lat))
    swapped_in = shapely.covers(study_area, shapely.points(slon, slat))
    fix = idx[outside & swapped_in]
    if len(fix):
        warnings.warn(f"{src.label}: {len(fix)} rows look swapped (latitude in {columns[0]!r}, "
                      f"longitude in {columns[1]!r}; rows "
                      f"{', '.join(str(r) for r in src.rows[fix][:10])}); they were swapped back",
                      InputWarning, stacklevel=5)
        x = x.copy()
        y = y.copy()
        x[fix], y[fix] = y[fix], x[fix].copy()
    return x, y


#: Integers beyond this are refused whatever the column (int64 holds 9.2e18).
_MAX_COUNT = 1e15


def _maximum(name: str, *, integer: bool) -> tuple[float | None, str | None]:
    """Return the plausible maximum of a numeric column and the setting that holds it."""
    if name in ("population", "households", "capacity_population"):
        return float(settings.max_population_per_community), "settings.max_population_per_community"
    if name in ("floor_area_m2", "site_area_m2"):
        return float(settings.max_floor_area_m2), "settings.max_floor_area_m2"
    return (_MAX_COUNT, None) if integer else (None, None)


def _check_households(out: Mapping[str, Any], found: Mapping[str, str | None],
                      rows: np.ndarray[Any, np.dtype[np.int64]], log: ProblemLog) -> None:
    """Record every community with more households than people (a swapped or mistyped cell)."""
    if "households" not in out or "population" not in out:
        return
    households = pd.array(out["households"], dtype="Float64").to_numpy(dtype=float,
                                                                      na_value=np.nan)
    population = np.asarray(out["population"], dtype=float)
    for i in np.flatnonzero(households > population):
        log.add(f"households ({households[i]:,.0f}) exceed the population "
                f"({population[i]:,.0f}): every household has at least one person; check "
                "the two cells", row=int(rows[i]), column=found.get("households"),
                kind="households exceed the population")


def _check_areas(geoms: np.ndarray[Any, np.dtype[np.object_]],
                 rows: np.ndarray[Any, np.dtype[np.int64]], log: ProblemLog) -> None:
    """Record every community polygon larger than ``settings.max_community_area_km2``."""
    if not len(geoms):
        return
    kinds = shapely.get_type_id(geoms)
    polygons = np.isin(kinds, (3, 6)) & ~shapely.is_missing(geoms)
    if not polygons.any():
        return
    km_per_degree = 111.32
    lat = shapely.get_y(shapely.centroid(geoms[polygons]))
    area_km2 = np.zeros(len(geoms))
    area_km2[polygons] = (shapely.area(geoms[polygons]) * km_per_degree ** 2
                          * np.cos(np.radians(np.clip(lat, -89.0, 89.0))))
    limit = float(settings.max_community_area_km2)
    for i in np.flatnonzero(area_km2 > limit):
        log.add(f"the community's polygon covers {area_km2[i]:,.0f} km2, more than "
                f"settings.max_community_area_km2 ({limit:,.0f}): check its coordinates (a "
                "typo can make a polygon the size of a province)", row=int(rows[i]),
                column="geometry", kind="community polygon implausibly large")


def _read_points(
    path: str | os.PathLike[str],
    table: str,
    *,
    input_crs: str,
    study_area: Any,
    catalog: Any = None,
) -> gpd.GeoDataFrame:
    """Read facilities, communities or candidates into the canonical columns (EPSG:4326)."""
    area = _study_area_wgs84(study_area)
    _crs_info(input_crs)  # an unknown system fails before the file is read
    src = _load(path, _SHEET_HINTS[table])
    log = ProblemLog(src.label)
    aliases = COLUMN_ALIASES[table]
    found = match_columns([str(c) for c in src.frame.columns], aliases)
    check_required_columns(found, aliases, _REQUIRED[table], log=log,
                           columns=[str(c) for c in src.frame.columns])
    check_ambiguous_columns(src.frame, found, aliases, log=log, label=src.label,
                             skip=("lon", "lat", "coordinates") if src.geometry is not None
                             else ())
    rows = src.rows
    n = len(src.frame)

    def texts(name: str) -> list[str | None] | None:
        column = found.get(name)
        return None if column is None else parse_texts(src.frame[column])

    out: dict[str, Any] = {}
    ids = texts("id")
    if ids is None and table == "candidates":
        ids = [f"candidate_{r}" for r in rows]
    if ids is not None:
        check_unique(ids, rows=rows, column=found.get("id") or "id", log=log)
        out["id"] = ids
    names = texts("name")
    out["name"] = [nm if nm is not None else (ids[i] if ids else None)
                   for i, nm in enumerate(names or [None] * n)]
    beyond: dict[str, list[str]] = {}
    if table == "facilities" and found.get("category") is not None:
        category_texts = texts("category") or []
        out["category"] = category_keys(category_texts, rows=rows,
                                         column=found["category"] or "category", log=log,
                                         catalog=catalog, beyond=beyond)
    if table == "communities":
        out["kind"] = _kinds(texts("kind"), out["name"], rows=rows, column=found.get("kind"),
                             log=log, label=src.label)
    elif table == "candidates" and found.get("kind") is not None:
        out["kind"] = texts("kind")
    for name in _CANONICAL[table]:
        column = found.get(name)
        if column is None or name in out:
            continue
        if name in _NUMERIC:
            integer, what = _NUMERIC[name]
            maximum, setting = _maximum(name, integer=integer)
            values = parse_numbers(src.frame[column], rows=rows, column=column, log=log,
                                   what=what, required=name in _REQUIRED[table],
                                   integer=integer, maximum=maximum, maximum_setting=setting)
            if integer:
                ints = pd.array(np.nan_to_num(values).astype(np.int64), dtype="Int64")
                ints[np.isnan(values)] = pd.NA
                out[name] = ints
            else:
                out[name] = values
        elif name in _BOOLEAN:
            out[name] = parse_bools(src.frame[column], rows=rows, column=column, log=log,
                                    what=_BOOLEAN[name])
        elif name == "division":
            out[name] = _divisions(texts(name) or [])
        else:
            out[name] = texts(name)
    if table == "communities":
        _check_households(out, found, rows, log)
    if src.geometry is not None:
        geoms = _geometries_from_file(src, input_crs=input_crs, log=log, table=table)
    else:
        geoms = _geometries_from_columns(src, found, input_crs=input_crs, log=log,
                                         study_area=area)
    if table == "communities":
        _check_areas(geoms, rows, log)
    log.raise_if_any()
    if beyond:
        warnings.warn(beyond_catalog_notice(src.label, beyond), InputWarning, stacklevel=4)

    if table == "communities":
        out["population"] = np.asarray(out["population"], dtype=np.int64)
    synthetic = out.get("synthetic")
    out["synthetic"] = np.array([bool(v) for v in (synthetic or [False] * n)], dtype=bool)
    for flag in ("barrier_free", "info_platform", "pilot_community"):
        if flag in out:
            out[flag] = pd.array(out[flag], dtype="boolean")
    if table != "communities":
        kinds = shapely.get_type_id(geoms)
        area_like = np.isin(kinds, (3, 4, 6))
        if area_like.any():
            geoms = geoms.copy()
            geoms[area_like] = shapely.point_on_surface(geoms[area_like])
    columns = [c for c in _CANONICAL[table] if c in out]
    coordinate_names = ("lon", "lat", "coordinates")
    used = {c for name, c in found.items() if c is not None
            and not (src.geometry is not None and name in coordinate_names)}
    frame = pd.DataFrame({c: out[c] for c in columns}, index=pd.RangeIndex(n))
    for column in src.frame.columns:
        if column not in used and str(column) not in frame.columns:
            # a table's other columns are typed as read_table types them; a geometry file's
            # columns keep their own types
            extra = src.frame[column] if src.geometry is not None else infer_column(
                src.frame[column])
            frame[str(column)] = extra.to_numpy()
    for column in ("id", "name"):
        if column in frame:
            frame[column] = frame[column].astype(str)
    result = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
                              crs="EPSG:4326")
    if area is not None:
        _warn_outside(result, area, src.label)
    return result


def _warn_outside(gdf: gpd.GeoDataFrame, area: Any, label: str) -> None:
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    outside = ~shapely.intersects(area, geoms)
    if outside.any():
        ids = gdf["id"].to_numpy()[outside] if "id" in gdf else np.flatnonzero(outside) + 1
        shown = ", ".join(str(i) for i in ids[:10])
        more = ", ..." if outside.sum() > 10 else ""
        warnings.warn(f"{label}: {int(outside.sum())} of {len(gdf)} features lie outside the "
                      f"study area (ids {shown}{more}); check their coordinate system "
                      "(input_crs)", InputWarning, stacklevel=4)


def read_facilities(
    path: str | os.PathLike[str],
    *,
    input_crs: str = "wgs84",
    catalog: Any = None,
    study_area: Any = None,
) -> gpd.GeoDataFrame:
    """Read existing facilities from a planner's file.

    Geometry files (GeoJSON, GeoPackage, Shapefile) give their points (areas are reduced to a
    point on their surface); tables (CSV, Excel) give coordinates in columns (经度/纬度,
    lon/lat, lng, x/y, or one ``"lon,lat"`` column). Column names may be Chinese or English
    (see :data:`COLUMN_ALIASES`); categories may be catalog keys or their Chinese or English
    names. Categories the catalog does not know (药店 pharmacy, 菜市场 market...) are kept
    as written and analysed with the study's default threshold; one :class:`InputWarning`
    lists them with their counts, and no plan target applies to them. Columns not recognised
    are kept under their own names.

    Parameters
    ----------
    path
        The file.
    input_crs
        Coordinate system of coordinates without a declared one (tables, shapefiles without
        ``.prj``): ``"wgs84"``, ``"gcj02"`` (Amap, Tencent), ``"bd09"`` (Baidu) or
        ``"EPSG:<code>"`` (CGCS2000 ``"EPSG:4490"``, Gauss-Kruger ``"EPSG:4544"``...). A
        geometry file's own system wins (GeoJSON is WGS-84), with an :class:`InputWarning`
        when they differ, except that a projected code is used for a GeoJSON whose
        coordinates are plainly metres.
    catalog
        The standards catalog mapping categories; ``None`` loads the packaged one.
    study_area
        A shapely geometry, GeoSeries or GeoDataFrame: features outside it give an
        :class:`InputWarning`, and rows whose longitude and latitude are swapped are fixed.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id`` (str, unique), ``name``, ``category`` (catalog key, or the name as written for a
        category beyond the catalog), the optional columns found (``floor_area_m2``,
        ``site_area_m2``, ``capacity_population``, ``opening_hours_per_day``,
        ``barrier_free``, ``township``, ``division``, ``community_id``: the community the
        facility belongs to, by id or name, 所属社区),
        ``synthetic`` (bool), the file's other columns, and Point geometry in EPSG:4326.

    Raises
    ------
    InputError
        Listing every problem of the file (missing columns, duplicate ids, ambiguous category
        names, bad coordinates or geometries), each with file, row and column.
    """
    return _read_points(path, "facilities", input_crs=input_crs, study_area=study_area,
                        catalog=catalog)


def read_communities(
    path: str | os.PathLike[str],
    *,
    input_crs: str = "wgs84",
    study_area: Any = None,
) -> gpd.GeoDataFrame:
    """Read communities (or any demand points with a population) from a planner's file.

    Parameters
    ----------
    path
        A geometry file (points or polygons) or a table with coordinate columns.
    input_crs
        As for :func:`read_facilities`.
    study_area
        As for :func:`read_facilities`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id``, ``name``, ``kind`` (``"urban"`` for 社区, ``"rural"`` for 村; from a kind
        column, else from the name's ending (村 rural, 社区 urban), else urban: silently when
        the file has no kind column, with an :class:`InputWarning` for empty kind cells),
        ``population``
        (int64 >= 0), and when present ``households`` (nullable Int64), ``township``,
        ``division`` (Chinese name), ``floor_area_m2``, the attribute columns of targets
        T12-T15; ``synthetic`` (bool); the file's other columns; Point or Polygon geometry in
        EPSG:4326.

    Raises
    ------
    InputError
        Listing every problem of the file, each with file, row and column.
    """
    return _read_points(path, "communities", input_crs=input_crs, study_area=study_area)


def read_candidates(
    path: str | os.PathLike[str],
    *,
    input_crs: str = "wgs84",
    study_area: Any = None,
) -> gpd.GeoDataFrame:
    """Read candidate sites for new facilities (idle public buildings, vacant lots).

    Parameters
    ----------
    path
        A geometry file or a table with coordinate columns.
    input_crs
        As for :func:`read_facilities`.
    study_area
        As for :func:`read_facilities`.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id`` (``candidate_<row>`` when the file has none), ``name``, and when present
        ``kind``, ``cost``, ``floor_area_m2``, ``township``, ``division``; ``synthetic``;
        the file's other columns; Point geometry in EPSG:4326.

    Raises
    ------
    InputError
        Listing every problem of the file, each with file, row and column.
    """
    return _read_points(path, "candidates", input_crs=input_crs, study_area=study_area)

