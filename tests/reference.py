"""Slow reference implementations of the BAIT rule, for tests and benchmarks.

- ``dense_select``: the rule of ``docs/design.md`` §2 evaluated literally in
  float64: every candidate's dk × dk Fisher formed explicitly and
  ``tr((M ± Ĩ(x))⁻¹ F)`` computed by a dense solve. Small problems only.
- ``materialized_select``: the authors' algorithm as their code runs it
  (JordanAsh/badge ``bait_sampling.py``): per-point factors V materialised
  as an (N, k, dk) tensor and the Woodbury trace formula applied to all
  candidates with dense products at every greedy step. The benchmark's
  baseline for speed.

Both use NumPy float64 and break ties like ``bait_select`` (near-equal
objective decrease -> smaller pool index).
"""

import math

import numpy as np

__all__ = ["fisher_factors", "dense_select", "materialized_select",
           "dense_objective", "set_objective"]


def fisher_factors(h, p, g=None):
    """Per-point Fisher factors V (n, dk, r) with ``V Vᵀ = I(x)``: ``G ⊗ h``
    with ``G = (I - p 1ᵀ) diag(√p)``, or with the given ``g`` (n, k, r), a
    rule's ``reference_factors`` (then ``p`` is unused)."""
    h = np.asarray(h, dtype=np.float64)
    n, d = h.shape
    if g is None:
        if p is None:
            return h[:, :, None]
        p = np.asarray(p, dtype=np.float64)
        eye = np.eye(p.shape[1])
        g = (eye[None] - p[:, :, None]) * np.sqrt(p)[:, None, :]
    k, r = g.shape[1], g.shape[2]
    return (g[:, :, None, :] * h[:, None, :, None]).reshape(n, k * d, r)


def _setup(h_pool, p_pool, h_lab, p_lab, n_select, lam, g_pool=None,
           g_lab=None):
    v_pool = fisher_factors(h_pool, p_pool, g_pool)
    n_u, dk, _ = v_pool.shape
    if h_lab is None or len(h_lab) == 0:
        v_lab = np.zeros((0, dk, v_pool.shape[2]))
    else:
        v_lab = fisher_factors(h_lab, p_lab, g_lab)
    n_l = v_lab.shape[0]
    i_pool = np.einsum("nik,njk->nij", v_pool, v_pool)
    i_lab = np.einsum("nik,njk->ij", v_lab, v_lab)
    fisher = (i_pool.sum(0) + i_lab) / (n_u + n_l)
    m = lam * np.eye(dk) + i_lab / (n_l + n_select)
    scale = n_select / (n_l + n_select)
    return i_pool * scale, fisher, m, v_pool * math.sqrt(scale)


def dense_objective(m, fisher):
    """``tr(M⁻¹ F)`` by a dense solve."""
    return float(np.trace(np.linalg.solve(m, fisher)))


def set_objective(h_pool, indices, *, p_pool=None, h_lab=None, p_lab=None,
                  lam=1.0, n_select=None):
    """``tr(M⁻¹ F)`` after adding the pool points ``indices`` (float64).

    ``n_select`` sets the authors' weighting B / (n_l + B); it defaults to
    ``len(indices)``.
    """
    n_select = len(indices) if n_select is None else n_select
    i_tilde, f, m, _ = _setup(h_pool, p_pool, h_lab, p_lab, n_select, lam)
    return dense_objective(m + i_tilde[list(indices)].sum(0), f)


def _pick(values, current, rtol, candidates):
    """Smallest-index candidate whose objective is within the tie band."""
    values = np.asarray(values)
    best = values.min()
    band = rtol * abs(current - best)
    for cand, val in zip(candidates, values):
        if val <= best + band:
            return cand
    raise AssertionError("unreachable")


def dense_select(h_pool, n_select, *, p_pool=None, h_lab=None, p_lab=None,
                 lam=1.0, oversample=2.0, fisher="pool", rtol=1e-9,
                 return_objective=False, g_pool=None, g_lab=None):
    """The rule of docs/design.md §2, literally (explicit dk × dk matrices).

    ``g_pool``, ``g_lab``: the points' Fisher factors ``G`` (n, k, r) of a
    rule (its ``reference_factors``, one block) instead of exact BAIT's.
    """
    i_tilde, f, m, _ = _setup(h_pool, p_pool, h_lab, p_lab, n_select, lam,
                              g_pool, g_lab)
    if fisher == "identity":
        f = np.eye(f.shape[0])
    n_u = i_tilde.shape[0]
    n_forward = min(n_u, math.ceil(oversample * n_select))
    chosen = []
    trace = [dense_objective(m, f)]
    for _ in range(n_forward):
        cands = [x for x in range(n_u) if x not in chosen]
        vals = [dense_objective(m + i_tilde[x], f) for x in cands]
        x = _pick(vals, trace[-1], rtol, cands)
        chosen.append(x)
        m = m + i_tilde[x]
        trace.append(dense_objective(m, f))
    while len(chosen) > n_select:
        cands = sorted(chosen)
        vals = [dense_objective(m - i_tilde[x], f) for x in cands]
        x = _pick(vals, trace[-1], rtol, cands)
        chosen.remove(x)
        m = m - i_tilde[x]
        trace.append(dense_objective(m, f))
    if return_objective:
        return chosen, trace
    return chosen


def materialized_select(h_pool, n_select, *, p_pool=None, h_lab=None,
                        p_lab=None, lam=1.0, oversample=2.0, rtol=1e-9,
                        chunk_rows=512, max_steps=None, step_times=None):
    """The authors' dense algorithm: V materialised, Woodbury per candidate.

    Per greedy step and candidate it evaluates ``tr(Vᵀ M⁻¹ F M⁻¹ V (I +
    Vᵀ M⁻¹ V)⁻¹)`` from the (N, k, dk) tensor with dense products, as the
    authors' code does (``X M⁻¹`` is shared by both traces here, one GEMM
    fewer than their code). ``max_steps`` stops the forward pass early (for
    timing); ``step_times`` collects each forward step's seconds.
    """
    import time

    v_all = fisher_factors(h_pool, p_pool)  # (n, dk, k), unscaled
    n_u, dk, k = v_all.shape
    if h_lab is None or len(h_lab) == 0:
        lab_sum = np.zeros((dk, dk))
        n_l = 0
    else:
        v_lab = fisher_factors(h_lab, p_lab)
        n_l = v_lab.shape[0]
        lab_sum = np.einsum("nik,njk->ij", v_lab, v_lab)
    fisher = (np.einsum("nik,njk->ij", v_all, v_all) + lab_sum) / (n_u + n_l)
    m_inv = np.linalg.inv(lam * np.eye(dk) + lab_sum / (n_l + n_select))
    x_all = np.ascontiguousarray(
        np.swapaxes(v_all, 1, 2)) * math.sqrt(n_select / (n_l + n_select))
    del v_all
    n_forward = min(n_u, math.ceil(oversample * n_select))
    if max_steps is not None:
        n_forward = min(n_forward, max_steps)
    chosen = []
    eye = np.eye(k)

    def scores(rows, sign):
        out = np.empty(len(rows))
        for s in range(0, len(rows), chunk_rows):
            xs = x_all[rows[s:s + chunk_rows]]  # (n, k, dk)
            n = xs.shape[0]
            xm = (xs.reshape(n * k, dk) @ m_inv).reshape(n, k, dk)
            xmf = (xm.reshape(n * k, dk) @ fisher).reshape(n, k, dk)
            xmfm = (xmf.reshape(n * k, dk) @ m_inv).reshape(n, k, dk)
            num = xmfm @ np.swapaxes(xs, 1, 2)
            inner = sign * eye + xm @ np.swapaxes(xs, 1, 2)
            out[s:s + chunk_rows] = np.trace(
                num @ np.linalg.inv(inner), axis1=1, axis2=2)
        return out

    def commit(x, sign):
        nonlocal m_inv
        xt = x_all[x]  # (k, dk)
        inner = np.linalg.inv(sign * eye + xt @ m_inv @ xt.T)
        m_inv = m_inv - m_inv @ xt.T @ inner @ xt @ m_inv

    all_rows = np.arange(n_u)
    for _ in range(n_forward):
        start = time.perf_counter()
        gain = scores(all_rows, 1.0)
        gain[chosen] = -np.inf
        best = gain.max()
        near = np.flatnonzero(gain >= best - rtol * abs(best))
        x = int(near[0])
        chosen.append(x)
        commit(x, 1.0)
        if step_times is not None:
            step_times.append(time.perf_counter() - start)
    while len(chosen) > n_select:
        members = np.array(sorted(chosen))
        # (I - A)⁻¹ enters with the sign of the removal: cost = -trace term.
        cost = -scores(members, -1.0)
        best = cost.min()
        near = np.flatnonzero(cost <= best + rtol * abs(best))
        x = int(members[near[0]])
        chosen.remove(x)
        commit(x, -1.0)
    return chosen
