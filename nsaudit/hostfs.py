"""Host files read under a root directory: / for the live host, or a --root tree."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from nsaudit import userfile
from nsaudit.errors import HostReadError, UsageError


class HostFS:
    """Reads /proc, /sys, /boot, /lib/modules, /usr/src and /etc under one root."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        path = Path(root)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise UsageError(
                f"--root {os.fsdecode(root)!r} does not exist; give the directory of a host tree"
            ) from None
        except OSError as e:
            raise HostReadError(
                f"--root {os.fsdecode(root)!r} cannot be read: {e.strerror}"
            ) from None
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"--root {os.fsdecode(root)!r} is not a directory")
        if not os.access(path, os.R_OK | os.X_OK):
            raise HostReadError(
                f"--root {os.fsdecode(root)!r} cannot be read: permission denied; run as its owner"
            )
        self.root = path.resolve()

    @property
    def live(self) -> bool:
        """True when the root is the running system's own /."""
        return self.root == Path("/")

    def path(self, name: str) -> Path:
        return self.root / name.lstrip("/")

    def show(self, name: str) -> str:
        """How a host path is named in reports: as the user would find it on disk."""
        return str(self.path(name))

    def lexists(self, name: str) -> bool:
        return os.path.lexists(self.path(name))

    def isdir(self, name: str) -> bool:
        return self.path(name).is_dir()

    def read_bytes(self, name: str, limit: int) -> bytes:
        """The file's bytes; OSError when it cannot be read, is larger than `limit` or is not a
        regular file (a tree may hold a FIFO, or a link to /dev/zero, where a value should be:
        userfile.Unusable, an OSError, says which)."""
        return userfile.read(self.path(name), limit)

    def read_value(self, name: str) -> str | None:
        """A one-line /proc or /sys value, None when the file does not exist."""
        try:
            data = self.read_bytes(name, 4096)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise
        return data.decode("utf-8", errors="replace").strip()

    def resolve(self, name: str) -> str | None:
        """The host path `name` leads to, its symbolic links followed as that host would follow
        them: an absolute link in a --root tree points into the tree, `..` stops at its top.
        None for a loop of links."""
        parts = [p for p in name.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 40  # the kernel's own limit on links in one lookup
        while parts:
            part = parts.pop(0)
            if part == "..":
                done = done[:-1]
                continue
            if part == ".":
                continue
            here = self.path("/".join([*done, part]))
            if not here.is_symlink():
                done.append(part)
                continue
            hops -= 1
            if hops < 0:
                return None
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
        return "/" + "/".join(done)

    def glob(self, pattern: str) -> list[str]:
        """Host paths (as seen inside the root) that match a glob."""
        return sorted(
            "/" + str(p.relative_to(self.root)) for p in self.root.glob(pattern.lstrip("/"))
        )
