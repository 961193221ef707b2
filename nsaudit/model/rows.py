"""The store's answers: what saving did, the lines of `snapshots` and `hosts`, history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from nsaudit.model.columns import column
from nsaudit.model.inventory import Namespace


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
    # current; stale (its newest snapshot older than stale_after); retired (hosts forget
    # --keep-history, with no snapshot since).
    state: str = column("text", "current", header="STATE")
    # The database role that writes its history, in a fleet (nsaudit db add-host).
    role: str | None = column("text", None, header="ROLE")
    retired_at: str | None = column("text", None, header="RETIRED")

    @property
    def retired(self) -> bool:
        """Retired (hosts forget --keep-history), with no snapshot since."""
        return self.retired_at is not None and datetime.fromisoformat(
            self.last_taken_at
        ) <= datetime.fromisoformat(self.retired_at)


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
