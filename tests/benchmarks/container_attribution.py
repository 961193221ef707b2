"""What attributing namespaces to containers adds to `nsaudit snapshot`, at 4,000 processes,
without containers and then with real podman and docker containers running.

Target (issue 12): attribution adds at most 10% to the snapshot's wall time. Measured in one
run: the CLI's wall time (`snapshot --no-store`, median of RUNS), and, in this process, the
scan alone and the attribution alone (median of RUNS each) on the same host.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import runtimes  # noqa: E402  (tests/runtimes.py)
from population import Population, wall  # noqa: E402

from nsaudit.collect.containers import attribute  # noqa: E402
from nsaudit.collect.scan import Scanner  # noqa: E402
from nsaudit.hostfs import HostFS  # noqa: E402

CONTAINERS = 20  # of each runtime
RUNS = 7


def measure(label: str) -> float:
    host = HostFS("/")
    cli = [wall([sys.executable, "-m", "nsaudit", "snapshot", "--no-store"]) for _ in range(RUNS)]
    scans, attributions = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = Scanner(host).run()
        scans.append(time.perf_counter() - start)
        start = time.perf_counter()
        found = attribute(host, result.namespaces)
        attributions.append(time.perf_counter() - start)
    t_cli, t_scan, t_attr = (statistics.median(x) for x in (cli, scans, attributions))
    print(
        f"{label}: {len(found.containers)} containers, {len(result.namespaces)} namespaces; "
        f"snapshot --no-store {t_cli * 1000:.0f} ms, scan {t_scan * 1000:.0f} ms, "
        f"attribution {t_attr * 1000:.1f} ms: {t_attr / t_cli:.1%} of the snapshot "
        f"({t_attr / t_scan:.1%} of the scan)"
    )
    return t_attr / t_cli


def main() -> int:
    if os.geteuid() != 0:
        print("container_attribution: needs root (unshare, podman, docker)")
        return 2
    names: dict[str, list[str]] = {"podman": [], "docker": []}
    with Population(4000, 1500):
        try:
            print(f"host: {sum(1 for p in os.listdir('/proc') if p.isdigit())} processes")
            without = measure("without containers of the benchmark's")
            for runtime, problem in (
                ("podman", runtimes.podman_problem()),
                ("docker", runtimes.docker_problem()),
            ):
                if problem is not None:
                    print(f"{runtime}: {problem}")
                    continue
                for n in range(CONTAINERS):
                    names[runtime].append(f"nsa-bench-{runtime}-{n}")
                    runtimes.run(runtime, names[runtime][-1])
            with_containers = measure("with containers")
        finally:
            for runtime, started in names.items():
                runtimes.remove(runtime, *started)
    worst = max(without, with_containers)
    print(f"attribution adds at most {worst:.1%} to the snapshot (target <= 10%)")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
