"""The benchmark machinery at tiny sizes, and the penalty-matrix arithmetic."""

import json
import os
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "benchmarks")
sys.path.insert(0, BENCH)

import bayes_risk  # noqa: E402
import bench_selection  # noqa: E402
import bench_skactiveml  # noqa: E402
import experiments  # noqa: E402
import logdet  # noqa: E402
import penalty  # noqa: E402
import rule_study  # noqa: E402
import run as runner  # noqa: E402


def test_considered_rounds_stop_where_random_is_within_one_percent():
    labels = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    random_mean = np.array([.5, .6, .7, .75, .8, .85, .9, .95, .99, 1.0])
    # Within 1% of 1.0 first at round 8 (0.99); budgets 10 + 2^k·10 = 20,
    # 30, 50, 90 (k = 0..3), all at or before round 8.
    assert penalty.considered_rounds(labels, random_mean, 10, 10) == \
        [1, 2, 4, 8]
    # Converged at round 3 (0.75 vs 0.755): budgets 20 and 30 only.
    flat = np.array([.5, .6, .7, .75, .75, .75, .75, .75, .75, .755])
    assert penalty.considered_rounds(labels, flat, 10, 10) == [1, 2]


def test_paired_t():
    assert penalty.paired_t([1.0, 2.0, 3.0]) == pytest.approx(
        2.0 / (1.0 / np.sqrt(3)))
    assert penalty.paired_t([0.5, 0.5]) == np.inf
    assert penalty.paired_t([0.0, 0.0]) == 0.0


def test_penalty_matrix_on_hand_made_scores():
    labels = [10, 20, 30, 50]
    seeds = 5
    base = np.array([0.5, 0.6, 0.7, 0.8])
    noise = np.array([0.0, 0.001, -0.001, 0.002, -0.002])[:, None]
    scores = {
        # A beats B and RANDOM everywhere by a wide margin.
        "A": np.tile(base + 0.1, (seeds, 1)) + noise,
        "B": np.tile(base, (seeds, 1)) - noise,
        # RANDOM equals B up to noise of zero mean: no significant win.
        "RANDOM": np.tile(base, (seeds, 1)) + noise[::-1],
    }
    # RANDOM's final mean is 0.8; within 1% only at the last round, so the
    # budgets 20, 30, 50 (rounds 1, 2, 3) count: z = 3.
    mat, rounds = penalty.experiment_matrix(scores, labels, 10, 10,
                                            ["A", "B", "RANDOM"])
    assert rounds == [1, 2, 3]
    np.testing.assert_allclose(mat, [[0, 1, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(penalty.column_means(mat), [0, 0.5, 0.5])


def test_penalty_counts_fractions_of_budgets():
    labels = [10, 20, 30]
    scores = {
        "A": np.array([[0.1, 0.60, 0.9], [0.1, 0.61, 0.9], [0.1, 0.62, 0.91]]),
        "RANDOM": np.array([[0.1, 0.5, 0.9], [0.1, 0.5, 0.9],
                            [0.1, 0.51, 0.91]]),
    }
    # Budgets 20 and 30 considered; A wins only at 20: entry 1/2.
    mat, rounds = penalty.experiment_matrix(scores, labels, 10, 10,
                                            ["A", "RANDOM"])
    assert rounds == [1, 2]
    np.testing.assert_allclose(mat, [[0, 0.5], [0, 0]])


def test_learning_curve_run_writes_and_resumes(tmp_path):
    exp = experiments.Experiment(
        name="tiny", data=experiments.digits,
        model=lambda X, y, seed: LogisticRegression(max_iter=100),
        metric=experiments.accuracy, metric_name="accuracy",
        strategies={k: v for k, v in
                    experiments.classification_strategies().items()},
        n_init=20, batch=5, rounds=2, seeds=[0, 1])
    runs = experiments.run_experiment(exp, str(tmp_path))
    n_runs = len(exp.strategies) * 2
    assert len(runs) == n_runs
    files = sorted(os.listdir(tmp_path / "tiny"))
    assert len(files) == n_runs and all(f.endswith(".json") for f in files)
    for run in runs:
        assert run["labels"] == [20, 25, 30]
        assert len(run["scores"]) == 3 and len(run["query_seconds"]) == 2
    # Cached runs are read back, not recomputed.
    path = tmp_path / "tiny" / "BAIT-seed0.json"
    data = json.loads(path.read_text())
    data["scores"] = [9.0, 9.0, 9.0]
    path.write_text(json.dumps(data))
    again = experiments.run_experiment(exp, str(tmp_path))
    assert [r for r in again if r["strategy"] == "BAIT"][0]["scores"] == \
        [9.0] * 3
    summary = experiments.summarize(runs)
    labels, mean, sem = summary["RANDOM"]
    assert labels == [20, 25, 30] and mean.shape == (3,)
    assert experiments.is_complete(exp, str(tmp_path))
    # A run cached with another schedule is stale.
    exp.rounds = 3
    assert not experiments.is_complete(exp, str(tmp_path))
    exp.rounds = 2
    path.unlink()
    assert not experiments.is_complete(exp, str(tmp_path))


def test_quick_entry_point_writes_table_and_png(tmp_path, monkeypatch,
                                                capsys):
    original = experiments.quick_experiment

    def tiny():
        exp = original()
        exp.model = lambda X, y, seed: LogisticRegression(max_iter=100)
        exp.rounds, exp.batch, exp.seeds = 1, 5, [0]
        return exp

    monkeypatch.setattr(experiments, "quick_experiment", tiny)
    runner.main(["quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "BAIT" in out and "RANDOM" in out
    assert (tmp_path / "quick-digits-mlp.png").stat().st_size > 0


def _runs(values):
    """Runs of a learning curve whose rounds after the first average to
    ``values[name][seed]``."""
    return [{"strategy": name, "seed": seed, "scores": [0.0, v, v]}
            for name, by_seed in values.items()
            for seed, v in enumerate(by_seed)]


def test_the_demo_says_whether_a_difference_is_noise():
    lines = runner.compare_to(_runs({
        "BAIT": [0.80, 0.90, 0.85],
        "NOISY": [0.81, 0.88, 0.86],       # -0.0 ± 0.01: noise
        "WORSE": [0.70, 0.80, 0.749],      # -0.1 every seed
    }), "BAIT")
    text = "\n".join(lines)
    assert "BAIT: 0.8500 ± 0.0289" in text
    noisy = next(line for line in lines if "NOISY:" in line)
    assert "NOISY - BAIT = +0.0000" in noisy and "within noise" in noisy
    worse = next(line for line in lines if "WORSE:" in line)
    assert "WORSE - BAIT = -0.1003" in worse
    assert "significantly lower than BAIT" in worse


def test_seeds_from_the_power_calculation():
    """§16 item 5: more variance, more seeds; the bound they give passes a
    zero difference with the stated power; the cap reports its power."""
    n_small, power = rule_study.seeds_needed(0.004)
    assert power == rule_study.POWER and 3 <= n_small < rule_study.MAX_SEEDS
    n_more, _ = rule_study.seeds_needed(0.006)
    assert n_more > n_small
    from scipy import stats

    t = stats.t.ppf
    assert (t(0.95, n_small - 1) + t(0.8, n_small - 1)) * 0.004 \
        / np.sqrt(n_small) <= rule_study.MARGIN
    assert (t(0.95, n_small - 2) + t(0.8, n_small - 2)) * 0.004 \
        / np.sqrt(n_small - 1) > rule_study.MARGIN
    capped, reached = rule_study.seeds_needed(0.05)
    assert capped == rule_study.MAX_SEEDS and 0 < reached < 0.5


def test_the_equivalence_bound():
    assert rule_study.lower_bound([0.0, 0.0, 0.0]) == 0.0
    diff = [-0.002, 0.001, -0.001, 0.0, 0.002]
    assert -rule_study.MARGIN < rule_study.lower_bound(diff) < 0
    assert rule_study.lower_bound([-0.02, 0.01, -0.03]) < -rule_study.MARGIN


@pytest.mark.slow  # trains the MNIST representation: half a minute
def test_a_large_suite_run_at_a_tiny_size():
    problem = rule_study.Problem("tiny-pairmean", 8, 10, 300, 20, 10, 1,
                                 "pairmean")
    rules = rule_study.registered_rules()
    assert "exact" in rules and "block_diagonal" in rules
    out = rule_study.run(problem, 300, "exact", rules, "exact")
    assert len(out["accuracy"]) == 2
    assert set(out["gaps"]) == set(rules)
    assert out["gaps"]["exact"] == [0.0]


def test_bayes_risk_machinery(tmp_path):
    X = bayes_risk.pool("orthonormal", 300, d=10)
    assert set(np.unique(X)) == {0.0, 1.0} and np.all(X.sum(1) == 1)
    order = bayes_risk.logdet_order(X, 10, lam=1e-3)
    # Log-det on basis vectors cycles through distinct coordinates first.
    assert len({int(np.argmax(X[i])) for i in order}) == 10
    result = bayes_risk.run(n_pool=200, d=10, batches=(5, 10), seeds=(0,))
    for kind in ("gaussian", "orthonormal"):
        for risks in result["risk"][kind].values():
            assert len(risks) == 2 and risks[1] < risks[0]
    assert os.path.getsize(bayes_risk.plot(result, str(tmp_path / "b.png")))


def test_selection_benchmark_tiny(tmp_path, capsys):
    rows = bench_selection.main(["--sizes", "300", "--dims", "8",
                                 "--batches", "3", "--dense-batches", "3",
                                 "--out", str(tmp_path),
                                 "--plot"])
    assert rows[0]["same_picks"] is True
    assert rows[0]["ratio"] > 0
    assert (tmp_path / "bench_selection.png").exists()
    assert "dense ms/step" in capsys.readouterr().out


@pytest.mark.parametrize("approximation", ["block_diagonal", "binary"])
def test_selection_benchmark_times_an_approximation(tmp_path, approximation):
    rows = bench_selection.main(["--sizes", "300", "--dims", "8",
                                 "--batches", "3", "--classes", "4",
                                 "--approximation", approximation,
                                 "--out", str(tmp_path)])
    assert rows[0]["approximation"] == approximation and rows[0]["k"] == 4
    assert rows[0]["seconds"] > 0 and "ratio" not in rows[0]


def test_logdet_baseline_matches_brute_force():
    rng = np.random.default_rng(0)
    n, d, k, n_lab, batch = 40, 3, 3, 5, 4
    h, p = rng.normal(size=(n, d)), rng.dirichlet(np.ones(k), n)
    h_lab, p_lab = rng.normal(size=(n_lab, d)), rng.dirichlet(np.ones(k),
                                                              n_lab)
    idx, gains = logdet.logdet_select(h, p, h_lab, p_lab, batch)

    def fisher(hx, px):
        return np.kron(np.diag(px) - np.outer(px, px), np.outer(hx, hx))

    scale = batch / (n_lab + batch)
    m = np.eye(d * k) + sum(fisher(a, b) for a, b in zip(h_lab, p_lab)) / (
        n_lab + batch)
    chosen, best_gains = [], []
    for _ in range(batch):
        base = np.linalg.slogdet(m)[1]
        g = [-np.inf if i in chosen else
             np.linalg.slogdet(m + scale * fisher(h[i], p[i]))[1] - base
             for i in range(n)]
        chosen.append(int(np.argmax(g)))
        best_gains.append(max(g))
        m = m + scale * fisher(h[chosen[-1]], p[chosen[-1]])
    assert idx.tolist() == chosen
    np.testing.assert_allclose(gains, best_gains, rtol=1e-9)


def test_penalty_matrix_can_play_another_strategy_as_bait(tmp_path):
    from types import SimpleNamespace

    labels = [10, 20, 30, 50]
    base = np.array([0.5, 0.6, 0.7, 0.8])
    noise = [0.0, 0.001, -0.001, 0.002, -0.002]
    curves = {"BAIT": base, "BAIT (lam=1)": base + 0.1, "RANDOM": base}
    runs = [{"strategy": name, "labels": labels,
             "scores": (curve + (e if name != "RANDOM" else -e)).tolist()}
            for name, curve in curves.items() for e in noise]
    exp = SimpleNamespace(strategies=dict.fromkeys(curves), n_init=10,
                          batch=10)
    default = runner.penalty_matrix([(exp, runs)], str(tmp_path))
    fixed = runner.penalty_matrix([(exp, runs)], str(tmp_path),
                                  bait="BAIT (lam=1)", tag="-lam1")
    bait, random_ = 0, 4  # rows/columns: BAIT ... RANDOM
    assert default[bait, random_] == 0
    assert fixed[bait, random_] == pytest.approx(1.0)
    assert (tmp_path / "penalty-lam1.json").exists()


def test_digit_pairs_have_100_classes_and_disjoint_images():
    X_pool, y_pool, X_test, y_test = experiments.mnist5k_pairs(0)
    assert X_pool.shape[1] == X_test.shape[1] == 2 * 784
    assert set(np.unique(y_pool)) == set(range(100))
    # No image is in both splits: compare the left halves' rows.
    pool_rows = {row.tobytes() for row in X_pool[:, :784]}
    assert not any(row.tobytes() in pool_rows for row in X_test[:, :784])


_RUN_MISSING = """
import sys
sys.path.insert(0, {bench!r})
from sklearn.linear_model import LogisticRegression
import experiments
exp = experiments.Experiment(
    name="tiny", data=experiments.digits,
    model=lambda X, y, seed: LogisticRegression(max_iter=100),
    metric=experiments.accuracy, metric_name="accuracy",
    strategies=experiments.approximation_strategies(),
    n_init=20, batch=5, rounds=1, seeds=[0, 1])
experiments.run_missing([exp], {out!r}, 2)
assert experiments.is_complete(exp, {out!r})
experiments.run_missing([exp], {out!r}, 2)  # all cached: prints nothing
"""


def test_run_missing_computes_each_run_once_on_workers(tmp_path):
    # A fresh process, as run.py and lam_study.py are: forking this one,
    # whose numba thread pool earlier tests started, can hang the workers.
    import subprocess

    code = _RUN_MISSING.format(bench=BENCH, out=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    lines = [line for line in out.splitlines() if line.startswith("[")]
    # Four strategies × two seeds computed once; the second call had
    # nothing to do.
    assert len(lines) == 8


def test_skactiveml_comparison_quick_mode(tmp_path, monkeypatch, capsys):
    from .conftest import require

    require("skactiveml")
    require("skorch")
    original_mlp, original_digits = bench_skactiveml.mlp, experiments.digits

    def small_digits(seed):  # a third of the pool, to keep the test short
        X_pool, y_pool, X_test, y_test = original_digits(seed)
        return X_pool[:450], y_pool[:450], X_test, y_test

    monkeypatch.setattr(bench_skactiveml, "mlp", lambda n_in, seed, epochs:
                        original_mlp(n_in, seed, epochs=3))
    monkeypatch.setattr(experiments, "digits", small_digits)
    curves, rows = bench_skactiveml.main(["--quick", "--plot", "--out",
                                          str(tmp_path)])
    out = capsys.readouterr().out
    names = list(bench_skactiveml.strategies(0))
    assert len(names) == 7 and set(curves["digits"]) == set(names)
    for labels, accuracies, seconds in curves["digits"].values():
        assert labels == [20, 40, 60, 80]
        assert accuracies.shape == (1, 4) and seconds.shape == (1, 3)
    assert [r["n"] for r in rows] == [1000, 4000]
    assert all(r["skbait"] > 0 and r["skactiveml"] > 0 for r in rows)
    assert "mean test accuracy" in out and "BADGE query time" in out
    assert all(name in out for name in names)
    assert (tmp_path / "bench_skactiveml.png").stat().st_size > 0


def test_bench_dask_quick_part_a():
    """bench_dask.py's scale run, tiny: it completes on a 2-worker
    cluster and reports the bytes a step moves."""
    pytest.importorskip("distributed")
    import bench_dask

    out = bench_dask.main(["--quick", "--part", "a"])
    a = out["a"]
    assert a["rule"] == "exact" and a["steps"] == 60
    assert a["bytes_per_step"]["shipped"] > 0
    assert a["client_peak_rss"] > 0 and a["worker_peak_rss"] > 0


def test_bench_dask_parity_quick():
    """bench_dask_parity.py, tiny: a Dask pool's batch is the in-process
    batch in both precisions, for every rule (its table's last column)."""
    pytest.importorskip("distributed")
    import bench_dask_parity

    from skbait._engine.rules import rule_names

    lines = bench_dask_parity.main(["--quick"])
    assert len(lines) == len(rule_names()) + 1   # and regression
    assert all(line.rstrip(" |").endswith("yes") for line in lines)


def test_refusal_benchmark_reports_the_memory_error():
    import bench_refusal

    rows = bench_refusal.main(["--n", "200", "--d", "10000", "--k", "100",
                               "--rlimit-gib"])
    assert len(rows) == 1
    assert rows[0]["message"].startswith("Exact BAIT needs about")
    assert 'approximation="binary"' in rows[0]["message"]


def test_bench_gpu_dry_run_on_the_cpu(tmp_path):
    """The device script's every part (rates, timings, predictions,
    floors) runs without a device, with torch's CPU tensors standing in
    for a GPU namespace."""
    pytest.importorskip("torch")
    import bench_gpu

    out = tmp_path / "gpu.json"
    bench_gpu.main(["--namespaces", "numpy", "torch-cpu", "--n", "3000",
                    "--skip-picks", "--floors", "--rules", "exact",
                    "regression", "--numpy-max", "exact=3000,regression=3000",
                    "--out", str(out)])
    result = json.loads(out.read_text())
    assert "CPU threads" in result["device"]
    assert set(result["rates"]) == {"numpy", "torch-cpu"}
    rows = result["timings"]
    assert {(r["rule"], r["namespace"]) for r in rows} == {
        (rule, ns) for rule in ("exact", "regression")
        for ns in ("numpy", "torch-cpu")}
    for row in rows:
        assert row["predicted"] > 0 and row["seconds"] > 0
        # (At this size the pool sits in a cache: the bandwidth floor is
        # no bound here, only on pools far larger than a cache.)
        assert set(row["floors"]) == set(row["phases"]) == {
            "setup", "steps", "commits"}
        assert all(0 < f < np.inf for f in row["floors"].values())


def test_the_large_suite_leaves_exact_bait_states_out_at_100_classes():
    rules = rule_study.registered_rules()
    by_name = {p.name: p for p in rule_study.LARGE_PROBLEMS}
    assert rule_study.rules_of(by_name["pairmean-h64"], rules) == rules
    many = rule_study.rules_of(by_name["pairs100-h32"], rules)
    # Exact BAIT's states (exact, top-c) cost over 400 times the others'.
    assert many == ["block_diagonal", "binary"]
    assert rule_study.reference_of(by_name["pairs100-h32"]) in many
