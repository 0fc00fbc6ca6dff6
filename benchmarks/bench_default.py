"""What a default query costs: ``bait_select`` with every default
(``approximation="auto"``, ``lam="auto"``, the embeddings' float32) on
typical shapes, the rule ``"auto"`` chose, why, and the seconds it took
against the seconds it predicted. Prints the README's table.

Random float32 embeddings and softmax probabilities, 100 labeled points.

    python benchmarks/bench_default.py
"""

import argparse
import json
import os
import time

import numpy as np

import skbait
from skbait._engine.planning.cost import machine_rates
from skbait._engine.backends.threads import effective_n_jobs

from bench_cost import problem  # the same problems as the cost grid

# (what it stands for, N, d, k, B); k = 1 is regression.
SHAPES = [
    ("digits-sized MLP", 2_000, 128, 10, 20),
    ("MNIST MLP", 50_000, 128, 10, 100),
    ("CIFAR-10 ResNet-18", 50_000, 512, 10, 100),
    ("100 classes, small embedding", 10_000, 32, 100, 50),
    ("CIFAR-100 ResNet-18", 50_000, 512, 100, 100),
    ("1 000 classes", 100_000, 128, 1000, 100),
    ("regression", 100_000, 256, 1, 100),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench_default.json")
    args = parser.parse_args(argv)
    rates = machine_rates(np, effective_n_jobs(None), remeasure=True)
    print(f"machine ({effective_n_jobs(None)} threads, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE')}): {rates.describe()}")
    print("| shape | N | d | k | B | rule `\"auto\"` ran | seconds "
          "(predicted) | exact BAIT predicted |")
    print("|---|--:|--:|--:|--:|---|--:|--:|")
    rows = []
    for name, n, d, k, batch in SHAPES:
        h, p, h_lab, p_lab = problem(n, d, k)
        start = time.perf_counter()
        _, info = skbait.bait_select(h, batch, pool_proba=p,
                                     labeled_embeddings=h_lab,
                                     labeled_proba=p_lab, return_info=True)
        seconds = time.perf_counter() - start
        predicted = info.predicted_seconds
        row = dict(name=name, n=n, d=d, k=k, batch=batch, seconds=seconds,
                   rule=info.approximation,
                   reason=info.approximation_reason, predicted=predicted)
        rows.append(row)
        exact = predicted.get("exact")
        print(f"| {name} | {n:,} | {d} | {k} | {batch} | {row['rule']} | "
              f"{seconds:.1f} ({predicted[row['rule']]:.1f}) | "
              f"{'-' if exact is None else f'{exact:.0f} s'} |", flush=True)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(dict(rates=rates.__dict__, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
