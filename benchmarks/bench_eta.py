"""Does the progress bar's ETA tell the truth? (docs/design.md §10,
"verbose").

Runs one selection with ``verbose=1`` and records, when the set-up ends,
the ETA the bar shows first (the prediction of the steps) and, at every
tenth of the steps, the ETA then; after the selection it prints each
against the time that actually remained. The default case is the one a
new user once stopped: exact BAIT, N = 50 000, d = 512, k = 10, B = 100,
float32, whose first ETA read five and a half hours for a selection of
two minutes.

    python benchmarks/bench_eta.py
    python benchmarks/bench_eta.py --n 20000 --d 128 --approximation auto
"""

import argparse
import os
import time

import numpy as np

import skbait
from skbait._engine.planning import progress


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--b", type=int, default=100)
    parser.add_argument("--labeled", type=int, default=100)
    parser.add_argument("--approximation", default="exact")
    args = parser.parse_args(argv)
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}")
    rng = np.random.default_rng(0)
    n, d, k = args.n + args.labeled, args.d, args.k
    h = np.abs(rng.normal(size=(n, d))).astype(np.float32)
    logits = rng.normal(size=(n, k)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    shown = []
    original_begin, original_step = progress.StepETA.begin, \
        progress.StepETA.step

    def begin(eta):
        original_begin(eta)
        shown.append((eta.done, time.perf_counter(), eta.remaining()))

    def step(eta):
        original_step(eta)
        if eta.done % max(1, eta.total // 10) == 0:
            shown.append((eta.done, time.perf_counter(), eta.remaining()))

    progress.StepETA.begin, progress.StepETA.step = begin, step
    progress.PROGRESS_AFTER_SECONDS = 0.0  # the bar, however short
    start = time.perf_counter()
    try:
        _, info = skbait.bait_select(
            h[:args.n], args.b, pool_proba=p[:args.n],
            labeled_embeddings=h[args.n:], labeled_proba=p[args.n:],
            approximation=args.approximation, verbose=1, return_info=True)
    finally:
        progress.StepETA.begin, progress.StepETA.step = original_begin, \
            original_step
    end = time.perf_counter()
    print(f"\nrule {info.approximation}; total {end - start:.1f} s, "
          f"predicted {info.predicted_seconds[info.approximation]:.1f} s; "
          f"set-up {shown[0][1] - start:.1f} s, predicted "
          f"{info.predicted_phases['setup']:.1f} s")
    print("steps done | ETA shown s | time that remained s | ratio")
    for done, at, eta in shown:
        left = end - at
        print(f"{done:10d} | {eta:11.1f} | {left:20.1f} | "
              f"{eta / left if left > 0 else float('nan'):.2f}")
    first = shown[0][2] / (end - shown[0][1])
    print(f"\nfirst ETA after the set-up / time that remained: {first:.2f} "
          f"({'within' if 0.5 <= first <= 2 else 'outside'} 0.5-2x)")
    return first


if __name__ == "__main__":
    main()
