"""The last-layer Fisher information and its Kronecker factor.

Conventions (``docs/design.md`` §1, §5): a point has an embedding ``h`` (d)
and, for classification, class probabilities ``p`` (k). Its Fisher is
``I(x) = W ⊗ h hᵀ`` with ``W = diag(p) - p pᵀ``, rows and columns indexed
class-major (``c*d + j``). ``W = G Gᵀ`` with ``G = (I - p 1ᵀ) diag(√p)``, so
``I(x) = V Vᵀ`` with ``V = G ⊗ h`` (dk × k). Regression is the rank-one case
``I(x) = h hᵀ``: k = 1 and ``G = 1``.

A rule may centre and weigh the factor apart: ``G = (I - p 1ᵀ) diag(√w)``,
``W = G Gᵀ = diag(w) - p wᵀ - w pᵀ + (Σw) p pᵀ`` (the classification
Fisher is w = p). Its "probabilities" are then the (n, k, 2) array of
:func:`weighted_probabilities`, which every function here that takes
``p`` accepts (:func:`factor_rows`); ``G`` still annihilates ``1_k`` as
long as p sums to one.

Nothing per-candidate of size dk is ever formed: everything per candidate is
k × k, reached through the closed form of ``Gᵀ Y`` and block quadratic forms.
Per-candidate symmetric k × k matrices are stored packed: the upper triangle,
row by row, so that row ``a`` from column ``a`` on is one contiguous slice.
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
    """Add ``Σ_x I(x)`` over the rows of ``h`` (and ``p``) to ``total``.

    ``total`` is a float64 dk × dk (regression: d × d) array updated in
    place, block column by block column, on and above the diagonal only
    (regression adds the whole, small, d × d product); the caller mirrors
    it (``mirror_upper``) when all sums are in. Block
    (a, b) of the classification Fisher is ``Σ_x (δ_ab p_a - p_a p_b) h hᵀ``:
    the product of the rows ``p ⊗ h`` with their b-th block, plus a
    weighted Gram matrix on the diagonal. The products run in
    ``gemm_dtype``, ``width`` columns at a time, so that no temporary is
    larger than dk × width. ``blocks`` (default: all) restricts the work
    to some block columns b, which write disjoint parts of ``total``, so
    that several threads can share it.

    Weighted factors (:func:`factor_rows`) have the blocks
    ``Σ_x (δ_ab w_a - p_a v_b - v_a p_b) h hᵀ`` with ``v = w - (Σw) p / 2``:
    two products instead of one.
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
    """Rows of a chunk of the Fisher sums (``add_fisher_upper``): a power
    of two of the shape and budget only (``chunks.tile_rows``), so that
    each chunk's product is the same number on one pool and on the blocks
    of a Dask pool. Every chunk adds into all of ``total`` (a pass over
    dk × dk float64 memory): chunks of fewer than a few hundred rows would
    spend more time there than in the products."""
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
    # (k, d, n, k): entry [c, j, i, m] = G_i[c, m] · h_i[j]. The small
    # operands are made contiguous in that axis order first, so that the
    # product is laid out as the result and the reshape copies nothing.
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
    """Add one column group's share of ``h_xᵀ P_ab h_x`` (a ≤ b) to ``state``.

    P is a symmetric dk × dk matrix that is never held whole: ``part`` is
    ``P[:(b+1)·d, b·d + cols]``, the rows on and above the diagonal block
    of some columns ``cols`` (a slice of range(d)) of block column b, in
    ``h``'s dtype (the dtype the products run in). ``state`` is
    (n, k(k+1)/2), packed (upper triangle, row by row); entry (a, b) of row
    x gains ``Σ_{i ∈ cols} h_x[i] (P_ab[:, i] · h_x)``. Summed over all
    column groups and all b this is ``Q_x[a, b] = h_xᵀ P_ab h_x``.
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
    """``√(q (1 - q)) · h`` with q the top class's probability: the factor
    of the binary Fisher ``q (1 - q) h hᵀ`` (None stays None).

    The product is formed in float64 (float32 embeddings stay float32),
    a chunk of rows at a time: its temporaries stay in cache instead of
    costing two passes over a float64 copy of the pool."""
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
