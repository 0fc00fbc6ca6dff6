"""Greedy log-det of the full Fisher: the paper's "log-det" baseline (Fig. 2/4).

Picks, one at a time, the pool point that most increases
``log det(M + Ĩ(x))``, with M and Ĩ weighted exactly as in BAIT
(``docs/design.md`` §2: ``M = λ·I + labeled Fisher / (n_l + B)``, a
candidate adds ``B / (n_l + B) · I(x)``), so that the two differ only in the
criterion: BAIT minimises ``tr(M⁻¹ F)``, this maximises the information gain
``log det(I + V_xᵀ M⁻¹ V_x)`` and never looks at the pool's Fisher F.

Features come from ``skbait.extract_features``; the rest is plain NumPy in
float64 with the Kronecker factor ``V_x = G_x ⊗ h_x`` (dk × k), so a step
costs one (N, d) × (d, k²) product.
"""

import numpy as np

import skbait

__all__ = ["LogDetSampler", "logdet_select"]


class LogDetSampler:
    """modAL-style strategy: ``(estimator, X_pool, n_instances, X_labeled)``."""

    def __init__(self, lam=1.0):
        self.lam = lam

    def __call__(self, estimator, X_pool, n_instances=1, X_labeled=None):
        h, p = skbait.extract_features(estimator, X_pool)
        h_lab = p_lab = None
        if X_labeled is not None and len(X_labeled):
            h_lab, p_lab = skbait.extract_features(estimator, X_labeled)
        idx, gains = logdet_select(h, p, h_lab, p_lab, n_instances, self.lam)
        return idx, gains


def _factor(p):
    """G = (I - p 1ᵀ) diag(√p) for every row of p: (n, k, k)."""
    k = p.shape[1]
    return (np.eye(k)[None] - p[:, :, None]) * np.sqrt(p)[:, None, :]


def logdet_select(h, p, h_lab, p_lab, n_select, lam=1.0):
    """Indices (in order) and their log-det gains."""
    h = np.asarray(h, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    n, d = h.shape
    k = p.shape[1]
    n_lab = 0 if h_lab is None else len(h_lab)
    scale = n_select / (n_lab + n_select)
    m = lam * np.eye(d * k)
    if n_lab:
        g = _factor(np.asarray(p_lab, dtype=np.float64))
        v = np.einsum("xca,xj->xcja", g, np.asarray(h_lab, dtype=np.float64))
        v = v.reshape(n_lab, d * k, k).transpose(1, 0, 2).reshape(d * k, -1)
        m += (v @ v.T) / (n_lab + n_select)
    m_inv = np.linalg.inv(m)
    g_pool = _factor(p)
    # Q[x, a, b] = h_xᵀ (M⁻¹)_ab h_x, then A_x = scale · G_xᵀ Q_x G_x.
    q = np.empty((n, k, k))
    for c in range(k):
        t = (h @ m_inv[c * d:(c + 1) * d, :]).reshape(n, k, d)
        q[:, c, :] = np.einsum("xbj,xj->xb", t, h)
    a = scale * (g_pool.transpose(0, 2, 1) @ q @ g_pool)
    available = np.ones(n, dtype=bool)
    chosen, gains = [], []
    eye = np.eye(k)
    for _ in range(n_select):
        gain = np.linalg.slogdet(eye + a)[1]
        gain[~available] = -np.inf
        best = int(np.argmax(gain))  # ties: the smaller index
        chosen.append(best)
        gains.append(float(gain[best]))
        available[best] = False
        v_s = np.sqrt(scale) * np.einsum("ca,j->cja", g_pool[best],
                                         h[best]).reshape(d * k, k)
        u = m_inv @ v_s
        kinv = np.linalg.inv(eye + v_s.T @ u)
        m_inv -= u @ kinv @ u.T
        # a_x = Ṽ_xᵀ U = √scale · G_xᵀ T_x with T_x[c, j] = h_x · U_c[:, j].
        t = (h @ u.reshape(k, d, k).transpose(1, 0, 2).reshape(d, k * k))
        a_x = np.sqrt(scale) * np.einsum("xca,xcj->xaj", g_pool,
                                         t.reshape(n, k, k))
        a -= a_x @ kinv @ a_x.transpose(0, 2, 1)
    return np.asarray(chosen), np.asarray(gains)
