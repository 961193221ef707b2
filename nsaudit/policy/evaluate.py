"""Evaluate a policy against one host: pass, fail, waived or error per rule, with evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from nsaudit.model import Evidence, Outcome, RuleResult, WaiverNote
from nsaudit.policy.checks import Subject, Verdict, period_unseen, unseen
from nsaudit.policy.kinds import INVENTORY_KINDS
from nsaudit.policy.rules import CONDITIONS, Policy, Rule, Waiver


def evaluate(policy: Policy, subject: Subject, today: date) -> tuple[RuleResult, ...]:
    return tuple(_result(rule, subject, today) for rule in policy.rules)


def _note(w: Waiver, today: date) -> WaiverNote:
    return WaiverNote(w.hosts, w.reason, w.expires.isoformat(), w.expires < today, w.approved_by)


def _on_partial(rule: Rule, subject: Subject, verdict: Verdict) -> Verdict:
    """A pass on a scan that could not see every process is no pass: the namespaces it missed
    may be the ones the rule is about. A failure stands (what was seen is real), and a rule may
    say partial = "accept"."""
    why = period_unseen(subject) if rule.check.kind == "created" else unseen(subject.snapshot)
    if (
        why is None
        or verdict.outcome is not Outcome.PASS
        or rule.accept_partial
        or rule.check.kind not in INVENTORY_KINDS
    ):
        return verdict
    return Verdict(
        Outcome.ERROR,
        f"cannot tell: the scan was partial ({why}), and what it saw ({verdict.summary}) may "
        'miss namespaces; snapshot as root, or set partial = "accept" on this rule',
        verdict.evidence,
    )


def _on_stale(subject: Subject, verdict: Verdict) -> Verdict:
    """A pass on the snapshot of a host that has not been seen for too long says nothing of
    the host now: a stale host is never compliant. A failure stands."""
    if subject.stale is None or verdict.outcome is not Outcome.PASS:
        return verdict
    return Verdict(
        Outcome.ERROR,
        f"cannot tell: the host is stale ({subject.stale}), so its pass ({verdict.summary}) "
        "may no longer hold; run nsaudit audit there, or retire it (nsaudit hosts forget NAME "
        "--keep-history)",
        verdict.evidence,
    )


def _applicable(rule: Rule, subject: Subject, verdict: Verdict) -> Verdict:
    """The verdict, unless a condition of the rule's not_applicable_if holds: then the rule
    does not apply (skip). A condition nobody could see turns what is not a pass into an
    error: the rule may not apply at all."""
    if "containers" not in rule.not_applicable_if:
        return verdict
    # A root that runs nothing has no inventory: its containers are unknown, not none.
    containers = None if subject.no_inventory else subject.snapshot.containers
    if containers:
        evidence = tuple(
            Evidence(
                f"container {c.name or c.id[:12]} ({c.runtime}"
                + (f", image {c.image}" if c.image else "")
                + ")"
            )
            for c in containers
        )
        n = len(containers)
        return Verdict(
            Outcome.SKIP,
            f"not applicable: {CONDITIONS['containers']} ({n} container{'s' if n > 1 else ''})",
            evidence,
        )
    if containers is None and verdict.outcome is not Outcome.PASS:
        why = subject.no_inventory or "the snapshot does not record containers"
        return Verdict(
            Outcome.ERROR,
            f"cannot tell whether the rule applies ({why}; it does not where "
            f"{CONDITIONS['containers']}): {verdict.summary}",
            verdict.evidence,
        )
    return verdict


def _result(rule: Rule, subject: Subject, today: date) -> RuleResult:
    verdict = _on_partial(rule, subject, rule.check.evaluate(subject))
    verdict = _on_stale(subject, _applicable(rule, subject, verdict))
    outcome = verdict.outcome
    host = subject.snapshot.host.hostname
    matching = [w for w in rule.waivers if w.covers(host)]
    in_force = [w for w in matching if w.expires >= today]
    waiver = None
    failed = outcome in (Outcome.FAIL, Outcome.ERROR)
    if failed and in_force:
        waiver = replace(_note(in_force[0], today), set_aside=outcome.value)
        outcome = Outcome.WAIVED
    elif failed and matching:
        # Only expired waivers: the failure stands, and the report says why the waiver did not.
        waiver = _note(max(matching, key=lambda w: w.expires), today)
    return RuleResult(
        rule.id,
        rule.title,
        rule.severity,
        rule.references,
        outcome,
        verdict.summary,
        verdict.evidence,
        waiver,
        rule.identifiers,
        rule.description,
    )
