"""Hosts over time: stale hosts (hosts --stale, reports, metrics), retired hosts (hosts forget
--keep-history) and hosts that report the same machine id."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import assert_clean_error, run
from factories import ns, snap

from nsaudit.model import HostInfo, NsType
from nsaudit.store.database import Database
from nsaudit.store.snapshots import save

POLICY = """
[policy]
name = "few"

[[rule]]
id = "FEW-NET"
title = "At most 10 network namespaces"
severity = "low"
check = { kind = "count", type = "net", at_most = 10 }
"""


def _fleet(db: Path) -> None:
    """fresh (seen an hour ago), old (three days ago), and two clones of one machine."""
    database = Database(str(db))
    now = datetime.now(UTC)  # here, not at import: a long suite runs between the two
    hosts = {
        "fresh": ("m-fresh", timedelta(hours=1)),
        "old": ("m-old", timedelta(days=3)),
        "clone-a": ("m-cloned", timedelta(hours=2)),
        "clone-b": ("m-cloned", timedelta(hours=2)),
    }
    for name, (machine, age) in hosts.items():
        for n in (2, 1):
            taken = (now - age * n).isoformat(timespec="microseconds")
            s = replace(snap(ns(NsType.NET, 1)), taken_at=taken,
                        host=HostInfo(name, machine, "boot-1", "6.1"))  # fmt: skip
            with database.writing() as conn:
                save(conn, s)
    database.dispose()


def _hosts(db: Path, *args: str) -> tuple[int, dict[str, object]]:
    proc = run("hosts", "--db", db, "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_hosts_say_which_are_stale_and_which_share_a_machine_id(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    _fleet(db)
    code, data = _hosts(db)
    states = {h["hostname"]: h["state"] for h in data["hosts"]}  # type: ignore[attr-defined]
    assert code == 0
    assert states == {"fresh": "current", "old": "stale", "clone-a": "current",
                      "clone-b": "current"}  # fmt: skip
    (warning,) = data["warnings"]  # type: ignore[misc]
    assert "clone-a, clone-b report the same machine id m-cloned" in warning
    table = run("hosts", "--db", db)
    assert "same machine id" in table.stdout and table.returncode == 0
    # --stale: only those, and exit 1 while there are any.
    code, data = _hosts(db, "--stale", "2d")
    assert code == 1
    assert [h["hostname"] for h in data["hosts"]] == ["old"]  # type: ignore[attr-defined]
    code, data = _hosts(db, "--stale", "90m")
    assert code == 1
    assert len(data["hosts"]) == 3  # type: ignore[arg-type]
    code, data = _hosts(db, "--stale", "4w")
    assert (code, data["hosts"]) == (0, [])
    # The settings' stale_after is the listing's default.
    settings = tmp_path / "nsaudit.toml"
    settings.write_text('stale_after = "30m"\n')
    code, data = _hosts(db, "--config", str(settings))
    assert {h["state"] for h in data["hosts"]} == {"stale"}  # type: ignore[attr-defined]
    settings.write_text('stale_after = "soon"\n')
    assert_clean_error(run("hosts", "--db", db, "--config", settings), 2, "stale_after")
    assert_clean_error(run("hosts", "--db", db, "--stale", "soon"), 2, "--stale")


def test_a_stale_host_passes_no_rule_in_reports_and_metrics(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    _fleet(db)
    policy = tmp_path / "few.toml"
    policy.write_text(POLICY)
    proc = run("report", "--db", db, "--all-hosts", "--policy", policy, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    results = {h["hostname"]: h["results"][0] for h in json.loads(proc.stdout)["hosts"]}
    assert results["fresh"]["outcome"] == "pass"
    assert results["old"]["outcome"] == "error"
    assert "the host is stale" in results["old"]["summary"]
    proc = run("report", "--db", db, "--all-hosts", "--policy", policy, "--stale-after", "1w")
    assert proc.returncode == 0, proc.stderr
    for name, stale in (("old", "1"), ("fresh", "0")):
        metrics = run("metrics", "--db", db, "--host", name).stdout
        assert f'nsaudit_host_stale{{host="{name}"}} {stale}.0' in metrics


def test_a_retired_host_keeps_its_history_and_leaves_fleet_reports(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    _fleet(db)
    proc = run("hosts", "forget", "old", "--keep-history", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert "retired host 'old'" in proc.stdout
    code, data = _hosts(db, "--stale", "2d")
    assert (code, data["hosts"]) == (0, [])
    states = {h["hostname"]: h["state"] for h in _hosts(db)[1]["hosts"]}  # type: ignore[attr-defined]
    assert states["old"] == "retired"
    assert run("show", "--host", "old", "--db", db).returncode == 0
    policy = tmp_path / "few.toml"
    policy.write_text(POLICY)
    proc = run("report", "--db", db, "--all-hosts", "--policy", policy, "--format", "json")
    names = [h["hostname"] for h in json.loads(proc.stdout)["hosts"]]
    assert "old" not in names and "fresh" in names
    proc = run("report", "--db", db, "--host", "old", "--policy", policy, "--format", "json")
    assert [h["hostname"] for h in json.loads(proc.stdout)["hosts"]] == ["old"]
    # A retired host that reports again is current again.
    again = datetime.now(UTC).isoformat(timespec="microseconds")
    s = replace(snap(ns(NsType.NET, 1)), taken_at=again,
                host=HostInfo("old", "m-old", "boot-1", "6.1"))  # fmt: skip
    database = Database(str(db))
    with database.writing() as conn:
        save(conn, s)
    database.dispose()
    states = {h["hostname"]: h["state"] for h in _hosts(db)[1]["hosts"]}  # type: ignore[attr-defined]
    assert states["old"] == "current"
