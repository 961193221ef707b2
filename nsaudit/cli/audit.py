"""`nsaudit audit`: the cron job. Detect, snapshot, diff against the previous snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from nsaudit.cli.options import Common, common_options, db_option, local_host, policy_option
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when nothing changed.")
@click.option("--label", metavar="TEXT", help="A label stored with the snapshot.")
@click.option("--threads", is_flag=True, help="Read every thread's namespaces too.")
@click.option("--all", "show_all", is_flag=True, help="Also list process-count changes.")
@policy_option
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.MARKDOWN])
def audit(
    quiet: bool,
    label: str | None,
    threads: bool,
    show_all: bool,
    policy: str | None,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """The whole routine for cron: detect, store a snapshot, diff it against this host's
    previous one, and check the policy (when one is given or configured). Exit 0 when nothing
    changed and no rule fails, 1 otherwise."""
    from nsaudit import compliance
    from nsaudit.cli.snapshot import since_previous
    from nsaudit.store import hostlock
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save
    from nsaudit.views import diff as diff_view
    from nsaudit.views.check import with_check
    from nsaudit.views.snapshot import stored_document

    rules = compliance.locate(policy, settings.policy, required=False)
    checked = None
    database = Database(db)
    with hostlock.scanning(database, local_host(settings, common.root)):
        snap = common.fresh_snapshot(settings, threads, label)
        with database.writing() as conn:
            saved = save(conn, snap)
            before, after, result = since_previous(conn, saved.id, settings)
            if rules is not None:
                checked = compliance.check_stored(conn, saved.id, rules, datetime.now(UTC), True)
    stored = stored_document(snap, saved, result)
    differs = False
    doc = stored
    if before is not None and result is not None:
        differs = result.differs
        doc = diff_view.document(before, after, result, show_all, lead=stored.lines)
    failed = checked is not None and checked.failed
    if checked is not None:
        doc = with_check(doc, checked)
    if differs or failed or not quiet:
        common.emit(doc)
    return EXIT_FINDINGS if differs or failed else EXIT_OK
