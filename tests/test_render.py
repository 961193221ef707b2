"""Formatters and the escaping of untrusted text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nsaudit.render import Document, OutputFormat, Table, formatter
from nsaudit.render.escape import csv_cell, markdown_cell, terminal


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_has_a_formatter(fmt: OutputFormat) -> None:
    table = Table("t", ("A", "B"), (("1", "x"),))
    doc = Document("title", {"schema": "x/1"}, ("line",), (table,), table)
    assert formatter(fmt).render(doc).endswith("\n")


@given(st.text())
def test_terminal_output_holds_no_control_character(text: str) -> None:
    out = terminal(text)
    assert all(ch == " " or ch.isprintable() for ch in out)
    assert "\u202e" not in out


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_terminal_escape_keeps_printable_text(text: str) -> None:
    if text.isprintable() and "\\" not in text and "\u202e" not in text and "\u2066" not in text:
        assert terminal(text) == text


def test_terminal_escapes() -> None:
    assert terminal("a\x1b[31mb\nc\td\\") == "a\\x1b[31mb\\nc\\td\\\\"
    assert terminal("bad\udcff") == "bad\\xff"
    assert terminal("x\u202ey\x9b") == "x\\u202ey\\x9b"


@given(st.text())
def test_csv_cells_never_start_a_formula(text: str) -> None:
    out = csv_cell(text)
    assert not out.startswith(("=", "+", "@")) or out.lstrip("+").replace(".", "").isdigit()


def test_csv_keeps_numbers() -> None:
    assert csv_cell("-1") == "-1" and csv_cell("=1+1") == "'=1+1" and csv_cell("-x") == "'-x"


@given(st.text())
def test_markdown_cells_hold_no_raw_html_or_pipe(text: str) -> None:
    out = markdown_cell(text)
    unescaped = out.replace("\\\\", "")
    for ch in "<>|`":
        assert unescaped.count(ch) == unescaped.count("\\" + ch)
    assert "\n" not in out


def test_markdown_escapes() -> None:
    assert markdown_cell("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert(1)\\>"
    assert markdown_cell("a|b") == "a\\|b"
    assert markdown_cell("CONFIG_NET_NS") == "CONFIG_NET_NS"
    assert markdown_cell("# heading") == "\\# heading"
