"""Equity of access: population-weighted Gini, Palma, concentration index, worst-served decile.

Every measure is computed from one Lorenz curve of a value (minutes to the nearest facility,
or a graded score) with population weights: units are sorted by value (or, for the
concentration index, by a ranking column such as income or the elderly share), the cumulative
population share ``p`` runs along one axis and the cumulative share of the value ``L`` along
the other. Then

- Gini ``G = 1 - sum (p_i - p_{i-1}) (L_i + L_{i-1})`` (the area formula; equal to the
  mean-absolute-difference Gini of :class:`inequality.gini.Gini` when all weights are 1);
- Palma ``(1 - L(0.9)) / L(0.4)``: the share held by the top 10 % of people over the share of
  the bottom 40 % (people at the boundaries are split, ``L`` is linear in between);
- concentration index: the same area formula with people ranked by the ranking column
  (ties merged), in ``[-1, 1]``; negative when the value gathers among the low-ranked;
- the share of people in the worst-served decile: the people whose value is at or beyond the
  study area's population-weighted 90th percentile of minutes (10th of a score).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from deyang_geo.analysis.accessibility import CATEGORY_POPULATION
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.io.files import write_csv_atomic
from deyang_geo.io.fonts import figure_language, save_figure

__all__ = [
    "EquityResult",
    "compute_equity",
    "concentration_index",
    "gini",
    "lorenz_curve",
    "lorenz_figure",
    "palma_ratio",
    "worst_decile_threshold",
    "write_lorenz_figures",
]

#: Scopes of the equity table, in the order written.
SCOPES: tuple[str, ...] = ("study_area", "kind", "township")


# ---------------------------------------------------------------------- measures
def _clean(values: Any, weights: Any | None, rank_by: Any | None = None
           ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    r = None if rank_by is None else np.asarray(rank_by, dtype=np.float64).ravel()
    if v.shape != w.shape or (r is not None and r.shape != v.shape):
        msg = f"values ({v.size}), weights ({w.size}) and ranks differ in length"
        raise InputError(msg)
    if np.any(v[np.isfinite(v)] < 0):
        msg = "inequality measures need values >= 0"
        raise InputError(msg)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        msg = "weights must be finite numbers >= 0"
        raise InputError(msg)
    keep = np.isfinite(v) & (w > 0)
    if r is not None:
        keep &= np.isfinite(r)
        r = r[keep]
    return v[keep], w[keep], r


def lorenz_curve(values: Any, *, weights: Any | None = None, rank_by: Any | None = None
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the (concentration) Lorenz curve: cumulative shares of people and of the value.

    Parameters
    ----------
    values
        Values >= 0 (``nan`` rows are left out).
    weights
        People per value (default 1 each).
    rank_by
        Rank people by this instead of by the value (a concentration curve); ties are merged.

    Returns
    -------
    tuple of numpy.ndarray
        ``p`` and ``L``, both starting at 0 and ending at 1 (``L`` is all 0 when the values
        sum to 0).
    """
    v, w, r = _clean(values, weights, rank_by)
    if v.size == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 0.0])
    if r is None:
        order = np.argsort(v, kind="stable")
        ws, vs = w[order], v[order]
    else:
        keys, inv = np.unique(r, return_inverse=True)
        ws = np.bincount(inv, weights=w, minlength=keys.size).astype(np.float64)
        vs = np.bincount(inv, weights=w * v, minlength=keys.size).astype(np.float64) / ws
    p = np.concatenate([[0.0], np.cumsum(ws)]) / ws.sum()
    mass = np.concatenate([[0.0], np.cumsum(ws * vs)])
    total = mass[-1]
    lor = mass / total if total > 0 else np.zeros_like(mass)
    return p, lor


def _area_index(p: NDArray[np.float64], lor: NDArray[np.float64]) -> float:
    if lor[-1] == 0:
        return float("nan")
    return float(1.0 - np.sum(np.diff(p) * (lor[1:] + lor[:-1])))


def gini(values: Any, *, weights: Any | None = None) -> float:
    """Return the population-weighted Gini coefficient of ``values``.

    Parameters
    ----------
    values
        Values >= 0 (``nan`` left out).
    weights
        People per value (default 1 each).

    Returns
    -------
    float
        In ``[0, 1)``; ``nan`` when the values sum to 0 or nothing is left.
    """
    p, lor = lorenz_curve(values, weights=weights)
    return _area_index(p, lor)


def palma_ratio(values: Any, *, weights: Any | None = None) -> float:
    """Return the Palma ratio: share of the top 10 % of people over that of the bottom 40 %.

    Parameters
    ----------
    values
        Values >= 0 (``nan`` left out).
    weights
        People per value (default 1 each).

    Returns
    -------
    float
        ``(1 - L(0.9)) / L(0.4)``; ``inf`` when the bottom 40 % hold nothing, ``nan`` when all
        values are 0.
    """
    p, lor = lorenz_curve(values, weights=weights)
    if lor[-1] == 0:
        return float("nan")
    bottom = float(np.interp(0.4, p, lor))
    top = 1.0 - float(np.interp(0.9, p, lor))
    return top / bottom if bottom > 0 else float("inf")


def concentration_index(values: Any, *, rank_by: Any, weights: Any | None = None) -> float:
    """Return the concentration index of ``values`` by ``rank_by`` (e.g. income).

    Equal to ``2 cov_w(y, R) / mean_w(y)`` with ``R`` the weighted fractional rank by
    ``rank_by`` (people with equal rank share one).

    Parameters
    ----------
    values
        Values >= 0.
    rank_by
        The ranking variable, lowest first.
    weights
        People per value (default 1 each).

    Returns
    -------
    float
        In ``[-1, 1]``; ``nan`` when the values sum to 0.
    """
    p, lor = lorenz_curve(values, weights=weights, rank_by=rank_by)
    return _area_index(p, lor)


def worst_decile_threshold(values: Any, *, weights: Any | None = None,
                           higher_is_worse: bool = True) -> float:
    """Return the value beyond which lie the worst-served 10 % of people.

    Parameters
    ----------
    values
        Values (``nan`` left out).
    weights
        People per value.
    higher_is_worse
        True for minutes, False for a score.

    Returns
    -------
    float
        The population-weighted 90th (or 10th) percentile (lower value at a step).
    """
    v, w, _ = _clean(values, weights)
    if v.size == 0:
        return float("nan")
    v = v if higher_is_worse else -v
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    at = min(int(np.searchsorted(cum, 0.9 - 1e-12)), v.size - 1)
    t = float(v[order][at])
    return t if higher_is_worse else -t


# ---------------------------------------------------------------------- tables
@dataclass(frozen=True, eq=False)
class EquityResult:
    """Equity of access per category, for the study area, urban/rural and each township.

    Attributes
    ----------
    table
        ``category, scope, group, population, units, value, value_mean, gini, palma,
        concentration_index, rank_by, worst_decile_threshold, worst_decile_share``.
    values
        The per-unit values used (``unit_id, community_id, kind, township, category,
        population, value``), for Lorenz curves.
    parameters
        What was measured and how.
    """

    table: pd.DataFrame
    values: pd.DataFrame
    parameters: dict[str, str] = field(default_factory=dict)

    def township_gini(self, category: str) -> pd.DataFrame:
        """Return ``township, gini, value_mean, worst_decile_share`` of a category (map shading)."""
        t = self.table
        rows = t[(t["scope"] == "township") & (t["category"] == category)]
        return rows[["group", "gini", "value_mean", "worst_decile_share"]].rename(
            columns={"group": "township"}).reset_index(drop=True)

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``equity.csv`` atomically (UTF-8 with BOM) and return the files written.

        Parameters
        ----------
        out_dir
            The output folder.

        Returns
        -------
        list of Path
            The files written.
        """
        path = Path(out_dir) / "equity.csv"
        table = self.table.copy()
        for col in ("gini", "palma", "concentration_index", "worst_decile_share"):
            table[col] = table[col].round(4)
        for col in ("value_mean", "worst_decile_threshold", "population"):
            if col in table.columns:
                table[col] = table[col].round(2)

        return [write_csv_atomic(table, path)]


def compute_equity(
    unit_values: pd.DataFrame,
    units: pd.DataFrame,
    communities: pd.DataFrame,
    *,
    value_column: str = "minutes",
    cap_minutes: float = 60.0,
    rank_by: str | None = None,
    categories: Iterable[str] | None = None,
    category_population: Mapping[str, str] | None = None,
) -> EquityResult:
    """Compute equity of access per category and scope (study area, urban/rural, township).

    Parameters
    ----------
    unit_values
        One row per unit and category with ``demand_id`` (or ``unit_id``), ``category`` and
        ``value_column``: the access table of :func:`deyang_geo.analysis.access.minutes_to_nearest`
        or :attr:`deyang_geo.analysis.accessibility.AccessibilityResult.units`.
    units
        Demand units (``unit_id`` or ``id``, ``community_id``, ``population``, optional
        ``population_elderly`` / ``population_children``).
    communities
        Communities (``id``, ``kind``, ``township``, and ``rank_by`` when given).
    value_column
        ``minutes`` (higher is worse; unreachable units count as ``cap_minutes``) or a graded
        score (``potential``, ``e2sfca_per_1000``; higher is better).
    cap_minutes
        Minutes given to unreachable units and the cap of longer trips.
    rank_by
        A community column to rank people by for the concentration index (e.g. ``income``,
        ``elderly_share``); None skips the index.
    categories
        Categories to measure (default all in ``unit_values``).
    category_population
        Which unit column holds a category's users (default: elderly for ``elderly_daycare``,
        children for ``childrens_home``, when present).

    Returns
    -------
    EquityResult
        The table and the values behind it.

    Raises
    ------
    InputError
        Missing columns (listed together).
    """
    t = unit_values.rename(columns={"demand_id": "unit_id"})
    problems = [Problem("the values need this column", column=c)
                for c in ("unit_id", "category", value_column) if c not in t.columns]
    id_col = "unit_id" if "unit_id" in units.columns else "id"
    problems.extend(Problem("the units need this column", column=c)
                    for c in (id_col, "community_id", "population") if c not in units.columns)
    if rank_by is not None and rank_by not in communities.columns:
        problems.append(Problem(f"the communities have no ranking column {rank_by!r}",
                                column=rank_by))
    if problems:
        raise InputError(problems)
    minutes_like = value_column.startswith("minutes")
    comm = communities.assign(id=communities["id"].astype(str)).set_index("id")
    u = pd.DataFrame({"unit_id": units[id_col].astype(str).to_numpy(),
                      "community_id": units["community_id"].astype(str).to_numpy()})
    for col in ("kind", "township"):
        u[col] = (comm[col].reindex(u["community_id"]).fillna("").astype(str).to_numpy()
                  if col in comm.columns else "")
    if rank_by is not None:
        u["rank"] = pd.to_numeric(comm[rank_by].reindex(u["community_id"]),
                                  errors="coerce").to_numpy(float)
    users = dict(CATEGORY_POPULATION if category_population is None else category_population)
    pos = pd.Series(np.arange(len(u)), index=u["unit_id"])
    cats = sorted(set(t["category"].astype(str))) if categories is None else list(categories)
    rows: list[dict[str, Any]] = []
    value_frames = []
    for cat in cats:
        sub = t[t["category"].astype(str) == cat]
        idx = pos.reindex(sub["unit_id"].astype(str)).to_numpy()
        ok = ~np.isnan(idx)
        idx = idx[ok].astype(np.int64)
        v = pd.to_numeric(sub[value_column], errors="coerce").to_numpy(float)[ok]
        if minutes_like:
            v = np.minimum(np.nan_to_num(v, nan=cap_minutes), cap_minutes)
        else:
            v = np.nan_to_num(v)
        user_col = users.get(cat)
        pop_col = "population"
        if user_col is not None and user_col in units.columns and np.isfinite(
                pd.to_numeric(units[user_col], errors="coerce").to_numpy(float)).any():
            pop_col = user_col
        w = pd.to_numeric(units[pop_col], errors="coerce").fillna(0).to_numpy(float)[idx]
        frame = u.iloc[idx].assign(category=cat, population=w, value=v)
        value_frames.append(frame)
        threshold = worst_decile_threshold(v, weights=w, higher_is_worse=minutes_like)
        worst = (v >= threshold) if minutes_like else (v <= threshold)
        groups: list[tuple[str, str, NDArray[np.bool_]]] = [
            ("study_area", "全部 all", np.ones(v.size, dtype=bool))]
        groups.extend((scope, g, (frame[scope] == g).to_numpy())
                      for scope in ("kind", "township")
                      for g in sorted(set(frame[scope].tolist())) if g)
        for scope, g, m in groups:
            pop = w[m].sum()
            rank = frame["rank"].to_numpy(float)[m] if rank_by is not None else None
            rows.append({
                "category": cat, "scope": scope, "group": g, "population": pop,
                "units": int(m.sum()), "value": value_column,
                "value_mean": float(np.average(v[m], weights=w[m])) if pop > 0 else np.nan,
                "gini": gini(v[m], weights=w[m]),
                "palma": palma_ratio(v[m], weights=w[m]),
                "concentration_index": (concentration_index(v[m], rank_by=rank,
                                                            weights=w[m])
                                        if rank is not None else np.nan),
                "rank_by": rank_by or "",
                "worst_decile_threshold": threshold,
                "worst_decile_share": float(w[m][worst[m]].sum() / pop) if pop > 0 else np.nan,
            })
    table = pd.DataFrame(rows)
    values = pd.concat(value_frames, ignore_index=True) if value_frames else pd.DataFrame()
    params = {"value": value_column, "cap_minutes": f"{cap_minutes:g}" if minutes_like else "",
              "rank_by": rank_by or "", "weights": "population (users of the category)"}
    return EquityResult(table=table, values=values, parameters=params)


def lorenz_figure(result: EquityResult, *, category: str, lang: str = "both",
                  caption: str = "") -> Any:
    """Draw the Lorenz curves of one category: the study area, urban and rural.

    Parameters
    ----------
    result
        An :class:`EquityResult`.
    category
        The category key.
    lang
        ``"zh"``, ``"en"`` or ``"both"`` labels.
    caption
        A note printed under the plot (synthetic data, population source).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not shown; write it with :func:`deyang_geo.io.fonts.save_figure`).
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure


    used, family = figure_language(lang)  # type: ignore[arg-type]

    def text(zh: str, en: str) -> str:
        return en if used == "en" else zh if used == "zh" else f"{zh} {en}"

    v = result.values
    v = v[v["category"] == category]
    families = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    with mpl.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig = Figure(figsize=(5.5, 5.0))
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label=text("完全平等", "equality"))
        curves = [(text("全部", "all"), np.ones(len(v), dtype=bool), "black")]
        for kind, zh, colour in (("urban", "城市社区", "tab:blue"), ("rural", "农村", "tab:green")):
            m = (v["kind"] == kind).to_numpy()
            if m.any():
                curves.append((text(zh, kind), m, colour))
        for name, m, colour in curves:
            p, lor = lorenz_curve(v["value"].to_numpy(float)[m],
                                  weights=v["population"].to_numpy(float)[m])
            g = _area_index(p, lor)
            ax.plot(p, lor, color=colour, lw=1.6, label=f"{name} (Gini {g:.2f})")
        value = str(result.parameters.get("value", "minutes"))
        ax.set_xlabel(text("累计人口比例", "cumulative share of people"))
        ax.set_ylabel(text(f"累计{'出行时间' if value.startswith('minutes') else '可达性'}比例",
                           f"cumulative share of {value}"))
        ax.set_title(text(f"洛伦兹曲线 {category}", f"Lorenz curve {category}"))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=8)
        if caption:
            fig.text(0.01, 0.01, caption, fontsize=6, wrap=True, color="#b00020", va="bottom")
            fig.tight_layout(rect=(0, 0.08, 1, 1))
        else:
            fig.tight_layout()
    return fig


def write_lorenz_figures(result: EquityResult, out_dir: str | os.PathLike[str], *,
                         lang: str = "both", caption: str = "") -> list[Path]:
    """Write ``lorenz_<category>.png`` for every category of ``result``.

    Parameters
    ----------
    result
        An :class:`EquityResult`.
    out_dir
        The output folder.
    lang
        Label language.
    caption
        A note printed under each plot.

    Returns
    -------
    list of Path
        The files written.
    """
    written = []
    for cat in sorted(set(result.values["category"])) if len(result.values) else []:
        fig = lorenz_figure(result, category=cat, lang=lang, caption=caption)
        written.append(save_figure(fig, Path(out_dir) / f"lorenz_{cat}.png", dpi=120))
    return written
