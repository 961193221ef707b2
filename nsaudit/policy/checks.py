"""What every check kind shares: the Subject it is evaluated against, its Verdict, the Check
protocol (a kind names itself and its TOML keys, and parses them), and the evidence helpers.
The kinds: kernel_checks.py (the capability report) and inventory_checks.py (the namespaces)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from nsaudit.analysis.compare import initial
from nsaudit.model import (
    UNSEEN,
    Container,
    Evidence,
    HolderKind,
    Namespace,
    NamespaceId,
    Outcome,
    Snapshot,
    Watched,
)


@dataclass(frozen=True)
class Subject:
    """What a policy is evaluated against: a stored snapshot of one host (with its capability
    report) and the namespaces created during the rule's period."""

    snapshot: Snapshot
    created: tuple[Namespace, ...]
    period: str  # in words: "the snapshots since the last check (2026-11-28T10:00:00Z, ...)"
    no_inventory: str | None = None  # why there are no namespaces to check, if so
    partial_in_period: tuple[int, ...] = ()  # seqs of the period's partial snapshots
    # The containers the period's snapshots saw, by id: a namespace created meanwhile may
    # belong to one that has gone since.
    seen: Mapping[str, Container] = field(default_factory=dict)
    stale: str | None = None  # why the snapshot is too old to speak for the host now, if so
    # What `nsaudit watch` recorded in the period; None when no watcher ever ran for the host.
    watched: Watched | None = None

    def container(self, ns: Namespace) -> Container | None:
        """The container a namespace belongs to: as the snapshot found it, or as the period's
        snapshots did."""
        found = self.snapshot.container(ns)
        if found is None and ns.container is not None:
            found = self.seen.get(ns.container)
        return found


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    summary: str
    evidence: tuple[Evidence, ...] = ()


class Check(Protocol):
    """A rule's check, as evaluate.py uses it; as a policy file names it, a kind (kinds.Kind)."""

    kind: ClassVar[str]

    def evaluate(self, subject: Subject) -> Verdict: ...


def ns_name(ns: NamespaceId) -> str:
    """As /proc shows a namespace link: net:[4026532001]."""
    return f"{ns.type.value}:[{ns.inode}]"


def about(ns: Namespace, text: str) -> Evidence:
    return Evidence(
        text,
        namespace=ns_name(ns.id),
        pid=ns.pid,
        command=ns.command,
        parent_command=ns.parent_command,
        cmdline=ns.cmdline,
        user=ns.user if ns.user is not None else (str(ns.uid) if ns.uid is not None else None),
        path=next((h.path for h in ns.holders if h.kind == HolderKind.MOUNT), None),
    )


def skip(subject: Subject) -> Verdict | None:
    if subject.no_inventory is None:
        return None
    return Verdict(Outcome.SKIP, f"not applicable: {subject.no_inventory}")


def host_own(snap: Snapshot) -> set[NamespaceId]:
    """The namespaces no allowlist is about: the host's own (those of its lowest pid) and those
    of kernel threads (kdevtmpfs keeps a mount namespace of its own on every kernel)."""
    return initial(snap) | {
        ns.id for ns in snap.namespaces if ns.ppid == 2 and ns.parent_command == "kthreadd"
    }


def unseen(snap: Snapshot) -> str | None:
    """Why the scan did not see every process, in words; None for a complete scan."""
    if not snap.problems:
        return None
    parts = [p.path for p in snap.problems if p.errno == UNSEEN]
    pids = len({p.pid for p in snap.problems if p.errno != UNSEEN})
    if pids:
        parts.append(f"{pids} process(es) could not be read")
    return "; ".join(parts)


def period_unseen(subject: Subject) -> str | None:
    """Why the snapshots of the period did not see every namespace created in it: this scan's
    gaps, and any earlier partial snapshot (a namespace that lived only then was never seen)."""
    why = unseen(subject.snapshot)
    earlier = [s for s in subject.partial_in_period if s != subject.snapshot.seq]
    if not earlier:
        return why
    seqs = ", ".join(str(s) for s in earlier)
    earlier_why = f"the period's snapshot seq {seqs} could not see every process"
    return "; ".join(w for w in (why, earlier_why) if w)


def partial_note(snap: Snapshot, why: str | None = None) -> tuple[Evidence, ...]:
    why = why if why is not None else unseen(snap)
    if why is None:
        return ()
    text = f"the snapshot is partial ({why}): namespaces it could not see are not checked"
    return (Evidence(text),)
