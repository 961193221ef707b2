"""`nsaudit audit`: the cron job. Detect, snapshot, diff against the previous snapshot."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options, db_option, policy_option
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
    from nsaudit import timing

    with timing.phase("import"):
        from nsaudit.app.inventory import audit as run_audit
        from nsaudit.store.database import Database
        from nsaudit.views import diff as diff_view
        from nsaudit.views.check import with_check
        from nsaudit.views.snapshot import stored_document

    taken = run_audit(Database(db), settings, common.root, policy, threads, label)
    doc = stored_document(taken.snapshot, taken.saved, taken.changes)
    differs = False
    if taken.previous is not None and taken.stored is not None and taken.changes is not None:
        differs = taken.changes.differs or (taken.between is not None and taken.between.differs)
        doc = diff_view.document(
            taken.previous, taken.stored, taken.changes, show_all, doc.lines, taken.between
        )
    failed = taken.evaluation is not None and taken.evaluation.failed
    if taken.evaluation is not None:
        doc = with_check(doc, taken.evaluation)
    if differs or failed or not quiet:
        common.emit(doc)
    return EXIT_FINDINGS if differs or failed else EXIT_OK
