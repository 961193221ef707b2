"""Diff of two snapshots of 100,000 namespaces each, 1% churn, read from the database.

Targets: the diff under one second (issue 4), printed with the ratio to the time it takes just
to load the two snapshots; one snapshot loaded in under 0.5 s, and `nsaudit diff` of the two,
as a command, under 2 s with a peak RSS under 500 MB; `show --format json` of one in the memory
of a command that loads nothing (issue 14).
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from population import timed  # noqa: E402

from nsaudit.analysis.diff import diff
from nsaudit.model import HostInfo, Namespace, NamespaceId, NsType, Snapshot
from nsaudit.store.database import Database
from nsaudit.store.snapshots import load, save

N = 100_000
CHURN = N // 100


def namespaces(first: int) -> tuple[Namespace, ...]:
    types = list(NsType)
    owner = NamespaceId(NsType.USER, 4, 4026531837)
    return tuple(
        Namespace(
            id=NamespaceId(types[i % 8], 4, 4026532000 + i),
            nprocs=1,
            pid=1000 + i,
            pid_start=1,
            ppid=1,
            command="containerd-shim",
            cmdline=f"shim -id {i:032x}",
            uid=0,
            user="root",
            ns_id=10_000 + i,
            parent=None,
            owner=owner,
            owner_uid=None,
            holders=(),
        )
        for i in range(first, first + N)
    )


def main() -> int:
    host = HostInfo("bench", "0" * 32, "boot-1", "6.1")
    old = Snapshot(
        host, "2026-01-01T00:00:00+00:00", "bench", None, 1, False, namespaces(0), (), None
    )
    new = replace(old, taken_at="2026-01-01T01:00:00+00:00", namespaces=namespaces(CHURN))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "diff.db")
        database = Database(path)
        with database.writing() as conn:
            a = save(conn, old).id
        with database.writing() as conn:
            b = save(conn, new).id
        # The 200,000 namespaces built above are collected now, not in whichever timed step
        # the collector's next full pass happens to fall: a command has none of them.
        del old, new
        gc.collect()
        one = []
        for _ in range(3):
            started = time.perf_counter()
            with database.reading() as conn:
                load(conn, a)
            one.append(time.perf_counter() - started)
        started = time.perf_counter()
        with database.writing() as conn:
            before, after = load(conn, a), load(conn, b)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        result = diff(before, after)
        took = time.perf_counter() - started
        nsaudit = [sys.executable, "-m", "nsaudit"]
        command = timed([*nsaudit, "diff", "--db", path, str(a), str(b)])
        # show --format json streams: its memory is that of a command that loads nothing.
        shown = timed(["sh", "-c", 'exec "$@" > /dev/null', "sh", *nsaudit, "show", str(a),
                       "--db", path, "--format", "json"])  # fmt: skip
        floor = timed([*nsaudit, "snapshots", "--db", path])
    assert len(result.created) == CHURN and len(result.vanished) == CHURN
    t_one = statistics.median(one)
    checks = {
        "diff < 1 s": took < 1,
        "one load < 0.5 s": t_one < 0.5,
        "nsaudit diff < 2 s": command.wall < 2,
        "nsaudit diff peak RSS < 500 MB": command.max_rss_kb < 500 * 1024,
        "show --format json streams (peak RSS within 20 MB of `snapshots`)": (
            shown.max_rss_kb < floor.max_rss_kb + 20 * 1024
        ),
    }
    print(f"load one snapshot of {N} namespaces: {t_one * 1000:.0f} ms (median of 3)")
    print(f"load two snapshots of {N} namespaces: {loaded * 1000:.0f} ms")
    print(
        f"diff ({len(result.created)} created, {len(result.vanished)} vanished): "
        f"{took * 1000:.0f} ms; ratio diff / load = {took / loaded:.2f}; "
        f"load + diff = {(loaded + took) * 1000:.0f} ms"
    )
    print(f"nsaudit diff as a command: {command.wall * 1000:.0f} ms, peak RSS "
          f"{command.max_rss_kb / 1024:.0f} MB")  # fmt: skip
    print(f"nsaudit show --format json of {N} namespaces: {shown.wall * 1000:.0f} ms, peak RSS "
          f"{shown.max_rss_kb / 1024:.0f} MB (nsaudit snapshots: {floor.max_rss_kb / 1024:.0f} "
          "MB)")  # fmt: skip
    for what, met in checks.items():
        print(f"{what}: {'met' if met else 'NOT met'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
