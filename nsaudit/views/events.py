"""What `nsaudit watch` recorded, as a Document: schema nsaudit.events/1."""

from __future__ import annotations

from nsaudit import fields
from nsaudit.model import NamespaceEvent, Watched
from nsaudit.render import Document, Table

SCHEMA = "nsaudit.events/1"
NOT_WATCHED = "no `nsaudit watch` run has recorded anything for this host"


def coverage(w: Watched) -> tuple[str, ...]:
    """What the record does not hold: unwatched stretches, lost events, blind spots."""
    blind = tuple(f"watched through the audit subsystem, which {b}" for b in w.blind)
    return w.gaps() + blind


def payload(w: Watched | None) -> dict[str, object] | None:
    if w is None:
        return None
    return {
        "start": w.start,
        "end": w.end,
        "events": [fields.payload(e) for e in w.events],
        "runs": [
            {
                "id": r.id,
                "mechanism": r.mechanism,
                "started_at": r.started_at,
                "seen_at": r.seen_at,
                "ended_at": r.ended_at,
                "events": r.events,
                "lost": r.lost,
                "blind": r.blind,
            }
            for r in w.runs
        ],
        "unwatched": [{"start": g.start, "end": g.end} for g in w.unwatched],
        "lost": w.lost,
    }


def events_table(events: tuple[NamespaceEvent, ...], title: str | None = None) -> Table:
    return Table(
        title,
        fields.table_columns(NamespaceEvent),
        tuple(map(fields.table_cells, events)),
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
        () if w is None else coverage(w),
    )
