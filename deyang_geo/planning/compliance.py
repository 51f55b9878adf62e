"""Plan targets evaluated per community, township, division and city, with gaps and 2SFCA."""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray

from deyang_geo.core import settings
from deyang_geo.core.crs import local_metric_crs
from deyang_geo.core.errors import InputError, InputWarning, Problem
from deyang_geo.core.standards import Catalog, Target, catalog_figures, load_catalog
from deyang_geo.io.files import atomic_path, write_csv_atomic
from deyang_geo.io.tables_zh import relative_path
from deyang_geo.io.validate import ProblemLog, parse_bools
from deyang_geo.planning.compliance_tables import for_planners, write_compliance_workbook

log = logging.getLogger("deyang_geo")

__all__ = [
    "LEVELS",
    "ComplianceResult",
    "ReachLike",
    "evaluate_compliance",
    "gap_summary",
]

#: Levels of the result tables, from the smallest.
LEVELS: tuple[str, ...] = ("community", "township", "division", "city")

#: Unit of each target's value, by kind / measure / rule.
_UNITS = {
    "coverage": "share of communities",
    "size": "share of facilities",
    "m2_per_100_households": "m2 per 100 households",
    "m2_per_person": "m2 per person",
    "share_true": "share",
    "share_at_least": "share",
    "mean": "mean per community",
    "ratio": "ratio",
    "total": "total",
}

_EPS = 1e-9

_SUM_COLUMNS = (
    "n", "n_met", "population", "population_met", "demand", "supply", "m2_missing",
    "fac_n", "fac_met", "fac_unknown", "num", "den", "amount", "n_unjudged",
)

_GAP_COLUMNS = ("communities_short", "people_short", "m2_missing", "facilities_short",
                "amount_short")


@runtime_checkable
class ReachLike(Protocol):
    """Anything shaped like an analysis ``ReachSet`` (CSR arrays, sources x demand)."""

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    minutes: NDArray[np.float64]
    n_sources: int
    n_demand: int


#: A reach set, a scipy sparse matrix of minutes (stored entries = reached pairs, explicit zeros
#: included), or a callable ``reach(facilities, max_minutes)`` returning one of those for the
#: given facilities (rows in their order) and every demand unit (columns in table order).
Reach: TypeAlias = ReachLike | sp.sparray | sp.spmatrix | Callable[[pd.DataFrame, float], Any]


@dataclass(frozen=True, eq=False)
class ComplianceResult:
    """The plan's targets evaluated at every level, with the gaps in planners' terms.

    Attributes
    ----------
    targets
        City level: one row per target, scope (``urban``, ``rural``, ``all``) and ``reading``
        (``travel_time`` / ``presence`` for coverage targets, ``2sfca``, ``size`` or
        ``attribute``) with ``assumptions`` (the interpretations the plan's text does not
        state), ``plan_edition`` and ``target_year`` of the catalog,
        ``value``, ``target``, ``met``, ``status``, the gaps (``communities_short``,
        ``people_short``, ``m2_missing``, ``facilities_short``, ``amount_short``), ``source``,
        ``verified``, ``standard_source``/``standard_verified`` (thresholds and minimum sizes
        used) and the bilingual description. Gaps: for shares (coverage, share attributes,
        sizes) how many more communities / people / facilities reach the target share (0 once
        met); for capacity targets the communities below the standard, their people and the
        m2 that would lift each of them to it (kept when the average is met: an average can
        hide them); for means and ratios ``amount_short`` (organisations, volunteers) for the
        aggregate and the communities individually below.
    by_community
        One row per community and target that applies to it: its own value and whether it
        meets the target (coverage: share of its population within the threshold).
    by_township, by_division
        The same columns as ``targets`` per (division, township) and per division.
    undersized
        Facilities below their category's minimum floor area (T6, T2.size), with the m2
        missing.
    parameters
        Mode, thresholds, covered share, catalog version and path, and provenance notes.
    catalog_version
        The catalog's version.
    standards
        Every figure of the catalog used, with its source and verified flag
        (:func:`deyang_geo.core.standards.catalog_figures`).
    """

    targets: pd.DataFrame
    by_community: pd.DataFrame
    by_township: pd.DataFrame
    by_division: pd.DataFrame
    undersized: pd.DataFrame
    parameters: Mapping[str, str] = field(default_factory=dict)
    catalog_version: str = ""
    standards: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        """Return a one-line summary instead of the tables."""
        assessed = self.targets["met"].notna()
        met = int(self.targets.loc[assessed, "met"].astype(bool).sum())
        return (f"ComplianceResult(catalog_version={self.catalog_version!r}, "
                f"rows={len(self.targets)}, assessed={int(assessed.sum())}, met={met}, "
                f"communities={self.by_community['community_id'].nunique()})")

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables by level name, in report order, plus ``undersized``/``parameters``."""
        return {
            "city": self.targets,
            "division": self.by_division,
            "township": self.by_township,
            "community": self.by_community,
            "undersized": self.undersized,
            "standards": self.standards.rename(columns={"value": "standard_value"}),
            "parameters": pd.DataFrame(list(self.parameters.items()),
                                       columns=["parameter", "value"]),
        }

    def community_wide(self) -> pd.DataFrame:
        """Return one row per community with a value and a met column per target.

        Columns: ``community_id``, ``name``, ``kind``, ``township``, ``division``,
        ``population``, then ``<target_id> value`` and ``<target_id> met`` in catalog order
        (``<target_id> presence value`` / ``met`` for the presence reading of a target).

        Returns
        -------
        pandas.DataFrame
            The communities in table order.
        """
        long = self.by_community
        keys = ["community_id", "name", "kind", "township", "division", "population"]
        if long.empty:
            return pd.DataFrame(columns=keys)
        base = long.drop_duplicates("community_id")[keys].reset_index(drop=True)
        label = long["target_id"].astype(str).where(
            long["reading"] != "presence", long["target_id"].astype(str) + " presence")
        order = list(dict.fromkeys(label))
        pos = pd.Series(np.arange(len(base)), index=base["community_id"])
        row = pos.reindex(long["community_id"]).to_numpy()
        columns: dict[str, Any] = {}
        for tid in order:
            sel = (label == tid).to_numpy()
            value = np.full(len(base), np.nan)
            value[row[sel]] = long["value"].to_numpy(dtype=float, na_value=np.nan)[sel]
            met = pd.array([pd.NA] * len(base), dtype="boolean")
            met[row[sel]] = long["met"].to_numpy()[sel]
            columns[f"{tid} value"] = value
            columns[f"{tid} met"] = met
        return pd.concat([base, pd.DataFrame(columns)], axis=1)

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write every table as CSV (UTF-8 with BOM) and one Excel workbook, atomically.

        Files: ``compliance_city.csv``, ``compliance_divisions.csv``,
        ``compliance_townships.csv``, ``compliance_communities.csv``,
        ``compliance_undersized.csv``, ``compliance_standards.csv`` (every catalog figure
        with its source and verified flag), ``compliance_parameters.csv`` and
        ``compliance.xlsx``
        (a sheet per level). Headers are bilingual (``现状值 value``: the canonical name is
        the last word), except the parameters' plain ``parameter, value``. The workbook's
        community sheet is :meth:`community_wide` (one row per community; the long CSV has every
        detail), which keeps it readable and quick to write for thousands of communities.

        Parameters
        ----------
        out_dir
            The output folder, created if needed.

        Returns
        -------
        list of Path
            The files written.
        """
        folder = Path(out_dir)
        names = {
            "city": ("compliance_city.csv", "全市 city"),
            "division": ("compliance_divisions.csv", "区县 divisions"),
            "township": ("compliance_townships.csv", "街道乡镇 townships"),
            "community": ("compliance_communities.csv", "社区 communities"),
            "undersized": ("compliance_undersized.csv", "面积不足 undersized"),
            "standards": ("compliance_standards.csv", "标准依据 standards"),
            "parameters": ("compliance_parameters.csv", "参数 parameters"),
        }
        written: list[Path] = []
        sheets: list[tuple[str, pd.DataFrame]] = []
        for key, table in self.tables().items():
            file_name, sheet = names[key]
            if key == "community":  # the long table, translated a block of rows at a time
                written.append(write_csv_atomic(table, folder / file_name,
                                                prepare=for_planners))
                sheets.append((sheet, for_planners(self.community_wide())))
                continue
            # parameters keep plain headers (parameter, value), as every command writes them
            out = table if key == "parameters" else for_planners(table)
            written.append(write_csv_atomic(out, folder / file_name))
            sheets.append((sheet, out))
        book = folder / "compliance.xlsx"
        with atomic_path(book) as tmp:
            pieces = write_compliance_workbook(tmp, sheets)
        for names_written in pieces.values():
            if len(names_written) > 1:  # never cut off: said where the rows continue
                log.info("%s: sheet %s has more rows than an Excel sheet holds; it continues "
                         "on sheet %s", book.name, names_written[0],
                         ", ".join(names_written[1:]))
        written.append(book)
        return written


def evaluate_compliance(
    *,
    communities: pd.DataFrame,
    facilities: pd.DataFrame,
    units: pd.DataFrame,
    access: pd.DataFrame,
    reach: Reach | None = None,
    catalog: Catalog | None = None,
    mode: str = "walk",
    thresholds: Mapping[str, float] | None = None,
    covered_share: float | None = None,
    targets: Iterable[str] | None = None,
    provenance: Mapping[str, str] | None = None,
    rural_mode: str | None = None,
    group_thresholds: Mapping[str, Mapping[str, float]] | None = None,
) -> ComplianceResult:
    r"""Evaluate the plan's targets for every community, township, division and the city.

    Coverage targets (T1, T2, T3, T7, T10) are read as the catalog's ``reading`` says, one
    result row per reading. By travel time: a demand unit is covered when every category of
    the target is within its threshold; a community is covered when the covered part of its
    population reaches ``covered_share``; the value is the share of communities covered (the
    share of population is reported too), against the target share, per scope. By presence
    (the plan's 建有 / 全覆盖: the community *has* one): a community is covered when a
    facility of every category lies inside its polygon or is assigned to it by the
    facilities' ``community_id`` column (a community id or name); a point community without
    that column is "not assessable: no polygon or community column", never counted as 0.

    Capacity targets (T4, T5, T8) use a two-step floating catchment (2SFCA). With
    :math:`S_j` the area of facility :math:`j` and :math:`D_k` the demand of unit :math:`k`
    (households / 100, or people), and :math:`C_j` the units within the threshold of
    :math:`j`:

    .. math:: R_j = S_j / \sum_{k \in C_j} D_k, \qquad A_k = \sum_{j : k \in C_j} R_j

    A community's value is the demand-weighted mean of :math:`A_k` over its units, and the
    m2 missing are :math:`\max(0, t - A_c) D_c` summed over communities. Every unit of any
    kind shares the supply; only communities in the target's scope are judged.

    Size targets (T6, T2.size): facilities of the categories at or above their
    ``min_floor_area_m2``. Attribute targets (T9, T11-T15): columns of the community or
    facility table; when a column is missing the row says ``not assessed: column X missing``.

    Parameters
    ----------
    communities
        ``id``, ``kind`` (``urban``/``rural``), ``population``, optional ``name``,
        ``township``, ``division``, ``households`` and attribute columns; geometry optional
        (used to place facilities in communities when they have no ``community_id``).
    facilities
        ``id``, ``category``, optional ``floor_area_m2``, ``site_area_m2``,
        ``opening_hours_per_day``, ``barrier_free``, ``community_id`` (id or name of the
        community the facility belongs to); geometry optional. Categories the catalog does not
        know are allowed: no target applies to them (they are listed in the parameters).
    units
        Demand units: ``unit_id``, ``community_id``, ``population``, ``households``.
    access
        ``demand_id`` (= ``unit_id``), ``category``, ``minutes`` (NaN when unreachable),
        ``facility_id``, as :func:`deyang_geo.analysis.access.minutes_to_nearest` returns.
    reach
        For the capacity targets: a :class:`~deyang_geo.analysis.access.ReachSet` or a scipy sparse
        matrix of minutes with one row per facility (in ``facilities`` order) and one column
        per unit (in ``units`` order), stored entries being the reached pairs; or a callable
        ``reach(facilities_subset, max_minutes)`` returning such a set for the given
        facilities (rows in their order). ``None``: capacity targets are not assessed.
    catalog
        The standards catalog; ``None`` loads the shipped one.
    mode
        The travel mode the access table and reach set were computed for (chooses each
        category's threshold).
    thresholds
        Minutes overriding the catalog, by category key or target id (a target id wins).
    covered_share
        Share of a community's population within reach for the community to count as
        covered; ``None`` uses ``settings.covered_share``.
    targets
        Target ids to evaluate; ``None`` evaluates all.
    provenance
        Notes written with the parameters (input files, speeds).
    rural_mode
        The mode rural units travelled in (the access table and reach set); None: ``mode``.
    group_thresholds
        The resolved analysis' thresholds, ``category -> {"urban": .., "rural": ..}``
        (:meth:`deyang_geo.study.resolved.ResolvedAnalysis.thresholds_minutes`): they replace the
        catalog's category thresholds; a target's own (urban) threshold and ``thresholds``
        still win.

    Returns
    -------
    ComplianceResult
        The tables per level.

    Raises
    ------
    InputError
        Listing every problem of the inputs at once.
    """
    catalog = catalog if catalog is not None else load_catalog()
    share = float(settings.covered_share if covered_share is None else covered_share)
    overrides = dict(thresholds or {})
    ctx = _Context.build(
        communities=communities, facilities=facilities, units=units, access=access,
        catalog=catalog, mode=mode, overrides=overrides, covered_share=share,
        rural_mode=rural_mode or mode, group_thresholds=group_thresholds or {},
    )
    chosen = list(catalog.targets)
    if targets is not None:
        wanted = list(targets)
        unknown = [t for t in wanted if t not in {x.id for x in chosen}]
        if unknown:
            msg = f"unknown target ids: {', '.join(unknown)}"
            raise InputError(msg)
        chosen = [t for t in chosen if t.id in wanted]

    rows: dict[str, list[pd.DataFrame]] = {level: [] for level in LEVELS}
    undersized: list[pd.DataFrame] = []
    for target in chosen:
        evaluation = _evaluate_target(ctx, target, reach)
        for level, table in evaluation.levels.items():
            rows[level].append(table)
        if evaluation.undersized is not None:
            undersized.append(evaluation.undersized)

    fac_cats = facilities["category"].astype(str) if "category" in facilities.columns else (
        pd.Series(dtype=str))
    beyond = fac_cats[~fac_cats.isin(list(catalog.categories))].value_counts().sort_index()
    params = {
        "catalog_version": catalog.version,
        "catalog_path": relative_path(catalog.path, None),  # no local absolute path
        "plan_edition": catalog.edition,
        "target_year": str(catalog.target_year),
        "categories_beyond_catalog": ", ".join(f"{k} ({v})" for k, v in beyond.items()),
        "mode": mode,
        "rural_mode": rural_mode or mode,
        "covered_share": f"{share:g}",
        "thresholds_overridden": ",".join(f"{k}={v:g}" for k, v in sorted(overrides.items())),
        "targets": ",".join(t.id for t in chosen),
        "communities": str(len(ctx.comm)),
        "units": str(len(ctx.units)),
        "facilities": str(len(ctx.fac)),
    }
    params.update({str(k): str(v) for k, v in (provenance or {}).items()})
    under = (pd.concat(undersized, ignore_index=True) if undersized
             else pd.DataFrame(columns=_UNDERSIZED_COLUMNS))
    under = under.drop_duplicates("id").sort_values(
        ["division", "township", "category", "id"], kind="stable", ignore_index=True)
    return ComplianceResult(
        targets=_concat(rows["city"], _CITY_COLUMNS),
        by_community=_concat(rows["community"], _COMMUNITY_COLUMNS),
        by_township=_concat(rows["township"], _TOWNSHIP_COLUMNS),
        by_division=_concat(rows["division"], _DIVISION_COLUMNS),
        undersized=under,
        parameters=params,
        catalog_version=catalog.version,
        standards=catalog_figures(catalog),
    )


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Context:
    """The inputs, checked and turned into arrays once."""

    catalog: Catalog
    mode: str
    overrides: Mapping[str, float]
    covered_share: float
    comm: pd.DataFrame  # id, name, kind, township, division, population, households + attrs
    units: pd.DataFrame  # unit_id, community_id, population, households, comm_pos, rural
    fac: pd.DataFrame  # id, category, areas..., comm_pos (-1 when not placed)
    raw_communities: pd.DataFrame
    raw_facilities: pd.DataFrame
    minutes: Mapping[str, NDArray[np.float64]]  # category -> minutes per unit (inf unreached)
    # presence: per community, whether it can be judged (polygon or a facility column)
    presence_assessable: NDArray[np.bool_] = field(
        default_factory=lambda: np.zeros(0, dtype=bool))
    presence_note: str = ""
    rural_mode: str = "walk"
    group_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def build(cls, *, communities: pd.DataFrame, facilities: pd.DataFrame, units: pd.DataFrame,
              access: pd.DataFrame, catalog: Catalog, mode: str, overrides: Mapping[str, float],
              covered_share: float, rural_mode: str = "walk",
              group_thresholds: Mapping[str, Mapping[str, float]] | None = None) -> _Context:
        problems: list[Problem] = []
        if mode not in settings.modes:
            problems.append(Problem(f"unknown mode {mode!r}; the modes are "
                                    f"{', '.join(settings.modes)}"))
        if not 0 < covered_share <= 1:
            problems.append(Problem(f"covered_share must be in (0, 1], got {covered_share}"))
        target_ids = {t.id for t in catalog.targets}
        for key, value in overrides.items():
            if key not in catalog.categories and key not in target_ids:
                problems.append(Problem(f"thresholds: {key!r} is neither a category nor a "
                                        "target id"))
            elif not (isinstance(value, (int, float)) and value > 0):
                problems.append(Problem(f"thresholds: {key} must be positive minutes, "
                                        f"got {value!r}"))
        for label, table, cols in (
            ("communities", communities, ("id", "kind", "population")),
            ("facilities", facilities, ("id", "category")),
            ("units", units, ("unit_id", "community_id", "population")),
            ("access", access, ("demand_id", "category", "minutes")),
        ):
            problems.extend(Problem(f"{label}: column missing", column=c)
                            for c in cols if c not in table.columns)
        if problems:
            raise InputError(problems)

        comm = pd.DataFrame({
            "id": communities["id"].astype(str).to_numpy(),
            "name": _text_column(communities, "name"),
            "kind": communities["kind"].astype(str).str.strip().str.lower().to_numpy(),
            "township": _text_column(communities, "township"),
            "division": _text_column(communities, "division"),
            "population": pd.to_numeric(communities["population"], errors="coerce").to_numpy(
                dtype=float),
        })
        bad_kind = ~comm["kind"].isin(["urban", "rural"])
        problems.extend(
            Problem(f"communities: kind must be urban or rural, got {k!r}", row=int(i) + 1,
                    column="kind")
            for i, k in zip(np.flatnonzero(bad_kind)[:10], comm["kind"][bad_kind][:10],
                            strict=False)
        )
        dup = comm["id"].duplicated()
        if dup.any():
            problems.append(Problem("communities: duplicate ids: "
                                    + ", ".join(comm["id"][dup].unique()[:10]), column="id"))
        pos = pd.Series(np.arange(len(comm)), index=comm["id"])
        if not dup.any():
            unit_comm = units["community_id"].astype(str)
            missing = ~unit_comm.isin(pos.index)
            if missing.any():
                problems.append(Problem("units: community_id not among the communities: "
                                        + ", ".join(unit_comm[missing].unique()[:10]),
                                        column="community_id"))
        u = pd.DataFrame({
            "unit_id": units["unit_id"].astype(str).to_numpy(),
            "community_id": units["community_id"].astype(str).to_numpy(),
            "population": pd.to_numeric(units["population"], errors="coerce").to_numpy(
                dtype=float),
            "households": (pd.to_numeric(units["households"], errors="coerce").to_numpy(
                dtype=float) if "households" in units.columns else np.full(len(units), np.nan)),
        })
        if u["unit_id"].duplicated().any():
            problems.append(Problem("units: duplicate unit_id: " + ", ".join(
                u["unit_id"][u["unit_id"].duplicated()].unique()[:10]), column="unit_id"))
        if (u["population"] < 0).any() or u["population"].isna().any():
            problems.append(Problem("units: population missing or negative", column="population"))
        acc_ids = access["demand_id"].astype(str)
        unit_pos = pd.Series(np.arange(len(u)), index=u["unit_id"])
        if not u["unit_id"].duplicated().any():
            unknown = ~acc_ids.isin(unit_pos.index)
            if unknown.any():
                problems.append(Problem("access: demand_id not among the units' unit_id: "
                                        + ", ".join(acc_ids[unknown].unique()[:10]),
                                        column="demand_id"))
        fac_ids = facilities["id"].astype(str)
        if fac_ids.duplicated().any():
            problems.append(Problem("facilities: duplicate ids: " + ", ".join(
                fac_ids[fac_ids.duplicated()].unique()[:10]), column="id"))
        if problems:
            raise InputError(problems)

        u["comm_pos"] = pos.reindex(u["community_id"]).to_numpy(dtype=np.int64)
        u["rural"] = comm["kind"].to_numpy()[u["comm_pos"].to_numpy()] == "rural"

        # minutes per unit and category (vectorised scatter)
        minutes: dict[str, NDArray[np.float64]] = {}
        acc_cat = access["category"].astype(str).to_numpy()
        acc_pos = unit_pos.reindex(acc_ids).to_numpy(dtype=np.int64)
        acc_min = pd.to_numeric(access["minutes"], errors="coerce").to_numpy(dtype=float)
        acc_min = np.where(np.isnan(acc_min), np.inf, acc_min)
        for cat in catalog.categories:
            arr = np.full(len(u), np.inf)
            sel = acc_cat == cat
            np.minimum.at(arr, acc_pos[sel], acc_min[sel])
            minutes[cat] = arr

        fac = pd.DataFrame({
            "id": fac_ids.to_numpy(),
            "name": _text_column(facilities, "name"),
            "category": facilities["category"].astype(str).to_numpy(),
        })
        inside, assessable, presence_note = _presence_positions(facilities, communities, comm)
        fac["inside_pos"] = inside
        # sizes and attributes per community: the same community (its column by id or name,
        # else the polygon it lies in), else the nearest one
        fac["comm_pos"] = np.where(inside >= 0, inside,
                                   _place_facilities(facilities, communities, pos))
        return cls(catalog=catalog, mode=mode, overrides=overrides, covered_share=covered_share,
                   comm=comm, units=u, fac=fac, raw_communities=communities,
                   raw_facilities=facilities, minutes=minutes,
                   presence_assessable=assessable, presence_note=presence_note,
                   rural_mode=rural_mode, group_thresholds=dict(group_thresholds or {}))

    def threshold(self, target: Target, category: str, *, rural: bool) -> float:
        """Minutes of ``category`` for ``target``, urban or rural.

        A user's override (target id, then category) wins; then the target's own (urban)
        threshold; then the category's urban or rural threshold for the mode.
        """
        if target.id in self.overrides:
            return float(self.overrides[target.id])
        if category in self.overrides:
            return float(self.overrides[category])
        if target.threshold_minutes is not None and not rural:
            return target.threshold_minutes
        group = self.group_thresholds.get(category, {})
        if ("rural" if rural else "urban") in group:
            return float(group["rural" if rural else "urban"])
        return self.catalog.categories[category].threshold_for(
            self.rural_mode if rural else self.mode, rural=rural)

    def threshold_text(self, target: Target, scope: str) -> str:
        """Describe the thresholds a target uses in ``scope`` (``<= 5 min walk``...)."""
        kinds = [("urban", False), ("rural", True)] if scope == "all" else [
            (scope, scope == "rural")]
        by_text: dict[str, list[str]] = {}
        for cat in target.categories:
            parts = [f"{self.threshold(target, cat, rural=r):g}" for _, r in kinds]
            if len(parts) == 2 and (parts[0] != parts[1] or self.rural_mode != self.mode):
                text = f"<= {parts[0]} min {self.mode} (rural {parts[1]} min {self.rural_mode})"
            elif scope == "rural":
                text = f"<= {parts[0]} min {self.rural_mode}"
            else:
                text = f"<= {parts[0]} min {self.mode}"
            by_text.setdefault(text, []).append(cat)
        return "; ".join(f"{'+'.join(cats)} {text}" for text, cats in by_text.items())

    def threshold_source(self, target: Target, scope: str) -> tuple[str, bool | None]:
        """Return where the thresholds of ``target`` in ``scope`` come from, and if verified."""
        if target.id in self.overrides:
            return "set by the user", None
        sources: list[str] = []
        verified: bool | None = True
        if target.threshold_minutes is not None and scope in ("urban", "all"):
            sources.append(f"{target.id} threshold: {target.threshold_source}")
            verified = bool(target.threshold_verified)
        for cat in target.categories:
            if cat in self.overrides:
                sources.append(f"{cat}: set by the user")
                verified = None
                continue
            c = self.catalog.categories[cat]
            figures: list[str] = []
            if scope in ("urban", "all") and target.threshold_minutes is None:
                figures.append("threshold")
            if scope in ("rural", "all"):
                figures.append("rural_threshold" if "rural_threshold" in c.sources
                               else "threshold")
            for fig in figures:
                rural = fig == "rural_threshold" or (fig == "threshold" and scope == "rural")
                used = self.group_thresholds.get(cat, {}).get("rural" if rural else "urban")
                own = c.threshold_for(self.rural_mode if rural else self.mode, rural=rural)
                if used is not None and abs(float(used) - own) > 1e-9:
                    sources.append(f"{cat} {'rural ' if rural else ''}threshold: set by the "
                                   f"study ({float(used):g} min)")
                    verified = None
                    continue
                sources.append(f"{cat} {fig.replace('_', ' ')}: {c.sources[fig]}")
                if verified is not None:
                    verified = verified and c.verified_flags[fig]
        return " | ".join(dict.fromkeys(sources)), verified


def _text_column(table: pd.DataFrame, column: str) -> NDArray[np.object_]:
    if column not in table.columns:
        return np.full(len(table), "", dtype=object)
    return np.asarray(table[column].astype(object).where(table[column].notna(), "").astype(str),
                      dtype=object)


#: Why a community's presence reading cannot be judged.
NO_PRESENCE = "not assessable: no polygon or community column"

_POLYGON_TYPES = ("Polygon", "MultiPolygon")


def _presence_positions(facilities: pd.DataFrame, communities: pd.DataFrame,
                        comm: pd.DataFrame
                        ) -> tuple[NDArray[np.int64], NDArray[np.bool_], str]:
    """Community of each facility for the presence reading, and which communities are judged.

    A facility belongs to the community its ``community_id`` column names (an id, else a
    unique community name), else to the community polygon it lies in; -1 when neither. A
    community is judged when the facilities carry a community column or it is a polygon;
    a point community without the column cannot be (never silently "has none").
    """
    n_fac, n_comm = len(facilities), len(comm)
    out = np.full(n_fac, -1, dtype=np.int64)
    notes: list[str] = []
    has_column = False
    if "community_id" in facilities.columns:
        raw = facilities["community_id"]
        values = raw.astype(str).str.strip()
        given = raw.notna().to_numpy() & (values != "").to_numpy()
        # an empty column says nothing: point communities stay "not assessable"
        has_column = bool(given.any())
        by_id = pd.Series(np.arange(n_comm), index=comm["id"].to_numpy())
        names = pd.Series(np.arange(n_comm), index=comm["name"].to_numpy())
        names = names[~names.index.duplicated(keep=False) & (names.index != "")]
        if by_id.index.duplicated().any():
            by_id = by_id[~by_id.index.duplicated(keep="first")]
        found = by_id.reindex(values.to_numpy()).to_numpy(dtype=float)
        found = np.where(np.isnan(found), names.reindex(values.to_numpy()).to_numpy(
            dtype=float), found)
        ok = given & ~np.isnan(found)
        out[ok] = found[ok].astype(np.int64)
        unknown = int((given & (out < 0)).sum())
        if unknown:
            notes.append(f"{unknown} facilities name a community that is not in the "
                         "communities file (community_id)")
    polygons = np.zeros(n_comm, dtype=bool)
    geo_c = communities.geometry if "geometry" in communities.columns else None
    geo_f = facilities.geometry if "geometry" in facilities.columns else None
    if geo_c is not None and n_comm:
        kinds = np.asarray(getattr(geo_c, "geom_type", pd.Series([None] * n_comm)))
        polygons = np.isin(kinds, _POLYGON_TYPES)
    todo = out < 0
    if polygons.any() and todo.any() and geo_f is not None and geo_c is not None:
        crs_c, crs_f = getattr(geo_c, "crs", None), getattr(geo_f, "crs", None)
        if crs_c is not None and crs_f is not None:
            left = gpd.GeoDataFrame({"f": np.flatnonzero(todo)},
                                    geometry=gpd.GeoSeries(geo_f.to_numpy()[todo], crs=crs_f)
                                    .to_crs(crs_c).to_numpy(), crs=crs_c)
            right = gpd.GeoDataFrame({"c": np.flatnonzero(polygons)},
                                     geometry=np.asarray(geo_c.to_numpy())[polygons],
                                     crs=crs_c)
            joined = gpd.sjoin(left, right, how="inner", predicate="intersects")
            joined = joined.sort_values(["f", "c"]).drop_duplicates("f")
            out[joined["f"].to_numpy()] = joined["c"].to_numpy().astype(np.int64)
    assessable = np.full(n_comm, has_column) | polygons
    if not assessable.all():
        notes.append(f"{int((~assessable).sum())} point communities {NO_PRESENCE}")
    return out, assessable, "; ".join(notes)


def _place_facilities(facilities: pd.DataFrame, communities: pd.DataFrame,
                      pos: pd.Series) -> NDArray[np.int64]:
    """Community position of each facility: its ``community_id``, else the nearest one."""
    out = np.full(len(facilities), -1, dtype=np.int64)
    if "community_id" in facilities.columns:
        ids = facilities["community_id"].astype(str)
        known = ids.isin(pos.index).to_numpy()
        out[known] = pos.reindex(ids[known]).to_numpy(dtype=np.int64)
    todo = out < 0
    geo_f = getattr(facilities, "geometry", None) if "geometry" in facilities.columns else None
    geo_c = getattr(communities, "geometry", None) if "geometry" in communities.columns else None
    if not todo.any() or geo_f is None or geo_c is None or len(communities) == 0:
        return out


    gf = gpd.GeoSeries(geo_f.to_numpy(), crs=getattr(geo_f, "crs", None))
    gc = gpd.GeoSeries(geo_c.to_numpy(), crs=getattr(geo_c, "crs", None))
    if gf.crs is None or gc.crs is None:
        return out
    pts = shapely.get_coordinates(gc.to_crs("EPSG:4326").representative_point().to_numpy())
    metric = local_metric_crs(pts[:, 0], pts[:, 1])
    left = gpd.GeoDataFrame({"f": np.flatnonzero(todo)}, geometry=gf[todo].to_crs(metric)
                            .to_numpy(), crs=metric)
    right = gpd.GeoDataFrame({"c": np.arange(len(gc))}, geometry=gc.to_crs(metric).to_numpy(),
                             crs=metric)
    joined = gpd.sjoin_nearest(left, right, how="left").sort_values(["f", "c"])
    joined = joined.drop_duplicates("f")
    ok = joined["c"].notna().to_numpy()
    out[joined["f"].to_numpy()[ok]] = joined["c"].to_numpy()[ok].astype(np.int64)
    return out


def _reach_matrix(reach: Reach, ctx: _Context, rows: NDArray[np.int64],
                  max_minutes: float) -> sp.csr_array:
    """Return the reach set of the facilities ``rows`` (positions in ``ctx.fac``) as CSR."""
    n_units = len(ctx.units)
    subset_only = False
    if callable(reach) and not isinstance(reach, (ReachLike, sp.sparray, sp.spmatrix)):
        reach = reach(ctx.raw_facilities.iloc[rows], max_minutes)
        subset_only = True
    if isinstance(reach, ReachLike):
        limit = getattr(reach, "max_minutes", np.inf)
        if limit < max_minutes - _EPS:
            warnings.warn(f"the reach set stops at {limit:g} min but a catchment needs "
                          f"{max_minutes:g} min: catchments are cut short", InputWarning,
                          stacklevel=3)
        mat = sp.csr_array((np.asarray(reach.minutes, dtype=np.float64),
                            np.asarray(reach.indices), np.asarray(reach.indptr)),
                           shape=(reach.n_sources, reach.n_demand))
    elif isinstance(reach, (sp.sparray, sp.spmatrix)):
        mat = sp.csr_array(reach)
    else:
        msg = f"reach must be a ReachSet, a scipy sparse matrix or a callable, got {type(reach)}"
        raise InputError(msg)
    expected_rows = len(rows) if subset_only else len(ctx.fac)
    if mat.shape != (expected_rows, n_units):
        msg = (f"reach set has shape {mat.shape}, expected ({expected_rows}, {n_units}): "
               "one row per facility, one column per demand unit")
        raise InputError(msg)
    return mat if subset_only else sp.csr_array(mat[rows])


# --------------------------------------------------------------------------------------------
# per target
# --------------------------------------------------------------------------------------------


@dataclass
class _Evaluation:
    levels: dict[str, pd.DataFrame]
    undersized: pd.DataFrame | None = None


def _scopes(target: Target) -> list[tuple[str, float]]:
    return [(s, float(v)) for s, v in target.target.items()]


def _in_scope(ctx: _Context, scope: str) -> NDArray[np.bool_]:
    kind = ctx.comm["kind"].to_numpy()
    return np.ones(len(kind), dtype=bool) if scope == "all" else kind == scope


def _evaluate_target(ctx: _Context, target: Target, reach: Reach | None) -> _Evaluation:
    if not target.assessable:
        return _not_assessed(ctx, target, f"not assessable: {target.not_assessable_reason}")
    if target.kind == "coverage":
        parts = [_presence(ctx, target) if reading == "presence" else _coverage(ctx, target)
                 for reading in (target.readings or ("travel_time",))]
        if len(parts) == 1:
            return parts[0]
        return _Evaluation({lv: _concat([p.levels[lv] for p in parts], None)
                            for lv in LEVELS})
    if target.kind == "capacity":
        return _capacity(ctx, target, reach)
    if target.kind == "size":
        return _size(ctx, target)
    return _attribute(ctx, target)


def _base_sums(n: int) -> pd.DataFrame:
    return pd.DataFrame({c: np.zeros(n) for c in _SUM_COLUMNS})


def _coverage(ctx: _Context, target: Target) -> _Evaluation:
    rural = ctx.units["rural"].to_numpy()
    covered = np.ones(len(ctx.units), dtype=bool)
    for cat in target.categories:
        thr = np.where(rural, ctx.threshold(target, cat, rural=True),
                       ctx.threshold(target, cat, rural=False))
        covered &= ctx.minutes[cat] <= thr + _EPS
    n_comm = len(ctx.comm)
    cpos = ctx.units["comm_pos"].to_numpy()
    pop = ctx.units["population"].to_numpy()
    comm_pop = np.bincount(cpos, weights=pop, minlength=n_comm)
    comm_cov_pop = np.bincount(cpos, weights=pop * covered, minlength=n_comm)
    n_units = np.bincount(cpos, minlength=n_comm).astype(float)
    n_cov_units = np.bincount(cpos, weights=covered.astype(float), minlength=n_comm)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(comm_pop > 0, comm_cov_pop / np.where(comm_pop > 0, comm_pop, 1),
                         n_cov_units / np.where(n_units > 0, n_units, 1))
    has_units = n_units > 0
    is_cov = has_units & (share >= ctx.covered_share - _EPS)
    sums = _base_sums(n_comm)
    sums["n"] = has_units.astype(float)
    sums["n_met"] = is_cov.astype(float)
    sums["population"] = comm_pop
    sums["population_met"] = comm_cov_pop
    sums["comm_value"] = np.where(has_units, share, np.nan)
    sums["comm_met"] = np.where(has_units, is_cov, np.nan)
    note = ("" if has_units.all() else
            f"{int((~has_units).sum())} communities without demand units are left out")
    return _levels(ctx, target, sums, note=note, reading="travel_time")


def _presence(ctx: _Context, target: Target) -> _Evaluation:
    """Judge whether each community *has* a facility of every target category (建有, 全覆盖)."""
    judged = ctx.presence_assessable
    if not judged.any():
        return _not_assessed(ctx, target, NO_PRESENCE, reading="presence")
    n_comm = len(ctx.comm)
    inside = ctx.fac["inside_pos"].to_numpy()
    cats = ctx.fac["category"].to_numpy()
    fewest = np.full(n_comm, np.inf)
    for cat in target.categories:
        sel = (cats == cat) & (inside >= 0)
        fewest = np.minimum(fewest, np.bincount(inside[sel], minlength=n_comm))
    has = judged & (fewest >= 1)
    pop = np.nan_to_num(ctx.comm["population"].to_numpy(dtype=float))
    sums = _base_sums(n_comm)
    sums["n"] = judged.astype(float)
    sums["n_met"] = has.astype(float)
    sums["n_unjudged"] = (~judged).astype(float)
    sums["population"] = np.where(judged, pop, 0.0)
    sums["population_met"] = np.where(has, pop, 0.0)
    sums["comm_value"] = np.where(judged, fewest, np.nan)
    sums["comm_met"] = np.where(judged, has, np.nan)
    sums["comm_status"] = np.where(judged, "", NO_PRESENCE)
    return _levels(ctx, target, sums, note=ctx.presence_note, reading="presence")


def _capacity(ctx: _Context, target: Target, reach: Reach | None) -> _Evaluation:
    if reach is None:
        return _not_assessed(ctx, target, "not assessed: no reach set given")
    column = target.area_column or "floor_area_m2"
    if column not in ctx.raw_facilities.columns:
        return _not_assessed(ctx, target, f"not assessed: column {column} missing")
    per_households = target.measure == "m2_per_100_households"
    if per_households and ctx.units["households"].isna().all():
        return _not_assessed(ctx, target, "not assessed: column households missing")
    rows = np.flatnonzero(ctx.fac["category"].isin(target.categories).to_numpy())
    area = pd.to_numeric(ctx.raw_facilities[column], errors="coerce").to_numpy(dtype=float)[rows]
    notes = []
    if np.isnan(area).any():
        notes.append(f"{int(np.isnan(area).sum())} facilities without {column} count as 0 m2")
    area = np.nan_to_num(area, nan=0.0)
    if per_households:
        hh = ctx.units["households"].to_numpy()
        if np.isnan(hh).any():
            notes.append(f"{int(np.isnan(hh).sum())} units without households count as 0")
        demand = np.nan_to_num(hh, nan=0.0) / 100.0
    else:
        demand = ctx.units["population"].to_numpy()
    rural = ctx.units["rural"].to_numpy()
    cats = ctx.fac["category"].to_numpy()[rows]
    thr_urban = np.array([ctx.threshold(target, c, rural=False) for c in cats])
    thr_rural = np.array([ctx.threshold(target, c, rural=True) for c in cats])
    max_minutes = float(max(thr_urban.max(initial=0.0), thr_rural.max(initial=0.0)))
    n_units = len(ctx.units)
    if len(rows):
        mat = _reach_matrix(reach, ctx, rows, max_minutes)
        access_k = _two_step(mat, area, demand, thr_urban=thr_urban, thr_rural=thr_rural,
                             rural=rural)
    else:
        access_k = np.zeros(n_units)
    t_values = dict(_scopes(target))
    cpos = ctx.units["comm_pos"].to_numpy()
    n_comm = len(ctx.comm)
    comm_demand = np.bincount(cpos, weights=demand, minlength=n_comm)
    comm_supply = np.bincount(cpos, weights=demand * access_k, minlength=n_comm)
    with np.errstate(invalid="ignore", divide="ignore"):
        comm_value = np.where(comm_demand > 0, comm_supply / np.where(comm_demand > 0,
                                                                      comm_demand, 1), np.nan)
    has = comm_demand > 0
    # per-community target: urban/rural value of the target when it differs
    kinds = ctx.comm["kind"].to_numpy()
    t_comm = np.array([t_values.get(k, t_values.get("all", np.nan)) for k in kinds])
    met = has & (comm_value >= t_comm - _EPS)
    sums = _base_sums(n_comm)
    sums["n"] = has.astype(float)
    sums["n_met"] = met.astype(float)
    pop = np.bincount(cpos, weights=ctx.units["population"].to_numpy(), minlength=n_comm)
    sums["population"] = np.where(has, pop, 0.0)
    sums["population_met"] = np.where(met, pop, 0.0)
    sums["demand"] = comm_demand
    sums["supply"] = comm_supply
    sums["m2_missing"] = np.where(has, np.maximum(0.0, t_comm - np.nan_to_num(comm_value))
                                  * comm_demand, 0.0)
    sums["comm_value"] = comm_value
    sums["comm_met"] = np.where(has, met, np.nan)
    return _levels(ctx, target, sums, note="; ".join(notes))


def _two_step(mat: sp.csr_array, supply: NDArray[np.float64], demand: NDArray[np.float64], *,
              thr_urban: NDArray[np.float64], thr_rural: NDArray[np.float64],
              rural: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Two-step floating catchment: area per demand of each facility, summed per unit."""
    row = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    col = np.asarray(mat.indices, dtype=np.int64)
    minutes = np.asarray(mat.data, dtype=float)
    limit = np.where(rural[col], thr_rural[row], thr_urban[row])
    inside = minutes <= limit + _EPS
    row, col = row[inside], col[inside]
    catchment = np.bincount(row, weights=demand[col], minlength=mat.shape[0])
    ratio = np.divide(supply, catchment, out=np.zeros_like(supply), where=catchment > 0)
    return np.bincount(col, weights=ratio[row], minlength=mat.shape[1]).astype(np.float64)


_UNDERSIZED_COLUMNS = ["id", "name", "category", "floor_area_m2", "min_floor_area_m2",
                       "m2_missing", "community_id", "township", "division"]


def _size(ctx: _Context, target: Target) -> _Evaluation:
    if "floor_area_m2" not in ctx.raw_facilities.columns:
        return _not_assessed(ctx, target, "not assessed: column floor_area_m2 missing")
    minimum = {c: ctx.catalog.categories[c].min_floor_area_m2 for c in target.categories}
    no_min = [c for c, v in minimum.items() if v is None]
    cats = [c for c, v in minimum.items() if v is not None]
    sel = np.flatnonzero(ctx.fac["category"].isin(cats).to_numpy())
    area = pd.to_numeric(ctx.raw_facilities["floor_area_m2"], errors="coerce").to_numpy(
        dtype=float)[sel]
    mins = ctx.fac["category"].iloc[sel].map(minimum).to_numpy(dtype=float)
    known = ~np.isnan(area)
    ok = known & (area >= mins - _EPS)
    missing = np.where(known, np.maximum(0.0, mins - area), 0.0)
    fpos = ctx.fac["comm_pos"].to_numpy()[sel]
    placed = fpos >= 0
    n_comm = len(ctx.comm)
    sums = _base_sums(n_comm)
    sums["fac_n"] = np.bincount(fpos[placed], minlength=n_comm).astype(float)
    sums["fac_met"] = np.bincount(fpos[placed], weights=ok[placed], minlength=n_comm)
    sums["fac_unknown"] = np.bincount(fpos[placed], weights=~known[placed], minlength=n_comm)
    sums["m2_missing"] = np.bincount(fpos[placed], weights=missing[placed], minlength=n_comm)
    judged = sums["fac_n"] - sums["fac_unknown"]
    with np.errstate(invalid="ignore", divide="ignore"):
        sums["comm_value"] = np.where(judged > 0, sums["fac_met"] / judged.where(judged > 0, 1),
                                      np.nan)
    sums["comm_met"] = np.where(judged > 0, sums["fac_met"] == judged, np.nan)
    notes = []
    if no_min:
        notes.append(f"no min_floor_area_m2 in the catalog for {', '.join(no_min)}")
    if (~placed).any():
        notes.append(f"{int((~placed).sum())} facilities not placed in a community are counted "
                     "city-wide only")
    extra = {
        "fac_n": float(len(sel)), "fac_met": float(ok.sum()),
        "fac_unknown": float((~known).sum()), "m2_missing": float(missing.sum()),
    }
    below = known & ~ok
    comm_ids = ctx.comm["id"].to_numpy()
    bpos = fpos[below]
    undersized = pd.DataFrame({
        "id": ctx.fac["id"].to_numpy()[sel][below],
        "name": ctx.fac["name"].to_numpy()[sel][below],
        "category": ctx.fac["category"].to_numpy()[sel][below],
        "floor_area_m2": area[below],
        "min_floor_area_m2": mins[below],
        "m2_missing": missing[below],
        "community_id": np.where(bpos >= 0, comm_ids[np.maximum(bpos, 0)], ""),
        "township": np.where(bpos >= 0, ctx.comm["township"].to_numpy()[np.maximum(bpos, 0)],
                             ""),
        "division": np.where(bpos >= 0, ctx.comm["division"].to_numpy()[np.maximum(bpos, 0)],
                             ""),
    })
    ev = _levels(ctx, target, sums, note="; ".join(notes), city_totals=extra)
    ev.undersized = undersized
    return ev


def _attribute(ctx: _Context, target: Target) -> _Evaluation:
    table = ctx.raw_facilities if target.table == "facilities" else ctx.raw_communities
    column = target.column or ""
    needed = [column] + ([target.denominator_column] if target.denominator_column else [])
    for col in needed:
        if col and col not in table.columns:
            return _not_assessed(ctx, target, f"not assessed: column {col} missing")
    n_comm = len(ctx.comm)
    sums = _base_sums(n_comm)
    rule = target.rule
    if target.table == "facilities":
        sel = np.flatnonzero(ctx.fac["category"].isin(target.categories).to_numpy()
                             if target.categories else np.ones(len(ctx.fac), dtype=bool))
        values = table[column].iloc[sel]
        if rule == "share_true":
            parsed = _bools(values)
        else:
            nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            parsed = np.where(np.isnan(nums), np.nan, nums >= (target.min_value or 0.0) - _EPS)
        known = ~np.isnan(parsed)
        ok = known & (parsed == 1)
        fpos = ctx.fac["comm_pos"].to_numpy()[sel]
        placed = fpos >= 0
        sums["fac_n"] = np.bincount(fpos[placed], minlength=n_comm).astype(float)
        sums["fac_met"] = np.bincount(fpos[placed], weights=ok[placed], minlength=n_comm)
        sums["fac_unknown"] = np.bincount(fpos[placed], weights=~known[placed],
                                          minlength=n_comm)
        judged = sums["fac_n"] - sums["fac_unknown"]
        with np.errstate(invalid="ignore", divide="ignore"):
            sums["comm_value"] = np.where(judged > 0,
                                          sums["fac_met"] / judged.where(judged > 0, 1), np.nan)
        sums["comm_met"] = np.where(judged > 0, sums["fac_met"] == judged, np.nan)
        extra = {"fac_n": float(len(sel)), "fac_met": float(ok.sum()),
                 "fac_unknown": float((~known).sum()), "m2_missing": 0.0}
        return _levels(ctx, target, sums, city_totals=extra)

    values = table[column]
    t_values = dict(_scopes(target))
    kinds = ctx.comm["kind"].to_numpy()
    t_comm = np.array([t_values.get(k, t_values.get("all", np.nan)) for k in kinds])
    pop = ctx.comm["population"].to_numpy()
    if rule == "share_true":
        parsed = _bools(values)
        known = ~np.isnan(parsed)
        sums["n"] = known.astype(float)
        sums["n_met"] = (known & (parsed == 1)).astype(float)
        sums["comm_value"] = parsed
        sums["comm_met"] = parsed
    elif rule == "share_at_least":
        nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(nums)
        met = known & (nums >= (target.min_value or 0.0) - _EPS)
        sums["n"] = known.astype(float)
        sums["n_met"] = met.astype(float)
        sums["comm_value"] = nums
        sums["comm_met"] = np.where(known, met, np.nan)
    elif rule in ("mean", "total"):
        nums = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(nums)
        met = known & (nums >= t_comm - _EPS)
        sums["n"] = known.astype(float)
        sums["n_met"] = met.astype(float)
        sums["amount"] = np.nan_to_num(nums)
        sums["comm_value"] = nums
        sums["comm_met"] = np.where(known, met, np.nan) if rule == "mean" else np.nan
    else:  # ratio
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        den = pd.to_numeric(table[target.denominator_column], errors="coerce").to_numpy(
            dtype=float)
        known = ~np.isnan(num) & ~np.isnan(den) & (den > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(known, num / np.where(known, den, 1), np.nan)
        met = known & (ratio >= t_comm - _EPS)
        sums["n"] = known.astype(float)
        sums["n_met"] = met.astype(float)
        sums["num"] = np.where(known, num, 0.0)
        sums["den"] = np.where(known, den, 0.0)
        sums["comm_value"] = ratio
        sums["comm_met"] = np.where(known, met, np.nan)
    sums["population"] = np.where(known, np.nan_to_num(pop), 0.0)
    sums["population_met"] = np.where(sums["n_met"] > 0, np.nan_to_num(pop), 0.0)
    unknown = int((~known).sum())
    note = f"{unknown} communities without a value are left out" if unknown else ""
    return _levels(ctx, target, sums, note=note)


def _bools(values: pd.Series) -> NDArray[np.float64]:
    """1.0 / 0.0 / NaN from yes/no cells (是/否, true/false, 1/0...)."""
    log = ProblemLog(None)
    parsed = parse_bools(values, rows=np.arange(1, len(values) + 1), column=str(values.name),
                         log=log, what=str(values.name))
    return np.array([np.nan if v is None else float(v) for v in parsed], dtype=float)


# --------------------------------------------------------------------------------------------
# levels and final columns
# --------------------------------------------------------------------------------------------

_KEY_COLUMNS = {
    "community": ["community_id", "name", "kind", "township", "division"],
    "township": ["division", "township"],
    "division": ["division"],
    "city": [],
}

_TARGET_INFO = ["target_id", "scope", "target_kind", "reading", "categories", "threshold",
                "unit"]

_RESULT = ["value", "target", "met", "status", "communities", "communities_met",
           "communities_short", "population", "population_share", "people_short", "m2_missing",
           "facilities", "facilities_short", "facilities_unknown", "amount_short"]

_PROVENANCE = ["source", "verified", "standard_source", "standard_verified", "assumptions",
               "plan_edition", "target_year", "description_zh", "description_en", "note"]

_CITY_COLUMNS = _TARGET_INFO + _RESULT + _PROVENANCE

_DIVISION_COLUMNS = _KEY_COLUMNS["division"] + _CITY_COLUMNS

_TOWNSHIP_COLUMNS = _KEY_COLUMNS["township"] + _CITY_COLUMNS

_COMMUNITY_COLUMNS = _KEY_COLUMNS["community"] + _TARGET_INFO + [
    "value", "target", "met", "status", "population", "m2_missing", "source", "verified",
    "assumptions"]


def _unit(target: Target) -> str:
    key = target.kind if target.kind in ("coverage", "size") else (
        target.measure if target.kind == "capacity" else target.rule)
    return _UNITS.get(key or "", "")


_READING_OF_KIND = {"coverage": "travel_time", "capacity": "2sfca", "size": "size",
                    "attribute": "attribute"}


def _info(ctx: _Context, target: Target, scope: str, reading: str | None = None
          ) -> dict[str, Any]:
    std_source, std_verified = "", None
    threshold = ""
    reading = reading or _READING_OF_KIND.get(target.kind, "")
    if reading == "presence":
        threshold = ("+".join(target.categories) + " inside the community "
                     "(polygon or community_id)")
        std_source, std_verified = f"plan text: {target.source}", target.verified
    elif target.kind in ("coverage", "capacity"):
        std_source, std_verified = ctx.threshold_source(target, scope)
        threshold = ctx.threshold_text(target, scope)
    elif target.kind == "size":
        parts, flags = [], []
        for c in target.categories:
            cat = ctx.catalog.categories[c]
            if cat.min_floor_area_m2 is not None:
                parts.append(f"{c} >= {cat.min_floor_area_m2:g} m2: "
                             f"{cat.sources.get('min_floor_area', '')}")
                flags.append(cat.verified_flags.get("min_floor_area", False))
        std_source = " | ".join(parts)
        std_verified = all(flags) if flags else None
    elif target.kind == "attribute" and target.min_value is not None:
        threshold = f"{target.column} >= {target.min_value:g}"
    return {
        "target_id": target.id,
        "scope": scope,
        "target_kind": target.kind,
        "categories": "+".join(target.categories),
        "threshold": threshold,
        "reading": reading,
        "unit": ("communities with the facility" if reading == "presence" else _unit(target)),
        "source": target.source,
        "assumptions": " | ".join(target.assumptions_for(reading,
                                                         covered_share=ctx.covered_share)),
        "plan_edition": ctx.catalog.edition,
        "target_year": ctx.catalog.target_year or np.nan,
        "verified": target.verified,
        "standard_source": std_source,
        "standard_verified": std_verified,
        "description_zh": target.description_zh,
        "description_en": target.description_en,
    }


def _finalise(sums: pd.DataFrame, target: Target, t: float) -> pd.DataFrame:
    """Value, met, gaps and status from additive sums (one row per group)."""
    out = pd.DataFrame(index=sums.index)
    n = sums["n"].to_numpy()
    n_met = sums["n_met"].to_numpy()
    pop = sums["population"].to_numpy()
    pop_met = sums["population_met"].to_numpy()
    fac_judged = (sums["fac_n"] - sums["fac_unknown"]).to_numpy()
    nan = np.full(len(sums), np.nan)
    value = nan.copy()
    comm_short = nan.copy()
    people_short = nan.copy()
    m2_missing = nan.copy()
    fac_short = nan.copy()
    amount_short = nan.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        if target.kind == "coverage" or (
                target.rule in ("share_true", "share_at_least")
                and target.table == "communities"):
            value = np.where(n > 0, n_met / n, np.nan)
            comm_short = np.maximum(0.0, np.ceil(t * n - _EPS) - n_met)
            if target.kind == "coverage":
                people_short = np.maximum(0.0, np.ceil(t * pop - _EPS) - pop_met)
        elif target.kind == "capacity":
            demand = sums["demand"].to_numpy()
            value = np.where(demand > 0, sums["supply"].to_numpy() / demand, np.nan)
            comm_short = n - n_met
            people_short = pop - pop_met
            m2_missing = sums["m2_missing"].to_numpy()
        elif target.kind == "size" or target.table == "facilities":
            value = np.where(fac_judged > 0, sums["fac_met"].to_numpy() / fac_judged, np.nan)
            fac_short = np.maximum(0.0, np.ceil(t * fac_judged - _EPS) - sums["fac_met"])
            if target.kind == "size":
                m2_missing = sums["m2_missing"].to_numpy()
        elif target.rule == "mean":
            amount = sums["amount"].to_numpy()
            value = np.where(n > 0, amount / n, np.nan)
            comm_short = n - n_met
            amount_short = np.maximum(0.0, t * n - amount)
        elif target.rule == "ratio":
            num, den = sums["num"].to_numpy(), sums["den"].to_numpy()
            value = np.where(den > 0, num / den, np.nan)
            comm_short = n - n_met
            amount_short = np.maximum(0.0, np.ceil(t * den - _EPS) - num)
        elif target.rule == "total":
            value = np.where(n > 0, sums["amount"].to_numpy(), np.nan)
            amount_short = np.maximum(0.0, t - sums["amount"].to_numpy())
        pop_share = np.where(pop > 0, pop_met / pop, np.nan)
    assessed = ~np.isnan(value)
    met = np.where(assessed, value >= t - _EPS, False)
    out["value"] = value
    out["target"] = t
    out["met"] = pd.arrays.BooleanArray(met.astype(bool) & assessed, ~assessed)
    # communities in scope that cannot be judged (presence of point communities) say why
    empty = np.where(sums["n_unjudged"].to_numpy() > 0, NO_PRESENCE, "no data in scope")
    out["status"] = np.where(assessed, np.where(met, "met", "missed"), empty)
    out["communities"] = n
    out["communities_met"] = n_met
    # gaps towards an aggregate share are 0 once it is met; counts of communities below their
    # own standard (capacity, mean, ratio) stay, since an average can hide them
    per_community = target.kind == "capacity" or target.rule in ("mean", "ratio")
    out["communities_short"] = comm_short if per_community else np.where(met, 0.0, comm_short)
    out["population"] = pop
    out["population_share"] = pop_share if target.kind == "coverage" else np.nan
    # whole people: units carry fractions of a community's population
    people_short = np.ceil(np.round(people_short, 6))
    out["people_short"] = people_short if per_community else np.where(met, 0.0, people_short)
    out["m2_missing"] = m2_missing
    out["facilities"] = sums["fac_n"].to_numpy() if (
        target.kind == "size" or target.table == "facilities") else np.nan
    out["facilities_short"] = np.where(met, 0.0, fac_short)
    out["facilities_unknown"] = sums["fac_unknown"].to_numpy() if (
        target.kind == "size" or target.table == "facilities") else np.nan
    out["amount_short"] = np.where(met, 0.0, amount_short)
    return out


def _levels(ctx: _Context, target: Target, sums: pd.DataFrame, *, note: str = "",
            city_totals: dict[str, float] | None = None, reading: str | None = None,
            ) -> _Evaluation:
    comm = ctx.comm
    levels: dict[str, list[pd.DataFrame]] = {lv: [] for lv in LEVELS}
    for scope, t in _scopes(target):
        info = _info(ctx, target, scope, reading)
        mask = _in_scope(ctx, scope)
        part = sums.loc[mask, list(_SUM_COLUMNS)]
        keys = comm.loc[mask, ["division", "township"]]
        frames = {
            "division": part.groupby(keys["division"].to_numpy(), sort=True).sum(),
            "township": part.groupby([keys["division"].to_numpy(), keys["township"].to_numpy()],
                                     sort=True).sum(),
        }
        city = part.sum().to_frame().T
        if city_totals is not None and scope == "all":
            # facilities placed in no community still count city-wide
            for k, v in city_totals.items():
                city[k] = v
        rule_total = target.rule == "total"
        for level, grouped in (("city", city), *frames.items()):
            if rule_total and level != "city":
                continue
            fin = _finalise(grouped, target, t)
            if level == "division":
                fin.insert(0, "division", grouped.index.to_numpy())
            elif level == "township":
                fin.insert(0, "division", grouped.index.get_level_values(0).to_numpy())
                fin.insert(1, "township", grouped.index.get_level_values(1).to_numpy())
            for k, v in info.items():
                fin[k] = v
            fin["note"] = note
            levels[level].append(fin.reset_index(drop=True))
        if target.rule != "total" and "comm_value" in sums.columns:
            c_mask = mask & ~pd.isna(sums["comm_value"].to_numpy())
            if "comm_status" in sums.columns:
                c_mask |= mask & (sums["comm_status"].to_numpy() != "")
            t_per = t
            cm = sums["comm_met"].to_numpy()[c_mask]
            cdf = pd.DataFrame({
                "community_id": comm["id"].to_numpy()[c_mask],
                "name": comm["name"].to_numpy()[c_mask],
                "kind": comm["kind"].to_numpy()[c_mask],
                "township": comm["township"].to_numpy()[c_mask],
                "division": comm["division"].to_numpy()[c_mask],
                "value": sums["comm_value"].to_numpy()[c_mask],
                "target": t_per if target.kind not in ("coverage",) else ctx.covered_share,
                "met": pd.arrays.BooleanArray(np.nan_to_num(cm) != 0, np.isnan(cm)),
                "population": comm["population"].to_numpy()[c_mask],
                "m2_missing": sums["m2_missing"].to_numpy()[c_mask] if target.kind in (
                    "capacity", "size") else np.nan,
            })
            cdf["status"] = np.where(pd.isna(cm), "no data", np.where(cm == 1, "met", "missed"))
            if "comm_status" in sums.columns:
                special = sums["comm_status"].to_numpy()[c_mask]
                cdf["status"] = np.where(special != "", special, cdf["status"].to_numpy())
            for k, v in info.items():
                if k in _COMMUNITY_COLUMNS:
                    cdf[k] = v
            if info["reading"] == "presence":
                cdf["unit"] = "facilities in the community (fewest over the categories)"
                cdf["target"] = 1.0
            elif target.kind == "coverage":
                cdf["unit"] = "share of population within the threshold"
            levels["community"].append(cdf)
    return _Evaluation({lv: _concat(v, None) for lv, v in levels.items()})


def _not_assessed(ctx: _Context, target: Target, status: str, *,
                  reading: str | None = None) -> _Evaluation:
    out: dict[str, pd.DataFrame] = {}
    rows = []
    for scope, t in _scopes(target):
        info = _info(ctx, target, scope, reading)
        rows.append({**info, "target": t, "met": pd.NA, "status": status})
    base = pd.DataFrame(rows)
    out["city"] = base
    if target.rule == "total":
        out["division"] = pd.DataFrame()
        out["township"] = pd.DataFrame()
    else:
        keys = ctx.comm[["division", "township"]].drop_duplicates()
        divisions = sorted(set(keys["division"]))
        townships = sorted(zip(keys["division"], keys["township"], strict=True))
        out["division"] = _per_group(base, {"division": divisions})
        out["township"] = _per_group(base, {"division": [d for d, _ in townships],
                                            "township": [tw for _, tw in townships]})
    out["community"] = pd.DataFrame()
    return _Evaluation(out)


def _per_group(base: pd.DataFrame, keys: Mapping[str, list[str]]) -> pd.DataFrame:
    """Repeat ``base`` once per group, with the group's ``keys`` as columns at the end.

    The same table as concatenating ``base.assign(**group)`` over the groups, in one step.
    """
    n_groups = len(next(iter(keys.values())))
    if not n_groups:
        return pd.DataFrame()
    table = base.take(np.tile(np.arange(len(base)), n_groups)).reset_index(drop=True)
    for column, values in keys.items():
        table[column] = np.repeat(np.asarray(values, dtype=object), len(base))
    return table


def _concat(frames: list[pd.DataFrame], columns: list[str] | None) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if columns is None:
        return table
    for c in columns:
        if c not in table.columns:
            table[c] = pd.NA if c in ("met", "verified", "standard_verified") else (
                "" if c in ("status", "note", "threshold", "source", "standard_source",
                            "reading", "assumptions", "plan_edition") else np.nan)
    table = table[columns]
    if "met" in table.columns:
        table["met"] = table["met"].astype("boolean")
    return table


def gap_summary(result: ComplianceResult) -> list[str]:
    """Return one line per missed city-level target, in planners' terms.

    Parameters
    ----------
    result
        A compliance result.

    Returns
    -------
    list of str
        E.g. ``"T2 urban: 0.75 < 1 share of communities; 3 communities, 12000 people short"``.
    """
    lines = []
    for row in result.targets.itertuples(index=False):
        if row.status != "missed":
            continue
        gaps = []
        for col, label in (("communities_short", "communities"), ("people_short", "people"),
                           ("m2_missing", "m2"), ("facilities_short", "facilities"),
                           ("amount_short", "more needed")):
            v = getattr(row, col)
            if isinstance(v, float) and not math.isnan(v) and v > 0:
                gaps.append(f"{v:,.0f} {label}")
        how = " (presence)" if getattr(row, "reading", "") == "presence" else ""
        lines.append(f"{row.target_id} {row.scope}{how}: {row.value:.3g} < {row.target:g} "
                     f"{row.unit}; short: {', '.join(gaps) or '-'}")
    return lines

