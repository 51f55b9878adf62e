"""The planning-standards catalog: facility categories, life circles and plan targets."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from deyang_geo.core import settings
from deyang_geo.core.errors import ConfigError, Problem

if TYPE_CHECKING:
    import pandas as pd

#: The facility category keys every catalog defines, in report order (docs/architecture.md).
CATEGORY_KEYS: tuple[str, ...] = (
    "service_centre",
    "service_station",
    "mediation_room",
    "health_room",
    "police_room",
    "culture_sports",
    "library_room",
    "fitness_station",
    "elderly_daycare",
    "childrens_home",
    "volunteer_station",
    "social_work_room",
    "micro_fire_station",
    "emergency_shelter",
    "disaster_supply_store",
    "rural_service_outlet",
    "outdoor_square",
    "sports_ground",
)
#: Scopes a target applies to.
SCOPES: tuple[str, ...] = ("urban", "rural", "all")
#: Kinds of target checks.
TARGET_KINDS: tuple[str, ...] = ("coverage", "capacity", "size", "attribute")
#: Capacity measures: floor area per 100 households, site area per person.
CAPACITY_MEASURES: tuple[str, ...] = ("m2_per_100_households", "m2_per_person")
#: Rules of attribute targets.
ATTRIBUTE_RULES: tuple[str, ...] = ("share_true", "share_at_least", "mean", "ratio", "total")
#: Tables an attribute target reads.
ATTRIBUTE_TABLES: tuple[str, ...] = ("communities", "facilities")
#: How a coverage target is read: a facility within the travel-time threshold of the
#: community's people, a facility inside the community (建有: the community *has* one), or both.
READINGS: tuple[str, ...] = ("travel_time", "presence", "both")
#: Key of the GB 50180-2018 residential-block level (居住街坊) in ``[life_circles]``.
RESIDENTIAL_BLOCK = "block"
#: Provenance of a category's OSM tag mapping when the catalog gives none.
DEFAULT_OSM_TAGS_SOURCE = ("ASSUMPTION: OpenStreetMap tag mapping chosen for this catalog; the "
                           "plan names no tags")
#: Wildcard tag value in ``osm_tags``: the key must be present with any value.
ANY_VALUE = "*"


@dataclass(frozen=True)
class LifeCircle:
    """A GB 50180-2018 life-circle level.

    Attributes
    ----------
    minutes
        Walking time of the level (5, 10 or 15); ``None`` for the residential block (居住街坊),
        for which GB 50180-2018 gives no walking time.
    distance_min_m, distance_max_m
        Walking distance range in metres (``nan`` when the standard gives none).
    population_min, population_max
        Resident population range.
    dwellings_min, dwellings_max
        Dwelling (household) range.
    source, verified
        Where the population and dwelling figures come from and whether they were checked.
    distance_source, distance_verified
        The same for the distances.
    level
        The key of the level in the catalog (``"15"``, ``"10"``, ``"5"``, ``"block"``).
    """

    minutes: int | None
    name_zh: str
    name_en: str
    distance_min_m: float
    distance_max_m: float
    population_min: int
    population_max: int
    dwellings_min: int
    dwellings_max: int
    source: str
    verified: bool
    distance_source: str
    distance_verified: bool
    level: str = ""


@dataclass(frozen=True)
class Category:
    """A facility category of the plan.

    Attributes
    ----------
    key
        The catalog key (``"service_station"``...).
    name_zh, name_en
        Chinese and English names.
    osm_tags
        OpenStreetMap tag filters: each mapping is an AND of tags (value ``"*"`` = any value),
        the tuple an OR.
    life_circle
        Life-circle level in minutes (5, 10, 15).
    threshold_minutes
        Time threshold in minutes per travel mode for urban communities.
    rural_threshold_minutes
        Time threshold in minutes per travel mode for rural communities (assumptions).
    min_floor_area_m2
        Smallest floor area of one facility, if the standards give one.
    floor_area_m2_per_100_households
        Floor area per 100 households, if the standards give one.
    site_area_m2_per_person
        Site area per person, if the standards give one.
    sources, verified_flags
        ``source`` and ``verified`` of each figure above, keyed by figure name (``"category"``,
        ``"threshold"``, ``"rural_threshold"``, ``"min_floor_area"``, ...).
    aliases
        Other names planners use for the category in their files (卫生计生室, 健身点...).
    osm_tags_source, osm_tags_verified
        Where the OSM tag mapping comes from (an ASSUMPTION of the catalog unless a source is
        given) and whether it was checked.
    """

    key: str
    name_zh: str
    name_en: str
    osm_tags: tuple[Mapping[str, str], ...]
    life_circle: int
    threshold_minutes: Mapping[str, float]
    rural_threshold_minutes: Mapping[str, float]
    min_floor_area_m2: float | None
    floor_area_m2_per_100_households: float | None
    site_area_m2_per_person: float | None
    source: str
    verified: bool
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    verified_flags: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    aliases: tuple[str, ...] = ()
    osm_tags_source: str = DEFAULT_OSM_TAGS_SOURCE
    osm_tags_verified: bool = False

    def threshold_for(self, mode: str = "walk", *, rural: bool = False) -> float:
        """Return the time threshold in minutes for a travel mode.

        Parameters
        ----------
        mode
            Travel mode (``settings.modes``).
        rural
            Use the rural threshold (an assumption of the catalog) when it is given.

        Returns
        -------
        float
            Minutes.
        """
        if rural and mode in self.rural_threshold_minutes:
            return self.rural_threshold_minutes[mode]
        if mode in self.threshold_minutes:
            return self.threshold_minutes[mode]
        return float(self.life_circle)

    def match_strength(self, tags: Mapping[str, str]) -> int:
        """Return how many tags of the most specific matching filter ``tags`` satisfy (0: none).

        Parameters
        ----------
        tags
            The OSM tags of one feature.

        Returns
        -------
        int
            The number of tags in the best matching AND-filter, 0 when no filter matches.
        """
        best = 0
        for wanted in self.osm_tags:
            if all(
                k in tags and (v == ANY_VALUE or str(tags[k]) == v) for k, v in wanted.items()
            ):
                best = max(best, len(wanted))
        return best


@dataclass(frozen=True)
class Target:
    """A target of the plan, checked by the compliance evaluation.

    Attributes
    ----------
    id
        ``"T1"``... (sub-targets ``"T2.size"``).
    description_zh, description_en
        What the target asks, in Chinese and English.
    scope
        ``"urban"``, ``"rural"`` or ``"all"``.
    kind
        ``"coverage"``, ``"capacity"``, ``"size"`` or ``"attribute"``.
    categories
        The facility categories concerned (empty for community attributes).
    target
        The target value per scope (``{"urban": 1.0}``, ``{"urban": 1.0, "rural": 0.6}``...);
        shares are fractions (0.9 = 90 %).
    threshold_minutes
        A time threshold in minutes for urban communities that the target sets itself (T1:
        the plan's 15-minute circle), used whatever the travel mode; ``None`` uses each
        category's. Rural communities always use the category's rural threshold.
    threshold_source, threshold_verified
        Where that threshold comes from (required with ``threshold_minutes``).
    measure, area_column
        Capacity targets: ``"m2_per_100_households"`` or ``"m2_per_person"``, and the facility
        column holding the area.
    table, rule, column, denominator_column, min_value
        Attribute targets: which table and column, and how it is judged.
    assessable, not_assessable_reason
        ``False`` for targets the toolkit cannot judge from space or attributes (T16).
    source, verified
        Where the target comes from and whether it was checked.
    readings
        Coverage targets: ``("travel_time",)``, ``("presence",)`` or both, in that order
        (catalog key ``reading = "travel_time" | "presence" | "both"``); empty for the
        other kinds.
    assumptions
        Interpretations the plan's text does not state, each starting with ``ASSUMPTION``,
        shown with every reading of the target.
    travel_time_assumptions, presence_assumptions
        Interpretations that apply to one reading only. ``{covered_share}`` in a text is
        replaced by the share used.
    """

    id: str
    description_zh: str
    description_en: str
    scope: str
    kind: str
    categories: tuple[str, ...]
    target: Mapping[str, float]
    threshold_minutes: float | None
    threshold_source: str | None
    threshold_verified: bool | None
    measure: str | None
    area_column: str | None
    table: str | None
    rule: str | None
    column: str | None
    denominator_column: str | None
    min_value: float | None
    assessable: bool
    not_assessable_reason: str | None
    source: str
    verified: bool
    readings: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    travel_time_assumptions: tuple[str, ...] = ()
    presence_assumptions: tuple[str, ...] = ()

    def assumptions_for(self, reading: str = "", *, covered_share: float | None = None
                        ) -> tuple[str, ...]:
        """Return the assumptions of one reading of the target (all of them for ``""``).

        Parameters
        ----------
        reading
            ``"travel_time"``, ``"presence"`` or ``""`` (the target's own assumptions only).
        covered_share
            The share a community needs within reach to count as covered, written into texts
            that mention ``{covered_share}``.

        Returns
        -------
        tuple of str
            The texts, target-wide ones first.
        """
        extra = {"travel_time": self.travel_time_assumptions,
                 "presence": self.presence_assumptions}.get(reading, ())
        texts = (*self.assumptions, *extra)
        if covered_share is None:
            return texts
        return tuple(t.replace("{covered_share}", f"{covered_share:g}") for t in texts)

    @property
    def category(self) -> str | None:
        """The first category of the target, or ``None``."""
        return self.categories[0] if self.categories else None


@dataclass(frozen=True)
class Catalog:
    """The planning-standards catalog.

    Attributes
    ----------
    version
        Catalog version, written into every report.
    title_zh, title_en
        What the catalog encodes.
    edition
        The plan edition whose targets the catalog encodes (e.g. the 13th Five-Year plan of
        2018), written into every compliance output.
    target_year
        The year the plan's targets are set for (2020 for the 13th Five-Year plan).
    categories
        Facility categories by key, in catalog order.
    targets
        The plan's targets in catalog order.
    life_circles
        GB 50180-2018 life-circle levels by minutes.
    path
        The file the catalog was read from.
    residential_block
        The GB 50180-2018 residential block (居住街坊), the level below the 5-minute life
        circle, when the catalog gives it.
    """

    version: str
    title_zh: str
    title_en: str
    categories: Mapping[str, Category]
    targets: tuple[Target, ...]
    life_circles: Mapping[int, LifeCircle]
    path: str
    edition: str = ""
    target_year: int = 0
    residential_block: LifeCircle | None = None

    def levels(self) -> tuple[LifeCircle, ...]:
        """Return every level, the largest first: 15-, 10-, 5-minute circles and the block."""
        timed = [self.life_circles[m] for m in sorted(self.life_circles, reverse=True)]
        return (*timed, *(() if self.residential_block is None else (self.residential_block,)))

    def knows(self, category: str) -> bool:
        """Return whether ``category`` is a key of the catalog.

        Facilities of other categories (a planner's 药店 pharmacy, 菜市场 market...) are
        analysed with the study's default threshold; no plan target applies to them.

        Parameters
        ----------
        category
            A category as it appears in a facilities table.

        Returns
        -------
        bool
            ``True`` for a catalog key.
        """
        return category in self.categories

    def target(self, target_id: str) -> Target:
        """Return the target with id ``target_id``.

        Parameters
        ----------
        target_id
            E.g. ``"T5"``.

        Returns
        -------
        Target
            The target.
        """
        for t in self.targets:
            if t.id == target_id:
                return t
        msg = f"no target {target_id!r} in the catalog {self.path}"
        raise KeyError(msg)

    def classify_tags(self, tags: Mapping[str, str]) -> str | None:
        """Return the category whose OSM filter matches ``tags`` most specifically.

        Ties go to the category listed first in the catalog.

        Parameters
        ----------
        tags
            The OSM tags of one feature.

        Returns
        -------
        str or None
            The category key, or ``None`` when no filter matches.
        """
        best_key: str | None = None
        best = 0
        for key, cat in self.categories.items():
            strength = cat.match_strength(tags)
            if strength > best:
                best, best_key = strength, key
        return best_key

    def osm_tag_query(self) -> dict[str, bool | str | list[str]]:
        """Return an osmnx ``tags`` query that fetches every feature any category may match.

        Returns
        -------
        dict
            Tag key -> ``True`` or list of values, for ``osmnx.features_from_*``.
        """
        values: dict[str, set[str]] = {}
        any_value: set[str] = set()
        for cat in self.categories.values():
            for wanted in cat.osm_tags:
                # one key per filter is enough to fetch the candidates; classify afterwards
                key, value = next(iter(wanted.items()))
                if value == ANY_VALUE:
                    any_value.add(key)
                values.setdefault(key, set()).add(value)
        return {k: (True if k in any_value else sorted(v)) for k, v in sorted(values.items())}


def catalog_figures(catalog: Catalog) -> pd.DataFrame:
    """Return every figure of the catalog with its source and whether it was verified.

    Parameters
    ----------
    catalog
        The catalog.

    Returns
    -------
    pandas.DataFrame
        One row per figure: ``entry`` (``life_circles.15``, ``categories.service_station``,
        ``targets.T5``), ``name_zh``, ``name_en``, ``figure``, ``value`` (text), ``unit``,
        ``source``, ``verified``; catalog order.
    """
    rows: list[tuple[str, str, str, str, str, str, str, bool | None]] = []
    rows.append(("catalog", catalog.title_zh, catalog.title_en, "edition", catalog.edition,
                 "", catalog.version, None))
    rows.append(("catalog", catalog.title_zh, catalog.title_en, "target_year",
                 f"{catalog.target_year}", "year", catalog.version, None))
    for lc in catalog.levels():
        names = (f"life_circles.{lc.level}", lc.name_zh, lc.name_en)
        if lc.minutes is not None:
            rows.append((*names, "minutes", f"{lc.minutes}", "min", lc.source, lc.verified))
        rows.append((*names, "population", f"{lc.population_min}-{lc.population_max}",
                     "people", lc.source, lc.verified))
        rows.append((*names, "dwellings", f"{lc.dwellings_min}-{lc.dwellings_max}",
                     "dwellings", lc.source, lc.verified))
        distance = ("-" if math.isnan(lc.distance_min_m)
                    else f"{lc.distance_min_m:g}-{lc.distance_max_m:g}")
        rows.append((*names, "distance", distance, "m", lc.distance_source,
                     lc.distance_verified))
    for key, c in catalog.categories.items():
        names = (f"categories.{key}", c.name_zh, c.name_en)
        rows.append((*names, "life_circle", f"{c.life_circle}", "min", c.sources["category"],
                     c.verified_flags["category"]))
        rows.append((*names, "osm_tags", _tags_text(c.osm_tags), "OSM tags", c.osm_tags_source,
                     c.osm_tags_verified))
        rows.append((*names, "threshold_minutes", _mode_text(c.threshold_minutes), "min",
                     c.sources.get("threshold", ""), c.verified_flags.get("threshold")))
        if c.rural_threshold_minutes:
            rows.append((*names, "rural_threshold_minutes",
                         _mode_text(c.rural_threshold_minutes), "min",
                         c.sources["rural_threshold"], c.verified_flags["rural_threshold"]))
        for figure, amount, unit, fig_key in (
            ("min_floor_area_m2", c.min_floor_area_m2, "m2", "min_floor_area"),
            ("floor_area_m2_per_100_households", c.floor_area_m2_per_100_households,
             "m2 per 100 households", "floor_area_per_households"),
            ("site_area_m2_per_person", c.site_area_m2_per_person, "m2 per person",
             "site_area_per_person"),
        ):
            if amount is not None:
                rows.append((*names, figure, f"{amount:g}", unit, c.sources[fig_key],
                             c.verified_flags[fig_key]))
    for t in catalog.targets:
        names = (f"targets.{t.id}", t.description_zh, t.description_en)
        rows.append((*names, "target", ", ".join(f"{k} {v:g}" for k, v in t.target.items()),
                     t.kind, t.source, t.verified))
        if t.readings:
            rows.append((*names, "reading", "+".join(t.readings), "", t.source, t.verified))
        if t.threshold_minutes is not None:
            rows.append((*names, "threshold_minutes", f"{t.threshold_minutes:g}", "min",
                         t.threshold_source or "", t.threshold_verified))
        for reading in ("", "travel_time", "presence"):
            texts = (t.assumptions if not reading else
                     t.travel_time_assumptions if reading == "travel_time"
                     else t.presence_assumptions)
            rows.extend((*names, f"assumption {reading}".strip(), "", "", text, False)
                        for text in texts)
    return pd.DataFrame(rows, columns=["entry", "name_zh", "name_en", "figure", "value",
                                       "unit", "source", "verified"])


def _mode_text(minutes: Mapping[str, float]) -> str:
    return ", ".join(f"{m} {v:g}" for m, v in minutes.items())


def _tags_text(filters: tuple[Mapping[str, str], ...]) -> str:
    return " | ".join(" + ".join(f"{k}={v}" for k, v in f.items()) for f in filters)


def default_catalog_path() -> Path:
    """Return the path of the catalog shipped with the package."""
    return Path(str(resources.files("deyang_geo") / "data" / "standards.toml"))


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate a standards catalog.

    Parameters
    ----------
    path
        A TOML catalog; ``None`` reads the one shipped with the package. A planner can point
        at a modified copy (another city's standards).

    Returns
    -------
    Catalog
        The validated catalog.

    Raises
    ------
    ConfigError
        Listing every entry and key at fault (unknown keys are errors too).
    """
    file = Path(path) if path is not None else default_catalog_path()
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        msg = f"standards catalog not found: {file}"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{file}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    return _Parser(str(file)).catalog(data)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

_TOP_KEYS = {"version", "title_zh", "title_en", "edition", "target_year", "life_circles",
             "categories", "targets"}
_LIFE_CIRCLE_KEYS = {
    "name_zh", "name_en", "minutes", "distance_min_m", "distance_max_m", "population_min",
    "population_max", "dwellings_min", "dwellings_max", "source", "verified", "distance_source",
    "distance_verified",
}
# figure -> (value key, source key, verified key)
_CATEGORY_FIGURES: dict[str, tuple[str, str, str]] = {
    "threshold": ("threshold_minutes", "threshold_source", "threshold_verified"),
    "rural_threshold": (
        "rural_threshold_minutes", "rural_threshold_source", "rural_threshold_verified",
    ),
    "min_floor_area": ("min_floor_area_m2", "min_floor_area_source", "min_floor_area_verified"),
    "floor_area_per_households": (
        "floor_area_m2_per_100_households", "floor_area_per_households_source",
        "floor_area_per_households_verified",
    ),
    "site_area_per_person": (
        "site_area_m2_per_person", "site_area_per_person_source",
        "site_area_per_person_verified",
    ),
}
_CATEGORY_KEYS = {
    "name_zh", "name_en", "aliases", "osm_tags", "life_circle", "source", "verified",
    "osm_tags_source", "osm_tags_verified",
    *(k for keys in _CATEGORY_FIGURES.values() for k in keys),
}
_TARGET_KEYS = {
    "id", "description_zh", "description_en", "scope", "kind", "categories", "target",
    "threshold_minutes", "threshold_source", "threshold_verified", "measure", "area_column",
    "table", "rule", "column",
    "denominator_column", "min_value", "assessable", "not_assessable_reason", "source",
    "verified", "reading", "assumptions", "travel_time_assumptions", "presence_assumptions",
}
#: Every interpretation the plan's text does not state starts with this word.
ASSUMPTION = "ASSUMPTION"


class _Parser:
    """Collects every problem of a catalog, then raises once."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def bad(self, where: str, message: str) -> None:
        self.problems.append(Problem(message, file=self.file, column=where))

    def unknown(self, where: str, entry: Mapping[str, Any], allowed: set[str]) -> None:
        for key in sorted(set(entry) - allowed):
            self.bad(f"{where}.{key}" if where else key, "unknown key")

    def text(self, where: str, entry: Mapping[str, Any], key: str, *,
             required: bool = True) -> str:
        value = entry.get(key)
        if value is None:
            if required:
                self.bad(f"{where}.{key}", "missing")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.bad(f"{where}.{key}", f"must be non-empty text, got {value!r}")
            return ""
        return value

    def flag(self, where: str, entry: Mapping[str, Any], key: str, *,
             default: bool | None = None) -> bool:
        value = entry.get(key, default)
        if value is None:
            self.bad(f"{where}.{key}", "missing (true or false)")
            return False
        if not isinstance(value, bool):
            self.bad(f"{where}.{key}", f"must be true or false, got {value!r}")
            return False
        return value

    def number(self, where: str, entry: Mapping[str, Any], key: str, *,
               required: bool = True, positive: bool = True) -> float | None:
        value = entry.get(key)
        if value is None:
            if required:
                self.bad(f"{where}.{key}", "missing")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value
        ):
            self.bad(f"{where}.{key}", f"must be a number, got {value!r}")
            return None
        if (positive and value <= 0) or value < 0:
            self.bad(f"{where}.{key}", f"must be {'positive' if positive else '>= 0'}, got {value}")
            return None
        return float(value)

    def assumptions(self, where: str, entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(f"{where}.{key}", "must be a list of texts")
            return ()
        out = []
        for i, text in enumerate(value):
            if not text.strip().startswith(ASSUMPTION):
                self.bad(f"{where}.{key}[{i}]",
                         f"must start with {ASSUMPTION!r} (an interpretation the plan's text "
                         f"does not state), got {text!r}")
                continue
            out.append(text.strip())
        return tuple(out)

    def figure_provenance(self, where: str, entry: Mapping[str, Any], figure: str) -> tuple[
            str, bool]:
        value_key, source_key, verified_key = _CATEGORY_FIGURES[figure]
        if value_key not in entry:
            for key in (source_key, verified_key):
                if key in entry:
                    self.bad(f"{where}.{key}", f"given without {value_key}")
            return "", False
        return self.text(where, entry, source_key), self.flag(where, entry, verified_key)

    # -- sections --------------------------------------------------------------------------

    def catalog(self, data: Mapping[str, Any]) -> Catalog:
        self.unknown("", data, _TOP_KEYS)
        version = self.text("catalog", data, "version")
        title_zh = self.text("catalog", data, "title_zh", required=False)
        title_en = self.text("catalog", data, "title_en", required=False)
        edition = self.text("catalog", data, "edition")
        target_year = self.number("catalog", data, "target_year")
        if target_year is not None and (target_year != int(target_year)
                                        or not 1990 <= target_year <= 2100):
            self.bad("catalog.target_year",
                     f"must be a year such as 2020 or 2025, got {target_year:g}")
            target_year = None

        life_circles: dict[int, LifeCircle] = {}
        block: LifeCircle | None = None
        raw_lc = data.get("life_circles", {})
        if not isinstance(raw_lc, dict) or not raw_lc:
            self.bad("life_circles", "must be a table of levels ([life_circles.15] ...)")
        else:
            for key, entry in raw_lc.items():
                lc = self.life_circle(f"life_circles.{key}", entry,
                                      block=key == RESIDENTIAL_BLOCK)
                if lc is None:
                    continue
                if lc.minutes is None:
                    block = lc
                else:
                    if key != str(lc.minutes):
                        self.bad(f"life_circles.{key}.minutes",
                                 f"the level [life_circles.{key}] must have minutes = {key} "
                                 f"(or be [life_circles.{RESIDENTIAL_BLOCK}]), got "
                                 f"{lc.minutes}")
                    life_circles[lc.minutes] = lc

        categories: dict[str, Category] = {}
        raw_cat = data.get("categories", {})
        if not isinstance(raw_cat, dict):
            self.bad("categories", "must be a table of categories ([categories.KEY] ...)")
            raw_cat = {}
        for key in raw_cat:
            if key not in CATEGORY_KEYS:
                self.bad(f"categories.{key}",
                         f"unknown category; the categories are {', '.join(CATEGORY_KEYS)}")
        for key in CATEGORY_KEYS:
            if key not in raw_cat:
                self.bad(f"categories.{key}", "category missing")
                continue
            cat = self.category(f"categories.{key}", key, raw_cat[key], life_circles)
            if cat is not None:
                categories[key] = cat

        targets: list[Target] = []
        raw_targets = data.get("targets", [])
        if not isinstance(raw_targets, list) or not raw_targets:
            self.bad("targets", "must be a list of [[targets]]")
            raw_targets = []
        seen: set[str] = set()
        for i, entry in enumerate(raw_targets):
            target = self.target(i, entry)
            if target is None:
                continue
            if target.id in seen:
                self.bad(f"targets[{target.id}].id", "duplicate target id")
            seen.add(target.id)
            targets.append(target)

        if self.problems:
            raise ConfigError(self.problems)
        return Catalog(
            version=version,
            title_zh=title_zh,
            title_en=title_en,
            categories=MappingProxyType(categories),
            targets=tuple(targets),
            life_circles=MappingProxyType(dict(sorted(life_circles.items()))),
            path=self.file,
            edition=edition,
            target_year=int(target_year or 0),
            residential_block=block,
        )

    def life_circle(self, where: str, entry: Any, *, block: bool = False) -> LifeCircle | None:
        if not isinstance(entry, dict):
            self.bad(where, "must be a table")
            return None
        self.unknown(where, entry, _LIFE_CIRCLE_KEYS)
        n = len(self.problems)
        # GB 50180-2018 gives the residential block (居住街坊) no walking time or distance
        minutes = self.number(where, entry, "minutes", required=not block)
        if block and minutes is not None:
            self.bad(f"{where}.minutes", "the residential block has no walking time in "
                     "GB 50180-2018; give its facilities a life-circle level instead")
        nums = {k: self.number(where, entry, k, required=not k.startswith("distance")
                               or not block) for k in (
            "distance_min_m", "distance_max_m", "population_min", "population_max",
            "dwellings_min", "dwellings_max")}
        for lo, hi in (("distance_min_m", "distance_max_m"), ("population_min", "population_max"),
                       ("dwellings_min", "dwellings_max")):
            a, b = nums[lo], nums[hi]
            if a is not None and b is not None and a > b:
                self.bad(f"{where}.{lo}", f"larger than {hi} ({a:g} > {b:g})")
        texts = {k: self.text(where, entry, k) for k in (
            "name_zh", "name_en", "source", "distance_source")}
        verified = self.flag(where, entry, "verified")
        distance_verified = self.flag(where, entry, "distance_verified")
        if len(self.problems) > n or (minutes is None and not block):
            return None
        no_distance = nums["distance_min_m"] is None
        return LifeCircle(
            minutes=None if minutes is None else int(minutes),
            level=where.rpartition(".")[2],
            name_zh=texts["name_zh"],
            name_en=texts["name_en"],
            distance_min_m=math.nan if no_distance else float(nums["distance_min_m"] or 0.0),
            distance_max_m=(math.nan if nums["distance_max_m"] is None
                            else float(nums["distance_max_m"])),
            population_min=int(nums["population_min"] or 0),
            population_max=int(nums["population_max"] or 0),
            dwellings_min=int(nums["dwellings_min"] or 0),
            dwellings_max=int(nums["dwellings_max"] or 0),
            source=texts["source"],
            verified=verified,
            distance_source=texts["distance_source"],
            distance_verified=distance_verified,
        )

    def mode_minutes(self, where: str, entry: Mapping[str, Any], key: str) -> dict[str, float]:
        value = entry.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(f"{where}.{key}", "must be a table mode = minutes")
            return {}
        out: dict[str, float] = {}
        for mode in value:
            if mode not in settings.modes:
                self.bad(f"{where}.{key}.{mode}",
                         f"unknown travel mode; the modes are {', '.join(settings.modes)}")
                continue
            minutes = self.number(f"{where}.{key}", value, mode)
            if minutes is not None:
                out[mode] = minutes
        return out

    def osm_tags(self, where: str, entry: Mapping[str, Any]) -> tuple[Mapping[str, str], ...]:
        value = entry.get("osm_tags")
        if value is None:
            self.bad(f"{where}.osm_tags", "missing (a list of tag tables, [] for none)")
            return ()
        if not isinstance(value, list):
            self.bad(f"{where}.osm_tags",
                     'must be a list of tag tables like {amenity = "clinic"}')
            return ()
        out: list[Mapping[str, str]] = []
        for i, tags in enumerate(value):
            if (not isinstance(tags, dict) or not tags
                    or not all(isinstance(v, str) and v for v in tags.values())):
                self.bad(f"{where}.osm_tags[{i}]",
                         f"must be a non-empty table of text tags, got {tags!r}")
                continue
            out.append(MappingProxyType(dict(tags)))
        return tuple(out)

    def category(self, where: str, key: str, entry: Any,
                 life_circles: Mapping[int, LifeCircle]) -> Category | None:
        if not isinstance(entry, dict):
            self.bad(where, "must be a table")
            return None
        self.unknown(where, entry, _CATEGORY_KEYS)
        n = len(self.problems)
        name_zh = self.text(where, entry, "name_zh")
        name_en = self.text(where, entry, "name_en")
        source = self.text(where, entry, "source")
        verified = self.flag(where, entry, "verified")
        tags = self.osm_tags(where, entry)
        tags_source = (self.text(where, entry, "osm_tags_source") if "osm_tags_source" in entry
                       else DEFAULT_OSM_TAGS_SOURCE)
        tags_verified = self.flag(where, entry, "osm_tags_verified", default=False)
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(
                isinstance(a, str) and a.strip() for a in aliases):
            self.bad(f"{where}.aliases", "must be a list of names")
            aliases = []
        life_circle = self.number(where, entry, "life_circle")
        if life_circle is not None and life_circles and int(life_circle) not in life_circles:
            self.bad(f"{where}.life_circle",
                     f"{life_circle:g} is not a level of [life_circles] "
                     f"({', '.join(str(m) for m in life_circles)})")
        threshold = self.mode_minutes(where, entry, "threshold_minutes")
        rural = self.mode_minutes(where, entry, "rural_threshold_minutes")
        sources = {"category": source}
        flags = {"category": verified}
        for figure in _CATEGORY_FIGURES:
            if figure == "threshold" and "threshold_minutes" not in entry:
                # the walk threshold defaults to the life circle: it still needs its provenance
                src = self.text(where, entry, "threshold_source")
                ver = self.flag(where, entry, "threshold_verified")
            else:
                src, ver = self.figure_provenance(where, entry, figure)
            if src:
                sources[figure] = src
                flags[figure] = ver
        sizes = {name: self.number(where, entry, name, required=False) for name in (
            "min_floor_area_m2", "floor_area_m2_per_100_households", "site_area_m2_per_person")}
        if len(self.problems) > n or life_circle is None:
            return None
        full_threshold = {m: float(life_circle) for m in settings.modes}
        full_threshold.update(threshold)
        return Category(
            key=key,
            name_zh=name_zh,
            name_en=name_en,
            osm_tags=tags,
            life_circle=int(life_circle),
            threshold_minutes=MappingProxyType(full_threshold),
            rural_threshold_minutes=MappingProxyType(rural),
            min_floor_area_m2=sizes["min_floor_area_m2"],
            floor_area_m2_per_100_households=sizes["floor_area_m2_per_100_households"],
            site_area_m2_per_person=sizes["site_area_m2_per_person"],
            source=source,
            verified=verified,
            sources=MappingProxyType(sources),
            verified_flags=MappingProxyType(flags),
            aliases=tuple(aliases),
            osm_tags_source=tags_source,
            osm_tags_verified=tags_verified,
        )

    def choice(self, where: str, entry: Mapping[str, Any], key: str, allowed: tuple[str, ...], *,
               required: bool = True) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                self.bad(f"{where}.{key}", f"missing (one of {', '.join(allowed)})")
            return None
        if value not in allowed:
            self.bad(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
            return None
        return str(value)

    def target(self, index: int, entry: Any) -> Target | None:
        if not isinstance(entry, dict):
            self.bad(f"targets[{index}]", "must be a table")
            return None
        tid = entry.get("id")
        where = f"targets[{tid}]" if isinstance(tid, str) and tid else f"targets[{index}]"
        self.unknown(where, entry, _TARGET_KEYS)
        n = len(self.problems)
        tid = self.text(where, entry, "id")
        texts = {k: self.text(where, entry, k) for k in (
            "description_zh", "description_en", "source")}
        verified = self.flag(where, entry, "verified")
        assessable = self.flag(where, entry, "assessable", default=True)
        reason = self.text(where, entry, "not_assessable_reason", required=not assessable)
        scope = self.choice(where, entry, "scope", SCOPES)
        kind = self.choice(where, entry, "kind", TARGET_KINDS)
        cats_raw = entry.get("categories", [])
        categories: tuple[str, ...] = ()
        if not isinstance(cats_raw, list) or not all(isinstance(c, str) for c in cats_raw):
            self.bad(f"{where}.categories", "must be a list of category keys")
        else:
            for c in cats_raw:
                if c not in CATEGORY_KEYS:
                    self.bad(f"{where}.categories", f"unknown category {c!r}")
            categories = tuple(cats_raw)
        if kind in ("coverage", "capacity", "size") and not categories:
            self.bad(f"{where}.categories", f"a {kind} target needs at least one category")
        target = self.target_values(where, entry, scope)
        threshold = self.number(where, entry, "threshold_minutes", required=False)
        threshold_source: str | None = None
        threshold_verified: bool | None = None
        if threshold is not None:
            threshold_source = self.text(where, entry, "threshold_source")
            threshold_verified = self.flag(where, entry, "threshold_verified")
        else:
            for k in ("threshold_source", "threshold_verified"):
                if k in entry:
                    self.bad(f"{where}.{k}", "given without threshold_minutes")
        measure = area_column = table = rule = column = denominator = None
        min_value = None
        required_for = {
            "capacity": {"measure", "area_column"},
            "attribute": {"table", "rule", "column"},
        }
        for k in ("measure", "area_column", "table", "rule", "column", "denominator_column",
                  "min_value", "threshold_minutes"):
            allowed_here = required_for.get(kind or "", set()) | (
                {"denominator_column", "min_value"} if kind == "attribute" else set()) | (
                {"threshold_minutes"} if kind in ("coverage", "capacity") else set())
            if k in entry and kind is not None and k not in allowed_here:
                self.bad(f"{where}.{k}", f"not used by a {kind} target")
        if kind == "capacity":
            measure = self.choice(where, entry, "measure", CAPACITY_MEASURES)
            area_column = self.text(where, entry, "area_column")
        if kind == "attribute":
            table = self.choice(where, entry, "table", ATTRIBUTE_TABLES)
            rule = self.choice(where, entry, "rule", ATTRIBUTE_RULES)
            column = self.text(where, entry, "column")
            denominator = self.text(where, entry, "denominator_column",
                                    required=rule == "ratio") or None
            min_value = self.number(where, entry, "min_value", required=rule == "share_at_least",
                                    positive=False)
            if rule == "total" and scope != "all":
                self.bad(f"{where}.scope", "a total is city-wide: scope must be 'all'")
        reading = entry.get("reading")
        readings: tuple[str, ...] = ()
        if kind == "coverage":
            reading = self.choice(where, entry, "reading", READINGS, required=False)
            readings = (("travel_time", "presence") if reading == "both"
                        else (reading or "travel_time",))
            if readings == ("presence",) and "threshold_minutes" in entry:
                self.bad(f"{where}.threshold_minutes",
                         'not used by a target read by presence only (reading = "presence")')
        elif reading is not None and kind is not None:
            self.bad(f"{where}.reading", f"not used by a {kind} target (coverage only)")
        assumptions = self.assumptions(where, entry, "assumptions")
        per_reading: dict[str, tuple[str, ...]] = {}
        for r in ("travel_time", "presence"):
            key = f"{r}_assumptions"
            per_reading[r] = self.assumptions(where, entry, key)
            if key in entry and kind is not None and r not in readings:
                self.bad(f"{where}.{key}", f"the target is not read by {r.replace('_', ' ')} "
                         "(see reading)")
        if kind in ("coverage", "size") or rule in ("share_true", "share_at_least"):
            for s, v in target.items():
                if v > 1:
                    self.bad(f"{where}.target", f"a share must be <= 1 (0.9 = 90 %), got {v:g} "
                             f"for {s}")
        if len(self.problems) > n or scope is None or kind is None:
            return None
        return Target(
            id=tid,
            description_zh=texts["description_zh"],
            description_en=texts["description_en"],
            scope=scope,
            kind=kind,
            categories=categories,
            target=MappingProxyType(target),
            threshold_minutes=threshold,
            threshold_source=threshold_source,
            threshold_verified=threshold_verified,
            measure=measure,
            area_column=area_column,
            table=table,
            rule=rule,
            column=column,
            denominator_column=denominator,
            min_value=min_value,
            assessable=assessable,
            not_assessable_reason=reason or None,
            source=texts["source"],
            verified=verified,
            readings=readings,
            assumptions=assumptions,
            travel_time_assumptions=per_reading["travel_time"],
            presence_assumptions=per_reading["presence"],
        )

    def target_values(self, where: str, entry: Mapping[str, Any],
                      scope: str | None) -> dict[str, float]:
        value = entry.get("target")
        if value is None:
            self.bad(f"{where}.target", "missing")
            return {}
        if isinstance(value, dict):
            allowed = ("urban", "rural") if scope == "all" else (scope,)
            out: dict[str, float] = {}
            for s in value:
                if s not in allowed:
                    self.bad(f"{where}.target.{s}",
                             f"scope {s!r} not allowed with scope = {scope!r}")
                    continue
                v = self.number(f"{where}.target", value, s, positive=False)
                if v is not None:
                    out[s] = v
            return out
        v = self.number(where, entry, "target", positive=False)
        return {} if v is None or scope is None else {scope: v}


__all__ = [
    "CATEGORY_KEYS",
    "READINGS",
    "RESIDENTIAL_BLOCK",
    "Catalog",
    "Category",
    "LifeCircle",
    "Target",
    "catalog_figures",
    "default_catalog_path",
    "load_catalog",
]
