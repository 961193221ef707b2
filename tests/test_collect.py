"""The collector against real namespaces made by the tests, and against lsns."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from conftest import needs_root, run
from nsmakers import (
    children,
    fd_held_netns,
    in_new_namespaces,
    kill_tree,
    nested_user_and_pid,
    netns,
    ns_of,
    runs,
    wait_for,
)

pytestmark = needs_root


def live_scan(*extra: str) -> dict[str, Any]:
    proc = run("snapshot", "--no-store", "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["schema"] == "nsaudit.snapshot/1"
    return data


def find(scan: dict[str, Any], ns_type: str, dev_ino: tuple[int, int]) -> dict[str, Any]:
    for ns in scan["namespaces"]:
        if ns["type"] == ns_type and (ns["dev"], ns["inode"]) == dev_ino:
            return ns
    raise AssertionError(f"{ns_type} {dev_ino} not in the snapshot")


def test_processes_in_new_namespaces() -> None:
    with in_new_namespaces("--net", "--uts", "--ipc") as pid:
        scan = live_scan()
        for ns_type in ("net", "uts", "ipc"):
            ns = find(scan, ns_type, ns_of(pid, ns_type))
            assert ns["nprocs"] == 1 and ns["pid"] == pid
            assert ns["command"] == "sleep" and ns["cmdline"] == "sleep 300"
            assert ns["user"] == "root" and ns["uid"] == 0
            assert ns["holders"] == []
            assert (
                ns["owner"]["inode"]
                == ns_of(1 if os.access("/proc/1/ns/user", os.R_OK) else os.getpid(), "user")[1]
            )


def test_network_namespace_held_only_by_a_bind_mount() -> None:
    with netns() as name:
        dev_ino = (os.stat(f"/run/netns/{name}").st_dev, os.stat(f"/run/netns/{name}").st_ino)
        ns = find(live_scan(), "net", dev_ino)
        assert ns["nprocs"] == 0 and ns["pid"] is None
        mount = {"kind": "mount", "pid": None, "fd": None, "path": f"/run/netns/{name}"}
        assert {**mount, "container": None} in ns["holders"]


def test_namespace_held_only_by_an_open_fd() -> None:
    with fd_held_netns() as (holder, fd, dev, ino):
        ns = find(live_scan(), "net", (dev, ino))
        assert ns["nprocs"] == 0 and ns["pid"] is None
        assert ns["holders"] == [
            {"kind": "fd", "pid": holder, "fd": fd, "path": None, "container": None}
        ]


def test_nested_user_and_pid_namespaces_have_the_right_parent_and_owner() -> None:
    with nested_user_and_pid() as made:
        outer, middle, inner = made["outer"], made["middle"], made["inner"]
        scan = live_scan()

        def ref(ns: dict[str, Any], field: str) -> tuple[int, int]:
            return ns[field]["dev"], ns[field]["inode"]

        user1 = find(scan, "user", ns_of(outer, "user"))
        user2 = find(scan, "user", ns_of(inner, "user"))
        pid1 = find(scan, "pid", ns_of(middle, "pid"))
        pid2 = find(scan, "pid", ns_of(inner, "pid"))
        assert ns_of(middle, "user") == ns_of(inner, "user")
        assert ref(user1, "parent") == ns_of(os.getpid(), "user")
        assert ref(user2, "parent") == ns_of(outer, "user")
        assert ref(pid1, "parent") == ns_of(os.getpid(), "pid")
        assert ref(pid2, "parent") == ns_of(middle, "pid")
        assert ref(pid1, "owner") == ns_of(outer, "user")
        assert ref(pid2, "owner") == ns_of(inner, "user")
        assert pid2["nprocs"] == 1 and pid2["pid"] == inner
        assert user1["owner_uid"] == 0 and user2["owner_uid"] == 0


def test_pid_for_children_that_differs_is_a_holder() -> None:
    # unshare --pid without --fork: sh stays in its pid namespace; its child sleep is pid 1 of
    # the new one, which sh holds through pid_for_children.
    with in_new_namespaces("--pid", argv=["sh", "-c", "sleep 300 & wait"]) as sh:
        wait_for(lambda: children(sh) and runs(children(sh)[0], "sleep"))
        (sleeper,) = children(sh)
        st = os.stat(f"/proc/{sh}/ns/pid_for_children")
        assert ns_of(sleeper, "pid") == (st.st_dev, st.st_ino) != ns_of(os.getpid(), "pid")
        ns = find(live_scan(), "pid", (st.st_dev, st.st_ino))
        assert ns["nprocs"] == 1 and ns["pid"] == sleeper
        assert ns["holders"] == [
            {"kind": "for_children", "pid": sh, "fd": None, "path": None, "container": None}
        ]


def test_process_with_an_empty_pid_for_children_is_still_scanned() -> None:
    with in_new_namespaces("--pid", "--uts") as pid:
        assert not os.path.exists(f"/proc/{pid}/ns/pid_for_children")
        ns = find(live_scan(), "uts", ns_of(pid, "uts"))
        assert ns["pid"] == pid


def test_ns_get_id_is_recorded_when_the_kernel_has_it() -> None:
    import fcntl
    import struct

    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, 0x8008B70D, buf)
        expected: int | None = struct.unpack("=Q", buf)[0]
    except OSError:
        expected = None
    finally:
        os.close(fd)
    scan = live_scan()
    net = find(scan, "net", ns_of(os.getpid(), "net"))
    assert net["ns_id"] == expected


def test_threads_option_finds_a_thread_in_its_own_namespace() -> None:
    script = (
        "import os, threading, time, ctypes\n"
        "def run():\n"
        "    ctypes.CDLL(None, use_errno=True).unshare(0x04000000)\n"
        "    print(threading.get_native_id(), flush=True)\n"
        "    time.sleep(300)\n"
        "threading.Thread(target=run, daemon=True).start()\n"
        "time.sleep(300)\n"
    )
    import sys

    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        tid = int(proc.stdout.readline())
        st = os.stat(f"/proc/{proc.pid}/task/{tid}/ns/uts")
        # The thread printed its id after its unshare(2): its uts namespace is a new one.
        assert (st.st_dev, st.st_ino) != ns_of(proc.pid, "uts") == ns_of(os.getpid(), "uts")
        without = live_scan()
        assert all((n["dev"], n["inode"]) != (st.st_dev, st.st_ino) for n in without["namespaces"])
        ns = find(live_scan("--threads"), "uts", (st.st_dev, st.st_ino))
        assert ns["holders"] == [
            {"kind": "thread", "pid": tid, "fd": None, "path": None, "container": None}
        ]
    finally:
        kill_tree(proc)


# The lsns comparison (both ways, every shared column) is tests/test_lsns_oracle.py.
