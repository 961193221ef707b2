"""Check records in the store: a database from before them is upgraded in place, and prune
keeps each host's last check of each policy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from alembic import command
from conftest import STATE_COLUMNS_0002, assert_clean_error, fingerprint_at, run
from factories import ns, snap

from nsaudit.model import NsType, Snapshot
from nsaudit.store import engine as engines
from nsaudit.store.migrate import _config
from nsaudit.store.schema import SCHEMA_HEAD
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
    engine = engines.open_engine(str(db), write=True)
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
    # Reading never upgrades: it says what to run, and the file stays as it was.
    assert_clean_error(run("show", "1", "--db", db), 4, "revision 0001", "nsaudit db upgrade")
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    host = snap().host.hostname
    # A check that records upgrades it, as every command that writes does.
    proc = run(
        "check", "--db", db, "--policy", policy, "--host", host, "--record", "--format", "json"
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["summary"].startswith("2 net namespaces")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == SCHEMA_HEAD
        assert conn.execute("SELECT count(*) FROM policy_checks").fetchone()[0] == 1
    shown = json.loads(run("show", "1", "--db", db, "--format", "json").stdout)
    assert [n["inode"] for n in shown["namespaces"]] == [1, 2]


def test_prune_keeps_the_last_check_of_each_policy(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY)
    for _ in range(3):
        run("check", "--db", db, "--policy", policy, "--record")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE policy_checks SET checked_at = '2020-01-01T00:00:00+00:00'")
    proc = run("prune", "--db", db, "--older-than", "30d")
    assert proc.returncode == 0, proc.stderr
    assert "2 older policy check records" in proc.stdout
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT id FROM policy_checks").fetchall()
    assert last == (3,)


def test_rows_stored_before_parent_commands_learn_them_without_a_change(tmp_path: Path) -> None:
    """A database upgraded to 0003 holds rows whose fingerprint predates parent_command: the
    next snapshot that finds the same namespaces fills it in, and nothing counts as changed."""

    from sqlalchemy import update

    from nsaudit.analysis.diff import diff
    from nsaudit.store.database import Database
    from nsaudit.store.rows import to_row
    from nsaudit.store.schema import ns_states
    from nsaudit.store.snapshots import load

    database = Database(str(tmp_path / "ns.db"))
    old = snap(ns(NsType.NET, 1), ns(NsType.UTS, 2))
    with database.writing() as conn:
        first = save(conn, old)
        for n in old.namespaces:  # as nsaudit before schema 0003 wrote them
            state = {**to_row(n), "boot_id": old.host.boot_id}
            conn.execute(
                update(ns_states)
                .where(ns_states.c.inode == n.id.inode)
                .values(fingerprint=fingerprint_at(STATE_COLUMNS_0002, state))
            )
    new = _parented(old, "2026-01-01T01:00:00+00:00", "containerd-shim")
    with database.writing() as conn:
        second = save(conn, new)
        assert (second.created, second.vanished, second.changed) == (0, 0, 0)
        rows = conn.execute(ns_states.select()).all()
        assert len(rows) == 2 and {r.parent_command for r in rows} == {"containerd-shim"}
        before, after = load(conn, first.id), load(conn, second.id)
    assert not diff(before, after).differs
    # A real change of the parent later is noise, as a new ppid is.
    moved = _parented(new, "2026-01-01T02:00:00+00:00", "systemd")
    with database.writing() as conn:
        third = save(conn, moved)
        result = diff(after, load(conn, third.id))
    assert third.changed == 2 and not result.differs and len(result.noise) == 2


def _parented(s: Snapshot, taken_at: str, parent: str) -> Snapshot:
    """The same namespaces, later, each with this parent command."""
    from dataclasses import replace

    return replace(
        s,
        taken_at=taken_at,
        namespaces=tuple(replace(n, parent_command=parent) for n in s.namespaces),
    )
