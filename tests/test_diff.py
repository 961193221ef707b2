"""The diff engine, pure: properties (hypothesis) and the cases the README promises."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from nsaudit.diff import apply, capability_changes, diff, key
from nsaudit.model import Holder, HostInfo, Namespace, NamespaceId, NsType, Snapshot

HOST = HostInfo("h", "m", "boot-1", "6.1")


def ns(
    ns_type: NsType,
    inode: int,
    nprocs: int = 1,
    command: str | None = "sleep",
    holders: tuple[Holder, ...] = (),
    ns_id: int | None = None,
) -> Namespace:
    return Namespace(
        id=NamespaceId(ns_type, 4, inode),
        nprocs=nprocs,
        pid=100 + inode if nprocs else None,
        pid_start=None,
        ppid=None,
        command=command if nprocs else None,
        cmdline=None,
        uid=0,
        user="root",
        ns_id=ns_id,
        parent=None,
        owner=None,
        owner_uid=None,
        holders=holders,
    )


def snap(*namespaces: Namespace, boot: str = "boot-1", caps: dict | None = None) -> Snapshot:
    host = replace(HOST, boot_id=boot)
    return Snapshot(
        host, "2026-01-01T00:00:00+00:00", "t", None, 1, False, tuple(namespaces), (), caps
    )


namespaces = st.builds(
    ns,
    st.sampled_from(list(NsType)),
    st.integers(0, 12),
    st.integers(0, 3),
    st.sampled_from(["sleep", "bash", "containerd-shim"]),
    st.sampled_from([(), (Holder("mount", path="/run/netns/a"),), (Holder("fd", pid=7, fd=3),)]),
)
snapshots = st.lists(namespaces, max_size=20, unique_by=lambda n: key(n)).map(
    lambda items: snap(*items)
)


@given(snapshots)
def test_diff_of_a_snapshot_with_itself_is_empty(a: Snapshot) -> None:
    d = diff(a, a)
    assert not d.created and not d.vanished and not d.changed and not d.differs


@settings(max_examples=200)
@given(snapshots, snapshots)
def test_created_mirrors_vanished(a: Snapshot, b: Snapshot) -> None:
    ab, ba = diff(a, b), diff(b, a)
    assert {key(n) for n in ab.created} == {key(n) for n in ba.vanished}
    assert {key(n) for n in ab.vanished} == {key(n) for n in ba.created}
    assert [key(c.old) for c in ab.changed] == [key(c.new) for c in ba.changed]


@settings(max_examples=200)
@given(snapshots, snapshots)
def test_the_changes_applied_to_a_give_b(a: Snapshot, b: Snapshot) -> None:
    assert apply(a, diff(a, b)) == tuple(
        sorted(b.namespaces, key=lambda n: (n.id.type.value, n.id.dev, n.id.inode, n.ns_id or 0))
    )


def test_process_count_alone_is_noise() -> None:
    d = diff(snap(ns(NsType.NET, 1, nprocs=3)), snap(ns(NsType.NET, 1, nprocs=5)))
    assert len(d.changed) == 1 and d.changed[0].noise and not d.differs


def test_last_process_gone_but_held_by_a_mount_is_a_change_in_words() -> None:
    mount = (Holder("mount", path="/run/netns/blue"),)
    d = diff(
        snap(ns(NsType.NET, 1, nprocs=1, holders=mount)),
        snap(ns(NsType.NET, 1, nprocs=0, holders=mount)),
    )
    assert not d.vanished and not d.created
    (change,) = d.changed
    assert change.note == "lost its last process; still held by mount /run/netns/blue"
    assert d.differs


def test_a_reused_inode_with_another_ns_id_is_a_new_namespace() -> None:
    d = diff(snap(ns(NsType.NET, 1, ns_id=10)), snap(ns(NsType.NET, 1, ns_id=11)))
    assert len(d.created) == 1 and len(d.vanished) == 1


def test_reboot_compares_by_shape_not_inode() -> None:
    before = snap(ns(NsType.NET, 1), ns(NsType.UTS, 2, command="bash"))
    after = snap(
        ns(NsType.NET, 1, command="containerd-shim"),
        ns(NsType.UTS, 9, command="bash"),
        boot="boot-2",
    )
    d = diff(before, after)
    assert d.rebooted
    assert [n.command for n in d.created] == ["containerd-shim"]
    assert [n.command for n in d.vanished] == ["sleep"]


def test_capability_changes() -> None:
    old = {
        "types": [{"type": "user", "status": "available", "limit": 100, "config": []}],
        "restrictions": [{"name": "user.max_user_namespaces", "value": "100"}],
    }
    new = {
        "types": [{"type": "user", "status": "disabled", "limit": 0, "config": []}],
        "restrictions": [{"name": "user.max_user_namespaces", "value": "0"}],
    }
    changes = {c.key: (c.old, c.new) for c in capability_changes(old, new)}
    assert changes == {
        "types.user.status": ("available", "disabled"),
        "types.user.limit": (100, 0),
        "sysctl.user.max_user_namespaces": ("100", "0"),
    }
    d = diff(snap(caps=old), snap(caps=new))
    assert d.differs and len(d.capabilities) == 3
