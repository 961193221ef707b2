"""The kinds of check a rule can make, each evaluated against a Subject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nsaudit.compare import initial
from nsaudit.kernel import userns
from nsaudit.model import (
    UNSEEN,
    Capabilities,
    Evidence,
    HolderKind,
    Namespace,
    NamespaceId,
    NsType,
    Outcome,
    Snapshot,
)
from nsaudit.policy.match import Allowlist, who


@dataclass(frozen=True)
class Subject:
    """What a policy is evaluated against: a stored snapshot of one host (with its capability
    report) and the namespaces created during the rule's period."""

    snapshot: Snapshot
    created: tuple[Namespace, ...]
    period: str  # in words: "the snapshots since the last check (2026-11-28T10:00:00Z, ...)"
    no_inventory: str | None = None  # why there are no namespaces to check, if so
    partial_in_period: tuple[int, ...] = ()  # seqs of the period's partial snapshots


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    summary: str
    evidence: tuple[Evidence, ...] = ()


class Check(Protocol):
    @property
    def kind(self) -> str: ...

    def evaluate(self, subject: Subject) -> Verdict: ...


SYSCTLS = (
    "user.max_user_namespaces",
    "kernel.unprivileged_userns_clone",
    "kernel.apparmor_restrict_unprivileged_userns",
    *(f"user.max_{t.value}_namespaces" for t in NsType if t is not NsType.USER),
)
# The per-type limits, which the capability report also gives as each type's `limit`.
_LIMIT_OF = {f"user.max_{t.value}_namespaces": t for t in NsType}


def ns_name(ns: NamespaceId) -> str:
    """As /proc shows a namespace link: net:[4026532001]."""
    return f"{ns.type.value}:[{ns.inode}]"


def _about(ns: Namespace, text: str) -> Evidence:
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


def _report(subject: Subject) -> Capabilities | Verdict:
    """The snapshot's capability report, or the error of a rule that needs one."""
    if subject.snapshot.capabilities is None:
        return Verdict(
            Outcome.ERROR,
            "the snapshot has no capability report; take a new snapshot with `nsaudit snapshot`",
        )
    return subject.snapshot.capabilities.value


def _skip(subject: Subject) -> Verdict | None:
    if subject.no_inventory is None:
        return None
    return Verdict(Outcome.SKIP, f"not applicable: {subject.no_inventory}")


def host_own(snap: Snapshot) -> set[NamespaceId]:
    """The namespaces no allowlist is about: the host's own (those of its lowest pid) and those
    of kernel threads (kdevtmpfs keeps a mount namespace of its own on every kernel)."""
    return initial(snap) | {
        ns.id for ns in snap.namespaces if ns.ppid == 2 and ns.parent_command == "kthreadd"
    }


# The kinds whose evidence is the scan's inventory of processes and namespaces; capability
# and sysctl checks read the kernel's own report, which a partial scan does not touch.
INVENTORY_KINDS = frozenset({"count", "holders", "unprivileged_owner", "created"})


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


def _partial_note(snap: Snapshot, why: str | None = None) -> tuple[Evidence, ...]:
    why = why if why is not None else unseen(snap)
    if why is None:
        return ()
    text = f"the snapshot is partial ({why}): namespaces it could not see are not checked"
    return (Evidence(text),)


@dataclass(frozen=True)
class CapabilityCheck:
    """Each listed type's status (available, disabled, missing, unknown) is one allowed."""

    types: tuple[str, ...]
    status: tuple[str, ...]
    kind: str = "capability"

    def evaluate(self, subject: Subject) -> Verdict:
        report = _report(subject)
        if isinstance(report, Verdict):
            return report
        evidence, bad = [], []
        for t in self.types:
            entry = report.of(NsType(t))
            status = entry.status.value
            if status not in self.status:
                bad.append(t)
            evidence.append(Evidence(f"{t} namespaces: {status} ({entry.reason})", value=status))
        want = " or ".join(self.status)
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{', '.join(bad)} namespaces are not {want}",
                tuple(evidence),
            )
        return Verdict(Outcome.PASS, f"{', '.join(self.types)}: {want}", tuple(evidence))


@dataclass(frozen=True)
class SysctlCheck:
    """A sysctl's value: equal to one of `one_of`, and within at_least..at_most."""

    name: str
    one_of: tuple[str, ...] | None
    at_least: int | None
    at_most: int | None
    if_absent: Outcome
    kind: str = "sysctl"

    def want(self) -> str:
        parts = []
        if self.one_of is not None:
            parts.append(" or ".join(self.one_of))
        if self.at_least is not None:
            parts.append(f">= {self.at_least}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most}")
        return " and ".join(parts)

    def value(self, report: Capabilities) -> str | None:
        for r in report.restrictions:
            if r.name == self.name:
                return r.value
        if self.name in _LIMIT_OF:
            limit = report.of(_LIMIT_OF[self.name]).limit
            return None if limit is None else str(limit)
        return None

    def unread(self, report: Capabilities) -> str | None:
        """Why the value is unknown (no /proc/sys, an unreadable file), or None. The limits
        of other types live beside user.max_user_namespaces, so they share its fate."""
        named = self.name if self.name in userns.SYSCTLS else userns.MAX_USERNS
        for r in report.restrictions:
            if r.name == named and not r.read:
                return r.meaning or f"{named} could not be read"
        return None

    def evaluate(self, subject: Subject) -> Verdict:
        report = _report(subject)
        if isinstance(report, Verdict):
            return report
        value = self.value(report)
        if value is None and (why := self.unread(report)) is not None:
            # Unknown is not absent: if_absent never decides a value nobody could read.
            e = Evidence(f"{self.name}: {why} (want {self.want()})", sysctl=self.name)
            return Verdict(Outcome.ERROR, f"{self.name} is unknown: {why}", (e,))
        if value is None:
            e = Evidence(
                f"{self.name} is not on this kernel (want {self.want()})", sysctl=self.name
            )
            return Verdict(self.if_absent, f"{self.name} is not on this kernel", (e,))
        ok = self.one_of is None or value in self.one_of
        if self.at_least is not None or self.at_most is not None:
            try:
                number = int(value)
            except ValueError:
                ok = False
            else:
                ok = ok and (self.at_least is None or number >= self.at_least)
                ok = ok and (self.at_most is None or number <= self.at_most)
        text = f"{self.name} = {value} (want {self.want()})"
        return Verdict(
            Outcome.PASS if ok else Outcome.FAIL,
            text,
            (Evidence(text, sysctl=self.name, value=value),),
        )


@dataclass(frozen=True)
class CountCheck:
    """At most N namespaces of a type (the host's own included)."""

    type: str
    at_most: int
    kind: str = "count"

    def evaluate(self, subject: Subject) -> Verdict:
        if (skip := _skip(subject)) is not None:
            return skip
        snap = subject.snapshot
        found = [ns for ns in snap.namespaces if ns.id.type.value == self.type]
        summary = f"{len(found)} {self.type} namespaces (at most {self.at_most})"
        if len(found) <= self.at_most:
            return Verdict(Outcome.PASS, summary, _partial_note(snap))
        own = host_own(snap)
        listed = tuple(
            _about(ns, f"{ns_name(ns.id)} held by {who(ns)}") for ns in found if ns.id not in own
        )
        return Verdict(Outcome.FAIL, summary, listed + _partial_note(snap))


def _screen(
    namespaces: tuple[Namespace, ...],
    snap: Snapshot,
    types: tuple[str, ...] | None,
    allow: Allowlist,
    prefix: str,
) -> tuple[list[Namespace], list[Evidence]]:
    """The namespaces beyond the host's own (of those types), and evidence for each one the
    allowlist does not accept."""
    own = host_own(snap)
    checked = [
        ns for ns in namespaces if ns.id not in own and (types is None or ns.id.type.value in types)
    ]
    bad = []
    for ns in checked:
        why = allow.violation(ns)
        if why is not None:
            bad.append(_about(ns, f"{prefix}{ns_name(ns.id)} {why}"))
    return checked, bad


@dataclass(frozen=True)
class HoldersCheck:
    """Every non-initial namespace (of the listed types) is held by an allowed holder."""

    types: tuple[str, ...] | None
    allow: Allowlist
    kind: str = "holders"

    def evaluate(self, subject: Subject) -> Verdict:
        if (skip := _skip(subject)) is not None:
            return skip
        snap = subject.snapshot
        checked, bad = _screen(snap.namespaces, snap, self.types, self.allow, "")
        scope = "/".join(self.types) if self.types else "non-initial"
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{len(bad)} of {len(checked)} {scope} namespaces have no allowed holder",
                tuple(bad) + _partial_note(snap),
            )
        return Verdict(
            Outcome.PASS,
            f"all {len(checked)} {scope} namespaces have an allowed holder"
            if checked
            else f"no {scope} namespaces beyond the host's own",
            _partial_note(snap),
        )


def unprivileged_userns(snap: Snapshot) -> dict[NamespaceId, int]:
    """User namespaces created by a non-root user, directly or up their parent chain, with
    that user's uid."""
    users = {ns.id: ns for ns in snap.namespaces if ns.id.type is NsType.USER}
    out: dict[NamespaceId, int] = {}

    def creator(nid: NamespaceId, seen: frozenset[NamespaceId]) -> int | None:
        if nid in out:
            return out[nid]
        ns = users.get(nid)
        if ns is None or nid in seen:
            return None
        if ns.owner_uid not in (None, 0):
            return ns.owner_uid
        return creator(ns.parent, seen | {nid}) if ns.parent is not None else None

    for nid in users:
        uid = creator(nid, frozenset())
        if uid is not None:
            out[nid] = uid
    return out


@dataclass(frozen=True)
class UnprivilegedOwnerCheck:
    """No namespace is (or is owned by) a user namespace that a non-root user created,
    except those an optional allowlist accepts."""

    allow: Allowlist | None
    kind: str = "unprivileged_owner"

    def evaluate(self, subject: Subject) -> Verdict:
        if (skip := _skip(subject)) is not None:
            return skip
        snap = subject.snapshot
        unprivileged = unprivileged_userns(snap)
        bad = []
        for ns in snap.namespaces:
            via = ns.id if ns.id in unprivileged else ns.owner
            if via is None or via not in unprivileged:
                continue
            if self.allow is not None and self.allow.violation(ns) is None:
                continue
            how = (
                "is a user namespace"
                if via == ns.id
                else f"is owned by user namespace {ns_name(via)}"
            )
            bad.append(
                _about(
                    ns,
                    f"{ns_name(ns.id)} {how} created by uid {unprivileged[via]}; held by {who(ns)}",
                )
            )
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{len(bad)} namespaces belong to user namespaces of non-root users",
                tuple(bad) + _partial_note(snap),
            )
        return Verdict(
            Outcome.PASS,
            "no namespace belongs to a user namespace of a non-root user",
            _partial_note(snap),
        )


@dataclass(frozen=True)
class CreatedCheck:
    """Every namespace created during the period (of the listed types) has an allowed
    holder, including those that vanished again before the last snapshot."""

    types: tuple[str, ...] | None
    allow: Allowlist
    kind: str = "created"

    def evaluate(self, subject: Subject) -> Verdict:
        if (skip := _skip(subject)) is not None:
            return skip
        checked, bad = _screen(
            subject.created, subject.snapshot, self.types, self.allow, "created "
        )
        note = _partial_note(subject.snapshot, period_unseen(subject))
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{len(bad)} of {len(checked)} namespaces created have no allowed holder",
                tuple(bad) + note,
            )
        return Verdict(
            Outcome.PASS,
            f"{len(checked)} namespaces created, all by allowed holders"
            if checked
            else "no namespace created",
            note,
        )
