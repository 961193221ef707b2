"""`nsaudit export` and `nsaudit import`: complete, idempotent, and all-or-nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, assert_clean_error, run
from factories import history


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
    # Other hosts' snapshots: the bad bundle's own are not the same snapshots a second time.
    good.write_bytes(bundle.read_bytes().replace(b'-01"', b'-02"'))
    for name, (data, words) in bad_bundles(bundle).items():
        bad = tmp_path / "bad.jsonl"
        bad.write_bytes(data)
        # The good bundle comes first: even it must not be written when another is bad.
        proc = run("import", good, bad, "--db", target)
        assert_clean_error(
            proc, 2, words, "nothing was imported" if name != "not a bundle" else "bundle"
        )
        # Each snapshot is stored as it is read: the rollback undoes them, and a database
        # that did not exist is not left behind either.
        assert not target.exists(), name


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


# --- import stores each snapshot as it reads it, in one transaction (review finding 9) ------


def records_of(record: dict[str, Any], host: str, count: int, start: int = 1) -> list[bytes]:
    """`count` copies of a snapshot record of host `host`, seq `start` on, a minute apart."""
    out = []
    when = datetime(2030, 1, 1, tzinfo=UTC)
    for seq in range(start, start + count):
        taken = (when + timedelta(minutes=seq)).isoformat()
        item = dict(record, seq=seq, taken_at=taken, host=dict(record["host"], hostname=host))
        out.append(json.dumps(item).encode() + b"\n")
    return out


def bundle_of(header: bytes, lines: list[bytes], count: int | None = None) -> bytes:
    trailer = {"end": "nsaudit.bundle/1", "snapshots": len(lines) if count is None else count}
    return header + b"".join(lines) + json.dumps(trailer).encode() + b"\n"


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def last_record_bad(lines: list[bytes], change: str) -> list[bytes]:
    record = json.loads(lines[-1])
    if change == "a field":
        record["namespaces"][0]["holders"] = [{"kind": "pipe", "pid": 1, "fd": 1, "path": None}]
    elif change == "another time":  # the file's last snapshot is stored already, at another time
        record["seq"], record["host"]["hostname"] = 3, "db-01"
        record["host"]["machine_id"] = "db-01"
    elif change == "before the stored ones":  # stored up to seq 12; seq 0 is not allowed
        record["host"]["hostname"] = record["host"]["machine_id"] = "web-01"
        record["seq"] = 1_000_000
        record["taken_at"] = "2000-01-01T00:00:00+00:00"
    return [*lines[:-1], json.dumps(record).encode() + b"\n"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("a field", ("line 41: namespaces[0].holders[0].kind:", "pipe")),
        ("another time", ("line 41:", "another time")),
        ("before the stored ones", ("line 41:", "before its newest stored snapshot")),
        ("no trailer", ("truncated",)),
    ],
)
def test_error_in_the_last_record_of_the_second_file_leaves_the_database_as_it_was(
    source: tuple[Path, Path], tmp_path: Path, change: str, words: tuple[str, ...]
) -> None:
    """The first file's snapshots and the second's but last are stored before the error is
    read; rolling back leaves every file of the database byte for byte as it was."""
    _, bundle = source
    folder = tmp_path / "db"
    folder.mkdir()
    target = folder / "target.db"
    assert run("import", bundle, "--db", target).returncode == 0
    lines = bundle.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(bundle_of(lines[0], records_of(record, "new-01", 30)))
    new = records_of(record, "new-02", 40)
    if change == "no trailer":
        second.write_bytes(lines[0] + b"".join(new))
    else:
        second.write_bytes(bundle_of(lines[0], last_record_bad(new, change)))
    before = files_of(folder)
    proc = run("import", first, second, "--db", target)
    assert_clean_error(proc, 2, f"bundle {second}", *words, "nothing was imported")
    assert files_of(folder) == before
    # The same files, the second one whole, import.
    second.write_bytes(bundle_of(lines[0], new))
    proc = run("import", first, second, "--db", target)
    assert proc.returncode == 0 and "imported 70 snapshots (0 already present)" in proc.stdout


def test_checks_across_bundles(source: tuple[Path, Path], tmp_path: Path) -> None:
    _, bundle = source
    target = tmp_path / "target.db"
    lines = bundle.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    older, newer = tmp_path / "older.jsonl", tmp_path / "newer.jsonl"
    older.write_bytes(bundle_of(lines[0], records_of(record, "h", 5)))
    newer.write_bytes(bundle_of(lines[0], records_of(record, "h", 5, start=6)))
    overlapping = tmp_path / "overlapping.jsonl"
    overlapping.write_bytes(bundle_of(lines[0], records_of(record, "h", 5, start=5)))
    again = tmp_path / "again.jsonl"
    again.write_bytes(bundle_of(lines[0], records_of(record, "h", 5, start=3)))
    # The same snapshot in two bundles.
    proc = run("import", older, overlapping, "--db", target)
    words = ("the same snapshot in two bundles: seq 5", f"bundle {older}, line 6")
    assert_clean_error(proc, 2, f"bundle {overlapping}: line 2:", *words)
    proc = run("import", older, again, "--db", target)
    assert_clean_error(proc, 2, f"bundle {again}: line 2: snapshot seq 3", "a second time")
    assert not target.exists()
    # Each host's snapshots are stored in seq order as they are read: older bundles first.
    proc = run("import", newer, older, "--db", target)
    assert_clean_error(proc, 2, f"bundle {older}: line 2:", "comes after its seq 10", "older")
    assert not target.exists()
    proc = run("import", older, newer, "--db", target)
    assert proc.returncode == 0 and "imported 10 snapshots (0 already present)" in proc.stdout
    # Each bundle's part is said.
    assert proc.stdout.splitlines()[:2] == [
        f"bundle {older}: 5 added, 0 already present",
        f"bundle {newer}: 5 added, 0 already present",
    ]
    # Stored snapshots are skipped (the idempotent re-import), in one bundle or several...
    proc = run("import", older, newer, "--db", target)
    assert proc.returncode == 0 and "imported 0 snapshots (10 already present)" in proc.stdout
    assert f"bundle {newer}: 0 added, 5 already present" in proc.stdout
    proc = run("import", overlapping, "--db", target)
    assert proc.returncode == 0 and "imported 0 snapshots (5 already present)" in proc.stdout
    # ...but not given twice in one import.
    proc = run("import", older, older, "--db", target)
    assert_clean_error(proc, 2, f"bundle {older}: line 2:", "comes after its seq 5", "once")
    assert count(target) == 10


def peak_rss_kib(*args: str | Path) -> int:
    """Peak resident memory of `python -m nsaudit ARGS`, measured by a parent of its own (the
    test process's children include every earlier command)."""
    measure = (
        "import resource, subprocess, sys;"
        "proc = subprocess.run(sys.argv[1:], capture_output=True);"
        "assert proc.returncode == 0, proc.stderr;"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    cmd = [sys.executable, "-c", measure, sys.executable, "-m", "nsaudit", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def test_import_memory_does_not_grow_with_the_number_of_snapshots(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bundle = source
    lines = bundle.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    # A snapshot of 200 namespaces: each a few hundred bytes, as a real host's are.
    ns = record["namespaces"][0]
    record["namespaces"] = [
        dict(ns, type="net", inode=1000 + i, cmdline="/usr/bin/conmon " + "x" * 200, holders=[])
        for i in range(200)
    ]
    record["counts"] = {t: (200 if t == "net" else 0) for t in record["counts"]}
    peaks = {}
    for n in (200, 2000):
        path = tmp_path / f"{n}.jsonl"
        path.write_bytes(bundle_of(lines[0], records_of(record, "big", n)))
        peaks[n] = peak_rss_kib("import", path, "--db", tmp_path / f"{n}.db")
    # Holding every snapshot, 1,800 more took 250 MiB (82 -> 329 MiB); one at a time, none.
    assert peaks[2000] < peaks[200] + 20 * 1024, peaks


def test_a_line_longer_than_a_real_snapshot_needs_is_refused(tmp_path: Path) -> None:
    """128 MiB: a 100,000-namespace snapshot is some 33-70 MiB (README, `nsaudit import`)."""
    bad = tmp_path / "long.jsonl"
    with bad.open("wb") as f:
        f.write(b'{"schema": "nsaudit.bundle/1", "nsaudit_version": "9"}\n{"label": "')
        f.truncate(f.tell() + 128 * 1024 * 1024 + 10)  # a hole: no disk, no newline
    target = tmp_path / "target.db"
    proc = run("import", bad, "--db", target)
    assert_clean_error(proc, 2, f"bundle {bad}: line 2: longer than 134217728 bytes")
    assert not target.exists()
