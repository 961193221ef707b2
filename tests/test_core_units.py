"""In-process tests of the diff engine, escaping, retention and the CLI's exit-code mapping."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from factories import kernel_report, ns, restriction, snap

from nsaudit.analysis.diff import (
    COMPARED_FIELDS,
    NOISE_FIELDS,
    Change,
    SnapshotDiff,
    capability_changes,
    diff,
    facts,
    without,
)
from nsaudit.cli import _hoist_shared, _without_debug, main
from nsaudit.errors import DatabaseError
from nsaudit.kernel.report import report
from nsaudit.model import (
    Answer,
    CapabilityReport,
    Container,
    Holder,
    HostInfo,
    KconfigOption,
    Namespace,
    NsType,
    Outcome,
    RuleResult,
    Snapshot,
    Status,
    Unprivileged,
)
from nsaudit.render import Document, Table
from nsaudit.render.escape import csv_cell, markdown_cell, terminal
from nsaudit.store import evaluations, retention
from nsaudit.store.database import Database
from nsaudit.store.snapshots import load, save

# --- nsaudit.diff, from README "nsaudit diff" -------------------------------------------------

# "a change of process count or of the representative process alone (nprocs, pid, ppid,
# pid_start, parent_command) is routine on a live host"
README_NOISE = ("nprocs", "pid", "ppid", "pid_start", "parent_command")
README_SIGNAL = (
    "command", "cmdline", "exe", "uid", "user", "holders", "parent", "owner", "owner_uid",
    "container",
)  # fmt: skip
OTHER_USER = ns(NsType.USER, 900).id


def changed_value(field: str, value: object) -> object:
    if field in ("parent", "owner"):
        return OTHER_USER
    if field == "holders":
        return (Holder("fd", pid=7, fd=3),)
    if isinstance(value, str):
        return value + "-x"
    return 4242


def test_the_noise_fields_are_the_readmes() -> None:
    assert frozenset(README_NOISE) == NOISE_FIELDS
    assert set(COMPARED_FIELDS) == set(README_NOISE + README_SIGNAL)


@pytest.mark.parametrize("field", README_NOISE + README_SIGNAL)
def test_each_field_alone_is_noise_or_signal_as_the_readme_says(field: str) -> None:
    old = replace(ns(NsType.NET, 1, nprocs=2), pid_start=10, ppid=1, parent_command="systemd")
    old = replace(old, cmdline="sleep 9", owner_uid=0, exe="/usr/bin/sleep")
    new = replace(old, **{field: changed_value(field, getattr(old, field))})
    d = diff(snap(old), snap(new))
    (change,) = d.changed
    assert change.fields == (field,)
    assert change.noise is (field in README_NOISE)
    assert d.noise == ((change,) if field in README_NOISE else ())
    assert d.signal == (() if field in README_NOISE else (change,))
    assert d.differs is (field not in README_NOISE)
    assert not d.created and not d.vanished and not d.rebooted


def test_every_noise_field_at_once_is_still_noise() -> None:
    old = replace(ns(NsType.NET, 1, nprocs=2), pid_start=10, ppid=1, parent_command="systemd")
    new = replace(old, nprocs=3, pid=555, ppid=2, pid_start=11, parent_command="init")
    (change,) = diff(snap(old), snap(new)).changed
    assert set(change.fields) == set(README_NOISE)
    assert change.noise
    assert not diff(snap(old), snap(new)).differs


def test_noise_with_one_signal_field_is_signal() -> None:
    old = ns(NsType.NET, 1, nprocs=2)
    new = replace(old, nprocs=3, user="alice")
    d = diff(snap(old), snap(new))
    assert d.changed[0].fields == ("nprocs", "user")
    assert not d.changed[0].noise and d.differs


def test_a_change_of_holders_only_is_signal() -> None:
    old = ns(NsType.NET, 1, nprocs=1)
    new = replace(old, holders=(Holder("mount", path="/run/netns/a"),))
    d = diff(snap(old), snap(new))
    assert d.changed[0].fields == ("holders",) and d.differs


@pytest.mark.parametrize("what", ["created", "vanished", "capabilities"])
def test_each_kind_of_difference_alone_makes_a_diff_differ(what: str) -> None:
    a = ns(NsType.NET, 1)
    if what == "created":
        d = diff(snap(), snap(a))
        assert d.created == (a,) and not d.vanished
    elif what == "vanished":
        d = diff(snap(a), snap())
        assert d.vanished == (a,) and not d.created
    else:
        d = diff(snap(caps=kernel_report("6.1")), snap(caps=kernel_report("6.2")))
        assert [(c.key, c.old, c.new) for c in d.capabilities] == [("kernel.release", "6.1", "6.2")]
    assert d.differs


def test_created_vanished_and_changed_are_sorted_by_identity() -> None:
    old = [ns(NsType.UTS, 7), ns(NsType.NET, 9), ns(NsType.NET, 2), ns(NsType.IPC, 50)]
    new = [ns(NsType.USER, 3), ns(NsType.CGROUP, 8), ns(NsType.NET, 4)]
    both = [ns(NsType.PID, 30, nprocs=1), ns(NsType.MNT, 31, nprocs=1), ns(NsType.MNT, 5, nprocs=1)]
    bumped = [replace(n, user="alice") for n in both]
    d = diff(snap(*old, *both), snap(*bumped, *new))
    assert [(n.id.type.value, n.id.inode) for n in d.created] == [
        ("cgroup", 8),
        ("net", 4),
        ("user", 3),
    ]
    assert [(n.id.type.value, n.id.inode) for n in d.vanished] == [
        ("ipc", 50),
        ("net", 2),
        ("net", 9),
        ("uts", 7),
    ]
    assert [(c.new.id.type.value, c.new.id.inode) for c in d.changed] == [
        ("mnt", 5),
        ("mnt", 31),
        ("pid", 30),
    ]


def test_sorted_by_device_before_inode() -> None:
    low_dev = ns(NsType.NET, 9)
    high_dev = replace(ns(NsType.NET, 1), id=replace(ns(NsType.NET, 1).id, dev=5))
    assert diff(snap(), snap(high_dev, low_dev)).created == (low_dev, high_dev)


def test_same_inode_on_another_device_is_another_namespace() -> None:
    a = ns(NsType.NET, 1)
    b = replace(a, id=replace(a.id, dev=5))
    d = diff(snap(a), snap(b))
    assert d.created == (b,) and d.vanished == (a,)


def test_sorted_by_ns_id_when_an_inode_is_reused_twice() -> None:
    old = [ns(NsType.NET, 1, ns_id=20)]
    new = [ns(NsType.NET, 1, ns_id=30), ns(NsType.NET, 2, ns_id=10)]
    d = diff(snap(*old), snap(*new))
    assert [n.ns_id for n in d.created] == [30, 10]


def test_type_filter_keeps_only_that_type() -> None:
    old = snap(ns(NsType.NET, 1), ns(NsType.UTS, 2))
    new = snap(ns(NsType.NET, 3), ns(NsType.UTS, 4))
    d = diff(old, new, "net")
    assert [n.id.inode for n in d.created] == [3]
    assert [n.id.inode for n in d.vanished] == [1]
    both = diff(old, new)
    assert [n.id.inode for n in both.created] == [3, 4]


@pytest.mark.parametrize("boots", [(None, "b"), ("a", None), (None, None), ("", "b")])
def test_a_missing_boot_id_is_not_a_reboot(boots: tuple[str | None, str | None]) -> None:
    def with_boot(s: object, boot: str | None) -> object:
        return replace(s, host=HostInfo("h", "m", boot, "6.1"))  # type: ignore[type-var]

    a, b = (
        with_boot(snap(ns(NsType.NET, 1)), boots[0]),
        with_boot(snap(ns(NsType.NET, 2)), boots[1]),
    )
    d = diff(a, b)  # type: ignore[arg-type]
    assert not d.rebooted
    assert [n.id.inode for n in d.created] == [2]


def test_a_reboot_says_so_and_lists_no_changes() -> None:
    a = snap(ns(NsType.NET, 1, nprocs=1), caps=kernel_report("6.1"))
    b = snap(ns(NsType.NET, 1, nprocs=3), boot="boot-2", caps=kernel_report("6.2"))
    d = diff(a, b)
    assert d.rebooted and not d.created and not d.vanished and d.changed == ()
    assert [c.key for c in d.capabilities] == ["kernel.release"]
    assert d.hidden == 0


def test_a_reboot_matches_bind_mount_paths_as_shape() -> None:
    mount = (Holder("mount", path="/run/netns/a"),)
    other = (Holder("mount", path="/run/netns/b"),)
    fd = (Holder("fd", pid=9, fd=4),)
    old = snap(ns(NsType.NET, 1, holders=mount), ns(NsType.NET, 2, holders=fd))
    new = snap(ns(NsType.NET, 11, holders=other), ns(NsType.NET, 12), boot="boot-2")
    d = diff(old, new)
    # an fd holder is not part of the shape; a bind-mount path is
    assert [n.id.inode for n in d.created] == [11]
    assert [n.id.inode for n in d.vanished] == [1]


def test_a_reboot_takes_the_newest_of_namespaces_of_one_shape() -> None:
    old = snap(ns(NsType.NET, 1))
    new = snap(ns(NsType.NET, 30), ns(NsType.NET, 10), ns(NsType.NET, 20), boot="boot-2")
    d = diff(old, new)
    # two more "net sleep root" than before: the two with the highest inodes, in order
    assert [n.id.inode for n in d.created] == [20, 30]
    assert d.vanished == ()
    d = diff(new, snap(ns(NsType.NET, 5)))
    assert [n.id.inode for n in d.vanished] == [20, 30]


def test_a_reboot_with_the_same_shapes_differs_in_nothing() -> None:
    old = snap(ns(NsType.NET, 1), ns(NsType.NET, 2), ns(NsType.UTS, 3, command="bash"))
    new = snap(ns(NsType.NET, 7), ns(NsType.NET, 8), ns(NsType.UTS, 9, command="bash"), boot="b2")
    d = diff(old, new)
    assert d.rebooted and d.created == () and d.vanished == () and not d.differs


def test_notes_say_the_change_in_words() -> None:
    holders = (Holder("mount", path="/run/netns/blue"), Holder("fd", pid=77, fd=3))
    alive = ns(NsType.NET, 1, nprocs=2, holders=holders)
    dead = replace(alive, nprocs=0, pid=None)

    def note(a: Namespace, b: Namespace) -> str | None:
        (change,) = diff(snap(a), snap(b)).changed
        return change.note

    assert note(alive, dead) == "lost its last process; still held by mount /run/netns/blue, fd 77"
    assert note(dead, alive) == "has processes again"
    assert note(alive, replace(alive, holders=())) == "no longer held by an fd or mount"
    assert note(dead, replace(dead, holders=holders[:1])) is None
    assert note(alive, replace(alive, nprocs=5)) is None
    # no holders left at all: vanished would say it; as a change it has no words for it
    assert note(alive, replace(dead, holders=())) == "no longer held by an fd or mount"
    assert note(replace(alive, holders=()), replace(dead, holders=())) is None


REPORT = kernel_report(
    sysctls=(restriction("user.max_user_namespaces", "100"),),
    user={
        "status": Status.AVAILABLE,
        "present": True,
        "limit": 100,
        "config": (KconfigOption("CONFIG_USER_NS", "y"), KconfigOption("CONFIG_NAMESPACES", "y")),
        "unprivileged": Answer(Unprivileged.YES, "r"),
    },
    time={"status": Status.MISSING},
)


def test_facts_flatten_a_detect_report_to_the_readmes_keys() -> None:
    got = facts(REPORT)
    assert {
        k: v
        for k, v in got.items()
        if k.split(".")[1] not in ("cgroup", "ipc", "mnt", "net", "pid", "uts")
    } == {
        "kernel.release": "6.1.0",
        "kconfig.path": "/boot/config-6.1.0",
        "types.user.status": "available",
        "types.user.present": True,
        "types.user.limit": 100,
        "types.user.config.CONFIG_USER_NS": "y",
        "types.user.config.CONFIG_NAMESPACES": "y",
        "types.user.unprivileged": "yes",
        "types.time.status": "missing",
        "types.time.present": None,
        "types.time.limit": None,
        "types.time.unprivileged": "unknown",
        "sysctl.user.max_user_namespaces": "100",
    }
    # a type without config options has the four keys every type has
    assert {k: v for k, v in got.items() if k.startswith("types.net.")} == {
        "types.net.status": "unknown",
        "types.net.present": None,
        "types.net.limit": None,
        "types.net.unprivileged": "unknown",
    }


def test_facts_of_no_report_are_none() -> None:
    assert facts(None) == {}


def test_capability_changes_are_sorted_and_name_old_and_new() -> None:
    new = report(replace(REPORT.value, release="6.2.0", kconfig=None, restrictions=()))
    changes = [(c.key, c.old, c.new) for c in capability_changes(REPORT, new)]
    assert changes == [
        ("kconfig.path", "/boot/config-6.1.0", None),
        ("kernel.release", "6.1.0", "6.2.0"),
        ("sysctl.user.max_user_namespaces", "100", None),
    ]
    assert capability_changes(REPORT, REPORT) == []


def test_missing_capabilities_compare_as_empty_reports() -> None:
    caps = kernel_report(kconfig="/proc/config.gz")
    known = sorted((k, v) for k, v in facts(caps).items() if v is not None)
    assert ("kconfig.path", "/proc/config.gz") in known
    d = diff(snap(caps=None), snap(caps=caps))
    assert [(c.key, c.old, c.new) for c in d.capabilities] == [(k, None, v) for k, v in known]
    d = diff(snap(caps=caps), snap(caps=None))
    assert [(c.key, c.old, c.new) for c in d.capabilities] == [(k, v, None) for k, v in known]


def test_without_leaves_out_what_an_ignore_rule_matches_and_counts_it() -> None:
    keep, drop = ns(NsType.NET, 1), ns(NsType.NET, 2, command="containerd-shim")
    gone_keep, gone_drop = ns(NsType.UTS, 3), ns(NsType.UTS, 4, command="containerd-shim")
    c_keep = Change(ns(NsType.PID, 5), replace(ns(NsType.PID, 5), user="a"), ("user",), None)
    c_old = Change(
        ns(NsType.PID, 6, command="containerd-shim"), ns(NsType.PID, 6), ("command",), None
    )
    c_new = Change(
        ns(NsType.PID, 7), ns(NsType.PID, 7, command="containerd-shim"), ("command",), None
    )
    d = SnapshotDiff(False, (keep, drop), (gone_keep, gone_drop), (c_keep, c_old, c_new), (), 2)

    def shim(n: Namespace) -> bool:
        return n.command == "containerd-shim"

    w = without(d, shim)
    assert w.created == (keep,) and w.vanished == (gone_keep,) and w.changed == (c_keep,)
    assert w.hidden == 2 + 4
    assert w.rebooted is False and w.capabilities == ()
    nothing = without(d, lambda n: False)
    assert nothing == d


# --- nsaudit.render.escape, from README "Untrusted text" --------------------------------------


# Unicode's explicit directional formatting characters (UAX #9, section 2): embeddings,
# overrides, isolates, their terminators, and the implicit marks LRM, RLM and ALM.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("ch", list(BIDI))
def test_every_bidi_control_is_shown_as_an_escape(ch: str) -> None:
    assert terminal(f"a{ch}b") == f"a\\u{ord(ch):04x}b"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, with spaces: ÿ é 名", "plain text, with spaces: ÿ é 名"),
        ("XX", "XX"),
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\tb", "a\\tb"),
        ("a\\b", "a\\\\b"),
        ("\\xff", "\\\\xff"),
        ("\x00\x01\x1b\x7f", "\\x00\\x01\\x1b\\x7f"),
        ("\x85\x9b\xa0\xad", "\\x85\\x9b\\xa0\\xad"),
        ("\u2028\u2029\ufeff", "\\u2028\\u2029\\ufeff"),
        ("\udc80\udcff", "\\x80\\xff"),
        # a lone surrogate that surrogateescape never makes: not a byte, shown as itself
        ("\udc7f\udd00", "\\udc7f\\udd00"),
        ("\ue000\uffff", "\\ue000\\uffff"),
        ("\U000e0001\U0010ffff", "\\U000e0001\\U0010ffff"),
    ],
)
def test_terminal_escapes_exactly(text: str, shown: str) -> None:
    assert terminal(text) == shown


def test_a_character_beyond_the_bmp_is_told_from_a_bmp_one_and_a_digit() -> None:
    # Found by this test: both were once shown as \ue0001.
    assert terminal("\U000e0001") != terminal("\ue000" + "1")


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-x", "'-x"),
        ("+", "'+"),
        ("=", "'="),
        # numbers a spreadsheet reads as numbers anyway stay numbers
        ("-1", "-1"),
        ("+42", "+42"),
        ("-2.25", "-2.25"),
        ("12", "12"),
        ("-1.", "'-1."),
        ("-.5", "'-.5"),
        ("-1.5x", "'-1.5x"),
        ("-1\n", "'-1\\n"),
        ("x-1", "x-1"),
        # controls are escaped first: the cell starts with a backslash, which runs nothing
        ("\t=1", "\\t=1"),
        ("\r=1", "\\r=1"),
        ("safe", "safe"),
    ],
)
def test_csv_cells(text: str, cell: str) -> None:
    assert csv_cell(text) == cell


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("a\\b", "a\\\\\\\\b"),
        ("`x`", "\\`x\\`"),
        ("*x*", "\\*x\\*"),
        ("[x]", "\\[x\\]"),
        ("<x>", "\\<x\\>"),
        ("a|b", "a\\|b"),
        ("~x~", "\\~x\\~"),
        ("&amp;", "\\&amp;"),
        ("_x_", "\\_x\\_"),
        ("a_b Z_z 9_9", "a_b Z_z 9_9"),
        ("a _b", "a \\_b"),
        ("b_ a", "b\\_ a"),
        ("#x", "\\#x"),
        ("+x", "\\+x"),
        ("-x", "\\-x"),
        ("=x", "\\=x"),
        (">x", "\\>x"),
        (".x", "\\.x"),
        (")x", "\\)x"),
        ("12) x", "12\\) x"),
        ("3. x", "3\\. x"),
        ("a # + - = . ) x", "a # + - = . ) x"),
        ("  x", "&nbsp;&nbsp;x"),
        ("XX x", "XX x"),
        ("    - x", "&nbsp;&nbsp;&nbsp;&nbsp;- x"),
        ("x  ", "x  "),
        ("a\nb", "a\\\\nb"),
    ],
)
def test_markdown_cells(text: str, cell: str) -> None:
    assert markdown_cell(text) == cell


# --- nsaudit.store.retention, from README "nsaudit prune" and "nsaudit hosts" ------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """The store's tests run on an SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        db = Database(str(tmp_path / "ns.db"))
    else:
        from conftest import new_postgres_database

        url = request.getfixturevalue("postgres_url")
        db = Database(new_postgres_database(url, f"units_{secrets.token_hex(4)}"))
    yield db
    db.dispose()


def sql(db: Database, statement: str, **params: object) -> list[tuple[Any, ...]]:
    """A statement on the database, in a transaction of its own (a read-only one for a
    SELECT, which another transaction may be open beside): the rows it returned."""
    from sqlalchemy import text

    opened = db.reading() if statement.startswith("SELECT") else db.writing()
    with opened as conn:
        found = conn.execute(text(statement), params)
        return [tuple(r) for r in found] if found.returns_rows else []


def day(n: int) -> str:
    return f"2025-01-{n:02d}T00:00:00+00:00"


def store(
    db: Database,
    hostname: str,
    when: str,
    *namespaces: Namespace,
    caps: CapabilityReport | None = None,
    containers: tuple[Container, ...] | None = None,
) -> int:
    s = replace(
        snap(*namespaces, caps=caps),
        taken_at=when,
        host=HostInfo(hostname, "machine-" + hostname, "boot-1", "6.1"),
        containers=containers,
    )
    with db.writing() as conn:
        saved = save(conn, s)
    return int(saved.id)


def count(db: Database, table: str) -> int:
    return int(sql(db, f"SELECT count(*) FROM {table}")[0][0])


def check_result(outcome: Outcome) -> RuleResult:
    return RuleResult("r1", "t", "high", (), outcome, "s", (), None)


def loaded(db: Database, ids: list[int]) -> dict[int, Snapshot]:
    with db.reading() as conn:
        return {i: load(conn, i) for i in ids}


def four_snapshots(db: Database, hostname: str = "web") -> list[int]:
    """Seq 1..4 on days 1..4: A lives throughout, B only in 1, C only in 2, D from 3, and E
    changes its user at 2. States: A, B, C, D, E@1, E@2."""
    a, b, c, d = ns(NsType.NET, 1), ns(NsType.NET, 2), ns(NsType.NET, 3), ns(NsType.NET, 4)
    e1 = ns(NsType.UTS, 5)
    e2 = replace(e1, user="alice")
    return [
        store(db, hostname, day(1), a, b, e1, caps=kernel_report("6.1")),
        store(db, hostname, day(2), a, c, e2, caps=kernel_report("6.2")),
        store(db, hostname, day(3), a, d, e2, caps=kernel_report("6.3")),
        store(db, hostname, day(4), a, d, e2),
    ]


def test_prune_deletes_old_snapshots_and_only_their_states(database: Database) -> None:
    ids = four_snapshots(database)
    assert count(database, "ns_states") == 6
    before = loaded(database, ids[2:])
    with database.writing() as conn:
        pruned = retention.prune(conn, day(10), 2)
    # B, C and E's first state served only seq 1 and 2; C ended where seq 3 begins
    assert pruned == retention.Pruned(snapshots=2, states=3, kept=2, checks=0)
    assert count(database, "ns_states") == 3
    assert count(database, "snapshots") == 2
    assert loaded(database, ids[2:]) == before
    # the capability reports only seq 1 and 2 used are gone; seq 3's stays
    assert count(database, "capability_reports") == 1


def _container(name: str) -> Container:
    return Container(
        id=name * 16, runtime="podman", name=name, image=None, pod_namespace=None,
        pod_name=None, pod_uid=None, pid=9, shim="conmon", namespaces=(), source=None, note=None,
    )  # fmt: skip


def test_containers_are_stored_as_states_and_each_snapshot_loads_its_own(
    database: Database,
) -> None:
    a, b = _container("a"), _container("b")
    sets: list[tuple[Container, ...] | None] = [(a,), (a, b), None, (a, b), (b,), (a, b)]
    ids = [store(database, "web", day(n), ns(NsType.NET, 1), containers=c)
           for n, c in enumerate(sets, 1)]  # fmt: skip
    assert [s.containers for s in loaded(database, ids).values()] == sets
    # a from seq 1 to 5 (seq 3 recorded no containers: it ends nothing) and again from 6; b
    # from seq 2 on: a container that only lives on is one row, however many snapshots.
    assert count(database, "container_states") == 3


def test_prune_and_forget_drop_the_container_states_no_snapshot_uses(database: Database) -> None:
    a, b = (_container("a"),), (_container("b"),)
    web = [store(database, "web", day(n), ns(NsType.NET, 1), containers=sets)
           for n, sets in enumerate((a, a, b), 1)]  # fmt: skip
    store(database, "db", day(1), ns(NsType.NET, 2), containers=b)
    assert count(database, "container_states") == 3  # web's a and b, db's b
    with database.writing() as conn:
        retention.prune(conn, day(10), 1)
    assert count(database, "container_states") == 2  # web's seq 1 and 2 used a alone
    assert loaded(database, [web[2]])[web[2]].containers == b
    with database.writing() as conn:
        retention.forget(conn, host_id(database, "web"))
    assert count(database, "container_states") == 1  # db's snapshot still has b
    with database.writing() as conn:
        retention.forget(conn, host_id(database, "db"))
    assert count(database, "container_states") == 0


def test_prune_keeps_at_least_the_newest_snapshot(database: Database) -> None:
    ids = four_snapshots(database)
    with database.writing() as conn:
        assert retention.prune(conn, day(10), 0).kept == 1
    with database.writing() as conn:
        assert retention.prune(conn, day(10), 1) == retention.Pruned(0, 0, 1, 0)
    assert loaded(database, ids[3:])[ids[3]].namespaces
    assert count(database, "ns_states") == 3  # A, D, E@2
    assert count(database, "capability_reports") == 0


def test_prune_keeps_every_snapshot_of_a_host_with_fewer_than_keep_last(
    database: Database,
) -> None:
    ids = four_snapshots(database)
    with database.writing() as conn:
        assert retention.prune(conn, day(10), 5) == retention.Pruned(0, 0, 4, 0)
    assert len(loaded(database, ids)) == 4
    with database.writing() as conn:
        assert retention.prune(conn, day(10), 3).snapshots == 1
    assert count(database, "snapshots") == 3


def test_prune_of_seqs_out_of_time_order_keeps_every_remaining_snapshot_whole(
    database: Database,
) -> None:
    """A database written before nsaudit kept seq order in time order: seq 3 older than 2."""
    ids = four_snapshots(database)
    before = loaded(database, ids)
    sql(database, "UPDATE snapshots SET taken_at = :t WHERE seq = 3", t=day(0))
    with database.writing() as conn:
        assert retention.prune(conn, day(2), 1).snapshots == 2  # seq 1 and 3
    assert loaded(database, [ids[1], ids[3]]) == {i: before[i] for i in (ids[1], ids[3])}
    assert count(database, "ns_states") == 4  # A, C, D, E@2


def test_prune_keeps_what_is_not_older_than_the_cutoff(database: Database) -> None:
    four_snapshots(database)
    with database.writing() as conn:
        # "taken longer ago than DURATION": a snapshot taken at the cutoff itself stays
        pruned = retention.prune(conn, day(2), 1)
    assert pruned == retention.Pruned(snapshots=1, states=2, kept=3, checks=0)  # B, E@1


def test_prune_counts_the_newest_per_host(database: Database) -> None:
    four_snapshots(database, "web")
    store(database, "db", day(1), ns(NsType.NET, 50))
    store(database, "db", day(2), ns(NsType.NET, 51))
    with database.writing() as conn:
        pruned = retention.prune(conn, day(10), 2)
    assert (pruned.snapshots, pruned.kept) == (2, 4)
    rows = sql(
        database,
        "SELECT h.hostname, s.seq FROM snapshots s JOIN hosts h ON h.id = s.host_id"
        " ORDER BY h.hostname, s.seq",
    )
    assert rows == [("db", 1), ("db", 2), ("web", 3), ("web", 4)]


def test_prune_keeps_a_capability_report_no_snapshot_left_needs_only_if_used(
    database: Database,
) -> None:
    same = kernel_report("6.1")
    store(database, "web", day(1), ns(NsType.NET, 1), caps=same)
    store(database, "web", day(2), ns(NsType.NET, 1))
    store(database, "web", day(3), ns(NsType.NET, 1), caps=same)
    with database.writing() as conn:
        retention.prune(conn, day(10), 1)
    assert count(database, "capability_reports") == 1


def test_prune_drops_old_check_records_but_each_hosts_last_of_each_policy(
    database: Database,
) -> None:
    web = four_snapshots(database, "web")
    db1 = store(database, "db", day(1), ns(NsType.NET, 50))
    with database.writing() as conn:
        for i, sid in enumerate(web):
            for policy in ("base", "strict"):
                evaluations.record(
                    conn, sid, policy, "0" * 64, day(i + 1), (check_result(Outcome.PASS),)
                )
        evaluations.record(conn, db1, "base", "0" * 64, day(1), (check_result(Outcome.FAIL),))
        evaluations.record(conn, db1, "base", "0" * 64, day(3), (check_result(Outcome.FAIL),))
    with database.writing() as conn:
        # checks of day 1 and 2 are older than day 3; web's day-4 checks and db's day-3 one
        # are each the last of their host and policy, and stay anyway
        pruned = retention.prune(conn, day(3), 4)
    assert pruned.checks == 2 + 2 + 1
    left = sql(
        database,
        "SELECT h.hostname, c.policy_name, c.checked_at FROM policy_checks c"
        " JOIN hosts h ON h.id = c.host_id ORDER BY 1, 2, 3",
    )
    assert left == [
        ("db", "base", day(3)),
        ("web", "base", day(3)),
        ("web", "base", day(4)),
        ("web", "strict", day(3)),
        ("web", "strict", day(4)),
    ]
    with database.writing() as conn:
        assert retention.prune(conn, day(30), 4).checks == 2
    assert count(database, "policy_checks") == 3


def host_id(database: Database, hostname: str) -> int:
    return int(sql(database, "SELECT id FROM hosts WHERE hostname = :h", h=hostname)[0][0])


def test_forget_removes_one_host_whole_and_nothing_of_another(database: Database) -> None:
    web = four_snapshots(database, "web")
    shared = kernel_report("6.3")  # the same report as web's seq 3: each host has its own
    other = store(database, "db", day(1), ns(NsType.NET, 50), ns(NsType.NET, 51), caps=shared)
    with database.writing() as conn:
        evaluations.record(conn, web[0], "base", "0" * 64, day(1), (check_result(Outcome.PASS),))
        evaluations.record(conn, web[1], "base", "0" * 64, day(2), (check_result(Outcome.PASS),))
        evaluations.record(conn, other, "base", "0" * 64, day(1), (check_result(Outcome.PASS),))
    before = loaded(database, [other])
    assert count(database, "capability_reports") == 4
    with database.reading() as conn:
        assert retention.host_counts(conn, host_id(database, "web")) == retention.Forgotten(4, 6, 2)
        assert retention.host_counts(conn, host_id(database, "db")) == retention.Forgotten(1, 2, 1)
    with database.writing() as conn:
        removed = retention.forget(conn, host_id(database, "web"))
    assert removed == retention.Forgotten(snapshots=4, states=6, checks=2)
    assert loaded(database, [other]) == before
    assert [count(database, t) for t in ("hosts", "snapshots", "ns_states", "policy_checks")] == [
        1,
        1,
        2,
        1,
    ]
    assert count(database, "capability_reports") == 1


# --- nsaudit.cli.main, in-process, from README "Exit codes" and "Options every command shares" -


DEBIAN = "samples/roots/debian10-no-timens"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nsaudit: error: ")
    return lines[0].removeprefix("nsaudit: error: ")


def test_a_command_that_works_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--root", DEBIAN, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["schema"] == "nsaudit.detect/1" and report["root"].endswith(DEBIAN)
    assert err == ""


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "nsaudit, version 0.1.0\n"
    assert main(["detect", "--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage: nsaudit detect [OPTIONS]")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "--bogus"], "No such option '--bogus'. (see 'nsaudit detect --help')"),
        (["nosuch"], "No such command 'nosuch'. (see 'nsaudit --help')"),
        (
            ["detect", "--format", "xml"],
            "Invalid value for '--format': 'xml' is not one of 'table', 'json', 'markdown', "
            "'csv'. (see 'nsaudit detect --help')",
        ),
        (["detect", "--root"], "Option '--root' requires an argument."),
        # --debug is main()'s: it is not the value of --root
        (["detect", "--root", "--debug"], "Option '--root' requires an argument."),
        (
            ["detect", "--root", "/nonexistent"],
            "--root '/nonexistent' does not exist; give the directory of a host tree",
        ),
        (
            ["--db", "x.db", "detect"],
            "nsaudit detect does not take --db (see 'nsaudit detect --help')",
        ),
        (
            ["--config=x.toml", "detect"],
            "nsaudit detect does not take --config (see 'nsaudit detect --help')",
        ),
        (
            ["--wide", "prune", "--older-than", "1d"],
            "nsaudit prune does not take --wide (see 'nsaudit prune --help')",
        ),
        (
            ["--root", DEBIAN, "db", "check"],
            "nsaudit db check does not take --root (see 'nsaudit db check --help')",
        ),
        (["--color=yes", "detect"], "No such option '--color'. (see 'nsaudit --help')"),
        (["--wide"], "No such option '--wide'. Did you mean '--debug'? (see 'nsaudit --help')"),
        (
            ["--wide", "nosuch"],
            "No such option '--wide'. Did you mean '--debug'? (see 'nsaudit --help')",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    assert one_error_line(capsys) == message


@pytest.mark.parametrize(
    ("args", "usage"), [([], "Usage: nsaudit [OPTIONS]"), (["db"], "Usage: nsaudit db [OPTIONS]")]
)
def test_a_group_without_its_command_prints_help_and_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], usage: str
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out.startswith(usage) and "Commands:" in out
    assert err == ""
    assert main([*args, "--help"]) == 0
    assert capsys.readouterr() == (out, "")


def test_shared_options_before_the_command_work_as_after_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    after = ["detect", "--root", DEBIAN, "--format=json", "--no-color", "--wide"]
    assert main(after) == 0
    expected = capsys.readouterr().out
    assert main(["--root", DEBIAN, "--format=json", "--no-color", "--wide", "detect"]) == 0
    assert capsys.readouterr().out == expected
    assert main(["--format", "json", "detect", "--root", DEBIAN]) == 0
    assert capsys.readouterr().out == expected


def test_hoisting_moves_shared_options_after_the_whole_command_path() -> None:
    assert _hoist_shared(["--db", "x", "hosts", "forget", "h"]) == [
        "hosts",
        "forget",
        "--db",
        "x",
        "h",
    ]
    assert _hoist_shared(["--db=x", "--wide", "hosts"]) == ["hosts", "--db=x", "--wide"]
    assert _hoist_shared(["--db=a=b.db", "--no-color", "--wide", "hosts"]) == [
        "hosts",
        "--db=a=b.db",
        "--no-color",
        "--wide",
    ]
    assert _hoist_shared(["--color", "--root", "r", "detect", "-h"]) == [
        "detect",
        "--color",
        "--root",
        "r",
        "-h",
    ]
    # nothing before the command, or no command: left for click to judge
    assert _hoist_shared(["detect", "--db", "x"]) == ["detect", "--db", "x"]
    assert _hoist_shared(["--db", "x"]) == ["--db", "x"]
    assert _hoist_shared(["--wide", "--bogus", "detect"]) == ["--wide", "--bogus", "detect"]


def test_debug_is_taken_anywhere_before_a_double_dash() -> None:
    assert _without_debug(["--debug", "detect"]) == (["detect"], True)
    assert _without_debug(["detect", "--debug", "--wide"]) == (["detect", "--wide"], True)
    assert _without_debug(["import", "--", "--debug"]) == (["import", "--", "--debug"], False)
    assert _without_debug(["import", "--debug", "--", "--debug"]) == (
        ["import", "--", "--debug"],
        True,
    )
    assert _without_debug(["detect"]) == (["detect"], False)


def test_a_host_that_cannot_be_read_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["snapshot", "--no-store", "--root", str(tmp_path)]) == 3
    assert one_error_line(capsys) == f"{tmp_path}/proc cannot be read: No such file or directory"


def test_a_database_error_exits_4_and_with_debug_raises(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "none.db"
    assert main(["snapshots", "--db", str(missing)]) == 4
    assert one_error_line(capsys) == (
        f"no database at {missing}: take a snapshot with `nsaudit snapshot --db {missing}`, "
        "or give the right --db (or $NSAUDIT_DB)"
    )
    with pytest.raises(DatabaseError, match="no database at"):
        main(["snapshots", "--debug", "--db", str(missing)])
    assert capsys.readouterr().err == ""


def test_an_error_message_is_escaped_as_untrusted_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "a\x1b[2Jb\nc.db"
    assert main(["snapshots", "--db", str(missing)]) == 4
    line = one_error_line(capsys)
    assert "a\\x1b[2Jb\\nc.db" in line and "\x1b" not in line


def test_an_internal_error_exits_70_with_one_line_and_with_debug_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A NUL cannot come from a real command line; passed to main() it fails deep in os.stat.
    assert main(["detect", "--root", "a\0b"]) == 70
    assert one_error_line(capsys) == (
        "internal error: ValueError: embedded null byte (run again with --debug for details)"
    )
    with pytest.raises(ValueError, match="embedded null byte"):
        main(["--debug", "detect", "--root", "a\0b"])
    assert capsys.readouterr().err == ""


def test_output_that_cannot_be_written_exits_5(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        assert main(["detect", "--root", DEBIAN]) == 5
        monkeypatch.undo()
    assert one_error_line(capsys) == (
        "standard output could not be written: no space left on device"
    )


def test_a_reader_that_went_away_exits_141_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as pipe:
        monkeypatch.setattr(sys, "stdout", pipe)
        assert main(["detect", "--root", DEBIAN]) == 141
        monkeypatch.undo()
        # what was left in the buffer goes nowhere: closing does not fail again
    assert capsys.readouterr() == ("", "")


def test_without_debug_library_log_records_are_kept_from_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()

    def quiet() -> int:
        return sum(isinstance(h, logging.NullHandler) for h in root.handlers)

    before = quiet()
    try:
        main(["--version"])
        assert quiet() == before + 1
        main(["--version", "--debug"])
        assert quiet() == before + 1
    finally:
        for h in [h for h in root.handlers if isinstance(h, logging.NullHandler)]:
            root.removeHandler(h)
    capsys.readouterr()


def test_prune_deletes_more_states_than_one_statement_takes(database: Database) -> None:
    # Deleted 500 ids at a time (SQLite's old limit of 999 bound parameters): 1001 in three.
    many = [ns(NsType.NET, i) for i in range(1001)]
    store(database, "web", day(1), *many)
    last = store(database, "web", day(2), ns(NsType.NET, 5000))
    with database.writing() as conn:
        assert retention.prune(conn, day(10), 1) == retention.Pruned(1, 1001, 1, 0)
    assert count(database, "ns_states") == 1
    assert [n.id.inode for n in loaded(database, [last])[last].namespaces] == [5000]


def test_main_reads_the_command_line_without_an_argument(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["nsaudit", "--version"])
    assert main() == 0
    assert capsys.readouterr().out == "nsaudit, version 0.1.0\n"


def test_a_command_with_findings_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    # debian10-no-timens: a 4.19 kernel, older than time namespaces (5.6)
    assert main(["detect", "--root", DEBIAN, "--require", "time", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["types"][5]["type"] == "time"
    assert main(["detect", "--root", DEBIAN, "--require", "net", "--format", "json"]) == 0


def test_shell_completion_is_clicks_and_names_nsaudit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_NSAUDIT_COMPLETE", "bash_source")
    with pytest.raises(SystemExit) as exit_:
        main(["detect"])
    assert exit_.value.code == 0
    script = capsys.readouterr().out
    assert "_nsaudit_completion()" in script
    assert "_NSAUDIT_COMPLETE=bash_complete $1" in script
    assert "complete -o nosort -F _nsaudit_completion nsaudit" in script
    monkeypatch.setenv("_NSAUDIT_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "nsaudit hos")
    monkeypatch.setenv("COMP_CWORD", "1")
    with pytest.raises(SystemExit):
        main([])
    assert capsys.readouterr().out.split() == ["plain,hosts"]


def test_without_ns_ids_on_one_side_identity_is_type_device_inode() -> None:
    # "NS_GET_ID where both snapshots have it": here only NEW has it
    old, new = ns(NsType.NET, 1), ns(NsType.NET, 1, ns_id=7)
    d = diff(snap(old), snap(replace(new, user="alice")))
    assert d.created == () and d.vanished == ()
    (change,) = d.changed
    assert change.old == old and change.new == replace(new, user="alice")
    assert d.rebooted is False


def test_an_unchanged_namespace_does_not_end_the_comparison() -> None:
    same, moved = ns(NsType.NET, 1), ns(NsType.NET, 2)
    d = diff(snap(same, moved), snap(same, replace(moved, user="alice")))
    assert [c.new.id.inode for c in d.changed] == [2]


def test_items_encode_as_the_list_they_stand_for() -> None:
    from nsaudit.render.document import Items
    from nsaudit.render.formats import JsonFormat

    for items in ([], [1], [{"b": 1, "a": [2, 3]}, "x\u001b"]):
        doc = Document("t", {"k": Items(iter(items)), "z": 0}, (), (), Table(None, (), ()))
        assert (
            JsonFormat().render(doc)
            == json.dumps({"k": items, "z": 0}, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
        )
