"""The collector's own rules, in-process: what a scan records of members, fds, threads, bind
mounts and parents, and what makes it partial (an unreadable file) or says tasks are unseen.

Most tests scan a --root tree built in tmp_path, where the files say what each process is (as
test_scan_races.py does); the live ones scan this host and assert only about what they made.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_root
from factories import process, stat_line
from nsmakers import ns_of

from nsaudit.collect.process import has_processes
from nsaudit.collect.scan import Scanner
from nsaudit.errors import HostReadError
from nsaudit.hostfs import HostFS
from nsaudit.model import UNSEEN, Holder, Namespace, NamespaceId, NsType, ScanProblem

UTS, IPC, NET, NET2, MNT = 4026532001, 4026532002, 4026532003, 4026532004, 4026532100


def scan(root: Path, threads: bool = False) -> tuple[dict[tuple[str, int], Namespace], list]:
    # Threads are read only when asked: the default is not to.
    result = (Scanner(HostFS(root), threads=True) if threads else Scanner(HostFS(root))).run()
    rows = {(ns.id.type.value, ns.id.inode): ns for ns in result.namespaces}
    assert len(rows) == len(result.namespaces), result.namespaces
    return rows, list(result.problems)


@needs_root  # chown
def test_a_tree_records_members_holders_and_parents(tmp_path: Path) -> None:
    """Each namespace: how many processes, the lowest pid's fields (its parent's command read
    from the parent's stat), the user from the tree's own /etc/passwd; fds and the
    pid_for_children link that name a namespace are holders, other fds are not."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_bytes(
        b"short:x\nbad:x:notanumber:0::/:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n"
        b"second:x:1000:1000::/:/bin/sh\nroot:x:0:0::/root:/bin/sh\nthree:x:77\n"
        b"caf\xe9:x:78:78::/:/bin/sh\n"
    )
    every = {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC + 1}]", "pid": "pid:[4026531836]"}
    process(root, 1, every, comm="init", ppid=0, cmdline=b"/sbin/init\x00")
    # A "process 0" with a stat and no namespaces: init's ppid 0 is no parent, not this.
    (root / "proc" / "0").mkdir()
    (root / "proc" / "0" / "stat").write_text(stat_line(0, "swapper", 0, 0))
    member = process(
        root,
        20,
        {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC}]", "pid": "pid:[4026531836]"},
        ppid=1,
        cmdline=b"sleep\x00301\x00",
        fds={
            "0": "/dev/null",
            "1": "pipe:[123]",
            "7": f"net:[{NET}]",
            **{str(fd): f"net:[{NET2}]" for fd in (12, 2, 11, 10, 3, 4, 5, 6, 8, 9)},
        },
    )
    (member / "ns" / "pid_for_children").symlink_to("pid:[4026532200]")
    os.chown(member, 1000, 1000)
    # 21 is another member of the uts namespace, with a parent the tree cannot read.
    process(root, 21, {**every, "ipc": f"ipc:[{IPC}]"}, ppid=33, fds={"1": f"net:[{NET2}]"})
    # pid_for_children equal to the pid link: no holder.
    (root / "proc" / "21" / "ns" / "pid_for_children").symlink_to("pid:[4026531836]")
    # 22: alone in its ipc namespace, uid 77 (a passwd line of three fields), 23 uid 4242
    # (in no passwd line).
    os.chown(process(root, 22, {**every, "ipc": f"ipc:[{IPC + 2}]"}), 77, 77)
    os.chown(process(root, 23, {**every, "ipc": f"ipc:[{IPC + 3}]"}), 4242, 4242)
    # 24: a name that is not UTF-8 is kept, byte for byte (escaped when shown).
    os.chown(process(root, 24, {**every, "ipc": f"ipc:[{IPC + 4}]"}), 78, 78)
    (root / "proc" / "self").symlink_to("20")
    rows, problems = scan(root)
    assert problems == []
    assert (rows[("ipc", IPC + 2)].uid, rows[("ipc", IPC + 2)].user) == (77, "three")
    assert (rows[("ipc", IPC + 3)].uid, rows[("ipc", IPC + 3)].user) == (4242, None)
    assert rows[("ipc", IPC + 4)].user == "caf\udce9"
    uts = rows[("uts", UTS)]
    assert (uts.nprocs, uts.pid, uts.command, uts.cmdline) == (6, 1, "init", "/sbin/init")
    assert (uts.ppid, uts.parent_command, uts.uid, uts.user) == (0, None, 0, "root")
    assert uts.pid_start == 101 and uts.holders == ()
    ipc = rows[("ipc", IPC)]
    assert (ipc.nprocs, ipc.pid, ipc.command, ipc.cmdline) == (2, 20, "sleep", "sleep 301")
    # The first passwd line for a uid names it.
    assert (ipc.ppid, ipc.parent_command, ipc.uid, ipc.user) == (1, "init", 1000, "alice")
    assert ipc.pid_start == 120
    # The tree has no nsfs: nothing could be asked of the kernel.
    assert (ipc.id.dev, ipc.ns_id, ipc.owner, ipc.parent, ipc.owner_uid) == (
        0,
        None,
        None,
        None,
        None,
    )
    net = rows[("net", NET)]
    assert (net.nprocs, net.pid, net.command, net.uid, net.user) == (0, None, None, None, None)
    assert net.holders == (Holder("fd", pid=20, fd=7),)
    # Holders in order of kind, pid, fd number (not of the folder listing), mount path.
    net2 = rows[("net", NET2)]
    assert net2.holders == (
        *(Holder("fd", pid=20, fd=fd) for fd in range(2, 13) if fd != 7),
        Holder("fd", pid=21, fd=1),
    )
    child = rows[("pid", 4026532200)]
    assert (child.nprocs, child.holders) == (0, (Holder("for_children", pid=20),))
    assert set(rows) == {
        ("uts", UTS),
        ("ipc", IPC),
        ("ipc", IPC + 1),
        ("net", NET),
        ("net", NET2),
        ("pid", 4026532200),
        ("pid", 4026531836),
        ("ipc", IPC + 2),
        ("ipc", IPC + 3),
        ("ipc", IPC + 4),
    }
    assert rows[("pid", 4026531836)].nprocs == 6
    # 21's pid_for_children is its own pid namespace: no holder of it.
    assert rows[("pid", 4026531836)].holders == ()


def test_a_parent_that_cannot_be_read_has_no_command(tmp_path: Path) -> None:
    root = tmp_path / "root"
    process(root, 5, {"uts": f"uts:[{UTS}]"}, ppid=4)
    process(root, 4, {"uts": f"uts:[{IPC}]"}, comm="sh", ppid=1)
    (root / "proc" / "4" / "stat").write_text("not a stat line")
    process(root, 6, {"uts": f"uts:[{NET}]"}, ppid=7)  # no process 7
    process(root, 8, {"uts": f"uts:[{NET2}]"}, ppid=9)
    process(root, 9, {"mnt": f"mnt:[{MNT}]"}, comm="bash", ppid=1)
    (root / "proc" / "self").symlink_to("5")
    rows, problems = scan(root)
    # A tree without /etc/passwd names no user, not even root (the host's names are not its).
    assert (rows[("uts", UTS)].uid, rows[("uts", UTS)].user) == (os.getuid(), None)
    assert rows[("uts", UTS)].parent_command is None
    assert rows[("uts", NET)].parent_command is None
    # 9 is nobody's representative of a uts namespace: its comm is read from its stat alone.
    assert rows[("uts", NET2)].parent_command == "bash"
    # 4's own stat is a problem: it stands unread for its namespace.
    assert problems == [ScanProblem(4, f"{root}/proc/4/stat", "EINVAL")]
    assert (rows[("uts", IPC)].nprocs, rows[("uts", IPC)].pid) == (1, 4)


def test_unreadable_links_and_folders_are_problems_gone_ones_are_not(tmp_path: Path) -> None:
    """An ns link, fd folder or task folder that cannot be read for any reason but the process
    being gone (ENOENT) makes the snapshot partial, naming pid, path and errno; a process
    whose ns link cannot be read is left out whole."""
    root = tmp_path / "root"
    # 4 and 30: their uts "link" is a file: readlink answers EINVAL. Left out, ipc included.
    base = process(root, 4, {"ipc": f"ipc:[{IPC}]"})
    (base / "ns" / "uts").write_text("")
    base = process(root, 30, {"ipc": f"ipc:[{IPC}]"})
    (base / "ns" / "uts").write_text("")
    # 31: its fd folder is a file (ENOTDIR); one fd link of 32 is a file (EINVAL).
    base = process(root, 31, {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC}]"})
    (base / "fd").write_text("")
    base = process(root, 32, {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC}]"}, fds={})
    (base / "fd" / "3").write_text("")
    (base / "fd" / "4").symlink_to(f"net:[{NET}]")
    # 33: gone between the listing and its links (no ns folder): nothing, no problem.
    (root / "proc" / "33").mkdir()
    # 34: its task folder is a file (ENOTDIR), read only with threads.
    base = process(root, 34, {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC}]"})
    (base / "task").write_text("")
    # 35: its pid_for_children "link" is a file (EINVAL); 31's holds a pid namespace.
    base = process(root, 35, {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC}]"})
    (base / "ns" / "pid_for_children").write_text("")
    (root / "proc" / "31" / "ns" / "pid_for_children").symlink_to("pid:[4026532200]")
    (root / "proc" / "self").symlink_to("31")
    rows, problems = scan(root)
    proc = f"{root}/proc"
    # In order of pid (not of path, where 30 would come before 4).
    assert problems == [
        ScanProblem(4, f"{proc}/4/ns/uts", "EINVAL"),
        ScanProblem(30, f"{proc}/30/ns/uts", "EINVAL"),
        ScanProblem(31, f"{proc}/31/fd", "ENOTDIR"),
        ScanProblem(32, f"{proc}/32/fd/3", "EINVAL"),
        ScanProblem(35, f"{proc}/35/ns/pid_for_children", "EINVAL"),
    ]
    assert (rows[("uts", UTS)].nprocs, rows[("ipc", IPC)].nprocs) == (4, 4)
    assert rows[("pid", 4026532200)].holders == (Holder("for_children", pid=31),)
    assert rows[("net", NET)].holders == (Holder("fd", pid=32, fd=4),)
    _, problems = scan(root, threads=True)
    assert ScanProblem(34, f"{proc}/34/task", "ENOTDIR") in problems


def test_threads_in_other_namespaces_are_holders_only_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "root"
    base = process(root, 40, {"uts": f"uts:[{UTS}]", "ipc": f"ipc:[{IPC}]"})
    for tid, ipc, uts in ((40, NET, NET), (41, IPC, UTS), (42, IPC, NET2), (43, None, NET)):
        (base / "task" / str(tid) / "ns").mkdir(parents=True)
        if ipc is not None:
            (base / "task" / str(tid) / "ns" / "ipc").symlink_to(f"ipc:[{ipc}]")
        (base / "task" / str(tid) / "ns" / "uts").symlink_to(f"uts:[{uts}]")
    # 44's ipc "link" is a file: a problem, under the thread's id.
    (base / "task" / "44" / "ns").mkdir(parents=True)
    (base / "task" / "44" / "ns" / "ipc").write_text("")
    (root / "proc" / "self").symlink_to("40")
    rows, problems = scan(root)
    assert problems == [] and set(rows) == {("uts", UTS), ("ipc", IPC)}
    rows, problems = scan(root, threads=True)
    # 40 is the process itself, 41 shares its namespaces, 43 is gone (its ipc link, read
    # first, is), 44 cannot be read: only 42.
    assert problems == [ScanProblem(44, f"{base}/task/44/ns/ipc", "EINVAL")]
    assert set(rows) == {("uts", UTS), ("ipc", IPC), ("uts", NET2)}
    assert rows[("uts", NET2)].holders == (Holder("thread", pid=42),)
    assert (rows[("uts", NET2)].nprocs, rows[("uts", UTS)].holders) == (0, ())


def mountinfo(*points: tuple[str, int]) -> str:
    lines = ["22 1 8:1 / / rw - ext4 /dev/sda1 rw"]
    for n, (point, inode) in enumerate(points):
        lines.append(f"{40 + n} 22 0:4 net:[{inode}] {point} rw shared:1 - nsfs nsfs rw")
    return "\n".join(lines) + "\n"


def test_bind_mounts_once_per_mount_namespace_and_their_problems(tmp_path: Path) -> None:
    """nsfs mounts are read through one member of each mount namespace; a mount point that is
    gone is skipped, one that cannot be looked at (ENOTDIR on the way) is a problem."""
    root = (tmp_path / "root").resolve()
    for pid, mnt in ((50, MNT), (51, MNT), (52, MNT + 1)):
        base = process(root, pid, {"mnt": f"mnt:[{mnt}]"})
        (base / "root" / "run" / "netns").mkdir(parents=True)
        (base / "root" / "run" / "netns" / "blue").touch()
        os.link(base / "root" / "run" / "netns" / "blue", base / "root" / "run" / "netns" / "alias")
        (base / "root" / "run" / "file").touch()
    (root / "proc" / "50" / "mountinfo").write_text(
        mountinfo(
            ("/run/netns/blue", NET),
            ("/run/netns/gone", NET2),
            ("/run/file/x", NET2),
            ("/run/netns/blue", NET),  # mounted twice: one holder
            ("/run/netns/alias", NET),
        )
    )
    # 51 sees other mounts: never read, its namespace was read through 50.
    (root / "proc" / "51" / "mountinfo").write_text(mountinfo(("/run/netns/other", NET)))
    os.mkfifo(root / "proc" / "52" / "mountinfo")
    (root / "proc" / "self").symlink_to("50")
    rows, problems = scan(root)
    proc = f"{root}/proc"
    assert problems == [
        ScanProblem(50, f"{proc}/50/root/run/file/x", "ENOTDIR"),
        ScanProblem(52, f"{proc}/52/mountinfo", "EINVAL"),
    ]
    blue = os.stat(root / "proc" / "50" / "root" / "run" / "netns" / "blue")
    (net,) = [ns for ns in rows.values() if ns.id.type is NsType.NET]
    assert (net.id.dev, net.id.inode) == (blue.st_dev, blue.st_ino)
    assert net.holders == (
        Holder("mount", path="/run/netns/alias"),
        Holder("mount", path="/run/netns/blue"),
    )
    assert net.nprocs == 0 and rows[("mnt", MNT)].nprocs == 2


def test_a_tree_without_processes_or_proc_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert not has_processes(HostFS(root))
    with pytest.raises(HostReadError) as e:
        Scanner(HostFS(root)).run()
    assert str(e.value) == f"{root}/proc cannot be read: No such file or directory"
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "sys").mkdir()
    assert not has_processes(HostFS(root))
    with pytest.raises(HostReadError) as e:
        Scanner(HostFS(root)).run()
    assert str(e.value) == (
        f"no processes under {root}/proc: a snapshot needs a live /proc there "
        "(mount one, or leave out --root)"
    )
    (root / "proc" / "12").mkdir()
    assert has_processes(HostFS(root))


def test_a_tree_without_self_ns_tries_every_type(tmp_path: Path) -> None:
    """When /proc/self/ns cannot be listed, every type and the for_children links are tried."""
    root = tmp_path / "root"
    links = {t.value: f"{t.value}:[{4026532300 + i}]" for i, t in enumerate(NsType)}
    base = process(root, 60, links)
    (base / "ns" / "time_for_children").symlink_to("time:[4026532399]")
    rows, problems = scan(root)
    assert problems == []
    assert {k for k, ns in rows.items() if ns.nprocs == 1} == {
        (t.value, 4026532300 + i) for i, t in enumerate(NsType)
    }
    assert rows[("time", 4026532399)].holders == (Holder("for_children", pid=60),)
    # With a self/ns listing, only its types are read; the namespaces' device is that of the
    # first of its links that leads to a file (cgroup's leads nowhere).
    (root / "proc" / "self" / "ns").mkdir(parents=True)
    (root / "proc" / "self" / "ns" / "cgroup").symlink_to("cgroup:[1]")
    (root / "proc" / "self" / "ns" / "uts").symlink_to("uts:[1]")
    (root / "proc" / "self" / "ns" / "uts:[1]").touch()
    rows, _ = scan(root)
    uts = 4026532300 + list(NsType).index(NsType.UTS)
    cgroup = 4026532300 + list(NsType).index(NsType.CGROUP)
    assert set(rows) == {("uts", uts), ("cgroup", cgroup)}
    assert rows[("uts", uts)].id.dev == os.stat(root).st_dev


# --- The live host: /proc's own visibility, seen from a private mount (and pid) namespace ---

CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
# /proc/loadavg contents, in the order the scanner opens it; empty: not rewritten.
_LOADAVG: list[str] = []
_LOADAVG_FILE: list[Path] = []


# Run at the scanner's second open of /proc/loadavg: after the walk, before the task count.
_AT_SECOND: list[Callable[[], None]] = []
_OPENS: list[int] = [0]


def _on_open(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or args[0] != "/proc/loadavg":
        return
    _OPENS[0] += 1
    if _OPENS[0] == 2 and _AT_SECOND:
        _AT_SECOND.pop()()
    if _LOADAVG:
        _LOADAVG_FILE[0].write_text(_LOADAVG.pop(0) if len(_LOADAVG) > 1 else _LOADAVG[0])


sys.addaudithook(_on_open)  # cannot be removed: does nothing while _LOADAVG is empty


def _unshare(flags: int) -> None:
    if ctypes.CDLL(None, use_errno=True).unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _forked(body: Callable[[], Any]) -> Any:
    """body() in a forked child of this process (the code under test as loaded here), its
    result sent back through a pipe, with the functions it called while mutmut records them."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(r)
            out: Any = ("ok", body())
        except BaseException:
            out, status = ("error", traceback.format_exc()), 1
        calls = None
        if os.environ.get("MUTANT_UNDER_TEST") == "stats":
            from mutmut.state import state

            calls = sorted(state()._stats)
        with os.fdopen(w, "wb") as fh:
            pickle.dump((out, calls), fh)
        os._exit(status)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    _wait(pid)
    (kind, value), calls = pickle.loads(data)
    if calls:
        from mutmut.state import state

        state()._stats.update(calls)
    assert kind == "ok", value
    return value


def _visibility(
    tmp_path: Path,
    options: str = "",
    loadavg: list[str] | None = None,
    pid_max: str | None = None,
    pidns: bool = False,
    threads: int = 0,
    user: int | None = None,
    victim: bool = False,
    apart: bool = False,
    every: bool = False,
) -> list[ScanProblem]:
    """The UNSEEN problems of a live scan in a private mount namespace where /proc is mounted
    anew with `options`, /proc/loadavg reads `loadavg` (each open the next; the last stays),
    and /proc/sys/kernel/pid_max reads `pid_max`; in a new pid namespace (this process its
    init), with `threads` more threads, as `user` (`apart`: init keeps the threads and stays
    root, its child scans as `user`); `victim`: a `sleep` the walk sees, gone before the tasks
    are counted; `every`: every problem, not only UNSEEN ones."""
    fake = tmp_path / "loadavg"
    fake.write_text((loadavg or [""])[0])
    limit = tmp_path / "pid_max"
    limit.write_text(pid_max or "")

    def scan_here() -> list[ScanProblem]:
        sh = (
            ["mount", "--make-rprivate", "/"],
            ["mount", "-t", "proc", "-o", options or "rw", "proc", "/proc"],
        )
        for argv in sh:
            subprocess.run(argv, check=True)
        if loadavg is not None:
            subprocess.run(["mount", "--bind", str(fake), "/proc/loadavg"], check=True)
        if pid_max is not None:
            subprocess.run(["mount", "--bind", str(limit), "/proc/sys/kernel/pid_max"], check=True)
        stop = threading.Event()
        for _ in range(threads):
            threading.Thread(target=stop.wait, daemon=True).start()
        try:
            return _forked(scan_as) if apart else scan_as()
        finally:
            stop.set()

    def scan_as() -> list[ScanProblem]:
        sleep = subprocess.Popen(["sleep", "300"]) if victim else None
        if sleep is not None:
            while os.readlink(f"/proc/{sleep.pid}/exe") != shutil.which("sleep"):
                pass
            _AT_SECOND[:] = [lambda: (sleep.kill(), sleep.wait())]
        if user is not None:
            os.setgroups([])
            os.setresgid(user, user, user)
            os.setresuid(user, user, user)
        # One content is there from the start (nobody may not write it): rewritten only for more.
        _LOADAVG[:] = loadavg if loadavg and len(loadavg) > 1 else []
        _LOADAVG_FILE[:] = [fake]
        _OPENS[0] = 0
        try:
            problems = Scanner(HostFS("/")).run().problems
            assert not _AT_SECOND, "loadavg was not read twice"
        finally:
            _LOADAVG.clear()
            _AT_SECOND.clear()
        return [p for p in problems if every or p.errno == UNSEEN]

    def body() -> list[ScanProblem]:
        _unshare(CLONE_NEWNS | (CLONE_NEWPID if pidns else 0))
        if not pidns:
            return scan_here()
        # The first child born after unshare(CLONE_NEWPID) is the new namespace's init.
        return _forked(scan_here)

    return _forked(body)


def unseen(why: str) -> list[ScanProblem]:
    return [ScanProblem(None, why, UNSEEN)]


CONTAINER = "/proc shows {} of {} tasks visible (a pid namespace's /proc, as in a container)"


@needs_root
def test_a_pid_namespace_s_proc_shows_fewer_tasks_than_the_kernel_has(tmp_path: Path) -> None:
    """Alone in a new pid namespace (its init, one task), with the kernel counting 5 tasks and
    no pid handed out during the scan: 1 of 5 seen."""
    got = _visibility(tmp_path, loadavg=["0.00 0.00 0.00 1/5 300"], pidns=True)
    assert got == unseen(CONTAINER.format(1, 5))
    # The real loadavg: the kernel's count of every task of the host.
    (problem,) = _visibility(tmp_path, pidns=True)
    m = re.fullmatch(
        CONTAINER.format("1", r"(\d+)").replace("(a", r"\(a").replace("r)", r"r\)"), problem.path
    )
    assert m is not None and int(m[1]) > 1, problem


@needs_root
@pytest.mark.parametrize(
    ("loadavg", "pid_max", "why"),
    [
        # 3 tasks (init and 2 threads) of 3: the threads are counted by the task folder.
        (["1/3 300"], None, None),
        (["1/4 300"], None, CONTAINER.format(3, 4)),
        # 2 pids handed out during the scan (300 -> 302): 2 tasks the scan may have missed.
        (["1/3 300", "1/5 302"], None, None),
        (["1/3 300", "1/6 302"], None, CONTAINER.format(3, 6)),
        # The last pid wraps at pid_max: 999 -> 1 is 2 pids handed out when pid_max is 1000.
        (["1/3 999", "1/6 1"], "1000", CONTAINER.format(3, 6)),
        (["1/3 999", "1/5 1"], "1000", None),
        # An unreadable pid_max: the kernel's own limit on 64-bit, 4194304.
        (["1/3 4194300", "1/10 2"], "x", CONTAINER.format(3, 10)),
        (["1/3 4194300", "1/9 2"], "x", None),
        # No count at the end: nothing to compare (root sees everything).
        (["1/3 300", ""], None, None),
        # Enough processes for the count: the task folders are not looked at again, nor
        # loadavg (were it read a third time, it would say 9).
        (["1/1 300", "1/1 300", "1/9 300"], None, None),
        # Too few processes: the task folders are counted, and compared with the count read
        # after them (or the one before, when it cannot be read again).
        (["1/3 300", "1/4 300", "1/3 300"], None, None),
        (["1/3 300", "1/4 300", ""], None, CONTAINER.format(3, 4)),
    ],
)
def test_tasks_born_during_the_scan_may_be_missed(
    tmp_path: Path, loadavg: list[str], pid_max: str | None, why: str | None
) -> None:
    got = _visibility(
        tmp_path,
        loadavg=[f"0.00 0.00 0.00 {t}" for t in loadavg],
        pid_max=pid_max,
        pidns=True,
        threads=2,
    )
    assert got == ([] if why is None else unseen(why))


@needs_root
def test_hidepid_hides_other_users_processes(tmp_path: Path) -> None:
    nobody = 65534
    hidden = "/proc is mounted hidepid={}: other users' processes are hidden"
    # No task count to compare (an empty loadavg): the mount options alone.
    got = _visibility(tmp_path, "hidepid=2", loadavg=[""], user=nobody)
    assert got == unseen(hidden.format("invisible"))
    got = _visibility(tmp_path, "hidepid=1", loadavg=[""], user=nobody)
    assert got == unseen(hidden.format("noaccess"))
    # root, and the mount's gid= group, are not hidden from.
    assert _visibility(tmp_path, "hidepid=2", loadavg=[""]) == []
    assert _visibility(tmp_path, f"hidepid=2,gid={nobody}", loadavg=[""], user=nobody) == []
    got = _visibility(tmp_path, "hidepid=2,gid=4242", loadavg=[""], user=nobody)
    assert got == unseen(hidden.format("invisible"))
    assert _visibility(tmp_path, loadavg=[""], user=nobody) == []
    # A count to compare: root's processes are not seen by nobody.
    (problem,) = _visibility(tmp_path, "hidepid=2", loadavg=["0 0 0 1/100000 5"], user=nobody)
    assert re.fullmatch(
        r"/proc is mounted hidepid=invisible: \d+ of 100000 tasks visible", problem.path
    )
    # hidepid=1 lists every process, another user's task folder unreadable: one task each.
    # Here root's init has 3 tasks, nobody's scanner 1: 2 of them seen.
    got = _visibility(
        tmp_path,
        "hidepid=1",
        ["0 0 0 1/3 5"],
        pidns=True,
        threads=2,
        user=nobody,
        apart=True,
        every=True,
    )
    # Problems are in order: the scan's own first, then by pid (init's first link, cgroup, is
    # not nobody's to read: init is left out). A busy host may add its own: a bind mount in a
    # folder nobody cannot enter (a rootless runtime's, another test's), which the scan, in
    # the host's mount namespace, sees and cannot stat; those are not this test's.
    ours = [p for p in got if "/root/" not in p.path]
    assert ours == [
        ScanProblem(None, "/proc is mounted hidepid=noaccess: 2 of 3 tasks visible", UNSEEN),
        ScanProblem(1, "/proc/1/ns/cgroup", "EPERM"),
    ]


@needs_root
def test_a_process_gone_before_its_tasks_are_counted_counts_for_none(tmp_path: Path) -> None:
    """The walk saw init (3 tasks) and a sleep (1); the sleep is gone when the tasks are
    counted: 3 of the 4 the kernel counted are seen."""
    got = _visibility(
        tmp_path, loadavg=["0 0 0 1/3 300", "0 0 0 1/4 300"], pidns=True, threads=2, victim=True
    )
    assert got == unseen(CONTAINER.format(3, 4))


CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x04000000, 0x08000000, 0x10000000
UNNAMED = 48151


@needs_root
def test_the_scanner_stands_for_its_namespace_last_and_its_fds_hold_nothing(
    tmp_path: Path,
) -> None:
    """In a new pid namespace (with its own /proc) the scanner is pid 1, the lowest: still a
    uts namespace it shares with `sleep` is that process's, and an ipc namespace it alone is
    in is its own.
    Its own fds are the scan's, not the host's: a network namespace they alone hold is not
    there."""

    def scan_here() -> dict[str, Any]:
        subprocess.run(["mount", "--make-rprivate", "/"], check=True)
        subprocess.run(["mount", "-t", "proc", "proc", "/proc"], check=True)
        _unshare(CLONE_NEWUTS)
        shared = os.stat("/proc/self/ns/uts").st_ino
        sleep = subprocess.Popen(["sleep", "300"])
        # A network namespace held by this process's fd alone.
        other = subprocess.Popen(["unshare", "--net", "sleep", "300"])
        try:
            while os.stat(f"/proc/{other.pid}/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino:
                pass
            fd = os.open(f"/proc/{other.pid}/ns/net", os.O_RDONLY)
            held = os.fstat(fd).st_ino
            other.kill()
            other.wait()
            while os.readlink(f"/proc/{sleep.pid}/exe") != shutil.which("sleep"):
                pass
            # A sleep of a uid no passwd line names, alone in its uts namespace and in a user
            # namespace it made (its owner).
            stranger = subprocess.Popen(
                ["sleep", "300"],
                preexec_fn=lambda: (
                    _unshare(CLONE_NEWUTS),
                    os.setresuid(UNNAMED, UNNAMED, UNNAMED),
                    _unshare(CLONE_NEWUSER),
                ),
            )
            while os.readlink(f"/proc/{stranger.pid}/exe") != shutil.which("sleep"):
                pass
            _unshare(CLONE_NEWIPC)
            alone = os.stat("/proc/self/ns/ipc").st_ino
            # The live host's users are the system's database (NSS), not a parse of
            # /etc/passwd: a line glibc refuses (3 fields) names nobody.
            subprocess.run(["mount", "--bind", str(passwd), "/etc/passwd"], check=True)
            # A mount namespace of this process alone, where a bind mount holds a network
            # namespace (its process gone, as the one making the mount).
            _unshare(CLONE_NEWNS)
            made = subprocess.Popen(["unshare", "--net", "sleep", "300"])
            while os.stat(f"/proc/{made.pid}/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino:
                pass
            subprocess.run(["mount", "--bind", f"/proc/{made.pid}/ns/net", str(target)], check=True)
            made.kill()
            made.wait()
            mounted = os.stat(target).st_ino
            namespaces = Scanner(HostFS("/")).run().namespaces
        finally:
            sleep.kill()
            stranger.kill()
        rows = {(ns.id.type.value, ns.id.inode): ns for ns in namespaces}
        (unnamed,) = [
            ns for ns in namespaces if ns.pid == stranger.pid and ns.id.type.value == "uts"
        ]
        return {
            "mounted": rows.get(("net", mounted)),
            "pidns": rows[("pid", os.stat("/proc/self/ns/pid").st_ino)],
            "userns": rows[("user", os.stat(f"/proc/{stranger.pid}/ns/user").st_ino)],
            "shared": rows[("uts", shared)],
            "alone": rows[("ipc", alone)],
            "held": rows.get(("net", held)),
            "unnamed": unnamed,
            "sleep": sleep.pid,
            "pid": os.getpid(),
        }

    def body() -> dict[str, Any]:
        _unshare(CLONE_NEWNS | CLONE_NEWPID)
        return _forked(scan_here)

    target = tmp_path / "net"
    target.touch()
    passwd = tmp_path / "passwd"
    passwd.write_text(Path("/etc/passwd").read_text() + f"unnamed:x:{UNNAMED}\n")
    got = _forked(body)
    dev, host_user = ns_of(os.getpid(), "user")
    host_pid = ns_of(os.getpid(), "pid")[1]
    # The kernel's relations: the new pid namespace's parent is out of the scanner's sight
    # (ioctl_ns(2): EPERM when it is outside the caller's pid namespace); the user namespace
    # the stranger made is owned by its uid, its parent (and owner) this one.
    assert got["pidns"].parent is None and got["pidns"].id.inode != host_pid, got["pidns"]
    assert got["pidns"].owner == NamespaceId(NsType.USER, dev, host_user), got["pidns"]
    userns = got["userns"]
    assert (userns.owner_uid, userns.uid, userns.pid) == (UNNAMED, UNNAMED, userns.pid)
    assert userns.parent == userns.owner == NamespaceId(NsType.USER, dev, host_user), userns
    # The scanner's own mount namespace is read through the scanner itself.
    assert got["mounted"] is not None
    assert got["mounted"].holders == (Holder("mount", path=str(target)),)
    assert got["pid"] == 1 and got["held"] is None
    assert (got["shared"].nprocs, got["shared"].pid, got["shared"].command) == (
        2,
        got["sleep"],
        "sleep",
    )
    assert (got["alone"].nprocs, got["alone"].pid) == (1, 1)
    # Users are named by the system's database: root is, UNNAMED is not.
    assert (got["shared"].uid, got["shared"].user) == (0, "root")
    assert (got["unnamed"].uid, got["unnamed"].user) == (UNNAMED, None)
    # The live host's nsfs answers: the namespace's id, its owner.
    assert got["alone"].ns_id is not None and got["alone"].owner is not None


def test_the_kernel_is_asked_through_the_first_file_that_opens(tmp_path: Path) -> None:
    """A namespace's files are tried in order, the representative's link first: one gone
    (ENOENT) passes to the next; one that fails otherwise is a problem and ends the asking.
    Members before the representative (gone) are not tried. In a tree a link "uts:[N]" opens
    the file of that name beside it, whose device the namespace then takes."""
    root = tmp_path / "root"
    ns = root / "proc"
    # uts X: 70's link leads nowhere, 71's to a file.
    process(root, 70, {"uts": f"uts:[{UTS}]"})
    process(root, 71, {"uts": f"uts:[{UTS}]"})
    (ns / "71" / "ns" / f"uts:[{UTS}]").touch()
    # uts Y: 72's link is a loop (ELOOP), 73's a file: never tried.
    process(root, 72, {"uts": f"uts:[{IPC}]"})
    (ns / "72" / "ns" / f"uts:[{IPC}]").symlink_to(f"uts:[{IPC}]")
    process(root, 73, {"uts": f"uts:[{IPC}]"})
    (ns / "73" / "ns" / f"uts:[{IPC}]").touch()
    # uts Z: 74 is gone by the end (no stat), its link leads to a file; 75's nowhere.
    process(root, 74, {"uts": f"uts:[{NET}]"})
    (ns / "74" / "stat").unlink()
    (ns / "74" / "ns" / f"uts:[{NET}]").touch()
    process(root, 75, {"uts": f"uts:[{NET}]"})
    (ns / "self").symlink_to("70")
    rows, problems = scan(root)
    dev = os.stat(root).st_dev
    x, y, z = rows[("uts", UTS)], rows[("uts", IPC)], rows[("uts", NET)]
    assert (x.pid, x.nprocs, x.id.dev) == (70, 2, dev)
    assert (y.pid, y.nprocs, y.id.dev) == (72, 2, 0)
    assert (z.pid, z.nprocs, z.id.dev) == (75, 1, 0)
    assert problems == [ScanProblem(72, f"{ns}/72/ns/uts", "ELOOP")]


def test_a_parent_read_as_a_representative_keeps_the_command_it_had(tmp_path: Path) -> None:
    """A parent that stands for a namespace was read whole: its command is what was read then,
    even if its stat says otherwise by the time its child's namespace is written."""
    root = tmp_path / "root"
    process(root, 80, {"uts": f"uts:[{UTS}]"}, comm="bash", ppid=1)
    process(root, 81, {"uts": f"uts:[{IPC}]"}, ppid=80)
    (root / "proc" / "self").symlink_to("80")

    def rename() -> None:
        (root / "proc" / "80" / "stat").write_text(stat_line(80, "renamed", 1, 180))

    _LATER.clear()
    _LATER[f"{root}/proc/81/stat"] = rename
    try:
        rows, problems = scan(root)
        assert not _LATER, "81's stat was never read"
    finally:
        _LATER.clear()
    assert problems == []
    assert rows[("uts", UTS)].command == "bash"
    assert rows[("uts", IPC)].parent_command == "bash"


# open() path -> what to do, once, when the scanner opens it.
_LATER: dict[str, Callable[[], None]] = {}


def _on_later(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _LATER and isinstance(args[0], str) and args[0] in _LATER:
        _LATER.pop(args[0])()


sys.addaudithook(_on_later)


def test_a_representative_whose_link_cannot_be_read_again_stands_unread(tmp_path: Path) -> None:
    """A member read whole whose namespace link then fails (not gone: here a file where the
    link was, EINVAL) is a problem, and stays counted, standing for its namespace unread when
    no other member can; a command line longer than the kernel's page is cut, not refused."""
    root = tmp_path / "root"
    base = process(root, 90, {"uts": f"uts:[{UTS}]"})
    long = b"x" * 5000 + b"\x00y\x00"
    process(root, 91, {"uts": f"uts:[{IPC}]"}, cmdline=long)
    # 92's cmdline is a FIFO: a problem named by the file.
    fifo = process(root, 92, {"uts": f"uts:[{NET}]"})
    (fifo / "cmdline").unlink()
    os.mkfifo(fifo / "cmdline")
    (root / "proc" / "self").symlink_to("91")

    def unlink() -> None:
        (base / "ns" / "uts").unlink()
        (base / "ns" / "uts").write_text("")

    _LATER.clear()
    _LATER[f"{base}/cmdline"] = unlink
    try:
        rows, problems = scan(root)
        assert not _LATER, "90's cmdline was never read"
    finally:
        _LATER.clear()
    assert problems == [
        ScanProblem(90, f"{base}/ns/uts", "EINVAL"),
        ScanProblem(92, f"{fifo}/cmdline", "EINVAL"),
    ]
    uts = rows[("uts", UTS)]
    assert (uts.nprocs, uts.pid, uts.command, uts.cmdline, uts.uid) == (1, 90, None, None, None)
    assert rows[("uts", IPC)].cmdline == "x" * 4096 + "..."


def test_a_tree_process_with_the_scanner_s_pid_is_not_the_scanner(tmp_path: Path) -> None:
    """Under --root nothing is nsaudit's own process, whatever its pid: the tree's process
    with this process's pid is a member like any other, its fds holders. A tree's loadavg is
    not the kernel's: never read (a FIFO there would block)."""
    root = tmp_path / "root"
    me = os.getpid()
    process(root, me, {"uts": f"uts:[{UTS}]"}, fds={"3": f"uts:[{IPC}]"})
    process(root, me + 1, {"uts": f"uts:[{UTS}]"})
    (root / "proc" / "self").symlink_to(str(me + 1))
    os.mkfifo(root / "proc" / "loadavg")
    rows, problems = scan(root)
    assert problems == []
    assert (rows[("uts", UTS)].pid, rows[("uts", UTS)].nprocs) == (me, 2)
    assert rows[("uts", IPC)].holders == (Holder("fd", pid=me, fd=3),)


def test_the_running_hosts_proc_is_read_as_userfile_reads_it() -> None:
    """read_procfs (the live /proc, three system calls) gives read()'s bytes, limits and errors."""
    from nsaudit import userfile

    me = f"/proc/{os.getpid()}"
    # Files that stay the same between two reads (stat and status count page faults).
    for path in (f"{me}/cmdline", f"{me}/limits", f"{me}/comm"):
        assert userfile.read_procfs(path, 1 << 16) == userfile.read(path, 1 << 16)
    assert userfile.read_procfs(f"{me}/limits", 10, cut=True) == userfile.read(
        f"{me}/limits", 10, cut=True
    )
    with pytest.raises(userfile.Unusable, match="larger than the 10 bytes"):
        userfile.read_procfs(f"{me}/limits", 10)
    with pytest.raises(FileNotFoundError):
        userfile.read_procfs("/proc/0/stat", 100)
