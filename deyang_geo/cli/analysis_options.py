"""The analysis options of the commands, resolved exactly as a study file's ``[analysis]``.

``access``, ``compliance`` and ``suggest-sites`` take the same options with the same meaning
as the keys of a study file (``--minutes`` is ``threshold_minutes``, ``--rural-mode`` is
``rural_mode``...), build the same :class:`~deyang_geo.study.resolved.ResolvedAnalysis` and call the
same pipeline steps as ``deyang-geo run``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from deyang_geo.cli.common import (
    add_demand_raster_options,
    add_lang_option,
    add_map_options,
    add_network_option,
    add_out_option,
    add_points_options,
    add_travel_options,
)
from deyang_geo.core import settings

if TYPE_CHECKING:
    from deyang_geo.core.standards import Catalog
    from deyang_geo.study.resolved import ResolvedAnalysis


def add_study_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of a command that analyses a study area and draws a map of it.

    Network, facilities and demand, travel, the analysis (mode, threshold, direction ...),
    output folder, language, map and raster demand: the same names and meanings in ``access``
    and ``suggest-sites``, in this order in their ``--help``.
    """
    add_network_option(parser)
    add_points_options(parser, osm_facilities=True)
    add_travel_options(parser)
    add_analysis_options(parser)
    add_out_option(parser)
    add_lang_option(parser)
    add_map_options(parser)
    add_demand_raster_options(parser)


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--rural-mode``, ``--rural-minutes``, ``--distance-m`` and ``--direction``."""
    parser.add_argument(
        "--rural-mode", default=None, choices=settings.modes,
        help="travel mode of rural communities (study file: rural_mode; default: --mode)")
    parser.add_argument(
        "--rural-minutes", type=float, default=None, metavar="M",
        help="threshold of rural communities in minutes (study file: "
        "rural_threshold_minutes; default: the catalog's rural threshold of each category "
        "for the rural mode, an assumption)")
    parser.add_argument(
        "--distance-m", default=None, metavar="M|standard",
        help="walking distance turned into each category's threshold at the mode's speed "
        "(study file: threshold_distance_m): metres, or 'standard' for GB 50180's 300 / 500 / "
        "1000 m by life-circle level; instead of --minutes")
    parser.add_argument(
        "--direction", default=None, choices=("to_facility", "from_facility"),
        help="direction of travel (study file: direction; default: to_facility, from each "
        "home to the facility)")


def _distance(value: str | None) -> float | str | None:
    from deyang_geo.core.errors import InputError

    if value is None:
        return None
    if value.strip() == "standard":
        return "standard"
    try:
        metres = float(value)
    except ValueError:
        metres = float("nan")
    if not metres > 0:
        msg = f"--distance-m must be positive metres or 'standard', got {value!r}"
        raise InputError(msg)
    return metres


def resolve_args(args: argparse.Namespace, *, catalog: Catalog,
                 categories: Sequence[str]) -> ResolvedAnalysis:
    """Resolve the command's options like a study file (``origin = "CLI"``).

    Parameters
    ----------
    args
        The parsed options (``--mode``, ``--minutes``, ``--walk-speed-kmh``, the options of
        :func:`add_analysis_options`).
    catalog
        The standards catalog.
    categories
        The categories analysed.

    Returns
    -------
    ResolvedAnalysis
        The same object ``deyang-geo run`` builds from a study file.

    Raises
    ------
    InputError
        On a value the study file would refuse too.
    """
    from deyang_geo.core.checks import positive_problem
    from deyang_geo.core.errors import ConfigError, InputError, Problem
    from deyang_geo.study.resolved import resolve_analysis

    problems: list[Problem] = []
    for attr, option, unit in (("minutes", "--minutes", "minutes"),
                               ("walk_speed_kmh", "--walk-speed-kmh", "km/h"),
                               ("rural_minutes", "--rural-minutes", "minutes")):
        value = getattr(args, attr, None)
        problem = None if value is None else positive_problem(value, unit=unit)
        if problem is not None:
            problems.append(Problem(f"{option} {problem}"))
    minutes = getattr(args, "minutes", None)
    rural_minutes = getattr(args, "rural_minutes", None)
    speed = getattr(args, "walk_speed_kmh", None)
    if problems:
        raise InputError(problems)
    given = [name for name, value in (("mode", "--mode"), ("rural_mode", "--rural-mode"),
                                      ("direction", "--direction"))
             if _was_given(args, name, value)]
    speeds: dict[str, float] = {}
    if speed is not None:
        speeds["walk"] = float(speed)
    try:
        return resolve_analysis(
            catalog=catalog, categories=categories, mode=args.mode,
            threshold_minutes=None if minutes is None else float(minutes),
            threshold_distance_m=_distance(getattr(args, "distance_m", None)),
            rural_mode=getattr(args, "rural_mode", None),
            rural_threshold_minutes=rural_minutes,
            direction=getattr(args, "direction", None) or "to_facility",
            speeds_kmh=speeds, given=given, origin="CLI",
        )
    except ConfigError as exc:
        raise InputError([Problem(_cli_names(p.message)) for p in exc.problems]) from None


def _was_given(args: argparse.Namespace, name: str, option: str) -> bool:
    given: Any = getattr(args, "_given_options", None)
    if given is not None:
        return option in given
    value = getattr(args, name, None)
    return value is not None and not (name == "mode" and value == "walk")


def _cli_names(message: str) -> str:
    """Name the option instead of the study-file key at the start of a message."""
    options = {"threshold_distance_m": "--distance-m", "threshold_minutes": "--minutes",
               "rural_mode": "--rural-mode", "direction": "--direction", "mode": "--mode"}
    key, sep, rest = message.partition(":")
    return f"{options[key]}{sep}{rest}" if sep and key in options else message
