"""The check of namespace events that `nsaudit watch` recorded between snapshots: who made
namespaces, however briefly they lived (a 50 ms exploit no snapshot sees)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nsaudit.model import NS_TYPE_NAMES, Evidence, NamespaceEvent, Outcome
from nsaudit.policy.checks import Subject, Verdict
from nsaudit.policy.match import matches
from nsaudit.policy.place import Place, choices, globs

NOT_WATCHED = (
    "no `nsaudit watch` record of this host: namespaces made and gone between snapshots are "
    "not known (run it as a service: samples/watch/nsaudit-watch.service)"
)


def _evidence(e: NamespaceEvent, why: str) -> Evidence:
    lived = "" if e.lived_ms is None else f", lived {e.lived_ms} ms"
    return Evidence(
        f"{e.event} made {e.types} at {e.at} as uid {e.uid}{lived}: {why}",
        namespace=" ".join(f"{n.type.value}:[{n.inode}]" for n in e.namespaces) or None,
        pid=e.pid,
        command=e.command,
        user=None if e.uid is None else str(e.uid),
        path=e.exe,
    )


@dataclass(frozen=True)
class EventsCheck:
    """No namespace (of the listed types; all when none are) was made during the period by a
    process the rule does not allow, as `nsaudit watch` recorded it. unprivileged: only those
    made by a user other than root (uid 0 of the initial user namespace). exes: globs of the
    executables allowed, each absolute (the kernel's path of the file, which a process does
    not change by renaming itself, unlike its command); users: globs of the uids allowed. A
    period not watched whole (no watcher, a gap, lost events, or the audit mechanism's blind
    spots) is an error unless the record already shows a violation."""

    types: tuple[str, ...] | None
    unprivileged: bool
    exes: tuple[str, ...] | None
    users: tuple[str, ...] | None
    kind: ClassVar[str] = "events"
    keys: ClassVar[frozenset[str]] = frozenset({"types", "unprivileged", "exes", "users"})

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> EventsCheck:
        types = choices(at, d, "types", NS_TYPE_NAMES) if "types" in d else None
        unprivileged = d.get("unprivileged", False)
        if not isinstance(unprivileged, bool):
            raise at.error("check.unprivileged must be true or false", "unprivileged")
        return cls(types, unprivileged, globs(at, d, "exes"), globs(at, d, "users"))

    def _violation(self, e: NamespaceEvent) -> str | None:
        if not e.created:
            return None
        made = e.types.split(",")
        if self.types is not None and not set(made) & set(self.types):
            return None
        if self.unprivileged and e.uid == 0:
            return None
        if self.exes is not None and matches(e.exe, self.exes):
            return None
        if self.users is not None and matches(str(e.uid), self.users):
            return None
        who = "a non-root user" if self.unprivileged else "a process"
        return f"{who} whose executable {e.exe or '(unknown)'} the rule does not allow"

    def evaluate(self, subject: Subject) -> Verdict:
        w = subject.watched
        if w is None:
            return Verdict(Outcome.ERROR, NOT_WATCHED)
        bad = [_evidence(e, why) for e in w.events if (why := self._violation(e)) is not None]
        gaps = w.incomplete()
        notes = tuple(Evidence(g) for g in gaps)
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{len(bad)} namespace events by processes the rule does not allow",
                tuple(bad) + notes,
            )
        if gaps:
            return Verdict(Outcome.ERROR, f"the period was not watched whole: {'; '.join(gaps)}")
        return Verdict(
            Outcome.PASS, f"{w.made} namespace events in the period, none by a process not allowed"
        )
