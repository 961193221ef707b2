"""The eBPF mechanism: nswatch.bpf.o (built from bpf/nswatch.bpf.c) on tracepoints, through
the system's libbpf."""

from __future__ import annotations

import os
from pathlib import Path

from nsaudit.watch.events import Clock, Exited, Seen, decode

OBJECT = Path(__file__).parent / "bpf" / "nswatch.bpf.o"


class BpfWatch:
    """Namespace events from the kernel's tracepoints (BTF-typed, attached without tracefs):
    task_newtask (clone, clone3, fork with namespace flags), sys_exit (unshare and setns, in
    every ABI: i386 and x32 calls too), sched_process_exit."""

    name = "bpf"
    description = "eBPF tracepoints through the system's libbpf"
    blind = ""

    def __init__(self, nsfs_dev: int) -> None:
        from nsaudit.watch.libbpf import Loaded

        self._nsfs_dev = nsfs_dev
        self._mnt_ns = os.stat("/proc/self/ns/mnt").st_ino
        self._clock = Clock()
        self._got: list[Seen | Exited] = []
        self._bpf = Loaded(OBJECT)
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
