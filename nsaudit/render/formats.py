"""The four formatters behind one small interface."""

from __future__ import annotations

import csv
import io
import json
from typing import Protocol

from nsaudit.render.document import Document, Table
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


class Formatter(Protocol):
    def render(self, doc: Document) -> str: ...


def tabulate(rows: list[list[str]], headers: list[str], tablefmt: str) -> str:
    """tabulate, imported on first use: commands that print one line do not pay for it."""
    from tabulate import tabulate as _tabulate

    return _tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


class TableFormat:
    """Aligned plain-text tables for a terminal, with optional colour."""

    def __init__(self, color: bool) -> None:
        self.color = color

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
            rows = [
                [self._cell(table, col, v) for col, v in zip(table.columns, row, strict=True)]
                for row in table.rows
            ]
            headers = [terminal(c) for c in table.columns]
            block.append(tabulate(rows, headers=headers, tablefmt="simple"))
            parts.append("\n".join(block))
        if doc.warnings:
            parts.append(
                "\n".join(self._paint(_YELLOW, "warning: ") + terminal(w) for w in doc.warnings)
            )
        return "\n\n".join(parts) + "\n"

    def _cell(self, table: Table, column: str, value: str) -> str:
        text = terminal(value)
        if column in table.status_columns:
            word = value.split(" ", 1)[0]
            if word in _COLORS:
                return self._paint(_COLORS[word], text)
        return text

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def _bold(self, text: str) -> str:
        return self._paint(_BOLD, text)


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
        return json.dumps(doc.payload, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
