"""Names and colours of categories, classes and minute bands in Chinese and English.

One vocabulary for maps, figures, tables and reports, so a category is called and coloured
the same everywhere.

"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "BASEMAPS",
    "CATEGORY_STYLES",
    "CLASS_STYLES",
    "ISO_COLOURS",
    "MINUTE_BANDS",
    "TIANDITU_ENV",
    "UNREACHABLE_COLOUR",
    "Basemap",
    "CategoryStyle",
    "Lang",
    "category_label",
    "category_style",
    "context_kind",
    "label",
    "minutes_band_label",
    "minutes_colour",
]

Lang = Literal["zh", "en", "both"]

Basemap = Literal["osm", "light", "tianditu", "amap", "none"]


#: The base maps a user may choose (``--basemap``, ``[output] basemap``).
BASEMAPS: tuple[str, ...] = ("osm", "light", "tianditu", "amap", "none")
#: Environment variable holding the Tianditu key when ``--tianditu-key`` is not given.
TIANDITU_ENV = "TIANDITU_KEY"


@dataclass(frozen=True)

class CategoryStyle:
    """How one facility category is drawn: colour, a short symbol and its names."""

    colour: str
    symbol_zh: str
    symbol_en: str
    name_zh: str
    name_en: str


#: Drawing style of every catalog category (docs/architecture.md); names are the fallback when
#: no standards catalog is given.
CATEGORY_STYLES: dict[str, CategoryStyle] = {
    "service_centre": CategoryStyle("#08519c", "心", "SC", "街道(乡镇)便民服务中心",
                                    "Sub-district service centre"),
    "service_station": CategoryStyle("#3182bd", "站", "SS", "社区便民服务站",
                                     "Community service station"),
    "mediation_room": CategoryStyle("#756bb1", "调", "MR", "综治调解室", "Mediation room"),
    "health_room": CategoryStyle("#e31a1c", "医", "H", "医疗卫生室", "Health room"),
    "police_room": CategoryStyle("#253494", "警", "P", "社区警务室", "Police room"),
    "culture_sports": CategoryStyle("#d95f0e", "文", "CS", "文化体育站",
                                    "Culture and sports station"),
    "library_room": CategoryStyle("#8c510a", "书", "L", "社区图书室", "Library room"),
    "fitness_station": CategoryStyle("#33a02c", "健", "F", "体育健身站(点)", "Fitness station"),
    "elderly_daycare": CategoryStyle("#c51b7d", "老", "E", "日间照料中心",
                                     "Elderly day-care centre"),
    "childrens_home": CategoryStyle("#f768a1", "童", "C", "儿童之家", "Children's home"),
    "volunteer_station": CategoryStyle("#fd8d3c", "志", "V", "志愿服务站", "Volunteer station"),
    "social_work_room": CategoryStyle("#7a0177", "社", "SW", "社区社会工作室", "Social-work room"),
    "micro_fire_station": CategoryStyle("#b10026", "消", "FS", "社区微型消防站",
                                        "Micro fire station"),
    "emergency_shelter": CategoryStyle("#006d2c", "避", "ES", "应急避难场所", "Emergency shelter"),
    "disaster_supply_store": CategoryStyle("#636363", "储", "DS", "救灾物资储备",
                                           "Disaster-supply store"),
    "rural_service_outlet": CategoryStyle("#a6761d", "农", "RS", "农村综合性服务网点",
                                          "Rural service outlet"),
    "outdoor_square": CategoryStyle("#66a61e", "场", "SQ", "户外活动广场", "Outdoor square"),
    "sports_ground": CategoryStyle("#1b9e77", "体", "SG", "体育场地", "Sports ground"),
}

_OTHER_STYLE = CategoryStyle("#525252", "他", "?", "其他", "Other")

#: Coverage classes of coverage.py: colour and names.
CLASS_STYLES: dict[str, tuple[str, str, str]] = {
    "covered": ("#1a9850", "覆盖", "covered"),
    "partly": ("#fdae61", "部分覆盖", "partly covered"),
    "outside": ("#d73027", "未覆盖", "outside reach"),
}

#: Minute bands used to colour travel times: (upper bound in minutes, colour).
MINUTE_BANDS: tuple[tuple[float, str], ...] = (
    (5.0, "#1a9850"), (10.0, "#91cf60"), (15.0, "#fee08b"), (30.0, "#fc8d59"),
    (math.inf, "#d73027"),
)

UNREACHABLE_COLOUR = "#7f7f7f"

ISO_COLOURS = ("#08519c", "#4292c6", "#9ecae1", "#c6dbef", "#deebf7")


# --------------------------------------------------------------------------------------------
# labels


def label(zh: str, en: str, lang: Lang) -> str:
    """Return the label in the chosen language: ``zh``, ``en`` or ``"zh / en"`` for both.

    Parameters
    ----------
    zh
        Chinese text.
    en
        English text.
    lang
        ``"zh"``, ``"en"`` or ``"both"``.

    Returns
    -------
    str
        The label (not escaped).
    """
    if lang == "zh":
        return zh
    if lang == "en":
        return en
    return f"{zh} / {en}" if zh != en else zh


def _catalog_names(catalog: Any) -> dict[str, tuple[str, str]]:
    names = {k: (s.name_zh, s.name_en) for k, s in CATEGORY_STYLES.items()}
    categories = getattr(catalog, "categories", catalog)
    if isinstance(categories, Mapping):
        for key, cat in categories.items():
            zh = getattr(cat, "name_zh", None)
            en = getattr(cat, "name_en", None)
            if isinstance(cat, Mapping):
                zh, en = cat.get("name_zh"), cat.get("name_en")
            if zh or en:
                names[str(key)] = (str(zh or en), str(en or zh))
    return names


def category_label(category: str, *, lang: Lang = "both", catalog: Any = None) -> str:
    """Return the display name of a facility category (not escaped).

    Parameters
    ----------
    category
        A catalog key such as ``"fitness_station"``; unknown keys are shown as they are.
    lang
        ``"zh"``, ``"en"`` or ``"both"``.
    catalog
        A standards catalog (``deyang_geo.core.standards.load_catalog()``) or a mapping key ->
        object with ``name_zh``/``name_en``; ``None`` uses the built-in names.

    Returns
    -------
    str
        The label.
    """
    names = _catalog_names(catalog)
    if category in names:
        zh, en = names[category]
        return label(zh, en, lang)
    return str(category)


def category_style(category: str) -> CategoryStyle:
    """Return the style of a category (colour, icon, names), a neutral one beyond the catalog."""
    return CATEGORY_STYLES.get(category, _OTHER_STYLE)


def minutes_colour(minutes: float) -> str:
    """Return the colour of a minutes value: its band of :data:`MINUTE_BANDS`, grey if unreached."""
    if not np.isfinite(minutes):
        return UNREACHABLE_COLOUR
    for upper, colour in MINUTE_BANDS:
        if minutes <= upper:
            return colour
    return MINUTE_BANDS[-1][1]


def minutes_band_label(i: int, lang: Lang) -> str:
    """Return the legend text of minute band ``i`` ('5–10 分钟', '5-10 min' or both)."""
    lower = 0.0 if i == 0 else MINUTE_BANDS[i - 1][0]
    upper = MINUTE_BANDS[i][0]
    if math.isinf(upper):
        return label(f"> {lower:g} 分钟", f"> {lower:g} min", lang)
    return label(f"{lower:g}-{upper:g} 分钟", f"{lower:g}-{upper:g} min", lang)


def context_kind(row: Mapping[str, Any]) -> str:
    """Classify a context feature as ``water``, ``rail``, ``park``, ``area`` or ``other``.

    Parameters
    ----------
    row
        The feature's attributes; ``kind``/``type``/``waterway``/``railway`` are read.

    Returns
    -------
    str
        The drawing class: water and parks are filled, extents (``area``) are outlines.
    """
    text = " ".join(str(row.get(c, "")) for c in ("kind", "type", "waterway", "railway",
                                                  "feature"))
    if re.search(r"river|water|stream|canal|lake|河|湖", text, re.I):
        return "water"
    if re.search(r"rail|铁路", text, re.I):
        return "rail"
    if re.search(r"park|green|forest|公园|绿地", text, re.I):
        return "park"
    if re.search(r"area|boundary|范围|建成区", text, re.I):
        return "area"
    return "other"

