"""Untrusted text made safe for a terminal, a CSV cell, a Markdown cell or XML text."""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?$")
# OWASP's list also has tab and carriage return: terminal() has made them `\t` and `\r` first.
_FORMULA_START = ("=", "+", "-", "@")
# Punctuation that can start markup anywhere in a line; '_' only where it is not inside a word.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# Punctuation that makes markup only at the start of a line: headings, lists, quotes.
_MARKDOWN_LEADING = re.compile(r"^(\d*)([#+\-=>.)])")


def terminal(text: str) -> str:
    """Every control, bidi and undecodable character as a visible escape; backslashes doubled.

    Bidirectional overrides, isolates and marks, which can reorder what a reader sees, are
    format characters (Unicode category Cf): Python counts them as not printable."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:  # eight digits, as Python writes it: U+E0001 is not U+E000 and a "1"
            out.append(f"\\U{code:08x}")
    return "".join(out)


def xml_text(value: str) -> str:
    """XML 1.0 cannot carry control characters at all: each line escaped as a terminal would
    (ElementTree then escapes markup)."""
    return "\n".join(terminal(line) for line in value.split("\n"))


def csv_cell(text: str) -> str:
    """Terminal-safe, and never read as a formula by a spreadsheet."""
    text = terminal(text)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def markdown_cell(text: str) -> str:
    """Terminal-safe, with Markdown and HTML punctuation escaped so it stays literal text.

    Leading spaces become no-break spaces: renderers drop them (a tree's depth with them),
    and four of them would start a code block."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", terminal(text))
    text = _MARKDOWN_LEADING.sub(r"\1\\\2", text)
    body = text.lstrip(" ")
    return "&nbsp;" * (len(text) - len(body)) + body
