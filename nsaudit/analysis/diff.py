"""The diff engine, pure: (Snapshot, Snapshot) -> SnapshotDiff, with nothing read or printed."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from nsaudit.model import CapabilityReport, HolderKind, Namespace, Snapshot

# The fields each namespace declares with its diff role (nsaudit/model/inventory.py). A
# representative process that is replaced, or a process count that moves, is routine on a live
# host: those "noise" fields alone never make a diff exit 1.
_DECLARED = dataclasses.fields(Namespace)
COMPARED_FIELDS = tuple(f.name for f in _DECLARED if "diff" in f.metadata)
NOISE_FIELDS = frozenset(f.name for f in _DECLARED if f.metadata.get("diff") == "noise")

Key = tuple[str, int, int, int | None]


@dataclass(frozen=True)
class Change:
    """One namespace in both snapshots whose attributes or holders differ."""

    old: Namespace
    new: Namespace
    fields: tuple[str, ...]
    note: str | None

    @property
    def noise(self) -> bool:
        return set(self.fields) <= NOISE_FIELDS


@dataclass(frozen=True)
class CapabilityChange:
    """One fact of the detect report that differs, e.g. types.user.status."""

    key: str
    old: object
    new: object


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed from OLD to NEW. With `rebooted`, namespaces are matched by shape."""

    rebooted: bool
    created: tuple[Namespace, ...]
    vanished: tuple[Namespace, ...]
    changed: tuple[Change, ...]
    capabilities: tuple[CapabilityChange, ...]
    hidden: int = 0

    @property
    def signal(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changed if not c.noise)

    @property
    def noise(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changed if c.noise)

    @property
    def differs(self) -> bool:
        """What makes `nsaudit diff` exit 1: not process-count changes alone."""
        return bool(self.created or self.vanished or self.signal or self.capabilities)


def key(ns: Namespace) -> Key:
    return ns.identity


def _without_ns_id(ns: Namespace) -> Key:
    return (ns.id.type.value, ns.id.dev, ns.id.inode, None)


def shape(ns: Namespace) -> tuple[object, ...]:
    """What a namespace looks like regardless of its inode: across reboots and hosts."""
    mounts = tuple(sorted(h.path or "" for h in ns.holders if h.kind == HolderKind.MOUNT))
    return (ns.id.type.value, ns.command, ns.user, mounts)


def diff(old: Snapshot, new: Snapshot, ns_type: str | None = None) -> SnapshotDiff:
    """The difference between two snapshots of one host (optionally of one type)."""
    old_ns = [n for n in old.namespaces if ns_type in (None, n.id.type.value)]
    new_ns = [n for n in new.namespaces if ns_type in (None, n.id.type.value)]
    rebooted = bool(old.host.boot_id and new.host.boot_id and old.host.boot_id != new.host.boot_id)
    caps = tuple(capability_changes(old.capabilities, new.capabilities))
    if rebooted:
        created, vanished = by_shape(old_ns, new_ns)
        return SnapshotDiff(True, created, vanished, (), caps)
    # NS_GET_ID tells a reused inode apart only where both snapshots have it (a kernel or an
    # nsaudit without it took one of them): else identity is (type, device, inode) alone.
    ident = key if all(n.ns_id is not None for n in (*old_ns, *new_ns)) else _without_ns_id
    before = {ident(n): n for n in old_ns}
    after = {ident(n): n for n in new_ns}
    created = tuple(after[k] for k in sorted(after.keys() - before.keys(), key=_sort))
    vanished = tuple(before[k] for k in sorted(before.keys() - after.keys(), key=_sort))
    changed = []
    for k in sorted(before.keys() & after.keys(), key=_sort):
        if before[k] == after[k]:
            continue
        fields = tuple(f for f in COMPARED_FIELDS if getattr(before[k], f) != getattr(after[k], f))
        if fields:
            changed.append(Change(before[k], after[k], fields, _note(before[k], after[k])))
    return SnapshotDiff(False, created, vanished, tuple(changed), caps)


def _sort(k: Key) -> tuple[str, int, int]:
    # (type, device, inode) is unique within one snapshot; leaving out NS_GET_ID's id also
    # keeps None from being compared with a number.
    return (k[0], k[1], k[2])


def by_shape(
    old: list[Namespace], new: list[Namespace]
) -> tuple[tuple[Namespace, ...], tuple[Namespace, ...]]:
    """Namespaces whose shape is in one snapshot more often than in the other."""
    extra_new = Counter(shape(n) for n in new) - Counter(shape(n) for n in old)
    extra_old = Counter(shape(n) for n in old) - Counter(shape(n) for n in new)
    return _take(new, extra_new), _take(old, extra_old)


def _take(
    namespaces: Iterable[Namespace], wanted: Counter[tuple[object, ...]]
) -> tuple[Namespace, ...]:
    out = []
    for ns in sorted(namespaces, key=lambda n: _sort(key(n)), reverse=True):
        if wanted[shape(ns)] > 0:
            wanted[shape(ns)] -= 1
            out.append(ns)
    return tuple(sorted(out, key=lambda n: _sort(key(n))))


def _note(old: Namespace, new: Namespace) -> str | None:
    """The change in words, where words say more than fields."""
    if old.nprocs and not new.nprocs and new.holders:
        held = ", ".join(f"{h.kind} {h.path or h.pid}" for h in new.holders)
        return f"lost its last process; still held by {held}"
    if not old.nprocs and new.nprocs:
        return "has processes again"
    if old.holders and not new.holders:
        return "no longer held by an fd or mount"
    return None


def facts(stored: CapabilityReport | None) -> dict[str, object]:
    """The facts of a capability report that matter to an audit, flattened to dotted keys (none
    without a report)."""
    if stored is None:
        return {}
    report = stored.value
    out: dict[str, object] = {
        "kernel.release": report.release,
        "kconfig.path": report.kconfig.path if report.kconfig else None,
    }
    for t in report.types:
        name = t.type.value
        out[f"types.{name}.status"] = t.status.value
        out[f"types.{name}.present"] = t.present
        out[f"types.{name}.limit"] = t.limit
        for option in t.config:
            out[f"types.{name}.config.{option.name}"] = option.value
        out[f"types.{name}.unprivileged"] = t.unprivileged.value.value
    for r in report.restrictions:
        out[f"sysctl.{r.name}"] = r.value
    if report.persisted is not None:
        for name in sorted({s.name for s in report.persisted.settings}):
            out[f"{AT_BOOT}{name}"] = report.persisted.of(name)[-1].value
    for p in report.userns_profiles or ():
        out[f"{USERNS_PROFILE}{p.name}"] = p.mode
    return out


# Facts a report records only since nsaudit read them (None in an older report): compared only
# when both reports have them, so that an upgrade is not a change of the host.
AT_BOOT = "sysctl.at_boot."
USERNS_PROFILE = "apparmor.userns_profile."


def _recorded(stored: CapabilityReport | None) -> set[str]:
    if stored is None:
        return set()
    report = stored.value
    return {
        prefix
        for prefix, value in (
            (AT_BOOT, report.persisted),
            (USERNS_PROFILE, report.userns_profiles),
        )
        if value is not None
    }


def capability_changes(
    old: CapabilityReport | None, new: CapabilityReport | None
) -> list[CapabilityChange]:
    a, b = facts(old), facts(new)
    later = {AT_BOOT, USERNS_PROFILE} - (_recorded(old) & _recorded(new))
    return [
        CapabilityChange(k, a.get(k), b.get(k))
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k) and not k.startswith(tuple(later))
    ]


def without(d: SnapshotDiff, ignored: Callable[[Namespace], bool]) -> SnapshotDiff:
    """The diff less the namespaces an ignore rule matches; `hidden` counts what it left out."""
    created = tuple(n for n in d.created if not ignored(n))
    vanished = tuple(n for n in d.vanished if not ignored(n))
    changed = tuple(c for c in d.changed if not (ignored(c.old) or ignored(c.new)))
    hidden = (
        (len(d.created) - len(created))
        + (len(d.vanished) - len(vanished))
        + (len(d.changed) - len(changed))
    )
    return replace(d, created=created, vanished=vanished, changed=changed, hidden=d.hidden + hidden)
