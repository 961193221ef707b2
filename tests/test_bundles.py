"""`nsaudit export` and `nsaudit import`: complete, idempotent, and all-or-nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, assert_clean_error, run
from test_prune_hosts import history


def without_ids(text: str) -> object:
    data = json.loads(text)
    for side in ("old", "new"):
        if side in data:
            data[side].pop("id")
    data.pop("id", None)
    return data


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bundle")
    db = folder / "source.db"
    history(db)
    bundle = folder / "all.jsonl"
    proc = run("export", "--all", "--db", db, "-o", bundle)
    assert proc.returncode == 0, proc.stderr
    return db, bundle


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM snapshots").fetchone()[0])


def test_round_trip_reproduces_show_and_diff(source: tuple[Path, Path], tmp_path: Path) -> None:
    db, bundle = source
    target = tmp_path / "target.db"
    proc = run("import", bundle, "--db", target)
    assert proc.returncode == 0 and "imported 24 snapshots (0 already present)" in proc.stdout
    for host in ("web-01", "db-01"):
        for args in (
            ["show", "latest"],
            ["show", "latest~5"],
            ["diff", "--all"],
            ["diff", "latest~7", "latest~2", "--all"],
        ):
            a = run(*args, "--host", host, "--db", db, "--format", "json").stdout
            b = run(*args, "--host", host, "--db", target, "--format", "json").stdout
            assert without_ids(a) == without_ids(b), (host, args)


def test_import_twice_adds_nothing_and_reads_stdin(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bundle = source
    target = tmp_path / "target.db"
    assert run("import", bundle, "--db", target).returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "nsaudit", "import", "-", "--db", str(target)],
        stdin=bundle.open(),
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0 and "imported 0 snapshots (24 already present)" in proc.stdout
    assert count(target) == 24


def bad_bundles(bundle: Path) -> dict[str, tuple[bytes, str]]:
    lines = bundle.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])

    def with_record(changed: dict[str, object]) -> bytes:
        return (
            lines[0]
            + json.dumps(changed).encode()
            + b"\n"
            + json.dumps({"end": "nsaudit.bundle/1", "snapshots": 1}).encode()
            + b"\n"
        )

    wrong_type = dict(record, seq="seven")
    bad_ns = dict(record, namespaces=[dict(record["namespaces"][0], inode=-1)])
    huge = dict(record, label="x" * 100_000)
    return {
        "truncated mid-line": (bundle.read_bytes()[:-300], "not JSON"),
        "truncated at a line": (b"".join(lines[:5]), "truncated"),
        "wrong schema": (
            lines[0].replace(b"bundle/1", b"bundle/9") + b"".join(lines[1:]),
            "nsaudit.bundle/9",
        ),
        "wrong type": (with_record(wrong_type), "seq: expected a whole number"),
        "negative inode": (with_record(bad_ns), "namespaces[0].inode: expected a whole number"),
        "absurd size": (with_record(huge), "label: expected at most 65536 characters"),
        "duplicate": (
            lines[0]
            + lines[1]
            + lines[1]
            + json.dumps({"end": "nsaudit.bundle/1", "snapshots": 2}).encode()
            + b"\n",
            "duplicate snapshot",
        ),
        "not a bundle": (b"\x00\x01binary", "not JSON"),
    }


def test_bad_bundles_write_nothing(source: tuple[Path, Path], tmp_path: Path) -> None:
    _, bundle = source
    target = tmp_path / "target.db"
    good = tmp_path / "good.jsonl"
    good.write_bytes(bundle.read_bytes())
    for name, (data, words) in bad_bundles(bundle).items():
        bad = tmp_path / "bad.jsonl"
        bad.write_bytes(data)
        # The good bundle comes first: even it must not be written when another is bad.
        proc = run("import", good, bad, "--db", target)
        assert_clean_error(
            proc, 2, words, "nothing was imported" if name != "not a bundle" else "bundle"
        )
        assert not target.exists() or count(target) == 0, name


def test_conflicting_snapshot_is_refused(source: tuple[Path, Path], tmp_path: Path) -> None:
    _, bundle = source
    target = tmp_path / "target.db"
    assert run("import", bundle, "--db", target).returncode == 0
    lines = bundle.read_text().splitlines(keepends=True)
    record = json.loads(lines[1])
    record["taken_at"] = "2024-01-01T00:00:00+00:00"
    other = tmp_path / "other.jsonl"
    other.write_text(
        lines[0]
        + json.dumps(record)
        + "\n"
        + json.dumps({"end": "nsaudit.bundle/1", "snapshots": 1})
        + "\n"
    )
    assert_clean_error(run("import", other, "--db", target), 2, "another time")
    assert count(target) == 24
