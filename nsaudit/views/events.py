"""What `nsaudit watch` recorded, as a Document: schema nsaudit.events/1."""

from __future__ import annotations

import dataclasses

from nsaudit import fields
from nsaudit.model import NamespaceEvent, Watched
from nsaudit.render import Document, Table

SCHEMA = "nsaudit.events/1"
NOT_WATCHED = "no `nsaudit watch` run has recorded anything for this host"


def payload(w: Watched | None) -> dict[str, object] | None:
    if w is None:
        return None
    return {
        "start": w.start,
        "end": w.end,
        "events": [fields.payload(e) for e in w.events],
        "runs": [dataclasses.asdict(r) for r in w.runs],
        "unwatched": [dataclasses.asdict(g) for g in w.unwatched],
        "lost": w.lost,
    }


def events_table(
    events: tuple[NamespaceEvent, ...], title: str | None = None, section: str | None = None
) -> Table:
    return Table(
        title,
        fields.table_columns(NamespaceEvent),
        tuple(map(fields.table_cells, events)),
        section=section,
        cut=frozenset({"COMMAND", "EXE"}),
    )


def document(w: Watched | None) -> Document:
    found = () if w is None else w.events
    return Document(
        "nsaudit events",
        {"schema": SCHEMA, "watched": payload(w)},
        (f"{len(found)} namespace events" if w is not None else NOT_WATCHED,),
        (events_table(found),) if found else (),
        Table(None, fields.csv_columns(NamespaceEvent), tuple(map(fields.csv_cells, found))),
        () if w is None else w.incomplete(),
    )
