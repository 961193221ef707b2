"""The scan of `snapshot` and `audit`, begun in a child process before nsaudit loads click and
SQLAlchemy: the kernel is read while Python imports, on another core.

`__main__` starts it when the command line begins with one of those commands and names no
--root; the command takes its result (`take`) only for the scan it would have made itself (the
live host, the same --threads), once. Whatever the child cannot do (an error, a signal, a
result that does not arrive whole) leaves the command to scan as it always does: a prescan
changes when the scan happens, never what it finds. A snapshot whose prescan turns out older
than one another run stored meanwhile is scanned again (nsaudit/app/inventory.py)."""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nsaudit.collect.snapshot import Scanned
    from nsaudit.hostfs import HostFS

COMMANDS = frozenset({"snapshot", "audit"})


@dataclass(frozen=True)
class _Child:
    pid: int
    fd: int  # the read end of the pipe the child writes its pickled result to
    threads: bool


_running: list[_Child] = []  # at most one


def start(argv: list[str]) -> None:
    """Fork the scan of the command `argv` asks for, if it is one of COMMANDS on this host."""
    if not argv or argv[0] not in COMMANDS or os.environ.get("NSAUDIT_NO_PRESCAN"):
        return
    if any(a.partition("=")[0] in ("--root", "--help", "-h") for a in argv):
        return
    threads = "--threads" in argv
    # Loaded before the fork, once for both processes: the command needs the collector's
    # modules too (to read the result), and loading them in each would cost the CPU twice.
    from nsaudit.collect import snapshot  # noqa: F401

    try:
        read, write = os.pipe()
    except OSError:
        return
    try:
        pid = os.fork()
    except OSError:  # no process to spare (RLIMIT_NPROC, a seccomp filter): scan as ever
        os.close(read)
        os.close(write)
        return
    if pid == 0:
        os.close(read)
        _child(write, threads)
    os.close(write)
    _running.append(_Child(pid, read, threads))
    atexit.register(_end)


def _child(fd: int, threads: bool) -> None:
    """Scan, write the result, and leave without running the parent's exit handlers."""
    try:
        # Ctrl-C reaches the whole process group: the child just stops.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        from nsaudit import timing
        from nsaudit.collect.snapshot import scan_now
        from nsaudit.hostfs import HostFS

        # As the command would scan: itself a member (never the representative), and this
        # process, which exists only meanwhile, no member at all.
        scanned = scan_now(HostFS("/"), threads, os.getppid())
        timing.add_cpu("scan cpu")
        data = pickle.dumps((scanned, timing.spent()), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    finally:
        os._exit(0)


def take(host: HostFS, threads: bool) -> Scanned | None:
    """The prescan's result for this scan, or None: none was started, it was of another scan,
    or it did not finish whole."""
    if not _running:
        return None
    child = _running.pop()
    if not (host.live and threads == child.threads):
        _stop(child)
        return None
    from nsaudit import timing

    with timing.phase("prescan wait"):
        with os.fdopen(child.fd, "rb") as pipe:
            data = pipe.read()
        os.waitpid(child.pid, 0)
    try:
        scanned, spent = pickle.loads(data)
    except Exception:  # nothing, or a part: the child died before it wrote all
        return None
    for name, ms in spent.items():
        timing.add(name, ms / 1000)
    result: Scanned = scanned
    return result


def _stop(child: _Child) -> None:
    with contextlib.suppress(OSError):
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
    os.close(child.fd)


def _end() -> None:
    """A prescan no command took (a usage error, say): ended with the run."""
    while _running:
        _stop(_running.pop())
