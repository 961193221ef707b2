"""What `nsaudit watch` recorded travels in bundles: `export` carries each host's runs whole
(their events and exits) and `import` stores them, so that `events`, `diff` and the `events`
check say the same in the other database; importing again, or a later export of a run that
was still running, adds only what is new; a bad watch record imports nothing."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from conftest import assert_clean_error, new_postgres_database, run, run_json
from factories import HOST, ns, snap
from factories import namespace_event as event
from sqlalchemy import text

from nsaudit import bundle
from nsaudit.bundle import BundleError
from nsaudit.model import NsType
from nsaudit.store import engine as engines
from nsaudit.store import events as stored
from nsaudit.store.database import Database
from nsaudit.store.migrate import _config
from nsaudit.store.snapshots import save


def t(day: int, hour: int = 0) -> str:
    return f"2026-01-{day:02d}T{hour:02d}:00:00.000000+00:00"


def history(db: Path, days: tuple[int, ...] = (2, 4), end: bool = False) -> None:
    """Snapshots on days 1, 3 and 5 of host h; one run from day 2 with an event on each of
    `days` (its task exits an hour later); `end`: the run stopped on day 4, else it runs."""
    database = Database(str(db))
    with database.writing_sql() as sql:
        if sql.value("SELECT count(*) FROM snapshots") == 0:
            for day in (1, 3, 5):
                save(sql, replace(snap(ns(NsType.NET, 900 + day)), taken_at=t(day)))
        found = sql.value("SELECT id FROM watch_runs")
        if found is None:
            host, run = stored.begin_run(sql, HOST, "bpf", "", t(2))
            done = 0
        else:
            host, run = 1, int(found)
            done = int(sql.value("SELECT events FROM watch_runs"))
        rows: list[tuple[object, ...]] = []
        for n, d in enumerate(days[done:], done):
            rows.append(stored.event_row(replace(event(901 + n, 7 + n), at=t(d), tid=7 + n), d))
            rows.append(stored.exit_row(t(d, 1), d + 3_600_000_000_000, 7 + n))
        stored.record(sql, host, run, rows, t(max(days)), len(days), 0, ended=end)


def shown(db: Path, host: str = "h") -> dict[str, Any]:
    """What `nsaudit events` shows of the host, run ids (each database has its own) and the
    time it was asked aside."""
    watched: dict[str, Any] = run_json("events", "--db", db, "--host", host)["watched"]
    for r in watched["runs"]:
        del r["id"]
    now = watched.pop("end")
    for gap in watched["unwatched"]:
        gap["end"] = "now" if gap["end"] == now else gap["end"]
    return watched


def exported(db: Path, out: Path, *refs: str) -> Path:
    """The bundle `export` writes to standard output (each line checked against `nsaudit
    schema nsaudit.bundle/1` by conftest.run), saved as `out`."""
    proc = run("export", "--db", db, *(refs or ("--all",)))
    assert proc.returncode == 0, proc.stderr
    out.write_text(proc.stdout)
    return out


def imported(db: Path, *bundles: Path) -> str:
    proc = run("import", "--db", db, *bundles)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def kind(record: dict[str, Any]) -> str:
    return "snapshot" if "schema" in record else next(iter(record))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_round_trip_shows_the_same_events(tmp_path: Path) -> None:
    source, target = tmp_path / "s.db", tmp_path / "t.db"
    history(source, end=True)
    b = exported(source, tmp_path / "b.jsonl")
    kinds = [kind(json.loads(line)) for line in b.read_text().splitlines()[1:-1]]
    assert kinds == ["snapshot"] * 3 + ["watch_run"] + ["ns_event", "task_exit"] * 2
    assert json.loads(b.read_text().splitlines()[-1]) == {
        "end": "nsaudit.bundle/1",
        "snapshots": 3,
        "watch_runs": 1,
        "ns_events": 2,
        "task_exits": 2,
    }
    out = imported(target, b)
    assert "imported 4 watcher events and exits (0 already present)" in out
    assert shown(target) == shown(source)
    assert [e["lived_ms"] for e in shown(target)["events"]] == [3_600_000, 3_600_000]
    # diff between the snapshots sees what the watcher recorded, as at home
    diff = run("diff", "--db", target, "--host", "h", "1", "2", "--format", "json")
    assert diff.returncode == 1, diff.stderr  # differences
    assert (
        diff.stdout
        == run("diff", "--db", source, "--host", "h", "1", "2", "--format", "json").stdout
    )
    assert json.loads(diff.stdout)["between"]["gone"][0]["lived_ms"] == 3_600_000
    # again: nothing new
    assert "imported 0 watcher events and exits (4 already present)" in imported(target, b)
    assert shown(target) == shown(source)


def test_a_run_exported_while_running_then_again_later(tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    history(source, days=(2,))
    early = exported(source, tmp_path / "early.jsonl")
    history(source, days=(2, 4), end=True)
    late = exported(source, tmp_path / "late.jsonl")
    for order in ((early, late), (late, early)):
        target = tmp_path / f"t-{order[0].stem}.db"
        for b in order:
            imported(target, b)
        assert shown(target) == shown(source), order
        (r,) = shown(target)["runs"]
        assert r["ended_at"] == t(4) and r["events"] == 2


def test_a_snapshot_carries_the_runs_since_the_one_before(tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    history(source, end=True)
    # latest (day 5): the run of days 2-4 lies since the snapshot before (day 3), whole
    with_run = exported(source, tmp_path / "latest.jsonl", "--host", "h", "latest")
    assert '"watch_run"' in with_run.read_text()
    # the first snapshot (day 1): no run had begun
    first = run_json("snapshots", "--db", source, "--host", "h")["snapshots"][-1]["id"]
    alone = exported(source, tmp_path / "first.jsonl", str(first))
    assert '"watch_run"' not in alone.read_text()


def test_a_database_with_runs_and_no_snapshot_exports_them(tmp_path: Path) -> None:
    source, target = tmp_path / "s.db", tmp_path / "t.db"
    with Database(str(source)).writing_sql() as sql:
        host, run_id = stored.begin_run(sql, HOST, "audit", "sees no clone3", t(2))
        audited = replace(event(1, 0), mechanism="audit")
        stored.record(sql, host, run_id, [stored.event_row(audited, 5)], t(3), 1, 0)
    imported(target, exported(source, tmp_path / "b.jsonl"))
    assert shown(target) == shown(source)


def test_an_event_seen_before_its_run_was_stored_comes_too(tmp_path: Path) -> None:
    """The watcher attaches, then stores its run: an event in between is older than the run's
    start, and is the run's all the same."""
    source, target = tmp_path / "s.db", tmp_path / "t.db"
    with Database(str(source)).writing_sql() as sql:
        host, run_id = stored.begin_run(sql, HOST, "bpf", "", t(2, 1))
        early = replace(event(1, 2), at=t(2, 0))
        stored.record(sql, host, run_id, [stored.event_row(early, 5)], t(3), 1, 0)
    imported(target, exported(source, tmp_path / "b.jsonl"))
    with Database(str(target)).writing_sql() as sql:
        assert sql.rows("SELECT at FROM ns_events") == [(t(2, 0),)]


def pruned_here(tmp_path: Path, keep: int) -> tuple[Path, Path]:
    """A target database that imported all of history(), then pruned to its newest `keep`
    snapshots; and the bundle of the latest snapshot (day 5), which carries the whole run
    (days 2-4)."""
    source, target = tmp_path / "s.db", tmp_path / "t.db"
    history(source, end=True)
    imported(target, exported(source, tmp_path / "all.jsonl"))
    b = exported(source, tmp_path / "b.jsonl", "--host", "h", "latest")
    proc = run("prune", "--db", target, "--older-than", "1d", "--keep-last", str(keep))
    assert proc.returncode == 0, proc.stderr
    return target, b


def test_prune_here_is_kept_when_the_bundle_comes_again(tmp_path: Path) -> None:
    target, b = pruned_here(tmp_path, keep=2)  # days 3 and 5: the run now starts on day 3
    pruned = shown(target)
    assert [e["at"] for e in pruned["events"]] == [t(4)]
    imported(target, b)
    assert shown(target) == pruned


def test_a_run_prune_removed_whole_stays_removed(tmp_path: Path) -> None:
    target, b = pruned_here(tmp_path, keep=1)  # day 5 alone: the run ended before it
    assert run_json("events", "--db", target, "--host", "h")["watched"] is None
    assert "watcher" not in imported(target, b)  # none added
    assert run_json("events", "--db", target, "--host", "h")["watched"] is None


def test_a_bundle_without_runs_has_the_trailer_older_nsaudit_reads(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Database(str(db)).writing_sql() as sql:
        save(sql, snap(ns(NsType.NET, 901)))
    trailer = lines(exported(db, tmp_path / "b.jsonl"))[-1]
    assert trailer == {"end": "nsaudit.bundle/1", "snapshots": 1}


def lines(b: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in b.read_text().splitlines()]


def joined(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def error(records: list[dict[str, Any]]) -> str:
    with pytest.raises(BundleError) as e:
        list(bundle.records(io.BytesIO(joined(records))))
    return str(e.value)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("good")
    history(folder / "s.db", end=True)
    return lines(exported(folder / "s.db", folder / "b.jsonl"))


def changed(good: list[dict[str, Any]], n: int, *path: str, value: Any) -> list[dict[str, Any]]:
    records = json.loads(json.dumps(good))
    where = records[n]
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    return records


def test_bad_watch_records(good: list[dict[str, Any]]) -> None:
    run_line, event_line = 4, 5  # header, three snapshots, then the run
    assert "watch_run" in good[run_line] and "ns_event" in good[event_line]
    other = "f" * 32
    cases = {
        'line 5: watch_run.uuid: expected 32 lower-case hexadecimal digits, got "RUN"': changed(
            good, run_line, "watch_run", "uuid", value="RUN"
        ),
        'line 5: watch_run.mechanism: expected one of bpf, audit, got "kprobe"': changed(
            good, run_line, "watch_run", "mechanism", value="kprobe"
        ),
        "line 5: watch_run.seen_at: expected a time after started_at": changed(
            good, run_line, "watch_run", "seen_at", value=t(1)
        ),
        "line 5: watch_run.x: unknown key": changed(good, run_line, "watch_run", "x", value=1),
        f'line 6: ns_event.run: expected the uuid of a watch_run given before it in the bundle, got "{other}"': changed(  # noqa: E501
            good, event_line, "ns_event", "run", value=other
        ),
        'line 6: ns_event.event.mechanism: expected bpf, its run\'s, got "audit"': changed(
            good, event_line, "ns_event", "event", "mechanism", value="audit"
        ),
        "line 8: ns_event: more; expected at most 1 of them, as many as run": changed(
            good, run_line, "watch_run", "events", value=1
        ),
        "line 10: ns_events: expected 2, the number of ns events the bundle holds": changed(
            good, -1, "ns_events", value=3
        ),
        "line 6: ns_event.boot_ns: expected a whole number": changed(
            good, event_line, "ns_event", "boot_ns", value=-1
        ),
        # what the store keys events by: a kind, a time in UTC, a 32-bit thread id
        'line 6: ns_event.event.event: expected one of clone, clone3, fork, vfork, unshare, setns, got "exit"': changed(  # noqa: E501
            good, event_line, "ns_event", "event", "event", value="exit"
        ),
        "line 6: ns_event.event.at: expected an ISO 8601 time": changed(
            good, event_line, "ns_event", "event", "at", value="yesterday"
        ),
        "line 6: ns_event.event.tid: expected a thread id from 0 to 2^31-1, got 3000000000": changed(  # noqa: E501
            good, event_line, "ns_event", "event", "tid", value=3_000_000_000
        ),
        "line 7: task_exit.tid: expected a thread id from 0 to 2^31-1": changed(
            good, 6, "task_exit", "tid", value=2**31
        ),
    }
    for expected, records in cases.items():
        assert error(records).startswith(expected), (expected, error(records))
    twice = good[:6] + [good[run_line]] + good[6:]
    assert error(twice).startswith("line 7: watch_run.uuid: expected each run once in a bundle")


def test_a_bad_watch_record_imports_nothing(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    target = tmp_path / "t.db"
    history(target, days=(2,))  # a database of its own, with a run of its own
    before = digest(target)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(joined(changed(good, 6, "task_exit", "tid", value="7")))
    assert_clean_error(run("import", "--db", target, bad), 2, "bad.jsonl", "line 7",
                       "task_exit.tid", "nothing was imported")  # fmt: skip
    assert digest(target) == before


def test_the_same_run_with_another_boot_is_refused(tmp_path: Path) -> None:
    source, target = tmp_path / "s.db", tmp_path / "t.db"
    history(source, end=True)
    b = exported(source, tmp_path / "b.jsonl")
    imported(target, b)
    before = digest(target)
    records = lines(b)
    records[4]["watch_run"]["boot_id"] = "another-boot"
    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(joined(records))
    assert_clean_error(run("import", "--db", target, edited), 2, "line 5", "another boot_id",
                       "nothing was imported")  # fmt: skip
    assert digest(target) == before


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    postgres_url: str = request.getfixturevalue("postgres_url")
    return new_postgres_database(postgres_url, f"m{tmp_path.name[-8:].lower().strip('_')}x")


def test_the_migration_names_each_stored_run(url: str) -> None:
    """Through the real upgrade and downgrade, with runs that have events (whose foreign keys
    SQLite checks as it rebuilds watch_runs)."""
    engine = engines.open_engine(url, write=True)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0008")
            conn.execute(text("INSERT INTO hosts (id, hostname, machine_id) VALUES (1, 'h', 'm')"))
            for n in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO watch_runs (id, host_id, boot_id, mechanism, started_at, "
                        "seen_at, events, lost, blind) VALUES (:n, 1, 'b', 'bpf', :t, :t, 1, 0, '')"
                    ),
                    {"n": n, "t": t(n)},
                )
                conn.execute(
                    text(
                        "INSERT INTO ns_events (host_id, run_id, at, boot_ns, kind, tid) "
                        "VALUES (1, :n, :t, 5, 'exit', 7)"
                    ),
                    {"n": n, "t": t(n)},
                )
            command.upgrade(_config(conn), "head")
            names = [r[0] for r in conn.execute(text("SELECT uuid FROM watch_runs"))]
            assert len(set(names)) == 2 and all(len(u) == 32 for u in names)
            command.downgrade(_config(conn), "0008")
            assert conn.execute(text("SELECT count(*) FROM ns_events")).scalar() == 2
            command.upgrade(_config(conn), "head")
            assert conn.execute(text("SELECT count(*) FROM watch_runs")).scalar() == 2
    finally:
        engine.dispose()
