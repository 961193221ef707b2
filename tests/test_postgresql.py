"""The same schema and queries on PostgreSQL: a real server, started by this test."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import new_postgres_database, run
from factories import stig_running_only

from nsaudit.store.schema import SCHEMA_HEAD


def test_snapshots_round_trip_on_postgresql(postgres_url: str) -> None:
    assert "revision empty" in run("db", "current", "--db", postgres_url).stdout
    for label in ("first", "second"):
        proc = run("snapshot", "--db", postgres_url, "--label", label, "--format", "json")
        assert proc.returncode == 0, proc.stderr
    stored = json.loads(proc.stdout)
    assert stored["seq"] == 2 and stored["previous_seq"] == 1
    listing = json.loads(run("snapshots", "--db", postgres_url, "--format", "json").stdout)
    assert [s["label"] for s in listing["snapshots"]] == ["second", "first"]
    shown = json.loads(run("show", "latest~1", "--db", postgres_url, "--format", "json").stdout)
    assert shown["label"] == "first"
    assert sum(shown["counts"].values()) == len(shown["namespaces"]) >= 8
    # Read whole (text) and streamed (json), by type too: the same namespaces.
    net = json.loads(
        run("show", "latest~1", "--type", "net", "--db", postgres_url, "--format", "json").stdout
    )
    assert net["namespaces"] == [n for n in shown["namespaces"] if n["type"] == "net"]
    proc = run("audit", "--db", postgres_url, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    audited = json.loads(proc.stdout)
    assert (audited["old"]["seq"], audited["new"]["seq"]) == (2, 3)
    proc = run("diff", "latest~2", "latest", "--db", postgres_url, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["new"]["seq"] == 3
    assert f"already at revision {SCHEMA_HEAD}" in run("db", "upgrade", "--db", postgres_url).stdout


def test_check_report_and_metrics_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    # applicable whatever runs: CI's busy host runs a container
    stig = stig_running_only(tmp_path / "stig.toml")
    for _ in range(2):
        proc = run("check", "--db", postgres_url, "--policy", stig, "--record", "--format", "json")
        assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["outcome"] == "fail"
    proc = run("report", "--db", postgres_url, "--policy", stig, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    (host,) = json.loads(proc.stdout)["hosts"]
    assert len(host["history"]["points"]) >= 2
    metrics = run("metrics", "--db", postgres_url).stdout
    assert 'rule="RHEL-08-040284"' in metrics and "nsaudit_policy_failures" in metrics


def test_a_fleet_report_from_worker_processes_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """Each worker opens its own connection: the report of three hosts is the same in one
    process and in three."""
    url = new_postgres_database(postgres_url, "fleet_workers")
    for name in ("pg-a", "pg-b", "pg-c"):
        settings = tmp_path / f"{name}.toml"
        settings.write_text(f'hostname = "{name}"\n')
        proc = run("snapshot", "--db", url, "--config", settings)
        assert proc.returncode == 0, proc.stderr
    stig = stig_running_only(tmp_path / "stig.toml")
    reports = []
    for jobs in ("1", "3"):
        proc = run("report", "--db", url, "--policy", stig, "--all-hosts", "--jobs", jobs,
                   "--format", "json")  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        data = json.loads(proc.stdout)
        del data["period"]
        for host in data["hosts"]:
            del host["policy_period"]
        reports.append(data)
    assert [h["hostname"] for h in reports[0]["hosts"]] == ["pg-a", "pg-b", "pg-c"]
    assert reports[0] == reports[1]
