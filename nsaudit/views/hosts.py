"""The hosts in the database as a Document: schema nsaudit.hosts/1."""

from __future__ import annotations

from nsaudit import fields
from nsaudit.model import HostRow
from nsaudit.render import Document, Table

SCHEMA = "nsaudit.hosts/1"


def document(rows: list[HostRow], warnings: list[str]) -> Document:
    return Document(
        "nsaudit hosts",
        {"schema": SCHEMA, "hosts": [fields.payload(r) for r in rows], "warnings": warnings},
        (),
        (Table(None, fields.table_columns(HostRow), tuple(map(fields.table_cells, rows))),),
        Table(None, fields.csv_columns(HostRow), tuple(map(fields.csv_cells, rows))),
        tuple(warnings),
    )
