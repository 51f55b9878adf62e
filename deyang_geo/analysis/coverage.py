"""Population coverage per demand unit, community, township, division and the whole study area."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from deyang_geo.core import settings
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.io.files import write_csv_atomic
from deyang_geo.io.tables_zh import relative_path, write_csv

#: Class of a community whose covered share is at least ``covered_share``.
COVERED = "covered"
#: Class of a community whose covered share is at least ``partly_covered_share``.
PARTLY = "partly"
#: Class of a community whose covered share is below ``partly_covered_share``.
OUTSIDE = "outside"

#: Quantities that :func:`coverage_column` names; each is reported per time break.
QUANTITIES: tuple[str, ...] = (
    "covered",
    "covered_population",
    "uncovered_population",
    "covered_share",
    "class",
    "covered_communities",
    "partly_covered_communities",
    "outside_communities",
    "covered_communities_share",
)

#: The columns describing a community that are carried into the tables (filled with "" when
#: the communities have no such column).
_COMMUNITY_ATTRIBUTES = ("name", "kind", "township", "division")
_MAX_LISTED_PROBLEMS = 20
#: Class codes used while computing; the text (:data:`COVERED`...) is put in at the end.
_COVERED_CODE, _PARTLY_CODE, _OUTSIDE_CODE = 0, 1, 2
_CLASS_TEXT = np.array([COVERED, PARTLY, OUTSIDE], dtype=object)
#: Position of each class code's text among the texts sorted.
_CLASS_SORTED_CODE = np.argsort(np.argsort(_CLASS_TEXT))


def coverage_column(quantity: str, minutes: float) -> str:
    """Return the column name of ``quantity`` at the break ``minutes``.

    Every per-break column of the coverage tables is named by this function, e.g.
    ``coverage_column("covered_share", 15) == "covered_share_15min"`` and
    ``coverage_column("covered_population", 7.5) == "covered_population_7.5min"``.

    Parameters
    ----------
    quantity
        One of :data:`QUANTITIES`.
    minutes
        The time break in minutes.

    Returns
    -------
    str
        ``"<quantity>_<minutes>min"`` with the minutes written without trailing zeros.
    """
    if quantity not in QUANTITIES:
        msg = f"unknown coverage quantity {quantity!r}; expected one of {', '.join(QUANTITIES)}"
        raise ValueError(msg)
    return f"{quantity}_{float(minutes):g}min"


@dataclass(frozen=True, eq=False)
class CoverageResult:
    """Population coverage of the demand by each category of facility, at several time breaks.

    Parameters
    ----------
    breaks_minutes
        The time breaks, ascending; a demand unit is covered at a break when its minutes to
        the nearest facility of the category are at most the break.
    threshold_minutes
        The break that decides ``class`` and ``outside`` for categories without an entry in
        ``thresholds_minutes`` (one of ``breaks_minutes``).
    covered_share, partly_covered_share
        The class thresholds on a community's covered share.
    categories
        The facility categories reported, in table order.
    units
        One row per demand unit and category: ``demand_id``, ``community_id``, ``category``,
        ``population``, ``minutes`` (NaN when unreachable), ``facility_id`` and ``covered_<b>min``
        (bool) per break.
    communities
        One row per community and category, in community then category order: ``community_id``,
        ``name``, ``kind``, ``township``, ``division``, ``category``, ``population``, ``units``,
        ``minutes`` (population-weighted median minutes of its units, NaN when more than half
        of it is unreachable), ``covered_population_<b>min``, ``covered_share_<b>min`` and
        ``class_<b>min`` per break, and at its own threshold (``thresholds_minutes``, else
        ``threshold_minutes``) ``threshold_minutes``, ``covered_population``,
        ``covered_share`` and ``class``. A community without
        population takes the unweighted share of its units within reach. The text columns
        (ids, names, kind, township, division, category, classes) are categoricals of their
        distinct values, in sorted order (they sort as the text does): a million communities
        times the categories stay a few hundred MB; ``astype(str)`` gives plain text.
    townships, divisions, study_area
        Aggregates per (``division``, ``township``), per ``division`` and for the whole area,
        each for ``kind`` ``"all"`` and then for every kind present (``urban``, ``rural``), per
        category: ``communities``, ``population``, and per break ``covered_population``,
        ``covered_share``, ``covered_communities``, ``partly_covered_communities``,
        ``outside_communities`` and ``covered_communities_share``.
    outside
        The (community, category) pairs classed ``outside`` at ``threshold_minutes``, with the
        communities' geometry (text columns categorical, as in ``communities``), sorted by
        ``uncovered_population_<t>min`` (descending), then ``community_id`` and ``category``.
    provenance
        Free key -> value notes on where the inputs came from (files, mode, speed), written
        with the parameters.
    thresholds_minutes
        ``category -> {"urban": minutes, "rural": minutes}``: the threshold deciding ``class``,
        ``outside`` and the columns without a break suffix (``threshold_minutes``,
        ``covered_population``, ``covered_share``...), per category and kind of community.
    """

    breaks_minutes: tuple[float, ...]
    threshold_minutes: float
    covered_share: float
    partly_covered_share: float
    categories: tuple[str, ...]
    units: pd.DataFrame
    communities: pd.DataFrame
    townships: pd.DataFrame
    divisions: pd.DataFrame
    study_area: pd.DataFrame
    outside: gpd.GeoDataFrame
    provenance: Mapping[str, str] = field(default_factory=dict)
    thresholds_minutes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Return a one-line summary instead of the tables."""
        return (f"CoverageResult(breaks_minutes={self.breaks_minutes}, "
                f"threshold_minutes={self.threshold_minutes:g}, "
                f"categories={len(self.categories)}, communities="
                f"{len(self.communities) // max(len(self.categories), 1)}, "
                f"units={len(self.units) // max(len(self.categories), 1)}, "
                f"outside={len(self.outside)})")

    def parameters(self) -> dict[str, str]:
        """Return the parameters and provenance as text, in a fixed order."""
        params = {
            "breaks_minutes": ",".join(f"{b:g}" for b in self.breaks_minutes),
            "threshold_minutes": f"{self.threshold_minutes:g}",
            "covered_share": f"{self.covered_share:g}",
            "partly_covered_share": f"{self.partly_covered_share:g}",
            "categories": ",".join(self.categories),
        }
        for cat, by_kind in self.thresholds_minutes.items():
            params[f"threshold_minutes:{cat}"] = ", ".join(
                f"{kind} {value:g}" for kind, value in by_kind.items())
        params.update({str(k): str(v) for k, v in self.provenance.items()})
        return params

    def write(self, out_dir: str | os.PathLike[str], *, include_units: bool = False,
              lang: str = "en") -> list[Path]:
        """Write the tables as CSV files (UTF-8 with BOM, for Excel) atomically.

        Files: ``coverage.csv`` (per community and category), ``coverage_townships.csv``,
        ``coverage_divisions.csv``, ``coverage_study_area.csv``, ``outside_reach.csv`` (with
        ``lon``/``lat`` of a point of each community in WGS-84 instead of the geometry),
        ``coverage_parameters.csv`` and, when ``include_units``, ``coverage_units.csv``.

        Parameters
        ----------
        out_dir
            The output folder, created if needed.
        include_units
            Also write the (large) per-unit table.
        lang
            ``"zh"`` or ``"both"``: Chinese-first tables (:func:`deyang_geo.io.tables_zh.localize`:
            Chinese headers and values, whole people, percentages); ``"en"``: English keys.
            :func:`deyang_geo.io.tables_zh.read_table` reads any of them back.

        Returns
        -------
        list of Path
            The files written.
        """
        folder = Path(out_dir)
        lon, lat = _outside_lon_lat(self.outside)
        geometry = self.outside.geometry.name

        def outside_block(rows: pd.DataFrame) -> pd.DataFrame:
            # lon/lat of the block's rows (the table has a range index); no whole copy
            block = pd.DataFrame(rows.drop(columns=geometry))
            block["lon"] = lon[rows.index.to_numpy()]
            block["lat"] = lat[rows.index.to_numpy()]
            return block

        outside = self.outside.reset_index(drop=True)
        tables: list[tuple[str, pd.DataFrame]] = [
            ("coverage.csv", self.communities),
            ("coverage_townships.csv", self.townships),
            ("coverage_divisions.csv", self.divisions),
            ("coverage_study_area.csv", self.study_area),
            ("outside_reach.csv", outside),
            ("coverage_parameters.csv",
             pd.DataFrame([(k, relative_path(v, None)) for k, v in self.parameters().items()],
                          columns=["parameter", "value"])),
        ]
        if include_units:
            tables.append(("coverage_units.csv", self.units))
        written = []
        for name, table in tables:
            if lang != "en":  # localized tables round once, as a planner reads them
                whole = outside_block(table) if table is outside else table
                written.append(write_csv(whole, folder / name, lang=lang))
                continue
            # rounded a block of rows at a time: no rounded copy of a big table held whole
            written.append(write_csv_atomic(
                table, folder / name,
                prepare=(lambda rows: _rounded(outside_block(rows))) if table is outside
                else _rounded))
        return written


def compute_coverage(
    access: pd.DataFrame,
    units: pd.DataFrame,
    communities: pd.DataFrame,
    *,
    breaks_minutes: Iterable[float] | None = None,
    threshold_minutes: float | None = None,
    covered_share: float | None = None,
    partly_covered_share: float | None = None,
    categories: Sequence[str] | None = None,
    provenance: Mapping[str, str] | None = None,
    thresholds_minutes: Mapping[str, Mapping[str, float]] | None = None,
) -> CoverageResult:
    """Compute population coverage from the minutes of each demand unit to each category.

    Parameters
    ----------
    access
        The access table: ``demand_id``, ``category``, ``minutes`` (NaN when unreachable) and
        ``facility_id``, at most one row per demand unit and category. A unit without a row for
        a category counts as unreachable.
    units
        The demand units: ``unit_id`` (or ``id``), ``population`` and ``community_id`` (when
        absent, each unit is its own community).
    communities
        The communities: ``id`` and optionally ``name``, ``kind`` (``urban``/``rural``),
        ``township``, ``division`` and a geometry (kept for ``outside``).
    breaks_minutes
        Time breaks; ``None`` uses ``settings.coverage_breaks_minutes``. The threshold is added
        when missing.
    threshold_minutes
        The break deciding ``class`` and ``outside``; ``None`` uses
        ``settings.threshold_minutes``.
    covered_share
        Share of population within reach from which a community is ``covered``; ``None`` uses
        ``settings.covered_share``.
    partly_covered_share
        Share from which it is ``partly`` covered (below: ``outside``); ``None`` uses
        ``settings.partly_covered_share``.
    categories
        Categories to report, in this order; ``None`` reports those in ``access``, sorted.
    provenance
        Notes on the inputs (files, mode, speed) kept in the result.
    thresholds_minutes
        Per category, the threshold of urban and of rural communities
        (``{"fitness_station": {"urban": 5, "rural": 15}}``, as
        :meth:`deyang_geo.study.resolved.ResolvedAnalysis.thresholds_minutes` gives); categories
        without an entry use ``threshold_minutes``. Every threshold is added to the breaks.

    Returns
    -------
    CoverageResult
        The tables and the parameters used.

    Raises
    ------
    InputError
        On missing columns, bad thresholds, duplicated ids or (unit, category) rows, units
        of unknown communities or access rows of unknown units; all problems at once.
    """
    threshold = float(settings.threshold_minutes if threshold_minutes is None
                      else threshold_minutes)
    breaks_in = settings.coverage_breaks_minutes if breaks_minutes is None else breaks_minutes
    per_cat = {str(c): {str(k): float(v) for k, v in by.items()}
               for c, by in (thresholds_minutes or {}).items()}
    extra = {v for by in per_cat.values() for v in by.values()}
    breaks = tuple(sorted({float(b) for b in breaks_in} | {threshold} | extra))
    full = float(settings.covered_share if covered_share is None else covered_share)
    partly = float(settings.partly_covered_share if partly_covered_share is None
                   else partly_covered_share)
    _check_parameters(breaks, full, partly)

    unit_ids, unit_comm, unit_pop = _unit_arrays(units)
    comm = _community_frame(communities)
    cats, minutes, facility = _access_matrix(access, unit_ids, categories)
    comm_index = pd.Index(comm["community_id"])
    cidx = comm_index.get_indexer(unit_comm)
    if (cidx < 0).any():
        bad = pd.unique(unit_comm[cidx < 0])
        raise InputError(_capped([
            Problem(f"demand unit community {c!r} is not among the communities",
                    column="community_id") for c in bad]))

    n_comm, n_units, n_cat = len(comm), len(unit_ids), len(cats)
    members = sp.csr_matrix(
        (np.ones(n_units), (cidx, np.arange(n_units))), shape=(n_comm, n_units))
    population = members @ unit_pop
    n_members = np.asarray(members.sum(axis=1)).ravel()
    # a community without population is weighed by its units instead
    weight = np.where(population[cidx] > 0, unit_pop, 1.0)
    weight_total = members @ weight

    # --- per community and category (long: community-major, category-minor) ---------------
    # Everything is computed on numbers (class codes, integer group codes); the text columns
    # of the community table are built once, at the end, sharing the community's strings.
    columns: dict[str, npt.NDArray[np.generic] | pd.Categorical] = {
        "population": np.repeat(population, n_cat),
        "units": np.repeat(n_members.astype(np.int64), n_cat),
        "minutes": _weighted_median(minutes, cidx, weight, n_comm).ravel(),
    }
    # the long per-unit table holds codes into the ids (categoricals) to stay light
    comm_codes = pd.factorize(unit_comm)
    unit_table = pd.DataFrame({
        "demand_id": pd.Categorical.from_codes(
            np.repeat(np.arange(n_units), n_cat), categories=pd.Index(unit_ids)),
        "community_id": pd.Categorical.from_codes(
            np.repeat(comm_codes[0], n_cat), categories=pd.Index(comm_codes[1])),
        "category": pd.Categorical.from_codes(
            np.tile(np.arange(n_cat), n_units), categories=pd.Index(cats)),
        "population": np.repeat(unit_pop, n_cat),
        "minutes": minutes.ravel(),
        "facility_id": facility,
    })
    # the threshold of each unit and category: its community's kind decides urban or rural
    comm_rural = comm["kind"].to_numpy(dtype=object) == "rural"
    comm_limits = np.full((n_comm, n_cat), threshold)
    for j, cat in enumerate(cats):
        if cat in per_cat:
            by = per_cat[cat]
            urban = by.get("urban", threshold)
            comm_limits[:, j] = np.where(comm_rural, by.get("rural", urban), urban)
    class_codes: dict[float | None, npt.NDArray[np.int8]] = {}
    for b in (*breaks, None):
        limit = comm_limits[cidx] + 1e-9 if b is None else b
        covered = minutes <= limit  # NaN compares False
        del limit
        unit_table[_column("covered", b)] = covered.ravel()
        covered_pop = np.asarray(members @ (covered * unit_pop[:, None])).reshape(n_comm, n_cat)
        covered_weight = np.asarray(members @ (covered * weight[:, None])).reshape(n_comm, n_cat)
        del covered
        share = np.divide(covered_weight, weight_total[:, None],
                          out=np.full((n_comm, n_cat), np.nan), where=weight_total[:, None] > 0)
        del covered_weight
        # 0 covered, 1 partly, 2 outside (NaN shares compare False: outside)
        code = np.full((n_comm, n_cat), _OUTSIDE_CODE, dtype=np.int8)
        code[share >= partly] = _PARTLY_CODE
        code[share >= full] = _COVERED_CODE
        class_codes[b] = code.ravel()
        if b is None:
            columns["threshold_minutes"] = comm_limits.ravel()
        columns[_column("covered_population", b)] = covered_pop.ravel()
        columns[_column("covered_share", b)] = share.ravel()
        if b is not None:
            columns[coverage_column("class", b)] = _class_text(class_codes[b])
    columns["class"] = _class_text(class_codes[None])

    aggregates = [
        _aggregate(comm, keys, cats=cats, columns=columns, class_codes=class_codes,
                   breaks=breaks)
        for keys in (["division", "township"], ["division"], [])
    ]
    outside_rows = np.flatnonzero(class_codes[None] == _OUTSIDE_CODE)
    # text columns as categoricals (codes into the distinct values, sorted: they sort as
    # text): 1 to 4 bytes a row instead of an 8-byte reference, on n_comm * n_cat rows
    long = pd.DataFrame({
        "community_id": _repeated(comm["community_id"], n_cat),
        **{a: _repeated(comm[a], n_cat) for a in _COMMUNITY_ATTRIBUTES},
        "category": _tiled(cats, n_comm),
        **columns,
    }, copy=False)  # the arrays become the columns (no consolidated copy)
    del columns
    townships, divisions, study_area = aggregates
    outside = _outside(long, outside_rows, communities)
    return CoverageResult(
        breaks_minutes=breaks,
        threshold_minutes=threshold,
        covered_share=full,
        partly_covered_share=partly,
        categories=cats,
        units=unit_table,
        communities=long,
        townships=townships,
        divisions=divisions,
        study_area=study_area,
        outside=outside,
        provenance=dict(provenance or {}),
        thresholds_minutes={c: dict(by) for c, by in per_cat.items()},
    )


def _class_text(codes: npt.NDArray[np.int8]) -> pd.Categorical:
    """Return the class names of class codes, as a categorical of the names (sorted)."""
    return pd.Categorical.from_codes(_CLASS_SORTED_CODE[codes],
                                     categories=pd.Index(np.sort(_CLASS_TEXT)))


def _repeated(values: pd.Series, times: int) -> pd.Categorical:
    """Return each value ``times`` times in a row, as a categorical (sorted categories)."""
    codes, uniques = pd.factorize(values, sort=True)
    return pd.Categorical.from_codes(np.repeat(codes, times), categories=pd.Index(uniques))


def _tiled(values: Sequence[str], times: int) -> pd.Categorical:
    """Return ``values`` repeated ``times`` times, as a categorical (sorted categories)."""
    codes, uniques = pd.factorize(pd.Index(list(values), dtype=object), sort=True)
    return pd.Categorical.from_codes(np.tile(codes, times), categories=pd.Index(uniques))


def _column(quantity: str, minutes: float | None) -> str:
    """Name a column at a break, or at each row's own threshold (no suffix) when None."""
    return quantity if minutes is None else coverage_column(quantity, minutes)


def _check_parameters(breaks: tuple[float, ...], full: float, partly: float) -> None:
    problems = [
        Problem(f"time breaks must be positive numbers of minutes, got {b:g}")
        for b in breaks if not (np.isfinite(b) and b > 0)
    ]
    if not 0 <= partly <= full <= 1:
        problems.append(Problem(
            "the class thresholds must satisfy 0 <= partly_covered_share <= covered_share <= 1, "
            f"got partly_covered_share={partly:g}, covered_share={full:g}"))
    if problems:
        raise InputError(problems)


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= _MAX_LISTED_PROBLEMS:
        return problems
    more = len(problems) - _MAX_LISTED_PROBLEMS
    return [*problems[:_MAX_LISTED_PROBLEMS], Problem(f"... and {more} more like these")]


def _unit_arrays(
    units: pd.DataFrame,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], npt.NDArray[np.float64]]:
    id_col = "unit_id" if "unit_id" in units.columns else "id"
    problems = [
        Problem(f"the demand units have no {col!r} column", column=col)
        for col in (id_col, "population") if col not in units.columns
    ]
    if problems:
        raise InputError(problems)
    ids = units[id_col].astype(str).to_numpy(dtype=object)
    comm_col = "community_id" if "community_id" in units.columns else id_col
    comm = units[comm_col].astype(str).to_numpy(dtype=object)
    pop = pd.to_numeric(units["population"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    dup = pd.Series(ids).duplicated().to_numpy()
    problems.extend(
        Problem(f"demand unit id {ids[i]!r} is used more than once", row=int(i) + 1,
                column=id_col)
        for i in np.flatnonzero(dup)
    )
    problems.extend(
        Problem(f"population must be a number >= 0, got {units['population'].iloc[i]!r}",
                row=int(i) + 1, column="population")
        for i in np.flatnonzero(~(pop >= 0) | ~np.isfinite(pop))
    )
    if problems:
        raise InputError(_capped(problems))
    return ids, comm, pop


def _community_frame(communities: pd.DataFrame) -> pd.DataFrame:
    if "id" not in communities.columns:
        raise InputError(Problem("the communities have no 'id' column", column="id"))
    ids = communities["id"].astype(str)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        raise InputError(_capped([
            Problem(f"community id {ids.iloc[i]!r} is used more than once", row=int(i) + 1,
                    column="id") for i in np.flatnonzero(dup)]))
    frame = pd.DataFrame({"community_id": ids.to_numpy(dtype=object)})
    for col in _COMMUNITY_ATTRIBUTES:
        values = (communities[col] if col in communities.columns
                  else pd.Series([""] * len(communities), index=communities.index))
        frame[col] = values.fillna("").astype(str).to_numpy(dtype=object)
    return frame


def _access_matrix(
    access: pd.DataFrame, unit_ids: npt.NDArray[np.object_], categories: Sequence[str] | None,
) -> tuple[tuple[str, ...], npt.NDArray[np.float64], pd.Categorical]:
    """Return the categories, the (units x categories) minutes and the nearest facilities.

    Minutes are NaN when unreachable; the facility ids are a flat categorical (unit-major),
    missing when unreachable. Each long column is hashed once (``pd.factorize``); only the
    distinct values are compared.
    """
    missing = [c for c in ("demand_id", "category", "minutes") if c not in access.columns]
    if missing:
        raise InputError([Problem(f"the access table has no {c!r} column", column=c)
                          for c in missing])
    cat_codes, cat_values = pd.factorize(access["category"])
    cat_text = pd.Index(cat_values).astype(str)
    cats = (tuple(dict.fromkeys(str(c) for c in categories)) if categories is not None
            else tuple(sorted(cat_text)))
    cpos = pd.Index(cats).get_indexer(cat_text)[cat_codes]
    rows = np.flatnonzero((cat_codes >= 0) & (cpos >= 0))
    cpos = cpos[rows]
    dem_codes, dem_values = pd.factorize(access["demand_id"])
    dem_text = pd.Index(dem_values).astype(str)
    upos = pd.Index(unit_ids).get_indexer(dem_text)[dem_codes[rows]]
    upos[dem_codes[rows] < 0] = -1
    known = upos >= 0

    def demand_of(i: int) -> str:
        return str(access["demand_id"].iloc[rows[i]])

    problems = [
        Problem(f"demand id {demand_of(i)!r} is not among the demand units",
                row=int(rows[i]) + 1, column="demand_id")
        for i in np.flatnonzero(~known)[:_MAX_LISTED_PROBLEMS + 1]
    ]
    flat = upos * len(cats) + cpos
    counts = np.bincount(flat[known], minlength=len(unit_ids) * len(cats))
    dup = known & (counts[np.where(known, flat, 0)] > 1)
    problems.extend(
        Problem(f"demand unit {demand_of(i)!r} has several rows for category "
                f"{cats[cpos[i]]!r}", row=int(rows[i]) + 1)
        for i in np.flatnonzero(dup)[:_MAX_LISTED_PROBLEMS + 1]
    )
    if problems:
        raise InputError(_capped(problems))
    size = len(unit_ids) * len(cats)
    minutes = np.full(size, np.nan)
    values = pd.to_numeric(access["minutes"], errors="coerce")
    minutes[flat] = values.to_numpy(dtype=float, na_value=np.nan)[rows]
    minutes[~np.isfinite(minutes)] = np.nan  # inf is unreachable too
    fac_codes = np.full(size, -1, dtype=np.int64)
    fac_values: pd.Index = pd.Index([], dtype=object)
    if "facility_id" in access.columns:
        codes, uniques = pd.factorize(access["facility_id"])
        fac_codes[flat] = codes[rows]
        fac_values = pd.Index(uniques)
    fac_codes[np.isnan(minutes)] = -1
    facility = pd.Categorical.from_codes(fac_codes, categories=fac_values)
    return cats, minutes.reshape(len(unit_ids), len(cats)), facility


def _weighted_median(
    minutes: npt.NDArray[np.float64], group: npt.NDArray[np.intp],
    weight: npt.NDArray[np.float64], n_groups: int,
) -> npt.NDArray[np.float64]:
    """Return the (groups x categories) lower weighted median of ``minutes`` (NaN as inf).

    Units are sorted by one float key ``group * span + minutes`` (8 times faster than a
    two-key sort); values closer than the key's rounding (below 1e-6 minutes for 100,000
    communities and minutes under 1,000) may be ordered either way, which moves the median by
    less than that.
    """
    out = np.full((n_groups, minutes.shape[1]), np.nan)
    totals = np.bincount(group, weights=weight, minlength=n_groups)
    finite_max = np.nanmax(minutes, initial=0.0)
    span = 2.0 * (finite_max + 1.0)
    for c in range(minutes.shape[1]):
        column = minutes[:, c]
        values = np.where(np.isnan(column), np.inf, column)
        order = np.argsort(group * span + np.where(np.isnan(column), span / 2.0, column))
        g, v = group[order], values[order]
        cum = np.cumsum(weight[order])
        start = np.searchsorted(g, np.arange(n_groups), side="left")
        before = np.concatenate(([0.0], cum))[start]
        # first unit of each group whose running weight reaches half the group's weight
        reached = np.flatnonzero((cum - before[g]) >= totals[g] / 2.0)
        groups, first = np.unique(g[reached], return_index=True)
        median = v[reached[first]]
        out[groups, c] = np.where(np.isfinite(median), median, np.nan)
    return out


def _aggregate(
    comm: pd.DataFrame, keys: list[str], *, cats: tuple[str, ...],
    columns: Mapping[str, npt.NDArray[np.generic] | pd.Categorical],
    class_codes: Mapping[float | None, npt.NDArray[np.int8]], breaks: tuple[float, ...],
) -> pd.DataFrame:
    """Sum the community table per ``keys`` and category, for all kinds and for each kind.

    Groups are integer codes (the keys factorised in sorted order, then the category's rank
    in sorted order), so sorting the codes sorts the groups as their text would; counts are
    ``np.bincount`` on the codes, and the float sums go through pandas' grouped sum (the same
    compensated summation, in the same row order, as a groupby on the text).
    """
    n_comm, n_cat = len(comm), len(cats)
    comm_kind = comm["kind"].to_numpy(dtype=object)
    # rank of each category in sorted order, so the codes sort like the text
    cat_rank = np.argsort(np.argsort(np.asarray(cats, dtype=object), kind="stable"),
                          kind="stable")
    kinds = [k for k in ("urban", "rural") if (comm_kind == k).any()]
    kinds += sorted(set(comm_kind.tolist()) - {"urban", "rural", ""})
    # dense codes of the key tuples, numbered in the tuples' sorted order
    key_code = np.zeros(n_comm, dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(comm[key].to_numpy(dtype=object), sort=True)
        key_code = pd.factorize(key_code * len(uniques) + codes, sort=True)[0]
    n_keys = int(key_code.max()) + 1 if n_comm else 0
    first_of_key = np.unique(key_code, return_index=True)[1]  # a community of each tuple
    row_code = (np.repeat(key_code * n_cat, n_cat) + np.tile(cat_rank, n_comm))
    n_groups = n_keys * n_cat
    sums = ["population", *(_column("covered_population", b) for b in (None, *breaks))]
    frames = []
    for name in ["all", *kinds]:
        rows = (slice(None) if name == "all"
                else np.repeat(comm_kind == name, n_cat))
        code = row_code[rows]
        count = np.bincount(code, minlength=n_groups)
        present = np.flatnonzero(count > 0)
        part: dict[str, object] = {"communities": count[present]}
        for col in sums:
            summed = pd.Series(columns[col][rows]).groupby(code, sort=True).sum()
            part[col] = summed.to_numpy(dtype=float)
        for b in (None, *breaks):
            cls = class_codes[b][rows]
            for quantity, value in (("covered_communities", _COVERED_CODE),
                                    ("partly_covered_communities", _PARTLY_CODE),
                                    ("outside_communities", _OUTSIDE_CODE)):
                part[_column(quantity, b)] = np.bincount(
                    code[cls == value], minlength=n_groups)[present]
        frames.append((name, present, part))
    group = np.concatenate([present for _, present, _ in frames])
    kind_of = np.concatenate([np.full(len(present), name, dtype=object)
                              for name, present, _ in frames])
    order = np.argsort(group // n_cat, kind="stable") if keys else np.arange(len(group))
    group, kind_of = group[order], kind_of[order]

    def stacked(col: str) -> npt.NDArray[np.generic]:
        return np.concatenate([part[col] for _, _, part in frames])[order]  # type: ignore[misc]

    out: dict[str, object] = {
        key: comm[key].to_numpy(dtype=object)[first_of_key[group // n_cat]] for key in keys}
    out["kind"] = pd.array(kind_of, dtype="str")  # text even when empty, as before
    out["category"] = np.asarray(sorted(cats), dtype=object)[group % n_cat]
    communities = stacked("communities").astype(np.int64)
    population = stacked("population").astype(float)
    out["communities"] = communities
    out["population"] = population
    for b in (None, *breaks):
        covered = stacked(_column("covered_population", b)).astype(float)
        out[_column("covered_population", b)] = covered
        out[_column("covered_share", b)] = np.divide(
            covered, population, out=np.full(len(group), np.nan), where=population > 0)
        for quantity in ("covered_communities", "partly_covered_communities",
                         "outside_communities"):
            out[_column(quantity, b)] = stacked(_column(quantity, b)).astype(np.int64)
        out[_column("covered_communities_share", b)] = (
            out[_column("covered_communities", b)] / communities)  # type: ignore[operator]
    return pd.DataFrame(out)


def _outside(long: pd.DataFrame, outside_rows: npt.NDArray[np.intp],
             communities: pd.DataFrame) -> gpd.GeoDataFrame:
    pop_col, uncovered_col, share_col = ("covered_population", "uncovered_population",
                                         "covered_share")
    needed = ["community_id", *_COMMUNITY_ATTRIBUTES, "category", "population",
              "threshold_minutes", pop_col, share_col, "minutes"]
    # sorted on the three keys alone, then the rows taken once in that order (one copy)
    uncovered = (long["population"].to_numpy()[outside_rows]
                 - long[pop_col].to_numpy()[outside_rows])
    keys = long[["community_id", "category"]].take(outside_rows).reset_index(drop=True)
    keys.insert(0, uncovered_col, uncovered)
    order = keys.sort_values([uncovered_col, "community_id", "category"],
                             ascending=[False, True, True], kind="stable").index.to_numpy()
    del keys
    table = long[needed].take(outside_rows[order]).reset_index(drop=True)
    table.insert(list(table.columns).index(share_col), uncovered_col, uncovered[order])
    if isinstance(communities, gpd.GeoDataFrame):
        ids = pd.Index(communities["id"].astype(str))
        positions = ids.get_indexer(table["community_id"])
        geometry = communities.geometry.array[positions]
        return gpd.GeoDataFrame(table, geometry=geometry, crs=communities.crs, copy=False)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries([None] * len(table)))


def _outside_lon_lat(outside: gpd.GeoDataFrame
                     ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the WGS-84 lon/lat (6 decimals) of a point of each row's community.

    A community outside for several categories has one geometry: its point is computed once.
    """
    n = len(outside)
    if not n or outside.crs is None:
        return np.full(n, np.nan), np.full(n, np.nan)
    codes, firsts = pd.factorize(outside["community_id"])
    del firsts
    first_row = np.unique(codes, return_index=True)[1]
    points = outside.geometry.iloc[first_row].representative_point().to_crs("EPSG:4326")
    lon = points.x.round(6).to_numpy()[codes]
    lat = points.y.round(6).to_numpy()[codes]
    return lon, lat


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Round the columns for reading: minutes 2, populations 2, shares 4 decimals."""
    out = table.copy(deep=False)  # the rounded columns are replaced, not written into
    for col in out.columns:
        if not pd.api.types.is_float_dtype(out[col]):
            continue
        if "share" in col:
            out[col] = out[col].round(4)
        elif col.startswith("minutes") or "population" in col or col in ("lon", "lat"):
            out[col] = out[col].round(6 if col in ("lon", "lat") else 2)
    return out


__all__ = [
    "COVERED",
    "OUTSIDE",
    "PARTLY",
    "QUANTITIES",
    "CoverageResult",
    "compute_coverage",
    "coverage_column",
]
