"""The nsfs ioctls: a namespace's id, parent, owning user namespace and owner uid."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from dataclasses import dataclass

NS_GET_USERNS = 0xB701
NS_GET_PARENT = 0xB702
NS_GET_OWNER_UID = 0xB704
NS_GET_ID = 0x8008B70D  # _IOR(0xb7, 13, __u64), Linux 6.18+


@dataclass(frozen=True)
class Relations:
    """What the kernel answered about one namespace; None where it did not."""

    dev: int | None
    ns_id: int | None
    parent: tuple[int, int] | None
    owner: tuple[int, int] | None
    owner_uid: int | None


def has_ns_get_id() -> bool:
    """Whether this kernel answers NS_GET_ID: asked, not inferred from a version number."""
    try:
        fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, NS_GET_ID, bytearray(8))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def relations(path: str, ns_type: str, with_id: bool) -> Relations:
    """Open a namespace file (a /proc ns link, fd or bind mount) and ask the kernel about it."""
    # O_NONBLOCK: under --root the "link" may lead to a FIFO, whose open would wait forever.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        dev = os.fstat(fd).st_dev
        ns_id = None
        if with_id:
            buf = bytearray(8)
            fcntl.ioctl(fd, NS_GET_ID, buf)
            ns_id = struct.unpack("=Q", buf)[0]
        parent = _related(fd, NS_GET_PARENT) if ns_type in ("pid", "user") else None
        owner = _related(fd, NS_GET_USERNS)
        owner_uid = None
        if ns_type == "user":
            buf = bytearray(4)
            fcntl.ioctl(fd, NS_GET_OWNER_UID, buf)
            owner_uid = struct.unpack("=I", buf)[0]
        return Relations(dev, ns_id, parent, owner, owner_uid)
    finally:
        os.close(fd)


def _related(fd: int, request: int) -> tuple[int, int] | None:
    """(dev, inode) of the namespace an ioctl returns; None when it is out of reach (EPERM)."""
    try:
        other = fcntl.ioctl(fd, request)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EINVAL, errno.ENOTTY):
            return None
        raise
    try:
        st = os.fstat(other)
        return st.st_dev, st.st_ino
    finally:
        os.close(other)
