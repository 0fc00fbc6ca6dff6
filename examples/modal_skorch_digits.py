"""modAL ActiveLearner + skorch MLP + BAIT on digits.

Needs the modAL environment (see the README, "modAL"): modAL-python 0.4.2.1
with scikit-learn < 1.8, skorch 0.9 and setuptools < 81. The learner's
training set is BAIT's labeled set. Prints the test accuracy after each
query/teach round. Runs in about a minute on a CPU.
"""

import warnings

import numpy as np
import torch
from modAL.models import ActiveLearner
from skorch import NeuralNetClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skbait import bait_sampling

N_INITIAL = 50   # labeled points to start from
BATCH_SIZE = 20  # points labeled per round
N_ROUNDS = 6

# modAL 0.4.2.1 passes scikit-learn's deprecated check_X_y(force_all_finite=).
warnings.filterwarnings("ignore", message=".*force_all_finite",
                        category=FutureWarning)

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
y = y.astype(np.int64)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y)

torch.manual_seed(0)
module = torch.nn.Sequential(
    torch.nn.Linear(64, 128), torch.nn.ReLU(),
    torch.nn.Linear(128, 10), torch.nn.Softmax(dim=-1))
# A Softmax output with skorch's default NLLLoss works on skorch 0.9 and 1.x.
net = NeuralNetClassifier(module, max_epochs=30, lr=0.1, batch_size=32,
                          train_split=None, verbose=0)

rng = np.random.default_rng(0)
initial = rng.choice(len(X_train), N_INITIAL, replace=False)
pool = np.setdiff1d(np.arange(len(X_train)), initial)

learner = ActiveLearner(estimator=net, query_strategy=bait_sampling,
                        X_training=X_train[initial],
                        y_training=y_train[initial])
accuracies = [learner.score(X_test, y_test)]
print(f"labels {N_INITIAL:4d}  accuracy {accuracies[-1]:.3f}")
for _ in range(N_ROUNDS):
    # BAIT's embeddings are the input of the net's last nn.Linear.
    idx, _ = learner.query(X_train[pool], n_instances=BATCH_SIZE)
    learner.teach(X_train[pool[idx]], y_train[pool[idx]])
    pool = np.delete(pool, idx)
    accuracies.append(learner.score(X_test, y_test))
    print(f"labels {len(learner.X_training):4d}  accuracy "
          f"{accuracies[-1]:.3f}")
