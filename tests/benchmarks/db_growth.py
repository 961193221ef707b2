"""Database growth: 1,000 snapshots of an unchanged host with 3,000 namespaces.

Target (issue 3): less than 2 KiB per snapshot on average. Snapshots are made by the store's
own save(), with a synthetic but realistic namespace set, so that nothing on the host changes
between them; the capability report is the real one of this host.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from nsaudit.hostfs import HostFS
from nsaudit.kernel.detect import detect
from nsaudit.kernel.report import report
from nsaudit.model import HostInfo, Namespace, NamespaceId, NsType, Snapshot
from nsaudit.store.database import Database
from nsaudit.store.snapshots import save

NAMESPACES = 3000
SNAPSHOTS = 1000


def namespaces() -> tuple[Namespace, ...]:
    types = list(NsType)
    owner = NamespaceId(NsType.USER, 4, 4026531837)
    return tuple(
        Namespace(
            id=NamespaceId(types[i % 8], 4, 4026532000 + i),
            nprocs=1 + i % 3,
            pid=1000 + i,
            pid_start=123456 + i,
            ppid=999,
            command="containerd-shim",
            cmdline=f"/usr/bin/containerd-shim-runc-v2 -namespace moby -id {i:064x}",
            uid=0,
            user="root",
            ns_id=5000 + i,
            parent=None,
            owner=owner,
            owner_uid=None,
            holders=(),
        )
        for i in range(NAMESPACES)
    )


def main() -> int:
    host = HostInfo("bench-host", "0" * 32, "boot-1", os.uname().release)
    caps = report(detect(HostFS("/")))
    base = Snapshot(host, "", "bench", None, 5, False, namespaces(), (), caps)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        database = Database(str(path))
        with database.writing() as conn:
            save(conn, replace(base, taken_at="2026-01-01T00:00:00+00:00"))

        def size() -> int:
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.stat().st_size

        start_size = size()
        started = time.perf_counter()
        for n in range(SNAPSHOTS):
            with database.writing() as conn:
                save(conn, replace(base, taken_at=f"2026-01-01T00:00:{n:06d}+00:00"))
        elapsed = time.perf_counter() - started
        grown = size() - start_size
    per = grown / SNAPSHOTS / 1024
    print(
        f"first snapshot: {start_size / 1024:.0f} KiB; {SNAPSHOTS} more: {grown / 1024:.0f} KiB, "
        f"{per:.2f} KiB per snapshot (target < 2 KiB: {'met' if per < 2 else 'NOT met'}); "
        f"{elapsed / SNAPSHOTS * 1000:.1f} ms per save"
    )
    row_per_snapshot = start_size / 1024
    print(
        f"ratio to a row per namespace per snapshot (~{row_per_snapshot:.0f} KiB each): "
        f"{per / row_per_snapshot:.4f}"
    )
    return 0 if per < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
