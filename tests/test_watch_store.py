"""What `nsaudit watch` stores, kept and removed with the snapshots: prune drops what lies
before a host's oldest kept snapshot, forget drops it all; a run that died is a gap."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from conftest import REPO
from factories import HOST, ns, snap
from factories import namespace_event as event

from nsaudit.app.fleet import forget, prune
from nsaudit.model import NsType
from nsaudit.settings import Settings
from nsaudit.store import events as stored
from nsaudit.store.database import Database
from nsaudit.store.snapshots import save
from nsaudit.timespan import Duration


def t(day: int) -> str:
    return f"2026-01-{day:02d}T00:00:00.000000+00:00"


def history(db: Path) -> Database:
    """Snapshots on days 1, 3 and 5; a run from day 2 to day 4 (then it died) with an event
    on day 2 and on day 4."""
    database = Database(str(db))
    with database.writing_sql() as sql:
        for day in (1, 3, 5):
            save(sql, replace(snap(ns(NsType.NET, 900 + day)), taken_at=t(day)))
        host, run = stored.begin_run(sql, HOST, "bpf", "", t(2))
        rows = [stored.event_row(replace(event(901, 1), at=t(d)), d) for d in (2, 4)]
        stored.record(sql, host, run, rows, t(4), 2, 0)
    return database


def count(database: Database, table: str) -> int:
    with database.writing_sql() as sql:
        return int(sql.value(f"SELECT count(*) FROM {table}"))


def test_what_lies_between_snapshots_and_where_no_run_watched(tmp_path: Path) -> None:
    database = history(tmp_path / "w.db")
    with database.writing_sql() as sql:
        w = stored.between(sql, 1, t(3), t(5))
    assert w is not None
    assert [e.at for e in w.events] == [t(4)]
    assert [(g.start, g.end) for g in w.unwatched] == [(t(4), t(5))]  # it died on day 4


def test_prune_drops_what_lies_before_the_oldest_kept_snapshot(tmp_path: Path) -> None:
    database = history(tmp_path / "w.db")
    now = datetime(2026, 1, 4, tzinfo=UTC)
    prune(database, Settings(), Duration.parse("1d"), 1, now=now)  # keeps days 3 and 5
    with database.writing_sql() as sql:
        assert [e.at for e in stored.events_between(sql, 1, None, None)] == [t(4)]
    assert count(database, "watch_runs") == 1
    # The run that spanned the cut now starts there: a stretch before it was not watched.
    with database.writing_sql() as sql:
        w = stored.between(sql, 1, t(2), t(5))
        assert w is not None and (w.unwatched[0].start, w.unwatched[0].end) == (t(2), t(3))
        # A period whose first snapshot (seq 1, day 1) was pruned says so.
        period = stored.between_seqs(sql, 1, 1, 3)
        assert period is not None and "seq 1) was pruned" in period.gaps()[0]
    prune(database, Settings(), Duration.parse("1d"), 1, now=datetime(2026, 1, 9, tzinfo=UTC))
    assert count(database, "ns_events") == 0 and count(database, "watch_runs") == 0


def test_forget_drops_everything_the_watcher_stored(tmp_path: Path) -> None:
    database = history(tmp_path / "w.db")
    forget(database, HOST.hostname)
    assert count(database, "ns_events") == 0 and count(database, "watch_runs") == 0


def test_report_and_metrics_count_what_the_watcher_recorded(tmp_path: Path) -> None:
    import json

    from conftest import run

    db = tmp_path / "w.db"
    history(db)
    proc = run("report", "--db", db, "--host", HOST.hostname, "--since", "36500d",
               "--format", "json",
               "--policy", REPO / "samples" / "policies" / "container-host.toml")  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    (host,) = json.loads(proc.stdout)["hosts"]
    assert host["watch"]["created"] == 2 and host["watch"]["mechanisms"] == ["bpf"]
    assert [e["at"] for e in host["watch"]["events"]] == [t(2), t(4)]  # listed, not only counted
    assert host["watch"]["unlisted"] == 0
    assert host["watch"]["blind"] == []  # what an audit run could not see, as its run says
    assert t(4) in [g["start"] for g in host["watch"]["unwatched"]]  # the run died on day 4
    metrics = run("metrics", "--db", db, "--host", HOST.hostname)
    assert 'nsaudit_watch_events{host="h"} 2.0' in metrics.stdout
    assert 'nsaudit_watch_running{host="h"} 1.0' in metrics.stdout


def test_a_report_lists_at_most_100_events_non_root_users_first(tmp_path: Path) -> None:
    import json

    from conftest import run

    db = tmp_path / "w.db"
    database = Database(str(db))
    # A container host's day: 150 namespaces made by root, and late in it, 3 user namespaces
    # made by uid 1000, one under a name of terminal escapes.
    at = [f"2026-01-02T{n // 60:02d}:{n % 60:02d}:00.000000+00:00" for n in range(153)]
    made = [replace(event(1000 + n, n + 1, uid=0), at=at[n]) for n in range(150)]
    made += [replace(event(2000 + n, 200 + n), at=at[150 + n]) for n in range(3)]
    made[-1] = replace(made[-1], command="\x1b[2Jx")
    with database.writing_sql() as sql:
        save(sql, replace(snap(ns(NsType.NET, 901)), taken_at=t(1)))
        host, run_id = stored.begin_run(sql, HOST, "bpf", "", t(1))
        rows = [stored.event_row(e, n) for n, e in enumerate(made)]
        stored.record(sql, host, run_id, rows, t(3), len(rows), 0)
        save(sql, replace(snap(ns(NsType.NET, 901)), taken_at=t(3)))
    database.dispose()
    args = ("report", "--db", db, "--host", HOST.hostname, "--since", "36500d")
    proc = run(*args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (shown,) = json.loads(proc.stdout)["hosts"]
    listed = shown["watch"]["events"]
    assert (len(listed), shown["watch"]["unlisted"], shown["watch"]["created"]) == (100, 53, 153)
    assert [e["at"] for e in listed] == at[:97] + at[150:]  # oldest first, uid 1000's kept
    assert [e["uid"] for e in listed[-3:]] == [1000] * 3
    text = run(*args).stdout
    assert "Namespace events (nsaudit watch): 100 of 153, those by non-root users first" in text
    for shown_as in (text, run(*args, "--format", "html").stdout):
        assert "\x1b" not in shown_as and "\\x1b[2Jx" in shown_as  # shown, not obeyed
