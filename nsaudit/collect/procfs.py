"""Parsing what /proc says about one process, and mountinfo lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

CMDLINE_MAX = 4096
_OCTAL = re.compile(rb"\\((?!000)[0-7]{3})")  # the kernel never writes \\000
_NSFS_LINK = re.compile(r"^(cgroup|ipc|mnt|net|pid|time|user|uts):\[(\d+)\]$")
# A bit of the task's flags word (include/linux/sched.h), field 9 of /proc/PID/stat.
PF_EXITING = 0x00000004


@dataclass(frozen=True)
class ProcStat:
    comm: str
    ppid: int
    flags: int
    start_time: int

    @property
    def exiting(self) -> bool:
        """Whether the process has begun to exit: PF_EXITING is set early in do_exit(),
        before its memory (and so its command line) and its namespaces are released, and is
        never cleared (a zombie has it)."""
        return bool(self.flags & PF_EXITING)


def decode(raw: bytes) -> str:
    """Bytes a process chose, as text that keeps them all: a byte that is not UTF-8 becomes a
    lone surrogate (surrogateescape), which os functions accept and render/escape.py shows as
    \\xNN, so it is never confused with the four characters a process could choose."""
    return raw.decode("utf-8", errors="surrogateescape")


def unescape_mount_path(raw: bytes) -> bytes:
    """A mountinfo path field: the kernel writes space, tab, newline and backslash as \\ooo."""
    return _OCTAL.sub(lambda m: bytes([int(m[1], 8) & 0xFF]), raw)


def parse_stat(raw: bytes) -> ProcStat:
    """/proc/<pid>/stat, split at the last ')': a command name may itself hold ') S 1'."""
    open_paren = raw.index(b"(")
    close_paren = raw.rindex(b")")
    comm = decode(raw[open_paren + 1 : close_paren])
    fields = raw[close_paren + 2 :].split()
    # After the command: state(0) ppid(1) ... flags(6) ... starttime is field 22 of the line,
    # 19 here.
    return ProcStat(comm, int(fields[1]), int(fields[6]), int(fields[19]))


def parse_cmdline(raw: bytes) -> str:
    """The NUL-separated arguments joined by spaces, bounded to CMDLINE_MAX bytes."""
    cut = raw[:CMDLINE_MAX]
    text = decode(cut.rstrip(b"\0").replace(b"\0", b" "))
    return text + ("..." if len(raw) > CMDLINE_MAX else "")


def nsfs_link(target: str) -> tuple[str, int] | None:
    """('net', 4026532281) for a link target 'net:[4026532281]', else None."""
    m = _NSFS_LINK.match(target)
    return (m[1], int(m[2])) if m else None


def nsfs_mounts(mountinfo: bytes) -> list[tuple[str, str]]:
    """(namespace type, mount point) of each nsfs mount in a mountinfo file."""
    out = []
    for line in mountinfo.split(b"\n"):
        left, sep, right = line.partition(b" - ")
        if not sep or not right.startswith(b"nsfs "):
            continue
        fields = left.split(b" ")
        if len(fields) < 5:
            continue
        link = nsfs_link(decode(fields[3]))
        if link is None:
            continue
        out.append((link[0], decode(unescape_mount_path(fields[4]))))
    return out


@dataclass(frozen=True)
class LoadAvg:
    """The kernel's own task count (every thread, kernel threads included) and the last pid
    it handed out, from /proc/loadavg."""

    tasks: int
    last_pid: int


def parse_loadavg(raw: bytes) -> LoadAvg:
    """'0.00 0.01 0.05 2/161 7387': the 4th field is running/total, the 5th the last pid."""
    fields = raw.split()
    return LoadAvg(int(fields[3].partition(b"/")[2]), int(fields[4]))


def proc_mount_options(mountinfo: bytes, point: bytes) -> dict[str, str] | None:
    """The superblock options (hidepid=, gid=, subset=) of the proc mount on top at `point`,
    or None when no proc file system is mounted there."""
    found: dict[str, str] | None = None
    for line in mountinfo.split(b"\n"):
        left, sep, right = line.partition(b" - ")
        fields = left.split(b" ")
        if not sep or len(fields) < 5 or unescape_mount_path(fields[4]) != point:
            continue
        kind = right.split(b" ")
        # A later line is mounted over an earlier one at the same point.
        found = None
        if kind[0] == b"proc" and len(kind) >= 3:
            found = {}
            for option in decode(kind[2]).split(","):
                name, _, value = option.partition("=")
                found[name] = value
    return found
