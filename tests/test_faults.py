"""Fault injection: each test names the fault it injects, then checks what must always hold.

After every fault: `nsaudit db check` passes, every snapshot stored before it shows
byte-identical output, the exit code is the documented one, and stderr is at most one line.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, assert_clean_error, needs_root, python_starting, run, run_window

# Documented exit codes (README, "Exit codes").
EXIT_FINDINGS, EXIT_USAGE, EXIT_DATABASE, EXIT_INTERRUPTED = 1, 2, 4, 130


def snapshot(db: Path) -> subprocess.CompletedProcess[str]:
    return run("snapshot", "--db", db, "--format", "json")


def stored_views(db: Path) -> dict[int, str]:
    """Every stored snapshot's `show` output, by id: what no fault may change."""
    listing = run("snapshots", "--db", db, "--format", "csv")
    assert listing.returncode == 0, listing.stderr
    ids = [int(line.split(",")[0]) for line in listing.stdout.splitlines()[1:]]
    views = {}
    for snapshot_id in ids:
        shown = run("show", str(snapshot_id), "--db", db, "--format", "json")
        assert shown.returncode == 0, shown.stderr
        views[snapshot_id] = shown.stdout
    return views


def assert_sound(db: Path, before: dict[int, str]) -> None:
    """`db check` passes, and every snapshot stored before the fault is as it was."""
    checked = run("db", "check", "--db", db)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    after = stored_views(db)
    for snapshot_id, text in before.items():
        assert after.get(snapshot_id) == text, f"snapshot {snapshot_id} changed"


def at_most_one_line(stderr: str) -> None:
    assert len(stderr.splitlines()) <= 1, stderr
    assert "Traceback" not in stderr


def start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nsaudit", *map(os.fspath, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with three snapshots already stored."""
    path = tmp_path / "ns.db"
    for _ in range(3):
        assert snapshot(path).returncode == 0
    return path


def while_running(db: Path, seed: int) -> Iterator[float]:
    """Delays that land inside a snapshot run on this host (conftest.run_window)."""
    window = run_window("snapshot", "--db", db)
    rng = random.Random(seed)
    while True:
        yield rng.uniform(*window)


@needs_root
def test_fault_sigkill_at_random_points(db: Path) -> None:
    delays = while_running(db, 9)
    before = stored_views(db)
    killed = 0
    for delay in itertools.islice(delays, 40):
        proc = start("snapshot", "--db", db)
        time.sleep(delay)
        proc.kill()
        proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL)
        killed += proc.returncode == -signal.SIGKILL
        if killed == 6:
            break
    assert killed, "every run finished before its signal: no fault was injected"
    assert_sound(db, before)


@needs_root
def test_fault_sigint_at_random_points(db: Path) -> None:
    delays = while_running(db, 130)
    before = stored_views(db)
    interrupted = 0
    for delay in itertools.islice(delays, 40):
        proc = start("snapshot", "--db", db)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        if proc.returncode == 0 or python_starting(proc.returncode, stderr):
            continue  # it finished before the signal, or Python itself was still starting
        interrupted += 1
        assert proc.returncode == EXIT_INTERRUPTED, (proc.returncode, stderr)
        assert stderr == "nsaudit: error: interrupted\n", stderr
        if interrupted == 6:
            break
    assert interrupted, "every run finished before its signal: no fault was injected"
    assert_sound(db, before)


@needs_root
def test_fault_concurrent_writers(db: Path) -> None:
    before = stored_views(db)
    procs = [start("snapshot", "--db", db) for _ in range(6)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert stderr == ""
    assert_sound(db, before)
    listing = run("snapshots", "--db", db, "--format", "csv").stdout.splitlines()[1:]
    rows = [line.split(",") for line in listing]
    seqs = [int(r[3]) for r in rows]
    assert sorted(seqs) == list(range(1, 10))
    by_seq = sorted(rows, key=lambda r: int(r[3]))
    assert [r[1] for r in by_seq] == sorted(r[1] for r in by_seq), "seq order is time order"


@contextlib.contextmanager
def mounted(target: Path, *mount_args: str) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    subprocess.run(["mount", *mount_args, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@needs_root
def test_fault_full_disk(tmp_path: Path) -> None:
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=3m", "tmpfs") as disk:
        db = disk / "ns.db"
        assert snapshot(db).returncode == 0
        before = stored_views(db)
        filler = disk / "filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        proc = snapshot(db)
        assert_clean_error(proc, EXIT_DATABASE, "no space left on device")
        filler.unlink()
        assert_sound(db, before)


@needs_root
def test_fault_read_only_media(db: Path, tmp_path: Path) -> None:
    before = stored_views(db)
    with mounted(tmp_path / "ro", "--bind", "-o", "ro", str(db.parent)) as ro:
        ro_db = ro / db.name
        proc = snapshot(ro_db)
        assert_clean_error(proc, EXIT_DATABASE, "read-only")
        # Reading commands work on read-only media.
        assert stored_views(ro_db) == before
        assert run("db", "check", "--db", ro_db).returncode == 0
    assert_sound(db, before)


def special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"fifo": fifo, "char device": Path("/dev/zero"), "directory": tmp_path}


@pytest.mark.parametrize(
    "option",
    [("check", "--policy"), ("detect", "--kconfig"), ("snapshots", "--config"), ("import",)],
    ids=lambda o: " ".join(o),
)
@pytest.mark.parametrize("kind", ["fifo", "char device", "directory"])
def test_fault_special_files_as_input(
    tmp_path: Path, db: Path, option: tuple[str, ...], kind: str
) -> None:
    before = stored_views(db)
    path = special_files(tmp_path)[kind]
    started = time.monotonic()
    proc = run(*option, path, "--db", db) if option[0] != "detect" else run(*option, path)
    assert time.monotonic() - started < 30
    if kind == "fifo" and option[0] != "import":
        # A FIFO without a writer reads as an empty file at once: an empty settings file,
        # policy or config, each of which is an answer, never a hang.
        assert proc.returncode in (0, EXIT_USAGE), proc.stderr
        at_most_one_line(proc.stderr)
    else:
        assert_clean_error(proc, EXIT_USAGE)
    assert_sound(db, before)


# What SQLAlchemy's pool does when closing a connection fails (as under Ctrl-C): it logs the
# error with its traceback and goes on. The fault: every connection's close fails.
_CLOSE_FAILS = """
import sys
from sqlalchemy.engine import default
from nsaudit.cli import main

def failing_close(self, connection):
    connection.close()
    raise OSError("closing failed")

default.DefaultDialect.do_close = failing_close
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("debug", [False, True])
def test_fault_a_library_logging_an_error_prints_nothing_of_it(db: Path, debug: bool) -> None:
    args = ["snapshots", "--db", str(db), *(["--debug"] if debug else [])]
    proc = subprocess.run(
        [sys.executable, "-c", _CLOSE_FAILS, *args], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert ("Exception closing connection" in proc.stderr) is debug, proc.stderr
