"""Formatters: one per output format, each turning a Document into text."""

from __future__ import annotations

from enum import StrEnum

from nsaudit.render.document import Document, Table
from nsaudit.render.formats import CsvFormat, Formatter, JsonFormat, MarkdownFormat, TableFormat


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


def formatter(fmt: OutputFormat, color: bool = False) -> Formatter:
    """The formatter for a format; colour applies to the terminal table only."""
    match fmt:
        case OutputFormat.TABLE:
            return TableFormat(color)
        case OutputFormat.JSON:
            return JsonFormat()
        case OutputFormat.CSV:
            return CsvFormat()
        case OutputFormat.MARKDOWN:
            return MarkdownFormat()


__all__ = ["Document", "Formatter", "OutputFormat", "Table", "formatter"]
