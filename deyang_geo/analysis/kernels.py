"""Compiled shortest-path kernels (numba) on CSR arrays: multi-source and many bounded searches."""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

# The kernels use a 4-ary min-heap with lazy deletion (a node may sit in the heap several
# times; stale entries are skipped when popped), sifting with a hole instead of swaps: about
# twice as fast as a binary heap with swaps here. Its capacity is the number of directed edges
# plus the number of initial entries, which bounds the pushes of one search.


@njit(cache=True, inline="always")
def _heap_push(
    heap_d: NDArray[np.float64], heap_n: NDArray[np.int64], size: int, d: float, n: int
) -> int:
    i = size
    while i > 0:
        parent = (i - 1) >> 2
        pd = heap_d[parent]
        if pd <= d:
            break
        heap_d[i] = pd
        heap_n[i] = heap_n[parent]
        i = parent
    heap_d[i] = d
    heap_n[i] = n
    return size + 1


@njit(cache=True, inline="always")
def _heap_pop(heap_d: NDArray[np.float64], heap_n: NDArray[np.int64], size: int) -> int:
    # Removes the root (the caller has read it) and returns the new size.
    size -= 1
    d = heap_d[size]
    n = heap_n[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        best_d = heap_d[first]
        stop = min(first + 4, size)
        for k in range(first + 1, stop):
            if heap_d[k] < best_d:
                best_d = heap_d[k]
                best = k
        if d <= best_d:
            break
        heap_d[i] = best_d
        heap_n[i] = heap_n[best]
        i = best
    heap_d[i] = d
    heap_n[i] = n
    return size


@njit(cache=True)
def multi_source_dijkstra(  # noqa: PLR0917
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    weights: NDArray[np.float64],
    init_nodes: NDArray[np.int64],
    init_dist: NDArray[np.float64],
    init_label: NDArray[np.int64],
    bound: float,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return the shortest distance to every node from the nearest initial entry, and its label.

    Nodes farther than ``bound`` (or unreachable) keep ``inf`` and label ``-1``. On equal
    distances the entry met first wins (deterministic).
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    label = np.full(n, -1, dtype=np.int64)
    cap = indices.shape[0] + init_nodes.shape[0] + 1
    heap_d = np.empty(cap, dtype=np.float64)
    heap_n = np.empty(cap, dtype=np.int64)
    size = 0
    for k in range(init_nodes.shape[0]):
        node = init_nodes[k]
        d = init_dist[k]
        if d <= bound and d < dist[node]:
            dist[node] = d
            label[node] = init_label[k]
            size = _heap_push(heap_d, heap_n, size, d, node)
    while size > 0:
        d = heap_d[0]
        node = heap_n[0]
        size = _heap_pop(heap_d, heap_n, size)
        if d > dist[node]:
            continue  # stale entry (an equal duplicate relaxes nothing new)
        lab = label[node]
        for j in range(indptr[node], indptr[node + 1]):
            nb = indices[j]
            nd = d + weights[j]
            if nd <= bound and nd < dist[nb]:
                dist[nb] = nd
                label[nb] = lab
                size = _heap_push(heap_d, heap_n, size, nd, nb)
    return dist, label


@njit(cache=True)
def reach_chunk(  # noqa: PLR0917
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    weights: NDArray[np.float64],
    src_nodes: NDArray[np.int64],
    src_cost: NDArray[np.float64],
    src_edge: NDArray[np.int64],
    src_frac: NDArray[np.float64],
    src_conn: NDArray[np.float64],
    node_tptr: NDArray[np.int64],
    node_target: NDArray[np.int64],
    node_tcost: NDArray[np.float64],
    edge_tptr: NDArray[np.int64],
    edge_target: NDArray[np.int64],
    edge_tfrac: NDArray[np.float64],
    edge_tconn: NDArray[np.float64],
    w_fwd: NDArray[np.float64],
    w_bwd: NDArray[np.float64],
    n_targets: int,
    bound: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Run one bounded search per source and return its reached targets as CSR pieces.

    Parameters are per source ``s``: ``src_nodes[s, 0:2]`` and ``src_cost[s, 0:2]`` (the two
    edge ends and the cost to reach them, ``inf`` when not allowed), its edge, fraction and
    connector cost (for targets on the same edge). ``node_t*`` is a CSR map node -> (target,
    cost from node to target); ``edge_t*`` a CSR map edge -> targets on it. Returns
    ``(counts, targets, costs)``: per source the number of targets reached within ``bound``,
    then the targets (ascending per source) and their costs, sources one after the other.
    Only the nodes and targets touched by a search are reset before the next one.
    """
    n = indptr.shape[0] - 1
    n_src = src_nodes.shape[0]
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    tbest = np.full(n_targets, np.inf)
    ttouched = np.empty(n_targets, dtype=np.int64)
    cap = indices.shape[0] + 3
    heap_d = np.empty(cap, dtype=np.float64)
    heap_n = np.empty(cap, dtype=np.int64)
    counts = np.zeros(n_src, dtype=np.int64)
    out_cap = max(1024, 64 * n_src)
    out_t = np.empty(out_cap, dtype=np.int64)
    out_c = np.empty(out_cap, dtype=np.float64)
    n_out = 0
    for s in range(n_src):
        n_touched = 0
        n_ttouched = 0
        size = 0
        for k in range(2):
            node = src_nodes[s, k]
            d = src_cost[s, k]
            if node >= 0 and d <= bound and d < dist[node]:
                if dist[node] == np.inf:
                    touched[n_touched] = node
                    n_touched += 1
                dist[node] = d
                size = _heap_push(heap_d, heap_n, size, d, node)
        while size > 0:
            d = heap_d[0]
            node = heap_n[0]
            size = _heap_pop(heap_d, heap_n, size)
            if done[node] or d > dist[node]:
                continue
            done[node] = True
            for j in range(node_tptr[node], node_tptr[node + 1]):
                t = node_target[j]
                c = d + node_tcost[j]
                if c <= bound and c < tbest[t]:
                    if tbest[t] == np.inf:
                        ttouched[n_ttouched] = t
                        n_ttouched += 1
                    tbest[t] = c
            for j in range(indptr[node], indptr[node + 1]):
                nb = indices[j]
                nd = d + weights[j]
                if nd <= bound and nd < dist[nb]:
                    if dist[nb] == np.inf:
                        touched[n_touched] = nb
                        n_touched += 1
                    dist[nb] = nd
                    size = _heap_push(heap_d, heap_n, size, nd, nb)
        e = src_edge[s]
        if e >= 0:
            fs = src_frac[s]
            for j in range(edge_tptr[e], edge_tptr[e + 1]):
                t = edge_target[j]
                ft = edge_tfrac[j]
                if ft == fs:
                    c = 0.0
                elif ft > fs:
                    c = (ft - fs) * w_fwd[e]
                else:
                    c = (fs - ft) * w_bwd[e]
                c += src_conn[s] + edge_tconn[j]
                if c <= bound and c < tbest[t]:
                    if tbest[t] == np.inf:
                        ttouched[n_ttouched] = t
                        n_ttouched += 1
                    tbest[t] = c
        if n_out + n_ttouched > out_cap:
            new_cap = max(2 * out_cap, n_out + n_ttouched)
            grown_t = np.empty(new_cap, dtype=np.int64)
            grown_c = np.empty(new_cap, dtype=np.float64)
            grown_t[:n_out] = out_t[:n_out]
            grown_c[:n_out] = out_c[:n_out]
            out_t = grown_t
            out_c = grown_c
            out_cap = new_cap
        order = np.sort(ttouched[:n_ttouched])
        for k in range(n_ttouched):
            t = order[k]
            out_t[n_out] = t
            out_c[n_out] = tbest[t]
            n_out += 1
            tbest[t] = np.inf
        counts[s] = n_ttouched
        for k in range(n_touched):
            node = touched[k]
            dist[node] = np.inf
            done[node] = False
    return counts, out_t[:n_out].copy(), out_c[:n_out].copy()


@njit(cache=True, nogil=True)
def same_edge_best(  # noqa: PLR0917
    src_ptr: NDArray[np.int64],
    src_order: NDArray[np.int64],
    src_frac: NDArray[np.float64],
    src_conn: NDArray[np.float64],
    t_edge: NDArray[np.int64],
    t_frac: NDArray[np.float64],
    t_conn: NDArray[np.float64],
    w_fwd: NDArray[np.float64],
    w_bwd: NDArray[np.float64],
    best: NDArray[np.float64],
    best_src: NDArray[np.int64],
) -> None:
    """Improve ``best``/``best_src`` in place with direct along-edge trips from sources.

    ``src_ptr``/``src_order`` list the sources on each edge (CSR over edges).
    """
    for t in range(t_edge.shape[0]):
        e = t_edge[t]
        if e < 0:
            continue
        ft = t_frac[t]
        for j in range(src_ptr[e], src_ptr[e + 1]):
            s = src_order[j]
            fs = src_frac[s]
            if ft == fs:
                c = 0.0
            elif ft > fs:
                c = (ft - fs) * w_fwd[e]
            else:
                c = (fs - ft) * w_bwd[e]
            c += src_conn[s] + t_conn[t]
            if c < best[t] or (c == best[t] and s < best_src[t]):
                best[t] = c
                best_src[t] = s



# Bucket search (Dial / delta-stepping with label correction). Entries wait in a ring of
# buckets of width ``delta`` seconds (linked lists in one pool of entries, recycled through a
# free list); the lowest non-empty bucket is emptied in any order, and an entry that improves
# a node of the same bucket (an edge shorter than ``delta``) goes back into it. When the queue
# is empty no relaxation can improve a node, so the result is the least fixpoint of
# ``dist[v] = min(init, dist[u] + w)``: the minimum over paths of the left-to-right
# floating-point sums, which is exactly what a Dijkstra computes (``fl(a + w)`` is monotone in
# ``a`` and never below it for ``w >= 0``). With ``delta`` at most the shortest positive edge
# only zero-length edges bring a node back, so a node is settled about once, without a heap.
# Ties: a node takes the lowest label among the entries that reach it in its final time,
# whatever the node order or the order the queue hands entries out. The pool has a fixed
# capacity (growing arrays inside the loop would make numba's code several times slower): on
# overflow the kernel says so and the caller runs it again with more room.


@njit(cache=True, inline="always")
def _bucket_add(  # noqa: PLR0917
    pool_d: NDArray[np.float64],
    pool_n: NDArray[np.int32],
    pool_next: NDArray[np.int32],
    head: NDArray[np.int32],
    free: int,
    used: int,
    slot: int | np.int64,
    d: float,
    node: int,
) -> tuple[int, int]:
    # Puts (d, node) at the front of bucket ``slot``; returns the new (free, used), or
    # used = -1 when the pool is full.
    if free >= 0:
        e = free
        free = pool_next[e]
    else:
        if used == pool_d.shape[0]:
            return free, -1
        e = used
        used += 1
    pool_d[e] = d
    pool_n[e] = node
    pool_next[e] = head[slot]
    head[slot] = e
    return free, used


@njit(cache=True, nogil=True)
def bucket_search(  # noqa: PLR0917
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    weights: NDArray[np.float64],
    init_nodes: NDArray[np.int64],
    init_dist: NDArray[np.float64],
    init_label: NDArray[np.int64],
    bound: float,
    delta: float,
    n_slots: int,
    capacity: int,
    dist: NDArray[np.float64],
    label: NDArray[np.int64],
) -> bool:
    """Write the shortest distance to every node from the nearest initial entry, and its label.

    Parameters are the CSR arrays (``indices`` as int32), the initial entries (node, distance,
    label), the ``bound`` beyond which nodes are left out, the bucket width ``delta`` in
    seconds (positive), ``n_slots`` buckets in the ring (a power of two above
    ``max(weights) / delta + 2``), the ``capacity`` of the pool of queued entries (below
    ``2**31``) and the outputs ``dist`` and ``label`` (one per node, overwritten: numpy
    allocates large arrays on huge pages, which makes the search faster than with arrays of
    its own). Nodes farther than ``bound`` or unreachable get ``inf`` and label ``-1``; on
    equal distances the lowest label wins. Returns False when the pool ran out (run again
    with a larger ``capacity``). The distances equal :func:`multi_source_dijkstra`'s bit for
    bit.
    """
    dist[:] = np.inf
    label[:] = -1
    inv = 1.0 / delta
    mask = n_slots - 1
    head = np.full(n_slots, -1, dtype=np.int32)
    pool_d = np.empty(capacity, dtype=np.float64)
    pool_n = np.empty(capacity, dtype=np.int32)
    pool_next = np.empty(capacity, dtype=np.int32)
    free = -1
    used = 0
    live = 0
    # initial entries join when their bucket comes up (together they may span more than the
    # ring does)
    keep = np.flatnonzero(init_dist <= bound)
    order = keep[np.argsort(init_dist[keep], kind="mergesort")]
    k_init = order.shape[0]
    ip = 0
    cur = np.int64(init_dist[order[0]] * inv) if k_init > 0 else np.int64(0)
    while True:
        while ip < k_init:
            k = order[ip]
            d = init_dist[k]
            if np.int64(d * inv) > cur:
                break
            ip += 1
            node = init_nodes[k]
            lab = init_label[k]
            if d < dist[node] or (d == dist[node] and lab < label[node]):
                dist[node] = d
                label[node] = lab
                free, used = _bucket_add(pool_d, pool_n, pool_next, head, free, used,
                                         cur & mask, d, node)
                if used < 0:
                    return False
                live += 1
        slot = cur & mask
        e = head[slot]
        if e < 0:
            if live == 0:
                if ip >= k_init:
                    break
                cur = np.int64(init_dist[order[ip]] * inv)
            else:
                cur += 1
            continue
        head[slot] = pool_next[e]
        d = pool_d[e]
        node = pool_n[e]
        pool_next[e] = free
        free = e
        live -= 1
        if d > dist[node]:
            continue  # stale: the node was improved since
        lab = label[node]
        for j in range(indptr[node], indptr[node + 1]):
            nb = indices[j]
            nd = d + weights[j]
            if nd <= bound:
                od = dist[nb]
                if nd < od or (nd == od and lab < label[nb]):
                    dist[nb] = nd
                    label[nb] = lab
                    free, used = _bucket_add(pool_d, pool_n, pool_next, head, free, used,
                                             np.int64(nd * inv) & mask, nd, nb)
                    if used < 0:
                        return False
                    live += 1
    return True


@njit(cache=True, nogil=True)
def hilbert_cells(cx: NDArray[np.int64], cy: NDArray[np.int64], bits: int) -> NDArray[np.int64]:
    """Return the position along a Hilbert curve of each cell ``(cx, cy)`` of a ``2**bits`` grid."""
    side = np.int64(1) << bits
    out = np.empty(cx.shape[0], dtype=np.int64)
    for i in range(cx.shape[0]):
        x = cx[i]
        y = cy[i]
        d = np.int64(0)
        s = side >> 1
        while s > 0:
            rx = 1 if (x & s) > 0 else 0
            ry = 1 if (y & s) > 0 else 0
            d += s * s * ((3 * rx) ^ ry)
            if ry == 0:
                if rx == 1:
                    x = side - 1 - x
                    y = side - 1 - y
                x, y = y, x
            s >>= 1
        out[i] = d
    return out


@njit(cache=True, nogil=True)
def renumber_csr(  # noqa: PLR0917
    indptr: NDArray[np.int64],
    indices: NDArray[np.int64],
    weights: NDArray[np.float64],
    order: NDArray[np.int64],
    rank: NDArray[np.int64],
    new_ptr: NDArray[np.int64],
    new_idx: NDArray[np.int32],
    new_w: NDArray[np.float64],
) -> None:
    """Write the CSR with row ``r`` the old row ``order[r]`` and heads renumbered by ``rank``.

    Each row keeps its edges in their order.
    """
    n = order.shape[0]
    k = 0
    new_ptr[0] = 0
    for r in range(n):
        old = order[r]
        for j in range(indptr[old], indptr[old + 1]):
            new_idx[k] = rank[indices[j]]
            new_w[k] = weights[j]
            k += 1
        new_ptr[r + 1] = k



@njit(cache=True, nogil=True)
def unpermute(  # noqa: PLR0917
    dist: NDArray[np.float64],
    label: NDArray[np.int64],
    rank: NDArray[np.int64],
    out_dist: NDArray[np.float64],
    out_label: NDArray[np.int64],
    per_unit: float,
) -> None:
    """Write ``dist[rank]`` and ``label[rank]`` into the outputs in one pass.

    With ``per_unit`` other than 1 the distances are divided by it (seconds to minutes with
    60) and unreached nodes (``inf``) become ``nan``.
    """
    convert = per_unit != 1.0
    for i in range(rank.shape[0]):
        r = rank[i]
        d = dist[r]
        if convert:
            d = d / per_unit if d < np.inf else np.nan
        out_dist[i] = d
        out_label[i] = label[r]
