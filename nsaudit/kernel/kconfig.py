"""Finding and reading the kernel config: plain or gzip, judged by content, not by name."""

from __future__ import annotations

import errno
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from nsaudit import userfile
from nsaudit.hostfs import HostFS

MAX_BYTES = 64 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_NOT_SET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$")
_HEADERS = (
    re.compile(r"^#\s*Linux/\S+\s+(\S+)\s+Kernel Configuration"),
    re.compile(r"^#\s*Linux kernel version:\s*(\S+)"),
)


class KconfigError(Exception):
    """A file that is not a readable kernel config; the message says why."""


@dataclass(frozen=True)
class Kconfig:
    """A parsed kernel config: option name to 'y', 'm', 'not set' or its literal value."""

    path: str
    compressed: bool
    release: str | None
    values: Mapping[str, str]


def parse(data: bytes, path: str) -> Kconfig:
    """Parse config bytes; KconfigError when they are empty, corrupt, binary or not a config."""
    if not data:
        raise KconfigError(f"{path} is empty")
    compressed = data.startswith(_GZIP_MAGIC)
    if compressed:
        data = _gunzip(data, path)
    if b"\0" in data:
        raise KconfigError(f"{path} is a binary file, not a kernel config")
    # Vendors' files are not always clean ASCII: decode leniently.
    text = data.decode("utf-8", errors="replace")
    values: dict[str, str] = {}
    release = None
    for lineno, line in enumerate(text.splitlines()):
        if lineno < 10 and release is None:
            release = _header_release(line)
        m = _SET.match(line)
        if m:
            values[m[1]] = _unquote(m[2].strip())
            continue
        m = _NOT_SET.match(line)
        if m:
            values[m[1]] = "not set"
    if not values:
        raise KconfigError(f"{path} holds no CONFIG_ lines: not a kernel config")
    return Kconfig(path, compressed, release, values)


def _gunzip(data: bytes, path: str) -> bytes:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_BYTES)
    except zlib.error:
        raise KconfigError(f"{path} is a corrupt gzip file") from None
    if d.unconsumed_tail:
        raise KconfigError(f"{path} unpacks to more than {MAX_BYTES} bytes: not a kernel config")
    if not d.eof:
        raise KconfigError(f"{path} is a truncated gzip file")
    return out


def _header_release(line: str) -> str | None:
    for pattern in _HEADERS:
        m = pattern.match(line)
        if m:
            return m[1]
    return None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def read_file(path: str) -> Kconfig:
    """Read a config file the user named; KconfigError says what is wrong with it."""
    try:
        data = userfile.read(path, MAX_BYTES, streams=True)
    except OSError as e:
        raise KconfigError(f"{path} cannot be read: {e.strerror}") from None
    return parse(data, path)


def candidates(host: HostFS, release: str | None) -> list[str]:
    """The host paths a kernel config may be at, in the order nsaudit tries them."""
    paths = ["/proc/config.gz"]
    if release:
        paths += [
            f"/boot/config-{release}",
            f"/lib/modules/{release}/config",
            f"/lib/modules/{release}/build/.config",
            f"/usr/src/linux-{release}/.config",
        ]
    else:
        # An image with no /proc names no running release: any installed kernel's config.
        paths += sorted(host.glob("/boot/config-*"), reverse=True)
    paths.append("/usr/src/linux/.config")
    return paths


@dataclass(frozen=True)
class Located:
    """The outcome of the search: the config (or None), each path tried, and what went wrong."""

    config: Kconfig | None
    tried: tuple[str, ...]
    problems: tuple[str, ...]


def locate(host: HostFS, release: str | None) -> Located:
    """The first readable config on the host; broken ones are skipped and reported."""
    tried: list[str] = []
    problems: list[str] = []
    for name in candidates(host, release):
        shown = host.show(name)
        try:
            data = host.read_bytes(name, MAX_BYTES)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                tried.append(f"{shown}: not found")
                continue
            tried.append(f"{shown}: {e.strerror}")
            problems.append(f"kernel config {shown} cannot be read ({e.strerror}); skipped")
            continue
        try:
            config = parse(data, shown)
        except KconfigError as e:
            tried.append(str(e))
            problems.append(f"{e}; skipped")
            continue
        tried.append(f"{shown}: used")
        return Located(config, tuple(tried), tuple(problems))
    return Located(None, tuple(tried), tuple(problems))
