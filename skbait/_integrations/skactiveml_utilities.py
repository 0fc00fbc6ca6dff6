"""Per-candidate utilities at each pick, in scikit-activeml's layout.

scikit-activeml's ``return_utilities`` gives, for every pick of a batch, the
utility of every candidate at that pick. skbait's engine returns only the
score of each pick, so the rows are recomputed here, in float64, from the
features the query used and the picks it made:

- :func:`bait_gains`: BAIT's forward gains (the decrease of the objective
  ``tr(M⁻¹F)`` that adding each candidate would give) at given steps of
  the forward pass, replayed with the Woodbury identity. Every rule of the
  registry (and the ``fisher="identity"`` ablation), each with its own
  objective, from the Fisher factors it declares
  (``RuleSpec.reference_factors``).
- :func:`badge_probabilities`: the k-means++ sampling probabilities
  ``D² / ΣD²`` of BADGE's gradient embeddings at each pick.
- :func:`coreset_distances`: each candidate's distance to its nearest
  centre (labeled point or earlier pick) at each pick.

Candidates no longer available at a pick (picked before it) get NaN.
"""

import numpy as np

from .._engine.rules import get_rule

__all__ = ["bait_gains", "badge_probabilities", "coreset_distances"]


# ---- BAIT ---------------------------------------------------------------
class _Factors:
    """Per-point Fisher factors ``V_x = G_x ⊗ h_x`` (shape (k·d, r)).

    ``g`` is (n, k, r): for classification ``g[x, i, j] = (δ_ij - p_i) √p_j``
    (so that ``V_x V_xᵀ = (diag(p) - p pᵀ) ⊗ h hᵀ``), for rank-one problems
    (regression, one class block, the binary Fisher) a (n, 1, 1) weight.
    ``V_x`` is never formed for the whole pool: products with it go through
    ``h`` and ``g`` (a GEMM on h, then k × r work per point).
    """

    def __init__(self, h, g):
        self.h, self.g = h, g
        self.k, self.r = g.shape[1], g.shape[2]
        self.d = h.shape[1]

    def __len__(self):
        return self.h.shape[0]

    def one(self, x):
        """``V_x`` as a dense (k·d, r) matrix."""
        return (self.g[x][:, None, :] * self.h[x][None, :, None]).reshape(
            self.k * self.d, self.r)

    def t_times(self, y):
        """``V_xᵀ Y`` for every point x: (n, r, c) for Y of shape (k·d, c)."""
        c = y.shape[1]
        blocks = y.reshape(self.k, self.d, c).transpose(1, 0, 2)
        t = (self.h @ blocks.reshape(self.d, self.k * c)).reshape(
            -1, self.k, c)
        return np.einsum("nij,nic->njc", self.g, t)

    def quadratic(self, q):
        """``V_xᵀ Q V_x`` for every point x: (n, r, r)."""
        n, k, d = len(self), self.k, self.d
        t = np.empty((n, k, k))
        for i in range(k):
            rows = (self.h @ q[i * d:(i + 1) * d, :]).reshape(n, k, d)
            t[:, i, :] = np.einsum("nld,nd->nl", rows, self.h)
        return np.einsum("nij,nil,nlm->njm", self.g, t, self.g)

    def gram(self):
        """``Σ_x V_x V_xᵀ`` (k·d × k·d)."""
        k, d = self.k, self.d
        weights = np.einsum("nij,nlj->nil", self.g, self.g)
        out = np.empty((k, d, k, d))
        for i in range(k):
            for j in range(i, k):
                block = self.h.T @ (weights[:, i, j, None] * self.h)
                out[i, :, j, :] = block
                out[j, :, i, :] = block.T
        return out.reshape(k * d, k * d)


def _problems(h, p, h_lab, p_lab, objective):
    """[(pool factors, labeled factors or None)]: the independent blocks
    whose gains add up to the objective's, as the rule ``objective``
    declares them (``RuleSpec.reference_factors``)."""
    spec = get_rule(None if p is None else objective)
    pool = spec.reference_factors(h, p)
    lab = [None] * len(pool) if h_lab is None else \
        spec.reference_factors(h_lab, p_lab)
    return [(_Factors(h, g), None if g_lab is None else _Factors(h_lab, g_lab))
            for g, g_lab in zip(pool, lab)]


def _replay(pool, lab, forward, steps, n_select, lam, identity_fisher):
    """Gains of every pool point at the forward steps ``steps`` (rows)."""
    n = len(pool)
    n_lab = 0 if lab is None else len(lab)
    dim = pool.k * pool.d
    s = n_select / (n_lab + n_select)
    lab_gram = np.zeros((dim, dim)) if lab is None else lab.gram()
    if identity_fisher:
        fisher = np.eye(dim)
    else:
        fisher = (pool.gram() + lab_gram) / (n + n_lab)
    m_inv = np.linalg.inv(lam * np.eye(dim) + lab_gram / (n_lab + n_select))
    m_inv = 0.5 * (m_inv + m_inv.T)
    # A_x = U_xᵀ M⁻¹ U_x and B_x = U_xᵀ M⁻¹ F M⁻¹ U_x with U_x = √s V_x.
    a = s * pool.quadratic(m_inv)
    b = s * pool.quadratic(m_inv @ fisher @ m_inv)
    eye = np.eye(pool.r)
    rows = np.full((len(steps), n), np.nan)
    wanted = {step: i for i, step in enumerate(steps)}
    added = np.zeros(n, dtype=bool)
    for step, x in enumerate(forward[:max(steps) + 1]):
        if step in wanted:
            # gain_x = tr((I + A_x)⁻¹ B_x), the Woodbury form of
            # tr(M⁻¹F) - tr((M + U_x U_xᵀ)⁻¹F).
            gains = np.trace(np.linalg.solve(eye + a, b), axis1=1, axis2=2)
            gains[added] = np.nan
            rows[wanted[step]] = gains
        # Commit x: M⁻¹ ← M⁻¹ - P C Pᵀ with P = M⁻¹U, C = (I + UᵀM⁻¹U)⁻¹.
        u = np.sqrt(s) * pool.one(x)
        p = m_inv @ u
        c = np.linalg.inv(eye + u.T @ p)
        fp = fisher @ p
        r = p.T @ fp
        w = np.sqrt(s) * pool.t_times(p)                 # U_xᵀ P
        z = np.sqrt(s) * pool.t_times(m_inv @ fp)        # U_xᵀ M⁻¹ F P
        wc = w @ c
        a -= wc @ w.transpose(0, 2, 1)
        b += (wc @ r @ wc.transpose(0, 2, 1) - wc @ z.transpose(0, 2, 1)
              - z @ wc.transpose(0, 2, 1))
        m_inv -= p @ c @ p.T
        added[x] = True
    return rows


def bait_gains(h, p, h_lab, p_lab, forward, steps, *, n_select, lam,
               objective=None, fisher="pool", fisher_scale=1.0):
    """BAIT's forward gains of every pool point at given forward steps.

    Parameters
    ----------
    h, p : arrays (n, d) and (n, k) or None
        The pool's embeddings and probabilities (None: regression).
    h_lab, p_lab : arrays or None
        The labeled set's, or None.
    forward : sequence of int
        The forward pass's picks in order (``bait_select``'s ``forward``).
    steps : sequence of int
        The forward steps (0-based) whose gains to return.
    n_select : int
        The batch size B (candidates weigh B / (n_l + B)).
    lam : float
        The λ used, in the units of ``h`` (``bait_select``'s ``info.lam``).
    objective : str or None
        The rule whose objective to replay, by the name ``bait_select``'s
        ``info.approximation`` reports (any registered rule); None: the
        reference rule (as for regression, whatever ``objective`` says).
    fisher : {"pool", "identity"}
        "identity" replays ``tr(M⁻¹)`` (the reference rule only).
    fisher_scale : float, default=1.0
        ``bait_select``'s ``info.fisher_scale`` (μ). ``tr(M⁻¹)`` depends on
        the embeddings' scale, and the engine evaluates it on embeddings
        divided by √μ; with ``fisher="identity"`` the gains are multiplied
        by μ to match. The trace objective of the Fisher does not depend on
        the scale, so μ is unused there.

    Returns
    -------
    gains : ndarray (len(steps), n)
        Row j: the decrease of the objective that adding each point would
        give after the first ``steps[j]`` forward picks; NaN for those picks.
    """
    forward = np.asarray(forward, dtype=np.int64)
    identity = fisher == "identity"
    total = np.zeros((len(steps), len(h)))
    for pool, lab in _problems(h, p, h_lab, p_lab, objective):
        total += _replay(pool, lab, forward, list(steps), n_select, lam,
                         identity)
    return total * fisher_scale if identity else total


# ---- BADGE and CORESET --------------------------------------------------
def badge_probabilities(h, p, picks):
    """k-means++ sampling probabilities on BADGE's gradient embeddings.

    Row i: ``D²(x) / Σ D²`` before the i-th pick, with ``D²`` the squared
    distance of ``g_x = (p_x - e_ŷ) ⊗ h_x`` to the nearest earlier pick (row
    0: ``‖g_x‖²``; the first pick is its largest, later picks are drawn
    from these probabilities). Uniform over the remaining points when every
    ``D²`` is 0, as the selection then draws uniformly.
    """
    n = len(h)
    q = p.copy()
    q[np.arange(n), q.argmax(axis=1)] -= 1.0
    sq = (q * q).sum(1) * (h * h).sum(1)
    min_dist = np.full(n, np.inf)
    rows = np.full((len(picks), n), np.nan)
    for i in range(len(picks)):
        taken = _taken(picks[:i], n)
        if i == 0:
            d2 = sq.copy()
        else:
            last = picks[i - 1]
            dist = sq + sq[last] - 2.0 * (q @ q[last]) * (h @ h[last])
            np.minimum(min_dist, np.maximum(dist, 0.0), out=min_dist)
            d2 = min_dist.copy()
        d2[taken] = 0.0
        total = d2.sum()
        row = d2 / total if total > 0 else np.full(n, 1.0 / (n - i))
        row[taken] = np.nan
        rows[i] = row
    return rows


def coreset_distances(h, h_lab, picks):
    """Distance of every point to its nearest centre before each pick.

    The centres are the labeled points and the earlier picks; without a
    labeled set the first row is the distance to the pool's mean (where
    k-center greedy starts).
    """
    sq = (h * h).sum(1)
    if h_lab is not None and len(h_lab):
        lab_sq = (h_lab * h_lab).sum(1)
        d2 = np.full(len(h), np.inf)
        for start in range(0, len(h_lab), 1024):
            block = slice(start, start + 1024)
            d2 = np.minimum(d2, (sq[:, None] + lab_sq[None, block]
                                 - 2.0 * h @ h_lab[block].T).min(axis=1))
    else:
        d2 = ((h - h.mean(axis=0)) ** 2).sum(1)
    d2 = np.maximum(d2, 0.0)
    rows = np.full((len(picks), len(h)), np.nan)
    for i, x in enumerate(picks):
        row = np.sqrt(d2)
        row[_taken(picks[:i], len(h))] = np.nan
        rows[i] = row
        d2 = np.minimum(d2, np.maximum(sq + sq[x] - 2.0 * h @ h[x], 0.0))
    return rows


def _taken(picks, n):
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(picks, dtype=np.int64)] = True
    return mask
