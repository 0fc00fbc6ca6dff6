"""BAIT vs RANDOM with a scikit-learn Pipeline on digits (no modAL needed).

A plain active-learning loop: fit the model on the labeled points, let a
skbait sampler pick a batch from the unlabeled pool, "label" it (here the
labels are known and simply revealed), repeat. Prints the accuracy on
held-out digits after each round. Runs in a few seconds.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbait import BAITSampler, RandomSampler

N_INITIAL = 20   # labeled points to start from
BATCH_SIZE = 10  # points labeled per round
N_ROUNDS = 8

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y)

accuracies = {}
for name, sampler in [("BAIT", BAITSampler()),
                      ("RANDOM", RandomSampler(random_state=0))]:
    # Both strategies start from the same random labeled points.
    rng = np.random.default_rng(0)
    labeled = rng.choice(len(X_train), N_INITIAL, replace=False)
    pool = np.setdiff1d(np.arange(len(X_train)), labeled)

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(X_train[labeled], y_train[labeled])
    accuracies[name] = [model.score(X_test, y_test)]
    for _ in range(N_ROUNDS):
        # idx indexes the pool; BAIT also uses the labeled points.
        idx, _ = sampler(model, X_train[pool], n_instances=BATCH_SIZE,
                         X_labeled=X_train[labeled])
        labeled = np.concatenate([labeled, pool[idx]])
        pool = np.delete(pool, idx)
        model.fit(X_train[labeled], y_train[labeled])
        accuracies[name].append(model.score(X_test, y_test))

print("labels  " + "  ".join(f"{name:>7}" for name in accuracies))
for r in range(N_ROUNDS + 1):
    row = "  ".join(f"{accuracies[name][r]:7.3f}" for name in accuracies)
    print(f"{N_INITIAL + r * BATCH_SIZE:6d}  {row}")
