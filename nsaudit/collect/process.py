"""One process as the scan reads it: its stat, command line and owner, read while it lived;
user names of uids; and whether a root runs any process at all."""

from __future__ import annotations

import errno
import os
import pwd
from collections.abc import Callable

from nsaudit import userfile
from nsaudit.collect import procfs
from nsaudit.hostfs import HostFS

MAX_STAT = 64 * 1024
_MAX_PASSWD = 64 * 1024 * 1024
# (start time, ppid, comm, cmdline, uid) of a process
Info = tuple[int, int, str, str, int]
Read = Callable[..., bytes]  # userfile.read, or read_procfs for the running host's /proc


def read_process(proc: str, pid: int, read: Read = userfile.read) -> Info | None:
    """(start time, ppid, comm, cmdline, uid) of a process, all read while it lived; None when
    it has begun to exit (its command line reads empty once its memory is released, as a
    kernel thread's does). OSError when it is gone or cannot be read. `read`: how the host's
    /proc files are read (userfile.reader)."""
    base = f"{proc}/{pid}"
    before = _stat(base, read)
    try:
        raw = read(f"{base}/cmdline", procfs.CMDLINE_MAX + 1, cut=True)
    except OSError as e:
        raise OSError(e.errno, e.strerror, f"{base}/cmdline") from None
    uid = os.stat(base).st_uid
    after = _stat(base, read)
    # PF_EXITING is never cleared: the same process (start time) not yet exiting after the
    # reads was alive during them, so an empty command line is its own, not its exit's.
    if after.exiting or after.start_time != before.start_time:
        return None
    return before.start_time, before.ppid, before.comm, procfs.parse_cmdline(raw), uid


def _stat(base: str, read: Read) -> procfs.ProcStat:
    path = f"{base}/stat"
    try:
        return procfs.parse_stat(read(path, MAX_STAT))
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None
    except (ValueError, IndexError):
        raise OSError(errno.EINVAL, "not a process's stat file", path) from None


class Users:
    """uid to user name: the system's database on the live host, <root>/etc/passwd otherwise."""

    def __init__(self, host: HostFS) -> None:
        self.live = host.live
        self.cache: dict[int, str | None] = {}
        if not self.live:
            try:
                text = host.read_bytes("/etc/passwd", _MAX_PASSWD).decode(errors="surrogateescape")
            except OSError:
                text = ""
            for line in text.splitlines():
                parts = line.split(":")
                if len(parts) > 2 and parts[2].isdigit():
                    self.cache.setdefault(int(parts[2]), parts[0])

    def name(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if uid not in self.cache:
            try:
                self.cache[uid] = pwd.getpwuid(uid).pw_name if self.live else None
            except KeyError:
                self.cache[uid] = None
        return self.cache[uid]


def has_processes(host: HostFS) -> bool:
    """Whether the root has a live /proc with processes (a kernel image or fixture has not)."""
    try:
        return any(name.isdigit() for name in os.listdir(host.path("/proc")))
    except OSError:
        return False
