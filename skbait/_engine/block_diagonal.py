"""BAIT on the block-diagonal part of the Fisher (``approximation=
"block_diagonal"``; docs/design.md, "Approximations for many classes").

The classification Fisher ``I(x) = (diag(p) - p pᵀ) ⊗ h hᵀ`` is kept on its k
diagonal d × d blocks only: class c gets ``w_xc · h hᵀ`` with
``w_xc = p_xc (1 - p_xc)``. F and M split into k independent d × d blocks,
the objective into ``Σ_c tr(M_c⁻¹ F_c)``, and a candidate adds a rank-one
term ``s · w_xc · h hᵀ`` to every block (s = B / (n_l + B), the authors'
weighting as in the exact rule). So a point's gain is a sum of k
Sherman-Morrison terms

    gain(x) = Σ_c s w_xc b_xc / (1 + s w_xc a_xc),

with ``a_xc = hᵀ M_c⁻¹ h`` and ``b_xc = hᵀ M_c⁻¹ F_c M_c⁻¹ h`` kept for every
candidate (n × k each), and the backward cost the same with ``1 - s w a``.
Memory O(k·d² + n·k); set-up O(n·k·d²); a greedy step O(n·k·d) (two GEMMs
of the pool against k vectors) plus O(k·d²).

Committing point s with sign σ, per class: ``v = √(s w_sc) h_s``,
``u = M_c⁻¹ v``, ``β = σ / (1 + σ vᵀu)``, ``z = M_c⁻¹ F_c u``,
``g = uᵀ F_c u``; then ``M_c⁻¹ ← M_c⁻¹ - β u uᵀ`` and, with ``t = hᵀu`` and
``r = hᵀz`` for every candidate,

    a ← a - β t²,        b ← b - 2 β t r + β² g t².
"""

import math

from .chunks import chunks
from .greedy import GreedyResult
from .threads import row_ranges, run_tasks
from .ties import argbest  # the tie rule shared with the exact engine

__all__ = ["block_diagonal_select"]


def block_diagonal_select(xp, h_pool, p_pool, h_lab, p_lab, n_select, *,
                          lam, oversample, gemm_dtype, rtol, rows, n_jobs=1):
    """Forward-backward greedy on ``Σ_c tr(M_c⁻¹ F_c)``.

    Parameters
    ----------
    xp : namespace
    h_pool, p_pool : arrays (n, d), (n, k)
    h_lab, p_lab : arrays (n_l, d), (n_l, k), or None
    n_select : int
    lam : float
        λ in the units of ``h`` (the caller has normalised the scale).
    oversample : float
    gemm_dtype : dtype of ``xp`` for the O(n) products
    rtol : float
        Relative tie tolerance (smaller index wins).
    rows : int
        Pool rows per chunk of the set-up's products.
    n_jobs : int
        Threads sharing the classes (set-up) and the pool rows (steps); the
        caller limits BLAS to one thread.

    Returns
    -------
    GreedyResult
        As ``greedy_select``'s (no timings).
    """
    n, d = h_pool.shape
    k = p_pool.shape[1]
    n_lab = 0 if h_lab is None else h_lab.shape[0]
    scale = n_select / (n_lab + n_select)
    f64 = xp.float64
    h64 = xp.astype(h_pool, f64)
    w_pool = _weights(xp, p_pool)
    fisher = _block_grams(xp, h_pool, w_pool, gemm_dtype, rows, n_jobs)
    if n_lab:
        w_lab = _weights(xp, p_lab)
        lab = _block_grams(xp, h_lab, w_lab, gemm_dtype, rows, n_jobs)
        fisher = (fisher + lab) / (n + n_lab)
        eye = xp.eye(d, dtype=f64)
        m_inv = xp.linalg.inv(lam * eye[None, :, :] + lab / (n_lab + n_select))
        m_inv = 0.5 * (m_inv + xp.permute_dims(m_inv, (0, 2, 1)))
    else:
        fisher = fisher / n
        m_inv = xp.broadcast_to(xp.eye(d, dtype=f64) / lam, (k, d, d))
        m_inv = xp.asarray(m_inv, copy=True)
    # M_c = λI + L_cᵀ L_c with L_c the n_l weighted labeled rows: the
    # a-states need only that low rank (N·d·n_l per class, not N·d²).
    # Without a labeled set the factor is empty: a = ‖h‖² / λ.
    low_rank = xp.zeros((k, 0, d), dtype=f64)
    if n_lab:
        low_rank = _low_rank_factor(xp, h_lab, w_lab, lam,
                                    n_lab + n_select)
    a, b = _states(xp, h_pool, m_inv, fisher, gemm_dtype, rows, n_jobs,
                   low_rank=low_rank, lam=lam)
    objective = [float(xp.sum(m_inv * fisher))]

    def scores(a_, b_, w_, sigma):
        denom = 1.0 + sigma * scale * w_ * a_
        terms = scale * w_ * b_ / xp.where(denom > 0, denom, 1.0)
        total = xp.sum(terms, axis=1)
        return xp.where(xp.all(denom > 0, axis=1), total, xp.inf)

    def commit(i, h_row, sigma, targets):
        """Update M⁻¹ for adding/removing point i; update ``targets``
        (list of (h, a, b) with h the rows to update)."""
        v = xp.sqrt(scale * w_pool[i, :])[:, None] * h_row[None, :]  # (k, d)
        u = _apply(xp, m_inv, v)
        beta = sigma / (1.0 + sigma * xp.sum(v * u, axis=1))        # (k,)
        fu = _apply(xp, fisher, u)
        z = _apply(xp, m_inv, fu)
        g = xp.sum(u * fu, axis=1)
        for c in range(k):  # in place, one d × d block at a time
            m_inv[c, :, :] -= float(beta[c]) * (u[c, :, None] * u[c, None, :])
        for h_t, a_t, b_t in targets:
            uz = xp.astype(xp.concat([u.T, z.T], axis=1), h_t.dtype)

            def rows_update(start, stop, h_t=h_t, a_t=a_t, b_t=b_t, uz=uz):
                tr = xp.astype(xp.matmul(h_t[start:stop, :], uz), f64)
                t, r = tr[:, :k], tr[:, k:]
                a_t[start:stop, :] -= beta * t * t
                b_t[start:stop, :] -= (2.0 * beta * t * r
                                       - beta * beta * g * t * t)

            run_tasks([(lambda lo=lo, hi=hi: rows_update(lo, hi))
                       for lo, hi in row_ranges(h_t.shape[0], n_jobs)], n_jobs)

    h_gemm = xp.astype(h_pool, gemm_dtype)
    n_forward = min(n, math.ceil(oversample * n_select))
    available = xp.ones((n,), dtype=xp.bool)
    chosen, gains = [], []
    for step in range(n_forward):
        masked = xp.where(available, scores(a, b, w_pool, 1.0), -xp.inf)
        best = argbest(xp, masked, rtol, maximize=True)
        chosen.append(best)
        gains.append(float(masked[best]))
        objective.append(objective[-1] - gains[-1])
        available[best] = False
        if step + 1 < n_forward:
            commit(best, h64[best, :], 1.0, [(h_gemm, a, b)])
    kept = list(chosen)
    if len(chosen) > n_select:
        last = chosen[-1]
        commit(last, h64[last, :], 1.0, [])
        members = sorted(chosen)
        idx = xp.asarray(members)
        h_sel = xp.take(h64, idx, axis=0)
        w_sel = xp.take(w_pool, idx, axis=0)
        # Exact float64 states of the chosen points: a removal divides by
        # 1 - s w a, which rounding in the carried states can make
        # meaningless at small λ.
        a_sel, b_sel = _states(xp, h_sel, m_inv, fisher, f64, len(members),
                               1)
        alive = xp.ones((len(members),), dtype=xp.bool)
        removed = set()
        for _ in range(len(chosen) - n_select):
            costs = xp.where(alive, scores(a_sel, b_sel, w_sel, -1.0), xp.inf)
            pos = argbest(xp, costs, rtol, maximize=False)
            objective.append(objective[-1] + float(costs[pos]))
            alive[pos] = False
            removed.add(members[pos])
            commit(members[pos], h_sel[pos, :], -1.0, [(h_sel, a_sel, b_sel)])
        kept = [i for i in chosen if i not in removed]
    gain_of = dict(zip(chosen, gains))
    return GreedyResult(kept=kept, forward=chosen, objective=objective,
                        gains=[gain_of[i] for i in kept])


def _apply(xp, mats, vecs):
    """``mats[c] @ vecs[c]`` for every c: (k, d, d), (k, d) -> (k, d)."""
    return xp.matmul(mats, vecs[:, :, None])[:, :, 0]


def _weights(xp, p):
    p = xp.astype(p, xp.float64)
    return p * (1.0 - p)


def _class_groups(k, n_jobs):
    """Classes dealt to ``n_jobs`` threads (each writes only its own)."""
    return [list(range(j, k, n_jobs)) for j in range(min(k, n_jobs))]


def _block_grams(xp, h, w, gemm_dtype, rows, n_jobs=1):
    """(k, d, d) float64: ``Σ_x w_xc h_x h_xᵀ`` for every class c."""
    n, d = h.shape
    k = w.shape[1]
    out = xp.zeros((k, d, d), dtype=xp.float64)

    def classes(group):
        for part in chunks(n, rows):
            hc = xp.astype(h[part, :], gemm_dtype)
            wc = xp.astype(w[part, :], gemm_dtype)
            for c in group:
                gram = xp.matmul(xp.matrix_transpose(hc * wc[:, c:c + 1]), hc)
                out[c, :, :] += xp.astype(gram, xp.float64)

    run_tasks([(lambda g=g: classes(g)) for g in _class_groups(k, n_jobs)],
              n_jobs)
    return out


def _low_rank_factor(xp, h_lab, w_lab, lam, denom):
    """(k, n_l, d) ``R_c = chol(λI + L_c L_cᵀ)⁻¹ L_c``, where
    ``L_c = √(w_c / denom) · H_lab``, so that
    ``hᵀ M_c⁻¹ h = (‖h‖² - ‖R_c h‖²) / λ`` (Woodbury)."""
    h = xp.astype(h_lab, xp.float64)
    factors = xp.sqrt(xp.permute_dims(w_lab, (1, 0)) / denom)  # (k, n_l)
    lc = factors[:, :, None] * h[None, :, :]                     # (k, n_l, d)
    kern = xp.matmul(lc, xp.permute_dims(lc, (0, 2, 1)))
    kern = kern + lam * xp.eye(h.shape[0], dtype=xp.float64)[None, :, :]
    chol = xp.linalg.cholesky(kern)
    return xp.matmul(xp.linalg.inv(chol), lc)


def _states(xp, h, m_inv, fisher, gemm_dtype, rows, n_jobs=1,
            low_rank=None, lam=None):
    """``a_xc = hᵀ M_c⁻¹ h`` and ``b_xc = hᵀ M_c⁻¹ F_c M_c⁻¹ h`` (n × k).

    Without ``low_rank`` the a-states come from M⁻¹ itself; with it (the
    factor of ``_low_rank_factor``, and λ) from ``(‖h‖² - ‖R_c h‖²) / λ``.
    """
    n = h.shape[0]
    k = m_inv.shape[0]
    c_mat = xp.matmul(xp.matmul(m_inv, fisher), m_inv)
    a = xp.empty((n, k), dtype=xp.float64)
    b = xp.empty((n, k), dtype=xp.float64)
    c_mat = xp.astype(c_mat, gemm_dtype)
    a_mats = (xp.astype(m_inv, gemm_dtype) if low_rank is None
              else xp.astype(xp.permute_dims(low_rank, (0, 2, 1)),
                             gemm_dtype))

    def classes(group):
        for part in chunks(n, rows):
            hc = xp.astype(h[part, :], gemm_dtype)
            norms = xp.sum(xp.astype(hc, xp.float64) ** 2, axis=1)
            for c in group:
                q = xp.sum(xp.matmul(hc, c_mat[c, :, :]) * hc, axis=1)
                b[part, c] = xp.astype(q, xp.float64)
                if low_rank is None:
                    q = xp.sum(xp.matmul(hc, a_mats[c, :, :]) * hc, axis=1)
                    a[part, c] = xp.astype(q, xp.float64)
                else:
                    r = xp.astype(xp.matmul(hc, a_mats[c, :, :]), xp.float64)
                    a[part, c] = (norms - xp.sum(r * r, axis=1)) / lam

    run_tasks([(lambda g=g: classes(g)) for g in _class_groups(k, n_jobs)],
              n_jobs)
    return a, b
