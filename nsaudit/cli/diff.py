"""`nsaudit diff`: which namespaces were created, vanished or changed between two snapshots."""

from __future__ import annotations

import click

from nsaudit.cli.options import (
    Common,
    common_options,
    db_option,
    duration,
    snapshot_refs,
    type_option,
)
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
from nsaudit.refs import SnapshotRef
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
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.MARKDOWN, OutputFormat.JSONL])
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
    latest of this host), with the namespaces `nsaudit watch` saw created and gone between
    them. Exit 0 when they do not differ, 1 when they do."""
    from nsaudit.app.stored import compare_snapshots
    from nsaudit.store.database import Database
    from nsaudit.views.diff import document

    found = compare_snapshots(
        Database(db), settings, old, new, common.root, hostname, since, ns_type
    )
    common.emit(document(found.before, found.after, found.changes, show_all, between=found.between))
    differs = found.changes.differs or (found.between is not None and found.between.differs)
    return EXIT_FINDINGS if differs else EXIT_OK
