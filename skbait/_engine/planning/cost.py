"""This machine's rates, which turn a rule's counted flops and bytes into
seconds (docs/design.md §10, "What a rule costs"): measured once (about
half a second), kept for the process and cached in ``$SKBAIT_CACHE_DIR``
under a key of the processor, the threads and the BLAS.
``SKBAIT_RATES=nominal`` uses the fixed :data:`NOMINAL` rates instead.
"""

import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..backends.array_api import is_numpy_namespace

__all__ = ["Rates", "NOMINAL", "machine_rates", "measure_rates"]


@dataclass(frozen=True)
class Rates:
    """Flops (or bytes) per second of the engine's operations: ``gemm*``,
    pool rows times a narrow operand; ``gram*``, the set-up's ``Aᵀ B``
    sums; ``narrow``, a float64 square matrix times a few columns;
    ``bandwidth``, a streaming read; ``kernels``, each rule's kernel by
    name; ``step``, a greedy step's fixed seconds (its small operations
    and host synchronisations); ``launch``, the seconds of one array
    operation launched (on a device, a kernel launch)."""

    gemm32: float
    gemm64: float
    gram32: float
    gram64: float
    narrow: float
    bandwidth: float
    step: float
    kernels: dict = field(default_factory=dict)
    launch: float = 0.0
    source: str = "measured"

    def kernel_rate(self, spec):
        """Flops per second of the rule ``spec``'s kernel here (its
        nominal rate where it was not measured; None if it has none)."""
        return self.kernels.get(spec.name) or spec.nominal_kernel_rate

    def gemm(self, itemsize):
        """The candidate-product rate for GEMMs of ``itemsize`` bytes."""
        return self.gemm32 if itemsize == 4 else self.gemm64

    def gram(self, itemsize):
        return self.gram32 if itemsize == 4 else self.gram64

    def describe(self):
        return (f"GEMM {self.gemm32 / 1e9:.0f} (float32) / "
                f"{self.gemm64 / 1e9:.0f} (float64) GFLOP/s, sums "
                f"{self.gram32 / 1e9:.0f} / {self.gram64 / 1e9:.0f} "
                f"GFLOP/s, narrow float64 {self.narrow / 1e9:.0f} GFLOP/s, "
                f"read {self.bandwidth / 1e9:.0f} GB/s ({self.source})")


#: Rates of the 2-core development machine (AMD EPYC, Zen 4, 2026-12),
#: used with ``SKBAIT_RATES=nominal`` and where nothing can be measured.
#: Each rule's kernel runs at its own ``nominal_kernel_rate`` there; its
#: launches count nothing (the choice by shape does not weigh them).
NOMINAL = Rates(gemm32=1.6e11, gemm64=7.0e10, gram32=1.5e11, gram64=6.5e10,
                narrow=2.0e10, bandwidth=4.0e10, step=3e-4, source="nominal")

_MEASURED = {}


def machine_rates(xp=np, n_jobs=1, remeasure=False, device=None):
    """The :class:`Rates` of this machine for ``n_jobs`` threads (NumPy),
    or of ``xp`` on ``device``; measured once, then cached (``remeasure``:
    measure now and replace them)."""
    if os.environ.get("SKBAIT_RATES", "") == "nominal":
        return NOMINAL
    numpy = is_numpy_namespace(xp)
    key = _key(xp, n_jobs if numpy else 1, device)
    if key in _MEASURED and not remeasure:
        return _MEASURED[key]
    rates = None if remeasure else _read_cache(key)
    if rates is None:
        try:
            rates = (_measure_numpy(n_jobs) if numpy
                     else _measure_namespace(xp, device))
        except Exception:  # an odd device or namespace: the nominal rates
            rates = NOMINAL
        else:
            _write_cache(key, rates)
    _MEASURED[key] = rates
    return rates


def measure_rates(n_jobs=None):
    """Measure this machine's rates now and replace the cached ones.

    The rates (GEMM, sums, streaming reads, the kernels' per-candidate
    work, a step's fixed cost) turn each rule's counted flops and bytes
    into the predicted seconds that ``bait_select`` reports
    (``info.predicted_seconds``, ``verbose``, the ETA). They never choose
    the rule: ``approximation="auto"`` decides from the problem's shape
    and the memory limit only. A selection measures them the first time
    it predicts (``verbose`` or ``return_info``) and caches them in
    ``$SKBAIT_CACHE_DIR/rates.json`` (default
    ``~/.cache/skbait/rates.json``), one entry per processor, thread
    count and BLAS; measured on a busy machine they predict too slowly
    until measured again with this function, on a quiet machine.

    Parameters
    ----------
    n_jobs : int, default=None
        The selections' threads (scikit-learn's convention: None or -1 all
        available cores).

    Returns
    -------
    rates : Rates
        What was measured (``rates.describe()`` in words).

    Examples
    --------
    >>> import skbait
    >>> rates = skbait.measure_rates()          # doctest: +SKIP
    >>> print(rates.describe())                 # doctest: +SKIP
    GEMM 170 (float32) / 76 (float64) GFLOP/s, ...
    """
    from ..backends.threads import check_n_jobs, effective_n_jobs

    return machine_rates(np, effective_n_jobs(check_n_jobs(n_jobs)),
                         remeasure=True)


def _best_rate(fn, work, n_jobs=1, repeats=9):
    """``work`` (per thread) per second of ``fn``, the best of ``repeats``
    runs on ``n_jobs`` threads each calling it (with three runs, one
    descheduled thread once halved a measured rate)."""
    from ..backends.threads import run_tasks

    n_jobs = max(1, n_jobs)
    best = np.inf
    fn()  # warm caches, load BLAS kernels
    for _ in range(repeats):
        start = time.perf_counter()
        run_tasks([fn] * n_jobs, n_jobs)
        best = min(best, time.perf_counter() - start)
    return n_jobs * work / max(best, 1e-9)


def _best_seconds(fn):
    """Seconds of the fastest of :func:`_best_rate`'s runs of ``fn``."""
    return 1.0 / _best_rate(fn, 1.0)


def _measure_numpy(n_jobs):
    from threadpoolctl import threadpool_limits

    from ..backends.threads import threaded_matmul

    rng = np.random.default_rng(0)
    out = {}
    with threadpool_limits(limits=1, user_api="blas"):
        rows, d, j = 4096, 256, 200
        for name, dtype in (("32", np.float32), ("64", np.float64)):
            h = rng.normal(size=(rows, d)).astype(dtype)
            w = rng.normal(size=(d, j)).astype(dtype)
            out["gemm" + name] = _best_rate(lambda: h @ w, 2 * rows * d * j,
                                            n_jobs)
            a = rng.normal(size=(rows, 384)).astype(dtype)
            b = a[:, :64]
            out["gram" + name] = _best_rate(lambda: a.T @ b,
                                            2 * rows * 384 * 64, n_jobs)
        square = rng.normal(size=(1536, 1536))
        cols = rng.normal(size=(1536, 10))
        out["narrow"] = _best_rate(
            lambda: threaded_matmul(np, square, cols, n_jobs),
            2 * square.size * 10)
        big = rng.normal(size=(2 ** 22,))  # 32 MiB a thread, past caches
        out["bandwidth"] = _best_rate(lambda: float(big.sum()), big.nbytes,
                                      n_jobs)
    out["launch"] = _launch_seconds(np, None)
    out["kernels"] = _kernel_rates(np, None, n_jobs, out["launch"])
    out["step"] = _step_seconds(np, None)
    return Rates(**out)


def _sync(xp, x):
    """Wait for ``x`` (a device's queue) by reading one number of it."""
    return float(xp.sum(x[:1, ...]))


def _kernel_rates(xp, device, n_jobs, launch):
    """Per-candidate flops per second of every registered rule's kernel
    on ``xp`` (NumPy: the compiled one where numba is installed), without
    its GEMM and launches, as its ``kernel_probe`` says; the flops are
    those the rule counts for a step."""
    from ..backends.kernels import numba_available
    from ..rules import RULES, Shape

    rng = np.random.default_rng(1)
    numba = is_numpy_namespace(xp) and numba_available()
    # On a device, rows enough that the launches are a small part.
    n = 4096 if str(device) in ("None", "cpu") else 2 ** 18
    rates = {}
    for spec in RULES.values():
        probe = spec.kernel_probe()
        if probe is None:
            continue
        k, width, operand = probe
        _, p = spec.inputs(np, np.zeros((n, 1)),
                           rng.dirichlet(np.ones(k), size=n))
        if p is None:  # rank one: no kernel flops
            continue
        shape = Shape(n_pool=n, d=1, k=k, n_lab=0, n_select=1, n_forward=2,
                      numba=numba, on_numpy=is_numpy_namespace(xp))
        flops = spec.work(shape)["steps"].kernel
        kernel = spec.kernel(xp, False, numba)
        a, b, out, p = (xp.asarray(x, device=device) for x in (
            np.zeros((n, width)), np.abs(rng.normal(size=(n, width))),
            1e-3 * rng.normal(size=(n, operand)), p))
        with kernel.step_context(n_jobs):
            seconds = _best_seconds(lambda: _sync(xp, kernel.update(
                out, p, 0.5, a, b, 0, n, 1.0)))
        # Its launches' fixed seconds are counted apart (``Rates.launch``).
        work = max(seconds - kernel.launches * launch, 0.1 * seconds)
        rates[spec.name] = flops / work
    return rates


def _step_seconds(xp, device):
    """Fixed cost of a step: a small update through the loop's objects,
    its host synchronisations included."""
    from ..core.candidates import Candidates
    from ..core.problem import GreedyProblem
    from ..rules import reference_rule

    def arr(x):
        return xp.asarray(x, device=device)

    h = arr(np.ones((64, 2)))
    problem = GreedyProblem.from_arrays(xp, h, None, None, None, xp.float64)
    cands = Candidates(problem, arr(np.zeros((64, 1))),
                       arr(np.ones((64, 1))),
                       reference_rule().kernel(xp, True, False), 1.0, None)
    operand = arr(np.zeros((2, 2)))
    cands.update(operand, 1.0)
    start = time.perf_counter()
    for _ in range(50):
        cands.update(operand, 1.0)
        cands.best(1e-9, True)
    return (time.perf_counter() - start) / 50


def _launch_seconds(xp, device, count=200):
    """Seconds of one small array operation, launched back to back and
    waited for once (on a device: the launch, not the work)."""
    x = xp.asarray(np.ones((64, 1)), device=device)

    def chain():
        y = x
        for _ in range(count):
            y = y * 1.0
        _sync(xp, y)

    return _best_seconds(chain) / count


def _measure_namespace(xp, device):
    """The rates of ``device`` with a non-NumPy namespace, each measured
    there as on the CPU."""
    def ones(shape, dtype):
        return xp.ones(shape, dtype=dtype, device=device)

    out = {}
    n, d, j = 8192, 512, 200
    for name, dtype in (("32", xp.float32), ("64", xp.float64)):
        h = ones((n, d), dtype)
        w = ones((d, j), dtype)
        out["gemm" + name] = _best_rate(lambda: _sync(xp, xp.matmul(h, w)),
                                        2 * n * d * j)
        out["gram" + name] = out["gemm" + name]
    square = ones((2048, 2048), xp.float64)
    cols = ones((2048, 10), xp.float64)
    out["narrow"] = _best_rate(lambda: _sync(xp, xp.matmul(square, cols)),
                               2 * 2048 * 2048 * 10)
    big = ones((2 ** 24,), xp.float64)
    out["bandwidth"] = _best_rate(lambda: float(xp.sum(big)), 8 * 2 ** 24)
    out["launch"] = _launch_seconds(xp, device)
    out["kernels"] = _kernel_rates(xp, device, 1, out["launch"])
    out["step"] = _step_seconds(xp, device)
    return Rates(**out)


def _key(xp, n_jobs, device=None):
    # NumPy under any name is one set of rates.
    name = "numpy" if is_numpy_namespace(xp) else getattr(
        xp, "__name__", str(xp))
    # The entries' layout (3) is part of the key.
    parts = ["rates-3", platform.machine(), _cpu_name(), str(os.cpu_count()),
             str(n_jobs), name, np.__version__,
             os.environ.get("OPENBLAS_CORETYPE", ""), str(device)]
    if is_numpy_namespace(xp):
        try:
            from threadpoolctl import threadpool_info

            parts += sorted(f"{i.get('internal_api')}-{i.get('version')}-"
                            f"{i.get('architecture')}"
                            for i in threadpool_info()
                            if i.get("user_api") == "blas")
        except Exception:  # pragma: no cover - threadpoolctl is a dependency
            pass
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cache_file():
    root = os.environ.get("SKBAIT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "skbait")
    return os.path.join(root, "rates.json")


def _read_cache(key):
    try:
        with open(_cache_file()) as f:
            entry = json.load(f).get(key)
        return None if entry is None else Rates(**dict(entry,
                                                       source="cached"))
    except (OSError, ValueError, TypeError):
        return None


def _write_cache(key, rates):
    """Add ``rates`` to the cache file, atomically (if it can be
    written)."""
    path = _cache_file()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                table = json.load(f)
        except (OSError, ValueError):
            table = {}
        entry = asdict(rates)
        entry.pop("source")
        table[key] = entry
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "w") as f:
            json.dump(table, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass
