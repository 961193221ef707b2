"""`nsaudit report`: an auditor's report of one host or a fleet over a period."""

from __future__ import annotations

import os
import re

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
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from nsaudit.model import HostInfo
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
@click.option(
    "--stale-after",
    "stale_after",
    metavar="DURATION",
    callback=duration,
    help="A host whose newest snapshot is older than this is stale and passes no rule "
    "(default: the settings' stale_after, else 1d).",
)
@output_option("the report")
@click.option(
    "--per-host",
    "per_host",
    metavar="DIR",
    help="Also write each host's own report into DIR, one file per host named after it "
    "(web-1-<machine id>.xccdf.xml), for tools that take one host per file.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Hosts evaluated at once, each in a process of its own (default: one per CPU).",
)
@db_option
@common_options(
    [
        OutputFormat.TEXT,
        OutputFormat.MARKDOWN,
        OutputFormat.HTML,
        OutputFormat.JSON,
        OutputFormat.JUNIT,
        OutputFormat.XCCDF,
        OutputFormat.ARF,
        OutputFormat.JSONL,
    ]
)
def report(
    policy: str | None,
    hostnames: tuple[str, ...],
    all_hosts: bool,
    since: Duration,
    stale_after: Duration | None,
    output: str,
    per_host: str | None,
    jobs: int | None,
    db: str,
    settings: Settings,
    common: Common,
) -> int:
    """Report on stored snapshots: per host the capability matrix with evidence, the policy
    results with evidence and waivers, and the period's history (namespaces per type, created
    and vanished per day; drawn as charts in HTML). Several hosts get a fleet summary first;
    retired hosts are left out of --all-hosts. Exit 1 when a rule fails on any host."""
    from nsaudit import workers
    from nsaudit.app.policy import report as run_report
    from nsaudit.store.database import Database
    from nsaudit.views.report import document

    # JUnit XML and XCCDF are a result per rule: without a policy they would say nothing.
    junit = common.format in (OutputFormat.JUNIT, OutputFormat.XCCDF, OutputFormat.ARF)
    if per_host is not None and not os.path.isdir(per_host):
        raise UsageError(f"--per-host {per_host}: not a directory; create it first")
    with workers.few_collections():
        found = run_report(
            Database(db),
            settings,
            since,
            common.root,
            policy,
            hostnames,
            all_hosts,
            junit,
            jobs=jobs,
            stale_after=stale_after,
        )
        common.emit(document(found.hosts, found.since, found.now, found.policy), output)
    if output != "-":
        hosts = f"{len(found.hosts)} host{'s' if len(found.hosts) > 1 else ''}"
        to_stderr(f"wrote the report of {hosts} to {output}")
    if per_host is not None:
        for h in found.hosts:
            name = os.path.join(per_host, host_file(h.snapshot.host, common.format))
            common.emit(document([h], found.since, found.now, found.policy), name)
        to_stderr(f"wrote {len(found.hosts)} per-host reports to {per_host}")
    return EXIT_FINDINGS if found.failed else EXIT_OK


_EXTENSION = {
    OutputFormat.TEXT: ".txt",
    OutputFormat.MARKDOWN: ".md",
    OutputFormat.HTML: ".html",
    OutputFormat.JSON: ".json",
    OutputFormat.JUNIT: ".junit.xml",
    OutputFormat.XCCDF: ".xccdf.xml",
    OutputFormat.ARF: ".arf.xml",
    OutputFormat.JSONL: ".jsonl",
}


def host_file(host: HostInfo, fmt: OutputFormat) -> str:
    """A host's file name: its name with anything but letters, digits, '.', '_' and '-' made
    '_' (a host name is untrusted text: no '/', no '..'), and its machine id's start, so that
    two hosts of one name do not share a file."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", host.hostname).lstrip(".") or "host"
    machine = re.sub(r"[^0-9a-f]", "", (host.machine_id or "").lower())[:8] or "unknown"
    return f"{name[:64]}-{machine}{_EXTENSION[fmt]}"
