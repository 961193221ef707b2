"""`nsaudit snapshot`: scan every namespace on the host, and store it as a snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from nsaudit.cli.options import Common, common_options, db_option, local_host
from nsaudit.errors import EXIT_OK
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from nsaudit.diff import SnapshotDiff
    from nsaudit.model import Snapshot


@click.command()
@click.option("--label", metavar="TEXT", help="A label stored with the snapshot.")
@click.option("--threads", is_flag=True, help="Read every thread's namespaces too.")
@click.option("--no-store", is_flag=True, help="Only print the namespaces, like lsns.")
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV, OutputFormat.MARKDOWN])
def snapshot(
    label: str | None, threads: bool, no_store: bool, db: str, settings: Settings, common: Common
) -> int:
    """Take a snapshot of every namespace on the host (from processes, open fds and bind
    mounts) and store it; print its id and what changed since the previous one."""
    from nsaudit.views import snapshot as views

    if no_store:
        common.emit(views.snapshot_document(common.fresh_snapshot(settings, threads, label)))
        return EXIT_OK
    from nsaudit.store import hostlock
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save

    database = Database(db)
    # The host's scan lock spans the scan and the save (seq order is scan order); the
    # database's write lock is held for the write only.
    with hostlock.scanning(database, local_host(settings, common.root)):
        snap = common.fresh_snapshot(settings, threads, label)
        with database.writing() as conn:
            saved = save(conn, snap)
            _, _, changes = since_previous(conn, saved.id, settings)
    common.emit(views.stored_document(snap, saved, changes))
    return EXIT_OK


def since_previous(
    conn: Connection, snapshot_id: int, settings: Settings
) -> tuple[Snapshot | None, Snapshot, SnapshotDiff | None]:
    """(previous, this, their diff) as `nsaudit diff` computes it, ignore rules applied: the
    one summary `snapshot` and `audit` print."""
    from nsaudit.diff import diff, without
    from nsaudit.store.queries import previous
    from nsaudit.store.snapshots import load

    before_id = previous(conn, snapshot_id)
    after = load(conn, snapshot_id)
    if before_id is None:
        return None, after, None
    before = load(conn, before_id)
    result = without(diff(before, after), lambda ns: any(r.matches(ns) for r in settings.ignore))
    return before, after, result
