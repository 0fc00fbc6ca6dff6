"""BAIT in a scikit-activeml loop on digits, against its uncertainty sampling.

scikit-activeml's way: all samples in one array ``X``, the unlabeled ones
marked in ``y`` by ``MISSING_LABEL`` (NaN), a ``SklearnClassifier`` that
ignores them when fitting, and strategies called as ``qs.query(X, y, clf,
batch_size=...)``, which return indices into ``X``. skbait's ``Bait`` takes
that call like scikit-activeml's own strategies. Prints the accuracy on
held-out digits after each round. Runs in a few seconds.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import UncertaintySampling
from skactiveml.utils import MISSING_LABEL

from skbait.skactiveml import Bait

N_INITIAL = 20   # labeled samples to start from
BATCH_SIZE = 10  # samples labeled per round
N_ROUNDS = 8

X, y_true = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y_true, test_size=0.3, random_state=0, stratify=y_true)

accuracies = {}
for name, qs in [("BAIT", Bait()),
                 ("UNCERTAINTY", UncertaintySampling(random_state=0))]:
    clf = SklearnClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        classes=np.arange(10))
    # Both strategies start from the same random labels; the rest of y is
    # MISSING_LABEL.
    y = np.full(len(X_train), MISSING_LABEL)
    start = np.random.default_rng(0).choice(len(X_train), N_INITIAL,
                                            replace=False)
    y[start] = y_train[start]
    clf.fit(X_train, y)
    accuracies[name] = [clf.score(X_test, y_test)]
    for _ in range(N_ROUNDS):
        # clf is fitted on the current labels already: fit_clf=False.
        idx = qs.query(X_train, y, clf, fit_clf=False, batch_size=BATCH_SIZE)
        y[idx] = y_train[idx]  # "label" the batch
        clf.fit(X_train, y)
        accuracies[name].append(clf.score(X_test, y_test))

print("labels  " + "  ".join(f"{name:>11}" for name in accuracies))
for r in range(N_ROUNDS + 1):
    row = "  ".join(f"{accuracies[name][r]:11.3f}" for name in accuracies)
    print(f"{N_INITIAL + r * BATCH_SIZE:6d}  {row}")
