"""Bundle validation in-process, field by field, against README "nsaudit import" and its schemas.

Every expected message is written from the README's schema (`line N: PATH: expected WHAT, got
VALUE`): the path as the README names fields, the WHAT as its types and words say them.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nsaudit import __version__, bundle
from nsaudit.bundle import BundleError, SeqOrder
from nsaudit.hostfs import HostFS
from nsaudit.kernel import report
from nsaudit.kernel.detect import detect
from nsaudit.kernel.report import encode
from nsaudit.model import (
    Container,
    Holder,
    HostInfo,
    Namespace,
    NamespaceId,
    NsType,
    ProbeResult,
    ProbeRun,
    ScanProblem,
    Snapshot,
)

ROOT = Path(__file__).resolve().parent.parent / "samples" / "roots" / "ubuntu2504-gzip-apparmor"
TYPES = "cgroup, ipc, mnt, net, pid, time, user, uts"
WHOLE = "a whole number from 0 to 2^63-1"
UNKNOWN = (
    f"unknown key; expected only the keys this nsaudit ({__version__}) knows, since it would "
    "drop this one: import with the nsaudit that wrote the bundle, or a newer one"
)
MISSING = object()  # a key taken out of the record


def capabilities() -> dict[str, Any]:
    """A real report of a fixture host, with a probe run and keys of a newer nsaudit."""
    caps: dict[str, Any] = json.loads(json.dumps(encode(detect(HostFS(ROOT)))))
    assert caps["kconfig"] is not None and caps["types"][0]["config"]
    caps["probes"] = [
        {
            "user": "nobody",
            "uid": 65534,
            "results": [
                {
                    "type": t,
                    "usable": t != "user",
                    "via": None if t == "user" else "user namespace",
                    "errno": "EPERM" if t == "user" else None,
                    "error": "Operation not permitted" if t == "user" else None,
                }
                for t in TYPES.split(", ")
            ],
        }
    ]
    caps["restrictions"][0]["value"] = None
    caps["warnings"] = ["a warning"]
    caps["future"] = {"deep": [1, {"x": None}]}
    caps["kernel"]["future"] = [1, 2]
    return caps


CONTAINER_ID = "74a919e59f1dab1706687cc245c2852c7e9f57bd2e6b97bc164a8fdd774eca12"


def ns_id(t: str, inode: int) -> NamespaceId:
    return NamespaceId(NsType(t), 4, inode)


def snapshot(seq: int = 1) -> Snapshot:
    """Every field populated, every nullable one null somewhere, every holder kind."""
    user0 = ns_id("user", 4026531837)
    namespaces = (
        Namespace(
            id=ns_id("cgroup", 4026531835),
            nprocs=3,
            pid=1,
            pid_start=123456,
            ppid=0,
            command="systemd",
            cmdline="/sbin/init splash",
            uid=0,
            user="root",
            ns_id=11,
            parent=None,
            owner=user0,
            owner_uid=None,
            holders=(Holder("fd", 7, 3, None),),
            parent_command="swapper",
        ),
        Namespace(
            id=ns_id("net", 4026532281),
            nprocs=0,
            pid=None,
            pid_start=None,
            ppid=None,
            command=None,
            cmdline=None,
            uid=None,
            user=None,
            ns_id=None,
            parent=None,
            owner=None,
            owner_uid=None,
            holders=(Holder("mount", None, None, "/run/netns/blue"),),
            parent_command=None,
            container=CONTAINER_ID,
        ),
        Namespace(
            id=ns_id("pid", 4026532300),
            nprocs=1,
            pid=42,
            pid_start=99,
            ppid=41,
            command="sh",
            cmdline="sh -c 'sleep 1'",
            uid=1000,
            user="alice",
            ns_id=2**63 - 1,
            parent=ns_id("pid", 4026531836),
            owner=user0,
            owner_uid=None,
            holders=(Holder("for_children", 41), Holder("thread", 43)),
            parent_command=None,
        ),
        Namespace(
            id=user0,
            nprocs=5,
            pid=1,
            pid_start=0,
            ppid=0,
            command="systemd",
            cmdline="",
            uid=0,
            user="root",
            ns_id=0,
            parent=None,
            owner=None,
            owner_uid=0,
            holders=(Holder("fd", 0, 0, "/proc/1/fd/0"), Holder("mount", 5, None, "/x")),
            parent_command=None,
        ),
        Namespace(
            id=ns_id("user", 4026532400),
            nprocs=1,
            pid=50,
            pid_start=1,
            ppid=49,
            command="unshare",
            cmdline="unshare -U",
            uid=1000,
            user=None,
            ns_id=None,
            parent=user0,
            owner=user0,
            owner_uid=1000,
            holders=(),
            parent_command=None,
        ),
    )
    return Snapshot(
        host=HostInfo("vm", "0123456789abcdef", "b00t", "6.14.0"),
        taken_at="2026-11-29T04:28:16.009838+00:00",
        nsaudit_version="0.1.0",
        label="nightly",
        duration_ms=7,
        threads=True,
        namespaces=namespaces,
        problems=(
            ScanProblem(1, "/proc/1/ns/cgroup", "EACCES"),
            ScanProblem(None, "/proc is mounted hidepid=invisible", "UNSEEN"),
        ),
        capabilities=report.decode(capabilities()),
        containers=(
            Container(
                id=CONTAINER_ID,
                runtime="podman",
                name="web-1",
                image="localhost/busybox:latest",
                pod_namespace=None,
                pod_name=None,
                pod_uid=None,
                pid=4100,
                shim="conmon",
                namespaces=(ns_id("net", 4026532281), user0),
                source="/var/lib/containers/storage/overlay-containers/containers.json",
                note=None,
            ),
        ),
        seq=seq,
    )


def plain(seq: int = 2) -> Snapshot:
    """The other variant: complete, no label, no host ids, no capabilities, no namespaces."""
    return Snapshot(
        host=HostInfo("vm", None, None, None),
        taken_at="2026-11-30T00:00:00.000000+00:00",
        nsaudit_version="0.1.0",
        label=None,
        duration_ms=0,
        threads=False,
        namespaces=(),
        problems=(),
        capabilities=None,
        seq=seq,
    )


def written(*snaps: Snapshot) -> list[str]:
    out = io.StringIO()
    assert bundle.write(snaps, (), out) == bundle.Totals(snapshots=len(snaps))
    return out.getvalue().splitlines(keepends=True)


def lines(*items: Any) -> bytes:
    return b"".join(
        i if isinstance(i, bytes) else (i if isinstance(i, str) else json.dumps(i) + "\n").encode()
        for i in items
    )


def read(data: bytes) -> list[tuple[int, bundle.Record]]:
    return list(bundle.records(io.BytesIO(data)))


def error(data: bytes) -> str:
    with pytest.raises(BundleError) as e:
        read(data)
    return str(e.value)


HEADER = {"schema": "nsaudit.bundle/1", "nsaudit_version": "0.1.0"}
TRAILER1 = {"end": "nsaudit.bundle/1", "snapshots": 1}


def record() -> dict[str, Any]:
    line = written(snapshot())[1]
    value: dict[str, Any] = json.loads(line)
    return value


BASE = record()


def with_value(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    rec = copy.deepcopy(BASE)
    where: Any = rec
    for key in path[:-1]:
        where = where[key]
    if value is MISSING:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return rec


def bad(path: tuple[str | int, ...], value: Any) -> str:
    return error(lines(HEADER, with_value(path, value), TRAILER1))


def good(path: tuple[str | int, ...], value: Any) -> Snapshot:
    ((number, snap),) = read(lines(HEADER, with_value(path, value), TRAILER1))
    assert number == 2
    return snap


def shown(path: tuple[str | int, ...]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


# --- round trips -------------------------------------------------------------------------


def test_round_trip_every_field_and_variant() -> None:
    snaps = (snapshot(1), plain(2))
    text = written(*snaps)
    assert json.loads(text[0]) == {"schema": "nsaudit.bundle/1", "nsaudit_version": __version__}
    # No watcher runs: the trailer an older nsaudit reads
    assert json.loads(text[-1]) == {"end": "nsaudit.bundle/1", "snapshots": 2}
    assert [n for n, _ in read("".join(text).encode())] == [2, 3]
    assert [s for _, s in read("".join(text).encode())] == list(snaps)
    # the newer nsaudit's keys inside capabilities are kept as written
    back = read("".join(text).encode())[0][1]
    assert back.capabilities is not None
    assert back.capabilities.document["future"] == {"deep": [1, {"x": None}]}
    assert back.capabilities.document["kernel"]["future"] == [1, 2]


def test_written_lines_are_ascii_with_sorted_keys() -> None:
    snap = snapshot()
    ns = snap.namespaces[0]
    odd = Namespace(**{**ns.__dict__, "command": "caf\u00e9\udcff", "cmdline": "\u202e"})
    snap = Snapshot(**{**snap.__dict__, "namespaces": (odd, *snap.namespaces[1:])})
    text = written(snap)
    assert text[1].isascii()
    keys = list(json.loads(text[1]))
    assert keys == sorted(keys) and "id" not in keys and "capabilities" in keys
    assert read("".join(text).encode())[0][1] == snap


def test_write_empty() -> None:
    assert written() == [
        json.dumps({"schema": "nsaudit.bundle/1", "nsaudit_version": __version__}) + "\n",
        '{"end": "nsaudit.bundle/1", "snapshots": 0}\n',
    ]
    assert read("".join(written()).encode()) == []


def test_streams_one_record_at_a_time() -> None:
    data = lines(HEADER, BASE, with_value(("seq",), 0), TRAILER1)
    it = bundle.records(io.BytesIO(data))
    number, snap = next(it)
    assert number == 2 and snap.seq == 1
    with pytest.raises(BundleError, match=r"^line 3: seq: expected a whole number from 1 "):
        next(it)


def test_header_checked_before_first_record_is_asked() -> None:
    with pytest.raises(BundleError, match="^line 1: schema: "):
        bundle.records(io.BytesIO(lines({"schema": "x"})))


# --- the field table ---------------------------------------------------------------------

# (path, kind): str, str? (nullable), nestr (non-empty), nestr?, int, int?, bool, bool?
FIELDS: list[tuple[tuple[str | int, ...], str]] = [
    (("nsaudit_version",), "str"),
    (("label",), "str?"),
    (("duration_ms",), "int"),
    (("threads",), "bool"),
    (("host", "hostname"), "nestr"),
    (("host", "machine_id"), "str?"),
    (("host", "boot_id"), "str?"),
    (("host", "kernel"), "str?"),
    (("problems", 0, "pid"), "int?"),
    (("problems", 0, "path"), "str"),
    (("problems", 0, "errno"), "nestr"),
    (("namespaces", 0, "dev"), "int"),
    (("namespaces", 0, "inode"), "int"),
    (("namespaces", 0, "nprocs"), "int"),
    (("namespaces", 0, "ns_id"), "int?"),
    (("namespaces", 0, "pid"), "int?"),
    (("namespaces", 0, "pid_start"), "int?"),
    (("namespaces", 0, "ppid"), "int?"),
    (("namespaces", 0, "uid"), "int?"),
    (("namespaces", 0, "owner_uid"), "int?"),
    (("namespaces", 0, "command"), "str?"),
    (("namespaces", 0, "cmdline"), "str?"),
    (("namespaces", 0, "user"), "str?"),
    (("namespaces", 0, "parent_command"), "str?"),
    (("containers", 0, "runtime"), "nestr"),
    (("containers", 0, "name"), "str?"),
    (("containers", 0, "image"), "str?"),
    (("containers", 0, "pod_namespace"), "str?"),
    (("containers", 0, "pod_name"), "str?"),
    (("containers", 0, "pod_uid"), "str?"),
    (("containers", 0, "pid"), "int?"),
    (("containers", 0, "shim"), "str?"),
    (("containers", 0, "source"), "str?"),
    (("containers", 0, "note"), "str?"),
    (("containers", 0, "namespaces", 0, "dev"), "int"),
    (("containers", 0, "namespaces", 0, "inode"), "int"),
    (("namespaces", 0, "owner", "dev"), "int"),
    (("namespaces", 0, "owner", "inode"), "int"),
    (("namespaces", 2, "parent", "dev"), "int"),
    (("namespaces", 2, "parent", "inode"), "int"),
    (("namespaces", 0, "holders", 0, "pid"), "int"),
    (("namespaces", 0, "holders", 0, "fd"), "int"),
    (("namespaces", 0, "holders", 0, "path"), "nestr?"),
    (("namespaces", 1, "holders", 0, "path"), "nestr"),
    (("namespaces", 1, "holders", 0, "pid"), "int?"),
    (("namespaces", 1, "holders", 0, "fd"), "int?"),
    (("namespaces", 2, "holders", 0, "pid"), "int"),
    (("namespaces", 2, "holders", 0, "fd"), "int?"),
    (("namespaces", 2, "holders", 0, "path"), "nestr?"),
    (("namespaces", 2, "holders", 1, "pid"), "int"),
    (("namespaces", 2, "holders", 1, "fd"), "int?"),
    (("namespaces", 2, "holders", 1, "path"), "nestr?"),
    (("capabilities", "nsaudit_version"), "str"),
    (("capabilities", "root"), "str"),
    (("capabilities", "kernel", "release"), "str?"),
    (("capabilities", "kernel", "source"), "str?"),
    (("capabilities", "kconfig", "path"), "str"),
    (("capabilities", "kconfig", "compressed"), "bool"),
    (("capabilities", "kconfig", "release"), "str?"),
    (("capabilities", "kconfig", "matches_running"), "bool?"),
    (("capabilities", "kconfig_tried", 0), "str"),
    (("capabilities", "types", 1, "reason"), "str"),
    (("capabilities", "types", 1, "config", 0, "option"), "nestr"),
    (("capabilities", "types", 1, "config", 0, "value"), "str?"),
    (("capabilities", "types", 1, "present"), "bool?"),
    (("capabilities", "types", 1, "for_children"), "bool?"),
    (("capabilities", "types", 1, "limit"), "int?"),
    (("capabilities", "types", 1, "introduced"), "str"),
    (("capabilities", "types", 1, "kernel_ok"), "bool?"),
    (("capabilities", "types", 1, "unprivileged", "reason"), "str"),
    (("capabilities", "restrictions", 1, "name"), "nestr"),
    (("capabilities", "restrictions", 1, "path"), "str"),
    (("capabilities", "restrictions", 1, "value"), "str?"),
    (("capabilities", "restrictions", 1, "meaning"), "str"),
    (("capabilities", "restrictions", 1, "read"), "bool"),
    (("capabilities", "unprivileged_userns", "reason"), "str"),
    (("capabilities", "probes", 0, "user"), "str"),
    (("capabilities", "probes", 0, "uid"), "int"),
    (("capabilities", "probes", 0, "results", 2, "usable"), "bool"),
    (("capabilities", "probes", 0, "results", 2, "errno"), "str?"),
    (("capabilities", "probes", 0, "results", 2, "error"), "str?"),
    (("capabilities", "warnings", 0), "str"),
]


def _cases() -> list[tuple[tuple[str | int, ...], Any, str | None]]:
    """(path, value, what the message expects; None: the value is valid)."""
    out: list[tuple[tuple[str | int, ...], Any, str | None]] = []
    for path, kind in FIELDS:
        null = kind.endswith("?")
        orn = " or null" if null else ""
        base = kind.rstrip("?")
        if base in ("str", "nestr"):
            what = ("a string" if base == "str" else "a non-empty string") + orn
            out += [(path, 5, what), (path, ["x"], what), (path, {"a": 1}, what)]
            out += [(path, "x" * 65536, None), (path, "\u00e9\udcff", None)]
            out.append((path, "", what if base == "nestr" else None))
        elif base == "int":
            what = WHOLE + orn
            out += [(path, -1, what), (path, 2**63, what), (path, "1", what), (path, 1.0, what)]
            out += [(path, True, what), (path, False, what), (path, 0, None)]
            out.append((path, 2**63 - 1, None))
        else:
            what = "true or false" + orn
            out += [(path, 1, what), (path, 0, what), (path, "true", what)]
            out += [(path, True, None), (path, False, None)]
        out.append((path, None, None if null else what))
    return out


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)


@pytest.mark.parametrize(
    ("path", "value", "what"),
    _cases(),
    ids=[f"{shown(p)}={str(v)[:12]}" for p, v, _ in _cases()],
)
def test_field(path: tuple[str | int, ...], value: Any, what: str | None) -> None:
    if what is None:
        snap = good(path, value)
        if path[0] not in ("capabilities", "namespaces", "problems", "host", "containers"):
            assert getattr(snap, str(path[0])) == value
    else:
        assert bad(path, value) == f"line 2: {shown(path)}: expected {what}, got {_got(value)}"


def test_text_longer_than_64_kib() -> None:
    assert (
        bad(("label",), "x" * 65537)
        == "line 2: label: expected at most 65536 characters, got 65537"
    )
    message = bad(("namespaces", 0, "command"), "\u00e9" * 65537)
    assert message == "line 2: namespaces[0].command: expected at most 65536 characters, got 65537"


def test_text_with_a_nul_character() -> None:
    # No host records one (PostgreSQL could not even store it): the field is named.
    for path in (("label",), ("host", "hostname"), ("namespaces", 0, "command")):
        expected = f"line 2: {shown(path)}: expected text without NUL characters (no host "
        assert bad(path, "a\0b") == expected + 'records one), got "a\\u0000b"'


def test_round_trip_of_field_values() -> None:
    snap = good(("namespaces", 0, "cmdline"), "x" * 65536)
    assert snap.namespaces[0].cmdline == "x" * 65536
    assert good(("namespaces", 0, "pid"), None).namespaces[0].pid is None
    assert good(("namespaces", 0, "ns_id"), 2**63 - 1).namespaces[0].ns_id == 2**63 - 1
    assert good(("host", "machine_id"), None).host == HostInfo("vm", None, "b00t", "6.14.0")
    assert good(("host", "boot_id"), None).host == HostInfo(
        "vm", "0123456789abcdef", None, "6.14.0"
    )
    assert good(("host", "kernel"), None).host == HostInfo("vm", "0123456789abcdef", "b00t", None)
    assert good(("threads",), False).threads is False
    assert good(("duration_ms",), 0).duration_ms == 0
    holder = good(("namespaces", 1, "holders", 0, "pid"), 9).namespaces[1].holders[0]
    assert holder == Holder("mount", 9, None, "/run/netns/blue")
    problem = good(("problems", 0, "pid"), None).problems[0]
    assert problem == ScanProblem(None, "/proc/1/ns/cgroup", "EACCES")
    assert good(("seq",), 2**63 - 1).seq == 2**63 - 1


def test_seq() -> None:
    assert good(("seq",), 1).seq == 1
    for value, got in ((0, "0"), (None, "null"), (-1, "-1"), (2**63, str(2**63)), ("1", '"1"')):
        assert (
            bad(("seq",), value)
            == f"line 2: seq: expected a whole number from 1 to 2^63-1, got {got}"
        )


# --- choices -----------------------------------------------------------------------------

CHOICES: list[tuple[tuple[str | int, ...], str]] = [
    (("schema",), "nsaudit.snapshot/1"),
    (("namespaces", 0, "type"), TYPES),
    (("namespaces", 0, "holders", 0, "kind"), "fd, mount, for_children, thread"),
    (("namespaces", 0, "owner", "type"), "user"),
    (("namespaces", 2, "parent", "type"), "pid"),
    (("namespaces", 4, "parent", "type"), "user"),
    (("capabilities", "schema"), "nsaudit.detect/1"),
    (("capabilities", "types", 0, "type"), TYPES),
    (("capabilities", "types", 0, "status"), "available, disabled, missing, unknown"),
    (("capabilities", "types", 0, "unprivileged", "value"), "yes, no, restricted, unknown"),
    (("capabilities", "unprivileged_userns", "value"), "allowed, restricted, denied, unknown"),
    (("capabilities", "probes", 0, "results", 0, "type"), TYPES),
    (("capabilities", "probes", 0, "results", 0, "via"), "direct, user namespace or null"),
]


@pytest.mark.parametrize(("path", "words"), CHOICES, ids=[shown(p) for p, _ in CHOICES])
def test_choice(path: tuple[str | int, ...], words: str) -> None:
    for value in ("pipe", 5, "", "Net", ["net"]):
        message = bad(path, value)
        assert message == f"line 2: {shown(path)}: expected one of {words}, got {_got(value)}"
    if not words.endswith("or null"):
        assert bad(path, None) == f"line 2: {shown(path)}: expected one of {words}, got null"


def test_every_word_accepted() -> None:
    for kind, pid, fd, where in (("fd", 1, 2, None), ("mount", None, None, "/p")) + (
        ("for_children", 3, None, None),
        ("thread", 4, None, None),
    ):
        h = {"kind": kind, "pid": pid, "fd": fd, "path": where}
        snap = good(("namespaces", 0, "holders", 0), h)
        assert snap.namespaces[0].holders[0] == Holder(kind, pid, fd, where)
    for status in ("available", "disabled", "missing", "unknown"):
        good(("capabilities", "types", 0, "status"), status)
    for word in ("yes", "no", "restricted", "unknown"):
        good(("capabilities", "types", 0, "unprivileged", "value"), word)
    for word in ("allowed", "restricted", "denied", "unknown"):
        good(("capabilities", "unprivileged_userns", "value"), word)
    for via in ("direct", "user namespace", None):
        good(("capabilities", "probes", 0, "results", 0, "via"), via)


def test_holder_fields_by_kind() -> None:
    # fd: pid and fd; mount: path; for_children and thread: pid (README, nsaudit snapshot)
    base = ("namespaces", 0, "holders", 0)
    for kind, field, what in (
        ("fd", "pid", WHOLE),
        ("fd", "fd", WHOLE),
        ("mount", "path", "a non-empty string"),
        ("for_children", "pid", WHOLE),
        ("thread", "pid", WHOLE),
    ):
        h = {"kind": kind, "pid": 1, "fd": 2, "path": "/p", field: None}
        message = bad(base, h)
        assert message == f"line 2: {shown(base)}.{field}: expected {what}, got null"
    for kind in ("for_children", "thread"):
        good(base, {"kind": kind, "pid": 1, "fd": None, "path": None})
        h = {"kind": kind, "pid": 1, "fd": -1, "path": None}
        assert bad(base, h) == f"line 2: {shown(base)}.fd: expected {WHOLE} or null, got -1"
        h = {"kind": kind, "pid": 1, "fd": None, "path": ""}
        message = bad(base, h)
        assert message == f'line 2: {shown(base)}.path: expected a non-empty string or null, got ""'


# --- missing and unknown keys ------------------------------------------------------------

CLOSED: list[tuple[tuple[str | int, ...], str, tuple[str, ...]]] = [
    # containers: added in 0005, missing from older bundles.
    ((), "snapshot record", tuple(k for k in BASE if k != "containers")),
    (("host",), "host", ("hostname", "machine_id", "boot_id", "kernel")),
    (("problems", 0), "problem", ("pid", "path", "errno")),
    (
        ("namespaces", 0),
        "namespace",
        # nsaudit.bundle/1's first namespace keys: every bundle has them (a key added later,
        # as parent_command, is missing from older bundles).
        (
            "type",
            "dev",
            "inode",
            "ns_id",
            "nprocs",
            "pid",
            "pid_start",
            "ppid",
            "command",
            "cmdline",
            "uid",
            "user",
            "parent",
            "owner",
            "owner_uid",
            "holders",
        ),  # fmt: skip
    ),
    (("namespaces", 0, "holders", 0), "holder", ("kind", "pid", "fd", "path")),
    (
        ("containers", 0),
        "container",
        tuple(f.name for f in dataclasses.fields(Container)),
    ),
    (("containers", 0, "namespaces", 0), "namespace reference", ("type", "dev", "inode")),
    (("namespaces", 0, "owner"), "namespace reference", ("type", "dev", "inode")),
    (("namespaces", 2, "parent"), "namespace reference", ("type", "dev", "inode")),
]
# Keys nsaudit.detect/1 gained later: an older report lacks them, and reads as "not recorded".
LATER_KEYS = ("persisted_sysctls", "userns_profiles")
OPEN: list[tuple[tuple[str | int, ...], str, tuple[str, ...]]] = [
    (
        ("capabilities",),
        "nsaudit.detect/1 report",
        tuple(k for k in BASE["capabilities"] if k not in ("future", *LATER_KEYS)),
    ),
    (("capabilities", "kernel"), "such object of nsaudit.detect/1", ("release", "source")),
    (
        ("capabilities", "kconfig"),
        "such object of nsaudit.detect/1",
        ("path", "compressed", "release", "matches_running"),
    ),
    (
        ("capabilities", "types", 3),
        "such object of nsaudit.detect/1",
        tuple(k for k in BASE["capabilities"]["types"][3]),
    ),
    (
        ("capabilities", "types", 3, "config", 0),
        "such object of nsaudit.detect/1",
        ("option", "value"),
    ),
    (
        ("capabilities", "types", 3, "unprivileged"),
        "such object of nsaudit.detect/1",
        ("value", "reason"),
    ),
    (
        ("capabilities", "restrictions", 2),
        "such object of nsaudit.detect/1",
        ("name", "path", "value", "meaning"),
    ),
    (
        ("capabilities", "unprivileged_userns"),
        "such object of nsaudit.detect/1",
        ("value", "reason"),
    ),
    (("capabilities", "probes", 0), "such object of nsaudit.detect/1", ("user", "uid", "results")),
    (
        ("capabilities", "probes", 0, "results", 7),
        "such object of nsaudit.detect/1",
        ("type", "usable", "via", "errno", "error"),
    ),
]


@pytest.mark.parametrize(
    ("path", "what", "keys"), CLOSED + OPEN, ids=[shown(p) or "record" for p, _, _ in CLOSED + OPEN]
)
def test_missing_keys(path: tuple[str | int, ...], what: str, keys: tuple[str, ...]) -> None:
    assert len(keys) >= 2
    for key in keys:
        where = shown((*path, key))
        assert (
            bad((*path, key), MISSING) == f"line 2: {where}: missing; expected it in every {what}"
        )


@pytest.mark.parametrize(
    ("path", "what", "keys"), CLOSED, ids=[shown(p) or "record" for p, _, _ in CLOSED]
)
def test_unknown_keys_refused(
    path: tuple[str | int, ...], what: str, keys: tuple[str, ...]
) -> None:
    for key, named in (("extra", "extra"), ("a-b", '["a-b"]'), ("1a", '["1a"]'), ("k" * 65, None)):
        where = shown(path)
        if named is None:
            named = f'["{"k" * 40}"...]'
        elif not named.startswith("["):
            named = f".{named}" if where else named
        assert bad((*path, key), 1) == f"line 2: {where}{named}: {UNKNOWN}"
    assert (
        bad((*path, "k" * 64), 1)
        == f"line 2: {shown(path)}{'.' if path else ''}{'k' * 64}: {UNKNOWN}"
    )


@pytest.mark.parametrize(("path", "what", "keys"), OPEN, ids=[shown(p) for p, _, _ in OPEN])
def test_unknown_keys_kept_in_capabilities(
    path: tuple[str | int, ...], what: str, keys: tuple[str, ...]
) -> None:
    snap = good((*path, "newer"), {"a": [None]})
    where: Any = snap.capabilities.document if snap.capabilities else None
    for key in path[1:]:
        where = where[key]
    assert where["newer"] == {"a": [None]}
    deep: Any = 0
    for _ in range(64):
        deep = [deep]
    good((*path, "newer"), deep)
    message = bad((*path, "newer"), [deep])
    assert (
        message
        == f"line 2: {shown((*path, 'newer'))}: expected at most 64 levels of nesting, got more"
    )
    message = bad((*path, "newer"), {"a": deep})
    assert (
        message
        == f"line 2: {shown((*path, 'newer'))}: expected at most 64 levels of nesting, got more"
    )


@pytest.mark.parametrize(
    "path",
    [p for p, _, _ in CLOSED + OPEN if p] + [("counts",)],
    ids=[shown(p) for p, _, _ in CLOSED + OPEN if p] + ["counts"],
)
def test_objects_of_wrong_type(path: tuple[str | int, ...]) -> None:
    for value, got in (([], "a list"), ("x", '"x"'), (1, "1")):
        assert bad(path, value) == f"line 2: {shown(path)}: expected an object, got {got}"


def test_a_container_id_is_text_named_by_its_namespaces() -> None:
    rec = with_value(("containers", 0, "id"), "c1")
    rec["namespaces"][1]["container"] = "c1"
    ((_, snap),) = read(lines(HEADER, rec, TRAILER1))
    assert snap.containers[0].id == snap.namespaces[1].container == "c1"
    for value, got in (("", '""'), (None, "null"), (1, "1")):
        message = bad(("containers", 0, "id"), value)
        assert message == f"line 2: containers[0].id: expected a non-empty string, got {got}"


def test_a_holders_container_is_one_of_the_snapshots() -> None:
    rec = with_value(("namespaces", 0, "holders", 0, "container"), CONTAINER_ID)
    ((_, snap),) = read(lines(HEADER, rec, TRAILER1))
    assert snap.namespaces[0].holders[0].container == CONTAINER_ID
    assert bad(("namespaces", 0, "holders", 0, "container"), "c2") == (
        "line 2: namespaces[0].holders[0].container: expected the id of one of the snapshot's "
        "containers, got c2"
    )
    assert bad(("namespaces", 0, "holders", 0, "container"), "") == (
        'line 2: namespaces[0].holders[0].container: expected a non-empty string or null, got ""'
    )
    assert good(("namespaces", 0, "holders", 0, "container"), MISSING).namespaces[0].holders


def test_containers_are_a_list_or_null() -> None:
    for value, got in (("x", '"x"'), (1, "1")):
        message = bad(("containers",), value)
        assert message == f"line 2: containers: expected a list of container objects, got {got}"
    rec = with_value(("containers",), None)
    del rec["namespaces"][1]["container"]
    ((_, snap),) = read(lines(HEADER, rec, TRAILER1))
    assert snap.containers is None


def test_containers_may_be_missing_from_an_older_bundle() -> None:
    rec = with_value(("containers",), MISSING)
    del rec["namespaces"][1]["container"]
    ((_, snap),) = read(lines(HEADER, rec, TRAILER1))
    assert snap.containers is None and snap.namespaces[1].container is None
    # ...but a bundle that lists containers names only those in its namespaces.
    assert bad(("namespaces", 1, "container"), "f" * 64) == (
        f"line 2: namespaces[1].container: expected the id of one of the snapshot's "
        f"containers, got {'f' * 64}"
    )


def test_parent_command_may_be_missing() -> None:
    snap = good(("namespaces", 0, "parent_command"), MISSING)
    assert snap.namespaces[0].parent_command is None


# --- lists -------------------------------------------------------------------------------

LISTS = [
    (("problems",), "problem objects"),
    (("namespaces",), "namespace objects"),
    (("namespaces", 0, "holders"), "holder objects"),
    (("containers", 0, "namespaces"), "namespace references"),
    (("capabilities", "kconfig_tried"), "strings"),
    (("capabilities", "types"), "objects"),
    (("capabilities", "types", 0, "config"), "objects"),
    (("capabilities", "restrictions"), "objects"),
    (("capabilities", "probes"), "objects"),
    (("capabilities", "probes", 0, "results"), "objects"),
    (("capabilities", "warnings"), "strings"),
]


@pytest.mark.parametrize(("path", "what"), LISTS, ids=[shown(p) for p, _ in LISTS])
def test_lists(path: tuple[str | int, ...], what: str) -> None:
    for value, got in (({}, "an object"), ("x", '"x"'), (None, "null")):
        assert bad(path, value) == f"line 2: {shown(path)}: expected a list of {what}, got {got}"


def test_list_items_of_wrong_type() -> None:
    for path, what in (
        (("problems", 1), "an object"),
        (("namespaces", 4), "an object"),
        (("namespaces", 2, "holders", 1), "an object"),
        (("capabilities", "types", 7), "an object"),
        (("capabilities", "restrictions", 0), "an object"),
        (("capabilities", "probes", 0), "an object"),
        (("capabilities", "probes", 0, "results", 1), "an object"),
        (("capabilities", "types", 0, "config", 0), "an object"),
    ):
        assert bad(path, "x") == f'line 2: {shown(path)}: expected {what}, got "x"'


def test_at_most_two_million_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    text = json.dumps(with_value(("namespaces",), "MANY"))
    many = text.replace('"MANY"', "[" + "0," * 2_000_000 + "0]")
    message = error(lines(HEADER, many + "\n", TRAILER1))
    assert message == "line 2: namespaces: expected at most 2000000 namespace objects, got 2000001"
    monkeypatch.setattr(bundle, "MAX_NAMESPACES", 5)
    message = bad(("namespaces",), [0] * 6)
    assert message == "line 2: namespaces: expected at most 5 namespace objects, got 6"
    assert bad(("namespaces",), [0] * 5) == "line 2: namespaces[0]: expected an object, got 0"


# --- what the record's parts must agree on -----------------------------------------------


def test_parent_only_for_pid_and_user() -> None:
    ref = {"type": "net", "dev": 4, "inode": 1}
    for n, t in ((0, "cgroup"), (1, "net")):
        message = bad(("namespaces", n, "parent"), ref)
        assert (
            message
            == f"line 2: namespaces[{n}].parent: expected null for a {t} namespace, got an object"
        )
    for t in ("ipc", "mnt", "time", "uts"):
        rec = with_value(("namespaces", 1, "type"), t)
        rec["namespaces"][1]["parent"] = ref
        message = error(lines(HEADER, rec, TRAILER1))
        assert (
            message
            == f"line 2: namespaces[1].parent: expected null for a {t} namespace, got an object"
        )
    snap = good(("namespaces", 2, "parent"), None)
    assert snap.namespaces[2].parent is None
    snap = good(("namespaces", 3, "parent"), {"type": "user", "dev": 9, "inode": 8})
    assert snap.namespaces[3].parent == NamespaceId(NsType.USER, 9, 8)
    assert good(("namespaces", 3, "owner"), None).namespaces[3].owner is None


def test_container_twice() -> None:
    rec = copy.deepcopy(BASE)
    rec["containers"].append(copy.deepcopy(rec["containers"][0]))
    message = error(lines(HEADER, rec, TRAILER1))
    assert message.startswith("line 2: containers[1]: podman container ") and message.endswith(
        " again (containers[0]); expected each container (runtime, id) once in a snapshot"
    ), message


def test_namespace_twice() -> None:
    rec = copy.deepcopy(BASE)
    rec["namespaces"].append(copy.deepcopy(rec["namespaces"][1]))
    rec["counts"]["net"] = 2
    assert error(lines(HEADER, rec, TRAILER1)) == (
        "line 2: namespaces[5]: net namespace 4:4026532281 again (namespaces[1]); "
        "expected each namespace (type, dev, inode) once in a snapshot"
    )
    # the same inode in another type, or on another device, is another namespace
    for key, value in (("type", "ipc"), ("dev", 5), ("inode", 1)):
        rec = copy.deepcopy(BASE)
        other = copy.deepcopy(rec["namespaces"][1])
        other[key] = value
        rec["namespaces"].append(other)
        t = other["type"]
        rec["counts"][t] += 1
        ((_, snap),) = read(lines(HEADER, rec, TRAILER1))
        assert len(snap.namespaces) == 6


def test_partial_must_agree_with_problems() -> None:
    assert bad(("partial",), False) == "line 2: partial: expected true, as the problems say"
    assert bad(("partial",), None) == "line 2: partial: expected true or false, got null"
    rec = with_value(("problems",), [])
    assert (
        error(lines(HEADER, rec, TRAILER1))
        == "line 2: partial: expected false, as the problems say"
    )
    rec["partial"] = False
    ((_, snap),) = read(lines(HEADER, rec, TRAILER1))
    assert snap.problems == () and not snap.partial


def test_counts_must_agree_with_namespaces() -> None:
    assert (
        bad(("counts", "net"), 2)
        == "line 2: counts.net: expected 1, the number of net namespaces, got 2"
    )
    assert (
        bad(("counts", "user"), 0)
        == "line 2: counts.user: expected 2, the number of user namespaces, got 0"
    )
    assert bad(("counts", "time"), -1) == f"line 2: counts.time: expected {WHOLE}, got -1"
    assert bad(("counts", "time"), None) == f"line 2: counts.time: expected {WHOLE}, got null"
    assert (
        bad(("counts", "time"), MISSING)
        == "line 2: counts.time: missing; expected it in every such object"
    )
    assert bad(("counts", "extra"), 0) == f"line 2: counts.extra: {UNKNOWN}"


# --- capabilities ------------------------------------------------------------------------


def test_a_report_decodes_to_the_value_it_was_encoded_from() -> None:
    found = detect(HostFS(ROOT))
    denied = tuple(ProbeResult(t, t is NsType.UTS, None, "EPERM", None) for t in NsType)
    caps = replace(found, probes=(ProbeRun("nobody", 65534, denied),))
    assert report.decode(json.loads(json.dumps(encode(caps)))).value == caps
    assert report.report(caps) == report.decode(encode(caps))


def test_a_report_without_the_later_keys_records_neither() -> None:
    caps = copy.deepcopy(BASE["capabilities"])
    for key in LATER_KEYS:
        del caps[key]
    snap = good(("capabilities",), caps)
    assert snap.capabilities is not None
    assert snap.capabilities.value.persisted is None
    assert snap.capabilities.value.userns_profiles is None


def test_a_restriction_without_read_was_read() -> None:
    # nsaudit.detect/1 gained restrictions[].read; an older report read each sysctl it names
    rs = copy.deepcopy(BASE["capabilities"]["restrictions"])
    for r in rs:
        del r["read"]
    snap = good(("capabilities", "restrictions"), rs)
    assert snap.capabilities is not None
    assert all(r.read for r in snap.capabilities.value.restrictions)


def test_capabilities_null_and_kconfig_null() -> None:
    assert good(("capabilities",), None).capabilities is None
    snap = good(("capabilities", "kconfig"), None)
    assert snap.capabilities is not None and snap.capabilities.value.kconfig is None
    message = bad(("capabilities", "kconfig"), "x")
    assert message == 'line 2: capabilities.kconfig: expected an object, got "x"'


def test_capability_lists_each_type_once() -> None:
    each = f"expected each of {TYPES} once"
    for where in (("capabilities", "types"), ("capabilities", "probes", 0, "results")):
        items = copy.deepcopy(BASE)
        for key in where:
            items = items[key]
        dup = copy.deepcopy(items)
        dup[3]["type"] = "cgroup"
        message = bad(where, dup)
        assert message == f'line 2: {shown(where)}[3].type: {each}, got "cgroup" a second time'
        message = bad(where, [i for i in items if i["type"] not in ("time", "user")])
        assert message == f"line 2: {shown(where)}: {each}, got no time, user"
        message = bad(where, [])
        assert message == f"line 2: {shown(where)}: {each}, got no {TYPES}"
        # any order of the eight is the eight
        assert good(where, list(reversed(items)))
    assert good(("capabilities", "probes"), []).capabilities is not None


def test_restrictions_each_sysctl_once() -> None:
    rs = copy.deepcopy(BASE["capabilities"]["restrictions"])
    rs.append(copy.deepcopy(rs[0]))
    name = rs[0]["name"]
    message = bad(("capabilities", "restrictions"), rs)
    assert (
        message
        == f"line 2: capabilities.restrictions[{len(rs) - 1}].name: expected each sysctl once, "
        f'got "{name}"'
    )
    assert good(("capabilities", "restrictions"), rs[1:3])


# --- timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written_as", "stored"),
    [
        ("2026-11-29T04:28:16.009838+00:00", "2026-11-29T04:28:16.009838+00:00"),
        ("2026-11-29T04:28:16+00:00", "2026-11-29T04:28:16.000000+00:00"),
        ("2026-11-29T05:28:16+01:00", "2026-11-29T04:28:16.000000+00:00"),
        ("2026-11-28T23:28:16.5-05:00", "2026-11-29T04:28:16.500000+00:00"),
        ("2026-11-29T04:28:16Z", "2026-11-29T04:28:16.000000+00:00"),
        ("2026-11-29 04:28:16-00:30", "2026-11-29T04:58:16.000000+00:00"),
        ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59.000000+00:00"),
        # Already in UTC but not as nsaudit writes it (to the microsecond, even when that
        # is 0): stored times compare as text, and one taken at a whole second is imported
        # again as the same time.
        ("2026-11-29 04:28:16+00:00", "2026-11-29T04:28:16.000000+00:00"),
        ("2026-11-29T04:28:16.500+00:00", "2026-11-29T04:28:16.500000+00:00"),
    ],
)
def test_taken_at_in_utc(written_as: str, stored: str) -> None:
    assert good(("taken_at",), written_as).taken_at == stored


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("2026-11-29T04:28:16", "an ISO 8601 time with a time zone (2026-11-29T04:28:16+00:00)"),
        ("2026-11-29", "an ISO 8601 time with a time zone (2026-11-29T04:28:16+00:00)"),
        ("yesterday", "an ISO 8601 time with a time zone (2026-11-29T04:28:16+00:00)"),
        ("", "an ISO 8601 time with a time zone (2026-11-29T04:28:16+00:00)"),
        ("0001-01-01T00:30:00+01:00", "a time between the years 1 and 9999 in UTC"),
        ("9999-12-31T23:30:00-01:00", "a time between the years 1 and 9999 in UTC"),
        (1764390496, "a string"),
        (None, "a string"),
    ],
)
def test_taken_at_refused(value: Any, what: str) -> None:
    assert (
        bad(("taken_at",), value) == f"line 2: taken_at: expected {what}, got {json.dumps(value)}"
    )


# --- header, trailer and lines -----------------------------------------------------------


def test_header_errors() -> None:
    again = "nsaudit.bundle/1 (export it again with this nsaudit's version)"
    for value, got in (("nsaudit.bundle/2", '"nsaudit.bundle/2"'), (None, "null"), (1, "1")):
        data = lines({"schema": value, "nsaudit_version": "1"}, TRAILER1)
        assert error(data) == f"line 1: schema: expected {again}, got {got}"
    assert error(lines({"nsaudit_version": "1"})) == f"line 1: schema: expected {again}, got null"
    assert error(lines({"schema": "nsaudit.bundle/1"})) == (
        "line 1: nsaudit_version: missing; expected it in every header"
    )
    assert error(lines({**HEADER, "nsaudit_version": 1})) == (
        "line 1: nsaudit_version: expected a string, got 1"
    )
    assert error(lines({**HEADER, "x": 1})) == f"line 1: x: {UNKNOWN}"
    assert error(lines([HEADER])) == "line 1: expected a JSON object, got a list"
    assert error(lines("3\n")) == "line 1: expected a JSON object, got 3"
    assert error(lines('"x"\n')) == 'line 1: expected a JSON object, got "x"'
    # a last line without its newline is read as a line, not as the start of a long one
    assert error(b"3") == "line 1: expected a JSON object, got 3"
    assert error(lines(HEADER) + b"[]") == "line 2: expected a JSON object, got a list"


def test_header_alone_is_truncated_and_empty_is_empty() -> None:
    assert error(lines(HEADER)) == "the bundle is truncated: it has no trailer line"
    assert error(b"") == (
        "the bundle is empty (no header line): is the file truncated, or did its writer stop "
        "before writing?"
    )
    assert error(lines(HEADER, BASE)) == "the bundle is truncated: it has no trailer line"
    # the last line without its newline is still a line
    assert read(lines(HEADER, BASE) + json.dumps(TRAILER1).encode()) != []


def test_trailer_errors() -> None:
    data = lines(HEADER, BASE, {"end": "nsaudit.bundle/1", "snapshots": 2})
    assert error(data) == (
        "line 3: snapshots: expected 1, the number of snapshots the bundle holds (is it "
        "truncated?), got 2"
    )
    # lines missing before the trailer
    data = lines(HEADER, {"end": "nsaudit.bundle/1", "snapshots": 1})
    assert error(data) == (
        "line 2: snapshots: expected 0, the number of snapshots the bundle holds (is it "
        "truncated?), got 1"
    )
    data = lines(HEADER, BASE, with_value(("seq",), 2), TRAILER1)
    assert error(data).startswith("line 4: snapshots: expected 2, the number")
    assert (
        len(read(lines(HEADER, BASE, with_value(("seq",), 2), {**TRAILER1, "snapshots": 2}))) == 2
    )
    for trailer, message in (
        (
            {"end": "nsaudit.bundle/2", "snapshots": 1},
            'end: expected one of nsaudit.bundle/1, got "nsaudit.bundle/2"',
        ),
        ({"end": None, "snapshots": 1}, "end: expected one of nsaudit.bundle/1, got null"),
        ({"end": "nsaudit.bundle/1"}, "snapshots: missing; expected it in every trailer"),
        ({"end": "nsaudit.bundle/1", "snapshots": "1"}, f'snapshots: expected {WHOLE}, got "1"'),
        ({"end": "nsaudit.bundle/1", "snapshots": -1}, f"snapshots: expected {WHOLE}, got -1"),
        ({**TRAILER1, "more": 1}, f"more: {UNKNOWN}"),
    ):
        assert error(lines(HEADER, BASE, trailer)) == f"line 3: {message}"


def test_data_after_the_trailer() -> None:
    assert error(lines(HEADER, BASE, TRAILER1, BASE)) == "line 4: data after the trailer"
    assert error(lines(HEADER, BASE, TRAILER1, HEADER)) == "line 4: data after the trailer"
    assert (
        error(lines(HEADER, TRAILER1 | {"snapshots": 0}, "\n")) == "line 3: data after the trailer"
    )
    # a second bundle appended to the first
    data = lines(HEADER, BASE, TRAILER1, HEADER, with_value(("seq",), 2), TRAILER1)
    assert error(data) == "line 4: data after the trailer"


def test_lines_not_json() -> None:
    assert error(lines(HEADER, BASE, '{"end": "nsaudit.bundle/1", "snap')) == (
        "line 3: not JSON (Unterminated string starting at): is the file truncated?"
    )
    assert error(b"\n") == "line 1: not JSON (Expecting value): is the file truncated?"
    assert error(lines(HEADER, "[1, 2]\n")) == "line 2: expected a JSON object, got a list"
    digits = sys.get_int_max_str_digits()
    assert error(lines(HEADER, '{"seq": ' + "9" * (digits + 1) + "}\n")) == (
        f"line 2: a number of more than {digits} digits"
    )
    assert error(lines(HEADER, '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}\n")) == (
        "line 2: nested too deeply to be a bundle line (nsaudit's records nest a few levels)"
    )


def test_lines_not_utf8() -> None:
    assert error(lines(HEADER) + b'{"a": "\xc3\x28"}\n') == (
        "line 2: not UTF-8 text (byte 0xc3 at column 8)"
    )
    assert error(b"\xff\n") == "line 1: not UTF-8 text (byte 0xff at column 1)"
    assert error(b'{"a": 1}\x80') == "line 1: not UTF-8 text (byte 0x80 at column 9)"


def test_long_lines() -> None:
    # a record longer than the 64 KiB read at once is read whole
    rec = with_value(("namespaces", 0, "cmdline"), "x" * 65536)
    rec["namespaces"][1]["holders"][0]["path"] = "y" * 65536
    data = lines(HEADER, rec, TRAILER1)
    ((_, snap),) = read(data)
    assert snap.namespaces[1].holders[0].path == "y" * 65536
    # leading blanks before the object are fine
    ((_, snap),) = read(lines(HEADER, " \t\r" + json.dumps(rec) + "\n", TRAILER1))
    # a long line that does not start like an object is refused at its first bytes
    assert error(lines(HEADER) + b"\x00" * 70000 + b"\n") == (
        "line 2: not a JSON object (its first bytes are 00 00 00 00 00 00 00 00): is this a bundle?"
    )
    assert error(lines(HEADER) + b" [" + b"1," * 40000 + b"1]\n") == (
        "line 2: not a JSON object (its first bytes are 20 5b 31 2c 31 2c 31 2c): is this a bundle?"
    )
    assert error(b"x" * 65536) == (
        "line 1: not a JSON object (its first bytes are 78 78 78 78 78 78 78 78): is this a bundle?"
    )
    # one byte short of 64 KiB is read as a line (and is no JSON)
    assert error(b"x" * 65535).startswith("line 1: not JSON (")
    assert error(b"[" + b" " * 65534 + b"\n").startswith("line 1: not JSON (")


def test_line_of_128_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    # README: at most 128 MiB a line. A real 128 MiB line takes seconds a test run (and this
    # file runs once per mutant), so the limit is lowered to see what happens at it.
    assert bundle.MAX_LINE == 128 * 1024 * 1024
    limit = 200_000
    monkeypatch.setattr(bundle, "MAX_LINE", limit)
    header = json.dumps(HEADER).encode()
    line = header[:-1] + b" " * (limit - len(header)) + b"}"
    assert len(line) == limit
    assert read(line + b"\n" + lines(TRAILER1 | {"snapshots": 0})) == []
    # exactly the limit, without a newline, at the end of the stream
    trailer = json.dumps(TRAILER1 | {"snapshots": 0}).encode()
    last = trailer[:-1] + b" " * (limit - len(trailer)) + b"}"
    assert read(lines(HEADER) + last) == []
    over = header[:-1] + b" " * (limit + 1 - len(header)) + b"}"
    assert error(over + b"\n") == f"line 1: longer than {limit} bytes"
    assert error(over) == f"line 1: longer than {limit} bytes"
    assert error(lines(HEADER) + over) == f"line 2: longer than {limit} bytes"


def test_more_than_ten_million_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    # README: at most 10,000,000 snapshots a bundle; that many real records take too long,
    # so the limit is lowered to see what happens at it.
    assert bundle.MAX_SNAPSHOTS == 10_000_000
    monkeypatch.setattr(bundle, "MAX_SNAPSHOTS", 2)
    two = [with_value(("seq",), n) for n in (1, 2)]
    assert len(read(lines(HEADER, *two, {**TRAILER1, "snapshots": 2}))) == 2
    data = lines(HEADER, *two, with_value(("seq",), 3), {**TRAILER1, "snapshots": 3})
    assert error(data) == (
        "line 4: more than 2 snapshots in one bundle (a stream that never ends?): split it "
        "into several bundles"
    )


# --- error values as shown ---------------------------------------------------------------


def test_values_shown_short_and_escaped() -> None:
    path = ("namespaces", 0, "type")
    expected = f"line 2: namespaces[0].type: expected one of {TYPES}, got "
    assert bad(path, "p" * 40) == expected + json.dumps("p" * 40)
    assert bad(path, "p" * 41) == expected + json.dumps("p" * 40) + "..."
    assert bad(path, "\x1b[31m\u202e") == expected + '"\\u001b[31m\\u202e"'
    assert bad(path, 2**200) == expected + str(2**200)[:40]
    assert bad(path, 1.5) == expected + "1.5"
    assert bad(path, False) == expected + "false"


# --- SeqOrder ----------------------------------------------------------------------------


def host_snap(seq: int | None, hostname: str = "vm", machine_id: str | None = "m") -> Snapshot:
    s = plain(1)
    return Snapshot(
        **{**s.__dict__, "seq": seq, "host": HostInfo(hostname, machine_id, None, None)}
    )


def test_seq_order_accepts_each_host_in_order() -> None:
    order = SeqOrder()
    order.check(host_snap(1), "a", 2)
    order.check(host_snap(3), "a", 3)
    order.check(host_snap(1, "other"), "a", 4)
    order.check(host_snap(1, "vm", "n"), "a", 5)
    order.check(host_snap(1, "vm", None), "a", 6)
    order.check(host_snap(4), "b", 2)
    order.check(host_snap(None, "new"), "b", 3)


def test_seq_order_refusals() -> None:
    order = SeqOrder()
    order.check(host_snap(3), "a.jsonl", 2)
    with pytest.raises(BundleError) as e:
        order.check(host_snap(3), "a.jsonl", 5)
    assert str(e.value) == 'line 5: duplicate snapshot seq 3 of host "vm" (line 2)'
    with pytest.raises(BundleError) as e:
        order.check(host_snap(3), "b.jsonl", 2)
    assert str(e.value) == (
        'line 2: the same snapshot in two bundles: seq 3 of host "vm" (bundle a.jsonl, line 5)'
    )
    with pytest.raises(BundleError) as e:
        order.check(host_snap(2), "b.jsonl", 3)
    assert str(e.value) == (
        'line 3: snapshot seq 2 of host "vm" comes after its seq 3 (line 2): '
        "give each snapshot once, each host's in seq order (older bundles first)"
    )
    with pytest.raises(BundleError) as e:
        order.check(host_snap(1), "b.jsonl", 4)
    assert str(e.value) == (
        'line 4: snapshot seq 1 of host "vm" comes after its seq 2 (line 3): '
        "give each snapshot once, each host's in seq order (older bundles first)"
    )
    with pytest.raises(BundleError) as e:
        order.check(host_snap(0), "b.jsonl", 6, again=True)
    assert str(e.value) == (
        'line 6: snapshot seq 0 of host "vm" is given a second time (in this bundle or an '
        "earlier one): give each snapshot once"
    )
    # a seq of None counts as 0
    with pytest.raises(BundleError) as e:
        order.check(host_snap(None), "b.jsonl", 7, again=True)
    assert str(e.value) == 'line 7: duplicate snapshot seq 0 of host "vm" (line 6)'
    order.check(host_snap(1), "b.jsonl", 8, again=True)
    other = SeqOrder()
    other.check(host_snap(5, "\x1b]0;x"), "c", 2)
    with pytest.raises(BundleError) as e:
        other.check(host_snap(5, "\x1b]0;x"), "c", 3)
    assert str(e.value) == 'line 3: duplicate snapshot seq 5 of host "\\u001b]0;x" (line 2)'
