"""`nsaudit report`: an auditor's report of one host or a fleet over a period."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from nsaudit.cli.options import (
    Common,
    common_options,
    db_option,
    duration,
    local_host,
    output_option,
    policy_option,
)
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings
from nsaudit.timespan import Duration


@click.command()
@policy_option
@click.option(
    "--host",
    "hostnames",
    metavar="NAME",
    multiple=True,
    help="A host to report on (repeat for several; default: this host).",
)
@click.option("--all-hosts", is_flag=True, help="Every host in the database.")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="DURATION",
    callback=duration,
    help="The period: history and rules about created namespaces cover this much (7d, 4w).",
)
@output_option("the report")
@db_option
@common_options(
    [
        OutputFormat.TEXT,
        OutputFormat.MARKDOWN,
        OutputFormat.HTML,
        OutputFormat.JSON,
        OutputFormat.JUNIT,
    ]
)
def report(
    policy: str | None,
    hostnames: tuple[str, ...],
    all_hosts: bool,
    since: Duration,
    output: str,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """Report on stored snapshots: per host the capability matrix with evidence, the policy
    results with evidence and waivers, and the period's history (namespaces per type, created
    and vanished per day; drawn as charts in HTML). Several hosts get a fleet summary first.
    Exit 1 when a rule fails on any host."""
    from nsaudit import compliance
    from nsaudit.store.database import Database
    from nsaudit.store.queries import host_rows, matching
    from nsaudit.views.report import document

    if all_hosts and hostnames:
        raise UsageError("give either --host NAME ... or --all-hosts")
    now = datetime.now(UTC)
    cutoff = (now - since.delta).isoformat(timespec="microseconds")
    # JUnit XML is a test per rule: without a policy it would be an empty, passing suite.
    rules = compliance.locate(policy, settings.policy, required=common.format is OutputFormat.JUNIT)
    local = local_host(settings, common.root)
    with Database(db).reading() as conn:
        rows = host_rows(conn)
        if all_hosts:
            chosen = rows
        elif hostnames:
            known = [(r.hostname, r.machine_id) for r in rows]
            chosen = []
            for name in hostnames:
                found = matching(known, name)
                if not found:
                    raise UsageError(
                        f"no snapshots of host {name!r}; `nsaudit hosts` lists the hosts"
                    )
                chosen += [rows[i] for i in found if rows[i] not in chosen]
        else:
            chosen = [
                r
                for r in rows
                if r.hostname == local.hostname and (r.machine_id or None) == local.machine_id
            ]
            if not chosen:
                raise UsageError(
                    f"no snapshots of this host ({local.hostname}); run `nsaudit audit` first, "
                    "or name hosts with --host"
                )
        if not chosen:
            raise UsageError("the database has no snapshots; run `nsaudit audit` first")
        reports = [compliance.host_report(conn, r.last_id, rules, cutoff, now) for r in chosen]
    common.emit(document(reports, cutoff, now.isoformat(timespec="microseconds"), rules), output)
    if output != "-":
        hosts = f"{len(reports)} host{'s' if len(reports) > 1 else ''}"
        to_stderr(f"wrote the report of {hosts} to {output}")
    failed = any(r.check is not None and r.check.failed for r in reports)
    return EXIT_FINDINGS if failed else EXIT_OK
