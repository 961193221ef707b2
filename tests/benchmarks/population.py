"""A host shape for the benchmarks: N sleeping processes, some each in new uts and ipc
namespaces, in a session of their own; and how to time a command run against it.

The plain processes are started with posix_spawn (a vfork, cheap at 20,000); the others fork,
unshare(2) and exec, as `unshare --uts --ipc sleep` would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    """`processes` processes in all on the host (those already there included), of which
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


def timed(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a command to its end: wall time, CPU time and peak RSS (from wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} exited {proc.returncode}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def wall(cmd: list[str]) -> float:
    return timed(cmd).wall
