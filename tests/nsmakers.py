"""Real namespaces for tests: processes in new namespaces, netns bind mounts, fd holders."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def ns_of(pid: int, ns_type: str) -> tuple[int, int]:
    """(nsfs dev, inode) of a process's namespace."""
    st = os.stat(f"/proc/{pid}/ns/{ns_type}")
    return st.st_dev, st.st_ino


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(c) for c in text.split()]


def descendants(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        out += [child, *descendants(child)]
    return out


def kill_tree(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Kill a process and every descendant: a pid namespace's init would otherwise outlive it."""
    for pid in [*descendants(proc.pid)]:
        with suppress(ProcessLookupError):
            os.kill(pid, 9)
    proc.kill()
    proc.wait()


@contextmanager
def in_new_namespaces(*flags: str, argv: list[str | bytes] | None = None) -> Iterator[int]:
    """A process (its pid) in new namespaces made by unshare(1); killed afterwards."""
    proc = subprocess.Popen(["unshare", *flags, *(argv or ["sleep", "300"])])
    try:
        wait_for(lambda: _settled(proc.pid))
        yield proc.pid
    finally:
        kill_tree(proc)


def _settled(pid: int) -> bool:
    # unshare has run once the process image is neither ours (not yet exec'd) nor unshare.
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return False
    return comm not in ("unshare", Path("/proc/self/comm").read_text().strip())


@contextmanager
def netns() -> Iterator[str]:
    """A network namespace with no process, held only by its bind mount in /run/netns."""
    name = f"nsaudit-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


FD_HOLDER = r"""
import os, subprocess, sys, time
child = subprocess.Popen(["unshare", "--net", "sleep", "300"])
own = os.stat("/proc/self/ns/net")
# Until sleep runs, the child may still be this interpreter (before its exec) or unshare
# (before its unshare(2)): wait for the new namespace itself, checked by identity.
while True:
    fd = os.open(f"/proc/{child.pid}/ns/net", os.O_RDONLY)
    st = os.fstat(fd)
    comm = open(f"/proc/{child.pid}/comm").read().strip()
    if comm == "sleep" and (st.st_dev, st.st_ino) != (own.st_dev, own.st_ino):
        break
    os.close(fd)
    time.sleep(0.01)
child.kill(); child.wait()
print(fd, st.st_dev, st.st_ino, flush=True)
time.sleep(300)
"""


@contextmanager
def fd_held_netns() -> Iterator[tuple[int, int, int, int]]:
    """A network namespace whose only process exited: held by an open fd of another process.

    Yields (holder pid, fd number, nsfs dev, inode).
    """
    proc = subprocess.Popen([sys.executable, "-c", FD_HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        fd, dev, ino = (int(x) for x in proc.stdout.readline().split())
        yield proc.pid, fd, dev, ino
    finally:
        kill_tree(proc)


@contextmanager
def nested_user_and_pid() -> Iterator[dict[str, int]]:
    """unshare in unshare: two user and two pid namespaces, one inside the other."""
    flags = ["--user", "--map-root-user", "--pid", "--fork"]
    proc = subprocess.Popen(["unshare", *flags, "unshare", *flags, "sleep", "300"])
    try:
        wait_for(lambda: children(proc.pid) and children(children(proc.pid)[0]))
        middle = children(proc.pid)[0]
        inner = children(middle)[0]
        wait_for(lambda: Path(f"/proc/{inner}/comm").read_text().strip() == "sleep")
        yield {
            "user1": ns_of(proc.pid, "user")[1],
            "pid1": ns_of(middle, "pid")[1],
            "user2": ns_of(inner, "user")[1],
            "pid2": ns_of(inner, "pid")[1],
            "host_user": ns_of(os.getpid(), "user")[1],
            "host_pid": ns_of(os.getpid(), "pid")[1],
        }
    finally:
        kill_tree(proc)
