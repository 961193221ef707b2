"""A policy checked against stored snapshots: the period a check covers, its results, its
record. Shared by `check`, `audit --policy` and `report`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection

from nsaudit.analysis import churn
from nsaudit.analysis.diff import diff, key
from nsaudit.errors import UsageError
from nsaudit.model import (
    Container,
    HistoryPoint,
    Namespace,
    Outcome,
    RuleResult,
    Snapshot,
    Watched,
)
from nsaudit.policy.checks import Subject
from nsaudit.policy.evaluate import evaluate
from nsaudit.policy.rules import Policy
from nsaudit.refs import LATEST
from nsaudit.store import evaluations
from nsaudit.store import events as stored_events
from nsaudit.store import history as stored_history
from nsaudit.store.queries import resolve
from nsaudit.store.snapshots import load, previous
from nsaudit.store.sql import Sql
from nsaudit.timespan import Duration


@dataclass(frozen=True)
class Evaluation:
    policy: Policy
    snapshot: Snapshot
    period: str
    checked_at: str
    results: tuple[RuleResult, ...]

    @property
    def failed(self) -> bool:
        """What makes a check exit 1: a rule that fails, or whose evidence is missing."""
        return any(r.outcome in (Outcome.FAIL, Outcome.ERROR) for r in self.results)


def evaluate_stored(
    conn: Connection, snapshot_id: int, policy: Policy, now: datetime, record: bool
) -> Evaluation:
    """Evaluate the policy against a stored snapshot. Rules about a period cover the
    snapshots since the last recorded check of this policy on this host (the first check
    covers the last snapshot's changes); `record` stores this check as the new last one."""
    snap = load(conn, snapshot_id)
    host_id, seq = evaluations.host_and_seq(conn, snapshot_id)
    last = evaluations.last(conn, host_id, policy.name)
    if last is not None:
        after = min(last.snapshot_seq, seq)
        period = (
            f"the snapshots since the last check ({last.checked_at}, "
            f"snapshot seq {last.snapshot_seq})"
        )
    else:
        before = previous(conn, snapshot_id)
        after = evaluations.host_and_seq(conn, before)[1] if before is not None else seq
        period = (
            f"the snapshots since seq {after} (the first check of this policy)"
            if before is not None
            else "nothing yet (this host has a single snapshot)"
        )
    changes = [churn.churn(s) for s in stored_history.steps(conn, host_id, after, seq)]
    partial = stored_history.partial_seqs(conn, host_id, after, seq)
    seen = stored_history.containers_seen(conn, host_id, after, seq)
    watched = stored_events.between_seqs(Sql.of(conn), host_id, after, seq)
    result = _evaluate(
        policy, snap, changes, period, now, partial=partial, seen=seen, watched=watched
    )
    if record:
        evaluations.record(
            conn, snapshot_id, policy.name, policy.sha256, result.checked_at, result.results
        )
    return result


def evaluate_fresh(
    conn: Connection | None, snap: Snapshot, policy: Policy, now: datetime
) -> Evaluation:
    """Evaluate the policy against a fresh snapshot that is not stored, writing nothing.
    Rules about a period see the stored history since the last recorded check (or, for the
    first check, nothing stored) and what the fresh snapshot adds over the last stored one."""
    latest = None
    if conn is not None:
        try:
            latest = resolve(conn, LATEST, snap.host)
        except UsageError:
            latest = None  # this host has no stored snapshot
    if conn is None or latest is None:
        return _evaluate(policy, snap, [], "this scan alone (nothing stored for this host)", now)
    host_id, seq = evaluations.host_and_seq(conn, latest)
    last = evaluations.last(conn, host_id, policy.name)
    after = min(last.snapshot_seq, seq) if last is not None else seq
    changes = [churn.churn(s) for s in stored_history.steps(conn, host_id, after, seq)]
    since = (
        f"the last check ({last.checked_at}, snapshot seq {last.snapshot_seq})"
        if last is not None
        else f"the last stored snapshot (seq {seq})"
    )
    added = diff(load(conn, latest), snap).created
    partial = stored_history.partial_seqs(conn, host_id, after, seq)
    seen = stored_history.containers_seen(conn, host_id, after, seq)
    period = f"the snapshots since {since} and this scan"
    sql = Sql.of(conn)
    start = stored_events.between_seqs(sql, host_id, after, seq)
    watched = None
    if start is not None:  # to the fresh scan, with what the period's start lacks
        found = stored_events.between(sql, host_id, start.start, snap.taken_at)
        watched = None if found is None else replace(found, missing=start.missing)
    return _evaluate(policy, snap, changes, period, now, added, partial, seen, watched=watched)


def evaluate_offline(snap: Snapshot, policy: Policy, reason: str, now: datetime) -> Evaluation:
    """Evaluate the kernel rules against a capability report of a root that runs nothing:
    rules about namespaces do not apply there (outcome skip). Nothing is stored."""
    results = evaluate(policy, Subject(snap, (), "nothing", reason), now.date())
    return Evaluation(policy, snap, "nothing", now.isoformat(timespec="seconds"), results)


@dataclass(frozen=True)
class HostReport:
    """What the report says of one host: its latest snapshot, the policy results over the
    period, and the period's history."""

    snapshot: Snapshot
    evaluation: Evaluation | None
    points: Sequence[HistoryPoint]
    days: Sequence[churn.Day]
    watched: Watched | None = None  # what nsaudit watch recorded in the period


def host_report(
    conn: Connection,
    snapshot_id: int,
    policy: Policy | None,
    since: str,
    now: datetime,
    stale_after: Duration | None = None,
) -> HostReport:
    """A host's part of the report, from its latest snapshot back to `since` (ISO, UTC).
    Rules about a period cover every snapshot since then; nothing is recorded. A host whose
    latest snapshot is older than `stale_after` passes no rule."""
    snap = load(conn, snapshot_id)
    stale = None
    if stale_after is not None and stale_after.passed_since(snap.taken_at, now):
        stale = f"its newest snapshot is from {snap.taken_at}, older than {stale_after.text}"
    host_id, seq = evaluations.host_and_seq(conn, snapshot_id)
    points = stored_history.points(conn, host_id, since)
    after = stored_history.seq_before(conn, host_id, since)
    changes = [churn.churn(s) for s in stored_history.steps(conn, host_id, after, seq)]
    partial = [p.seq for p in points if p.partial and p.seq <= seq]
    checked = None
    watched = stored_events.between(Sql.of(conn), host_id, since, snap.taken_at)
    if policy is not None:
        seen = stored_history.containers_seen(conn, host_id, after, seq)
        period = f"the snapshots since {since[:19]}Z"
        checked = _evaluate(
            policy,
            snap,
            changes,
            period,
            now,
            partial=partial,
            seen=seen,
            stale=stale,
            watched=watched,
        )
    return HostReport(snap, checked, points, churn.days(points, changes), watched)


def _evaluate(
    policy: Policy,
    snap: Snapshot,
    changes: Sequence[churn.Churn],
    period: str,
    now: datetime,
    added: tuple[Namespace, ...] = (),
    partial: list[int] | None = None,
    seen: Mapping[str, Container] | None = None,
    stale: str | None = None,
    watched: Watched | None = None,
) -> Evaluation:
    created = churn.created(changes)
    if added:
        known = {key(ns) for ns in created}
        created += tuple(ns for ns in added if key(ns) not in known)
    subject = Subject(
        snap,
        created,
        period,
        partial_in_period=tuple(partial or ()),
        seen=seen or {},
        stale=stale,
        watched=watched,
    )
    results = evaluate(policy, subject, now.date())
    return Evaluation(policy, snap, period, now.isoformat(timespec="seconds"), results)
