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
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import IO, Any, TypeVar

from nsaudit import __version__, fields
from nsaudit import jsonshape as js
from nsaudit.kernel import report
from nsaudit.model import (
    NS_TYPE_NAMES,
    HostInfo,
    Namespace,
    ScanProblem,
    Snapshot,
)

SCHEMA = "nsaudit.bundle/1"
# A 100,000-namespace snapshot takes 33 MiB as this host's namespaces look, 70 MiB with a
# 256-character command line and two holders each (see `nsaudit import` in the README).
MAX_LINE = 128 * 1024 * 1024
# A snapshot every 5 minutes for 95 years: a stream that never ends stops here.
MAX_SNAPSHOTS = 10_000_000
MAX_NAMESPACES = 2_000_000
_HEAD = 64 * 1024
_T = TypeVar("_T")


class BundleError(Exception):
    """What is wrong with a bundle, naming the line (and the field)."""


def write(snapshots: Iterable[Snapshot], out: IO[str]) -> int:
    """Stream snapshots into `out`, one line each; the number written."""
    out.write(json.dumps({"schema": SCHEMA, "nsaudit_version": __version__}) + "\n")
    count = 0
    for snap in snapshots:
        record = fields.snapshot_payload(snap, snap.namespaces)
        record["capabilities"] = snap.capabilities.document if snap.capabilities else None
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
        name = js.shown(snap.host.hostname)
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
        raise BundleError(f"line {number}: expected a JSON object, got {js.shown(value)}")
    return value


def _run(number: int, check: Callable[..., _T], *args: Any) -> _T:
    try:
        return check(*args)
    except js.Invalid as e:
        raise BundleError(f"line {number}: {e}") from None


# The records.


def _header(d: dict[str, Any]) -> None:
    if d.get("schema") != SCHEMA:
        raise js.Invalid(
            "schema",
            f"{SCHEMA} (export it again with this nsaudit's version)",
            js.shown(d.get("schema")),
        )
    js.obj(d, "", ("schema", "nsaudit_version"), what="header")
    js.string(d["nsaudit_version"], "nsaudit_version")


def _trailer(d: dict[str, Any], count: int) -> None:
    js.obj(d, "", ("end", "snapshots"), what="trailer")
    js.choice(d["end"], "end", (SCHEMA,))
    snapshots = js.integer(d["snapshots"], "snapshots")
    if snapshots != count:
        raise js.Invalid(
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


def _once(
    items: Iterable[_T],
    path: str,
    key: Callable[[_T], Hashable],
    expected: str,
    name: Callable[[_T], str],
) -> Iterator[_T]:
    """The items of the list at `path` as they come, each key once: a second is an error that
    names the first."""
    first: dict[Hashable, int] = {}
    for n, item in enumerate(items):
        k = key(item)
        if k in first:
            raise js.Invalid(js.at(path, n), expected, None,
                             f"{name(item)} again ({path}[{first[k]}])")  # fmt: skip
        first[k] = n
        yield item


def _snapshot(d: dict[str, Any]) -> Snapshot:
    # containers: since schema revision 0005; an older bundle's snapshots have none recorded.
    js.obj(d, "", _SNAPSHOT_KEYS, optional=("containers",), what="snapshot record")
    js.choice(d["schema"], "schema", (fields.SNAPSHOT_SCHEMA,))
    h = js.obj(d["host"], "host", ("hostname", "machine_id", "boot_id", "kernel"), what="host")
    host = HostInfo(
        js.string(h["hostname"], "host.hostname", empty=False),
        js.text(h["machine_id"], "host.machine_id", null=True),
        js.text(h["boot_id"], "host.boot_id", null=True),
        js.text(h["kernel"], "host.kernel", null=True),
    )
    problems = tuple(
        _problem(p, js.at("problems", n))
        for n, p in enumerate(js.items(d["problems"], "problems", "problem objects"))
    )
    raw = js.items(d["namespaces"], "namespaces", "namespace objects", MAX_NAMESPACES)
    namespaces = tuple(
        _once(
            js.each(
                raw, "namespaces", lambda i, at: fields.from_payload(Namespace, i, at, "namespace")
            ),
            "namespaces",
            lambda ns: ns.id,
            "each namespace (type, dev, inode) once in a snapshot",
            lambda ns: f"{ns.id.type.value} namespace {ns.id.dev}:{ns.id.inode}",
        )
    )
    containers = None
    if d.get("containers") is not None:
        containers = tuple(
            _once(
                fields.containers_from_payload(d["containers"], "containers"),
                "containers",
                lambda c: c.key,
                "each container (runtime, id) once in a snapshot",
                lambda c: f"{c.runtime} container {js.shown(c.id)}",
            )
        )
    snap = Snapshot(
        host=host,
        taken_at=js.timestamp(d["taken_at"], "taken_at"),
        nsaudit_version=js.string(d["nsaudit_version"], "nsaudit_version"),
        label=js.text(d["label"], "label", null=True),
        duration_ms=js.integer(d["duration_ms"], "duration_ms"),
        threads=bool(js.flag(d["threads"], "threads")),
        namespaces=namespaces,
        problems=problems,
        capabilities=None if d["capabilities"] is None else report.decode(d["capabilities"]),
        containers=containers,
        seq=js.integer(d["seq"], "seq", low=1),
    )
    # partial and counts are derived: they must say what the data says.
    if js.flag(d["partial"], "partial") != snap.partial:
        raise js.Invalid("partial", f"{str(snap.partial).lower()}, as the problems say", None)
    ids = {c.id for c in containers or ()}
    for n, ns in enumerate(namespaces):
        at = js.at("namespaces", n)
        named = [(js.at(at, "container"), ns.container)]
        named += [
            (js.at(js.at(js.at(at, "holders"), k), "container"), h.container)
            for k, h in enumerate(ns.holders)
        ]
        for where, container in named:
            if container is not None and container not in ids:
                raise js.Invalid(where, "the id of one of the snapshot's containers", container)
    counts = js.obj(d["counts"], "counts", NS_TYPE_NAMES)
    for t, number in snap.counts().items():
        if js.integer(counts[t], js.at("counts", t)) != number:
            raise js.Invalid(
                js.at("counts", t), f"{number}, the number of {t} namespaces", str(counts[t])
            )
    return snap


def _problem(value: object, path: str) -> ScanProblem:
    p = js.obj(value, path, ("pid", "path", "errno"), what="problem")
    return ScanProblem(
        js.whole(p["pid"], js.at(path, "pid"), null=True),
        js.string(p["path"], js.at(path, "path")),
        js.string(p["errno"], js.at(path, "errno"), empty=False),
    )
