"""`nsaudit snapshots` and `nsaudit show`: what the database holds."""

from __future__ import annotations

import click

from nsaudit.cli.options import (
    Common,
    common_options,
    db_option,
    snapshot_refs,
    type_option,
)
from nsaudit.errors import EXIT_OK
from nsaudit.refs import SnapshotRef
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings
from nsaudit.views.snapshot import TREES


@click.command()
@click.option("--host", "hostname", metavar="NAME", help="Only this host's snapshots.")
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=2**63 - 1),
    metavar="N",
    help="At most N, newest first.",
)
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV])
def snapshots(
    hostname: str | None, limit: int | None, db: str, settings: Settings, common: Common
) -> int:
    """List stored snapshots, newest first."""
    from nsaudit.app.stored import snapshots as stored_snapshots
    from nsaudit.store.database import Database
    from nsaudit.views.snapshot import list_document

    common.emit(list_document(stored_snapshots(Database(db), hostname, limit)))
    return EXIT_OK


@click.command()
@click.argument("ref", default="latest", callback=snapshot_refs)
@type_option
@click.option(
    "--tree",
    type=click.Choice(TREES),
    help="Draw namespaces as a tree of parents (pid, user), owning user namespaces, processes "
    "or containers.",
)
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="With latest or latest~N: that host's snapshots instead of this host's.",
)
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV, OutputFormat.MARKDOWN])
def show(
    ref: SnapshotRef,
    ns_type: str | None,
    tree: str | None,
    hostname: str | None,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """Show the namespaces of a stored snapshot. REF is an id, latest (the default) or
    latest~N (N snapshots before the latest)."""
    from nsaudit.app.stored import stored, streamed
    from nsaudit.store.database import Database
    from nsaudit.views.snapshot import snapshot_document, streamed_document

    if common.format is OutputFormat.JSON:
        # Written as it is read: a snapshot of any size, in constant memory.
        with streamed(Database(db), settings, ref, common.root, hostname) as found:
            namespaces = found.namespaces(ns_type)
            common.emit(streamed_document(found.header, found.counts, namespaces))
        return EXIT_OK
    snap = stored(Database(db), settings, ref, common.root, hostname)
    common.emit(snapshot_document(snap, ns_type, tree, common.ascii_only()))
    return EXIT_OK
