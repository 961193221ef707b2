"""The same schema and queries on PostgreSQL: a real server, started by this test."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IS_ROOT, SAMPLES, run

from nsaudit.store.schema import SCHEMA_HEAD

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PORT = 54329


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not PG_BIN or not IS_ROOT:
        pytest.skip("needs root and Debian's postgresql package (.ci/run installs it)")
    pytest.importorskip("psycopg")
    bin_dir = PG_BIN[-1]
    data = Path(tempfile.mkdtemp(prefix="nsaudit-pg-", dir="/tmp"))
    shutil.chown(data, "postgres")

    def as_postgres(*cmd: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120
        )

    as_postgres(f"{bin_dir}/initdb", "-D", str(data / "db"), "-A", "trust")
    as_postgres(
        f"{bin_dir}/pg_ctl",
        "-D",
        str(data / "db"),
        "-w",
        "-l",
        str(data / "log"),
        "-o",
        f"-k {data} -p {PORT} -c listen_addresses=127.0.0.1",
        "start",
    )
    try:
        as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(PORT), "nsaudit")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{PORT}/nsaudit"
    finally:
        as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


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
    assert f"already at revision {SCHEMA_HEAD}" in run("db", "upgrade", "--db", postgres_url).stdout


def test_check_report_and_metrics_on_postgresql(postgres_url: str) -> None:
    stig = SAMPLES / "policies" / "stig-user-namespaces.toml"
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


def test_migration_0004_recodes_stored_text_on_postgresql(postgres_url: str) -> None:
    """Migration 0004 finds backslashes with LIKE, whose escape character is PostgreSQL's
    backslash unless it says otherwise: the same rows change as on SQLite."""
    from sqlalchemy import create_engine, text
    from test_text_codec_migration import _recoded_through_the_real_downgrade

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE codec"))
    admin.dispose()
    _recoded_through_the_real_downgrade(postgres_url.rsplit("/", 1)[0] + "/codec")
