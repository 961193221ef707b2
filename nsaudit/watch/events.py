"""The BPF program's records (bpf/nswatch.h) as namespace events, and the exits of their tasks."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from nsaudit.collect.cgroup import from_path
from nsaudit.model import INITIAL_USERNS_INODE, NamespaceEvent, NamespaceId, NsType

# struct nswatch_event, field by field.
_RECORD = struct.Struct("<QQ8Q8I8I8I16s256s576s")
_TYPES = (
    NsType.CGROUP,
    NsType.IPC,
    NsType.MNT,
    NsType.NET,
    NsType.PID,
    NsType.TIME,
    NsType.USER,
    NsType.UTS,
)
# The clone flag of each type, in _TYPES' order (CLONE_NEWTIME is 0x80 only for clone3 and
# unshare; the kernel strips the exit signal's byte from clone's flags before the tracepoint).
_CLONE_FLAGS = (
    0x02000000,
    0x08000000,
    0x00020000,
    0x40000000,
    0x20000000,
    0x80,
    0x10000000,
    0x04000000,
)
CLONE, UNSHARE, SETNS, EXIT = 1, 2, 3, 4
# x86_64 system call numbers of the ways to make a task.
_SYSCALLS = {56: "clone", 57: "fork", 58: "vfork", 435: "clone3"}
_USER = _TYPES.index(NsType.USER)


@dataclass(frozen=True)
class Exited:
    """A task that made or entered a namespace exited."""

    tid: int
    boot_ns: int
    at: str


@dataclass(frozen=True)
class Seen:
    """An event as the program sent it: when (CLOCK_BOOTTIME) and what."""

    tid: int
    boot_ns: int
    event: NamespaceEvent


class Clock:
    """CLOCK_BOOTTIME, which BPF stamps records with, as wall-clock time."""

    def __init__(self) -> None:
        self.offset_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)

    def iso(self, boot_ns: int) -> str:
        wall = (boot_ns + self.offset_ns) / 1e9
        return datetime.fromtimestamp(wall, UTC).isoformat(timespec="microseconds")


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _path(raw: bytes, part: int) -> str:
    """A path the program sent as its names, leaf first, each in `part` bytes."""
    names = [_text(raw[i : i + part]) for i in range(0, len(raw), part)]
    return "/" + "/".join(reversed([n for n in names if n and n != "/"]))


def _container(raw: bytes) -> str | None:
    """The id of the container the task's cgroup (unified hierarchy) names, as the kernel had
    it at the event; None for the host's own."""
    found = from_path(_path(raw, 96))
    return None if found is None else found.id


def _exe(raw: bytes) -> str | None:
    """The executable's path (cut at 8 levels, each name at 31 bytes)."""
    path = _path(raw, 32)
    return None if path == "/" else path


def decode(raw: bytes, clock: Clock, nsfs_dev: int) -> Seen | Exited | None:
    """One record (None: one that names no namespace type, which the program does not send).
    nsfs_dev: the device of /proc/self/ns (namespace ids use it)."""
    (boot_ns, flags, *rest) = _RECORD.unpack_from(raw)
    ids, inums, before = rest[0:8], rest[8:16], rest[16:24]
    kind, tid, pid, ppid, uid, euid, syscall, ret = rest[24:32]
    comm, exe, cgroup = rest[32], rest[33], rest[34]
    if kind == EXIT:
        return Exited(tid, boot_ns, clock.iso(boot_ns))
    made = {i for i in range(8) if flags & _CLONE_FLAGS[i]}
    if kind == CLONE:  # the child's namespaces that differ from its parent's
        made |= {i for i in range(8) if inums[i] and inums[i] != before[i]}
    changed = sorted(made)
    if not changed:
        return None
    name = (
        "unshare"
        if kind == UNSHARE
        else "setns"
        if kind == SETNS
        else _SYSCALLS.get(syscall, "clone")
    )
    event = NamespaceEvent(
        at=clock.iso(boot_ns),
        event=name,
        types=",".join(_TYPES[i].value for i in changed),
        pid=pid,
        tid=tid,
        ppid=ppid,
        uid=uid,
        euid=euid,
        initial_userns=None if not before[_USER] else before[_USER] == INITIAL_USERNS_INODE,
        command=_text(comm),
        exe=_exe(exe),
        container=_container(cgroup),
        namespaces=tuple(NamespaceId(_TYPES[i], nsfs_dev, inums[i]) for i in changed),
        ns_ids=" ".join(f"{_TYPES[i].value}:{ids[i]}" for i in changed),
        owner_inode=inums[_USER],
        owner_ns_id=ids[_USER],
        flags=flags,
        mechanism="bpf",
        lived_ms=None,
    )
    return Seen(tid, boot_ns, event)
