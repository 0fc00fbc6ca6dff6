"""A Dask pool picks the batch one process picks: picks in common.

The problem of skbait issue 32: N = 50 000 pool points, d = 64, k = 10,
B = 100, 100 labeled points, embeddings ``|N(0, 1)|``, softmax
probabilities of normal logits; the Dask pool is persisted in 4 blocks
on a ``LocalCluster`` of 2 worker processes of 1 thread each. For every
registered rule that runs classification, four selections: in one
process in float64 and float32, and on the cluster in float64 and
float32 (the same arrays, the Dask array made from them). The table
gives the picks (out of B) that each batch shares with the in-process
float64 batch, and the picks the Dask batch shares with the in-process
batch of its own precision; regression (the probabilities left out)
is one more row.

What it checks (docs/design.md §11): the engine cuts every pass over
the pool into chunks of a fixed tiling of the global row indices, and
a Dask pool's blocks are rechunked onto that tiling, so that a block's
products and per-chunk sums are the numbers the whole pool gives in one
process; only the order in which the blocks' float64 Fisher sums are
added differs (relative rounding of 1e-16).

It also times entering and leaving the BLAS limit a block's task takes
(``threads.scoped_single_threaded_blas``) against threadpoolctl's
``threadpool_limits``, on a worker.

``--quick`` runs a small version (a test); ``--n`` sets the pool size.
Run: ``python benchmarks/bench_dask_parity.py`` (about two minutes on
two cores; prints the table).
"""

import argparse
import sys
import time

import numpy as np

D, K, B, N_LABELED, BLOCKS = 64, 10, 100, 100, 4


def problem(n, d, k, n_labeled, seed=0):
    rng = np.random.default_rng(seed)
    h = np.abs(rng.normal(size=(n + n_labeled, d)))
    logits = rng.normal(size=(n + n_labeled, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return h[:n], p[:n], h[n:], p[n:]


def scope_cost(repeats=2000):
    """Seconds to enter and leave each BLAS limit once (on a worker)."""
    from threadpoolctl import threadpool_limits

    from skbait._engine.backends.threads import scoped_single_threaded_blas

    out = {}
    for name, make in (("scoped_single_threaded_blas",
                        scoped_single_threaded_blas),
                       ("threadpool_limits(1)",
                        lambda: threadpool_limits(limits=1,
                                                  user_api="blas"))):
        with make():  # the first call finds the libraries
            pass
        start = time.perf_counter()
        for _ in range(repeats):
            with make():
                pass
        out[name] = (time.perf_counter() - start) / repeats
    return out


def run(n, d, k, b, n_labeled, rules, chunk_size=None):
    import dask.array as da
    from distributed import Client, LocalCluster

    from skbait import bait_select

    h, p, h_lab, p_lab = problem(n, d, k, n_labeled)
    rows = -(-n // BLOCKS)
    cases = [(name, True) for name in rules] + [("exact", False)]
    lines = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        costs = list(client.run(scope_cost).values())[0]
        for what, seconds in costs.items():
            print(f"# entering and leaving {what} on a worker: "
                  f"{1e6 * seconds:.1f} µs", flush=True)
        print(flush=True)
        print("| rule            | np64 ∩ dask64 | np64 ∩ np32 | np64 ∩ dask32 "
              "| np32 ∩ dask32 | dask32 == np32 (order too) |")
        print("|---|---|---|---|---|---|", flush=True)
        for name, classification in cases:
            picks = {}
            for dtype in ("float64", "float32"):
                hx, px = h.astype(dtype), p.astype(dtype)
                hl, pl = h_lab.astype(dtype), p_lab.astype(dtype)
                if not classification:
                    px = pl = None
                kw = dict(labeled_embeddings=hl, labeled_proba=pl,
                          approximation=name, chunk_size=chunk_size)
                start = time.perf_counter()
                picks["np", dtype] = bait_select(hx, b, pool_proba=px, **kw)
                local = time.perf_counter() - start
                hd = client.persist(da.from_array(hx, chunks=(rows, -1)))
                pd = None if px is None else client.persist(
                    da.from_array(px, chunks=(rows, -1)))
                start = time.perf_counter()
                picks["dask", dtype] = bait_select(hd, b, pool_proba=pd,
                                                   **kw)
                remote = time.perf_counter() - start
                print(f"  {name:<15} {'classif.' if classification else 'regr.':<8}"
                      f" {dtype}: {local:6.1f} s in one process, "
                      f"{remote:6.1f} s on the cluster", file=sys.stderr,
                      flush=True)

            def common(a, c):
                return len(set(picks[a].tolist()) & set(picks[c].tolist()))

            def same(a, c):
                return "yes" if picks[a].tolist() == picks[c].tolist() \
                    else "no"

            label = name if classification else "regression"
            lines.append(
                f"| {label:<15} | {common(('np', 'float64'), ('dask', 'float64')):>3} "
                f"| {common(('np', 'float64'), ('np', 'float32')):>3} "
                f"| {common(('np', 'float64'), ('dask', 'float32')):>3} "
                f"| {common(('np', 'float32'), ('dask', 'float32')):>3} "
                f"| {same(('np', 'float32'), ('dask', 'float32')):>3} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from skbait._engine.rules import RULES

    rules = [name for name, spec in RULES.items() if spec.classification]
    n, d, k, b, n_lab = args.n, D, K, B, N_LABELED
    chunk_size = None
    if args.quick:  # small chunks: the tiling leaves the 4 blocks apart
        n, d, k, b, n_lab, chunk_size = 2000, 8, 4, 10, 10, 16
    print(f"# Dask pool vs one process: picks in common (N = {n}, d = {d}, "
          f"k = {k}, B = {b}, {n_lab} labeled, |N(0,1)| embeddings, softmax "
          f"probabilities; {BLOCKS} blocks on 2 worker processes x 1 "
          "thread)")
    print()
    lines = run(n, d, k, b, n_lab, rules, chunk_size)
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
