"""Wall-clock seconds of a selection's phases (``info.timings``)."""

import contextlib
import time

__all__ = ["timed"]


@contextlib.contextmanager
def timed(timings, key):
    """Add the seconds spent in the block to ``timings[key]``.

    Not synchronised on asynchronous devices (CuPy, torch on a GPU), where
    only the sum over the phases is meaningful.
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
