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


def _name(f: Field) -> str:
    name: str = f.options.get("db", f.name)
    return name


def _names(f: Field) -> tuple[str, ...]:
    """The database columns of one field."""
    if f.kind == "id":
        return ("ns_type", "dev", "inode")
    if f.kind == "ref":
        return (f"{_name(f)}_dev", f"{_name(f)}_inode")
    return (_name(f),)


def learned(record: type[Any]) -> tuple[tuple[str, ...], ...]:
    """For each schema revision that added fields to the record ("added"), newest first: the
    columns a row stored before it lacks (those it added and every later one's)."""
    by_revision: dict[str, list[str]] = {}
    for f in declared(record):
        if "added" in f.options:
            by_revision.setdefault(f.options["added"], []).extend(_names(f))
    out: list[tuple[str, ...]] = []
    lacking: tuple[str, ...] = ()
    for revision in sorted(by_revision, reverse=True):
        lacking = (*by_revision[revision], *lacking)
        out.append(lacking)
    return tuple(out)


def columns(record: type[Any]) -> list[Column[Any]]:
    """The record's columns, as its table declares them."""
    out: list[Column[Any]] = []
    for f in declared(record):
        name = _name(f)
        if f.kind == "id":
            out += [
                Column("ns_type", String(8), nullable=False),
                Column("dev", BigInteger, nullable=False),
                Column("inode", BigInteger, nullable=False),
            ]
        elif f.kind == "count":
            out.append(Column(name, Integer, nullable=False))
        elif f.kind == "number":
            out.append(Column(name, BigInteger if f.options.get("big") else Integer))
        elif f.kind == "text":
            out.append(Column(name, Text))
        elif f.kind == "ref":
            out += [Column(f"{name}_dev", BigInteger), Column(f"{name}_inode", BigInteger)]
        else:
            out.append(Column(name, Text, nullable=False))
    return out


def to_row(record: Any) -> dict[str, Any]:
    """The record as column values: text in the store's escaping (nsaudit/store/text.py),
    holders as compact JSON with the fields their kind has."""
    out: dict[str, Any] = {}
    for f in declared(type(record)):
        name, value = _name(f), getattr(record, f.name)
        if f.kind == "id":
            out.update(ns_type=value.type.value, dev=value.dev, inode=value.inode)
        elif f.kind == "text":
            out[name] = to_db(value)
        elif f.kind == "ref":
            out[f"{name}_dev"] = value.dev if value else None
            out[f"{name}_inode"] = value.inode if value else None
        elif f.kind == "holders":
            held = [{k: v for k, v in vars(h).items() if v is not None} for h in value]
            # ensure_ascii writes a lone surrogate as \udcXX, which json.loads gives back.
            out[name] = json.dumps(held, sort_keys=True, separators=(",", ":"))
        else:
            out[name] = value
    return out


def _holder(stored: dict[str, Any]) -> Holder:
    return Holder(HolderKind(stored.pop("kind")), **stored)


def from_row(record: type[R], row: Any) -> R:
    out: dict[str, Any] = {}
    for f in declared(record):
        name = _name(f)
        if f.kind == "id":
            out[f.name] = NamespaceId(_TYPES[row.ns_type], row.dev, row.inode)
        elif f.kind == "text":
            out[f.name] = from_db(getattr(row, name))
        elif f.kind == "ref":
            dev = getattr(row, f"{name}_dev")
            types = f.options["types"](out["id"].type)
            inode = getattr(row, f"{name}_inode")
            out[f.name] = NamespaceId(types[0], dev, inode) if dev is not None else None
        elif f.kind == "holders":
            text = getattr(row, name)
            out[f.name] = () if text == "[]" else tuple(_holder(h) for h in json.loads(text))
        else:
            out[f.name] = getattr(row, name)
    return record(**out)
