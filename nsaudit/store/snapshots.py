"""Save and load snapshots: one row per namespace state, not per namespace per snapshot."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

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
from nsaudit.store.rows import canonical, column_names, decoder, learned, to_row
from nsaudit.store.sql import Sql, placeholders
from nsaudit.workers import few_collections

if TYPE_CHECKING:
    from sqlalchemy import Connection

# A snapshot's statements run through the driver itself (store/sql.py): saving and loading a
# snapshot needs no SQLAlchemy. A caller holding a SQLAlchemy connection passes it as it is.
_NAMESPACE = column_names(Namespace)
_NAMESPACE_LIST = ", ".join(_NAMESPACE)
_NEW_STATE = ("host_id", "first_seq", "end_seq", "boot_id", "fingerprint", *_NAMESPACE)

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


def _sql(conn: Connection | Sql) -> Sql:
    return conn if isinstance(conn, Sql) else Sql.of(conn)


def host_row(sql: Sql, info: HostInfo) -> int:
    """The id of the host's row, added when it has none."""
    machine_id = info.machine_id or ""
    found = sql.value(
        "SELECT id FROM hosts WHERE hostname = :hostname AND machine_id = :machine_id",
        hostname=info.hostname,
        machine_id=machine_id,
    )
    if found is not None:
        return int(found)
    return sql.insert("hosts", hostname=info.hostname, machine_id=machine_id)


def _capability_id(sql: Sql, host_id: int, report: CapabilityReport | None) -> int | None:
    """The id of the stored report, stored once by its digest however many of the host's
    snapshots have the same."""
    if report is None:
        return None
    body = json.dumps(report.document, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(body.encode()).hexdigest()
    found = sql.value(
        "SELECT id FROM capability_reports WHERE host_id = :host AND sha256 = :digest",
        host=host_id,
        digest=digest,
    )
    if found is not None:
        return int(found)
    return sql.insert("capability_reports", host_id=host_id, sha256=digest, body=body)


class _Open(NamedTuple):
    """A state still open, as save() compares the new snapshot with it."""

    id: int
    ns_type: str
    dev: int
    inode: int
    ns_id: int | None
    fingerprint: str
    boot_id: str | None

    @property
    def identity(self) -> tuple[str, int, int, int | None]:
        """Namespace.identity, as the diff engine matches namespaces."""
        return (self.ns_type, self.dev, self.inode, self.ns_id)


def save(conn: Connection | Sql, snap: Snapshot) -> Saved:
    """Store a snapshot inside the caller's transaction.

    Its seq is the host's next one; an imported snapshot keeps its own, which must come after
    every stored snapshot of its host.
    """
    sql = _sql(conn)
    host_id = host_row(sql, snap.host)
    previous = sql.value("SELECT max(seq) FROM snapshots WHERE host_id = :host", host=host_id)
    seq = snap.seq if snap.seq is not None else (previous or 0) + 1
    if previous is not None and seq <= previous:
        raise UsageError(
            f"snapshot seq {seq} of host {snap.host.hostname!r} comes before its stored "
            f"snapshots (up to seq {previous}); only newer snapshots can be added"
        )
    if previous is not None:
        newest = sql.value(
            "SELECT taken_at FROM snapshots WHERE host_id = :host AND seq = :seq",
            host=host_id,
            seq=previous,
        )
        if newest is None:  # removed since max(seq) was read (`hosts forget` meanwhile)
            raise DatabaseError(
                f"the newest snapshot of host {snap.host.hostname!r} was removed while this one "
                "was being stored; nothing was stored: run again"
            )
        if _before(snap.taken_at, newest):
            # Seq order is time order, or `latest` and `diff` would go back in time.
            what = f"snapshot seq {seq}" if snap.seq is not None else "the new snapshot"
            error = UsageError if snap.seq is not None else ScanOutOfOrder
            raise error(
                f"{what} of host {snap.host.hostname!r} was taken at {snap.taken_at}, before "
                f"its newest stored snapshot (seq {previous}, {newest}); nothing was stored "
                "(did the clock go back?)"
            )
    bodies = None if snap.containers is None else set(map(record_body, snap.containers))
    snapshot_id = sql.insert(
        "snapshots",
        host_id=host_id,
        seq=seq,
        taken_at=snap.taken_at,
        boot_id=snap.host.boot_id,
        kernel=snap.host.kernel,
        nsaudit_version=snap.nsaudit_version,
        label=snap.label,
        duration_ms=snap.duration_ms,
        threads=bool(snap.threads),
        namespace_count=len(snap.namespaces),
        counts=json.dumps(snap.counts(), sort_keys=True),
        problems=json.dumps(
            [[p.pid, p.path, p.errno] for p in snap.problems], separators=(",", ":")
        ),
        capability_id=_capability_id(sql, host_id, snap.capabilities),
        # The containers stored: a container listed twice is one (bundles refuse that).
        container_count=None if bodies is None else len(bodies),
    )
    if bodies is not None:
        _save_containers(sql, host_id, seq, bodies)

    open_rows = [
        _Open(*r)
        for r in sql.rows(
            f"SELECT {', '.join(_Open._fields)} FROM ns_states "
            "WHERE host_id = :host AND end_seq IS NULL",
            host=host_id,
        )
    ]
    open_by_key = {r.identity: r for r in open_rows}
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
            (host_id, seq, None, snap.host.boot_id, fingerprint, *(state[c] for c in _NAMESPACE))
        )
    for lacking, rows in filled.items():
        learn = ", ".join(f"{c} = :{c}" for c in lacking)
        for row in rows:
            sql.run(f"UPDATE ns_states SET fingerprint = :fp, {learn} WHERE id = :row", **row)
    ended = [r for r in open_rows if r.id not in kept]
    new_keys = {ns.identity for ns in snap.namespaces}
    vanished = sum(1 for r in ended if r.identity not in new_keys or r.boot_id != snap.host.boot_id)
    _end(sql, "ns_states", [r.id for r in ended], seq)
    if new_rows:
        sql.insert_many("ns_states", _NEW_STATE, new_rows)
    return Saved(snapshot_id, seq, previous, created, vanished, changed)


def _end(sql: Sql, table: str, ids: list[int], seq: int) -> None:
    """End these states at seq."""
    for i in range(0, len(ids), _CHUNK):
        listed, params = placeholders("id", ids[i : i + _CHUNK])
        sql.run(f"UPDATE {table} SET end_seq = :seq WHERE id IN {listed}", seq=seq, **params)


def record_body(record: Any) -> str:
    """A record (a container, a namespace event) as the store keeps it: its payload as
    compact JSON with sorted keys, so that equal records are equal text."""
    return json.dumps(fields.payload(record), sort_keys=True, separators=(",", ":"))


def _save_containers(sql: Sql, host_id: int, seq: int, bodies: set[str]) -> None:
    """The containers' states (`bodies`: each as stored): an open one that the snapshot sees
    again goes on, the others end at this seq, and a container seen anew (or changed) begins
    one."""
    open_rows = sql.rows(
        "SELECT id, body FROM container_states WHERE host_id = :host AND end_seq IS NULL",
        host=host_id,
    )
    _end(sql, "container_states", [r[0] for r in open_rows if r[1] not in bodies], seq)
    going_on = {r[1] for r in open_rows}
    begun = [(host_id, seq, None, body) for body in sorted(bodies - going_on)]
    if begun:
        sql.insert_many("container_states", ("host_id", "first_seq", "end_seq", "body"), begun)


def _before(taken_at: str, other: str) -> bool:
    try:
        return datetime.fromisoformat(taken_at) < datetime.fromisoformat(other)
    except (TypeError, ValueError):
        return taken_at < other


def load(conn: Connection | Sql, snapshot_id: int) -> Snapshot:
    """A stored snapshot, whole, as it was taken."""
    sql = _sql(conn)
    row = _header(sql, snapshot_id)
    return _snapshot(sql, row, _decoded(sql, row["host_id"], _OPEN_AT, at=row["seq"]))


@dataclass(frozen=True)
class Streamed:
    """A stored snapshot whose namespaces are read as they are used: `header` has every
    field but them, `counts` says how many of each type it has, and `namespaces(ns_type)`
    reads them (of one type, or all), in load()'s order, inside the caller's transaction."""

    header: Snapshot
    counts: dict[str, int]
    namespaces: Callable[[str | None], Iterator[Namespace]]


def stream(conn: Connection | Sql, snapshot_id: int) -> Streamed:
    sql = _sql(conn)
    row = _header(sql, snapshot_id)
    header = _snapshot(sql, row, ())

    def namespaces(ns_type: str | None) -> Iterator[Namespace]:
        where = _OPEN_AT if ns_type is None else f"{_OPEN_AT} AND ns_type = :ns_type"
        # A server-side cursor where the database has them: rows come as they are read.
        names, rows = sql.stream(
            f"{_states(where)} ORDER BY ns_type, dev, inode",
            host=row["host_id"],
            at=row["seq"],
            ns_type=ns_type,
        )
        yield from map(decoder(Namespace, names), rows)

    return Streamed(header, json.loads(row["counts"]), namespaces)


def load_difference(conn: Connection | Sql, old_id: int, new_id: int) -> tuple[Snapshot, Snapshot]:
    """Two stored snapshots as diff() needs them: of one host, each with only the namespaces
    whose stored state the other does not share (an unchanged namespace keeps its one row, so
    diff() finds nothing in it; no row outlives a boot); of two hosts, whole. diff() of the two
    is diff() of the whole snapshots, at the cost of what changed rather than of the host's
    size."""
    sql = _sql(conn)
    old, new = _header(sql, old_id), _header(sql, new_id)
    if old["host_id"] != new["host_id"]:
        return load(sql, old_id), load(sql, new_id)
    host = old["host_id"]
    lo, hi = sorted((old["seq"], new["seq"]))
    # Open at lo and ended by hi; begun after lo and still open at hi.
    at_lo = _decoded(sql, host, f"{_OPEN_AT} AND end_seq <= :hi", at=lo, hi=hi)
    at_hi = _decoded(sql, host, f"{_OPEN_AT} AND first_seq > :lo", at=hi, lo=lo)
    first, second = (at_lo, at_hi) if old["seq"] == lo else (at_hi, at_lo)
    a, b = _snapshot(sql, old, first), _snapshot(sql, new, second)
    # diff() matches by NS_GET_ID's id only when every namespace of both (of the type it is
    # asked about) has one: the same answer, type by type, from these namespaces as from all,
    # or the whole snapshots decide it.
    unidentified = sql.rows(
        "SELECT DISTINCT ns_type FROM ns_states WHERE host_id = :host AND ns_id IS NULL "
        f"AND ({_open_at('lo')} OR {_open_at('hi')})",
        host=host,
        lo=lo,
        hi=hi,
    )
    if {r[0] for r in unidentified} != {
        n.id.type.value for n in (*a.namespaces, *b.namespaces) if n.ns_id is None
    }:
        return load(sql, old_id), load(sql, new_id)
    return a, b


def previous(conn: Connection | Sql, snapshot_id: int) -> int | None:
    """The snapshot of the same host just before this one, if any."""
    found = _sql(conn).value(
        "SELECT b.id FROM snapshots a JOIN snapshots b ON b.host_id = a.host_id "
        "AND b.seq < a.seq WHERE a.id = :id ORDER BY b.seq DESC LIMIT 1",
        id=snapshot_id,
    )
    return None if found is None else int(found)


def _open_at(seq: str) -> str:
    """The states open at the snapshot whose seq is the parameter `seq`."""
    return f"first_seq <= :{seq} AND (end_seq IS NULL OR end_seq > :{seq})"


_OPEN_AT = _open_at("at")


def _states(where: str) -> str:
    return f"SELECT {_NAMESPACE_LIST} FROM ns_states WHERE host_id = :host AND {where}"


def _header(sql: Sql, snapshot_id: int) -> dict[str, Any]:
    row = sql.record(
        "SELECT snapshots.*, hosts.hostname, hosts.machine_id, capability_reports.body "
        "FROM snapshots JOIN hosts ON hosts.id = snapshots.host_id "
        "LEFT OUTER JOIN capability_reports ON capability_reports.id = snapshots.capability_id "
        "WHERE snapshots.id = :id",
        id=snapshot_id,
    )
    if row is None:
        raise DatabaseError(f"snapshot {snapshot_id} is not in the database (removed meanwhile?)")
    return row


def _decoded(sql: Sql, host: int, where: str, **params: Any) -> tuple[Namespace, ...]:
    """The namespaces of the host's states that `where` picks, in load()'s order (type, dev,
    inode).

    A snapshot's many rows are read as the driver's own tuples and sorted here, which costs
    less than SQLite's sort (100,000 rows: 0.65 s -> 0.48 s, with the collector run seldom
    while they are made)."""
    with few_collections():
        keys, rows = sql.named_rows(_states(where), host=host, **params)
        rows.sort(key=itemgetter(*map(keys.index, ("ns_type", "dev", "inode"))))
        return tuple(map(decoder(Namespace, keys), rows))


def _snapshot(sql: Sql, row: dict[str, Any], namespaces: tuple[Namespace, ...]) -> Snapshot:
    """The snapshot of a header row, with these namespaces."""
    return Snapshot(
        host=HostInfo(row["hostname"], row["machine_id"] or None, row["boot_id"], row["kernel"]),
        taken_at=row["taken_at"],
        nsaudit_version=row["nsaudit_version"],
        label=row["label"],
        duration_ms=row["duration_ms"],
        threads=bool(row["threads"]),
        namespaces=namespaces,
        problems=tuple(ScanProblem(p[0], p[1], p[2]) for p in json.loads(row["problems"])),
        capabilities=_capabilities(row["body"], row["id"]),
        containers=_containers(sql, row),
        id=row["id"],
        seq=row["seq"],
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


def _containers(sql: Sql, row: dict[str, Any]) -> tuple[Container, ...] | None:
    """The containers the snapshot found, in the scan's order (None for a snapshot taken
    before 0005); damage, or fewer or more than it counted, is an error."""
    if row["container_count"] is None:
        return None
    bodies = sql.rows(
        f"SELECT body FROM container_states WHERE host_id = :host AND {_OPEN_AT} ORDER BY id",
        host=row["host_id"],
        at=row["seq"],
    )
    found = containers_from_bodies((b[0] for b in bodies), f"snapshot {row['id']}")
    if len(found) != row["container_count"]:
        raise DatabaseError(
            f"the containers of snapshot {row['id']} are damaged ({len(found)} stored, "
            f"{row['container_count']} found by its scan); `nsaudit db check` lists what else is"
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
