"""The scan begun at start-up (nsaudit/collect/prescan.py): the same namespaces as a scan made
by the command itself, nsaudit's own processes never standing for a namespace, a prescan that
another run overtook scanned again, and no child left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from conftest import NOBODY, needs_root, run
from nsmakers import in_new_namespaces, netns, ns_of

NO_PRESCAN = {"NSAUDIT_NO_PRESCAN": "1"}


def rows(proc: subprocess.CompletedProcess[str]) -> dict[tuple[str, int], dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    return {(n["type"], n["inode"]): n for n in json.loads(proc.stdout)["namespaces"]}


@needs_root
def test_a_prescan_finds_what_the_command_would_have_found() -> None:
    with in_new_namespaces("--uts", "--ipc") as pid, netns() as name:
        ours = [("uts", ns_of(pid, "uts")[1]), ("ipc", ns_of(pid, "ipc")[1]),
                ("net", os.stat(f"/run/netns/{name}").st_ino)]  # fmt: skip
        prescanned = rows(run("snapshot", "--no-store", "--format", "json"))
        scanned = rows(run("snapshot", "--no-store", "--format", "json", env=NO_PRESCAN))
    for key in ours:
        assert prescanned[key] == scanned[key]
    assert prescanned[ours[0]]["pid"] == pid
    assert prescanned[ours[2]]["holders"] == scanned[ours[2]]["holders"] != []


@needs_root
def test_nsaudit_never_stands_for_a_namespace_it_shares_with_another_process() -> None:
    """In a uts namespace of its own but for a sleep: the sleep stands for it, not the command
    nor its prescan (their pids and arguments change every run)."""
    sleep = f"sleep 300.{uuid.uuid4().int % 10**6:06d}"  # this test's alone, on a busy host
    script = f"{sleep} >/dev/null 2>&1 & sleep 0.2; exec " + " ".join(
        [sys.executable, "-m", "nsaudit", "snapshot", "--no-store", "--format", "json"]
    )
    proc = subprocess.run(["unshare", "--uts", "sh", "-c", script], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    mine = os.readlink("/proc/self/ns/uts")
    (uts,) = [n for n in json.loads(proc.stdout)["namespaces"]
              if n["type"] == "uts" and f"uts:[{n['inode']}]" != mine and n["command"] == "sleep"
              and n["cmdline"] == sleep]  # fmt: skip
    os.kill(uts["pid"], 9)
    assert uts["nprocs"] == 2  # the sleep and the command: its prescan is not counted


def test_a_prescan_that_another_run_overtook_is_scanned_again(tmp_path: Path) -> None:
    """Run A's prescan ends before run B starts; B stores its snapshot first. A, scanned
    earlier, is scanned again, so seq order is still the order the scans were taken in."""
    db = tmp_path / "ns.db"
    a = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\n"
         "from nsaudit.collect import prescan\n"
         "prescan.start(['snapshot'])\n"
         "sys.stdin.readline()\n"
         "from nsaudit.cli import main\n"
         f"sys.exit(main(['snapshot', '--db', {str(db)!r}, '--format', 'json']))\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1)  # A's prescan: over long before this
    b = run("snapshot", "--db", db, "--format", "json")
    assert b.returncode == 0, b.stderr
    out, err = a.communicate("go\n", timeout=120)
    assert a.returncode == 0, err
    first, second = json.loads(b.stdout), json.loads(out)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["taken_at"] < second["taken_at"]


def test_a_command_that_fails_leaves_no_prescan_behind(tmp_path: Path) -> None:
    marker = str(tmp_path / f"db-{uuid.uuid4().hex}")
    proc = run("snapshot", "--db", marker, "--no-such-option")
    assert proc.returncode == 2
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert left.stdout == "", left.stdout


@needs_root
def test_a_command_that_cannot_fork_scans_itself() -> None:
    """Out of processes (RLIMIT_NPROC: nobody may run one, this one), the prescan is never
    begun and the command scans as ever."""
    proc = run("snapshot", "--no-store", "--format", "json",
               prefix=("prlimit", "--nproc=1", *NOBODY))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["namespaces"]
