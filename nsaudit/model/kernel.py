"""The kernel's vocabulary: namespace types and what `nsaudit detect` finds out about them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


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


# The eight types' names, in that order (what JSON and policies spell).
NS_TYPE_NAMES = tuple(t.value for t in NsType)


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
class SysctlSetting:
    """One line of a sysctl.d file that sets a sysctl nsaudit checks. `pattern`: the key as
    written when it was a glob (net.ipv4.conf.*.rp_filter), which an explicit key overrides."""

    name: str
    value: str
    path: str
    line: int
    pattern: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class PersistedSysctls:
    """What the boot-time sysctl files set, as systemd-sysctl applies them: `files` in the
    order read (later ones override), `settings` in that order, `unread` the files or folders
    that could not be read (each with its reason), so a missing setting may be in one."""

    files: tuple[str, ...]
    settings: tuple[SysctlSetting, ...]
    unread: tuple[str, ...]

    def of(self, name: str) -> tuple[SysctlSetting, ...]:
        """The lines that set `name`, in the order applied; an explicit key beats every glob,
        as in systemd-sysctl, so globs count only where no line names the sysctl itself."""
        found = tuple(s for s in self.settings if s.name == name)
        explicit = tuple(s for s in found if s.pattern is None)
        return explicit or found


@dataclass(frozen=True)
class UsernsProfile:
    """An AppArmor profile that grants `userns,`: a program run under it may create user
    namespaces with capabilities despite kernel.apparmor_restrict_unprivileged_userns."""

    name: str
    attachment: str | None
    mode: str
    path: str
    line: int


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
    # None: not recorded (an older nsaudit's report read neither)
    persisted: PersistedSysctls | None = None
    userns_profiles: tuple[UsernsProfile, ...] | None = None

    def of(self, ns_type: NsType) -> TypeCapability:
        return next(t for t in self.types if t.type is ns_type)


@dataclass(frozen=True)
class CapabilityReport:
    """A capability report as a snapshot carries it: the typed value every part reads, and the
    JSON document (schema nsaudit.detect/1) it is stored and exported as, which keeps the keys
    a later nsaudit added. nsaudit/kernel/report.py makes both, from Capabilities or from a
    document."""

    value: Capabilities
    document: Mapping[str, object]
