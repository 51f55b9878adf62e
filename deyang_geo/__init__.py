"""deyang-geo: 15-minute service-circle planning with real network analysis."""

from __future__ import annotations

from deyang_geo.core.errors import (
    ConfigError,
    DeyangGeoError,
    InfeasibleError,
    InputError,
    InputWarning,
    NetworkError,
    Problem,
    SolverError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DeyangGeoError",
    "InfeasibleError",
    "InputError",
    "InputWarning",
    "NetworkError",
    "Problem",
    "SolverError",
    "__version__",
]
