"""Typed defaults of deyang-geo; every function reads them at call time when passed ``None``."""

from __future__ import annotations

from pathlib import Path

#: Walking speed in km/h: 1000 m in 15 minutes, the GB 50180-2018 15-minute life circle.
walk_speed_kmh: float = 4.0
#: Walking speed of older pedestrians in km/h (about the 15th percentile of measured speeds).
walk_elderly_speed_kmh: float = 3.3
#: Cycling speed in km/h.
bike_speed_kmh: float = 15.0
#: E-bike speed in km/h (legal design maximum 25 km/h).
ebike_speed_kmh: float = 20.0
#: Default driving speeds in km/h per OSM highway type when ``maxspeed`` is missing, suited to
#: Chinese urban and rural roads.
drive_speeds_kmh: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 50.0,
    "trunk": 70.0,
    "trunk_link": 40.0,
    "primary": 50.0,
    "primary_link": 30.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 30.0,
    "tertiary_link": 25.0,
    "unclassified": 25.0,
    "residential": 20.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 25.0,
    "track": 15.0,
}
#: Travel modes the toolkit knows, in the order they are reported.
modes: tuple[str, ...] = ("walk", "walk_elderly", "bike", "ebike", "drive")

#: Largest distance in metres between a point and the network for the point to be snapped.
max_snap_m: float = 300.0
#: Default time threshold in minutes (the 15-minute basic public service circle).
threshold_minutes: float = 15.0
#: Default isochrone breaks in minutes.
isochrone_breaks_minutes: tuple[float, ...] = (5.0, 10.0, 15.0)
#: Distance in metres an isochrone reaches off the street (walk-off buffer).
isochrone_walkoff_m: float = 50.0
#: Share of a community's population that must be within reach for the community to count as
#: covered; at or above ``partly_covered_share`` it is partly covered.
covered_share: float = 0.8
partly_covered_share: float = 0.2
#: Time breaks in minutes at which population coverage is reported.
coverage_breaks_minutes: tuple[float, ...] = (5.0, 10.0, 15.0)
#: Grid spacing in metres used to spread a community polygon's population over points.
demand_grid_spacing_m: float = 100.0
#: Most demand units one community may be spread over (200,000 points of a 100 m grid cover
#: 2,000 km2, more than any county-level division of Deyang); more means a coordinate typo.
max_demand_units_per_community: int = 200_000
#: Plausibility limits of input tables: a larger value is reported as an error naming the
#: file, row and column (a typo, or a number pasted into the wrong column).
max_population_per_community: int = 1_000_000
max_floor_area_m2: float = 1_000_000.0
#: Largest plausible community polygon in km2 (Deyang's largest county-level division,
#: Shifang, covers about 820 km2).
max_community_area_km2: float = 2_000.0
#: Plausible speeds in km/h per travel mode (low, high): a speed outside is refused.
plausible_speeds_kmh: dict[str, tuple[float, float]] = {
    "walk": (1.0, 8.0),
    "walk_elderly": (0.5, 8.0),
    "bike": (5.0, 40.0),
    "ebike": (5.0, 50.0),
    "drive": (5.0, 150.0),
}

#: Folder for osmnx's HTTP cache and other caches.
cache_folder: Path = Path("cache")
#: Folder of the embedded demo data; ``None`` means ``data/demo`` next to the package.
demo_data_dir: Path | None = None

#: Web maps: point layers with more points than this are aggregated into square cells.
webmap_max_features: int = 5000
#: Web maps: tolerance in metres for simplifying drawn lines and polygons.
webmap_simplify_m: float = 5.0
#: Printable figures: resolution of PNG files in dots per inch.
figure_dpi: int = 300
#: Site suggestion: solver time limit in seconds for one model.
siting_time_limit_s: float = 60.0
#: Site suggestion: spacing in metres of candidate sites taken from network nodes.
candidate_spacing_m: float = 200.0
