"""What `nsaudit watch` stores: its runs and the namespace events they saw; and what they tell
of a stretch of time (the events in it with how long their tasks lived, and where no run
watched)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace

from nsaudit import fields
from nsaudit import jsonshape as js
from nsaudit.errors import DatabaseError
from nsaudit.model import HostInfo, NamespaceEvent, Unwatched, Watched, WatchRun, WatchTotals
from nsaudit.store.snapshots import host_row, record_body
from nsaudit.store.sql import Sql, placeholders

_EVENT_COLUMNS = ("host_id", "run_id", "at", "boot_ns", "kind", "tid", "body")


def begin_run(sql: Sql, host: HostInfo, mechanism: str, blind: str, at: str) -> tuple[int, int]:
    """Record a run that begins: the host's id and the run's."""
    host_id = host_row(sql, host)
    run = sql.insert(
        "watch_runs",
        host_id=host_id,
        uuid=uuid.uuid4().hex,
        boot_id=host.boot_id,
        mechanism=mechanism,
        started_at=at,
        seen_at=at,
        ended_at=None,
        events=0,
        lost=0,
        blind=blind,
    )
    return host_id, run


def event_row(event: NamespaceEvent, boot_ns: int) -> tuple[str, int, str, int, str]:
    """An event's columns after host_id and run_id."""
    return (event.at, boot_ns, event.event, event.tid or 0, record_body(event))


def exit_row(at: str, boot_ns: int, tid: int) -> tuple[str, int, str, int, None]:
    return (at, boot_ns, "exit", tid, None)


def record(
    sql: Sql,
    host: int,
    run: int,
    rows: Sequence[tuple[object, ...]],
    seen_at: str,
    events: int,
    lost: int,
    ended: bool = False,
) -> None:
    """Store a batch of event and exit rows, and the run's totals so far; `ended`: it stops."""
    if rows:
        sql.insert_many("ns_events", _EVENT_COLUMNS, [(host, run, *r) for r in rows])
    sql.run(
        "UPDATE watch_runs SET seen_at = :seen, events = :events, lost = :lost, "
        "ended_at = :ended WHERE id = :run",
        seen=seen_at,
        events=events,
        lost=lost,
        ended=seen_at if ended else None,
        run=run,
    )


def events_between(sql: Sql, host: int, start: str | None, end: str | None) -> list[NamespaceEvent]:
    """The host's events from start up to end (ISO times; None: without bound), in time
    order, each with how long its task lived when its exit was stored."""
    where, params = _window("at", start, end)
    rows = sql.rows(
        f"SELECT id, run_id, boot_ns, tid, body FROM ns_events WHERE host_id = :host "
        f"AND kind <> 'exit'{where} ORDER BY at, id",
        host=host,
        **params,
    )
    exits = _exits(sql, {(r[1], r[3]) for r in rows})
    out = []
    for row_id, run, boot_ns, tid, body in rows:
        event = stored_event(body, row_id)
        ended = min((t for t in exits.get((run, tid), ()) if t >= boot_ns), default=None)
        if ended is not None:
            event = replace(event, lived_ms=(ended - boot_ns) // 1_000_000)
        out.append(event)
    return out


def _exits(sql: Sql, tasks: set[tuple[int, int]]) -> dict[tuple[int, int], list[int]]:
    """The exit times (boot_ns) stored for these (run, tid)."""
    found: dict[tuple[int, int], list[int]] = {}
    by_run: dict[int, list[int]] = {}
    for run, tid in tasks:
        by_run.setdefault(run, []).append(tid)
    for run, tids in by_run.items():
        for i in range(0, len(tids), 500):
            listed, params = placeholders("t", tids[i : i + 500])
            for tid, boot_ns in sql.rows(
                f"SELECT tid, boot_ns FROM ns_events WHERE run_id = :run AND kind = 'exit' "
                f"AND tid IN {listed}",
                run=run,
                **params,
            ):
                found.setdefault((run, tid), []).append(boot_ns)
    return found


def stored_event(body: str, row_id: int) -> NamespaceEvent:
    try:
        return fields.from_payload(NamespaceEvent, json.loads(body), "event", "a namespace event")
    except (ValueError, js.Invalid) as e:
        raise DatabaseError(
            f"namespace event {row_id} is damaged ({e}); `nsaudit db check` lists what else is"
        ) from None


def _window(column: str, start: str | None, end: str | None) -> tuple[str, dict[str, str]]:
    where, params = "", {}
    if start is not None:
        where += f" AND {column} >= :start"
        params["start"] = start
    if end is not None:
        where += f" AND {column} < :end"
        params["end"] = end
    return where, params


def runs_between(sql: Sql, host: int, start: str | None, end: str | None) -> list[WatchRun]:
    """The host's watcher runs that overlap start..end, oldest first."""
    params: dict[str, str] = {}
    where = ""
    if end is not None:
        where += " AND started_at < :end"
        params["end"] = end
    if start is not None:
        where += " AND COALESCE(ended_at, seen_at) >= :start"
        params["start"] = start
    rows = sql.rows(
        "SELECT id, mechanism, started_at, seen_at, ended_at, events, lost, blind, uuid "
        "FROM watch_runs "
        f"WHERE host_id = :host{where} ORDER BY started_at, id",
        host=host,
        **params,
    )
    return [WatchRun(*r) for r in rows]


def unwatched(runs: Sequence[WatchRun], start: str, end: str) -> list[Unwatched]:
    """The stretches of start..end that no run covered (a run covers from its start to its
    end, or to when it was last seen alive)."""
    gaps = []
    at = start
    for r in sorted(runs, key=lambda r: r.started_at):
        if r.started_at > at:
            gaps.append(Unwatched(at, min(r.started_at, end)))
        at = max(at, r.ended_at or r.seen_at)
        if at >= end:
            break
    if at < end:
        gaps.append(Unwatched(at, end))
    return [g for g in gaps if g.start < g.end]


def between(sql: Sql, host: int, start: str | None, end: str) -> Watched | None:
    """What the watcher recorded of the host from start (None: its first run) to end; None
    when no watcher ever ran for the host (then nothing is known, nor claimed, of the time
    between its snapshots)."""
    if sql.value("SELECT 1 FROM watch_runs WHERE host_id = :host LIMIT 1", host=host) is None:
        return None
    runs = runs_between(sql, host, start, end)
    begin = start if start is not None else (runs[0].started_at if runs else end)
    found = events_between(sql, host, begin, end)
    return Watched(begin, end, tuple(found), tuple(runs), tuple(unwatched(runs, begin, end)))


def taken_at(sql: Sql, host: int, seq: int) -> str | None:
    """When the host's snapshot of this seq was taken; None when it was pruned."""
    found = sql.value(
        "SELECT taken_at FROM snapshots WHERE host_id = :host AND seq = :seq", host=host, seq=seq
    )
    return None if found is None else str(found)


def between_seqs(sql: Sql, host: int, first: int, last: int) -> Watched | None:
    """between() the host's snapshots of seq first and last (a policy check's period). When
    the first was pruned, from the host's oldest snapshot, saying that what came before is
    gone."""
    end = taken_at(sql, host, last)
    assert end is not None  # the snapshot being checked
    start = taken_at(sql, host, first)
    if start is not None:
        return between(sql, host, start, end)
    oldest = str(sql.value("SELECT min(taken_at) FROM snapshots WHERE host_id = :host", host=host))
    found = between(sql, host, oldest, end)
    if found is None:
        return None
    gone = f"the period's first snapshot (seq {first}) was pruned, and with it what was "
    return replace(found, missing=(f"{gone}watched before {oldest}",))


def totals(sql: Sql, host: int) -> WatchTotals | None:
    """The host's watcher totals; None when no watcher ever ran for it."""
    row = sql.record(
        "SELECT sum(events) AS events, sum(lost) AS lost, max(seen_at) AS seen_at, "
        "count(*) AS runs FROM watch_runs WHERE host_id = :host",
        host=host,
    )
    if row is None or not row["runs"]:
        return None
    newest = sql.value(
        "SELECT ended_at IS NULL FROM watch_runs WHERE host_id = :host "
        "ORDER BY started_at DESC, id DESC LIMIT 1",
        host=host,
    )
    return WatchTotals(int(row["events"]), int(row["lost"]), row["seen_at"], bool(newest))
