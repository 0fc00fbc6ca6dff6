"""Pairwise penalty matrix (paper §6.2, Fig. 5).

For each experiment, the labeling budgets ``L_k = M_0 + 2^k · B`` are
considered up to the round where RANDOM's mean score first comes within 1%
of its final score. At each considered budget, a two-sided paired t-test
over seeds compares every ordered pair (i, j); when i beats j significantly
(t above the 97.5% quantile of Student's t with n_seeds - 1 degrees of
freedom: 2.776 for 5 seeds), entry (i, j) gains 1 / z, z being the number
of budgets considered in that experiment. Matrices of all experiments are
summed: an entry counts how many experiments' worth of budgets i beat j.
"""

import numpy as np
from scipy import stats


def considered_rounds(labels, random_mean, n_init, batch):
    """Round indices at budgets M_0 + 2^k B, up to RANDOM's 1% round."""
    final = random_mean[-1]
    close = np.flatnonzero(np.abs(random_mean - final) <= 0.01 * abs(final))
    stop = int(close[0]) if len(close) else len(labels) - 1
    budgets = set()
    k = 0
    while n_init + 2 ** k * batch <= labels[stop]:
        budgets.add(n_init + 2 ** k * batch)
        k += 1
    return [r for r, n in enumerate(labels) if n in budgets and r <= stop]


def experiment_matrix(scores, labels, n_init, batch, names,
                      random_name="RANDOM"):
    """Penalty matrix of one experiment.

    Parameters
    ----------
    scores : dict
        name -> array (n_seeds, n_rounds), larger is better, seeds paired.
    labels : sequence of int
        Number of labels at each round.
    """
    rounds = considered_rounds(np.asarray(labels),
                               np.mean(scores[random_name], axis=0),
                               n_init, batch)
    m = len(names)
    out = np.zeros((m, m))
    if not rounds:
        return out, rounds
    n_seeds = np.asarray(scores[names[0]]).shape[0]
    crit = stats.t.ppf(0.975, n_seeds - 1)
    for r in rounds:
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i == j:
                    continue
                diff = np.asarray(scores[a])[:, r] - np.asarray(scores[b])[:, r]
                t = paired_t(diff)
                if t > crit:
                    out[i, j] += 1.0 / len(rounds)
    return out, rounds


def paired_t(diff):
    """t statistic of paired differences (inf when they are all equal > 0)."""
    diff = np.asarray(diff, dtype=float)
    mean = diff.mean()
    sd = diff.std(ddof=1)
    if sd == 0:
        return np.inf if mean > 0 else (-np.inf if mean < 0 else 0.0)
    return mean / (sd / np.sqrt(len(diff)))


def column_means(matrix):
    """How often each method is beaten, averaged over opponents."""
    m = matrix.shape[0]
    return matrix.sum(axis=0) / max(1, m - 1)
