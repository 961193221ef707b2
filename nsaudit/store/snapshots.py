"""Save and load snapshots: one row per namespace state, not per namespace per snapshot."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from nsaudit import fields
from nsaudit import jsonshape as js
from nsaudit.errors import DatabaseError, ScanOutOfOrder, UsageError
from nsaudit.kernel import report
from nsaudit.model import (
    CapabilityReport,
    Container,
    HostInfo,
    Namespace,
    Saved,
    ScanProblem,
    Snapshot,
)
from nsaudit.store.rows import canonical, decoder, learned, to_row
from nsaudit.store.schema import (
    NAMESPACE_COLUMNS,
    capability_reports,
    container_states,
    hosts,
    ns_states,
    snapshots,
)
from nsaudit.workers import few_collections

_CHUNK = 500


def _fingerprint(state: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(state).encode("utf-8", "surrogatepass")).hexdigest()


_LEARNED = learned(Namespace)


def _learned(state: Mapping[str, Any], stored: str) -> tuple[str, ...] | None:
    """The columns a stored row lacks because it was written before they existed, when it is
    otherwise this state (then it is not a change: the row learns them); else None."""
    for lacking in _LEARNED:
        if stored == _fingerprint({k: v for k, v in state.items() if k not in lacking}):
            return lacking
    return None


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _host_id(conn: Connection, info: HostInfo) -> int:
    machine_id = info.machine_id or ""
    query = select(hosts.c.id).where(
        hosts.c.hostname == info.hostname, hosts.c.machine_id == machine_id
    )
    found = conn.execute(query).scalar()
    if found is not None:
        return int(found)
    result = conn.execute(insert(hosts).values(hostname=info.hostname, machine_id=machine_id))
    return _new_id(result)


def _capability_id(conn: Connection, report: CapabilityReport | None) -> int | None:
    """The id of the stored report, stored once by its digest however many snapshots have
    the same."""
    if report is None:
        return None
    body = json.dumps(report.document, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(body.encode()).hexdigest()
    found = conn.execute(
        select(capability_reports.c.id).where(capability_reports.c.sha256 == digest)
    ).scalar()
    if found is not None:
        return int(found)
    return _new_id(conn.execute(insert(capability_reports).values(sha256=digest, body=body)))


def save(conn: Connection, snap: Snapshot) -> Saved:
    """Store a snapshot inside the caller's transaction.

    Its seq is the host's next one; an imported snapshot keeps its own, which must come after
    every stored snapshot of its host.
    """
    host_id = _host_id(conn, snap.host)
    previous = conn.execute(
        select(func.max(snapshots.c.seq)).where(snapshots.c.host_id == host_id)
    ).scalar()
    seq = snap.seq if snap.seq is not None else (previous or 0) + 1
    if previous is not None and seq <= previous:
        raise UsageError(
            f"snapshot seq {seq} of host {snap.host.hostname!r} comes before its stored "
            f"snapshots (up to seq {previous}); only newer snapshots can be added"
        )
    if previous is not None:
        newest = conn.execute(
            select(snapshots.c.taken_at).where(
                snapshots.c.host_id == host_id, snapshots.c.seq == previous
            )
        ).scalar_one()
        if _before(snap.taken_at, newest):
            # Seq order is time order, or `latest` and `diff` would go back in time.
            what = f"snapshot seq {seq}" if snap.seq is not None else "the new snapshot"
            error = UsageError if snap.seq is not None else ScanOutOfOrder
            raise error(
                f"{what} of host {snap.host.hostname!r} was taken at {snap.taken_at}, before "
                f"its newest stored snapshot (seq {previous}, {newest}); nothing was stored "
                "(did the clock go back?)"
            )
    bodies = None if snap.containers is None else set(map(_container_body, snap.containers))
    snapshot_result = conn.execute(
        insert(snapshots).values(
            host_id=host_id,
            seq=seq,
            taken_at=snap.taken_at,
            boot_id=snap.host.boot_id,
            kernel=snap.host.kernel,
            nsaudit_version=snap.nsaudit_version,
            label=snap.label,
            duration_ms=snap.duration_ms,
            threads=snap.threads,
            namespace_count=len(snap.namespaces),
            counts=json.dumps(snap.counts(), sort_keys=True),
            problems=json.dumps(
                [[p.pid, p.path, p.errno] for p in snap.problems], separators=(",", ":")
            ),
            capability_id=_capability_id(conn, snap.capabilities),
            # The containers stored: a container listed twice is one (bundles refuse that).
            container_count=None if bodies is None else len(bodies),
        )
    )
    snapshot_id = _new_id(snapshot_result)
    if bodies is not None:
        _save_containers(conn, host_id, seq, bodies)

    open_rows = conn.execute(
        select(
            ns_states.c.id,
            ns_states.c.ns_type,
            ns_states.c.dev,
            ns_states.c.inode,
            ns_states.c.ns_id,
            ns_states.c.fingerprint,
            ns_states.c.boot_id,
        ).where(ns_states.c.host_id == host_id, ns_states.c.end_seq.is_(None))
    ).all()
    # Namespace.identity, as the diff engine matches namespaces.
    open_by_key = {(r.ns_type, r.dev, r.inode, r.ns_id): r for r in open_rows}
    new_rows = []
    kept: set[int] = set()
    filled: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    created = changed = 0
    for ns in snap.namespaces:
        state = to_row(ns)
        state["boot_id"] = snap.host.boot_id
        fingerprint = _fingerprint(state)
        old = open_by_key.get(ns.identity)
        if old is not None and old.boot_id == snap.host.boot_id:
            if old.fingerprint == fingerprint:
                kept.add(old.id)
                continue
            lacking = _learned(state, old.fingerprint)
            if lacking is not None:
                kept.add(old.id)
                values = {c: state[c] for c in lacking}
                filled.setdefault(lacking, []).append({"row": old.id, "fp": fingerprint, **values})
                continue
            changed += 1
        else:
            created += 1
        new_rows.append(
            {
                **state,
                "host_id": host_id,
                "first_seq": seq,
                "end_seq": None,
                "fingerprint": fingerprint,
            }
        )
    for lacking, rows in filled.items():
        learn: dict[str, Any] = {c: bindparam(c) for c in lacking}
        conn.execute(
            update(ns_states)
            .where(ns_states.c.id == bindparam("row"))
            .values(fingerprint=bindparam("fp"), **learn),
            rows,
        )
    ended = [r for r in open_rows if r.id not in kept]
    new_keys = {ns.identity for ns in snap.namespaces}
    vanished = sum(
        1
        for r in ended
        if (r.ns_type, r.dev, r.inode, r.ns_id) not in new_keys or r.boot_id != snap.host.boot_id
    )
    ended_ids = [r.id for r in ended]
    for i in range(0, len(ended_ids), _CHUNK):
        chunk = ended_ids[i : i + _CHUNK]
        conn.execute(update(ns_states).where(ns_states.c.id.in_(chunk)).values(end_seq=seq))
    if new_rows:
        conn.execute(insert(ns_states), new_rows)
    return Saved(int(snapshot_id), seq, previous, created, vanished, changed)


def _container_body(container: Container) -> str:
    return json.dumps(fields.payload(container), sort_keys=True, separators=(",", ":"))


def _save_containers(conn: Connection, host_id: int, seq: int, bodies: set[str]) -> None:
    """The containers' states (`bodies`: each as stored): an open one that the snapshot sees
    again goes on, the others end at this seq, and a container seen anew (or changed) begins
    one."""
    open_rows = conn.execute(
        select(container_states.c.id, container_states.c.body).where(
            container_states.c.host_id == host_id, container_states.c.end_seq.is_(None)
        )
    ).all()
    ended = [r.id for r in open_rows if r.body not in bodies]
    for i in range(0, len(ended), _CHUNK):
        conn.execute(
            update(container_states)
            .where(container_states.c.id.in_(ended[i : i + _CHUNK]))
            .values(end_seq=seq)
        )
    going_on = {r.body for r in open_rows}
    begun = [
        {"host_id": host_id, "first_seq": seq, "end_seq": None, "body": body}
        for body in sorted(bodies - going_on)
    ]
    if begun:
        conn.execute(insert(container_states), begun)


def _before(taken_at: str, other: str) -> bool:
    try:
        return datetime.fromisoformat(taken_at) < datetime.fromisoformat(other)
    except (TypeError, ValueError):
        return taken_at < other


def load(conn: Connection, snapshot_id: int) -> Snapshot:
    """A stored snapshot, whole, as it was taken."""
    row = _header(conn, snapshot_id)
    return _snapshot(conn, row, _decoded(conn, _states(row.host_id, _open_at(row.seq))))


@dataclass(frozen=True)
class Streamed:
    """A stored snapshot whose namespaces are read as they are used: `header` has every
    field but them, `counts` says how many of each type it has, and `namespaces(ns_type)`
    reads them (of one type, or all), in load()'s order, inside the caller's transaction."""

    header: Snapshot
    counts: dict[str, int]
    namespaces: Callable[[str | None], Iterator[Namespace]]


def stream(conn: Connection, snapshot_id: int) -> Streamed:
    row = _header(conn, snapshot_id)
    header = _snapshot(conn, row, ())

    def namespaces(ns_type: str | None) -> Iterator[Namespace]:
        where = [_open_at(row.seq)]
        if ns_type is not None:
            where.append(ns_states.c.ns_type == ns_type)
        # A server-side cursor where the database has them: rows come as they are read.
        rows = conn.execution_options(stream_results=True, yield_per=1000).execute(
            _states(row.host_id, *where)
        )
        namespace_of = decoder(Namespace, tuple(rows.keys()))
        yield from map(namespace_of, rows)

    return Streamed(header, json.loads(row.counts), namespaces)


def load_difference(conn: Connection, old_id: int, new_id: int) -> tuple[Snapshot, Snapshot]:
    """Two stored snapshots as diff() needs them: of one host, each with only the namespaces
    whose stored state the other does not share (an unchanged namespace keeps its one row, so
    diff() finds nothing in it; no row outlives a boot); of two hosts, whole. diff() of the two
    is diff() of the whole snapshots, at the cost of what changed rather than of the host's
    size."""
    old, new = _header(conn, old_id), _header(conn, new_id)
    if old.host_id != new.host_id:
        return load(conn, old_id), load(conn, new_id)
    lo, hi = sorted((old.seq, new.seq))
    # Open at lo and ended by hi; begun after lo and still open at hi.
    at_lo = _states(old.host_id, _open_at(lo), ns_states.c.end_seq <= hi)
    at_hi = _states(old.host_id, _open_at(hi), ns_states.c.first_seq > lo)
    first, second = (at_lo, at_hi) if old.seq == lo else (at_hi, at_lo)
    a = _snapshot(conn, old, _decoded(conn, first))
    b = _snapshot(conn, new, _decoded(conn, second))
    # diff() matches by NS_GET_ID's id only when every namespace of both (of the type it is
    # asked about) has one: the same answer, type by type, from these namespaces as from all,
    # or the whole snapshots decide it.
    unidentified = conn.execute(
        select(ns_states.c.ns_type)
        .distinct()
        .where(
            ns_states.c.host_id == old.host_id,
            ns_states.c.ns_id.is_(None),
            or_(_open_at(lo), _open_at(hi)),
        )
    ).scalars()
    if set(unidentified) != {
        n.id.type.value for n in (*a.namespaces, *b.namespaces) if n.ns_id is None
    }:
        return load(conn, old_id), load(conn, new_id)
    return a, b


def _open_at(seq: int, table: Table = ns_states) -> Any:
    return (table.c.first_seq <= seq) & or_(table.c.end_seq.is_(None), table.c.end_seq > seq)


def _states(host_id: int, *where: Any) -> Any:
    return (
        select(*NAMESPACE_COLUMNS)
        .where(ns_states.c.host_id == host_id, *where)
        .order_by(ns_states.c.ns_type, ns_states.c.dev, ns_states.c.inode)
    )


def _header(conn: Connection, snapshot_id: int) -> Any:
    return conn.execute(
        select(
            snapshots,
            hosts.c.hostname,
            hosts.c.machine_id,
            capability_reports.c.body,
        )
        .join(hosts, hosts.c.id == snapshots.c.host_id)
        .outerjoin(capability_reports, capability_reports.c.id == snapshots.c.capability_id)
        .where(snapshots.c.id == snapshot_id)
    ).one()


def _decoded(conn: Connection, states: Any) -> tuple[Namespace, ...]:
    """The namespaces an ns_states query finds, in its order (type, dev, inode).

    A snapshot's many rows are read as the driver's own tuples, sorted here: its columns are
    integers and text, which no driver converts, and a SQLAlchemy Row costs about 1 us more
    to read, SQLite's sort more than Python's (100,000 rows: 0.65 s -> 0.48 s with the
    collector run seldom while they are made)."""
    result = conn.execute(states.order_by(None))
    keys = tuple(result.keys())
    with few_collections():
        rows = sorted(
            result.cursor.fetchall(),
            key=itemgetter(*map(keys.index, ("ns_type", "dev", "inode"))),
        )
        result.close()
        return tuple(map(decoder(Namespace, keys), rows))


def _snapshot(conn: Connection, row: Any, namespaces: tuple[Namespace, ...]) -> Snapshot:
    """The snapshot of a header row, with these namespaces."""
    return Snapshot(
        host=HostInfo(row.hostname, row.machine_id or None, row.boot_id, row.kernel),
        taken_at=row.taken_at,
        nsaudit_version=row.nsaudit_version,
        label=row.label,
        duration_ms=row.duration_ms,
        threads=bool(row.threads),
        namespaces=namespaces,
        problems=tuple(ScanProblem(p[0], p[1], p[2]) for p in json.loads(row.problems)),
        capabilities=_capabilities(row.body, row.id),
        containers=_containers(conn, row),
        id=row.id,
        seq=row.seq,
    )


def _capabilities(body: str | None, snapshot_id: int) -> CapabilityReport | None:
    """The stored report; nsaudit checked it before storing it, so a mistake is damage."""
    if not body:
        return None
    try:
        return report.decode(json.loads(body))
    except (ValueError, js.Invalid) as e:
        raise DatabaseError(
            f"the capability report of snapshot {snapshot_id} is damaged ({e}); "
            "`nsaudit db check` lists what else is"
        ) from None


def _containers(conn: Connection, row: Any) -> tuple[Container, ...] | None:
    """The containers the snapshot found, in the scan's order (None for a snapshot taken
    before 0005); damage, or fewer or more than it counted, is an error."""
    if row.container_count is None:
        return None
    bodies = conn.execute(
        select(container_states.c.body)
        .where(container_states.c.host_id == row.host_id, _open_at(row.seq, container_states))
        .order_by(container_states.c.id)
    ).scalars()
    found = containers_from_bodies(bodies, f"snapshot {row.id}")
    if len(found) != row.container_count:
        raise DatabaseError(
            f"the containers of snapshot {row.id} are damaged ({len(found)} stored, "
            f"{row.container_count} found by its scan); `nsaudit db check` lists what else is"
        )
    return found


def containers_from_bodies(bodies: Iterable[str], owner: str) -> tuple[Container, ...]:
    """Stored container states as containers, in the scan's order; damage is an error that
    names their `owner` ("snapshot 12")."""
    try:
        found = fields.containers_from_payload([json.loads(b) for b in bodies], "containers")
    except (ValueError, js.Invalid) as e:
        raise DatabaseError(
            f"the containers of {owner} are damaged ({e}); `nsaudit db check` lists what else is"
        ) from None
    return tuple(sorted(found, key=lambda c: (c.runtime, c.id)))
