"""Opening the files nsaudit reads so that no kind of file, and no size, can hang it.

Every file a user names (--kconfig, --config, --policy, a bundle) and every file read under
--root goes through here: a FIFO without a writer would block open() forever, /dev/zero and
/dev/urandom never end, a sparse file can claim terabytes. Regular files are refused by size
before a byte is read and then read with a bound; pipes and FIFOs are read as streams only
where the caller allows it (they are what `<(...)` and /dev/stdin give); /dev/null is an empty
file; other kinds (directories, devices, sockets) are refused before they are opened, since
opening a device can itself block or act.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
)


class Unusable(OSError):
    """A file nsaudit will not read because of its kind or size; strerror says why.

    An OSError, so that every caller that reports an unreadable file reports this one too."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EINVAL, reason)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _is_null(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)


def _check(st: os.stat_result, streams: bool) -> None:
    if stat.S_ISREG(st.st_mode) or _is_null(st):
        return
    if streams and stat.S_ISFIFO(st.st_mode):
        return
    what = _kind(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        raise Unusable(f"it is {what}, not a file")
    readable = "a regular file or a pipe" if streams else "a regular file"
    raise Unusable(f"it is {what}, not {readable}")


def open_binary(path: str | os.PathLike[str], streams: bool = False) -> BinaryIO:
    """The file opened for reading in binary; Unusable (or another OSError) when it cannot be.

    With `streams`, a pipe or FIFO is allowed: with no writer it reads as empty at once."""
    _check(os.stat(path), streams)
    # O_NONBLOCK: a FIFO opens at once even without a writer (its reads then see EOF).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)  # what was opened, which may not be what was stat'ed a moment ago
        _check(st, streams)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_stream(f: BinaryIO) -> None:
    """Unusable unless an already open stream (standard input) is a file, a pipe or a terminal."""
    st = os.fstat(f.fileno())
    if stat.S_ISCHR(st.st_mode) and os.isatty(f.fileno()):
        return
    _check(st, streams=True)


def read(
    path: str | os.PathLike[str], limit: int, streams: bool = False, cut: bool = False
) -> bytes:
    """The file's bytes: Unusable when it is larger than `limit` (with `cut`, its first
    `limit` bytes instead), or of a kind not read."""
    with open_binary(path, streams) as f:
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode) and st.st_size > limit and not cut:
            raise Unusable(f"it is {st.st_size} bytes, more than the {limit} nsaudit reads")
        data = f.read(limit + (0 if cut else 1))
    if len(data) > limit:
        raise Unusable(f"it is larger than the {limit} bytes nsaudit reads")
    return data


def read_procfs(path: str, limit: int, cut: bool = False) -> bytes:
    """read() for a file of the running host's own /proc: the same bytes, limits and errors,
    in four system calls instead of nine. procfs answers for the file's kind (no process
    can put a FIFO or a device there), so only a --root tree's /proc needs read()'s checks."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        if cut:
            return data[:limit]
        raise Unusable(f"it is larger than the {limit} bytes nsaudit reads")
    return data


def reader(live: bool) -> Callable[..., bytes]:
    """How to read a host's /proc files: read_procfs for the running host's, read otherwise."""
    return read_procfs if live else read
