"""`nsaudit check`: does this host (or a stored host) meet the policy? Exit 1 when not."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from nsaudit.cli.options import Common, common_options, db_option, local_host, policy_option
from nsaudit.collect.scan import has_processes
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
from nsaudit.hostfs import HostFS
from nsaudit.refs import LATEST
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings

if TYPE_CHECKING:
    from nsaudit.compliance import CheckResult
    from nsaudit.model import Snapshot
    from nsaudit.policy.rules import Policy
    from nsaudit.store.database import Database


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
    from nsaudit import compliance
    from nsaudit.store import hostlock
    from nsaudit.store.database import Database
    from nsaudit.store.queries import resolve
    from nsaudit.store.snapshots import save

    rules = compliance.locate(policy, settings.policy, required=True)
    assert rules is not None
    now = datetime.now(UTC)
    local = local_host(settings, common.root)
    database = Database(db)
    if hostname is not None or no_snapshot:
        # A stored snapshot: a check that records nothing only reads the database.
        opened = database.writing(create=False) if record else database.reading()
        with opened as conn:
            snapshot_id = resolve(conn, LATEST, local, hostname)
            result = compliance.check_stored(conn, snapshot_id, rules, now, record)
        return _finish(common, result, quiet)
    if not has_processes(HostFS(common.root)):
        # A kernel image or fixture tree: its kernel rules can be checked, nothing is stored.
        snap = common.fresh_snapshot(settings, threads, label=None, scan=False)
        reason = f"{common.root} runs no processes, so it holds no namespaces"
        return _finish(common, compliance.check_offline(snap, rules, reason, now), quiet)
    if not record:
        # A check by hand writes nothing: storing its snapshot would end the period the next
        # scheduled audit diffs, and so hide what changed since the last audit.
        fresh = common.fresh_snapshot(settings, threads, label=None)
        return _finish(common, _unstored(database, fresh, rules, now), quiet)
    with hostlock.scanning(database, local):
        fresh = common.fresh_snapshot(settings, threads, label=None)
        with database.writing() as conn:
            snapshot_id = save(conn, fresh).id
            result = compliance.check_stored(conn, snapshot_id, rules, now, record)
    return _finish(common, result, quiet)


def _unstored(database: Database, fresh: Snapshot, rules: Policy, now: datetime) -> CheckResult:
    """The check of a fresh snapshot against what is stored, read without a write: no
    database is created where none is, and none is upgraded."""
    from nsaudit import compliance

    if database.sqlite is not None and not os.path.exists(database.sqlite.path):
        return compliance.check_unstored(None, fresh, rules, now)
    with database.reading() as conn:
        return compliance.check_unstored(conn, fresh, rules, now)


def _finish(common: Common, result: CheckResult, quiet: bool) -> int:
    from nsaudit.views.check import document

    failed = result.failed
    if failed or not quiet:
        common.emit(document(result))
    return EXIT_FINDINGS if failed else EXIT_OK
