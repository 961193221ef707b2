"""Where a command's time goes: named phases, timed only when NSAUDIT_TIMINGS names a file.

The benchmarks set it (tests/benchmarks/snapshot_speed.py prints the breakdown); at exit the
phases' wall times, in milliseconds, are written there as one JSON object. Unset, a phase
costs one dictionary lookup."""

from __future__ import annotations

import atexit
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

_FILE = os.environ.get("NSAUDIT_TIMINGS")
_SPENT: dict[str, float] = {}


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time what the block does, added to the phase's total."""
    if _FILE is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        _SPENT[name] = _SPENT.get(name, 0.0) + time.perf_counter() - start


def add(name: str, seconds: float) -> None:
    """Add time measured by the caller (a phase interleaved with another, item by item)."""
    if _FILE is not None:
        _SPENT[name] = _SPENT.get(name, 0.0) + seconds


def add_cpu(name: str) -> None:
    """Record this process's CPU time so far (user + system) as `name`: the prescan's, whose
    counts began at its fork."""
    if _FILE is not None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        add(name, usage.ru_utime + usage.ru_stime)


def spent() -> dict[str, float]:
    """Each phase's milliseconds so far."""
    return {k: round(v * 1000, 1) for k, v in _SPENT.items()}


def _write() -> None:
    if _FILE is not None:
        with open(_FILE, "w", encoding="utf-8") as f:
            json.dump(spent(), f)


atexit.register(_write)
