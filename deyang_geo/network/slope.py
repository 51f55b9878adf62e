"""Slope-aware walking times from a digital elevation model (Tobler's hiking function)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import pyproj
from numpy.typing import NDArray

from deyang_geo.core.errors import NetworkError, Problem
from deyang_geo.network.rules import MODE_KIND

log = logging.getLogger("deyang_geo")

__all__ = [
    "add_slope_walk_times",
    "tobler_factor",
]

DemTransform = Sequence[float] | Any


# --------------------------------------------------------------------------- slope
def tobler_factor(grade: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Tobler's hiking function relative to flat ground: 1 at grade 0, < 1 uphill.

    ``exp(-3.5 |g + 0.05|) / exp(-3.5 * 0.05)``: the ratio of Tobler's speed on grade ``g``
    (rise over run, signed in the direction of travel) to his speed on the flat, so that flat
    ground keeps each mode's own walking speed. Gentle descents (peak at ``g = -0.05``) are
    slightly faster than the flat.

    Parameters
    ----------
    grade
        Rise over run (0.1 is 10 %), positive uphill.

    Returns
    -------
    numpy.ndarray
        The speed factor.
    """
    g = np.asarray(grade, dtype=np.float64)
    return np.asarray(np.exp(-3.5 * np.abs(g + 0.05)) / np.exp(-3.5 * 0.05), dtype=np.float64)


def _sample_dem(dem: Any, transform: DemTransform | None, dem_crs: str | None,
                G: nx.MultiDiGraph, ids: list[Any]) -> NDArray[np.float64]:
    """Bilinear DEM elevations at the nodes (NaN outside the raster or on no-data)."""
    x = np.fromiter((G.nodes[n]["x"] for n in ids), dtype=np.float64, count=len(ids))
    y = np.fromiter((G.nodes[n]["y"] for n in ids), dtype=np.float64, count=len(ids))
    nodata: float | None = None
    if isinstance(dem, (str, os.PathLike)):
        try:
            import rasterio
        except ImportError as exc:  # pragma: no cover - depends on the installation
            msg = ("reading a DEM raster needs rasterio: pip install 'deyang-geo[dem]'")
            raise ImportError(msg) from exc
        try:
            with rasterio.open(dem) as src:
                array = src.read(1).astype(np.float64)
                affine = tuple(src.transform)[:6]
                raster_crs = src.crs.to_string() if src.crs is not None else None
                nodata = src.nodata
        except rasterio.errors.RasterioIOError as exc:
            raise NetworkError(Problem(f"cannot read the DEM ({exc})", file=str(dem))) from None
    else:
        array = np.asarray(dem, dtype=np.float64)
        if transform is None:
            msg = "an in-memory DEM needs its affine transform (a, b, c, d, e, f)"
            raise NetworkError(msg)
        affine = tuple(float(t) for t in tuple(transform)[:6])
        raster_crs = dem_crs
    if array.ndim != 2:
        msg = f"the DEM must be a 2-D array, got shape {array.shape}"
        raise NetworkError(msg)
    if raster_crs is not None and pyproj.CRS.from_user_input(raster_crs) != \
            pyproj.CRS.from_user_input(G.graph["crs"]):
        tr = pyproj.Transformer.from_crs(G.graph["crs"], raster_crs, always_xy=True)
        x, y = (np.asarray(t, dtype=np.float64) for t in tr.transform(x, y))
    a, b, c, d, e, f = affine
    det = a * e - b * d
    col = (e * (x - c) - b * (y - f)) / det - 0.5
    row = (-d * (x - c) + a * (y - f)) / det - 0.5
    if nodata is not None:
        array = np.where(array == nodata, np.nan, array)
    h, w = array.shape
    c0 = np.floor(col).astype(np.int64)
    r0 = np.floor(row).astype(np.int64)
    fc = col - c0
    fr = row - r0
    c0c, c1c = np.clip(c0, 0, w - 1), np.clip(c0 + 1, 0, w - 1)
    r0c, r1c = np.clip(r0, 0, h - 1), np.clip(r0 + 1, 0, h - 1)
    z = (array[r0c, c0c] * (1 - fc) * (1 - fr) + array[r0c, c1c] * fc * (1 - fr)
         + array[r1c, c0c] * (1 - fc) * fr + array[r1c, c1c] * fc * fr)
    outside = (col < -0.5) | (row < -0.5) | (col > w - 0.5) | (row > h - 0.5)
    z[outside] = np.nan
    return np.asarray(z, dtype=np.float64)


def add_slope_walk_times(
    G: nx.MultiDiGraph,
    dem: str | os.PathLike[str] | NDArray[np.float64],
    *,
    modes: Sequence[str] = ("walk", "walk_elderly"),
    transform: DemTransform | None = None,
    dem_crs: str | None = None,
) -> nx.MultiDiGraph:
    """Return a copy of ``G`` whose walking times follow the slope (Tobler's hiking function).

    Node elevations are sampled from the DEM (bilinear); each edge's grade is the elevation
    difference from u to v over its length; its walking time becomes
    ``length / (speed * tobler_factor(grade))``, so flat ground keeps exactly the mode's speed,
    uphill is slower and the two directions of a sloping street differ.

    Parameters
    ----------
    G
        A road network graph (not modified).
    dem
        A raster file (rasterio, the ``dem`` extra) or a 2-D array of elevations in metres.
    modes
        Walking modes to adjust; each must be in ``G.graph["modes"]``.
    transform
        For an array: its affine transform ``(a, b, c, d, e, f)`` (rasterio / affine order:
        ``x = a*col + b*row + c``, ``y = d*col + e*row + f``).
    dem_crs
        For an array: its CRS; default the graph's CRS.

    Returns
    -------
    networkx.MultiDiGraph
        The copy, with node ``elevation``, edge ``grade`` and adjusted ``travel_time_{mode}``;
        edges touching a node without elevation keep their flat time (logged).

    Raises
    ------
    NetworkError
        If a mode is not a walking mode of the graph or the DEM is unusable.
    """
    have = tuple(G.graph.get("modes", ()))
    bad = [m for m in modes if MODE_KIND.get(m) != "walk" or m not in have]
    if bad:
        msg = (f"slope-aware times apply to walking modes the graph has ({', '.join(have)}); "
               f"cannot use {', '.join(bad)}")
        raise NetworkError(msg)
    speeds = G.graph.get("speeds_kmh", {})
    H = G.copy()
    ids = list(H.nodes)
    z = _sample_dem(dem, transform, dem_crs, H, ids)
    for n, zz in zip(ids, z.tolist(), strict=True):
        H.nodes[n]["elevation"] = zz
    pos = {n: i for i, n in enumerate(ids)}
    edges = list(H.edges(keys=True, data=True))
    m = len(edges)
    iu = np.fromiter((pos[e[0]] for e in edges), dtype=np.int64, count=m)
    iv = np.fromiter((pos[e[1]] for e in edges), dtype=np.int64, count=m)
    length = np.fromiter((d["length"] for *_, d in edges), dtype=np.float64, count=m)
    grade = (z[iv] - z[iu]) / length
    known = np.isfinite(grade)
    if not known.all():
        log.warning("%d edges touch nodes outside the DEM or on no-data: kept flat times",
                    int((~known).sum()))
    factor = np.where(known, tobler_factor(np.where(known, grade, 0.0)), 1.0)
    for mode in modes:
        attr = f"travel_time_{mode}"
        speed_ms = float(speeds[mode]) / 3.6
        seconds = length / (speed_ms * factor)
        for (_, _, _, d), s in zip(edges, seconds.tolist(), strict=True):
            if attr in d:
                d[attr] = s
    for (_, _, _, d), g, ok in zip(edges, grade.tolist(), known.tolist(), strict=True):
        if ok:
            d["grade"] = round(g, 6)
            d["grade_abs"] = round(abs(g), 6)
    H.graph["slope"] = "Tobler hiking function, normalised to each walking mode's flat speed"
    return H

