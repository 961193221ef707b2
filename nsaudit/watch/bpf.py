"""The eBPF mechanism: nswatch.bpf.o (built from bpf/nswatch.bpf.c) on tracepoints, through
the system's libbpf."""

from __future__ import annotations

import os
from pathlib import Path

from nsaudit.watch import abis
from nsaudit.watch.events import Clock, Exited, Seen, decode

OBJECT = Path(__file__).parent / "bpf" / "nswatch.bpf.o"
TRACEFS = "/sys/kernel/tracing"
# The programs that see unshare and setns: on every system call's exit, or on theirs alone.
EVERY_CALL = frozenset({"sys_exit"})
PER_CALL = frozenset({"unshare_exit", "setns_exit"})


class BpfWatch:
    """Namespace events from the kernel's tracepoints: task_newtask (clone, clone3, fork with
    namespace flags), sched_process_exit, and for unshare and setns either sys_exit (every
    call's exit, in every ABI) where the kernel runs i386 or x32 calls (`foreign`: those it
    runs, by default tried), or the per-call tracepoints, which cost every call of the host
    less but leave those out (and need tracefs)."""

    name = "bpf"
    blind = ""

    def __init__(self, nsfs_dev: int, foreign: tuple[str, ...] | None = None) -> None:
        from nsaudit.watch.libbpf import Loaded

        foreign = abis.foreign() if foreign is None else foreign
        if foreign:
            why = f"this kernel runs {' and '.join(foreign)} calls"
        elif not os.path.isdir(f"{TRACEFS}/events/syscalls"):
            why = f"no tracefs at {TRACEFS}"
        else:
            why = None
        every = why is not None
        self.description = "eBPF tracepoints through the system's libbpf, " + (
            f"on every system call's exit ({why})"
            if every
            else "on unshare's and setns' exits (this kernel runs no i386 or x32 calls)"
        )
        self._nsfs_dev = nsfs_dev
        self._mnt_ns = os.stat("/proc/self/ns/mnt").st_ino
        self._clock = Clock()
        self._got: list[Seen | Exited] = []
        self._bpf = Loaded(OBJECT, skip=PER_CALL if every else EVERY_CALL)
        try:
            self._ring = self._bpf.ring("events", self._sample)
        except BaseException:
            self._bpf.close()
            raise

    def _sample(self, raw: bytes) -> None:
        got = decode(raw, self._clock, self._nsfs_dev, self._mnt_ns)
        if got is not None:
            self._got.append(got)

    def poll(self, timeout_ms: int) -> list[Seen | Exited]:
        """What the kernel sent, waiting at most timeout_ms for the first."""
        self._clock = Clock()  # again: the wall clock may have been stepped (NTP) meanwhile
        self._bpf.poll(self._ring, timeout_ms)
        got, self._got = self._got, []
        return got

    def lost(self) -> int:
        """Events the kernel could not send (the ring buffer was full)."""
        return sum(self._bpf.per_cpu_sums("lost", 1))

    def close(self) -> None:
        self._bpf.close()
