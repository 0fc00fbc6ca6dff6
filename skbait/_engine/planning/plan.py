"""Which BAIT rule runs, and why: ``approximation`` resolved before
anything large is allocated (docs/design.md §10, "Choosing a rule"), from
the rules' memory and their counted cost at the fixed ``NOMINAL`` rates,
so that a call chooses the same rule wherever it fits. This machine's
rates serve only the predictions, measured when first read.
"""

import dataclasses
import math
from dataclasses import dataclass, field

from ..backends.array_api import device, is_numpy_namespace
from ..backends.cuda import cuda_runs
from .cost import NOMINAL, machine_rates
from ..backends.kernels import resolve_numba
from .memory import MEMORY_FRACTION, format_bytes, memory_limit
from ..rules import RULES, Shape, get_rule, reference_rule

__all__ = ["AUTO_EXACT_SECONDS", "AUTO_EXACT_FACTOR", "Plan",
           "plan_selection", "selection_shape"]

#: ``approximation="auto"`` runs the reference rule when its counted cost
#: is at most this many seconds at the nominal rates, whatever the other
#: rules cost.
AUTO_EXACT_SECONDS = 5.0
#: ... or at most this many times the cheapest qualifying rule.
AUTO_EXACT_FACTOR = 2.0
#: Round trips to a cluster's workers besides the greedy steps' (the
#: set-up's calls and the backward pass's rows).
SETUP_ROUND_TRIPS = 8


@dataclass
class Plan:
    """The rule that runs (``spec``, named ``method``), why, and for each
    rule considered its bytes (``needed``) and counted ``Cost`` (nominal
    rates); ``predicted`` (this machine's rates, plus a cluster's round
    trips) is computed when first read."""

    spec: object
    reason: str
    needed: dict = field(default_factory=dict)
    counted: dict = field(default_factory=dict)
    limit: object = None
    decided_by: str = "shape"
    shape: object = None
    specs: dict = field(default_factory=dict)
    rates: object = None
    round_trip: object = None
    _predicted: dict = None

    @property
    def method(self):
        return self.spec.name

    @property
    def predicted(self):
        """Predicted phases of each rule considered, by name."""
        if self._predicted is None:
            rates = self.rates()
            trip = self.round_trip() if self.round_trip else 0.0
            self._predicted = {
                name: dataclasses.replace(
                    cost, setup=cost.setup + SETUP_ROUND_TRIPS * trip,
                    steps=cost.steps + self.shape.n_forward * trip)
                for name, cost in ((name, spec.cost(self.shape, rates))
                                   for name, spec in self.specs.items())}
        return self._predicted

    def seconds(self):
        """Predicted seconds of each rule considered, by name."""
        return {name: cost.total for name, cost in self.predicted.items()}


def plan_selection(approximation, *, xp, x, shape, fisher="pool",
                   memory_shape=None, rates=None, round_trip=None):
    """Resolve ``approximation`` for a problem of ``shape`` whose arrays
    live where ``x`` does, a :class:`Plan`.

    ``memory_shape``: the shape that must fit here, if not ``shape`` (a
    cluster's client). ``rates`` (default: this machine's) and
    ``round_trip`` (a callable: seconds to a cluster's workers) serve only
    the predictions. Raises ``ValueError`` for a rule that does not
    apply, ``MemoryError`` when nothing asked for fits.
    """
    limit = memory_limit(xp, x)
    usable = None if limit is None else limit.usable
    if rates is None:
        def rates():
            return machine_rates(xp, shape.n_jobs, device=(
                None if is_numpy_namespace(xp) else device(x)))
    else:
        rates = (lambda fixed: lambda: fixed)(rates)
    memory_shape = shape if memory_shape is None else memory_shape
    plan = Plan(None, "", limit=limit, shape=shape, rates=rates,
                round_trip=round_trip)

    def consider(spec):
        if spec.name not in plan.needed:
            plan.specs[spec.name] = spec
            plan.needed[spec.name] = int(spec.memory(memory_shape))
            plan.counted[spec.name] = spec.cost(shape, NOMINAL)
        return usable is None or plan.needed[spec.name] <= usable

    if approximation != "auto" or not shape.classification:
        spec = get_rule(None if approximation == "auto" else approximation)
        error = spec.problem_error(shape.classification, fisher)
        if error:
            raise ValueError(error + ".")
        if not consider(spec):
            _refuse(spec, plan, usable, memory_shape, fisher)
        plan.spec = spec
        plan.reason = ("regression BAIT is rank one" if approximation == "auto"
                       else f"approximation={approximation!r}")
        return plan
    applicable = [s for s in RULES.values()
                  if s.problem_error(True, fisher) is None]
    fitting = [s for s in applicable if consider(s)]
    seconds = {s.name: plan.counted[s.name].total for s in applicable}
    if not fitting:
        _refuse(min(applicable, key=lambda s: plan.needed[s.name]), plan,
                usable, memory_shape, fisher)
    qualified = [s for s in fitting if s.qualifies(shape)]
    ref = reference_rule()
    plan.spec = _choice(fitting, qualified, ref, seconds)
    cheapest = min((s for s in qualified if s is not ref),
                   key=lambda s: seconds[s.name], default=None)
    if plan.spec is ref:
        plan.reason = _reference_reason(ref, seconds, cheapest)
    elif qualified:
        plan.reason = (
            f"{_why_not_reference(plan, ref, fitting, seconds, cheapest)}; "
            f"{plan.spec.name} is the cheapest rule that qualifies here "
            f"({_fmt(seconds[plan.spec.name])})")
    else:
        plan.reason = (
            f"{_why_not_reference(plan, ref, fitting, seconds, None)}"
            f"; no rule that qualifies here fits in memory; "
            f"{plan.spec.name} fits "
            f"({format_bytes(plan.needed[plan.spec.name])})")
    # What the shape alone would choose, were memory unlimited.
    return _limited(plan, _choice(applicable, [
        s for s in applicable if s.qualifies(shape)], ref, seconds))


def _choice(applicable, qualified, ref, seconds):
    """The rule "auto" takes among ``applicable`` rules, ``qualified``
    those that qualify: the reference rule while it counts at most
    AUTO_EXACT_SECONDS or AUTO_EXACT_FACTOR times the cheapest other
    qualifying rule, else the cheapest qualifying rule, else the
    cheapest."""
    others = [s for s in qualified if s is not ref]
    cheapest = min(others, key=lambda s: seconds[s.name], default=None)
    if ref in applicable and seconds[ref.name] <= max(
            AUTO_EXACT_SECONDS, AUTO_EXACT_FACTOR * (
                seconds[cheapest.name] if cheapest else float("inf"))):
        return ref
    return min(qualified or applicable, key=lambda s: seconds[s.name])


def _limited(plan, unlimited):
    if plan.spec is not unlimited:
        plan.decided_by = "memory"
        plan.reason += (f" (the memory limit decided: on this shape alone "
                        f"{unlimited.name} would run)")
    return plan


def _fmt(seconds):
    return f"{seconds:.3g} s (at the nominal rates)"


def _reference_reason(ref, seconds, cheapest):
    text = f"{ref.label} counts {_fmt(seconds[ref.name])}"
    if seconds[ref.name] <= AUTO_EXACT_SECONDS:
        return f"{text} <= {AUTO_EXACT_SECONDS:g} s"
    if cheapest is None:
        return f"{text}; no other rule qualifies here"
    return (f"{text}, within {AUTO_EXACT_FACTOR:g}x of {cheapest.name} "
            f"({_fmt(seconds[cheapest.name])})")


def _why_not_reference(plan, ref, fitting, seconds, cheapest):
    if ref is None:
        return "no reference rule is registered"
    if ref not in fitting:
        return (f"{ref.label} would need "
                f"{format_bytes(plan.needed[ref.name])}")
    return (f"{ref.label} counts {_fmt(seconds[ref.name])}, over "
            f"{AUTO_EXACT_SECONDS:g} s and {AUTO_EXACT_FACTOR:g}x "
            f"{cheapest.name}")


def _refuse(spec, plan, usable, shape, fisher):
    others = [f'approximation="{s.name}": {format_bytes(s.memory(shape))}'
              for s in RULES.values() if s is not spec
              and s.problem_error(shape.classification, fisher) is None]
    hint = (" What the other rules would need: " + "; ".join(others) + "."
            if others else " Reduce the pool or the embedding width.")
    name = spec.label[0].upper() + spec.label[1:]
    limit = plan.limit
    raise MemoryError(
        f"{name} needs about {format_bytes(plan.needed[spec.name])}, but "
        f"only {format_bytes(limit.available)} is available "
        f"({limit.source}) and a selection may use at most "
        f"{MEMORY_FRACTION:.0%} of it ({format_bytes(usable)}).{hint}")


def selection_shape(xp, h_pool, p_pool, h_lab, *, n_select, oversample,
                    fisher, chunk_size, n_jobs, dtype_name, use_numba):
    """The :class:`~skbait._engine.rules.Shape` of a selection on checked
    inputs (the pool in memory, or the Dask arrays of a cluster's pool)."""
    n_pool, d = h_pool.shape
    # Capped at n_pool (the same n_forward), oversample·B stays finite.
    oversample = float(min(oversample, n_pool))
    return Shape(
        n_pool=n_pool, d=d, k=1 if p_pool is None else p_pool.shape[1],
        n_lab=0 if h_lab is None else h_lab.shape[0], n_select=n_select,
        n_forward=min(n_pool, math.ceil(oversample * n_select)),
        classification=p_pool is not None,
        identity_fisher=fisher == "identity", chunk_size=chunk_size,
        n_jobs=n_jobs, store_bytes=_itemsize(xp, h_pool.dtype),
        gemm_bytes=4 if dtype_name == "float32" else 8,
        p_bytes=8 if p_pool is None else _itemsize(xp, p_pool.dtype),
        numba=resolve_numba(use_numba, xp),
        on_numpy=is_numpy_namespace(xp), cuda=cuda_runs(xp, h_pool))


def _itemsize(xp, dtype):
    return 4 if dtype == xp.float32 else 8
