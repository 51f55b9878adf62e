"""Demand units from a population raster (GeoTIFF, any CRS): cells, coarser grids, buildings.

Planners often have no population per community, or only totals per township. A population
raster (WorldPop, GHS-POP, a census grid) gives where people live: every cell with people
becomes a demand unit, cells can be summed into a coarser metric grid, the people of a cell
can be spread over the building footprints inside it (dasymetric), and the result can be
rescaled so that each township or community adds up to a known total. Age groups (60+ and
children) come from a second raster or a share.

The raster is read strip by strip and only cells with people are kept, so a 10 m raster of a
whole county (25 million cells, most empty) needs memory for one strip and the populated
cells, never for a dense grid in the target CRS.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from deyang_geo.core.errors import InputError, InputWarning, Problem
from deyang_geo.io.tables import read_table

__all__ = [
    "AGE_SHARE_COLUMNS",
    "RasterCells",
    "RasterDemand",
    "age_groups_from_shares",
    "demand_from_raster",
    "raster_cells",
    "read_buildings",
    "read_population_totals",
]

#: Unit column of an age group -> the community column giving its share (0-1).
AGE_SHARE_COLUMNS: dict[str, str] = {
    "population_elderly": "elderly_share",
    "population_children": "children_share",
}

#: Rows of the raster read at a time (bounds the memory of one read).
_STRIP_ROWS = 512

#: Column names accepted in a totals table (canonical name first).
_TOTALS_KEYS: dict[str, tuple[str, ...]] = {
    "township": ("township", "街道", "乡镇", "街道(乡镇)", "街道乡镇", "镇街"),
    "community_id": ("community_id", "id", "社区编码", "村社区编码", "编码"),
}
_TOTALS_VALUE = ("population", "人口", "常住人口", "户籍人口", "total", "总人口")


@dataclass(frozen=True, eq=False)
class RasterCells:
    """The cells of a raster that hold people, as points in a projected CRS.

    Attributes
    ----------
    x, y
        Cell centres in ``crs`` (metres).
    population
        People per cell (> 0).
    crs
        The projected CRS of ``x``, ``y``.
    raster_crs
        The raster's own CRS (as WKT or ``EPSG:<code>``).
    resolution_m
        The raster's cell size in metres (measured in ``crs`` at the raster's centre).
    n_cells
        Cells of the raster, empty ones included.
    path
        The file read.
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    population: NDArray[np.float64]
    crs: CRS
    raster_crs: str
    resolution_m: float
    n_cells: int
    path: str


@dataclass(frozen=True, eq=False)
class RasterDemand:
    """Demand units built from a population raster, with where the numbers came from.

    Attributes
    ----------
    units
        One row per unit: ``unit_id`` (``"<community_id>#r<n>"``), ``community_id``,
        ``township``, ``population``, ``population_elderly``, ``population_children``,
        ``households`` (NaN), Point geometry in the projected CRS.
    communities
        The communities given, with ``population`` replaced by the people of their units
        (rounded to whole people), ``population_source = "raster"`` and
        ``population_raster_units`` (units from the raster; 1 or 2 means its population rests
        on very few cells, the case where coarse rasters mislead).
    resolution_m
        The raster's cell size in metres.
    cell_size_m
        The grid the cells were summed into, or None (one unit per cell or building).
    raster
        File name of the raster.
    rescaled_by
        ``"township"``, ``"community_id"`` or None (no totals given).
    dasymetric
        Whether people were spread over building footprints.
    age_source
        How the age groups were obtained (``"raster"``, ``"share 0.18"``, ``"none"``).
    """

    units: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    resolution_m: float
    cell_size_m: float | None
    raster: str
    rescaled_by: str | None = None
    dasymetric: bool = False
    age_source: dict[str, str] = field(default_factory=dict)

    def note(self) -> str:
        """Return the bilingual sentence every output carries about this population."""
        grid = (f", summed into {self.cell_size_m:g} m cells / 汇总为{self.cell_size_m:g}米网格"
                if self.cell_size_m else "")
        extra = []
        if self.dasymetric:
            extra.append("spread over building footprints / 按建筑轮廓分配")
        if self.rescaled_by:
            extra.append(f"rescaled to known totals per {self.rescaled_by} / 按已知总数校正")
        tail = ("; " + "; ".join(extra)) if extra else ""
        return (
            f"人口来自人口栅格 {self.raster}（分辨率约{self.resolution_m:.0f}米）{tail}。"
            f"粗分辨率栅格对小社区的人口估计可能有误导。 "
            f"Population from the raster {self.raster} (about {self.resolution_m:.0f} m "
            f"resolution{grid}){tail}. Coarse rasters mislead for small communities."
        )

    def provenance(self) -> dict[str, str]:
        """Return the key-value provenance written beside results."""
        return {
            "population_source": "raster",
            "population_raster": self.raster,
            "raster_resolution_m": f"{self.resolution_m:.1f}",
            "raster_cell_size_m": "" if self.cell_size_m is None else f"{self.cell_size_m:g}",
            "population_rescaled_by": self.rescaled_by or "",
            "population_dasymetric": "yes" if self.dasymetric else "no",
            "population_note": self.note(),
        }


# ---------------------------------------------------------------------- reading cells
def raster_cells(path: str | os.PathLike[str], *, crs: Any, band: int = 1) -> RasterCells:
    """Read the cells of a population raster that hold people, as points in ``crs``.

    Cells equal to the raster's nodata value, NaN, negative or zero are left out. The raster
    is read ``_STRIP_ROWS`` rows at a time.

    Parameters
    ----------
    path
        A GeoTIFF (or any raster GDAL reads) of people per cell, in any CRS.
    crs
        The projected (metric) CRS of the points, e.g. the routing network's ``crs``.
    band
        The band holding the people (1-based).

    Returns
    -------
    RasterCells
        Populated cell centres in row-major order of the raster.

    Raises
    ------
    InputError
        Missing or unreadable file, raster without CRS, ``crs`` not projected.
    ImportError
        When rasterio is not installed.
    """
    try:
        import rasterio
        from rasterio.windows import Window
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = "reading population rasters needs rasterio: pip install 'deyang-geo[dem]'"
        raise ImportError(msg) from exc

    target = _projected(crs)
    file = Path(path)
    if not file.is_file():
        raise InputError(Problem("the population raster does not exist", file=str(file)))
    try:
        ds_ctx = rasterio.open(file)
    except Exception as exc:  # rasterio raises its own error types
        raise InputError(Problem(f"cannot read the population raster: {exc}",
                                 file=str(file))) from None
    with ds_ctx as ds:
        if ds.crs is None:
            raise InputError(Problem("the population raster has no coordinate reference "
                                     "system", file=str(file)))
        if not 1 <= band <= ds.count:
            raise InputError(Problem(f"the raster has {ds.count} band(s), band {band} asked",
                                     file=str(file)))
        src_crs = CRS.from_user_input(ds.crs.to_wkt())
        t = ds.transform
        nodata = ds.nodata
        height, width = ds.height, ds.width
        xs: list[NDArray[np.float64]] = []
        ys: list[NDArray[np.float64]] = []
        pops: list[NDArray[np.float64]] = []
        for r0 in range(0, height, _STRIP_ROWS):
            h = min(_STRIP_ROWS, height - r0)
            data = ds.read(band, window=Window(0, r0, width, h))
            ok = data > 0  # NaN compares False
            if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
                ok &= data != nodata
            rows, cols = np.nonzero(ok)
            if rows.size == 0:
                continue
            pops.append(data[rows, cols].astype(np.float64))
            cc = cols.astype(np.float64) + 0.5
            rr = rows.astype(np.float64) + r0 + 0.5
            xs.append(t.a * cc + t.b * rr + t.c)
            ys.append(t.d * cc + t.e * rr + t.f)
        cx, cy = _affine(t, width / 2.0, height / 2.0)
        res = (t.a, t.e)
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    population = np.concatenate(pops) if pops else np.zeros(0)
    to_target = Transformer.from_crs(src_crs, target, always_xy=True)
    if x.size:
        x, y = (np.asarray(v, dtype=np.float64) for v in to_target.transform(x, y))
    ex, ey = to_target.transform(np.array([cx, cx + res[0], cx]), np.array([cy, cy, cy + res[1]]))
    resolution_m = float(math.sqrt(abs((ex[1] - ex[0]) * (ey[2] - ey[0])
                                       - (ey[1] - ey[0]) * (ex[2] - ex[0]))))
    epsg = src_crs.to_epsg()
    return RasterCells(x=x, y=y, population=population, crs=target,
                       raster_crs=f"EPSG:{epsg}" if epsg else src_crs.to_wkt(),
                       resolution_m=resolution_m, n_cells=int(height * width), path=str(file))


def _affine(t: Any, u: Any, v: Any) -> tuple[Any, Any]:
    """Apply an affine transform's coefficients to column/row (or x/y) arrays."""
    return t.a * u + t.b * v + t.c, t.d * u + t.e * v + t.f


def _projected(crs: Any) -> CRS:
    try:
        target = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises its own error types
        msg = f"crs {crs!r} is not a coordinate reference system: {exc}"
        raise InputError(msg) from None
    if not target.is_projected:
        msg = f"crs must be a projected (metric) CRS, got {target.name}"
        raise InputError(msg)
    return target


# ---------------------------------------------------------------------- the whole step
def demand_from_raster(
    path: str | os.PathLike[str],
    communities: gpd.GeoDataFrame,
    *,
    crs: Any,
    cell_size_m: float | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    totals: pd.DataFrame | str | os.PathLike[str] | None = None,
    elderly_raster: str | os.PathLike[str] | None = None,
    elderly_share: float | None = None,
    children_raster: str | os.PathLike[str] | None = None,
    children_share: float | None = None,
) -> RasterDemand:
    """Build demand units from a population raster and attach them to the communities.

    Steps: the populated cells are read (:func:`raster_cells`); with ``buildings``, the people
    of a cell are spread over the centroids of the footprints inside it in proportion to
    footprint area (or a ``population`` column), cells without buildings keep their centre;
    with ``cell_size_m``, points are summed into a metric grid anchored on the CRS origin, the
    unit standing at the population-weighted centre of its points; each unit belongs to the
    community polygon containing it, else to the nearest community; with ``totals``, the units
    of each township (or community) are scaled so they sum to the known total.

    Parameters
    ----------
    path
        The population raster (people per cell), any CRS.
    communities
        Communities (``id``, optional ``township``, ``kind``...), points or polygons, any CRS.
    crs
        The projected CRS of the units (the routing network's).
    cell_size_m
        Sum cells into a grid of this size in metres; None keeps one unit per cell (or per
        building with ``buildings``).
    buildings
        Building footprints (polygons, or points with ``population``), any CRS.
    totals
        Known totals: a table (or CSV/Excel file) with a ``township`` or ``community_id``
        column (Chinese names accepted: 街道/乡镇, 社区编码) and ``population`` (人口).
    elderly_raster, children_raster
        Rasters of people aged 60+ / children; their share per grid cell is applied to the
        units' people.
    elderly_share, children_share
        A share (0..1) of every unit's people instead of a raster. Without either, the
        communities' ``elderly_share`` / ``children_share`` columns are used when present.

    Returns
    -------
    RasterDemand
        The units, the communities with populations from the raster, and the provenance.

    Raises
    ------
    InputError
        Bad raster, shares outside 0..1, totals naming unknown townships or townships where
        the raster has no people, communities without CRS or ids (all listed together).
    """
    problems: list[Problem] = []
    for name, share in (("elderly_share", elderly_share), ("children_share", children_share)):
        if share is not None and not 0.0 <= share <= 1.0:
            problems.append(Problem(f"{name} must be between 0 and 1, got {share}",
                                    column=name))
    if elderly_raster is not None and elderly_share is not None:
        problems.append(Problem("give elderly_raster or elderly_share, not both"))
    if children_raster is not None and children_share is not None:
        problems.append(Problem("give children_raster or children_share, not both"))
    if cell_size_m is not None and not (np.isfinite(cell_size_m) and cell_size_m > 0):
        problems.append(Problem(f"cell_size_m must be a positive number of metres, got "
                                f"{cell_size_m}", column="cell_size_m"))
    if communities.crs is None:
        problems.append(Problem("the communities have no CRS"))
    if "id" not in communities.columns:
        problems.append(Problem("the communities have no 'id' column", column="id"))
    if problems:
        raise InputError(problems)

    cells = raster_cells(path, crs=crs)
    x, y, pop = cells.x, cells.y, cells.population
    if buildings is not None:
        x, y, pop = _spread_over_buildings(path, x, y, pop, buildings=buildings,
                                           crs=cells.crs)
    if cell_size_m is not None:
        x, y, pop = _sum_into_grid(x, y, pop, float(cell_size_m))
    if pop.size == 0:
        raise InputError(Problem("the population raster holds no people", file=cells.path))

    projected = communities.to_crs(cells.crs)
    comm = _nearest_community(projected, x, y)
    ids = projected["id"].astype(str).to_numpy()
    township = (projected["township"].astype(object).where(projected["township"].notna(), "")
                .astype(str).to_numpy() if "township" in projected.columns
                else np.full(len(projected), "", dtype=object))

    rescaled_by = None
    if totals is not None:
        table = totals if isinstance(totals, pd.DataFrame) else read_population_totals(totals)
        pop, rescaled_by = _rescale(pop, ids[comm], township[comm], table,
                                    label=None if isinstance(totals, pd.DataFrame)
                                    else str(totals))

    grid_m = float(cell_size_m) if cell_size_m is not None else cells.resolution_m
    ages: dict[str, NDArray[np.float64]] = {}
    age_source: dict[str, str] = {}
    for col, raster, share in (("population_elderly", elderly_raster, elderly_share),
                               ("population_children", children_raster, children_share)):
        if raster is not None:
            ages[col] = pop * _share_from_raster(raster, cells, x, y, grid_m)
            age_source[col] = f"raster {Path(raster).name}"
        elif share is not None:
            ages[col] = pop * float(share)
            age_source[col] = f"share {share:g}"
        elif AGE_SHARE_COLUMNS[col] in projected.columns:
            shares = pd.to_numeric(projected[AGE_SHARE_COLUMNS[col]], errors="coerce")
            ages[col] = pop * shares.to_numpy(float)[comm]
            age_source[col] = f"communities' {AGE_SHARE_COLUMNS[col]} column"
        else:
            ages[col] = np.full(pop.size, np.nan)
            age_source[col] = "none"

    order = np.argsort(comm, kind="stable")
    comm, x, y, pop = comm[order], x[order], y[order], pop[order]
    ages = {k: v[order] for k, v in ages.items()}
    n_units = np.bincount(comm, minlength=len(projected))
    rank = np.arange(comm.size) - (np.cumsum(n_units) - n_units)[comm] + 1
    unit_ids = [f"{c}#r{r}" for c, r in zip(ids[comm].tolist(), rank.tolist(), strict=True)]
    units = gpd.GeoDataFrame(
        {"unit_id": unit_ids, "community_id": ids[comm].tolist(),
         "township": township[comm].tolist(), "population": pop,
         "population_elderly": ages["population_elderly"],
         "population_children": ages["population_children"],
         "households": np.full(pop.size, np.nan)},
        geometry=shapely.points(x, y), crs=cells.crs,
    )
    out_comm = communities.copy()
    people = np.bincount(comm, weights=pop, minlength=len(projected))
    out_comm["population"] = np.round(people).astype(np.int64)
    for col in ("population_elderly", "population_children"):
        if age_source[col] != "none":
            out_comm[col] = np.round(np.bincount(comm, weights=ages[col],
                                                 minlength=len(projected)), 1)
    out_comm["population_source"] = "raster"
    out_comm["population_raster_units"] = n_units
    empty = np.flatnonzero(n_units == 0)
    if empty.size:
        shown = ", ".join(ids[empty][:10].tolist()) + (" ..." if empty.size > 10 else "")
        msg = (f"{empty.size} communities got no people from the population raster (population "
               f"0; the raster may be too coarse for small communities): {shown}")
        warnings.warn(msg, InputWarning, stacklevel=2)
    return RasterDemand(units=units, communities=out_comm, resolution_m=cells.resolution_m,
                        cell_size_m=None if cell_size_m is None else float(cell_size_m),
                        raster=Path(path).name, rescaled_by=rescaled_by,
                        dasymetric=buildings is not None, age_source=age_source)


def age_groups_from_shares(units: gpd.GeoDataFrame, communities: pd.DataFrame, *,
                           elderly_share: float | None = None) -> gpd.GeoDataFrame:
    """Return a copy of ``units`` with the people aged 60+ and the children of each unit.

    ``population_elderly`` is ``population x elderly_share`` when a share is given, else
    ``population x`` the community's ``elderly_share`` column; ``population_children`` from
    the communities' ``children_share`` column. Groups without a source are left out.

    Parameters
    ----------
    units
        Demand units (``community_id``, ``population``).
    communities
        Communities (``id``, optional ``elderly_share`` / ``children_share`` in 0-1).
    elderly_share
        One share for every unit, instead of the column.

    Returns
    -------
    geopandas.GeoDataFrame
        The units with the group columns added.

    Raises
    ------
    InputError
        A share outside 0..1 (the community row and column named).
    """
    out = units.copy()
    pop = pd.to_numeric(out["population"], errors="coerce").to_numpy(float)
    if elderly_share is not None:
        if not 0.0 <= elderly_share <= 1.0:
            msg = f"elderly_share must be between 0 and 1, got {elderly_share:g}"
            raise InputError(Problem(msg, column="elderly_share"))
        out["population_elderly"] = pop * elderly_share
    by_id = communities.assign(id=communities["id"].astype(str)).set_index("id")
    problems: list[Problem] = []
    for col, share_col in AGE_SHARE_COLUMNS.items():
        if col in out.columns or share_col not in by_id.columns:
            continue
        shares = pd.to_numeric(by_id[share_col], errors="coerce")
        bad = np.flatnonzero(((shares < 0) | (shares > 1)).to_numpy())
        problems.extend(Problem(f"{share_col} must be between 0 and 1, got "
                                f"{shares.iloc[i]!r}", row=int(i) + 1, column=share_col)
                        for i in bad)
        out[col] = pop * shares.reindex(out["community_id"].astype(str)).to_numpy(float)
    if problems:
        raise InputError(problems)
    return out


def _sum_into_grid(
    x: NDArray[np.float64], y: NDArray[np.float64], pop: NDArray[np.float64], size_m: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Sum weighted points into grid cells; return each cell's weighted centre and total."""
    if x.size == 0:
        return x, y, pop
    key = _grid_keys(x, y, size_m)
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, weights=pop, minlength=uniq.size)
    gx = np.bincount(inv, weights=pop * x, minlength=uniq.size) / total
    gy = np.bincount(inv, weights=pop * y, minlength=uniq.size) / total
    return gx, gy, total.astype(np.float64)


def _grid_keys(x: NDArray[np.float64], y: NDArray[np.float64], size_m: float
               ) -> NDArray[np.int64]:
    """Return one int64 key per point: its grid cell, ordered south to north, west to east."""
    ix = np.floor(x / size_m).astype(np.int64)
    iy = np.floor(y / size_m).astype(np.int64)
    return (iy << 32) + (ix - np.int64(-(1 << 31)))


def _spread_over_buildings(
    path: str | os.PathLike[str], x: NDArray[np.float64], y: NDArray[np.float64],
    pop: NDArray[np.float64], *, buildings: gpd.GeoDataFrame, crs: CRS,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Move each cell's people onto the building centroids inside the cell."""
    import rasterio

    if buildings.crs is None:
        msg = "the buildings have no CRS"
        raise InputError(msg)
    if x.size == 0:
        return x, y, pop
    with rasterio.open(path) as ds:
        raster_crs = CRS.from_user_input(ds.crs.to_wkt())
        inverse = ~ds.transform
        width = ds.width
    b = buildings.to_crs(raster_crs)
    geoms = np.asarray(b.geometry.array, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    weight = (pd.to_numeric(b["population"], errors="coerce").to_numpy(dtype=float)
              if "population" in b.columns else shapely.area(geoms))
    weight = np.where(keep & np.isfinite(weight) & (weight > 0), weight, 0.0)
    cen = shapely.centroid(geoms[weight > 0])
    weight = weight[weight > 0]
    bx, by = shapely.get_x(cen), shapely.get_y(cen)
    col, row = (np.floor(v).astype(np.int64) for v in _affine(inverse, bx, by))
    b_cell = np.where((col >= 0) & (col < width) & (row >= 0), row * width + col, -1)
    # the populated cells' flat index, from their centres (back in the raster CRS)
    back = Transformer.from_crs(crs, raster_crs, always_xy=True)
    rx, ry = back.transform(x, y)
    ccol, crow = _affine(inverse, np.asarray(rx), np.asarray(ry))
    cell = np.floor(crow).astype(np.int64) * width + np.floor(ccol).astype(np.int64)
    order = np.argsort(cell, kind="stable")
    pos = np.searchsorted(cell[order], b_cell)
    pos = np.minimum(pos, cell.size - 1)
    inside = (cell[order][pos] == b_cell) & (b_cell >= 0)
    b_of = order[pos[inside]]  # index of the populated cell of each building inside one
    bw = weight[inside]
    wsum = np.bincount(b_of, weights=bw, minlength=x.size)
    b_pop = pop[b_of] * bw / wsum[b_of]
    to_target = Transformer.from_crs(raster_crs, crs, always_xy=True)
    tx, ty = to_target.transform(bx[inside], by[inside])
    no_building = wsum == 0
    # buildings in raster order of their cells, then by file order
    b_order = np.lexsort((np.arange(b_of.size), b_of))
    return (np.concatenate([x[no_building], np.asarray(tx)[b_order]]),
            np.concatenate([y[no_building], np.asarray(ty)[b_order]]),
            np.concatenate([pop[no_building], b_pop[b_order]]))


def _nearest_community(projected: gpd.GeoDataFrame, x: NDArray[np.float64],
                       y: NDArray[np.float64]) -> NDArray[np.int64]:
    """Return the index of the community polygon containing each point, else the nearest."""
    geoms = np.asarray(projected.geometry.array, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        msg = "the communities have no geometry to attach raster cells to"
        raise InputError(msg)
    valid = np.flatnonzero(ok)
    tree = shapely.STRtree(geoms[valid])
    pts = np.asarray(shapely.points(x, y), dtype=object)
    out = np.full(x.size, -1, dtype=np.int64)
    p_idx, g_idx = tree.query(pts, predicate="within")
    if p_idx.size:
        # a point in overlapping polygons goes to the first community of the file
        first = np.lexsort((g_idx, p_idx))
        p_sorted, g_sorted = p_idx[first], g_idx[first]
        head = np.r_[True, p_sorted[1:] != p_sorted[:-1]]
        out[p_sorted[head]] = valid[g_sorted[head]]
    rest = np.flatnonzero(out < 0)
    if rest.size:
        q_idx, n_idx = tree.query_nearest(pts[rest], all_matches=True)
        first = np.lexsort((n_idx, q_idx))
        q_sorted, n_sorted = q_idx[first], n_idx[first]
        head = np.r_[True, q_sorted[1:] != q_sorted[:-1]]
        out[rest[q_sorted[head]]] = valid[n_sorted[head]]
    return out


def read_buildings(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read building footprints (GeoJSON, GeoPackage, Shapefile) for the dasymetric spread.

    Parameters
    ----------
    path
        The file; polygons (or points with a ``population`` column), with a CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        The buildings as read.

    Raises
    ------
    InputError
        Missing or unreadable file, or a file without CRS.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(Problem("the buildings file does not exist", file=str(file)))
    try:
        buildings = gpd.read_file(file)
    except Exception as exc:  # pyogrio raises its own error types
        raise InputError(Problem(f"cannot read the buildings: {exc}", file=str(file))) from None
    if buildings.crs is None:
        raise InputError(Problem("the buildings have no coordinate reference system",
                                 file=str(file)))
    return buildings


def read_population_totals(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table of known totals: a ``township`` or ``community_id`` column and ``population``.

    Parameters
    ----------
    path
        CSV (UTF-8, GBK...) or Excel file.

    Returns
    -------
    pandas.DataFrame
        Columns ``township`` or ``community_id``, and ``population``.

    Raises
    ------
    InputError
        When the key or the population column is missing, or a population is not a number
        >= 0 (file, row and column named).
    """
    raw = read_table(path)
    return _canonical_totals(raw, label=str(path))


def _canonical_totals(raw: pd.DataFrame, *, label: str | None) -> pd.DataFrame:
    normed = {str(c).strip().lower(): c for c in raw.columns}
    key_name, key_col = None, None
    for name, aliases in _TOTALS_KEYS.items():
        hit = next((normed[a.lower()] for a in aliases if a.lower() in normed), None)
        if hit is not None:
            key_name, key_col = name, hit
            break
    value_col = next((normed[a.lower()] for a in _TOTALS_VALUE if a.lower() in normed), None)
    problems: list[Problem] = []
    if key_col is None:
        problems.append(Problem("the totals need a 'township' (街道/乡镇) or 'community_id' "
                                "column", file=label))
    if value_col is None:
        problems.append(Problem("the totals need a 'population' (人口) column", file=label))
    if problems:
        raise InputError(problems)
    assert key_name is not None
    values = pd.to_numeric(raw[value_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    problems.extend(Problem(f"population must be a number >= 0, got {raw[value_col].iloc[i]!r}",
                            file=label, row=int(i) + 1, column=str(value_col))
                    for i in np.flatnonzero(bad))
    keys = raw[key_col].astype(str).str.strip()
    problems.extend(Problem(f"{keys.iloc[i]!r} is listed more than once", file=label,
                            row=int(i) + 1, column=str(key_col))
                    for i in np.flatnonzero(keys.duplicated().to_numpy()))
    if problems:
        raise InputError(problems)
    return pd.DataFrame({key_name: keys.to_numpy(dtype=object), "population": values})


def _rescale(pop: NDArray[np.float64], community: NDArray[Any], township: NDArray[Any],
             table: pd.DataFrame, *, label: str | None
             ) -> tuple[NDArray[np.float64], str]:
    """Scale the units of each group so that they sum to the group's known total."""
    if "township" not in table.columns and "community_id" not in table.columns:
        table = _canonical_totals(table, label=label)
    by = "township" if "township" in table.columns else "community_id"
    group = township if by == "township" else community
    keys = table[by].astype(str).to_numpy()
    known = dict(zip(keys.tolist(), table["population"].to_numpy(dtype=float).tolist(),
                     strict=True))
    names, inv = np.unique(np.asarray(group, dtype=str), return_inverse=True)
    raster_sum = np.bincount(inv, weights=pop, minlength=names.size)
    problems: list[Problem] = []
    present = set(names.tolist())
    for row, key in enumerate(keys.tolist()):
        if key not in present:
            problems.append(Problem(f"{by} {key!r} has no raster cells (unknown name, or the "
                                    "raster does not cover it)", file=label, row=row + 1,
                                    column=by))
    if problems:
        raise InputError(problems)
    factor = np.ones(names.size)
    for i, name in enumerate(names.tolist()):
        if name in known:
            factor[i] = known[name] / raster_sum[i]
    missing = [n for n in names.tolist() if n not in known]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        msg = f"no known total for {len(missing)} {by}(s), raster people kept: {shown}"
        warnings.warn(msg, InputWarning, stacklevel=3)
    return pop * factor[inv], by


def _share_from_raster(raster: str | os.PathLike[str], cells: RasterCells,
                       x: NDArray[np.float64], y: NDArray[np.float64], grid_m: float
                       ) -> NDArray[np.float64]:
    """Return the age group's share of people at each unit, from a second raster.

    Both rasters are summed into the same metric grid (``grid_m``); the share of a grid cell
    is the group's people over all people there (0 where the population raster has none,
    at most 1).
    """
    group = raster_cells(raster, crs=cells.crs)
    gk = _grid_keys(group.x, group.y, grid_m)
    pk = _grid_keys(cells.x, cells.y, grid_m)
    keys = np.unique(np.concatenate([gk, pk]))
    g_sum = np.bincount(np.searchsorted(keys, gk), weights=group.population,
                        minlength=keys.size)
    p_sum = np.bincount(np.searchsorted(keys, pk), weights=cells.population, minlength=keys.size)
    share = np.divide(g_sum, p_sum, out=np.zeros(keys.size), where=p_sum > 0)
    share = np.clip(share, 0.0, 1.0)
    uk = _grid_keys(x, y, grid_m)
    pos = np.minimum(np.searchsorted(keys, uk), keys.size - 1)
    return np.where(keys[pos] == uk, share[pos], 0.0)
