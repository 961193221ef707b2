"""The system's libbpf (libbpf.so.1, Debian's libbpf1), through ctypes: open, load and attach a
BPF object, read its ring buffer and its maps. No compiler and no Python package needed."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path

from nsaudit.errors import HostReadError

_SAMPLE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_PRINT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_P = ctypes.c_void_p


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as e:
        raise HostReadError(
            f"libbpf is not installed ({e}): install the system's libbpf (Debian: apt-get "
            "install libbpf1)"
        ) from None
    for fn, res, args in (
        ("bpf_object__open_file", _P, [ctypes.c_char_p, _P]),
        ("bpf_object__load", ctypes.c_int, [_P]),
        ("bpf_object__close", None, [_P]),
        ("bpf_object__next_program", _P, [_P, _P]),
        ("bpf_object__find_map_by_name", _P, [_P, ctypes.c_char_p]),
        ("bpf_program__attach", _P, [_P]),
        ("bpf_program__set_autoload", ctypes.c_int, [_P, ctypes.c_bool]),
        ("bpf_program__name", ctypes.c_char_p, [_P]),
        ("bpf_link__destroy", ctypes.c_int, [_P]),
        ("bpf_map__fd", ctypes.c_int, [_P]),
        ("bpf_map_lookup_elem", ctypes.c_int, [ctypes.c_int, _P, _P]),
        ("ring_buffer__new", _P, [ctypes.c_int, _SAMPLE, _P, _P]),
        ("ring_buffer__poll", ctypes.c_int, [_P, ctypes.c_int]),
        ("ring_buffer__free", None, [_P]),
        ("libbpf_num_possible_cpus", ctypes.c_int, []),
        ("libbpf_set_print", _P, [_PRINT]),
    ):
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


class BpfError(HostReadError):
    """The kernel or libbpf refused: the message says which step, and libbpf's own words."""


class Loaded:
    """A BPF object loaded into the kernel with every program attached (but those named in
    `skip`, which are not loaded at all); close() detaches it."""

    def __init__(self, path: Path, skip: frozenset[str] = frozenset()) -> None:
        self._lib = _library()
        self._log: list[str] = []
        # Kept referenced: libbpf calls it for as long as the process lives.
        self._printer = _PRINT(self._libbpf_says)
        self._lib.libbpf_set_print(self._printer)
        self._links: list[int] = []
        self._rings: list[tuple[int, object]] = []
        self._obj = self._lib.bpf_object__open_file(os.fsencode(path), None)
        if not self._obj:
            raise self._error(f"cannot open {path}")
        try:
            programs = self._programs()
            for name, prog in programs:
                if name in skip:
                    self._lib.bpf_program__set_autoload(prog, False)
            if self._lib.bpf_object__load(self._obj) != 0:
                raise self._error("the kernel refused the BPF programs")
            for name, prog in programs:
                if name in skip:
                    continue
                link = self._lib.bpf_program__attach(prog)
                if not link:
                    raise self._error(f"cannot attach {name}")
                self._links.append(link)
        except BaseException:
            self.close()
            raise

    def _programs(self) -> list[tuple[str, int]]:
        found = []
        prog = self._lib.bpf_object__next_program(self._obj, None)
        while prog:
            found.append((self._lib.bpf_program__name(prog).decode(), prog))
            prog = self._lib.bpf_object__next_program(self._obj, prog)
        return found

    def _libbpf_says(self, level: int, fmt: bytes, args: int) -> int:
        # libbpf's messages are printf formats with a va_list: keep the format only, for the
        # error that follows (its words name the step; the values are not needed for that).
        self._log.append(fmt.decode(errors="replace").strip())
        return 0

    def _error(self, what: str) -> BpfError:
        err = ctypes.get_errno()
        reason = os.strerror(err) if err else "unknown error"
        hint = ""
        if err == 1:
            hint = " (BPF needs CAP_BPF and CAP_PERFMON, or root; kernel lockdown may refuse it)"
        return BpfError(f"{what}: {reason}{hint}")

    def map_fd(self, name: str) -> int:
        found = self._lib.bpf_object__find_map_by_name(self._obj, name.encode())
        if not found:
            raise BpfError(f"the BPF object has no map {name}")
        return int(self._lib.bpf_map__fd(found))

    def ring(self, name: str, on_sample: Callable[[bytes], None]) -> int:
        """A ring buffer over map `name`, calling on_sample with each record's bytes."""

        def sample(_ctx: int, data: int, size: int) -> int:
            on_sample(ctypes.string_at(data, size))
            return 0

        callback = _SAMPLE(sample)
        rb = self._lib.ring_buffer__new(self.map_fd(name), callback, None, None)
        if not rb:
            raise self._error(f"cannot read the ring buffer {name}")
        self._rings.append((rb, callback))
        return int(rb)

    def poll(self, ring: int, timeout_ms: int) -> int:
        """Read what the ring holds, waiting at most timeout_ms for the first record: how many
        records were read."""
        n = int(self._lib.ring_buffer__poll(ring, timeout_ms))
        if n < 0 and -n != 4:  # EINTR: a signal; the caller looks at why
            raise BpfError(f"reading the ring buffer failed: {os.strerror(-n)}")
        return max(n, 0)

    def per_cpu_sums(self, name: str, keys: int) -> list[int]:
        """The sum over CPUs of a per-CPU array's first `keys` values (u64)."""
        fd = self.map_fd(name)
        cpus = self._lib.libbpf_num_possible_cpus()
        values = (ctypes.c_uint64 * cpus)()
        sums = []
        for k in range(keys):
            key = ctypes.c_uint32(k)
            if self._lib.bpf_map_lookup_elem(fd, ctypes.byref(key), values) != 0:
                raise self._error(f"cannot read the map {name}")
            sums.append(sum(values))
        return sums

    def close(self) -> None:
        for rb, _cb in self._rings:
            self._lib.ring_buffer__free(rb)
        self._rings.clear()
        for link in self._links:
            self._lib.bpf_link__destroy(link)
        self._links.clear()
        if self._obj:
            self._lib.bpf_object__close(self._obj)
            self._obj = None
