"""What a command hands to a formatter: a JSON payload and the same facts as tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


_NONE = object()


class Items(list[Any]):
    """A JSON array whose items are made one by one as the encoder reaches them, so that a
    large payload is never whole in memory. The json module encodes lists: this is one,
    holding nothing, that makes its items when iterated (once). json asks a list's length only
    to know whether it is empty, so the first item is made at once to tell that truly."""

    def __init__(self, items: Iterable[object]) -> None:
        super().__init__()
        self._rest = iter(items)
        self._first = next(self._rest, _NONE)

    def __len__(self) -> int:
        return 0 if self._first is _NONE else 1  # empty or not: all json asks

    def __iter__(self) -> Iterator[Any]:
        if self._first is not _NONE:
            yield self._first
            yield from self._rest


class Parts(list[Any]):
    """A JSON array of big items that share nothing (a fleet report's hosts), each made by
    `make(item)` when it is reached, as Items makes its own. The JSON format encodes them
    several at once, in worker processes (nsaudit.workers), each as it would have alone."""

    def __init__(self, items: Sequence[Any], make: Callable[[Any], object]) -> None:
        super().__init__()
        self.items, self.make = items, make

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return map(self.make, self.items)


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
