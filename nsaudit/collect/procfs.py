"""Parsing what /proc says about one process, and mountinfo lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

CMDLINE_MAX = 4096
_OCTAL = re.compile(r"\\([0-7]{3})")
_NSFS_LINK = re.compile(r"^(cgroup|ipc|mnt|net|pid|time|user|uts):\[(\d+)\]$")


@dataclass(frozen=True)
class ProcStat:
    comm: str
    ppid: int
    start_time: int


def decode(raw: bytes) -> str:
    """Bytes a process chose, as text; bytes that are not UTF-8 become visible \\xNN."""
    return raw.decode("utf-8", errors="backslashreplace")


def parse_stat(raw: bytes) -> ProcStat:
    """/proc/<pid>/stat, split at the last ')': a command name may itself hold ') S 1'."""
    open_paren = raw.index(b"(")
    close_paren = raw.rindex(b")")
    comm = decode(raw[open_paren + 1 : close_paren])
    fields = raw[close_paren + 2 :].split()
    # After the command: state(0) ppid(1) ... starttime is field 22 of the line, 19 here.
    return ProcStat(comm, int(fields[1]), int(fields[19]))


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
        point = _OCTAL.sub(lambda m: chr(int(m[1], 8)), decode(fields[4]))
        out.append((link[0], point))
    return out
