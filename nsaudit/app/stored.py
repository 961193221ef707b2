"""Stored snapshots: the list, one by its ref (whole or read as it is used), and the diff of
two."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nsaudit.analysis.between import Between
from nsaudit.analysis.diff import SnapshotDiff, diff, without
from nsaudit.app.inventory import ignored, local_host, watched_between
from nsaudit.errors import UsageError
from nsaudit.model import Snapshot, SnapshotRow
from nsaudit.refs import BEFORE_LATEST, LATEST, SnapshotRef
from nsaudit.settings import Settings
from nsaudit.store.database import Database
from nsaudit.store.queries import list_rows, resolve, resolve_before
from nsaudit.store.snapshots import Streamed, load, load_difference, stream
from nsaudit.store.sql import Sql
from nsaudit.timespan import Duration

if TYPE_CHECKING:
    from sqlalchemy import Connection


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
    between: Between | None = None


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
        between = watched_between(Sql.of(conn), before, after, settings.ignore)
    changes = without(diff(before, after, ns_type), ignored(settings.ignore))
    return Compared(before, after, changes, between)
