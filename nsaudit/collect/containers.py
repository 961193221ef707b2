"""Attribute a scan's namespaces to containers: each namespace's process's cgroup names its
container (the kernel's word); the container's first process gives its namespaces and its
shim; the runtime, asked once, gives name, image and pod."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from nsaudit import userfile
from nsaudit.collect import cgroup, procfs
from nsaudit.collect.cgroup import Placement
from nsaudit.collect.process import MAX_STAT, Read
from nsaudit.collect.runtimes import Runtimes
from nsaudit.hostfs import HostFS
from nsaudit.model import SHIMS, Container, Holder, Namespace, NamespaceId, NsType, ScanProblem

_Held = TypeVar("_Held", Namespace, Holder)
_GONE = frozenset({errno.ENOENT, errno.ESRCH})
_MAX_CGROUP = 64 * 1024


@dataclass(frozen=True)
class Attributed:
    namespaces: tuple[Namespace, ...]
    containers: tuple[Container, ...]
    problems: tuple[ScanProblem, ...]


class _Reader:
    """Reads processes' cgroups and stats under one /proc, once each."""

    def __init__(self, proc: str, read: Read) -> None:
        self.proc = proc
        self.read = read
        self.places: dict[int, Placement | None] = {}
        self.problems: list[ScanProblem] = []

    def placement(self, pid: int) -> Placement | None:
        if pid not in self.places:
            path = f"{self.proc}/{pid}/cgroup"
            try:
                text = self.read(path, _MAX_CGROUP).decode(errors="surrogateescape")
                self.places[pid] = cgroup.placement(text)
            except OSError as e:
                if e.errno not in _GONE:
                    self.problems.append(
                        ScanProblem(pid, path, errno.errorcode.get(e.errno or 0, "EIO"))
                    )
                self.places[pid] = None
        return self.places[pid]

    def stat(self, pid: int) -> procfs.ProcStat | None:
        try:
            return procfs.parse_stat(self.read(f"{self.proc}/{pid}/stat", MAX_STAT))
        except (OSError, ValueError, IndexError):
            return None

    def first_process(self, pid: int, where: Placement) -> tuple[int, int | None, str | None]:
        """The topmost process of a container, from one of its processes: up through parents
        while they are in the same container; and the pid and comm of the parent above it."""
        seen = {pid}
        while (stat := self.stat(pid)) is not None and stat.ppid > 0 and stat.ppid not in seen:
            if self.placement(stat.ppid) != where:
                parent = self.stat(stat.ppid)
                return pid, stat.ppid, parent.comm if parent else None
            pid = stat.ppid
            seen.add(pid)
        return pid, None, None

    def storage(self, conmon: int | None, uid: int | None) -> str | None:
        """Where a rootless podman keeps its containers, as its conmon was told (`--root`
        among its exit command's arguments): the user's own word, about the user's own
        container, so only from a conmon the same user runs."""
        if conmon is None or not uid or self.uid(conmon) != uid:
            return None
        try:
            raw = self.read(f"{self.proc}/{conmon}/cmdline", procfs.CMDLINE_MAX, cut=True)
        except OSError:
            return None
        args = [a for a in raw.decode(errors="surrogateescape").split("\0") if a]
        exits = [args[n + 1] for n, a in enumerate(args[:-1]) if a == "--exit-command-arg"]
        root = next((exits[n + 1] for n, a in enumerate(exits[:-1]) if a == "--root"), None)
        return root if root and root.startswith("/") else None

    def uid(self, pid: int) -> int | None:
        """The process's real uid (status's Uid line): who runs it, also when /proc/<pid> is
        root's because the process is not dumpable."""
        try:
            status = self.read(f"{self.proc}/{pid}/status", _MAX_CGROUP).decode(errors="replace")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("Uid:") and len(line.split()) > 1 and line.split()[1].isdigit():
                return int(line.split()[1])
        return None

    def namespaces(
        self, pid: int, known: Mapping[tuple[NsType, int], NamespaceId]
    ) -> tuple[NamespaceId, ...]:
        out = []
        for t in NsType:
            try:
                link = procfs.nsfs_link(os.readlink(f"{self.proc}/{pid}/ns/{t.value}"))
            except OSError:
                continue
            if link is not None:
                ns = known.get((t, link[1]))
                out.append(ns if ns is not None else NamespaceId(t, 0, link[1]))
        return tuple(out)


def attribute(
    host: HostFS, namespaces: tuple[Namespace, ...], environ: Mapping[str, str] | None = None
) -> Attributed:
    """The namespaces, each with the container its process runs in, and those containers."""
    reader = _Reader(str(host.path("/proc")), userfile.reader(host.live))
    runtimes = Runtimes(host, environ)
    known = {(ns.id.type, ns.id.inode): ns.id for ns in namespaces}
    # Who created each user namespace: a rootless container's is its user's, whatever uid
    # its first process runs as.
    creators = {ns.id: ns.owner_uid for ns in namespaces if ns.owner_uid is not None}
    containers: dict[Placement, Container] = {}

    def container_of(pid: int | None) -> str | None:
        where = reader.placement(pid) if pid is not None else None
        if where is None or pid is None:
            return None
        if where not in containers:
            containers[where] = _container(reader, runtimes, where, pid, known, creators)
        return containers[where].id

    out = []
    for ns in namespaces:
        holders = tuple(_in(h, container_of(h.pid)) for h in ns.holders)
        if holders != ns.holders:
            ns = replace(ns, holders=holders)
        out.append(_in(ns, container_of(ns.pid)))
    listed = tuple(sorted(containers.values(), key=lambda c: (c.runtime, c.id)))
    return Attributed(tuple(out), listed, tuple(reader.problems))


def _in(record: _Held, container: str | None) -> _Held:
    """A namespace or holder with its container: most have none, and stay as they are."""
    return record if record.container == container else replace(record, container=container)


def _container(
    reader: _Reader,
    runtimes: Runtimes,
    where: Placement,
    pid: int,
    known: Mapping[tuple[NsType, int], NamespaceId],
    creators: Mapping[NamespaceId, int],
) -> Container:
    first, parent, shim = reader.first_process(pid, where)
    namespaces = reader.namespaces(first, known)
    user = next((ns for ns in namespaces if ns.type is NsType.USER), None)
    uid = creators.get(user) if user is not None else None
    uid = reader.uid(first) if uid is None else uid
    said = runtimes.describe(where, uid, reader.storage(parent, uid))
    notes = [said.note] if said.note else []
    shims = SHIMS.get(said.runtime, ())
    if shim is not None and shims and not shim.startswith(shims):
        notes.append(
            f"its first process's parent is {shim!r}, not {said.runtime}'s shim "
            f"({' or '.join(shims)}): the cgroup and the process tree disagree"
        )
    return Container(
        id=where.id,
        runtime=said.runtime,
        name=said.name,
        image=said.image,
        pod_namespace=said.pod_namespace,
        pod_name=said.pod_name,
        pod_uid=said.pod_uid or where.pod_uid,
        pid=first,
        shim=shim,
        namespaces=namespaces,
        source=said.source,
        note="; ".join(notes) or None,
    )
