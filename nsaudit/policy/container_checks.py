"""The check kind that reads a snapshot's containers: host_namespaces, a container that shares
a namespace with the host (CIS Docker 5.9, 5.15, 5.16, 5.20, 5.31 and 2.8; Kubernetes
hostNetwork, hostPID, hostIPC). The evidence is the kernel's: the namespaces of the
container's first process against the host's own, not what the runtime was asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nsaudit.analysis.compare import initial
from nsaudit.model import NS_TYPE_NAMES, Container, Evidence, NamespaceId, Outcome
from nsaudit.policy.checks import Subject, Verdict, ns_name, partial_note, skip
from nsaudit.policy.match import Allowlist, container_words
from nsaudit.policy.place import Place, choices, globs

_CONTAINER_KEYS = ("runtimes", "images", "containers")
# What sharing each type gives a container, for the evidence.
_MEANS = {
    "net": "it sees and can bind the host's interfaces",
    "pid": "it sees and can signal the host's processes",
    "ipc": "it shares the host's System V IPC and POSIX message queues",
    "uts": "it can change the host's name",
    "user": "root in it is root on the host: neither rootless nor user-namespace remapped",
    "cgroup": "it sees the host's whole cgroup tree",
    "mnt": "it sees the host's mounts",
    "time": "it shares the host's clocks",
}


@dataclass(frozen=True)
class HostNamespacesCheck:
    """No container shares the host's namespaces of the listed types, but those the optional
    runtimes/images/containers globs allow."""

    types: tuple[str, ...]
    allow: Allowlist | None
    kind: ClassVar[str] = "host_namespaces"
    keys: ClassVar[frozenset[str]] = frozenset({"types", *_CONTAINER_KEYS})

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> HostNamespacesCheck:
        if "types" not in d:
            raise at.error("a host_namespaces check needs types (namespace types)", "kind")
        types = choices(at, d, "types", NS_TYPE_NAMES)
        given = {k: globs(at, d, k) for k in _CONTAINER_KEYS}
        allow = Allowlist(**given) if any(v is not None for v in given.values()) else None
        return cls(types, allow)

    def evaluate(self, subject: Subject) -> Verdict:
        if (skipped := skip(subject)) is not None:
            return skipped
        snap = subject.snapshot
        scope = "/".join(self.types)
        if snap.containers is None:
            return Verdict(
                Outcome.ERROR,
                "this snapshot has no record of containers (taken by an nsaudit before it "
                "recorded them): take a new snapshot",
            )
        host = {ns.type.value: ns for ns in initial(snap)}
        shared: list[Evidence] = []
        unknown: list[Evidence] = []
        allowed = 0
        sharing: set[str] = set()
        for c in snap.containers:
            for t in self.types:
                found = _shares(c, t, host.get(t))
                if found is None:
                    continue
                if isinstance(found, str):
                    unknown.append(Evidence(f"{container_words(c)}: {found}", pid=c.pid))
                elif self.allow is not None and self.allow.container_ok(c):
                    allowed += 1
                else:
                    text = f"{container_words(c)} shares the host's {t} namespace "
                    text += f"{ns_name(found)} (its first process, pid {c.pid}): {_MEANS[t]}"
                    shared.append(Evidence(text, namespace=ns_name(found), pid=c.pid))
                    sharing.add(c.id)
        more = f"; {allowed} shared as allowed" if allowed else ""
        note = partial_note(snap)
        count = len(snap.containers)
        if shared:
            summary = (
                f"{len(sharing)} of {count} containers share the host's {scope} namespaces{more}"
            )
            return Verdict(Outcome.FAIL, summary, tuple(shared + unknown) + note)
        if unknown:
            summary = f"{len(unknown)} containers' {scope} namespaces could not be told{more}"
            return Verdict(Outcome.ERROR, summary, tuple(unknown) + note)
        summary = f"none of {count} containers shares the host's {scope} namespaces{more}"
        return Verdict(Outcome.PASS, summary, note)


def _shares(c: Container, ns_type: str, host: NamespaceId | None) -> NamespaceId | str | None:
    """The host's namespace when the container shares it; None when it does not; in words
    why not known when that cannot be told."""
    own = c.namespace(ns_type)
    if host is None:
        return f"the host's own {ns_type} namespace is not known (its lowest pid was not read)"
    if own is None:
        return f"the {ns_type} namespace of its first process (pid {c.pid}) could not be read"
    return host if own == host else None
