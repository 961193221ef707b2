"""Formatters and the escaping of untrusted text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from nsaudit.render import Document, OutputFormat, Table, formatter
from nsaudit.render.escape import csv_cell, markdown_cell, terminal


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_has_a_formatter(fmt: OutputFormat) -> None:
    table = Table("t", ("A", "B"), (("1", "x"),))
    doc = Document("title", {"schema": "x/1"}, ("line",), (table,), table)
    if fmt in RESULT_FORMATS:
        doc = checked()
    assert formatter(fmt).render(doc).endswith("\n")


# The formats of a policy's results, built from the check or report payload.
RESULT_FORMATS = (OutputFormat.XCCDF, OutputFormat.ARF, OutputFormat.JSONL)


def checked() -> Document:
    from datetime import UTC, datetime

    from conftest import SAMPLES
    from factories import kernel_report, snap

    from nsaudit.compliance import evaluate_offline
    from nsaudit.policy.load import load
    from nsaudit.views.check import document

    policy = load(str(SAMPLES / "policies" / "container-host.toml"))
    now = datetime(2026, 12, 7, tzinfo=UTC)
    return document(evaluate_offline(snap(caps=kernel_report()), policy, "a test", now))


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


_GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])


class _Cells(HTMLParser):
    """The text of each CELL element (td, p) of rendered HTML, and every other element."""

    def __init__(self, cell: str) -> None:
        super().__init__(convert_charrefs=True)
        self.cell = cell
        self.cells: list[str] = []
        self.inner: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.cell:
            self._in_cell = True
            self.cells.append("")
        elif self._in_cell or self.cell == "p":
            self.inner.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == self.cell:
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


# Text made mostly of what CommonMark gives a meaning to, so that links, entities, emphasis,
# code spans, autolinks and line starts come up often.
_MARKUP = st.text(alphabet=st.sampled_from(list("[]()!<>&#;*_`|~\\-+=.:/ 0123456789ax\n")))


def _as_rendered(text: str) -> str:
    """The text a reader must see: leading spaces kept (as no-break spaces, which Markdown
    does not drop), trailing ones dropped as Markdown does."""
    shown = terminal(text)
    body = shown.lstrip(" ")
    return "\xa0" * (len(shown) - len(body)) + body.rstrip(" ")


@given(st.one_of(st.text(), _MARKUP))
@example("[a link](http://example.com) ![an image](x.png) <http://auto.link>")
@example("&amp; &#60; &copy; ~~strike~~ *em* __strong__ `code` <b>html</b> a|b")
@example("# heading")
@example("> quote")
@example("1) item")
def test_a_markdown_cell_renders_as_its_text_in_a_commonmark_renderer(text: str) -> None:
    # The oracle is markdown-it-py (CommonMark with GFM tables), not our own escaping: the
    # cell must come out as the same text, with no link, image, emphasis, code or HTML.
    table = f"| head |\n| --- |\n| {markdown_cell(text)} |\n"
    cells = _Cells("td")
    cells.feed(_GFM.render(table))
    assert cells.inner == []
    assert cells.cells == [_as_rendered(text)]


@given(st.one_of(st.text(), _MARKUP))
@example("1) item")
@example("- item")
@example("+ item")
@example("    indented")
@example("---")
@example("=")
@example("> quote")
@example("# heading")
def test_a_markdown_line_renders_as_its_text_in_a_commonmark_renderer(text: str) -> None:
    # nsaudit's Markdown lines (a report's header lines, its warnings) are paragraphs.
    shown = _as_rendered(text)
    paragraph = _Cells("p")
    paragraph.feed(_GFM.render(markdown_cell(text)))
    assert paragraph.inner == []
    assert paragraph.cells == ([shown] if shown else [])


def test_markdown_links_and_entities_stay_text() -> None:
    assert markdown_cell("[x](http://evil)") == "\\[x\\](http://evil)"
    assert markdown_cell("&amp; &#60;") == "\\&amp; \\&#60;"
    assert markdown_cell("~~gone~~") == "\\~\\~gone\\~\\~"
    assert markdown_cell("*a* _b_ snake_case") == "\\*a\\* \\_b\\_ snake_case"
    assert markdown_cell("1. item") == "1\\. item" and markdown_cell("- item") == "\\- item"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(st.text(max_size=4), _JSON_VALUES, max_size=3),
    st.lists(st.dictionaries(st.text(max_size=4), _JSON_VALUES, max_size=3), max_size=4),
)
@example({"a": [1, {"b": "\n\u202e"}]}, [{"x": "\x1b[31m"}, {}, {"y": []}])
def test_json_with_parts_encoded_in_workers_is_the_json_of_the_whole(
    rest: dict[str, object], items: list[dict[str, object]]
) -> None:
    """A payload whose "hosts" are Parts (encoded several at once, in worker processes) is
    written byte for byte as the json module writes the same payload whole."""
    import json

    from nsaudit.render.document import Parts

    payload = {**rest, "hosts": Parts(list(range(len(items))), lambda n: items[n])}
    doc = Document("t", payload, (), (), Table("t", ("A",), ()))
    whole = {**rest, "hosts": items}
    expected = json.dumps(whole, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    assert formatter(OutputFormat.JSON).render(doc) == expected
