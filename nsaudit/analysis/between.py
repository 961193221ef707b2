"""Pure: what the watcher saw between two snapshots, against the later one: the namespaces
created and gone meanwhile (which neither snapshot holds), those whose fate the mechanism
cannot tell, and the namespaces entered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nsaudit.model import NamespaceEvent, Snapshot, Watched


@dataclass(frozen=True)
class Between:
    """watched: the record; gone: events whose every namespace the later snapshot lacks;
    unknown: events that name no namespace (the audit mechanism); entered: setns; hidden:
    events the ignore rules left out."""

    watched: Watched
    gone: tuple[NamespaceEvent, ...]
    unknown: tuple[NamespaceEvent, ...]
    entered: tuple[NamespaceEvent, ...]
    hidden: int = 0

    @property
    def differs(self) -> bool:
        """Namespaces made between the snapshots that the later one may not hold: a change
        the snapshots could not see."""
        return bool(self.gone or self.unknown)


def _alive(event: NamespaceEvent, later: Snapshot) -> bool:
    """Whether the later snapshot holds one of the event's namespaces (by inode within the
    boot, and by NS_GET_ID where both know it: an inode is reused at once)."""
    held = {(ns.id.type.value, ns.id.inode): ns.ns_id for ns in later.namespaces}
    ids = dict(p.split(":") for p in (event.ns_ids or "").split())
    for ns in event.namespaces:
        key = (ns.type.value, ns.inode)
        if key in held:
            known, seen = held[key], int(ids.get(ns.type.value, "0"))
            if known is None or not seen or known == seen:
                return True
    return False


def between(
    watched: Watched, later: Snapshot, ignored: Callable[[NamespaceEvent], bool]
) -> Between:
    kept = [e for e in watched.events if not ignored(e)]
    made = [e for e in kept if e.created]
    return Between(
        watched,
        gone=tuple(e for e in made if e.namespaces and not _alive(e, later)),
        unknown=tuple(e for e in made if not e.namespaces),
        entered=tuple(e for e in kept if not e.created),
        hidden=len(watched.events) - len(kept),
    )
