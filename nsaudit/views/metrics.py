"""The latest snapshot and the last policy checks as Prometheus metrics (the text format that
node_exporter's textfile collector reads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from nsaudit.model import EvaluationRecord, Outcome, Snapshot, Status, WatchTotals
from nsaudit.render.escape import terminal


def prometheus(
    snap: Snapshot,
    records: Sequence[EvaluationRecord],
    other_host: bool = False,
    stale: bool = False,
    watch: WatchTotals | None = None,
) -> str:
    """The metrics text: namespaces per type, capability status per type, snapshot time,
    partial and stale, and per policy its failing rules and last check. A stale host (its
    newest snapshot older than stale_after) passes no rule: each counts as failing, for
    lack of evidence.

    Of this host (the textfile collector's case) the metrics carry no `host` label: Prometheus
    names the target itself (`instance`), and a second name for it would disagree when the
    host is renamed. `other_host`: they describe another host of a fleet database, so each
    carries `host`."""
    # Label values are quoted by the library, but a host name's control characters would
    # still reach a terminal: escaped like any untrusted text.
    host = (terminal(snap.host.hostname),) if other_host else ()
    registry = CollectorRegistry()

    class Labelled:
        def __init__(self, gauge: Gauge) -> None:
            self.gauge = gauge

        def labels(self, *values: str) -> Gauge:
            labelled = (*host, *values)
            return self.gauge.labels(*labelled) if labelled else self.gauge

    def gauge(name: str, doc: str, labels: list[str]) -> Labelled:
        names = ["host", *labels] if other_host else labels
        return Labelled(Gauge(name, doc, names, registry=registry))

    namespaces = gauge("nsaudit_namespaces", "Namespaces in the latest snapshot.", ["type"])
    for ns_type, count in snap.counts().items():
        namespaces.labels(ns_type).set(count)
    status = gauge(
        "nsaudit_capability_status",
        "1 for the namespace type's status in the latest capability report.",
        ["type", "status"],
    )
    for t in snap.capabilities.value.types if snap.capabilities else ():
        for s in Status:
            status.labels(t.type.value, s.value).set(int(t.status is s))
    gauge(
        "nsaudit_last_snapshot_timestamp_seconds",
        "When the latest snapshot was taken (Unix time).",
        [],
    ).labels().set(datetime.fromisoformat(snap.taken_at).timestamp())
    gauge(
        "nsaudit_snapshot_partial",
        "1 when the latest snapshot could not read every process.",
        [],
    ).labels().set(int(snap.partial))
    gauge(
        "nsaudit_host_stale",
        "1 when no snapshot was taken for longer than stale_after (settings; default 1d): "
        "the host has not been seen, and its rules count as failing.",
        [],
    ).labels().set(int(stale))
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
    if watch is not None:
        gauge(
            "nsaudit_watch_events",
            "Namespace events nsaudit watch recorded, over every stored run.",
            [],
        ).labels().set(watch.events)
        gauge(
            "nsaudit_watch_lost_events",
            "Namespace events nsaudit watch could not record (its buffer was full).",
            [],
        ).labels().set(watch.lost)
        gauge(
            "nsaudit_watch_last_seen_timestamp_seconds",
            "When nsaudit watch last stored what it saw (Unix time): at least every 10 s while "
            "it runs.",
            [],
        ).labels().set(datetime.fromisoformat(watch.seen_at).timestamp())
        gauge(
            "nsaudit_watch_running",
            "1 when the newest run of nsaudit watch has not stopped.",
            [],
        ).labels().set(int(watch.running))
    bad = (Outcome.FAIL.value, Outcome.ERROR.value) + ((Outcome.PASS.value,) if stale else ())
    for record in records:
        for rule_id, severity, outcome in record.outcomes:
            failing.labels(record.policy_name, rule_id, severity).set(int(outcome in bad))
        failures.labels(record.policy_name).set(sum(o in bad for _, _, o in record.outcomes))
        checked.labels(record.policy_name).set(
            datetime.fromisoformat(record.checked_at).timestamp()
        )
    return generate_latest(registry).decode()
