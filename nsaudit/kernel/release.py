"""Kernel release strings: the numeric version inside '6.12.0-55.el10.x86_64'."""

from __future__ import annotations

import re

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def version(release: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a release string, None when it does not start with one."""
    if not release:
        return None
    m = _VERSION.match(release.strip())
    if not m:
        return None
    return int(m[1]), int(m[2]), int(m[3] or 0)


def at_least(release: str | None, wanted: tuple[int, ...]) -> bool | None:
    """Whether a release is at least `wanted`; None when the release is unknown."""
    have = version(release)
    if have is None:
        return None
    return have >= tuple(wanted) + (0,) * (3 - len(wanted))


def same_series(a: str | None, b: str | None) -> bool | None:
    """Whether two releases share major.minor (distro releases reset the patch number).

    Debian names its 4.19.235 kernel '4.19.0-20-amd64', so a finer comparison would cry wolf.
    """
    va, vb = version(a), version(b)
    if va is None or vb is None:
        return None
    return va[:2] == vb[:2]
