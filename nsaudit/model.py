"""The small frozen values that travel between nsaudit's parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from enum import StrEnum
from typing import Any


class NsType(StrEnum):
    """The eight Linux namespace types, in the order nsaudit lists them."""

    CGROUP = "cgroup"
    IPC = "ipc"
    MNT = "mnt"
    NET = "net"
    PID = "pid"
    TIME = "time"
    USER = "user"
    UTS = "uts"


class Status(StrEnum):
    """What the evidence says about one namespace type on one kernel."""

    AVAILABLE = "available"
    DISABLED = "disabled"
    MISSING = "missing"
    UNKNOWN = "unknown"


class Access(StrEnum):
    """Whether an unprivileged user may create a namespace."""

    ALLOWED = "allowed"
    RESTRICTED = "restricted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class Unprivileged(StrEnum):
    """Whether an unprivileged user can create a namespace of one type (nsaudit.detect/1's
    types[].unprivileged.value)."""

    YES = "yes"
    NO = "no"
    RESTRICTED = "restricted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class KconfigOption:
    """One kernel config option as a config file states it; value None means the file lacks it."""

    name: str
    value: str | None

    @property
    def text(self) -> str:
        if self.value is None:
            return f"{self.name} absent"
        if self.value == "not set":
            return f"{self.name} is not set"
        return f"{self.name}={self.value}"

    @property
    def enabled(self) -> bool:
        return self.value in ("y", "m")


@dataclass(frozen=True)
class KconfigSource:
    """The kernel config file that was read, and the kernel release its header names."""

    path: str
    compressed: bool
    release: str | None
    matches_running: bool | None


@dataclass(frozen=True)
class Answer:
    """Whether unprivileged users may create user namespaces (Access) or a namespace of one
    type (Unprivileged), with the one-line reason that names its evidence."""

    value: Access | Unprivileged
    reason: str


@dataclass(frozen=True)
class TypeCapability:
    """Everything nsaudit found out about one namespace type."""

    type: NsType
    config: tuple[KconfigOption, ...]
    present: bool | None
    for_children: bool | None
    limit: int | None
    introduced: str
    kernel_ok: bool | None
    status: Status
    reason: str
    unprivileged: Answer


@dataclass(frozen=True)
class Restriction:
    """A sysctl that limits user namespaces, its value and meaning. value None: not on this
    kernel, or, when `read` is False, not known (no /proc/sys, or the file could not be read)."""

    name: str
    path: str
    value: str | None
    meaning: str
    read: bool = True


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one real unshare(2) of one type in a short-lived child process."""

    type: NsType
    usable: bool
    via: str | None
    errno: str | None
    error: str | None


@dataclass(frozen=True)
class ProbeRun:
    """The probes of all types as one user."""

    user: str
    uid: int
    results: tuple[ProbeResult, ...]


@dataclass(frozen=True)
class Capabilities:
    """The capability report of one kernel: the answer of `nsaudit detect`."""

    root: str
    release: str | None
    release_source: str | None
    kconfig: KconfigSource | None
    kconfig_tried: tuple[str, ...]
    types: tuple[TypeCapability, ...]
    restrictions: tuple[Restriction, ...]
    unprivileged_userns: Answer
    warnings: tuple[str, ...]
    probes: tuple[ProbeRun, ...] = field(default=())

    def of(self, ns_type: NsType) -> TypeCapability:
        return next(t for t in self.types if t.type is ns_type)


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
    a thread whose namespace differs from its process's).
    """

    kind: HolderKind
    pid: int | None = None
    fd: int | None = None
    path: str | None = None

    @property
    def text(self) -> str:
        """'fd 812:5', 'mount /run/netns/blue', 'for-children 77', 'thread 1234'."""
        if self.kind == HolderKind.FD:
            return f"fd {self.pid}:{self.fd}"
        if self.kind == HolderKind.MOUNT:
            return f"mount {self.path}"
        return f"{self.kind.replace('_', '-')} {self.pid}"


def column(kind: str, default: Any = MISSING, **options: Any) -> Any:
    """A record field's declaration, read by nsaudit/fields.py (JSON, CSV, table, bundle) and
    nsaudit/store/rows.py (database): its kind, and where it differs from the defaults.

    kind: "id" (type, dev, inode), "count" (a whole number), "number" (one or null), "text"
    (or null), "flag" (yes/no), "ref" (a NamespaceId or null), "holders". options: db (its
    database column when not its name), big (a 64-bit database integer), json (its JSON key
    when not its name; "a.b" nests), csv (its CSV column when not its JSON key), header (its
    terminal table column; "id" has two), width (the table shows at most this many
    characters), cell (that column's text when not the value's), types (a ref's allowed
    types, from the record's own type), added (the schema revision that added it: older
    bundles lack the key, and a row stored before it learns the value without counting as a
    change), diff ("signal": a change is a finding; "noise": routine on a live host, as a
    replaced representative process; absent: part of the identity, never compared)."""
    return field(default=default, metadata={"kind": kind, **options})


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
    its runtime's shim there), which policies can allow.
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

    @property
    def identity(self) -> tuple[str, int, int, int | None]:
        """Identity within a boot: (type, nsfs device, inode), and NS_GET_ID where known,
        since an inode is reused once its namespace dies."""
        return (self.id.type.value, self.id.dev, self.id.inode, self.ns_id)


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

    capabilities is that report as its versioned JSON (schema nsaudit.detect/1).

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
    capabilities: Mapping[str, object] | None
    id: int | None = None
    seq: int | None = None

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    def counts(self) -> dict[str, int]:
        out = {t.value: 0 for t in NsType}
        for ns in self.namespaces:
            out[ns.id.type.value] += 1
        return out


@dataclass(frozen=True)
class Saved:
    """What storing a snapshot did, against the host's previous snapshot."""

    id: int
    seq: int
    previous_seq: int | None
    created: int
    vanished: int
    changed: int


@dataclass(frozen=True, kw_only=True)
class SnapshotRow:
    """One line of `nsaudit snapshots`."""

    id: int = column("count", header="ID")
    taken_at: str = column("text", header="TIME", csv="time")
    hostname: str = column("text", header="HOST", csv="host")
    seq: int = column("count", header="SEQ")
    boot_id: str | None = column("text", header="BOOT", csv="boot", width=8)
    kernel: str | None = column("text", header="KERNEL")
    namespaces: int = column("count", header="NAMESPACES")
    partial: bool = column("flag", header="PARTIAL")
    label: str | None = column("text", header="LABEL")


@dataclass(frozen=True, kw_only=True)
class HostRow:
    """One line of `nsaudit hosts`: a host and its newest snapshot."""

    hostname: str = column("text", header="HOST", csv="host")
    machine_id: str | None = column("text", header="MACHINE", csv="machine", width=12)
    snapshots: int = column("count", header="SNAPSHOTS")
    last_id: int = column("count", header="LAST", csv="last", json="last.id")
    last_seq: int = column("count", header="SEQ", csv="seq", json="last.seq")
    last_taken_at: str = column("text", header="TIME", csv="time", json="last.taken_at")
    kernel: str | None = column("text", header="KERNEL", csv="kernel", json="last.kernel")
    boot_id: str | None = column("text", header="BOOT", csv="boot", width=8, json="last.boot_id")
    partial: bool = column("flag", header="PARTIAL", csv="partial", json="last.partial")


@dataclass(frozen=True)
class Step:
    """One snapshot of a host's history against the one before it, as the store recorded it.

    opened: namespace states that began with this snapshot (new namespaces, and new states of
    changed ones); ended: states that ended with it. rebooted: the boot id changed.
    """

    seq: int
    taken_at: str
    rebooted: bool
    opened: tuple[Namespace, ...]
    ended: tuple[Namespace, ...]


@dataclass(frozen=True)
class HistoryPoint:
    """A snapshot's namespace counts per type, for the report's history."""

    seq: int
    taken_at: str
    boot_id: str | None
    counts: Mapping[str, int]
    partial: bool


class Outcome(StrEnum):
    """A rule's result on one host. `error`: the evidence the rule needs is not there;
    `skip`: the rule does not apply (a kernel image has no running namespaces to check)."""

    PASS = "pass"
    FAIL = "fail"
    WAIVED = "waived"
    ERROR = "error"
    SKIP = "skip"


@dataclass(frozen=True)
class Evidence:
    """One fact behind a rule's result: a line of text and the values it names."""

    text: str
    namespace: str | None = None
    pid: int | None = None
    command: str | None = None
    parent_command: str | None = None
    cmdline: str | None = None
    user: str | None = None
    path: str | None = None
    sysctl: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class WaiverNote:
    """A waiver that matched the host: in force, or expired (and so not applied)."""

    hosts: tuple[str, ...]
    reason: str
    expires: str
    expired: bool
    approved_by: str | None


@dataclass(frozen=True)
class RuleResult:
    """One rule of a policy evaluated on one host."""

    rule_id: str
    title: str
    severity: str
    references: tuple[str, ...]
    outcome: Outcome
    summary: str
    evidence: tuple[Evidence, ...]
    waiver: WaiverNote | None


@dataclass(frozen=True)
class CheckRun:
    """A stored check: when, against which snapshot, and each rule's outcome."""

    snapshot_seq: int
    policy_name: str
    checked_at: str
    outcomes: tuple[tuple[str, str, str], ...]  # (rule id, severity, outcome)
