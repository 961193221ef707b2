"""The sysctl values a host sets at boot: its sysctl.d files read as systemd-sysctl reads them."""

from __future__ import annotations

import errno
import fnmatch
import os

from nsaudit.hostfs import HostFS
from nsaudit.model import PersistedSysctls, SysctlSetting

# Highest priority first: a file in an earlier folder hides one of the same name in a later
# one (sysctl.d(5)); /etc/sysctl.conf is read last, as `sysctl --system` reads it.
FOLDERS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"
MAX_BYTES = 1024 * 1024


def read(host: HostFS, names: tuple[str, ...], warnings: list[str]) -> PersistedSysctls:
    """Every line of the boot-time sysctl files that sets one of `names`, in the order applied."""
    unread: list[str] = []
    files = _files(host, unread)
    settings: list[SysctlSetting] = []
    for path in files:
        try:
            data = host.read_bytes(path, MAX_BYTES)
        except OSError as e:
            unread.append(f"{host.show(path)} cannot be read ({e.strerror})")
            continue
        settings += _settings(host.show(path), data.decode("utf-8", "replace"), names)
    warnings += [f"boot-time sysctl file {u}" for u in unread]
    return PersistedSysctls(tuple(host.show(f) for f in files), tuple(settings), tuple(unread))


def _files(host: HostFS, unread: list[str]) -> list[str]:
    """The files to read, in the order applied: by file name across the folders, the
    highest-priority folder's file of each name; a file linked to /dev/null masks the name."""
    chosen: dict[str, str | None] = {}
    seen_folders: set[str] = set()
    for folder in FOLDERS:
        real = host.resolve(folder)
        if real is None or real in seen_folders:
            continue  # /lib is a link to /usr/lib on merged-/usr systems: read it once
        seen_folders.add(real)
        try:
            entries = sorted(os.listdir(host.path(real)))
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                unread.append(f"{host.show(folder)} cannot be listed ({e.strerror})")
            continue
        for entry in entries:
            if entry.endswith(".conf") and entry not in chosen:
                target = host.resolve(f"{folder}/{entry}")
                chosen[entry] = None if target in (None, "/dev/null") else target
    order = [chosen[name] for name in sorted(chosen)]
    files = [f for f in order if f is not None]
    last = host.resolve(SYSCTL_CONF)
    if last is not None and last not in files and host.path(last).exists():
        files.append(last)
    return files


def _settings(path: str, text: str, names: tuple[str, ...]) -> list[SysctlSetting]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        key = _normalized(key.removeprefix("-"))
        if any(c in key for c in "*?["):
            out += [
                SysctlSetting(n, value, path, number, key)
                for n in names
                if fnmatch.fnmatchcase(n, key)
            ]
        elif key in names:
            out.append(SysctlSetting(key, value, path, number))
    return out


def _normalized(key: str) -> str:
    """A key in dotted form: `user/max_user_namespaces` uses slashes as separators (and dots
    within names), as sysctl.d(5) allows when the first separator is a slash."""
    dot, slash = key.find("."), key.find("/")
    if slash != -1 and (dot == -1 or slash < dot):
        return key.translate(str.maketrans("./", "/."))
    return key
