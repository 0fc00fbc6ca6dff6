"""Chunks of rows: how the engine bounds its temporary memory.

Every O(N) pass over the pool (products with the embeddings, the
per-candidate updates, norms) works on chunks of rows whose temporaries
fit the selection's memory budget (``chunk_size`` of ``bait_select``).
"""

__all__ = ["rows_per_chunk", "chunks", "row_chunks"]


def rows_per_chunk(row_bytes, budget_bytes, n_rows):
    """How many rows of ``row_bytes`` each fit in ``budget_bytes`` (>= 1,
    <= ``n_rows``)."""
    return max(1, min(n_rows, budget_bytes // max(1, row_bytes)))


def chunks(n, step):
    """Consecutive slices of ``range(n)``, ``step`` long (the last may be
    shorter)."""
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def row_chunks(n_rows, row_bytes, budget_bytes):
    """Slices of ``n_rows`` rows whose temporaries, ``row_bytes`` a row,
    fit in ``budget_bytes``."""
    return chunks(n_rows, rows_per_chunk(row_bytes, budget_bytes, n_rows))
