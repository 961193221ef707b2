"""Verdicts a user can trust: partial scans are known and never pass a rule (items 2, 3), a
check by hand leaves the audit's window alone (6), process text is kept byte for byte (8),
and nsaudit never stands for a namespace itself (11)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    NOBODY,
    REPO,
    SAMPLES,
    as_nobody,
    assert_clean_error,
    needs_root,
    nobody_dir,
    run,
)
from factories import policy_file, rule_toml
from nsmakers import in_new_namespaces, kill_tree, ns_of


def results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report["results"]}


# -- item 2: a rule whose evidence a partial scan could not see is `error` -----------------


@needs_root
def test_a_scan_that_could_not_read_most_processes_passes_no_inventory_rule(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack, nobody_dir() as home:
        pids = [stack.enter_context(in_new_namespaces("--net")) for _ in range(4)]
        proc = as_nobody(
            "check",
            "--policy",
            SAMPLES / "policies" / "container-host.toml",
            "--db",
            home / "ns.db",
            "--record",
            "--format",
            "json",
        )
        assert proc.returncode == 1, proc.stderr
        report = json.loads(proc.stdout)
        found = results(report)
        # The namespaces root made are invisible to uid 65534: the count rule saw too few.
        count = found["CH-06"]
        assert count["outcome"] == "error", count
        assert count["summary"].startswith("cannot tell: the scan was partial ("), count
        assert "process(es) could not be read" in count["summary"]
        assert 'partial = "accept"' in count["summary"]
        for rule_id in ("CH-04", "CH-05", "CH-07", "CH-08", "CH-09"):
            assert found[rule_id]["outcome"] in ("error", "fail"), found[rule_id]
        # The kernel's own report is whole even when the process scan is not.
        for rule_id in ("CH-01", "CH-02", "CH-03"):
            assert found[rule_id]["outcome"] in ("pass", "fail"), found[rule_id]
        assert report["snapshot"]["partial"] is True

        table = as_nobody(
            "check",
            "--policy",
            SAMPLES / "policies" / "container-host.toml",
            "--db",
            home / "ns.db",
            "--no-snapshot",
        )
        assert table.returncode == 1
        line = next(ln for ln in table.stdout.splitlines() if "CH-06" in ln)  # the rule's own
        assert "error" in line and "cannot tell: the scan was partial" in line, line
        assert len(pids) == 4


@needs_root
def test_a_rule_may_accept_a_partial_scan(tmp_path: Path) -> None:
    with nobody_dir() as home, in_new_namespaces("--net"):
        accepting = policy_file(
            home / "accept.toml",
            rule_toml(
                "COUNT",
                '{ kind = "count", type = "net", at_most = 1000000 }',
                'partial = "accept"\n',
            ),
            rule_toml("STRICT", '{ kind = "count", type = "net", at_most = 1000000 }'),
            rule_toml("KERNEL", '{ kind = "capability", type = "net", status = "available" }'),
        )
        proc = as_nobody("check", "--policy", accepting, "--db", home / "ns.db", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = results(json.loads(proc.stdout))
    assert found["COUNT"]["outcome"] == "pass"
    assert any("the snapshot is partial" in e["text"] for e in found["COUNT"]["evidence"])
    assert found["STRICT"]["outcome"] == "error"
    assert found["KERNEL"]["outcome"] == "pass"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"maybe"', ('partial must be "error"', "line 9", "rule A")),
        ("true", ('partial must be "error"', "line 9")),
    ],
)
def test_partial_key_is_validated(tmp_path: Path, value: str, words: tuple[str, ...]) -> None:
    path = policy_file(
        tmp_path / "bad.toml",
        rule_toml("A", '{ kind = "count", type = "net", at_most = 1 }', f"partial = {value}\n"),
    )
    assert_clean_error(run("check", "--policy", path, "--root", tmp_path), 2, *words)


def test_partial_accept_is_refused_where_the_scan_does_not_matter(tmp_path: Path) -> None:
    path = policy_file(
        tmp_path / "bad.toml",
        rule_toml(
            "K",
            '{ kind = "sysctl", name = "user.max_user_namespaces", at_least = 1 }',
            'partial = "accept"\n',
        ),
    )
    assert_clean_error(
        run("check", "--policy", path, "--root", tmp_path), 2, "partial applies to", "sysctl"
    )


# -- item 3: a /proc that hides tasks makes the scan partial, with the reason --------------


def _scan_in_private_proc(mount_options: str, home: Path, pid_ns: bool = False) -> dict[str, Any]:
    """`show --format json` of a snapshot taken as uid 65534 (root with pid_ns) under a /proc
    mounted with these options in a private mount namespace."""
    db = home / "ns.db"
    inner = [*NOBODY] if not pid_ns else []
    python = [sys.executable, "-m", "nsaudit"]
    script = (
        f"mount -t proc -o {mount_options} proc /proc && "
        f"{' '.join(inner + python)} snapshot --db {db} >/dev/null && "
        f"{' '.join(inner + python)} show --db {db} --format json"
    )
    unshare = ["unshare", "-m", "--propagation", "private"]
    if pid_ns:
        unshare += ["--fork", "--pid"]
    proc = subprocess.run(
        [*unshare, "sh", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _unseen(shown: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in shown["problems"] if p["errno"] == "UNSEEN"]


@needs_root
def test_hidepid_invisible_scan_is_partial_with_the_reason() -> None:
    with nobody_dir() as home:
        shown = _scan_in_private_proc("hidepid=invisible", home)
    assert shown["partial"] is True
    (problem,) = _unseen(shown)
    assert problem["pid"] is None
    assert problem["path"].startswith("/proc is mounted hidepid=invisible: "), problem
    seen, _, total = problem["path"].rpartition(": ")[2].partition(" tasks")[0].partition(" of ")
    assert 0 < int(seen) < int(total)
    # The same words in the table's header line.
    with nobody_dir() as home:
        db = home / "ns.db"
        script = (
            "mount -t proc -o hidepid=invisible proc /proc && "
            f"{' '.join(NOBODY)} {sys.executable} -m nsaudit snapshot --db {db}"
        )
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
    assert "partial: /proc is mounted hidepid=invisible: " in proc.stdout, proc.stdout


@needs_root
def test_hidepid_noaccess_scan_is_partial_with_the_reason() -> None:
    with nobody_dir() as home:
        shown = _scan_in_private_proc("hidepid=noaccess", home)
    assert shown["partial"] is True
    (problem,) = _unseen(shown)
    assert problem["path"].startswith("/proc is mounted hidepid=noaccess: "), problem


@needs_root
def test_a_pid_namespaces_proc_is_partial() -> None:
    with nobody_dir() as home:
        shown = _scan_in_private_proc("rw", home, pid_ns=True)
    (problem,) = _unseen(shown)
    assert "a pid namespace's /proc" in problem["path"], problem


CHURN = r"""
import os, sys, threading, time
def spin():
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        ts = [threading.Thread(target=time.sleep, args=(0.001,)) for _ in range(8)]
        for t in ts: t.start()
        for t in ts: t.join()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
spin()
"""


@needs_root
def test_a_root_scan_of_a_busy_host_sees_every_task(tmp_path: Path) -> None:
    churners = [subprocess.Popen([sys.executable, "-c", CHURN, "60"]) for _ in range(2)]
    try:
        db = tmp_path / "ns.db"
        for _ in range(3):
            assert run("snapshot", "--db", db).returncode == 0
            shown = json.loads(run("show", "--db", db, "--format", "json").stdout)
            assert _unseen(shown) == [], shown["problems"]
    finally:
        for c in churners:
            c.kill()
            c.wait()


# -- item 6: only audit (or check --record) moves the window of created rules --------------


def _created_evidence(report: dict[str, Any], pid: int) -> list[dict[str, Any]]:
    return [e for e in results(report)["NEW"]["evidence"] if e.get("pid") == pid]


def _sleeper(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", path)
    return str(path)


@needs_root
def test_a_check_by_hand_does_not_move_the_audits_window(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    path = policy_file(
        tmp_path / "p.toml", rule_toml("NEW", '{ kind = "created", commands = ["nsaudit-none"] }')
    )
    sleeper = _sleeper(tmp_path, "nsaudit-late")

    audits: list[dict[str, Any]] = []

    def audit() -> dict[str, Any]:
        proc = run("audit", "--db", db, "--policy", path, "--format", "json")
        assert proc.returncode in (0, 1), proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        audits.append(data)
        return data.get("check", data)  # type: ignore[no-any-return]

    audit()
    with in_new_namespaces("--uts", argv=[sleeper, "300"]) as pid:
        ours = os.readlink(f"/proc/{pid}/ns/uts")
        for _ in range(2):
            proc = run("check", "--db", db, "--policy", path, "--format", "json")
            assert proc.returncode == 1
            assert _created_evidence(json.loads(proc.stdout), pid)
        assert _created_evidence(audit(), pid), "the audit must still report it"
        # And its diff too: the checks by hand stored no snapshot in between.
        created = {f"{n['type']}:[{n['inode']}]" for n in audits[-1]["created"]}
        assert ours in created, created
        # The audit recorded its check: the next one starts there.
        assert not _created_evidence(audit(), pid)

    with in_new_namespaces("--uts", argv=[sleeper, "300"]) as pid:
        proc = run("check", "--db", db, "--policy", path, "--record", "--format", "json")
        assert _created_evidence(json.loads(proc.stdout), pid)
        assert not _created_evidence(audit(), pid), "check --record moved the window"


def _rows(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("snapshots", "policy_checks", "ns_states")
        )


@needs_root
def test_a_check_by_hand_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    path = policy_file(
        tmp_path / "p.toml", rule_toml("NEW", '{ kind = "created", commands = ["nsaudit-none"] }')
    )
    sleeper = _sleeper(tmp_path, "nsaudit-fresh")
    assert run("audit", "--db", db, "--policy", path).returncode in (0, 1)
    before = _rows(db), db.read_bytes()
    with in_new_namespaces("--uts", argv=[sleeper, "300"]) as pid:
        proc = run("check", "--db", db, "--policy", path, "--format", "json")
        assert proc.returncode == 1, proc.stderr
        report = json.loads(proc.stdout)
        evidence = _created_evidence(report, pid)
        assert evidence and all("nsaudit-fresh" in e["text"] for e in evidence)
        assert "and this scan" in report["period"]
    assert (_rows(db), db.read_bytes()) == before

    missing = tmp_path / "none" / "ns.db"
    proc = run("check", "--db", missing, "--policy", path)
    assert proc.returncode in (0, 1), proc.stderr
    assert not missing.parent.exists()


# -- item 8: process text is stored as the kernel gave it, and shown distinctly ------------

NAMED = r"""
import os, sys, time
with open("/proc/self/comm", "wb") as f:
    f.write(os.fsencode(sys.argv[1]))
print("ready", flush=True)
time.sleep(300)
"""


@contextmanager
def process_named(name: str) -> Iterator[int]:
    """A process in new uts and ipc namespaces whose comm and last argument are `name`
    (a str that may hold surrogate-escaped bytes)."""
    proc = subprocess.Popen(
        ["unshare", "--uts", "--ipc", sys.executable, "-c", NAMED, os.fsencode(name)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        yield proc.pid
    finally:
        kill_tree(proc)


BYTE = "\udcff"  # the byte 0xff, as the collector keeps it
TEXT = "\\xff"  # the four characters \ x f f


def _by_pid(shown: dict[str, Any], pid: int) -> dict[str, Any]:
    return next(n for n in shown["namespaces"] if n["pid"] == pid and n["type"] == "uts")


@needs_root
def test_a_name_with_the_byte_0xff_and_one_spelled_backslash_xff_stay_apart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ns.db"
    assert run("snapshot", "--db", db).returncode == 0
    with process_named(BYTE) as raw, process_named(TEXT) as spelled:
        assert Path(f"/proc/{raw}/comm").read_bytes() == b"\xff\n"
        assert Path(f"/proc/{spelled}/comm").read_bytes() == b"\\xff\n"
        assert run("snapshot", "--db", db).returncode == 0
        diff = run("diff", "--db", db, "--format", "json")
    shown = json.loads(run("show", "--db", db, "--format", "json").stdout)
    a, b = _by_pid(shown, raw), _by_pid(shown, spelled)
    assert a["command"] == BYTE and a["cmdline"].endswith(" " + BYTE)
    assert b["command"] == TEXT and b["cmdline"].endswith(" " + TEXT)

    table = run("show", "--db", db, "--type", "uts", "--wide").stdout
    (row_a,) = [ln for ln in table.splitlines() if f" {raw} " in ln]
    (row_b,) = [ln for ln in table.splitlines() if f" {spelled} " in ln]
    assert "\\xff" in row_a and "\\\\xff" not in row_a
    assert "\\\\xff" in row_b
    csv = run("show", "--db", db, "--format", "csv").stdout
    (csv_a,) = [ln for ln in csv.splitlines() if f",{raw}," in ln and ln.startswith("uts")]
    (csv_b,) = [ln for ln in csv.splitlines() if f",{spelled}," in ln and ln.startswith("uts")]
    assert "\\xff" in csv_a and "\\\\xff" not in csv_a and "\\\\xff" in csv_b

    created = json.loads(diff.stdout)["created"]
    commands = {n["pid"]: n["command"] for n in created if n["type"] == "uts"}
    assert commands[raw] == BYTE and commands[spelled] == TEXT

    bundle = tmp_path / "all.jsonl"
    assert run("export", "--all", "--db", db, "-o", bundle).returncode == 0
    bundle.read_text(encoding="ascii")  # JSON escapes: the file is plain ASCII
    other = tmp_path / "other.db"
    assert run("import", "--db", other, bundle).returncode == 0, "import"
    again = json.loads(run("show", "--db", other, "--format", "json").stdout)
    assert _by_pid(again, raw) == a and _by_pid(again, spelled) == b

    # What the database holds is valid text: the byte as \xff, the backslash doubled.
    with sqlite3.connect(other) as conn:
        stored = dict(conn.execute("SELECT pid, command FROM ns_states WHERE ns_type = 'uts'"))
    assert stored[raw] == "\\xff" and stored[spelled] == "\\\\xff"


def test_mountinfo_paths_are_unescaped_as_bytes() -> None:
    from nsaudit.collect import procfs

    line = b"40 30 0:4 net:[4026532281] /run/netns/a\\040b\\377 rw - nsfs nsfs rw\n"
    assert procfs.nsfs_mounts(line) == [("net", "/run/netns/a b\udcff")]
    assert os.fsencode(procfs.nsfs_mounts(line)[0][1]) == b"/run/netns/a b\xff"
    # The kernel never writes \000 (a path holds no NUL): such a field is kept as it is.
    line = b"40 30 0:4 net:[4026532281] /run/a\\000b rw - nsfs nsfs rw\n"
    assert procfs.nsfs_mounts(line) == [("net", "/run/a\\000b")]


def test_the_store_codec_round_trips() -> None:
    from nsaudit.store.text import from_db, to_db

    for text in ("plain", BYTE, TEXT, "a\\\\b" + BYTE + "\\", "\\x", "ünï" + BYTE):
        stored = to_db(text)
        assert stored is not None
        stored.encode("utf-8")  # no lone surrogate reaches a driver
        assert from_db(stored) == text
    assert to_db(BYTE) != to_db(TEXT)


# -- item 11: nsaudit is never its namespaces' representative ------------------------------


@needs_root
def test_an_unprivileged_audit_does_not_report_itself() -> None:
    host = {(t, *ns_of(os.getpid(), t)) for t in ("net", "uts", "ipc", "mnt", "cgroup")}
    with nobody_dir() as home:
        db = home / "ns.db"

        def audit(label: str) -> subprocess.CompletedProcess[str]:
            return as_nobody(
                "audit", "--db", db, "--label", label, "--format", "json", sleeper=True
            )

        first = audit("first-run")
        assert first.returncode in (0, 1), first.stderr
        second = audit("second-run")
        assert second.returncode in (0, 1), second.stderr
        report = json.loads(second.stdout)
        shown = json.loads(as_nobody("show", "--db", db, "--format", "json", sleeper=True).stdout)
    mine = [n for n in shown["namespaces"] if (n["type"], n["dev"], n["inode"]) in host]
    assert mine, "the host's namespaces are in the snapshot"
    for n in mine:
        assert "second-run" not in (n["cmdline"] or ""), n
        assert n["command"] == "sleep", n
    changed = [
        c
        for c in report.get("changed", [])
        if (c["new"]["type"], c["new"]["dev"], c["new"]["inode"]) in host
        and set(c["fields"]) & {"command", "cmdline"}
    ]
    assert changed == [], changed


@needs_root
def test_a_bind_mount_path_with_a_space_and_the_byte_0xff_is_found(tmp_path: Path) -> None:
    target = os.fsencode(tmp_path) + b"/net a\xff"
    script = b'touch "$1" && mount --bind /proc/self/ns/net "$1" && echo ready && exec sleep 300'
    proc = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            target,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        db = tmp_path / "ns.db"
        assert run("snapshot", "--db", db).returncode == 0
        shown = json.loads(run("show", "--db", db, "--type", "net", "--format", "json").stdout)
    finally:
        kill_tree(proc)
    paths = [h["path"] for n in shown["namespaces"] for h in n["holders"] if h["kind"] == "mount"]
    assert os.fsdecode(target) in paths, paths


def test_a_created_rule_cannot_pass_over_a_period_with_a_partial_snapshot(tmp_path: Path) -> None:
    from dataclasses import replace

    from factories import ns, snap

    from nsaudit.model import NsType, ScanProblem
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save

    db = tmp_path / "ns.db"
    path = policy_file(
        tmp_path / "p.toml", rule_toml("NEW", '{ kind = "created", commands = ["sleep"] }')
    )
    with Database(str(db)).writing() as conn:
        save(conn, snap(ns(NsType.UTS, 0), ns(NsType.NET, 1)))
    args = ("check", "--db", db, "--policy", path, "--host", "h", "--format", "json")
    assert run(*args, "--record").returncode == 0
    hidden = ScanProblem(
        None, "/proc is mounted hidepid=invisible: 3 of 99 tasks visible", "UNSEEN"
    )
    with Database(str(db)).writing() as conn:
        save(conn, replace(snap(ns(NsType.UTS, 0), ns(NsType.NET, 1)), problems=(hidden,)))
        save(conn, snap(ns(NsType.UTS, 0), ns(NsType.NET, 1), ns(NsType.UTS, 2)))
    proc = run(*args)
    assert proc.returncode == 1, proc.stderr
    new = results(json.loads(proc.stdout))["NEW"]
    assert new["outcome"] == "error", new
    assert "the period's snapshot seq 2 could not see every process" in new["summary"]
    assert "1 namespaces created, all by allowed holders" in new["summary"]


@needs_root
def test_a_bind_mount_that_cannot_be_read_makes_the_snapshot_partial(tmp_path: Path) -> None:
    # A net namespace held only by a bind mount in a folder root may not search without its
    # DAC capabilities: a scan that cannot stat the mount misses the namespace, so it is partial
    # and says which mount it could not read.
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "netns"
    target.touch()
    with in_new_namespaces("--net") as pid:
        inode = ns_of(pid, "net")[1]
        subprocess.run(["mount", "--bind", f"/proc/{pid}/ns/net", target], check=True)
    try:
        locked.chmod(0)
        no_dac = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")
        proc = run("snapshot", "--no-store", "--format", "json", prefix=no_dac)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["partial"] is True
        ours = [p for p in data["problems"] if p["path"].endswith(f"/root{target}")]
        assert ours and {p["errno"] for p in ours} == {"EACCES"}, data["problems"]
        assert not [n for n in data["namespaces"] if (n["type"], n["inode"]) == ("net", inode)]
        # With its capabilities, the same scan finds the namespace and its mount.
        data = json.loads(run("snapshot", "--no-store", "--format", "json").stdout)
        (held,) = [n for n in data["namespaces"] if (n["type"], n["inode"]) == ("net", inode)]
        assert held["holders"] == [
            {"kind": "mount", "pid": None, "fd": None, "path": str(target), "container": None}
        ]
    finally:
        locked.chmod(0o700)
        subprocess.run(["umount", target], check=False)
