"""Containers in a diff (analysis/containers.py), pure: started, stopped, restarted in place
or recreated under the same name and image, and a restart whose namespaces got the freed inode
numbers again; each is one line of `nsaudit diff`."""

from __future__ import annotations

from dataclasses import replace

from factories import ns, snap

from nsaudit.analysis.containers import Event, events
from nsaudit.analysis.diff import diff
from nsaudit.model import Container, Namespace, NsType, Snapshot
from nsaudit.views.diff import document

TYPES = (NsType.IPC, NsType.MNT, NsType.NET, NsType.PID, NsType.UTS)


def container(ident: str, name: str, pid: int, image: str = "nginx:1.27") -> Container:
    return Container(
        id=ident, runtime="docker", name=name, image=image, pod_namespace=None, pod_name=None,
        pod_uid=None, pid=pid, shim="containerd-shim", namespaces=(), source=None, note=None,
    )  # fmt: skip


def own(c: Container, first: int, ns_id: bool = True) -> list[Namespace]:
    """Its five namespaces, inodes first..first+4, with NS_GET_ID's ids where known."""
    return [
        replace(ns(t, first + n, ns_id=first + n if ns_id else None), container=c.id)
        for n, t in enumerate(TYPES)
    ]


def host(*parts: list[Namespace], containers: tuple[Container, ...]) -> Snapshot:
    base = [ns(NsType.NET, 1, ns_id=1)]
    return replace(snap(*base, *(n for p in parts for n in p)), containers=containers)


def test_started_stopped_and_recreated() -> None:
    web, db = container("a" * 64, "web", 10), container("b" * 64, "db", 20)
    old_api = container("c" * 64, "api", 30)
    new_api = container("d" * 64, "api", 40)
    before = host(own(web, 100), own(old_api, 200), containers=(old_api, web))
    after = host(own(db, 300), own(new_api, 400), containers=(db, new_api))
    found = {e.container.name: e for e in events(before, after, diff(before, after))}
    assert {n: e.event for n, e in found.items()} == {
        "api": Event.RESTARTED,
        "db": Event.STARTED,
        "web": Event.STOPPED,
    }
    assert (found["api"].old, found["api"].new) == (old_api, new_api)
    assert len(found["api"].created) == len(found["api"].vanished) == 5
    assert len(found["db"].created) == 5 and len(found["web"].vanished) == 5
    # One line each, and none for their namespaces.
    table = document(before, after, diff(before, after), False).tables[0]
    assert [r[0] for r in table.rows] == [
        "container restarted",
        "container started",
        "container stopped",
    ]


def test_a_restart_in_place_and_reused_inode_numbers() -> None:
    # podman restart: the same id, a new first process. Without NS_GET_ID the diff matches
    # namespaces by inode alone, and the kernel gave the freed numbers to the new ones.
    old, new = container("e" * 64, "web", 50), container("e" * 64, "web", 60)
    before = host(own(old, 500, ns_id=False), containers=(old,))
    after_ns = [replace(n, pid=n.pid + 1, holders=()) for n in own(new, 500, ns_id=False)]
    after_ns[2] = replace(after_ns[2], command="nginx")  # a signal change of the reused one
    after = host(after_ns, containers=(new,))
    d = diff(before, after)
    (e,) = events(before, after, d)
    assert e.event is Event.RESTARTED and not e.created and len(e.reused) == 5
    table = document(before, after, d, False).tables[0]
    assert [r[0] for r in table.rows] == ["container restarted"]
    assert "5 namespaces replaced" in table.rows[0][-1]


def test_no_events_without_a_record_of_containers() -> None:
    c = container("f" * 64, "web", 70)
    before = replace(host(own(c, 700), containers=(c,)), containers=None)
    after = host(containers=())
    assert events(before, after, diff(before, after)) == ()


def test_a_restart_is_a_new_first_process_or_new_namespaces() -> None:
    c = container("1" * 64, "web", 80)
    moved = replace(c, namespaces=(ns(NsType.NET, 9).id,))
    same = host(own(c, 800), containers=(c,))
    assert events(same, same, diff(same, same)) == ()
    after = host(own(c, 800), containers=(moved,))
    (e,) = events(same, after, diff(same, after))
    assert (e.event, e.old, e.new) == (Event.RESTARTED, c, moved)


def test_a_namespace_a_new_container_joined_is_its_own_line() -> None:
    # An existing namespace that a starting container's process now stands for: a change of
    # that namespace, not one of the container's own (only a restart takes changes).
    c = container("2" * 64, "api", 90)
    old_ns = ns(NsType.UTS, 900, ns_id=900)
    before = host([old_ns], containers=())
    after = host([replace(old_ns, container=c.id)], containers=(c,))
    d = diff(before, after)
    (e,) = events(before, after, d)
    assert e.event is Event.STARTED and e.reused == ()
    rows = document(before, after, d, False).tables[0].rows
    assert [r[0] for r in rows] == ["container started", "changed"]
