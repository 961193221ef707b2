"""A record's database columns and row codec, built from the fields it declares
(nsaudit.model.column): the database half of nsaudit/fields.py."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, Integer, String, Text

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


def _plan(record: type[Any]) -> tuple[tuple[Field, tuple[str, ...]], ...]:
    """Each declared field with its database columns (worked out once per type: rows are
    many)."""
    found = _PLANS.get(record)
    if found is None:
        found = _PLANS[record] = tuple((f, _names(f)) for f in declared(record))
    return found


def learned(record: type[Any]) -> tuple[tuple[str, ...], ...]:
    """For each schema revision that added fields to the record ("added"), newest first: the
    columns a row stored before it lacks (those it added and every later one's)."""
    by_revision: dict[str, list[str]] = {}
    for f, names in _plan(record):
        if "added" in f.options:
            by_revision.setdefault(f.options["added"], []).extend(names)
    out: list[tuple[str, ...]] = []
    lacking: tuple[str, ...] = ()
    for revision in sorted(by_revision, reverse=True):
        lacking = (*by_revision[revision], *lacking)
        out.append(lacking)
    return tuple(out)


def columns(record: type[Any]) -> list[Column[Any]]:
    """The record's columns, as its table declares them."""
    out: list[Column[Any]] = []
    for f, names in _plan(record):
        if f.kind == "id":
            kind, dev, inode = names
            out += [
                Column(kind, String(8), nullable=False),
                Column(dev, BigInteger, nullable=False),
                Column(inode, BigInteger, nullable=False),
            ]
        elif f.kind == "count":
            out.append(Column(names[0], Integer, nullable=False))
        elif f.kind == "number":
            out.append(Column(names[0], BigInteger if f.options.get("big") else Integer))
        elif f.kind == "text":
            out.append(Column(names[0], Text))
        elif f.kind == "ref":
            out += [Column(c, BigInteger) for c in names]
        else:
            out.append(Column(names[0], Text, nullable=False))
    return out


def to_row(record: Any) -> dict[str, Any]:
    """The record as column values: text in the store's escaping (nsaudit/store/text.py),
    holders as compact JSON with the fields their kind has."""
    out: dict[str, Any] = {}
    for f, names in _plan(type(record)):
        value = getattr(record, f.name)
        if f.kind == "id":
            kind, dev, inode = names
            out[kind], out[dev], out[inode] = value.type.value, value.dev, value.inode
        elif f.kind == "text":
            out[names[0]] = to_db(value)
        elif f.kind == "ref":
            dev, inode = names
            out[dev], out[inode] = (value.dev, value.inode) if value else (None, None)
        elif f.kind == "holders":
            held = [{k: v for k, v in vars(h).items() if v is not None} for h in value]
            # ensure_ascii writes a lone surrogate as \udcXX, which json.loads gives back.
            out[names[0]] = json.dumps(held, sort_keys=True, separators=(",", ":"))
        else:
            out[names[0]] = value
    return out


def _holder(stored: dict[str, Any]) -> Holder:
    return Holder(HolderKind(stored.pop("kind")), **stored)


def from_row(record: type[R], row: Any) -> R:
    out: dict[str, Any] = {}
    for f, names in _plan(record):
        if f.kind == "id":
            kind, dev, inode = (getattr(row, c) for c in names)
            out[f.name] = NamespaceId(_TYPES[kind], dev, inode)
        elif f.kind == "text":
            out[f.name] = from_db(getattr(row, names[0]))
        elif f.kind == "ref":
            dev, inode = (getattr(row, c) for c in names)
            types = f.options["types"](out["id"].type)
            out[f.name] = NamespaceId(types[0], dev, inode) if dev is not None else None
        elif f.kind == "holders":
            text = getattr(row, names[0])
            out[f.name] = () if text == "[]" else tuple(_holder(h) for h in json.loads(text))
        else:
            out[f.name] = getattr(row, names[0])
    return record(**out)
