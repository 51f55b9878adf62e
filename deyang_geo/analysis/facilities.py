"""Facilities from OpenStreetMap through the catalog's tag mapping, merged with a planner's list."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from deyang_geo.core.crs import local_metric_crs
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.core.standards import Catalog, load_catalog

log = logging.getLogger("deyang_geo")

#: Value of the ``source`` column of facilities taken from OpenStreetMap.
OSM_SOURCE = "OpenStreetMap"
#: Columns of the facilities table built from OSM, in order.
OSM_COLUMNS: tuple[str, ...] = ("id", "name", "category", "source", "osm_tags", "geometry")
_ELEMENT_ORDER = {"node": 0, "way": 1, "relation": 2}
_NAME_KEYS = ("name:zh", "name", "name:en")
_PBF_SUFFIXES = (".pbf", ".o5m")


@dataclass(frozen=True)
class MergeResult:
    """A planner's facilities merged with facilities from OpenStreetMap.

    Attributes
    ----------
    facilities
        The planner's facilities first (all kept), then the OSM facilities that are not
        duplicates; EPSG:4326 Points.
    duplicates
        One row per OSM facility dropped: ``osm_id``, ``planner_id``, ``category``,
        ``distance_m``.
    distance_m
        The distance used to call two facilities of one category the same.
    """

    facilities: gpd.GeoDataFrame
    duplicates: pd.DataFrame
    distance_m: float

    @property
    def n_merged(self) -> int:
        """How many OSM facilities were dropped as duplicates of a planner's facility."""
        return len(self.duplicates)


def classify_tags_frame(tags: pd.DataFrame, catalog: Catalog) -> pd.Series:
    """Give each row of a table of OSM tags its catalog category (vectorised over rows).

    The most specific matching filter (the one with most tags) wins; ties go to the category
    listed first in the catalog, as :meth:`Catalog.classify_tags`.

    Parameters
    ----------
    tags
        One column per OSM key, one row per feature; missing tags are NaN/None.
    catalog
        The standards catalog.

    Returns
    -------
    pandas.Series
        The category key per row (``None`` when no filter matches), same index as ``tags``.
    """
    n = len(tags)
    keys = list(catalog.categories)
    strength = np.zeros((len(keys), n), dtype=np.int64)
    columns = {c: tags[c].astype(object) for c in tags.columns if isinstance(c, str)}
    for i, cat in enumerate(catalog.categories.values()):
        for wanted in cat.osm_tags:
            mask = np.ones(n, dtype=bool)
            for k, v in wanted.items():
                col = columns.get(k)
                if col is None:
                    mask[:] = False
                    break
                present = col.notna().to_numpy()
                mask &= present if v == "*" else present & (col.astype(str) == v).to_numpy()
            strength[i] = np.where(mask, np.maximum(strength[i], len(wanted)), strength[i])
    best = strength.argmax(axis=0) if n else np.zeros(0, dtype=np.int64)
    matched = strength.max(axis=0) > 0 if n else np.zeros(0, dtype=bool)
    out = np.where(matched, np.asarray(keys, dtype=object)[best], None)
    return pd.Series(out, index=tags.index, dtype=object, name="category")


def facilities_from_osm(
    path_or_gdf: str | os.PathLike[str] | gpd.GeoDataFrame,
    *,
    catalog: Catalog | None = None,
    boundary: Any = None,
) -> gpd.GeoDataFrame:
    """Read facilities from an offline OSM file (or an osmnx features table) by tag mapping.

    Parameters
    ----------
    path_or_gdf
        An ``.osm``, ``.osm.gz``, ``.osm.bz2`` or ``.xml`` file (read with osmnx
        ``features_from_xml``), an ``.osm.pbf`` file (read with pyosmium: nodes, ways and
        multipolygon relations), or a GeoDataFrame as osmnx ``features_from_*`` return it
        (index ``(element, id)``, one column per tag).
    catalog
        The standards catalog whose ``osm_tags`` classify features; ``None`` loads the shipped
        one.
    boundary
        Optional area (shapely geometry, GeoSeries or GeoDataFrame; EPSG:4326 unless it says
        otherwise): only facilities inside are kept.

    Returns
    -------
    geopandas.GeoDataFrame
        The canonical facilities table: ``id`` (``"osm:node/123"``), ``name``, ``category``,
        ``source`` (``"OpenStreetMap"``), ``osm_tags`` (the matching tags as ``k=v;k=v``),
        Point geometry in EPSG:4326 (way and relation centroids). Sorted by element type and
        OSM id.

    Raises
    ------
    InputError
        When the file does not exist or cannot be read as OSM data.
    """
    catalog = catalog if catalog is not None else load_catalog()
    if isinstance(path_or_gdf, gpd.GeoDataFrame):
        raw = _from_osmnx_frame(path_or_gdf)
    else:
        path = Path(path_or_gdf)
        if not path.exists():
            msg = f"OSM file not found: {path}"
            raise InputError(Problem(msg, file=str(path)))
        name = path.name.lower()
        pbf = name.endswith(_PBF_SUFFIXES)
        raw = _read_pbf(path, catalog) if pbf else _read_xml(path, catalog)
    return _finish(raw, catalog, boundary)


def facilities_from_place(
    query: str | dict[str, str],
    *,
    catalog: Catalog | None = None,
    boundary: Any = None,
) -> gpd.GeoDataFrame:
    """Download facilities for a place from OpenStreetMap (osmnx ``features_from_place``).

    Parameters
    ----------
    query
        A place name or structured query osmnx geocodes (``"旌阳区, 德阳市, 四川省, 中国"``).
    catalog
        The standards catalog; ``None`` loads the shipped one.
    boundary
        Optional area to clip to, as in :func:`facilities_from_osm`.

    Returns
    -------
    geopandas.GeoDataFrame
        The canonical facilities table, as :func:`facilities_from_osm`.
    """
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    catalog = catalog if catalog is not None else load_catalog()
    try:
        gdf = osmnx_adapter.features_from_place(query, tags=catalog.osm_tag_query())
    except osmnx_adapter.InsufficientResponseError:
        gdf = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return _finish(_from_osmnx_frame(gdf), catalog, boundary)


def merge_facilities(
    planner: gpd.GeoDataFrame,
    osm: gpd.GeoDataFrame,
    *,
    distance_m: float = 50.0,
) -> MergeResult:
    """Merge a planner's facilities with OSM facilities; the planner's list wins.

    An OSM facility within ``distance_m`` of a planner's facility of the same category is a
    duplicate and is dropped. Neither input is changed.

    Parameters
    ----------
    planner
        The planner's facilities (``id``, ``category``, Points, any CRS with one set).
    osm
        Facilities from :func:`facilities_from_osm` or :func:`facilities_from_place`.
    distance_m
        Largest distance in metres between two facilities of one category to call them one.

    Returns
    -------
    MergeResult
        The merged table (EPSG:4326; planner rows first, then the kept OSM rows) and the
        duplicates dropped.

    Raises
    ------
    InputError
        When a table lacks ``id`` or ``category``, has no CRS, or ids collide.
    """
    problems: list[Problem] = []
    if distance_m < 0 or not np.isfinite(distance_m):
        problems.append(Problem(f"distance_m must be >= 0, got {distance_m}"))
    for label, table in (("planner facilities", planner), ("OSM facilities", osm)):
        problems.extend(
            Problem(f"{label}: column missing", column=c)
            for c in ("id", "category") if c not in table.columns
        )
        if len(table) and table.crs is None:
            problems.append(Problem(f"{label}: no coordinate reference system set"))
    if problems:
        raise InputError(problems)
    plan = planner.to_crs("EPSG:4326") if planner.crs is not None else planner
    other = osm.to_crs("EPSG:4326") if osm.crs is not None else osm
    clash = sorted(set(plan["id"].astype(str)) & set(other["id"].astype(str)))
    if clash:
        msg = f"ids used in both the planner's and the OSM facilities: {', '.join(clash[:10])}"
        raise InputError(msg)

    dropped = np.zeros(len(other), dtype=bool)
    rows: list[pd.DataFrame] = []
    if len(plan) and len(other):
        both = pd.concat([plan.geometry, other.geometry])
        pts = shapely.get_coordinates(both.representative_point().to_numpy())

        metric = local_metric_crs(pts[:, 0], pts[:, 1])
        xy_plan = _xy(plan, metric)
        xy_osm = _xy(other, metric)
        cat_plan = plan["category"].astype(str).to_numpy()
        cat_osm = other["category"].astype(str).to_numpy()

        for cat in sorted(set(cat_osm) & set(cat_plan)):
            ip = np.flatnonzero(cat_plan == cat)
            io = np.flatnonzero(cat_osm == cat)
            dist, nearest = cKDTree(xy_plan[ip]).query(xy_osm[io], distance_upper_bound=distance_m)
            hit = np.isfinite(dist) & (dist <= distance_m)
            dropped[io[hit]] = True
            rows.append(pd.DataFrame({
                "osm_id": other["id"].astype(str).to_numpy()[io[hit]],
                "planner_id": plan["id"].astype(str).to_numpy()[ip[nearest[hit]]],
                "category": cat,
                "distance_m": np.round(dist[hit], 1),
            }))
    duplicates = (
        pd.concat(rows, ignore_index=True).sort_values("osm_id", ignore_index=True)
        if rows else pd.DataFrame({"osm_id": pd.Series(dtype=object),
                                   "planner_id": pd.Series(dtype=object),
                                   "category": pd.Series(dtype=object),
                                   "distance_m": pd.Series(dtype=float)})
    )
    kept = other.loc[~dropped]
    merged = pd.concat([plan, kept], ignore_index=True)
    result = gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326")
    log.info("merged facilities: %d from the planner, %d from OSM (%d duplicates dropped "
             "within %g m)", len(plan), len(kept), int(dropped.sum()), distance_m)
    return MergeResult(facilities=result, duplicates=duplicates, distance_m=float(distance_m))


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------


def _xy(table: gpd.GeoDataFrame, crs: str) -> NDArray[np.float64]:
    pts = table.geometry.to_crs(crs).representative_point().to_numpy()
    return np.asarray(shapely.get_coordinates(pts), dtype=np.float64)


def _from_osmnx_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn an osmnx features table (index ``(element, id)``) into element/osmid/tag columns."""
    if len(gdf) == 0:
        return gpd.GeoDataFrame({"element": [], "osmid": []}, geometry=[], crs="EPSG:4326")
    frame = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf.set_crs("EPSG:4326")
    index = frame.index
    if isinstance(index, pd.MultiIndex) and index.nlevels == 2:
        element = index.get_level_values(0).astype(str)
        osmid = index.get_level_values(1).astype(np.int64)
    else:
        element = frame["element"].astype(str) if "element" in frame else pd.Index(
            ["node"] * len(frame))
        osmid = frame["id"].astype(np.int64) if "id" in frame else pd.Index(
            np.arange(len(frame), dtype=np.int64))
    out = frame.reset_index(drop=True)
    out = out.drop(columns=[c for c in ("element", "id", "nodes", "ways") if c in out.columns])
    out.insert(0, "element", np.asarray(element, dtype=object))
    out.insert(1, "osmid", np.asarray(osmid, dtype=np.int64))
    return out


def _read_xml(path: Path, catalog: Catalog) -> gpd.GeoDataFrame:
    from deyang_geo.network import osmnx_adapter  # lazy: osmnx is heavy

    try:
        gdf = osmnx_adapter.features_from_xml(path, tags=catalog.osm_tag_query())
    except osmnx_adapter.InsufficientResponseError:
        return _from_osmnx_frame(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))
    except (OSError, ValueError, KeyError) as exc:
        msg = f"cannot read OSM features: {exc}"
        raise InputError(Problem(msg, file=str(path))) from exc
    except Exception as exc:  # xml.sax errors and the like
        if type(exc).__module__.startswith("xml"):
            msg = f"not an OSM XML file: {exc}"
            raise InputError(Problem(msg, file=str(path))) from exc
        raise
    return _from_osmnx_frame(gdf)


def _read_pbf(path: Path, catalog: Catalog) -> gpd.GeoDataFrame:
    import osmium

    query = catalog.osm_tag_query()
    keys = sorted({k for cat in catalog.categories.values() for f in cat.osm_tags for k in f}
                  | set(_NAME_KEYS))
    elements: list[str] = []
    ids: list[int] = []
    tag_rows: list[dict[str, str]] = []
    geoms: list[shapely.Geometry] = []
    wkb = osmium.geom.WKBFactory()
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter(*query))
        .with_filter(osmium.filter.KeyFilter(*query))
    )
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                geom: shapely.Geometry = shapely.Point(obj.location.lon, obj.location.lat)
                element, osmid = "node", obj.id
            elif isinstance(obj, osmium.osm.Way):
                coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
                if len(coords) == 0:
                    continue
                if len(coords) >= 4 and coords[0] == coords[-1]:
                    geom = shapely.Polygon(coords)
                elif len(coords) >= 2:
                    geom = shapely.LineString(coords)
                else:
                    geom = shapely.Point(coords[0])
                element, osmid = "way", obj.id
            elif isinstance(obj, osmium.osm.Area):
                if obj.from_way():
                    continue  # the way itself was taken above
                try:
                    geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                except RuntimeError:
                    continue
                element, osmid = "relation", obj.orig_id()
            else:
                continue
            elements.append(element)
            ids.append(int(osmid))
            tag_rows.append({t.k: t.v for t in obj.tags if t.k in keys})
            geoms.append(geom)
    except RuntimeError as exc:
        msg = f"cannot read OSM file: {exc}"
        raise InputError(Problem(msg, file=str(path))) from exc
    tags = pd.DataFrame.from_records(tag_rows, columns=keys)
    tags.insert(0, "element", pd.Series(elements, dtype=object))
    tags.insert(1, "osmid", pd.Series(ids, dtype=np.int64))
    return gpd.GeoDataFrame(tags, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
                            crs="EPSG:4326")


def _tag_text(frame: pd.DataFrame, keys: Iterable[str]) -> list[str]:
    present = [k for k in keys if k in frame.columns]
    values = frame[present].astype(object).to_numpy()
    return [
        ";".join(f"{k}={v}" for k, v in zip(present, row, strict=True) if not pd.isna(v))
        for row in values
    ]


def _finish(raw: gpd.GeoDataFrame, catalog: Catalog, boundary: Any) -> gpd.GeoDataFrame:
    tag_cols = [c for c in raw.columns if c not in ("element", "osmid", "geometry")]
    category = classify_tags_frame(pd.DataFrame(raw[tag_cols]), catalog) if len(raw) else (
        pd.Series([], dtype=object))
    keep = category.notna().to_numpy()
    sel = raw.loc[keep].copy()
    sel["category"] = category[keep].to_numpy()
    if len(sel):
        metric = _metric_crs(sel)
        centroids = sel.geometry.to_crs(metric).centroid.to_crs("EPSG:4326")
        points = np.where(sel.geometry.geom_type.to_numpy() == "Point",
                          sel.geometry.to_numpy(), centroids.to_numpy())
    else:
        points = np.zeros(0, dtype=object)
    name = pd.Series([None] * len(sel), index=sel.index, dtype=object)
    for key in _NAME_KEYS[::-1]:
        if key in sel.columns:
            name = sel[key].where(sel[key].notna(), name)
    filter_keys = sorted({k for cat in catalog.categories.values() for f in cat.osm_tags
                          for k in f})
    out = gpd.GeoDataFrame(
        {
            "id": ("osm:" + sel["element"].astype(str) + "/" + sel["osmid"].astype(str)).to_numpy(),
            "name": name.fillna("").astype(str).to_numpy(),
            "category": sel["category"].astype(str).to_numpy(),
            "source": OSM_SOURCE,
            "osm_tags": _tag_text(sel, filter_keys),
            "_order": sel["element"].map(_ELEMENT_ORDER).fillna(9).to_numpy(),
            "_osmid": sel["osmid"].to_numpy(),
        },
        geometry=gpd.GeoSeries(points, crs="EPSG:4326"),
        crs="EPSG:4326",
    )
    if boundary is not None and len(out):
        area = _boundary_union(boundary)
        out = out.loc[out.geometry.within(area) | out.geometry.intersects(area)]
    out = out.sort_values(["_order", "_osmid"], kind="stable").drop(columns=["_order", "_osmid"])
    out = out.drop_duplicates("id").reset_index(drop=True)
    log.info("facilities from OSM: %d features matched the catalog's tags", len(out))
    return out


def _metric_crs(frame: gpd.GeoDataFrame) -> str:
    pts = shapely.get_coordinates(frame.geometry.representative_point().to_numpy())
    return local_metric_crs(pts[:, 0], pts[:, 1])


def _boundary_union(boundary: Any) -> shapely.Geometry:
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        series = boundary.geometry if isinstance(boundary, gpd.GeoDataFrame) else boundary
        if series.crs is not None:
            series = series.to_crs("EPSG:4326")
        return shapely.union_all(series.to_numpy())
    if isinstance(boundary, shapely.Geometry):
        return boundary
    msg = f"boundary must be a shapely geometry, GeoSeries or GeoDataFrame, got {type(boundary)}"
    raise InputError(msg)


__all__ = [
    "OSM_SOURCE",
    "MergeResult",
    "classify_tags_frame",
    "facilities_from_osm",
    "facilities_from_place",
    "merge_facilities",
]
