"""A host's history from the store: counts per snapshot, and the states each snapshot opened
and ended, read without loading whole snapshots."""

from __future__ import annotations

import bisect
import json

from sqlalchemy import Connection, and_, func, or_, select

from nsaudit.model import Container, HistoryPoint, Namespace, Step
from nsaudit.store.rows import decoder
from nsaudit.store.schema import NAMESPACE_COLUMNS, container_states, ns_states, snapshots
from nsaudit.store.snapshots import containers_from_bodies


def points(conn: Connection, host_id: int, since: str | None) -> list[HistoryPoint]:
    """Each snapshot of the host taken at or after `since` (ISO, UTC), oldest first."""
    query = select(
        snapshots.c.seq,
        snapshots.c.taken_at,
        snapshots.c.boot_id,
        snapshots.c.counts,
        snapshots.c.problems,
    ).where(snapshots.c.host_id == host_id)
    if since is not None:
        query = query.where(snapshots.c.taken_at >= since)
    # A host's counts recur from snapshot to snapshot: each text is parsed once, and its
    # points share the (read-only) mapping.
    parsed: dict[str, dict[str, int]] = {}

    def counts(text: str) -> dict[str, int]:
        if text not in parsed:
            parsed[text] = json.loads(text)
        return parsed[text]

    return [
        HistoryPoint(r.seq, r.taken_at, r.boot_id, counts(r.counts), r.problems != "[]")
        for r in conn.execute(query.order_by(snapshots.c.seq))
    ]


def partial_seqs(conn: Connection, host_id: int, after_seq: int, upto_seq: int) -> list[int]:
    """The seqs of the host's partial snapshots with after_seq < seq <= upto_seq."""
    return [
        int(seq)
        for seq in conn.execute(
            select(snapshots.c.seq)
            .where(
                snapshots.c.host_id == host_id,
                snapshots.c.seq > after_seq,
                snapshots.c.seq <= upto_seq,
                snapshots.c.problems != "[]",
            )
            .order_by(snapshots.c.seq)
        ).scalars()
    ]


def seq_before(conn: Connection, host_id: int, cutoff: str) -> int:
    """The seq of the host's newest snapshot taken before `cutoff` (ISO, UTC); 0 if none."""
    found = conn.execute(
        select(func.max(snapshots.c.seq)).where(
            snapshots.c.host_id == host_id, snapshots.c.taken_at < cutoff
        )
    ).scalar()
    return int(found or 0)


def steps(conn: Connection, host_id: int, after_seq: int, upto_seq: int) -> list[Step]:
    """The snapshots with after_seq < seq <= upto_seq, each with the states it opened and
    ended (a state that began or ended with a pruned snapshot counts for the next kept one)."""
    rows = conn.execute(
        select(snapshots.c.seq, snapshots.c.taken_at, snapshots.c.boot_id)
        .where(snapshots.c.host_id == host_id, snapshots.c.seq <= upto_seq)
        .order_by(snapshots.c.seq)
    ).all()
    # A host's first snapshot has nothing before it: it created nothing.
    first = max(bisect.bisect_right([r.seq for r in rows], after_seq), 1)
    if first >= len(rows):
        return []
    after_seq = max(after_seq, rows[first - 1].seq)
    window = rows[first:]
    seqs = [r.seq for r in window]
    states = conn.execute(
        select(ns_states.c.first_seq, ns_states.c.end_seq, *NAMESPACE_COLUMNS).where(
            ns_states.c.host_id == host_id,
            or_(
                and_(ns_states.c.first_seq > after_seq, ns_states.c.first_seq <= upto_seq),
                and_(ns_states.c.end_seq > after_seq, ns_states.c.end_seq <= upto_seq),
            ),
        )
    )
    namespace_of = decoder(Namespace, tuple(states.keys()))
    opened: list[list[Namespace]] = [[] for _ in window]
    ended: list[list[Namespace]] = [[] for _ in window]
    at = {seq: i for i, seq in enumerate(seqs)}  # a kept snapshot's place; else bisect's

    def step_of(seq: int) -> int:
        found = at.get(seq)
        return found if found is not None else bisect.bisect_left(seqs, seq)

    for s in states.all():  # fetched at once: a month is thousands of rows
        ns = namespace_of(s)
        first_seq, end_seq = s[0], s[1]
        if after_seq < first_seq <= upto_seq:
            opened[step_of(first_seq)].append(ns)
        if end_seq is not None and after_seq < end_seq <= upto_seq:
            ended[step_of(end_seq)].append(ns)
    out = []
    for i, r in enumerate(window):
        before = rows[first + i - 1] if first + i > 0 else None
        rebooted = bool(
            before is not None and before.boot_id and r.boot_id and before.boot_id != r.boot_id
        )
        out.append(Step(r.seq, r.taken_at, rebooted, tuple(opened[i]), tuple(ended[i])))
    return out


def containers_seen(
    conn: Connection, host_id: int, after_seq: int, upto_seq: int
) -> dict[str, Container]:
    """The containers the snapshots with after_seq < seq <= upto_seq saw, by id: those a
    namespace created in that time belonged to, though they may have gone since."""
    bodies = (
        conn.execute(
            select(container_states.c.body)
            .where(
                container_states.c.host_id == host_id,
                container_states.c.first_seq <= upto_seq,
                or_(container_states.c.end_seq.is_(None), container_states.c.end_seq > after_seq),
            )
            .order_by(container_states.c.id)
        )
        .scalars()
        .all()
    )
    owner = f"the snapshots after seq {after_seq} up to seq {upto_seq}"
    return {c.id: c for c in containers_from_bodies(bodies, owner)}
