"""Graded accessibility, completeness and equity computed and written together in one call.

``compute_graded`` is what ``access --graded`` and studies with the ``accessibility`` or
``equity`` outputs call; a notebook can call it the same way::

    from deyang_geo.analysis.graded import compute_graded
    graded = compute_graded(net, units=units, facilities=facilities, communities=communities,
                            access=access, catalog=load_catalog(), mode="walk")
    graded.equity.table            # Gini, Palma, concentration index, worst-decile share
    graded.write(out_dir)          # accessibility.csv, completeness.csv, equity.csv, Lorenz
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from deyang_geo.analysis.accessibility import completeness, compute_accessibility, plan_thresholds
from deyang_geo.analysis.equity import compute_equity, write_lorenz_figures
from deyang_geo.io.files import write_csv_atomic, write_text_atomic

if TYPE_CHECKING:
    import geopandas as gpd

    from deyang_geo.analysis.accessibility import AccessibilityResult
    from deyang_geo.analysis.equity import EquityResult
    from deyang_geo.analysis.routing import RoutingNetwork

log = logging.getLogger("deyang_geo")

__all__ = ["GradedResult", "compute_graded"]


@dataclass(frozen=True, eq=False)
class GradedResult:
    """Graded accessibility, 15-minute completeness and equity of one study.

    Attributes
    ----------
    accessibility
        Scores per unit and community.
    completeness
        Per community: essential categories within their thresholds.
    equity
        Gini, Palma, concentration index and worst-decile share of minutes.
    population_note
        Where the population came from (empty when from the communities table).
    """

    accessibility: AccessibilityResult
    completeness: pd.DataFrame
    equity: EquityResult
    population_note: str = ""

    def write(self, out_dir: Path, *, lang: str = "both", synthetic: bool = False
              ) -> list[Path]:
        """Write ``accessibility.csv``, ``completeness.csv``, ``equity.csv``, Lorenz figures.

        Parameters
        ----------
        out_dir
            The output folder.
        lang
            Label language of the figures.
        synthetic
            Label the figures as made from synthetic data.

        Returns
        -------
        list of Path
            The files written.
        """
        written = self.accessibility.write(out_dir)
        written.append(write_csv_atomic(self.completeness, out_dir / "completeness.csv"))
        written.extend(self.equity.write(out_dir))
        caption = " ".join(part for part in (
            "合成数据 SYNTHETIC DATA." if synthetic else "", self.population_note) if part)
        written.extend(write_lorenz_figures(self.equity, out_dir, lang=lang, caption=caption))
        if self.population_note:
            written.append(write_text_atomic(out_dir / "population_source.txt",
                                             self.population_note + "\n"))
        return written


def compute_graded(
    net: RoutingNetwork,
    *,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    communities: pd.DataFrame,
    access: pd.DataFrame,
    catalog: Any,
    mode: str,
    rural_mode: str | None = None,
    walk_speed_kmh: float | None = None,
    categories: list[str] | None = None,
    max_minutes: float = 30.0,
    decay: str = "gaussian",
    decay_minutes: float = 10.0,
    supply_column: str | None = None,
    rank_by: str | None = None,
    population_note: str = "",
) -> GradedResult:
    """Compute graded accessibility, completeness (plan target T1) and equity of minutes.

    Parameters
    ----------
    net
        The routing network.
    units, facilities, communities, access
        Demand units, facilities, communities and minutes to the nearest facility.
    catalog
        The standards catalog (essential categories and thresholds).
    mode, walk_speed_kmh
        Travel mode and walking speed.
    rural_mode
        Travel mode of rural communities for their completeness thresholds (the minutes in
        ``access`` should be in that mode for them); default ``mode``.
    categories
        Categories to score (default those of ``access``).
    max_minutes, decay, decay_minutes, supply_column
        See :func:`deyang_geo.analysis.accessibility.compute_accessibility`.
    rank_by
        Community column for the concentration index (default: ``elderly_share`` or
        ``income`` when the communities have one).
    population_note
        Where the population came from, carried into the outputs.

    Returns
    -------
    GradedResult
        The three results.
    """
    cats = categories or sorted(set(access["category"].astype(str)))
    acc = compute_accessibility(
        net, units, facilities, communities, mode=mode, categories=cats,
        max_minutes=max_minutes, decay=decay, decay_minutes=decay_minutes,  # type: ignore[arg-type]
        supply_column=supply_column, walk_speed_kmh=walk_speed_kmh)
    urban, rural = plan_thresholds(catalog, mode=mode, rural_mode=rural_mode)
    comp = completeness(access, units, communities, thresholds_minutes=urban,
                        rural_thresholds_minutes=rural)
    if rank_by is None:
        rank_by = next((c for c in ("income", "elderly_share") if c in communities.columns),
                       None)
    eq = compute_equity(access, units, communities, value_column="minutes", rank_by=rank_by,
                        categories=cats)
    if population_note:
        acc.parameters["population"] = population_note
        eq.parameters["population"] = population_note
    return GradedResult(accessibility=acc, completeness=comp, equity=eq,
                        population_note=population_note)
