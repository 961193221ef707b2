"""`nsaudit metrics`: the Prometheus text format for node_exporter's textfile collector."""

from __future__ import annotations

from datetime import datetime

import click

from nsaudit.cli.options import db_option, local_host, output_option, write_atomically
from nsaudit.errors import EXIT_OK
from nsaudit.refs import LATEST
from nsaudit.settings import Settings


@click.command()
@output_option(
    "the metrics (for node_exporter's textfile collector: a .prom file in its directory)"
)
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="That host's latest snapshot instead of this host's.",
)
@db_option
def metrics(output: str, hostname: str | None, db: str, settings: Settings) -> int:
    """Publish the latest stored snapshot and the last policy checks as Prometheus metrics:
    namespaces per type, capability status per type, failing rules, snapshot time, partial."""
    import sys

    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    from nsaudit.model import Outcome, Status
    from nsaudit.render.escape import terminal
    from nsaudit.store import checks
    from nsaudit.store.database import Database
    from nsaudit.store.queries import resolve
    from nsaudit.store.snapshots import load

    local = local_host(settings)
    with Database(db).reading() as conn:
        snapshot_id = resolve(conn, LATEST, local, hostname)
        snap = load(conn, snapshot_id)
        runs = checks.latest(conn, checks.host_and_seq(conn, snapshot_id)[0])
    # Label values are quoted by the library, but a host name's control characters would
    # still reach a terminal: escaped like any untrusted text.
    host = terminal(snap.host.hostname)
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
        return Gauge(name, doc, ["host", *labels], registry=registry)

    namespaces = gauge("nsaudit_namespaces", "Namespaces in the latest snapshot.", ["type"])
    for ns_type, count in snap.counts().items():
        namespaces.labels(host, ns_type).set(count)
    status = gauge(
        "nsaudit_capability_status",
        "1 for the namespace type's status in the latest capability report.",
        ["type", "status"],
    )
    for t in (snap.capabilities or {}).get("types") or []:  # type: ignore[attr-defined]
        for s in Status:
            status.labels(host, str(t.get("type")), s.value).set(int(t.get("status") == s.value))
    gauge(
        "nsaudit_last_snapshot_timestamp_seconds",
        "When the latest snapshot was taken (Unix time).",
        [],
    ).labels(host).set(datetime.fromisoformat(snap.taken_at).timestamp())
    gauge(
        "nsaudit_snapshot_partial",
        "1 when the latest snapshot could not read every process.",
        [],
    ).labels(host).set(int(snap.partial))
    failing = gauge(
        "nsaudit_policy_rule_failing",
        "1 when the rule failed (or lacked evidence) in the last check of its policy.",
        ["policy", "rule", "severity"],
    )
    failures = gauge(
        "nsaudit_policy_failures", "Rules failing in the last check of the policy.", ["policy"]
    )
    checked = gauge(
        "nsaudit_policy_last_check_timestamp_seconds",
        "When the policy was last checked (Unix time).",
        ["policy"],
    )
    bad = (Outcome.FAIL.value, Outcome.ERROR.value)
    for run in runs:
        for rule_id, severity, outcome in run.outcomes:
            failing.labels(host, run.policy_name, rule_id, severity).set(int(outcome in bad))
        failures.labels(host, run.policy_name).set(sum(o in bad for _, _, o in run.outcomes))
        checked.labels(host, run.policy_name).set(
            datetime.fromisoformat(run.checked_at).timestamp()
        )
    text = generate_latest(registry).decode()
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomically(output, lambda f: f.write(text))
    return EXIT_OK
