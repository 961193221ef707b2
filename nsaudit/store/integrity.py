"""Is the database sound? SQLite's own check, the schema, each host's sequence, every record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, text

from nsaudit import fields
from nsaudit import jsonshape as js
from nsaudit.kernel import report
from nsaudit.model import Container
from nsaudit.store.schema import (
    SCHEMA_HEAD,
    capability_reports,
    container_states,
    hosts,
    ns_states,
    policy_checks,
    snapshots,
)
from nsaudit.store.snapshots import load


@dataclass(frozen=True)
class Finding:
    """One line of `db check`: a problem (the database is not sound) or a note."""

    problem: bool
    text: str


@dataclass(frozen=True)
class Checked:
    findings: tuple[Finding, ...]
    hosts: int
    snapshots: int

    @property
    def problems(self) -> int:
        return sum(f.problem for f in self.findings)


def check(conn: Connection, revision: str | None) -> Checked:
    """Every check, reading only. `revision` is the database's schema revision."""
    findings: list[Finding] = []
    if conn.dialect.name == "sqlite":
        for (row,) in conn.execute(text("PRAGMA integrity_check")):
            if row != "ok":
                findings.append(Finding(True, f"SQLite integrity check: {row}"))
        for row in conn.execute(text("PRAGMA foreign_key_check")):
            findings.append(
                Finding(True, f"table {row[0]} row {row[1]} refers to a missing {row[2]} row")
            )
    if revision != SCHEMA_HEAD:
        findings.append(
            Finding(
                True,
                f"schema revision {revision or 'none'} is not this nsaudit's {SCHEMA_HEAD}: run "
                "`nsaudit db upgrade` (the records were not checked)",
            )
        )
        return Checked(tuple(findings), 0, 0)
    host_count = snapshot_count = 0
    for host_id, name, machine_id in conn.execute(
        select(hosts.c.id, hosts.c.hostname, hosts.c.machine_id).order_by(hosts.c.id)
    ):
        host_count += 1
        who = f"host {name!r}" + (f" ({machine_id[:12]})" if machine_id else "")
        rows = conn.execute(
            select(snapshots.c.id, snapshots.c.seq, snapshots.c.taken_at)
            .where(snapshots.c.host_id == host_id)
            .order_by(snapshots.c.seq, snapshots.c.id)
        ).all()
        snapshot_count += len(rows)
        if not rows:
            findings.append(Finding(False, f"{who} has no snapshots"))
        findings.extend(_sequence(who, rows))
        for r in rows:
            findings.extend(_snapshot(conn, who, r.id, r.seq))
    findings.extend(_states(conn))
    findings.extend(_documents(conn))
    findings.extend(_checks(conn))
    return Checked(tuple(findings), host_count, snapshot_count)


def _sequence(who: str, rows: Sequence[Any]) -> Iterator[Finding]:
    """Seqs strictly increasing and in time order; gaps (left by prune) are notes."""
    before: tuple[int, int, str] | None = None
    for row in rows:
        _, seq, taken_at = row
        if before is None:
            if seq > 1:
                yield Finding(False, f"{who}: seq {_span(1, seq - 1)} absent (pruned)")
        else:
            if seq == before[1]:
                yield Finding(True, f"{who}: seq {seq} is stored twice")
            elif seq > before[1] + 1:
                yield Finding(False, f"{who}: seq {_span(before[1] + 1, seq - 1)} absent (pruned)")
            if _instant(taken_at) < _instant(before[2]):
                yield Finding(
                    True,
                    f"{who}: seq {seq} ({taken_at}) was taken before seq {before[1]} "
                    f"({before[2]}): seq order is not time order",
                )
        before = (row[0], seq, taken_at)


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _instant(taken_at: str) -> datetime:
    try:
        return datetime.fromisoformat(taken_at)
    except (TypeError, ValueError):
        return datetime.min


def _snapshot(conn: Connection, who: str, snapshot_id: int, seq: int) -> Iterator[Finding]:
    what = f"snapshot {snapshot_id} ({who}, seq {seq})"
    try:
        snap = load(conn, snapshot_id)
        row = conn.execute(
            select(snapshots.c.taken_at, snapshots.c.namespace_count, snapshots.c.counts).where(
                snapshots.c.id == snapshot_id
            )
        ).one()
        datetime.fromisoformat(row.taken_at)
        counts = json.loads(row.counts)
    except Exception as e:
        yield Finding(True, f"{what} cannot be loaded: {type(e).__name__}: {e}")
        return
    if row.namespace_count != len(snap.namespaces):
        yield Finding(
            True,
            f"{what} counted {row.namespace_count} namespaces but holds {len(snap.namespaces)}",
        )
    elif counts != snap.counts():
        yield Finding(True, f"{what}: its counts per type do not match its namespaces")


def _states(conn: Connection) -> Iterator[Finding]:
    for table, name in ((ns_states, "namespace"), (container_states, "container")):
        bad = conn.execute(
            select(table.c.id, table.c.first_seq, table.c.end_seq).where(
                table.c.end_seq <= table.c.first_seq
            )
        )
        for r in bad:
            yield Finding(
                True,
                f"{name} state {r.id} ends (seq {r.end_seq}) before it begins ({r.first_seq})",
            )


# The tables of JSON documents: each row's name, what its body must be, and how to read it.
_DOCUMENTS: tuple[tuple[Table, str, str, Callable[[Any], object]], ...] = (
    (capability_reports, "capability report", "an nsaudit.detect/1 report",
     lambda body: report.decode(body, "")),
    (container_states, "container state", "a container",
     lambda body: fields.from_payload(Container, body, "", "container")),
)  # fmt: skip


def _documents(conn: Connection) -> Iterator[Finding]:
    """Each stored document reads as what it is, and one stored by its digest matches the
    digest that new snapshots look it up by (a damaged one would be shared with them)."""
    for table, name, kind, decode in _DOCUMENTS:
        for r in conn.execute(select(table)):
            what = f"{name} {r.id}"
            try:
                body = json.loads(r.body)
            except ValueError as e:
                yield Finding(True, f"{what} is not JSON: {e}")
                continue
            try:
                decode(body)
            except js.Invalid as e:
                yield Finding(True, f"{what} is not {kind}: {e}")
                continue
            if "sha256" in table.c and hashlib.sha256(r.body.encode()).hexdigest() != r.sha256:
                yield Finding(True, f"{what} does not match its sha256")


def _checks(conn: Connection) -> Iterator[Finding]:
    for r in conn.execute(select(policy_checks.c.id, policy_checks.c.results)):
        try:
            results = json.loads(r.results)
            ok = isinstance(results, list) and all(
                isinstance(x, list) and len(x) == 3 and all(isinstance(v, str) for v in x)
                for x in results
            )
        except ValueError:
            ok = False
        if not ok:
            yield Finding(True, f"policy check record {r.id}: its results cannot be read")
