"""Recorded evaluations of a policy on a host: record one, find a host's last one of a policy,
and the last one of each policy."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, insert, select

from nsaudit.model import EvaluationRecord, Outcome, RuleResult
from nsaudit.store.schema import policy_checks, snapshots


def host_and_seq(conn: Connection, snapshot_id: int) -> tuple[int, int]:
    row = conn.execute(
        select(snapshots.c.host_id, snapshots.c.seq).where(snapshots.c.id == snapshot_id)
    ).one()
    return int(row.host_id), int(row.seq)


def record(
    conn: Connection,
    snapshot_id: int,
    policy_name: str,
    policy_sha256: str,
    checked_at: str,
    results: tuple[RuleResult, ...],
) -> None:
    host_id, seq = host_and_seq(conn, snapshot_id)
    count = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    conn.execute(
        insert(policy_checks).values(
            host_id=host_id,
            snapshot_seq=seq,
            policy_name=policy_name,
            policy_sha256=policy_sha256,
            checked_at=checked_at,
            passed=count[Outcome.PASS],
            failed=count[Outcome.FAIL] + count[Outcome.ERROR],
            waived=count[Outcome.WAIVED],
            results=json.dumps(
                [[r.rule_id, r.severity, r.outcome.value] for r in results],
                separators=(",", ":"),
            ),
        )
    )


def last(conn: Connection, host_id: int, policy_name: str) -> EvaluationRecord | None:
    """The host's newest check of that policy."""
    row = conn.execute(
        select(policy_checks)
        .where(policy_checks.c.host_id == host_id, policy_checks.c.policy_name == policy_name)
        .order_by(policy_checks.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _record(row)


def latest(conn: Connection, host_id: int) -> list[EvaluationRecord]:
    """The host's newest check of each policy, by policy name."""
    newest = (
        select(func.max(policy_checks.c.id))
        .where(policy_checks.c.host_id == host_id)
        .group_by(policy_checks.c.policy_name)
    )
    rows = conn.execute(
        select(policy_checks)
        .where(policy_checks.c.id.in_(newest))
        .order_by(policy_checks.c.policy_name)
    )
    return [_record(r) for r in rows]


def _record(row: Any) -> EvaluationRecord:
    return EvaluationRecord(
        row.snapshot_seq,
        row.policy_name,
        row.checked_at,
        tuple((str(a), str(b), str(c)) for a, b, c in json.loads(row.results)),
    )
