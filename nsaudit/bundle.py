"""Bundles: snapshots with their host records, and the watcher runs that go with them, as JSON
Lines (schema nsaudit.bundle/1).

Line 1 is a header, then one snapshot a line, then each watcher run (a `watch_run` line
followed by its `ns_event` and `task_exit` lines), then a trailer that counts them, so that a
truncated file is told from a short one. Reading checks every field against the documented
schema (the nsaudit.snapshot/1 object without id, its capabilities an nsaudit.detect/1 report
or null) and builds Snapshots; nothing is written anywhere here. Each mistake is reported as
`line N: FIELD.PATH: expected WHAT, got VALUE`.

Unknown keys: a version only gains keys, so an unknown key means a newer nsaudit wrote the
bundle (or someone edited it). In the records nsaudit stores field by field (header, snapshot,
host, namespace, holder, problem, watch run, event, exit, trailer) it is refused, since
importing would silently drop it. Inside `capabilities`, which is stored whole as it was
written, it is kept.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import IO, Any, NamedTuple, TypeVar

from nsaudit import __version__, fields
from nsaudit import jsonshape as js
from nsaudit.kernel import report
from nsaudit.model import (
    EVENT_KINDS,
    MECHANISMS,
    NS_TYPE_NAMES,
    CarriedEvent,
    CarriedExit,
    CarriedRun,
    HostInfo,
    Namespace,
    NamespaceEvent,
    ScanProblem,
    Snapshot,
    WatchRun,
)

SCHEMA = "nsaudit.bundle/1"
# A 100,000-namespace snapshot takes 33 MiB as this host's namespaces look, 70 MiB with a
# 256-character command line and two holders each (see `nsaudit import` in the README).
MAX_LINE = 128 * 1024 * 1024
# A snapshot every 5 minutes for 95 years: a stream that never ends stops here.
MAX_SNAPSHOTS = 10_000_000
MAX_NAMESPACES = 2_000_000
# Events and exits in one bundle: 2,000 a second for 14 hours.
MAX_WATCH_ROWS = 100_000_000
_HEAD = 64 * 1024
_T = TypeVar("_T")
_UUID = re.compile(r"[0-9a-f]{32}")

Record = Snapshot | CarriedRun | CarriedEvent | CarriedExit
Watched = Iterable[tuple[CarriedRun, Iterable[CarriedEvent | CarriedExit]]]


class Totals(NamedTuple):
    """How many records of each kind a bundle holds, as its trailer counts them."""

    snapshots: int = 0
    watch_runs: int = 0
    ns_events: int = 0
    task_exits: int = 0


class BundleError(Exception):
    """What is wrong with a bundle, naming the line (and the field)."""


def write(snapshots: Iterable[Snapshot], watched: Watched, out: IO[str]) -> Totals:
    """Stream snapshots, then each watcher run with its events and exits, into `out`, one
    line each; how many of each were written."""
    out.write(json.dumps({"schema": SCHEMA, "nsaudit_version": __version__}) + "\n")
    count = Totals()
    for snap in snapshots:
        record = fields.snapshot_payload(snap, snap.namespaces)
        record["capabilities"] = snap.capabilities.document if snap.capabilities else None
        del record["id"]
        _put(out, record)
        count = count._replace(snapshots=count.snapshots + 1)
    for run, rows in watched:
        _put(out, {"watch_run": _run_payload(run)})
        count = count._replace(watch_runs=count.watch_runs + 1)
        for row in rows:
            if isinstance(row, CarriedEvent):
                _put(out, {"ns_event": {"run": row.run, "boot_ns": row.boot_ns,
                                        "event": fields.payload(row.event)}})  # fmt: skip
                count = count._replace(ns_events=count.ns_events + 1)
            else:
                _put(out, {"task_exit": {"run": row.run, "at": row.at, "boot_ns": row.boot_ns,
                                         "tid": row.tid}})  # fmt: skip
                count = count._replace(task_exits=count.task_exits + 1)
    # The watcher's counts only where it has runs: an nsaudit older than them reads the rest.
    trailer = count._asdict() if count.watch_runs else {"snapshots": count.snapshots}
    out.write(json.dumps({"end": SCHEMA, **trailer}) + "\n")
    return count


def _put(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n")


def _run_payload(carried: CarriedRun) -> dict[str, Any]:
    """The run as `nsaudit events` shows it, without its id here, with its host and boot."""
    payload = {k: v for k, v in dataclasses.asdict(carried.run).items() if k != "id"}
    host = {"hostname": carried.host.hostname, "machine_id": carried.host.machine_id}
    return {**payload, "host": host, "boot_id": carried.boot_id}


def records(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    """A bundle's records (snapshots, watcher runs, their events and exits) one at a time,
    with their line numbers; BundleError for the first thing wrong with it, the last of them
    after the last record (a missing or wrong trailer: a truncated bundle).

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
    return _records(stream)


def _records(stream: IO[bytes]) -> Iterator[tuple[int, Record]]:
    # No iterator of lines: it would hold the last line while its record is stored.
    runs = _Runs()
    number = 1
    while (line := _line(stream, number + 1)) is not None:
        number += 1
        record = _json((number, line))
        del line
        if "end" in record:
            _run(number, _trailer, record, runs.totals)
            if _line(stream, number + 1) is not None:
                raise BundleError(f"line {number + 1}: data after the trailer")
            return
        runs.room(number, "ns_event" in record or "task_exit" in record)
        found = _run(number, runs.read, record)
        del record  # the parsed JSON is dropped before the record is stored
        yield number, found
        del found  # nor is a stored snapshot kept while the next line is read
    raise BundleError("the bundle is truncated: it has no trailer line")


class _Runs:
    """Reads each line of a bundle as its record, counting them: a watcher run once, before
    its events and exits, which are at most as many as the run counted."""

    def __init__(self) -> None:
        self.totals = Totals()
        self._runs: dict[str, tuple[WatchRun, int, int]] = {}  # uuid: run, events, exits

    def room(self, number: int, row: bool) -> None:
        """BundleError unless the bundle may hold one more snapshot (or event or exit)."""
        t = self.totals
        if row and t.ns_events + t.task_exits == MAX_WATCH_ROWS:
            what = f"{MAX_WATCH_ROWS} events and exits"
        elif not row and t.snapshots == MAX_SNAPSHOTS:
            what = f"{MAX_SNAPSHOTS} snapshots"
        else:
            return
        raise BundleError(
            f"line {number}: more than {what} in one bundle (a stream that never ends?): split "
            "it into several bundles"
        )

    def read(self, d: dict[str, Any]) -> Record:
        t = self.totals
        if "watch_run" in d:
            carried = _watch_run(d)
            uuid = carried.run.uuid
            if uuid in self._runs:
                raise js.Invalid("watch_run.uuid", "each run once in a bundle", uuid)
            self._runs[uuid] = (carried.run, 0, 0)
            self.totals = t._replace(watch_runs=t.watch_runs + 1)
            return carried
        if "ns_event" in d or "task_exit" in d:
            row = _ns_event(d) if "ns_event" in d else _task_exit(d)
            self._count(row)
            return row
        snap = _snapshot(d)
        self.totals = t._replace(snapshots=t.snapshots + 1)
        return snap

    def _count(self, row: CarriedEvent | CarriedExit) -> None:
        key = "ns_event" if isinstance(row, CarriedEvent) else "task_exit"
        if row.run not in self._runs:
            raise js.Invalid(
                js.at(key, "run"), "the uuid of a watch_run given before it in the bundle",
                js.shown(row.run),
            )  # fmt: skip
        run, events, exits = self._runs[row.run]
        t = self.totals
        if isinstance(row, CarriedEvent):
            if row.event.mechanism != run.mechanism:
                raise js.Invalid(
                    "ns_event.event.mechanism", f"{run.mechanism}, its run's",
                    js.shown(row.event.mechanism),
                )  # fmt: skip
            events += 1
            self.totals = t._replace(ns_events=t.ns_events + 1)
        else:
            exits += 1
            self.totals = t._replace(task_exits=t.task_exits + 1)
        if max(events, exits) > run.events:
            raise js.Invalid(
                key, f"at most {run.events} of them, as many as run {run.uuid} counted "
                "events", None, "more"
            )  # fmt: skip
        self._runs[row.run] = (run, events, exits)


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


def _trailer(d: dict[str, Any], totals: Totals) -> None:
    # The watcher's counts: since nsaudit carried runs; an older bundle has none.
    js.obj(d, "", ("end", "snapshots"), optional=Totals._fields, what="trailer")
    js.choice(d["end"], "end", (SCHEMA,))
    for key, count in totals._asdict().items():
        said = js.integer(d.get(key, 0), key)
        if said != count:
            raise js.Invalid(
                key,
                f"{count}, the number of {key.replace('_', ' ')} the bundle holds (is it "
                "truncated?)",
                str(said),
            )


def _uuid(value: object, path: str) -> str:
    found = js.string(value, path)
    if not _UUID.fullmatch(found):
        raise js.Invalid(path, "32 lower-case hexadecimal digits", js.shown(value))
    return found


def _watch_run(d: dict[str, Any]) -> CarriedRun:
    js.obj(d, "", ("watch_run",), what="watch run line")
    r = js.obj(d["watch_run"], "watch_run", _RUN_KEYS, what="watch run")
    h = js.obj(r["host"], "watch_run.host", ("hostname", "machine_id"), what="run's host")
    run = WatchRun(
        id=0,  # the exporting database's: not in the bundle
        uuid=_uuid(r["uuid"], "watch_run.uuid"),
        mechanism=js.one(r["mechanism"], "watch_run.mechanism", MECHANISMS),
        started_at=js.timestamp(r["started_at"], "watch_run.started_at"),
        seen_at=js.timestamp(r["seen_at"], "watch_run.seen_at"),
        ended_at=None
        if r["ended_at"] is None
        else js.timestamp(r["ended_at"], "watch_run.ended_at"),
        events=js.integer(r["events"], "watch_run.events"),
        lost=js.integer(r["lost"], "watch_run.lost"),
        blind=js.string(r["blind"], "watch_run.blind"),
    )
    for key in ("seen_at", "ended_at"):
        at = getattr(run, key)
        if at is not None and at < run.started_at:
            raise js.Invalid(js.at("watch_run", key), "a time after started_at", js.shown(at))
    host = HostInfo(
        js.string(h["hostname"], "watch_run.host.hostname", empty=False),
        js.text(h["machine_id"], "watch_run.host.machine_id", null=True) or None,
        None,
        None,
    )
    return CarriedRun(host, js.text(r["boot_id"], "watch_run.boot_id", null=True), run)


# As _run_payload writes them.
_RUN_KEYS = (*(f.name for f in dataclasses.fields(WatchRun) if f.name != "id"), "host", "boot_id")


def _ns_event(d: dict[str, Any]) -> CarriedEvent:
    js.obj(d, "", ("ns_event",), what="event line")
    e = js.obj(d["ns_event"], "ns_event", ("run", "boot_ns", "event"), what="event")
    event = fields.from_payload(NamespaceEvent, e["event"], "ns_event.event", "namespace event")
    # What the store keys and orders events by: a kind, a time as nsaudit writes times, a tid.
    js.choice(event.event, "ns_event.event.event", EVENT_KINDS)
    if event.tid is not None:
        _tid(event.tid, "ns_event.event.tid")
    at = js.timestamp(event.at, "ns_event.event.at")
    return CarriedEvent(
        _uuid(e["run"], "ns_event.run"),
        js.integer(e["boot_ns"], "ns_event.boot_ns"),
        dataclasses.replace(event, at=at),
    )


def _task_exit(d: dict[str, Any]) -> CarriedExit:
    js.obj(d, "", ("task_exit",), what="exit line")
    e = js.obj(d["task_exit"], "task_exit", ("run", "at", "boot_ns", "tid"), what="exit")
    return CarriedExit(
        _uuid(e["run"], "task_exit.run"),
        js.timestamp(e["at"], "task_exit.at"),
        js.integer(e["boot_ns"], "task_exit.boot_ns"),
        _tid(e["tid"], "task_exit.tid"),
    )


def _tid(value: object, path: str) -> int:
    """A thread id: the kernel's are below 2^22 (PID_MAX_LIMIT); the store keeps 32 bits."""
    tid = js.integer(value, path)
    if tid > 2**31 - 1:
        raise js.Invalid(path, "a thread id from 0 to 2^31-1", str(tid))
    return tid


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
