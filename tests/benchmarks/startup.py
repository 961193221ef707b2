"""Start-up: nsaudit --help under 0.2 s; --help and snapshot --no-store never import Alembic."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 10


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    python = [sys.executable, "-c", "pass"]
    nsaudit = [sys.executable, "-m", "nsaudit"]
    t_python = statistics.median(wall(python) for _ in range(RUNS))
    t_help = statistics.median(wall([*nsaudit, "--help"]) for _ in range(RUNS))
    t_scan = statistics.median(wall([*nsaudit, "snapshot", "--no-store"]) for _ in range(RUNS))
    modules = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nsaudit", "snapshot", "--no-store"],
        capture_output=True,
        text=True,
    ).stderr
    alembic = "alembic" in modules
    print(f"python -c pass                  median {t_python * 1000:7.1f} ms")
    print(
        f"nsaudit --help                  median {t_help * 1000:7.1f} ms "
        f"(ratio to python: {t_help / t_python:.1f}; target < 200 ms: "
        f"{'met' if t_help < 0.2 else 'NOT met'})"
    )
    print(
        f"nsaudit snapshot --no-store     median {t_scan * 1000:7.1f} ms; imports Alembic: "
        f"{'YES' if alembic else 'no'}"
    )
    return 0 if t_help < 0.2 and not alembic else 1


if __name__ == "__main__":
    sys.exit(main())
