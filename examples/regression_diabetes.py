"""Regression BAIT (rank one) vs CORESET vs RANDOM with Ridge on diabetes.

A plain loop without modAL; prints the test mean squared error after each
round. Runs in a few seconds.
"""

import argparse

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from skbait import BAITSampler, CoresetSampler, RandomSampler


def run(sampler, X, y, X_test, y_test, n_init, batch, rounds, seed):
    rng = np.random.default_rng(seed)
    labeled = rng.choice(len(X), n_init, replace=False)
    pool = np.setdiff1d(np.arange(len(X)), labeled)
    errors = []
    for _ in range(rounds):
        model = Ridge(alpha=0.1).fit(X[labeled], y[labeled])
        errors.append(mean_squared_error(y_test, model.predict(X_test)))
        idx, _ = sampler(model, X[pool], n_instances=batch,
                         X_labeled=X[labeled])
        labeled = np.concatenate([labeled, pool[idx]])
        pool = np.delete(pool, idx)
    model = Ridge(alpha=0.1).fit(X[labeled], y[labeled])
    errors.append(mean_squared_error(y_test, model.predict(X_test)))
    return errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args(argv)
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.3,
                                            random_state=0)
    results = {}
    for name, sampler in [("BAIT", BAITSampler()),
                          ("CORESET", CoresetSampler()),
                          ("RANDOM", RandomSampler(random_state=0))]:
        results[name] = run(sampler, X, y, X_test, y_test, n_init=10,
                            batch=args.batch, rounds=args.rounds, seed=0)
    print("labels  " + "  ".join(f"{n:>7}" for n in results))
    for r in range(args.rounds + 1):
        row = "  ".join(f"{results[n][r]:7.3f}" for n in results)
        print(f"{10 + r * args.batch:6d}  {row}")
    return results


if __name__ == "__main__":
    main()
