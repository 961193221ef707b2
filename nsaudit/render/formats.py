"""The four formatters behind one small interface."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Protocol

from nsaudit import workers
from nsaudit.render.document import Document, Parts, Table
from nsaudit.render.escape import csv_cell, markdown_cell, terminal

_GREEN, _YELLOW, _RED, _DIM, _BOLD, _RESET = (
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[31m",
    "\x1b[2m",
    "\x1b[1m",
    "\x1b[0m",
)
_COLORS = {
    "available": _GREEN,
    "allowed": _GREEN,
    "yes": _GREEN,
    "pass": _GREEN,
    "disabled": _YELLOW,
    "restricted": _YELLOW,
    "missing": _RED,
    "denied": _RED,
    "no": _RED,
    "fail": _RED,
    "unknown": _DIM,
}


_PIECE = 1 << 16


class Formatter(Protocol):
    def render(self, doc: Document) -> str: ...


def tabulate(rows: list[list[str]], headers: list[str], tablefmt: str) -> str:
    """tabulate, imported on first use: commands that print one line do not pay for it."""
    from tabulate import tabulate as _tabulate

    return _tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


class TableFormat:
    """Aligned plain-text tables for a terminal, with optional colour.

    width: the terminal's columns; the widest of a table's `cut` columns (free text such as a
    command line) are shortened, ending in an ellipsis as lsns does, until a row fits. None
    keeps every cell whole. No line ends in padding.
    """

    def __init__(self, color: bool, width: int | None = None, unicode: bool = True) -> None:
        self.color = color
        self.width = width
        self.ellipsis = "\u2026" if unicode else "..."

    def render(self, doc: Document) -> str:
        parts = ["\n".join(terminal(line) for line in doc.lines)] if doc.lines else []
        section = None
        for table in doc.tables:
            block = []
            if table.section != section and table.section is not None:
                parts.append(self._bold(f"== {terminal(table.section)} =="))
            section = table.section
            if table.title:
                block.append(self._bold(terminal(table.title)))
            block.append(self._grid(table))
            parts.append("\n".join(block))
        if doc.warnings:
            parts.append(
                "\n".join(self._paint(_YELLOW, "warning: ") + terminal(w) for w in doc.warnings)
            )
        return "\n\n".join(parts) + "\n"

    def _grid(self, table: Table) -> str:
        # Laid out here rather than by tabulate: tabulate strips a tree's leading spaces, and
        # colour codes are added after the cells are cut and padded.
        headers = [terminal(c) for c in table.columns]
        rows = [[terminal(v) for v in row] for row in table.rows]
        natural = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        floors = [
            len(h) if c in table.cut else natural[i]
            for i, (c, h) in enumerate(zip(table.columns, headers, strict=True))
        ]
        widths = fit(natural, floors, self.width)
        lines = [_line([h.ljust(w) for h, w in zip(headers, widths, strict=True)])]
        lines.append(_line(["-" * w for w in widths]))
        for row in rows:
            cells = []
            for column, text, w in zip(table.columns, row, widths, strict=True):
                if len(text) > w:
                    text = (text[: max(w - len(self.ellipsis), 0)] + self.ellipsis)[:w]
                cells.append(self._cell(table, column, text, w))
            lines.append(_line(cells))
        return "\n".join(lines)

    def _cell(self, table: Table, column: str, text: str, width: int) -> str:
        padding = " " * (width - len(text))
        if column in table.status_columns:
            word = text.split(" ", 1)[0]
            if word in _COLORS:
                return self._paint(_COLORS[word], text) + padding
        return text + padding

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def _bold(self, text: str) -> str:
        return self._paint(_BOLD, text)


_GAP = "  "
_NARROWEST = 12


def _line(cells: list[str]) -> str:
    return _GAP.join(cells).rstrip()


def fit(widths: list[int], floors: list[int], limit: int | None) -> list[int]:
    """Column widths that fit in `limit` characters: the widest column is cut first, none
    below its floor or _NARROWEST; when that is not enough the table is wider than asked."""
    widths = list(widths)
    if limit is None:
        return widths
    floors = [max(f, min(w, _NARROWEST)) for f, w in zip(floors, widths, strict=True)]
    while True:
        excess = sum(widths) + len(_GAP) * (len(widths) - 1) - limit
        cuttable = [i for i, w in enumerate(widths) if w > floors[i]]
        if excess <= 0 or not cuttable:
            return widths
        widest = max(cuttable, key=lambda i: widths[i])
        others = [widths[i] for i in cuttable if i != widest]
        # Cut the widest down to the next widest (or by the excess), so wide columns share.
        target = max(widths[widest] - excess, floors[widest], max(others, default=0))
        widths[widest] = target if target < widths[widest] else widths[widest] - 1


class MarkdownFormat:
    """GitHub-flavoured Markdown: a heading, paragraphs, pipe tables, a list of warnings."""

    def render(self, doc: Document) -> str:
        parts = [f"# {markdown_cell(doc.title)}"]
        parts += [markdown_cell(line) for line in doc.lines]
        section = None
        for table in doc.tables:
            block = []
            if table.section != section and table.section is not None:
                parts.append(f"## {markdown_cell(table.section)}")
            section = table.section
            if table.title:
                level = "###" if section is not None else "##"
                block.append(f"{level} {markdown_cell(table.title)}\n")
            rows = [[markdown_cell(v) or " " for v in row] for row in table.rows]
            block.append(
                tabulate(
                    rows,
                    headers=[markdown_cell(c) for c in table.columns],
                    tablefmt="github",
                )
            )
            parts.append("\n".join(block))
        if doc.warnings:
            parts.append(
                "## Warnings\n\n" + "\n".join(f"- {markdown_cell(w)}" for w in doc.warnings)
            )
        return "\n\n".join(parts) + "\n"


class CsvFormat:
    """The document's records as one CSV table with a header row."""

    def render(self, doc: Document) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([csv_cell(c) for c in doc.records.columns])
        writer.writerows([csv_cell(v) for v in row] for row in doc.records.rows)
        return out.getvalue()


class JsonFormat:
    """The versioned payload: keys sorted, ASCII only, so no byte of it can drive a terminal."""

    def render(self, doc: Document) -> str:
        return "".join(self.stream(doc))

    def stream(self, doc: Document) -> Iterator[str]:
        """The JSON text in pieces of about 64 KiB, made as they are written: a payload whose
        arrays are Items is never whole in memory, nor is the text."""
        pending: list[str] = []
        size = 0
        for piece in _object(doc.payload):
            pending.append(piece)
            size += len(piece)
            if size >= _PIECE:
                yield "".join(pending)
                pending, size = [], 0
        yield "".join(pending) + "\n"


_ENCODER = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=True)


def _object(payload: Mapping[str, object]) -> Iterator[str]:
    """The payload as _ENCODER writes it, key by key, so that an array of Parts at its top
    level is encoded in workers. A value's text at the top level is its own, one indent in:
    no newline is inside a JSON string."""
    if not payload:
        yield "{}"
        return
    for n, key in enumerate(sorted(payload)):
        yield ("{" if n == 0 else ",") + "\n  " + _ENCODER.encode(key) + ": "
        value = payload[key]
        if isinstance(value, Parts) and len(value) > 1:
            yield from _parts(value)
        else:
            for piece in _ENCODER.iterencode(value):
                yield piece.replace("\n", "\n  ")
    yield "\n}"


def _parts(parts: Parts) -> Iterator[str]:
    # By index: the forked workers have the items already; only the text comes back.
    texts = workers.ordered(range(len(parts)), partial(_part, parts), workers.cores())
    for n, text in enumerate(texts):
        yield ("[" if n == 0 else ",") + "\n    " + text
    yield "\n  ]"


def _part(parts: Parts, n: int) -> str:
    return _ENCODER.encode(parts.make(parts.items[n])).replace("\n", "\n    ")
