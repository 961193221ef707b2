"""`nsaudit export` and `nsaudit import`: snapshots from one database to another, as bundles."""

from __future__ import annotations

import click

from nsaudit.cli.options import db_option, output_option, snapshot_refs, write_to
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_OK
from nsaudit.refs import SnapshotRef
from nsaudit.settings import Settings


@click.command("export")
@click.argument("refs", nargs=-1, metavar="[REF...]", callback=snapshot_refs)
@output_option("the bundle")
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="latest and latest~N are that host's snapshots instead of this host's.",
)
@click.option("--all", "everything", is_flag=True, help="Every snapshot in the database.")
@db_option
def export(
    refs: tuple[SnapshotRef, ...],
    output: str,
    hostname: str | None,
    everything: bool,
    db: str,
    settings: Settings,
) -> int:
    """Write snapshots (REFS: ids, latest, latest~N; default latest) with their host records
    to a versioned JSON Lines bundle that `nsaudit import` loads elsewhere, with the
    `nsaudit watch` runs (and their events) of each host from its snapshot before the first
    exported one to its last (--all: every run)."""
    from nsaudit import bundle
    from nsaudit.app.fleet import export as export_snapshots
    from nsaudit.render.escape import terminal
    from nsaudit.store.database import Database

    count = export_snapshots(
        Database(db),
        lambda snaps, watched: write_to(output, lambda f: bundle.write(snaps, watched, f)),
        settings,
        refs,
        hostname,
        everything,
    )
    if output != "-":
        watched = ""
        if count.watch_runs:
            watched = (
                f" and {count.watch_runs} watcher runs ({count.ns_events} namespace events, "
                f"{count.task_exits} exits)"
            )
        to_stderr(f"exported {count.snapshots} snapshots{watched} to {terminal(output)}")
    return EXIT_OK


@click.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@db_option
def import_(files: tuple[str, ...], db: str, settings: Settings) -> int:
    """Load bundles (FILE..., - for standard input). Each snapshot is validated and stored as
    it is read, in one transaction: the first error stores nothing of any file, and importing
    the same bundle twice adds nothing (run it again once a bad file is mended). Says what
    each bundle added."""
    from nsaudit.app.fleet import import_bundles
    from nsaudit.render.escape import terminal
    from nsaudit.store.database import Database

    found = import_bundles(Database(db), files)
    if len(files) > 1:
        for name, added, present in found.bundles:
            click.echo(f"bundle {terminal(name)}: {added} added, {present} already present")
    click.echo(f"imported {found.added} snapshots ({found.present} already present)")
    if found.watch_added or found.watch_present:
        click.echo(
            f"imported {found.watch_added} watcher events and exits ({found.watch_present} "
            "already present)"
        )
    return EXIT_OK
