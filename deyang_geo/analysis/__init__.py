"""Network analysis on compact arrays: routing, snapping, demand, access, coverage.

- ``routing``: the array form of a network (``RoutingNetwork``) every search runs on;
- ``kernels``: the compiled shortest-path kernels (numba);
- ``snapping``: points onto streets, with connector and partial-edge costs;
- ``demand``, ``raster_demand``: communities and population rasters into demand units;
- ``facilities``: facilities from OpenStreetMap tags, merged with a planner's list;
- ``access``: minutes to the nearest facility per category, and reach sets;
- ``isochrones``: service areas that follow the streets reached;
- ``coverage``: covered people per unit, community, township, division;
- ``accessibility``, ``equity``, ``graded``: decay scores, 2SFCA, completeness, Gini and Palma.
"""

from __future__ import annotations

from deyang_geo.analysis.access import (
    ReachSet,
    minutes_to_nearest,
    node_minutes,
    reach_set,
)
from deyang_geo.analysis.coverage import CoverageResult, compute_coverage
from deyang_geo.analysis.demand import demand_units
from deyang_geo.analysis.isochrones import isochrones
from deyang_geo.analysis.routing import RoutingNetwork
from deyang_geo.analysis.snapping import snap_points

__all__ = [
    "CoverageResult",
    "ReachSet",
    "RoutingNetwork",
    "compute_coverage",
    "demand_units",
    "isochrones",
    "minutes_to_nearest",
    "node_minutes",
    "reach_set",
    "snap_points",
]
