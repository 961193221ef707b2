"""Real namespaces for tests: processes in new namespaces, netns bind mounts, fd holders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

# unshare(1)'s flag for each namespace type.
UNSHARE_FLAG = {
    "cgroup": "--cgroup",
    "ipc": "--ipc",
    "mnt": "--mount",
    "net": "--net",
    "pid": "--pid",
    "time": "--time",
    "user": "--user",
    "uts": "--uts",
}


def ns_of(pid: int, ns_type: str) -> tuple[int, int]:
    """(nsfs dev, inode) of a process's namespace."""
    st = os.stat(f"/proc/{pid}/ns/{ns_type}")
    return st.st_dev, st.st_ino


# unshare(1) options -> the /proc/PID/ns link that shows the namespace it made. A new pid or
# time namespace is the one the process's children are born in.
UNSHARE_TYPES = {
    "--cgroup": "cgroup",
    "--ipc": "ipc",
    "--mount": "mnt",
    "-m": "mnt",
    "--net": "net",
    "--pid": "pid_for_children",
    "--time": "time_for_children",
    "--user": "user",
    "--uts": "uts",
}


def in_new(pid: int, links: list[str] | tuple[str, ...]) -> bool:
    """Whether a process's namespaces of these links all differ from this process's own."""
    for link in links:
        try:
            if ns_of(pid, link) == ns_of(os.getpid(), link):
                return False
        except FileNotFoundError:
            # A new pid namespace shows no pid_for_children link until its first process is
            # born; any other link is missing only while the process is gone.
            if link != "pid_for_children":
                return False
    return True


def executable(program: str | bytes | os.PathLike[str]) -> tuple[int, int]:
    """(dev, inode) of the file a program name runs (looked up in PATH without a slash)."""
    name = os.fsdecode(program)
    path = name if "/" in name else shutil.which(name)
    assert path is not None, f"{name} is not in PATH"
    st = os.stat(path)
    return st.st_dev, st.st_ino


def runs(pid: int, program: str | bytes | os.PathLike[str]) -> bool:
    """Whether a process runs this program, by the identity of its executable file: its exec
    has happened (its comm would say so only by a name anyone can take)."""
    try:
        st = os.stat(f"/proc/{pid}/exe")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return (st.st_dev, st.st_ino) == executable(program)


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def held_anywhere(links: set[str]) -> bool:
    """Whether any process is in, or holds an fd to, one of these namespaces ("uts:[N]"): on
    a busy host another scanner may hold one open for a moment after its last process died."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for folder in ("ns", "fd"):
            try:
                entries = list((proc / folder).iterdir())
            except OSError:
                continue
            for entry in entries:
                with suppress(OSError):
                    if os.readlink(entry) in links:
                        return True
    return False


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
    """A process (its pid) in new namespaces made by unshare(1); killed afterwards.

    Returned once unshare(1) has done its work and exec'd ARGV: the process no longer runs
    unshare (Popen returns after unshare's own exec), and each namespace the flags ask for
    differs from this process's, compared by inode.
    """
    assert "--fork" not in flags and "-f" not in flags, "the pid would be unshare's, not ARGV's"
    links = [UNSHARE_TYPES[f] for f in flags if f in UNSHARE_TYPES]
    proc = subprocess.Popen(["unshare", *flags, *(argv or ["sleep", "300"])])
    try:

        def settled() -> bool:
            assert proc.poll() is None, f"unshare {flags} exited with {proc.returncode}"
            return in_new(proc.pid, links) and not runs(proc.pid, "unshare")

        wait_for(settled)
        yield proc.pid
    finally:
        kill_tree(proc)


@contextmanager
def netns() -> Iterator[str]:
    """A network namespace with no process, held only by its bind mount in /run/netns."""
    name = f"nsaudit-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # ip returns once the bind mount is made: a network namespace, not the host's.
        st = os.stat(f"/run/netns/{name}")
        assert st.st_dev == ns_of(os.getpid(), "net")[0], "not an nsfs mount"
        assert st.st_ino != ns_of(os.getpid(), "net")[1], "the host's own network namespace"
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


FD_HOLDER = r"""
import os, subprocess, sys, time
child = subprocess.Popen(["unshare", "--net", "sleep", "300"])
own = os.stat("/proc/self/ns/net")
# Until its unshare(2), the child is in this netns: hold what the child's link opens only
# once it differs from ours, checked by identity on the fd itself (the comm says nothing).
while True:
    fd = os.open(f"/proc/{child.pid}/ns/net", os.O_RDONLY)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (own.st_dev, own.st_ino):
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
        held = os.stat(f"/proc/{proc.pid}/fd/{fd}")
        assert (held.st_dev, held.st_ino) == (dev, ino) != ns_of(os.getpid(), "net"), (dev, ino)
        yield proc.pid, fd, dev, ino
    finally:
        kill_tree(proc)


@contextmanager
def nested_user_and_pid() -> Iterator[dict[str, int]]:
    """unshare in unshare: two user and two pid namespaces, one inside the other.

    outer: unshare, in user ns 1; middle: its child, pid 1 of pid ns 1, which unshares again
    into user ns 2; inner: sleep, pid 1 of pid ns 2. Yields their pids and the inodes.
    """
    flags = ["--user", "--map-root-user", "--pid", "--fork"]
    proc = subprocess.Popen(["unshare", *flags, "unshare", *flags, "sleep", "300"])
    host_user, host_pid = ns_of(os.getpid(), "user"), ns_of(os.getpid(), "pid")
    try:

        def nested() -> bool:
            assert proc.poll() is None, f"unshare exited with {proc.returncode}"
            middle = children(proc.pid)
            inner = children(middle[0]) if middle else []
            if not inner or not runs(inner[0], "sleep"):
                return False
            # The fork of each child follows its parent's unshare(2): check it, by inode.
            user1, pid1 = ns_of(proc.pid, "user"), ns_of(middle[0], "pid")
            user2, pid2 = ns_of(inner[0], "user"), ns_of(inner[0], "pid")
            return len({host_user, user1, user2}) == 3 and len({host_pid, pid1, pid2}) == 3

        wait_for(nested)
        middle = children(proc.pid)[0]
        inner = children(middle)[0]
        yield {
            "outer": proc.pid,
            "middle": middle,
            "inner": inner,
            "user1": ns_of(proc.pid, "user")[1],
            "pid1": ns_of(middle, "pid")[1],
            "user2": ns_of(inner, "user")[1],
            "pid2": ns_of(inner, "pid")[1],
            "host_user": host_user[1],
            "host_pid": host_pid[1],
        }
    finally:
        kill_tree(proc)
