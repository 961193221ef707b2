"""What `nsaudit watch` recorded, moved by bundles: a minute of watching at 2,000 events a second
(120,000 events and 120,000 task exits of one run) exported and imported into another SQLite
database, against the peer measured in the same run: storing the same rows the way the watcher
does (store/events.py record, a batch a call). Then the same bundle imported again (every row
present already), and once more after the run went on (a later export of a running run).

Prints times, the ratios against the peer, peak memory of each command and the bundle's size.
No target: measured, not asserted (issue 16 asks that runs travel; this says what it costs).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from factories import HOST, namespace_event  # noqa: E402

from nsaudit.store import events as stored  # noqa: E402
from nsaudit.store.database import Database  # noqa: E402

EVENTS, BATCH = 120_000, 2_000


def rows(first: int, count: int) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for n in range(first, first + count):
        at = f"2026-01-01T00:{n // 2000 // 60:02d}:{n // 2000 % 60:02d}.{n % 2000 * 500:06d}+00:00"
        event = replace(namespace_event(4026540000 + n, 10_000 + n), at=at, tid=n, pid=n)
        out.append(stored.event_row(event, n * 500_000))
        out.append(stored.exit_row(at, n * 500_000 + 50_000_000, n))
    return out


def watched(db: Path, count: int, first: int = 0, run: tuple[int, int] | None = None) -> float:
    """Store `count` events and exits as the watcher does, a second's batch a call; seconds."""
    database = Database(str(db))
    start = time.perf_counter()
    with database.writing_sql() as sql:
        if run is None:
            run = stored.begin_run(sql, HOST, "bpf", "", "2026-01-01T00:00:00.000000+00:00")
    for i in range(first, first + count, BATCH):
        with database.writing_sql() as sql:
            stored.record(sql, *run, rows(i, BATCH), "2026-01-01T00:01:00.000000+00:00",
                          i + BATCH, 0)  # fmt: skip
    return time.perf_counter() - start


def nsaudit(*args: str | Path) -> tuple[float, int, str]:
    """Seconds, peak RSS (MiB) and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nsaudit", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, check=True)  # fmt: skip
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, max(peak, before) // 1024, proc.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source, target, bundle = work / "s.db", work / "t.db", work / "b.jsonl"
        peer = watched(source, EVENTS)
        print(f"peer: the watcher's batches, {EVENTS:,} events and exits each: {peer:.2f} s")
        took, rss, _ = nsaudit("export", "--db", source, "--all", "-o", bundle)
        size = os.path.getsize(bundle) / 2**20
        print(f"export --all: {took:.2f} s ({took / peer:.2f}x the peer), peak {rss} MiB, "
              f"bundle {size:.1f} MiB")  # fmt: skip
        took, rss, out = nsaudit("import", "--db", target, bundle)
        print(f"import: {took:.2f} s ({took / peer:.2f}x), peak {rss} MiB: {out.splitlines()[-1]}")
        took, rss, out = nsaudit("import", "--db", target, bundle)
        print(f"import again: {took:.2f} s ({took / peer:.2f}x), peak {rss} MiB: "
              f"{out.splitlines()[-1]}")  # fmt: skip
        watched(source, BATCH * 5, EVENTS, (1, 1))
        later = work / "later.jsonl"
        nsaudit("export", "--db", source, "--all", "-o", later)
        took, rss, out = nsaudit("import", "--db", target, later)
        print(f"import of a later export (+{BATCH * 5:,} events): {took:.2f} s "
              f"({took / peer:.2f}x), peak {rss} MiB: {out.splitlines()[-1]}")  # fmt: skip


if __name__ == "__main__":
    main()
