"""BAIT vs RANDOM with a scikit-learn Pipeline on digits (no modAL needed).

A plain active-learning loop: fit, query a batch from the pool with a skbait
sampler, "label" it, repeat. Prints the accuracy on held-out digits after
each round. Runs in a few seconds.
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbait import BAITSampler, RandomSampler


def run(sampler, X, y, X_test, y_test, n_init, batch, rounds, seed):
    rng = np.random.default_rng(seed)
    labeled = rng.choice(len(X), n_init, replace=False)
    pool = np.setdiff1d(np.arange(len(X)), labeled)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    accuracies = []
    for _ in range(rounds):
        model.fit(X[labeled], y[labeled])
        accuracies.append(model.score(X_test, y_test))
        idx, _ = sampler(model, X[pool], n_instances=batch,
                         X_labeled=X[labeled])
        labeled = np.concatenate([labeled, pool[idx]])
        pool = np.delete(pool, idx)
    model.fit(X[labeled], y[labeled])
    accuracies.append(model.score(X_test, y_test))
    return accuracies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.3,
                                            random_state=0, stratify=y)
    results = {}
    for name, sampler in [("BAIT", BAITSampler()),
                          ("RANDOM", RandomSampler(random_state=0))]:
        results[name] = run(sampler, X, y, X_test, y_test, n_init=20,
                            batch=args.batch, rounds=args.rounds, seed=0)
    print("labels  " + "  ".join(f"{n:>7}" for n in results))
    for r in range(args.rounds + 1):
        row = "  ".join(f"{results[n][r]:7.3f}" for n in results)
        print(f"{20 + r * args.batch:6d}  {row}")
    return results


if __name__ == "__main__":
    main()
