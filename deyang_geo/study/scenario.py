"""Planning scenarios: new sites, facilities closed or enlarged, new paths, a walking speed.

A :class:`Scenario` describes what a proposal changes against "today"; it is applied to the
study's inputs (:meth:`Scenario.apply_to_inputs`), to its road graph
(:meth:`Scenario.apply_to_graph`: lines noded onto the network at their ends with
:func:`add_lines_to_graph`) and to its configuration (:meth:`Scenario.apply_to_config`: the
walking speed). :func:`run_scenarios` runs a study's base and every ``[scenario.NAME]`` of its
study file and compares each with the base (:mod:`deyang_geo.study.compare`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.ops import substring

from deyang_geo.core import settings
from deyang_geo.core.checks import check_positive
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.io.points import read_facilities
from deyang_geo.network.build import graph_from_osm_file

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

    from deyang_geo.study.config import StudyConfig
    from deyang_geo.study.pipeline import StudyInputs


log = logging.getLogger("deyang_geo")

__all__ = [
    "LINE_MODES",
    "Scenario",
    "add_lines_to_graph",
    "close_facilities",
    "enlarge_facilities",
    "read_lines",
    "read_sites",
    "rescale_walk_speed",
]

#: Modes that may use an added path or bridge (travel time from its length and the mode's speed).
LINE_MODES: tuple[str, ...] = ("walk", "walk_elderly", "bike", "ebike")

#: A line end this close (metres) to an end of the edge it snaps to is joined to that node.
NODE_JOIN_M = 1.0


@dataclass(frozen=True)
class Scenario:
    """What a proposal changes against the base study.

    Attributes
    ----------
    name
        Short name (the ``NAME`` of ``[scenario.NAME]``), used for folder names.
    description
        Free text shown in outputs.
    add_sites
        Files of new sites: a ``suggest-sites`` folder or its ``sites.csv`` (the category comes
        from the folder's ``summary.json`` or :attr:`sites_category`), or a facilities table
        (CSV, Excel, GeoJSON...) with ``id``, ``category`` and coordinates.
    sites
        New sites listed in the study file: mappings with ``id``, ``category``, ``lon``,
        ``lat`` (WGS-84) and optionally ``name``.
    sites_category
        Category of sites files that do not name one.
    close
        Ids of facilities closed.
    enlarge
        Ids of facilities enlarged.
    enlarge_factor
        Factor applied to the enlarged facilities' ``floor_area_m2`` and
        ``capacity_population``.
    add_lines
        Paths or bridges added to the network: GeoJSON/GeoPackage/Shapefile of lines, or an OSM
        file whose ways are added.
    line_modes
        Modes that may use the added lines (of :data:`LINE_MODES`).
    snap_tolerance_m
        Largest distance between a line's end and the network.
    walk_speed_kmh
        Walking speed of the scenario (e.g. 3.3 for older people), or None to keep the base's.
    """

    name: str
    description: str = ""
    add_sites: tuple[Path, ...] = ()
    sites: tuple[Mapping[str, Any], ...] = ()
    sites_category: str | None = None
    close: tuple[str, ...] = ()
    enlarge: tuple[str, ...] = ()
    enlarge_factor: float = 1.5
    add_lines: tuple[Path, ...] = ()
    line_modes: tuple[str, ...] = LINE_MODES
    snap_tolerance_m: float = 50.0
    walk_speed_kmh: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the scenario as JSON-ready values (paths as strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else str(v) for v in value]
            out[f.name] = value
        return out

    def summary(self) -> str:
        """Return one line saying what the scenario changes."""
        parts = []
        if self.add_sites:
            parts.append(f"sites added from {', '.join(p.name for p in self.add_sites)}")
        if self.sites:
            parts.append(f"{len(self.sites)} sites added")
        if self.close:
            parts.append(f"{len(self.close)} facilities closed")
        if self.enlarge:
            parts.append(f"{len(self.enlarge)} facilities enlarged x{self.enlarge_factor:g}")
        if self.add_lines:
            parts.append(f"lines added from {', '.join(p.name for p in self.add_lines)}")
        if self.walk_speed_kmh is not None:
            parts.append(f"walking speed {self.walk_speed_kmh:g} km/h")
        return f"{self.name}: " + ("; ".join(parts) or "no change")

    def apply_to_config(self, config: StudyConfig) -> StudyConfig:
        """Return the configuration with the scenario's walking speed (sites are not re-suggested).

        Parameters
        ----------
        config
            The base study configuration.

        Returns
        -------
        StudyConfig
            A new configuration: the scenario named in the study's name (titles of maps and
            reports), ``network.speeds_kmh["walk"]`` set when the scenario changes the walking
            speed, and no ``[siting]`` (a scenario is judged, not re-optimised).
        """
        network = config.network
        if self.walk_speed_kmh is not None:
            speeds = dict(network.speeds_kmh)
            speeds["walk"] = float(self.walk_speed_kmh)
            network = dataclasses.replace(network, speeds_kmh=MappingProxyType(speeds))
        name = f"{config.name} · 方案 scenario {self.name}"
        return dataclasses.replace(config, name=name, network=network, siting=())

    def apply_to_inputs(self, inputs: StudyInputs, *, catalog: Any = None) -> StudyInputs:
        """Return the inputs with sites added and facilities closed or enlarged.

        Parameters
        ----------
        inputs
            The base study's tables.
        catalog
            Standards catalog for the categories of added sites.

        Returns
        -------
        StudyInputs
            New tables; ``inputs`` is not modified.
        """
        facilities = inputs.facilities
        for path in self.add_sites:
            sites = read_sites(path, category=self.sites_category, catalog=catalog)
            facilities = _append_facilities(facilities, sites, source=path)
        if self.sites:
            listed = gpd.GeoDataFrame(
                {"id": [str(s["id"]) for s in self.sites],
                 "name": [str(s.get("name", s["id"])) for s in self.sites],
                 "category": [str(s["category"]) for s in self.sites], "proposed": True},
                geometry=gpd.points_from_xy([float(s["lon"]) for s in self.sites],
                                            [float(s["lat"]) for s in self.sites]),
                crs="EPSG:4326")
            facilities = _append_facilities(facilities, listed,
                                            source=Path(f"scenario.{self.name}.sites"))
        if self.close:
            facilities = close_facilities(facilities, self.close, source=f"scenario.{self.name}")
        if self.enlarge:
            facilities = enlarge_facilities(facilities, self.enlarge, factor=self.enlarge_factor,
                                            source=f"scenario.{self.name}")
        return dataclasses.replace(inputs, facilities=facilities)

    def apply_to_graph(self, G: nx.MultiDiGraph) -> nx.MultiDiGraph:
        """Return the graph with the scenario's lines and walking speed (``G`` if unchanged).

        Parameters
        ----------
        G
            Projected road graph (``network.py`` contract).

        Returns
        -------
        networkx.MultiDiGraph
            A new graph with the lines noded onto it, and walking times at the scenario's
            speed (graphs built from an OSM file already have it through
            :meth:`apply_to_config`; saved graphs are rescaled here).
        """
        if self.walk_speed_kmh is not None:
            G = rescale_walk_speed(G, walk_speed_kmh=self.walk_speed_kmh)
        for path in self.add_lines:
            G = add_lines_to_graph(G, read_lines(path), modes=self.line_modes,
                                   snap_tolerance_m=self.snap_tolerance_m, source=str(path))
        return G

    @property
    def changes_graph(self) -> bool:
        """Whether :meth:`apply_to_graph` may change the graph (lines or a walking speed)."""
        return bool(self.add_lines) or self.walk_speed_kmh is not None


# ---------------------------------------------------------------------------------------------
# facilities


def read_sites(path: str | os.PathLike[str], *, category: str | None = None,
               catalog: Any = None) -> gpd.GeoDataFrame:
    """Read new sites as facilities: a ``suggest-sites`` folder or ``sites.csv``, or a table.

    Parameters
    ----------
    path
        A ``suggest-sites`` output folder, its ``sites.csv`` (``site_id``, ``longitude``,
        ``latitude``; the category from the folder's ``summary.json``), or any facilities
        table with ``id``, ``category`` and coordinates.
    category
        Category for sites files that do not name one.
    catalog
        Standards catalog.

    Returns
    -------
    geopandas.GeoDataFrame
        ``id``, ``name``, ``category``, ``proposed`` (True), Point geometry in WGS-84.

    Raises
    ------
    InputError
        When the file is missing, has no coordinates, or no category can be found.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "sites.csv"
    if not file.exists():
        raise InputError(Problem("sites file not found", file=str(file)))
    if file.suffix.lower() == ".csv":
        head = pd.read_csv(file, nrows=0, encoding="utf-8-sig")
        if "site_id" in head.columns:
            table = pd.read_csv(file, encoding="utf-8-sig", dtype={"site_id": str})
            missing = [c for c in ("longitude", "latitude") if c not in table.columns]
            if missing:
                msg = (f"no {' and '.join(missing)} column: write the sites with their "
                       "candidates (suggest-sites does)")
                raise InputError(Problem(msg, file=str(file), column=missing[0]))
            summary = file.parent / "summary.json"
            cat = category
            if cat is None and summary.exists():
                cat = json.loads(summary.read_text(encoding="utf-8")).get("category")
            if cat is None:
                msg = ("the category of these sites is unknown: no 'category' in summary.json; "
                       "give sites_category")
                raise InputError(Problem(msg, file=str(file)))
            ids = table["site_id"].astype(str)
            return gpd.GeoDataFrame(
                {"id": ids.to_numpy(), "name": ids.to_numpy(), "category": cat,
                 "proposed": True},
                geometry=gpd.points_from_xy(table["longitude"], table["latitude"]),
                crs="EPSG:4326")
    facilities = read_facilities(file, catalog=catalog)
    return facilities.assign(proposed=True)


def _append_facilities(facilities: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, *,
                       source: Path) -> gpd.GeoDataFrame:

    existing = set(facilities["id"].astype(str))
    clash = sorted(existing & set(sites["id"].astype(str)))
    if clash:
        sites = sites.assign(id=[f"new:{i}" if i in existing else i
                                 for i in sites["id"].astype(str)])
        log.info("%s: sites %s renamed new:<id> (an existing facility has the id)", source,
                 ", ".join(clash[:5]))
    sites = sites.to_crs(facilities.crs) if facilities.crs is not None else sites
    both = pd.concat([facilities.assign(proposed=False) if "proposed" not in facilities.columns
                      else facilities, sites], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry=both.geometry.name, crs=facilities.crs or sites.crs)


def _unknown_ids(facilities: pd.DataFrame, ids: Sequence[str], what: str,
                 source: str) -> None:
    known = set(facilities["id"].astype(str))
    unknown = [i for i in ids if str(i) not in known]
    if unknown:
        msg = f"{what}: facility ids not found: {', '.join(map(str, unknown))}"
        raise InputError(Problem(msg, file=source))


def close_facilities(facilities: gpd.GeoDataFrame, ids: Sequence[str], *,
                     source: str = "scenario") -> gpd.GeoDataFrame:
    """Return the facilities without the closed ones.

    Parameters
    ----------
    facilities
        Facilities with ``id``.
    ids
        Ids of the facilities closed.
    source
        Where the ids come from (named in errors).

    Returns
    -------
    geopandas.GeoDataFrame
        A new table.

    Raises
    ------
    InputError
        When an id is not a facility.
    """
    _unknown_ids(facilities, ids, "close", source)
    keep = ~facilities["id"].astype(str).isin({str(i) for i in ids})
    return facilities[keep.to_numpy()].reset_index(drop=True)


def enlarge_facilities(facilities: gpd.GeoDataFrame, ids: Sequence[str], *, factor: float,
                       source: str = "scenario") -> gpd.GeoDataFrame:
    """Return the facilities with ``floor_area_m2`` and ``capacity_population`` scaled.

    Parameters
    ----------
    facilities
        Facilities with ``id``.
    ids
        Ids of the facilities enlarged.
    factor
        Factor (> 0) applied to their floor area and capacity (missing values stay missing).
    source
        Where the ids come from (named in errors).

    Returns
    -------
    geopandas.GeoDataFrame
        A new table with an ``enlarged`` column.

    Raises
    ------
    InputError
        When an id is not a facility or the factor is not positive.
    """
    check_positive(factor, name=f"{source}: enlarge_factor")
    _unknown_ids(facilities, ids, "enlarge", source)
    out = facilities.copy()
    hit = out["id"].astype(str).isin({str(i) for i in ids}).to_numpy()
    for col in ("floor_area_m2", "capacity_population"):
        if col in out.columns:
            values = pd.to_numeric(out[col], errors="coerce").astype(float)
            out[col] = values.where(~hit, values * factor)
    out["enlarged"] = hit
    return out


# ---------------------------------------------------------------------------------------------
# network


def rescale_walk_speed(G: nx.MultiDiGraph, *, walk_speed_kmh: float) -> nx.MultiDiGraph:
    """Return the graph with ``travel_time_walk`` at another walking speed.

    The graph's ``G.graph["speeds_kmh"]["walk"]`` (else the setting) is the speed its times
    were computed with; times are multiplied by old / new speed, so slope-aware times keep
    their shape. The graph is returned unchanged (not copied) when the speed is the same.

    Parameters
    ----------
    G
        Projected road graph with ``travel_time_walk``.
    walk_speed_kmh
        The new walking speed (> 0).

    Returns
    -------
    networkx.MultiDiGraph
        A new graph, or ``G`` when nothing changes.

    Raises
    ------
    InputError
        When the speed is not positive.
    """
    check_positive(walk_speed_kmh, name="walk_speed_kmh", unit="km/h")
    old = _mode_speeds_kmh(G, ["walk"])["walk"]
    if old == float(walk_speed_kmh):
        return G
    H = G.copy()
    factor = old / float(walk_speed_kmh)
    for _u, _v, d in H.edges(data=True):
        if "travel_time_walk" in d:
            d["travel_time_walk"] = float(d["travel_time_walk"]) * factor
    speeds = dict(H.graph.get("speeds_kmh", {}))
    speeds["walk"] = float(walk_speed_kmh)
    H.graph["speeds_kmh"] = speeds
    return H


def read_lines(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Read lines to add to a network: a GeoJSON/GeoPackage/Shapefile, or an OSM file's ways.

    Parameters
    ----------
    path
        The file. OSM files (``.osm``, ``.osm.gz``, ``.osm.bz2``, ``.osm.pbf``) give one line
        per street segment of their walkable ways.

    Returns
    -------
    geopandas.GeoDataFrame
        LineStrings in WGS-84 with ``name`` and ``highway`` (default ``"footway"``), in file
        order.

    Raises
    ------
    InputError
        When the file cannot be read or holds no lines.
    """
    file = Path(path)
    if not file.exists():
        raise InputError(Problem("lines file not found", file=str(file)))
    name = file.name.lower()
    if name.endswith((".osm", ".osm.gz", ".osm.bz2", ".osm.pbf", ".pbf")):
        G = graph_from_osm_file(file, modes=("walk",), retain_all=True,
                                drop_disconnected=False, simplify=True)
        rows = []
        for u, v, _k, d in sorted(G.edges(keys=True, data=True), key=lambda e: e[:3]):
            if u < v or not G.has_edge(v, u):
                hw = d.get("highway", "footway")
                rows.append({"name": str(d.get("name", "") or ""),
                             "highway": hw if isinstance(hw, str) else str(hw),
                             "geometry": d["geometry"]})
        lines = gpd.GeoDataFrame(rows, geometry="geometry", crs=G.graph["crs"])
    else:
        try:
            lines = gpd.read_file(file)
        except Exception as exc:  # pyogrio raises its own errors
            raise InputError(Problem(f"cannot read lines: {exc}", file=str(file))) from None
        lines = lines.set_crs("EPSG:4326") if lines.crs is None else lines
    lines = lines[~lines.geometry.is_empty & lines.geometry.notna()]
    kinds = set(lines.geom_type)
    if not len(lines) or not kinds <= {"LineString", "MultiLineString"}:
        msg = (f"expected lines (LineString), found {sorted(kinds) or 'nothing'}")
        raise InputError(Problem(msg, file=str(file)))
    lines = lines.explode(index_parts=False).reset_index(drop=True)
    for col, default in (("name", ""), ("highway", "footway")):
        if col not in lines.columns:
            lines[col] = default
        lines[col] = lines[col].fillna(default).astype(str)
    return lines[["name", "highway", "geometry"]].to_crs("EPSG:4326")


@dataclass(frozen=True)
class _Attach:
    """Where the end of an added line joins the network."""

    edge: int  # index into the candidate edge list, -1 when joined to a node
    node: Any  # node id when joined to an existing node
    fraction_m: float  # distance along the edge geometry
    point: shapely.Point


def _mode_speeds_kmh(G: nx.MultiDiGraph, modes: Sequence[str]) -> dict[str, float]:
    defaults = {"walk": settings.walk_speed_kmh, "walk_elderly": settings.walk_elderly_speed_kmh,
                "bike": settings.bike_speed_kmh, "ebike": settings.ebike_speed_kmh}
    graph_speeds = dict(G.graph.get("speeds_kmh", {}))
    out = {}
    for m in modes:
        value = graph_speeds.get(m, defaults[m])
        out[m] = float(value) if isinstance(value, (int, float)) else float(defaults[m])
    return out


def add_lines_to_graph(G: nx.MultiDiGraph, lines: gpd.GeoDataFrame, *,
                       modes: Sequence[str] = LINE_MODES, snap_tolerance_m: float = 50.0,
                       source: str = "lines") -> nx.MultiDiGraph:
    """Return a copy of the graph with lines (a bridge, a path) noded onto it at their ends.

    Each end of a line joins the nearest edge usable by one of ``modes`` (within
    ``snap_tolerance_m``): the edge is split there into two edges (both directions, lengths and
    travel times in proportion, attributes kept), or the end joins the edge's node when it is
    within :data:`NODE_JOIN_M` of it. The line becomes two directed edges (u->v, v->u) whose
    geometry runs through the join points, usable by ``modes`` with travel time = length /
    speed (the graph's speed per mode, else the settings). Ends of several lines at the same
    join point share one node. The line's interior crosses the network without joining it
    (a bridge).

    Parameters
    ----------
    G
        Projected road graph (``network.py`` contract); not modified.
    lines
        LineStrings (any CRS; WGS-84 when none) with optional ``name`` and ``highway``.
    modes
        Modes that may use the lines (of :data:`LINE_MODES`, those the graph has).
    snap_tolerance_m
        Largest distance between a line end and the network.
    source
        The lines' file, named in errors.

    Returns
    -------
    networkx.MultiDiGraph
        The new graph; new nodes get ids above the largest existing one, in line order.

    Raises
    ------
    InputError
        When a line end is farther than ``snap_tolerance_m`` from every usable edge, or a mode
        cannot use added lines.
    """
    bad = [m for m in modes if m not in LINE_MODES]
    if bad:
        msg = (f"{source}: added lines may be used by {', '.join(LINE_MODES)}; not {bad} "
               "(add roads for cars to the OSM file instead)")
        raise InputError(msg)
    graph_modes = tuple(G.graph.get("modes", LINE_MODES))
    modes = [m for m in modes if m in graph_modes]
    if not modes:
        msg = f"{source}: none of the line modes is in the network (modes: {graph_modes})"
        raise InputError(msg)
    crs = G.graph["crs"]
    lines = lines.set_crs("EPSG:4326") if lines.crs is None else lines
    geoms = list(lines.to_crs(crs).geometry)
    names = [str(v) for v in lines.get("name", pd.Series("", index=lines.index)).fillna("")]
    highways = [str(v) for v in lines.get("highway", pd.Series("footway", index=lines.index))
                .fillna("footway")]
    for g in geoms:
        if g.geom_type != "LineString":
            msg = f"{source}: expected LineStrings, found a {g.geom_type} (explode it first)"
            raise InputError(msg)

    # candidate edges: one per undirected street usable by some line mode
    cand: list[tuple[Any, Any, Any]] = []
    cand_geom: list[Any] = []
    for u, v, k, d in sorted(G.edges(keys=True, data=True), key=lambda e: e[:3]):
        if not any(f"travel_time_{m}" in d for m in modes):
            continue
        if G.has_edge(v, u) and (v, u) < (u, v) and any(
                f"travel_time_{m}" in dd for dd in G[v][u].values() for m in modes):
            continue  # the pair is represented by its (smaller) reverse
        cand.append((u, v, k))
        cand_geom.append(d.get("geometry") or shapely.LineString(
            [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])]))
    if not cand:
        msg = f"{source}: the network has no edge usable by {', '.join(modes)}"
        raise InputError(msg)
    tree = shapely.STRtree(cand_geom)
    ends = [shapely.Point(g.coords[i]) for g in geoms for i in (0, -1)]
    (q_idx, c_idx), dist = tree.query_nearest(ends, return_distance=True, all_matches=False)
    nearest = np.full(len(ends), -1, dtype=np.int64)
    nearest[q_idx] = c_idx
    distance = np.full(len(ends), np.inf)
    distance[q_idx] = dist
    problems = []
    for far in np.flatnonzero(~(distance <= snap_tolerance_m)).tolist():
        which = "start" if far % 2 == 0 else "end"
        problems.append(Problem(
            f"the {which} of the line is {distance[far]:.0f} m from the nearest usable street "
            f"(snap_tolerance_m = {snap_tolerance_m:g})", file=source, row=far // 2 + 1))
    if problems:
        raise InputError(problems)

    H = G.copy()
    next_id = max((int(n) for n in G.nodes), default=0) + 1
    to_wgs = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    attach: list[_Attach] = []
    for i, p in enumerate(ends):
        c = int(nearest[i])
        g = cand_geom[c]
        along = float(g.project(p))
        u, v, _ = cand[c]
        if along <= NODE_JOIN_M:
            attach.append(_Attach(-1, u, 0.0, shapely.Point(H.nodes[u]["x"], H.nodes[u]["y"])))
        elif along >= g.length - NODE_JOIN_M:
            attach.append(_Attach(-1, v, g.length, shapely.Point(H.nodes[v]["x"],
                                                                   H.nodes[v]["y"])))
        else:
            attach.append(_Attach(c, None, along, g.interpolate(along)))
    # split every candidate edge at its join points (all at once), sharing coincident points
    end_node: list[Any] = [a.node for a in attach]
    by_edge: dict[int, list[int]] = {}
    for i, a in enumerate(attach):
        if a.edge >= 0:
            by_edge.setdefault(a.edge, []).append(i)
    for c in sorted(by_edge):
        idx = sorted(by_edge[c], key=lambda i: (attach[i].fraction_m, i))
        cuts: list[float] = []
        cut_nodes: list[Any] = []
        for i in idx:
            f = attach[i].fraction_m
            if cuts and f - cuts[-1] <= NODE_JOIN_M:
                end_node[i] = cut_nodes[-1]
                continue
            pt = attach[i].point
            lon, lat = to_wgs.transform(pt.x, pt.y)
            H.add_node(next_id, x=float(pt.x), y=float(pt.y), lon=float(lon), lat=float(lat),
                       street_count=2)
            cuts.append(f)
            cut_nodes.append(next_id)
            end_node[i] = next_id
            next_id += 1
        _split_edge(H, cand[c], cand_geom[c], cuts, cut_nodes)
    # the lines themselves, both directions
    speeds = _mode_speeds_kmh(G, modes)
    for j, g in enumerate(geoms):
        a_node, b_node = end_node[2 * j], end_node[2 * j + 1]
        pa = (H.nodes[a_node]["x"], H.nodes[a_node]["y"])
        pb = (H.nodes[b_node]["x"], H.nodes[b_node]["y"])
        coords = [pa, *[c[:2] for c in g.coords], pb]
        dedup = [coords[0]] + [c for prev, c in itertools.pairwise(coords)
                               if c != prev]
        if len(dedup) < 2 or a_node == b_node:
            msg = f"{source}, row {j + 1}: both ends of the line join the network at one point"
            raise InputError(msg)
        line = shapely.LineString(dedup)
        length = float(line.length)
        attrs: dict[str, Any] = {"length": length, "highway": highways[j],
                                 "osmid": -(j + 1), "added": True}
        if names[j]:
            attrs["name"] = names[j]
        for m in modes:
            attrs[f"travel_time_{m}"] = length / (speeds[m] / 3.6)
        H.add_edge(a_node, b_node, geometry=line, **attrs)
        H.add_edge(b_node, a_node, geometry=line.reverse(), **attrs)
        for n in (a_node, b_node):
            H.nodes[n]["street_count"] = int(H.nodes[n].get("street_count", 0)) + 1
    if not isinstance(H, nx.MultiDiGraph):  # pragma: no cover - copy keeps the class
        H = nx.MultiDiGraph(H)
    H.graph["source"] = f"{G.graph.get('source', '')} + {source}"
    return H


def _split_edge(H: nx.MultiDiGraph, key: tuple[Any, Any, Any], geom: Any, cuts: list[float],
                cut_nodes: list[Any]) -> None:
    """Split the street u-v (both directions) at distances ``cuts`` into new nodes."""
    u, v, k = key
    bounds = [0.0, *cuts, float(geom.length)]
    chain = [u, *cut_nodes, v]
    pieces = [substring(geom, a, b) for a, b in itertools.pairwise(bounds)]
    shares = np.array([p.length for p in pieces]) / max(float(geom.length), 1e-12)
    directed = [(u, v, k, H.edges[u, v, k], False)]
    for kk, d in list(H[v][u].items()) if H.has_edge(v, u) else []:
        if _same_street(d.get("geometry"), geom):
            directed.append((v, u, kk, d, True))
    for a, b, kk, d, rev in directed:
        data = dict(d)
        H.remove_edge(a, b, kk)
        for i, piece in enumerate(pieces):
            part = dict(data)
            part["length"] = float(data["length"]) * float(shares[i])
            for name, value in data.items():
                if name.startswith("travel_time_"):
                    part[name] = float(value) * float(shares[i])
            if rev:
                part["geometry"] = piece.reverse()
                H.add_edge(chain[i + 1], chain[i], **part)
            else:
                part["geometry"] = piece
                H.add_edge(chain[i], chain[i + 1], **part)


def _same_street(g: Any, geom: Any) -> bool:
    if g is None:
        return True
    return bool(shapely.equals_exact(g.reverse(), geom, tolerance=1e-6)
                or shapely.equals_exact(g, geom, tolerance=1e-6))

