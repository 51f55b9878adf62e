"""Sites a person can find: the nearest named street, the community and township, exact coordinates.

A proposed site called ``node:51401444`` at ``104.36, 31.10`` cannot be found on the ground.
This module describes every proposed site and every alternative in the terms a planner uses:
the nearest named street from the OSM data (``长江路, 35 m``), the community and township it
lies in (or is nearest to), WGS-84 coordinates to 6 decimals (about 0.1 m) and the GCJ-02
coordinates Amap and Tencent use; and says in words what an alternative's numbers mean.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from deyang_geo.core.crs import utm_crs, wgs84_to_gcj02
from deyang_geo.core.errors import NetworkError, Problem

__all__ = ["COORD_DECIMALS", "alternative_words", "describe_alternatives", "describe_points",
           "describe_sites", "named_streets"]

#: Decimals of the coordinates in site tables: 6 decimals of a degree are about 0.1 m.
COORD_DECIMALS = 6
#: A street farther than this is not named as the site's street (metres).
MAX_STREET_M = 500.0


def named_streets(network: str | os.PathLike[str] | Any) -> gpd.GeoDataFrame:
    """Return the named streets of an OSM file or a graph, as WGS-84 lines.

    Parameters
    ----------
    network
        An OSM file (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf``) or an osmnx-style graph
        whose edges carry ``name`` and ``geometry`` (in ``G.graph["crs"]``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name`` and geometry (EPSG:4326); empty when nothing is named.
    """
    if isinstance(network, (str, os.PathLike)):
        return _streets_from_osm(Path(network))
    names: list[str] = []
    geoms: list[Any] = []
    for _u, _v, data in network.edges(data=True):
        name = data.get("name")
        if isinstance(name, list):
            name = name[0] if name else None
        if name and isinstance(name, str) and data.get("geometry") is not None:
            names.append(name)
            geoms.append(data["geometry"])
    crs = network.graph.get("crs", "EPSG:4326")
    frame = gpd.GeoDataFrame({"name": names}, geometry=geoms, crs=crs)
    return frame.to_crs(4326)


def _streets_from_osm(path: Path) -> gpd.GeoDataFrame:
    import osmium


    if not path.is_file():
        raise NetworkError(Problem("the OSM file does not exist", file=str(path)))
    names: list[str] = []
    geoms: list[Any] = []
    try:
        processor = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
                     .with_locations()
                     .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                     .with_filter(osmium.filter.KeyFilter("highway")))
        for obj in processor:
            way: Any = obj
            name = way.tags.get("name")
            if not name:
                continue
            coords = [(n.location.lon, n.location.lat) for n in way.nodes
                      if n.location.valid()]
            if len(coords) >= 2:
                names.append(str(name))
                geoms.append(LineString(coords))
    except RuntimeError as exc:
        raise NetworkError(Problem(f"not an OSM file that can be read ({exc})",
                                   file=str(path))) from None
    return gpd.GeoDataFrame({"name": names}, geometry=geoms, crs=4326)


def describe_points(points: gpd.GeoDataFrame, *, streets: gpd.GeoDataFrame | None = None,
                    communities: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """Describe where each point is: street, community, township and coordinates.

    Parameters
    ----------
    points
        Points in any CRS (a frame without CRS is WGS-84).
    streets
        Named streets (:func:`named_streets`).
    communities
        Communities (``id``, ``name``, ``township``; polygons or points): the one a point lies
        in, else the nearest.

    Returns
    -------
    pandas.DataFrame
        One row per point, same index: ``street`` (nearest named street within
        :data:`MAX_STREET_M`, else empty), ``street_distance_m`` (whole metres), ``community``,
        ``township``, ``longitude``, ``latitude`` (WGS-84) and ``longitude_gcj02``,
        ``latitude_gcj02`` (Amap/Tencent), all to :data:`COORD_DECIMALS` decimals.
    """
    pts = points.set_crs(4326) if points.crs is None else points
    wgs = pts.to_crs(4326)
    geom = wgs.geometry.representative_point()
    lon = geom.x.to_numpy(float)
    lat = geom.y.to_numpy(float)
    glon, glat = wgs84_to_gcj02(lon, lat)
    out = pd.DataFrame(index=points.index)
    metric_crs = utm_crs(wgs) if len(wgs) else "EPSG:32648"
    metric = gpd.GeoSeries(geom, crs=4326).to_crs(metric_crs)
    out["street"] = ""
    out["street_distance_m"] = np.nan
    if streets is not None and len(streets) and len(points):
        lines = streets.to_crs(metric_crs)
        joined = gpd.sjoin_nearest(gpd.GeoDataFrame(geometry=metric.reset_index(drop=True)),
                                   lines[["name", "geometry"]], how="left",
                                   max_distance=MAX_STREET_M, distance_col="_d")
        joined = joined.sort_values("_d", kind="stable")
        joined = joined[~joined.index.duplicated(keep="first")].sort_index()
        names = joined["name"].reindex(range(len(points)))
        dist = joined["_d"].reindex(range(len(points)))
        out["street"] = names.fillna("").astype(str).to_numpy()
        out["street_distance_m"] = np.round(dist.to_numpy(float))
    out["community"] = ""
    out["township"] = ""
    if communities is not None and len(communities) and len(points):
        com = communities.to_crs(metric_crs) if communities.crs is not None else \
            communities.set_crs(4326).to_crs(metric_crs)
        cols = [c for c in ("name", "township") if c in com.columns]
        joined = gpd.sjoin_nearest(gpd.GeoDataFrame(geometry=metric.reset_index(drop=True)),
                                   com[[*cols, "geometry"]], how="left", distance_col="_d")
        joined = joined.sort_values("_d", kind="stable")
        joined = joined[~joined.index.duplicated(keep="first")].sort_index()
        if "name" in cols:
            out["community"] = joined["name"].reindex(range(len(points))).fillna("").astype(
                str).to_numpy()
        if "township" in cols:
            out["township"] = joined["township"].reindex(range(len(points))).fillna(
                "").astype(str).to_numpy()
    out["longitude"] = np.round(lon, COORD_DECIMALS)
    out["latitude"] = np.round(lat, COORD_DECIMALS)
    out["longitude_gcj02"] = np.round(np.asarray(glon, float), COORD_DECIMALS)
    out["latitude_gcj02"] = np.round(np.asarray(glat, float), COORD_DECIMALS)
    return out


def _place_name(name: Any, site_id: str, street: str) -> str:
    """Return a readable name: the candidate's own, else "by <street>" for network nodes."""
    text = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)
    if text and text != site_id and not text.startswith("node:"):
        return text
    if street:
        return f"{street}旁 (路网节点) / by {street} (network node)"
    return f"路网节点 {site_id.removeprefix('node:')} / network node"


def describe_sites(sites: pd.DataFrame, candidates: gpd.GeoDataFrame, *,
                   streets: gpd.GeoDataFrame | None = None,
                   communities: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """Return the sites table with names and places (see :func:`describe_points`).

    Parameters
    ----------
    sites
        A sites table with ``site_id`` (candidate ids).
    candidates
        The candidates (``id``, optional ``name``; points in any CRS).
    streets, communities
        As for :func:`describe_points`.

    Returns
    -------
    pandas.DataFrame
        ``sites`` with ``name`` (the candidate's, or "by <street> (network node)"), ``street``,
        ``street_distance_m``, ``community``, ``township`` and 6-decimal WGS-84 and GCJ-02
        coordinates (replacing any ``longitude``/``latitude``).
    """
    table = sites.drop(columns=["longitude", "latitude"], errors="ignore").copy()
    if not len(table):
        return table
    cands = candidates.set_index(candidates["id"].astype(str))
    ids = table["site_id"].astype(str)
    pts = gpd.GeoDataFrame(geometry=cands.geometry.reindex(ids).to_numpy(), crs=cands.crs)
    where = describe_points(pts, streets=streets, communities=communities)
    names = (cands["name"].reindex(ids).to_numpy() if "name" in cands.columns
             else [None] * len(ids))
    where.index = table.index
    table.insert(1, "name", [_place_name(n, s, st) for n, s, st in
                             zip(names, ids, where["street"], strict=True)])
    for i, column in enumerate(where.columns):
        table.insert(2 + i, column, where[column].to_numpy())
    return table


def alternative_words(change: float, objective_name: str) -> str:
    """Say in words what an alternative's objective change means, Chinese first.

    Parameters
    ----------
    change
        Objective if swapped minus the chosen solution's objective.
    objective_name
        The model's objective (``added_population``, ``served_population``,
        ``weighted_minutes``, ``sites``, ``cost``...).

    Returns
    -------
    str
        E.g. ``"比所选址少覆盖 1,804 人 / covers 1,804 fewer people than the chosen site"``.
    """
    if not math.isfinite(change):
        return ""
    amount = f"{abs(change):,.0f}"
    if "population" in objective_name:
        if round(change) == 0:
            return "与所选址覆盖人数相同 / covers as many people as the chosen site"
        if change < 0:
            return (f"比所选址少覆盖 {amount} 人 / covers {amount} fewer people than the "
                    "chosen site")
        return f"比所选址多覆盖 {amount} 人 / covers {amount} more people than the chosen site"
    if objective_name == "weighted_minutes":
        if round(change) == 0:
            return "总出行时间与所选址相同 / same total travel time as the chosen site"
        more = "多" if change > 0 else "少"
        en = "more" if change > 0 else "less"
        return (f"所有居民出行时间合计{more} {amount} 人·分钟 / {amount} person-minutes {en} "
                "travel in total (people x minutes) than with the chosen site")
    return f"目标值变化 {change:+,.1f} / objective ({objective_name}) changes by {change:+,.1f}"


def describe_alternatives(alternatives: pd.DataFrame, candidates: gpd.GeoDataFrame, *,
                          objective_name: str, streets: gpd.GeoDataFrame | None = None,
                          communities: gpd.GeoDataFrame | None = None,
                          site_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Return the alternatives with names, places and their numbers said in words.

    Parameters
    ----------
    alternatives
        ``site_id``, ``alternative_rank``, ``alternative_id``, ``objective_if_swapped``,
        ``objective_change``.
    candidates
        The candidates (``id``, optional ``name``; points).
    objective_name
        The model's objective (:func:`alternative_words`).
    streets, communities
        As for :func:`describe_points`.
    site_names
        Chosen site id -> its readable name.

    Returns
    -------
    pandas.DataFrame
        The alternatives with ``site_name``, ``alternative_name``, the alternative's place
        columns and ``compared_with_chosen`` (words).
    """
    table = alternatives.copy()
    if not len(table):
        table["compared_with_chosen"] = pd.Series(dtype=object)
        return table
    alt = describe_sites(pd.DataFrame({"site_id": table["alternative_id"].astype(str)}),
                         candidates, streets=streets, communities=communities)
    alt.index = table.index
    position = list(table.columns).index("alternative_id") + 1
    table.insert(position, "alternative_name", alt["name"].to_numpy())
    for i, column in enumerate(c for c in alt.columns if c not in ("site_id", "name")):
        table.insert(position + 1 + i, column, alt[column].to_numpy())
    if site_names is not None:
        table.insert(1, "site_name", [site_names.get(str(s), "") for s in table["site_id"]])
    table["compared_with_chosen"] = [
        alternative_words(float(c), objective_name) for c in table["objective_change"]]
    return table
