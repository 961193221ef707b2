"""Where output goes: standard output that fails in one documented way, and -o FILE written
as shell redirection writes it.

Just over 300 lines, on purpose: the two share their failures' words and exit codes, and -o
/dev/stdout (or a file that is fd 1) is standard output written as a file."""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import io
import os
import re
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


# The standard streams this process was started without (`>&-`): each is held open on
# /dev/null, so that no file opened later takes its number and receives what was meant for it.
_closed: set[int] = set()


class _StdoutFd(io.RawIOBase):
    """File descriptor 1, whose write errors become OutputClosed (the reader went away) or
    OutputError (a full disk, an I/O error, standard output closed), whoever wrote: print,
    click.echo, a formatter."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.discarded = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.discarded:
            return len(data)
        if self.fd in _closed:
            raise OutputError(_CLOSED_STDOUT)
        try:
            return os.write(self.fd, data)
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as e:
            raise OutputError(f"standard output could not be written: {_reason(e)}") from None


_CLOSED_STDOUT = "standard output is closed; redirect it to a file or /dev/null instead of `>&-`"


def guard_stdout() -> None:
    """Route sys.stdout through _StdoutFd, in its encoding, with characters it cannot encode
    written as backslash escapes instead of failing; a closed standard output fails its
    first write with OutputError."""
    _hold_closed_streams()
    old = sys.stdout
    if old is None:
        # Started with fd 1 closed: Python gives no sys.stdout, and every print would fail
        # with an AttributeError; the first write now says what is wrong (exit 5).
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(_StdoutFd(1)), encoding="utf-8", errors="backslashreplace"
        )
        return
    try:
        fd = old.fileno()
        old.flush()
    except (AttributeError, OSError, ValueError):
        return  # replaced by a caller (no file descriptor): left as it is
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_StdoutFd(fd)),
        encoding=old.encoding,
        errors="backslashreplace",
        line_buffering=bool(old.line_buffering),
        write_through=False,
    )


def _hold_closed_streams() -> None:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                held = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if held != fd:
                os.dup2(held, fd, inheritable=False)
                os.close(held)
            else:
                os.set_inheritable(fd, False)
            _closed.add(fd)


def discard_stdout() -> None:
    """After a failed write: what is still buffered goes nowhere, so the interpreter's last
    flush cannot fail a second time and print 'Exception ignored'."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if isinstance(raw, _StdoutFd):
        raw.discarded = True
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def to_stderr(line: str) -> None:
    """Write one line to standard error, if it can be written: a message that cannot be shown
    (`2>/dev/full`, `2>&-`) must not change the exit code or go to standard output."""
    if sys.stderr is None or 2 in _closed:
        return
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


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
    """Write to -o `output` as `> output` would, but never half a regular file where that
    can be had:

    a path naming one of this process's open files (/dev/stdout, /dev/fd/N, /proc/self/fd/N)
    is written through that file descriptor, where it stands, as the shell writes it; a
    character device or FIFO is written into (a FIFO without a reader is an error, not a
    hang); a symlink stays a symlink and what it points to is written; a regular file is
    replaced atomically (a temporary file beside it, then a rename) and keeps its mode and
    owner, unless that cannot be had (no temporary file can be made in its folder, the owner
    cannot be kept, or it has other hard links): then it is truncated and written in place,
    as `>` does; a new file is created with mode 0666 minus the umask, as a shell creates it."""
    fd = _own_fd(output)
    if fd is not None:
        return _write_fd(output, fd, write)
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
    if st is not None and st.st_nlink > 1:
        # A rename would leave the other names with the old text.
        return _write_into(target, write, truncate=True, shown=output)
    return _replace(output, target, st, write)


# /proc/PID/fd/N (or /proc/PID/task/TID/fd/N), once /proc/self and /proc/thread-self resolve.
_PROC_FD = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd/(\d+)")


def _own_fd(output: str) -> int | None:
    """The file descriptor that `output` names, if it names one of this process's: followed
    link by link, since resolving it whole would lead past the descriptor to its file."""
    try:
        own = os.readlink("/proc/self")
    except OSError:
        return None
    path = os.path.abspath(output)
    for _ in range(40):  # as many links as the kernel follows (ELOOP)
        path = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        match = _PROC_FD.fullmatch(path)
        if match:
            return int(match.group(2)) if match.group(1) == own else None
        try:
            link = os.readlink(path)
        except OSError:
            return None  # not a symlink (or not there): a file, not a descriptor
        path = os.path.normpath(os.path.join(os.path.dirname(path), link))
    return None


def _write_fd(output: str, fd: int, write: Callable[[IO[str]], T]) -> T:
    if fd in _closed:
        what = {0: "standard input", 1: "standard output", 2: "standard error"}[fd]
        raise OutputError(f"-o {output}: {what} is closed; redirect it instead of closing it")
    sys.stdout.flush()  # what was printed before comes first, as in the shell
    try:
        dup = os.dup(fd)
    except OSError:
        raise OutputError(f"-o {output}: file descriptor {fd} is not open") from None
    return _through(dup, output, write, stdout=fd == 1)


def _write_into(
    output: str, write: Callable[[IO[str]], T], truncate: bool = False, shown: str = ""
) -> T:
    shown = shown or output
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_TRUNC if truncate else 0)
    try:
        fd = os.open(output, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:
            no_reader = f"-o {shown}: a FIFO with no reader; start its reader first"
            raise OutputError(no_reader) from None
        raise _error(shown, e) from None
    # O_NONBLOCK only kept open() from waiting for a reader; the writes may wait.
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return _through(fd, shown, write)


def _through(fd: int, shown: str, write: Callable[[IO[str]], T], stdout: bool = False) -> T:
    """Write through an open descriptor (closed after): a reader that goes away is 141 on
    standard output, an error elsewhere."""
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            return write(f)
    except BrokenPipeError:
        if stdout:
            raise OutputClosed() from None
        raise OutputError(f"-o {shown}: the reader closed it before the end") from None
    except OSError as e:
        raise _error(shown, e) from None


def _replace(
    output: str, target: str, st: os.stat_result | None, write: Callable[[IO[str]], T]
) -> T:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nsaudit-", dir=os.path.dirname(target))
    except OSError as e:
        if st is None:
            raise _error(output, e) from None
        # A writable file in a folder we cannot write: `>` writes it, so do we.
        return _write_into(target, write, truncate=True, shown=output)
    try:
        if st is not None:
            os.fchown(fd, st.st_uid, st.st_gid)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
    except OSError as e:
        os.close(fd)
        os.unlink(tmp)
        if isinstance(e, PermissionError) and st is not None:
            # Only root can give a file away: rather than take the file from its owner (or
            # its group), write it where it is.
            return _write_into(target, write, truncate=True, shown=output)
        raise _error(output, e) from None
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
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
