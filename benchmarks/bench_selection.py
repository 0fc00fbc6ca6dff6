"""Speed and memory of ``skbait.bait_select`` against the authors' dense algorithm.

For every pool size N, embedding width d and batch size B (k = 10 classes
unless ``--classes`` says otherwise, random embeddings and softmax
probabilities, 100 labeled points) it prints:

- skbait's selection time, time per forward greedy step and the share of a
  step that the candidate GEMM alone takes (timed on its own, as the numba
  kernel computes it inside its loop), and the peak of memory allocated through
  NumPy (tracemalloc) against the target "2 × inputs + two dk × dk matrices";
- the same per-step time for the dense algorithm of the authors' code
  (per-point factors V materialised as an (N, k, dk) tensor), run for a few
  forward steps where its tensor fits, the per-step ratio, and whether both
  picked the same points in those steps.

Run ``python benchmarks/bench_selection.py`` for the full grid (about
15 minutes on 2 cores) or ``--quick`` for a small one. ``--plot`` writes a
PNG of time per step against N. ``--approximation block_diagonal`` (or
``binary``) times an approximation instead of exact BAIT, e.g. at
``--classes 100`` (there the dense algorithm does not fit).
"""

import argparse
import json
import os
import time
import tracemalloc

import numpy as np

from skbait import bait_select
from skbait._engine.reference import materialized_select

K = 10
N_LABELED = 100


def make_problem(n, d, seed=0, dtype="float32", k=K):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n + N_LABELED, d)).astype(dtype)
    logits = 2.0 * rng.normal(size=(n + N_LABELED, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(dtype)
    return h[N_LABELED:], p[N_LABELED:], h[:N_LABELED], p[:N_LABELED]


def run_skbait(h, p, h_lab, p_lab, n_select, dtype, lam="auto",
               approximation=None):
    kw = {} if approximation is None else dict(approximation=approximation)
    tracemalloc.start()
    start = time.perf_counter()
    idx, info = bait_select(h, n_select, pool_proba=p,
                            labeled_embeddings=h_lab, labeled_proba=p_lab,
                            dtype=dtype, lam=lam, return_info=True, **kw)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = info.timings
    if not t:  # block_diagonal keeps no breakdown
        return dict(seconds=seconds, per_step=float("nan"),
                    gemm_share=float("nan"), setup=float("nan"),
                    peak_bytes=peak, forward=info.forward.tolist(),
                    used_numba=info.used_numba, lam=info.lam)
    steps = max(1, info.n_forward - 1)  # the last addition needs no update
    per_step = (t["gemm"] + t["kernel"] + t["commit"]) / steps
    # The numba kernel computes the candidate GEMM inside its parallel loop
    # (its time counts as "kernel"): time the same product on its own.
    gemm = (_gemm_seconds(h, dtype, p.shape[1]) if info.used_numba
            else t["gemm"] / steps)
    return dict(seconds=seconds, per_step=per_step,
                gemm_share=min(1.0, gemm / per_step),
                setup=t["setup"], peak_bytes=peak,
                forward=info.forward.tolist(), used_numba=info.used_numba,
                lam=info.get("lam", lam))  # older versions: the float given


def _gemm_seconds(h, dtype, k, repeats=3):
    """Seconds of one step's candidate GEMM, (N, d) @ (d, 2k²)."""
    hc = h.astype(dtype, copy=False)
    w = np.random.default_rng(0).normal(size=(h.shape[1], 2 * k * k))
    w = w.astype(dtype)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        hc @ w
        times.append(time.perf_counter() - start)
    return min(times)


def run_dense(h, p, h_lab, p_lab, n_select, steps, lam):
    times = []
    picks = materialized_select(
        h.astype(np.float64), n_select, p_pool=p.astype(np.float64),
        h_lab=h_lab.astype(np.float64), p_lab=p_lab.astype(np.float64),
        lam=lam, max_steps=steps, step_times=times)
    # The first step also forms the (N, k, dk) tensor's products once.
    return dict(per_step=float(np.median(times)), forward=picks)


def dense_fits(n, d, k, limit_bytes):
    # V (N·k·dk) plus the per-chunk products: about 3 copies of V in float64.
    return 3 * 8 * n * k * d * k <= limit_bytes


def target_bytes(h, p, d, k):
    return 2 * (h.nbytes + p.nbytes) + 2 * 8 * (d * k) ** 2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[2000, 10000, 50000])
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--dtype", choices=["float32", "float64"],
                        default="float32",
                        help="precision of skbait's O(N) products")
    parser.add_argument("--dense-steps", type=int, default=2,
                        help="forward steps of the dense algorithm to time")
    parser.add_argument("--dense-batches", type=int, nargs="+", default=[10],
                        help="batch sizes at which to run the dense "
                             "algorithm (its step time does not depend on B)")
    parser.add_argument("--dense-max-gib", type=float, default=4.0,
                        help="skip the dense algorithm above this memory")
    parser.add_argument("--lam", default="auto",
                        help='"auto" (default) or a float λ; the dense '
                             "algorithm gets the same λ")
    parser.add_argument("--classes", type=int, default=K,
                        help="number of classes k (default 10)")
    parser.add_argument("--approximation",
                        choices=["block_diagonal", "binary"],
                        help="time this approximation instead of exact "
                             "BAIT (no dense comparison)")
    parser.add_argument("--quick", action="store_true",
                        help="N in {2000, 10000}, d=128, B=10")
    parser.add_argument("--out", default="results/bench_selection",
                        help="folder for the JSON (and PNG) written")
    parser.add_argument("--plot", action="store_true",
                        help="write time per step against N as a PNG")
    args = parser.parse_args(argv)
    if args.lam != "auto":
        args.lam = float(args.lam)
    if args.quick:
        args.sizes, args.dims, args.batches = [2000, 10000], [128], [10]

    # Compile the optional numba kernel outside the timings.
    warm = make_problem(300, 8)
    bait_select(warm[0], 2, pool_proba=warm[1], dtype=args.dtype)

    rows = []
    header = (f"{'N':>6} {'d':>4} {'B':>4} | {'skbait s':>8} {'ms/step':>8} "
              f"{'GEMM%':>6} {'peak MiB':>8} {'target':>7} | "
              f"{'dense ms/step':>13} {'ratio':>7} {'same':>5}")
    k = args.classes
    print(f"k={k}, {N_LABELED} labeled, GEMMs in {args.dtype}, "
          f"lam={args.lam}, approximation={args.approximation}")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        for d in args.dims:
            for b in args.batches:
                h, p, h_lab, p_lab = make_problem(n, d, seed=n + d, k=k)
                ours = run_skbait(h, p, h_lab, p_lab, b, args.dtype,
                                  args.lam, args.approximation)
                row = dict(n=n, d=d, k=k, batch=b, dtype=args.dtype, **ours,
                           approximation=args.approximation,
                           target_bytes=target_bytes(h, p, d, k))
                steps = min(b, args.dense_steps)
                dense_txt = f"{'skipped':>13} {'':>7} {'':>5}"
                if b in args.dense_batches and args.approximation is None \
                        and dense_fits(n, d, k, args.dense_max_gib * 2**30):
                    dense = run_dense(h, p, h_lab, p_lab, b, steps,
                                      ours["lam"])
                    same = dense["forward"] == ours["forward"][:steps]
                    row.update(dense_per_step=dense["per_step"],
                               ratio=dense["per_step"] / ours["per_step"],
                               same_picks=same, dense_steps=steps)
                    dense_txt = (f"{1e3 * dense['per_step']:13.0f} "
                                 f"{row['ratio']:6.0f}x {str(same):>5}")
                print(f"{n:6d} {d:4d} {b:4d} | {ours['seconds']:8.2f} "
                      f"{1e3 * ours['per_step']:8.1f} "
                      f"{100 * ours['gemm_share']:5.0f}% "
                      f"{ours['peak_bytes'] / 2**20:8.0f} "
                      f"{row['target_bytes'] / 2**20:7.0f} | {dense_txt}",
                      flush=True)
                row.pop("forward")
                rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bench_selection.json")
    with open(path, "w") as fh:
        json.dump(rows, fh, indent=1)
    print(f"wrote {path}")
    if args.plot:
        print(f"wrote {plot(rows, args.out)}")
    return rows


def plot(rows, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for d in sorted({r["d"] for r in rows}):
        sel = [r for r in rows if r["d"] == d and r["batch"] == rows[0]["batch"]]
        ns = [r["n"] for r in sel]
        ax.plot(ns, [1e3 * r["per_step"] for r in sel], "o-",
                label=f"skbait, d={d}")
        dense = [(r["n"], 1e3 * r["dense_per_step"]) for r in sel
                 if "dense_per_step" in r]
        if dense:
            ax.plot(*zip(*dense), "s--", label=f"dense (authors'), d={d}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pool size N")
    ax.set_ylabel("ms per greedy step")
    ax.set_title(f"BAIT greedy step, k={rows[0]['k']}")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out, "bench_selection.png")
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
