"""One resolved analysis: every step of a study answers from the same settings.

A study file (or the options of a command) says some things and leaves others out; the
standards catalog and :mod:`deyang_geo.core.settings` fill the gaps. :func:`resolve_analysis` does
that once and returns a frozen :class:`ResolvedAnalysis` that says, for every category and
for urban and rural communities apart, the travel mode, its speed, the threshold in minutes and
the direction of travel, each with where it came from. Access, coverage, compliance (2SFCA
reach sets included), site suggestion, the map, the figures and the report read this object
and nothing else.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from deyang_geo.core import settings
from deyang_geo.core.errors import ConfigError, Problem

if TYPE_CHECKING:
    from deyang_geo.core.standards import Catalog
    from deyang_geo.study.config import StudyConfig

__all__ = [
    "DIRECTIONS",
    "GROUPS",
    "SOURCES",
    "GroupSetting",
    "ResolvedAnalysis",
    "check_distance",
    "direction_kwargs",
    "distance_minutes",
    "resolve_analysis",
    "resolve_study",
]

#: The two groups of communities that may travel differently.
GROUPS: tuple[str, ...] = ("urban", "rural")
#: Directions of travel: from each home to the facility (default), or the reverse.
DIRECTIONS: tuple[str, ...] = ("to_facility", "from_facility")
#: Where a resolved value came from.
SOURCES: tuple[str, ...] = ("study file", "CLI", "catalog", "default")

Origin = Literal["study file", "CLI"]


@dataclass(frozen=True)
class GroupSetting:
    """How one group (urban or rural) of communities reaches one category.

    Attributes
    ----------
    mode
        Travel mode (``settings.modes``).
    speed_kmh
        Speed of the mode in km/h; None for ``drive`` (speeds per road from ``maxspeed``).
    threshold_minutes
        Time threshold.
    direction
        ``"to_facility"`` (home to facility) or ``"from_facility"``.
    distance_m
        The walking distance the threshold was converted from, or None.
    sources
        Where each value came from, by field name (``mode``, ``speed_kmh``,
        ``threshold_minutes``, ``direction``): ``"study file"``, ``"CLI"``, ``"catalog"`` or
        ``"default"``, followed by a note after ``": "`` when there is one.
    """

    mode: str
    speed_kmh: float | None
    threshold_minutes: float
    direction: str
    distance_m: float | None
    sources: Mapping[str, str]


@dataclass(frozen=True)
class ResolvedAnalysis:
    """The settings of one analysis, resolved once, per category and group.

    Attributes
    ----------
    categories
        The categories analysed, in report order.
    settings
        ``category -> group ("urban"/"rural") -> GroupSetting``.
    breaks_minutes
        Time breaks at which coverage is reported (every threshold is among them).
    covered_share, partly_covered_share
        Population shares for a community to count as covered / partly covered.
    max_snap_m
        Largest snapping distance.
    """

    categories: tuple[str, ...]
    settings: Mapping[str, Mapping[str, GroupSetting]]
    breaks_minutes: tuple[float, ...]
    covered_share: float
    partly_covered_share: float
    max_snap_m: float
    speeds_kmh: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def setting(self, category: str, group: str) -> GroupSetting:
        """Return the setting of ``category`` for ``group`` (``"urban"`` or ``"rural"``)."""
        return self.settings[category][group]

    def thresholds_minutes(self) -> dict[str, dict[str, float]]:
        """Return ``category -> group -> threshold minutes``."""
        return {c: {g: s.threshold_minutes for g, s in by.items()}
                for c, by in self.settings.items()}

    def modes(self) -> tuple[str, ...]:
        """Return every travel mode some category or group uses, in ``settings.modes`` order."""
        used = {s.mode for by in self.settings.values() for s in by.values()}
        return tuple(m for m in settings.modes if m in used)

    def mode_groups(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """Return ``(mode, group, categories)`` for each mode used by each group."""
        out = []
        for group in GROUPS:
            for mode in self.modes():
                cats = tuple(c for c in self.categories
                             if self.settings[c][group].mode == mode)
                if cats:
                    out.append((mode, group, cats))
        return out

    def unit_arrays(self, category: str, rural: npt.NDArray[np.bool_]
                    ) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float64]]:
        """Return each unit's mode and threshold minutes for ``category``."""
        urban, rur = self.settings[category]["urban"], self.settings[category]["rural"]
        modes = np.where(rural, rur.mode, urban.mode).astype(object)
        limits = np.where(rural, rur.threshold_minutes, urban.threshold_minutes).astype(float)
        return modes, limits

    def table(self) -> pd.DataFrame:
        """Return one row per category and group, with every value and its source."""
        rows = []
        for cat in self.categories:
            for group in GROUPS:
                s = self.settings[cat][group]
                rows.append({
                    "category": cat, "group": group, "mode": s.mode,
                    "speed_kmh": "maxspeed" if s.speed_kmh is None else f"{s.speed_kmh:g}",
                    "threshold_minutes": round(s.threshold_minutes, 2),
                    "distance_m": "" if s.distance_m is None else f"{s.distance_m:g}",
                    "direction": s.direction,
                    "mode_source": s.sources["mode"],
                    "speed_source": s.sources["speed_kmh"],
                    "threshold_source": s.sources["threshold_minutes"],
                    "direction_source": s.sources["direction"],
                })
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """Return a one-line description (``walk 5-15 min, rural ebike 15 min``)."""
        parts = []
        for group in GROUPS:
            values = {(s.mode, s.threshold_minutes) for by in self.settings.values()
                      for g, s in by.items() if g == group}
            if not values:
                continue
            modes = sorted({m for m, _ in values})
            mins = sorted({t for _, t in values})
            span = f"{mins[0]:g}" if len(mins) == 1 else f"{mins[0]:g}-{mins[-1]:g}"
            parts.append(f"{'' if group == 'urban' else 'rural '}{'/'.join(modes)} {span} min")
        return ", ".join(parts)


def direction_kwargs(function: Any, direction: str) -> dict[str, Any]:
    """Return ``{"direction": direction}`` when ``function`` takes a direction, else ``{}``.

    The routing functions learn a ``direction`` argument in their own change; until then the
    direction is carried in the resolved analysis and shown in the outputs.
    """
    try:
        names = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    return {"direction": direction} if "direction" in names else {}


def distance_minutes(distance_m: float, speed_kmh: float) -> float:
    """Return the minutes ``distance_m`` takes at ``speed_kmh`` (500 m at 4 km/h: 7.5 min)."""
    return float(distance_m) / 1000.0 / float(speed_kmh) * 60.0


def check_distance(value: Any) -> str | None:
    """Return a problem with a ``threshold_distance_m`` value, or None when it is good.

    A value is a positive number of metres or ``"standard"`` (each category's GB 50180
    walking distance: 300, 500 or 1000 m by life-circle level).
    """
    if value == "standard":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return f'expected positive metres or "standard", got {value!r}'
    return None


def _speed(mode: str, speeds_kmh: Mapping[str, float], origin: str
           ) -> tuple[float | None, str]:
    if mode == "drive":
        return None, "default: maxspeed per road, settings.drive_speeds_kmh when missing"
    if mode in speeds_kmh:
        return float(speeds_kmh[mode]), origin
    return float(getattr(settings, f"{mode}_speed_kmh")), f"default: settings.{mode}_speed_kmh"


def resolve_analysis(
    *,
    catalog: Catalog,
    categories: Sequence[str],
    mode: str = "walk",
    threshold_minutes: float | None = None,
    threshold_distance_m: float | str | None = None,
    rural_mode: str | None = None,
    rural_threshold_minutes: float | None = None,
    direction: str = "to_facility",
    speeds_kmh: Mapping[str, float] | None = None,
    breaks_minutes: Iterable[float] | None = None,
    covered_share: float | None = None,
    partly_covered_share: float | None = None,
    max_snap_m: float | None = None,
    given: Iterable[str] = (),
    origin: Origin = "study file",
) -> ResolvedAnalysis:
    """Resolve the settings of an analysis for every category, urban and rural.

    Rules (the README's table "which setting comes from where"):

    - urban mode: ``mode``; rural mode: ``rural_mode``, else the urban mode;
    - speed: ``speeds_kmh[mode]``, else ``settings.<mode>_speed_kmh`` (drive: per road);
    - urban threshold: ``threshold_minutes``; else ``threshold_distance_m`` at the urban speed
      (``"standard"``: the category's GB 50180 life-circle distance, 300 / 500 / 1000 m);
      else the catalog's threshold of the category for the mode; a category the catalog does
      not know takes ``settings.threshold_minutes``;
    - rural threshold: ``rural_threshold_minutes``; else the catalog's rural threshold of the
      category for the rural mode (an assumption of the catalog);
    - direction: ``direction`` (``"to_facility"``, home to facility, by default).

    Parameters
    ----------
    catalog
        The standards catalog.
    categories
        Categories analysed.
    mode, threshold_minutes, threshold_distance_m, rural_mode, rural_threshold_minutes
        What the study file or command said; None where it said nothing.
    direction
        Direction of travel.
    speeds_kmh
        Speeds per mode the study file or command set.
    breaks_minutes
        Coverage breaks; None uses ``settings.coverage_breaks_minutes``. Every threshold is
        added.
    covered_share, partly_covered_share, max_snap_m
        None uses :mod:`deyang_geo.core.settings`.
    given
        Names of the values the user actually gave (the others are defaults), among
        ``mode``, ``rural_mode``, ``direction``.
    origin
        ``"study file"`` or ``"CLI"``: the source of the values the user gave.

    Returns
    -------
    ResolvedAnalysis
        The frozen settings.

    Raises
    ------
    ConfigError
        On an unknown mode or direction, a distance with the drive mode, or a distance
        together with minutes.
    """
    problems: list[Problem] = []
    given_set = set(given)
    speeds = dict(speeds_kmh or {})
    rmode = rural_mode or mode
    for name, value in (("mode", mode), ("rural_mode", rmode)):
        if value not in settings.modes:
            problems.append(Problem(f"{name}: expected one of {', '.join(settings.modes)}, "
                                    f"got {value!r}"))
    if direction not in DIRECTIONS:
        problems.append(Problem(f"direction: expected one of {', '.join(DIRECTIONS)}, got "
                                f"{direction!r}"))
    if threshold_distance_m is not None:
        bad = check_distance(threshold_distance_m)
        if bad:
            problems.append(Problem(f"threshold_distance_m: {bad}"))
        if threshold_minutes is not None:
            problems.append(Problem("threshold_distance_m: give threshold_minutes or "
                                    "threshold_distance_m, not both"))
        if mode == "drive":
            problems.append(Problem("threshold_distance_m: a walking distance needs a walk, "
                                    "bike or ebike mode, not drive"))
    if problems:
        raise ConfigError(problems)

    def src(name: str, default_note: str) -> str:
        return origin if name in given_set else f"default: {default_note}"

    mode_src = src("mode", "walk")
    rmode_src = (origin if "rural_mode" in given_set
                 else f"default: the urban mode ({mode_src.split(':')[0]})")
    direction_src = src("direction", "home to facility")
    table: dict[str, Mapping[str, GroupSetting]] = {}
    for cat in categories:
        entry = catalog.categories.get(cat)
        by_group: dict[str, GroupSetting] = {}
        for group, gmode, gmode_src in (("urban", mode, mode_src), ("rural", rmode, rmode_src)):
            speed, speed_src = _speed(gmode, speeds, origin)
            distance: float | None = None
            t_src: str
            if group == "rural" and rural_threshold_minutes is not None:
                minutes, t_src = float(rural_threshold_minutes), origin
            elif group == "urban" and threshold_minutes is not None:
                minutes, t_src = float(threshold_minutes), origin
            elif group == "urban" and threshold_distance_m is not None and speed is not None:
                if threshold_distance_m == "standard":
                    if entry is not None and entry.life_circle in catalog.life_circles:
                        level = catalog.life_circles[entry.life_circle]
                        distance = float(level.distance_max_m)
                        t_src = (f"catalog: {level.distance_source} ({distance:g} m at "
                                 f"{speed:g} km/h)")
                    else:
                        distance = float(speed * 1000.0 * settings.threshold_minutes / 60.0)
                        t_src = (f"default: {settings.threshold_minutes:g} min (category not "
                                 "in the catalog)")
                else:
                    distance = float(threshold_distance_m)
                    t_src = f"{origin}: {distance:g} m at {speed:g} km/h"
                minutes = distance_minutes(distance, speed)
            elif entry is not None:
                rural = group == "rural"
                minutes = float(entry.threshold_for(gmode, rural=rural))
                key = "rural_threshold" if rural and gmode in entry.rural_threshold_minutes \
                    else "threshold"
                note = entry.sources.get(key, "")
                t_src = f"catalog: {note}" if note else "catalog"
            else:
                minutes = float(settings.threshold_minutes)
                t_src = "default: settings.threshold_minutes (category not in the catalog)"
            by_group[group] = GroupSetting(
                mode=gmode, speed_kmh=speed, threshold_minutes=minutes, direction=direction,
                distance_m=distance,
                sources=MappingProxyType({"mode": gmode_src, "speed_kmh": speed_src,
                                          "threshold_minutes": t_src,
                                          "direction": direction_src}),
            )
        table[cat] = MappingProxyType(by_group)
    base = settings.coverage_breaks_minutes if breaks_minutes is None else breaks_minutes
    thresholds = {s.threshold_minutes for by in table.values() for s in by.values()}
    breaks = tuple(sorted({float(b) for b in base} | thresholds))
    return ResolvedAnalysis(
        categories=tuple(categories),
        settings=MappingProxyType(table),
        breaks_minutes=breaks,
        covered_share=float(settings.covered_share if covered_share is None
                            else covered_share),
        partly_covered_share=float(settings.partly_covered_share if partly_covered_share is None
                                   else partly_covered_share),
        max_snap_m=float(settings.max_snap_m if max_snap_m is None else max_snap_m),
        speeds_kmh=MappingProxyType(speeds),
    )


def resolve_study(config: StudyConfig, catalog: Catalog,
                  categories: Sequence[str]) -> ResolvedAnalysis:
    """Resolve a study file's ``[analysis]`` and ``[network.speeds_kmh]``.

    Parameters
    ----------
    config
        The study configuration.
    catalog
        The standards catalog.
    categories
        The categories analysed (``[analysis] categories``, or every category present).

    Returns
    -------
    ResolvedAnalysis
        The frozen settings.
    """
    a = config.analysis
    return resolve_analysis(
        catalog=catalog, categories=categories, mode=a.mode,
        threshold_minutes=a.threshold_minutes,
        threshold_distance_m=a.threshold_distance_m,
        rural_mode=a.rural_mode, rural_threshold_minutes=a.rural_threshold_minutes,
        direction=a.direction, speeds_kmh=dict(config.network.speeds_kmh),
        breaks_minutes=a.isochrone_breaks_minutes, covered_share=a.covered_share,
        partly_covered_share=a.partly_covered_share, max_snap_m=a.max_snap_m,
        given=a.given, origin="study file",
    )
