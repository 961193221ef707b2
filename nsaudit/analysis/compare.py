"""Comparing hosts, pure: their capability reports and their inventories by shape.

Inode numbers mean nothing across hosts, so namespaces are compared by what they look like:
counts per type, the commands and users that hold non-initial namespaces, bind-mount paths,
how deep pid and user namespaces nest, and containers by their shape: runtime, image, and
which namespaces they have of their own and which they share with the host (not their ids or
names, which differ from host to host).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from nsaudit.analysis.diff import facts
from nsaudit.model import Container, HolderKind, Namespace, NamespaceId, NsType, Snapshot

# (runtime, image, types of its own, types shared with the host)
Shape = tuple[str, str, str, str]


@dataclass(frozen=True)
class Comparison:
    hosts: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    facts: tuple[tuple[str, tuple[object, ...]], ...]  # (fact, value per host), all facts
    counts: tuple[tuple[str, tuple[int, ...]], ...]  # (type, count per host)
    holders: tuple[tuple[tuple[str, str, str], tuple[int, ...]], ...]  # (type, command, user)
    mounts: tuple[tuple[str, tuple[bool, ...]], ...]  # (bind-mount path, held per host)
    depth: tuple[tuple[str, tuple[int, ...]], ...]  # (pid|user, deepest nesting per host)
    containers: tuple[tuple[Shape, tuple[int | None, ...]], ...]  # None: not recorded

    def differing_facts(self) -> tuple[tuple[str, tuple[object, ...]], ...]:
        return tuple(f for f in self.facts if len(set(map(repr, f[1]))) > 1)


def initial(snap: Snapshot) -> set[NamespaceId]:
    """The host's own namespaces: those of its lowest pid, per type."""
    out: dict[NsType, Namespace] = {}
    for ns in snap.namespaces:
        if ns.pid is not None and (ns.id.type not in out or ns.pid < (out[ns.id.type].pid or 0)):
            out[ns.id.type] = ns
    return {ns.id for ns in out.values()}


def _depth(snap: Snapshot, ns_type: NsType) -> int:
    parents = {ns.id: ns.parent for ns in snap.namespaces if ns.id.type is ns_type}
    deepest = 0
    for start in parents:
        depth, node, seen = 0, parents.get(start), {start}
        while node is not None and node not in seen:
            seen.add(node)
            depth += 1
            node = parents.get(node)
        deepest = max(deepest, depth)
    return deepest


def container_shape(c: Container, host: set[NamespaceId]) -> Shape:
    own = sorted(ns.type.value for ns in c.namespaces if ns not in host)
    shared = sorted(ns.type.value for ns in c.namespaces if ns in host)
    return (c.runtime, c.image or "-", " ".join(own) or "-", " ".join(shared) or "-")


def compare(snaps: list[Snapshot]) -> Comparison:
    host_facts = [facts(s.capabilities) for s in snaps]
    keys = sorted({k for f in host_facts for k in f})
    holder_counts = []
    mount_sets = []
    shapes: list[Counter[Shape] | None] = []
    for s in snaps:
        own = initial(s)
        holder_counts.append(
            Counter(
                (ns.id.type.value, ns.command or "-", ns.user or "-")
                for ns in s.namespaces
                if ns.id not in own
            )
        )
        mount_sets.append(
            {
                h.path
                for ns in s.namespaces
                for h in ns.holders
                if h.kind == HolderKind.MOUNT and h.path
            }
        )
        recorded = s.containers is not None
        shapes.append(
            Counter(container_shape(c, own) for c in s.containers or ()) if recorded else None
        )
    holder_keys = sorted({k for c in holder_counts for k in c})
    shape_keys = sorted({k for c in shapes if c is not None for k in c})
    return Comparison(
        hosts=tuple(s.host.hostname for s in snaps),
        snapshots=tuple(snaps),
        facts=tuple((k, tuple(f.get(k) for f in host_facts)) for k in keys),
        counts=tuple((t.value, tuple(s.counts()[t.value] for s in snaps)) for t in NsType),
        holders=tuple((k, tuple(c[k] for c in holder_counts)) for k in holder_keys),
        mounts=tuple(
            (p, tuple(p in m for m in mount_sets)) for p in sorted(set().union(*mount_sets))
        ),
        depth=tuple(
            (t.value, tuple(_depth(s, t) for s in snaps)) for t in (NsType.PID, NsType.USER)
        ),
        containers=tuple(
            (k, tuple(None if c is None else c[k] for c in shapes)) for k in shape_keys
        ),
    )
