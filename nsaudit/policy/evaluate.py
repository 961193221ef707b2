"""Evaluate a policy against one host: pass, fail, waived or error per rule, with evidence."""

from __future__ import annotations

from datetime import date

from nsaudit.model import Outcome, RuleResult, WaiverNote
from nsaudit.policy.checks import Subject, Verdict, period_unseen, unseen
from nsaudit.policy.kinds import INVENTORY_KINDS
from nsaudit.policy.rules import Policy, Rule, Waiver


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


def _result(rule: Rule, subject: Subject, today: date) -> RuleResult:
    verdict = _on_partial(rule, subject, rule.check.evaluate(subject))
    outcome = verdict.outcome
    host = subject.snapshot.host.hostname
    matching = [w for w in rule.waivers if w.covers(host)]
    in_force = [w for w in matching if w.expires >= today]
    waiver = None
    failed = outcome in (Outcome.FAIL, Outcome.ERROR)
    if failed and in_force:
        outcome, waiver = Outcome.WAIVED, _note(in_force[0], today)
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
    )
