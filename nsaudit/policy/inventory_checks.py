"""The check kinds that read the scan's inventory of namespaces: count, holders,
unprivileged_owner and created."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from nsaudit.model import NS_TYPE_NAMES, Evidence, Namespace, NamespaceId, NsType, Outcome, Snapshot
from nsaudit.policy.checks import (
    Subject,
    Verdict,
    about,
    host_own,
    ns_name,
    partial_note,
    period_unseen,
    skip,
)
from nsaudit.policy.match import Allowlist, who
from nsaudit.policy.place import ALLOW_KEYS, Place, allowlist, choices, whole


@dataclass(frozen=True)
class CountCheck:
    """At most N namespaces of a type (the host's own included)."""

    type: str
    at_most: int
    kind: ClassVar[str] = "count"
    keys: ClassVar[frozenset[str]] = frozenset({"type", "at_most"})

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> CountCheck:
        ns_type = d.get("type")
        if ns_type not in NS_TYPE_NAMES:
            raise at.error(f"a count check's type is one of: {', '.join(NS_TYPE_NAMES)}", "type")
        at_most = whole(at, d, "at_most")
        if at_most is None:
            raise at.error("a count check needs at_most", "kind")
        return cls(str(ns_type), at_most)

    def evaluate(self, subject: Subject) -> Verdict:
        if (skipped := skip(subject)) is not None:
            return skipped
        snap = subject.snapshot
        found = [ns for ns in snap.namespaces if ns.id.type.value == self.type]
        summary = f"{len(found)} {self.type} namespaces (at most {self.at_most})"
        if len(found) <= self.at_most:
            return Verdict(Outcome.PASS, summary, partial_note(snap))
        own = host_own(snap)
        listed = tuple(
            about(ns, f"{ns_name(ns.id)} held by {who(ns)}") for ns in found if ns.id not in own
        )
        return Verdict(Outcome.FAIL, summary, listed + partial_note(snap))


@dataclass(frozen=True)
class _Scoped:
    """A check of namespaces (of the listed types; all when None) against an allowlist, which
    must name something."""

    types: tuple[str, ...] | None
    allow: Allowlist
    keys: ClassVar[frozenset[str]] = frozenset({"types"}) | ALLOW_KEYS

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> Self:
        types = choices(at, d, "types", NS_TYPE_NAMES) if "types" in d else None
        allow = allowlist(at, d)
        if allow is None:
            raise at.error(
                f"a {d['kind']} check needs commands, parents, exes, users, paths, runtimes, "
                "images or containers (glob lists)",
                "kind",
            )
        return cls(types, allow)


def _screen(
    namespaces: tuple[Namespace, ...],
    subject: Subject,
    types: tuple[str, ...] | None,
    allow: Allowlist,
    prefix: str,
) -> tuple[list[Namespace], list[Evidence]]:
    """The namespaces beyond the host's own (of those types), and evidence for each one the
    allowlist does not accept."""
    own = host_own(subject.snapshot)
    checked = [
        ns for ns in namespaces if ns.id not in own and (types is None or ns.id.type.value in types)
    ]
    bad = []
    for ns in checked:
        why = allow.violation(ns, subject.container(ns))
        if why is not None:
            bad.append(about(ns, f"{prefix}{ns_name(ns.id)} {why}"))
    return checked, bad


@dataclass(frozen=True)
class HoldersCheck(_Scoped):
    """Every non-initial namespace (of the listed types) is held by an allowed holder."""

    kind: ClassVar[str] = "holders"

    def evaluate(self, subject: Subject) -> Verdict:
        if (skipped := skip(subject)) is not None:
            return skipped
        snap = subject.snapshot
        checked, bad = _screen(snap.namespaces, subject, self.types, self.allow, "")
        scope = "/".join(self.types) if self.types else "non-initial"
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{len(bad)} of {len(checked)} {scope} namespaces have no allowed holder",
                tuple(bad) + partial_note(snap),
            )
        return Verdict(
            Outcome.PASS,
            f"all {len(checked)} {scope} namespaces have an allowed holder"
            if checked
            else f"no {scope} namespaces beyond the host's own",
            partial_note(snap),
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
    kind: ClassVar[str] = "unprivileged_owner"
    keys: ClassVar[frozenset[str]] = ALLOW_KEYS

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> UnprivilegedOwnerCheck:
        return cls(allowlist(at, d))

    def evaluate(self, subject: Subject) -> Verdict:
        if (skipped := skip(subject)) is not None:
            return skipped
        snap = subject.snapshot
        unprivileged = unprivileged_userns(snap)
        bad = []
        for ns in snap.namespaces:
            via = ns.id if ns.id in unprivileged else ns.owner
            if via is None or via not in unprivileged:
                continue
            if self.allow is not None and self.allow.violation(ns, snap.container(ns)) is None:
                continue
            how = (
                "is a user namespace"
                if via == ns.id
                else f"is owned by user namespace {ns_name(via)}"
            )
            bad.append(
                about(
                    ns,
                    f"{ns_name(ns.id)} {how} created by uid {unprivileged[via]}; held by {who(ns)}",
                )
            )
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{len(bad)} namespaces belong to user namespaces of non-root users",
                tuple(bad) + partial_note(snap),
            )
        return Verdict(
            Outcome.PASS,
            "no namespace belongs to a user namespace of a non-root user",
            partial_note(snap),
        )


@dataclass(frozen=True)
class CreatedCheck(_Scoped):
    """Every namespace created during the period (of the listed types) has an allowed
    holder, including those that vanished again before the last snapshot."""

    kind: ClassVar[str] = "created"

    def evaluate(self, subject: Subject) -> Verdict:
        if (skipped := skip(subject)) is not None:
            return skipped
        checked, bad = _screen(subject.created, subject, self.types, self.allow, "created ")
        note = partial_note(subject.snapshot, period_unseen(subject))
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
