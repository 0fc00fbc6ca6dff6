"""Regression BAIT (rank one) vs CORESET vs RANDOM with Ridge on diabetes.

A plain active-learning loop without modAL: fit a Ridge regression on the
labeled points, let a skbait sampler pick a batch from the unlabeled pool,
"label" it, repeat. Prints the test mean squared error after each round.
Runs in a few seconds.
"""

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from skbait import BAITSampler, CoresetSampler, RandomSampler

N_INITIAL = 10  # labeled points to start from
BATCH_SIZE = 5  # points labeled per round
N_ROUNDS = 6

X, y = load_diabetes(return_X_y=True)
y = (y - y.mean()) / y.std()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0)

errors = {}
for name, sampler in [("BAIT", BAITSampler()),
                      ("CORESET", CoresetSampler()),
                      ("RANDOM", RandomSampler(random_state=0))]:
    # All strategies start from the same random labeled points.
    rng = np.random.default_rng(0)
    labeled = rng.choice(len(X_train), N_INITIAL, replace=False)
    pool = np.setdiff1d(np.arange(len(X_train)), labeled)

    model = Ridge(alpha=0.1).fit(X_train[labeled], y_train[labeled])
    errors[name] = [mean_squared_error(y_test, model.predict(X_test))]
    for _ in range(N_ROUNDS):
        # idx indexes the pool; BAIT and CORESET also use the labeled points.
        idx, _ = sampler(model, X_train[pool], n_instances=BATCH_SIZE,
                         X_labeled=X_train[labeled])
        labeled = np.concatenate([labeled, pool[idx]])
        pool = np.delete(pool, idx)
        model = Ridge(alpha=0.1).fit(X_train[labeled], y_train[labeled])
        errors[name].append(mean_squared_error(y_test, model.predict(X_test)))

print("labels  " + "  ".join(f"{name:>7}" for name in errors))
for r in range(N_ROUNDS + 1):
    row = "  ".join(f"{errors[name][r]:7.3f}" for name in errors)
    print(f"{N_INITIAL + r * BATCH_SIZE:6d}  {row}")
