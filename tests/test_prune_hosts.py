"""`nsaudit prune` keeps every remaining snapshot exactly; `nsaudit hosts` lists the fleet."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import assert_clean_error, run
from factories import history


def outputs(db: Path, ids: list[int]) -> dict[str, str]:
    out = {}
    for i in ids:
        out[f"show {i}"] = run("show", str(i), "--db", db, "--format", "json").stdout
    for a, b in zip(ids, ids[1:], strict=False):
        out[f"diff {a} {b}"] = run(
            "diff", str(a), str(b), "--db", db, "--format", "json", "--all"
        ).stdout
    return out


def test_prune_keeps_remaining_snapshots_exactly(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    history(db)
    with sqlite3.connect(db) as conn:
        states_before = conn.execute("SELECT count(*) FROM ns_states").fetchone()[0]
    keep = {"web-01": [9, 10, 11, 12], "db-01": [21, 22, 23, 24]}
    before = {h: outputs(db, ids) for h, ids in keep.items()}
    proc = run("prune", "--older-than", "120d", "--keep-last", "4", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert "deleted 16 snapshots" in proc.stdout
    with sqlite3.connect(db) as conn:
        remaining = sorted(r[0] for r in conn.execute("SELECT id FROM snapshots"))
        states_after = conn.execute("SELECT count(*) FROM ns_states").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert remaining == sorted(keep["web-01"] + keep["db-01"])
    assert states_after < states_before
    for h, ids in keep.items():
        assert outputs(db, ids) == before[h]


def test_prune_needs_a_duration(tmp_path: Path) -> None:
    assert_clean_error(run("prune", "--db", tmp_path / "ns.db"), 2, "--older-than")
    assert_clean_error(
        run("prune", "--older-than", "old", "--db", tmp_path / "ns.db"), 2, "--older-than"
    )


def test_hosts_lists_each_host_with_its_last_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    history(db)
    data = json.loads(run("hosts", "--db", db, "--format", "json").stdout)
    assert data["schema"] == "nsaudit.hosts/1"
    assert [(h["hostname"], h["snapshots"], h["last"]["seq"]) for h in data["hosts"]] == [
        ("db-01", 12, 12),
        ("web-01", 12, 12),
    ]
    assert data["hosts"][1]["last"]["taken_at"].startswith("2099")
