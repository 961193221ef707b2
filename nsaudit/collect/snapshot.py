"""Take a snapshot: host facts, the scan, and the capability report of the moment."""

from __future__ import annotations

import socket
import time
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


def take(
    host: HostFS,
    *,
    threads: bool = False,
    label: str | None = None,
    capabilities: CapabilityReport | None = None,
    hostname: str | None = None,
    scan: bool = True,
) -> Snapshot:
    """Scan the host now; the Snapshot is not stored (id and seq are None). Without `scan`,
    only the host facts and capabilities (a root that runs nothing has no namespaces)."""
    taken_at = datetime.now(UTC).isoformat(timespec="microseconds")
    started = time.monotonic()
    result = Scanner(host, threads).run() if scan else ScanResult((), ())
    with timing.phase("containers"):
        found = attribute(host, result.namespaces) if scan else Attributed((), (), ())
    info = host_info(host, hostname)
    return Snapshot(
        host=info,
        taken_at=taken_at,
        nsaudit_version=__version__,
        label=label,
        duration_ms=round((time.monotonic() - started) * 1000),
        threads=threads,
        namespaces=found.namespaces,
        problems=tuple(sorted(set(result.problems + found.problems), key=problem_key)),
        capabilities=capabilities,
        containers=found.containers,
    )
