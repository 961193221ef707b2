"""Snapshots taken: this host, a fresh scan, taking one (scan under the host's lock, store,
compare with the previous). Loading stored ones is app/stored.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nsaudit import timing
from nsaudit.analysis.diff import SnapshotDiff, diff, without
from nsaudit.collect import prescan
from nsaudit.collect.snapshot import host_info
from nsaudit.collect.snapshot import take as scan_host
from nsaudit.errors import ScanOutOfOrder
from nsaudit.hostfs import HostFS
from nsaudit.kernel.detect import detect
from nsaudit.kernel.report import report
from nsaudit.model import HostInfo, Namespace, Saved, Snapshot
from nsaudit.policy.locate import locate
from nsaudit.settings import IgnoreRule, Settings
from nsaudit.store import hostlock
from nsaudit.store.database import Database, retried
from nsaudit.store.snapshots import load_difference, previous, save
from nsaudit.store.sql import Sql

if TYPE_CHECKING:
    # Only `audit --policy` checks: a plain snapshot does not load the policy engine.
    from nsaudit import compliance
    from nsaudit.analysis.between import Between
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
    what `nsaudit watch` saw between them (None: no watcher ever ran for the host); and the
    policy's check of it, recorded, when a policy was given."""

    snapshot: Snapshot
    saved: Saved
    previous: Snapshot | None = None
    stored: Snapshot | None = None
    changes: SnapshotDiff | None = None
    between: Between | None = None
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
        if root == "/":
            watcher_caught_up(database, snap.taken_at)
        try:
            return retried(lambda: _store(database, snap, settings, policy, now, compare))
        except ScanOutOfOrder:
            # A scan begun at start-up (nsaudit/collect/prescan.py) may predate one that another
            # run stored meanwhile: scanned again, it comes after it. A clock that went back
            # fails the same way twice.
            again = scan(settings, root, threads, label)
            return retried(lambda: _store(database, again, settings, policy, now, compare))


def watcher_caught_up(database: Database, until: str) -> None:
    """A running `nsaudit watch` of this database stores what it saw up to the scan, so that
    the comparison sees a namespace that lived and died just before it."""
    from nsaudit.watch.handshake import catch_up, lock_path

    sqlite = database.sqlite
    catch_up(lock_path(database.location, None if sqlite is None else sqlite.path), until)


def _store(
    database: Database,
    snap: Snapshot,
    settings: Settings,
    policy: Policy | None,
    now: datetime | None,
    compare: bool,
) -> Taken:
    """Save a snapshot, diff it with the previous one and check the policy, in one write;
    without a policy, through the database's driver itself (store/sql.py: no SQLAlchemy)."""
    if policy is None:
        with database.writing_sql() as sql:
            return Taken(snap, *_saved(sql, snap, settings, compare))
    from nsaudit import compliance

    with database.writing() as conn:
        saved, before, stored, changes, watched = _saved(Sql.of(conn), snap, settings, compare)
        when = now or datetime.now(UTC)
        checked = compliance.evaluate_stored(conn, saved.id, policy, when, True)
    return Taken(snap, saved, before, stored, changes, watched, checked)


def _saved(
    sql: Sql, snap: Snapshot, settings: Settings, compare: bool
) -> tuple[Saved, Snapshot | None, Snapshot | None, SnapshotDiff | None, Between | None]:
    with timing.phase("save"):
        saved = save(sql, snap)
    if not compare:
        return saved, None, None, None, None
    with timing.phase("compare"):
        return (saved, *_since_previous(sql, saved.id, settings.ignore))


def _since_previous(
    sql: Sql, snapshot_id: int, ignore: Sequence[IgnoreRule]
) -> tuple[Snapshot | None, Snapshot | None, SnapshotDiff | None, Between | None]:
    before_id = previous(sql, snapshot_id)
    if before_id is None:
        return None, None, None, None
    before, after = load_difference(sql, before_id, snapshot_id)
    changes = without(diff(before, after), ignored(ignore))
    return before, after, changes, watched_between(sql, before, after, ignore)


def ignored(rules: Sequence[IgnoreRule]) -> Callable[[Namespace], bool]:
    """Whether the settings' ignore rules leave a namespace out of diffs."""
    return lambda ns: any(r.matches(ns) for r in rules)


def watched_between(
    sql: Sql, before: Snapshot, after: Snapshot, ignore: Sequence[IgnoreRule]
) -> Between | None:
    """What `nsaudit watch` saw on the host between two of its snapshots (after: as
    load_difference gives it, which holds every namespace created since before); None for
    two hosts' snapshots, or a host no watcher ever ran for."""
    from nsaudit.analysis.between import between
    from nsaudit.store.events import between as recorded

    same = (before.host.hostname, before.host.machine_id) == (
        after.host.hostname,
        after.host.machine_id,
    )
    host = sql.value("SELECT host_id FROM snapshots WHERE id = :id", id=after.id)
    if not same or host is None:
        return None
    watched = recorded(sql, int(host), before.taken_at, after.taken_at)
    if watched is None:
        return None
    return between(watched, after, lambda e: any(r.matches_event(e) for r in ignore))


def audit(
    database: Database,
    settings: Settings,
    root: str = "/",
    policy: str | None = None,
    threads: bool = False,
    label: str | None = None,
    now: datetime | None = None,
) -> Taken:
    """The cron job: scan and store a snapshot, diff it against the host's previous one, and
    check the policy (`policy`, else the settings', else the system's, if any) and record it."""
    rules = locate(policy, settings.policy, required=False)
    return take(database, settings, root, threads, label, rules, now)
