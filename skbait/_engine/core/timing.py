"""Wall-clock seconds of a selection's phases (``info.timings``)."""

import contextlib
import time

__all__ = ["timed"]


@contextlib.contextmanager
def timed(timings, key):
    """Add the seconds spent in the block to ``timings[key]`` (not
    synchronised on asynchronous devices)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
