"""Bundles: snapshots with their host records as JSON Lines (schema nsaudit.bundle/1).

Line 1 is a header, then one snapshot a line, then a trailer that counts them, so that a
truncated file is told from a short one. Reading checks every field against the documented
schema (the nsaudit.snapshot/1 object without id, its capabilities an nsaudit.detect/1 report
or null) and builds Snapshots; nothing is written anywhere here. Each mistake is reported as
`line N: FIELD.PATH: expected WHAT, got VALUE`.

Unknown keys: a version only gains keys, so an unknown key means a newer nsaudit wrote the
bundle (or someone edited it). In the records nsaudit stores field by field (header, snapshot,
host, namespace, holder, problem, trailer) it is refused, since importing would silently drop
it. Inside `capabilities`, which is stored whole as it was written, it is kept.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

from nsaudit import __version__
from nsaudit.model import (
    Access,
    Holder,
    HostInfo,
    Namespace,
    NamespaceId,
    NsType,
    ScanProblem,
    Snapshot,
    Status,
)
from nsaudit.views.detect import SCHEMA as DETECT_SCHEMA
from nsaudit.views.snapshot import SNAPSHOT_SCHEMA, snapshot_payload

SCHEMA = "nsaudit.bundle/1"
# A 100,000-namespace snapshot takes 33 MiB as this host's namespaces look, 70 MiB with a
# 256-character command line and two holders each (see `nsaudit import` in the README).
MAX_LINE = 128 * 1024 * 1024
# A snapshot every 5 minutes for 95 years: a stream that never ends stops here.
MAX_SNAPSHOTS = 10_000_000
MAX_NAMESPACES = 2_000_000
MAX_TEXT = 64 * 1024
# The databases store signed 64-bit integers: a larger number could never be written.
MAX_INT = 2**63 - 1
_HEAD = 64 * 1024
MAX_DEPTH = 64  # nesting of values nsaudit keeps without knowing them (capabilities' new keys)
HOLDER_KINDS = ("fd", "mount", "for_children", "thread")
_TYPES = tuple(t.value for t in NsType)
_UNPRIVILEGED = ("yes", "no", "restricted", "unknown")
_VIA = ("direct", "user namespace")
_T = TypeVar("_T")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# Which holder kinds carry which fields (nsaudit.model.Holder).
_HOLDER_NEEDS = {"fd": ("pid", "fd"), "mount": ("path",), "for_children": ("pid",)}
_HOLDER_NEEDS["thread"] = ("pid",)


class BundleError(Exception):
    """What is wrong with a bundle, naming the line (and the field)."""


class _Invalid(Exception):
    """One field that does not fit the schema: where, what was expected, what was there."""

    def __init__(self, path: str, expected: str, got: str | None, problem: str = "") -> None:
        super().__init__(path, expected, got, problem)
        self.path, self.expected, self.got, self.problem = path, expected, got, problem

    def __str__(self) -> str:
        got = "" if self.got is None else f", got {self.got}"
        problem = f"{self.problem}; " if self.problem else ""
        return f"{self.path or 'the line'}: {problem}expected {self.expected}{got}"


def write(snapshots: Iterable[Snapshot], out: IO[str]) -> int:
    """Stream snapshots into `out`, one line each; the number written."""
    out.write(json.dumps({"schema": SCHEMA, "nsaudit_version": __version__}) + "\n")
    count = 0
    for snap in snapshots:
        record = snapshot_payload(snap, snap.namespaces)
        record["capabilities"] = snap.capabilities
        del record["id"]
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n")
        count += 1
    out.write(json.dumps({"end": SCHEMA, "snapshots": count}) + "\n")
    return count


def records(stream: IO[bytes]) -> Iterator[tuple[int, Snapshot]]:
    """A bundle's snapshots one at a time, with their line numbers; BundleError for the
    first thing wrong with it, the last of them after the last snapshot (a missing or wrong
    trailer: a truncated bundle).

    The header is read and checked at once, before the first record is asked for, so that a
    file that is no bundle is refused before anything is opened for writing. Lines are read
    one by one, each at most MAX_LINE bytes: a stream (a pipe, standard input) is read as it
    comes, and nothing of a record is kept once the next is read."""
    first = _line(stream, 1)
    if first is None:
        raise BundleError(
            "the bundle is empty (no header line): is the file truncated, or did its writer "
            "stop before writing?"
        )
    _run(1, _header, _json((1, first)))
    return _snapshots(stream)


def _snapshots(stream: IO[bytes]) -> Iterator[tuple[int, Snapshot]]:
    # No iterator of lines: it would hold the last line while its record is stored.
    count, number = 0, 1
    while (line := _line(stream, number + 1)) is not None:
        number += 1
        record = _json((number, line))
        del line
        if "end" in record:
            _run(number, _trailer, record, count)
            if _line(stream, number + 1) is not None:
                raise BundleError(f"line {number + 1}: data after the trailer")
            return
        if count == MAX_SNAPSHOTS:
            raise BundleError(
                f"line {number}: more than {MAX_SNAPSHOTS} snapshots in one bundle (a stream "
                "that never ends?): split it into several bundles"
            )
        snap = _run(number, _snapshot, record)
        del record  # the parsed JSON is dropped before the snapshot is stored
        count += 1
        yield number, snap
        del snap  # nor is a stored snapshot kept while the next line is read
    raise BundleError("the bundle is truncated: it has no trailer line")


class SeqOrder:
    """Each host's snapshots once each and in seq order, across every bundle of one import.

    Import stores each snapshot as it is read, and a host's snapshots can only be stored in
    seq order; remembering the last one of each host (not every one seen) also finds a
    snapshot given twice, in one bundle or in two, with memory per host, not per snapshot."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str | None], tuple[int, str, int]] = {}

    def check(self, snap: Snapshot, bundle: str, number: int, again: bool = False) -> None:
        """BundleError naming line `number` unless `snap` comes after its host's last one;
        `again`: the caller knows this snapshot was read (and stored) earlier in the import."""
        host = (snap.host.hostname, snap.host.machine_id)
        seq = snap.seq or 0
        last = self._last.get(host)
        self._last[host] = (seq, bundle, number)
        if last is None or seq > last[0]:
            return
        before, where, line = last
        there = f"line {line}" if where == bundle else f"bundle {where}, line {line}"
        name = _shown(snap.host.hostname)
        if seq == before:
            what = "duplicate snapshot" if where == bundle else "the same snapshot in two bundles:"
            raise BundleError(f"line {number}: {what} seq {seq} of host {name} ({there})")
        if again:
            raise BundleError(
                f"line {number}: snapshot seq {seq} of host {name} is given a second time "
                "(in this bundle or an earlier one): give each snapshot once"
            )
        raise BundleError(
            f"line {number}: snapshot seq {seq} of host {name} comes after its seq {before} "
            f"({there}): give each snapshot once, each host's in seq order (older bundles "
            "first)"
        )


def _line(stream: IO[bytes], number: int) -> str | None:
    """Line `number` (the next one), None at the end of the stream."""
    raw = stream.readline(_HEAD)
    if not raw:
        return None
    if len(raw) == _HEAD and not raw.endswith(b"\n"):
        # A long line: see that it starts like a record before reading up to MAX_LINE of
        # it (a sparse or binary file is refused at once, not after MAX_LINE bytes).
        if raw.lstrip(b" \t\r")[:1] != b"{":
            raise BundleError(
                f"line {number}: not a JSON object (its first bytes are "
                f"{raw[:8].hex(' ')}): is this a bundle?"
            )
        raw += stream.readline(MAX_LINE + 1 - len(raw))
    if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
        raise BundleError(f"line {number}: longer than {MAX_LINE} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(
            f"line {number}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})"
        ) from None


def _json(item: tuple[int, str]) -> dict[str, Any]:
    number, line = item
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        raise BundleError(f"line {number}: not JSON ({e.msg}): is the file truncated?") from None
    except ValueError:  # an integer of more digits than Python converts
        raise BundleError(
            f"line {number}: a number of more than {sys.get_int_max_str_digits()} digits"
        ) from None
    except RecursionError:
        raise BundleError(
            f"line {number}: nested too deeply to be a bundle line (nsaudit's records nest "
            f"a few levels)"
        ) from None
    if not isinstance(value, dict):
        raise BundleError(f"line {number}: expected a JSON object, got {_shown(value)}")
    return value


def _run(number: int, check: Callable[..., _T], *args: Any) -> _T:
    try:
        return check(*args)
    except _Invalid as e:
        raise BundleError(f"line {number}: {e}") from None


# The shape checks: each takes the value and its path in the record, returns it typed.


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    shown = key if _PLAIN_KEY.match(key) else f"[{_shown(key)}]"
    return f"{path}.{shown}" if path and not shown.startswith("[") else f"{path}{shown}"


def _shown(value: object) -> str:
    """A value as an error names it: short, and escaped (bundles are untrusted text)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return json.dumps(value[:40]) + ("..." if len(value) > 40 else "")
    return json.dumps(value)[:40]


def _obj(
    value: object,
    path: str,
    keys: tuple[str, ...],
    optional: tuple[str, ...] = (),
    open_keys: bool = False,
    what: str = "such object",
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(path, "an object", _shown(value))
    for key in keys:
        if key not in value:
            raise _Invalid(_at(path, key), f"it in every {what}", None, "missing")
    if not open_keys:
        for key in value:
            if key not in keys and key not in optional:
                raise _Invalid(
                    _at(path, key),
                    f"only the keys this nsaudit ({__version__}) knows, since it would drop "
                    "this one: import with the nsaudit that wrote the bundle, or a newer one",
                    None,
                    "unknown key",
                )
    return value


def _text(value: object, path: str, null: bool = False, empty: bool = True) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str) or (not empty and not value):
        what = "a string" if empty else "a non-empty string"
        raise _Invalid(path, what + (" or null" if null else ""), _shown(value))
    if len(value) > MAX_TEXT:
        raise _Invalid(path, f"at most {MAX_TEXT} characters", f"{len(value)}")
    if "\0" in value:
        raise _Invalid(path, "text without NUL characters (no host records one)", _shown(value))
    return value


def _str(value: object, path: str, empty: bool = True) -> str:
    text = _text(value, path, empty=empty)
    assert text is not None
    return text


def _whole(value: object, path: str, null: bool = False, low: int = 0) -> int | None:
    if value is None and null:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_INT:
        range_ = f"a whole number from {low} to 2^63-1" + (" or null" if null else "")
        raise _Invalid(path, range_, _shown(value))
    return value


def _int(value: object, path: str, low: int = 0) -> int:
    number = _whole(value, path, low=low)
    assert number is not None
    return number


def _flag(value: object, path: str, null: bool = False) -> bool | None:
    if value is None and null:
        return None
    if not isinstance(value, bool):
        raise _Invalid(path, "true or false" + (" or null" if null else ""), _shown(value))
    return value


def _choice(value: object, path: str, choices: tuple[str, ...], null: bool = False) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(choices) + (" or null" if null else "")
        raise _Invalid(path, f"one of {listed}", _shown(value))
    return value


def _one(value: object, path: str, choices: tuple[str, ...]) -> str:
    word = _choice(value, path, choices)
    assert word is not None
    return word


def _list(value: object, path: str, what: str, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(path, f"a list of {what}", _shown(value))
    if limit is not None and len(value) > limit:
        raise _Invalid(path, f"at most {limit} {what}", f"{len(value)}")
    return value


def _timestamp(value: object, path: str) -> str:
    """ISO 8601 with a time zone, written as nsaudit writes times (in UTC, `T` between date
    and time) so that times compare as text in the database."""
    text = _str(value, path)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or when.utcoffset() is None:
        raise _Invalid(
            path, "an ISO 8601 time with a time zone (2026-11-29T04:28:16+00:00)", _shown(value)
        )
    try:
        return when.astimezone(UTC).isoformat()
    except OverflowError:
        raise _Invalid(path, "a time between the years 1 and 9999 in UTC", _shown(value)) from None


def _each_once(items: list[dict[str, Any]], path: str, key: str, choices: tuple[str, ...]) -> None:
    found = [item[key] for item in items]
    for n, name in enumerate(found):
        if name in found[:n]:
            raise _Invalid(
                _at(_at(path, n), key),
                f"each of {', '.join(choices)} once",
                f"{_shown(name)} a second time",
            )
    missing = [c for c in choices if c not in found]
    if missing:
        raise _Invalid(path, f"each of {', '.join(choices)} once", f"no {', '.join(missing)}")


def _depth_ok(value: object, path: str) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Invalid(path, f"at most {MAX_DEPTH} levels of nesting", "more")
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]


# The records.


def _header(d: dict[str, Any]) -> None:
    if d.get("schema") != SCHEMA:
        raise _Invalid(
            "schema",
            f"{SCHEMA} (export it again with this nsaudit's version)",
            _shown(d.get("schema")),
        )
    _obj(d, "", ("schema", "nsaudit_version"), what="header")
    _str(d["nsaudit_version"], "nsaudit_version")


def _trailer(d: dict[str, Any], count: int) -> None:
    _obj(d, "", ("end", "snapshots"), what="trailer")
    _choice(d["end"], "end", (SCHEMA,))
    snapshots = _int(d["snapshots"], "snapshots")
    if snapshots != count:
        raise _Invalid(
            "snapshots",
            f"{count}, the number of snapshots the bundle holds (is it truncated?)",
            str(snapshots),
        )


_SNAPSHOT_KEYS = (
    "schema",
    "seq",
    "taken_at",
    "host",
    "nsaudit_version",
    "label",
    "duration_ms",
    "threads",
    "partial",
    "counts",
    "problems",
    "namespaces",
    "capabilities",
)
_NAMESPACE_KEYS = (
    "type",
    "dev",
    "inode",
    "ns_id",
    "nprocs",
    "pid",
    "pid_start",
    "ppid",
    "command",
    "cmdline",
    "uid",
    "user",
    "parent",
    "owner",
    "owner_uid",
    "holders",
)


def _snapshot(d: dict[str, Any]) -> Snapshot:
    _obj(d, "", _SNAPSHOT_KEYS, what="snapshot record")
    _choice(d["schema"], "schema", (SNAPSHOT_SCHEMA,))
    h = _obj(d["host"], "host", ("hostname", "machine_id", "boot_id", "kernel"), what="host")
    host = HostInfo(
        _str(h["hostname"], "host.hostname", empty=False),
        _text(h["machine_id"], "host.machine_id", null=True),
        _text(h["boot_id"], "host.boot_id", null=True),
        _text(h["kernel"], "host.kernel", null=True),
    )
    problems = tuple(
        _problem(p, _at("problems", n))
        for n, p in enumerate(_list(d["problems"], "problems", "problem objects"))
    )
    raw = _list(d["namespaces"], "namespaces", "namespace objects", MAX_NAMESPACES)
    namespaces = []
    seen: dict[NamespaceId, int] = {}
    for n, item in enumerate(raw):
        ns = _namespace(item, _at("namespaces", n))
        if ns.id in seen:
            raise _Invalid(
                _at("namespaces", n),
                "each namespace (type, dev, inode) once in a snapshot",
                None,
                f"{ns.id.type.value} namespace {ns.id.dev}:{ns.id.inode} again "
                f"(namespaces[{seen[ns.id]}])",
            )
        seen[ns.id] = n
        namespaces.append(ns)
    snap = Snapshot(
        host=host,
        taken_at=_timestamp(d["taken_at"], "taken_at"),
        nsaudit_version=_str(d["nsaudit_version"], "nsaudit_version"),
        label=_text(d["label"], "label", null=True),
        duration_ms=_int(d["duration_ms"], "duration_ms"),
        threads=bool(_flag(d["threads"], "threads")),
        namespaces=tuple(namespaces),
        problems=problems,
        capabilities=_capabilities(d["capabilities"], "capabilities"),
        seq=_int(d["seq"], "seq", low=1),
    )
    # partial and counts are derived: they must say what the data says.
    if _flag(d["partial"], "partial") != snap.partial:
        raise _Invalid("partial", f"{str(snap.partial).lower()}, as the problems say", None)
    counts = _obj(d["counts"], "counts", _TYPES)
    for t, number in snap.counts().items():
        if _int(counts[t], _at("counts", t)) != number:
            raise _Invalid(
                _at("counts", t), f"{number}, the number of {t} namespaces", str(counts[t])
            )
    return snap


def _problem(value: object, path: str) -> ScanProblem:
    p = _obj(value, path, ("pid", "path", "errno"), what="problem")
    return ScanProblem(
        _whole(p["pid"], _at(path, "pid"), null=True),
        _str(p["path"], _at(path, "path")),
        _str(p["errno"], _at(path, "errno"), empty=False),
    )


def _ns_type(value: object, path: str) -> NsType:
    return NsType(_one(value, path, _TYPES))


def _ref(value: object, path: str, types: tuple[str, ...]) -> NamespaceId | None:
    if value is None:
        return None
    r = _obj(value, path, ("type", "dev", "inode"), what="namespace reference")
    return NamespaceId(
        NsType(_one(r["type"], _at(path, "type"), types)),
        _int(r["dev"], _at(path, "dev")),
        _int(r["inode"], _at(path, "inode")),
    )


def _namespace(value: object, path: str) -> Namespace:
    d = _obj(value, path, _NAMESPACE_KEYS, optional=("parent_command",), what="namespace")
    ns_type = _ns_type(d["type"], _at(path, "type"))
    # Only pid and user namespaces have parents, of their own type; every owner is a user one.
    parent_types = (ns_type.value,) if ns_type in (NsType.PID, NsType.USER) else ()
    if d["parent"] is not None and not parent_types:
        raise _Invalid(_at(path, "parent"), f"null for a {ns_type.value} namespace", "an object")

    def whole(key: str) -> int | None:
        return _whole(d[key], _at(path, key), null=True)

    def text(key: str) -> str | None:
        return _text(d[key], _at(path, key), null=True)

    holders = tuple(
        _holder(h, _at(_at(path, "holders"), n))
        for n, h in enumerate(_list(d["holders"], _at(path, "holders"), "holder objects"))
    )
    return Namespace(
        id=NamespaceId(
            ns_type, _int(d["dev"], _at(path, "dev")), _int(d["inode"], _at(path, "inode"))
        ),
        nprocs=_int(d["nprocs"], _at(path, "nprocs")),
        pid=whole("pid"),
        pid_start=whole("pid_start"),
        ppid=whole("ppid"),
        command=text("command"),
        cmdline=text("cmdline"),
        uid=whole("uid"),
        user=text("user"),
        ns_id=whole("ns_id"),
        parent=_ref(d["parent"], _at(path, "parent"), parent_types),
        owner=_ref(d["owner"], _at(path, "owner"), ("user",)),
        owner_uid=whole("owner_uid"),
        holders=holders,
        parent_command=_text(d.get("parent_command"), _at(path, "parent_command"), null=True),
    )


def _holder(value: object, path: str) -> Holder:
    h = _obj(value, path, ("kind", "pid", "fd", "path"), what="holder")
    kind = _one(h["kind"], _at(path, "kind"), HOLDER_KINDS)
    needs = _HOLDER_NEEDS[kind]
    pid = _whole(h["pid"], _at(path, "pid"), null="pid" not in needs)
    fd = _whole(h["fd"], _at(path, "fd"), null="fd" not in needs)
    where = _text(h["path"], _at(path, "path"), null="path" not in needs, empty=False)
    return Holder(kind, pid, fd, where)


# The capability report, nsaudit.detect/1 (README "JSON: nsaudit.detect/1"): every key the
# diff, policy, compare, report and metrics code reads is checked for its type and words.


def _capabilities(value: object, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    keys = (
        "schema",
        "nsaudit_version",
        "root",
        "kernel",
        "kconfig",
        "kconfig_tried",
        "types",
        "restrictions",
        "unprivileged_userns",
        "probes",
        "warnings",
    )
    c = _obj(value, path, keys, open_keys=True, what="nsaudit.detect/1 report")
    for key in c:
        if key not in keys:
            _depth_ok(c[key], _at(path, key))
    _choice(c["schema"], _at(path, "schema"), (DETECT_SCHEMA,))
    _str(c["nsaudit_version"], _at(path, "nsaudit_version"))
    _str(c["root"], _at(path, "root"))
    where = _at(path, "kernel")
    k = _open(c["kernel"], where, ("release", "source"))
    _text(k["release"], _at(where, "release"), null=True)
    _text(k["source"], _at(where, "source"), null=True)
    if c["kconfig"] is not None:
        where = _at(path, "kconfig")
        kc = _open(c["kconfig"], where, ("path", "compressed", "release", "matches_running"))
        _str(kc["path"], _at(where, "path"))
        _flag(kc["compressed"], _at(where, "compressed"))
        _text(kc["release"], _at(where, "release"), null=True)
        _flag(kc["matches_running"], _at(where, "matches_running"), null=True)
    for n, tried in enumerate(_list(c["kconfig_tried"], _at(path, "kconfig_tried"), "strings")):
        _str(tried, _at(_at(path, "kconfig_tried"), n))
    where = _at(path, "types")
    types = [_type(t, _at(where, n)) for n, t in enumerate(_list(c["types"], where, "objects"))]
    _each_once(types, where, "type", _TYPES)
    where = _at(path, "restrictions")
    names: set[str] = set()
    for n, r in enumerate(_list(c["restrictions"], where, "objects")):
        item = _at(where, n)
        r = _open(r, item, ("name", "path", "value", "meaning"))
        name = _str(r["name"], _at(item, "name"), empty=False)
        if name in names:
            raise _Invalid(_at(item, "name"), "each sysctl once", _shown(name))
        names.add(name)
        _str(r["path"], _at(item, "path"))
        _text(r["value"], _at(item, "value"), null=True)
        _str(r["meaning"], _at(item, "meaning"))
    access = tuple(a.value for a in Access)
    _verdict(c["unprivileged_userns"], _at(path, "unprivileged_userns"), access)
    where = _at(path, "probes")
    for n, p in enumerate(_list(c["probes"], where, "objects")):
        _probe(p, _at(where, n))
    for n, w in enumerate(_list(c["warnings"], _at(path, "warnings"), "strings")):
        _str(w, _at(_at(path, "warnings"), n))
    return c


def _open(value: object, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """An object of the capability report: its keys present, new keys kept (not deeply)."""
    d = _obj(value, path, keys, open_keys=True, what="such object of nsaudit.detect/1")
    for key in d:
        if key not in keys:
            _depth_ok(d[key], _at(path, key))
    return d


def _verdict(value: object, path: str, words: tuple[str, ...]) -> None:
    v = _open(value, path, ("value", "reason"))
    _choice(v["value"], _at(path, "value"), words)
    _str(v["reason"], _at(path, "reason"))


def _type(value: object, path: str) -> dict[str, Any]:
    keys = (
        "type",
        "status",
        "reason",
        "config",
        "present",
        "for_children",
        "limit",
        "introduced",
        "kernel_ok",
        "unprivileged",
    )
    t = _open(value, path, keys)
    _choice(t["type"], _at(path, "type"), _TYPES)
    _choice(t["status"], _at(path, "status"), tuple(s.value for s in Status))
    _str(t["reason"], _at(path, "reason"))
    where = _at(path, "config")
    for n, option in enumerate(_list(t["config"], where, "objects")):
        o = _open(option, _at(where, n), ("option", "value"))
        _str(o["option"], _at(_at(where, n), "option"), empty=False)
        _text(o["value"], _at(_at(where, n), "value"), null=True)
    _flag(t["present"], _at(path, "present"), null=True)
    _flag(t["for_children"], _at(path, "for_children"), null=True)
    _whole(t["limit"], _at(path, "limit"), null=True)
    _str(t["introduced"], _at(path, "introduced"))
    _flag(t["kernel_ok"], _at(path, "kernel_ok"), null=True)
    _verdict(t["unprivileged"], _at(path, "unprivileged"), _UNPRIVILEGED)
    return t


def _probe(value: object, path: str) -> None:
    p = _open(value, path, ("user", "uid", "results"))
    _str(p["user"], _at(path, "user"))
    _int(p["uid"], _at(path, "uid"))
    where = _at(path, "results")
    results = []
    for n, r in enumerate(_list(p["results"], where, "objects")):
        item = _at(where, n)
        r = _open(r, item, ("type", "usable", "via", "errno", "error"))
        _choice(r["type"], _at(item, "type"), _TYPES)
        _flag(r["usable"], _at(item, "usable"))
        _choice(r["via"], _at(item, "via"), _VIA, null=True)
        _text(r["errno"], _at(item, "errno"), null=True)
        _text(r["error"], _at(item, "error"), null=True)
        results.append(r)
    _each_once(results, where, "type", _TYPES)
