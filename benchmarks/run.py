"""Reproduce the paper's experiments with skbait (see benchmarks/README.md).

    python benchmarks/run.py quick            # README main job (a few minutes)
    python benchmarks/run.py paper            # everything; hours; resumable
    python benchmarks/run.py paper --only bayes-risk timing
    python benchmarks/run.py paper --only curves --jobs 2 \
        --out benchmarks/runs/paper   # the committed cache of the curves
    python benchmarks/run.py paper --only curves --suite approximations \
        --jobs 2 --out benchmarks/runs/approximations

Writes JSON and PNG files under ``--out`` (default ``results/``).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bayes_risk  # noqa: E402
import experiments  # noqa: E402
import penalty  # noqa: E402


def _progress(total, desc):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False)


def curves(exp, out, resume=True):
    """Run one learning-curve experiment; print its table; plot it."""
    bar = _progress(len(exp.strategies) * len(exp.seeds), exp.name)
    runs = experiments.run_experiment(exp, out, progress=bar, resume=resume)
    if bar is not None:
        bar.close()
    summary = experiments.summarize(runs)
    print(f"\n{exp.name}: {exp.metric_name}, mean ± s.e. over "
          f"{len(exp.seeds)} seeds (batch {exp.batch})")
    names = list(summary)
    print("labels " + "".join(f"{n:>17}" for n in names))
    labels = summary[names[0]][0]
    for r, n_lab in enumerate(labels):
        cells = "".join(f"{summary[n][1][r]:10.4f} ±{summary[n][2][r]:5.3f}"
                        for n in names)
        print(f"{n_lab:6d} {cells}")
    # Mean over the rounds after the first (the first is the same for all).
    print("mean over rounds 1-: " + ", ".join(
        f"{n} {np.mean(summary[n][1][1:]):.4f}" for n in names))
    secs = {n: np.mean([s for r in runs if r["strategy"] == n
                        for s in r["query_seconds"]]) for n in names}
    print("query seconds (mean): " + ", ".join(
        f"{n} {s:.2f}" for n, s in secs.items()))
    for line in compare_to(runs, "BAIT"):
        print(line)
    plot_curves(exp, summary, os.path.join(out, f"{exp.name}.png"))
    return runs, summary


def compare_to(runs, reference, level=0.95):
    """Lines that say, in plain words, what the runs show: each strategy's
    mean over the rounds after the first, with its standard error over the
    seeds, and its paired difference from ``reference`` (same seeds: same
    initial labels and test split), significant or not by a two-sided
    paired t-test at ``level``."""
    from scipy import stats

    per_seed = {}
    for r in runs:
        per_seed.setdefault(r["strategy"], {})[r["seed"]] = float(
            np.mean(r["scores"][1:]))
    if reference not in per_seed:
        return []
    lines = [f"\nmean over rounds 1- (± standard error over seeds), and the "
             f"paired difference from {reference}:"]
    ref = per_seed[reference]
    for name, values in per_seed.items():
        v = np.array(list(values.values()))
        sem = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
        line = f"  {name:>10}: {v.mean():.4f} ± {sem:.4f}"
        seeds = sorted(set(values) & set(ref))
        if name != reference and len(seeds) > 1:
            diff = np.array([values[s] - ref[s] for s in seeds])
            d_sem = diff.std(ddof=1) / np.sqrt(len(diff))
            t_crit = stats.t.ppf(0.5 + level / 2, len(diff) - 1)
            noise = abs(diff.mean()) <= t_crit * d_sem
            word = "higher" if diff.mean() > 0 else "lower"
            verdict = (f"within noise at {len(diff)} paired seeds (a "
                       f"{level:.0%} interval is ± {t_crit * d_sem:.4f})"
                       if noise else
                       f"significantly {word} than {reference} "
                       f"({level:.0%}, {len(diff)} paired seeds)")
            line += (f"; {name} - {reference} = {diff.mean():+.4f} "
                     f"± {d_sem:.4f}: {verdict}")
        lines.append(line)
    return lines


def plot_curves(exp, summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (labels, mean, sem) in summary.items():
        ax.plot(labels, mean, label=name)
        ax.fill_between(labels, mean - sem, mean + sem, alpha=0.2)
    ax.set_xlabel("number of labels")
    ax.set_ylabel(exp.metric_name)
    ax.set_title(f"{exp.name} ({len(exp.seeds)} seeds, ± s.e.)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def penalty_matrix(results, out, bait="BAIT", tag=""):
    """Sum the per-experiment matrices over the experiments given.

    ``bait`` is the strategy that plays BAIT (e.g. "BAIT (lam=1)" for the
    matrix of the paper's fixed λ); ``tag`` suffixes the output files.
    """
    names = None
    total = None
    for exp, runs in results:
        scores = {}
        for name in exp.strategies:
            curves_ = [r for r in runs if r["strategy"] == name]
            if not curves_:
                continue
            n = min(len(r["scores"]) for r in curves_)
            key = "BAIT" if name == bait else (
                None if name == "BAIT" else name)
            if key is not None:
                scores[key] = np.array([r["scores"][:n] for r in curves_])
        common = [n for n in ("BAIT", "BADGE", "CORESET", "CONFIDENCE",
                              "RANDOM") if n in scores]
        labels = [r for r in runs if r["strategy"] == "RANDOM"][0]["labels"]
        mat, _ = penalty.experiment_matrix(scores, labels, exp.n_init,
                                           exp.batch, common)
        full = ["BAIT", "BADGE", "CORESET", "CONFIDENCE", "RANDOM"]
        big = np.zeros((5, 5))
        idx = [full.index(n) for n in common]
        big[np.ix_(idx, idx)] = mat
        total = big if total is None else total + big
        names = full
    if total is None:
        return None
    means = penalty.column_means(total)
    print(f"\npairwise penalty matrix (row beats column; BAIT = {bait}), "
          f"summed over {len(results)} experiments")
    print(" " * 11 + "".join(f"{n:>11}" for n in names))
    for n, row in zip(names, total):
        print(f"{n:>11}" + "".join(f"{v:11.2f}" for v in row))
    print(f"{'col. mean':>11}" + "".join(f"{v:11.2f}" for v in means))
    _plot_matrix(total, means, names,
                 os.path.join(out, f"penalty{tag}.png"))
    with open(os.path.join(out, f"penalty{tag}.json"), "w") as fh:
        json.dump({"names": names, "matrix": total.tolist(),
                   "column_means": means.tolist()}, fh, indent=1)
    return total


def head_to_head(results, a="BAIT", b="BAIT (lam=1)"):
    """Where ``a`` and ``b`` differ significantly (two-sided paired t-test
    over seeds, the penalty matrix's criterion) at any budget after the
    first, experiment by experiment; prints the cells and the counts."""
    from scipy import stats

    wins = {a: [], b: []}
    n_cells = 0
    for exp, runs in results:
        by = {n: [r for r in runs if r["strategy"] == n] for n in (a, b)}
        if not by[a] or not by[b]:
            continue
        n = min(len(r["scores"]) for r in by[a] + by[b])
        sa = np.array([r["scores"][:n] for r in by[a]])
        sb = np.array([r["scores"][:n] for r in by[b]])
        crit = stats.t.ppf(0.975, sa.shape[0] - 1)
        labels = by[a][0]["labels"]
        for r in range(1, n):
            n_cells += 1
            t = penalty.paired_t(sa[:, r] - sb[:, r])
            if abs(t) > crit:
                winner = a if t > 0 else b
                wins[winner].append(
                    f"{exp.name} @ {labels[r]}: "
                    f"{sa[:, r].mean():.4f} vs {sb[:, r].mean():.4f}")
    print(f"\n{a} against {b}: significant differences (paired t, "
          f"p < 0.05) at {n_cells} budgets of {len(results)} experiments")
    for name in (a, b):
        print(f"  {name} better at {len(wins[name])}:")
        for cell in wins[name]:
            print(f"    {cell}")
    return wins


def _plot_matrix(matrix, means, names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    shown = np.vstack([matrix, means])
    ax.imshow(shown, cmap="viridis")
    for (i, j), v in np.ndenumerate(shown):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w")
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_yticks(range(len(names) + 1), names + ["col. mean"])
    ax.set_title("row beats column (penalty matrix)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def timing(out, sizes=(1000, 2000, 4000, 8000, 16000), d=128, k=10,
           batch=10):
    """Selection seconds as the pool grows (paper Fig. 9)."""
    from skbait import bait_select
    from skbait._engine.baselines import badge_select, coreset_select, random_select

    rng = np.random.default_rng(0)
    rows = []
    # Compile the optional numba kernel before timing anything.
    warm = rng.normal(size=(50, d)).astype(np.float32)
    warm_p = np.full((50, k), 1.0 / k)
    bait_select(warm, 2, pool_proba=warm_p)
    for n in sizes:
        h = rng.normal(size=(n, d)).astype(np.float32)
        logits = 2 * rng.normal(size=(n, k))
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        h64 = h.astype(np.float64)
        row = {"n": n}
        for name, fn in [
            ("BAIT", lambda: bait_select(h, batch, pool_proba=p)),
            ("BADGE", lambda: badge_select(h64, p, batch,
                                           np.random.default_rng(0))),
            ("CORESET", lambda: coreset_select(h64, batch, h64[:100])),
            ("RANDOM", lambda: random_select(n, batch,
                                             np.random.default_rng(0))),
        ]:
            start = time.perf_counter()
            fn()
            row[name] = time.perf_counter() - start
        rows.append(row)
        print("timing N={n}: ".format(n=n) + ", ".join(
            f"{k_} {v:.3f}s" for k_, v in row.items() if k_ != "n"))
    with open(os.path.join(out, "timing.json"), "w") as fh:
        json.dump(rows, fh, indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("BAIT", "BADGE", "CORESET", "RANDOM"):
        ax.plot([r["n"] for r in rows], [r[name] for r in rows], "o-",
                label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pool size N")
    ax.set_ylabel(f"seconds to select B={batch} (d={d}, k={k})")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out, "timing.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return rows


PAPER_PARTS = ["bayes-risk", "curves", "timing"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Reproduce the BAIT paper's experiments with skbait.")
    parser.add_argument("mode", choices=["quick", "paper"])
    parser.add_argument("--out", default="results")
    parser.add_argument("--only", nargs="+", choices=PAPER_PARTS,
                        help="paper mode: run only these parts")
    parser.add_argument("--experiments", nargs="+",
                        help="paper mode: only these learning-curve "
                             "experiments (by name)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="override the seeds")
    parser.add_argument("--suite", choices=["paper", "approximations"],
                        default="paper",
                        help="paper mode: the learning curves of the paper "
                             "(default) or exact BAIT against its "
                             "approximations")
    parser.add_argument("--jobs", type=int, default=1,
                        help="paper mode: compute missing learning-curve "
                             "runs on this many processes first")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore cached runs")
    parser.add_argument("--cached-only", action="store_true",
                        help="paper mode: tables, plots and the penalty "
                             "matrix from complete cached experiments only")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    if args.mode == "quick":
        exp = experiments.quick_experiment()
        if args.seeds:
            exp.seeds = args.seeds
        curves(exp, args.out, resume=not args.fresh)
    else:
        parts = args.only or PAPER_PARTS
        if "bayes-risk" in parts:
            result = bayes_risk.run()
            with open(os.path.join(args.out, "bayes_risk.json"), "w") as fh:
                json.dump(result, fh, indent=1)
            for kind, risks in result["risk"].items():
                print(f"\nBayes risk, {kind} data")
                print("B      " + "".join(f"{n:>24}" for n in risks))
                for i, b in enumerate(result["batches"]):
                    print(f"{b:<6} " + "".join(f"{risks[n][i]:24.4g}"
                                               for n in risks))
            print("wrote " + bayes_risk.plot(
                result, os.path.join(args.out, "bayes_risk.png")))
        if "curves" in parts:
            suite = (experiments.paper_experiments()
                     if args.suite == "paper"
                     else experiments.approximation_experiments())
            exps = [e for e in suite
                    if not args.experiments or e.name in args.experiments]
            for exp in exps:
                if args.seeds:
                    exp.seeds = args.seeds
            if args.jobs > 1 and not args.cached_only and not args.fresh:
                experiments.run_missing(exps, args.out, args.jobs)
            results = []
            for exp in exps:
                if args.cached_only and not experiments.is_complete(
                        exp, args.out):
                    print(f"{exp.name}: runs missing, skipped (--cached-only)")
                    continue
                runs, _ = curves(exp, args.out, resume=not args.fresh)
                results.append((exp, runs))
            # The paper's pairwise comparison (its five strategies).
            with_random = [(e, r) for e, r in results
                           if "RANDOM" in e.strategies
                           and args.suite == "paper"]
            penalty_matrix(with_random, args.out)
            # The same matrix with the paper's fixed λ as BAIT, side by
            # side with the default's (docs/results.md §10).
            if with_random and all("BAIT (lam=1)" in e.strategies
                                   for e, _ in with_random):
                penalty_matrix(with_random, args.out, bait="BAIT (lam=1)",
                               tag="-lam1")
                head_to_head(with_random)
        if "timing" in parts:
            timing(args.out)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
