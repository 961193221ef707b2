"""Process text as the database stores it: every byte the kernel gave, in valid Unicode.

The collector keeps bytes that are not UTF-8 as lone surrogates (surrogateescape), which
SQLite's and PostgreSQL's drivers cannot bind. Stored, a backslash is written `\\\\` and each
such byte `\\xNN`; reading reverses both, so a process named with the byte 0xff and one named
with the four characters `\\xff` stay two different names.
"""

from __future__ import annotations

import re

# Only the bytes 0x80-0xff are ever escaped: the collector keeps nothing else as a surrogate,
# so `\\x2d` (a systemd unit name's `-`) is text, never a lone surrogate to_db cannot make.
_STORED = re.compile(r"\\(\\|x[89a-f][0-9a-f])")


def to_db(text: str | None) -> str | None:
    if text is None:
        return None
    if "\\" not in text and text.isascii():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def from_db(text: str | None) -> str | None:
    if text is None or "\\" not in text:
        return text
    return _STORED.sub(_unescape, text)


def _unescape(m: re.Match[str]) -> str:
    code = m[1]
    # A backslash before anything else is kept as it is; to_db never writes one (migration
    # 0004 re-encoded the rows stored before this codec).
    return "\\" if code == "\\" else chr(0xDC00 + int(code[1:], 16))
