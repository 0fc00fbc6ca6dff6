"""A Dask selection's predicted seconds against its measured ones, on the
user guide's cluster example (docs/user_guide.md, "Beyond one machine"):
digits, a logistic regression fitted on 200 points, the other 1 597 as a
Dask pool in blocks of 400 persisted on a ``LocalCluster`` of 2 workers
× 1 thread, 10 points chosen by ``BAITSampler``. The prediction counts
the rule's flops and bytes at this machine's rates and each round trip to
the workers (a greedy step's, and the set-up's calls), measured on the
cluster (docs/design.md §10).

    python benchmarks/bench_dask_predicted.py
"""

import os

import dask.array as da
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from skbait import BAITSampler


def main(repeats=4):
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}")
    X, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X[:200], y[:200])
    ratios = []
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, \
            Client(cluster):
        X_pool = da.from_array(X[200:], chunks=(400, -1)).persist()
        for run in range(repeats):
            sampler = BAITSampler()
            sampler(model, X_pool, n_instances=10, X_labeled=X[:200])
            info = sampler.info_
            predicted = info.predicted_seconds[info.approximation]
            ratios.append(predicted / info.seconds)
            when = "first: the workers import skbait" if run == 0 else "warm"
            print(f"run {run} ({when}): "
                  f"rule {info.approximation}, {info.n_chunks} blocks; "
                  f"predicted {predicted:.3f} s, measured {info.seconds:.3f} s "
                  f"(bait_select's call): {ratios[-1]:.2f}", flush=True)
    warm = ratios[1:]
    print(f"\nwarm runs: predicted / measured {min(warm):.2f}-{max(warm):.2f}")
    return ratios


if __name__ == "__main__":
    main()
