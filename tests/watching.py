"""`nsaudit watch` for the tests: started on a database of the test's, stopped with SIGTERM,
and what it recorded; and programs that make namespaces the way exploits and runtimes do."""

from __future__ import annotations

import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import IS_ROOT, REPO, run_json


def bpf_problem() -> str | None:
    """Why the eBPF watcher cannot run here, or None."""
    if not IS_ROOT:
        return "needs root (CI runs as root)"
    if ctypes.util.find_library("bpf") is None:
        return "needs the system's libbpf (libbpf1; .ci/run installs it)"
    return None


def started(db: Path, mechanism: str, problem: str | None) -> Iterator[Watcher]:
    """A fixture's watcher with this mechanism (a skip when it cannot run here)."""
    if problem:
        pytest.skip(problem)
    w = Watcher(db, "--mechanism", mechanism)
    yield w
    w.close()


def net_sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A fixture's process in a network namespace of its own, there once this yields."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    own = os.stat("/proc/self/ns/net").st_ino
    for _ in range(100):
        if os.stat(f"/proc/{proc.pid}/ns/net").st_ino != own:
            break
        time.sleep(0.02)
    yield proc
    proc.kill()
    proc.wait()


class Watcher:
    """A running `nsaudit watch`, ready (attached and its run stored) once constructed."""

    def __init__(self, db: Path, *args: str) -> None:
        self.db = db
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nsaudit", "watch", "--db", str(db), *args],
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stderr is not None
        self.started = self.proc.stderr.readline()
        assert "watching with" in self.started, self.started + self._rest()

    def _rest(self) -> str:
        assert self.proc.stderr is not None
        self.proc.kill()
        return self.proc.stderr.read()

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then what `nsaudit events` shows of the database."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        shown: dict[str, Any] = run_json("events", "--db", self.db)["watched"]
        return shown

    def kill(self) -> None:
        """SIGKILL: nothing stored, nothing put back (a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=60)

    def close(self) -> None:
        """A test's end: SIGTERM, so that the audit mechanism puts the host's state back."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def mine(shown: dict[str, Any], pid: int, event: str | None = None) -> list[dict[str, Any]]:
    """The recorded events of a process (and of this kind)."""
    return [e for e in shown["events"] if e["pid"] == pid and event in (None, e["event"])]


# A program run with `python -c`: it makes namespaces in-process and prints, as JSON, what it
# made (inodes and NS_GET_ID ids as /proc/self/ns shows them), then lives 50 ms and exits.
# argv[1]: "unshare" (in-process unshare(CLONE_NEWUSER|CLONE_NEWNET)), "fork" (the same, then
# a child that lives 50 ms), "named" (unshare(CLONE_NEWUTS) under a comm of terminal
# escapes), "clone3" (clone3 with CLONE_NEWUTS|CLONE_NEWIPC: the child
# prints), "setns" (setns into argv[2]'s net namespace), "setns-any" (the same with nstype 0);
# "unshare32" and "setns32": "unshare" and "setns", each as an i386 system call (int 0x80) of
# this 64-bit process, as an exploit would to pass unseen (exit 3: the kernel runs none).
MAKER = r"""
import ctypes, fcntl, json, mmap, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
CLONE_NEWUTS, CLONE_NEWIPC = 0x04000000, 0x08000000
NS_GET_ID = 0x8008B70D
def ids(types):
    out = {}
    for t in types:
        with open(f"/proc/self/ns/{t}") as f:
            buf = bytearray(8)
            fcntl.ioctl(f.fileno(), NS_GET_ID, buf)
            out[t] = [os.fstat(f.fileno()).st_ino, int.from_bytes(buf, "little")]
    return out
def say(**what):
    os.write(1, (json.dumps(what) + "\n").encode())
def i386(nr, a0, a1=0):  # push rbx; mov eax, nr; mov ebx, a0; mov ecx, a1; int 0x80; pop rbx
    code = b"\x53\xb8" + nr.to_bytes(4, "little") + b"\xbb" + a0.to_bytes(4, "little")
    code += b"\xb9" + a1.to_bytes(4, "little") + b"\xcd\x80\x5b\xc3"
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
how = sys.argv[1]
if how.endswith("32") and i386(20, 0) != os.getpid():  # getpid
    sys.exit(3)
if how == "unshare32":
    assert i386(310, CLONE_NEWUSER | CLONE_NEWNET) == 0
    say(pid=os.getpid(), ns=ids(["net", "user"]))
    time.sleep(0.05)
    os._exit(0)
if how == "setns32":
    fd = os.open(f"/proc/{sys.argv[2]}/ns/net", os.O_RDONLY)
    assert i386(346, fd, CLONE_NEWNET) == 0
    say(pid=os.getpid(), ns=ids(["net"]))
    os._exit(0)
if how in ("unshare", "fork"):
    assert libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0, ctypes.get_errno()
    say(pid=os.getpid(), ns=ids(["net", "user"]))
    if how == "fork":
        child = os.fork()
        if child == 0:
            time.sleep(0.05)
            os._exit(0)
        say(child=child)
        os.waitpid(child, 0)
    time.sleep(0.05)
    os._exit(0)
if how == "named":  # a comm of terminal escapes, then a namespace
    libc.prctl(15, b"\x1b[2J\x1b]0;x\x07evil", 0, 0, 0)  # PR_SET_NAME
    assert libc.unshare(CLONE_NEWUTS) == 0, ctypes.get_errno()
    say(pid=os.getpid())
    os._exit(0)
if how == "clone3":
    args = (ctypes.c_uint64 * 11)()
    args[0] = CLONE_NEWUTS | CLONE_NEWIPC
    args[4] = 17  # SIGCHLD
    pid = libc.syscall(435, ctypes.byref(args), ctypes.sizeof(args))
    if pid == 0:
        say(pid=os.getpid(), ppid=os.getppid(), ns=ids(["ipc", "uts"]))
        os._exit(0)
    assert pid > 0, ctypes.get_errno()
    os.waitpid(pid, 0)
    os._exit(0)
if how in ("setns", "setns-any"):  # setns-any: nstype 0, the type is the fd's
    fd = os.open(f"/proc/{sys.argv[2]}/ns/net", os.O_RDONLY)
    assert libc.setns(fd, CLONE_NEWNET if how == "setns" else 0) == 0, ctypes.get_errno()
    say(pid=os.getpid(), ns=ids(["net"]))
    os._exit(0)
"""


def make(how: str, *args: str, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run MAKER; the JSON lines it printed."""
    done = subprocess.run(
        [*prefix, sys.executable, "-c", MAKER, how, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if how.endswith("32") and done.returncode in (3, -signal.SIGSEGV):
        pytest.skip("this kernel runs no i386 system calls (CONFIG_IA32_EMULATION)")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def audit_problem() -> str | None:
    """Why the audit watcher cannot run here, or None."""
    if not IS_ROOT:
        return "needs root (CI runs as root)"
    return None


def audit_status() -> tuple[int, ...]:
    """The kernel's audit status (struct audit_status: mask, enabled, failure, pid, rate_limit,
    backlog_limit, lost, backlog, ...)."""
    import socket
    import struct

    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9) as s:
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16, 1000, 1, 1, 0))
        return struct.unpack_from("=10I", s.recv(8192), 16)


def audit_rules() -> list[bytes]:
    """The kernel's audit rules (AUDIT_LIST_RULES), each as its raw struct audit_rule_data."""
    import socket
    import struct

    rules = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9) as s:
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16, 1013, 1, 1, 0))
        while True:
            data = s.recv(65536)
            at = 0
            while at < len(data):
                length, kind = struct.unpack_from("=IH", data, at)
                if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                    return rules
                rules.append(data[at + 16 : at + length])
                at += (length + 3) & ~3
