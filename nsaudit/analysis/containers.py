"""Containers in a diff, pure: which started, stopped or restarted between two snapshots, with
the namespaces each made or left, so that a restart is one line, not ten."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from nsaudit.analysis.diff import Change, SnapshotDiff
from nsaudit.model import Container, Namespace, Snapshot


class Event(StrEnum):
    STARTED = "started"
    STOPPED = "stopped"
    RESTARTED = "restarted"  # the same container (id) with a new first process, or a new id
    # under the same runtime, name and image (recreated, as `docker run --rm` or a pod does)


@dataclass(frozen=True)
class ContainerEvent:
    event: Event
    old: Container | None
    new: Container | None
    created: tuple[Namespace, ...]
    vanished: tuple[Namespace, ...]
    # Namespaces of the old container that the diff matched with the new one's: the kernel
    # gives a freed inode number again, and without NS_GET_ID that reads as one namespace.
    reused: tuple[Change, ...] = ()

    @property
    def container(self) -> Container:
        found = self.new or self.old
        assert found is not None
        return found


def _same(c: Container) -> tuple[str, str | None, str | None]:
    return (c.runtime, c.name, c.image)


def events(old: Snapshot, new: Snapshot, d: SnapshotDiff) -> tuple[ContainerEvent, ...]:
    """The containers that started, stopped or restarted from OLD to NEW, each with the
    namespaces of the diff that are its own. None when either snapshot has no record of
    containers."""
    if old.containers is None or new.containers is None:
        return ()
    before = {c.key: c for c in old.containers}
    after = {c.key: c for c in new.containers}
    created: dict[str, list[Namespace]] = {}
    for ns in d.created:
        created.setdefault(ns.container or "", []).append(ns)
    vanished: dict[str, list[Namespace]] = {}
    for ns in d.vanished:
        vanished.setdefault(ns.container or "", []).append(ns)

    def event(kind: Event, a: Container | None, b: Container | None) -> ContainerEvent:
        made = tuple(created.pop(b.id, ())) if b else ()
        left = tuple(vanished.pop(a.id, ())) if a else ()
        pair = (a.id if a else None, b.id if b else None)
        reused = tuple(c for c in d.changed if (c.old.container, c.new.container) == pair)
        return ContainerEvent(kind, a, b, made, left, reused if a and b else ())

    out = []
    for k in sorted(before.keys() & after.keys()):
        a, b = before[k], after[k]
        if a.pid != b.pid or a.namespaces != b.namespaces:
            out.append(event(Event.RESTARTED, a, b))
    gone = [before[k] for k in sorted(before.keys() - after.keys())]
    for k in sorted(after.keys() - before.keys()):
        b = after[k]
        twin = next((a for a in gone if a.name is not None and _same(a) == _same(b)), None)
        if twin is not None:
            gone.remove(twin)
            out.append(event(Event.RESTARTED, twin, b))
        else:
            out.append(event(Event.STARTED, None, b))
    out += [event(Event.STOPPED, a, None) for a in gone]
    return tuple(sorted(out, key=lambda e: (e.container.label, e.container.id)))
