"""Snapshots as Documents: schemas nsaudit.snapshot/1, nsaudit.stored/1, nsaudit.snapshots/1."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

from nsaudit import fields
from nsaudit.model import UNSEEN, Namespace, Saved, Snapshot, SnapshotRow
from nsaudit.render import Document, Table, cell
from nsaudit.render.document import Items
from nsaudit.views.tree import tree_order

if TYPE_CHECKING:
    from nsaudit.analysis.diff import SnapshotDiff

STORED_SCHEMA = "nsaudit.stored/1"
LIST_SCHEMA = "nsaudit.snapshots/1"
TREES = ("parent", "owner", "process", "container")
_CUT = frozenset({"USER", "COMMAND", "HOLDERS", "CONTAINER"})  # what a narrow terminal cuts


def problem_summary(snap: Snapshot) -> str:
    """'complete', or 'partial: 3 unreadable (EACCES 3: pids 1, 2, 3)', led by why the scan
    could not see every task ('/proc is mounted hidepid=invisible: 37 of 412 tasks visible')."""
    if not snap.problems:
        return "complete"
    parts = [p.path for p in snap.problems if p.errno == UNSEEN]
    unreadable = [p for p in snap.problems if p.errno != UNSEEN]
    by_errno: dict[str, set[int]] = {}
    for p in unreadable:
        by_errno.setdefault(p.errno, set()).add(p.pid or 0)
    each = []
    for name, pids in sorted(by_errno.items()):
        shown = ", ".join(str(p) for p in sorted(pids)[:10]) + (", ..." if len(pids) > 10 else "")
        each.append(f"{name} {len(pids)}: pid{'s' if len(pids) > 1 else ''} {shown}")
    if unreadable:
        parts.append(f"{len(unreadable)} unreadable ({'; '.join(each)})")
    return f"partial: {'; '.join(parts)}"


def _ordered(
    namespaces: tuple[Namespace, ...], tree: str | None, ascii_only: bool
) -> list[tuple[str, Namespace]]:
    if tree is None:
        return [("", ns) for ns in namespaces]

    def key(ns: Namespace) -> Hashable:
        return ns.id

    def parent(ns: Namespace) -> Hashable | None:
        if tree == "parent":
            return ns.parent
        if tree == "owner":
            return ns.owner
        return None

    if tree == "process":
        by_pid = {(ns.id.type, ns.pid): ns for ns in namespaces if ns.pid is not None}

        def process_parent(ns: Namespace) -> Hashable | None:
            # As lsns: under the namespace of the same type that holds its process's parent.
            above = by_pid.get((ns.id.type, ns.ppid)) if ns.ppid is not None else None
            return above.id if above is not None else None

        return tree_order(namespaces, key, process_parent, ascii_only)
    return tree_order(namespaces, key, parent, ascii_only)


_CONTAINER_COLUMN = fields.table_columns(Namespace).index("CONTAINER")


def container_label(snap: Snapshot, ns: Namespace) -> str:
    """A namespace's CONTAINER cell: its container's name (else short id), "host" for the
    host's own processes, "" when no process holds it or containers were not recorded."""
    if ns.container is not None:
        found = snap.container(ns)
        return found.label if found is not None else ns.container[:12]
    return "host" if ns.pid is not None and snap.containers is not None else ""


def _cells(snap: Snapshot, ns: Namespace) -> tuple[tuple[str, ...]]:
    cells = list(fields.table_cells(ns))
    cells[_CONTAINER_COLUMN] = container_label(snap, ns)
    return (tuple(cells),)


def _container_tree(
    snap: Snapshot, namespaces: tuple[Namespace, ...], ascii_only: bool
) -> tuple[tuple[str, ...], ...]:
    """Each container (by name), then the host, with their namespaces below them: a
    container's row names it in the NS column, its runtime, id and image in CONTAINER."""
    width = len(fields.table_columns(Namespace))
    by_id = {c.id: c for c in snap.containers or ()}
    groups = {ns.container or "" for ns in namespaces}
    order = sorted(
        (k for k in groups if k), key=lambda k: (by_id[k].label, k) if k in by_id else ("", k)
    )
    # Each group a root of the tree (a string key), its namespaces its children.
    items: list[str | Namespace] = [k for k in [*order, ""] if k in groups]
    items += namespaces

    def key(item: str | Namespace) -> Hashable:
        return item if isinstance(item, str) else item.id

    def parent(item: str | Namespace) -> Hashable | None:
        return None if isinstance(item, str) else item.container or ""

    rows: list[tuple[str, ...]] = []
    for branch, item in tree_order(items, key, parent, ascii_only):
        if isinstance(item, str):
            c = by_id.get(item)
            title = ["host" if item == "" else c.label if c else item[:12]] + [""] * (width - 1)
            if c is not None:
                title[_CONTAINER_COLUMN] = f"{c.runtime} {c.id[:12]}, image {c.image or 'unknown'}"
            rows.append(tuple(title))
        else:
            cells = list(fields.table_cells(item))
            cells[_CONTAINER_COLUMN] = ""
            rows.append((branch + cells[0], *cells[1:]))
    return tuple(rows)


def snapshot_document(
    snap: Snapshot, ns_type: str | None = None, tree: str | None = None, ascii_only: bool = False
) -> Document:
    """A snapshot's namespaces, lsns-like columns plus holders, parent and owner (a tree's
    branches drawn in ASCII when `ascii_only`, for a terminal that cannot show box lines)."""
    namespaces = tuple(ns for ns in snap.namespaces if ns_type in (None, ns.id.type.value))
    where = f"snapshot {snap.id} (seq {snap.seq})" if snap.id is not None else "live scan"
    lines = (
        f"{where} of {snap.host.hostname} at {snap.taken_at}",
        f"boot {snap.host.boot_id or '?'}, kernel {snap.host.kernel or '?'}, "
        f"{len(snap.namespaces)} namespaces, {problem_summary(snap)}",
    )
    if tree == "container":
        rows = _container_tree(snap, namespaces, ascii_only)
    else:
        rows = tuple(
            (branch + cells[0], *cells[1:])
            for branch, ns in _ordered(namespaces, tree, ascii_only)
            for cells in _cells(snap, ns)
        )
    records = tuple(map(fields.csv_cells, namespaces))
    return Document(
        title=f"nsaudit show: {where} of {snap.host.hostname}",
        payload=fields.snapshot_payload(snap, namespaces),
        lines=lines,
        tables=(Table(None, fields.table_columns(Namespace), rows, cut=_CUT),),
        records=Table(None, fields.csv_columns(Namespace), records),
    )


def streamed_document(
    snap: Snapshot, counts: dict[str, int], namespaces: Iterable[Namespace]
) -> Document:
    """snapshot_document()'s JSON alone, of a snapshot whose namespaces (all, or those of one
    type) come as they are read (store.snapshots.stream) and are written in turn: the payload
    of a snapshot of any size is never whole in memory."""
    payloads = Items(map(fields.payload, namespaces))
    where = f"snapshot {snap.id} (seq {snap.seq})"
    return Document(
        title=f"nsaudit show: {where} of {snap.host.hostname}",
        payload=fields.snapshot_payload_of(snap, counts, payloads),
        lines=(),
        tables=(),
        records=Table(None, (), ()),
    )


def stored_document(snap: Snapshot, saved: Saved, changes: SnapshotDiff | None = None) -> Document:
    """What `nsaudit snapshot` prints after storing: id, counts, partial, and what changed
    since the previous snapshot, counted as `nsaudit diff` counts it (`changes`): routine
    process-count changes apart, ignore rules applied."""
    counts = snap.counts()
    per_type = ", ".join(f"{t} {n}" for t, n in counts.items())
    created, vanished, changed = saved.created, saved.vanished, saved.changed
    routine = 0
    if changes is not None:
        created, vanished = len(changes.created), len(changes.vanished)
        changed, routine = len(changes.signal), len(changes.noise)
    since = (
        f"since seq {saved.previous_seq}: {created} created, {vanished} vanished, "
        f"{changed} changed" + (f"; {routine} process-count changes" if routine else "")
        if saved.previous_seq is not None
        else "the first snapshot of this host"
    )
    line = (
        f"snapshot {saved.id} (host {snap.host.hostname}, seq {saved.seq}): "
        f"{len(snap.namespaces)} namespaces ({per_type}); {problem_summary(snap)}; {since}"
    )
    payload = {
        "schema": STORED_SCHEMA,
        "id": saved.id,
        "seq": saved.seq,
        "previous_seq": saved.previous_seq,
        "hostname": snap.host.hostname,
        "taken_at": snap.taken_at,
        "namespaces": len(snap.namespaces),
        "counts": counts,
        "partial": snap.partial,
        "problems": len(snap.problems),
        "created": created,
        "vanished": vanished,
        "changed": changed,
        "process_count_changes": routine,
    }
    record = Table(
        None,
        tuple(k for k in payload if k not in ("schema", "counts")),
        (tuple(cell(v) for k, v in payload.items() if k not in ("schema", "counts")),),
    )
    return Document("nsaudit snapshot", payload, (line,), (), record)


def list_document(rows: list[SnapshotRow]) -> Document:
    return Document(
        "nsaudit snapshots",
        {"schema": LIST_SCHEMA, "snapshots": [fields.payload(r) for r in rows]},
        (),
        (Table(None, fields.table_columns(SnapshotRow), tuple(map(fields.table_cells, rows))),),
        Table(None, fields.csv_columns(SnapshotRow), tuple(map(fields.csv_cells, rows))),
    )
