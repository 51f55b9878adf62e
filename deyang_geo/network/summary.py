"""A network's summary: nodes, edges, street kilometres per mode and per piece."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from deyang_geo.network.build import (
    NetworkArrays,
    edge_arrays,
    mode_components,
    street_length_km,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "NetworkSummary",
    "network_summary",
]


# --------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class NetworkSummary:
    """What a planner needs to know about a road network before using it.

    Attributes
    ----------
    source
        Where the network came from.
    crs
        Its projected CRS.
    nodes, edges
        Node and directed-edge counts.
    modes
        Travel modes with travel times.
    street_km
        Kilometres of street each mode may use (a two-way street counted once).
    components
        Strongly connected pieces per mode.
    disconnected
        Per mode: pieces apart from the main network, the directed edges and km of the small
        ones (under ``min_piece_km``), whether and how many of those were dropped.
    bbox
        (west, south, east, north) in WGS-84 degrees.
    dropped_pieces
        Pieces not connected to the main network (for any mode) dropped while building, their
        node count, and the small pieces kept because people or facilities lie near them:
        ``{"pieces": p, "nodes": n, "kept_near": k}``.
    """

    source: str
    crs: str
    nodes: int
    edges: int
    modes: tuple[str, ...]
    street_km: dict[str, float] = field(default_factory=dict)
    components: dict[str, int] = field(default_factory=dict)
    disconnected: dict[str, dict[str, Any]] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] = (math.nan, math.nan, math.nan, math.nan)
    dropped_pieces: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        """Return a few readable lines: counts, km per mode, pieces, extent."""
        w, s, e, n = self.bbox
        lines = [
            f"network from {self.source}",
            f"  {self.nodes:,} nodes, {self.edges:,} directed edges, CRS {self.crs}",
            f"  extent W {w:.5f}  S {s:.5f}  E {e:.5f}  N {n:.5f} (WGS-84)",
        ]
        if self.dropped_pieces.get("pieces"):
            lines.append(f"  dropped {self.dropped_pieces['pieces']} piece(s) not connected to "
                         f"the main network ({self.dropped_pieces.get('nodes', 0):,} nodes)")
        if self.dropped_pieces.get("kept_near"):
            lines.append(f"  kept {self.dropped_pieces['kept_near']} small piece(s) because "
                         "people or facilities lie near them")
        for mode in self.modes:
            info = self.disconnected.get(mode, {})
            pieces = int(info.get("pieces", 0))
            note = ""
            if pieces:
                dropped = int(info.get("dropped_pieces", pieces if info.get("dropped") else 0))
                parts = []
                if pieces > dropped:
                    parts.append(f"kept {pieces - dropped} disconnected piece(s)")
                if info.get("kept_near"):
                    parts.append(f"{int(info['kept_near'])} of them small but holding people "
                                 "or facilities")
                if dropped:
                    parts.append(f"dropped {dropped} small disconnected piece(s), "
                                 f"{info.get('km', 0):.2f} km")
                note = "; " + ", ".join(parts)
            lines.append(f"  {mode:<13}{self.street_km.get(mode, 0.0):10.2f} km of street, "
                         f"{self.components.get(mode, 0)} component(s){note}")
        return "\n".join(lines)


def network_summary(G: nx.MultiDiGraph | NetworkArrays) -> NetworkSummary:
    """Summarise a road network graph.

    Parameters
    ----------
    G
        A road network graph, or the builder's arrays (no graph is built for them: the
        summary is the one of ``G.graph()``).

    Returns
    -------
    NetworkSummary
        Counts, km of street per mode, components, dropped pieces, extent and CRS.
    """
    if isinstance(G, NetworkArrays):
        return _arrays_summary(G)
    modes = tuple(G.graph.get("modes", ()))
    edges, iu, iv, n = edge_arrays(G)
    m = len(edges)
    length = np.fromiter((float(d.get("length", 0.0)) for *_, d in edges), dtype=np.float64,
                         count=m)
    street_km: dict[str, float] = {}
    components: dict[str, int] = {}
    for mode in modes:
        attr = f"travel_time_{mode}"
        sel = np.fromiter((attr in d for *_, d in edges), dtype=bool, count=m)
        components[mode] = mode_components(iu, iv, n, sel)[0]
        street_km[mode] = street_length_km(iu, iv, length, sel)
    lon = np.fromiter((d.get("lon", np.nan) for d in G.nodes.values()), dtype=np.float64,
                      count=len(G))
    lat = np.fromiter((d.get("lat", np.nan) for d in G.nodes.values()), dtype=np.float64,
                      count=len(G))
    bbox = ((float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)),
             float(np.nanmax(lat))) if len(G) and np.isfinite(lon).any()
            else (math.nan, math.nan, math.nan, math.nan))
    return NetworkSummary(
        source=str(G.graph.get("source", "unknown")),
        crs=str(G.graph.get("crs")),
        nodes=len(G),
        edges=m,
        modes=modes,
        street_km=street_km,
        components=components,
        disconnected=dict(G.graph.get("disconnected", {})),
        bbox=bbox,
        dropped_pieces={k: int(v) for k, v in dict(G.graph.get("dropped_pieces", {})).items()},
    )



def _arrays_summary(a: NetworkArrays) -> NetworkSummary:
    """Summarise ``a.graph()`` on the arrays, in the graph's edge order."""
    modes = a.modes
    n = len(a.node_ids)
    m = len(a.edge_u)
    # networkx iterates edges by tail (node order), then head in order of first insertion,
    # then key: the same order here, so float sums come out bit for bit the same
    order = a.graph_edge_order()
    iu, iv = a.edge_u[order], a.edge_v[order]
    length = np.asarray(a.length_m[order], dtype=np.float64)
    mask = a.mode_mask[order]
    street_km: dict[str, float] = {}
    components: dict[str, int] = {}
    for i, mode in enumerate(modes):
        sel = (mask & (1 << i)) != 0
        components[mode] = mode_components(iu, iv, n, sel)[0]
        street_km[mode] = street_length_km(iu, iv, length, sel)
    bbox = ((float(np.nanmin(a.lon)), float(np.nanmin(a.lat)), float(np.nanmax(a.lon)),
             float(np.nanmax(a.lat))) if n and np.isfinite(a.lon).any()
            else (math.nan, math.nan, math.nan, math.nan))
    ga = a.graph_attrs
    return NetworkSummary(
        source=str(ga.get("source", "unknown")),
        crs=str(ga.get("crs")),
        nodes=n,
        edges=m,
        modes=modes,
        street_km=street_km,
        components=components,
        disconnected={k: dict(v) for k, v in dict(ga.get("disconnected", {})).items()},
        bbox=bbox,
        dropped_pieces={k: int(v) for k, v in dict(ga.get("dropped_pieces", {})).items()},
    )
