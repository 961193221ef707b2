"""Finding stored snapshots and hosts: what a ref or --host names, the list of snapshots and
of hosts. Saving and loading a snapshot is store/snapshots.py."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from nsaudit.errors import DatabaseError, UsageError
from nsaudit.jsonshape import MAX_INT  # a larger id or offset names no snapshot
from nsaudit.model import HostInfo, HostRow, SnapshotRow
from nsaudit.refs import SnapshotRef
from nsaudit.store.schema import fleet_roles, hosts, snapshots

_HEX = re.compile(r"^[0-9a-fA-F]+$")


def list_rows(conn: Connection, hostname: str | None, limit: int | None) -> list[SnapshotRow]:
    """Snapshots, newest first: one host's (--host NAME) by seq, every host's by time."""
    query = select(snapshots, hosts.c.hostname).join(hosts, hosts.c.id == snapshots.c.host_id)
    if hostname is not None:
        host_id = pick_host(conn, hostname, None, required=False)
        if host_id is None:
            return []
        query = query.where(snapshots.c.host_id == host_id).order_by(snapshots.c.seq.desc())
    else:
        # Within a host seq order is time order (save() keeps it so): ties go to the newer seq.
        query = query.order_by(
            snapshots.c.taken_at.desc(), snapshots.c.host_id, snapshots.c.seq.desc()
        )
    if limit is not None:
        query = query.limit(limit)
    return [
        SnapshotRow(
            id=r.id,
            seq=r.seq,
            taken_at=r.taken_at,
            hostname=r.hostname,
            boot_id=r.boot_id,
            kernel=r.kernel,
            namespaces=r.namespace_count,
            partial=r.problems != "[]",
            label=r.label,
        )
        for r in conn.execute(query)
    ]


def resolve(
    conn: Connection, ref: SnapshotRef, host: HostInfo | None, hostname: str | None = None
) -> int:
    """The id of the snapshot a ref names: an id, or latest~N of this host (or of --host;
    `host`, this host, is needed only without it).

    'latest' is the host's highest seq, for every command."""
    if ref.id is not None:
        found = None
        if ref.id <= MAX_INT:
            found = conn.execute(select(snapshots.c.id).where(snapshots.c.id == ref.id)).scalar()
        if found is None:
            raise UsageError(f"no snapshot {ref.text}; `nsaudit snapshots` lists them")
        return int(found)
    back = ref.back
    who = f"host {hostname!r}" if hostname is not None else f"this host ({host and host.hostname})"
    host_id = pick_host(conn, hostname, host, required=False)
    found = None
    if host_id is not None and back <= MAX_INT:
        found = conn.execute(
            select(snapshots.c.id)
            .where(snapshots.c.host_id == host_id)
            .order_by(snapshots.c.seq.desc())
            .offset(back)
            .limit(1)
        ).scalar()
    if found is None:
        # Another host's snapshots arrive by import: `nsaudit snapshot` cannot take them here.
        fix = (
            "take one with `nsaudit snapshot`"
            if hostname is None
            else "`nsaudit hosts` lists the hosts; `nsaudit import` loads another host's bundle"
        )
        raise UsageError(f"no snapshot {ref.text} of {who}; {fix}")
    return int(found)


def newest(conn: Connection, host_id: int) -> int:
    """The id of a host's newest snapshot (highest seq)."""
    found = conn.execute(
        select(snapshots.c.id)
        .where(snapshots.c.host_id == host_id)
        .order_by(snapshots.c.seq.desc())
        .limit(1)
    ).scalar()
    if found is None:
        raise DatabaseError(
            "a host's snapshots were removed while the report read them (by another "
            "nsaudit run); run the report again"
        )
    return int(found)


def resolve_before(conn: Connection, host: HostInfo, hostname: str | None, cutoff: str) -> int:
    """The newest snapshot of this host (or of --host) taken before `cutoff` (ISO, UTC)."""
    host_id = pick_host(conn, hostname, host, required=False)
    found = conn.execute(
        select(snapshots.c.id)
        .where(snapshots.c.host_id == host_id, snapshots.c.taken_at < cutoff)
        .order_by(snapshots.c.seq.desc())
        .limit(1)
    ).scalar()
    if found is None:
        raise UsageError(f"no snapshot of this host older than {cutoff}")
    return int(found)


def pick_host(
    conn: Connection, hostname: str | None, local: HostInfo | None, required: bool = True
) -> int | None:
    """The id of the host that --host names (NAME, or NAME@MACHINE_ID_PREFIX when two hosts
    share a name), or of this host; None when it has no snapshots (UsageError if `required`).
    A name that two hosts share is an error listing their machine ids, never a mix of both."""
    if hostname is None:
        assert local is not None
        found = conn.execute(
            select(hosts.c.id).where(
                hosts.c.hostname == local.hostname, hosts.c.machine_id == (local.machine_id or "")
            )
        ).scalar()
        if found is None and required:
            raise UsageError(
                f"no snapshot of this host ({local.hostname}); take one with `nsaudit snapshot`"
            )
        return None if found is None else int(found)
    rows = conn.execute(select(hosts.c.id, hosts.c.hostname, hosts.c.machine_id)).all()
    chosen = matching([(r.hostname, r.machine_id) for r in rows], hostname)
    if not chosen:
        if required:
            raise UsageError(f"no snapshots of host {hostname!r}; `nsaudit hosts` lists the hosts")
        return None
    return int(rows[chosen[0]].id)


def matching(hosts_known: Sequence[tuple[str, str | None]], wanted: str) -> list[int]:
    """The indexes of the (hostname, machine id) pairs that --host `wanted` names: NAME, or
    NAME@MACHINE_ID_PREFIX. UsageError when more than one does."""
    name, prefix = wanted, ""
    head, sep, tail = wanted.rpartition("@")
    if sep and head and _HEX.match(tail):
        name, prefix = head, tail.lower()
    found = [
        i
        for i, (h, m) in enumerate(hosts_known)
        if h == name and (m or "").lower().startswith(prefix)
    ]
    if not found and prefix:
        # A host whose name itself ends in @hex.
        found = [i for i, (h, _) in enumerate(hosts_known) if h == wanted]
    if len(found) > 1:
        ids = ", ".join(hosts_known[i][1] or "(none)" for i in found)
        raise UsageError(
            f"{len(found)} hosts are named {name!r} (machine ids {ids}); choose one with "
            f"--host {name}@MACHINE_ID_PREFIX"
        )
    return found


def host_rows(conn: Connection) -> list[HostRow]:
    """Every host with its newest snapshot (its state: current, and retired if it was)."""
    # A fleet's host roles: the role that writes a host's history is shown only if it is
    # one (not the owner or the reporting role, which wrote imported bundles).
    fleet_hosts = set(
        conn.execute(
            select(fleet_roles.c.role).where(fleet_roles.c.hostname.is_not(None))
        ).scalars()
    )
    newest = (
        select(snapshots.c.host_id, func.max(snapshots.c.seq).label("seq"))
        .group_by(snapshots.c.host_id)
        .subquery()
    )
    count = (
        select(snapshots.c.host_id, func.count().label("n"))
        .group_by(snapshots.c.host_id)
        .subquery()
    )
    query = (
        select(
            hosts.c.hostname,
            hosts.c.machine_id,
            hosts.c.writer,
            hosts.c.retired_at,
            snapshots,
            count.c.n,
        )
        .join(newest, newest.c.host_id == hosts.c.id)
        .join(snapshots, (snapshots.c.host_id == hosts.c.id) & (snapshots.c.seq == newest.c.seq))
        .join(count, count.c.host_id == hosts.c.id)
        .order_by(hosts.c.hostname, hosts.c.machine_id)
    )
    return [
        HostRow(
            hostname=r.hostname,
            machine_id=r.machine_id or None,
            snapshots=r.n,
            last_id=r.id,
            last_seq=r.seq,
            last_taken_at=r.taken_at,
            kernel=r.kernel,
            boot_id=r.boot_id,
            partial=r.problems != "[]",
            role=_role(r.writer, fleet_hosts),
            retired_at=r.retired_at,
        )
        for r in conn.execute(query)
    ]


def _role(writer: str, fleet_hosts: set[str]) -> str | None:
    return writer if writer in fleet_hosts else None


def find(conn: Connection, info: HostInfo, seq: int) -> tuple[int, str] | None:
    """(id, taken_at) of a host's snapshot with this seq, if stored."""
    row = conn.execute(
        select(snapshots.c.id, snapshots.c.taken_at)
        .join(hosts, hosts.c.id == snapshots.c.host_id)
        .where(
            hosts.c.hostname == info.hostname,
            hosts.c.machine_id == (info.machine_id or ""),
            snapshots.c.seq == seq,
        )
    ).first()
    return None if row is None else (int(row.id), str(row.taken_at))
