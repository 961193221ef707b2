"""The compliance report as a Document: schema nsaudit.report/1.

A fleet summary first (when there are several hosts), the policy's rules, then per host: the
capability matrix with its evidence, the policy results with evidence and waivers, the
namespace events nsaudit watch recorded (at most EVENTS_LISTED), and the history of the period
(namespaces per type over time, created and vanished per day).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from nsaudit import __version__, fields
from nsaudit.analysis.compare import container_shape, initial
from nsaudit.compliance import HostReport
from nsaudit.model import (
    NS_TYPE_NAMES,
    CapabilityReport,
    Container,
    HistoryPoint,
    NamespaceEvent,
    NamespaceId,
    Outcome,
    Watched,
    identifiers,
)
from nsaudit.policy.rules import Policy
from nsaudit.render import Document, Table
from nsaudit.render.document import Chart, Parts
from nsaudit.views.check import (
    cases,
    evidence_table,
    records,
    result_payload,
    results_table,
    tally,
)
from nsaudit.views.events import events_table
from nsaudit.views.snapshot import problem_summary

SCHEMA = "nsaudit.report/1"
CHART_POINTS = 400  # the line chart draws at most this many snapshots, evenly picked
EVENTS_LISTED = 100  # a host's namespace events a report lists at most (`nsaudit events`: all)


def _capability_rows(report: CapabilityReport | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [
        {
            "type": t.type.value,
            "status": t.status.value,
            "present": t.present,
            "limit": t.limit,
            "unprivileged": t.unprivileged.value.value,
            "reason": t.reason,
            "config": [f"{c.name}={c.value}" for c in t.config],
        }
        for t in report.value.types
    ]


def _label(h: HostReport) -> str:
    s = h.snapshot
    return f"{s.host.hostname} ({(s.host.machine_id or 'no machine id')[:12]})"


def _sample(points: Sequence[HistoryPoint]) -> list[HistoryPoint]:
    if len(points) <= CHART_POINTS:
        return list(points)
    step = (len(points) - 1) / (CHART_POINTS - 1)
    return [points[round(i * step)] for i in range(CHART_POINTS)]


def _about_table(h: HostReport, since: str, section: str) -> Table:
    s = h.snapshot
    taken = s.taken_at
    if taken < since:
        taken += " (before the period: no snapshot since)"
    return Table(
        "Host",
        ("FIELD", "VALUE"),
        (
            ("host name", s.host.hostname),
            ("machine id", s.host.machine_id or "-"),
            ("kernel", s.host.kernel or "-"),
            ("last snapshot", f"{s.id} (seq {s.seq}), {taken}"),
            ("snapshots in the period", str(len(h.points))),
            ("scan", problem_summary(s)),
            ("namespace events (nsaudit watch)", _watch_summary(h.watched)),
        ),
        section=section,
    )


def _watch_summary(w: Watched | None) -> str:
    if w is None:
        return "not watched (no nsaudit watch run)"
    text = f"{w.made} created, {len(w.events) - w.made} entered"
    missing = w.incomplete()
    return f"{text}; {'; '.join(missing)}" if missing else f"{text}; watched throughout"


def _by_root(e: NamespaceEvent) -> bool:
    return e.uid == 0 and e.initial_userns is not False


def _listed(w: Watched) -> tuple[NamespaceEvent, ...]:
    """The events a report lists, oldest first: all of them, up to EVENTS_LISTED. Past that,
    those by a user other than root or from inside another user namespace (an exploit's way
    in) before root's (a container host's runtimes), the earliest of each."""
    if len(w.events) <= EVENTS_LISTED:
        return w.events
    ranked = sorted(range(len(w.events)), key=lambda i: (_by_root(w.events[i]), i))
    return tuple(w.events[i] for i in sorted(ranked[:EVENTS_LISTED]))


def _events_table(h: HostReport, w: Watched, section: str) -> Table:
    shown = _listed(w)
    title = "Namespace events (nsaudit watch)"
    if len(shown) < len(w.events):
        title += (
            f": {len(shown)} of {len(w.events)}, those by non-root users first"
            f" (all: nsaudit events --host {h.snapshot.host.hostname})"
        )
    return events_table(shown, title, section)


def _watch_payload(w: Watched | None) -> dict[str, Any] | None:
    if w is None:
        return None
    shown = _listed(w)
    return {
        "created": w.made,
        "entered": len(w.events) - w.made,
        "lost": w.lost,
        "unwatched": [dataclasses.asdict(g) for g in w.unwatched],
        "mechanisms": sorted({r.mechanism for r in w.runs}),
        "blind": list(w.blind),
        "events": [fields.payload(e) for e in shown],
        "unlisted": len(w.events) - len(shown),
    }


def _containers_table(
    containers: Sequence[Container], host: set[NamespaceId], section: str
) -> Table:
    """Each container by name, with the namespaces it has of its own and those it shares
    with the host (compare's shape of it)."""
    rows = []
    for c in containers:
        _, image, own, shared = container_shape(c, host)
        rows.append((c.label, c.runtime, c.id[:12], image, c.pod, own, shared, c.note or ""))
    return Table(
        "Containers",
        (
            "CONTAINER",
            "RUNTIME",
            "ID",
            "IMAGE",
            "POD",
            "OWN NAMESPACES",
            "SHARED WITH HOST",
            "NOTE",
        ),
        tuple(rows),
        section=section,
        cut=frozenset({"IMAGE", "NOTE"}),
    )


def _host_tables(h: HostReport, since: str) -> list[Table]:
    section = f"Host {_label(h)}"
    s = h.snapshot
    caps = _capability_rows(s.capabilities)
    tables = [
        _about_table(h, since, section),
        Table(
            "Capabilities",
            ("TYPE", "STATUS", "UNPRIVILEGED", "LIMIT", "EVIDENCE"),
            tuple(
                (
                    str(c["type"]),
                    str(c["status"]),
                    str(c["unprivileged"] or "-"),
                    "-" if c["limit"] is None else str(c["limit"]),
                    str(c["reason"]),
                )
                for c in caps
            )
            or (("-", "unknown", "-", "-", "the snapshot has no capability report"),),
            frozenset({"STATUS", "UNPRIVILEGED"}),
            section=section,
        ),
    ]
    if s.containers:
        tables.append(_containers_table(s.containers, initial(s), section))
    if h.evaluation is not None:
        tables.append(results_table(h.evaluation.results, section))
        evidence = evidence_table(h.evaluation.results, section)
        if evidence is not None:
            tables.append(evidence)
    if h.watched is not None and h.watched.events:
        tables.append(_events_table(h, h.watched, section))
    if not h.points:
        return tables
    sampled = _sample(h.points)
    tables.append(
        Table(
            "Namespaces per type (at each day's last snapshot)",
            ("DAY", "SNAPSHOTS", *NS_TYPE_NAMES),
            tuple(
                (d.day, str(d.snapshots), *(str(d.counts[t]) for t in NS_TYPE_NAMES))
                for d in h.days
            ),
            section=section,
            chart=Chart(
                "line",
                tuple(p.taken_at[:16].replace("T", " ") for p in sampled),
                tuple((t, tuple(int(p.counts.get(t, 0)) for p in sampled)) for t in NS_TYPE_NAMES),
            ),
        )
    )
    tables.append(
        Table(
            "Created and vanished per day",
            ("DAY", "CREATED", "VANISHED", "REBOOTS"),
            tuple((d.day, str(d.created), str(d.vanished), str(d.reboots)) for d in h.days),
            section=section,
            chart=Chart(
                "bars",
                tuple(d.day for d in h.days),
                (
                    ("created", tuple(d.created for d in h.days)),
                    ("vanished", tuple(d.vanished for d in h.days)),
                ),
            ),
        )
    )
    return tables


def _fleet_tables(hosts: Sequence[HostReport]) -> list[Table]:
    rows = []
    for h in hosts:
        t = tally(h.evaluation.results) if h.evaluation else None
        failing = (
            ", ".join(
                r.rule_id
                for r in h.evaluation.results
                if r.outcome in (Outcome.FAIL, Outcome.ERROR)
            )
            if h.evaluation
            else ""
        )
        rows.append(
            (
                _label(h),
                h.snapshot.taken_at,
                "yes" if h.snapshot.partial else "no",
                *(
                    (str(t["pass"]), str(t["fail"] + t["error"]), str(t["waived"]))
                    if t
                    else ("-",) * 3
                ),
                failing or "-",
            )
        )
    tables = [
        Table(
            "Fleet summary",
            ("HOST", "LAST SNAPSHOT", "PARTIAL", "PASS", "FAIL", "WAIVED", "FAILING RULES"),
            tuple(rows),
            section="Fleet",
        )
    ]
    checked = [h for h in hosts if h.evaluation is not None]
    if checked:
        first = checked[0].evaluation
        assert first is not None
        matrix = []
        for i, rule in enumerate(first.results):
            outcomes = [h.evaluation.results[i].outcome.value for h in checked if h.evaluation]
            matrix.append((rule.rule_id, rule.severity, *outcomes))
        tables.append(
            Table(
                "Rules by host",
                ("RULE", "SEVERITY", *(h.snapshot.host.hostname for h in checked)),
                tuple(matrix),
                frozenset(h.snapshot.host.hostname for h in checked),
                section="Fleet",
            )
        )
    return tables


def _host_payload(h: HostReport) -> dict[str, Any]:
    s = h.snapshot
    return {
        "hostname": s.host.hostname,
        "machine_id": s.host.machine_id,
        "snapshot": {
            "id": s.id,
            "seq": s.seq,
            "taken_at": s.taken_at,
            "kernel": s.host.kernel,
            "partial": s.partial,
        },
        "capabilities": _capability_rows(s.capabilities),
        "containers": None if s.containers is None else [fields.payload(c) for c in s.containers],
        "policy_period": h.evaluation.period if h.evaluation else None,
        "watch": _watch_payload(h.watched),
        "results": [result_payload(r) for r in h.evaluation.results] if h.evaluation else None,
        "history": {
            "points": [
                {
                    "seq": p.seq,
                    "taken_at": p.taken_at,
                    "counts": dict(p.counts),
                    "partial": p.partial,
                }
                for p in h.points
            ],
            "days": [vars(d) for d in h.days],
        },
    }


def _rules_table(policy: Policy) -> Table:
    return Table(
        f"Policy {policy.name}: {policy.title}",
        ("RULE", "SEVERITY", "TITLE", "IDENTIFIERS", "REFERENCES"),
        tuple(
            (
                r.id,
                r.severity,
                r.title,
                identifiers.text(r.identifiers) or "-",
                "; ".join(r.references) or "-",
            )
            for r in policy.rules
        ),
        section="Policy",
    )


def document(
    hosts: Sequence[HostReport],
    since: str,
    until: str,
    rules: Policy | None,
) -> Document:
    fleet = len(hosts) > 1
    tables = _fleet_tables(hosts) if fleet else []
    tables += [_rules_table(rules)] if rules is not None else []
    tables += [t for h in hosts for t in _host_tables(h, since)]
    policy = (
        {"name": rules.name, "title": rules.title, "source": rules.source, "sha256": rules.sha256}
        if rules is not None
        else None
    )
    failing: dict[str, list[str]] = {}
    for h in hosts:
        for r in h.evaluation.results if h.evaluation else ():
            if r.outcome in (Outcome.FAIL, Outcome.ERROR):
                failing.setdefault(r.rule_id, []).append(h.snapshot.host.hostname)
    payload = {
        "schema": SCHEMA,
        "nsaudit_version": __version__,
        "period": {"since": since, "until": until},
        "policy": dict(policy) if policy else None,
        "fleet": {"hosts": len(hosts), "failing": failing},
        "hosts": Parts(hosts, _host_payload),
    }
    what = f"policy {rules.name} ({rules.source})" if rules else "no policy"
    lines: tuple[str, ...] = (
        f"{len(hosts)} host{'s' if fleet else ''}, {what}, from {since[:19]}Z to {until[:19]}Z",
    )
    if rules is not None and rules.description:
        lines += (" ".join(rules.description.split()),)
    return Document(
        "nsaudit report",
        payload,
        lines,
        tuple(tables),
        records([h.evaluation for h in hosts if h.evaluation is not None]),
        cases=tuple(c for h in hosts if h.evaluation for c in cases(h.evaluation)),
    )
