"""`nsaudit watch --mechanism audit`, the fallback where BPF is not allowed, on the real kernel:
what it records of each way to make or enter a namespace, and its blind spots, asserted as
the README states them (no namespace ids, no clone3, no lifetimes)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import runtimes
from conftest import NOBODY, REPO
from watching import (
    Watcher,
    audit_problem,
    audit_rules,
    audit_status,
    bpf_problem,
    make,
    mine,
    net_sleeper,
    started,
)


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Watcher]:
    yield from started(tmp_path / "w.db", "audit", audit_problem())


def blind(event: dict[str, object]) -> None:
    """What audit cannot tell, left unknown: never guessed."""
    assert event["mechanism"] == "audit"
    assert event["namespaces"] == []
    assert event["ns_ids"] is None and event["owner_inode"] is None
    assert event["initial_userns"] is None
    assert event["lived_ms"] is None and event["container"] is None


def test_unshare_user_map_root_user_by_an_unprivileged_user(watcher: Watcher) -> None:
    # setpriv execs unshare: the pid is the event's (another `nobody` may unshare meanwhile).
    proc = subprocess.Popen([*NOBODY, "unshare", "--user", "--map-root-user", "true"])
    assert proc.wait(30) == 0
    shown = watcher.stop()
    (event,) = mine(shown, proc.pid, "unshare")
    assert event["types"] == "user" and event["euid"] == 65534
    assert event["exe"].endswith("/unshare") and event["command"] == "unshare"
    blind(event)
    (run,) = shown["runs"]
    assert run["mechanism"] == "audit" and "clone3" in run["blind"]


def test_in_process_unshare_that_lives_50_ms(watcher: Watcher) -> None:
    (made,) = make("unshare", prefix=NOBODY)
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["types"] == "net,user" and event["uid"] == 65534
    blind(event)


def test_i386_unshare_and_setns_of_a_64_bit_program(
    watcher: Watcher, sleeper: subprocess.Popen[bytes]
) -> None:
    (made,) = make("unshare32", prefix=NOBODY)
    (entered,) = make("setns32", str(sleeper.pid))
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["types"] == "net,user" and event["uid"] == 65534 and event["arch"] == "i386"
    blind(event)
    (event,) = mine(shown, entered["pid"], "setns")
    assert event["types"] == "net" and event["arch"] == "i386"


def test_in_process_unshare_then_a_fork(watcher: Watcher) -> None:
    made, forked = make("fork", prefix=NOBODY)
    shown = watcher.stop()
    (event,) = mine(shown, made["pid"], "unshare")
    assert event["types"] == "net,user"
    assert mine(shown, forked["child"]) == []


def test_clone3_is_a_blind_spot(watcher: Watcher) -> None:
    (child,) = make("clone3")
    shown = watcher.stop()
    assert mine(shown, child["pid"]) == [] and mine(shown, child["ppid"]) == []


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    yield from net_sleeper()


def test_nsenter_net_and_in_process_setns(
    watcher: Watcher, sleeper: subprocess.Popen[bytes]
) -> None:
    entered = subprocess.Popen(["nsenter", "-t", str(sleeper.pid), "--net", "true"])
    entered.wait(30)
    (made,) = make("setns", str(sleeper.pid))
    shown = watcher.stop()
    for pid in (entered.pid, made["pid"]):
        (event,) = mine(shown, pid, "setns")
        assert event["types"] == "net"
        blind(event)


def test_a_podman_container_start(watcher: Watcher) -> None:
    problem = runtimes.podman_problem()
    if problem:
        pytest.skip(problem)
    name = f"nsa-watch-{time.time_ns() % 10**8}"
    try:
        runtimes.run("podman", name)
        shown = watcher.stop()
    finally:
        runtimes.remove("podman", name)
    made = [e for e in shown["events"] if e["event"] == "unshare"]
    assert {"mnt", "net", "pid"} <= set(",".join(e["types"] for e in made).split(","))
    assert any(e["command"].startswith("runc") for e in made), made


def test_the_audit_state_is_put_back(tmp_path: Path) -> None:
    problem = audit_problem()
    if problem:
        pytest.skip(problem)
    before = audit_status()
    w = Watcher(tmp_path / "w.db", "--mechanism", "audit")
    try:
        assert sum(b"nsaudit-watch" in rule for rule in audit_rules()) == 4
        assert audit_status()[1] == 1 and audit_status()[5] >= 8192
    finally:
        w.stop()
    after = audit_status()
    assert (after[1], after[5]) == (before[1], before[5])  # enabled, backlog_limit
    assert not any(b"nsaudit-watch" in rule for rule in audit_rules())


def test_auto_falls_back_to_audit_with_a_warning_when_bpf_is_refused(tmp_path: Path) -> None:
    if bpf_problem() or audit_problem():
        pytest.skip(str(bpf_problem() or audit_problem()))
    no_bpf = "-bpf,-perfmon,-sys_admin"
    done = subprocess.run(
        ["setpriv", f"--bounding-set={no_bpf}", f"--inh-caps={no_bpf}", sys.executable, "-m",
         "nsaudit", "watch", "--quiet", "--db", str(tmp_path / "w.db"), "--for", "1s"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert (
        first.startswith("nsaudit: warning: eBPF cannot be used")
        and "Operation not permitted" in first
    )
    assert "audit subsystem" in first and "clone3" in first
    assert len(done.stderr.splitlines()) == 1  # --quiet: the fallback's warning alone


def test_a_killed_audit_watcher_leaves_rules_the_next_run_removes(tmp_path: Path) -> None:
    problem = audit_problem()
    if problem:
        pytest.skip(problem)
    before = audit_status()
    first = Watcher(tmp_path / "w.db", "--mechanism", "audit")
    first.kill()  # SIGKILL: its rules stay, auditing stays on
    assert sum(b"nsaudit-watch" in rule for rule in audit_rules()) == 4
    Watcher(tmp_path / "w.db", "--mechanism", "audit").stop()
    assert not any(b"nsaudit-watch" in rule for rule in audit_rules())
    after = audit_status()
    # As the killed run found it, which it wrote down before it changed it.
    assert (after[1], after[5]) == (before[1], before[5])


def test_one_host_has_one_audit_watcher(tmp_path: Path, watcher: Watcher) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "nsaudit", "watch", "--mechanism", "audit", "--for", "1s",
         "--db", str(tmp_path / "other.db")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert second.returncode == 3
    assert f"another nsaudit watch (pid {watcher.proc.pid})" in second.stderr
