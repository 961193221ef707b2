"""A month of history for a small fleet: `nsaudit report` and `nsaudit check` from the database.

Three hosts, a snapshot every 15 minutes for 30 days (2,880 each), 300 namespaces per host
with 2 created and 2 vanished per snapshot. Printed: the report in each format and a check,
each with its ratio to the floor it cannot beat, `nsaudit show latest` of every host (start-up
and loading the latest snapshots). Target (issue 5 sets none; ours): the HTML report of the
month under 10 s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nsaudit.model import HostInfo, Namespace, NamespaceId, NsType, Snapshot
from nsaudit.store.database import Database
from nsaudit.store.snapshots import save

HOSTS = 3
DAYS = 30
PER_DAY = 96
SIZE = 300
CHURN = 2
POLICY = Path(__file__).resolve().parents[2] / "samples" / "policies" / "container-host.toml"


def namespace(i: int) -> Namespace:
    types = list(NsType)
    return Namespace(
        id=NamespaceId(types[i % 8], 4, 4026532000 + i),
        nprocs=1,
        pid=1000 + i,
        pid_start=1,
        ppid=1,
        command="containerd-shim" if i % 3 else "nginx",
        cmdline=f"shim -id {i:032x}",
        uid=0,
        user="root",
        ns_id=10_000 + i,
        parent=None,
        owner=NamespaceId(NsType.USER, 4, 4026531837),
        owner_uid=None,
        holders=(),
    )


def build(db: Path) -> int:
    start = datetime.now(UTC) - timedelta(days=DAYS)
    database = Database(str(db))
    count = 0
    for h in range(HOSTS):
        host = HostInfo(f"node-{h}", f"{h:032x}", "boot-1", "6.1")
        base = Snapshot(host, "", "bench", None, 1, False, (), (), None)
        with database.writing() as conn:
            for n in range(DAYS * PER_DAY):
                first = n * CHURN
                snap = replace(
                    base,
                    taken_at=(start + timedelta(minutes=15 * n)).isoformat(),
                    namespaces=tuple(namespace(i) for i in range(first, first + SIZE)),
                )
                save(conn, snap)
                count += 1
    database.dispose()
    return count


def timed(*args: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nsaudit", *args], capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - started
    assert proc.returncode in (0, 1), proc.stderr
    return took


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "month.db"
        started = time.perf_counter()
        count = build(db)
        print(f"built {count} snapshots in {time.perf_counter() - started:.0f} s")
        floor = sum(
            timed("show", "latest", "--host", f"node-{h}", "--db", str(db), "--format", "json")
            for h in range(HOSTS)
        )
        print(f"floor: nsaudit show latest of {HOSTS} hosts: {floor * 1000:.0f} ms")
        results = {}
        for fmt in ("text", "json", "html", "junit"):
            took = timed(
                "report", "--db", str(db), "--all-hosts", "--policy", str(POLICY),
                "--format", fmt, "-o", str(Path(tmp) / f"report.{fmt}"),
            )  # fmt: skip
            results[fmt] = took
            print(
                f"report --format {fmt}: {took * 1000:.0f} ms (ratio to floor {took / floor:.1f})"
            )
        took = timed("check", "--db", str(db), "--host", "node-0", "--policy", str(POLICY))
        print(
            f"check --host node-0: {took * 1000:.0f} ms (ratio to floor {took / floor * HOSTS:.1f})"
        )
        size = (Path(tmp) / "report.html").stat().st_size
        print(f"HTML report: {size / 1024:.0f} KiB")
    met = results["html"] < 10
    print(f"target: HTML report of the month < 10 s: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
