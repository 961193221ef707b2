"""Does this /proc show every task the kernel has? A hidepid= mount hides other users'
processes; a pid namespace's /proc (a container's) shows only its own. A scan that cannot see
everything is partial, whatever it found."""

from __future__ import annotations

import errno
import os

from nsaudit.collect import procfs
from nsaudit.model import UNSEEN, ScanProblem

# A process that exits during the scan: nothing to count.
_GONE = frozenset({errno.ENOENT, errno.ESRCH})


def loadavg(proc: str) -> procfs.LoadAvg | None:
    try:
        with open(f"{proc}/loadavg", "rb") as fh:
            return procfs.parse_loadavg(fh.read())
    except (OSError, ValueError, IndexError):
        return None


def unseen(proc: str, pids: list[int], before: procfs.LoadAvg | None) -> ScanProblem | None:
    """The ScanProblem (pid None, errno UNSEEN) when this /proc does not show every task the
    kernel has: it is mounted hidepid= (other users' processes hidden), or it is a pid
    namespace's (a container's).

    Two witnesses. The mount options say whether processes may be hidden from this user;
    the kernel's task count in loadavg says whether any were. Tasks born during the walk
    (told by the last pid handed out) may be missed; any other task alive at both reads
    of loadavg was listed, and is counted by the link count of its task directory
    (2 + threads), one stat per process, skipped when the processes alone cover the count.
    """
    options = _mount_options(proc)
    # The kernel shows hidepid= only when it hides something (proc_show_options).
    hidepid = (options or {}).get("hidepid")
    hiding = hidepid is not None
    after = loadavg(proc)
    if before is None or after is None:
        # No count to compare: the mount options alone say whether processes are hidden.
        if hiding and not _exempt(options):
            why = f"{proc} is mounted hidepid={hidepid}: other users' processes are hidden"
            return ScanProblem(None, why, UNSEEN)
        return None
    seen, expected = len(pids), _expected(proc, before, after)
    if seen < expected:
        seen = sum(_tasks(proc, pid) for pid in pids)
        after = loadavg(proc) or after
        expected = _expected(proc, before, after)
    if seen >= expected:
        return None
    counted = f"{seen} of {after.tasks} tasks visible"
    if hiding:
        why = f"{proc} is mounted hidepid={hidepid}: {counted}"
    else:
        why = f"{proc} shows {counted} (a pid namespace's /proc, as in a container)"
    return ScanProblem(None, why, UNSEEN)


def _expected(proc: str, before: procfs.LoadAvg, after: procfs.LoadAvg) -> int:
    """How many tasks a scan that sees everything must have found: those alive at the end
    less those born during the walk."""
    born = (after.last_pid - before.last_pid) % _pid_max(proc)
    return after.tasks - born


def _pid_max(proc: str) -> int:
    try:
        with open(f"{proc}/sys/kernel/pid_max", "rb") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 4194304


def _tasks(proc: str, pid: int) -> int:
    try:
        return max(os.stat(f"{proc}/{pid}/task").st_nlink - 2, 1)
    except OSError as e:
        # Gone since it was listed: nothing to count. Listed but unreadable
        # (hidepid=noaccess): one task at least.
        return 0 if e.errno in _GONE else 1


def _mount_options(proc: str) -> dict[str, str] | None:
    try:
        with open(f"{proc}/self/mountinfo", "rb") as fh:
            mountinfo = fh.read()
    except OSError:
        return None
    return procfs.proc_mount_options(mountinfo, os.fsencode(proc))


def _exempt(options: dict[str, str] | None) -> bool:
    """Whether hidepid hides nothing from this process: root, or the mount's gid= group."""
    if os.geteuid() == 0:
        return True
    gid = (options or {}).get("gid")
    return gid is not None and gid.isdigit() and int(gid) in {os.getegid(), *os.getgroups()}
