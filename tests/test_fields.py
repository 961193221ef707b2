"""The codecs nsaudit/fields.py builds from a record's declaration, in-process: the columns and
cells the README and the golden outputs show, for every kind of field (fast enough for the
mutation selection)."""

from __future__ import annotations

from dataclasses import dataclass

from nsaudit import fields
from nsaudit.model import (
    Container,
    Holder,
    HolderKind,
    HostRow,
    Namespace,
    NamespaceId,
    NsType,
    SnapshotRow,
    column,
)

USER_NS = NamespaceId(NsType.USER, 4, 4026531837)
NS = Namespace(
    id=NamespaceId(NsType.PID, 4, 4026532302),
    ns_id=77,
    nprocs=2,
    pid=41,
    pid_start=141,
    ppid=40,
    uid=1000,
    user=None,
    command="sleep",
    cmdline=None,
    parent=NamespaceId(NsType.PID, 4, 4026531836),
    owner=USER_NS,
    owner_uid=None,
    holders=(Holder(HolderKind.FD, 50, 3), Holder(HolderKind.MOUNT, path="/run/netns/a b")),
    parent_command="conmon",
    exe="mnt:[4026532999]/usr/bin/sleep",
)
HOST = HostRow(
    hostname="web-1",
    machine_id="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    snapshots=3,
    last_id=9,
    last_seq=3,
    last_taken_at="2026-11-29T16:34:11+00:00",
    kernel=None,
    boot_id="5d6e7f80-1111-4222-8333-944455566677",
    partial=False,
)
SNAP = SnapshotRow(
    id=9,
    taken_at="2026-11-29T16:34:11+00:00",
    hostname="web-1",
    seq=3,
    boot_id=None,
    kernel="6.1",
    namespaces=21,
    partial=True,
    label="after <deploy>",
)


def test_a_namespace_as_csv() -> None:
    assert fields.csv_columns(Namespace) == (
        "type", "dev", "inode", "ns_id", "nprocs", "pid", "pid_start", "ppid", "uid", "user",
        "command", "cmdline", "parent_inode", "owner_inode", "owner_uid", "holders",
        "parent_command", "container", "exe",
    )  # fmt: skip
    assert fields.csv_cells(NS) == (
        "pid", "4", "4026532302", "77", "2", "41", "141", "40", "1000", "", "sleep", "",
        "4026531836", "4026531837", "", "fd 50:3; mount /run/netns/a b", "conmon", "",
        "mnt:[4026532999]/usr/bin/sleep",
    )  # fmt: skip


def test_a_namespace_in_the_terminal_table() -> None:
    assert fields.table_columns(Namespace) == (
        "NS", "TYPE", "NPROCS", "PID", "PPID", "USER", "COMMAND", "PARENT", "OWNER", "HOLDERS",
        "CONTAINER",
    )  # fmt: skip
    # USER falls back to the uid, COMMAND to the comm when the command line is unknown.
    assert fields.table_cells(NS) == (
        "4026532302", "pid", "2", "41", "40", "1000", "sleep", "4026531836", "4026531837",
        "fd 50:3, mount /run/netns/a b", "",
    )  # fmt: skip
    bare = Namespace(
        id=NamespaceId(NsType.NET, 4, 1), ns_id=None, nprocs=0, pid=None, pid_start=None,
        ppid=None, uid=None, user=None, command=None, cmdline=None, parent=None, owner=None,
        owner_uid=None, holders=(),
    )  # fmt: skip
    assert fields.table_cells(bare) == ("1", "net", "0", *[""] * 8)
    assert fields.csv_cells(bare) == ("net", "4", "1", "", "0", *[""] * 14)


def test_a_namespace_as_json() -> None:
    assert fields.payload(NS) == {
        "type": "pid", "dev": 4, "inode": 4026532302, "ns_id": 77, "nprocs": 2, "pid": 41,
        "pid_start": 141, "ppid": 40, "uid": 1000, "user": None, "command": "sleep",
        "cmdline": None, "parent": {"type": "pid", "dev": 4, "inode": 4026531836},
        "owner": {"type": "user", "dev": 4, "inode": 4026531837}, "owner_uid": None,
        "holders": [
            {"kind": "fd", "pid": 50, "fd": 3, "path": None, "container": None},
            {"kind": "mount", "pid": None, "fd": None, "path": "/run/netns/a b", "container": None},
        ],
        "parent_command": "conmon", "container": None, "exe": "mnt:[4026532999]/usr/bin/sleep",
    }  # fmt: skip


def test_a_host_row() -> None:
    assert fields.csv_columns(HostRow) == (
        "host", "machine", "snapshots", "last", "seq", "time", "kernel", "boot", "partial",
        "state", "role", "retired_at",
    )  # fmt: skip
    assert fields.csv_cells(HOST) == (
        "web-1", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "3", "9", "3",
        "2026-11-29T16:34:11+00:00", "", "5d6e7f80-1111-4222-8333-944455566677", "no",
        "current", "", "",
    )  # fmt: skip
    assert fields.table_columns(HostRow) == (
        "HOST", "MACHINE", "SNAPSHOTS", "LAST", "SEQ", "TIME", "KERNEL", "BOOT", "PARTIAL",
        "STATE", "ROLE", "RETIRED",
    )  # fmt: skip
    # The table shortens the machine id to 12 characters and the boot id to 8.
    assert fields.table_cells(HOST) == (
        "web-1", "0a1b2c3d4e5f", "3", "9", "3", "2026-11-29T16:34:11+00:00", "", "5d6e7f80",
        "no", "current", "", "",
    )  # fmt: skip
    assert fields.payload(HOST) == {
        "hostname": "web-1",
        "machine_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "snapshots": 3,
        "last": {
            "id": 9,
            "seq": 3,
            "taken_at": "2026-11-29T16:34:11+00:00",
            "kernel": None,
            "boot_id": "5d6e7f80-1111-4222-8333-944455566677",
            "partial": False,
        },
        "state": "current",
        "role": None,
        "retired_at": None,
    }


def test_a_snapshot_row() -> None:
    assert fields.csv_columns(SnapshotRow) == (
        "id", "time", "host", "seq", "boot", "kernel", "namespaces", "partial", "label",
    )  # fmt: skip
    assert fields.csv_cells(SNAP) == (
        "9", "2026-11-29T16:34:11+00:00", "web-1", "3", "", "6.1", "21", "yes", "after <deploy>",
    )  # fmt: skip
    assert fields.table_columns(SnapshotRow) == (
        "ID", "TIME", "HOST", "SEQ", "BOOT", "KERNEL", "NAMESPACES", "PARTIAL", "LABEL",
    )  # fmt: skip
    assert fields.table_cells(SNAP) == (
        "9", "2026-11-29T16:34:11+00:00", "web-1", "3", "", "6.1", "21", "yes", "after <deploy>",
    )  # fmt: skip
    assert fields.payload(SNAP) == {
        "id": 9, "taken_at": "2026-11-29T16:34:11+00:00", "hostname": "web-1", "seq": 3,
        "boot_id": None, "kernel": "6.1", "namespaces": 21, "partial": True,
        "label": "after <deploy>",
    }  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class _Named:
    """A record whose id is not its first column (no record of nsaudit's is so, yet)."""

    name: str = column("text", header="NAME")
    id: NamespaceId = column("id", header=("NS", "TYPE"))


def test_an_id_after_another_column_keeps_both_in_the_table() -> None:
    row = _Named(name="x", id=NamespaceId(NsType.NET, 4, 7))
    assert fields.table_columns(_Named) == ("NAME", "NS", "TYPE")
    assert fields.table_cells(row) == ("x", "7", "net")
    assert fields.csv_columns(_Named) == ("name", "type", "dev", "inode")
    assert fields.csv_cells(row) == ("x", "net", "4", "7")


POD_NGINX = Container(
    id="02" * 32,
    runtime="containerd",
    name="nginx",
    image="docker.io/library/nginx:1.27",
    pod_namespace="default",
    pod_name="web-7d4b9c5f6-x2x9q",
    pod_uid="00000001-1111-4222-8333-000000000001",
    pid=1020,
    shim="containerd-shim",
    namespaces=(NamespaceId(NsType.MNT, 0, 4026532306), NamespaceId(NsType.NET, 0, 4026531838)),
    source="/run/containerd/io.containerd.runtime.v2.task/k8s.io/0202/config.json",
    note=None,
)


def test_a_container_in_json_csv_and_the_table() -> None:
    assert fields.payload(POD_NGINX)["namespaces"] == [
        {"type": "mnt", "dev": 0, "inode": 4026532306},
        {"type": "net", "dev": 0, "inode": 4026531838},
    ]
    assert fields.csv_columns(Container) == (
        "id", "runtime", "name", "image", "pod_namespace", "pod_name", "pod_uid", "pid", "shim",
        "namespaces", "source", "note",
    )  # fmt: skip
    assert fields.csv_cells(POD_NGINX)[9] == "mnt:[4026532306] net:[4026531838]"
    assert fields.table_columns(Container) == (
        "CONTAINER", "RUNTIME", "NAME", "IMAGE", "POD", "PID", "SHIM", "NAMESPACES", "NOTE",
    )  # fmt: skip
    # The id cut to 12 characters as the runtimes' lists show it; the pod as kubectl names it.
    assert fields.table_cells(POD_NGINX) == (
        "020202020202", "containerd", "nginx", "docker.io/library/nginx:1.27",
        "default/web-7d4b9c5f6-x2x9q", "1020", "containerd-shim",
        "mnt:[4026532306] net:[4026531838]", "",
    )  # fmt: skip
    assert fields.from_payload(Container, fields.payload(POD_NGINX), "", "container") == POD_NGINX
