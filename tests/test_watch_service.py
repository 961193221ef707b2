"""samples/watch/nsaudit-watch.service: the capabilities it keeps are enough for each
mechanism, and each one is needed (the watcher is run under exactly that set, then without
each of them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from watching import audit_problem, bpf_problem

UNIT = REPO / "samples" / "watch" / "nsaudit-watch.service"
NEEDED = {"bpf": ("bpf", "perfmon"), "audit": ("audit_control", "audit_read")}


def kept() -> list[str]:
    (line,) = [x for x in UNIT.read_text().splitlines() if x.startswith("CapabilityBoundingSet=")]
    return [c.removeprefix("CAP_").lower() for c in line.split("=", 1)[1].split()]


def watch(tmp_path: Path, mechanism: str, caps: list[str]) -> subprocess.CompletedProcess[str]:
    bounding = ",".join(["-all", *(f"+{c}" for c in caps)])
    return subprocess.run(
        ["setpriv", f"--bounding-set={bounding}", f"--inh-caps={bounding}", "--no-new-privs",
         sys.executable, "-m", "nsaudit", "watch", "--db", str(tmp_path / "w.db"),
         "--mechanism", mechanism, "--for", "1s"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("mechanism", ["bpf", "audit"])
def test_the_units_capabilities_are_enough_and_each_is_needed(
    tmp_path: Path, mechanism: str
) -> None:
    problem = bpf_problem() if mechanism == "bpf" else audit_problem()
    if problem:
        pytest.skip(problem)
    caps = kept()
    assert set(caps) == {c for needed in NEEDED.values() for c in needed}
    done = watch(tmp_path, mechanism, caps)
    assert done.returncode == 0, done.stderr
    assert "watching with" in done.stderr
    for cap in NEEDED[mechanism]:
        without = watch(tmp_path, mechanism, [c for c in caps if c != cap])
        assert without.returncode == 3, (cap, without.stderr)
        assert "Operation not permitted" in without.stderr


def test_the_unit_stops_with_sigterm_and_keeps_no_mount_namespace() -> None:
    settings = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line[:40]
        and not line.startswith("#")
    )  # fmt: skip
    assert settings["KillSignal"] == "SIGTERM" and settings["Restart"] == "on-failure"
    assert settings["MemoryMax"] and settings["NoNewPrivileges"] == "yes"
    # Each of these gives the service a mount namespace, which the audit would report.
    assert not {"PrivateTmp", "ProtectSystem", "ProtectHome", "PrivateDevices"} & set(settings)
