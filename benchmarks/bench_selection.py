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

import sys

import numpy as np

from skbait import bait_select

# The authors' dense algorithm lives beside the tests' oracles, outside the
# installed package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.reference import materialized_select  # noqa: E402

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
    kw = dict(approximation=approximation or "exact")
    tracemalloc.start()
    start = time.perf_counter()
    idx, info = bait_select(h, n_select, pool_proba=p,
                            labeled_embeddings=h_lab, labeled_proba=p_lab,
                            dtype=dtype, lam=lam, return_info=True, **kw)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = info.timings
    if not t:  # older block_diagonal kept no breakdown
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
                lam=info.get("lam", lam),  # older versions: the float given
                timings=dict(t), n_forward=info.n_forward)


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


def machine_rates(n_jobs=2, d=512, j=200, rows=40_000):
    """This machine's rates, measured now, as the engine runs on it:
    float32 and float64 GEMMs of the candidate product's shape (rows × d
    times d × j) and float32 Aᵀ A products, on ``n_jobs`` threads each
    calling single-threaded BLAS; and the memory bandwidth of a streaming
    read on ``n_jobs`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)

    def rate(fn, flops, repeats=3):
        best = np.inf
        with ThreadPoolExecutor(n_jobs) as pool:
            for _ in range(repeats):
                start = time.perf_counter()
                list(pool.map(lambda _: fn(), range(n_jobs)))
                best = min(best, time.perf_counter() - start)
        return n_jobs * flops / best

    out = {}
    with threadpool_limits(1, user_api="blas"):
        for name, dtype in (("gemm32", np.float32), ("gemm64", np.float64)):
            h = rng.normal(size=(rows, d)).astype(dtype)
            w = rng.normal(size=(d, j)).astype(dtype)
            out[name] = rate(lambda: h @ w, 2 * rows * d * j)
        h = rng.normal(size=(rows, d)).astype(np.float32)
        out["gram32"] = rate(lambda: h.T @ h, rows * d * d)
        big = rng.normal(size=(n_jobs, 2 ** 25))  # 256 MiB a thread
        out["bandwidth"] = rate(lambda: float(big[0].sum()),
                                big[0].nbytes)
    return out


def phase_floors(n, d, k, n_lab, n_select, n_forward, approximation,
                 gemm_bytes, rates):
    """Seconds each phase of a selection cannot go below on this machine:
    its arithmetic at the measured GEMM rate or, for the commits, the
    bytes they must read at the measured bandwidth (docs/results.md §1)."""
    gemm = rates["gemm32"] if gemm_bytes == 4 else rates["gemm64"]
    n_all = n + n_lab
    steps = n_forward - 1
    commits = n_forward + max(0, n_forward - n_select)
    if approximation == "block_diagonal":
        setup = (n_all * d * d * k / rates["gram32"]        # F: k Aᵀ A
                 + 2 * n * d * d * k / gemm                  # b forms
                 + 2 * n * d * n_lab * k / gemm              # a forms
                 + 4 * d ** 3 * k / rates["gemm64"])          # C
        kernel = steps * 2 * n * d * 2 * k / gemm
        base = 2 * 8 * k * n_lab * d if 2 * n_lab <= d else 8 * k * d * d
        w = 2 * 8 * k * d * commits / 2                      # W, average
        commit = commits * (8 * k * d * d + 2 * (base + w)) \
            / rates["bandwidth"]
        return dict(setup=setup, kernel=kernel, commit=commit)
    if approximation == "binary":
        # Rank-one BAIT on the weighted embeddings: every phase reads or
        # forms d-wide things; a step is one pass over the pool's rows.
        setup = (2 * n_all * d * d / rates["gram32"]        # F, d × d
                 + 2 * n * d * d / gemm                      # B forms
                 + 2 * n * d * n_lab / gemm)                 # A forms
        kernel = steps * n * d * gemm_bytes / rates["bandwidth"]
        commit = commits * 3 * 8 * d * d / rates["bandwidth"]
        return dict(setup=setup, kernel=kernel, commit=commit)
    dk = d * k
    r = n_lab * k
    setup = (n_all * dk * dk / gemm                          # F, upper
             + n * d * d * k * (k + 1) / gemm                # B forms
             + (2 * n * d * r * k if r <= dk // 2            # A forms
                else n * d * d * k * (k + 1)) / gemm
             + 4 * dk * dk * min(r, dk) / rates["gemm64"])   # C's strips
    kernel = steps * 2 * n * d * 2 * k * k / gemm
    base = 2 * 8 * dk * r if r <= dk // 2 else 8 * dk * dk
    w = 2 * 8 * dk * k * commits / 2                         # W, average
    commit = commits * (8 * dk * dk + 2 * (base + w)) / rates["bandwidth"]
    return dict(setup=setup, kernel=kernel, commit=commit)


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
    parser.add_argument("--floors", action="store_true",
                        help="measure this machine's GEMM rates and memory "
                             "bandwidth and print, for each phase, the time "
                             "it cannot go below and the ratio to it")
    args = parser.parse_args(argv)
    if args.lam != "auto":
        args.lam = float(args.lam)
    if args.quick:
        args.sizes, args.dims, args.batches = [2000, 10000], [128], [10]

    # Compile the optional numba kernel outside the timings.
    warm = make_problem(300, 8)
    bait_select(warm[0], 2, pool_proba=warm[1], dtype=args.dtype)

    rates = None
    if args.floors:
        rates = machine_rates()
        print("machine (2 threads, single-threaded BLAS each, "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}): "
              f"float32 GEMM {rates['gemm32'] / 1e9:.0f} GFLOP/s, float64 "
              f"{rates['gemm64'] / 1e9:.0f} GFLOP/s, float32 AᵀA "
              f"{rates['gram32'] / 1e9:.0f} GFLOP/s, read "
              f"{rates['bandwidth'] / 1e9:.1f} GB/s")
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
                if args.floors:
                    row["floors"] = _print_floors(n, d, k, b, ours, args,
                                                  rates)
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


def _print_floors(n, d, k, b, ours, args, rates):
    floors = phase_floors(
        n, d, k, N_LABELED, b, ours["n_forward"], args.approximation,
        4 if args.dtype == "float32" else 8, rates)
    t = ours["timings"]
    measured = dict(setup=t["setup"], kernel=t["kernel"] + t["gemm"],
                    commit=t["commit"])
    parts = [f"{key} {measured[key]:.1f} s / floor {floors[key]:.1f} s = "
             f"{measured[key] / floors[key]:.1f}x" for key in floors]
    print("        " + "; ".join(parts), flush=True)
    return dict(floors=floors, measured=measured)


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
