"""The compact array form of a road network (``RoutingNetwork``) used by every routing step."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from deyang_geo.analysis.kernels import hilbert_cells, renumber_csr
from deyang_geo.core import settings
from deyang_geo.core.checks import check_positive
from deyang_geo.core.errors import InputError, NetworkError
from deyang_geo.io.files import atomic_path

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

__all__ = ["CSR", "Pieces", "RoutingNetwork", "SearchArrays"]

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
class SearchArrays:
    """One mode's adjacency renumbered for fast searches (see :meth:`RoutingNetwork.search_arrays`).

    Node ``i`` of the network is row ``rank[i]`` here and row ``r`` is node ``order[r]``;
    public results are always mapped back to the network's node numbers.

    Attributes
    ----------
    indptr
        Row pointers in the search order (length ``n_nodes + 1``).
    indices
        Head of each out-edge, in the search order (int32).
    weights_s
        Travel time of each out-edge in seconds.
    rank
        Per network node, its row in the search order.
    order
        Per row, its network node (the inverse of ``rank``).
    bucket_s
        Width in seconds of the buckets of the compiled search: the shortest positive edge,
        but at least ``1 / 65536`` of the longest.
    n_buckets
        Number of buckets in the search's ring: a power of two above
        ``max(weights_s) / bucket_s + 2``.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    weights_s: NDArray[np.float64]
    rank: NDArray[np.int64]
    order: NDArray[np.int64]
    bucket_s: float
    n_buckets: int


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
        elif pyproj.CRS.from_user_input(crs).is_geographic:
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

    def speed_kmh(self, mode: str) -> float | None:
        """Return the speed in km/h the weights of ``mode`` stand for (``None`` for drive).

        The network's own ``speeds_kmh[mode]`` when it is a number, else the default of
        :mod:`deyang_geo.core.settings` for that mode (``walk_speed_kmh``, ``bike_speed_kmh``...).
        """
        base = self.speeds_kmh.get(mode)
        if isinstance(base, (int, float)) and not isinstance(base, bool):
            return float(base)

        default = getattr(settings, f"{mode}_speed_kmh", None)
        return float(default) if isinstance(default, (int, float)) else None

    def with_speed(self, mode: str, speed_kmh: float) -> RoutingNetwork:
        """Return this network with the weights of ``mode`` re-computed for ``speed_kmh``.

        Only ``mode`` changes: its seconds are multiplied by ``speed_kmh(mode) / speed_kmh``
        (slope factors of a DEM are kept) and ``speeds_kmh[mode]`` becomes ``speed_kmh``; every
        other mode keeps its weights and speed. The result shares the node and edge arrays
        and is cached on this network, so asking twice costs nothing.

        Parameters
        ----------
        mode
            A mode of this network with a numeric speed (not ``drive``).
        speed_kmh
            The new speed in km/h (positive).

        Returns
        -------
        RoutingNetwork
            ``self`` when the speed is unchanged, else the re-weighted network.

        Raises
        ------
        InputError
            When the mode is unknown, has no numeric speed, or the speed is not positive.
        """
        self.check_mode(mode)
        check_positive(speed_kmh, name=f"speed of mode {mode!r}", unit="km/h")
        base = self.speed_kmh(mode)
        if base is None:
            msg = (f"mode {mode!r} has no single speed (speeds_kmh: "
                   f"{self.speeds_kmh.get(mode)!r}): it cannot be re-weighted")
            raise InputError(msg)
        new = float(speed_kmh)
        if new == base:
            return self
        key = f"speed:{mode}:{new!r}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        weights = dict(self.weights_s)
        weights[mode] = self.weights_s[mode] * (base / new)
        speeds = dict(self.speeds_kmh)
        speeds[mode] = new
        out = RoutingNetwork(
            crs=self.crs, node_ids=self.node_ids, x=self.x, y=self.y, edge_u=self.edge_u,
            edge_v=self.edge_v, length_m=self.length_m, weights_s=weights,
            geometry=self.geometry, speeds_kmh={k: speeds[k] for k in sorted(speeds)},
            source=self.source,
        )
        # structure does not depend on the speed: share what is already computed
        for k, v in self._cache.items():
            if k.startswith(("reverse_edge", "snap:", "snap_mask:", "tail_ptr", "pieces:",
                             "node_order")) or (
                    k.startswith(("csr:", "csr_t:", "w_bwd:", "search:", "search_t:"))
                    and k.split(":", 1)[1] != mode):
                out._cache[k] = v
        self._cache[key] = out
        return out

    def weights_for(self, mode: str, *, walk_speed_kmh: float | None = None,
                    ) -> NDArray[np.float64]:
        """Return the edge travel times of ``mode`` in seconds.

        Parameters
        ----------
        mode
            A mode of this network.
        walk_speed_kmh
            For the ``walk`` mode only: the walking speed to use instead of the network's
            (as :meth:`with_speed`). Other modes are never changed by it (use
            ``with_speed(mode, ...)`` for them).

        Returns
        -------
        numpy.ndarray
            Seconds per edge (``inf`` where the mode may not go).
        """
        self.check_mode(mode)
        if walk_speed_kmh is None or mode != "walk":
            return self.weights_s[mode]
        return self.with_speed(mode, walk_speed_kmh).weights_s[mode]

    def check_mode(self, mode: str) -> None:
        """Raise :class:`InputError` when ``mode`` has no weights in this network."""
        if mode not in self.weights_s:
            msg = f"mode {mode!r} is not in this network (modes: {', '.join(self.modes)})"
            raise InputError(msg)

    def csr(self, mode: str, *, walk_speed_kmh: float | None = None,
            reverse: bool = False) -> CSR:
        """Return the CSR adjacency of ``mode`` (edges it may use), cached per mode.

        Parameters
        ----------
        mode
            A mode of this network.
        walk_speed_kmh
            Walking speed for the ``walk`` mode, as in :meth:`weights_for`.
        reverse
            The transposed adjacency: row ``i`` lists the edges *into* node ``i`` (their tail
            in ``indices``), for searches towards a destination.

        Returns
        -------
        CSR
            Arrays ready for the compiled kernels.
        """
        if walk_speed_kmh is not None and mode == "walk":
            return self.with_speed(mode, walk_speed_kmh).csr(mode, reverse=reverse)
        self.check_mode(mode)
        key = f"{'csr_t' if reverse else 'csr'}:{mode}"
        base = self._cache.get(key)
        if base is None and reverse:
            base = self._symmetric_transpose(mode)
        if base is None:
            w = self.weights_s[mode]
            usable = np.flatnonzero(np.isfinite(w))
            if reverse:
                # by head node, then edge index: deterministic order of in-edges
                usable = usable[np.argsort(self.edge_v[usable], kind="stable")]
                tail, head = self.edge_v[usable], self.edge_u[usable]
            else:
                # edges are sorted by tail node, so the usable ones stay grouped by tail
                tail, head = self.edge_u[usable], self.edge_v[usable]
            counts = np.bincount(tail, minlength=self.n_nodes)
            indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            base = CSR(indptr, head.astype(np.int64, copy=True), w[usable],
                       usable.astype(np.int64))
            self._cache[key] = base
        return base  # type: ignore[no-any-return]

    def _symmetric_transpose(self, mode: str) -> CSR | None:
        """Return the transposed CSR when every usable edge has an equal twin, else None.

        Then the forward rows are also the in-edges of each node (the twins), so the forward
        arrays serve both directions and give identical results.
        """
        fwd = self.csr(mode)
        rev = self.reverse_edge[fwd.edge]
        if (rev < 0).any():
            return None
        if not np.array_equal(self.weights_s[mode][rev], fwd.weights_s):
            return None
        out = CSR(fwd.indptr, fwd.indices, fwd.weights_s, rev)
        self._cache[f"csr_t:{mode}"] = out
        return out

    @property
    def node_order(self) -> NDArray[np.int64]:
        """The nodes along a Hilbert curve through their coordinates (computed once, cached).

        Searches run on the adjacency renumbered in this order (:meth:`search_arrays`), so that
        nodes close on the ground are close in memory; ties keep the node order.
        """
        cached = self._cache.get("node_order")
        if cached is None:
            cached = np.argsort(hilbert_index(self.x, self.y), kind="stable").astype(np.int64)
            self._cache["node_order"] = cached
        return cached  # type: ignore[no-any-return]

    def search_arrays(self, mode: str, *, reverse: bool = False) -> SearchArrays:
        """Return the CSR adjacency of ``mode`` in :attr:`node_order`, cached per direction.

        Rows keep the edges in the order of :meth:`csr`; only the node numbers change. When
        the transposed adjacency is the forward one (two-way streets of equal times), both
        directions share one set of arrays.

        Parameters
        ----------
        mode
            A mode of this network (at this network's speed).
        reverse
            The transposed adjacency, as in :meth:`csr`.

        Returns
        -------
        SearchArrays
            Arrays for :func:`deyang_geo.analysis.kernels.bucket_search`.
        """
        key = f"{'search_t' if reverse else 'search'}:{mode}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        csr = self.csr(mode, reverse=reverse)
        if reverse:
            fwd = self.csr(mode)
            if (csr.indptr is fwd.indptr and csr.indices is fwd.indices
                    and csr.weights_s is fwd.weights_s):
                out: SearchArrays = self.search_arrays(mode)
                self._cache[key] = out
                return out
        out = _renumbered(csr, self.node_order)
        self._cache[key] = out
        return out

    def pieces(self, mode: str) -> Pieces:
        """Return the connected pieces of ``mode``'s streets (weak connectivity), cached.

        Pieces are numbered 0, 1, ... by decreasing street length (ties: lowest node first),
        so piece 0 is the main network. Nodes no edge of the mode touches get ``-1``.

        Parameters
        ----------
        mode
            A mode of this network.

        Returns
        -------
        Pieces
            Per node the piece id, per piece its street km and node count.
        """
        self.check_mode(mode)
        key = f"pieces:{mode}"
        cached = self._cache.get(key)
        if cached is None:
            cached = _pieces(self, mode)
            self._cache[key] = cached
        return cached  # type: ignore[no-any-return]

    @property
    def reverse_edge(self) -> NDArray[np.int64]:
        """For each edge u->v, the index of its twin v->u on the same street, else ``-1``.

        Twins are matched by their end nodes and length (within 1 % or 1 cm): parallel streets
        between the same two nodes pair up shortest with shortest. A self-loop u->u (a
        cul-de-sac loop) pairs with the loop at the same node that runs the other way round
        (its geometry reversed), so a point on the loop can go either way.
        """
        rev = self._cache.get("reverse_edge")
        if rev is None:
            rev = _pair_reverse_edges(self.edge_u, self.edge_v, self.length_m, self.geometry)
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
                        length_m: NDArray[np.float64],
                        geometry: NDArray[np.object_] | None = None) -> NDArray[np.int64]:
    m = u.shape[0]
    rev = np.full(m, -1, dtype=np.int64)
    if m == 0:
        return rev
    lo = np.minimum(u, v)
    hi = np.maximum(u, v)
    n = int(hi.max()) + 1
    idx = np.arange(m, dtype=np.int64)
    # every edge gets a pair key (its street, whatever the direction) and a side: +1 one way,
    # -1 the other, 0 unpaired; twins share the key and have opposite sides
    pair = lo.astype(np.int64) * n + hi
    side = np.sign(v - u).astype(np.int64)
    loops = np.flatnonzero(u == v)
    if loops.size and geometry is not None:
        pair[loops], side[loops] = _loop_keys(u[loops], geometry[loops], offset=n * n)

    def keyed(
        mask: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        # edges of one side sorted by (pair, length), with their rank inside the pair
        sel = idx[mask]
        sel = sel[np.lexsort((sel, length_m[sel], pair[sel]))]
        key = pair[sel]
        start = np.r_[True, key[1:] != key[:-1]]
        group_start = np.maximum.accumulate(np.where(start, np.arange(sel.size), 0))
        rank = (np.arange(sel.size) - group_start).astype(np.int64)
        return sel, key.astype(np.int64), rank

    fsel, fpair, frank = keyed(side > 0)
    bsel, bpair, brank = keyed(side < 0)
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


def _loop_keys(node: NDArray[np.int64], geometry: NDArray[np.object_], *,
               offset: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pair keys and sides of self-loops: the loop's node and its first and last inner vertex.

    A loop drawn a -> p -> ... -> q -> a and its twin a -> q -> ... -> p -> a share the key
    (node, {p, q}) and get opposite sides; loops without inner vertices (p == q) stay unpaired.
    """
    n_pts = shapely.get_num_points(geometry)
    ok = n_pts >= 3
    p = np.full((node.size, 2), np.nan)
    q = np.full((node.size, 2), np.nan)
    if ok.any():
        p[ok] = shapely.get_coordinates(shapely.get_point(geometry[ok], 1))
        q[ok] = shapely.get_coordinates(shapely.get_point(geometry[ok], -2))
    pc = np.round(np.nan_to_num(p) * 100).astype(np.int64)  # centimetres
    qc = np.round(np.nan_to_num(q) * 100).astype(np.int64)
    fwd = (pc[:, 0] < qc[:, 0]) | ((pc[:, 0] == qc[:, 0]) & (pc[:, 1] < qc[:, 1]))
    bwd = (pc[:, 0] > qc[:, 0]) | ((pc[:, 0] == qc[:, 0]) & (pc[:, 1] > qc[:, 1]))
    first = np.where(fwd[:, None], pc, qc)
    last = np.where(fwd[:, None], qc, pc)
    rows = np.column_stack([node, first, last])
    _, group = np.unique(rows, axis=0, return_inverse=True)
    side = np.where(ok & fwd, 1, np.where(ok & bwd, -1, 0)).astype(np.int64)
    return (offset + group.ravel()).astype(np.int64), side


@dataclass(frozen=True, eq=False)
class Pieces:
    """The connected pieces of one mode's streets.

    Attributes
    ----------
    node_piece
        Per node, its piece id (``-1`` for nodes the mode does not use).
    street_km
        Per piece, the length of its streets in km (a two-way street counted once).
    n_nodes
        Per piece, its number of nodes.
    """

    node_piece: NDArray[np.int64]
    street_km: NDArray[np.float64]
    n_nodes: NDArray[np.int64]

    @property
    def count(self) -> int:
        """Number of pieces."""
        return int(self.street_km.shape[0])


def _pieces(net: RoutingNetwork, mode: str) -> Pieces:
    usable = np.flatnonzero(np.isfinite(net.weights_s[mode]))
    n = net.n_nodes
    eu, ev = net.edge_u[usable], net.edge_v[usable]
    adj = coo_matrix((np.ones(usable.size), (eu, ev)), shape=(n, n)).tocsr()
    _, labels = connected_components(adj, directed=True, connection="weak")
    used = np.zeros(n, dtype=bool)
    used[eu] = True
    used[ev] = True
    # street km: a street walked both ways is two directed edges, count it once
    rev = net.reverse_edge[usable]
    twin_used = (rev >= 0) & np.isin(rev, usable)
    once = ~twin_used | (usable < rev)
    raw = labels[eu[once]]
    old = np.unique(labels[used])
    km = np.bincount(np.searchsorted(old, raw), weights=net.length_m[usable[once]] / 1000.0,
                     minlength=old.size)
    nodes = np.bincount(np.searchsorted(old, labels[used]), minlength=old.size)
    first_node = np.full(old.size, n, dtype=np.int64)
    np.minimum.at(first_node, np.searchsorted(old, labels[used]), np.flatnonzero(used))
    order = np.lexsort((first_node, -km))
    new_id = np.empty(old.size, dtype=np.int64)
    new_id[order] = np.arange(old.size)
    node_piece = np.full(n, -1, dtype=np.int64)
    node_piece[used] = new_id[np.searchsorted(old, labels[used])]
    return Pieces(node_piece, km[order].astype(np.float64), nodes[order].astype(np.int64))


def hilbert_index(x: NDArray[np.float64], y: NDArray[np.float64], *,
                  bits: int = 16) -> NDArray[np.int64]:
    """Return the position of each point along a Hilbert curve over their bounding box.

    The box is cut into ``2**bits`` columns and rows; points in one cell share a position.
    Missing coordinates count as the box's lower-left corner.
    """
    side = 1 << bits

    def cells(a: NDArray[np.float64]) -> NDArray[np.int64]:
        a = np.asarray(a, dtype=np.float64)
        ok = np.isfinite(a)
        if not ok.any():
            return np.zeros(a.shape, dtype=np.int64)
        lo, hi = float(a[ok].min()), float(a[ok].max())
        scale = (side - 1) / (hi - lo) if hi > lo else 0.0
        c = np.where(ok, (a - lo) * scale, 0.0)
        return np.clip(c, 0, side - 1).astype(np.int64)


    d: NDArray[np.int64] = hilbert_cells(cells(x), cells(y), bits)
    return d


def _renumbered(csr: CSR, order: NDArray[np.int64]) -> SearchArrays:
    """Return ``csr`` with its nodes renumbered: row ``r`` is the old row ``order[r]``."""
    n = order.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    if n >= 2**31 - 1 or csr.indices.shape[0] >= 2**31 - 1:
        msg = "the network is too large for the compiled search (2**31 nodes or edges)"
        raise NetworkError(msg)

    # allocated by numpy (huge pages for large arrays): the searches run faster on them
    m = csr.indices.shape[0]
    indptr = np.empty(n + 1, dtype=np.int64)
    indices = np.empty(m, dtype=np.int32)
    weights = np.empty(m, dtype=np.float64)
    renumber_csr(csr.indptr, csr.indices, csr.weights_s, order, rank, indptr, indices, weights)
    if weights.size and not weights.min() >= 0:
        msg = "negative travel times on the network: shortest paths need times >= 0"
        raise NetworkError(msg)
    positive = weights[weights > 0]
    longest = float(weights.max()) if weights.size else 0.0
    if positive.size and np.isfinite(longest):
        bucket_s = max(float(positive.min()), longest / 65536.0)
    else:
        bucket_s = 1.0
    n_buckets = 1 << int(np.ceil(np.log2(longest / bucket_s + 3.0)))
    return SearchArrays(indptr, indices, weights, rank, order, bucket_s, n_buckets)
