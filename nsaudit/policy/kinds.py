"""The check kinds a policy may use, each declaring its TOML keys and parsing itself."""

from __future__ import annotations

from typing import Any, Protocol

from nsaudit.policy.checks import Check
from nsaudit.policy.container_checks import HostNamespacesCheck
from nsaudit.policy.event_checks import EventsCheck
from nsaudit.policy.exposure_checks import KernelExposureCheck
from nsaudit.policy.inventory_checks import (
    CountCheck,
    CreatedCheck,
    HoldersCheck,
    UnprivilegedOwnerCheck,
)
from nsaudit.policy.kernel_checks import AppArmorUsernsCheck, CapabilityCheck, SysctlCheck
from nsaudit.policy.place import Place


class Kind(Protocol):
    """A check class: its kind, its TOML keys besides kind, and how it reads them."""

    @property
    def kind(self) -> str: ...

    @property
    def keys(self) -> frozenset[str]: ...

    def parse(self, at: Place, d: dict[str, Any]) -> Check: ...


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        CapabilityCheck,
        SysctlCheck,
        CountCheck,
        HoldersCheck,
        UnprivilegedOwnerCheck,
        CreatedCheck,
        HostNamespacesCheck,
        AppArmorUsernsCheck,
        KernelExposureCheck,
        EventsCheck,
    )
}
# The kinds whose evidence is the scan's inventory of processes and namespaces; capability
# and sysctl checks read the kernel's own report, which a partial scan does not touch.
INVENTORY_KINDS = frozenset(
    k.kind
    for k in (CountCheck, HoldersCheck, UnprivilegedOwnerCheck, CreatedCheck, HostNamespacesCheck)
)


def parse(at: Place, d: dict[str, Any]) -> Check:
    """The check a rule's check table describes."""
    kind = d.get("kind")
    if kind not in KINDS:
        raise at.error(f"unknown check kind {kind!r}; known: {', '.join(KINDS)}", "kind")
    found = KINDS[kind]
    for key in d:
        if key != "kind" and key not in found.keys:
            raise at.error(
                f"unknown key {key!r} for a {kind} check; known: {', '.join(sorted(found.keys))}",
                key,
            )
    return found.parse(at, d)
