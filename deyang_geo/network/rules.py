"""Which travel modes may use an OSM way, in which direction and at what speed.

Rules per mode (one graph serves all modes):

- walk, walk_elderly: every highway except motorways, cycleways and unbuilt roads (unless
  ``foot=yes|designated|permissive``); respects ``foot`` and ``access``; both directions.
  Trunk roads (``trunk``, ``trunk_link``: many urban arterials and national roads through
  Chinese towns) are walkable unless ``foot=no``, ``access=no|private``, ``motorroad=yes`` or
  a sidewalk tag says there is none (``sidewalk=no|none``, ``sidewalk:both=no|none``, or
  ``sidewalk:left`` and ``sidewalk:right`` both ``no|none``); ``exclude_trunk=True`` leaves
  every trunk road out of the walking network.
- bike, ebike: roads and cycleways; footways, paths, steps and pedestrian streets only with
  ``bicycle=yes|designated|permissive``; no motorways/trunks unless ``bicycle=yes``; respects
  ``bicycle``, ``vehicle``, ``access``; one-way streets unless ``oneway:bicycle=no``.
- drive: highway types in ``settings.drive_speeds_kmh``; respects ``motorcar``,
  ``motor_vehicle``, ``vehicle``, ``access`` and one-way streets (roundabouts and motorways are
  implied one-way); speed from ``maxspeed`` else ``settings.drive_speeds_kmh[highway]``,
  summed segment by segment along merged edges.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deyang_geo.core import settings
from deyang_geo.core.errors import NetworkError
from deyang_geo.network.osm_file import (
    HighwayData,
)

__all__ = [
    "DRIVE_SPEED_LABEL",
    "MODE_KIND",
    "parse_maxspeed_kmh",
    "way_modes",
]

#: Which rule set each mode follows.
MODE_KIND: dict[str, str] = {
    "walk": "walk", "walk_elderly": "walk", "bike": "bike", "ebike": "bike", "drive": "drive",
}

#: Label stored in ``G.graph["speeds_kmh"]`` for the drive mode.
DRIVE_SPEED_LABEL = "maxspeed/highway defaults"

_UNBUILT = frozenset({
    "abandoned", "bus_guideway", "busway", "construction", "disused", "escape", "no", "planned",
    "platform", "proposed", "raceway", "razed", "rest_area", "services", "emergency_bay",
})

_MOTOR_ONLY = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})

_TRUNK = frozenset({"trunk", "trunk_link"})

_NO_SIDEWALK = frozenset({"no", "none"})

_FOOT_ONLY = frozenset({
    "footway", "steps", "path", "pedestrian", "corridor", "bridleway", "elevator", "escalator",
    "via_ferrata",
})

_ALLOW = frozenset({"yes", "designated", "permissive"})

_DENY = frozenset({"no", "private", "use_sidepath", "agricultural", "forestry", "emergency",
                   "psv", "bus", "delivery", "military"})

_ONEWAY_FWD = frozenset({"yes", "true", "1"})

_ONEWAY_BWD = frozenset({"-1", "reverse"})

_ONEWAY_NO = frozenset({"no", "false", "0", "alternating", "reversible"})

_BIKE_CONTRAFLOW = frozenset({"opposite", "opposite_lane", "opposite_track"})

_MPH_TO_KMH = 1.609344

_MAXSPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)

RULE_KEYS = ("highway", "area", "access", "foot", "bicycle", "vehicle", "motor_vehicle",
              "motorcar", "oneway", "oneway:bicycle", "junction", "service", "cycleway",
              "motorroad", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")


# --------------------------------------------------------------------------- mode rules
#: Way tags kept on edges: osmnx 2.x's default ``settings.useful_tags_way``, in its order (the
#: travel-mode rules read more tags while building, see ``osm_file``).
WAY_TAGS_KEPT: tuple[str, ...] = (
    "access", "area", "bridge", "est_width", "highway", "junction", "landuse", "lanes",
    "maxspeed", "name", "oneway", "ref", "service", "tunnel", "width",
)


def parse_maxspeed_kmh(value: object) -> float | None:
    """Parse an OSM ``maxspeed`` value into km/h.

    Parameters
    ----------
    value
        ``"50"``, ``"50 km/h"``, ``"30 mph"``, ``"50;60"`` (mean), a list of such values (as
        after simplification: mean), or anything else.

    Returns
    -------
    float or None
        The speed in km/h, or None when the value gives no usable number (``"none"``,
        ``"CN:urban"``, ``"signals"``...).
    """
    if isinstance(value, (list, tuple)):
        parts: list[object] = list(value)
    elif isinstance(value, str):
        parts = [p for p in value.split(";") if p.strip()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parts = [str(value)]
    else:
        return None
    speeds = []
    for part in parts:
        if isinstance(part, str) and ";" in part:
            inner = parse_maxspeed_kmh(part)
            if inner is not None:
                speeds.append(inner)
            continue
        match = _MAXSPEED_RE.match(str(part))
        if match is None:
            continue
        number = float(match.group(1))
        unit = (match.group(2) or "").lower()
        if unit == "mph":
            number *= _MPH_TO_KMH
        elif unit == "knots":
            number *= 1.852
        if number > 0:
            speeds.append(number)
    return float(np.mean(speeds)) if speeds else None


def _first(tags: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None:
            return value
    return None


def oneway_direction(tags: Mapping[str, str]) -> int:
    """Return 1 for one-way forward, -1 for one-way backward, 0 for both directions."""
    oneway = tags.get("oneway", "").lower()
    if oneway in _ONEWAY_FWD:
        return 1
    if oneway in _ONEWAY_BWD:
        return -1
    if oneway in _ONEWAY_NO:
        return 0
    if tags.get("junction") in {"roundabout", "circular"} or tags.get("highway") == "motorway":
        return 1
    return 0


def _no_sidewalk(tags: Mapping[str, str]) -> bool:
    """Whether the way's tags say it has no sidewalk on either side."""
    if tags.get("sidewalk") in _NO_SIDEWALK or tags.get("sidewalk:both") in _NO_SIDEWALK:
        return True
    return (tags.get("sidewalk:left") in _NO_SIDEWALK
            and tags.get("sidewalk:right") in _NO_SIDEWALK)


def _may_use(kind: str, tags: Mapping[str, str], drive_highways: frozenset[str], *,
             exclude_trunk: bool = False) -> bool:
    highway = tags.get("highway", "")
    if highway in _UNBUILT or tags.get("area") == "yes" or tags.get("service") == "private":
        return False
    if kind == "walk":
        if highway in _TRUNK:
            if exclude_trunk or tags.get("motorroad") == "yes" or _no_sidewalk(tags):
                return False
            return _first(tags, "foot", "access") not in _DENY
        foot = tags.get("foot")
        if foot in _ALLOW:
            return True
        if highway in _MOTOR_ONLY or highway == "cycleway":
            return False
        return _first(tags, "foot", "access") not in _DENY
    if kind == "bike":
        bicycle = tags.get("bicycle")
        if bicycle in _ALLOW:
            return True
        if highway in _MOTOR_ONLY or highway in _FOOT_ONLY:
            return False
        return _first(tags, "bicycle", "vehicle", "access") not in _DENY
    if highway not in drive_highways:
        return False
    return _first(tags, "motorcar", "motor_vehicle", "vehicle", "access") not in _DENY


def way_modes(tags: Mapping[str, str], modes: Sequence[str], *,
              drive_highways: Iterable[str] | None = None,
              exclude_trunk: bool = False) -> tuple[int, int]:
    """Return the bit masks of the modes that may use a way forward and backward.

    Parameters
    ----------
    tags
        The way's OSM tags.
    modes
        The modes; bit ``i`` of a mask stands for ``modes[i]``.
    drive_highways
        Highway types open to driving; default the keys of ``settings.drive_speeds_kmh``.
    exclude_trunk
        Leave trunk roads out of the walking modes even where they may be walked.

    Returns
    -------
    tuple of int
        ``(forward, backward)``: forward runs in the way's node order.
    """
    drive_set = frozenset(settings.drive_speeds_kmh if drive_highways is None
                          else drive_highways)
    direction = oneway_direction(tags)
    forward = backward = 0
    for i, mode in enumerate(modes):
        kind = MODE_KIND[mode]
        if not _may_use(kind, tags, drive_set, exclude_trunk=exclude_trunk):
            continue
        bit = 1 << i
        if kind == "walk":
            forward |= bit
            backward |= bit
            continue
        one_way = direction
        if kind == "bike" and (tags.get("oneway:bicycle") == "no"
                               or tags.get("cycleway") in _BIKE_CONTRAFLOW):
            one_way = 0
        if one_way >= 0:
            forward |= bit
        if one_way <= 0:
            backward |= bit
    return forward, backward


def check_modes(modes: Iterable[str] | str | None) -> tuple[str, ...]:
    if modes is None:
        return tuple(settings.modes)
    items = [modes] if isinstance(modes, str) else list(modes)
    names: list[str] = []
    for item in items:
        names.extend(p.strip() for p in str(item).split(",") if p.strip())
    unknown = [m for m in names if m not in MODE_KIND]
    if unknown or not names:
        msg = (f"unknown travel mode(s) {', '.join(map(repr, unknown)) or '(none given)'}: "
               f"choose from {', '.join(MODE_KIND)}")
        raise NetworkError(msg)
    return tuple(m for m in settings.modes if m in names) + tuple(
        dict.fromkeys(m for m in names if m not in settings.modes))


def mode_speeds(modes: Sequence[str], speeds_kmh: Mapping[str, float] | None) -> dict[str, Any]:
    speeds: dict[str, Any] = {}
    given = dict(speeds_kmh or {})
    problems: list[str] = []
    for mode in modes:
        if mode == "drive":
            speeds[mode] = DRIVE_SPEED_LABEL
            continue
        value = given.get(mode, getattr(settings, f"{mode}_speed_kmh", None))
        if value is None or not math.isfinite(float(value)) or float(value) <= 0:
            problems.append(f"speed of mode {mode!r} must be a positive number of km/h, "
                            f"got {value!r}")
            continue
        speeds[mode] = float(value)
    if problems:
        raise NetworkError(problems)
    return speeds


def drive_s_per_m(data: HighwayData) -> NDArray[np.float64]:
    """Seconds per metre of driving on each way: ``maxspeed``, else the highway default."""
    defaults = settings.drive_speeds_kmh
    fallback = defaults.get("road", 25.0)
    cache: dict[tuple[str | None, str | None], float] = {}
    out = np.empty(len(data.way_tags))
    for w, tags in enumerate(data.way_tags):
        key = (tags.get("maxspeed"), tags.get("highway"))
        value = cache.get(key)
        if value is None:
            kmh = parse_maxspeed_kmh(key[0])
            if kmh is None:
                kmh = defaults.get(key[1] or "", fallback)
            value = 3.6 / kmh
            cache[key] = value
        out[w] = value
    return out

