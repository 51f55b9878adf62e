"""Communities (points or polygons) turned into population-weighted demand units."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS

from deyang_geo.core import settings
from deyang_geo.core.errors import InputError, Problem

#: Populations and households are split in whole multiples of this fraction of a person, so
#: that the units of a community add up exactly to its total in any summation order.
_QUANTUM = 1.0 / 1024.0


def demand_units(
    communities: gpd.GeoDataFrame,
    *,
    crs: Any,
    spacing_m: float | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    max_units_per_community: int | None = None,
) -> gpd.GeoDataFrame:
    """Spread each community's population over points inside it: the demand units.

    A community given as a point stays one unit. A polygon (or multipolygon) becomes several
    population-weighted points inside it: the centroids of the ``buildings`` that fall inside it,
    weighted by a ``population`` column of the buildings when present, else by footprint area;
    without buildings (or when none falls inside), the points of a regular grid of
    ``spacing_m`` clipped to the polygon, weighted equally. A polygon too small to hold any grid
    point is represented by one point on its surface.

    The grid is anchored on the origin of ``crs`` (points at odd multiples of half the spacing),
    so the same polygon always gives the same points.

    Parameters
    ----------
    communities
        Communities with at least ``id`` and ``population`` (optional ``households``) and Point,
        Polygon or MultiPolygon geometries, in any CRS (EPSG:4326 when read by ``io``).
    crs
        The projected (metric) CRS of the units, e.g. the routing network's ``crs``.
    spacing_m
        Grid spacing in metres; ``None`` uses ``settings.demand_grid_spacing_m``.
    buildings
        Optional building footprints (polygons, or points with a ``population`` column) in any
        CRS.
    max_units_per_community
        Most grid points one community may be spread over; ``None`` uses
        ``settings.max_demand_units_per_community``. The grid is tested tile by tile, never
        over a whole bounding box, so memory stays bounded whatever the polygons.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per unit, in community order then grid (or building) order, with ``unit_id``
        (``"<community_id>#<n>"``, ``n`` from 1), ``community_id``, ``population``,
        ``households`` (floats; NaN when the communities have no ``households``; the units of a
        community add up exactly to its totals, which are split in multiples of 1/1024) and Point
        geometry in ``crs``.

    Raises
    ------
    InputError
        When columns are missing, ids are not unique, populations are negative or missing,
        geometries are empty or not points/polygons, or ``crs`` is not projected; every problem
        is reported at once. When a community would be spread over more grid points than
        ``max_units_per_community`` (naming it, its row and a suggestion).
    """
    spacing = float(settings.demand_grid_spacing_m if spacing_m is None else spacing_m)
    limit = int(settings.max_demand_units_per_community if max_units_per_community is None
                else max_units_per_community)
    target_crs = _check_inputs(communities, crs=crs, spacing_m=spacing, buildings=buildings)

    projected = communities.to_crs(target_crs)
    geoms = np.asarray(projected.geometry.array, dtype=object)
    ids = projected["id"].astype(str).to_numpy()
    population = _floats(projected["population"])
    has_households = "households" in projected.columns
    households = (
        _floats(projected["households"])
        if has_households
        else np.full(len(projected), np.nan)
    )
    type_ids = shapely.get_type_id(geoms)
    is_area = np.isin(type_ids, (3, 6))  # Polygon, MultiPolygon

    # Each source gives (community index, x, y, weight) arrays; concatenated at the end.
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                      npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
    point_idx = np.flatnonzero(~is_area)
    parts.append((point_idx, shapely.get_x(geoms[point_idx]), shapely.get_y(geoms[point_idx]),
                  np.ones(len(point_idx))))

    area_idx = np.flatnonzero(is_area)
    remaining = area_idx
    if buildings is not None and len(area_idx):
        b_comm, b_x, b_y, b_w = _building_points(buildings, geoms[area_idx], target_crs)
        b_comm = area_idx[b_comm]
        parts.append((b_comm, b_x, b_y, b_w))
        remaining = np.setdiff1d(area_idx, b_comm)
    if len(remaining):
        g_comm, g_x, g_y = _grid_points(geoms[remaining], spacing,
                                        ids=ids[remaining].astype(object),
                                        rows=remaining.astype(np.int64) + 1,
                                        max_units=limit)
        g_comm = remaining[g_comm]
        empty = np.setdiff1d(remaining, g_comm)
        rep = shapely.point_on_surface(geoms[empty])
        parts.append((g_comm, g_x, g_y, np.ones(len(g_comm))))
        parts.append((empty, shapely.get_x(rep), shapely.get_y(rep), np.ones(len(empty))))

    comm = np.concatenate([p[0] for p in parts]).astype(np.int64)
    x = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    weight = np.concatenate([p[3] for p in parts])
    order = np.argsort(comm, kind="stable")
    comm, x, y, weight = comm[order], x[order], y[order], weight[order]

    n_units = np.bincount(comm, minlength=len(projected))
    starts = np.cumsum(n_units) - n_units
    rank = np.arange(len(comm)) - starts[comm] + 1

    unit_population = _split_exactly(population, comm, weight)
    unit_households = (
        _split_exactly(households, comm, weight) if has_households else np.full(len(comm), np.nan)
    )
    unit_ids = np.char.add(np.char.add(ids[comm].astype(str), "#"), rank.astype(str))
    return gpd.GeoDataFrame(
        {
            "unit_id": unit_ids.tolist(),
            "community_id": ids[comm].tolist(),
            "population": unit_population,
            "households": unit_households,
        },
        geometry=shapely.points(x, y),
        crs=target_crs,
    )


def _check_inputs(communities: gpd.GeoDataFrame, *, crs: Any, spacing_m: float,
                  buildings: gpd.GeoDataFrame | None) -> CRS:
    problems: list[Problem] = []
    try:
        target_crs = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises its own error types
        msg = f"crs {crs!r} is not a coordinate reference system: {exc}"
        raise InputError(msg) from None
    if not target_crs.is_projected:
        problems.append(Problem(f"crs must be a projected (metric) CRS, got {target_crs.name}"))
    if not np.isfinite(spacing_m) or spacing_m <= 0:
        problems.append(Problem(f"spacing_m must be a positive number of metres, got {spacing_m}"))
    if communities.crs is None:
        problems.append(Problem("the communities have no CRS"))
    if buildings is not None and buildings.crs is None:
        problems.append(Problem("the buildings have no CRS"))
    problems.extend(
        Problem(f"the communities have no {col!r} column", column=col)
        for col in ("id", "population")
        if col not in communities.columns
    )
    if problems:
        raise InputError(problems)

    ids = communities["id"].astype(str)
    problems.extend(
        Problem(f"community id {ids.iloc[row]!r} is used more than once", row=int(row) + 1,
                column="id")
        for row in np.flatnonzero(ids.duplicated(keep="first").to_numpy())
    )
    for col in ("population", "households"):
        if col not in communities.columns:
            continue
        values = _floats(communities[col])
        # households may be missing (its units get NaN), the population may not
        bad = (values < 0) | np.isinf(values)
        if col == "population":
            bad |= np.isnan(values)
        problems.extend(
            Problem(f"{col} must be a number >= 0, got {communities[col].iloc[row]!r}",
                    row=int(row) + 1, column=col)
            for row in np.flatnonzero(bad)
        )
    geoms = np.asarray(communities.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    problems.extend(
        Problem("the community has no geometry", row=int(row) + 1, column="geometry")
        for row in np.flatnonzero(missing)
    )
    type_ids = shapely.get_type_id(geoms)
    problems.extend(
        Problem(f"the community is a {geoms[row].geom_type}, expected a point or a polygon",
                row=int(row) + 1, column="geometry")
        for row in np.flatnonzero(~missing & ~np.isin(type_ids, (0, 3, 6)))
    )
    if problems:
        raise InputError(problems)
    return target_crs


def _floats(values: pd.Series) -> npt.NDArray[np.float64]:
    """Return ``values`` as floats, NaN where missing or not a number."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


#: Lattice points tested against polygons at once: memory stays bounded (a few tens of MB)
#: however large a polygon's bounding box is.
_TILE_POINTS = 1 << 20


def _check_unit_counts(counts: npt.NDArray[np.float64], *, ids: npt.NDArray[np.object_],
                       rows: npt.NDArray[np.int64], spacing_m: float, max_units: int,
                       estimated: bool) -> None:
    """Refuse communities spread over more than ``max_units`` demand units, naming each."""
    problems = []
    for k in np.flatnonzero(counts > (2 * max_units if estimated else max_units)):
        about = "about " if estimated else ""
        area_km2 = counts[k] * spacing_m * spacing_m / 1e6
        problems.append(Problem(
            f"community {ids[k]!r} would be spread over {about}{counts[k]:,.0f} demand units "
            f"(a {spacing_m:g} m grid over {area_km2:,.0f} km2), more than "
            f"settings.max_demand_units_per_community ({max_units:,}): check its coordinates "
            "(a typo can make a polygon the size of a province), or raise the grid spacing "
            "(demand_grid_spacing_m)", row=int(rows[k]), column="geometry"))
    if problems:
        raise InputError(problems)


def _grid_points(
    polygons: npt.NDArray[np.object_], spacing_m: float, *,
    ids: npt.NDArray[np.object_] | None = None,
    rows: npt.NDArray[np.int64] | None = None,
    max_units: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return (polygon index, x, y) of the lattice points inside each polygon.

    The lattice is never materialised over a whole bounding box: polygons are tested in tiles
    of at most ``_TILE_POINTS`` points (small polygons together, a large one band by band), and
    a polygon that would hold more than ``max_units`` points is refused before (by its area)
    or while its points are generated.
    """
    n = len(polygons)
    ids = np.asarray([str(i) for i in range(n)], dtype=object) if ids is None else ids
    rows = np.arange(1, n + 1, dtype=np.int64) if rows is None else rows
    if max_units is not None:
        # refused at once when plainly too large (by area), else counted exactly below
        _check_unit_counts(shapely.area(polygons) / (spacing_m * spacing_m), ids=ids,
                           rows=rows, spacing_m=spacing_m, max_units=max_units,
                           estimated=True)
    bounds = shapely.bounds(polygons)
    half = spacing_m / 2.0
    # lattice x = (i + 0.5) * spacing; first and last i whose point lies in the bounding box
    i0 = np.ceil((bounds[:, 0] - half) / spacing_m).astype(np.int64)
    i1 = np.floor((bounds[:, 2] - half) / spacing_m).astype(np.int64)
    j0 = np.ceil((bounds[:, 1] - half) / spacing_m).astype(np.int64)
    j1 = np.floor((bounds[:, 3] - half) / spacing_m).astype(np.int64)
    nx = np.maximum(i1 - i0 + 1, 0)
    ny = np.maximum(j1 - j0 + 1, 0)
    counts = nx.astype(np.float64) * ny
    prepared = shapely.from_wkb(shapely.to_wkb(polygons))  # private copies to prepare
    shapely.prepare(prepared)

    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                      npt.NDArray[np.float64]]] = []
    found = np.zeros(n)

    def add(part: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64],
                        npt.NDArray[np.float64]]) -> None:
        parts.append(part)
        found[:] += np.bincount(part[0], minlength=n)
        if max_units is not None and (found > max_units).any():
            _check_unit_counts(found, ids=ids, rows=rows, spacing_m=spacing_m,
                               max_units=max_units, estimated=False)

    batch: list[int] = []
    batch_points = 0.0
    for k in range(n):
        if counts[k] > _TILE_POINTS:
            if batch:
                add(_lattice(prepared, np.array(batch), i0=i0, nx=nx, j0=j0, ny=ny,
                             spacing_m=spacing_m))
                batch, batch_points = [], 0.0
            for part in _lattice_bands(prepared, k, i0=int(i0[k]), nx=int(nx[k]), j0=int(j0[k]),
                                       ny=int(ny[k]), spacing_m=spacing_m):
                add(part)
            continue
        if batch_points + counts[k] > _TILE_POINTS and batch:
            add(_lattice(prepared, np.array(batch), i0=i0, nx=nx, j0=j0, ny=ny,
                             spacing_m=spacing_m))
            batch, batch_points = [], 0.0
        batch.append(k)
        batch_points += counts[k]
    if batch:
        add(_lattice(prepared, np.array(batch), i0=i0, nx=nx, j0=j0, ny=ny,
                             spacing_m=spacing_m))
    if not parts:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty
    return (np.concatenate([p[0] for p in parts]).astype(np.int64),
            np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))


def _lattice(
    prepared: npt.NDArray[np.object_], which: npt.NDArray[np.int64], *,
    i0: npt.NDArray[np.int64], nx: npt.NDArray[np.int64],
    j0: npt.NDArray[np.int64], ny: npt.NDArray[np.int64], spacing_m: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Lattice points inside the polygons ``which`` (whole bounding boxes, a bounded number)."""
    counts = nx[which] * ny[which]
    local = np.repeat(np.arange(len(which)), counts)
    poly = which[local]
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    # row-major from the south-west corner: j (northing) slow, i (easting) fast
    width = np.maximum(nx[poly], 1)
    x = (i0[poly] + offset % width + 0.5) * spacing_m
    y = (j0[poly] + offset // width + 0.5) * spacing_m
    inside = shapely.contains_xy(prepared[poly], x, y)
    return poly[inside].astype(np.int64), x[inside], y[inside]


def _lattice_bands(
    prepared: npt.NDArray[np.object_], k: int, *, i0: int, nx: int, j0: int, ny: int,
    spacing_m: float,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Lattice points inside one large polygon, band by band in row-major order."""
    geom = prepared[k]
    if nx <= _TILE_POINTS:
        step = max(1, _TILE_POINTS // nx)
        for start in range(0, ny, step):
            rows = min(step, ny - start)
            offset = np.arange(rows * nx)
            x = ((i0 + offset % nx + 0.5) * spacing_m).astype(np.float64)
            y = ((j0 + start + offset // nx + 0.5) * spacing_m).astype(np.float64)
            inside = shapely.contains_xy(geom, x, y)
            yield np.full(int(inside.sum()), k, dtype=np.int64), x[inside], y[inside]
        return
    for j in range(ny):  # absurdly wide: one row at a time, in column chunks
        for start in range(0, nx, _TILE_POINTS):
            cols = np.arange(start, min(start + _TILE_POINTS, nx))
            x = ((i0 + cols + 0.5) * spacing_m).astype(np.float64)
            y = np.full(len(cols), (j0 + j + 0.5) * spacing_m, dtype=np.float64)
            inside = shapely.contains_xy(geom, x, y)
            yield np.full(int(inside.sum()), k, dtype=np.int64), x[inside], y[inside]


def _building_points(
    buildings: gpd.GeoDataFrame, polygons: npt.NDArray[np.object_], crs: CRS,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64],
           npt.NDArray[np.float64]]:
    """Return (polygon index, x, y, weight) of the building centroids inside each polygon."""
    projected = buildings.to_crs(crs)
    b_geoms = np.asarray(projected.geometry.array, dtype=object)
    keep = ~(shapely.is_missing(b_geoms) | shapely.is_empty(b_geoms))
    if "population" in projected.columns:
        weight = _floats(projected["population"])
    else:
        weight = shapely.area(b_geoms)
    weight = np.where(np.isfinite(weight) & (weight > 0), weight, 0.0)
    b_geoms, weight = b_geoms[keep], weight[keep]
    centroids = shapely.centroid(b_geoms)
    tree = shapely.STRtree(polygons)
    b_idx, p_idx = tree.query(centroids, predicate="intersects")
    order = np.lexsort((b_idx, p_idx))
    b_idx, p_idx = b_idx[order], p_idx[order]
    w = weight[b_idx]
    # a community whose buildings all weigh nothing weighs them equally
    totals = np.bincount(p_idx, weights=w, minlength=len(polygons))
    w = np.where(totals[p_idx] > 0, w, 1.0)
    return (p_idx.astype(np.int64), shapely.get_x(centroids[b_idx]),
            shapely.get_y(centroids[b_idx]), w)


def _split_exactly(
    totals: npt.NDArray[np.float64], group: npt.NDArray[np.int64], weight: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Split ``totals[g]`` over the rows of group ``g`` in proportion to ``weight``.

    Shares are whole multiples of ``_QUANTUM`` given by the largest-remainder method (ties to
    the earlier row), so each group adds up exactly to its total whatever the summation order.
    """
    quanta = np.round(totals / _QUANTUM)
    group_weight = np.bincount(group, weights=weight, minlength=len(totals))
    raw = quanta[group] * weight / group_weight[group]
    base = np.floor(raw)
    remainder = raw - base
    missing = quanta - np.bincount(group, weights=base, minlength=len(totals))
    order = np.lexsort((np.arange(len(group)), -remainder, group))
    sorted_group = group[order]
    first = np.searchsorted(sorted_group, sorted_group, side="left")
    rank_in_group = np.arange(len(order)) - first
    extra = np.zeros(len(group))
    extra[order] = rank_in_group < missing[sorted_group]
    return (base + extra) * _QUANTUM


__all__ = ["demand_units"]
