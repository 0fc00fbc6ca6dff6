"""The last-layer Fisher ``I(x) = G Gᵀ ⊗ h hᵀ`` and its factor
``V = G ⊗ h`` (docs/design.md §1, §5), rows indexed class-major
(``c*d + j``); ``G = (I - p 1ᵀ) diag(√w)``, w = p unless the probabilities
are :func:`weighted_probabilities` (which every ``p`` here may be).
Symmetric k × k states are packed: the upper triangle, row by row.
"""

from array_api_compat import device as _device

from .chunks import chunks, row_chunks, rows_per_chunk, tile_rows

__all__ = [
    "n_packed",
    "packed_offset",
    "unpack_symmetric",
    "pack_symmetric",
    "gt_apply",
    "gt_q_g",
    "add_fisher_upper",
    "fisher_tile",
    "stacked_factors",
    "add_block_forms",
    "binary_embeddings",
    "weighted_probabilities",
    "factor_rows",
    "factor_point",
    "trace_weights",
]


def n_packed(k):
    """Number of stored entries of a packed symmetric k × k matrix."""
    return k * (k + 1) // 2


def packed_offset(a, k):
    """Index of entry (a, a) in the packed upper triangle."""
    return a * k - a * (a - 1) // 2


def _packed_index_table(k):
    """For every (i, j) of a k × k matrix, its position in packed storage."""
    table = []
    for i in range(k):
        for j in range(k):
            a, b = (i, j) if i <= j else (j, i)
            table.append(packed_offset(a, k) + (b - a))
    return table


def unpack_symmetric(xp, packed, k):
    """(n, k(k+1)/2) packed rows -> (n, k, k) symmetric matrices."""
    idx = xp.asarray(_packed_index_table(k), device=_device(packed))
    return xp.reshape(xp.take(packed, idx, axis=1), (packed.shape[0], k, k))


def pack_symmetric(xp, full, k):
    """(n, k, k) symmetric matrices -> (n, k(k+1)/2) packed rows."""
    flat = xp.reshape(full, (full.shape[0], k * k))
    idx = [i * k + j for i in range(k) for j in range(i, k)]
    return xp.take(flat, xp.asarray(idx, device=_device(full)), axis=1)


def weighted_probabilities(xp, p, w):
    """The (n, k, 2) "probabilities" of factors ``G = (I - p 1ᵀ) diag(√w)``
    centred by ``p`` and weighed by ``w`` (both (n, k))."""
    return xp.stack([xp.astype(p, xp.float64), xp.astype(w, xp.float64)],
                    axis=-1)


def factor_rows(xp, p):
    """``(p, w)`` of the rows' factors: the probabilities twice (the
    classification Fisher), or the halves of :func:`weighted_probabilities`
    (then ``p`` is (n, k, 2))."""
    if p.ndim == 3:
        return p[..., 0], p[..., 1]
    return p, p


def factor_point(xp, p):
    """``(p, w)`` of one point's factor (``p``: (k,) or (k, 2))."""
    if p.ndim == 2:
        return p[:, 0], p[:, 1]
    return p, p


def trace_weights(xp, p):
    """``tr(W)`` of every row (the Fisher's trace per unit ‖h‖²):
    ``Σw - 2 pᵀw + (Σw) ‖p‖²``, ``1 - ‖p‖²`` for the classification
    Fisher."""
    p = xp.astype(p, xp.float64)
    centring, w = factor_rows(xp, p)
    if w is centring:
        return 1.0 - xp.sum(p * p, axis=1)
    total = xp.sum(w, axis=1)
    return (total - 2.0 * xp.sum(centring * w, axis=1)
            + total * xp.sum(centring * centring, axis=1))


def gt_apply(xp, y, p):
    """``Gᵀ Y`` for a batch: y (n, ..., k, m), p (n, k) -> same shape as y.

    ``Gᵀ = diag(√w) (I - 1 pᵀ)``, so ``(Gᵀ Y)[c, j] = √w_c (Y[c, j] -
    Σ_a p_a Y[a, j])``: O(k·m) per point instead of a k × k product
    (w = p unless ``p`` is weighted, :func:`factor_rows`).
    """
    p, w = factor_rows(xp, p)
    extra = y.ndim - 3
    shape = (p.shape[0],) + (1,) * extra + (p.shape[1], 1)
    pb = xp.reshape(p, shape)
    mean = xp.sum(pb * y, axis=-2, keepdims=True)
    return xp.sqrt(xp.reshape(w, shape)) * (y - mean)


def gt_q_g(xp, q, p):
    """``Gᵀ Q G`` for a batch of symmetric Q: q (n, k, k), p (n, k).

    Closed form: ``√w_i √w_j (Q_ij - (Qp)_i - (Qp)_j + pᵀQp)`` (w = p
    unless ``p`` is weighted, :func:`factor_rows`).
    """
    p, w = factor_rows(xp, p)
    qp = xp.sum(q * p[:, None, :], axis=2)  # (n, k)
    pqp = xp.sum(qp * p, axis=1)  # (n,)
    centred = q - qp[:, :, None] - qp[:, None, :] + pqp[:, None, None]
    sw = xp.sqrt(w)
    return sw[:, :, None] * centred * sw[:, None, :]


def add_fisher_upper(xp, total, h, p, *, gemm_dtype, budget_bytes,
                     width=64, blocks=None):
    """Add ``Σ_x I(x)`` over the rows of ``h`` (and ``p``) to the float64
    ``total``, on and above the diagonal (the caller mirrors it).

    Block (a, b) is ``Σ_x (δ_ab p_a - p_a p_b) h hᵀ`` (weighted factors:
    ``Σ_x (δ_ab w_a - p_a v_b - v_a p_b) h hᵀ``, ``v = w - (Σw) p / 2``),
    formed in ``gemm_dtype``, ``width`` columns at a time; ``blocks``
    restricts the work to some block columns (threads share them).
    """
    n, d = h.shape
    k = 1 if p is None else p.shape[1]
    weighted = p is not None and p.ndim == 3
    for part in chunks(n, fisher_tile(d, k, _itemsize(xp, gemm_dtype),
                                      budget_bytes)):
        hc = xp.astype(h[part, :], gemm_dtype, copy=False)
        if p is None:
            total += xp.astype(xp.matmul(hc.T, hc), xp.float64)
            continue
        pc, wc = factor_rows(xp, xp.astype(p[part, ...], gemm_dtype,
                                           copy=False))
        rows = xp.reshape(pc[:, :, None] * hc[:, None, :],
                          (hc.shape[0], d * k))
        other = rows
        if weighted:
            vc = wc - 0.5 * xp.sum(wc, axis=1, keepdims=True) * pc
            other = xp.reshape(vc[:, :, None] * hc[:, None, :],
                               (hc.shape[0], d * k))
        for b in (range(k) if blocks is None else blocks):
            scaled = hc * wc[:, b:b + 1]
            for j0 in range(0, d, width):
                j1 = min(d, j0 + width)
                c0, c1 = b * d + j0, b * d + j1
                cross = xp.matmul(rows[:, :c1].T, other[:, c0:c1])
                if weighted:
                    cross = cross + xp.matmul(other[:, :c1].T,
                                              rows[:, c0:c1])
                total[:c1, c0:c1] -= xp.astype(cross, xp.float64)
                gram = xp.matmul(scaled[:, :j1].T, hc[:, j0:j1])
                total[b * d:c1, c0:c1] += xp.astype(gram, xp.float64)


def fisher_tile(d, k, itemsize, budget_bytes):
    """Rows of a chunk of the Fisher sums: a power of two of the shape and
    budget only (the same chunks on a Dask pool's blocks), at least a few
    hundred (each chunk adds into all of ``total``)."""
    step = rows_per_chunk(2 * d * k * itemsize, budget_bytes, 1 << 62)
    return max(min(256, tile_rows(budget_bytes)), step)


def stacked_factors(xp, h, p):
    """``[V_1, …, V_n]`` (dk × n·k, float64) for the rows of ``h``, ``p``:
    column ``i·k + m`` is column m of ``V_i = G_i ⊗ h_i``, so that the
    product with its transpose is ``Σ_i I(x_i)``."""
    h = xp.astype(h, xp.float64)
    n, d = h.shape
    if p is None:
        return xp.matrix_transpose(h)
    p, w = factor_rows(xp, xp.astype(p, xp.float64))
    k = p.shape[1]
    eye = xp.eye(k, dtype=xp.float64, device=_device(h))
    g = (eye[None, :, :] - p[:, :, None]) * xp.sqrt(w)[:, None, :]
    # [c, j, i, m] = G_i[c, m] · h_i[j], laid out so the reshape copies
    # nothing.
    gt = _contiguous(xp, xp.permute_dims(g, (1, 0, 2)))    # (k, n, k)
    ht = _contiguous(xp, xp.matrix_transpose(h))           # (d, n)
    v = gt[:, None, :, :] * ht[None, :, :, None]
    return xp.reshape(v, (k * d, n * k))


def _contiguous(xp, x):
    """``x`` as a new array in its own axis order (row-major)."""
    out = xp.empty(x.shape, dtype=x.dtype, device=_device(x))
    out[...] = x
    return out


def add_block_forms(xp, state, h, part, b, cols, k, *, budget_bytes):
    """Add one column group's share of ``h_xᵀ P_ab h_x`` (a ≤ b) to the
    packed ``state``: ``part`` is ``P[:(b+1)·d, b·d + cols]`` of a
    symmetric P never held whole, in ``h``'s dtype. Summed over the
    groups and b this is ``Q_x[a, b] = h_xᵀ P_ab h_x``.
    """
    n, d = h.shape
    width = part.shape[1]
    # (d, (b+1)·width): column a·width + i holds P_ab[:, i].
    w = xp.reshape(xp.permute_dims(xp.reshape(part, (b + 1, d, width)),
                                   (1, 0, 2)), (d, (b + 1) * width))
    for rows in row_chunks(n, 3 * (b + 1) * width * _itemsize(xp, h.dtype),
                           budget_bytes):
        hc = h[rows, :]
        t = xp.reshape(xp.matmul(hc, w), (hc.shape[0], b + 1, width))
        q = xp.vecdot(t, hc[:, None, cols], axis=-1)
        for a in range(b + 1):
            col = packed_offset(a, k) + (b - a)
            state[rows, col] += xp.astype(q[:, a], xp.float64)


def _itemsize(xp, dtype):
    return 8 if dtype == xp.float64 else 4


def binary_embeddings(xp, h, p, chunk_bytes=1 << 21):
    """``√(q (1 - q)) · h``, q the top class's probability (None stays
    None), formed in float64 a chunk of rows at a time."""
    if h is None:
        return None
    q = xp.max(xp.astype(p, xp.float64), axis=1)
    weight = xp.sqrt(xp.clip(q * (1.0 - q), 0.0, None))
    dtype = xp.float32 if h.dtype == xp.float32 else xp.float64
    out = xp.empty(h.shape, dtype=dtype, device=_device(h))
    for rows in row_chunks(h.shape[0], 16 * h.shape[1], chunk_bytes):
        part = xp.astype(h[rows, :], xp.float64) * weight[rows, None]
        out[rows, :] = xp.astype(part, dtype)
    return out
