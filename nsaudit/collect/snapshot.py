"""Take a snapshot: host facts, the scan, and the capability report of the moment."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from nsaudit import __version__, timing
from nsaudit.collect.containers import Attributed, attribute
from nsaudit.collect.scan import Scanner, ScanResult, problem_key
from nsaudit.hostfs import HostFS
from nsaudit.model import CapabilityReport, HostInfo, Snapshot


def host_info(host: HostFS, hostname: str | None = None) -> HostInfo:
    """Who the host is; `hostname` (the settings file's) overrides its own name."""

    def value(path: str) -> str | None:
        try:
            return host.read_value(path) or None
        except OSError:
            return None

    own = value("/proc/sys/kernel/hostname") or (socket.gethostname() if host.live else "")
    return HostInfo(
        hostname=hostname or own or "unknown",
        machine_id=value("/etc/machine-id"),
        boot_id=value("/proc/sys/kernel/random/boot_id"),
        kernel=value("/proc/sys/kernel/osrelease"),
    )


@dataclass(frozen=True)
class Scanned:
    """One scan of a host's namespaces, containers attributed: when it began, how long it took."""

    taken_at: str
    duration_ms: int
    result: ScanResult
    found: Attributed


def scan_now(host: HostFS, threads: bool, command: int | None = None) -> Scanned:
    """Scan the host now; `command`: the nsaudit command a prescan scans for (scan.py)."""
    taken_at = datetime.now(UTC).isoformat(timespec="microseconds")
    started = time.monotonic()
    result = Scanner(host, threads, command).run()
    with timing.phase("containers"):
        found = attribute(host, result.namespaces)
    return Scanned(taken_at, round((time.monotonic() - started) * 1000), result, found)


def take(
    host: HostFS,
    *,
    threads: bool = False,
    label: str | None = None,
    capabilities: CapabilityReport | None = None,
    hostname: str | None = None,
    scan: bool = True,
    scanned: Scanned | None = None,
) -> Snapshot:
    """Scan the host now, or take `scanned` (begun at start-up: nsaudit/collect/prescan.py);
    the Snapshot is not stored (id and seq are None). Without `scan`, only the host facts and
    capabilities (a root that runs nothing has no namespaces)."""
    if scan:
        scanned = scanned or scan_now(host, threads)
    else:
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        scanned = Scanned(now, 0, ScanResult((), ()), Attributed((), (), ()))
    result, found = scanned.result, scanned.found
    return Snapshot(
        host=host_info(host, hostname),
        taken_at=scanned.taken_at,
        nsaudit_version=__version__,
        label=label,
        duration_ms=scanned.duration_ms,
        threads=threads,
        namespaces=found.namespaces,
        problems=tuple(sorted(set(result.problems + found.problems), key=problem_key)),
        capabilities=capabilities,
        containers=found.containers,
    )
