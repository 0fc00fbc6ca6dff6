"""Dask pools for the query layer: features extracted on the workers.

:class:`DaskPool` sees a Dask array or DataFrame pool as its row blocks;
:meth:`DaskPool.features` extracts each block's features where it is, by
the same extractors and checks as a NumPy pool (the same errors), and
keeps them there for the engine. Nothing with a row per pool point comes
to the client. Every interaction with the workers goes through
``_engine/cluster/client.Cluster``.
"""

import copy
import math

import numpy as np

from .._engine.cluster.client import Cluster, computed

__all__ = ["DaskPool", "computed"]


class DaskPool:
    """A Dask array, DataFrame or Series pool ``X`` (named ``name`` in
    errors) as its blocks of whole samples: ``n`` samples, ``sizes`` those
    of each non-empty block, ``cluster`` the active client's."""

    def __init__(self, X, name):
        self.cluster = Cluster()
        self.name = name
        blocks = _row_blocks(X, name)
        sizes = _block_sizes(self.cluster, X, blocks)
        starts = np.cumsum([0] + sizes[:-1])
        # Each block: (delayed block, its first pool index, the rows to use
        # or None for all, how many). Blocks without samples are left out.
        self._blocks = [(b, int(start), None, size)
                        for b, start, size in zip(blocks, starts, sizes)
                        if size]

    @property
    def n(self):
        return int(sum(size for *_, size in self._blocks))

    @property
    def sizes(self):
        return [size for *_, size in self._blocks]

    def take(self, rows):
        """The pool's rows ``rows`` (sorted indices into the whole pool),
        lazily: each block keeps its own rows, taken on its worker."""
        rows = np.asarray(rows, dtype=np.int64)
        out = copy.copy(self)
        out._blocks = []
        for block, start, _, size in self._blocks:
            local = rows[(rows >= start) & (rows < start + size)] - start
            if local.size:
                out._blocks.append((block, start, local, int(local.size)))
        return out

    def features(self, estimator, extract):
        """Dask arrays ``(embeddings, proba)`` (or None where ``extract``
        gives None) of the pool, a row chunk per block, persisted on the
        workers; ``extract(estimator, X_block)`` is the query layer's
        picklable extraction, ``estimator`` sent to the cluster once."""
        import dask
        import dask.array as da

        cluster = self.cluster
        # A task holding the estimator: it reaches each worker once and can
        # be formed again after a loss.
        shipped = cluster.ship((estimator, extract))
        run = dask.delayed(_block_features, pure=False)
        # The first block's error is raised: the same error as on NumPy.
        tasks = cluster.persist([run(shipped, b, r)
                                 for b, _, r, _ in self._blocks])
        # The columns (and whether there are any), from the first block.
        columns = cluster.compute([dask.delayed(_columns)(tasks[0])])[0]
        arrays = {}  # 0: embeddings, 1: proba; both from the same tasks
        for j, (width, dtype) in enumerate(columns):
            if width is not None:
                arrays[j] = da.concatenate(
                    [da.from_delayed(t[j], shape=(size, width), dtype=dtype)
                     for t, size in zip(tasks, self.sizes)], axis=0)
        if arrays:
            arrays = dict(zip(arrays, cluster.persist(list(arrays.values()))))
        return arrays.get(0), arrays.get(1)


def _columns(features):
    """``[(columns, dtype) or (None, None)]`` of a block's features."""
    return [(None, None) if x is None else (x.shape[1], x.dtype)
            for x in features]


def _block_features(shipped, block, rows):
    """``extract(estimator, block[rows])``, run where the block is."""
    estimator, extract = shipped
    if rows is not None:
        # pandas by position; NumPy, sparse and other arrays by index.
        block = block.iloc[rows] if hasattr(block, "iloc") else block[rows]
    return extract(estimator, block)


def _row_blocks(X, name):
    """The delayed row blocks of a Dask array, DataFrame or Series."""
    import dask.array as da

    if isinstance(X, da.Array):
        if X.ndim == 0:
            raise TypeError(f"{name} must be an array-like of samples; got a "
                            "0-d Dask array.")
        if X.ndim > 1:
            X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
        return list(X.to_delayed().reshape(-1))
    # By module: a Delayed answers every attribute (hasattr is no test).
    if type(X).__module__.startswith("dask.dataframe"):
        return list(X.to_delayed())
    raise TypeError(
        f"{name} is a Dask {type(X).__name__}; a Dask pool must be a Dask "
        "array, DataFrame or Series (samples along the first axis).")


def _block_sizes(cluster, X, blocks):
    """The samples of each block, computed on the workers when Dask does
    not know them (a DataFrame's partitions, an array with unknown
    chunks)."""
    import dask

    chunks = getattr(X, "chunks", None)
    if chunks is not None and not any(math.isnan(c) for c in chunks[0]):
        return [int(c) for c in chunks[0]]
    from .._validation import num_samples

    sizes = cluster.compute([dask.delayed(num_samples, pure=False)(b, "X")
                             for b in blocks])
    return [int(s) for s in sizes]
