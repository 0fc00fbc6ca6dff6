"""What ``bait_select(verbose=1)`` shows: the rule chosen with every
rule's predicted seconds, then, for a selection predicted to take more
than :data:`PROGRESS_AFTER_SECONDS`, a progress bar over the greedy steps
with an ETA (tqdm when it is installed, the ecosystem's convention;
plain lines otherwise)."""

import sys
import time

__all__ = ["PROGRESS_AFTER_SECONDS", "report_plan", "step_progress"]

#: Selections predicted to take longer show a progress bar with ``verbose``.
PROGRESS_AFTER_SECONDS = 5.0


def report_plan(plan, verbose, prefix="[bait_select]"):
    """Print the rule that runs, why, and each rule's predicted seconds."""
    if not verbose:
        return
    seconds = ", ".join(f"{name} {s:.3g} s"
                        for name, s in plan.seconds().items())
    print(f"{prefix} rule: {plan.method} ({plan.reason}); predicted: "
          f"{seconds}", flush=True)


def step_progress(plan, shape, verbose):
    """A context manager that is also the greedy loop's ``progress``
    callable (one call per pick or removal)."""
    predicted = plan.predicted[plan.method].total
    if not verbose or predicted < PROGRESS_AFTER_SECONDS:
        return _Silent()
    total = shape.n_forward + max(0, shape.n_forward - shape.n_select)
    desc = f"BAIT {plan.method}"
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Lines(total, desc, predicted)
    return _Bar(tqdm, total, desc)


class _Silent:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self):
        pass


class _Bar(_Silent):
    """tqdm's bar (its ETA from the steps' rate)."""

    def __init__(self, tqdm, total, desc):
        self.tqdm, self.total, self.desc = tqdm, total, desc
        self.bar = None

    def __enter__(self):
        self.bar = self.tqdm(total=self.total, desc=self.desc, unit="step",
                             file=sys.stderr, leave=True)
        return self

    def __exit__(self, *exc):
        self.bar.close()
        return False

    def __call__(self):
        self.bar.update(1)


class _Lines(_Silent):
    """A line at every tenth of the steps: done, elapsed, ETA."""

    def __init__(self, total, desc, predicted):
        self.total, self.desc = total, desc
        self.predicted = predicted
        self.done = 0
        self.start = None

    def __enter__(self):
        self.start = time.perf_counter()
        print(f"[{self.desc}] {self.total} steps, predicted "
              f"{self.predicted:.3g} s", flush=True)
        return self

    def __call__(self):
        self.done += 1
        every = max(1, self.total // 10)
        if self.done % every and self.done != self.total:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        print(f"[{self.desc}] {self.done}/{self.total} steps, "
              f"{elapsed:.1f} s elapsed, ETA {eta:.1f} s", flush=True)
