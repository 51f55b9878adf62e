"""Road networks from OpenStreetMap with per-mode travel times.

Modules, from the file to the graph:

- ``osm_file``: highway ways and their node locations streamed out of OSM files (pyosmium);
- ``rules``: which modes may use a way, in which direction, at what speed;
- ``boundary``: study-area boundaries, the OSM read box, clipping a graph;
- ``build``: the one array-based builder every source funnels into (``graph_from_osm_file``);
- ``online``: networks downloaded through osmnx (``graph_from_place`` / ``_polygon`` / ``_bbox``);
- ``storage``: saved graphs (GraphML, GeoPackage) and ``read_network`` for any source;
- ``graphml``: GraphML streamed straight from the builder's arrays (no networkx graph);
- ``slope``: slope-aware walking times from a DEM;
- ``summary``: nodes, edges and street kilometres per mode and per piece;
- ``split``: per-area extracts of a province-sized OSM file (batch runs);
- ``background``: the offline map background drawn from the same OSM file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deyang_geo.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from deyang_geo.network.boundary import (
        clip_to_boundary,
        osm_read_bbox,
        read_boundary,
    )
    from deyang_geo.network.build import (
        graph_from_osm_file,
    )
    from deyang_geo.network.graphml import (
        GRAPH_SUFFIXES,
    )
    from deyang_geo.network.online import (
        graph_from_bbox,
        graph_from_place,
        graph_from_polygon,
    )
    from deyang_geo.network.rules import (
        DRIVE_SPEED_LABEL,
        MODE_KIND,
        parse_maxspeed_kmh,
        way_modes,
    )
    from deyang_geo.network.slope import (
        add_slope_walk_times,
        tobler_factor,
    )
    from deyang_geo.network.storage import (
        load_graph,
        read_network,
        save_graph,
    )
    from deyang_geo.network.summary import (
        NetworkSummary,
        network_summary,
    )

#: Where each re-exported name lives: loaded on first use, so importing one module of the
#: stage (the OSM-file path: osm_file, build) does not import the others and their libraries
#: (geopandas, networkx, shapely).
_EXPORTS: dict[str, str] = {
    "clip_to_boundary": "deyang_geo.network.boundary",
    "osm_read_bbox": "deyang_geo.network.boundary",
    "read_boundary": "deyang_geo.network.boundary",
    "graph_from_osm_file": "deyang_geo.network.build",
    "graph_from_bbox": "deyang_geo.network.online",
    "graph_from_place": "deyang_geo.network.online",
    "graph_from_polygon": "deyang_geo.network.online",
    "DRIVE_SPEED_LABEL": "deyang_geo.network.rules",
    "MODE_KIND": "deyang_geo.network.rules",
    "parse_maxspeed_kmh": "deyang_geo.network.rules",
    "way_modes": "deyang_geo.network.rules",
    "add_slope_walk_times": "deyang_geo.network.slope",
    "tobler_factor": "deyang_geo.network.slope",
    "GRAPH_SUFFIXES": "deyang_geo.network.graphml",
    "load_graph": "deyang_geo.network.storage",
    "read_network": "deyang_geo.network.storage",
    "save_graph": "deyang_geo.network.storage",
    "NetworkSummary": "deyang_geo.network.summary",
    "network_summary": "deyang_geo.network.summary",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


__all__ = [
    "DRIVE_SPEED_LABEL",
    "GRAPH_SUFFIXES",
    "MODE_KIND",
    "NetworkSummary",
    "add_slope_walk_times",
    "clip_to_boundary",
    "graph_from_bbox",
    "graph_from_osm_file",
    "graph_from_place",
    "graph_from_polygon",
    "load_graph",
    "network_summary",
    "osm_read_bbox",
    "parse_maxspeed_kmh",
    "read_boundary",
    "read_network",
    "save_graph",
    "tobler_factor",
    "way_modes",
]
