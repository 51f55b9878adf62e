"""Two result folders compared: minutes, covered people, classes and plan targets before/after.

:func:`compare_folders` reads what ``deyang-geo run``, ``access`` or ``compliance`` wrote
(``coverage.csv``, ``coverage_parameters.csv``, ``compliance_*.csv``, ``settings.json``) in a
base folder and a scenario folder and returns a :class:`Comparison`: difference tables per
community, township and the study area, the plan targets whose status changes, and the
settings that differ between the two runs (two runs are comparable only when made with the
same settings, apart from what the scenario changes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from deyang_geo.analysis.coverage import coverage_column
from deyang_geo.core import settings
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.io.files import dumps_json, write_csv_atomic, write_text_atomic
from deyang_geo.io.points import read_communities
from deyang_geo.io.tables_zh import read_table
from deyang_geo.outputs.report_summary import canonical_column
from deyang_geo.outputs.webmap_compare import compare_map
from deyang_geo.study.scenario import read_lines

__all__ = ["COMPARE_HEADERS", "Comparison", "compare_coverage", "compare_folders"]

#: Bilingual headers of the written tables: column -> "中文 english".
COMPARE_HEADERS: dict[str, str] = {
    "community_id": "社区编号 community_id",
    "name": "名称 name",
    "kind": "城乡 kind",
    "township": "街道乡镇 township",
    "division": "区县 division",
    "category": "设施类别 category",
    "level": "层级 level",
    "communities": "社区数 communities",
    "population": "人口 population",
    "threshold_minutes_before": "方案前时间门槛 threshold_minutes_before",
    "threshold_minutes_after": "方案后时间门槛 threshold_minutes_after",
    "minutes_before": "方案前分钟 minutes_before",
    "minutes_after": "方案后分钟 minutes_after",
    "minutes_change": "分钟变化 minutes_change",
    "covered_population_before": "方案前覆盖人口 covered_population_before",
    "covered_population_after": "方案后覆盖人口 covered_population_after",
    "covered_population_change": "覆盖人口变化 covered_population_change",
    "covered_share_before": "方案前覆盖率 covered_share_before",
    "covered_share_after": "方案后覆盖率 covered_share_after",
    "class_before": "方案前覆盖等级 class_before",
    "class_after": "方案后覆盖等级 class_after",
    "class_change": "等级变化 class_change",
    "change": "变化 change",
    "covered_communities_before": "方案前覆盖社区数 covered_communities_before",
    "covered_communities_after": "方案后覆盖社区数 covered_communities_after",
    "communities_better": "等级提升社区数 communities_better",
    "communities_worse": "等级下降社区数 communities_worse",
    "target_id": "目标 target_id",
    "scope": "范围 scope",
    "reading": "判读方式 reading",
    "unit": "单位 unit",
    "value_before": "方案前现状值 value_before",
    "value_after": "方案后现状值 value_after",
    "status_before": "方案前状态 status_before",
    "status_after": "方案后状态 status_after",
    "source": "来源文件 source",
    "parameter": "参数 parameter",
    "before": "方案前 before",
    "after": "方案后 after",
    "compared": "可比较 compared",
    "same": "相同 same",
    "expected": "方案所致 expected",
}
#: Coverage classes from worst to best.
CLASS_ORDER: dict[str, int] = {"outside": 0, "partly": 1, "covered": 2}
#: People: a change smaller than this is no change (coverage weights are fractional).
PEOPLE_EPS = 0.5
#: Minutes: a change smaller than this is no change.
MINUTES_EPS = 0.01
_LEVEL_KEYS: dict[str, list[str]] = {
    "community": ["community_id"],
    "township": ["division", "township"],
    "division": ["division"],
    "city": [],
}
_LEVEL_FILES: dict[str, str] = {
    "community": "compliance_communities.csv",
    "township": "compliance_townships.csv",
    "division": "compliance_divisions.csv",
    "city": "compliance_city.csv",
}
#: Parameters that count the data rather than set the analysis.
_DATA_PARAMETERS = frozenset({"communities", "units", "facilities"})


@dataclass(frozen=True)
class Comparison:
    """A scenario compared with a base.

    Attributes
    ----------
    names
        Names of the base and the scenario (``("base", "bridge")``).
    base_dir, scenario_dir
        The two result folders.
    threshold_minutes
        The coverage threshold compared.
    communities
        Per community and category: minutes (the median of the community's people), covered
        people, covered share and class before and after, their changes, and ``change``
        (``gain``, ``loss``, ``faster``, ``slower`` or ``same``).
    townships
        Per township and category: people, population-weighted mean minutes, covered people
        and covered communities before and after, communities whose class got better / worse.
    study_area
        The same for the whole study area, per category.
    targets
        Plan targets whose status changes, per level (community, township, division, city).
    settings
        Every parameter recorded in either folder: ``source, parameter, before, after,
        compared, same, expected`` (``compared``: the record is in both folders;
        ``expected``: the scenario itself changes it).
    geometry
        Communities (``id``, geometry in WGS-84) for maps, or None when neither folder nor the
        caller gave them.
    scenario
        The scenario's record from ``settings.json`` (what it changes), if any.
    added_lines
        Paths or bridges the scenario added to the network (WGS-84), for maps, or None.
    """

    names: tuple[str, str]
    base_dir: Path
    scenario_dir: Path
    threshold_minutes: float
    communities: pd.DataFrame
    townships: pd.DataFrame
    study_area: pd.DataFrame
    targets: pd.DataFrame
    settings: pd.DataFrame
    geometry: Any = None
    scenario: Mapping[str, Any] | None = field(default=None)
    added_lines: Any = None

    @property
    def settings_differ(self) -> bool:
        """Whether the two folders were made with different settings beyond the scenario's."""
        s = self.settings
        return bool(len(s) and (s["compared"] & ~s["same"] & ~s["expected"]).any())

    def settings_note(self) -> str:
        """Return a bilingual sentence on whether the two runs used the same settings."""
        s = self.settings
        if not len(s) or not s["compared"].any():
            return ("两个文件夹没有共同的设置记录，无法核对是否可比 / the two folders share no "
                    "settings record: comparability cannot be checked")
        one_sided = sorted(set(s.loc[~s["compared"], "source"]))
        alone = (f" ({', '.join(one_sided)} only in one folder: not compared)"
                 if one_sided else "")
        diff = s[s["compared"] & ~s["same"] & ~s["expected"]]
        if not len(diff):
            return ("两次运行设置相同（方案改动除外）/ both runs used the same settings "
                    f"(apart from what the scenario changes){alone}")
        items = "; ".join(f"{r.parameter}: {r.before} -> {r.after}"
                          for r in diff.head(8).itertuples())
        more = f" (+{len(diff) - 8} more)" if len(diff) > 8 else ""
        return (f"注意：两个文件夹的设置不同，差异可能并非来自方案 / WARNING: the two folders were "
                f"made with different settings, so differences may not come from the "
                f"scenario: {items}{more}{alone}")

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers (per category: covered people before/after...)."""
        area = self.study_area
        per_cat: dict[str, dict[str, Any]] = {}
        for r in area.to_dict("records"):
            per_cat[str(r["category"])] = {
                "population": float(r["population"]),
                "covered_population_before": round(float(r["covered_population_before"]), 1),
                "covered_population_after": round(float(r["covered_population_after"]), 1),
                "covered_population_change": round(float(r["covered_population_change"]), 1),
                "minutes_before": _num(r["minutes_before"]),
                "minutes_after": _num(r["minutes_after"]),
                "communities_better": int(r["communities_better"]),
                "communities_worse": int(r["communities_worse"]),
            }
        return {
            "names": list(self.names),
            "base": str(self.base_dir),
            "scenario": str(self.scenario_dir),
            "scenario_record": dict(self.scenario) if self.scenario else None,
            "threshold_minutes": self.threshold_minutes,
            "settings_differ": self.settings_differ,
            "settings_note": self.settings_note(),
            "categories": per_cat,
            "targets_changed": len(self.targets),
        }

    def write(self, out_dir: str | os.PathLike[str], *, map_html: bool = True,
              lang: str = "both") -> dict[str, Path]:
        """Write the tables (CSV, UTF-8 with BOM, bilingual headers), a summary and the map.

        Files: ``compare_communities.csv``, ``compare_townships.csv``,
        ``compare_study_area.csv``, ``compare_targets.csv``, ``compare_settings.csv``,
        ``compare_summary.json`` and, when community geometry is known, ``compare_map.html``.

        Parameters
        ----------
        out_dir
            Output folder (created if needed); every file is written atomically.
        map_html
            Also write the side-by-side map.
        lang
            Labels of the map: ``"zh"``, ``"en"`` or ``"both"``.

        Returns
        -------
        dict
            File name -> path.
        """
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        yes_no = {True: "是 yes", False: "否 no"}
        settings = self.settings.assign(
            compared=self.settings["compared"].map(yes_no),
            same=self.settings["same"].map(yes_no).where(self.settings["compared"], ""),
            expected=self.settings["expected"].map({True: "是 yes", False: ""}))
        for name, table in (("compare_communities.csv", self.communities),
                            ("compare_townships.csv", self.townships),
                            ("compare_study_area.csv", self.study_area),
                            ("compare_targets.csv", self.targets),
                            ("compare_settings.csv", settings)):
            written[name] = write_csv_atomic(_bilingual(table), folder / name,
                                             lineterminator="\n")
        written["compare_summary.json"] = write_text_atomic(folder / "compare_summary.json",
                                                            dumps_json(self.summary()))
        if map_html and self.geometry is not None:
            written["compare_map.html"] = compare_map(self, folder / "compare_map.html",
                                                      lang=lang)
        return written


def _num(value: Any) -> float | None:
    v = float(value)
    return round(v, 2) if np.isfinite(v) else None


def _bilingual(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            digits = 4 if "share" in col else 2
            out[col] = out[col].round(digits)
    return out.rename(columns={c: COMPARE_HEADERS.get(c, c) for c in out.columns})


# ---------------------------------------------------------------------------------------------
# reading result folders


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        # tables in any language (Chinese or bilingual headers and values) back to English
        # keys; values stay text except percentages, which become 0-1 shares
        table = read_table(table)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(Problem(f"cannot read: {exc}", file=str(path))) from None
    return table.rename(columns={c: canonical_column(c) for c in table.columns})


def _sites_summary(folder: Path) -> dict[str, Any] | None:
    """Return the ``summary.json`` of a ``suggest-sites`` folder, or None."""
    path = folder / "summary.json"
    if not (path.exists() and (folder / "community_coverage.csv").exists()):
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(Problem(f"cannot read: {exc}", file=str(path))) from None
    return summary if isinstance(summary, dict) else None


def _sites_coverage(folder: Path, summary: Mapping[str, Any]) -> pd.DataFrame:
    """Return a coverage table from a ``suggest-sites`` folder: its category with the sites."""
    path = folder / "community_coverage.csv"
    table = _read_csv(path)
    category = summary.get("category")
    minutes = (summary.get("parameters") or {}).get("max_minutes")
    if category is None or minutes is None:
        msg = "no category or parameters.max_minutes: cannot compare these sites"
        raise InputError(Problem(msg, file=str(folder / "summary.json")))
    pop = pd.to_numeric(table["population"], errors="coerce")
    covered = pd.to_numeric(table["covered_population_after"], errors="coerce")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(pop > 0, covered / pop, 0.0)
    cls = np.where(share >= settings.covered_share, "covered",
                   np.where(share >= settings.partly_covered_share, "partly", "outside"))
    return pd.DataFrame({
        "community_id": table["community_id"].astype(str), "name": "", "kind": "",
        "township": "", "division": "", "category": str(category), "population": pop,
        "minutes": np.nan, "threshold_minutes": float(minutes),
        "covered_population": covered, "covered_share": share,
        coverage_column("covered_population", float(minutes)): covered,
        coverage_column("covered_share", float(minutes)): share, "class": cls})


def _coverage_table(folder: Path) -> pd.DataFrame:
    path = folder / "coverage.csv"
    if not path.exists():
        summary = _sites_summary(folder)
        if summary is not None:
            return _sites_coverage(folder, summary)
        msg = ("no coverage.csv: not a result folder of deyang-geo run, access, demo or "
               "suggest-sites (give the folder those commands wrote)")
        raise InputError(Problem(msg, file=str(path)))
    table = _read_csv(path)
    need = ["community_id", "category", "population", "minutes", "class"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(Problem(f"missing columns {missing}", file=str(path)))
    return table


def _parameters(folder: Path) -> dict[tuple[str, str], str]:
    """Every parameter a result folder records: (source file, parameter) -> value."""
    out: dict[tuple[str, str], str] = {}
    for name in ("coverage_parameters.csv", "compliance_parameters.csv"):
        path = folder / name
        if path.exists():
            table = _read_csv(path)
            if {"parameter", "value"} <= set(table.columns):
                for p, v in zip(table["parameter"], table["value"], strict=True):
                    if p not in _DATA_PARAMETERS and p != "catalog_path":
                        out[(name, str(p))] = str(v)
    summary = _sites_summary(folder)
    if summary is not None:  # a suggest-sites folder: its model and parameters
        for key, value in _flatten({k: summary.get(k) for k in
                                    ("category", "model", "parameters", "synthetic")
                                    if k in summary}).items():
            out[("summary.json", key)] = value
    path = folder / "settings.json"
    if path.exists():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(Problem(f"cannot read: {exc}", file=str(path))) from None
        for key, value in _flatten(record).items():
            out[("settings.json", key)] = value
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for k in sorted(value):
            out.update(_flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, Mapping) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: json.dumps(value, ensure_ascii=False, sort_keys=True)}


def _scenario_record(folder: Path) -> dict[str, Any] | None:
    path = folder / "settings.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    scenario = record.get("scenario") if isinstance(record, dict) else None
    return scenario if isinstance(scenario, dict) else None


def _expected(key: str, scenario: Mapping[str, Any] | None) -> bool:
    """Whether a setting differs because of the scenario itself."""
    if key.startswith(("scenario", "study.siting")) or key in ("study", "study.name"):
        return True  # the scenario itself, the sites it does not re-suggest, its title
    if scenario is None:
        return False
    return scenario.get("walk_speed_kmh") is not None and key == "study.network.speeds_kmh.walk"


def _settings_table(base: Path, scen: Path,
                    scenario: Mapping[str, Any] | None) -> pd.DataFrame:
    a, b = _parameters(base), _parameters(scen)
    both = {src for src, _ in a} & {src for src, _ in b}
    rows = []
    for src, key in sorted(set(a) | set(b)):
        before, after = a.get((src, key), ""), b.get((src, key), "")
        # a record only one folder has is not a difference: it cannot be compared
        compared = src in both
        rows.append({"source": src, "parameter": key, "before": before, "after": after,
                     "compared": compared, "same": compared and before == after,
                     "expected": compared and before != after and _expected(key, scenario)})
    return pd.DataFrame(rows, columns=["source", "parameter", "before", "after", "compared",
                                       "same", "expected"])


def _threshold(folder: Path) -> float | None:
    path = folder / "coverage_parameters.csv"
    if not path.exists():
        summary = _sites_summary(folder)
        minutes = (summary.get("parameters") or {}).get("max_minutes") if summary else None
        return float(minutes) if minutes is not None else None
    table = _read_csv(path)
    hit = table.loc[table["parameter"] == "threshold_minutes", "value"]
    return float(hit.iloc[0]) if len(hit) and hit.iloc[0] else None


def _decision_columns(table: pd.DataFrame, minutes: float) -> tuple[str, str]:
    """Return the covered people and share columns that decide the class.

    At each category's own threshold (``covered_population``) when the table has them, else
    at the study's threshold (``covered_population_<T>min``).
    """
    if {"covered_population", "covered_share"} <= set(table.columns):
        return "covered_population", "covered_share"
    return _covered_columns(table, minutes)


def _covered_columns(table: pd.DataFrame, minutes: float) -> tuple[str, str]:
    pop = coverage_column("covered_population", minutes)
    share = coverage_column("covered_share", minutes)
    if pop not in table.columns:
        msg = f"no column {pop!r}: the coverage was not computed at {minutes:g} minutes"
        raise InputError(msg)
    return pop, share


# ---------------------------------------------------------------------------------------------
# the differences


def compare_coverage(before: pd.DataFrame, after: pd.DataFrame, *,
                     threshold_minutes: float) -> pd.DataFrame:
    """Return the per-community difference table of two coverage tables.

    Parameters
    ----------
    before, after
        Per community and category (``coverage.csv`` or ``CoverageResult.communities``):
        ``community_id, name, kind, township, division, category, population, minutes,
        covered_population_<T>min, covered_share_<T>min, class``.
    threshold_minutes
        The threshold whose covered people are compared.

    Returns
    -------
    pandas.DataFrame
        One row per community and category present in either table (see
        :attr:`Comparison.communities`).
    """
    pop_b, share_b = _decision_columns(before, threshold_minutes)
    pop_a, share_a = _decision_columns(after, threshold_minutes)
    keys = ["community_id", "category"]
    info = ["name", "kind", "township", "division"]
    own = "threshold_minutes" in before.columns and "threshold_minutes" in after.columns

    def prepared(t: pd.DataFrame, pop: str, share: str, suffix: str) -> pd.DataFrame:
        cols = {"population": "population", "minutes": f"minutes_{suffix}",
                pop: f"covered_population_{suffix}", share: f"covered_share_{suffix}",
                "class": f"class_{suffix}"}
        if own:
            cols["threshold_minutes"] = f"threshold_minutes_{suffix}"
        out = t[[*keys, *[c for c in info if c in t.columns], *cols]].rename(columns=cols)
        out = out.astype(dict.fromkeys(keys, str))
        for c in ("population", f"minutes_{suffix}", f"covered_population_{suffix}",
                  f"covered_share_{suffix}", *([f"threshold_minutes_{suffix}"] if own else [])):
            out[c] = pd.to_numeric(out[c], errors="coerce")
        return out

    b = prepared(before, pop_b, share_b, "before")
    a = prepared(after, pop_a, share_a, "after")
    merged = b.merge(a, on=keys, how="outer", suffixes=("", "_a"), sort=False)
    for c in ["population", *info]:
        if f"{c}_a" in merged.columns:
            merged[c] = merged[c].where(merged[c].notna(), merged[f"{c}_a"])
            merged = merged.drop(columns=f"{c}_a")
    merged["minutes_change"] = merged["minutes_after"] - merged["minutes_before"]
    merged["covered_population_change"] = (merged["covered_population_after"].fillna(0)
                                           - merged["covered_population_before"].fillna(0))
    cb = merged["class_before"].fillna("")
    ca = merged["class_after"].fillna("")
    merged["class_change"] = np.where(cb != ca, cb + " -> " + ca, "")
    rank_b = cb.map(CLASS_ORDER)
    rank_a = ca.map(CLASS_ORDER)
    dm = merged["minutes_change"].to_numpy(dtype=float)
    dp = merged["covered_population_change"].to_numpy(dtype=float)
    gone_b = ~np.isfinite(merged["minutes_before"].to_numpy(dtype=float))
    gone_a = ~np.isfinite(merged["minutes_after"].to_numpy(dtype=float))
    change = np.select(
        [dp > PEOPLE_EPS, dp < -PEOPLE_EPS, (rank_a > rank_b).to_numpy(),
         (rank_a < rank_b).to_numpy(), dm < -MINUTES_EPS, dm > MINUTES_EPS,
         gone_b & ~gone_a, gone_a & ~gone_b],
        ["gain", "loss", "gain", "loss", "faster", "slower", "faster", "slower"],
        default="same")
    merged["change"] = change
    order = ["community_id", *[c for c in info if c in merged.columns], "category",
             *(["threshold_minutes_before", "threshold_minutes_after"] if own else []),
             "population", "minutes_before", "minutes_after", "minutes_change",
             "covered_population_before", "covered_population_after",
             "covered_population_change", "covered_share_before", "covered_share_after",
             "class_before", "class_after", "class_change", "change"]
    out = merged[order]
    return out.sort_values(["category", "community_id"], kind="mergesort").reset_index(drop=True)


def _aggregate(diff: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum people, weight minutes by people, count classes per group of communities."""
    d = diff.copy()
    pop = d["population"].fillna(0.0)
    rank_b = d["class_before"].map(CLASS_ORDER)
    rank_a = d["class_after"].map(CLASS_ORDER)
    for s in ("before", "after"):
        m = d[f"minutes_{s}"]
        ok = m.notna()
        d[f"_wm_{s}"] = (m * pop).where(ok, 0.0)
        d[f"_w_{s}"] = pop.where(ok, 0.0)
        d[f"_cov_{s}"] = (d[f"class_{s}"] == "covered").astype(int)
    d["_better"] = (rank_a > rank_b).astype(int)
    d["_worse"] = (rank_a < rank_b).astype(int)
    g = d.groupby([*keys, "category"], sort=True, dropna=False)
    out = g.agg(communities=("community_id", "size"), population=("population", "sum"),
                covered_population_before=("covered_population_before", "sum"),
                covered_population_after=("covered_population_after", "sum"),
                covered_communities_before=("_cov_before", "sum"),
                covered_communities_after=("_cov_after", "sum"),
                communities_better=("_better", "sum"), communities_worse=("_worse", "sum"),
                wm_before=("_wm_before", "sum"), w_before=("_w_before", "sum"),
                wm_after=("_wm_after", "sum"), w_after=("_w_after", "sum")).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["minutes_before"] = np.where(out["w_before"] > 0,
                                         out["wm_before"] / out["w_before"], np.nan)
        out["minutes_after"] = np.where(out["w_after"] > 0,
                                        out["wm_after"] / out["w_after"], np.nan)
        pop_total = out["population"].to_numpy(dtype=float)
        for s in ("before", "after"):
            out[f"covered_share_{s}"] = np.where(
                pop_total > 0, out[f"covered_population_{s}"] / pop_total, np.nan)
    out["minutes_change"] = out["minutes_after"] - out["minutes_before"]
    out["covered_population_change"] = (out["covered_population_after"]
                                         - out["covered_population_before"])
    cols = [*keys, "category", "communities", "population", "minutes_before", "minutes_after",
            "minutes_change", "covered_population_before", "covered_population_after",
            "covered_population_change", "covered_share_before", "covered_share_after",
            "covered_communities_before", "covered_communities_after", "communities_better",
            "communities_worse"]
    return out[cols]


def _targets(base: Path, scen: Path) -> pd.DataFrame:
    """Plan targets whose status (or met flag) differs between the two folders."""
    frames = []
    for level, keys in _LEVEL_KEYS.items():
        name = _LEVEL_FILES[level]
        pb, pa = base / name, scen / name
        if not (pb.exists() and pa.exists()):
            continue
        b, a = _read_csv(pb), _read_csv(pa)
        on = [*keys, "target_id",
              *[c for c in ("scope", "reading") if c in b.columns and c in a.columns]]
        # a target may have several rows per place (urban and rural parts): number them
        b = b.assign(_n=b.groupby(on, sort=False).cumcount())
        a = a.assign(_n=a.groupby(on, sort=False).cumcount())
        on = [*on, "_n"]
        info = [c for c in ("name", "township", "division", "unit") if c in b.columns
                and c not in on]
        left = b[[*on, *info, "value", "status"]]
        right = a[[*on, "value", "status"]]
        m = left.merge(right, on=on, how="outer", suffixes=("_before", "_after"))
        changed = m[m["status_before"].fillna("") != m["status_after"].fillna("")]
        if len(changed):
            frames.append(changed.assign(level=level))
    cols = ["level", "community_id", "name", "division", "township", "target_id", "scope",
            "reading", "unit",
            "value_before", "value_after", "status_before", "status_after"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    for c in cols:
        if c not in out.columns:
            out[c] = ""
    return out[cols].fillna("")


def _read_geometry(folder: Path) -> Any:
    import pyogrio

    path = folder / "report_layers.gpkg"
    if not path.exists():
        return None
    layers = {str(r[0]) for r in pyogrio.list_layers(path)}
    parts = [gpd.read_file(path, layer=name)[["id", "geometry"]]
             for name in ("communities_polygons", "communities_points", "communities")
             if name in layers]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def compare_folders(base_dir: str | os.PathLike[str], scenario_dir: str | os.PathLike[str], *,
                    names: tuple[str, str] = ("base", "scenario"),
                    communities: Any = None, input_crs: str = "wgs84") -> Comparison:
    """Compare two result folders (``run``, ``demo``, ``access``, ``suggest-sites``...).

    Parameters
    ----------
    base_dir, scenario_dir
        Folders holding ``coverage.csv`` (and optionally ``compliance_*.csv``,
        ``coverage_parameters.csv``, ``settings.json``, ``report_layers.gpkg``), or
        ``suggest-sites`` folders (``community_coverage.csv`` and ``summary.json``: the
        category's coverage with the suggested sites; minutes are not recorded there).
    names
        Names of the two runs in outputs.
    communities
        Communities file or GeoDataFrame for the map when the folders hold no
        ``report_layers.gpkg`` (``access`` folders), or None.
    input_crs
        Coordinate system of a communities table without one.

    Returns
    -------
    Comparison
        The difference tables.

    Raises
    ------
    InputError
        When a folder is missing or holds no coverage table, or the two folders used
        different coverage thresholds and their tables carry no per-category threshold
        (folders written before thresholds were resolved per category). A per-category
        threshold that differs is reported in ``threshold_minutes_before/after`` and in the
        settings note instead.
    """
    base, scen = Path(base_dir), Path(scenario_dir)
    for folder in (base, scen):
        if not folder.is_dir():
            raise InputError(Problem("result folder not found", file=str(folder)))
    before, after = _coverage_table(base), _coverage_table(scen)
    tb, ta = _threshold(base), _threshold(scen)
    threshold = tb if tb is not None else ta
    if threshold is None:
        threshold = settings.threshold_minutes
    own = "threshold_minutes" in before.columns and "threshold_minutes" in after.columns
    if ta is not None and tb is not None and ta != tb and not own:
        msg = (f"the two folders use different coverage thresholds ({tb:g} and {ta:g} minutes): "
               "coverage cannot be compared")
        raise InputError(Problem(msg, file=str(scen / "coverage_parameters.csv")))
    diff = compare_coverage(before, after, threshold_minutes=threshold)
    scenario = _scenario_record(scen)
    townships = _aggregate(diff, ["division", "township"])
    area = _aggregate(diff.assign(level="study area"), ["level"]).drop(columns="level")
    geometry = None
    if communities is not None:
        if isinstance(communities, gpd.GeoDataFrame):
            geometry = communities[["id", communities.geometry.name]].to_crs("EPSG:4326")
        else:
            geometry = read_communities(communities, input_crs=input_crs)[["id", "geometry"]]
    if geometry is None:
        geometry = _read_geometry(base)
    if geometry is None:
        geometry = _read_geometry(scen)
    return Comparison(names=names, base_dir=base, scenario_dir=scen,
                      threshold_minutes=float(threshold), communities=diff,
                      townships=townships, study_area=area, targets=_targets(base, scen),
                      settings=_settings_table(base, scen, scenario), geometry=geometry,
                      scenario=scenario, added_lines=_added_lines(scenario))


def _added_lines(scenario: Mapping[str, Any] | None) -> Any:
    """Return the lines a scenario added (from its record), when their files still exist."""
    if not scenario or not scenario.get("add_lines"):
        return None


    parts = [read_lines(p) for p in scenario["add_lines"] if Path(p).exists()]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
