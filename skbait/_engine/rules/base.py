"""What a BAIT rule declares (docs/design.md §10, "The rules, one
registry"): how it selects, what memory it needs, what time it takes.
"""

import dataclasses
import math
from dataclasses import dataclass

from ..core.candidates import Candidates, take_all
from ..core.chunks import chunk_budget, rows_per_chunk
from ..core.greedy import greedy_select
from ..core.timing import timed

__all__ = ["Shape", "Cost", "Work", "RuleSpec", "PHASES", "input_bytes",
           "with_margin", "memory_kwargs", "step_launches"]

#: The phases of ``info.timings`` (wall-clock seconds).
PHASES = ("setup", "gemm", "kernel", "commit", "refresh")


@dataclass(frozen=True)
class Shape:
    """A selection's sizes, what a rule's memory and cost depend on: ``k``
    classes (1: regression), ``*_bytes`` item sizes (stored embeddings,
    products, probabilities), ``numba``: the compiled kernels run,
    ``cuda``: the CUDA kernels (``backends/cuda.py``) where a rule has
    them."""

    n_pool: int
    d: int
    k: int
    n_lab: int
    n_select: int
    n_forward: int
    classification: bool = True
    identity_fisher: bool = False
    chunk_size: object = None
    n_jobs: int = 1
    store_bytes: int = 8
    gemm_bytes: int = 8
    p_bytes: int = 8
    numba: bool = True
    on_numpy: bool = True
    cuda: bool = False

    @property
    def commits(self):
        """Commits of a selection: every forward pick but the last, and
        every removal (plus the last pick, committed to the chosen)."""
        return self.n_forward + max(0, self.n_forward - self.n_select)

    @property
    def steps(self):
        """Greedy steps that update every candidate."""
        return max(0, self.n_forward - 1)

    def budget(self, k):
        """Bytes of a chunk's temporaries for a rule that runs at rank
        ``k`` (``chunks.chunk_budget``)."""
        return chunk_budget(self.chunk_size, self.d, k,
                            self.n_pool * (self.d + k) * 8, self.on_numpy)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Work:
    """A phase's flops, bytes read, fixed steps and array operations
    launched, by the operation of ``planning/cost.Rates`` that carries
    them out (``gemm64``: float64 GEMMs; ``kernel``: the rule's own;
    ``launches``: the array kernels' operations, each a kernel launch on a
    device). A count may be divided by the share of the rate its operation
    reaches (e.g. ``/ 0.85``).
    """

    gemm: float = 0.0
    gemm64: float = 0.0
    gram: float = 0.0
    narrow: float = 0.0
    kernel: float = 0.0
    read: float = 0.0
    steps: float = 0.0
    launches: float = 0.0

    def __add__(self, other):
        return Work(*(a + b for a, b in zip(dataclasses.astuple(self),
                                            dataclasses.astuple(other))))

    def __mul__(self, factor):
        return Work(*(factor * a for a in dataclasses.astuple(self)))

    __rmul__ = __mul__

    def seconds(self, rates, gemm_bytes, kernel_rate):
        """Predicted seconds at ``rates`` (``kernel_rate``: the rule's
        kernel's flops per second)."""
        if self.kernel and not kernel_rate:
            raise ValueError("a phase counts kernel flops, but the rule "
                             "declares no nominal_kernel_rate")
        kernel = self.kernel / kernel_rate if self.kernel else 0.0
        return (self.gemm / rates.gemm(gemm_bytes)
                + self.gemm64 / rates.gemm64
                + self.gram / rates.gram(gemm_bytes)
                + self.narrow / rates.narrow + kernel
                + self.read / rates.bandwidth + self.steps * rates.step
                + self.launches * rates.launch)


@dataclass(frozen=True)
class Cost:
    """Predicted seconds of a selection's phases (``info.predicted_phases``
    of the rule that ran)."""

    setup: float
    steps: float
    commits: float
    backward: float = 0.0

    @property
    def total(self):
        return self.setup + self.steps + self.commits + self.backward

    def as_dict(self):
        return dict(setup=self.setup, steps=self.steps,
                    commits=self.commits, backward=self.backward,
                    total=self.total)


class RuleSpec:
    """The declaration of a BAIT rule (subclass it, then
    ``rules.register_rule``; docs/design.md §10).

    Class attributes: ``name`` (the value of ``approximation``),
    ``summary`` (its Fisher, one line), ``classification``,
    ``regression`` and ``identity_fisher`` (what it runs), ``reference``,
    ``title`` (its name in messages; None: ``BAIT with
    approximation="name"``), ``nominal_kernel_rate`` (its kernel's flops
    per second at ``cost.NOMINAL``; None: no kernel flops) and
    ``qualifies_from_k`` (the fewest classes from which
    ``approximation="auto"`` may choose it, as docs/results.md §16
    measured; None: never). Every rule writes
    :meth:`start`, :meth:`memory` and :meth:`work`.
    """

    name = None
    summary = ""
    classification = True
    regression = False
    identity_fisher = True
    reference = False
    title = None
    nominal_kernel_rate = None
    qualifies_from_k = None

    @property
    def label(self):
        """The rule's name in messages (:attr:`title`)."""
        return self.title or f'BAIT with approximation="{self.name}"'

    def problem_error(self, classification, fisher):
        """Why the rule cannot run this problem (a message), or None."""
        if classification and not self.classification:
            return (f"approximation={self.name!r} applies to regression "
                    "only (pool_proba is None)")
        if not classification and not self.regression:
            return (f"approximation={self.name!r} applies to "
                    "classification (pool_proba given); regression BAIT is "
                    "already rank one. Use approximation='auto' or 'exact'")
        if fisher != "pool" and not self.identity_fisher:
            return (f"approximation={self.name!r} needs fisher=\"pool\"; "
                    f"got fisher={fisher!r}")
        return None

    def rank(self, k):
        """The number of classes the selection runs at (binary BAIT: 1)."""
        return k

    def inputs(self, xp, h, p):
        """The embeddings and probabilities the selection runs on (binary
        BAIT weighs the embeddings and drops the probabilities)."""
        return h, p

    def budget(self, shape):
        """Bytes of a chunk's temporaries."""
        return shape.budget(self.rank(shape.k))

    def pool_sum(self, problem, budget_bytes, n_jobs):
        """The part of F that the pool rows of ``problem`` contribute,
        unnormalised (a block of a pool on a cluster computes its own)."""
        raise NotImplementedError

    def start(self, problem, *, lam, n_select, n_forward, identity_fisher,
              budget_bytes, n_jobs, timings, pool_sum=None, n_pool=None):
        """The greedy loop's rule after the set-up (the methods ``greedy.py``
        lists). ``pool_sum`` (a callable: :meth:`pool_sum` over the pool)
        and ``n_pool`` stand for a pool held elsewhere (a Dask cluster).
        """
        raise NotImplementedError

    def kernel(self, xp, rank_one, use_numba):
        """The per-candidate kernel of the steps (``kernels.Kernel``)."""
        raise NotImplementedError

    def select(self, problem, n_select, *, lam, n_forward, identity_fisher,
               budget_bytes, use_numba, rtol, n_jobs=1, progress=None,
               record_gains=False):
        """The whole selection on an in-process pool; a ``GreedyResult``
        (``progress`` and ``record_gains`` as ``greedy_select``'s)."""
        timings = dict.fromkeys(PHASES, 0.0)
        with timed(timings, "setup"):
            rule = self.start(problem, lam=lam, n_select=n_select,
                              n_forward=n_forward,
                              identity_fisher=identity_fisher,
                              budget_bytes=budget_bytes, n_jobs=n_jobs,
                              timings=timings)
            states = list(rule.states()(problem))
        kernel = self.kernel(problem.xp, problem.rank_one, use_numba)
        with kernel.step_context(n_jobs):  # (no name holds the pool)
            return greedy_select(
                rule, Candidates(problem, *take_all(states), kernel,
                                 rule.sqrt_s, budget_bytes, timings),
                n_select, n_forward=n_forward, rtol=rtol,
                refresh=rule.refresh(rtol), progress=progress,
                record_gains=record_gains)

    def reference_factors(self, h, p):
        """The rule's Fisher of every point, for a dense float64 evaluation
        (tests): independent blocks ``g_j`` (n, k, r), the point's Fisher in
        block j ``(g_j[x] g_j[x]ᵀ) ⊗ h_x h_xᵀ``."""
        raise NotImplementedError

    def memory(self, shape):
        """Upper bound of the bytes the selection allocates (its inputs
        excepted), phase by phase."""
        raise NotImplementedError

    def work(self, shape):
        """The flop and byte counts of each phase on ``shape``: a dict of
        :class:`Work` by phase (``setup``, ``steps``, ``commits``,
        ``backward``); no machine rate enters them."""
        raise NotImplementedError

    def kernel_probe(self):
        """How ``cost.machine_rates`` measures the rule's kernel: ``(k,
        state columns, operand columns)``, or None (its flops per candidate
        are those :meth:`work` counts for a step)."""
        return None

    def cost(self, shape, rates):
        """Predicted seconds (:class:`Cost`): the counts of :meth:`work`
        at this machine's ``rates`` (``cost.Rates``)."""
        kernel_rate = rates.kernel_rate(self)
        return Cost(**{phase: work.seconds(rates, shape.gemm_bytes,
                                           kernel_rate)
                       for phase, work in self.work(shape).items()})

    def qualifies(self, shape):
        """Whether ``approximation="auto"`` may choose this rule on this
        shape (docs/results.md's protocol measured it as good): from
        :attr:`qualifies_from_k` classes on."""
        return (self.qualifies_from_k is not None
                and shape.k >= self.qualifies_from_k)

    def __repr__(self):
        return f"<BAIT rule {self.name!r}>"


def step_launches(shape, kernel, k):
    """Array operations a greedy step launches with the array-API
    ``kernel`` (a class of ``backends/kernels.ArrayKernel``) at rank ``k``:
    per chunk its own (one where a CUDA kernel replaces it), the
    product's and the scores' copy. None with the compiled kernels, whose
    few calls are in a step's fixed seconds."""
    if shape.numba:
        return 0
    own = 1 if shape.cuda and kernel.fused_on_cuda else kernel.launches
    rows = rows_per_chunk(kernel.row_bytes(k), shape.budget(k), shape.n_pool)
    return math.ceil(shape.n_pool / rows) * (own + 2)


def input_bytes(n_pool, d, k, n_lab, store_bytes, gemm_bytes, p_bytes):
    """Bytes of the engine's copies of the inputs, held throughout."""
    held = (n_pool + n_lab) * d * store_bytes
    if gemm_bytes != store_bytes:
        held += n_pool * d * gemm_bytes
    if k > 1 and p_bytes != 8:
        held += 8 * n_pool * k
    return held


def with_margin(total):
    """The counts above leave out small arrays, index tables and Python
    objects: 8 % and 512 KiB more."""
    return int(1.08 * total) + 2 ** 19


def memory_kwargs(shape, k, budget):
    """A rule's byte count's keyword arguments for ``shape`` at rank
    ``k``."""
    return dict(n_pool=shape.n_pool, d=shape.d, k=k, n_lab=shape.n_lab,
                n_select=shape.n_select, n_forward=shape.n_forward,
                budget=budget, n_jobs=shape.n_jobs,
                store_bytes=shape.store_bytes, gemm_bytes=shape.gemm_bytes,
                p_bytes=shape.p_bytes, on_numpy=shape.on_numpy,
                identity_fisher=shape.identity_fisher, numba=shape.numba)
