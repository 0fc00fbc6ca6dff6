"""Fail early, with sizes, when a selection cannot fit in memory."""

import os

from .array_api import is_numpy_namespace

__all__ = ["available_bytes", "check_fits"]


def available_bytes(xp, x):
    """Free memory where ``x`` lives, in bytes, or None when unknown.

    Host memory for NumPy, array-API-strict and torch CPU arrays; for a
    GPU array the free memory of its device, plus what the library's
    caching allocator holds unused (torch's reserved-but-unallocated
    bytes, CuPy's memory-pool free blocks), which it hands out first.
    """
    if is_numpy_namespace(xp) or "array_api_strict" in xp.__name__:
        return _host_available()
    module = type(x).__module__
    try:
        if module.startswith("cupy"):
            import cupy

            with x.device:
                free = cupy.cuda.runtime.memGetInfo()[0]
                pooled = cupy.get_default_memory_pool().free_bytes()
            return int(free) + int(pooled)
        if module.startswith("torch"):
            import torch

            if x.device.type == "cuda":
                free = torch.cuda.mem_get_info(x.device)[0]
                cached = (torch.cuda.memory_reserved(x.device)
                          - torch.cuda.memory_allocated(x.device))
                return int(free) + max(0, int(cached))
            if x.device.type == "cpu":
                return _host_available()
    except Exception:  # no reliable reading: do not block the selection
        return None
    return None


def _host_available():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(xp, x, needed):
    """Raise MemoryError before allocating when ``needed`` bytes won't fit."""
    free = available_bytes(xp, x)
    if free is not None and needed > free:
        raise MemoryError(
            f"This selection needs about {needed / 2**30:.2f} GiB (dk × dk "
            "Fisher matrices and per-candidate states) but only "
            f"{free / 2**30:.2f} GiB is available. Reduce the embedding "
            "width d or the number of classes k (dk = d·k), or the pool size."
        )
