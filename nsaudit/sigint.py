"""Ctrl-C: whatever it interrupts, nsaudit exits 130 with one line, and never after deciding."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType

EXIT_INTERRUPTED = 130

# Lists, not plain globals: a subscript store runs no signal handler before it takes effect.
_interrupted = [False]
_settled = [False]
_deferred = [False]


def install() -> None:
    """Record every SIGINT before raising KeyboardInterrupt, so that whatever exception the
    interrupt causes (inside click, SQLAlchemy, a finally block) still ends in exit 130."""
    signal.signal(signal.SIGINT, _on_sigint)
    default_hook = sys.unraisablehook

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        # A KeyboardInterrupt raised inside a weakref callback or __del__ (importlib's module
        # locks have one) cannot propagate: Python would print "Exception ignored ..." and
        # carry on. Say nothing, and interrupt again a moment later, back in nsaudit's own
        # code, where it propagates (a signal raised here would land in this hook again).
        if info.exc_type is not None and issubclass(info.exc_type, KeyboardInterrupt):
            if not _settled[0]:
                signal.signal(signal.SIGALRM, _on_sigint)
                signal.setitimer(signal.ITIMER_REAL, 0.001)
            return
        default_hook(info)

    sys.unraisablehook = unraisable


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _interrupted[0] = True
    if not _settled[0] and not _deferred[0]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside, Ctrl-C is recorded, not raised: for code that a KeyboardInterrupt must not cut
    halfway, a process pool's (concurrent.futures holds locks its own thread waits for: cut
    there, the process hangs at exit). The code asks raise_if_interrupted() where it may stop,
    and leaving raises it too."""
    before = _deferred[0]
    _deferred[0] = True
    try:
        yield
    finally:
        _deferred[0] = before
    raise_if_interrupted()


def raise_if_interrupted() -> None:
    """KeyboardInterrupt if a Ctrl-C came (and the exit code is not decided yet)."""
    if _interrupted[0] and not _settled[0]:
        raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether a SIGINT has arrived in this run."""
    return _interrupted[0]


def settle(code: int) -> int:
    """The final exit code: 130 (and its one line) if Ctrl-C came before the decision. After
    this, SIGINT is blocked through interpreter shutdown: a late one cannot print a traceback
    or an 'Exception ignored' and change the exit code."""
    _settled[0] = True
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGALRM})
    if _interrupted[0] or code == EXIT_INTERRUPTED:
        # print(file=None), with standard error closed, would print to standard output.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.write("nsaudit: error: interrupted\n")
            sys.stderr.flush()
        return EXIT_INTERRUPTED
    return code
