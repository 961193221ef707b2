"""Migration 0004: process text stored before the reversible codec reads back as it was
stored, and the first snapshot after the upgrade finds unchanged namespaces unchanged."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from conftest import (
    REPO,
    STATE_COLUMNS_0002,
    STATE_COLUMNS_0004,
    fingerprint_at,
    needs_root,
    new_postgres_database,
    run,
)
from factories import ns, snap
from nsmakers import in_new_namespaces, ns_of
from sqlalchemy import text

from nsaudit.model import NsType
from nsaudit.store import engine as engines
from nsaudit.store.migrate import _config
from nsaudit.store.rows import to_row
from nsaudit.store.schema import SCHEMA_HEAD
from nsaudit.store.snapshots import save

# The last commit before the codec (store/text.py): it stored process text as it read it.
BEFORE_CODEC = "f7c36896ae53c7cec2de7709676fab96fac2fea1"
# A systemd unit name's escaped `-`, and a Windows path: backslashes meant literally.
ARGS = ["luks\\x2d1234", "C:\\share"]
BYTE = "\udcff"  # the byte 0xff, as the collector keeps it


def _old_nsaudit(tmp_path: Path) -> Path:
    """nsaudit's tree at BEFORE_CODEC, runnable with `python -m nsaudit` from inside it."""
    tree = tmp_path / "old"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BEFORE_CODEC, "nsaudit", "migrations"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.skip(f"needs the git history of nsaudit ({BEFORE_CODEC[:7]})")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    # As the wheel ships it, so that the old code finds its own migrations, not this tree's.
    (tree / "nsaudit" / "_migrations").symlink_to("../migrations")
    return tree


def _run_old(tree: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nsaudit", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        cwd=tree,
        timeout=120,
    )


def _ours(shown: dict[str, Any], inode: int) -> dict[str, Any]:
    (found,) = [n for n in shown["namespaces"] if n["type"] == "uts" and n["inode"] == inode]
    return found


def _line(text: str, inode: int) -> str:
    (found,) = [line for line in text.splitlines() if line.split()[:2] == [str(inode), "uts"]]
    return found


@needs_root
def test_text_stored_before_the_codec_reads_the_same_and_is_no_change(tmp_path: Path) -> None:
    old = _old_nsaudit(tmp_path)
    db = tmp_path / "ns.db"
    argv: list[str | bytes] = ["sh", "-c", "sleep 300; :", *ARGS]
    with in_new_namespaces("--uts", argv=argv) as pid:
        _, inode = ns_of(pid, "uts")
        proc = _run_old(old, "snapshot", "--db", db)
        assert proc.returncode == 0, proc.stderr
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0003"
            (stored,) = conn.execute(
                "SELECT cmdline FROM ns_states WHERE ns_type = 'uts' AND inode = ?", (inode,)
            ).fetchall()
        assert stored[0] == "sh -c sleep 300; : luks\\x2d1234 C:\\share"  # as read: lossy
        proc = _run_old(old, "show", "1", "--db", db, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        before = _ours(json.loads(proc.stdout), inode)
        assert before["cmdline"] == stored[0]

        # This nsaudit's first snapshot upgrades the database, then finds the same namespace.
        proc = run("snapshot", "--db", db, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        with sqlite3.connect(db) as conn:
            assert (
                conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == SCHEMA_HEAD
            )
            rows = conn.execute(
                "SELECT first_seq, end_seq, cmdline FROM ns_states "
                "WHERE ns_type = 'uts' AND inode = ?",
                (inode,),
            ).fetchall()
        # One row, still open since seq 1: the namespace did not change.
        assert rows == [(1, None, "sh -c sleep 300; : luks\\\\x2d1234 C:\\\\share")]
        proc = run("diff", "latest~1", "latest", "--db", db)
        assert proc.returncode in (0, 1), proc.stderr
        assert f"uts:[{inode}]" not in proc.stdout and str(inode) not in proc.stdout

        # The old snapshot shows the text it showed before the upgrade, as the new one does.
        first = run("show", "1", "--db", db, "--format", "json")
        assert first.returncode == 0, first.stderr
        after = _ours(json.loads(first.stdout), inode)
        # A field a later revision added is learned by the row when the next snapshot finds
        # the namespace unchanged (store/snapshots.py, _learned): the same row, no change.
        assert {k: after[k] for k in before} == before
        latest = _ours(json.loads(run("show", "--db", db, "--format", "json").stdout), inode)
        added = after.keys() - before.keys()
        assert {k: after[k] for k in added} == {k: latest[k] for k in added}
        assert after["cmdline"] == "sh -c sleep 300; : " + " ".join(ARGS)
        second = run("show", "2", "--db", db, "--format", "json")
        assert _ours(json.loads(second.stdout), inode)["cmdline"] == after["cmdline"]
        first_text = run("show", "1", "--db", db, "--wide").stdout
        second_text = run("show", "2", "--db", db, "--wide").stdout
        # Rendered as every backslash is (render/escape.py), distinct from a byte's `\\xff`.
        assert "luks\\\\x2d1234 C:\\\\share" in _line(first_text, inode)
        # Column widths follow the other rows of each snapshot: compare the cells. The old
        # snapshot has no record of containers (schema 0005 came later): its CONTAINER cell is
        # empty, where the new one says the namespace is the host's.
        *cells, container = _line(second_text, inode).split()
        assert (_line(first_text, inode).split(), container) == (cells, "host")


def _rows(conn: Any) -> list[tuple[Any, ...]]:
    query = "SELECT id, command, cmdline, user_name, parent_command, fingerprint FROM ns_states"
    return [tuple(r) for r in conn.exec_driver_sql(query + " ORDER BY id")]


def _recoded_through_the_real_downgrade(url: str) -> None:
    """Rows stored at head go back to revision 0003's text and fingerprints through the real
    downgrade, and come back unchanged through the upgrade; a legacy fingerprint (a row from
    before 0003) stays legacy. A byte that is not UTF-8 comes back as the text the old store
    made of it, `\\xff`: the old form cannot tell the two apart."""
    first = ns(NsType.NET, 1)
    odd = replace(
        ns(NsType.UTS, 2),
        command="a\\b",
        cmdline="x " + " ".join(ARGS),
        user="dom\\user",
        parent_command="\\x41",
    )
    legacy = replace(ns(NsType.IPC, 3), cmdline="C:\\share", parent_command=None)
    byte = replace(ns(NsType.MNT, 4), cmdline="b " + BYTE)
    taken = snap(first, odd, legacy, byte)
    engine = engines.open_engine(url, write=True)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
            save(conn, taken)
            # As nsaudit before revision 0003 fingerprinted a row.
            legacy_state = {**to_row(legacy), "boot_id": taken.host.boot_id}
            conn.execute(
                text("UPDATE ns_states SET fingerprint = :fp WHERE inode = 3"),
                {"fp": fingerprint_at(STATE_COLUMNS_0002, legacy_state)},
            )
            at_head = _rows(conn)
            command.downgrade(_config(conn), "0003")
            old = _rows(conn)
            command.upgrade(_config(conn), "head")
            again = _rows(conn)
            # Whatever later revisions added, the same namespaces saved again are no change,
            # but for the byte the old form could not keep (the mnt row's, now `\xff` text).
            later = save(conn, replace(taken, taken_at="2026-01-01T01:00:00+00:00"))
            assert (later.created, later.vanished, later.changed) == (0, 0, 1)
    finally:
        engine.dispose()
    # The text comes back as it was. A row without a backslash is left alone; the one 0004
    # recoded has the fingerprint 0004 writes.
    assert [r[:5] for r in again[:3]] == [r[:5] for r in at_head[:3]]
    assert again[0] == at_head[0]
    state = {**to_row(odd), "boot_id": taken.host.boot_id}
    assert again[1][5] == fingerprint_at(STATE_COLUMNS_0004, state)
    plain, uts, ipc, mnt = old
    assert plain[:5] == at_head[0][:5]
    # The old store's text: a backslash as itself, a byte not UTF-8 as `\xff`.
    assert uts[1:5] == ("a\\b", "x luks\\x2d1234 C:\\share", "dom\\user", "\\x41")
    state = {**to_row(odd), "boot_id": taken.host.boot_id}
    old_state = {**state, "command": uts[1], "cmdline": uts[2], "user_name": uts[3]}
    assert uts[5] == fingerprint_at(STATE_COLUMNS_0004, {**old_state, "parent_command": uts[4]})
    assert ipc[2] == "C:\\share"
    assert ipc[5] == fingerprint_at(STATE_COLUMNS_0002, {**legacy_state, "cmdline": "C:\\share"})
    assert (at_head[3][2], mnt[2], again[3][2]) == ("b \\xff", "b \\xff", "b \\\\xff")
    byte_state = {**to_row(byte), "boot_id": taken.host.boot_id, "cmdline": "b \\\\xff"}
    assert again[3][5] == fingerprint_at(STATE_COLUMNS_0004, byte_state)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_real_downgrade_and_upgrade_recode_text_and_fingerprints(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL too: migration 0004 finds backslashes with LIKE, whose escape character
    is PostgreSQL's backslash unless it says otherwise; the same rows change as on SQLite."""
    if kind == "sqlite":
        _recoded_through_the_real_downgrade(str(tmp_path / "ns.db"))
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    _recoded_through_the_real_downgrade(new_postgres_database(postgres_url, "codec"))


def test_only_bytes_0x80_to_0xff_are_decoded() -> None:
    from nsaudit.store.text import from_db

    assert from_db("luks\\x2d1234 \\x7f \\x80\\xff") == "luks\\x2d1234 \\x7f \udc80\udcff"


def test_a_parent_command_learned_by_a_legacy_row_is_stored_encoded(tmp_path: Path) -> None:
    """A row from before revision 0003 learns its parent's command in the next snapshot: that
    text goes through the codec too, a byte that is not UTF-8 and a backslash included."""
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import load

    database = Database(str(tmp_path / "ns.db"))
    old = snap(replace(ns(NsType.NET, 1), parent_command=None))
    with database.writing() as conn:
        save(conn, old)
        state = {**to_row(old.namespaces[0]), "boot_id": old.host.boot_id}
        conn.execute(
            text("UPDATE ns_states SET fingerprint = :fp"),
            {"fp": fingerprint_at(STATE_COLUMNS_0002, state)},
        )
    parent = "shim\\x2d" + BYTE
    new = replace(
        old,
        taken_at="2026-01-01T01:00:00+00:00",
        namespaces=(replace(old.namespaces[0], parent_command=parent),),
    )
    with database.writing() as conn:
        saved = save(conn, new)
        assert (saved.created, saved.changed) == (0, 0)
        assert load(conn, saved.id).namespaces[0].parent_command == parent
        stored = conn.execute(text("SELECT parent_command FROM ns_states")).scalar_one()
    assert stored == "shim\\\\x2d\\xff"
