"""`nsaudit audit`: the cron job. Detect, snapshot, diff against the previous snapshot."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options, db_option
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
from nsaudit.hostfs import HostFS
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when nothing changed.")
@click.option("--label", metavar="TEXT", help="A label stored with the snapshot.")
@click.option("--threads", is_flag=True, help="Read every thread's namespaces too.")
@click.option("--all", "show_all", is_flag=True, help="Also list process-count changes.")
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.MARKDOWN])
def audit(
    quiet: bool,
    label: str | None,
    threads: bool,
    show_all: bool,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """The whole routine for cron: detect, store a snapshot, and diff it against this host's
    previous one. Exit 0 when nothing changed, 1 when something did."""
    from nsaudit.collect.snapshot import take
    from nsaudit.diff import diff, without
    from nsaudit.kernel.detect import detect
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import load, previous, save
    from nsaudit.views import detect as detect_view
    from nsaudit.views import diff as diff_view
    from nsaudit.views.snapshot import stored_document

    host = HostFS(common.root)
    capabilities = detect_view.payload(detect(host))
    snap = take(
        host, threads=threads, label=label, capabilities=capabilities, hostname=settings.hostname
    )
    with Database(db).transaction() as conn:
        saved = save(conn, snap)
        before_id = previous(conn, saved.id)
        before = load(conn, before_id) if before_id is not None else None
        after = load(conn, saved.id)
    stored = stored_document(snap, saved)
    if before is None:
        if not quiet:
            common.emit(stored)
        return EXIT_OK
    result = diff(before, after)
    result = without(result, lambda ns: any(r.matches(ns) for r in settings.ignore))
    if result.differs or not quiet:
        common.emit(diff_view.document(before, after, result, show_all, lead=stored.lines))
    return EXIT_FINDINGS if result.differs else EXIT_OK
