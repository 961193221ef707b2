"""How a record declares its fields once."""

from __future__ import annotations

from dataclasses import MISSING, field
from typing import Any


def column(kind: str, default: Any = MISSING, **options: Any) -> Any:
    """A record field's declaration, read by nsaudit/fields.py (JSON, CSV, table, bundle) and
    nsaudit/store/rows.py (database): its kind, and where it differs from the defaults.

    kind: "id" (type, dev, inode), "count" (a whole number), "number" (one or null), "text" (or
    null), "flag" (yes/no), "ref" (a NamespaceId or null), "refs" (NamespaceIds of any types),
    "holders". options: required (a text that is never null nor empty), null (a flag that may be
    null: unknown), db (its database column when not its name), big (a 64-bit database integer),
    json (its JSON key when not its name; "a.b" nests), csv (its CSV column when not its JSON
    key), header (its terminal table column; "id" has two), width (the table shows at most this
    many characters), cell (that column's text when not the value's), types (a ref's allowed
    types, from the record's own type), added (the schema revision that added it: older bundles
    lack the key, and a row stored before it learns the value without counting as a change),
    diff ("signal": a change is a finding; "noise": routine on a live host, as a replaced
    representative process; absent: part of the identity, never compared)."""
    return field(default=default, metadata={"kind": kind, **options})
