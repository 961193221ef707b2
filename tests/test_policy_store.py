"""Check records in the store: a database from before them is upgraded in place, and prune
keeps each host's last check of each policy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from alembic import command
from conftest import run
from test_diff import ns, snap

from nsaudit.model import NsType
from nsaudit.store import engine as engines
from nsaudit.store.migrate import _config
from nsaudit.store.snapshots import save

POLICY = """
[policy]
name = "small"
[[rule]]
id = "NETS"
title = "few network namespaces"
severity = "low"
check = { kind = "count", type = "net", at_most = 1 }
"""


def test_a_revision_0001_database_is_upgraded_and_keeps_its_snapshots(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = engines.open_engine(str(db))
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
        save(conn, snap(ns(NsType.NET, 1), ns(NsType.NET, 2)))
        # Back to the first schema through the real downgrades, data and all.
        command.downgrade(_config(conn), "0001")
    engine.dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "policy_checks" not in tables
        columns = {r[1] for r in conn.execute("PRAGMA table_info(ns_states)")}
        assert "parent_command" not in columns and "holders" in columns
    before = run("show", "1", "--db", db, "--format", "json").stdout  # reading upgrades it
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    host = json.loads(before)["host"]["hostname"]
    proc = run("check", "--db", db, "--policy", policy, "--host", host, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["summary"].startswith("2 net namespaces")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0003"
        assert conn.execute("SELECT count(*) FROM policy_checks").fetchone()[0] == 1
    assert run("show", "1", "--db", db, "--format", "json").stdout == before


def test_prune_keeps_the_last_check_of_each_policy(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    for _ in range(3):
        run("check", "--db", db, "--policy", policy)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE policy_checks SET checked_at = '2020-01-01T00:00:00+00:00'")
    proc = run("prune", "--db", db, "--older-than", "30d")
    assert proc.returncode == 0, proc.stderr
    assert "2 older policy check records" in proc.stdout
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT id FROM policy_checks").fetchall()
    assert last == (3,)
