"""The diff engine, pure: properties (hypothesis) and the cases the README promises."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from factories import kernel_report, ns, restriction, snap
from hypothesis import given, settings
from hypothesis import strategies as st

from nsaudit.analysis.diff import capability_changes, diff, key
from nsaudit.model import Holder, Namespace, NamespaceId, NsType, Snapshot, Status
from nsaudit.store.database import Database
from nsaudit.store.snapshots import load, load_difference, save

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
    old = kernel_report(
        sysctls=(restriction("user.max_user_namespaces", "100"),),
        user={"status": Status.AVAILABLE, "limit": 100},
    )
    new = kernel_report(
        sysctls=(restriction("user.max_user_namespaces", "0"),),
        user={"status": Status.DISABLED, "limit": 0},
    )
    changes = {c.key: (c.old, c.new) for c in capability_changes(old, new)}
    assert changes == {
        "types.user.status": ("available", "disabled"),
        "types.user.limit": (100, 0),
        "sysctl.user.max_user_namespaces": ("100", "0"),
    }
    d = diff(snap(caps=old), snap(caps=new))
    assert d.differs and len(d.capabilities) == 3


# --- An independent model of `nsaudit diff`, written from the README's words (section
# "nsaudit diff"), not from nsaudit/analysis/diff.py: plain set arithmetic over identities.
#   "Identity is (type, nsfs device, inode), and NS_GET_ID where both snapshots have it."
#   "created (in NEW, not in OLD), vanished (in OLD, not in NEW), changed (in both, with another
#   process count, representative process, command, executable, user, holders, parent or
#   owner)".
#   Noise: "a change of process count or of the representative process alone (nprocs, pid,
#   ppid, pid_start, parent_command)".
#   Reboots: "matches namespaces by shape (type, command, user, bind-mount paths), never by
#   inode".

MODEL_NOISE = {"nprocs", "pid", "ppid", "pid_start", "parent_command"}
# Every recorded attribute of a namespace except what makes up its identity.
MODEL_ATTRIBUTES = (
    "nprocs",
    "pid",
    "pid_start",
    "ppid",
    "parent_command",
    "command",
    "cmdline",
    "exe",
    "uid",
    "user",
    "holders",
    "parent",
    "owner",
    "owner_uid",
)


def model_identity(n: Namespace, with_ns_id: bool) -> tuple[object, ...]:
    return (n.id.type, n.id.dev, n.id.inode, n.ns_id if with_ns_id else None)


def model_fields(old: Namespace, new: Namespace) -> set[str]:
    def value(n: Namespace, name: str) -> object:
        v = getattr(n, name)
        return frozenset(v) if name == "holders" else v  # holders are a set, not a sequence

    return {f for f in MODEL_ATTRIBUTES if value(old, f) != value(new, f)}


def model_shape(n: Namespace) -> tuple[object, ...]:
    paths = sorted(h.path or "" for h in n.holders if h.kind == "mount")
    return (n.id.type, n.command, n.user, tuple(paths))


def model_diff(
    a: Snapshot, b: Snapshot
) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]], dict[tuple[object, ...], set[str]]]:
    """(created, vanished, changed identity -> fields) for snapshots of one boot."""
    with_ns_id = all(n.ns_id is not None for n in (*a.namespaces, *b.namespaces))
    old = {model_identity(n, with_ns_id): n for n in a.namespaces}
    new = {model_identity(n, with_ns_id): n for n in b.namespaces}
    changed = {i: model_fields(old[i], new[i]) for i in old.keys() & new.keys()}
    return new.keys() - old.keys(), old.keys() - new.keys(), {i: f for i, f in changed.items() if f}


def ident(n: Namespace) -> tuple[object, ...]:
    return (n.id.type, n.id.dev, n.id.inode, n.ns_id)


holder_choices = [
    Holder("mount", path="/run/netns/a"),
    Holder("mount", path="/run/netns/b"),
    Holder("fd", pid=7, fd=3),
]


@st.composite
def namespace_in(draw: st.DrawFn, with_ns_id: bool) -> Namespace:
    nprocs = draw(st.integers(0, 3))
    base = ns(
        draw(st.sampled_from([NsType.NET, NsType.USER])),
        draw(st.integers(0, 5)),
        nprocs=nprocs,
        command=draw(st.sampled_from(["sleep", "bash"])),
        # In the collector's order (as listed); the model compares them as a set anyway.
        holders=tuple(
            h for h in holder_choices if h in draw(st.sets(st.sampled_from(holder_choices)))
        ),
        # A small range of ids so that the same inode comes back with another ns_id (reuse).
        ns_id=draw(st.integers(1, 3)) if with_ns_id else None,
    )
    return replace(
        base,
        pid=draw(st.sampled_from([None, 100, 101])) if nprocs else None,
        ppid=draw(st.sampled_from([None, 1, 2])),
        pid_start=draw(st.sampled_from([None, 5000])),
        parent_command=draw(st.sampled_from([None, "systemd", "containerd-shim"])),
        cmdline=draw(st.sampled_from([None, "sleep 1"])),
        exe=draw(st.sampled_from([None, "/usr/bin/sleep", "mnt:[4026532999]/usr/bin/sleep"])),
        uid=draw(st.sampled_from([0, 1000])),
        user=draw(st.sampled_from(["root", "alice"])),
        owner_uid=draw(st.sampled_from([None, 0])),
        parent=draw(st.sampled_from([None, NamespaceId(NsType.USER, 4, 1)])),
        owner=draw(st.sampled_from([None, NamespaceId(NsType.USER, 4, 2)])),
    )


@st.composite
def snapshot_pairs(
    draw: st.DrawFn,
    boots: tuple[str, str] = ("boot-1", "boot-1"),
    ids: tuple[bool, bool] | None = None,
) -> tuple[Snapshot, Snapshot]:
    """Two snapshots; NEW partly made of OLD's namespaces, some with attributes changed.

    ids: whether OLD and NEW have NS_GET_ID (a kernel answers it for all or none); drawn if None.
    """
    a_ids, b_ids = ids if ids is not None else (draw(st.booleans()), draw(st.booleans()))
    unique = st.lists(namespace_in(a_ids), max_size=8, unique_by=lambda n: (n.id.type, n.id.inode))
    old = draw(unique)
    kept = [n for n in old if draw(st.booleans())]
    edited = []
    for n in kept:
        fresh = draw(namespace_in(b_ids))
        edits = draw(st.sets(st.sampled_from(MODEL_ATTRIBUTES)))
        n = replace(n, ns_id=n.ns_id if not b_ids else (n.ns_id or fresh.ns_id))
        edited.append(replace(n, **{f: getattr(fresh, f) for f in edits}))
    taken = {(n.id.type, n.id.inode) for n in edited}
    extra = draw(
        st.lists(namespace_in(b_ids), max_size=5, unique_by=lambda n: (n.id.type, n.id.inode))
    )
    new = edited + [n for n in extra if (n.id.type, n.id.inode) not in taken]
    if not b_ids:
        new = [replace(n, ns_id=None) for n in new]
    return snap(*old, boot=boots[0]), snap(*new, boot=boots[1])


same_ns_id_support = st.booleans().flatmap(lambda has: snapshot_pairs(ids=(has, has)))


@settings(max_examples=400)
@given(same_ns_id_support)
def test_diff_agrees_with_a_set_model_of_identities(pair: tuple[Snapshot, Snapshot]) -> None:
    check_against_model(*pair)


@settings(max_examples=200)
@given(snapshot_pairs(ids=(False, True)) | snapshot_pairs(ids=(True, False)))
def test_diff_agrees_with_the_model_when_one_snapshot_lacks_ns_ids(
    pair: tuple[Snapshot, Snapshot],
) -> None:
    check_against_model(*pair)


def check_against_model(a: Snapshot, b: Snapshot) -> None:
    created, vanished, changed = model_diff(a, b)
    with_ns_id = all(n.ns_id is not None for n in (*a.namespaces, *b.namespaces))
    d = diff(a, b)
    assert not d.rebooted
    assert {model_identity(n, with_ns_id) for n in d.created} == created
    assert {model_identity(n, with_ns_id) for n in d.vanished} == vanished
    got = {model_identity(c.new, with_ns_id): set(c.fields) for c in d.changed}
    assert got == changed
    for c in d.changed:
        assert c.noise == (set(c.fields) <= MODEL_NOISE)
    signal = any(not f <= MODEL_NOISE for f in changed.values())
    assert d.differs == bool(created or vanished or signal)


@settings(max_examples=200)
@given(snapshot_pairs())
def test_a_reused_inode_is_created_and_vanished_when_both_have_ns_ids(
    pair: tuple[Snapshot, Snapshot],
) -> None:
    a, b = pair
    reused = [
        (o, n)
        for o in a.namespaces
        for n in b.namespaces
        if (o.id.type, o.id.inode) == (n.id.type, n.id.inode)
        and o.ns_id is not None
        and n.ns_id is not None
        and o.ns_id != n.ns_id
    ]
    d = diff(a, b)
    for o, n in reused:
        assert ident(n) in {ident(x) for x in d.created}
        assert ident(o) in {ident(x) for x in d.vanished}
        assert all(ident(c.new) != ident(n) for c in d.changed)


@settings(max_examples=300)
@given(snapshot_pairs(boots=("boot-1", "boot-2")))
def test_after_a_reboot_diff_agrees_with_a_multiset_model_of_shapes(
    pair: tuple[Snapshot, Snapshot],
) -> None:
    a, b = pair
    old, new = Counter(map(model_shape, a.namespaces)), Counter(map(model_shape, b.namespaces))
    d = diff(a, b)
    assert d.rebooted
    assert Counter(map(model_shape, d.created)) == new - old
    assert Counter(map(model_shape, d.vanished)) == old - new
    for c in d.changed:
        assert model_shape(c.old) == model_shape(c.new)
    assert Counter(model_shape(c.new) for c in d.changed) <= old & new


# A host's history: each snapshot a list of namespaces (some without NS_GET_ID's id, inodes
# reused with another id), and whether the host rebooted before it.
histories = st.lists(
    st.tuples(
        st.lists(
            st.builds(
                ns,
                st.sampled_from([NsType.NET, NsType.UTS, NsType.USER]),
                st.integers(0, 8),
                st.integers(0, 2),
                st.sampled_from(["sleep", "bash"]),
                st.sampled_from([(), (Holder("mount", path="/run/netns/a"),)]),
                st.sampled_from([None, 1, 2]),
            ),
            max_size=10,
            unique_by=lambda n: (n.id.type, n.id.inode),
        ),
        st.booleans(),
    ),
    min_size=2,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(histories, st.sampled_from([None, "net"]))
def test_the_stored_difference_diffs_as_the_whole_snapshots(
    tmp_path_factory: pytest.TempPathFactory, history: list[tuple[list[Namespace], bool]],
    ns_type: str | None,
) -> None:  # fmt: skip
    """load_difference reads only the namespaces whose stored state differs: diff() of them is
    diff() of the whole snapshots, for every pair, either way round, of one type or all."""
    database = Database(str(tmp_path_factory.mktemp("d") / "d.db"))
    ids, boot = [], 1
    for n, (namespaces, rebooted) in enumerate(history):
        boot += rebooted
        taken = replace(snap(*namespaces, boot=f"boot-{boot}"),
                        taken_at=f"2026-01-01T00:00:{n:02d}+00:00")  # fmt: skip
        with database.writing() as conn:
            ids.append(save(conn, taken).id)
    with database.reading() as conn:
        for a in ids:
            for b in ids:
                whole = diff(load(conn, a), load(conn, b), ns_type)
                assert diff(*load_difference(conn, a, b), ns_type) == whole


def test_the_stored_difference_keeps_the_whole_snapshots_choice_of_identity(
    tmp_path: Path,
) -> None:
    """A namespace without NS_GET_ID's id that did not change still makes diff() match by
    inode alone: an inode reused with another id is then no new namespace, as in the whole."""
    database = Database(str(tmp_path / "d.db"))
    kept = ns(NsType.UTS, 1)
    with database.writing() as conn:
        a = save(conn, snap(kept, ns(NsType.NET, 2, ns_id=1))).id
    with database.writing() as conn:
        later = snap(kept, ns(NsType.NET, 2, ns_id=2))
        b = save(conn, replace(later, taken_at="2026-01-01T00:00:01+00:00")).id
    with database.reading() as conn:
        whole = diff(load(conn, a), load(conn, b))
        assert diff(*load_difference(conn, a, b)) == whole
    assert not whole.created and not whole.vanished
