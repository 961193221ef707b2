"""Where a key sits in a TOML file the user wrote, so that a mistake names its line: one
finder for the settings file and policies."""

from __future__ import annotations

import re


def line_of(lines: list[str], key: str, lo: int = 0, hi: int | None = None) -> int | None:
    """The 1-based line among lines[lo:hi] that sets `key` (`key =`, `[key]`, `[[key]]`,
    `key.sub`, or inside an inline table `{ ..., key = ... }`), None if none does."""
    pattern = re.compile(rf"(^|[{{,\s])\[*\s*(rule\.)?{re.escape(key)}\s*(=|\]|\.)")
    for i in range(lo, len(lines) if hi is None else hi):
        if pattern.search(lines[i]):
            return i + 1
    return None
