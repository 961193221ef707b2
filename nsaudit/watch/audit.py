"""The audit mechanism, where BPF is not allowed: the kernel's audit subsystem, read through its
multicast group (beside auditd, if it runs), with rules of nsaudit's own for unshare, setns and
clone with namespace flags (x86_64's and i386's), removed again when the watch stops.

Its blind spots, stated wherever its events are shown: no namespace inodes or ids (audit names
none), no containers (audit names no cgroup), no clone3 (its flags are behind a pointer that
audit rules cannot read, and glibc uses clone3 for every thread and posix_spawn: a rule for all
of them would slow the host), no x32 calls, no exits, so no lifetimes, not whether a process
was in the initial user namespace, and executables as the process's own root shows them (in a
mount namespace of its own, a user can bind any file over /usr/bin/...)."""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
import time
from datetime import UTC, datetime

from nsaudit.errors import HostReadError
from nsaudit.model import NamespaceEvent
from nsaudit.watch.events import Exited, Seen
from nsaudit.watch.handshake import LOCKS as RUN_FOLDER

_NETLINK_AUDIT = 9
_NLGRP_READLOG = 1
_HEADER = struct.Struct("=IHHII")
_NLMSG_ERROR, _AUDIT_GET, _AUDIT_SET = 2, 1000, 1001
_AUDIT_ADD_RULE, _AUDIT_DEL_RULE, _AUDIT_SYSCALL = 1011, 1012, 1300
_STATUS = struct.Struct("=10I")
_STATUS_ENABLED, _STATUS_BACKLOG_LIMIT = 0x1, 0x10
# struct audit_rule_data: flags, action, field_count, mask[64], fields[64], values[64],
# fieldflags[64], buflen; then buf.
_RULE = struct.Struct("=3I64I64I64I64II")
# AUDIT_FILTER_PREPEND: first in the list, since the kernel applies only the first exit rule
# that matches a call, and another rule (auditd's) would otherwise take these calls.
_FILTER_EXIT, _FILTER_PREPEND, _ALWAYS = 0x04, 0x10, 2
_ARCH, _SUCCESS, _ARG0, _FILTERKEY = 11, 104, 200, 210
_EQUAL, _BIT_MASK = 0x40000000, 0x08000000
KEY = b"nsaudit-watch"
# Each ABI a rule names (audit's arch= value), and its numbers of unshare, setns and clone: a
# 64-bit program can make i386 calls too (int 0x80). x32's calls (bit 30 set) no rule can
# name: audit's syscall mask stops at 2047.
_ARCHES = {
    0xC000003E: ("x86_64", 272, 308, 56),
    0x40000003: ("i386", 310, 346, 120),
}
_FLAGS = {
    "cgroup": 0x02000000,
    "ipc": 0x08000000,
    "mnt": 0x00020000,
    "net": 0x40000000,
    "pid": 0x20000000,
    "time": 0x80,
    "user": 0x10000000,
    "uts": 0x04000000,
}
_ANY_NEW = sum(_FLAGS.values())
_BACKLOG = 8192
_SO_RCVBUFFORCE = 33  # not in Python's socket module
_RCVBUF = 8 << 20
_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')
_STAMP = re.compile(r"audit\((\d+)\.(\d+):(\d+)\)")


def _rule(arch: int, syscalls: tuple[int, ...], arg0_mask: int | None, flags: int) -> bytes:
    mask = [0] * 64
    for nr in syscalls:
        mask[nr // 32] |= 1 << (nr % 32)
    fields = [(_ARCH, arch, _EQUAL), (_SUCCESS, 1, _EQUAL)]
    if arg0_mask is not None:
        fields.append((_ARG0, arg0_mask, _BIT_MASK))
    fields.append((_FILTERKEY, len(KEY), _EQUAL))
    pad = [0] * (64 - len(fields))
    return (
        _RULE.pack(
            flags,
            _ALWAYS,
            len(fields),
            *mask,
            *[f[0] for f in fields] + pad,
            *[f[1] for f in fields] + pad,
            *[f[2] for f in fields] + pad,
            len(KEY),
        )
        + KEY
    )


# Namespaces made by unshare or clone (with a namespace flag), and every setns, in each ABI.
def _rules(flags: int) -> tuple[bytes, ...]:
    return tuple(
        rule
        for arch, (_, unshare, setns, clone) in _ARCHES.items()
        for rule in (
            _rule(arch, (unshare, clone), _ANY_NEW, flags),
            _rule(arch, (setns,), None, flags),
        )
    )


# Added first in the list; a rule in the list no longer carries the prepend flag, so it is
# deleted without it.
_ADD, _DELETE = _rules(_FILTER_EXIT | _FILTER_PREPEND), _rules(_FILTER_EXIT)


def _text(value: str) -> str:
    """An audit value: "quoted" as it is, else hex (audit's form for text with odd bytes)."""
    if value.startswith('"'):
        return value[1:-1]
    try:
        return bytes.fromhex(value).decode("utf-8", "surrogateescape")
    except ValueError:
        return value


def _types(flags: int) -> str:
    return ",".join(t for t, bit in _FLAGS.items() if flags & bit)


def parse(record: str) -> NamespaceEvent | None:
    """A SYSCALL record of nsaudit's rules as an event; None for any other."""
    stamp = _STAMP.search(record)
    found = {k: v for k, v in _FIELD.findall(record)}
    if stamp is None or found.get("key") != f'"{KEY.decode()}"':
        return None
    syscall = int(found.get("syscall", "0"))
    arch, unshare, setns, clone = _ARCHES.get(int(found.get("arch", "0"), 16), ("", 0, 0, 0))
    if not arch:
        return None
    at = datetime.fromtimestamp(int(stamp[1]) + int(stamp[2]) / 1000, UTC)
    # A clone's pid is the caller's: the child's (audit's exit=) is as the caller's pid
    # namespace numbers it, which is not the host's inside a container.
    pid = int(found.get("pid", "0"))
    if syscall == setns:
        event, flags, types = "setns", int(found.get("a1", "0"), 16), None
        types = _types(flags) or "unknown"
    elif syscall in (unshare, clone):
        event, flags = ("unshare" if syscall == unshare else "clone"), int(found["a0"], 16)
        types = _types(flags)
    else:
        return None
    return NamespaceEvent(
        at=at.isoformat(timespec="microseconds"),
        event=event,
        types=types,
        pid=pid,
        tid=pid,
        ppid=int(found.get("ppid", "0")),
        uid=int(found.get("uid", "0")),
        euid=int(found.get("euid", "0")),
        initial_userns=None,
        command=_text(found["comm"]) if "comm" in found else None,
        exe=_text(found["exe"]) if "exe" in found else None,
        container=None,
        namespaces=(),
        ns_ids=None,
        owner_inode=None,
        owner_ns_id=None,
        flags=flags,
        mechanism="audit",
        arch=arch,
        lived_ms=None,
    )


def _host_lock(path: str) -> int:
    """The host's one audit watcher: two would share one set of rules, and the first to stop
    would remove them under the other."""
    import fcntl

    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 16, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise HostReadError(
            f"another nsaudit watch (pid {holder}) uses the audit subsystem on this host: "
            "one host has one audit watcher"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class AuditWatch:
    """Namespace events from the audit subsystem: it is switched on while nsaudit watches
    (and back off after, if it was off), with a larger backlog, and nsaudit's rules."""

    name = "audit"
    description = "the kernel's audit subsystem (netlink multicast)"
    blind = (
        "names no namespace inodes or ids and no containers, sees no clone3, no x32 calls and no "
        "exits (so no lifetimes), cannot tell whether a process was in the initial user "
        "namespace, and names executables as the process's own root shows them"
    )

    def __init__(self, folder: str = RUN_FOLDER) -> None:
        self._seq = 0
        self._state = f"{folder}/audit-state"
        self._lock = _host_lock(f"{folder}/audit.lock")
        try:
            self._control = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_AUDIT)
            self._control.bind((0, 0))
            self._control.settimeout(5)
        except OSError as e:
            os.close(self._lock)
            raise HostReadError(f"the audit subsystem cannot be used: {e.strerror}") from None
        self._reader: socket.socket | None = None
        self._restore: tuple[int, int] | None = None
        try:
            status = self._status()
            if status[1] == 2:
                raise HostReadError(
                    "audit rules are locked (audit enabled=2) and nsaudit cannot add its own: "
                    "use --mechanism bpf"
                )
            self._lost_before = status[6]
            self._restore = self._found(status[1], status[5])
            self._set(_STATUS_ENABLED | _STATUS_BACKLOG_LIMIT, 1, max(status[5], _BACKLOG))
            self._delete_rules()  # a killed run's
            for rule in _ADD:
                self._request(_AUDIT_ADD_RULE, rule)
            self._reader = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_AUDIT)
            try:
                self._reader.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
            except PermissionError:  # without CAP_NET_ADMIN: as large as net.core.rmem_max
                self._reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            self._reader.bind((0, 1 << (_NLGRP_READLOG - 1)))
            self._reader.setblocking(False)
        except OSError as e:
            self.close()
            hint = (
                " (it needs CAP_AUDIT_CONTROL and CAP_AUDIT_READ, or root)"
                if e.errno
                in (
                    errno.EPERM,
                    errno.EACCES,
                )
                else ""
            )
            raise HostReadError(f"the audit subsystem cannot be used: {e.strerror}{hint}") from None
        except BaseException:
            self.close()
            raise
        self._overflows = 0

    def _delete_rules(self) -> None:
        """Every rule of nsaudit's in the list (the kernel deletes one a request)."""
        for rule in _DELETE:
            for _ in range(1000):
                try:
                    self._request(_AUDIT_DEL_RULE, rule)
                except FileNotFoundError:
                    break

    def _found(self, enabled: int, backlog: int) -> tuple[int, int]:
        """The audit state to put back when the watch stops: as a run that was killed found
        it (it wrote it down before changing it), else as it is now, written down."""
        try:
            with open(self._state) as f:
                words = f.read().split()
            return int(words[0]), int(words[1])
        except (OSError, ValueError, IndexError):
            with open(self._state, "w") as f:
                f.write(f"{enabled} {backlog}\n")
            return enabled, backlog

    def _request(self, kind: int, body: bytes) -> bytes | None:
        """Send a request: AUDIT_GET's reply body; for others, None once acknowledged."""
        self._seq += 1
        get = kind == _AUDIT_GET
        flags = 0x1 if get else 0x1 | 0x4  # NLM_F_REQUEST, and NLM_F_ACK but for a GET
        self._control.send(_HEADER.pack(_HEADER.size + len(body), kind, flags, self._seq, 0) + body)
        while True:
            data = self._control.recv(65536)
            length, rtype, _, seq, _ = _HEADER.unpack_from(data)
            if seq != self._seq:
                continue
            if rtype == _NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, _HEADER.size)[0]
                if code == 0:
                    return None
                raise OSError(code, os.strerror(code))
            if get:
                return data[_HEADER.size : length]

    def _status(self) -> tuple[int, ...]:
        body = self._request(_AUDIT_GET, b"")
        assert body is not None
        return _STATUS.unpack_from(body.ljust(_STATUS.size, b"\0"))

    def _set(self, mask: int, enabled: int, backlog: int) -> None:
        self._request(_AUDIT_SET, _STATUS.pack(mask, enabled, 0, 0, 0, backlog, 0, 0, 0, 0))

    def poll(self, timeout_ms: int) -> list[Seen | Exited]:
        assert self._reader is not None
        out: list[Seen | Exited] = []
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                data = self._reader.recv(1 << 16)
            except BlockingIOError:
                if out or time.monotonic() >= deadline:
                    return out
                time.sleep(0.01)
                continue
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self._overflows += 1  # records dropped: at least one
                continue
            length, rtype = _HEADER.unpack_from(data)[:2]
            if rtype != _AUDIT_SYSCALL:
                continue
            event = parse(data[_HEADER.size : length].decode("utf-8", "replace"))
            if event is not None:
                ns = int(datetime.fromisoformat(event.at).timestamp() * 1e9)
                out.append(Seen(event.tid or 0, ns, event))

    def lost(self) -> int:
        """Records the kernel dropped since the watch began (all of the host's: audit counts
        them together), and overflows of nsaudit's socket."""
        return max(self._status()[6] - self._lost_before, 0) + self._overflows

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        try:
            self._delete_rules()
            if self._restore is not None:
                self._set(_STATUS_ENABLED | _STATUS_BACKLOG_LIMIT, *self._restore)
                self._restore = None
                os.unlink(self._state)
        except OSError:
            pass
        self._control.close()
        os.close(self._lock)
