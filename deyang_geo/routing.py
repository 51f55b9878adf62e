"""The compact array form of a road network (``RoutingNetwork``) used by every routing step."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray

from ._errors import InputError, NetworkError

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

__all__ = ["CSR", "RoutingNetwork"]

_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class CSR:
    """Forward adjacency of one mode in compressed sparse row form.

    Attributes
    ----------
    indptr
        ``indptr[i]:indptr[i+1]`` are the out-edges of node ``i`` (length ``n_nodes + 1``).
    indices
        Head node of each out-edge.
    weights_s
        Travel time of each out-edge in seconds (finite: edges the mode may not use are left
        out).
    edge
        Index of each out-edge in the network's edge arrays.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    weights_s: NDArray[np.float64]
    edge: NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class RoutingNetwork:
    """A road network as plain arrays: nodes ``0..n-1``, directed edges ``0..m-1``.

    Built once per graph with :meth:`from_graph`, saved and loaded with :meth:`save` and
    :meth:`load`. Edges are ordered by (tail node index, head node index, graph key), so the
    order only depends on the graph's content. Walk-type modes have every street as two
    directed edges (u->v and v->u); :attr:`reverse_edge` pairs them.

    Attributes
    ----------
    crs
        The projected CRS of the coordinates and geometries (metres).
    node_ids
        The graph's node ids (ascending); the node index is the position in this array.
    x, y
        Node coordinates in metres.
    edge_u, edge_v
        Tail and head node index of each directed edge.
    length_m
        Edge length in metres.
    weights_s
        Per mode, the travel time of each edge in seconds; ``inf`` where the mode may not use
        the edge in its direction.
    geometry
        Shapely LineStrings running from ``u`` to ``v``, in :attr:`crs`.
    speeds_kmh
        The speed per mode the weights were computed with (``G.graph["speeds_kmh"]``); drive
        is usually a description rather than a number.
    source
        Where the graph came from (``G.graph["source"]``), for provenance.
    """

    crs: str
    node_ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    edge_u: NDArray[np.int64]
    edge_v: NDArray[np.int64]
    length_m: NDArray[np.float64]
    weights_s: Mapping[str, NDArray[np.float64]]
    geometry: NDArray[np.object_]
    speeds_kmh: Mapping[str, float | str] = field(default_factory=dict)
    source: str = ""
    _cache: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_graph(cls, G: nx.MultiDiGraph, *, modes: Iterable[str] | None = None,
                   ) -> RoutingNetwork:
        """Convert a projected osmnx-style graph (the ``network.py`` contract) into arrays.

        Parameters
        ----------
        G
            A ``networkx.MultiDiGraph`` with ``G.graph["crs"]`` (projected), node ``x``/``y``
            in metres, edge ``length`` and ``travel_time_{mode}`` in seconds. Edges without a
            ``geometry`` get a straight line between their nodes. Node ids must be integers.
        modes
            The modes to keep; default ``G.graph["modes"]``, else every mode with a
            ``travel_time_{mode}`` attribute on some edge.

        Returns
        -------
        RoutingNetwork
            The compact form; ``G`` is not modified.

        Raises
        ------
        NetworkError
            When the graph has no CRS, no nodes, non-integer node ids, a geographic CRS or a
            requested mode no edge carries.
        """
        problems: list[str] = []
        crs = G.graph.get("crs")
        if crs is None:
            problems.append("the graph has no 'crs' in G.graph")
        else:
            import pyproj

            if pyproj.CRS.from_user_input(crs).is_geographic:
                problems.append(f"the graph's CRS {crs} is geographic: project it to metres first")
        if G.number_of_nodes() == 0:
            problems.append("the graph has no nodes")
        if problems:
            raise NetworkError(problems)

        raw_ids = list(G.nodes)
        try:
            ids = np.asarray(raw_ids, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            msg = "node ids must be integers (OSM ids) to build a RoutingNetwork"
            raise NetworkError(msg) from None
        if ids.shape != (len(raw_ids),):
            msg = "node ids must be integers (OSM ids) to build a RoutingNetwork"
            raise NetworkError(msg)
        order = np.argsort(ids, kind="stable")
        node_ids = ids[order]
        xs = np.array([d["x"] for d in G.nodes.values()], dtype=np.float64)[order]
        ys = np.array([d["y"] for d in G.nodes.values()], dtype=np.float64)[order]

        edges = list(G.edges(keys=True, data=True))
        if modes is None:
            graph_modes = G.graph.get("modes")
            if graph_modes is not None:
                mode_list = list(graph_modes)
            else:
                found = {k[len("travel_time_"):] for _, _, _, d in edges for k in d
                         if k.startswith("travel_time_")}
                mode_list = sorted(found)
        else:
            mode_list = list(modes)
        m = len(edges)
        u_raw = np.fromiter((e[0] for e in edges), dtype=np.int64, count=m)
        v_raw = np.fromiter((e[1] for e in edges), dtype=np.int64, count=m)
        keys = [e[2] for e in edges]
        try:
            key_arr = np.asarray(keys, dtype=np.int64)
        except (TypeError, ValueError):
            key_arr = np.unique(np.asarray([str(k) for k in keys]), return_inverse=True)[1]
        u = np.searchsorted(node_ids, u_raw)
        v = np.searchsorted(node_ids, v_raw)
        eorder = np.lexsort((key_arr, v, u))
        u = u[eorder]
        v = v[eorder]
        data = [edges[i][3] for i in eorder]
        length = np.fromiter((d.get("length", np.nan) for d in data), dtype=np.float64, count=m)
        weights: dict[str, NDArray[np.float64]] = {}
        for mode in mode_list:
            attr = f"travel_time_{mode}"
            w = np.fromiter((d.get(attr, np.inf) for d in data), dtype=np.float64, count=m)
            if m and not np.isfinite(w).any() and modes is not None:
                msg = f"no edge of the graph carries {attr!r}: mode {mode!r} was not computed"
                raise NetworkError(msg)
            weights[mode] = w
        geoms = np.empty(m, dtype=object)
        geoms[:] = [d.get("geometry") for d in data]
        missing = np.fromiter((g is None for g in geoms), dtype=bool, count=m)
        if missing.any():
            pts = np.stack([xs[u[missing]], ys[u[missing]], xs[v[missing]], ys[v[missing]]],
                           axis=1).reshape(-1, 2, 2)
            geoms[missing] = shapely.linestrings(pts)
        bad_len = ~(length > 0)
        if bad_len.any():
            length[bad_len] = shapely.length(geoms[bad_len])
        speeds = dict(G.graph.get("speeds_kmh", {}))
        return cls(
            crs=str(crs),
            node_ids=node_ids,
            x=xs,
            y=ys,
            edge_u=u.astype(np.int64),
            edge_v=v.astype(np.int64),
            length_m=length,
            weights_s=weights,
            geometry=geoms,
            speeds_kmh={k: speeds[k] for k in sorted(speeds)},
            source=str(G.graph.get("source", "")),
        )

    @classmethod
    def from_arrays(
        cls,
        crs: str,
        *,
        node_ids: NDArray[np.int64],
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        edge_u: NDArray[np.int64],
        edge_v: NDArray[np.int64],
        weights_s: Mapping[str, NDArray[np.float64]],
        length_m: NDArray[np.float64] | None = None,
        geometry: NDArray[np.object_] | None = None,
        speeds_kmh: Mapping[str, float | str] | None = None,
        source: str = "",
    ) -> RoutingNetwork:
        """Build a network from arrays (synthetic networks, other graph libraries).

        Nodes are sorted by id and edges by (tail, head) as in :meth:`from_graph`; the inputs
        are not modified.

        Parameters
        ----------
        crs
            Projected CRS of ``x``/``y``.
        node_ids
            Unique integer node ids.
        x, y
            Node coordinates in metres.
        edge_u, edge_v
            Tail and head of each edge as node *positions* in ``node_ids`` (0-based).
        weights_s
            Seconds per edge for each mode (``inf`` where not allowed).
        length_m
            Edge lengths; default the geometry lengths.
        geometry
            LineStrings from tail to head; default straight lines between the nodes.
        speeds_kmh
            Speed per mode the weights were computed with.
        source
            Provenance text.

        Returns
        -------
        RoutingNetwork
            The network.
        """
        ids = np.asarray(node_ids, dtype=np.int64)
        if np.unique(ids).size != ids.size:
            msg = "node_ids must be unique"
            raise NetworkError(msg)
        norder = np.argsort(ids, kind="stable")
        position = np.empty_like(norder)
        position[norder] = np.arange(norder.size)
        u = position[np.asarray(edge_u, dtype=np.int64)]
        v = position[np.asarray(edge_v, dtype=np.int64)]
        eorder = np.lexsort((np.arange(u.size), v, u))
        xs = np.asarray(x, dtype=np.float64)[norder]
        ys = np.asarray(y, dtype=np.float64)[norder]
        u, v = u[eorder], v[eorder]
        if geometry is None:
            pts = np.stack([xs[u], ys[u], xs[v], ys[v]], axis=1).reshape(-1, 2, 2)
            geoms = np.empty(u.size, dtype=object)
            if u.size:
                geoms[:] = shapely.linestrings(pts)
        else:
            geoms = np.asarray(geometry, dtype=object)[eorder]
        length = (shapely.length(geoms) if length_m is None
                  else np.asarray(length_m, dtype=np.float64)[eorder])
        return cls(
            crs=str(crs), node_ids=ids[norder], x=xs, y=ys, edge_u=u, edge_v=v,
            length_m=np.asarray(length, dtype=np.float64),
            weights_s={m: np.asarray(w, dtype=np.float64)[eorder] for m, w in weights_s.items()},
            geometry=geoms, speeds_kmh=dict(speeds_kmh or {}), source=source,
        )

    # ------------------------------------------------------------------ properties
    @property
    def modes(self) -> tuple[str, ...]:
        """The travel modes with weights."""
        return tuple(self.weights_s)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.edge_u.shape[0])

    def weights_for(self, mode: str, *, walk_speed_kmh: float | None = None,
                    ) -> NDArray[np.float64]:
        """Return the edge travel times of ``mode`` in seconds, rescaled to a walking speed.

        Parameters
        ----------
        mode
            A mode of this network.
        walk_speed_kmh
            For ``walk`` and ``walk_elderly`` only: the walking speed to use instead of the one
            the network was built with (``speeds_kmh[mode]``); the times are multiplied by
            ``speeds_kmh[mode] / walk_speed_kmh``. Ignored for other modes.

        Returns
        -------
        numpy.ndarray
            Seconds per edge (``inf`` where the mode may not go); a new array when rescaled.
        """
        self.check_mode(mode)
        w = self.weights_s[mode]
        if walk_speed_kmh is None or mode not in ("walk", "walk_elderly"):
            return w
        if not walk_speed_kmh > 0:
            msg = f"walk_speed_kmh must be positive, got {walk_speed_kmh}"
            raise InputError(msg)
        base = self.speeds_kmh.get(mode)
        if not isinstance(base, (int, float)):
            from . import settings

            base = settings.walk_speed_kmh if mode == "walk" else settings.walk_elderly_speed_kmh
        if float(base) == float(walk_speed_kmh):
            return w
        return w * (float(base) / float(walk_speed_kmh))

    def check_mode(self, mode: str) -> None:
        """Raise :class:`InputError` when ``mode`` has no weights in this network."""
        if mode not in self.weights_s:
            msg = f"mode {mode!r} is not in this network (modes: {', '.join(self.modes)})"
            raise InputError(msg)

    def csr(self, mode: str, *, walk_speed_kmh: float | None = None) -> CSR:
        """Return the forward CSR adjacency of ``mode`` (edges it may use), cached per mode.

        Parameters
        ----------
        mode
            A mode of this network.
        walk_speed_kmh
            Walking speed for walk-type modes, as in :meth:`weights_for`.

        Returns
        -------
        CSR
            Arrays ready for the compiled kernels.
        """
        w = self.weights_for(mode, walk_speed_kmh=walk_speed_kmh)
        key = f"csr:{mode}"
        base = self._cache.get(key)
        if base is None:
            usable = np.flatnonzero(np.isfinite(self.weights_s[mode]))
            # edges are sorted by tail node, so the usable ones stay grouped by tail
            counts = np.bincount(self.edge_u[usable], minlength=self.n_nodes)
            indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            base = CSR(indptr, self.edge_v[usable].copy(), self.weights_s[mode][usable],
                       usable.astype(np.int64))
            self._cache[key] = base
        if w is self.weights_s[mode]:
            return base
        return CSR(base.indptr, base.indices, w[base.edge], base.edge)

    @property
    def reverse_edge(self) -> NDArray[np.int64]:
        """For each edge u->v, the index of its twin v->u on the same street, else ``-1``.

        Twins are matched by their end nodes and length (within 1 % or 1 cm): parallel streets
        between the same two nodes pair up shortest with shortest.
        """
        rev = self._cache.get("reverse_edge")
        if rev is None:
            rev = _pair_reverse_edges(self.edge_u, self.edge_v, self.length_m)
            self._cache["reverse_edge"] = rev
        return rev  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the network as an uncompressed ``.npz`` file, atomically.

        Geometries are stored as their coordinate arrays (no pickling), which loads much
        faster than WKB for a million edges.

        Parameters
        ----------
        path
            Destination file (``.npz``).

        Returns
        -------
        Path
            The destination.
        """
        from .io import atomic_path

        coords, gidx = shapely.get_coordinates(self.geometry, return_index=True)
        arrays: dict[str, Any] = {
            "format_version": np.array(_FORMAT_VERSION),
            "crs": np.array(self.crs),
            "source": np.array(self.source),
            "speeds_kmh": np.array(json.dumps(dict(self.speeds_kmh), ensure_ascii=False)),
            "modes": np.array(list(self.modes), dtype=str),
            "node_ids": self.node_ids,
            "x": self.x,
            "y": self.y,
            "edge_u": self.edge_u,
            "edge_v": self.edge_v,
            "length_m": self.length_m,
            "geom_coords": coords,
            "geom_index": gidx.astype(np.int64),
        }
        for i, mode in enumerate(self.modes):
            arrays[f"weights_s_{i}"] = self.weights_s[mode]
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RoutingNetwork:
        """Load a network written by :meth:`save`.

        Parameters
        ----------
        path
            An ``.npz`` file.

        Returns
        -------
        RoutingNetwork
            The network, equal array by array to the one saved.

        Raises
        ------
        InputError
            When the file is not a saved RoutingNetwork.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            msg = f"{path}: not a saved RoutingNetwork ({exc})"
            raise InputError(msg) from None
        if int(arrays.get("format_version", -1)) != _FORMAT_VERSION:
            msg = f"{path}: not a saved RoutingNetwork (format version)"
            raise InputError(msg)
        modes = [str(m) for m in arrays["modes"]]
        n_edges = arrays["edge_u"].shape[0]
        geoms = np.empty(n_edges, dtype=object)
        if n_edges:
            geoms[:] = shapely.linestrings(arrays["geom_coords"], indices=arrays["geom_index"])
        return cls(
            crs=str(arrays["crs"]),
            node_ids=arrays["node_ids"],
            x=arrays["x"],
            y=arrays["y"],
            edge_u=arrays["edge_u"],
            edge_v=arrays["edge_v"],
            length_m=arrays["length_m"],
            weights_s={m: arrays[f"weights_s_{i}"] for i, m in enumerate(modes)},
            geometry=geoms,
            speeds_kmh=json.loads(str(arrays["speeds_kmh"])),
            source=str(arrays["source"]),
        )

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Return the edges as a GeoDataFrame (for maps and checks).

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``edge``, ``u``, ``v`` (node ids), ``length_m``, ``{mode}_s`` per mode
            (seconds, ``inf`` when not allowed) and ``geometry``, in :attr:`crs`.
        """
        import geopandas as gpd

        cols: dict[str, Any] = {
            "edge": np.arange(self.n_edges, dtype=np.int64),
            "u": self.node_ids[self.edge_u],
            "v": self.node_ids[self.edge_v],
            "length_m": self.length_m,
        }
        for mode in self.modes:
            cols[f"{mode}_s"] = self.weights_s[mode]
        return gpd.GeoDataFrame(cols, geometry=self.geometry, crs=self.crs)


def _pair_reverse_edges(u: NDArray[np.int64], v: NDArray[np.int64],
                        length_m: NDArray[np.float64]) -> NDArray[np.int64]:
    m = u.shape[0]
    rev = np.full(m, -1, dtype=np.int64)
    if m == 0:
        return rev
    lo = np.minimum(u, v)
    hi = np.maximum(u, v)
    n = int(hi.max()) + 1
    idx = np.arange(m, dtype=np.int64)

    def keyed(
        mask: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        # edges of one direction sorted by (lo, hi, length), with their rank inside (lo, hi)
        sel = idx[mask]
        sel = sel[np.lexsort((sel, length_m[sel], hi[sel], lo[sel]))]
        pair = lo[sel] * n + hi[sel]
        start = np.r_[True, pair[1:] != pair[:-1]]
        group_start = np.maximum.accumulate(np.where(start, np.arange(sel.size), 0))
        rank = (np.arange(sel.size) - group_start).astype(np.int64)
        return sel, pair.astype(np.int64), rank

    fsel, fpair, frank = keyed(u < v)
    bsel, bpair, brank = keyed(u > v)
    if fsel.size == 0 or bsel.size == 0:
        return rev
    width = int(max(frank.max(), brank.max())) + 1
    fkey = fpair * width + frank  # ascending already
    bkey = bpair * width + brank
    pos = np.minimum(np.searchsorted(bkey, fkey), bkey.size - 1)
    hit = bkey[pos] == fkey
    fe = fsel[hit]
    be = bsel[pos[hit]]
    la, lb = length_m[fe], length_m[be]
    close = np.abs(la - lb) <= np.maximum(0.01 * np.maximum(la, lb), 0.01)
    fe, be = fe[close], be[close]
    rev[fe] = be
    rev[be] = fe
    return rev
