"""modAL ActiveLearner + skorch MLP + BAIT on digits.

Needs the modAL environment (see the README, "modAL"): modAL-python 0.4.2.1
with scikit-learn < 1.8, skorch 0.9 and setuptools < 81. Prints the test
accuracy after each query/teach round. Runs in well under a minute.
"""

import argparse
import warnings

import numpy as np
import torch
from modAL.models import ActiveLearner
from skorch import NeuralNetClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skbait import bait_sampling


def make_net():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10), torch.nn.Softmax(dim=-1))
    # Softmax output + skorch's default NLLLoss works on skorch 0.9 and 1.x.
    return NeuralNetClassifier(module, max_epochs=30, lr=0.1, batch_size=32,
                               train_split=None, verbose=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.3,
                                            random_state=0, stratify=y)
    rng = np.random.default_rng(0)
    init = rng.choice(len(X), 50, replace=False)
    pool = np.setdiff1d(np.arange(len(X)), init)
    with warnings.catch_warnings():
        # modAL 0.4.2.1 passes check_X_y's deprecated force_all_finite.
        warnings.simplefilter("ignore", FutureWarning)
        learner = ActiveLearner(estimator=make_net(),
                                query_strategy=bait_sampling,
                                X_training=X[init], y_training=y[init])
        accuracies = [learner.score(X_test, y_test)]
        print(f"labels {len(init):4d}  accuracy {accuracies[-1]:.3f}")
        for _ in range(args.rounds):
            idx, _ = learner.query(X[pool], n_instances=args.batch)
            learner.teach(X[pool[idx]], y[pool[idx]])
            pool = np.delete(pool, idx)
            accuracies.append(learner.score(X_test, y_test))
            print(f"labels {len(learner.X_training):4d}  accuracy "
                  f"{accuracies[-1]:.3f}")
    return accuracies


if __name__ == "__main__":
    main()
