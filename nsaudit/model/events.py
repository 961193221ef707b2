"""What `nsaudit watch` records between snapshots: namespace events, and the watcher's runs."""

from __future__ import annotations

from dataclasses import dataclass

from nsaudit.model.columns import column
from nsaudit.model.inventory import HostInfo, NamespaceId

# The inode of the initial user namespace (PROC_USER_INIT_INO): fixed in every kernel.
INITIAL_USERNS_INODE = 4026531837
# NamespaceEvent.event: the ways to make a namespace, and setns.
EVENT_KINDS = ("clone", "clone3", "fork", "vfork", "unshare", "setns")
# What sees them (NamespaceEvent.mechanism, WatchRun.mechanism): nsaudit/watch/bpf.py, audit.py.
MECHANISMS = ("bpf", "audit")


def _lived(e: NamespaceEvent) -> str:
    return "" if e.lived_ms is None else f"{e.lived_ms} ms"


@dataclass(frozen=True, kw_only=True)
class NamespaceEvent:
    """A namespace created (event clone, clone3, fork, vfork or unshare) or entered (setns),
    its fields declared once (nsaudit.model.column).

    at is when the kernel saw it (UTC); types the namespace types it created or entered, and
    namespaces those namespaces, whose 64-bit ids (NS_GET_ID; 0 where the kernel has none)
    ns_ids gives in the same order as 'type:id'. pid is the process (a clone's: the new one;
    through audit, the caller), tid its thread, ppid its parent; uid and euid as the initial
    user namespace sees them. initial_userns: whether it was in the host's initial user
    namespace before (None: the mechanism cannot tell). owner_inode and owner_ns_id name the
    user namespace that owns what it made (its own after the event).
    command is its comm, which a process sets itself (untrusted); exe the path of its
    executable as the kernel knows it, up to the root of the mount namespace the file is in,
    prefixed 'mnt:[inode]' where that is not the watcher's (nsaudit/watch/events.py).
    container: the id of the container its cgroup (unified hierarchy, as the kernel had it at
    the event) names, as nsaudit.model.Namespace's (None: the host's own, or not known).
    lived_ms: how long the task lived after it, when its exit was seen (a namespace that
    nothing else holds dies with it). mechanism: what saw it (bpf or audit); arch: the system
    call's ABI, as audit's arch= names it (x86_64; i386: int 0x80 or a 32-bit program; x32)."""

    at: str = column("text", header="TIME", required=True)
    event: str = column("text", header="EVENT", required=True)
    types: str = column("text", header="TYPES", required=True)
    pid: int | None = column("number", header="PID")
    tid: int | None = column("number")
    ppid: int | None = column("number", header="PPID")
    uid: int | None = column("number", big=True, header="UID")
    euid: int | None = column("number", big=True)
    initial_userns: bool | None = column("flag", header="HOST-USERNS", null=True)
    command: str | None = column("text", header="COMMAND")
    exe: str | None = column("text", header="EXE")
    container: str | None = column("text", header="CONTAINER", width=12)
    namespaces: tuple[NamespaceId, ...] = column("refs", header="NAMESPACES")
    ns_ids: str | None = column("text")
    owner_inode: int | None = column("number", big=True)
    owner_ns_id: int | None = column("number", big=True)
    flags: int | None = column("number", big=True)
    mechanism: str = column("text", required=True)
    # Events stored before nsaudit recorded the ABI have no "arch" (null).
    arch: str | None = column("text", None, added="0008")
    lived_ms: int | None = column("number", header="LIVED", cell=_lived)

    @property
    def created(self) -> bool:
        return self.event != "setns"


@dataclass(frozen=True)
class WatchRun:
    """One run of the watcher: from started_at to ended_at (None: it did not stop cleanly, or
    runs still; seen_at is the last time it was known alive). lost counts the events it could
    not record (ring buffer full, audit backlog); blind says what its mechanism cannot see.
    id is its row here; uuid its name in every database bundles take it to."""

    id: int
    mechanism: str
    started_at: str
    seen_at: str
    ended_at: str | None
    events: int
    lost: int
    blind: str
    uuid: str


@dataclass(frozen=True)
class CarriedRun:
    """A watcher run as a bundle carries it from one database to another: its host (hostname
    and machine id), the boot it watched, and the run as it was when it was exported (one
    exported while it ran has no ended_at yet; its id is the exporting database's)."""

    host: HostInfo
    boot_id: str | None
    run: WatchRun


@dataclass(frozen=True)
class CarriedEvent:
    """One event of a carried run (the run's uuid), at boot_ns (the kernel's clock, which
    pairs it with its task's exit)."""

    run: str
    boot_ns: int
    event: NamespaceEvent


@dataclass(frozen=True)
class CarriedExit:
    """The exit of a task that made or entered a namespace during a carried run."""

    run: str
    at: str
    boot_ns: int
    tid: int


@dataclass(frozen=True)
class Unwatched:
    """A stretch of time no watcher covered."""

    start: str
    end: str


@dataclass(frozen=True)
class Watched:
    """What the watcher recorded of a host from start to end: the events, the runs that
    overlap, and the stretches none of them covered."""

    start: str
    end: str
    events: tuple[NamespaceEvent, ...]
    runs: tuple[WatchRun, ...]
    unwatched: tuple[Unwatched, ...]
    missing: tuple[str, ...] = ()  # what else is not in the record, in words (pruned)

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.runs)

    @property
    def blind(self) -> tuple[str, ...]:
        """What the runs' mechanisms could not see, each said once."""
        return tuple(sorted({r.blind for r in self.runs if r.blind}))

    @property
    def made(self) -> int:
        """How many events created namespaces (the others entered one)."""
        return sum(1 for e in self.events if e.created)

    def incomplete(self) -> tuple[str, ...]:
        """gaps(), and what the mechanisms could not see: all the record does not hold."""
        blind = tuple(f"watched through the audit subsystem, which {b}" for b in self.blind)
        return self.gaps() + blind

    def gaps(self) -> tuple[str, ...]:
        """Why the record is not whole, in words: unwatched stretches, lost events."""
        out = [*self.missing, *(f"not watched from {g.start} to {g.end}" for g in self.unwatched)]
        if self.lost:
            out.append(f"{self.lost} events lost by the watcher (its buffer was full)")
        return tuple(out)


@dataclass(frozen=True)
class WatchTotals:
    """A host's watcher, for metrics: events and losses over every stored run, when one was
    last known alive, and whether the newest run has not ended."""

    events: int
    lost: int
    seen_at: str
    running: bool
