"""Checks of single values shared by the command line, the study file and the API.

One rule, one wording: ``--walk-speed-kmh 0`` on the command line, ``walk = 0`` in a study
file's ``[network.speeds_kmh]`` and ``with_speed("walk", 0)`` in a notebook are refused with the
same words, so a planner reads the same message wherever the value came from.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from deyang_geo.core import settings
from deyang_geo.core.errors import InputError

__all__ = [
    "check_positive",
    "is_positive_number",
    "positive_problem",
    "show_value",
    "speed_problem",
]


def show_value(value: Any) -> str:
    """Return a value as a message shows it: numbers compactly (``-4``, ``1e+09``), else repr."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{float(value):g}"
    return repr(value)


def is_positive_number(value: Any) -> bool:
    """Return whether ``value`` is a finite real number greater than zero (booleans are not)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)) and float(value) > 0)


def positive_problem(value: Any, *, unit: str = "") -> str | None:
    """Return what is wrong with a value that must be a positive number, or ``None``.

    Parameters
    ----------
    value
        The value as given.
    unit
        Optional unit for the message (``"minutes"``, ``"km/h"``, ``"seconds"``).

    Returns
    -------
    str or None
        ``"must be a positive number of minutes, got -5"``; the caller puts the name of the
        option, key or argument in front.
    """
    if is_positive_number(value):
        return None
    of = f" of {unit}" if unit else ""
    return f"must be a positive number{of}, got {show_value(value)}"


def check_positive(value: Any, *, name: str, unit: str = "") -> float:
    """Return ``value`` as a float, or raise if it is not a positive number.

    Parameters
    ----------
    value
        The value as given.
    name
        The option, key or argument it came from (``"--walk-speed-kmh"``, ``"spacing_m"``).
    unit
        Optional unit for the message.

    Returns
    -------
    float
        The value.

    Raises
    ------
    InputError
        ``"<name> must be a positive number[ of <unit>], got <value>"``.
    """
    problem = positive_problem(value, unit=unit)
    if problem is not None:
        msg = f"{name} {problem}"
        raise InputError(msg)
    return float(value)


def speed_problem(value: Any, *, mode: str) -> str | None:
    """Return what is wrong with a travel speed in km/h for ``mode``, or ``None``.

    A positive number first, then within the mode's plausible range
    (``settings.plausible_speeds_kmh``: a walking speed of 1e9 km/h is a typo, not a finding).

    Parameters
    ----------
    value
        The speed as given.
    mode
        The travel mode.

    Returns
    -------
    str or None
        The message without the option's name in front.
    """
    problem = positive_problem(value, unit="km/h")
    if problem is not None:
        return problem
    low, high = settings.plausible_speeds_kmh.get(mode, (0.0, float("inf")))
    if not low <= float(value) <= high:
        return (f"{float(value):g} km/h is not a plausible {mode} speed (expected "
                f"{low:g}-{high:g} km/h, settings.plausible_speeds_kmh)")
    return None
