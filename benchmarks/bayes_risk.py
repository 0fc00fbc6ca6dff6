"""Bayes risk of BAIT vs greedy log-det (paper Fig. 3), Bayesian linear regression.

d = 100 dimensions, Σ_ii ∝ 1/i². Gaussian data: x ~ N(0, Σ). Orthonormal
data: x = e_i with probability p_i ∝ 1/i² (same covariance). For a chosen
set S the exact Bayes risk is σ² · tr(Λ_S⁻¹ Σ), Λ_S = Σ_{x∈S} x xᵀ + λσ² I.

BAIT ("Trace + Fisher") is ``skbait.bait_select`` on the pool without
probabilities (rank-one regression BAIT, no labeled set, so M = λσ²I +
Σ_S x xᵀ exactly), run forward only (``oversample=1``) so that every batch
size is a prefix of one greedy run. Log-det greedily maximises
log det Λ_S, i.e. picks the largest x ᵀ Λ⁻¹ x.
"""

import numpy as np

from skbait import bait_select


def covariance(d=100):
    diag = 1.0 / np.arange(1, d + 1) ** 2
    return diag / diag.sum()


def pool(kind, n, d=100, seed=0):
    rng = np.random.default_rng(seed)
    sigma = covariance(d)
    if kind == "gaussian":
        return rng.normal(size=(n, d)) * np.sqrt(sigma)
    if kind == "orthonormal":
        axes = rng.choice(d, size=n, p=sigma)
        return np.eye(d)[axes]
    raise ValueError(f"kind must be 'gaussian' or 'orthonormal'; got "
                     f"{kind!r}.")


def bayes_risk(X_sel, lam, noise=1.0):
    d = X_sel.shape[1]
    lam_s = X_sel.T @ X_sel + lam * noise * np.eye(d)
    return noise * float(np.trace(np.linalg.solve(lam_s, np.diag(
        covariance(d)))))


def logdet_order(X, n_select, lam, noise=1.0):
    """Greedy log det(Λ_S): rank-one updates of Λ⁻¹; ties to smaller index."""
    d = X.shape[1]
    inv = np.eye(d) / (lam * noise)
    chosen = []
    available = np.ones(len(X), dtype=bool)
    for _ in range(n_select):
        gain = np.einsum("ij,jk,ik->i", X, inv, X)
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        u = inv @ X[best]
        inv -= np.outer(u, u) / (1.0 + X[best] @ u)
    return chosen


def run(n_pool=2000, d=100, batches=(10, 25, 50, 100, 150, 200, 300),
        lam=1e-3, seeds=(0, 1, 2)):
    """Risk per method, data kind and batch size (mean over seeds)."""
    out = {}
    b_max = max(batches)
    for kind in ("gaussian", "orthonormal"):
        risks = {"BAIT (Trace + Fisher)": [], "Log-det": []}
        for seed in seeds:
            X = pool(kind, n_pool, d, seed)
            _, info = bait_select(X, b_max, lam=lam, oversample=1.0,
                                  return_info=True)
            orders = {"BAIT (Trace + Fisher)": info.forward.tolist(),
                      "Log-det": logdet_order(X, b_max, lam)}
            for name, order in orders.items():
                risks[name].append([bayes_risk(X[order[:b]], lam)
                                    for b in batches])
        out[kind] = {name: np.mean(v, axis=0).tolist()
                     for name, v in risks.items()}
    return {"batches": list(batches), "risk": out}


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, kind in zip(axes, ("gaussian", "orthonormal")):
        for name, risk in result["risk"][kind].items():
            ax.plot(result["batches"], risk, "o-", label=name)
        ax.set_yscale("log")
        ax.set_xlabel("batch size B")
        ax.set_ylabel("Bayes risk")
        ax.set_title(f"{kind} data, d=100, Σ_ii ∝ 1/i²")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
