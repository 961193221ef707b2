"""Where output goes: standard output that fails in one documented way, and -o FILE written
as shell redirection writes it."""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from typing import IO, TypeVar

from nsaudit.errors import OutputClosed, OutputError, UsageError

T = TypeVar("T")

# A path that names the wrong thing is the user's to fix (exit 2); the rest is the medium's.
_WRONG_PATH = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG)


def _reason(e: OSError) -> str:
    text = e.strerror or os.strerror(e.errno or 0)
    return text[:1].lower() + text[1:]


class _StdoutFd(io.RawIOBase):
    """File descriptor 1, whose write errors become OutputClosed (the reader went away) or
    OutputError (a full disk, an I/O error), whoever wrote: print, click.echo, a formatter."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return os.write(self.fd, data)
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as e:
            raise OutputError(f"standard output could not be written: {_reason(e)}") from None


def guard_stdout() -> None:
    """Route sys.stdout through _StdoutFd, in its encoding, with characters it cannot encode
    written as backslash escapes instead of failing."""
    old = sys.stdout
    try:
        fd = old.fileno()
        old.flush()
    except (AttributeError, OSError, ValueError):
        return  # no real stdout (closed, or replaced by a caller): left as it is
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_StdoutFd(fd)),
        encoding=old.encoding,
        errors="backslashreplace",
        line_buffering=bool(old.line_buffering),
        write_through=False,
    )


def discard_stdout() -> None:
    """After a failed write: what is still buffered goes nowhere, so the interpreter's last
    flush cannot fail a second time and print 'Exception ignored'."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def unicode_stdout() -> bool:
    """Whether standard output's encoding is UTF-8 (else trees and ellipses are ASCII)."""
    try:
        return codecs.lookup(sys.stdout.encoding or "ascii").name == "utf-8"
    except LookupError:
        return False


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width, else 80 (stdout is not a terminal), as lsns."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size((80, 24)).columns
    except (OSError, ValueError):
        pass
    return 80


def write_file(output: str, write: Callable[[IO[str]], T]) -> T:
    """Write to -o `output` as `> output` would, but never half a regular file:

    a character device or FIFO is written into (a FIFO without a reader is an error, not a
    hang); a symlink stays a symlink and what it points to is written; a regular file is
    replaced atomically (a temporary file beside it, then a rename) and keeps its mode and
    owner; a new file is created with mode 0666 minus the umask, as a shell creates it."""
    try:
        st: os.stat_result | None = os.stat(output)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _error(output, e) from None
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        return _write_into(output, write)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(f"-o {output}: is a directory; name a file")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"-o {output}: not a regular file, character device or FIFO; name a file")
    target = os.path.realpath(output)
    if target.startswith("/proc/"):
        # /dev/stdout and friends: an open file of this process, written where it is.
        return _write_into(output, write, truncate=True)
    return _replace(output, target, st, write)


def _write_into(output: str, write: Callable[[IO[str]], T], truncate: bool = False) -> T:
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_TRUNC if truncate else 0)
    try:
        fd = os.open(output, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:
            no_reader = f"-o {output}: a FIFO with no reader; start its reader first"
            raise OutputError(no_reader) from None
        raise _error(output, e) from None
    # O_NONBLOCK only kept open() from waiting for a reader; the writes may wait.
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            return write(f)
    except BrokenPipeError:
        raise OutputError(f"-o {output}: the reader closed it before the end") from None
    except OSError as e:
        raise _error(output, e) from None


def _replace(
    output: str, target: str, st: os.stat_result | None, write: Callable[[IO[str]], T]
) -> T:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nsaudit-", dir=os.path.dirname(target))
    except OSError as e:
        raise _error(output, e) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if st is not None:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                # Only root can give a file away; otherwise it stays ours, with the old mode.
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, st.st_uid, st.st_gid)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fd, 0o666 & ~umask)
            result = write(f)
        os.replace(tmp, target)
    except OSError as e:
        os.unlink(tmp)
        raise _error(output, e) from None
    except BaseException:
        os.unlink(tmp)
        raise
    return result


def _error(output: str, e: OSError) -> UsageError | OutputError:
    if e.errno in _WRONG_PATH:
        return UsageError(
            f"-o {output}: cannot write there: {_reason(e)}; name a file in an existing directory"
        )
    return OutputError(f"-o {output}: cannot write there: {_reason(e)}")
