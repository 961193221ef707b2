"""The host_namespaces check kind (policy/container_checks.py), in memory: which containers
share which of the host's namespaces, in words, and when it cannot tell."""

from __future__ import annotations

from dataclasses import replace

from factories import ns, snap

from nsaudit.model import Container, Namespace, NamespaceId, NsType, Outcome, ScanProblem, Snapshot
from nsaudit.policy.checks import Subject
from nsaudit.policy.container_checks import HostNamespacesCheck
from nsaudit.policy.match import Allowlist

HOST = {t: ns(t, 10 + n) for n, t in enumerate(NsType)}  # pids 110..: the host's lowest


def host_ns() -> list[Namespace]:
    return [replace(n, pid=1) for n in HOST.values()]


def container(name: str, shared: tuple[NsType, ...], pid: int = 500) -> Container:
    """A container whose first process has its own namespaces but the shared ones."""
    spaces = tuple(
        HOST[t].id if t in shared else NamespaceId(t, 4, 9000 + pid + n)
        for n, t in enumerate(NsType)
    )
    return Container(
        id=name * 8, runtime="docker", name=name, image="nginx:1.27", pod_namespace=None,
        pod_name=None, pod_uid=None, pid=pid, shim="containerd-shim", namespaces=spaces,
        source=None, note=None,
    )  # fmt: skip


def verdict(
    check: HostNamespacesCheck, *containers: Container, base: Snapshot | None = None
) -> tuple[Outcome, str, list[str]]:
    s = replace(base or snap(*host_ns()), containers=containers)
    v = check.evaluate(Subject(s, (), "now"))
    return v.outcome, v.summary, [e.text for e in v.evidence]


NET = HostNamespacesCheck(("net",), None)


def test_a_container_on_the_hosts_network_fails_with_the_kernels_evidence() -> None:
    outcome, summary, texts = verdict(NET, container("web", (NsType.NET,)), container("db", ()))
    assert (outcome, summary) == (
        Outcome.FAIL,
        "1 of 2 containers share the host's net namespaces",
    )
    assert texts == [
        "container web (docker webwebwebweb, image nginx:1.27) shares the host's net namespace "
        "net:[13] (its first process, pid 500): it sees and can bind the host's interfaces"
    ]


def test_none_shares_and_none_at_all() -> None:
    check = HostNamespacesCheck(("net", "pid", "ipc", "uts"), None)
    assert verdict(check, container("web", (NsType.USER,))) == (
        Outcome.PASS,
        "none of 1 containers shares the host's net/pid/ipc/uts namespaces",
        [],
    )
    assert verdict(check)[:2] == (
        Outcome.PASS,
        "none of 0 containers shares the host's net/pid/ipc/uts namespaces",
    )


def test_the_user_namespace_says_what_sharing_it_means() -> None:
    check = HostNamespacesCheck(("user",), None)
    _, summary, (text,) = verdict(check, container("web", (NsType.USER,)))
    assert summary == "1 of 1 containers share the host's user namespaces"
    assert text.endswith(
        "(its first process, pid 500): root in it is root on the host: neither rootless nor "
        "user-namespace remapped"
    )


def test_allowed_containers_are_counted_not_failed() -> None:
    check = HostNamespacesCheck(("net",), Allowlist(images=("nginx:*",), containers=("web",)))
    web, db = container("web", (NsType.NET,)), container("db", (NsType.NET,), 600)
    outcome, summary, texts = verdict(check, web, db)
    assert (outcome, summary) == (
        Outcome.FAIL,
        "1 of 2 containers share the host's net namespaces; 1 shared as allowed",
    )
    assert len(texts) == 1 and texts[0].startswith("container db ")
    assert verdict(check, web)[:2] == (
        Outcome.PASS,
        "none of 1 containers shares the host's net namespaces; 1 shared as allowed",
    )


def test_what_cannot_be_told_is_an_error_never_a_pass() -> None:
    # No record of containers (a snapshot from before nsaudit recorded them).
    s = replace(snap(*host_ns()), containers=None)
    v = NET.evaluate(Subject(s, (), "now"))
    assert (v.outcome, v.summary) == (
        Outcome.ERROR,
        "this snapshot has no record of containers (taken by an nsaudit before it recorded "
        "them): take a new snapshot",
    )
    # The container's own link could not be read.
    unread = replace(container("web", ()), namespaces=())
    assert verdict(NET, unread) == (
        Outcome.ERROR,
        "1 containers' net namespaces could not be told",
        [
            "container web (docker webwebwebweb, image nginx:1.27): the net namespace of its first "
            "process (pid 500) could not be read"
        ],
    )
    # The host's own is not known: no process in the host's namespaces was read.
    nothing = snap(*[replace(n, pid=None, nprocs=0) for n in HOST.values()])
    outcome, summary, texts = verdict(NET, container("web", ()), base=nothing)
    assert (outcome, summary) == (Outcome.ERROR, "1 containers' net namespaces could not be told")
    assert texts[0].endswith(
        "the host's own net namespace is not known (its lowest pid was not read)"
    )
    # A failure stays a failure beside what could not be told.
    outcome, summary, texts = verdict(NET, container("web", (NsType.NET,)), unread)
    assert outcome == Outcome.FAIL and len(texts) == 2


def test_a_partial_scan_says_so() -> None:
    partial = replace(snap(*host_ns()), problems=(ScanProblem(7, "/proc/7/cgroup", "EACCES"),))
    outcome, _, texts = verdict(NET, container("web", ()), base=partial)
    assert outcome == Outcome.PASS and texts[-1].startswith("the snapshot is partial")


def test_not_applicable_without_an_inventory() -> None:
    s = replace(snap(), containers=())
    v = NET.evaluate(Subject(s, (), "now", no_inventory="a kernel image runs nothing"))
    assert (v.outcome, v.summary) == (Outcome.SKIP, "not applicable: a kernel image runs nothing")


def test_each_type_each_container_and_the_fields_of_the_evidence() -> None:
    check = HostNamespacesCheck(("net", "pid"), Allowlist(containers=("ok-*",)))
    # Sharing pid but not net: every listed type is looked at, not only the first.
    web = container("web", (NsType.PID,))
    unread = replace(container("cut", (), 600), namespaces=())
    allowed = [container(f"ok-{n}", (NsType.NET,), 700 + n) for n in range(2)]
    s = replace(snap(*host_ns()), containers=(web, unread, *allowed))
    v = check.evaluate(Subject(s, (), "now"))
    assert v.summary == "1 of 4 containers share the host's net/pid namespaces; 2 shared as allowed"
    shared, *unknown = v.evidence
    assert (shared.namespace, shared.pid) == ("pid:[14]", 500)
    assert [(e.namespace, e.pid) for e in unknown] == [(None, 600), (None, 600)]
