"""Chunks of rows, which bound the engine's temporary memory.

Chunks are a power of two rows, at most :func:`tile_rows` (of the budget
only): a piece of the pool that starts at a multiple of it (a Dask block)
is cut as the whole pool is, so every product over it is the same number.
"""

__all__ = ["rows_per_chunk", "chunks", "row_chunks", "fused_chunks",
           "chunk_budget", "tile_rows", "aligned_boundaries"]

# A chunk's temporaries: 1 to 16 MiB, at most the pool's own arrays and an
# eighth of a dk × dk matrix.
_MAX_CHUNK_BYTES = 16 * 2**20
_MIN_CHUNK_BYTES = 2**20
# The longest chunk is the budget over this many bytes.
_TILE_ROW_BYTES = 256


def _floor_power_of_two(n):
    return 1 << (max(1, int(n)).bit_length() - 1)


def tile_rows(budget_bytes):
    """The longest chunk of any pass, in rows (a power of two)."""
    return _floor_power_of_two(budget_bytes // _TILE_ROW_BYTES)


def rows_per_chunk(row_bytes, budget_bytes, n_rows):
    """How many rows of ``row_bytes`` each fit in ``budget_bytes``: a
    power of two, at most :func:`tile_rows` (>= 1, <= ``n_rows``)."""
    rows = _floor_power_of_two(budget_bytes // max(1, row_bytes))
    return max(1, min(n_rows, rows, tile_rows(budget_bytes)))


def aligned_boundaries(sizes, tile):
    """Block sizes like ``sizes`` with each boundary moved to the nearest
    multiple of ``tile`` (blocks that vanish dropped)."""
    n = sum(sizes)
    bounds, start = [], 0
    for size in sizes[:-1]:
        start += size
        bound = tile * round(start / tile)
        if 0 < bound < n and (not bounds or bound > bounds[-1]):
            bounds.append(bound)
    edges = [0] + bounds + [n]
    return [b - a for a, b in zip(edges[:-1], edges[1:])]


def chunks(n, step):
    """Consecutive slices of ``range(n)``, ``step`` long (the last may be
    shorter)."""
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def row_chunks(n_rows, row_bytes, budget_bytes):
    """Slices of ``n_rows`` rows whose temporaries, ``row_bytes`` a row,
    fit in ``budget_bytes``."""
    return chunks(n_rows, rows_per_chunk(row_bytes, budget_bytes, n_rows))


def fused_chunks(n_rows, row_bytes, budget_bytes):
    """Slices for a kernel that forms its products itself, a block of
    rows at a time (``fuses_gemm``): a row's numbers depend only on its
    blocks starting at multiples of ``PIECE_ROWS``, not on where a chunk
    ends, so its chunks are as long as the budget allows (at least
    :func:`tile_rows`, whose multiples they start at), each a hand-off to
    the engine's threads."""
    rows = max(tile_rows(budget_bytes),
               _floor_power_of_two(budget_bytes // max(1, row_bytes)))
    return chunks(n_rows, rows)


def chunk_budget(chunk_size, d, k, pool_bytes, on_numpy=True):
    """Bytes of a chunk's temporaries (``chunk_size``: rows, or None). Off
    NumPy (a GPU) up to 16 times more: each chunk is kernel launches."""
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
