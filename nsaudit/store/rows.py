"""A record's database columns and row codec, built from the fields it declares
(nsaudit.model.column): the database half of nsaudit/fields.py."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any, TypeVar

from nsaudit.fields import Field, declared
from nsaudit.model import Holder, HolderKind, NamespaceId, NsType
from nsaudit.store.text import from_db, to_db

R = TypeVar("R")
_TYPES = {t.value: t for t in NsType}


def _names(f: Field) -> tuple[str, ...]:
    """The database columns of one field."""
    name: str = f.options.get("db", f.name)
    if f.kind == "id":
        return ("ns_type", "dev", "inode")
    if f.kind == "ref":
        return (f"{name}_dev", f"{name}_inode")
    return (name,)


_PLANS: dict[type[Any], tuple[tuple[Field, tuple[str, ...]], ...]] = {}


def plan(record: type[Any]) -> tuple[tuple[Field, tuple[str, ...]], ...]:
    """Each declared field with its database columns (worked out once per type: rows are
    many)."""
    found = _PLANS.get(record)
    if found is None:
        found = _PLANS[record] = tuple((f, _names(f)) for f in declared(record))
    return found


def column_names(record: type[Any]) -> tuple[str, ...]:
    """The record's columns, in its table's order."""
    return tuple(name for _, names in plan(record) for name in names)


def learned(record: type[Any]) -> tuple[tuple[str, ...], ...]:
    """For each schema revision that added fields to the record ("added"), newest first: the
    columns a row stored before it lacks (those it added and every later one's)."""
    by_revision: dict[str, list[str]] = {}
    for f, names in plan(record):
        if "added" in f.options:
            by_revision.setdefault(f.options["added"], []).extend(names)
    out: list[tuple[str, ...]] = []
    lacking: tuple[str, ...] = ()
    for revision in sorted(by_revision, reverse=True):
        lacking = (*by_revision[revision], *lacking)
        out.append(lacking)
    return tuple(out)


def to_row(record: Any) -> dict[str, Any]:
    """The record as column values: text in the store's escaping (nsaudit/store/text.py),
    holders as compact JSON with the fields their kind has."""
    encode = _ENCODERS.get(type(record))
    if encode is None:
        encode = _ENCODERS[type(record)] = _encoder(type(record))
    return encode(record)


_ENCODERS: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}


def _held(holders: Sequence[Any]) -> str:
    held = [{k: v for k, v in vars(h).items() if v is not None} for h in holders]
    # ensure_ascii writes a lone surrogate as \udcXX, which json.loads gives back.
    return _compact(held)


def _encoder(record: type[Any]) -> Callable[[Any], dict[str, Any]]:
    """to_row() for one record type, written for its fields as decoder() is: a snapshot's
    thousands of rows are encoded at every save."""
    scope: dict[str, Any] = {"to_db": to_db, "_held": _held}
    items = []
    for f, names in plan(record):
        value = f"o.{f.name}"
        if f.kind == "id":
            kind, dev, inode = names
            items += [f"{kind!r}: {value}.type.value", f"{dev!r}: {value}.dev"]
            items.append(f"{inode!r}: {value}.inode")
        elif f.kind == "text":
            # Most text is plain ASCII with no backslash: no call for it.
            plain = 'v.isascii() and "\\\\" not in v'
            items.append(f"{names[0]!r}: v if (v := {value}) is None or {plain} else to_db(v)")
        elif f.kind == "ref":
            dev, inode = names
            items.append(f"{dev!r}: None if (r := {value}) is None else r.dev")
            items.append(f"{inode!r}: None if r is None else r.inode")
        elif f.kind == "holders":
            items.append(f'{names[0]!r}: "[]" if not (h := {value}) else _held(h)')
        else:
            items.append(f"{names[0]!r}: {value}")
    source = "def encode(o):\n    return {" + ", ".join(items) + "}\n"
    exec(source, scope)  # noqa: S102 - the source is built above from the record's fields
    encode: Callable[[Any], dict[str, Any]] = scope["encode"]
    return encode


def canonical(state: dict[str, Any]) -> str:
    """A row's values (None, whole numbers, text) as json.dumps(sort_keys=True,
    separators=(",", ":")) writes them, byte for byte: what a state's fingerprint hashes."""
    keys = tuple(state)
    write = _CANONICAL.get(keys)
    if write is None:
        write = _CANONICAL[keys] = _canonical(keys)
    return write(state)


_CANONICAL: dict[tuple[str, ...], Callable[[dict[str, Any]], str]] = {}


def _canonical(keys: tuple[str, ...]) -> Callable[[dict[str, Any]], str]:
    scope: dict[str, Any] = {"_str": encode_basestring_ascii, "_int": int.__repr__}
    scope["_dumps"] = _compact
    parts = []
    for key in sorted(keys):
        v = f"s[{_dumps_key(key)}]"
        # json's own writers for text and numbers; anything else (never stored) through json.
        value = (
            f'("null" if (v := {v}) is None else _str(v) if v.__class__ is str '
            f"else _int(v) if v.__class__ is int else _dumps(v))"
        )
        parts.append(f"{_dumps_key(key)}:{{{value}}}")
    source = "def write(s):\n    return f'{{" + ",".join(parts) + "}}'\n"
    exec(source, scope)  # noqa: S102 - the source is built above from the columns' names
    write: Callable[[dict[str, Any]], str] = scope["write"]
    return write


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _dumps_key(key: str) -> str:
    """A column's name as JSON writes it; a name is a Python identifier, so it needs no
    escape and can stand in the generated f-string."""
    if not key.isidentifier():
        raise ValueError(f"column name {key!r} cannot be written by canonical()")
    return f'"{key}"'


@lru_cache(maxsize=4096)
def _ref(ns_type: NsType, dev: int, inode: int) -> NamespaceId:
    """A parent or owner: the same few (the initial user namespace owns most) for many rows,
    made once each and shared."""
    return NamespaceId(ns_type, dev, inode)


def _holder(stored: dict[str, Any]) -> Holder:
    return Holder(HolderKind(stored.pop("kind")), **stored)


def _holders(text: str) -> tuple[Holder, ...]:
    return () if text == "[]" else tuple(_holder(h) for h in json.loads(text))


def _plain(record: type[Any]) -> bool:
    """Whether a record's __init__ only sets its fields, every one of them a declared column:
    then a row's record can be made by filling its __dict__."""
    return (
        dataclasses.is_dataclass(record)
        and not hasattr(record, "__post_init__")
        and not hasattr(record, "__slots__")
        and {f.name for f in dataclasses.fields(record)} == {f.name for f, _ in plan(record)}
    )


def decoder(record: type[R], keys: Sequence[str]) -> Callable[[Sequence[Any]], R]:
    """The record from a row of a query whose columns are `keys`.

    The many rows of a snapshot are read by one function written for these columns, as
    dataclasses writes __init__: each field an expression on the row by position, with no
    lookup by name and no branch per field."""
    at = {k: i for i, k in enumerate(keys)}
    scope: dict[str, Any] = {
        "record": record,
        "NamespaceId": NamespaceId,
        "_TYPES": _TYPES,
        "from_db": from_db,
        "_holders": _holders,
        "_ref": _ref,
    }
    lines, args = [], []
    for n, (f, names) in enumerate(plan(record)):
        pos = [at[c] for c in names]
        if f.kind == "id":
            lines.append(f"    t = _TYPES[row[{pos[0]}]]")
            value = f"NamespaceId(t, row[{pos[1]}], row[{pos[2]}])"
        elif f.kind == "text":
            # Most text has no escape to undo: no call for it.
            value = f'(v if (v := row[{pos[0]}]) is None or "\\\\" not in v else from_db(v))'
        elif f.kind == "ref":
            # The ref's type follows from the record's own: its id comes first.
            scope[f"type_{n}"] = {t: ts[0] for t in NsType if (ts := f.options["types"](t))}
            dev, inode = (f"row[{i}]" for i in pos)
            value = f"None if {dev} is None else _ref(type_{n}[t], {dev}, {inode})"
        elif f.kind == "holders":
            value = f'(() if (h := row[{pos[0]}]) == "[]" else _holders(h))'
        else:
            value = f"row[{pos[0]}]"
        args.append(f"{f.name}={value}")
    source = "def decode(row):\n" + "".join(f"{line}\n" for line in lines)
    if _plain(record):
        # Its fields set as its own __init__ would, without the frozen dataclass's
        # object.__setattr__ per field (a third of a row's cost).
        scope["_new"] = object.__new__
        source += f"    o = _new(record)\n    o.__dict__.update({', '.join(args)})\n    return o\n"
    else:
        source += f"    return record({', '.join(args)})\n"
    exec(source, scope)  # noqa: S102 - the source is built above from the record's fields
    decode: Callable[[Sequence[Any]], R] = scope["decode"]
    return decode
