"""Keep freed memory for reuse during CPU training (glibc only).

Why: a CPU training step allocates and frees buffers of several MB (a (2048, 1001) logit block is
8 MB; a table-sized gradient 10 MB on Gowalla). glibc serves blocks that large with fresh
``mmap`` pages and returns them to the OS on free, so every step page-faults on each first
touch. Raising glibc's mmap and trim thresholds makes those blocks come from the heap and stay
there for the next step. The cost: the process keeps up to ``TRIM_THRESHOLD`` of freed heap
instead of returning it to the OS.

Off by default: `fit` calls `keep_freed_memory` when it trains on the CPU, which applies the
thresholds only where the environment variable ``RECPREF_KEEP_FREED_MEMORY=1`` is set (``0``, the
default, leaves the allocator alone). Once the pooled step gathered rows sparsely, whole pooled SSM
fits on Gowalla were only 2-6% faster with it (docs/results/allocator_effect.log), while
per-positive steps were slower, so a library should not change the process's allocator for that.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["ENV_VAR", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

ENV_VAR = "RECPREF_KEEP_FREED_MEMORY"
MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap (glibc: 128 KiB, adaptive up to 32 MiB, its maximum on older versions)
TRIM_THRESHOLD = 1 << 30  # free heap above this at the top is returned to the OS
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process where ``RECPREF_KEEP_FREED_MEMORY=1``; True where they
    are in force (glibc and asked for), False otherwise (the default; macOS, Windows, musl: nothing to do).
    A value of the variable other than 0 or 1 raises ``ValueError``."""
    global _applied
    setting = os.environ.get(ENV_VAR, "0")
    if setting not in ("0", "1"):
        raise ValueError(f"{ENV_VAR} must be 0 (leave the allocator alone) or 1 (keep freed memory), got {setting!r}")
    if setting == "0":
        return False
    if _applied is None:
        _applied = False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            mallopt = getattr(libc, "mallopt", None)
            if mallopt is not None and getattr(libc, "gnu_get_libc_version", None) is not None:
                _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                           TRIM_THRESHOLD))
        except OSError:
            _applied = False
    return _applied
