"""Choosing ``lam_factor`` (the c of ``lam="auto"``) on validation data.

Protocol (written before any run; docs/results.md, "Choosing lam_factor"):

1. Every learning-curve experiment of ``experiments.paper_experiments()``
   (deep and linear classification, linear and MLP regression, small and
   large initial labeled sets), BAIT only.
2. Validation data only: the experiment's test split is never scored.
   Its pool is split again, 80 % pool and 20 % validation (stratified for
   classification), and the learning curve is scored on the validation
   part. Seeds 100, 101, 102, disjoint from the test seeds 0-4, so the
   initial labels and the models differ too.
3. Grid: c in {0.01, 0.03, 0.1, 0.3, 1, 3} with ``lam="auto"``; the float
   ``lam=1.0`` (the paper's value) is run alongside for reference and is
   not a candidate.
4. Score of a run: the mean of the validation metric over rounds 1..R
   (the area under the learning curve after the shared start). Per
   experiment, the mean over seeds ranks the six c (rank 1 = best).
5. The chosen c has the lowest mean rank over all experiments; ties go to
   the larger mean of the per-experiment min-max normalised score.

Runs are cached as JSON (one file per experiment, configuration and seed)
under ``--out`` and reused, so the study can stop and resume:

    python benchmarks/lam_study.py --jobs 2             # run what is missing
    python benchmarks/lam_study.py --report             # tables from cache
"""

import os

# One thread per worker: the workers run side by side on all cores.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import experiments  # noqa: E402

GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
SEEDS = (100, 101, 102)
VALIDATION_FRACTION = 0.2
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "runs", "lam-study")


def configs():
    """Configuration name -> keyword arguments of ``BAITSampler``."""
    out = {f"auto c={c:g}": dict(lam="auto", lam_factor=c) for c in GRID}
    out["lam=1"] = dict(lam=1.0)
    return out


def validation_data(loader, stratify):
    """``seed -> (X_fit_pool, y_fit_pool, X_val, y_val)`` from the pool of
    ``loader(seed)``; the test split is dropped unseen."""
    def data(seed):
        X_pool, y_pool, _, _ = loader(seed)
        X_fit, X_val, y_fit, y_val = train_test_split(
            X_pool, y_pool, test_size=VALIDATION_FRACTION,
            random_state=seed, stratify=y_pool if stratify else None)
        return X_fit, y_fit, X_val, y_val
    return data


def validation_experiments():
    """The paper experiments on validation data, with the λ grid as
    strategies."""
    import skbait

    out = []
    for exp in experiments.paper_experiments():
        stratify = exp.name.startswith(("deep-", "linear-"))
        exp.data = validation_data(exp.data, stratify)
        exp.strategies = {
            name: (lambda seed, kw=kw: skbait.BAITSampler(**kw))
            for name, kw in configs().items()}
        exp.seeds = list(SEEDS)
        exp.metric_name = "validation " + exp.metric_name.replace(
            "test ", "")
        out.append(exp)
    return out


def _tasks():
    """(experiment index, config, seed), seed-major: every experiment gets
    its first seed's grid before any gets a second."""
    exps = validation_experiments()
    return [(i, name, seed) for seed in SEEDS for i in range(len(exps))
            for name in configs()]


def _run_task(task):
    import torch

    torch.set_num_threads(1)
    i, name, seed = task
    exp = validation_experiments()[i]
    path = experiments.run_path(DEFAULT_OUT_DIR[0], exp, name, seed)
    if experiments.read_run(path, exp) is not None:
        return task, 0.0
    start = time.perf_counter()
    run = experiments.run_curve(exp, name, seed)
    experiments.write_run(path, run)
    return task, time.perf_counter() - start


DEFAULT_OUT_DIR = [DEFAULT_OUT]


def run_all(out, jobs):
    import multiprocessing

    DEFAULT_OUT_DIR[0] = out
    for exp in validation_experiments():
        os.makedirs(os.path.join(out, exp.name), exist_ok=True)
    tasks = _tasks()
    done = 0
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for (i, name, seed), secs in pool.imap_unordered(_run_task, tasks):
            done += 1
            print(f"[{done}/{len(tasks)}] exp {i} {name} seed {seed}: "
                  f"{secs:.0f} s", flush=True)


def curve_score(run):
    """Mean validation metric over rounds 1..R."""
    return float(np.mean(run["scores"][1:]))


def report(out):
    """Per-experiment mean scores, ranks and the chosen c."""
    names = list(configs())
    grid_names = names[:len(GRID)]
    rows = []
    n_seeds = []
    for exp in validation_experiments():
        runs = {(name, seed): experiments.read_run(
            experiments.run_path(out, exp, name, seed), exp)
            for name in names for seed in exp.seeds}
        # Seeds whose whole grid is cached (paired comparisons only).
        seeds = [s for s in exp.seeds
                 if all(runs[n, s] is not None for n in grid_names)]
        if not seeds:
            print(f"{exp.name}: no seed with the whole grid yet; left out")
            continue
        n_seeds.append(len(seeds))
        means = {n: np.mean([curve_score(runs[n, s]) for s in seeds])
                 for n in names
                 if all(runs[n, s] is not None for s in seeds)}
        vals = np.array([means[n] for n in grid_names])
        order = (-vals).argsort(kind="stable")
        ranks = np.empty(len(vals))
        ranks[order] = np.arange(1, len(vals) + 1)
        span = vals.max() - vals.min()
        norm = (vals - vals.min()) / span if span > 0 else np.ones(len(vals))
        rows.append((exp, means, ranks, norm))
    if not rows:
        print("no complete experiment yet")
        return None
    print(f"\nvalidation score (mean metric over rounds 1..R, mean over "
          f"{min(n_seeds)}-{max(n_seeds)} of the {len(SEEDS)} seeds); rank "
          "among the c in brackets")
    print(f"{'experiment':<30}" + "".join(f"{n:>17}" for n in names))
    for exp, means, ranks, _ in rows:
        cells = "".join(
            f"{means[n]:10.4f} ({ranks[j]:.0f})  " if j < len(GRID)
            else f"{means.get(n, np.nan):10.4f}      "
            for j, n in enumerate(names))
        print(f"{exp.name:<30}{cells}")
    mean_rank = np.mean([r[2] for r in rows], axis=0)
    mean_norm = np.mean([r[3] for r in rows], axis=0)
    print(f"{'mean rank':<30}" + "".join(f"{v:17.2f}" for v in mean_rank))
    print(f"{'mean normalised score':<30}"
          + "".join(f"{v:17.3f}" for v in mean_norm))
    best = min(range(len(GRID)), key=lambda j: (mean_rank[j], -mean_norm[j]))
    print(f"\nchosen: lam_factor = {GRID[best]:g} over {len(rows)} "
          "experiments")
    return GRID[best]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--report", action="store_true",
                        help="only print the tables from cached runs")
    args = parser.parse_args(argv)
    if not args.report:
        start = time.perf_counter()
        run_all(args.out, args.jobs)
        print(f"study runs: {time.perf_counter() - start:.0f} s")
    report(args.out)


if __name__ == "__main__":
    main()
