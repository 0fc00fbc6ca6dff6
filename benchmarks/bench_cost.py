"""The cost model against the clock: every rule's predicted seconds
(``info.predicted_phases``, from its flop and byte counts and this
machine's rates) beside the measured time of the same selection, over a
grid of N, d, k and every rule (docs/results.md §15).

Random float32 embeddings and softmax probabilities, 100 labeled points,
B = 100 (forward 200, backward 100), the default λ; the rates are
measured afresh at the start (the cached ones may come from a busy
moment). Prints one row per case and the range of predicted / measured,
the target being 0.5–2 for every row.

    python benchmarks/bench_cost.py            # the grid (about 10 minutes)
    python benchmarks/bench_cost.py --quick    # small cases only
"""

import argparse
import json
import os
import time

import numpy as np

import skbait
from skbait._engine.planning.cost import machine_rates
from skbait._engine.backends.threads import effective_n_jobs

# (rule, N, d, k): regression is k = 1.
GRID = [
    ("exact", 5_000, 64, 10), ("exact", 20_000, 128, 10),
    ("exact", 50_000, 128, 10), ("exact", 20_000, 256, 10),
    ("exact", 50_000, 512, 10), ("exact", 5_000, 32, 50),
    ("exact", 10_000, 32, 100),
    ("exact", 20_000, 128, 1), ("exact", 200_000, 256, 1),
    ("block_diagonal", 20_000, 128, 10), ("block_diagonal", 20_000, 256, 50),
    ("block_diagonal", 10_000, 32, 100), ("block_diagonal", 50_000, 512, 100),
    ("binary", 20_000, 128, 10), ("binary", 50_000, 512, 100),
    ("binary", 100_000, 128, 1000),
]
QUICK = [c for c in GRID if c[1] <= 20_000 and c[2] * c[3] <= 2560]


def problem(n, d, k, seed=0, n_lab=100):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n + n_lab, d)).astype(np.float32)
    if k == 1:
        return h[n_lab:], None, h[:n_lab], None
    logits = 2.0 * rng.normal(size=(n + n_lab, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    return h[n_lab:], p[n_lab:], h[:n_lab], p[:n_lab]


def run(rule, n, d, k, batch=100):
    h, p, h_lab, p_lab = problem(n, d, k)
    start = time.perf_counter()
    _, info = skbait.bait_select(h, batch, pool_proba=p,
                                 labeled_embeddings=h_lab,
                                 labeled_proba=p_lab, approximation=rule,
                                 return_info=True)
    seconds = time.perf_counter() - start
    return dict(rule=rule, n=n, d=d, k=k, seconds=seconds,
                predicted=info.predicted_phases,
                timings=dict(info.timings))


def predicted(rule, n, d, k, rates, batch=100):
    """The current model's prediction for ``run``'s selection, at
    ``rates``."""
    from skbait._engine.planning.plan import selection_shape
    from skbait._engine.rules import get_rule

    h, p, h_lab, _ = problem(n, d, k)
    shape = selection_shape(np, h, p, h_lab, n_select=batch, oversample=2.0,
                            fisher="pool", chunk_size=None,
                            n_jobs=effective_n_jobs(None),
                            dtype_name="float32", use_numba=None)
    return get_rule(rule).cost(shape, rates).as_dict()


def repredict(path):
    from skbait._engine.planning.cost import Rates

    with open(path) as f:
        stored = json.load(f)
    fields = dict(stored["rates"])
    # Runs before the rules' packages stored two kernels' rates as fields.
    kernels = fields.pop("kernels", {})
    for old, rule in (("kernel", "exact"), ("block_kernel", "block_diagonal")):
        if old in fields:
            kernels[rule] = fields.pop(old)
    rates = Rates(**fields, kernels=kernels)
    print(f"{path}: measured times, predicted again by the current model "
          f"at that run's rates ({rates.describe()})")
    ratios = []
    for row in stored["rows"]:
        pred = predicted(row["rule"], row["n"], row["d"], row["k"], rates)
        ratios.append(pred["total"] / row["seconds"])
        print(f"{row['rule']:15} {row['n']:>7} {row['d']:>4} {row['k']:>5} | "
              f"{row['seconds']:>10.2f} {pred['total']:>11.2f} "
              f"{ratios[-1]:>6.2f} | was {row['ratio']:.2f}", flush=True)
    print(f"predicted / measured: {min(ratios):.2f} .. {max(ratios):.2f} "
          f"(target 0.5 .. 2)")
    return ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="results/bench_cost.json")
    parser.add_argument(
        "--repredict", metavar="JSON", default=None,
        help="no selection runs: the measured times of an earlier run's "
             "JSON predicted again by the current cost model, at the rates "
             "measured in that run (to check a change to the model)")
    args = parser.parse_args(argv)
    if args.repredict:
        return repredict(args.repredict)
    rates = machine_rates(np, effective_n_jobs(None), remeasure=True)
    print(f"machine ({effective_n_jobs(None)} threads, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE')}): {rates.describe()}")
    header = (f"{'rule':15} {'N':>7} {'d':>4} {'k':>5} | {'measured s':>10} "
              f"{'predicted s':>11} {'ratio':>6} | predicted setup/steps/"
              "commits/backward")
    print(header)
    print("-" * len(header))
    rows = []
    for case in (QUICK if args.quick else GRID):
        row = run(*case)
        pred = row["predicted"]
        row["ratio"] = pred["total"] / row["seconds"]
        rows.append(row)
        print(f"{row['rule']:15} {row['n']:>7} {row['d']:>4} {row['k']:>5} | "
              f"{row['seconds']:>10.2f} {pred['total']:>11.2f} "
              f"{row['ratio']:>6.2f} | {pred['setup']:.2f} / "
              f"{pred['steps']:.2f} / {pred['commits']:.2f} / "
              f"{pred['backward']:.2f}", flush=True)
    ratios = [r["ratio"] for r in rows]
    print(f"predicted / measured: {min(ratios):.2f} .. {max(ratios):.2f} "
          f"(target 0.5 .. 2)")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(dict(rates=rates.__dict__, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
