"""The fleet in the database: hosts compared, a host's metrics, snapshots exported to bundles
and bundles imported."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nsaudit import bundle, userfile
from nsaudit.analysis.compare import Comparison
from nsaudit.analysis.compare import compare as compare_snapshots
from nsaudit.app.inventory import local_host
from nsaudit.errors import UsageError
from nsaudit.jsonshape import MAX_INT
from nsaudit.model import (
    CarriedEvent,
    CarriedExit,
    CarriedRun,
    EvaluationRecord,
    HostRow,
    Snapshot,
    WatchTotals,
)
from nsaudit.refs import LATEST, SnapshotRef
from nsaudit.settings import Settings
from nsaudit.store import carried, evaluations, retention
from nsaudit.store.database import Database
from nsaudit.store.events import totals as watch_totals
from nsaudit.store.queries import find, host_rows, list_rows, pick_host, resolve
from nsaudit.store.snapshots import load, save
from nsaudit.store.sql import Sql
from nsaudit.timespan import Duration

if TYPE_CHECKING:
    from sqlalchemy import Connection


def hosts(database: Database, stale: Duration, now: datetime | None = None) -> list[HostRow]:
    """Every host in the database with its newest snapshot, and its state: retired (hosts
    forget --keep-history, and no snapshot since), stale (its newest snapshot older than
    `stale`) or current."""
    at = now or datetime.now(UTC)
    with database.reading() as conn:
        rows = host_rows(conn)
    return [replace(r, state=_state(r, stale, at)) for r in rows]


def _state(row: HostRow, stale: Duration, now: datetime) -> str:
    if row.retired:
        return "retired"
    return "stale" if stale.passed_since(row.last_taken_at, now) else "current"


def clones(rows: Sequence[HostRow]) -> list[str]:
    """A warning for each machine id that hosts of different names report (retired hosts
    aside): cloned machines, or one renamed."""
    named: dict[str, list[str]] = {}
    for r in rows:
        if r.machine_id and r.state != "retired":
            named.setdefault(r.machine_id, []).append(r.hostname)
    return [
        f"hosts {', '.join(names)} report the same machine id {machine[:12]}: cloned machines "
        "(give each its own: rm /etc/machine-id; systemd-machine-id-setup), or one machine "
        "renamed (retire the old name: nsaudit hosts forget NAME --keep-history)"
        for machine, names in named.items()
        if len(set(names)) > 1
    ]


def _named_host(conn: Connection, name: str) -> int:
    """The id of host NAME (NAME@MACHINE_ID_PREFIX); UsageError when none or several."""
    host_id = pick_host(conn, name, None)
    assert host_id is not None  # required: pick_host says why there is none
    return host_id


def host_counts(database: Database, name: str) -> retention.Forgotten:
    """What forgetting host NAME (NAME@MACHINE_ID_PREFIX) would remove."""
    with database.reading() as conn:
        return retention.host_counts(conn, _named_host(conn, name))


def forget(database: Database, name: str) -> retention.Forgotten:
    """Remove host NAME whole, in one transaction: what was removed."""
    with database.writing(create=False) as conn:
        return retention.forget(conn, _named_host(conn, name))


def retire(database: Database, name: str, now: datetime | None = None) -> str:
    """Retire host NAME: its history stays, it is no longer stale, and fleet reports leave
    it out, until it takes a snapshot again. When (ISO, UTC)."""
    when = (now or datetime.now(UTC)).isoformat(timespec="microseconds")
    with database.writing(create=False) as conn:
        retention.retire(conn, _named_host(conn, name), when)
    return when


@dataclass(frozen=True)
class PruneReport:
    """What prune deleted, and the age it deleted at."""

    span: Duration
    pruned: retention.Pruned


def prune(
    database: Database,
    settings: Settings,
    older_than: Duration | None = None,
    keep_last: int | None = None,
    now: datetime | None = None,
) -> PruneReport:
    """Delete snapshots older than `older_than` (else the settings'), keeping each host's
    newest `keep_last` (else the settings', else 1), in one transaction."""
    if older_than is None and settings.older_than is None:
        raise UsageError(
            "prune needs --older-than DURATION (or retention.older_than in the settings file)"
        )
    # The settings file's was checked when it was read.
    span = older_than or Duration.parse(settings.older_than or "")
    cutoff = (now or datetime.now(UTC)) - span.delta
    keep = keep_last or settings.keep_last or 1
    with database.writing(create=False) as conn:
        return PruneReport(
            span, retention.prune(conn, cutoff.isoformat(timespec="microseconds"), keep)
        )


def compare(database: Database, names: Sequence[str]) -> Comparison:
    """The latest snapshots of two or more named hosts, side by side."""
    if len(names) < 2:
        raise UsageError("compare needs at least two host names; `nsaudit hosts` lists them")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"host {twice[0]!r} is named twice; compare different hosts")
    with database.reading() as conn:
        # Every host is named: none is this host, whose files are not read.
        return compare_snapshots([load(conn, resolve(conn, LATEST, None, n)) for n in names])


@dataclass(frozen=True)
class Published:
    """What `metrics` publishes: a host's latest snapshot and its policies' last recorded
    evaluations."""

    snapshot: Snapshot
    records: Sequence[EvaluationRecord]
    stale: bool
    watch: WatchTotals | None = None


def metrics(
    database: Database,
    settings: Settings,
    hostname: str | None = None,
    now: datetime | None = None,
) -> Published:
    local = local_host(settings)
    with database.reading() as conn:
        snapshot_id = resolve(conn, LATEST, local, hostname)
        snap = load(conn, snapshot_id)
        host_id = evaluations.host_and_seq(conn, snapshot_id)[0]
        records = evaluations.latest(conn, host_id)
        watch = watch_totals(Sql.of(conn), host_id)
    stale = settings.stale.passed_since(snap.taken_at, now or datetime.now(UTC))
    return Published(snap, records, stale, watch)


def export(
    database: Database,
    write: Callable[[Iterable[Snapshot], bundle.Watched], bundle.Totals],
    settings: Settings,
    refs: Sequence[SnapshotRef] = (),
    hostname: str | None = None,
    everything: bool = False,
) -> bundle.Totals:
    """Hand `write` the snapshots the refs name (default latest), or every snapshot (of
    `hostname` when given), one in memory at a time, and the watcher runs that go with them
    (store/carried.py); what `write` returns (how many)."""
    if everything and refs:
        raise UsageError("give either REFS or --all")
    local = local_host(settings)
    with database.reading() as conn:
        sql = Sql.of(conn)
        if everything:
            rows = list_rows(conn, hostname, None)
            spans = carried.every_run(sql)
            if hostname is not None:
                host = pick_host(conn, hostname, None, required=False)
                spans = {h: s for h, s in spans.items() if h == host}
            if not rows and not spans:
                raise UsageError(
                    f"no snapshots of host {hostname!r}; `nsaudit hosts` lists the hosts"
                    if hostname is not None
                    else "the database has no snapshots; nothing to export"
                )
            ids = [r.id for r in sorted(rows, key=lambda r: (r.hostname, r.seq))]
        else:
            ids = sorted({resolve(conn, ref, local, hostname) for ref in refs or (LATEST,)})
            spans = carried.spans(sql, ids)
        # A bundle of years of history streams out.
        return write((load(conn, i) for i in ids), carried.watched(sql, spans))


@dataclass(frozen=True)
class Imported:
    """What an import stored: per bundle (its name, snapshots added, snapshots present
    already), and in all; and the watcher's events and exits added and present already."""

    bundles: tuple[tuple[str, int, int], ...]
    watch_added: int = 0
    watch_present: int = 0

    @property
    def added(self) -> int:
        return sum(b[1] for b in self.bundles)

    @property
    def present(self) -> int:
        return sum(b[2] for b in self.bundles)


def import_bundles(database: Database, files: Sequence[str]) -> Imported:
    """Load bundles (- for standard input). Each snapshot is validated and stored as it is
    read, in one transaction: the first error stores nothing of any file, and importing the
    same bundle twice adds nothing."""
    if files.count("-") > 1:
        raise UsageError("- (standard input) is given more than once; give it once")
    counted = []
    first_added = MAX_INT
    order = bundle.SeqOrder()
    with ExitStack() as files_open:
        # Every file is opened and its header checked before the database is: a missing file
        # or one that is no bundle leaves the database (or its absence) as it was.
        sources = [(name, _records(name, files_open)) for name in files]
        with database.writing_or_nothing() as conn:
            watch = carried.Importer(Sql.of(conn))
            for name, records in sources:
                added = present = 0
                with _bundle_errors(name):
                    for number, snap in records:
                        if not isinstance(snap, Snapshot):
                            _watched(watch, number, snap)
                            continue
                        stored = find(conn, snap.host, snap.seq or 0)
                        # Ids grow: one at or above the first this import stored is its own.
                        again = stored is not None and stored[0] >= first_added
                        order.check(snap, name, number, again)
                        if stored is None:
                            try:
                                saved = save(conn, snap)
                            except UsageError as e:
                                raise bundle.BundleError(f"line {number}: {e}") from None
                            first_added = min(first_added, saved.id)
                            added += 1
                        elif _same_time(stored[1], snap.taken_at):
                            present += 1
                        else:
                            raise bundle.BundleError(
                                f"line {number}: snapshot seq {snap.seq} of host "
                                f"{snap.host.hostname!r} is stored already with another time "
                                f"({stored[1]})"
                            )
                        del snap  # one snapshot in memory: not this one while the next is read
                    watch.flush()
                counted.append((name, added, present))
    return Imported(tuple(counted), watch.added, watch.present)


def _same_time(stored: str, given: str) -> bool:
    """Whether two ISO times are the same (an older nsaudit stored an imported time taken at
    a whole second without its microseconds)."""
    return datetime.fromisoformat(stored) == datetime.fromisoformat(given)


def _watched(
    watch: carried.Importer, number: int, record: CarriedRun | CarriedEvent | CarriedExit
) -> None:
    try:
        if isinstance(record, CarriedRun):
            watch.run(record)
        else:
            watch.row(record)
    except UsageError as e:
        raise bundle.BundleError(f"line {number}: {e}") from None


def _records(name: str, files_open: ExitStack) -> Iterator[tuple[int, bundle.Record]]:
    """The bundle's snapshots as they are read, its header checked already."""
    with _bundle_errors(name):
        if name == "-":
            if sys.stdin is None:  # started with standard input closed (`<&-`)
                raise UsageError("bundle -: standard input is closed; give a file")
            userfile.check_stream(sys.stdin.buffer)
            return bundle.records(sys.stdin.buffer)
        # A pipe (`<(zcat b.jsonl.gz)`, /dev/fd/N) is read as it comes, line by line.
        f = files_open.enter_context(userfile.open_binary(name, streams=True))
        return bundle.records(f)


@contextmanager
def _bundle_errors(name: str) -> Iterator[None]:
    try:
        yield
    except bundle.BundleError as e:
        raise UsageError(f"bundle {name}: {e}; nothing was imported") from None
    except OSError as e:
        raise UsageError(f"bundle {name} cannot be read: {e.strerror}") from None
