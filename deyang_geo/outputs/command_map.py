"""One map builder for every command: the same kind of map with whatever layers a result has.

``access``, ``isochrones``, ``suggest-sites``, ``compliance`` and ``run`` all call
:func:`command_map`: roads from the routing network, an offline background drawn from the
study's own OSM file (water, rail, main roads, built-up areas), division boundaries, and the
command's own layers (isochrones, coverage, communities outside reach, existing facilities,
proposed sites), on the base map the user chose (``--basemap`` / ``[output] basemap``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from deyang_geo.analysis.isochrones import isochrones
from deyang_geo.core.errors import InputError
from deyang_geo.core.style import BASEMAPS, TIANDITU_ENV
from deyang_geo.network.background import background_from_edges, background_from_osm
from deyang_geo.network.osm_file import is_osm_path
from deyang_geo.outputs import webmap

if TYPE_CHECKING:
    import folium

    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.core.style import Basemap, Lang

log = logging.getLogger("deyang_geo")

__all__ = ["BASEMAPS", "TIANDITU_ENV", "command_map", "map_isochrones", "network_roads",
           "offline_background", "resolve_tianditu_key", "write_command_map"]



def resolve_tianditu_key(basemap: str, key: str | None, *, option: str = "--tianditu-key"
                         ) -> str | None:
    """Return the Tianditu key a map may use: only when the Tianditu base map was chosen.

    The key comes from ``key`` (the command line) or the ``TIANDITU_KEY`` environment
    variable; it is passed on only for ``basemap == "tianditu"``, so it never reaches an output
    the user did not ask to carry it.

    Parameters
    ----------
    basemap
        The chosen base map.
    key
        The key given on the command line (``None``: read the environment).
    option
        How the user gives the key, for the message.

    Returns
    -------
    str or None
        The key, or ``None`` for other base maps.

    Raises
    ------
    InputError
        If the Tianditu base map was chosen without a key, or the key is malformed.
    """
    if basemap not in BASEMAPS:
        msg = f"--basemap must be one of {', '.join(BASEMAPS)}, got {basemap!r}"
        raise InputError(msg)
    if basemap != "tianditu":
        return None
    value = key if key else os.environ.get(TIANDITU_ENV, "")
    value = value.strip()
    if not value:
        msg = (f"--basemap tianditu needs a Tianditu key: give {option} KEY or set the "
               f"{TIANDITU_ENV} environment variable (free at console.tianditu.gov.cn)")
        raise InputError(msg)
    if not value.isascii() or not value.isalnum():
        msg = f"the Tianditu key ({option} or {TIANDITU_ENV}) must be letters and digits only"
        raise InputError(msg)
    return value


def network_roads(net: RoutingNetwork, *, mode: str) -> gpd.GeoDataFrame:
    """Return the network's edges the mode may use, as lines (the map's road layer).

    Parameters
    ----------
    net
        The routing network.
    mode
        The travel mode analysed.

    Returns
    -------
    geopandas.GeoDataFrame
        ``edge``, ``length_m`` and geometry in the network's CRS.
    """
    edges = net.edges_gdf()
    column = f"{mode}_s"
    if column in edges.columns:
        edges = edges.loc[np.isfinite(edges[column].to_numpy(float))]
    return edges[["edge", "length_m", "geometry"]]


def offline_background(network_path: str | os.PathLike[str] | None,
                       roads: gpd.GeoDataFrame | None = None, *,
                       clip: Any = None) -> gpd.GeoDataFrame | None:
    """Return the background drawn from the study's data (no tiles needed).

    Parameters
    ----------
    network_path
        The network file the study routes on: from an OSM file, its water, rail, main roads
        and built-up areas; from a saved graph, built-up areas around ``roads``.
    roads
        The network's edges, used when there is no OSM file.
    clip
        A WGS-84 polygon the background of an OSM file is limited to (None: all of it).

    Returns
    -------
    geopandas.GeoDataFrame or None
        The background layer (see :mod:`deyang_geo.network.background`), or ``None`` when nothing
        can be drawn.
    """
    if network_path is not None and is_osm_path(network_path) and Path(network_path).is_file():
        return background_from_osm(network_path, clip=clip)
    if roads is not None and len(roads):
        return background_from_edges(roads)
    return None


def map_isochrones(net: RoutingNetwork, facilities: gpd.GeoDataFrame, *, mode: str,
                   walk_speed_kmh: float | None = None,
                   breaks_minutes: Sequence[float] | None = None) -> gpd.GeoDataFrame | None:
    """Isochrones per category for a map (``None`` without facilities).

    Parameters
    ----------
    net
        The routing network.
    facilities
        Facilities with ``id``, ``category`` and points.
    mode
        Travel mode.
    walk_speed_kmh
        Walking speed (``None``: the setting).
    breaks_minutes
        Time breaks (``None``: ``settings.isochrone_breaks_minutes``).

    Returns
    -------
    geopandas.GeoDataFrame or None
        The nested service areas per category and break.
    """
    if facilities is None or not len(facilities):
        return None
    return isochrones(net, facilities, mode=mode, breaks_minutes=breaks_minutes,
                      dissolve_by="category", walk_speed_kmh=walk_speed_kmh)


def _synthetic(*frames: Any) -> bool:
    for frame in frames:
        if (isinstance(frame, pd.DataFrame) and "synthetic" in frame.columns
                and bool(frame["synthetic"].fillna(False).astype(bool).any())):
            return True
    return False


def command_map(
    *,
    title: str,
    scenario: str | None = None,
    net: RoutingNetwork | None = None,
    mode: str = "walk",
    network_path: str | os.PathLike[str] | None = None,
    roads: gpd.GeoDataFrame | None = None,
    background: gpd.GeoDataFrame | None = None,
    divisions: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    coverage: pd.DataFrame | None = None,
    outside: gpd.GeoDataFrame | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    context: gpd.GeoDataFrame | None = None,
    synthetic: bool | None = None,
    lang: str = "both",
    basemap: str = "osm",
    tianditu_key: str | None = None,
    catalog: Any = None,
    categories: Sequence[str] | None = None,
) -> folium.Map:
    """Draw a command's results on the common map.

    Parameters
    ----------
    title, scenario
        The title bar's text.
    net
        The routing network: its edges the mode may use are the road layer (unless ``roads``).
    mode
        The travel mode analysed.
    network_path
        The network file (an OSM file gives the offline background; unless ``background``).
    roads, background
        The road and background layers, when already at hand.
    divisions, communities, facilities, coverage, outside, isochrones, sites, context
        The result's layers, as for :func:`deyang_geo.outputs.webmap.study_map`; absent ones are not
        drawn.
    synthetic
        Label the map synthetic (``None``: when any input has a true ``synthetic`` column).
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    basemap
        ``"osm"``, ``"light"``, ``"tianditu"``, ``"amap"`` or ``"none"``.
    tianditu_key
        The key for ``basemap="tianditu"`` (see :func:`resolve_tianditu_key`).
    catalog
        A standards catalog for category names.
    categories
        The categories analysed, the first shown first (default: those in the results).

    Returns
    -------
    folium.Map
        The map; write it with :func:`deyang_geo.outputs.webmap.save_map`.
    """
    key = resolve_tianditu_key(basemap, tianditu_key)
    if roads is None and net is not None:
        roads = network_roads(net, mode=mode)
    if background is None:
        background = offline_background(network_path, roads)
    if synthetic is None:
        synthetic = _synthetic(communities, facilities, sites)
    return webmap.study_map(
        title=title, scenario=scenario, divisions=divisions, communities=communities,
        facilities=facilities, network_edges=roads, isochrones=isochrones, coverage=coverage,
        outside=outside, sites=sites, context=context, background=background,
        synthetic=synthetic, lang=cast("Lang", lang), basemap=cast("Basemap", basemap),
        tianditu_key=key, catalog=catalog, categories=categories,
    )


def write_command_map(path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Build the map with :func:`command_map` and write it atomically.

    Parameters
    ----------
    path
        The ``.html`` file.
    **kwargs
        The options of :func:`command_map`.

    Returns
    -------
    Path
        The written file.
    """
    return webmap.save_map(command_map(**kwargs), path)
