"""Snapshots: this host, a fresh scan, taking one (scan under the host's lock, store, compare
with the previous), loading one by its ref, and the diff of two."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from nsaudit import timing
from nsaudit.analysis.diff import SnapshotDiff, diff, without
from nsaudit.collect import prescan
from nsaudit.collect.snapshot import host_info
from nsaudit.collect.snapshot import take as scan_host
from nsaudit.errors import ScanOutOfOrder, UsageError
from nsaudit.hostfs import HostFS
from nsaudit.kernel.detect import detect
from nsaudit.kernel.report import report
from nsaudit.model import HostInfo, Namespace, Saved, Snapshot, SnapshotRow
from nsaudit.refs import BEFORE_LATEST, LATEST, SnapshotRef
from nsaudit.settings import IgnoreRule, Settings
from nsaudit.store import hostlock
from nsaudit.store.database import Database
from nsaudit.store.queries import list_rows, previous, resolve, resolve_before
from nsaudit.store.snapshots import Streamed, load, load_difference, save, stream
from nsaudit.timespan import Duration

if TYPE_CHECKING:
    # Only `audit --policy` checks: a plain snapshot does not load the policy engine.
    from nsaudit import compliance
    from nsaudit.policy.rules import Policy


def local_host(settings: Settings, root: str = "/") -> HostInfo:
    """This host as the database names it: its files under `root`, the settings' hostname."""
    return host_info(HostFS(root), settings.hostname)


def scan(
    settings: Settings, root: str = "/", threads: bool = False, label: str | None = None
) -> Snapshot:
    """Detect the kernel's capabilities and scan every namespace under `root`; not stored."""
    return _fresh(settings, root, threads, label, True)


def capabilities_only(settings: Settings, root: str) -> Snapshot:
    """The host facts and capability report of a root that runs nothing (a kernel image)."""
    return _fresh(settings, root, False, None, False)


def _fresh(
    settings: Settings, root: str, threads: bool, label: str | None, namespaces: bool
) -> Snapshot:
    host = HostFS(root)
    with timing.phase("detect"):
        capabilities = report(detect(host))
    return scan_host(
        host,
        threads=threads,
        label=label,
        capabilities=capabilities,
        hostname=settings.hostname,
        scan=namespaces,
        scanned=prescan.take(host, threads) if namespaces else None,
    )


@dataclass(frozen=True)
class Taken:
    """A snapshot scanned and stored: what saving did; the host's previous snapshot, this one
    as stored and their diff (ignore rules applied; None for a host's first snapshot, or when
    not asked; the two as load_difference gives them, with only the namespaces that differ);
    and the policy's check of it, recorded, when a policy was given."""

    snapshot: Snapshot
    saved: Saved
    previous: Snapshot | None = None
    stored: Snapshot | None = None
    changes: SnapshotDiff | None = None
    evaluation: compliance.Evaluation | None = None


def take(
    database: Database,
    settings: Settings,
    root: str = "/",
    threads: bool = False,
    label: str | None = None,
    policy: Policy | None = None,
    now: datetime | None = None,
    compare: bool = True,
) -> Taken:
    """Scan this host and store the snapshot; with `compare`, diff it against the host's
    previous one; with a policy, check it and record the check (as `audit --policy` does).

    The host's scan lock spans the scan and the save (seq order is scan order; a scan begun
    at start-up, before the lock, that another run overtook is made again); the database's
    write lock is held for the write only."""
    with hostlock.scanning(database, local_host(settings, root)):
        snap = scan(settings, root, threads, label)
        try:
            return _store(database, snap, settings, policy, now, compare)
        except ScanOutOfOrder:
            # A scan begun at start-up (nsaudit/collect/prescan.py) may predate one that another
            # run stored meanwhile: scanned again, it comes after it. A clock that went back
            # fails the same way twice.
            snap = scan(settings, root, threads, label)
            return _store(database, snap, settings, policy, now, compare)


def _store(
    database: Database,
    snap: Snapshot,
    settings: Settings,
    policy: Policy | None,
    now: datetime | None,
    compare: bool,
) -> Taken:
    """Save a snapshot, diff it with the previous one and check the policy, in one write."""
    with database.writing() as conn:
        with timing.phase("save"):
            saved = save(conn, snap)
        before = stored = changes = None
        if compare:
            with timing.phase("compare"):
                before, stored, changes = _since_previous(conn, saved.id, settings.ignore)
        checked = None
        if policy is not None:
            from nsaudit import compliance

            when = now or datetime.now(UTC)
            checked = compliance.evaluate_stored(conn, saved.id, policy, when, True)
    return Taken(snap, saved, before, stored, changes, checked)


def _since_previous(
    conn: Connection, snapshot_id: int, ignore: Sequence[IgnoreRule]
) -> tuple[Snapshot | None, Snapshot | None, SnapshotDiff | None]:
    before_id = previous(conn, snapshot_id)
    if before_id is None:
        return None, None, None
    before, after = load_difference(conn, before_id, snapshot_id)
    return before, after, without(diff(before, after), ignored(ignore))


def ignored(rules: Sequence[IgnoreRule]) -> Callable[[Namespace], bool]:
    """Whether the settings' ignore rules leave a namespace out of diffs."""
    return lambda ns: any(r.matches(ns) for r in rules)


def snapshots(
    database: Database, hostname: str | None = None, limit: int | None = None
) -> list[SnapshotRow]:
    """Stored snapshots, newest first: one host's by seq, every host's by time."""
    with database.reading() as conn:
        return list_rows(conn, hostname, limit)


def stored(
    database: Database,
    settings: Settings,
    ref: SnapshotRef,
    root: str = "/",
    hostname: str | None = None,
) -> Snapshot:
    """The stored snapshot a ref names: an id, or latest~N of `hostname` (else of this host)."""
    with _named(database, settings, ref, root, hostname) as (conn, snapshot_id):
        return load(conn, snapshot_id)


@contextmanager
def streamed(
    database: Database,
    settings: Settings,
    ref: SnapshotRef,
    root: str = "/",
    hostname: str | None = None,
) -> Iterator[Streamed]:
    """stored(), its namespaces read as they are used, in the transaction this holds open."""
    with _named(database, settings, ref, root, hostname) as (conn, snapshot_id):
        yield stream(conn, snapshot_id)


@contextmanager
def _named(
    database: Database, settings: Settings, ref: SnapshotRef, root: str, hostname: str | None
) -> Iterator[tuple[Connection, int]]:
    """A read transaction, and the id of the snapshot the ref names in it."""
    local = local_host(settings, root)
    with database.reading() as conn:
        yield conn, resolve(conn, ref, local, hostname)


@dataclass(frozen=True)
class Compared:
    """Two stored snapshots, with only the namespaces that differ (load_difference), and
    their diff."""

    before: Snapshot
    after: Snapshot
    changes: SnapshotDiff


def compare_snapshots(
    database: Database,
    settings: Settings,
    old: SnapshotRef | None = None,
    new: SnapshotRef | None = None,
    root: str = "/",
    hostname: str | None = None,
    since: Duration | None = None,
    ns_type: str | None = None,
    now: datetime | None = None,
) -> Compared:
    """Two stored snapshots of one host and their diff, ignore rules applied: OLD and NEW
    (default the two latest), or the latest and the newest one older than `since`."""
    if since is not None and old is not None:
        raise UsageError("--since picks OLD itself; give either --since or OLD")
    local = local_host(settings, root)
    with database.reading() as conn:
        new_id = resolve(conn, new or LATEST, local, hostname)
        if since is not None:
            cutoff = (now or datetime.now(UTC)) - since.delta
            old_id = resolve_before(
                conn, local, hostname, cutoff.isoformat(timespec="microseconds")
            )
        else:
            old_id = resolve(conn, old or BEFORE_LATEST, local, hostname)
        before, after = load_difference(conn, old_id, new_id)
    changes = without(diff(before, after, ns_type), ignored(settings.ignore))
    return Compared(before, after, changes)
