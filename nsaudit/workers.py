"""Work that shares nothing, spread over processes: a fleet's hosts are reported one per core.

The workers are forked (they inherit what the caller set up; nothing is pickled but each
item and its answer), after the caller has closed its database connections: a connection is
never carried across a fork. They ignore Ctrl-C, which the parent handles alone: it stops
handing out work and waits only for what is already running."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from nsaudit import sigint
from nsaudit.errors import NsauditError

A = TypeVar("A")
B = TypeVar("B")

# What the forked workers run: set before the fork, read by _run in the worker.
_work: list[Callable[[Any], Any]] = []


@contextmanager
def few_collections() -> Iterator[None]:
    """The cyclic garbage collector run seldom (every 100,000 allocations rather than 700),
    here and in the workers forked meanwhile: a fleet's report makes millions of records that
    live until they are written, and each collection walked them again for nothing (1,000
    hosts: 81 s -> 67 s). Cycles are still collected."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def cores() -> int:
    """The CPUs this process may run on (its affinity, as a container's cpuset limits it)."""
    return len(os.sched_getaffinity(0))


def ordered(items: Sequence[A], work: Callable[[A], B], jobs: int) -> Iterator[B]:
    """work(item) for every item, answered in the items' order, in up to `jobs` processes
    (in this one when jobs or items are fewer than two). An exception raised by work is raised
    here, as it was, for the first item that raised one. Items and answers are pickled on their
    way: big inputs are best reached by index, since the workers have them already."""
    jobs = min(jobs, len(items))
    if jobs < 2:
        yield from map(work, items)
        return
    # Loaded here: a command that spreads no work need not load multiprocessing.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    _work[:] = [work]
    # Ctrl-C, while the pool lives, stops it between two answers, never inside its code.
    with sigint.deferred():
        pool = ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("fork"), initializer=_start
        )
        # map() forks the workers as it hands out the items: with SIGINT held back, so that
        # none is born with the parent's handler; the parent's comes when it is let through.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            answers: Iterator[B] | None = pool.map(_run, items)
        except OSError:
            answers = None  # no process could be forked (a limit on processes)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        try:
            for answer in map(work, items) if answers is None else answers:
                sigint.raise_if_interrupted()
                yield answer
        except BrokenProcessPool:
            raise NsauditError(
                "a worker process died (killed, or out of memory); run again, with --jobs 1 "
                "to use one process"
            ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _work.clear()


def _start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # What the worker inherited lives as long as it does: the collector need not walk it.
    gc.freeze()


def _run(item: Any) -> Any:
    return _work[0](item)
