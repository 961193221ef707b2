"""`nsaudit watch`: the resident loop. It records every namespace event its mechanism sees
into the database, a batch a transaction, with the run's totals; a stop (SIGTERM, SIGINT,
the end of --for) flushes what it holds and closes the run."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from nsaudit.errors import HostReadError
from nsaudit.model import HostInfo
from nsaudit.store.database import Database, retried
from nsaudit.watch.events import Exited, Seen
from nsaudit.watch.handshake import CATCH_UP, lock_path, only_watcher

# While events come: a transaction at most every FLUSH_S or every batch; while none come, the
# run's seen_at is brought up to date every HEARTBEAT_S (a run that died stops there).
FLUSH_S = 1.0
HEARTBEAT_S = 10.0
POLL_MS = 100


class Mechanism(Protocol):
    name: str
    description: str
    blind: str

    def poll(self, timeout_ms: int) -> list[Seen | Exited]: ...
    def lost(self) -> int: ...
    def close(self) -> None: ...


def choose(wanted: str, nsfs_dev: int, warn: Callable[[str], None]) -> Mechanism:
    """The mechanism: bpf, audit, or auto (bpf, else audit with a warning that says why)."""
    from nsaudit.watch.bpf import BpfWatch

    if wanted == "bpf":
        return BpfWatch(nsfs_dev)
    from nsaudit.watch.audit import AuditWatch

    if wanted == "audit":
        return AuditWatch()
    try:
        return BpfWatch(nsfs_dev)
    except HostReadError as e:
        refused = e
    try:
        fallback = AuditWatch()
    except HostReadError as e:
        raise HostReadError(f"neither eBPF nor audit can be used: {refused}; {e}") from None
    warn(f"eBPF cannot be used ({refused}); watching through the audit subsystem instead, "
         f"which {fallback.blind}")  # fmt: skip
    return fallback


@dataclass
class Totals:
    """What a run recorded."""

    run: int
    mechanism: str
    events: int = 0
    exits: int = 0
    lost: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@contextmanager
def _ignored(signum: int) -> Iterator[None]:
    before = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signum, before)


class _Signals:
    """SIGTERM and SIGINT ask the loop to stop (it stores what it holds first); SIGUSR1, a
    snapshot's, to store what it holds now."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.catch_up = False
        wanted = (signal.SIGTERM, signal.SIGINT, CATCH_UP)
        self._old = {s: signal.signal(s, self._on) for s in wanted}

    def _on(self, signum: int, _frame: object) -> None:
        if signum == CATCH_UP:
            self.catch_up = True
        else:
            self.signal = signum

    def restore(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


def watch(
    database: Database,
    host: HostInfo,
    wanted: str,
    seconds: float | None,
    batch: int,
    announce: Callable[[str], None],
    warn: Callable[[str], None],
) -> tuple[Totals, int | None]:
    """Watch until stopped (or for `seconds`): the run's totals, and the signal that stopped
    it (None: the time was up). announce: which mechanism watches; warn: a fallback."""
    from nsaudit.store import events as stored

    nsfs_dev = os.stat("/proc/self/ns/net").st_dev
    sqlite = database.sqlite
    lock = lock_path(database.location, None if sqlite is None else sqlite.path)
    # A snapshot's SIGUSR1 may come as soon as the lock names this process: until the loop
    # takes it, it is ignored, not fatal (its default).
    with _ignored(CATCH_UP), only_watcher(lock) as held:
        mechanism = choose(wanted, nsfs_dev, warn)
        signals = _Signals()
        try:
            started = _now()

            def begin() -> tuple[int, int]:
                with database.writing_sql() as sql:
                    return stored.begin_run(sql, host, mechanism.name, mechanism.blind, started)

            host_id, run = retried(begin)
            totals = Totals(run, mechanism.name)
            announce(f"watching with {mechanism.description} (run {run})")
            pending: list[tuple[object, ...]] = []
            clock_from = time.monotonic()
            last_write = clock_from

            def flush(ended: bool = False) -> None:
                # Everything the kernel sent before `at` is in the buffer: read it all.
                at = _now()
                take(mechanism.poll(0))
                totals.lost = mechanism.lost()

                def write() -> None:
                    with database.writing_sql() as sql:
                        stored.record(
                            sql, host_id, run, pending, at, totals.events, totals.lost, ended
                        )

                retried(write)
                pending.clear()
                held.stored_up_to(at)

            def take(found: list[Seen | Exited]) -> None:
                for got in found:
                    if isinstance(got, Exited):
                        totals.exits += 1
                        pending.append(stored.exit_row(got.at, got.boot_ns, got.tid))
                    else:
                        totals.events += 1
                        pending.append(stored.event_row(got.event, got.boot_ns))

            while signals.signal is None:
                take(mechanism.poll(POLL_MS))
                now = time.monotonic()
                due = HEARTBEAT_S if not pending else FLUSH_S
                if signals.catch_up or len(pending) >= batch or now - last_write >= due:
                    signals.catch_up = False
                    flush()
                    last_write = now
                if seconds is not None and now - clock_from >= seconds:
                    break
            flush(ended=True)
            return totals, signals.signal
        finally:
            mechanism.close()  # before the signals' handlers go: audit's state is put back
            signals.restore()
