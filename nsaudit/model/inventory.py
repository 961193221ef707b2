"""The inventory's vocabulary: namespaces, what holds them, the containers they belong to,
and the snapshot of a host."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from nsaudit.model.columns import column
from nsaudit.model.kernel import CapabilityReport, NsType


@dataclass(frozen=True, order=True)
class NamespaceId:
    """A namespace's identity within one boot: its type, nsfs device and inode."""

    type: NsType
    dev: int
    inode: int


class HolderKind(StrEnum):
    """What, other than a member process, keeps a namespace alive or points at it."""

    FD = "fd"
    MOUNT = "mount"
    FOR_CHILDREN = "for_children"
    THREAD = "thread"


@dataclass(frozen=True, order=True)
class Holder:
    """Something other than a member process that keeps a namespace alive or points at it.

    kind: "fd" (pid and fd number), "mount" (a bind-mount path), "for_children" (a process
    whose pid_for_children or time_for_children is this namespace), "thread" (with --threads,
    a thread whose namespace differs from its process's). container: the id of the container
    the holding process runs in, if any (Snapshot.containers tells the rest).
    """

    kind: HolderKind
    pid: int | None = None
    fd: int | None = None
    path: str | None = None
    container: str | None = None

    @property
    def text(self) -> str:
        """'fd 812:5', 'mount /run/netns/blue', 'for-children 77', 'thread 1234'."""
        if self.kind == HolderKind.FD:
            return f"fd {self.pid}:{self.fd}"
        if self.kind == HolderKind.MOUNT:
            return f"mount {self.path}"
        return f"{self.kind.replace('_', '-')} {self.pid}"


def _user_cell(ns: Namespace) -> str:
    return ns.user or ("" if ns.uid is None else str(ns.uid))


def _command_cell(ns: Namespace) -> str:
    return ns.cmdline or ns.command or ""


def _parent_types(own: NsType) -> tuple[NsType, ...]:
    """Only pid and user namespaces have parents, of their own type."""
    return (own,) if own in (NsType.PID, NsType.USER) else ()


@dataclass(frozen=True, kw_only=True)
class Namespace:
    """One namespace in a snapshot, as lsns shows it and more; its fields declared once (a new
    field is one line here and a migration).

    pid is the lowest pid of a member process that was read whole, alive, at the end of the
    scan (None when only held by an fd or a mount; nprocs does not count members that exited
    meanwhile); command is its comm, cmdline its bounded command line, uid and user its owner.
    parent (pid and user types) and owner (the owning user namespace) come from the nsfs
    ioctls NS_GET_PARENT and NS_GET_USERNS when the kernel answers; ns_id from NS_GET_ID.
    parent_command is the comm of the pid's parent process (a container's first process has
    its runtime's shim there), which policies can allow. container is the id of the container
    whose process the pid is (Snapshot.containers tells the rest); None for the host's own.
    exe is the pid's executable as the kernel names it (/proc/PID/exe), which a process does
    not change by renaming itself, unlike its command (with CAP_SYS_ADMIN or
    CAP_CHECKPOINT_RESTORE in its own user namespace it can point it at another executable
    file: prctl PR_SET_MM_EXE_FILE): the path alone when the host's file at that path is that
    very file, else 'mnt:[inode]' (its mount namespace) in front (a container's file, one
    bound over that path, on a detached mount, or deleted); None when it could not be read
    (a kernel thread has none).
    """

    id: NamespaceId = column("id", header=("NS", "TYPE"))
    ns_id: int | None = column("number", big=True)
    nprocs: int = column("count", header="NPROCS", diff="noise")
    pid: int | None = column("number", header="PID", diff="noise")
    pid_start: int | None = column("number", big=True, diff="noise")
    ppid: int | None = column("number", header="PPID", diff="noise")
    uid: int | None = column("number", big=True, diff="signal")
    user: str | None = column("text", db="user_name", header="USER", cell=_user_cell, diff="signal")
    command: str | None = column("text", header="COMMAND", cell=_command_cell, diff="signal")
    cmdline: str | None = column("text", diff="signal")
    parent: NamespaceId | None = column("ref", header="PARENT", types=_parent_types, diff="signal")
    owner: NamespaceId | None = column(
        "ref", header="OWNER", types=lambda _: (NsType.USER,), diff="signal"
    )
    owner_uid: int | None = column("number", big=True, diff="signal")
    holders: tuple[Holder, ...] = column("holders", header="HOLDERS", diff="signal")
    parent_command: str | None = column("text", None, added="0003", diff="noise")
    container: str | None = column(
        "text", None, added="0005", header="CONTAINER", width=12, diff="signal"
    )
    exe: str | None = column("text", None, added="0010", diff="signal")

    @property
    def identity(self) -> tuple[str, int, int, int | None]:
        """Identity within a boot: (type, nsfs device, inode), and NS_GET_ID where known,
        since an inode is reused once its namespace dies."""
        return (self.id.type.value, self.id.dev, self.id.inode, self.ns_id)


# The shim each runtime starts a container's first process under (its parent's comm).
SHIMS = {
    "docker": ("containerd-shim",),
    "containerd": ("containerd-shim",),
    "cri": ("containerd-shim", "conmon"),
    "podman": ("conmon",),
    "crio": ("conmon",),
    "lxc": ("lxc-start",),
    "nspawn": ("systemd-nspawn",),
}


@dataclass(frozen=True, kw_only=True)
class Container:
    """A container on the host, its fields declared once (nsaudit.model.column).

    runtime and id come from the kernel: the cgroup of the container's processes
    (/proc/<pid>/cgroup), which the container cannot rename from inside. id is the runtime's
    full id (LXC and systemd-nspawn name their containers instead). name, image and the pod
    come from the runtime's own state (its API or its state files), never from the container;
    source says which. pid is its first process (the topmost one in its cgroup), shim the
    comm of that process's parent, namespaces the first process's namespaces, one of each
    type. note says what could not be learned, and why, or that the shim is not the
    runtime's.
    """

    id: str = column("text", header="CONTAINER", width=12, required=True)
    runtime: str = column("text", header="RUNTIME", required=True)
    name: str | None = column("text", header="NAME")
    image: str | None = column("text", header="IMAGE")
    pod_namespace: str | None = column("text")
    pod_name: str | None = column("text", header="POD", cell=lambda c: c.pod)
    pod_uid: str | None = column("text")
    pid: int | None = column("number", header="PID")
    shim: str | None = column("text", header="SHIM")
    namespaces: tuple[NamespaceId, ...] = column("refs", header="NAMESPACES")
    source: str | None = column("text")
    note: str | None = column("text", header="NOTE")

    @property
    def label(self) -> str:
        """What an operator calls it: its name, else its id cut to 12 characters as the
        runtimes' own lists do."""
        return self.name or self.id[:12]

    @property
    def pod(self) -> str:
        """'namespace/name' of its Kubernetes pod, as kubectl names one; '' outside a pod."""
        if self.pod_name is None:
            return ""
        return f"{self.pod_namespace or '?'}/{self.pod_name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.runtime, self.id)

    def namespace(self, ns_type: str) -> NamespaceId | None:
        return next((ns for ns in self.namespaces if ns.type.value == ns_type), None)


UNSEEN = "UNSEEN"


@dataclass(frozen=True, order=True)
class ScanProblem:
    """Something the scan could not read: which pid, which path, which errno.

    With pid None and errno UNSEEN, the scan as a whole could not see every task the kernel
    has (a hidepid= /proc, a pid namespace's /proc); path then says why, in words.
    """

    pid: int | None
    path: str
    errno: str


@dataclass(frozen=True)
class HostInfo:
    """Who and what the snapshot was taken of."""

    hostname: str
    machine_id: str | None
    boot_id: str | None
    kernel: str | None


@dataclass(frozen=True)
class Snapshot:
    """Every namespace on a host at one moment, and the capability report of that moment.

    capabilities is that report, typed and as its versioned JSON (schema nsaudit.detect/1).
    containers: the containers whose processes the scan met, by their cgroups; None when the
    snapshot has no record of them (taken, or exported, by an nsaudit before containers).

    id and seq are None until the snapshot is stored; seq numbers a host's snapshots 1, 2, 3...
    """

    host: HostInfo
    taken_at: str
    nsaudit_version: str
    label: str | None
    duration_ms: int
    threads: bool
    namespaces: tuple[Namespace, ...]
    problems: tuple[ScanProblem, ...]
    capabilities: CapabilityReport | None
    containers: tuple[Container, ...] | None = None
    id: int | None = None
    seq: int | None = None

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    def container(self, ns: Namespace) -> Container | None:
        """The container a namespace's process belongs to, if any."""
        return self._containers_by_id.get(ns.container) if ns.container else None

    @cached_property
    def _containers_by_id(self) -> dict[str, Container]:
        # Looked up once for each namespace a view or check goes through.
        return {c.id: c for c in self.containers or ()}

    def counts(self) -> dict[str, int]:
        out = {t.value: 0 for t in NsType}
        for ns in self.namespaces:
            out[ns.id.type.value] += 1
        return out
