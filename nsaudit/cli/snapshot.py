"""`nsaudit snapshot`: scan every namespace on the host, and store it as a snapshot."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options, db_option
from nsaudit.errors import EXIT_OK
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings


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
    from nsaudit import timing

    with timing.phase("import"):
        from nsaudit.app import inventory
        from nsaudit.store.database import Database
        from nsaudit.views import snapshot as views

    if no_store:
        common.emit(views.snapshot_document(inventory.scan(settings, common.root, threads, label)))
        return EXIT_OK
    taken = inventory.take(Database(db), settings, common.root, threads, label)
    common.emit(views.stored_document(taken.snapshot, taken.saved, taken.changes))
    return EXIT_OK
