"""The BPF program's records (bpf/nswatch.h) as namespace events, and the exits of their tasks."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from nsaudit.collect.cgroup import from_path
from nsaudit.model import INITIAL_USERNS_INODE, NamespaceEvent, NamespaceId, NsType

# struct nswatch_event, field by field.
_RECORD = struct.Struct("<QQ8Q8I8I10I16s256s576s")
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
# enum nswatch_abi: each ABI's name (as audit's arch= has it) and its numbers of the ways to
# make a task (x32's are x86_64's with bit 30 set).
_ARCHES = ("x86_64", "i386", "x32")
_X86_64 = {56: "clone", 57: "fork", 58: "vfork", 435: "clone3"}
_SYSCALLS = (
    _X86_64,
    {120: "clone", 2: "fork", 190: "vfork", 435: "clone3"},
    {0x40000000 | n: name for n, name in _X86_64.items()},
)
# enum nswatch_cut
_CUT_ROOT, _CUT_NAME = 1, 1 << 8
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


def _names(raw: bytes, part: int) -> list[str]:
    """A path's names as the program sent them, leaf first, each in `part` bytes ('' where
    it has fewer)."""
    return [_text(raw[i : i + part]) for i in range(0, len(raw), part)]


def _joined(names: list[str]) -> str:
    """Leaf-first names as a path from the root ('/', a root's own name, is none of it)."""
    return "/" + "/".join(reversed([n for n in names if n and n != "/"]))


def _container(raw: bytes) -> str | None:
    """The id of the container the task's cgroup (unified hierarchy) names, as the kernel had
    it at the event; None for the host's own."""
    found = from_path(_joined(_names(raw, 96)))
    return None if found is None else found.id


def _exe(raw: bytes, cut: int, mnt_ns: int, own_mnt_ns: int) -> str | None:
    """The executable's path up to the root of its mount namespace, as a path only where that
    is the watcher's own: 'mnt:[inode]/path' elsewhere (in a container, or a mount namespace
    a user made and bound any file over /usr/bin/... in), 'mnt:[?]...' on no namespace's
    mount (a memfd's, runc's detached copy of itself). A path not whole says so, and matches
    no absolute glob: '…/' in front (deeper than 8 names, outside its mount's root, or above
    its namespace's root mount), '…' after a name cut at 31 bytes."""
    names = [n + "…" if cut & (_CUT_NAME << i) else n for i, n in enumerate(_names(raw, 32))]
    path = _joined(names)
    if path == "/":
        return None
    if cut & _CUT_ROOT:
        path = "…" + path
    if mnt_ns == own_mnt_ns:
        return path
    return f"mnt:[{mnt_ns or '?'}]{path}"


def decode(raw: bytes, clock: Clock, nsfs_dev: int, mnt_ns: int) -> Seen | Exited | None:
    """One record (None: one that names no namespace type, which the program does not send).
    nsfs_dev: the device of /proc/self/ns (namespace ids use it); mnt_ns: the inode of the
    watcher's mount namespace, the one whose paths are shown as paths."""
    (boot_ns, flags, *rest) = _RECORD.unpack_from(raw)
    ids, inums, before = rest[0:8], rest[8:16], rest[16:24]
    kind, tid, pid, ppid, uid, euid, syscall, abi, exe_mnt_ns, exe_cut = rest[24:34]
    comm, exe, cgroup = rest[34], rest[35], rest[36]
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
        else _SYSCALLS[abi].get(syscall, "clone")
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
        exe=_exe(exe, exe_cut, exe_mnt_ns, mnt_ns),
        container=_container(cgroup),
        namespaces=tuple(NamespaceId(_TYPES[i], nsfs_dev, inums[i]) for i in changed),
        ns_ids=" ".join(f"{_TYPES[i].value}:{ids[i]}" for i in changed),
        owner_inode=inums[_USER],
        owner_ns_id=ids[_USER],
        flags=flags,
        mechanism="bpf",
        arch=_ARCHES[abi],
        lived_ms=None,
    )
    return Seen(tid, boot_ns, event)
