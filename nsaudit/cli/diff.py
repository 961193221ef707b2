"""`nsaudit diff`: which namespaces were created, vanished or changed between two snapshots."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from nsaudit.cli.options import (
    Common,
    common_options,
    db_option,
    duration,
    local_host,
    snapshot_refs,
    type_option,
)
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from nsaudit.refs import BEFORE_LATEST, LATEST, SnapshotRef
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings
from nsaudit.timespan import Duration


@click.command("diff")
@click.argument("old", required=False, callback=snapshot_refs)
@click.argument("new", required=False, callback=snapshot_refs)
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="Refs are that host's snapshots instead of this host's.",
)
@click.option(
    "--since",
    metavar="DURATION",
    callback=duration,
    help="Compare the latest snapshot with the newest one older than this (24h, 7d).",
)
@type_option
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also list process-count changes (they never make the exit status 1).",
)
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.MARKDOWN])
def diff_command(
    old: SnapshotRef | None,
    new: SnapshotRef | None,
    hostname: str | None,
    since: Duration | None,
    ns_type: str | None,
    show_all: bool,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """Compare two snapshots: OLD and NEW are ids, latest or latest~N (default: the two
    latest of this host). Exit 0 when they do not differ, 1 when they do."""
    from nsaudit.diff import diff, without
    from nsaudit.store.database import Database
    from nsaudit.store.queries import resolve, resolve_before
    from nsaudit.store.snapshots import load
    from nsaudit.views.diff import document

    if since is not None and old is not None:
        raise UsageError("--since picks OLD itself; give either --since or OLD")
    local = local_host(settings, common.root)
    with Database(db).reading() as conn:
        new_id = resolve(conn, new or LATEST, local, hostname)
        if since is not None:
            cutoff = datetime.now(UTC) - since.delta
            old_id = resolve_before(
                conn, local, hostname, cutoff.isoformat(timespec="microseconds")
            )
        else:
            old_id = resolve(conn, old or BEFORE_LATEST, local, hostname)
        before, after = load(conn, old_id), load(conn, new_id)
    result = diff(before, after, ns_type)
    result = without(result, lambda ns: any(r.matches(ns) for r in settings.ignore))
    common.emit(document(before, after, result, show_all))
    return EXIT_FINDINGS if result.differs else EXIT_OK
