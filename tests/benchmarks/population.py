"""A host shape for the benchmarks: N sleeping processes, some each in new uts and ipc
namespaces, in a session of their own; and how to time a command run against it.

The plain processes are started with posix_spawn (a vfork, cheap at 20,000); the others fork,
unshare(2) and exec, as `unshare --uts --ipc sleep` would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

CLONE_NEWUTS, CLONE_NEWIPC = 0x04000000, 0x08000000
SLEEP = "/bin/sleep"

_SPAWNER = """
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
plain, namespaced, flags, sleep = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for _ in range(namespaced):
    if os.fork() == 0:
        if libc.unshare(flags) != 0:
            os._exit(99)
        os.execv(sleep, ["sleep", "3600"])
for _ in range(plain):
    os.posix_spawn(sleep, ["sleep", "3600"], os.environ)
print("spawned", flush=True)
signal.pause()
"""


def processes() -> int:
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


def namespaces() -> int:
    out = subprocess.run(["lsns", "--raw", "--noheadings", "-o", "NS"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return len(out.split())


class Population:
    """`processes_in_all` processes on the host (those already there included), of which
    `in_namespaces` are each in new uts and ipc namespaces; ended on exit."""

    def __init__(self, processes_in_all: int, in_namespaces: int) -> None:
        self.before = processes()
        self.want_namespaces = 2 * in_namespaces
        plain = max(0, processes_in_all - self.before - in_namespaces)
        args = [str(plain), str(in_namespaces), str(CLONE_NEWUTS | CLONE_NEWIPC), SLEEP]
        self.spawner = subprocess.Popen([sys.executable, "-c", _SPAWNER, *args],
                                        start_new_session=True, stdout=subprocess.PIPE,
                                        text=True)  # fmt: skip

    def __enter__(self) -> Population:
        assert self.spawner.stdout is not None
        if self.spawner.stdout.readline().strip() != "spawned":
            raise SystemExit("the spawner failed (needs root, for unshare)")
        deadline = time.monotonic() + 120
        while namespaces() < self.want_namespaces:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {namespaces()} namespaces after 120 s")
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.spawner.pid, signal.SIGKILL)
        self.spawner.wait()
        deadline = time.monotonic() + 60
        while processes() > self.before + 50 and time.monotonic() < deadline:
            time.sleep(0.2)


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds
    max_rss_kb: int


# Runs a command for timed(): forked from this small process, not from the benchmark's, so that
# the peak RSS wait4 reports is the command's own (a child's counts the memory of the process
# it was forked or vforked from until it execs).
_TIMER = """
import json, os, sys, time
report, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as f:
    json.dump([time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
               usage.ru_maxrss, os.waitstatus_to_exitcode(status)], f)
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a command to its end: wall time, CPU time and peak RSS (from wait4)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "run.json")
        subprocess.run([sys.executable, "-c", _TIMER, report, *cmd], stdout=subprocess.DEVNULL,
                       env=env, check=True)  # fmt: skip
        with open(report) as f:
            elapsed, cpu, max_rss_kb, code = json.load(f)
    if code not in (0, 1):
        raise SystemExit(f"{cmd} exited {code}")
    return Run(elapsed, cpu, max_rss_kb)


def wall(cmd: list[str]) -> float:
    return timed(cmd).wall
