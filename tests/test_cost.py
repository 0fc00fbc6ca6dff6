"""The cost model: this machine's rates (measured once, cached), the
rules' predictions in ``info``, ``approximation="auto"`` by cost, and what
``verbose`` shows. Whether the predictions are close to the measured
times is a benchmark's question (benchmarks/bench_cost.py), not a unit
test's."""

import builtins
import json

import numpy as np
import pytest

import skbait
from skbait._engine.planning import cost, plan, progress
from skbait._engine.planning.cost import NOMINAL, Rates
from skbait._engine.rules import RULES, Shape

from .conftest import random_problem


def test_rates_are_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SKBAIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SKBAIT_RATES", raising=False)
    monkeypatch.setattr(cost, "_MEASURED", {})
    first = cost.machine_rates(np, 1)
    assert first.source == "measured"
    for name in ("gemm32", "gemm64", "gram32", "narrow", "bandwidth",
                 "step"):
        assert getattr(first, name) > 0
    # Every registered rule that has a kernel to measure got its rate.
    probed = {s.name for s in RULES.values() if s.kernel_probe()}
    assert probed and set(first.kernels) == probed
    assert all(rate > 0 for rate in first.kernels.values())
    table = json.loads((tmp_path / "rates.json").read_text())
    assert len(table) == 1
    # Another process (an empty in-process cache) reads the file back.
    monkeypatch.setattr(cost, "_MEASURED", {})
    again = cost.machine_rates(np, 1)
    assert again.source == "cached" and again.gemm32 == first.gemm32
    monkeypatch.setenv("SKBAIT_RATES", "nominal")
    assert cost.machine_rates(np, 1) is NOMINAL


def test_measure_rates_replaces_the_cached_rates(tmp_path, monkeypatch):
    monkeypatch.setenv("SKBAIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SKBAIT_RATES", raising=False)
    monkeypatch.setattr(cost, "_MEASURED", {})
    key = cost._key(np, 1)
    cost._write_cache(key, _scaled(NOMINAL, 1e-6))  # "measured while busy"
    assert cost.machine_rates(np, 1).gemm32 == pytest.approx(
        NOMINAL.gemm32 * 1e-6)
    fresh = skbait.measure_rates(n_jobs=1)
    assert fresh.source == "measured" and fresh.gemm32 > 1e3 * \
        NOMINAL.gemm32 * 1e-6
    monkeypatch.setattr(cost, "_MEASURED", {})
    assert cost.machine_rates(np, 1).gemm32 == fresh.gemm32  # the file


def test_numpy_under_any_name_shares_its_rates():
    """A selection's namespace is ``array_api_compat.numpy``; a benchmark's
    ``numpy``: remeasuring one must refresh what the other reads."""
    import array_api_compat.numpy as compat_numpy

    assert cost._key(np, 2) == cost._key(compat_numpy, 2)
    assert cost._key(np, 2) != cost._key(np, 1)


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SKBAIT_CACHE_DIR", str(blocker / "sub"))
    monkeypatch.delenv("SKBAIT_RATES", raising=False)
    monkeypatch.setattr(cost, "_MEASURED", {})
    assert cost.machine_rates(np, 1).source == "measured"


def test_info_reports_every_rules_prediction(rng):
    prob = random_problem(rng, 300, 8, 4, n_lab=5)
    _, info = skbait.bait_select(
        prob["h_pool"], 5, pool_proba=prob["p_pool"],
        labeled_embeddings=prob["h_lab"], labeled_proba=prob["p_lab"],
        return_info=True)
    assert set(info.predicted_seconds) == set(RULES)
    assert all(s > 0 for s in info.predicted_seconds.values())
    phases = info.predicted_phases
    assert phases["total"] == pytest.approx(
        phases["setup"] + phases["steps"] + phases["commits"]
        + phases["backward"])
    assert info.approximation == "exact"  # small: predicted well below 5 s
    assert "nominal rates" in info.approximation_reason
    assert info.decided_by == "shape"


def _scaled(rates, factor):
    fields = {name: getattr(rates, name) * factor for name in (
        "gemm32", "gemm64", "gram32", "gram64", "narrow", "bandwidth")}
    kernels = {name: spec.nominal_kernel_rate * factor
               for name, spec in RULES.items()
               if spec.nominal_kernel_rate is not None}
    return Rates(**fields, step=rates.step / factor, kernels=kernels,
                 source="test")


@pytest.mark.parametrize("shape", [dict(n=3_000, d=64, k=10, b=20),
                                   dict(n=1_500, d=24, k=12, b=10)])
def test_the_default_batch_does_not_follow_the_machines_speed(
        monkeypatch, shape):
    """A machine a thousand times slower or faster than the nominal one
    predicts other seconds, but chooses the same rule and batch (the
    choice counts flops and bytes from the shape only)."""
    rng = np.random.default_rng(5)
    prob = random_problem(rng, shape["n"], shape["d"], shape["k"], n_lab=30)
    runs = []
    for factor in (1e-3, 1e3):
        monkeypatch.setattr(plan, "machine_rates",
                            lambda *a, f=factor, **kw: _scaled(NOMINAL, f))
        idx, info = skbait.bait_select(
            prob["h_pool"].astype(np.float32), shape["b"],
            pool_proba=prob["p_pool"],
            labeled_embeddings=prob["h_lab"].astype(np.float32),
            labeled_proba=prob["p_lab"], return_info=True)
        runs.append((idx.tolist(), info))
    (slow_idx, slow), (fast_idx, fast) = runs
    assert slow.approximation == fast.approximation
    assert slow_idx == fast_idx
    assert slow.approximation_reason == fast.approximation_reason
    # The predictions did follow the rates.
    assert slow.predicted_seconds[slow.approximation] > 1e5 * \
        fast.predicted_seconds[fast.approximation]


def test_a_quiet_selection_measures_no_rates(rng, monkeypatch):
    """verbose=0 and no return_info: nothing is predicted, so nothing is
    measured (a measurement on a busy machine would be cached)."""
    def measured(*args, **kwargs):
        raise AssertionError("rates measured")

    monkeypatch.setattr(plan, "machine_rates", measured)
    prob = random_problem(rng, 300, 6, 4)
    for approximation in ("auto", "exact", "block_diagonal"):
        skbait.bait_select(prob["h_pool"], 5, pool_proba=prob["p_pool"],
                           approximation=approximation)
    skbait.bait_select(prob["h_pool"], 5)  # regression
    with pytest.raises(AssertionError, match="rates measured"):
        skbait.bait_select(prob["h_pool"], 5, pool_proba=prob["p_pool"],
                           return_info=True)


def test_a_clusters_round_trips_are_predicted_not_chosen_by():
    """A pool on a cluster: every greedy step and the set-up's calls are a
    round trip each; they add to the predictions, never to the choice."""
    shape = _shape(n_pool=20_000, d=64)
    here = plan.plan_selection("auto", xp=np, x=np.zeros(1), shape=shape,
                               rates=NOMINAL)
    calls = []

    def trip():
        calls.append(1)
        return 0.01

    there = plan.plan_selection("auto", xp=np, x=np.zeros(1), shape=shape,
                                rates=NOMINAL, round_trip=trip)
    assert there.method == here.method and not calls  # nothing measured
    extra = there.seconds()[there.method] - here.seconds()[here.method]
    assert extra == pytest.approx(
        0.01 * (shape.n_forward + plan.SETUP_ROUND_TRIPS))
    assert len(calls) == 1


def test_info_says_when_the_memory_limit_decided(monkeypatch):
    """Exact BAIT would run on this shape, but does not fit: the reason
    and ``decided_by`` say that memory, not the shape, decided."""
    from skbait._engine.planning.memory import MemoryLimit

    shape = _shape(n_pool=2_000, d=32)
    free = plan.plan_selection("auto", xp=np, x=np.zeros(1), shape=shape,
                               rates=NOMINAL)
    assert free.method == "exact" and free.decided_by == "shape"
    small = free.needed["exact"] - 1
    monkeypatch.setattr(plan, "memory_limit", lambda xp, x: MemoryLimit(
        available=int(small / 0.8), source="a test"))
    tight = plan.plan_selection("auto", xp=np, x=np.zeros(1), shape=shape,
                                rates=NOMINAL)
    assert tight.method != "exact" and tight.decided_by == "memory"
    assert "the memory limit decided" in tight.reason


def _shape(**kw):
    return Shape(**dict(dict(n_pool=50_000, d=512, k=10, n_lab=100,
                             n_select=100, n_forward=200), **kw))


def test_auto_runs_exact_bait_where_it_is_cheap_enough():
    small = plan.plan_selection("auto", xp=np, x=np.zeros(1),
                                shape=_shape(n_pool=2_000, d=32),
                                rates=NOMINAL)
    assert small.method == "exact"
    assert small.seconds()["exact"] <= plan.AUTO_EXACT_SECONDS


def test_auto_takes_the_cheapest_qualifying_rule_when_exact_is_slow():
    chosen = plan.plan_selection("auto", xp=np, x=np.zeros(1),
                                 shape=_shape(d=32, k=100, n_pool=10_000),
                                 rates=NOMINAL)
    seconds = chosen.seconds()
    assert seconds["exact"] > max(
        plan.AUTO_EXACT_SECONDS,
        plan.AUTO_EXACT_FACTOR * seconds[chosen.method])
    qualified = [name for name, spec in RULES.items()
                 if spec.qualifies(_shape(d=32, k=100, n_pool=10_000))]
    assert chosen.method == min(qualified, key=seconds.get)
    assert chosen.method in chosen.reason


def test_below_the_protocols_classes_auto_keeps_exact_bait():
    """Block-diagonal and binary BAIT qualify from k = 100, top-c BAIT
    nowhere (docs/results.md §16): at k = 50 exact BAIT runs however slow
    it is predicted, while it fits."""
    for name in ("block_diagonal", "binary"):
        assert RULES[name].qualifies(_shape(k=100))
        assert RULES[name].qualifies(_shape(k=1000))
        assert not RULES[name].qualifies(_shape(k=99))
        assert not RULES[name].qualifies(_shape(k=10))
    assert not any(RULES["top_c"].qualifies(_shape(k=k))
                   for k in (2, 10, 100))
    assert all(RULES["exact"].qualifies(_shape(k=k)) for k in (1, 10, 100))
    slow = plan.plan_selection("auto", xp=np, x=np.zeros(1),
                               shape=_shape(d=256, k=50, n_pool=200_000),
                               rates=NOMINAL)
    seconds = slow.seconds()
    assert seconds["exact"] > plan.AUTO_EXACT_SECONDS
    assert seconds["exact"] > 2 * seconds["block_diagonal"]
    assert slow.method == "exact"
    assert "no other rule qualifies" in slow.reason


def test_predictions_grow_with_the_problem():
    for name, spec in RULES.items():
        base = spec.cost(_shape(k=20), NOMINAL).total
        for grow in (dict(n_pool=200_000), dict(d=1024),
                     dict(n_select=200, n_forward=400)):
            grown = _shape(k=20, **grow)
            assert spec.cost(grown, NOMINAL).total > base, (name, grow)
        faster = Rates(**{**NOMINAL.__dict__, "gemm32": 2 * NOMINAL.gemm32,
                          "gemm64": 2 * NOMINAL.gemm64,
                          "source": "test"})
        assert spec.cost(_shape(k=20), faster).total < base, name


def test_verbose_shows_the_rule_then_lines_without_tqdm(
        rng, monkeypatch, capsys):
    prob = random_problem(rng, 200, 6, 3)
    monkeypatch.setattr(progress, "PROGRESS_AFTER_SECONDS", 0.0)
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    skbait.bait_select(prob["h_pool"], 10, pool_proba=prob["p_pool"],
                       verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[bait_select] rule: exact (")
    assert "predicted: exact" in out[0]
    # The set-up is a phase of its own, announced with its prediction.
    assert out[1].startswith("[BAIT exact] set-up, predicted ")
    assert out[2].startswith("[BAIT exact] set-up done in ")
    assert "30 greedy steps, predicted" in out[2]
    steps = [line for line in out if "steps," in line and "ETA" in line]
    assert steps and steps[-1].startswith("[BAIT exact] 30/30 steps")


def test_verbose_uses_tqdm_when_installed(rng, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    prob = random_problem(rng, 200, 6, 3)
    monkeypatch.setattr(progress, "PROGRESS_AFTER_SECONDS", 0.0)
    skbait.bait_select(prob["h_pool"], 10, pool_proba=prob["p_pool"],
                       verbose=1)
    captured = capsys.readouterr()
    assert "30/30" in captured.err and "BAIT exact" in captured.err


class _FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_eta_starts_from_the_prediction_and_follows_the_steps():
    clock = _FakeClock()
    eta = progress.StepETA(100, 50.0, clock=clock)   # 0.5 s a step
    eta.begin()
    assert eta.remaining() == pytest.approx(50.0)
    # One slow first step does not make the ETA explode ...
    clock.now += 30.0
    eta.step()
    first = eta.remaining()
    assert 50.0 < first < 30.0 * 99
    # ... and steady steps at 2 s each pull it to the measured rate.
    for _ in range(59):
        clock.now += 2.0
        eta.step()
    measured = (clock.now - 100.0) / 60 * 40
    assert abs(eta.remaining() - measured) < abs(first / 99 * 40 - measured)
    assert eta.remaining() == pytest.approx(
        (progress.PRIOR_STEPS * 0.5 + 148.0) / (progress.PRIOR_STEPS + 60)
        * 40)


def test_quiet_below_the_threshold(rng, capsys):
    prob = random_problem(rng, 200, 6, 3)
    skbait.bait_select(prob["h_pool"], 10, pool_proba=prob["p_pool"],
                       verbose=1)
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and "ETA" not in captured.err


#: Calls that make views or read attributes: no kernel launch.
_VIEWS = {"__get__", "__getitem__", "reshape", "swapaxes", "diagonal"}


@pytest.mark.parametrize("kernel_path,k,width,operand", [
    ("block_diagonal.kernels.BlockDiagonalKernel", 10, 10, 20),
    ("exact.kernels.ArrayAPIKernel", 4, 10, 32),
    ("exact.kernels.RankOneKernel", 1, 1, 2)])
def test_array_kernels_declare_the_operations_they_launch(
        kernel_path, k, width, operand):
    """``launches`` (the cost model's launch term on a device) against the
    operations a call makes, counted on torch's CPU tensors."""
    torch = pytest.importorskip("torch")
    import importlib

    import array_api_compat.torch as xp
    from torch.overrides import TorchFunctionMode

    module, name = kernel_path.rsplit(".", 1)
    kernel = getattr(importlib.import_module(
        f"skbait._engine.rules.{module}"), name)(xp)
    calls = []

    class Count(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            calls.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    n = 64
    gen = torch.Generator().manual_seed(0)
    a = torch.zeros(n, width, dtype=torch.float64)
    b = torch.rand(n, width, dtype=torch.float64, generator=gen)
    out = 1e-3 * torch.randn(n, operand, dtype=torch.float64, generator=gen)
    p = torch.softmax(torch.randn(n, k, dtype=torch.float64, generator=gen),
                      dim=1)
    with Count():
        kernel.update(out, p, 0.5, a, b, 0, n, 1.0)
    launched = sum(1 for c in calls if c not in _VIEWS)
    assert 0.8 * kernel.launches <= launched <= 1.25 * kernel.launches


def test_launches_enter_the_prediction_but_not_the_choice():
    """A device's launch seconds lengthen the array kernels' steps; the
    counted cost that chooses the rule (nominal rates) has none."""
    shape = Shape(n_pool=50_000, d=64, k=10, n_lab=100, n_select=50,
                  n_forward=100, numba=False, on_numpy=False)
    spec = RULES["block_diagonal"]
    steps = spec.work(shape)["steps"]
    assert steps.launches > 0
    slow = Rates(**{**NOMINAL.__dict__, "launch": 1e-4})
    extra = spec.cost(shape, slow).steps - spec.cost(shape, NOMINAL).steps
    assert extra == pytest.approx(steps.launches * 1e-4)
    assert NOMINAL.launch == 0.0
    compiled = spec.work(shape.replace(numba=True, on_numpy=True))["steps"]
    assert compiled.launches == 0
