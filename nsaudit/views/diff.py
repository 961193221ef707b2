"""A SnapshotDiff as a Document: schema nsaudit.diff/1."""

from __future__ import annotations

from typing import Any

from nsaudit import fields
from nsaudit.analysis.between import Between
from nsaudit.analysis.containers import ContainerEvent, Event, events
from nsaudit.analysis.diff import Change, SnapshotDiff
from nsaudit.model import Namespace, Snapshot
from nsaudit.policy.match import container_words
from nsaudit.render import Document, Table
from nsaudit.views.events import events_table
from nsaudit.views.events import payload as payload_of

SCHEMA = "nsaudit.diff/1"


def _about(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "seq": s.seq,
        "taken_at": s.taken_at,
        "hostname": s.host.hostname,
        "boot_id": s.host.boot_id,
    }


def summary(d: SnapshotDiff, show_all: bool, containers: tuple[ContainerEvent, ...] = ()) -> str:
    text = (
        f"{len(d.created)} created, {len(d.vanished)} vanished, {len(d.signal)} changed, "
        f"{len(d.capabilities)} capability changes"
    )
    if containers:
        counts = [(e, sum(1 for c in containers if c.event is e)) for e in Event]
        text += "; containers: " + ", ".join(f"{n} {e}" for e, n in counts if n)
    if d.noise:
        verb = "listed" if show_all else "not shown (--all lists them)"
        text += f"; {len(d.noise)} process-count changes {verb}"
    if d.hidden:
        text += f"; {d.hidden} entries hidden by ignore rules"
    return text


def _row(change: str, ns: Namespace, detail: str, nprocs: str | None = None) -> tuple[str, ...]:
    return (
        change,
        ns.id.type.value,
        str(ns.id.inode),
        nprocs if nprocs is not None else str(ns.nprocs),
        "" if ns.pid is None else str(ns.pid),
        ns.user or "",
        ns.cmdline or ns.command or "",
        detail,
    )


def _event_row(e: ContainerEvent) -> tuple[str, ...]:
    c = e.container
    what = {Event.STARTED: "created", Event.STOPPED: "vanished", Event.RESTARTED: "replaced"}
    touched = e.created if e.event is not Event.STOPPED else e.vanished
    touched += tuple(c.new for c in e.reused)
    types = ", ".join(sorted({ns.id.type.value for ns in touched}))
    detail = f"{container_words(c)}: {len(touched)} namespaces {what[e.event]}"
    detail += f" ({types})" if types else ""
    if e.old is not None and e.new is not None and e.old.id != e.new.id:
        detail += f"; was {e.old.id[:12]}"
    pid = "" if c.pid is None else str(c.pid)
    return (f"container {e.event}", "", "", "", pid, "", c.label, detail)


def _event_payload(e: ContainerEvent) -> dict[str, Any]:
    def ids(namespaces: tuple[Namespace, ...]) -> list[dict[str, Any] | None]:
        return [fields.ref_payload(ns.id) for ns in namespaces]

    return {
        "event": e.event.value,
        "old": None if e.old is None else fields.payload(e.old),
        "new": None if e.new is None else fields.payload(e.new),
        "created": ids(e.created),
        "vanished": ids(e.vanished),
        "reused": ids(tuple(c.new for c in e.reused)),
    }


def _change_detail(c: Change) -> str:
    parts = [c.note] if c.note else []
    parts.append("changed: " + ", ".join(c.fields))
    if "holders" in c.fields:
        parts.append("holders now: " + (", ".join(h.text for h in c.new.holders) or "none"))
    return "; ".join(parts)


def _between_lines(b: Between, show_all: bool) -> list[str]:
    parts = [f"{len(b.gone)} created and gone again" if b.gone else "none created and gone"]
    if b.unknown:
        parts.append(f"{len(b.unknown)} created whose fate the audit mechanism cannot tell")
    if b.entered:
        verb = "listed" if show_all else "not shown (--all lists them)"
        parts.append(f"{len(b.entered)} entered (setns) {verb}")
    if b.hidden:
        parts.append(f"{b.hidden} hidden by ignore rules")
    return [f"namespaces between the snapshots (nsaudit watch): {'; '.join(parts)}"]


def _between_table(b: Between, show_all: bool) -> Table | None:
    shown = (*b.gone, *b.unknown, *(b.entered if show_all else ()))
    if not shown:
        return None
    title = "Namespaces between the snapshots"
    return events_table(tuple(sorted(shown, key=lambda e: e.at)), title)


def document(
    old: Snapshot,
    new: Snapshot,
    d: SnapshotDiff,
    show_all: bool,
    lead: tuple[str, ...] = (),
    between: Between | None = None,
) -> Document:
    changes = d.changed if show_all else d.signal
    lines = [
        *lead,
        f"diff: snapshot {old.id} (seq {old.seq}, {old.taken_at}) -> snapshot "
        f"{new.id} (seq {new.seq}, {new.taken_at}) of {new.host.hostname}",
    ]
    if old.host.hostname != new.host.hostname or old.host.machine_id != new.host.machine_id:
        lines.append(
            f"different hosts ({old.host.hostname} -> {new.host.hostname}): "
            "namespaces compared by shape, not inode"
        )
    elif d.rebooted:
        lines.append(
            f"host rebooted between the snapshots (boot {old.host.boot_id} -> "
            f"{new.host.boot_id}): namespaces compared by shape, not inode"
        )
    containers = events(old, new, d)
    lines.append(summary(d, show_all, containers))
    # A container's own namespaces are its event's row, not one row each.
    theirs = {ns.id for e in containers for ns in (*e.created, *e.vanished)}
    reused = {c for e in containers for c in e.reused}
    rows = [_event_row(e) for e in containers]
    rows += [
        _row("created", n, ", ".join(h.text for h in n.holders))
        for n in d.created
        if n.id not in theirs
    ]
    rows += [_row("vanished", n, "") for n in d.vanished if n.id not in theirs]
    rows += [
        _row("changed", c.new, _change_detail(c), f"{c.old.nprocs}->{c.new.nprocs}")
        for c in changes
        if c not in reused
    ]
    columns = ("CHANGE", "TYPE", "NS", "NPROCS", "PID", "USER", "COMMAND", "DETAIL")
    free_text = frozenset({"USER", "COMMAND", "DETAIL"})
    tables = [Table(None, columns, tuple(rows), cut=free_text)] if rows else []
    cap_rows = tuple((c.key, _text(c.old), _text(c.new)) for c in d.capabilities)
    if cap_rows:
        tables.append(Table("Capability changes", ("FACT", "OLD", "NEW"), cap_rows))
    warnings: tuple[str, ...] = ()
    if between is not None:
        lines += _between_lines(between, show_all)
        table = _between_table(between, show_all)
        tables += [table] if table is not None else []
        warnings = between.watched.incomplete()
    payload = {
        "schema": SCHEMA,
        "old": _about(old),
        "new": _about(new),
        "rebooted": d.rebooted,
        "differs": d.differs or (between is not None and between.differs),
        "created": [fields.payload(n) for n in d.created],
        "vanished": [fields.payload(n) for n in d.vanished],
        "changed": [
            {
                "old": fields.payload(c.old),
                "new": fields.payload(c.new),
                "fields": list(c.fields),
                "note": c.note,
                "noise": c.noise,
            }
            for c in changes
        ],
        "capabilities": [{"key": c.key, "old": c.old, "new": c.new} for c in d.capabilities],
        "containers": [_event_payload(e) for e in containers],
        "summary": {
            "created": len(d.created),
            "vanished": len(d.vanished),
            "changed": len(d.signal),
            "noise": len(d.noise),
            "capabilities": len(d.capabilities),
            "hidden": d.hidden,
        },
        "between": None if between is None else _between_payload(between),
    }
    return Document(
        "nsaudit diff",
        payload,
        tuple(lines),
        tuple(tables),
        Table(None, columns, tuple(rows)),
        warnings,
    )


def _between_payload(b: Between) -> dict[str, Any]:
    return {
        "watched": payload_of(b.watched),
        "gone": [fields.payload(e) for e in b.gone],
        "unknown": [fields.payload(e) for e in b.unknown],
        "entered": [fields.payload(e) for e in b.entered],
        "hidden": b.hidden,
    }


def _text(value: object) -> str:
    return "-" if value is None else str(value)
