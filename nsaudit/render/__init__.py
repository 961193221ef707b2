"""Formatters: one per output format, each turning a Document into text."""

from __future__ import annotations

from enum import StrEnum

from nsaudit.render.document import Document, Table, cell
from nsaudit.render.formats import CsvFormat, Formatter, JsonFormat, MarkdownFormat, TableFormat


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    TEXT = "text"
    HTML = "html"
    JUNIT = "junit"
    XCCDF = "xccdf"
    JSONL = "jsonl"
    ARF = "arf"


def formatter(
    fmt: OutputFormat, color: bool = False, width: int | None = None, unicode: bool = True
) -> Formatter:
    """The formatter for a format; colour, width (None: cells whole) and unicode (else ASCII
    ellipses) apply to the terminal table only.

    `text` is the terminal table under the name reports use."""
    match fmt:
        case OutputFormat.TABLE | OutputFormat.TEXT:
            return TableFormat(color, width, unicode)
        case OutputFormat.JSON:
            return JsonFormat()
        case OutputFormat.CSV:
            return CsvFormat()
        case OutputFormat.MARKDOWN:
            return MarkdownFormat()
        case OutputFormat.HTML:
            from nsaudit.render.html import HtmlFormat

            return HtmlFormat()
        case OutputFormat.JUNIT:
            from nsaudit.render.junit import JunitFormat

            return JunitFormat()
        case OutputFormat.JSONL:
            from nsaudit.render.jsonl import JsonlFormat

            return JsonlFormat()
        case OutputFormat.XCCDF:
            from nsaudit.render.xccdf import XccdfFormat

            return XccdfFormat()
        case OutputFormat.ARF:
            from nsaudit.render.xccdf import ArfFormat

            return ArfFormat()


__all__ = ["Document", "Formatter", "OutputFormat", "Table", "cell", "formatter"]
