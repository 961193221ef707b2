"""Which system call ABIs besides x86_64 this kernel runs, each tried: i386 (int 0x80, a 32-bit
program) and x32. The kernel's per-call system call tracepoints leave their calls out, so where
either runs, nsaudit watch traces every call's exit instead (bpf/nswatch.bpf.c), at a cost."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import signal

_X32_GETPID = 0x40000000 | 39
# push rbx; mov eax, 20 (getpid); int 0x80; pop rbx; ret
_I386_GETPID = b"\x53\xb8\x14\x00\x00\x00\xcd\x80\x5b\xc3"
_FAULTS = (signal.SIGSEGV, signal.SIGBUS)


def foreign() -> tuple[str, ...]:
    """The other ABIs this kernel runs ("i386", "x32"): one it may run counts as running."""
    return tuple(name for name, runs in (("i386", _runs_i386), ("x32", _runs_x32)) if runs())


def _runs_x32() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    got = libc.syscall(ctypes.c_long(_X32_GETPID))
    return got != -1 or ctypes.get_errno() != errno.ENOSYS


def _runs_i386() -> bool:
    """An i386 getpid, in a child: where the kernel runs none, int 0x80 faults. The fault ends
    the child through _exit, as a handled signal, so that the kernel logs no general protection
    fault for it."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            libc = ctypes.CDLL(None)
            libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
            for signum in _FAULTS:
                libc.signal(signum, ctypes.cast(libc._exit, ctypes.c_void_p))
            page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            page.write(_I386_GETPID)
            address = ctypes.addressof(ctypes.c_char.from_buffer(page))
            code = 0 if ctypes.CFUNCTYPE(ctypes.c_int)(address)() == os.getpid() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    # Only a fault says it runs none: a page the system refuses to execute (SELinux, W^X)
    # leaves it unknown, and so running.
    return not (os.WIFEXITED(status) and os.WEXITSTATUS(status) in _FAULTS)
