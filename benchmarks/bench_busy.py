"""``bait_select`` on a busy machine: next to a process doing its own work.

Users query while something else runs (training, a data loader, another
notebook). This script times the same selections quiet and next to a
second process that runs

- ``blas``: threaded NumPy 600 × 600 matrix products in a loop (NumPy's
  default thread count), or
- ``python``: a pure-Python loop (one busy core, no BLAS),

and prints each time and its ratio to the quiet one, with set-up and greedy
steps apart. Run it on an otherwise idle machine:

    python benchmarks/bench_busy.py
    python benchmarks/bench_busy.py --n-jobs 1 --repeat 3
"""

import argparse
import multiprocessing
import os
import time

import numpy as np

CASES = (
    # (N, d, k, B, n_labeled)
    (10_000, 128, 10, 10, 100),
    (30_000, 100, 10, 100, 100),
)


def _blas_load(stop):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 600))
    while not stop.is_set():
        a = a @ a
        a /= np.abs(a).max()


def _python_load(stop):
    x = 0
    while not stop.is_set():
        for i in range(10_000):
            x = (x + i * i) % 1_000_003


LOADS = {"blas": _blas_load, "python": _python_load}


def _problem(n, d, k, n_lab, seed=0):
    rng = np.random.default_rng(seed)
    h = np.maximum(rng.normal(size=(n + n_lab, d)), 0).astype(np.float32)
    logits = 2.0 * rng.normal(size=(n + n_lab, k))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return h[:n], p[:n], h[n:], p[n:]


def _time(case, n_jobs, repeat):
    from skbait import bait_select

    n, d, k, b, n_lab = case
    h, p, hl, pl = _problem(n, d, k, n_lab)
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        # n_jobs only when given, so the script also times older versions.
        extra = {} if n_jobs is None else {"n_jobs": n_jobs}
        idx, info = bait_select(h, b, pool_proba=p, labeled_embeddings=hl,
                                labeled_proba=pl, return_info=True, **extra)
        total = time.perf_counter() - start
        row = (total, info.timings["setup"], idx.tolist())
        if best is None or total < best[0]:
            best = row
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--loads", nargs="+", default=["blas", "python"],
                        choices=sorted(LOADS))
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_info

    from skbait import bait_select

    blas = [(i["internal_api"], i.get("architecture"), i["num_threads"])
            for i in threadpool_info()]
    print(f"thread pools: {blas}; n_jobs={args.n_jobs}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE')}")
    # Compile the numba kernel before timing anything.
    h, p, _, _ = _problem(50, 8, 10, 0)
    bait_select(h, 2, pool_proba=p)
    ctx = multiprocessing.get_context("spawn")
    print(f"{'case (N, d, k, B, n_l)':<28}{'load':>8}{'total s':>10}"
          f"{'set-up s':>10}{'ratio':>8}  same picks")
    for case in CASES:
        quiet = _time(case, args.n_jobs, args.repeat)
        print(f"{str(case):<28}{'none':>8}{quiet[0]:10.2f}{quiet[1]:10.2f}"
              f"{1.0:8.2f}")
        for load in args.loads:
            stop = ctx.Event()
            proc = ctx.Process(target=LOADS[load], args=(stop,))
            proc.start()
            time.sleep(1.0)  # let the load spin up
            try:
                busy = _time(case, args.n_jobs, args.repeat)
            finally:
                stop.set()
                proc.join()
            print(f"{str(case):<28}{load:>8}{busy[0]:10.2f}{busy[1]:10.2f}"
                  f"{busy[0] / quiet[0]:8.2f}  {busy[2] == quiet[2]}")


if __name__ == "__main__":
    main()
