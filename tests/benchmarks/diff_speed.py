"""Diff of two snapshots of 100,000 namespaces each, 1% churn, read from the database.

Target (issue 4): the diff under one second; printed with the ratio to the time it takes just
to load the two snapshots from the database.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

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
        database = Database(str(Path(tmp) / "diff.db"))
        with database.writing() as conn:
            a = save(conn, old).id
        with database.writing() as conn:
            b = save(conn, new).id
        started = time.perf_counter()
        with database.writing() as conn:
            before, after = load(conn, a), load(conn, b)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        result = diff(before, after)
        took = time.perf_counter() - started
    assert len(result.created) == CHURN and len(result.vanished) == CHURN
    print(f"load two snapshots of {N} namespaces: {loaded * 1000:.0f} ms")
    print(
        f"diff ({len(result.created)} created, {len(result.vanished)} vanished): "
        f"{took * 1000:.0f} ms (target < 1000 ms: {'met' if took < 1 else 'NOT met'}); "
        f"ratio diff / load = {took / loaded:.2f}; load + diff = {(loaded + took) * 1000:.0f} ms"
    )
    return 0 if took < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
