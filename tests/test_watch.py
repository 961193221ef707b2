"""`nsaudit watch` on the real kernel: every way to make or enter a namespace is recorded, with
its types, inodes, 64-bit ids and uid, however short-lived."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import runtimes
from conftest import NOBODY, assert_clean_error, run
from watching import Watcher, bpf_problem, make, mine, net_sleeper, started

from nsaudit.model import INITIAL_USERNS_INODE
from nsaudit.policy.match import matches
from nsaudit.watch import abis
from nsaudit.watch.bpf import TRACEFS, BpfWatch
from nsaudit.watch.events import Seen


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Watcher]:
    yield from started(tmp_path / "w.db", "bpf", bpf_problem())


def namespaces(event: dict[str, object]) -> dict[str, int]:
    return {n["type"]: n["inode"] for n in event["namespaces"]}  # type: ignore[attr-defined,index]


def ns_ids(event: dict[str, object]) -> dict[str, int]:
    return {t: int(i) for t, i in (p.split(":") for p in str(event["ns_ids"]).split())}


def test_unshare_user_map_root_user_by_an_unprivileged_user(watcher: Watcher) -> None:
    # setpriv execs unshare: the pid is the event's (another `nobody` may unshare meanwhile).
    proc = subprocess.Popen([*NOBODY, "unshare", "--user", "--map-root-user", "true"])
    assert proc.wait(30) == 0
    shown = watcher.stop()
    (event,) = mine(shown, proc.pid, "unshare")
    assert event["types"] == "user"
    assert event["euid"] == 65534
    assert event["initial_userns"] is True
    assert event["exe"].endswith("/unshare")
    assert event["mechanism"] == "bpf"
    # The user namespace owns itself here: the one it made.
    assert event["owner_inode"] == namespaces(event)["user"] != INITIAL_USERNS_INODE
    assert ns_ids(event)["user"] == event["owner_ns_id"] > 0
    assert event["lived_ms"] is not None
    assert shown["lost"] == 0


def test_in_process_unshare_that_lives_50_ms_without_exec_or_fork(watcher: Watcher) -> None:
    (made,) = make("unshare", prefix=NOBODY)
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["types"] == "net,user"
    assert event["uid"] == event["euid"] == 65534
    assert event["initial_userns"] is True
    assert namespaces(event) == {t: v[0] for t, v in made["ns"].items()}
    assert ns_ids(event) == {t: v[1] for t, v in made["ns"].items()}
    assert event["tid"] == made["pid"]
    assert 40 <= event["lived_ms"] < 5000
    assert "python" in event["exe"]


def test_in_process_unshare_then_a_fork(watcher: Watcher) -> None:
    made, forked = make("fork", prefix=NOBODY)
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["types"] == "net,user"
    assert ns_ids(event) == {t: v[1] for t, v in made["ns"].items()}
    # A fork with no namespace flags makes no namespace: no event of the child's own.
    assert mine(shown, forked["child"]) == []
    assert event["lived_ms"] >= 90  # the parent waited for its child, then 50 ms more


def test_clone3_with_namespace_flags(watcher: Watcher) -> None:
    (child,) = make("clone3")
    shown = watcher.stop()
    (event,) = mine(shown, child["pid"])
    assert event["event"] == "clone3"
    assert event["types"] == "ipc,uts"
    assert event["ppid"] == child["ppid"]
    assert event["uid"] == 0
    assert namespaces(event) == {t: v[0] for t, v in child["ns"].items()}
    assert ns_ids(event) == {t: v[1] for t, v in child["ns"].items()}
    assert event["lived_ms"] is not None


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    yield from net_sleeper()


def test_nsenter_net(watcher: Watcher, sleeper: subprocess.Popen[bytes]) -> None:
    target = Path(f"/proc/{sleeper.pid}/ns/net").stat().st_ino
    entered = subprocess.Popen(["nsenter", "-t", str(sleeper.pid), "--net", "true"])
    assert entered.wait(30) == 0
    shown = watcher.stop()
    (event,) = mine(shown, entered.pid, "setns")  # nsenter calls setns, then execs true
    assert event["types"] == "net"
    assert namespaces(event) == {"net": target}


@pytest.mark.parametrize("how", ["setns", "setns-any"])
def test_in_process_setns(watcher: Watcher, sleeper: subprocess.Popen[bytes], how: str) -> None:
    (made,) = make(how, str(sleeper.pid))
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "setns")
    assert event["types"] == "net"  # with nstype 0, the type of the namespace the fd names
    assert namespaces(event) == {"net": made["ns"]["net"][0]}
    assert ns_ids(event) == {"net": made["ns"]["net"][1]}
    # And the namespace it entered, as the unshare(1) of the sleeper made it.
    (made_by,) = mine(shown, sleeper.pid, "unshare")
    assert namespaces(made_by) == namespaces(event)


def test_an_i386_unshare_of_a_64_bit_program(watcher: Watcher) -> None:
    # int 0x80: the per-call tracepoints (syscalls/sys_exit_unshare) leave i386 calls out, the
    # way an exploit would pass unseen.
    (made,) = make("unshare32", prefix=NOBODY)
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["arch"] == "i386"
    assert event["types"] == "net,user"
    assert event["uid"] == event["euid"] == 65534
    assert event["initial_userns"] is True
    assert namespaces(event) == {t: v[0] for t, v in made["ns"].items()}
    assert ns_ids(event) == {t: v[1] for t, v in made["ns"].items()}
    assert 40 <= event["lived_ms"] < 5000


def test_the_per_call_tracepoints_only_where_the_kernel_runs_no_other_abi() -> None:
    # They cost less, and see x86_64 calls only: nsaudit loads them where the kernel runs no
    # i386 or x32 calls (tried at start), else the program on every call's exit.
    problem = bpf_problem() or (None if os.path.isdir(f"{TRACEFS}/events/syscalls") else
                                f"needs tracefs at {TRACEFS} (.ci/run mounts it)")  # fmt: skip
    if problem:
        pytest.skip(problem)
    runs_i386 = "i386" in abis.foreign()
    per_call = BpfWatch(os.stat("/proc/self/ns/net").st_dev, foreign=())
    try:
        assert "on unshare's and setns' exits" in per_call.description
        (native,) = make("unshare", prefix=NOBODY)
        if runs_i386:
            (foreign,) = make("unshare32", prefix=NOBODY)
        time.sleep(0.2)
        seen = [g.event.pid for g in per_call.poll(1000) if isinstance(g, Seen)]
    finally:
        per_call.close()
    assert native["pid"] in seen
    if runs_i386:
        assert foreign["pid"] not in seen  # why the default, here, is every call's exit
        chosen = BpfWatch(os.stat("/proc/self/ns/net").st_dev)
        chosen.close()
        assert "on every system call's exit (this kernel runs i386" in chosen.description


def test_an_i386_setns(watcher: Watcher, sleeper: subprocess.Popen[bytes]) -> None:
    (made,) = make("setns32", str(sleeper.pid))
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "setns")
    assert event["arch"] == "i386"
    assert event["types"] == "net"
    assert ns_ids(event) == {"net": made["ns"]["net"][1]}


@pytest.fixture
def mounted() -> Iterator[Path]:
    """A tmpfs of the test's own, with a copy of unshare(1) at usr/bin/unshare in it."""
    top = Path(tempfile.mkdtemp(prefix="nsa-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "nsaudit-test", top], check=True)
    try:
        (top / "usr" / "bin").mkdir(parents=True)
        shutil.copy2(shutil.which("unshare") or "/usr/bin/unshare", top / "usr/bin/unshare")
        yield top
    finally:
        subprocess.run(["umount", "-l", top], check=True)
        top.rmdir()


def ran(*args: str | Path) -> int:
    """Run a command to its end; its pid."""
    proc = subprocess.Popen(args)
    assert proc.wait(30) == 0
    return proc.pid


def unshare_events(shown: dict[str, Any], pid: int) -> list[Any]:
    """The unshare events of a process the test ran (ran()), and of its children."""
    made = [e for e in shown["events"] if e["event"] == "unshare"]
    return [e for e in made if pid in (e["pid"], e["ppid"])]


def test_the_executable_s_path_crosses_mounts(watcher: Watcher, mounted: Path) -> None:
    # Not its path within the tmpfs (/usr/bin/unshare, an allowed program's look). Eight names
    # (/tmp/nsa-.../a/b/c/usr/bin/unshare) are a whole path.
    copy = mounted / "a/b/c/usr/bin/unshare"
    copy.parent.mkdir(parents=True)
    (mounted / "usr/bin/unshare").rename(copy)
    pid = ran(copy, "--user", "true")
    (event,) = unshare_events(watcher.stop(), pid)
    assert event["exe"] == str(copy)


def test_a_path_not_whole_says_so(watcher: Watcher, mounted: Path) -> None:
    # Deeper than 8 names, and a name longer than 31 bytes: neither may match an allowed glob.
    name = "unshare-" + "x" * 40
    deep = mounted.joinpath("a", "b", "c", "d", "e", "f", "g")
    deep.mkdir(parents=True)
    (mounted / "usr/bin/unshare").rename(deep / name)
    pid = ran(deep / name, "--user", "true")
    (event,) = unshare_events(watcher.stop(), pid)
    assert event["exe"] == f"…/a/b/c/d/e/f/g/{name[:31]}…"
    assert not matches(event["exe"], ("/*",))


def test_a_path_in_another_mount_namespace_says_which(watcher: Watcher, mounted: Path) -> None:
    # A mount namespace of its own, with the copy bound over /usr/bin/unshare: there, it has
    # the allowed program's path. Shown so, it is no path of the host's.
    script = f"mount --bind {mounted}/usr/bin/unshare /usr/bin/unshare && /usr/bin/unshare -U true"
    pid = ran("unshare", "--mount", "sh", "-c", script)
    made = unshare_events(watcher.stop(), pid)
    (outer,) = [e for e in made if e["types"] == "mnt"]
    (inner,) = [e for e in made if e["types"] == "user"]
    assert outer["exe"] == "/usr/bin/unshare"
    assert inner["exe"] == f"mnt:[{namespaces(outer)['mnt']}]/usr/bin/unshare"
    assert not matches(inner["exe"], ("/usr/bin/unshare", "/usr/bin/*"))


def test_a_podman_container_start(watcher: Watcher) -> None:
    problem = runtimes.podman_problem()
    if problem:
        pytest.skip(problem)
    name = f"nsa-watch-{time.time_ns() % 10**8}"
    try:
        full_id = runtimes.run("podman", name)
        pid = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Pid}}", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        net = Path(f"/proc/{pid}/ns/net").stat().st_ino
        mnt = Path(f"/proc/{pid}/ns/mnt").stat().st_ino
        shown = watcher.stop()
    finally:
        runtimes.remove("podman", name)
    made = [e for e in shown["events"] if e["event"] != "setns"]
    assert any(namespaces(e).get("net") == net for e in made), made
    assert any(namespaces(e).get("mnt") == mnt for e in made), made
    assert any("runc" in (e["exe"] or "") for e in made), made
    # runc makes the mount namespace inside the container's cgroup: the event names it.
    (inside,) = [e for e in made if namespaces(e).get("mnt") == mnt]
    assert inside["container"] == full_id


def test_a_second_watcher_on_the_same_database_is_refused(watcher: Watcher) -> None:
    second = run("watch", "--db", watcher.db, "--mechanism", "bpf", "--for", "5s")
    assert_clean_error(second, 2, "already runs", f"pid {watcher.proc.pid}")


def test_sigterm_flushes_and_the_run_is_closed(watcher: Watcher) -> None:
    (made,) = make("unshare")
    shown = watcher.stop()  # at once: the event is still in the watcher's batch
    assert mine(shown, made["pid"], "unshare")
    (r,) = shown["runs"]
    assert r["mechanism"] == "bpf" and r["ended_at"] is not None and r["lost"] == 0
    assert r["events"] >= 1


POLICY = """
[policy]
name = "watched"
title = "User namespaces of non-root users"

[[rule]]
id = "W-01"
title = "No user namespace made by a non-root user outside allowed programs"
severity = "high"
check = { kind = "events", types = ["user"], unprivileged = true, exes = ["/usr/bin/bwrap"] }
"""


def test_audit_reports_a_50_ms_user_namespace_exploit(tmp_path: Path) -> None:
    problem = bpf_problem()
    if problem:
        pytest.skip(problem)
    db, policy = tmp_path / "a.db", tmp_path / "policy.toml"
    policy.write_text(POLICY)
    assert run("snapshot", "--db", db).returncode in (0, 1)
    # Without a watcher, no snapshot sees it.
    (unseen,) = make("unshare", prefix=NOBODY)
    before = run("audit", "--db", db, "--format", "json")
    assert json.loads(before.stdout)["between"] is None
    assert str(unseen["pid"]) not in before.stdout
    w = Watcher(db, "--mechanism", "bpf")
    try:
        (made,) = make("unshare", prefix=NOBODY)
        # At once: the audit has the watcher store what it saw up to the scan.
        proc = run("audit", "--db", db, "--policy", policy, "--format", "json")
    finally:
        w.stop()
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    (gone,) = [e for e in doc["between"]["gone"] if e["pid"] == made["pid"]]
    assert gone["types"] == "net,user" and gone["uid"] == 65534 and gone["lived_ms"] >= 40
    (result,) = [r for r in doc["check"]["results"] if r["id"] == "W-01"]
    assert result["outcome"] == "fail"
    assert any(e["pid"] == made["pid"] for e in result["evidence"])
    table = run("audit", "--db", db, "--policy", policy, "--all")
    assert "W-01" in table.stdout


def test_what_the_watcher_saw_travels_in_a_bundle(watcher: Watcher, tmp_path: Path) -> None:
    """A bundle of two snapshots carries the run that watched between them: in another
    database, `diff` says what it says at home."""
    db, other, bundle = watcher.db, tmp_path / "other.db", tmp_path / "b.jsonl"
    assert run("snapshot", "--db", db).returncode in (0, 1)
    (made,) = make("unshare", prefix=NOBODY)
    watcher.stop()
    assert run("snapshot", "--db", db).returncode in (0, 1)
    host = json.loads(run("hosts", "--db", db, "--format", "json").stdout)["hosts"][0]
    assert run("export", "--db", db, "-o", bundle, "latest~1", "latest").returncode == 0
    proc = run("import", "--db", other, bundle)
    assert proc.returncode == 0, proc.stderr
    seen = []
    for where in (db, other):
        diff = run("diff", "--db", where, "--host", host["hostname"], "latest~1", "latest",
                   "--format", "json")  # fmt: skip
        assert diff.returncode in (0, 1), diff.stderr
        seen.append(json.loads(diff.stdout)["between"])
    assert seen[0] == seen[1]
    (gone,) = [e for e in seen[1]["gone"] if e["pid"] == made["pid"]]
    assert gone["types"] == "net,user" and gone["uid"] == 65534 and gone["lived_ms"] >= 40


def test_a_policy_over_a_period_without_a_watcher_is_an_error(tmp_path: Path) -> None:
    db, policy = tmp_path / "a.db", tmp_path / "policy.toml"
    policy.write_text(POLICY)
    assert run("snapshot", "--db", db).returncode in (0, 1)
    proc = run("audit", "--db", db, "--policy", policy, "--format", "json")
    assert proc.returncode == 1
    (result,) = json.loads(proc.stdout)["check"]["results"]
    assert result["outcome"] == "error" and "nsaudit watch" in result["summary"]


def test_a_process_name_of_terminal_escapes_is_data(watcher: Watcher) -> None:
    (made,) = make("named")
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["command"] == "\x1b[2J\x1b]0;x\x07evil"[:15]
    for fmt in ("table", "csv"):
        out = run("events", "--db", watcher.db, "--format", fmt, "--wide").stdout
        assert str(made["pid"]) in out and "evil" in out
        assert "\x1b" not in out and "\x07" not in out


def test_a_killed_watcher_leaves_a_gap_and_the_next_run_starts_clean(tmp_path: Path) -> None:
    problem = bpf_problem()
    if problem:
        pytest.skip(problem)
    db = tmp_path / "w.db"
    first = Watcher(db, "--mechanism", "bpf")
    first.kill()  # SIGKILL: no flush, no end
    time.sleep(0.5)
    second = Watcher(db, "--mechanism", "bpf")  # its lock is free again
    (made,) = make("unshare")
    shown = second.stop()
    killed, clean = shown["runs"]
    assert killed["ended_at"] is None and clean["ended_at"] is not None
    gap = {"start": killed["seen_at"], "end": clean["started_at"]}
    assert gap in shown["unwatched"]
    assert mine(shown, made["pid"], "unshare")
