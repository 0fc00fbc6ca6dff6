"""Chunks of rows: how the engine bounds its temporary memory.

Every O(N) pass over the pool (products with the embeddings, the
per-candidate updates, norms) works on chunks of rows whose temporaries
fit the selection's memory budget (``chunk_size`` of ``bait_select``).
"""

__all__ = ["rows_per_chunk", "chunks", "row_chunks", "chunk_budget"]

# Temporaries of a chunk of pool rows: between 1 and 16 MiB, no more than the
# pool's own arrays and small next to the two dk × dk matrices a selection
# holds anyway (an eighth of one).
_MAX_CHUNK_BYTES = 16 * 2**20
_MIN_CHUNK_BYTES = 2**20


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


def chunk_budget(chunk_size, d, k, pool_bytes, on_numpy=True):
    """Bytes of a chunk's temporaries (``chunk_size``: rows, or None for
    the default). On a GPU (any namespace but NumPy) chunks may be 16
    times larger: every chunk's operations are kernel launches of their
    own, and a device's memory is large (a step of block-diagonal BAIT at
    N = 10⁶, k = 100 launched about 10 000 of them in 16 MiB chunks)."""
    if chunk_size is None:
        square = 8 * (d * k) ** 2
        largest = _MAX_CHUNK_BYTES * (1 if on_numpy else 16)
        return max(_MIN_CHUNK_BYTES, min(largest, square // 8, pool_bytes))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) \
            or chunk_size < 1:
        raise ValueError(
            f"chunk_size must be a positive integer or None; got "
            f"{chunk_size!r}.")
    # The budget is in bytes; a chunk's widest row is about 8·(d·k + 2k²)·3.
    return chunk_size * 24 * (d * k + 2 * k * k)
