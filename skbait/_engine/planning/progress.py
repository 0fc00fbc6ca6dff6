"""What ``bait_select(verbose=1)`` shows (docs/design.md §10, "Choosing a
rule"): the rule and the predictions, then, for a selection predicted to
take more than :data:`PROGRESS_AFTER_SECONDS`, the set-up and a progress
bar over the steps (tqdm, or lines) whose ETA weighs the prediction as
:data:`PRIOR_STEPS` measured steps.
"""

import sys
import time

__all__ = ["PROGRESS_AFTER_SECONDS", "PRIOR_STEPS", "report_plan",
           "step_progress", "StepETA"]

#: Selections predicted to take longer show their progress with ``verbose``.
PROGRESS_AFTER_SECONDS = 5.0
#: How many measured steps the predicted step rate weighs as.
PRIOR_STEPS = 10


def report_plan(plan, verbose, prefix="[bait_select]"):
    """Print the rule that runs, why, and each rule's predicted seconds."""
    if not verbose:
        return
    seconds = ", ".join(f"{name} {s:.3g} s"
                        for name, s in plan.seconds().items())
    print(f"{prefix} rule: {plan.method} ({plan.reason}); predicted: "
          f"{seconds}", flush=True)


def step_progress(plan, shape, verbose):
    """A context manager around the selection that is also the greedy
    loop's ``progress`` (``start_steps()``, then a call per step)."""
    if not verbose:  # nothing predicted: no rates measured
        return Silent()
    cost = plan.predicted[plan.method]
    if cost.total < PROGRESS_AFTER_SECONDS:
        return Silent()
    eta = StepETA(shape.commits, cost.total - cost.setup)
    desc = f"BAIT {plan.method}"
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Lines(desc, cost.setup, eta)
    return _Bar(tqdm, desc, cost.setup, eta)


class Silent:
    """No output (``verbose=0``, or a selection predicted to be short)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start_steps(self):
        pass

    def __call__(self):
        pass


class StepETA:
    """The remaining seconds of ``total`` steps predicted to take
    ``predicted`` seconds, as the steps are measured."""

    def __init__(self, total, predicted, clock=time.perf_counter):
        self.total, self.clock = total, clock
        self.per_step = predicted / total if total else 0.0
        self.done, self.start = 0, None

    def begin(self):
        self.start = self.clock()

    def step(self):
        self.done += 1

    def elapsed(self):
        return self.clock() - self.start

    def remaining(self):
        """Predicted seconds left."""
        rate = ((PRIOR_STEPS * self.per_step + self.elapsed())
                / (PRIOR_STEPS + self.done))
        return rate * (self.total - self.done)


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Phases(Silent):
    """The set-up as a phase of its own, then the steps."""

    def __init__(self, desc, setup, eta):
        self.desc, self.setup, self.eta = desc, setup, eta
        self.t0 = None

    def __enter__(self):
        self.t0 = time.perf_counter()
        print(f"[{self.desc}] set-up, predicted {self.setup:.3g} s",
              flush=True)
        return self

    def start_steps(self):
        self.eta.begin()
        print(f"[{self.desc}] set-up done in "
              f"{time.perf_counter() - self.t0:.3g} s; {self.eta.total} "
              f"greedy steps, predicted {self.eta.remaining():.3g} s",
              flush=True)


class _Bar(_Phases):
    """tqdm's bar over the steps, showing this module's ETA."""

    def __init__(self, tqdm, desc, setup, eta):
        super().__init__(desc, setup, eta)
        self.tqdm, self.bar = tqdm, None

    def start_steps(self):
        super().start_steps()
        self.bar = self.tqdm(
            total=self.eta.total, desc=self.desc, unit="step",
            file=sys.stderr, leave=True,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                       "[{elapsed}{postfix}]")
        self._show(refresh=True)

    def _show(self, refresh=False):
        self.bar.set_postfix_str(f"ETA {_clock(self.eta.remaining())}",
                                 refresh=refresh)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False

    def __call__(self):
        self.eta.step()
        self.bar.update(1)
        self._show()


class _Lines(_Phases):
    """A line at every tenth of the steps: done, elapsed, ETA."""

    def __call__(self):
        eta = self.eta
        eta.step()
        every = max(1, eta.total // 10)
        if eta.done % every and eta.done != eta.total:
            return
        print(f"[{self.desc}] {eta.done}/{eta.total} steps, "
              f"{eta.elapsed():.1f} s elapsed, ETA {eta.remaining():.1f} s",
              flush=True)
