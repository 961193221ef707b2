"""What tests share: namespaces and snapshots built in memory, a stored history of two hosts,
and /proc trees built under a --root directory, where the files say what each process is (the
collector reads them as it reads the kernel's)."""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from nsaudit.kernel.report import report
from nsaudit.model import (
    Access,
    Answer,
    Capabilities,
    CapabilityReport,
    Holder,
    HostInfo,
    KconfigSource,
    Namespace,
    NamespaceEvent,
    NamespaceId,
    NsType,
    Restriction,
    Snapshot,
    Status,
    TypeCapability,
    Unprivileged,
)
from nsaudit.store.database import Database
from nsaudit.store.snapshots import save

HOST = HostInfo("h", "m", "boot-1", "6.1")


def ns(
    ns_type: NsType,
    inode: int,
    nprocs: int = 1,
    command: str | None = "sleep",
    holders: tuple[Holder, ...] = (),
    ns_id: int | None = None,
) -> Namespace:
    return Namespace(
        id=NamespaceId(ns_type, 4, inode),
        nprocs=nprocs,
        pid=100 + inode if nprocs else None,
        pid_start=None,
        ppid=None,
        command=command if nprocs else None,
        cmdline=None,
        uid=0,
        user="root",
        ns_id=ns_id,
        parent=None,
        owner=None,
        owner_uid=None,
        holders=holders,
    )


def kernel_report(
    release: str | None = "6.1.0",
    kconfig: str | None = "/boot/config-6.1.0",
    sysctls: tuple[Restriction, ...] = (),
    **types: dict[str, Any],
) -> CapabilityReport:
    """A capability report built in memory: each type unknown, with no evidence, unless a
    keyword of its name gives its fields (`user={"status": Status.DISABLED, "limit": 0}`)."""
    unknown = Answer(Unprivileged.UNKNOWN, "not assessed")
    each = {
        t: TypeCapability(
            t, (), None, None, None, "3.8", None, Status.UNKNOWN, "no evidence", unknown
        )
        for t in NsType
    }
    for name, fields in types.items():
        each[NsType(name)] = replace(each[NsType(name)], **fields)
    source = KconfigSource(kconfig, False, None, None) if kconfig else None
    return report(
        Capabilities(
            "/",
            release,
            "/proc/sys/kernel/osrelease",
            source,
            (),
            tuple(each.values()),
            sysctls,
            Answer(Access.UNKNOWN, "not assessed"),
            (),
        )
    )


def restriction(name: str, value: str | None, read: bool = True, meaning: str = "m") -> Restriction:
    """A sysctl of a capability report; read=False: it could not be read."""
    return Restriction(name, "/proc/sys/" + name.replace(".", "/"), value, meaning, read)


def snap(
    *namespaces: Namespace, boot: str = "boot-1", caps: CapabilityReport | None = None
) -> Snapshot:
    host = replace(HOST, boot_id=boot)
    return Snapshot(
        host, "2026-01-01T00:00:00+00:00", "t", None, 1, False, tuple(namespaces), (), caps
    )


def policy_file(path: Path, *rules: str, name: str = "test") -> Path:
    """A policy file at `path` holding these rules (rule_toml)."""
    path.write_text(f'[policy]\nname = "{name}"\n' + "".join(rules))
    return path


def rule_toml(rule_id: str, check: str, extra: str = "") -> str:
    """One [[rule]] of a policy file: its check an inline table, `extra` more lines."""
    return (
        f'\n[[rule]]\nid = "{rule_id}"\ntitle = "{rule_id}"\nseverity = "medium"\n'
        f"check = {check}\n{extra}"
    )


def history(db: Path) -> None:
    """Two hosts, twelve snapshots each, from 2025 to now, with namespaces that come and go."""
    rng = random.Random(5)
    database = Database(str(db))
    for hostname in ("web-01", "db-01"):
        alive = {i: ns(NsType.NET, i) for i in range(5)}
        for month in range(1, 13):
            for _ in range(2):
                if rng.random() < 0.6:
                    i = rng.randrange(5, 40)
                    alive[i] = ns(rng.choice(list(NsType)), i, nprocs=rng.randrange(3))
                if alive and rng.random() < 0.5:
                    alive.pop(rng.choice(list(alive)))
            s = snap(*sorted(alive.values(), key=lambda n: (n.id.type.value, n.id.inode)))
            # As nsaudit writes times: to the microsecond.
            day = f"2025-{month:02d}-01" if month < 12 else "2099-01-01"
            when = f"{day}T00:00:00.000000+00:00"
            s = replace(s, taken_at=when, host=HostInfo(hostname, hostname, "boot-1", "6.1"))
            with database.writing() as conn:
                save(conn, s)
    database.dispose()


def stat_line(pid: int, comm: str, ppid: int, start: int, flags: int = 0x400100) -> str:
    """A /proc/PID/stat line as the kernel writes it (52 fields): state S."""
    fields = ["0"] * 50  # those after the command
    fields[0], fields[1], fields[2] = "S", str(ppid), str(pid)
    fields[6], fields[19] = str(flags), str(start)  # fields 9 and 22 of the line
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


def process(
    root: Path,
    pid: int,
    links: dict[str, str],
    comm: str = "sleep",
    ppid: int = 1,
    cmdline: bytes = b"sleep\x00300\x00",
    fds: dict[str, str] | None = None,
) -> Path:
    """A process directory under root/proc: ns links (name -> target), stat, cmdline, fds."""
    base = root / "proc" / str(pid)
    (base / "ns").mkdir(parents=True)
    for name, target in links.items():
        (base / "ns" / name).symlink_to(target)
    (base / "stat").write_text(stat_line(pid, comm, ppid, 100 + pid))
    (base / "cmdline").write_bytes(cmdline)
    if fds is not None:
        (base / "fd").mkdir()
        for fd, target in fds.items():
            (base / "fd" / fd).symlink_to(target)
    return base


def stig_running_only(path: Path, identifiers: bool = True) -> Path:
    """The shipped STIG policy at `path`, checking the running value alone and applicable
    whatever runs (tests/test_stig.py checks the boot-time value and not-applicable)."""
    samples = Path(__file__).resolve().parent.parent / "samples"
    text = (samples / "policies" / "stig-user-namespaces.toml").read_text()
    text = text.replace('not_applicable_if = "containers"\n', "").replace(
        ", persisted = true }", " }"
    )
    if not identifiers:
        text = re.sub(r"(?m)^identifiers = .*\n", "", text)
    path.write_text(text)
    # its kernel_exposure rule reads the data beside it
    shutil.copytree(samples / "policies" / "data", path.parent / "data", dirs_exist_ok=True)
    return path


def namespace_event(
    inode: int, ns_id: int, uid: int = 1000, kind: str = "unshare", exe: str = "/tmp/x"
) -> NamespaceEvent:
    """A user namespace made (or entered) by /tmp/x, as the eBPF watcher records it."""
    return NamespaceEvent(
        at="2026-01-01T00:00:05.000000+00:00",
        event=kind,
        types="user",
        pid=7,
        tid=7,
        ppid=1,
        uid=uid,
        euid=uid,
        initial_userns=True,
        command="x",
        exe=exe,
        container=None,
        namespaces=(NamespaceId(NsType.USER, 4, inode),),
        ns_ids=f"user:{ns_id}",
        owner_inode=inode,
        owner_ns_id=ns_id,
        flags=0x10000000,
        mechanism="bpf",
        arch="x86_64",
        lived_ms=50,
    )
