"""How much memory a selection may use (docs/design.md §8, "Memory"): the
tightest of the free memory, the cgroups' limits and the rlimits, of which
a selection may plan :data:`MEMORY_FRACTION`.
"""

import os
from dataclasses import dataclass

from ..backends.array_api import is_numpy_namespace

__all__ = ["MEMORY_FRACTION", "MemoryLimit", "memory_limit", "format_bytes"]

#: The share of the available memory (the tightest limit that applies) a
#: selection may plan to use.
MEMORY_FRACTION = 0.8

_UNLIMITED = 2 ** 60  # cgroup v1 reports "no limit" as a huge number


@dataclass(frozen=True)
class MemoryLimit:
    """Bytes a process may still allocate, and the limit that says so."""

    available: int
    source: str

    @property
    def usable(self):
        """What a selection may plan to use: ``MEMORY_FRACTION`` of it."""
        return int(MEMORY_FRACTION * self.available)


def format_bytes(n):
    """``n`` bytes in GiB (or MiB below one GiB), for messages."""
    if n >= 2 ** 30:
        return f"{n / 2 ** 30:.2f} GiB"
    return f"{n / 2 ** 20:.0f} MiB"


def memory_limit(xp, x):
    """The tightest :class:`MemoryLimit` where ``x`` lives, or None: the
    host's (:func:`host_limit`), or a GPU's free memory plus what its
    library's caching allocator holds unused."""
    if is_numpy_namespace(xp) or "array_api_strict" in xp.__name__:
        return host_limit()
    module = type(x).__module__
    try:
        if module.startswith("cupy"):
            import cupy

            with x.device:
                free = cupy.cuda.runtime.memGetInfo()[0]
                pooled = cupy.get_default_memory_pool().free_bytes()
            return MemoryLimit(int(free) + int(pooled), "the GPU's free memory")
        if module.startswith("torch"):
            import torch

            if x.device.type == "cuda":
                free = torch.cuda.mem_get_info(x.device)[0]
                cached = (torch.cuda.memory_reserved(x.device)
                          - torch.cuda.memory_allocated(x.device))
                return MemoryLimit(int(free) + max(0, int(cached)),
                                   "the GPU's free memory")
            if x.device.type == "cpu":
                return host_limit()
    except Exception:  # no reliable reading: do not block the selection
        return None
    return None


def host_limit():
    """The tightest host :class:`MemoryLimit` (None when none is known)."""
    limits = [lim for lim in (_meminfo(), *_cgroup_limits(), *_rlimits())
              if lim is not None]
    return min(limits, key=lambda lim: lim.available) if limits else None


def _meminfo():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return MemoryLimit(int(line.split()[1]) * 1024,
                                       "MemAvailable (/proc/meminfo)")
    except OSError:
        pass
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return MemoryLimit(int(free), "the free physical memory")
    except (ValueError, OSError, AttributeError):
        return None


def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _cgroup_limits(proc="/proc/self/cgroup", root="/sys/fs/cgroup"):
    """Limit minus usage of this process's cgroup and its ancestors."""
    text = _read(proc)
    if not text:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2 (unified)
            out.extend(_walk(root, path, "memory.max", "memory.current",
                             "cgroup v2 memory.max"))
        elif "memory" in controllers.split(","):
            out.extend(_walk(os.path.join(root, "memory"), path,
                             "memory.limit_in_bytes", "memory.usage_in_bytes",
                             "cgroup v1 memory.limit_in_bytes"))
    return out


def _walk(base, path, limit_file, usage_file, label):
    out = []
    parts = [p for p in path.split("/") if p]
    for depth in range(len(parts), -1, -1):
        folder = os.path.join(base, *parts[:depth])
        limit = _read(os.path.join(folder, limit_file))
        if limit is None or limit == "max" or not limit.isdigit():
            continue
        limit = int(limit)
        if limit >= _UNLIMITED:
            continue
        usage = _read(os.path.join(folder, usage_file))
        used = int(usage) if usage and usage.isdigit() else 0
        out.append(MemoryLimit(max(0, limit - used),
                               f"{label} of {folder}"))
    return out


def _status_kib(field):
    text = _read("/proc/self/status")
    if text:
        for line in text.splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def _rlimits():
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return []
    out = []
    for name, field in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        soft, _ = resource.getrlimit(kind)
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        used = _status_kib(field) or 0
        out.append(MemoryLimit(max(0, soft - used), f"{name} (ulimit)"))
    return out
