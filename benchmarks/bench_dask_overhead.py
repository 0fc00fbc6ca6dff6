"""The Dask overhead, rule by rule: a pool on a cluster against the same
numbers in one process (docs/results.md §13).

N = 2·10⁵, d = 64, k = 10, B = 100, 100 labeled, float32 (|N(0,1)|
embeddings, softmax probabilities). The cluster: a ``LocalCluster`` of 2
worker processes × 1 thread, the pool persisted on it in 4 blocks; one
process: the same arrays as NumPy, ``n_jobs=2``. Each rule is timed
``--repeats`` times on each side (the best is kept), alternating, after a
warm-up selection on each; the batches are checked equal.

    python benchmarks/bench_dask_overhead.py
"""

import argparse
import os
import sys
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--b", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rules", nargs="+",
                        default=["block_diagonal", "exact", "auto"])
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster, wait

    from skbait import bait_select

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_dask import machine_line

    print(machine_line(), flush=True)
    rng = np.random.default_rng(0)
    n, d, k = args.n + 100, args.d, args.k
    h = np.abs(rng.normal(size=(n, d))).astype(np.float32)
    logits = rng.normal(size=(n, k)) * 2
    p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(
        np.float32)
    h_pool, p_pool, h_lab, p_lab = h[:args.n], p[:args.n], h[args.n:], \
        p[args.n:]
    rows = -(-args.n // args.blocks)
    print(f"N = {args.n}, d = {d}, k = {k}, B = {args.b}, 100 labeled, "
          f"float32; cluster: 2 workers x 1 thread, {args.blocks} blocks "
          f"persisted; one process: n_jobs=2", flush=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        dh = da.from_array(h_pool, chunks=(rows, -1))
        dp = da.from_array(p_pool, chunks=(rows, -1))
        dh, dp = client.persist([dh, dp])
        wait([dh, dp])

        def on(pool_h, pool_p, rule):
            start = time.perf_counter()
            idx, info = bait_select(pool_h, args.b, pool_proba=pool_p,
                                    labeled_embeddings=h_lab,
                                    labeled_proba=p_lab, approximation=rule,
                                    n_jobs=2, return_info=True)
            return time.perf_counter() - start, np.asarray(idx), info

        for rule in args.rules:  # warm-ups: imports, numba kernels
            on(dh[:20_000], dp[:20_000], rule)
            on(h_pool[:20_000], p_pool[:20_000], rule)
        ratios = {}
        for rule in args.rules:
            one, dask = [], []
            for _ in range(args.repeats):
                t, idx_np, info = on(h_pool, p_pool, rule)
                one.append(t)
                t, idx_da, info_da = on(dh, dp, rule)
                dask.append(t)
            same = idx_np.tolist() == idx_da.tolist()
            ratios[rule] = min(dask) / min(one)
            print(f"{rule:>15} ({info.approximation}): one process "
                  f"{min(one):6.1f} s, cluster {min(dask):6.1f} s "
                  f"({info_da.n_chunks} blocks): {ratios[rule]:.2f}x; "
                  f"same batch: {same}", flush=True)
    return ratios


if __name__ == "__main__":
    main()
