"""What this kernel can do: the capability report, with real unshare(2) probes if asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from nsaudit.errors import UsageError
from nsaudit.hostfs import HostFS
from nsaudit.kernel import probe as probing
from nsaudit.kernel.detect import detect as detect_kernel
from nsaudit.model import Capabilities, NsType, Status


def detect(
    root: str = "/",
    kconfig: str | None = None,
    probe: bool = False,
    probe_as: Sequence[str] = (),
) -> Capabilities:
    """The capability report of the kernel under `root` (its config from `kconfig` when
    given); `probe` (or users in `probe_as`, names or uids) creates each type for real."""
    host = HostFS(root)
    probe = probe or bool(probe_as)
    users = [probing.resolve_user(u) for u in probe_as]
    if probe and not host.live:
        raise UsageError("--probe tests the running kernel; it cannot be combined with --root")
    caps = detect_kernel(host, kconfig)
    if probe:
        runs = [probing.probe(tuple(NsType))] + [probing.probe(tuple(NsType), u) for u in users]
        caps = replace(caps, probes=tuple(runs))
    return caps


def unavailable(caps: Capabilities, required: Sequence[NsType]) -> list[str]:
    """The required types that are not available, each with its status: 'user (disabled)'."""
    return [
        f"{t.value} ({caps.of(t).status.value})"
        for t in required
        if caps.of(t).status is not Status.AVAILABLE
    ]
