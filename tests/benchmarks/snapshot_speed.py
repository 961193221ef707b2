"""nsaudit snapshot (scan and store) against lsns --json, on a host the benchmark populates.

Target (issue 3): nsaudit snapshot takes at most half of lsns's wall time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IN_NAMESPACES = 1500  # each in a new uts and ipc namespace: 3,000 namespaces
PLAIN = 2500  # more processes, in the initial namespaces: about 4,000 in all
RUNS = 5


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def spawn() -> subprocess.Popen[bytes]:
    """About 4,000 processes, IN_NAMESPACES of them each in new uts and ipc namespaces, in a
    session of their own (os.killpg ends them)."""
    script = (
        f"for i in $(seq {IN_NAMESPACES}); do unshare --uts --ipc sleep 900 & done; "
        f"for i in $(seq {PLAIN}); do sleep 900 & done; wait"
    )
    return subprocess.Popen(["bash", "-c", script], start_new_session=True)


def main() -> int:
    if os.geteuid() != 0:
        print("snapshot_speed: needs root (unshare)")
        return 2
    spawner = spawn()
    try:
        deadline = time.monotonic() + 300
        while True:
            procs = sum(1 for p in os.listdir("/proc") if p.isdigit())
            out = subprocess.run(
                ["lsns", "--raw", "--noheadings", "-o", "NS"], capture_output=True, text=True
            ).stdout
            namespaces = len(out.split())
            if namespaces >= 2 * IN_NAMESPACES and procs >= IN_NAMESPACES + PLAIN:
                break
            if time.monotonic() > deadline:
                print(f"only {procs} processes and {namespaces} namespaces after 300 s")
                return 1
            time.sleep(1)
        print(f"host: {procs} processes, {namespaces} namespaces")
        nsaudit = [sys.executable, "-m", "nsaudit"]
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.db")
            first = wall([*nsaudit, "snapshot", "--db", db])
            lsns = [wall(["lsns", "--json"]) for _ in range(RUNS)]
            stored = [wall([*nsaudit, "snapshot", "--db", db]) for _ in range(RUNS)]
            scan_only = [wall([*nsaudit, "snapshot", "--no-store"]) for _ in range(RUNS)]
        t_lsns, t_store, t_scan = (statistics.median(x) for x in (lsns, stored, scan_only))
        ratio = t_store / t_lsns
        print(f"lsns --json                 median {t_lsns * 1000:8.1f} ms")
        print(f"nsaudit snapshot (1st, db)  once   {first * 1000:8.1f} ms")
        print(f"nsaudit snapshot (stored)   median {t_store * 1000:8.1f} ms")
        print(f"nsaudit snapshot --no-store median {t_scan * 1000:8.1f} ms")
        print(
            f"ratio nsaudit snapshot / lsns = {ratio:.2f} (target <= 0.50): "
            f"{'met' if ratio <= 0.5 else 'NOT met'}"
        )
        return 0 if ratio <= 0.5 else 1
    finally:
        os.killpg(spawner.pid, 9)
        spawner.wait()


if __name__ == "__main__":
    sys.exit(main())
