"""Which container a process runs in, from its /proc/<pid>/cgroup: the kernel's word, which a
process cannot change about itself without write access to the host's cgroup tree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_HEX_ID = "[0-9a-f]{64}"
# A runtime's scope or cgroup, systemd and cgroupfs drivers alike: docker-<id>.scope,
# libpod-<id>(.scope), cri-containerd-<id>.scope, crio-<id>.scope. The runtimes' own helpers
# (libpod-conmon-<id>, crio-conmon-<id>) do not match: they are the host's processes.
_SCOPE = re.compile(rf"^(docker|libpod|cri-containerd|crio)-({_HEX_ID})(?:\.scope)?$")
_SCOPE_RUNTIME = {"docker": "docker", "libpod": "podman", "cri-containerd": "containerd"}
_SCOPE_RUNTIME["crio"] = "crio"
# kubepods/besteffort/pod<uid> (cgroupfs), kubepods-besteffort-pod<uid_with_underscores>.slice
# (systemd), kubelet-kubepods-...-pod<uid>.slice (kind, under kubelet.slice).
_UID = "[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
_POD = re.compile(rf"^(?:[a-z-]*kubepods[a-z-]*-)?pod({_UID})(?:\.slice)?$")
_LXC_PAYLOAD = re.compile(r"^lxc\.payload\.(.+)$")
_MACHINE_SCOPE = re.compile(r"^machine-(.+)\.scope$")
_NSPAWN_UNIT = re.compile(r"^systemd-nspawn@(.+)\.service$")


@dataclass(frozen=True)
class Placement:
    """A container as its cgroup path names it: runtime ("cri" for a Kubernetes container
    under a cgroupfs driver, whose runtime the path does not name), id, and pod uid."""

    runtime: str
    id: str
    pod_uid: str | None = None


@lru_cache(maxsize=4096)
def placement(text: str) -> Placement | None:
    """The container of a process whose cgroup file reads `text`; None for the host's own.
    Worked out once per text: most processes share their cgroup with others.

    The unified (v2) line is read first, then systemd's, then the rest (hybrid and v1 hosts).
    Within a path the outermost match wins: a container given its own cgroup tree can make
    sub-cgroups with any name, but not above its own."""
    paths: list[tuple[int, str]] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        rank = 0 if parts[0] == "0" and parts[1] == "" else 1 if parts[1] == "name=systemd" else 2
        paths.append((rank, parts[2]))
    for _, path in sorted(paths, key=lambda p: p[0]):
        found = from_path(path)
        if found is not None:
            return found
    return None


def from_path(path: str) -> Placement | None:
    """The container a cgroup path belongs to, outermost component first."""
    parts = [p for p in path.split("/") if p]
    pod_uid = None
    for n, part in enumerate(parts):
        above = parts[n - 1] if n else ""
        below = parts[n + 1] if n + 1 < len(parts) else ""
        if m := _POD.match(part):
            pod_uid = m.group(1).replace("_", "-")
        elif m := _SCOPE.match(part):
            return Placement(_SCOPE_RUNTIME[m.group(1)], m.group(2), pod_uid)
        elif re.fullmatch(_HEX_ID, part) and (pod_uid is not None or above == "docker"):
            return Placement("cri" if pod_uid else "docker", part, pod_uid)
        elif m := _LXC_PAYLOAD.match(part):
            return Placement("lxc", m.group(1))
        elif above == "lxc" and n == 1:
            return Placement("lxc", part)
        elif m := _NSPAWN_UNIT.match(part) or _MACHINE_SCOPE.match(part):
            if below == "supervisor" or part.startswith("machine-libpod_pod_"):
                return None  # systemd-nspawn's own process, on the host's side
            return Placement("nspawn", unescape(m.group(1)))
        elif part.startswith("lxc.monitor."):
            return None  # LXC's own process, on the host's side
    return None


def unescape(unit: str) -> str:
    """A systemd unit name's \\xNN escapes undone ('web\\x2d1' is 'web-1')."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), unit)
