"""What a command hands to a formatter: a JSON payload and the same facts as tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


def cell(value: object) -> str:
    """A value as a table cell or CSV field, the same everywhere: empty when unknown, yes/no
    for a boolean (never Python's True), else its text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class Items(list[Any]):
    """A JSON array whose items are made one by one as the encoder reaches them, so that a
    large payload is never whole in memory. The json module encodes lists: this is one,
    holding nothing, that says how many items it has and makes them when iterated."""

    def __init__(self, count: int, items: Callable[[], Iterable[object]]) -> None:
        super().__init__()
        self._count, self._items = count, items

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items())


@dataclass(frozen=True)
class Chart:
    """What the HTML format draws above a table (the others list the table).

    kind "line": one line per series over the x labels; "bars": grouped bars per label.
    """

    kind: str
    x: tuple[str, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class Table:
    """Rows of text cells; `status_columns` name the columns whose words get colour.

    section: the heading (a host, say) the table belongs under; chart: drawn by HTML.
    cut: the columns a terminal table may shorten to fit its width (free text such as a
    command line, as lsns marks its truncatable columns); the others are always whole.
    """

    title: str | None
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    status_columns: frozenset[str] = field(default=frozenset())
    section: str | None = None
    chart: Chart | None = None
    cut: frozenset[str] = field(default=frozenset())


@dataclass(frozen=True)
class Case:
    """One verdict for JUnit XML: a rule (name) on a host (suite)."""

    suite: str
    classname: str
    name: str
    outcome: str  # pass, fail, waived, error, skip
    message: str
    details: str
    identifiers: str = ""  # CCE-83956-3, CCI-000366, ...


@dataclass(frozen=True)
class Document:
    """One report.

    payload: the versioned JSON object (with its "schema").
    lines: short statements shown above the tables.
    tables: what the table and markdown formats show.
    records: the one flat table the CSV format writes, a row per item.
    warnings: evidence that disagrees, shown after the tables.
    """

    title: str
    payload: Mapping[str, object]
    lines: tuple[str, ...]
    tables: tuple[Table, ...]
    records: Table
    warnings: tuple[str, ...] = ()
    cases: tuple[Case, ...] = ()
