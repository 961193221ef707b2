"""A process that exits while nsaudit scans: its namespace is never left with a representative
that cannot be read (nulls presented as complete), and an exiting process is never taken for a
kernel thread.

The races are made deterministic: the scan runs in this process, and an audit hook (CPython's
own, `sys.addaudithook`) kills the representative at the moment the scanner opens its
/proc/PID/stat or /proc/PID/cmdline, after the walk counted it as a member. Killed and left
unreaped it is a zombie (what an exiting process looks like: no namespace links but user and
pid, an empty cmdline, the comm it had); killed and reaped it is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_root
from nsmakers import in_new, kill_tree, ns_of, runs, wait_for

from nsaudit.collect.scan import Scanner
from nsaudit.hostfs import HostFS
from nsaudit.model import Namespace

PF_KTHREAD = 0x00200000
TYPES = ("ipc", "uts")

# open() paths -> what to do when the scanner opens one; each fires once.
_TRIGGERS: dict[str, Callable[[], None]] = {}


def _on_open(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _TRIGGERS or not isinstance(args[0], str):
        return
    action = _TRIGGERS.get(args[0])
    if action is not None:
        _TRIGGERS.clear()  # before acting: the action opens /proc files itself
        action()


# An audit hook cannot be removed; it does nothing while no trigger is set.
sys.addaudithook(_on_open)


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command: state is [0], ppid [1], flags [6]."""
    return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].decode().split()


@contextmanager
def sleeper(
    prefix: list[str], arg: str, same_as: int | None = None, types: tuple[str, ...] = TYPES
) -> Iterator[Any]:
    """`sleep ARG` (a direct child of this process, so that it stays a zombie until reaped) in
    the namespaces of `types` that `prefix` makes (or enters: those of `same_as`); returned once
    it runs sleep in them."""
    proc = subprocess.Popen([*prefix, "sleep", arg])
    try:

        def ready() -> bool:
            assert proc.poll() is None, f"{prefix} exited with {proc.returncode}"
            if not runs(proc.pid, "sleep"):
                return False
            if same_as is None:
                return in_new(proc.pid, types)
            return all(ns_of(proc.pid, t) == ns_of(same_as, t) for t in types)

        wait_for(ready)
        yield proc
    finally:
        kill_tree(proc)


def end(proc: subprocess.Popen[bytes], how: str) -> Callable[[], None]:
    """Kill the process, and leave it a zombie or reap it."""

    def act() -> None:
        os.kill(proc.pid, signal.SIGKILL)
        if how == "reaped":
            proc.wait()
            return
        deadline = time.monotonic() + 20
        while stat_fields(proc.pid)[0] != "Z":
            assert time.monotonic() < deadline, "no zombie"
            time.sleep(0.005)

    return act


def scan_killing(pid: int, when: str, action: Callable[[], None]) -> tuple[Namespace, ...]:
    """Scan the live host in this process; `action` runs when the scanner first opens
    /proc/PID/<when> (stat, cmdline, ns/TYPE, mountinfo), and must have run by the end."""
    _TRIGGERS.clear()
    _TRIGGERS[f"/proc/{pid}/{when}"] = action
    try:
        result = Scanner(HostFS("/")).run()
        assert not _TRIGGERS, f"the scanner never opened /proc/{pid}/{when}"
    finally:
        _TRIGGERS.clear()
    assert not [p for p in result.problems if p.pid == pid], result.problems
    return result.namespaces


def rows(namespaces: tuple[Namespace, ...], ids: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        t: [ns for ns in namespaces if ns.id.type.value == t and ns.id.inode == ids[t][1]]
        for t in TYPES
    }


WHEN = pytest.mark.parametrize("when", ["stat", "cmdline"])
HOW = pytest.mark.parametrize("how", ["zombie", "reaped"])


@needs_root
@WHEN
@HOW
def test_a_representative_that_exits_mid_scan_hands_over_to_the_next_member(
    when: str, how: str
) -> None:
    with two_members() as (rep, other):
        ids = {t: ns_of(rep.pid, t) for t in TYPES}
        other_start = int(stat_fields(other.pid)[19])
        namespaces = scan_killing(rep.pid, when, end(rep, how))
        found = rows(namespaces, ids)
        for t in TYPES:
            assert len(found[t]) == 1, (t, found[t])
            ns = found[t][0]
            # The exited member is no longer counted, and the other one stands for it.
            assert ns.nprocs == 1, ns
            assert ns.pid == other.pid, (ns, rep.pid, other.pid)
            assert ns.pid_start == other_start, ns
            assert ns.ppid == os.getpid(), ns
            assert ns.command == "sleep", ns
            assert ns.cmdline == "sleep 3002", ns
            assert (ns.uid, ns.user) == (0, "root"), ns
            assert ns.owner is not None, ns


@contextmanager
def two_members() -> Iterator[tuple[Any, Any]]:
    """Two sleeps in one new uts and ipc namespace: (representative, the other), by pid."""
    with ExitStack() as stack:
        first = stack.enter_context(sleeper(["unshare", "--uts", "--ipc"], "3001"))
        second = stack.enter_context(
            sleeper(["nsenter", "-t", str(first.pid), "--uts", "--ipc"], "3002", first.pid)
        )
        # Pids wrap on a busy host: the representative is the lower one, whichever came first.
        rep, other = sorted((first, second), key=lambda p: p.pid)
        yield rep, other


@needs_root
@HOW
def test_a_representative_that_exits_after_it_was_read_leaves_the_kernel_asked_through_another(
    how: str,
) -> None:
    """Killed when the scanner opens its ipc link to ask the kernel about the namespace: the
    ipc namespace keeps what was read of it while it lived, and the kernel is asked through
    the other member; the uts namespace, read after, is the other member's."""
    with two_members() as (rep, other):
        ids = {t: ns_of(rep.pid, t) for t in TYPES}
        namespaces = scan_killing(rep.pid, "ns/ipc", end(rep, how))
        found = rows(namespaces, ids)
        (ipc,), (uts,) = found["ipc"], found["uts"]
        assert (ipc.nprocs, ipc.pid, ipc.cmdline) == (2, rep.pid, "sleep 3001"), ipc
        assert (uts.nprocs, uts.pid, uts.cmdline) == (1, other.pid, "sleep 3002"), uts
        assert ipc.owner is not None and uts.owner is not None


def take_pid(pid: int, argv: list[str], stack: ExitStack) -> None:
    """Start argv as process `pid` (free again): ns_last_pid names the pid the next fork
    gets; on a busy host another fork may take it first, so try again."""
    for _ in range(1000):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        proc = subprocess.Popen(argv)
        if proc.pid == pid:
            stack.callback(kill_tree, proc)
            wait_for(lambda: runs(pid, "sleep"))
            return
        kill_tree(proc)
    raise AssertionError(f"pid {pid} was never handed out again")


@needs_root
@pytest.mark.parametrize("where", ["elsewhere", "joins"])
def test_a_pid_handed_to_another_process_mid_scan_is_not_the_member_it_was(where: str) -> None:
    """The representative is killed and reaped, and its pid given to a new process: in
    namespaces of its own (after the walk, before its stat is read), or in the same ones
    (between its stat and its command line). Either way the new process is not what the walk
    counted: not the representative, and no mix of the two processes' fields."""
    with two_members() as (rep, other), ExitStack() as stack:
        ids = {t: ns_of(rep.pid, t) for t in TYPES}
        if where == "elsewhere":
            argv = ["unshare", "--uts", "--ipc", "sleep", "3008"]
        else:
            argv = ["nsenter", "-t", str(other.pid), "--uts", "--ipc", "sleep", "3008"]

        def reuse() -> None:
            end(rep, "reaped")()
            take_pid(rep.pid, argv, stack)

        when = "stat" if where == "elsewhere" else "cmdline"
        namespaces = scan_killing(rep.pid, when, reuse)
        found = rows(namespaces, ids)
        for t in TYPES:
            (ns,) = found[t]
            assert (ns.nprocs, ns.pid, ns.cmdline) == (1, other.pid, "sleep 3002"), ns


@needs_root
@WHEN
@HOW
def test_a_namespace_whose_only_process_exits_mid_scan_is_gone(when: str, how: str) -> None:
    with sleeper(["unshare", "--uts", "--ipc"], "3003") as only:
        ids = {t: ns_of(only.pid, t) for t in TYPES}
        namespaces = scan_killing(only.pid, when, end(only, how))
        found = rows(namespaces, ids)
        assert found == {t: [] for t in TYPES}, found
        assert not [ns for ns in namespaces if ns.pid == only.pid]


@needs_root
@WHEN
@HOW
def test_a_namespace_whose_only_process_exits_mid_scan_stays_while_an_fd_holds_it(
    when: str, how: str
) -> None:
    with ExitStack() as stack:
        only = stack.enter_context(sleeper(["unshare", "--uts", "--ipc"], "3004"))
        ids = {t: ns_of(only.pid, t) for t in TYPES}
        # fds 8 and 9 of a shell-turned-sleep hold the two namespaces.
        script = f"exec 8</proc/{only.pid}/ns/ipc 9</proc/{only.pid}/ns/uts; exec sleep 3005"
        holder = subprocess.Popen(["sh", "-c", script])
        stack.callback(kill_tree, holder)

        def holding() -> bool:
            try:
                held = [os.stat(f"/proc/{holder.pid}/fd/{fd}") for fd in (8, 9)]
            except FileNotFoundError:
                return False
            return [(st.st_dev, st.st_ino) for st in held] == [ids["ipc"], ids["uts"]]

        wait_for(holding)
        namespaces = scan_killing(only.pid, when, end(only, how))
        found = rows(namespaces, ids)
        for t, fd in zip(TYPES, (8, 9), strict=True):
            assert len(found[t]) == 1, (t, found[t])
            ns = found[t][0]
            assert (ns.nprocs, ns.pid, ns.pid_start, ns.ppid) == (0, None, None, None), ns
            assert (ns.command, ns.cmdline, ns.uid, ns.user) == (None, None, None, None), ns
            assert [(h.kind, h.pid, h.fd) for h in ns.holders] == [("fd", holder.pid, fd)], ns
            # The kernel was still asked about it, through the fd.
            assert ns.owner is not None, ns


@needs_root
@HOW
def test_bind_mounts_are_read_through_the_next_member_when_the_first_exits(
    tmp_path: Path, how: str
) -> None:
    """A mount namespace's nsfs bind mounts are read through one of its processes: when that
    one exits first (a zombie's mountinfo answers EINVAL, a reaped one's ENOENT), through the
    next, and the snapshot is neither partial nor missing the namespace the mount holds."""
    target = tmp_path / "net"
    target.touch()
    # In a private mount namespace, a new network namespace held only by a bind mount there.
    make = f"unshare --net mount --bind /proc/self/ns/net {target} && exec sleep 3006"
    first = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", make])
    with ExitStack() as stack:
        stack.callback(kill_tree, first)
        host_net = ns_of(os.getpid(), "net")

        def mounted() -> bool:
            try:
                st = os.stat(f"/proc/{first.pid}/root{target}")
            except FileNotFoundError:
                return False
            held = (st.st_dev, st.st_ino)
            # The mount is made, and sh has reaped the process that made it (exec'd sleep).
            return held[0] == host_net[0] and held != host_net and runs(first.pid, "sleep")

        wait_for(mounted)
        held = os.stat(f"/proc/{first.pid}/root{target}")
        second = stack.enter_context(
            sleeper(["nsenter", "-t", str(first.pid), "--mount"], "3007", first.pid, ("mnt",))
        )
        mnt = ns_of(first.pid, "mnt")
        rep, other = sorted((first, second), key=lambda p: p.pid)
        namespaces = scan_killing(rep.pid, "mountinfo", end(rep, how))
        (net,) = [
            ns for ns in namespaces if ns.id.type.value == "net" and ns.id.inode == held.st_ino
        ]
        assert net.nprocs == 0 and net.pid is None, net
        assert [(h.kind, h.path) for h in net.holders] == [("mount", str(target))], net
        (mount_ns,) = [
            ns for ns in namespaces if ns.id.type.value == "mnt" and ns.id.inode == mnt[1]
        ]
        assert (mount_ns.nprocs, mount_ns.pid) == (1, other.pid), mount_ns


# A loop that makes a uts+ipc namespace every few ms, each living 10-50 ms.
CHURN = "while :; do unshare --uts --ipc sleep 0.0$((RANDOM % 5 + 1)) & sleep 0.005; done"


@needs_root
def test_repeated_scans_under_churn_never_show_a_half_read_namespace() -> None:
    """The same, undirected: namespaces born and gone all through the scans."""
    loop = subprocess.Popen(["bash", "-c", CHURN], start_new_session=True)
    churned = 0
    try:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            result = Scanner(HostFS("/")).run()
            unread = {p.pid for p in result.problems}
            for ns in result.namespaces:
                if ns.nprocs and ns.pid not in unread:
                    fields = (ns.pid, ns.pid_start, ns.ppid, ns.command, ns.cmdline, ns.uid)
                    assert None not in fields, ns
                if ns.ppid == loop.pid:
                    churned += 1
                    # unshare(1) itself stands for its namespaces between its unshare(2) and
                    # its exec of sleep; an exiting one (whose command line reads empty, as a
                    # kernel thread's does) never stands for them. (Any process may empty its
                    # own command line: only the loop's are known.)
                    line = (ns.cmdline or "").removeprefix("unshare --uts --ipc ")
                    assert ns.command in ("sleep", "unshare") and line[:9] == "sleep 0.0", ns
    finally:
        os.killpg(loop.pid, signal.SIGKILL)
        loop.wait()
    assert churned, "no namespace of the loop was ever seen"


@needs_root
def test_kernel_threads_keep_their_empty_command_line() -> None:
    """The other side of the rule: a kernel thread (PF_KTHREAD) that stands for a namespace
    (kdevtmpfs keeps a mount namespace of its own) is recorded, with no command line."""
    namespaces = Scanner(HostFS("/")).run().namespaces
    kthreads = [ns for ns in namespaces if ns.command == "kdevtmpfs"]
    if not kthreads:
        pytest.skip("this kernel has no kdevtmpfs with a namespace of its own")
    for ns in kthreads:
        assert ns.pid is not None
        assert int(stat_fields(ns.pid)[6]) & PF_KTHREAD
        assert (ns.cmdline, ns.ppid, ns.parent_command) == ("", 2, "kthreadd"), ns


def stat_line(pid: int, comm: str, state: str, flags: int, start: int) -> str:
    """A /proc/PID/stat line as the kernel writes it (52 fields); ppid 1, or 2 for a kernel
    thread."""
    fields = ["0"] * 50  # those after the command: state is field 3 of the line, [0] here
    fields[0], fields[2] = state, str(pid)
    fields[1] = "2" if flags & PF_KTHREAD else "1"
    fields[6], fields[19] = str(flags), str(start)  # fields 9 and 22 of the line
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


def test_a_tree_whose_processes_exit_or_cannot_be_read(tmp_path: Path) -> None:
    """The same rules under --root, where the files say what each process is: a zombie
    (state Z, PF_EXITING among its flags, an empty cmdline) stands for nothing and counts for
    nothing; a kernel thread (PF_KTHREAD) keeps its empty command line; a process whose stat
    cannot be read is a problem, and stands for its namespace unread only when no other can."""
    root = tmp_path / "root"
    processes = {
        # pid: (uts inode, stat line or None for a FIFO, cmdline)
        7: (4026532001, stat_line(7, "sleep", "Z", 0x40850C, 500), b""),
        9: (4026532001, stat_line(9, "sleep", "S", 0x400100, 600), b"sleep\x00300\x00"),
        8: (4026532002, stat_line(8, "sleep", "Z", 0x40850C, 700), b""),
        11: (4026532003, stat_line(11, "kdevtmpfs", "S", 0x208040, 10), b""),
        12: (4026532004, None, b"sleep\x00301\x00"),
        13: (4026532005, None, b"sleep\x00302\x00"),
        14: (4026532005, stat_line(14, "sleep", "S", 0x400100, 800), b"sleep\x00303\x00"),
    }
    for pid, (inode, stat, line) in processes.items():
        base = root / "proc" / str(pid)
        (base / "ns").mkdir(parents=True)
        (base / "ns" / "uts").symlink_to(f"uts:[{inode}]")
        if stat is None:
            os.mkfifo(base / "stat")
        else:
            (base / "stat").write_text(stat)
        (base / "cmdline").write_bytes(line)
    (root / "proc" / "self").symlink_to("9")
    proc = subprocess.run(
        [sys.executable, "-m", "nsaudit", "snapshot", "--root", str(root), "--no-store"]
        + ["--format", "json"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    snap = json.loads(proc.stdout)
    rows = {ns["inode"]: ns for ns in snap["namespaces"]}
    shown = {i: (n["nprocs"], n["pid"], n["command"], n["cmdline"]) for i, n in rows.items()}
    assert shown == {
        4026532001: (1, 9, "sleep", "sleep 300"),  # 7 is a zombie: 9 stands for it
        # 4026532002: its only process, 8, is a zombie: gone
        4026532003: (1, 11, "kdevtmpfs", ""),
        4026532004: (1, 12, None, None),  # 12 cannot be read, and is all there is
        4026532005: (2, 14, "sleep", "sleep 303"),  # 13 cannot be read: 14 stands for it
    }
    assert rows[4026532003]["ppid"] == 2
    assert snap["partial"] is True
    unread = [(p["pid"], p["path"], p["errno"]) for p in snap["problems"]]
    assert unread == [(pid, f"{root}/proc/{pid}/stat", "EINVAL") for pid in (12, 13)]


def test_a_tree_process_that_leaves_while_its_mounts_are_read(tmp_path: Path) -> None:
    """Under --root too, a mount namespace's nsfs mounts are read through its next process
    when the first is gone between reading its mountinfo and looking at its mount points."""
    root = (tmp_path / "root").resolve()
    line = "36 35 0:4 net:[4026532010] /run/netns/blue rw shared:1 - nsfs nsfs rw\n"
    for pid, start in ((7, 500), (8, 600)):
        base = root / "proc" / str(pid)
        (base / "ns").mkdir(parents=True)
        (base / "ns" / "mnt").symlink_to("mnt:[4026532100]")
        (base / "stat").write_text(stat_line(pid, "sleep", "S", 0x400100, start))
        (base / "cmdline").write_bytes(b"sleep\x00300\x00")
        (base / "mountinfo").write_text(line)
        (base / "root" / "run" / "netns").mkdir(parents=True)
        (base / "root" / "run" / "netns" / "blue").touch()
    (root / "proc" / "self").symlink_to("8")
    held = os.stat(root / "proc" / "8" / "root" / "run" / "netns" / "blue")

    def leave() -> None:
        shutil.rmtree(root / "proc" / "7" / "root")

    _TRIGGERS.clear()
    _TRIGGERS[f"{root}/proc/7/mountinfo"] = leave
    try:
        result = Scanner(HostFS(root)).run()
        assert not _TRIGGERS, "the scanner never read 7's mountinfo"
    finally:
        _TRIGGERS.clear()
    assert result.problems == ()
    (net,) = [ns for ns in result.namespaces if ns.id.type.value == "net"]
    assert (net.id.dev, net.id.inode) == (held.st_dev, held.st_ino)
    assert [(h.kind, h.path) for h in net.holders] == [("mount", "/run/netns/blue")]
