"""A record's JSON, CSV and terminal table, and its bundle decoder, built from the fields it
declares (nsaudit.model.column), as osquery builds a table from its spec and lsns its output
from one column table. The database half is nsaudit/store/rows.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from nsaudit import jsonshape as js
from nsaudit.model import (
    NS_TYPE_NAMES,
    Container,
    Holder,
    HolderKind,
    Namespace,
    NamespaceId,
    NsType,
    Snapshot,
)
from nsaudit.render.document import cell

R = TypeVar("R")
HOLDER_KINDS = tuple(k.value for k in HolderKind)
# Which holder kinds carry which fields (nsaudit.model.Holder).
_HOLDER_NEEDS = {"fd": ("pid", "fd"), "mount": ("path",), "for_children": ("pid",)}
_HOLDER_NEEDS["thread"] = ("pid",)


@dataclasses.dataclass(frozen=True)
class Field:
    """One declared field: its name, kind and options (see nsaudit.model.column)."""

    name: str
    kind: str
    options: dict[str, Any]

    def json_keys(self) -> tuple[str, ...]:
        """Its keys in JSON (and bundles): the id is three; "json" may name a nested key."""
        if self.kind == "id":
            return ("type", "dev", "inode")
        return (self.options.get("json", self.name),)

    def csv_names(self) -> tuple[str, ...]:
        if self.kind == "ref":
            return (f"{self.name}_inode",)
        if "csv" in self.options:
            return (self.options["csv"],)
        return self.json_keys()


_DECLARED: dict[type[Any], tuple[Field, ...]] = {}


def declared(record: type[Any]) -> tuple[Field, ...]:
    """The record's fields in their declared order (read once per type: records are many)."""
    found = _DECLARED.get(record)
    if found is None:
        found = tuple(
            Field(f.name, f.metadata["kind"], dict(f.metadata)) for f in dataclasses.fields(record)
        )
        _DECLARED[record] = found
    return found


def ref_payload(ref: NamespaceId | None) -> dict[str, Any] | None:
    return None if ref is None else {"type": ref.type.value, "dev": ref.dev, "inode": ref.inode}


def ref_text(ref: NamespaceId) -> str:
    """'net:[4026531840]', as /proc/<pid>/ns links name a namespace."""
    return f"{ref.type.value}:[{ref.inode}]"


def holder_payload(h: Holder) -> dict[str, Any]:
    return {"kind": h.kind, "pid": h.pid, "fd": h.fd, "path": h.path, "container": h.container}


# The encoders: a record to JSON, CSV and the terminal table.


def payload(record: Any) -> dict[str, Any]:
    """The record as JSON (the snapshot documents' and bundles' namespace objects)."""
    out: dict[str, Any] = {}
    for f in declared(type(record)):
        value = getattr(record, f.name)
        if f.kind == "id":
            out.update(ref_payload(value) or {})
        elif f.kind == "ref":
            out[f.name] = ref_payload(value)
        elif f.kind == "refs":
            out[f.name] = [ref_payload(r) for r in value]
        elif f.kind == "holders":
            out[f.name] = [holder_payload(h) for h in value]
        elif "json" not in f.options:
            out[f.name] = value
        else:
            *outer, key = f.options["json"].split(".")
            place = out
            for name in outer:
                place = place.setdefault(name, {})
            place[key] = value
    return out


def csv_columns(record: type[Any]) -> tuple[str, ...]:
    return tuple(name for f in declared(record) for name in f.csv_names())


def csv_cells(record: Any) -> tuple[str, ...]:
    """The record's CSV fields, in csv_columns' order."""
    out: list[object] = []
    for f in declared(type(record)):
        value = getattr(record, f.name)
        if f.kind == "id":
            out += [value.type.value, value.dev, value.inode]
        elif f.kind == "ref":
            out.append("" if value is None else str(value.inode))
        elif f.kind == "refs":
            out.append(" ".join(map(ref_text, value)))
        elif f.kind == "holders":
            out.append("; ".join(h.text for h in value))
        else:
            out.append(value)
    return tuple(map(cell, out))


def table_columns(record: type[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for f in declared(record):
        header = f.options.get("header")
        out += [header] if isinstance(header, str) else list(header or ())
    return tuple(out)


def table_cells(record: Any) -> tuple[str, ...]:
    """The record's terminal table row, in table_columns' order."""
    out: list[str] = []
    for f in declared(type(record)):
        if "header" not in f.options:
            continue
        value = getattr(record, f.name)
        shown: Callable[[Any], str] | None = f.options.get("cell")
        if shown is not None:
            out.append(shown(record))
        elif f.kind == "id":
            out += [str(value.inode), value.type.value]
        elif f.kind == "ref":
            out.append("" if value is None else str(value.inode))
        elif f.kind == "refs":
            out.append(" ".join(map(ref_text, value)))
        elif f.kind == "holders":
            out.append(", ".join(h.text for h in value))
        elif f.kind == "flag":
            out.append("" if value is None else "yes" if value else "no")
        else:
            out.append("" if value is None else str(value)[: f.options.get("width")])
    return tuple(out)


# The decoder: a bundle's JSON object, every field checked, to the record.


_KEYS: dict[type[Any], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _keys(record: type[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A record's payload keys: those it always has, and those of fields added later (worked
    out once per type: payloads are many)."""
    found = _KEYS.get(record)
    if found is None:
        fields = declared(record)
        found = _KEYS[record] = (
            tuple(k for f in fields if "added" not in f.options for k in f.json_keys()),
            tuple(k for f in fields if "added" in f.options for k in f.json_keys()),
        )
    return found


def from_payload(record: type[R], value: object, path: str, what: str) -> R:
    quick = _quick(record)
    if quick is not None:
        found = quick(value)
        if found is not None:
            return found  # type: ignore[no-any-return]
    fields = declared(record)
    keys, optional = _keys(record)
    d = js.obj(value, path, keys, optional=optional, what=what)
    out: dict[str, Any] = {}
    for f in fields:
        where = js.at(path, f.name)
        if f.kind == "id":
            out[f.name] = _namespace_id(d, path, NS_TYPE_NAMES)
        elif f.kind == "count":
            out[f.name] = js.integer(d[f.name], where)
        elif f.kind == "number":
            out[f.name] = js.whole(d.get(f.name), where, null=True)
        elif f.kind == "text":
            required = bool(f.options.get("required"))
            out[f.name] = js.text(d.get(f.name), where, null=not required, empty=not required)
        elif f.kind == "ref":
            own = out["id"].type
            out[f.name] = _ref(d[f.name], where, own, f.options["types"](own))
        elif f.kind == "refs":
            listed = js.items(d[f.name], where, "namespace references")
            out[f.name] = tuple(_any_ref(r, js.at(where, n)) for n, r in enumerate(listed))
        elif f.kind == "flag":
            out[f.name] = js.flag(d.get(f.name), where, null=bool(f.options.get("null")))
        else:
            listed = js.items(d[f.name], where, "holder objects")
            out[f.name] = tuple(_holder(h, js.at(where, n)) for n, h in enumerate(listed))
    return record(**out)


_QUICK: dict[type[Any], Callable[[object], Any] | None] = {}
_QUICK_KINDS = frozenset({"text", "number", "count", "refs"})


def _quick(record: type[Any]) -> Callable[[object], Any] | None:
    """A record's payload checked at once, as rows.decoder reads a row: one function written
    for its fields, which gives the record when every field is as from_payload would accept
    it, else None, and from_payload then goes the long way, which names what is wrong. For
    records whose fields are all text, numbers and reference lists (containers: a stored
    month has thousands); None for the others."""
    if record in _QUICK:
        return _QUICK[record]
    fields = declared(record)
    if not {f.kind for f in fields} <= _QUICK_KINDS:
        _QUICK[record] = None
        return None
    keys, optional = _keys(record)
    scope: dict[str, Any] = {
        "record": record,
        "REQUIRED": frozenset(keys),
        "KNOWN": frozenset(keys + optional),
        "MAX_TEXT": js.MAX_TEXT,
        "MAX_INT": js.MAX_INT,
        "refs": _quick_refs,
    }
    lines = [
        "    if type(d) is not dict or not REQUIRED <= d.keys() <= KNOWN:",
        "        return None",
    ]
    for n, f in enumerate(fields):
        v = f"v{n}"
        lines.append(f"    {v} = d.get({f.name!r})")
        if f.kind == "text":
            ok = f"type({v}) is str and len({v}) <= MAX_TEXT and '\\0' not in {v}"
            ok = f"{ok} and {v}" if f.options.get("required") else f"({v} is None or {ok})"
        elif f.kind == "refs":
            lines.append(f"    {v} = refs({v})")
            ok = f"{v} is not None"
        else:
            whole = f"type({v}) is int and 0 <= {v} <= MAX_INT"
            ok = whole if f.kind == "count" else f"({v} is None or {whole})"
        lines += [f"    if not ({ok}):", "        return None"]
    args = ", ".join(f"{f.name}=v{n}" for n, f in enumerate(fields))
    source = "def quick(d):\n" + "".join(f"{line}\n" for line in lines)
    source += f"    return record({args})\n"
    exec(source, scope)  # noqa: S102 - the source is built above from the record's fields
    _QUICK[record] = scope["quick"]
    return _QUICK[record]


def _quick_refs(value: object) -> tuple[NamespaceId, ...] | None:
    if type(value) is not list:
        return None
    out = []
    for r in value:
        found = _quick_ref(r)
        if found is None:
            return None
        out.append(found)
    return tuple(out)


def containers_from_payload(value: object, path: str) -> tuple[Container, ...]:
    """A snapshot's list of containers (bundles and the store keep it as payloads)."""
    listed = js.items(value, path, "container objects")
    return tuple(js.each(listed, path, lambda c, at: from_payload(Container, c, at, "container")))


def _ref(value: object, path: str, own: NsType, types: tuple[NsType, ...]) -> NamespaceId | None:
    if value is None:
        return None
    if not types:
        raise js.Invalid(path, f"null for a {own.value} namespace", "an object")
    r = js.obj(value, path, ("type", "dev", "inode"), what="namespace reference")
    return _namespace_id(r, path, tuple(t.value for t in types))


_NS_TYPES = {t.value: t for t in NsType}


def _any_ref(value: object, path: str) -> NamespaceId:
    # The common case, a reference as nsaudit writes it, checked at once (a container has
    # eight, a stored month thousands of containers); anything else, and every error, the
    # long way.
    found = _quick_ref(value)
    if found is not None:
        return found
    r = js.obj(value, path, ("type", "dev", "inode"), what="namespace reference")
    return _namespace_id(r, path, NS_TYPE_NAMES)


def _quick_ref(value: object) -> NamespaceId | None:
    """A reference as nsaudit writes it, or None."""
    if type(value) is dict and len(value) == 3:
        kind, dev, inode = value.get("type"), value.get("dev"), value.get("inode")
        if (
            type(kind) is str
            and kind in _NS_TYPES
            and type(dev) is int
            and type(inode) is int
            and 0 <= dev <= js.MAX_INT
            and 0 <= inode <= js.MAX_INT
        ):
            return NamespaceId(_NS_TYPES[kind], dev, inode)
    return None


def _namespace_id(d: dict[str, Any], path: str, types: tuple[str, ...]) -> NamespaceId:
    """The type, dev and inode keys of a namespace object or reference."""
    return NamespaceId(
        NsType(js.one(d["type"], js.at(path, "type"), types)),
        js.integer(d["dev"], js.at(path, "dev")),
        js.integer(d["inode"], js.at(path, "inode")),
    )


def _holder(value: object, path: str) -> Holder:
    # container: since schema revision 0005.
    h = js.obj(value, path, ("kind", "pid", "fd", "path"), optional=("container",), what="holder")
    kind = js.one(h["kind"], js.at(path, "kind"), HOLDER_KINDS)
    needs = _HOLDER_NEEDS[kind]
    pid = js.whole(h["pid"], js.at(path, "pid"), null="pid" not in needs)
    fd = js.whole(h["fd"], js.at(path, "fd"), null="fd" not in needs)
    where = js.text(h["path"], js.at(path, "path"), null="path" not in needs, empty=False)
    container = js.text(h.get("container"), js.at(path, "container"), null=True, empty=False)
    return Holder(HolderKind(kind), pid, fd, where, container)


SNAPSHOT_SCHEMA = "nsaudit.snapshot/1"


def snapshot_payload(snap: Snapshot, namespaces: tuple[Namespace, ...]) -> dict[str, Any]:
    """A snapshot's JSON (nsaudit.snapshot/1): `show --format json` prints it, a bundle line is
    it without id."""
    return snapshot_payload_of(snap, snap.counts(), [payload(ns) for ns in namespaces])


def snapshot_payload_of(
    snap: Snapshot, counts: dict[str, int], namespaces: list[Any]
) -> dict[str, Any]:
    """snapshot_payload() from its parts: the counts per type, and the namespaces' payloads
    (a list that may make them as it is read: render.document.Items)."""
    return {
        "schema": SNAPSHOT_SCHEMA,
        "id": snap.id,
        "seq": snap.seq,
        "taken_at": snap.taken_at,
        "host": {
            "hostname": snap.host.hostname,
            "machine_id": snap.host.machine_id,
            "boot_id": snap.host.boot_id,
            "kernel": snap.host.kernel,
        },
        "nsaudit_version": snap.nsaudit_version,
        "label": snap.label,
        "duration_ms": snap.duration_ms,
        "threads": snap.threads,
        "partial": snap.partial,
        "counts": counts,
        "problems": [{"pid": p.pid, "path": p.path, "errno": p.errno} for p in snap.problems],
        "namespaces": namespaces,
        "containers": None if snap.containers is None else [payload(c) for c in snap.containers],
    }
