"""`nsaudit check`: does this host (or a stored host) meet the policy? Exit 1 when not."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options, db_option, policy_option
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings


@click.command()
@policy_option
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="Check that host's latest stored snapshot (implies --no-snapshot).",
)
@click.option(
    "--no-snapshot",
    is_flag=True,
    help="Check this host's latest stored snapshot instead of taking a new one.",
)
@click.option(
    "--record",
    is_flag=True,
    help="Store the fresh snapshot and record this check as the policy's last one, as "
    "`audit --policy` does: rules about created namespaces then start their next period here. "
    "Without it, check writes nothing.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when every rule passes.")
@click.option("--threads", is_flag=True, help="Read every thread's namespaces too.")
@db_option
@common_options(
    [
        OutputFormat.TABLE,
        OutputFormat.JSON,
        OutputFormat.MARKDOWN,
        OutputFormat.CSV,
        OutputFormat.JUNIT,
        OutputFormat.XCCDF,
        OutputFormat.ARF,
        OutputFormat.JSONL,
    ]
)
def check(
    policy: str | None,
    hostname: str | None,
    no_snapshot: bool,
    record: bool,
    quiet: bool,
    threads: bool,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """Evaluate a policy against a fresh snapshot of this host (or, with --no-snapshot or
    --host, the latest stored one): pass, fail, waived, error or skip per rule, with evidence.
    Nothing is written unless --record, which stores the snapshot and records the check as
    `audit --policy` does: so a check by hand never changes what the scheduled audit reports.
    Rules about created namespaces cover the time since the last recorded check. Exit 0 when
    every rule passes or is waived, 1 when any fails or cannot be judged."""
    from nsaudit.app.policy import check as run_check
    from nsaudit.store.database import Database
    from nsaudit.views.check import document

    result = run_check(
        Database(db), settings, common.root, policy, hostname, no_snapshot, record, threads
    )
    failed = result.failed
    if failed or not quiet:
        common.emit(document(result))
    return EXIT_FINDINGS if failed else EXIT_OK
