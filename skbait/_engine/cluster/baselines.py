"""The baselines of ``baselines.py`` on a Dask array pool: every row stays
in its block on the workers (a :class:`CoresetChunk` or
:class:`BadgeChunk`, a task result of ``client.WorkerBlocks``); the client
keeps the picks and a few rows. RANDOM draws the same keys on the client;
CONFIDENCE merges each block's least confident points; CORESET takes one
round trip a step, BADGE two (the client draws as ``rng.choice`` does and
asks the block where the cumulative D² crosses it). The picks are the
in-process ones, CORESET's and BADGE's up to the rounding of sums formed
in parts.
"""


import numpy as np

from ..baselines import (
    confidence_select,
    gradient_factors,
    nearest_sq_distances,
)
from .client import (
    Cluster,
    WorkerBlocks,
    changes,
    is_dask_collection,
    reads,
    rows_chunked,
)

__all__ = ["dask_random_select", "dask_confidence_select",
           "dask_coreset_select", "dask_badge_select",
           "CoresetChunk", "BadgeChunk"]

_RANDOM_PIECE = 1 << 20


def dask_random_select(n_pool, n_select, rng, piece=_RANDOM_PIECE):
    """``random_select(n_pool, n_select, rng)`` in O(piece + n_select)
    memory: the same keys, drawn ``piece`` at a time (a generator's stream
    does not depend on how it is split), and the same stable order."""
    best_idx = np.zeros(0, dtype=np.int64)
    best_keys = np.zeros(0)
    for start in range(0, n_pool, piece):
        keys = rng.random(min(piece, n_pool - start))
        # Kept points first (smaller indices): ties broken as over all.
        idx = np.concatenate([best_idx, np.arange(start, start + len(keys))])
        keys = np.concatenate([best_keys, keys])
        order = np.argsort(keys, kind="stable")[:n_select]
        best_idx, best_keys = idx[order], keys[order]
    return best_idx, best_keys


def dask_confidence_select(proba, n_select, poll_seconds=0.2):
    """``confidence_select`` for a Dask array ``proba``."""
    import dask

    cluster = Cluster(poll_seconds=poll_seconds)
    proba = rows_chunked(cluster, proba, "pool_proba")
    offsets = np.cumsum((0,) + proba.chunks[0])
    tops = [dask.delayed(_least_confident, pure=False)(b, int(o), n_select)
            for b, o in zip(proba.to_delayed().reshape(-1), offsets)]
    parts = cluster.compute(tops)
    idx = np.concatenate([i for i, _ in parts])
    uncertainty = np.concatenate([u for _, u in parts])
    # Indices ascend: the stable sort breaks ties as over the whole pool.
    order = np.argsort(-uncertainty, kind="stable")[:n_select]
    return idx[order], uncertainty[order]


def _least_confident(p, offset, n_select):
    order, uncertainty = confidence_select(p, n_select)
    return order.astype(np.int64) + offset, uncertainty


class CoresetChunk:
    """One block of the pool for k-center greedy: its rows, their squared
    norms and their squared distances to the nearest centre."""

    def __init__(self, h, *, offset):
        self.h = h
        self.sq = (h * h).sum(1)
        self.offset = offset
        self.min_dist = None

    @reads
    def sums(self):
        return self.h.sum(axis=0)

    @changes
    def start_from_mean(self, centre):
        self.min_dist = np.maximum(((self.h - centre) ** 2).sum(1), 0.0)
        return self.farthest()

    @changes
    def start_from_labeled(self, labeled, chunk_rows):
        min_dist = nearest_sq_distances(self.h, self.sq, labeled, chunk_rows)
        self.min_dist = np.maximum(min_dist, 0.0)
        return self.farthest()

    @changes
    def step(self, row, sq_row, index):
        """Add the centre ``row`` (the pool's point ``index``)."""
        d2 = np.maximum(self.sq + sq_row - 2.0 * self.h @ row, 0.0)
        np.minimum(self.min_dist, d2, out=self.min_dist)
        if 0 <= index - self.offset < len(self.h):
            self.min_dist[index - self.offset] = -1.0  # never again
        return self.farthest()

    def farthest(self):
        """``(squared distance, index, row, squared norm)`` of the block's
        farthest point (the first of equals)."""
        if not len(self.h):
            return None
        i = int(np.argmax(self.min_dist))
        return (float(self.min_dist[i]), i + self.offset, self.h[i].copy(),
                self.sq[i])


def dask_coreset_select(emb, n_select, emb_labeled=None, chunk_rows=1024,
                        poll_seconds=0.2):
    """``coreset_select`` for a Dask array ``emb``; ``emb_labeled`` (None,
    NumPy or Dask) is small and gathered. One round trip a pick (see the
    module)."""
    cluster = Cluster(poll_seconds=poll_seconds)
    emb = rows_chunked(cluster, emb, "pool_embeddings")
    if emb_labeled is not None and is_dask_collection(emb_labeled):
        emb_labeled = np.asarray(cluster.compute([emb_labeled])[0])  # small
    chunks = WorkerBlocks(cluster, [emb], _make_coreset, {})
    try:
        if emb_labeled is not None and len(emb_labeled):
            # Sent to each worker once, as a task the scheduler can redo.
            parts = chunks.call(CoresetChunk.start_from_labeled,
                                cluster.ship(emb_labeled), chunk_rows)
        else:
            total = sum(chunks.call(CoresetChunk.sums))
            parts = chunks.call(CoresetChunk.start_from_mean,
                                total / emb.shape[0])
        chosen, scores = [], []
        while True:
            value, best, row, sq_row = _farthest(parts)
            chosen.append(best)
            scores.append(float(np.sqrt(value)))
            if len(chosen) == n_select:
                break
            parts = chunks.call(CoresetChunk.step, row, sq_row, best)
    finally:
        chunks.release()
        cluster.release()
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)


def _make_coreset(h, *, offset):
    return CoresetChunk(h, offset=offset)


def _farthest(parts):
    """The largest of the blocks' answers; ties to the first block, whose
    indices are the smaller (``np.argmax`` over the whole pool)."""
    best = None
    for part in parts:
        if part is not None and (best is None or part[0] > best[0]):
            best = part
    return best


class BadgeChunk:
    """One block of the pool for k-means++ on gradient embeddings: the
    factors ``q = p - e_ŷ`` and ``h`` of ``g = q ⊗ h``, the squared norms
    of ``g`` and the squared distances to the nearest centre."""

    def __init__(self, h, p, *, offset):
        self.h = h
        self.q = gradient_factors(p)
        self.sq_norm = (self.q * self.q).sum(1) * (h * h).sum(1)
        self.offset = offset
        self.min_dist = np.full(len(h), np.inf)

    @reads
    def largest(self):
        """The point of largest gradient norm (the first of equals)."""
        if not len(self.h):
            return None
        i = int(np.argmax(self.sq_norm))
        return (float(self.sq_norm[i]),) + self.point(i + self.offset)[1:]

    @reads
    def point(self, index):
        """``(D², index, q, h, ‖g‖²)`` of the pool's point ``index``, or
        None when it is not in this block."""
        i = index - self.offset
        if not 0 <= i < len(self.h):
            return None
        return (float(self.min_dist[i]), index, self.q[i].copy(),
                self.h[i].copy(), self.sq_norm[i])

    @changes
    def step(self, q_last, h_last, sq_last, last):
        """Add the centre ``last``; return the block's ``ΣD²`` as a
        running sum (the one :meth:`locate` walks)."""
        dist = (self.sq_norm + sq_last
                - 2.0 * (self.q @ q_last) * (self.h @ h_last))
        np.minimum(self.min_dist, np.maximum(dist, 0.0), out=self.min_dist)
        if 0 <= last - self.offset < len(self.h):
            self.min_dist[last - self.offset] = 0.0
        return float(np.cumsum(self.min_dist)[-1]) if len(self.h) else 0.0

    @reads
    def locate(self, offset, target):
        """In the block at ``offset`` only: the first point where the
        running sum of D² exceeds ``target`` (rounding aside, one exists:
        else the last point with D² > 0)."""
        if offset != self.offset:
            return None
        running = np.cumsum(self.min_dist)
        i = int(np.searchsorted(running, target, side="right"))
        if i >= len(running) or self.min_dist[i] <= 0.0:
            i = int(np.flatnonzero(self.min_dist > 0.0)[-1])
        return self.point(i + self.offset)


def dask_badge_select(emb, proba, n_select, rng, poll_seconds=0.2):
    """``badge_select`` for Dask arrays ``emb`` and ``proba``: the same
    picks for the same ``rng`` up to the rounding of the cumulative D²
    (see the module). Two round trips a pick."""
    cluster = Cluster(poll_seconds=poll_seconds)
    emb = rows_chunked(cluster, emb, "pool_embeddings")
    proba = rows_chunked(cluster, proba, "pool_proba", like=emb)
    n = emb.shape[0]
    chunks = WorkerBlocks(cluster, [emb, proba], _make_badge, {})
    try:
        score, last, q, h, sq = _farthest(chunks.call(BadgeChunk.largest))
        chosen, scores = [last], [score]
        while len(chosen) < n_select:
            totals = chunks.call(BadgeChunk.step, q, h, sq, last)
            total = sum(totals)
            if total > 0:  # as rng.choice(n, p=D² / ΣD²) draws
                target = rng.random() * total
                b = _crossing(totals, target)
                before = sum(totals[:b])
                point = chunks.call(BadgeChunk.locate, chunks.offsets[b],
                                    target - before)[b]
            else:  # every point coincides with a centre: uniform
                last = _nth_unchosen(int(rng.choice(n - len(chosen))),
                                     chosen)
                point = _owner(chunks.call(BadgeChunk.point, last))
            value, last, q, h, sq = point
            chosen.append(last)
            scores.append(value)
    finally:
        chunks.release()
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)


def _make_badge(h, p, *, offset):
    return BadgeChunk(h, p, offset=offset)


def _crossing(totals, target):
    """The first block whose cumulative sum exceeds ``target`` (the last
    one with any mass if rounding leaves none)."""
    running = 0.0
    for b, t in enumerate(totals):
        running += t
        if running > target and t > 0:
            return b
    return max(b for b, t in enumerate(totals) if t > 0)


def _nth_unchosen(j, chosen):
    """``np.setdiff1d(np.arange(n), chosen)[j]`` without the arange."""
    index = j
    for c in sorted(chosen):
        if c <= index:
            index += 1
        else:
            break
    return index


def _owner(parts):
    return next(p for p in parts if p is not None)
