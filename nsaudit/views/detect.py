"""The capability report as a Document: its JSON is the stored document (kernel/report.py)."""

from __future__ import annotations

from nsaudit.kernel.report import encode
from nsaudit.model import Capabilities, ProbeResult, ProbeRun, TypeCapability
from nsaudit.render import Document, Table, cell


def document(caps: Capabilities) -> Document:
    return Document(
        title="nsaudit detect: kernel namespace capabilities",
        payload=encode(caps),
        lines=_lines(caps),
        tables=(
            _types_table(caps),
            _restrictions_table(caps),
            *_boot_table(caps),
            *_profiles_table(caps),
        ),
        records=_records(caps),
        warnings=caps.warnings,
    )


def _lines(caps: Capabilities) -> tuple[str, ...]:
    release = caps.release or "unknown"
    lines = [
        f"Kernel: {release}" + (f" (from {caps.release_source})" if caps.release_source else "")
    ]
    if caps.kconfig:
        k = caps.kconfig
        facts = ["gzip" if k.compressed else "plain"]
        facts.append(f"header {k.release}" if k.release else "no release in its header")
        if k.matches_running is False:
            facts.append("NOT the running kernel's series")
        lines.append(f"Kernel config: {k.path} ({', '.join(facts)})")
    else:
        lines.append("Kernel config: none found (tried " + "; ".join(caps.kconfig_tried) + ")")
    u = caps.unprivileged_userns
    lines.append(f"Unprivileged user namespaces: {u.value} ({u.reason})")
    return tuple(lines)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _flag(value: bool | None) -> str:
    """A CSV boolean: yes, no, or empty when unknown."""
    return cell(value)


def _config_cell(t: TypeCapability) -> str:
    if not t.config:
        return "-" if t.type != "mnt" else "(none needed)"
    return t.config[0].text


def _kernel_cell(t: TypeCapability) -> str:
    verdict = {True: "ok", False: "too old", None: "?"}[t.kernel_ok]
    return f">={t.introduced} {verdict}"


def _probe_cell(r: ProbeResult) -> str:
    if r.usable:
        return "yes" if r.via == "direct" else "yes (in a user ns)"
    return f"no ({r.errno or r.error})"


def _probe_of(run: ProbeRun, t: TypeCapability) -> ProbeResult:
    return next(r for r in run.results if r.type is t.type)


def _types_table(caps: Capabilities) -> Table:
    usable_columns = tuple(f"USABLE AS {p.user}" for p in caps.probes)
    columns = (
        "TYPE",
        "STATUS",
        "CONFIG",
        "/PROC",
        "LIMIT",
        "KERNEL",
        "UNPRIVILEGED",
        *usable_columns,
        "REASON",
    )
    rows = []
    for t in caps.types:
        rows.append(
            (
                t.type.value,
                t.status.value,
                _config_cell(t),
                _yes_no(t.present),
                "-" if t.limit is None else str(t.limit),
                _kernel_cell(t),
                t.unprivileged.value,
                *(_probe_cell(_probe_of(p, t)) for p in caps.probes),
                t.reason,
            )
        )
    return Table(
        None,
        columns,
        tuple(rows),
        frozenset({"STATUS", "UNPRIVILEGED", *usable_columns}),
        cut=frozenset({"REASON", *usable_columns}),
    )


def _restrictions_table(caps: Capabilities) -> Table:
    rows = tuple(
        (r.name, "-" if r.value is None else r.value, r.meaning) for r in caps.restrictions
    )
    return Table(
        "User namespace restrictions",
        ("SYSCTL", "VALUE", "MEANING"),
        rows,
        cut=frozenset({"MEANING"}),
    )


def _boot_table(caps: Capabilities) -> tuple[Table, ...]:
    """What the sysctl files set at boot, when they set any of these sysctls."""
    if caps.persisted is None or not caps.persisted.settings:
        return ()
    rows = tuple(
        (s.name, s.value, s.where + (f" (pattern {s.pattern})" if s.pattern else ""))
        for s in caps.persisted.settings
    )
    return (
        Table(
            "Set at boot (sysctl.d, in the order applied)",
            ("SYSCTL", "VALUE", "FILE"),
            rows,
            cut=frozenset({"FILE"}),
        ),
    )


def _profiles_table(caps: Capabilities) -> tuple[Table, ...]:
    """The AppArmor profiles that grant userns: a program run under one gets user namespaces
    with capabilities despite kernel.apparmor_restrict_unprivileged_userns."""
    if not caps.userns_profiles:
        return ()
    rows = tuple(
        (p.name, p.mode, p.attachment or "-", f"{p.path}:{p.line}") for p in caps.userns_profiles
    )
    return (
        Table(
            "AppArmor profiles that grant userns (ways around the restriction)",
            ("PROFILE", "MODE", "ATTACHED TO", "GRANTED AT"),
            rows,
            cut=frozenset({"ATTACHED TO", "GRANTED AT"}),
        ),
    )


def _records(caps: Capabilities) -> Table:
    columns = [
        "type",
        "status",
        "reason",
        "config_option",
        "config_value",
        "config_source",
        "present",
        "for_children",
        "limit",
        "introduced",
        "kernel_ok",
        "unprivileged",
        "unprivileged_reason",
    ]
    for p in caps.probes:
        columns += [f"usable_as_{p.user}", f"usable_via_{p.user}", f"errno_as_{p.user}"]
    source = caps.kconfig.path if caps.kconfig else ""
    rows = []
    for t in caps.types:
        option = t.config[0] if t.config else None
        row = [
            t.type.value,
            t.status.value,
            t.reason,
            option.name if option else "",
            "" if option is None else (option.value or "absent"),
            source if option else "",
            _flag(t.present),
            _flag(t.for_children),
            "" if t.limit is None else str(t.limit),
            t.introduced,
            _flag(t.kernel_ok),
            t.unprivileged.value,
            t.unprivileged.reason,
        ]
        for p in caps.probes:
            r = _probe_of(p, t)
            row += [_flag(r.usable), r.via or "", r.errno or ""]
        rows.append(tuple(row))
    return Table(None, tuple(columns), tuple(rows))
