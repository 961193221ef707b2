"""Policy results as a Document: schema nsaudit.check/1, a JUnit case per rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nsaudit import __version__
from nsaudit.model import Evidence, Outcome, RuleResult, WaiverNote, identifiers
from nsaudit.render import Document, Table
from nsaudit.render.document import Case

if TYPE_CHECKING:
    # A type only: `audit` without a policy does not load the policy engine and the store.
    from nsaudit.compliance import Evaluation

SCHEMA = "nsaudit.check/1"
SHOWN_EVIDENCE = 20  # per rule in the text formats; JSON lists all


def evidence_payload(e: Evidence) -> dict[str, Any]:
    return {k: v for k, v in vars(e).items() if v is not None}


def waiver_payload(w: WaiverNote | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "hosts": list(w.hosts),
        "reason": w.reason,
        "expires": w.expires,
        "expired": w.expired,
        "approved_by": w.approved_by,
        "set_aside": w.set_aside,
    }


def waiver_text(w: WaiverNote) -> str:
    who = f", approved by {w.approved_by}" if w.approved_by else ""
    hosts = ", ".join(w.hosts)
    if w.expired:
        return f"waiver for {hosts} expired on {w.expires}, so it no longer applies: {w.reason}"
    return f"waived for {hosts} until {w.expires}{who}: {w.reason}"


def result_payload(r: RuleResult) -> dict[str, Any]:
    return {
        "id": r.rule_id,
        "title": r.title,
        "description": r.description,
        "severity": r.severity,
        "references": list(r.references),
        "outcome": r.outcome.value,
        "summary": r.summary,
        "evidence": [evidence_payload(e) for e in r.evidence],
        "waiver": waiver_payload(r.waiver),
        "identifiers": identifiers.grouped(r.identifiers),
    }


def tally(results: tuple[RuleResult, ...]) -> dict[str, int]:
    return {o.value: sum(1 for r in results if r.outcome is o) for o in Outcome}


def payload(c: Evaluation) -> dict[str, Any]:
    s = c.snapshot
    return {
        "schema": SCHEMA,
        "nsaudit_version": __version__,
        "checked_at": c.checked_at,
        "policy": {
            "name": c.policy.name,
            "title": c.policy.title,
            "source": c.policy.source,
            "sha256": c.policy.sha256,
        },
        "host": {"hostname": s.host.hostname, "machine_id": s.host.machine_id},
        "snapshot": {"id": s.id, "seq": s.seq, "taken_at": s.taken_at, "partial": s.partial},
        "period": c.period,
        "summary": tally(c.results),
        "results": [result_payload(r) for r in c.results],
    }


def headline(c: Evaluation) -> str:
    t = tally(c.results)
    counts = ", ".join(
        f"{t[o.value]} {o.value}" for o in Outcome if t[o.value] or o is Outcome.FAIL
    )
    s = c.snapshot
    what = f"snapshot {s.id}, {s.taken_at}" if s.id is not None else "kernel only, not stored"
    return f"policy {c.policy.name} on {s.host.hostname} ({what}): {counts}"


def period_lines(c: Evaluation) -> tuple[str, ...]:
    if not any(r.check.kind == "created" for r in c.policy.rules):
        return ()
    return (f"rules about created namespaces cover {c.period}",)


def results_table(results: tuple[RuleResult, ...], section: str | None = None) -> Table:
    """A row per rule; an IDENTIFIERS column when any rule carries identifiers."""
    columns: tuple[str, ...] = ("RULE", "SEVERITY", "RESULT", "SUMMARY")
    rows: list[tuple[str, ...]] = [
        (r.rule_id, r.severity, r.outcome.value, r.summary) for r in results
    ]
    if any(r.identifiers for r in results):
        columns += ("IDENTIFIERS",)
        rows = [
            (*row, identifiers.text(r.identifiers)) for row, r in zip(rows, results, strict=True)
        ]
    return Table(
        "Policy results",
        columns,
        tuple(rows),
        frozenset({"RESULT"}),
        section=section,
        cut=frozenset({"SUMMARY", "IDENTIFIERS"}),
    )


def evidence_table(results: tuple[RuleResult, ...], section: str | None = None) -> Table | None:
    rows: list[tuple[str, str]] = []
    for r in results:
        if r.waiver is not None:
            rows.append((r.rule_id, waiver_text(r.waiver)))
        if r.outcome is Outcome.PASS:
            continue
        shown = r.evidence[:SHOWN_EVIDENCE]
        rows += [(r.rule_id, e.text) for e in shown if e.text]
        if len(r.evidence) > len(shown):
            rows.append(
                (
                    r.rule_id,
                    f"... and {len(r.evidence) - len(shown)} more (--format json lists all)",
                )
            )
    if not rows:
        return None
    return Table("Evidence", ("RULE", "EVIDENCE"), tuple(rows), section=section)


def records(checked: Sequence[Evaluation]) -> Table:
    """A row per host and rule: what the CSV format writes."""
    return Table(
        None,
        (
            "host",
            "policy",
            "rule",
            "severity",
            "result",
            "title",
            "summary",
            "evidence",
            "waiver",
            "identifiers",
        ),
        tuple(
            (
                c.snapshot.host.hostname,
                c.policy.name,
                r.rule_id,
                r.severity,
                r.outcome.value,
                r.title,
                r.summary,
                " | ".join(e.text for e in r.evidence if e.text),
                waiver_text(r.waiver) if r.waiver else "",
                identifiers.text(r.identifiers),
            )
            for c in checked
            for r in c.results
        ),
    )


def cases(c: Evaluation) -> tuple[Case, ...]:
    host = c.snapshot.host.hostname
    out = []
    for r in c.results:
        message = r.summary
        if r.waiver is not None:
            message += "; " + waiver_text(r.waiver)
        out.append(
            Case(
                host,
                f"nsaudit.{c.policy.name}",
                f"{r.rule_id}: {r.title}",
                r.outcome.value,
                message,
                "\n".join(e.text for e in r.evidence if e.text),
                identifiers.text(r.identifiers),
            )
        )
    return tuple(out)


def document(c: Evaluation) -> Document:
    tables = [results_table(c.results)]
    evidence = evidence_table(c.results)
    if evidence is not None:
        tables.append(evidence)
    return Document(
        f"nsaudit check: {c.policy.title}",
        payload(c),
        (headline(c), *period_lines(c)),
        tuple(tables),
        records([c]),
        cases=cases(c),
    )


def with_check(doc: Document, c: Evaluation) -> Document:
    """Another command's document with the policy results after it (`audit --policy`)."""
    mine = document(c)
    return replace(
        doc,
        payload={**doc.payload, "check": mine.payload},
        lines=doc.lines + mine.lines,
        tables=doc.tables + mine.tables,
        cases=mine.cases,
    )
