"""Walk /proc once: namespaces of processes, of open fds and of nsfs bind mounts.

Over 300 lines: the walk is one class whose state (the namespaces found so far, the problems,
the caches of links and processes) every step shares. What does not need that state lives
apart: reading one process (process.py), whether /proc shows every task (visibility.py),
parsing (procfs.py) and the nsfs ioctls (nsfs.py)."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from nsaudit import timing, userfile
from nsaudit.collect import nsfs, procfs, visibility
from nsaudit.collect.process import MAX_STAT, Info, Users, read_process
from nsaudit.errors import HostReadError
from nsaudit.hostfs import HostFS
from nsaudit.model import Holder, HolderKind, Namespace, NamespaceId, NsType, ScanProblem

# A process that exits during the scan: skipped, never an error.
_GONE = frozenset({errno.ENOENT, errno.ESRCH})
# Bounds for reads that a --root tree could make endless (a FIFO, a link to /dev/zero).
_MAX_MOUNTINFO = 64 * 1024 * 1024
_FOR_CHILDREN = ("pid_for_children", "time_for_children")


@dataclass
class _Found:
    """What the walk learns about one namespace before it becomes a Namespace."""

    nprocs: int = 0
    members: list[int] = field(default_factory=list)  # but nsaudit's own processes
    own: list[int] = field(default_factory=list)  # nsaudit's own processes among the members
    holders: dict[Holder, str] = field(default_factory=dict)  # each with a path that opens it

    def member(self, pid: int, own: bool) -> None:
        self.nprocs += 1
        (self.own if own else self.members).append(pid)

    def held(self, holder: Holder, path: str) -> None:
        self.holders.setdefault(holder, path)

    def candidates(self) -> list[int]:
        """Members in the order they may stand for the namespace: lowest pid first, and
        nsaudit itself last, only when nothing else does: its pid and arguments change every
        run, and would read as a change of the namespace."""
        return sorted(self.members) + sorted(self.own)


@dataclass(frozen=True)
class ScanResult:
    namespaces: tuple[Namespace, ...]
    problems: tuple[ScanProblem, ...]


class Scanner:
    """One scan of one host's /proc."""

    def __init__(self, host: HostFS, threads: bool = False, command: int | None = None) -> None:
        """`command`: the nsaudit command this scan is for, when this process is its prescan
        (nsaudit/collect/prescan.py): the command counts as nsaudit's own process, and the
        prescan, a helper that exists only meanwhile, is not counted at all."""
        self.proc = str(host.path("/proc"))
        self.host = host
        self.threads = threads
        self.found: dict[NamespaceId, _Found] = {}
        self.problems: list[ScanProblem] = []
        try:
            links = set(os.listdir(f"{self.proc}/self/ns"))
        except OSError:
            # Cannot tell which types this kernel has: try them all, and count what fails.
            links = {t.value for t in NsType} | set(_FOR_CHILDREN)
        self.types = [t for t in NsType if t.value in links]
        self.for_children = [name for name in _FOR_CHILDREN if name in links]
        self.type_links = [t.value for t in self.types]
        self.with_id = host.live and nsfs.has_ns_get_id()
        self.nsfs_dev = self._nsfs_dev()
        self.info: dict[int, tuple[bool, Info | None]] = {}
        self.comms: dict[int, str | None] = {}  # parents' commands only
        self.exes: dict[int, str | None] = {}  # a representative's executable, read once
        self.host_files: dict[str, tuple[int, int] | None] = {}  # _host_file's answers
        self.targets: dict[str, NamespaceId | None] = {}
        self.own = command or os.getpid() if host.live else None
        self.helper = os.getpid() if host.live and command else None
        self.read = userfile.reader(host.live)

    def _nsfs_dev(self) -> int:
        """The nsfs device, from stat (which follows a link to nsfs), learned once.

        Every link is then read with readlink, which names type and inode at a quarter of the
        cost of a stat; each namespace's device is confirmed by fstat when it is opened for
        the nsfs ioctls.
        """
        for t in self.types:
            try:
                return os.stat(f"{self.proc}/self/ns/{t.value}").st_dev
            except OSError:
                continue
        return 0

    def _read(self, pid: int, path: str) -> tuple[bool, NamespaceId | None]:
        """(read, namespace) of a link; what cannot be read, but for a process gone, is counted."""
        try:
            return True, self._link(path)
        except OSError as e:
            if e.errno not in _GONE:
                self._problem(pid, path, e)
            return False, None

    def _link(self, path: str) -> NamespaceId | None:
        target = os.readlink(path)
        # Most links name the same few namespaces: parse each distinct target once.
        return self.targets[target] if target in self.targets else self._target(target)

    def _target(self, target: str) -> NamespaceId | None:
        link = procfs.nsfs_link(target)
        ns = NamespaceId(NsType(link[0]), self.nsfs_dev, link[1]) if link else None
        self.targets[target] = ns
        return ns

    def run(self) -> ScanResult:
        before = visibility.loadavg(self.proc) if self.host.live else None
        try:
            entries = os.listdir(self.proc)
        except OSError as e:
            raise HostReadError(f"{self.proc} cannot be read: {e.strerror}") from None
        pids = [int(name) for name in entries if name.isdigit()]
        if not pids:
            raise HostReadError(
                f"no processes under {self.proc}: a snapshot needs a live /proc there "
                "(mount one, or leave out --root)"
            )
        with timing.phase("walk"):
            for pid in pids:
                if pid != self.helper:
                    self._process(pid)
            if self.host.live and (unseen := visibility.unseen(self.proc, pids, before)):
                self.problems.append(unseen)
            self._bind_mounts()
        namespaces = self._namespaces()
        return ScanResult(namespaces, tuple(sorted(set(self.problems), key=problem_key)))

    def _problem(self, pid: int | None, path: str, e: OSError) -> None:
        self.problems.append(ScanProblem(pid, path, errno.errorcode.get(e.errno or 0, "EIO")))

    def _process(self, pid: int) -> None:
        """Record a process's namespaces (all of its type links read, or none of them: gone,
        or unreadable and counted), then its for_children links, fds and threads. The hot
        path of the walk: a readlink per link (_read and _link, inlined), each distinct target
        parsed once."""
        base = f"{self.proc}/{pid}"
        targets = self.targets
        namespaces: list[NamespaceId] = []  # those it is a member of
        for name in self.type_links:
            path = f"{base}/ns/{name}"
            try:
                target = os.readlink(path)
            except OSError as e:
                if e.errno not in _GONE:
                    self._problem(pid, path, e)
                return
            ns = targets[target] if target in targets else self._target(target)
            if ns is not None:
                namespaces.append(ns)
        own = pid == self.own
        found = self.found
        for ns in namespaces:
            entry = found.get(ns)
            if entry is None:
                entry = found[ns] = _Found()
            entry.member(pid, own)
        held: list[tuple[NamespaceId, Holder, str]] = []
        for name in self.for_children:
            path = f"{base}/ns/{name}"
            # ENOENT here is no exit: after unshare(CLONE_NEWPID) the link stays empty until
            # the first child is born.
            ok, ns = self._read(pid, path)
            if ns is not None and ns not in namespaces:
                held.append((ns, Holder(HolderKind.FOR_CHILDREN, pid=pid), path))
        if not own:  # nsaudit's own fds are the scan's, not the host's
            held += self._fds(pid, base)
        if self.threads and not own:
            held += self._threads(pid, base, {ns.type: ns for ns in namespaces})
        for ns, holder, where in held:
            self.found.setdefault(ns, _Found()).held(holder, where)

    def _fds(self, pid: int, base: str) -> list[tuple[NamespaceId, Holder, str]]:
        out: list[tuple[NamespaceId, Holder, str]] = []
        try:
            fds = os.listdir(f"{base}/fd")
        except OSError as e:
            if e.errno not in _GONE:
                self._problem(pid, f"{base}/fd", e)
            return out
        for fd in fds:
            path = f"{base}/fd/{fd}"
            ns = self._read(pid, path)[1]
            if ns is not None:
                out.append((ns, Holder(HolderKind.FD, pid=pid, fd=int(fd)), path))
        return out

    def _threads(
        self, pid: int, base: str, member: dict[NsType, NamespaceId]
    ) -> list[tuple[NamespaceId, Holder, str]]:
        out: list[tuple[NamespaceId, Holder, str]] = []
        try:
            tids = [int(t) for t in os.listdir(f"{base}/task") if int(t) != pid]
        except OSError as e:
            if e.errno not in _GONE:
                self._problem(pid, f"{base}/task", e)
            return out
        for tid in tids:
            for t in self.types:
                path = f"{base}/task/{tid}/ns/{t.value}"
                ok, ns = self._read(tid, path)
                if not ok:
                    break
                if ns is not None and ns != member.get(t):
                    out.append((ns, Holder(HolderKind.THREAD, pid=tid), path))
        return out

    def _bind_mounts(self) -> None:
        """nsfs mounts, read once per distinct mount namespace through one of its processes:
        the next one when a process exits before it could be read."""
        mount_namespaces = [f for ns, f in self.found.items() if ns.type is NsType.MNT]
        for found in mount_namespaces:
            for pid in found.candidates():
                mounts = self._nsfs_mounts(pid)
                if mounts is None:
                    continue
                for ns, point, path in mounts:
                    self.found.setdefault(ns, _Found()).held(
                        Holder(HolderKind.MOUNT, path=point), path
                    )
                break

    def _nsfs_mounts(self, pid: int) -> list[tuple[NamespaceId, str, str]] | None:
        """(namespace, mount point, path) of each nsfs mount a process sees; None when the
        process is gone or exiting (its mount namespace can be read through another member)."""
        base = f"{self.proc}/{pid}"
        try:
            mounts = procfs.nsfs_mounts(self.read(f"{base}/mountinfo", _MAX_MOUNTINFO))
        except OSError as e:
            # A process past exit_task_namespaces() has no mount namespace: the kernel answers
            # EINVAL (userfile's own EINVAL, a file it will not read, is a problem).
            exiting = e.errno == errno.EINVAL and not isinstance(e, userfile.Unusable)
            if e.errno in _GONE or exiting:
                return None
            self._problem(pid, f"{base}/mountinfo", e)
            return []
        out = []
        for ns_type, point in mounts:
            path = f"{base}/root{point}"
            try:
                st = os.stat(path)
            except OSError as e:
                if e.errno not in _GONE:
                    self._problem(pid, path, e)
                elif not os.path.exists(f"{base}/root"):
                    return None  # the process left with its root, not the mount
                continue
            out.append((NamespaceId(NsType(ns_type), st.st_dev, st.st_ino), point, path))
        return out

    def _namespaces(self) -> tuple[Namespace, ...]:
        """Each namespace found, in turn: what its representative process is (the details),
        then what the kernel says of it (the relations)."""
        users = Users(self.host)
        out = []
        relations = 0.0  # of the time the loop takes, what the kernel's answers took
        started = time.perf_counter()
        for ns in sorted(self.found):
            found = self.found[ns]
            pid, info = self._representative(ns, found)
            if found.nprocs == 0 and not found.holders:
                continue  # its every process exited during the scan, and nothing holds it
            asking = time.perf_counter()
            rel = self._relations(ns, pid, self._paths(ns, found, pid))
            relations += time.perf_counter() - asking
            uid = info[4] if info else None
            parent_command = self._command(info[1]) if info and info[1] > 0 else None
            out.append(
                Namespace(
                    id=NamespaceId(ns.type, rel.dev, ns.inode) if rel.dev else ns,
                    nprocs=found.nprocs,
                    pid=pid,
                    pid_start=info[0] if info else None,
                    ppid=info[1] if info else None,
                    command=info[2] if info else None,
                    cmdline=info[3] if info else None,
                    uid=uid,
                    user=users.name(uid),
                    ns_id=rel.ns_id,
                    parent=NamespaceId(ns.type, *rel.parent) if rel.parent else None,
                    owner=NamespaceId(NsType.USER, *rel.owner) if rel.owner else None,
                    owner_uid=rel.owner_uid,
                    holders=tuple(sorted(found.holders)),
                    parent_command=parent_command,
                    exe=None if pid is None else self._exe(pid),
                )
            )
        timing.add("relations", relations)
        timing.add("details", time.perf_counter() - started - relations)
        return tuple(out)

    def _link_path(self, pid: int, ns: NamespaceId) -> str:
        return f"{self.proc}/{pid}/ns/{ns.type.value}"

    def _representative(self, ns: NamespaceId, found: _Found) -> tuple[int | None, Info | None]:
        """The member that stands for a namespace, and what it is: the lowest pid that can
        still be read, whole, as a living process in this namespace.

        A member that exited since the walk counted it (gone, a zombie, or exiting: its command
        line already reads empty, as a kernel thread's does) is no longer counted, and the next
        one is tried. One that cannot be read for another reason is a problem (the snapshot is
        partial) and stays counted; it stands for the namespace, unread, only if no member can
        be read.
        """
        unread = None
        for pid in found.candidates():
            there, info = self._process_info(pid)
            if info is not None:
                path = self._link_path(pid, ns)
                try:
                    if self._link(path) == ns:
                        return pid, info
                    there = False  # its pid now belongs to a process elsewhere
                except OSError as e:
                    there = e.errno not in _GONE
                    if there:
                        self._problem(pid, path, e)
            if not there:
                found.nprocs -= 1
            elif unread is None:
                unread = pid
        return unread, None

    def _process_info(self, pid: int) -> tuple[bool, Info | None]:
        """(still there, what it is): (False, None) when the process is gone or exiting,
        (True, None) when it cannot be read (a problem)."""
        if pid not in self.info:
            try:
                info = read_process(self.proc, pid, self.read)
                self.info[pid] = (info is not None, info)
            except OSError as e:
                there = e.errno not in _GONE
                if there:
                    self._problem(pid, e.filename or f"{self.proc}/{pid}", e)
                self.info[pid] = (there, None)
        return self.info[pid]

    def _exe(self, pid: int) -> str | None:
        """The process's executable as the kernel names it: the path alone when the host's
        file at that path is that very file (device and inode), else its mount namespace's
        link ('mnt:[inode]') in front: a container's file, one bound over the path in a
        namespace of the process's own, one on a mount since detached (`umount -l`: the kernel
        names it from that mount's root), or a deleted one. None: it has none (a kernel
        thread), it is gone, or it cannot be read (another user's, not as root)."""
        if pid in self.exes:
            return self.exes[pid]
        base = f"{self.proc}/{pid}"
        try:
            path = os.readlink(f"{base}/exe")
            mnt = os.readlink(f"{base}/ns/mnt")
            st = os.stat(f"{base}/exe")
        except OSError:
            self.exes[pid] = None
            return None
        here = self._host_file(path)
        same = here is not None and here == (st.st_dev, st.st_ino)
        self.exes[pid] = path if same else f"{mnt}{path}"
        return self.exes[pid]

    def _host_file(self, path: str) -> tuple[int, int] | None:
        """The device and inode of the host's file at an absolute path, asked once a scan."""
        if path not in self.host_files:
            try:
                st = os.stat(self.host.path(path)) if path.startswith("/") else None
            except (OSError, ValueError):
                st = None
            self.host_files[path] = None if st is None else (st.st_dev, st.st_ino)
        return self.host_files[path]

    def _command(self, pid: int) -> str | None:
        """A process's comm: from what was read already, else its stat alone."""
        known = self.info.get(pid, (False, None))[1]
        if known is not None:
            return known[2]
        if pid not in self.comms:
            try:
                stat = self.read(f"{self.proc}/{pid}/stat", MAX_STAT)
                self.comms[pid] = procfs.parse_stat(stat).comm
            except (OSError, ValueError, IndexError):
                self.comms[pid] = None
        return self.comms[pid]

    def _paths(self, ns: NamespaceId, found: _Found, pid: int | None) -> Iterator[str]:
        """The files that open a namespace: its representative's link first, then those of
        the members after it (those before it are gone), then its holders'."""
        members = found.candidates()
        after = members.index(pid) if pid is not None else len(members)
        for member in members[after:]:
            yield self._link_path(member, ns)
        yield from found.holders.values()

    def _relations(self, ns: NamespaceId, pid: int | None, paths: Iterator[str]) -> nsfs.Relations:
        """What the kernel says about a namespace, asked through the first of its files that
        still opens: a process may exit after it was read."""
        for path in paths:
            try:
                return nsfs.relations(path, ns.type.value, self.with_id)
            except OSError as e:
                if e.errno not in _GONE:
                    self._problem(pid, path, e)
                    break
        return nsfs.Relations(None, None, None, None, None)


def problem_key(p: ScanProblem) -> tuple[bool, int, str, str]:
    return (p.pid is not None, p.pid or 0, p.path, p.errno)
