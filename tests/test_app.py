"""The application layer called from Python, as a program embedding nsaudit would: typed
arguments in, result objects out, nothing printed, and click never imported."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO
from factories import kernel_report, ns, restriction, snap, stig_running_only

from nsaudit.app import database as app_database
from nsaudit.app import fleet, policy
from nsaudit.app import stored as app_stored
from nsaudit.errors import DatabaseError, UsageError
from nsaudit.model import HostInfo, NsType, Outcome, Status
from nsaudit.refs import SnapshotRef
from nsaudit.settings import IgnoreRule, Settings
from nsaudit.store.database import Database
from nsaudit.store.snapshots import save
from nsaudit.timespan import Duration

WEB = HostInfo("web", "a" * 32, "boot-1", "6.1")
DB = HostInfo("db", "b" * 32, "boot-1", "6.1")


def stored(tmp_path: Path) -> Database:
    """web: two snapshots (a net namespace created between them); db: one, user ns disabled."""
    database = Database(str(tmp_path / "ns.db"))
    disabled = kernel_report(
        sysctls=(restriction("user.max_user_namespaces", "0"),),
        user={"status": Status.DISABLED, "limit": 0},
    )
    with database.writing() as conn:
        first = snap(ns(NsType.NET, 1), caps=kernel_report())
        save(conn, replace(first, host=WEB, taken_at="2026-12-01T00:00:00+00:00"))
        second = snap(ns(NsType.NET, 1), ns(NsType.NET, 2, command="nginx"), caps=kernel_report())
        save(conn, replace(second, host=WEB, taken_at="2026-12-02T00:00:00+00:00"))
        only = snap(ns(NsType.NET, 1), caps=disabled)
        save(conn, replace(only, host=DB, taken_at="2026-12-02T00:00:00+00:00"))
    return database


def test_the_application_layer_does_not_import_click() -> None:
    code = (
        "import sys, nsaudit.app.inventory, nsaudit.app.stored, nsaudit.app.policy, "
        "nsaudit.app.fleet, nsaudit.app.kernel, nsaudit.app.database; "
        "assert 'click' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_diff_two_refs_of_a_named_host(tmp_path: Path) -> None:
    database = stored(tmp_path)
    found = app_stored.compare_snapshots(database, Settings(), hostname="web")
    assert (found.before.seq, found.after.seq) == (1, 2)
    assert [(n.id.inode, n.command) for n in found.changes.created] == [(2, "nginx")]
    assert found.changes.differs
    # ignore rules of the settings leave it out, and count it
    ignoring = Settings(ignore=(IgnoreRule(command="nginx"),))
    quiet = app_stored.compare_snapshots(database, ignoring, hostname="web")
    assert quiet.changes.created == () and quiet.changes.hidden == 1
    with pytest.raises(UsageError, match="give either --since or OLD"):
        app_stored.compare_snapshots(
            database, Settings(), SnapshotRef.parse("1"), since=Duration.parse("1d")
        )


def test_show_list_and_hosts(tmp_path: Path) -> None:
    database = stored(tmp_path)
    latest = app_stored.stored(database, Settings(), SnapshotRef.parse("latest"), hostname="web")
    assert latest.seq == 2 and latest.capabilities is not None
    assert [r.seq for r in app_stored.snapshots(database, "web")] == [2, 1]
    assert [(h.hostname, h.snapshots) for h in fleet.hosts(database, Duration.parse("1d"))] == [
        ("db", 1),
        ("web", 2),
    ]


def test_compare_and_metrics(tmp_path: Path) -> None:
    database = stored(tmp_path)
    found = fleet.compare(database, ["web", "db"])
    assert found.hosts == ("web", "db")
    assert ("types.user.status", ("unknown", "disabled")) in found.differing_facts()
    with pytest.raises(UsageError, match="named twice"):
        fleet.compare(database, ["web", "web"])
    published = fleet.metrics(database, Settings(), "db")
    assert published.snapshot.host.hostname == "db" and list(published.records) == []


def test_report_and_a_stored_check_of_a_named_host(tmp_path: Path) -> None:
    database = stored(tmp_path)
    rules = str(stig_running_only(tmp_path / "stig.toml"))
    now = datetime(2026, 12, 3, tzinfo=UTC)
    result = policy.check(database, Settings(), policy=rules, hostname="db", now=now)
    user_limit = [r for r in result.results if "max_user_namespaces" in r.summary]
    assert user_limit and all(r.outcome is Outcome.PASS for r in user_limit), result.results
    assert result.snapshot.host.hostname == "db"
    found = policy.report(
        database, Settings(), Duration.parse("30d"), policy=rules, all_hosts=True, now=now
    )
    assert [h.snapshot.host.hostname for h in found.hosts] == ["db", "web"]
    assert found.policy is not None and found.failed == any(
        h.evaluation is not None and h.evaluation.failed for h in found.hosts
    )
    with pytest.raises(UsageError, match="either --host NAME ... or --all-hosts"):
        policy.report(database, Settings(), Duration.parse("1d"), hostnames=["db"], all_hosts=True)


def test_export_import_prune_forget_and_check_the_database(tmp_path: Path) -> None:
    database = stored(tmp_path)
    taken: list[int] = []

    def write(snaps, watched):  # type: ignore[no-untyped-def]
        taken.extend(s.seq for s in snaps)
        assert list(watched) == []  # no watcher ran
        return len(taken)

    assert fleet.export(database, write, Settings(), everything=True) == 3
    assert sorted(taken) == [1, 1, 2]
    assert app_database.check(database).problems == 0
    assert app_database.current(database).before == app_database.current(database).after
    assert fleet.host_counts(database, "web").snapshots == 2
    pruned = fleet.prune(database, Settings(), Duration.parse("1d"), 1)
    assert pruned.pruned.snapshots == 1 and pruned.span.text == "1d"
    assert fleet.forget(database, "db").snapshots == 1
    assert [h.hostname for h in fleet.hosts(database, Duration.parse("1d"))] == ["web"]


def _pid_and_double(n: int) -> tuple[int, int]:
    if n == 5:
        raise DatabaseError("item 5 is damaged; run `nsaudit db check`")
    return os.getpid(), n * 2


def test_ordered_work_in_processes_keeps_order_and_raises_as_raised() -> None:
    from nsaudit import workers

    answers = list(workers.ordered(range(5), _pid_and_double, 2))
    assert [n for _, n in answers] == [0, 2, 4, 6, 8]
    assert os.getpid() not in {pid for pid, _ in answers}, "forked workers did the work"
    assert {pid for pid, _ in workers.ordered(range(5), _pid_and_double, 1)} == {os.getpid()}
    with pytest.raises(DatabaseError, match="item 5 is damaged"):
        list(workers.ordered(range(8), _pid_and_double, 2))
