"""The last-layer Fisher information and its Kronecker factor.

Conventions (``shared/DESIGN.md`` §1, §3): a point has an embedding ``h`` (d)
and, for classification, class probabilities ``p`` (k). Its Fisher is
``I(x) = W ⊗ h hᵀ`` with ``W = diag(p) - p pᵀ``, rows and columns indexed
class-major (``c*d + j``). ``W = G Gᵀ`` with ``G = (I - p 1ᵀ) diag(√p)``, so
``I(x) = V Vᵀ`` with ``V = G ⊗ h`` (dk × k). Regression is the rank-one case
``I(x) = h hᵀ``: k = 1 and ``G = 1``.

Nothing per-candidate of size dk is ever formed: everything per candidate is
k × k, reached through the closed form of ``Gᵀ Y`` and block quadratic forms.
Per-candidate symmetric k × k matrices are stored packed: the upper triangle,
row by row, so that row ``a`` from column ``a`` on is one contiguous slice.
"""

from array_api_compat import device as _device

__all__ = [
    "n_packed",
    "packed_offset",
    "unpack_symmetric",
    "pack_symmetric",
    "gt_apply",
    "gt_q_g",
    "fisher_sum",
    "point_factor",
    "block_quadratic_forms",
    "rows_per_chunk",
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


def gt_apply(xp, y, p):
    """``Gᵀ Y`` for a batch: y (n, ..., k, m), p (n, k) -> same shape as y.

    ``Gᵀ = diag(√p) (I - 1 pᵀ)``, so ``(Gᵀ Y)[c, j] = √p_c (Y[c, j] -
    Σ_a p_a Y[a, j])``: O(k·m) per point instead of a k × k product.
    """
    extra = y.ndim - 3
    shape = (p.shape[0],) + (1,) * extra + (p.shape[1], 1)
    pb = xp.reshape(p, shape)
    mean = xp.sum(pb * y, axis=-2, keepdims=True)
    return xp.sqrt(pb) * (y - mean)


def gt_q_g(xp, q, p):
    """``Gᵀ Q G`` for a batch of symmetric Q: q (n, k, k), p (n, k).

    Closed form: ``√p_i √p_j (Q_ij - (Qp)_i - (Qp)_j + pᵀQp)``.
    """
    qp = xp.sum(q * p[:, None, :], axis=2)  # (n, k)
    pqp = xp.sum(qp * p, axis=1)  # (n,)
    centred = q - qp[:, :, None] - qp[:, None, :] + pqp[:, None, None]
    sp = xp.sqrt(p)
    return sp[:, :, None] * centred * sp[:, None, :]


def rows_per_chunk(row_bytes, budget_bytes, n_rows):
    """How many rows of ``row_bytes`` each fit in ``budget_bytes`` (>= 1)."""
    return max(1, min(n_rows, budget_bytes // max(1, row_bytes)))


def fisher_sum(xp, h, p, *, gemm_dtype, budget_bytes):
    """``Σ_x I(x)`` over the rows of ``h`` (and ``p``), as a float64 matrix.

    Classification: ``Σ diag(p) ⊗ h hᵀ - Σ (p ⊗ h)(p ⊗ h)ᵀ``, i.e. k weighted
    Gram matrices for the diagonal blocks and one symmetric product of the
    (n, dk) rows ``p ⊗ h``, formed a chunk at a time. Regression: ``Hᵀ H``.
    The products run in ``gemm_dtype``; the sum accumulates in float64.
    """
    n, d = h.shape
    dev = _device(h)
    if p is None:
        total = xp.zeros((d, d), dtype=xp.float64, device=dev)
        step = rows_per_chunk(d * _itemsize(xp, gemm_dtype), budget_bytes, n)
        for start in range(0, n, step):
            hc = xp.astype(h[start:start + step, :], gemm_dtype)
            total = total + xp.astype(xp.matmul(hc.T, hc), xp.float64)
        return total
    k = p.shape[1]
    dk = d * k
    total = xp.zeros((dk, dk), dtype=xp.float64, device=dev)
    step = rows_per_chunk(2 * dk * _itemsize(xp, gemm_dtype), budget_bytes, n)
    for start in range(0, n, step):
        hc = xp.astype(h[start:start + step, :], gemm_dtype)
        pc = xp.astype(p[start:start + step, :], gemm_dtype)
        rows = xp.reshape(pc[:, :, None] * hc[:, None, :], (hc.shape[0], dk))
        total = total - xp.astype(xp.matmul(rows.T, rows), xp.float64)
        for a in range(k):
            weighted = hc * pc[:, a:a + 1]
            block = xp.astype(xp.matmul(weighted.T, hc), xp.float64)
            sl = slice(a * d, (a + 1) * d)
            total[sl, sl] = total[sl, sl] + block
    return total


def point_factor(xp, h, p):
    """``V = G ⊗ h`` (dk × k, float64) for one point; ``h`` (d,), ``p`` (k,)."""
    h = xp.astype(h, xp.float64)
    if p is None:
        return xp.reshape(h, (h.shape[0], 1))
    p = xp.astype(p, xp.float64)
    k = p.shape[0]
    eye = xp.eye(k, dtype=xp.float64, device=_device(h))
    g = (eye - p[:, None]) * xp.sqrt(p)[None, :]  # (I - p 1ᵀ) diag(√p)
    # Class-major rows: row c*d + j of V is G[c, :] * h[j].
    return xp.reshape(g[:, None, :] * h[None, :, None], (k * h.shape[0], k))


def block_quadratic_forms(xp, h, mat, k):
    """``Q[x, a, b] = h_xᵀ P_ab h_x`` for a symmetric dk × dk ``mat``.

    Only the blocks with a <= b are computed (one GEMM per block row a,
    against a view of ``mat``); the lower ones are mirrored. The products
    run in ``mat``'s dtype. Returns (n, k, k) float64.
    """
    n, d = h.shape
    hc = xp.astype(h, mat.dtype, copy=False)
    blocks = []
    for a in range(k):
        t = xp.matmul(hc, mat[a * d:(a + 1) * d, a * d:])
        t = xp.reshape(t, (n, k - a, d))
        # Batched (k - a, d) @ (d, 1) products: one pass, no (n, k, d) copy.
        q = xp.matmul(t, hc[:, :, None])[:, :, 0]
        blocks.append(xp.astype(q, xp.float64))
    upper = xp.concat(blocks, axis=1)  # packed rows
    return unpack_symmetric(xp, upper, k)


def _itemsize(xp, dtype):
    return 8 if dtype == xp.float64 else 4
