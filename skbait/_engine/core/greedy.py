"""The forward-backward greedy loop of docs/design.md §2, for every rule.

A *rule* keeps M⁻¹ (and F) and turns a committed point into an operand;
the *candidates* (``candidates.py``, or a Dask pool) apply it to their
states and report their best score. The loop picks, commits and records;
of the rule it uses:

- ``rule.objective``: ``tr(M⁻¹ F)`` before the first step;
- ``rule.commit(index, h, p, sigma, dtype)``: M ← M + σ Ĩ(x) for the
  point with embedding ``h`` and probabilities ``p``; returns the operand
  of the candidates' update, in ``dtype``;
- ``rule.states()``: a callable that forms fresh states of the candidates
  of a ``GreedyProblem`` from the current M⁻¹ (a refresh);
- ``rule.rebase(members)``: M⁻¹ formed afresh for the labeled points plus
  the committed ``members`` (a refresh);
- ``rule.backward_kernel()``: the kernel of the backward pass's
  in-process candidates (the chosen points, ``pool.take``);
- ``rule.start_backward(sel, chosen, last, refresh, rtol)``: commits the
  last forward pick (``last``: its ``(h, p)``) and makes the states of
  those candidates as exact as the rule makes them;
- ``rule.refresh_selected(sel)``: fresh states of those candidates.
"""

from dataclasses import dataclass, field

import numpy as np

from ..info import SelectionInfo
from .timing import timed

__all__ = ["GreedyResult", "Refresh", "greedy_select"]


@dataclass
class GreedyResult:
    """What a selection did: the fields of :class:`SelectionInfo` of the
    same meaning (``kept``: the batch, in the order added)."""

    kept: list
    forward: list
    objective: list
    gains: list
    timings: dict = field(default_factory=dict)
    refreshes: int = 0
    candidate_gains: np.ndarray = None

    def info(self, *, scale, rel_lam, plan, used_numba, **extra):
        """``bait_select``'s :class:`~skbait.SelectionInfo`: this result,
        λ and μ of ``scale``, the ``plan``, and ``extra`` attributes."""
        return SelectionInfo(
            lam=rel_lam * scale.mean_eigenvalue,
            fisher_scale=scale.mean_eigenvalue,
            objective=np.asarray(self.objective, dtype=np.float64),
            gains=np.asarray(self.gains, dtype=np.float64),
            forward=np.asarray(self.forward, dtype=np.int64),
            n_forward=len(self.forward),
            n_refreshes=self.refreshes,
            used_numba=used_numba,
            timings=self.timings,
            approximation=plan.method,
            approximation_reason=plan.reason,
            decided_by=plan.decided_by,
            memory_needed={m: int(b) for m, b in plan.needed.items()},
            predicted_seconds=plan.seconds(),
            predicted_phases=plan.predicted[plan.method].as_dict(),
            candidate_gains=self.candidate_gains, **extra)


def greedy_select(rule, pool, n_select, *, n_forward, rtol, refresh,
                  progress=None, record_gains=False):
    """Forward-backward greedy selection of ``n_select`` pool points, a
    ``GreedyResult``.

    ``pool`` holds the candidates with their first states, ``rtol`` is the
    tie tolerance; ``progress`` (``planning.progress.step_progress``) is
    told when the steps start and called after every pick and removal;
    ``record_gains`` keeps every candidate's scores at each forward step.
    """
    if progress is None:
        progress = _no_progress
    else:
        progress.start_steps()
    objective = [rule.objective]
    refresh.watch(pool)
    steps = [] if record_gains else None
    chosen, gains = _forward(rule, pool, n_forward, rtol, objective,
                             refresh, progress, steps)
    if len(chosen) <= n_select:
        kept = list(chosen)
    else:  # the pool's states are freed before the backward pass
        sel = pool.take(sorted(chosen), rule.backward_kernel())
        last = pool.row(chosen[-1])
        del pool
        rule.start_backward(sel, chosen, last, refresh, rtol)
        kept = _backward(rule, sel, chosen, n_select, rtol, objective,
                         refresh, progress)
    gain_of = dict(zip(chosen, gains))
    candidate_gains = None
    if record_gains:
        step_of = {x: step for step, x in enumerate(chosen)}
        candidate_gains = np.stack([steps[step_of[i]] for i in kept])
    return GreedyResult(kept=kept, forward=chosen, objective=objective,
                        gains=[gain_of[i] for i in kept],
                        timings=refresh.timings, refreshes=refresh.count,
                        candidate_gains=candidate_gains)


def _no_progress():
    pass


def _forward(rule, pool, n_forward, rtol, objective, refresh, progress,
             steps):
    """Greedy additions (§2): the chosen indices and their gains (``steps``
    receives the scores each pick was chosen from). The last addition is
    left to ``rule.start_backward``, for the chosen points alone."""
    chosen, gains = [], []
    pool.rescore()
    best, gain, _ = pool.best(rtol, maximize=True)
    for step in range(n_forward):
        if steps is not None:
            steps.append(pool.available_scores())
        chosen.append(best)
        gains.append(gain)
        objective.append(objective[-1] - gain)
        pool.drop(best)
        progress()
        if step + 1 == n_forward:
            break
        h, p = pool.row(best)
        pool.update(rule.commit(best, h, p, 1.0, pool.gemm_dtype), 1.0)
        best, gain, top = pool.best(rtol, maximize=True)
        if refresh.due(top):  # §8, "Refresh"
            refresh.pool(rule, pool, chosen)
            pool.rescore()
            best, gain, _ = pool.best(rtol, maximize=True)
    return chosen, gains


def _backward(rule, sel, chosen, n_select, rtol, objective, refresh,
              progress):
    """Prune ``chosen`` to ``n_select`` by greedy removals (§2); the kept
    points in the order added. ``sel`` holds them in pool-index order."""
    members = sorted(chosen)
    removed = set()

    def refreshed():  # as in the forward pass, on the smallest cost
        _, _, top = sel.best(rtol, maximize=False)
        if refresh.due(top):
            refresh.selected(rule, sel,
                             [i for i in members if i not in removed])
            sel.update(None, -1.0)

    sel.update(None, -1.0)
    refreshed()
    for _ in range(len(chosen) - n_select):
        pos, cost, _ = sel.best(rtol, maximize=False)
        objective.append(objective[-1] + cost)
        sel.drop(pos)
        removed.add(members[pos])
        h, p = sel.row(pos)
        sel.update(rule.commit(members[pos], h, p, -1.0,
                               sel.problem.gemm_dtype), -1.0)
        refreshed()
        progress()
    return [i for i in chosen if i not in removed]


class Refresh:
    """When and how M⁻¹ and the states are formed afresh (§8, "Refresh"):
    when ``u · t · (b_max + a_max · g)`` exceeds a tenth of ``rtol`` times
    the best score g, t commits after a fresh start (u: the GEMM dtype's
    unit roundoff). ``enabled`` is False where the rule has none.
    """

    def __init__(self, *, rtol, unit, enabled, timings):
        self.rtol, self.unit, self.enabled = rtol, unit, enabled
        self.timings = timings
        self.a_max = self.b_max = 0.0
        self.since = self.count = 0

    def watch(self, candidates):
        """Start counting from the fresh states of ``candidates``."""
        self.since = 0
        if self.enabled:
            maxima = candidates.maxima()
            if maxima is not None:
                self.a_max, self.b_max = maxima

    def due(self, best_gain):
        """Whether the scores after this commit must be computed afresh
        (``best_gain``: the best of them)."""
        if not self.enabled:
            return False
        self.since += 1
        best = abs(best_gain)
        bound = self.unit * self.since * (self.b_max + self.a_max * best)
        return bound > 0.1 * self.rtol * best

    def pool(self, rule, pool, members):
        """Fresh M⁻¹ and fresh states of the whole ``pool``."""
        with timed(self.timings, "refresh"):
            self.count += 1
            rule.rebase(members)
            pool.reset(rule.states())
        self.watch(pool)

    def selected(self, rule, sel, members):
        """Fresh M⁻¹ and fresh states of the backward pass's ``sel``."""
        with timed(self.timings, "refresh"):
            self.count += 1
            rule.rebase(members)
            rule.refresh_selected(sel)
        self.watch(sel)
