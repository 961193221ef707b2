"""Retention: delete old snapshots, and the namespace states only they used, in one go; or
a whole host."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete, func, select

from nsaudit.store.schema import (
    capability_reports,
    container_sets,
    hosts,
    ns_states,
    policy_checks,
    snapshots,
)

_CHUNK = 500


def _drop_unused_documents(conn: Connection) -> None:
    """The capability reports and container sets no snapshot uses any more."""
    for table, ref in (
        (capability_reports, snapshots.c.capability_id),
        (container_sets, snapshots.c.container_set_id),
    ):
        used = select(ref).where(ref.is_not(None))
        conn.execute(delete(table).where(table.c.id.not_in(used)))


@dataclass(frozen=True)
class Pruned:
    snapshots: int
    states: int
    kept: int
    checks: int


def prune(conn: Connection, cutoff: str, keep_last: int) -> Pruned:
    """Delete snapshots taken before `cutoff` except each host's newest `keep_last` (at least
    one: a host's newest snapshot is what the next one is compared with). Every remaining
    snapshot keeps exactly the namespaces it had."""
    keep_last = max(keep_last, 1)
    # Newest first within each host (rank counts per host, so hosts may interleave).
    rows = conn.execute(
        select(snapshots.c.id, snapshots.c.host_id, snapshots.c.seq, snapshots.c.taken_at).order_by(
            snapshots.c.seq.desc()
        )
    ).all()
    doomed: list[int] = []
    kept: dict[int, list[int]] = {}
    rank: dict[int, int] = {}
    for r in rows:
        rank[r.host_id] = rank.get(r.host_id, 0) + 1
        if rank[r.host_id] > keep_last and r.taken_at < cutoff:
            doomed.append(r.id)
        else:
            kept.setdefault(r.host_id, []).append(r.seq)
    stale_states: list[int] = []
    # Every host keeps at least its newest snapshot, so every host is in `kept`.
    for host_id, kept_seqs in kept.items():
        seqs = sorted(kept_seqs)
        states = conn.execute(
            select(ns_states.c.id, ns_states.c.first_seq, ns_states.c.end_seq).where(
                ns_states.c.host_id == host_id
            )
        )
        for s in states:
            # Still needed when a kept snapshot lies in [first_seq, end_seq).
            i = bisect.bisect_left(seqs, s.first_seq)
            if i == len(seqs) or (s.end_seq is not None and seqs[i] >= s.end_seq):
                stale_states.append(s.id)
    for ids, table in ((stale_states, ns_states), (doomed, snapshots)):
        for i in range(0, len(ids), _CHUNK):
            conn.execute(delete(table).where(table.c.id.in_(ids[i : i + _CHUNK])))
    _drop_unused_documents(conn)
    # Old check records go too, but each host's last check of each policy stays: it is where
    # the next check's period starts, and what `nsaudit metrics` publishes.
    newest = (
        select(func.max(policy_checks.c.id))
        .group_by(policy_checks.c.host_id, policy_checks.c.policy_name)
        .scalar_subquery()
    )
    checks = conn.execute(
        delete(policy_checks).where(
            policy_checks.c.checked_at < cutoff, policy_checks.c.id.not_in(newest)
        )
    ).rowcount
    return Pruned(len(doomed), len(stale_states), len(rows) - len(doomed), checks)


@dataclass(frozen=True)
class Forgotten:
    snapshots: int
    states: int
    checks: int


def host_counts(conn: Connection, host_id: int) -> Forgotten:
    """What forgetting the host would remove."""

    def count(table: Table) -> int:
        return int(
            conn.execute(select(func.count()).where(table.c.host_id == host_id)).scalar_one()
        )

    return Forgotten(count(snapshots), count(ns_states), count(policy_checks))


def forget(conn: Connection, host_id: int) -> Forgotten:
    """Remove a host whole, inside the caller's transaction: its check records, namespace
    states, snapshots, its host row, and the capability reports and container sets only it
    used."""
    removed = host_counts(conn, host_id)
    for table in (policy_checks, ns_states, snapshots):
        conn.execute(delete(table).where(table.c.host_id == host_id))
    conn.execute(delete(hosts).where(hosts.c.id == host_id))
    _drop_unused_documents(conn)
    return removed
