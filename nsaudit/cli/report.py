"""`nsaudit report`: an auditor's report of one host or a fleet over a period."""

from __future__ import annotations

import click

from nsaudit.cli.options import (
    Common,
    common_options,
    db_option,
    duration,
    output_option,
    policy_option,
)
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
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
    from nsaudit.app.policy import report as run_report
    from nsaudit.store.database import Database
    from nsaudit.views.report import document

    # JUnit XML is a test per rule: without a policy it would be an empty, passing suite.
    junit = common.format is OutputFormat.JUNIT
    found = run_report(
        Database(db), settings, since, common.root, policy, hostnames, all_hosts, junit
    )
    common.emit(document(found.hosts, found.since, found.now, found.policy), output)
    if output != "-":
        hosts = f"{len(found.hosts)} host{'s' if len(found.hosts) > 1 else ''}"
        to_stderr(f"wrote the report of {hosts} to {output}")
    return EXIT_FINDINGS if found.failed else EXIT_OK
