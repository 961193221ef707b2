"""A running watcher, found by its lock file (one per host and database): it holds the lock
while it runs, and writes there its pid and the time up to which it has stored what it saw.
A snapshot asks it to catch up to the scan (SIGUSR1) before comparing, so that a namespace
that lived and died just before the scan is in the record, not in a gap."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from nsaudit.errors import UsageError

LOCKS = "/run/nsaudit"
CATCH_UP = signal.SIGUSR1
_WAIT_S = 3.0


def lock_path(location: str, sqlite_path: str | None) -> str:
    """The lock file of a database: an SQLite file by its real path, else by its URL."""
    key = os.path.realpath(sqlite_path) if sqlite_path is not None else location
    return f"{LOCKS}/watch-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"


class Held:
    """The watcher's side: the lock, and what it says in it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def stored_up_to(self, when: str) -> None:
        """Everything seen up to `when` (ISO) is in the database."""
        line = f"{os.getpid()} {when}\n".encode()
        os.pwrite(self._fd, line.ljust(64), 0)


@contextmanager
def only_watcher(path: str) -> Iterator[Held]:
    """Hold the lock for the watch: a second watcher of the same database on this host would
    record every event twice, and is refused."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _said(fd)[0] or "?"
            raise UsageError(
                f"nsaudit watch already runs for this database on this host (pid {pid}): "
                "stop it first (systemctl stop nsaudit-watch)"
            ) from None
        held = Held(fd)
        held.stored_up_to("")
        yield held
    finally:
        os.close(fd)


def _said(fd: int) -> tuple[str, str]:
    words = os.pread(fd, 64, 0).decode(errors="replace").split()
    return (words[0] if words else "", words[1] if len(words) > 1 else "")


def catch_up(path: str, until: str) -> bool:
    """Ask the running watcher, if any, to store what it saw up to `until` (ISO), and wait
    for it (at most a few seconds): False when one runs but did not answer in time (the
    record then shows the stretch as not watched)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True  # no watcher holds it
        except BlockingIOError:
            pass
        pid = _said(fd)[0]
        if not pid.isdigit():
            return False
        try:
            os.kill(int(pid), CATCH_UP)
        except OSError:
            return False
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            if _said(fd)[1] >= until:
                return True
            time.sleep(0.01)
        return False
    finally:
        os.close(fd)
