"""A seeded SYNTHETIC "province" of rectangular areas for batch tests and benchmarks.

Everything written here is invented: a jittered street grid over all areas (written as an
``.osm.pbf`` with pyosmium's ``SimpleWriter``), one rectangle per area, communities,
facilities and candidate sites, and a study file that says ``synthetic = true``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import Point, box

#: Metres per degree of latitude (a spherical approximation is enough for invented data).
_M_PER_DEG_LAT = 110_540.0


@dataclass(frozen=True)
class SyntheticProvince:
    """The files of a synthetic province.

    Attributes
    ----------
    study
        The study file (``synthetic = true``).
    osm
        The street network (``.osm.pbf``).
    areas
        One rectangle per area (GeoJSON) with column ``area_id``.
    communities, facilities, candidates
        The study's tables (GeoJSON, WGS-84).
    area_ids
        The area ids, row order of ``areas``.
    nodes
        Street nodes written.
    """

    study: Path
    osm: Path
    areas: Path
    communities: Path
    facilities: Path
    candidates: Path
    area_ids: tuple[str, ...]
    nodes: int


def write_street_grid(path: str | os.PathLike[str], *, columns: int, rows: int,
                      spacing_m: float = 100.0, origin: tuple[float, float] = (104.0, 30.5),
                      way_segments: int = 7, skip_cells: Iterable[tuple[int, int]] = (),
                      cell_nodes: int = 1, seed: int = 0,
                      pois: Iterable[tuple[Sequence[tuple[float, float]], Mapping[str, str]]] = ()
                      ) -> int:
    """Write a jittered SYNTHETIC street grid as an OSM file (nodes, then ways, by id).

    Parameters
    ----------
    path
        The file to write (``.osm.pbf``).
    columns, rows
        Grid nodes east-west and north-south.
    spacing_m
        Grid spacing in metres.
    origin
        (lon, lat) of the south-west node.
    way_segments
        Segments per way: rows and columns are cut into ways this long, so ways cross areas.
    skip_cells
        (column, row) cells of ``cell_nodes`` x ``cell_nodes`` nodes left without streets.
    cell_nodes
        Size of the cells of ``skip_cells``, in nodes.
    seed
        Random seed of the jitter and of the street types.
    pois
        Tagged features after the streets: (points, tags) each, one (lon, lat) point for a
        tagged node, three or more for a closed way (an outline) on new untagged nodes.

    Returns
    -------
    int
        Nodes written (street and feature nodes).
    """
    import osmium

    rng = np.random.default_rng(seed)
    lon0, lat0 = origin
    dlat = spacing_m / _M_PER_DEG_LAT
    dlon = spacing_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    skip = set(skip_cells)
    jitter = rng.uniform(-0.15, 0.15, size=(rows, columns, 2))

    def present(i: int, j: int) -> bool:
        return (i // cell_nodes, j // cell_nodes) not in skip

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    n = 0
    cols = np.arange(columns)
    with osmium.SimpleWriter(str(out)) as writer:
        for j in range(rows):
            lons = np.round(lon0 + (cols + jitter[j, :, 0]) * dlon, 7).tolist()
            lats = np.round(lat0 + (j + jitter[j, :, 1]) * dlat, 7).tolist()
            first = 1 + j * columns
            row_skipped = bool(skip) and any(cj == j // cell_nodes for _, cj in skip)
            for i in range(columns):
                if row_skipped and not present(i, j):
                    continue
                writer.add_node(osmium.osm.mutable.Node(id=first + i,
                                                        location=(lons[i], lats[i])))
                n += 1
        node_id = rows * columns
        outlines: list[tuple[list[int], dict[str, str]]] = []
        for points, tags in pois:
            refs = []
            for lon, lat in points:
                node_id += 1
                single = len(points) == 1
                writer.add_node(osmium.osm.mutable.Node(
                    id=node_id, location=(round(lon, 7), round(lat, 7)),
                    tags=dict(tags) if single else {}))
                refs.append(node_id)
                n += 1
            if len(points) > 1:
                outlines.append(([*refs, refs[0]], dict(tags)))
        way_id = 1
        lines = [[(i, j) for i in range(columns)] for j in range(rows)]
        lines += [[(i, j) for j in range(rows)] for i in range(columns)]
        for k, line in enumerate(lines):
            highway = "primary" if k % 10 == 0 else "residential"
            if rng.random() < 0.05:
                highway = "footway"
            runs: list[list[int]] = [[]]
            for i, j in line:
                if present(i, j):
                    runs[-1].append(1 + j * columns + i)
                elif runs[-1]:
                    runs.append([])
            for run in runs:
                for start in range(0, len(run) - 1, way_segments):
                    refs = run[start:start + way_segments + 1]
                    if len(refs) < 2:
                        continue
                    writer.add_way(osmium.osm.mutable.Way(
                        id=way_id, nodes=refs, tags={"highway": highway}))
                    way_id += 1
        for refs, tags in outlines:
            writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags))
            way_id += 1
    return n


def write_synthetic_province(folder: str | os.PathLike[str], *, areas_x: int = 3,
                             areas_y: int = 2, area_nodes: int = 12, spacing_m: float = 100.0,
                             streetless: Iterable[int] = (), communities_per_area: int = 6,
                             seed: int = 0, osm_facilities: bool = False) -> SyntheticProvince:
    """Write a SYNTHETIC province of ``areas_x`` x ``areas_y`` rectangular areas and its study.

    Parameters
    ----------
    folder
        Where to write (created).
    areas_x, areas_y
        Areas east-west and north-south; area ``A<k>`` is number k in row-major order from
        the south-west.
    area_nodes
        Street nodes per side of one area (an area has about ``area_nodes**2`` nodes).
    spacing_m
        Street grid spacing in metres.
    streetless
        Area numbers left without streets (their communities still exist).
    communities_per_area
        Point communities per area.
    seed
        Random seed.
    osm_facilities
        Also map facilities in the OSM file (:func:`synthetic_osm_facilities`) and set
        ``facilities_from_osm = true`` in the study.

    Returns
    -------
    SyntheticProvince
        The files written.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lon0, lat0 = 104.0, 30.5
    dlat = spacing_m / _M_PER_DEG_LAT
    dlon = spacing_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    empty = set(streetless)
    skip = [(k % areas_x, k // areas_x) for k in empty]
    osm = out / "province.osm.pbf"
    pois = synthetic_osm_facilities(areas_x=areas_x, areas_y=areas_y, area_nodes=area_nodes,
                                    spacing_m=spacing_m, seed=seed) if osm_facilities else []
    nodes = write_street_grid(osm, columns=areas_x * area_nodes, rows=areas_y * area_nodes,
                              spacing_m=spacing_m, origin=(lon0, lat0), skip_cells=skip,
                              cell_nodes=area_nodes, seed=seed, pois=pois)
    ids, polys = [], []
    comm: dict[str, list[object]] = {k: [] for k in ("id", "name", "kind", "population",
                                                     "households", "township", "division",
                                                     "synthetic", "geometry")}
    fac: dict[str, list[object]] = {k: [] for k in ("id", "name", "category", "synthetic",
                                                    "geometry")}
    cand: dict[str, list[object]] = {k: [] for k in ("id", "name", "synthetic", "geometry")}
    for k in range(areas_x * areas_y):
        ax, ay = k % areas_x, k // areas_x
        west = lon0 + (ax * area_nodes - 0.5) * dlon
        south = lat0 + (ay * area_nodes - 0.5) * dlat
        east, north = west + area_nodes * dlon, south + area_nodes * dlat
        area_id = f"A{k}"
        ids.append(area_id)
        polys.append(box(west, south, east, north))

        def inside(margin: float = 0.1, *, w: float = west, s: float = south,
                   e: float = east, n: float = north) -> Point:
            x = rng.uniform(w + margin * (e - w), e - margin * (e - w))
            y = rng.uniform(s + margin * (n - s), n - margin * (n - s))
            return Point(round(float(x), 6), round(float(y), 6))

        for c in range(communities_per_area):
            comm["id"].append(f"{area_id}-C{c}")
            comm["name"].append(f"合成社区 {area_id}-{c}")
            comm["kind"].append("urban")
            pop = int(rng.integers(800, 6000))
            comm["population"].append(pop)
            comm["households"].append(pop // 3)
            comm["township"].append(f"合成街道 {area_id}")
            comm["division"].append(f"合成区 {area_id}")
            comm["synthetic"].append(True)
            comm["geometry"].append(inside())
        for c, category in enumerate(["service_station", "fitness_station", "fitness_station"]):
            fac["id"].append(f"{area_id}-F{c}")
            fac["name"].append(f"合成设施 {area_id}-{c}")
            fac["category"].append(category)
            fac["synthetic"].append(True)
            # the last one sits near the area's edge, so neighbours' margins can take it
            fac["geometry"].append(inside(0.02) if c == 2 else inside())
        for c in range(4):
            cand["id"].append(f"{area_id}-S{c}")
            cand["name"].append(f"合成候选点 {area_id}-{c}")
            cand["synthetic"].append(True)
            cand["geometry"].append(inside())
    areas = out / "areas.geojson"
    gpd.GeoDataFrame({"area_id": ids, "name": [f"合成区 {i}" for i in ids],
                      "synthetic": True}, geometry=polys, crs=4326).to_file(areas)
    paths = {}
    for name, table in (("communities", comm), ("facilities", fac), ("candidates", cand)):
        geoms = table.pop("geometry")
        paths[name] = out / f"{name}.geojson"
        gpd.GeoDataFrame(table, geometry=geoms, crs=4326).to_file(paths[name])
    study = out / "study.toml"
    text = STUDY_TEMPLATE
    if osm_facilities:
        text = text.replace('candidates = "candidates.geojson"\n',
                            'candidates = "candidates.geojson"\nfacilities_from_osm = true\n')
    study.write_text(text, encoding="utf-8")
    return SyntheticProvince(study=study, osm=osm, areas=areas,
                             communities=paths["communities"],
                             facilities=paths["facilities"], candidates=paths["candidates"],
                             area_ids=tuple(ids), nodes=nodes)


def synthetic_osm_facilities(*, areas_x: int, areas_y: int, area_nodes: int,
                             spacing_m: float = 100.0, seed: int = 0
                             ) -> list[tuple[list[tuple[float, float]], dict[str, str]]]:
    """Return SYNTHETIC facilities mapped in OSM for the areas of a synthetic province.

    Per area: a fitness station as a tagged node, a community centre as a small outline, and
    a long park whose outline reaches about 2.5 km east of the area (so an extract needs nodes
    outside its box to keep the outline whole). Positions come from their own random stream.

    Parameters
    ----------
    areas_x, areas_y, area_nodes, spacing_m
        As :func:`write_synthetic_province`.
    seed
        Random seed.

    Returns
    -------
    list
        (points, tags) per feature, for ``write_street_grid(pois=...)``.
    """
    rng = np.random.default_rng(seed + 7919)
    lon0, lat0 = 104.0, 30.5
    dlat = spacing_m / _M_PER_DEG_LAT
    dlon = spacing_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    out: list[tuple[list[tuple[float, float]], dict[str, str]]] = []
    for k in range(areas_x * areas_y):
        ax, ay = k % areas_x, k // areas_x
        west = lon0 + (ax * area_nodes - 0.5) * dlon
        south = lat0 + (ay * area_nodes - 0.5) * dlat
        width, height = area_nodes * dlon, area_nodes * dlat
        x, y = (float(v) for v in rng.uniform(0.2, 0.8, size=2))
        out.append(([(west + x * width, south + y * height)],
                    {"leisure": "fitness_station", "name": f"合成健身点 A{k}"}))
        cx, cy = (float(v) for v in rng.uniform(0.3, 0.7, size=2))
        side = 0.3 * dlon
        cx, cy = west + cx * width, south + cy * height
        out.append(([(cx, cy), (cx + side, cy), (cx + side, cy + side), (cx, cy + side)],
                    {"amenity": "community_centre", "name": f"合成社区服务站 A{k}"}))
        px, py = west + 0.6 * width, south + float(rng.uniform(0.3, 0.7)) * height
        long = 25 * dlon
        out.append(([(px, py), (px + long, py), (px + long, py + 0.5 * dlat),
                     (px, py + 0.5 * dlat)], {"leisure": "park", "name": f"合成公园 A{k}"}))
    return out


#: The study file of a synthetic province.
STUDY_TEMPLATE = """\
# SYNTHETIC province: every street, community and facility here is invented.
[study]
name = "合成省 Synthetic province"
synthetic = true

[network]
osm = "province.osm.pbf"
modes = ["walk"]

[inputs]
communities = "communities.geojson"
facilities = "facilities.geojson"
candidates = "candidates.geojson"

[analysis]
mode = "walk"
threshold_minutes = 15
isochrone_breaks_minutes = [5, 10, 15]
categories = ["service_station", "fitness_station"]

[siting.fitness_station]
model = "mclp"
new_sites = 1
candidates = "file"
time_limit_s = 10
alternatives = 1

[output]
folder = "out"
lang = "both"
outputs = ["access", "coverage", "isochrones", "compliance", "sites", "map"]
"""


__all__ = ["STUDY_TEMPLATE", "SyntheticProvince", "synthetic_osm_facilities",
           "write_street_grid", "write_synthetic_province"]
