"""Retention: delete old snapshots, and the namespace states only they used, in one go; or
a whole host."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete, exists, func, or_, select, update

from nsaudit.store.schema import (
    capability_reports,
    container_states,
    hosts,
    ns_events,
    ns_states,
    policy_checks,
    snapshots,
    watch_runs,
)

_CHUNK = 500


def _drop_unused_reports(conn: Connection) -> None:
    """The capability reports no snapshot uses any more."""
    used = select(snapshots.c.id).where(snapshots.c.capability_id == capability_reports.c.id)
    conn.execute(delete(capability_reports).where(~exists(used)))


@dataclass(frozen=True)
class Pruned:
    snapshots: int
    states: int
    kept: int
    checks: int


def prune(conn: Connection, cutoff: str, keep_last: int) -> Pruned:
    """Delete snapshots taken before `cutoff` except each host's newest `keep_last` (at least
    one: a host's newest snapshot is what the next one is compared with). Every remaining
    snapshot keeps exactly the namespaces and containers it had."""
    keep_last = max(keep_last, 1)
    rows = conn.execute(
        select(snapshots.c.id, snapshots.c.host_id, snapshots.c.seq, snapshots.c.taken_at).order_by(
            snapshots.c.host_id, snapshots.c.seq
        )
    ).all()
    by_host: dict[int, list[Any]] = {}
    for r in rows:
        by_host.setdefault(r.host_id, []).append(r)
    doomed = states = checks = 0
    for host_id, host_rows in by_host.items():
        # Oldest first: the host's newest keep_last stay whatever their age.
        older = host_rows[: max(len(host_rows) - keep_last, 0)]
        gone = [r for r in older if r.taken_at < cutoff]
        if gone:
            doomed += len(gone)
            states += _prune_host(conn, host_id, [r.seq for r in gone], host_rows)
        checks += _prune_checks(conn, host_id, cutoff)
        if gone:
            kept_from = min(r.taken_at for r in host_rows if r.seq not in {g.seq for g in gone})
            _prune_watched(conn, host_id, kept_from)
    _drop_unused_reports(conn)
    return Pruned(doomed, states, len(rows) - doomed, checks)


def _prune_watched(conn: Connection, host_id: int, kept_from: str) -> None:
    """Delete what `nsaudit watch` recorded before the host's oldest kept snapshot (no longer
    between two snapshots), and the runs that ended before it; a run that spans it now starts
    there (its events before are gone: a period reaching back before it was not watched, as
    far as the record can tell). The host remembers the point, so that an import does not
    bring back what lies before it (store/carried.py)."""
    mine = ns_events.c.host_id == host_id
    conn.execute(delete(ns_events).where(mine, ns_events.c.at < kept_from))
    before = hosts.c.watch_pruned_before
    conn.execute(
        update(hosts)
        .where(hosts.c.id == host_id, or_(before.is_(None), before < kept_from))
        .values(watch_pruned_before=kept_from)
    )
    conn.execute(
        update(watch_runs)
        .where(watch_runs.c.host_id == host_id, watch_runs.c.started_at < kept_from)
        .values(started_at=kept_from)
    )
    has_events = select(ns_events.c.id).where(ns_events.c.run_id == watch_runs.c.id)
    conn.execute(
        delete(watch_runs).where(
            watch_runs.c.host_id == host_id,
            func.coalesce(watch_runs.c.ended_at, watch_runs.c.seen_at) < kept_from,
            ~exists(has_events),
        )
    )


def _prune_checks(conn: Connection, host_id: int, cutoff: str) -> int:
    """Delete the host's check records from before `cutoff` but its last of each policy: it
    is where the next check's period starts, and what `nsaudit metrics` publishes."""
    mine = policy_checks.c.host_id == host_id
    newest = (
        select(func.max(policy_checks.c.id))
        .where(mine)
        .group_by(policy_checks.c.policy_name)
        .scalar_subquery()
    )
    return int(
        conn.execute(
            delete(policy_checks).where(
                mine, policy_checks.c.checked_at < cutoff, policy_checks.c.id.not_in(newest)
            )
        ).rowcount
    )


def _prune_host(conn: Connection, host_id: int, gone: list[int], rows: list[Any]) -> int:
    """Delete the host's snapshots with these seqs and the states only they used: how many
    namespace states went."""
    kept = sorted({r.seq for r in rows} - set(gone))
    # The usual case: seq order is time order, so everything before kept[0] goes.
    in_order = max(gone) < kept[0]
    if in_order:
        conn.execute(
            delete(snapshots).where(snapshots.c.host_id == host_id, snapshots.c.seq < kept[0])
        )
    else:
        gone_seqs = set(gone)
        _delete_ids(conn, snapshots, [r.id for r in rows if r.seq in gone_seqs])
    _drop_states(conn, container_states, host_id, kept, in_order)
    return _drop_states(conn, ns_states, host_id, kept, in_order)


def _drop_states(
    conn: Connection, table: Table, host_id: int, kept: list[int], in_order: bool
) -> int:
    """Delete the host's states (of ns_states or container_states) that no kept snapshot
    uses: how many. In order, those that ended by the first kept seq (a range of an index);
    else (a database written before nsaudit kept seqs in time order) each state that no kept
    seq lies in [first_seq, end_seq) of."""
    mine = table.c.host_id == host_id
    if in_order:
        return int(conn.execute(delete(table).where(mine, table.c.end_seq <= kept[0])).rowcount)
    states = conn.execute(select(table.c.id, table.c.first_seq, table.c.end_seq).where(mine))
    stale = [s.id for s in states if _unused(kept, s.first_seq, s.end_seq)]
    _delete_ids(conn, table, stale)
    return len(stale)


def _delete_ids(conn: Connection, table: Table, ids: list[int]) -> None:
    for i in range(0, len(ids), _CHUNK):
        conn.execute(delete(table).where(table.c.id.in_(ids[i : i + _CHUNK])))


def _unused(kept: list[int], first_seq: int, end_seq: int | None) -> bool:
    """No kept seq lies in [first_seq, end_seq)."""
    i = bisect.bisect_left(kept, first_seq)
    return i == len(kept) or (end_seq is not None and kept[i] >= end_seq)


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
    """Remove a host whole, inside the caller's transaction: what its watcher recorded, its
    check records, namespace and container states, snapshots, its host row, and its
    capability reports."""
    removed = host_counts(conn, host_id)
    tables = (ns_events, watch_runs, policy_checks, container_states, ns_states, snapshots)
    for table in (*tables, capability_reports):
        conn.execute(delete(table).where(table.c.host_id == host_id))
    conn.execute(delete(hosts).where(hosts.c.id == host_id))
    return removed


def retire(conn: Connection, host_id: int, when: str) -> None:
    """Mark a host retired at `when` (ISO), inside the caller's transaction."""
    conn.execute(update(hosts).where(hosts.c.id == host_id).values(retired_at=when))
