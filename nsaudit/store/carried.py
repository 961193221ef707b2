"""Watcher runs carried by bundles: read whole (a run with every event and exit stored of it)
for `export`, and stored for `import`, so that importing the same run again, or a later
export of a run that was still running, adds only what is new."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nsaudit.errors import UsageError
from nsaudit.model import CarriedEvent, CarriedExit, CarriedRun, HostInfo
from nsaudit.store.events import event_row, exit_row, runs_between, stored_event
from nsaudit.store.snapshots import host_row
from nsaudit.store.sql import Sql

_CHUNK = 1000
_ROW_COLUMNS = ("host_id", "run_id", "at", "boot_ns", "kind", "tid", "body")


Span = tuple[str | None, str | None]


def spans(sql: Sql, snapshot_ids: Sequence[int]) -> dict[int, Span]:
    """For each host of these snapshots, the stretch whose runs go in a bundle with them: from
    the host's snapshot before its first one here (None: from its beginning) to its last one
    here."""
    out: dict[int, Span] = {}
    for i in snapshot_ids:
        host, seq, taken_at = sql.rows(
            "SELECT host_id, seq, taken_at FROM snapshots WHERE id = :id", id=i
        )[0]
        before = sql.value(
            "SELECT max(taken_at) FROM snapshots WHERE host_id = :host AND seq < :seq",
            host=host,
            seq=seq,
        )
        start, end = out.get(host, (before, taken_at))
        out[host] = (min(start, before) if start and before else None, max(end or "", taken_at))
    return out


def every_run(sql: Sql) -> dict[int, Span]:
    """Every host with a stored run, without bounds."""
    return {h: (None, None) for (h,) in sql.rows("SELECT DISTINCT host_id FROM watch_runs")}


def watched(
    sql: Sql, spans: dict[int, Span]
) -> Iterator[tuple[CarriedRun, Iterator[CarriedEvent | CarriedExit]]]:
    """Each host's runs that overlap its span, whole (every event and exit stored of them),
    so that a run's record in a bundle is as complete as here."""
    for host, (start, end) in sorted(spans.items()):
        for carried in runs(sql, host, start, end):
            yield carried, rows(sql, carried.run.id, carried.run.uuid)


def runs(sql: Sql, host: int, start: str | None, end: str | None) -> list[CarriedRun]:
    """The host's runs that overlap start..end (None: without bound), oldest first."""
    name, machine_id = sql.rows("SELECT hostname, machine_id FROM hosts WHERE id = :h", h=host)[0]
    boots = dict(sql.rows("SELECT id, boot_id FROM watch_runs WHERE host_id = :h", h=host))
    info = HostInfo(name, machine_id or None, None, None)
    return [CarriedRun(info, boots[r.id], r) for r in runs_between(sql, host, start, end)]


def rows(sql: Sql, run_id: int, uuid: str) -> Iterator[CarriedEvent | CarriedExit]:
    """Every event and exit stored of the run, in the order they were stored, a chunk of
    them in memory at a time."""
    last = 0
    while True:
        chunk = sql.rows(
            "SELECT id, at, boot_ns, kind, tid, body FROM ns_events WHERE run_id = :run "
            "AND id > :last ORDER BY id LIMIT :n",
            run=run_id,
            last=last,
            n=_CHUNK,
        )
        for row_id, at, boot_ns, kind, tid, body in chunk:
            if kind == "exit":
                yield CarriedExit(uuid, at, boot_ns, tid)
            else:
                yield CarriedEvent(uuid, boot_ns, stored_event(body, row_id))
        if len(chunk) < _CHUNK:
            return
        last = chunk[-1][0]


class Importer:
    """Stores the runs and rows of the bundles of one import. A run new here is stored as it
    comes; one stored already (an earlier import, or a later export of a run that was still
    running) gets its newer totals and only the rows it lacks. What prune removed here stays
    removed: a run that ended before the host's watch_pruned_before is not stored, one that
    spans it starts there, and rows from before it are not stored. Rows are written a chunk at
    a time."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql
        self._runs: dict[str, _Run | None] = {}  # None: pruned here
        self._pending: list[tuple[object, ...]] = []
        self.added = 0
        self.present = 0

    def run(self, carried: CarriedRun) -> None:
        host, run = host_row(self._sql, carried.host), carried.run
        pruned = self._sql.value("SELECT watch_pruned_before FROM hosts WHERE id = :h", h=host)
        found = self._sql.record(
            "SELECT id, boot_id, mechanism, seen_at, ended_at, events, lost "
            "FROM watch_runs WHERE host_id = :host AND uuid = :uuid",
            host=host,
            uuid=run.uuid,
        )
        if found is None:
            if pruned is not None and (run.ended_at or run.seen_at) < pruned:
                self._runs[run.uuid] = None
                return
            run_id = self._sql.insert(
                "watch_runs",
                host_id=host,
                uuid=run.uuid,
                boot_id=carried.boot_id,
                mechanism=run.mechanism,
                started_at=max(run.started_at, pruned or ""),
                seen_at=run.seen_at,
                ended_at=run.ended_at,
                events=run.events,
                lost=run.lost,
                blind=run.blind,
            )
            self._runs[run.uuid] = _Run(host, run_id, pruned, new=True)
            return
        for key, value in (("boot_id", carried.boot_id), ("mechanism", run.mechanism)):
            if found[key] != value:
                raise UsageError(
                    f"watch run {run.uuid} is stored already with another {key} "
                    f"({found[key]!r}): is the bundle edited?"
                )
        self._sql.run(
            "UPDATE watch_runs SET seen_at = :seen, ended_at = :ended, events = :events, "
            "lost = :lost WHERE id = :run",
            seen=max(found["seen_at"], run.seen_at),
            ended=found["ended_at"] or run.ended_at,
            events=max(found["events"], run.events),
            lost=max(found["lost"], run.lost),
            run=found["id"],
        )
        self._runs[run.uuid] = _Run(host, found["id"], pruned)

    def row(self, item: CarriedEvent | CarriedExit) -> None:
        """Store an event or exit of a run given before unless it is stored already."""
        run = self._runs[item.run]
        if run is None:
            return  # its run was pruned here
        row: tuple[str, int, str, int, str | None]
        if isinstance(item, CarriedEvent):
            row = event_row(item.event, item.boot_ns)
        else:
            row = exit_row(item.at, item.boot_ns, item.tid)
        if run.pruned is not None and row[0] < run.pruned:
            return  # pruned here
        if not run.new:  # stored already: is the row?
            key = (row[2], row[0], row[1], row[3])
            if run.stored is None:
                run.stored = self._stored(run.id)
            if run.stored[key]:
                run.stored[key] -= 1
                self.present += 1
                return
        self._pending.append((run.host, run.id, *row))
        self.added += 1
        if len(self._pending) >= _CHUNK:
            self.flush()

    def _stored(self, run_id: int) -> Counter[tuple[object, ...]]:
        return Counter(
            tuple(r)
            for r in self._sql.rows(
                "SELECT kind, at, boot_ns, tid FROM ns_events WHERE run_id = :run", run=run_id
            )
        )

    def flush(self) -> None:
        if self._pending:
            self._sql.insert_many("ns_events", _ROW_COLUMNS, self._pending)
            self._pending = []


@dataclass
class _Run:
    """A run of this import: its host's id, its id here, up to when prune cut the host's
    record here, whether this import stored it, and for one stored before (once a row of it
    is read) how many of each row it holds."""

    host: int
    id: int
    pruned: str | None
    new: bool = False
    stored: Counter[tuple[object, ...]] | None = None
