"""nsaudit snapshot and audit against lsns --json, on three host shapes the benchmark makes.

Targets (issue 14), each ratio measured in one run on the same host:
- `nsaudit snapshot` (scan and store) wall time at most 1.0x `lsns --json` on every shape, at
  most 0.5x on the process-heavy one; its CPU time (user + system) at most 1.0x lsns's;
- `nsaudit audit` (detect, snapshot, diff) wall time at most 1.2x lsns's;
- peak RSS of `snapshot` at 20,000 processes under 150 MB.

Beside nsaudit it prints where nsaudit's time goes (NSAUDIT_TIMINGS: nsaudit/timing.py) and the
floor: a bare walk, in a fresh Python, that readlinks every namespace link and fd of /proc and
does nothing else. Exit 1 when a target is missed. `--shape NAME` runs one shape.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from population import Population, Run, processes, timed  # noqa: E402

# name: (processes in all, of which each in new uts and ipc namespaces, lsns's target ratio)
SHAPES = {
    "old": (4000, 1500, 1.0),
    "namespace-heavy": (1500, 1500, 1.0),
    "process-heavy": (20000, 1000, 0.5),
}
RUNS = 5
LSNS_RUNS = {"process-heavy": 3}  # lsns takes half a minute there
MAX_RSS_MB = 150
# The command's own phases, in order; the scan's run in the prescan child meanwhile (nsaudit/
# collect/prescan.py), alongside the import, and the command waits for what is left of them.
PHASES = ("import", "detect", "prescan wait", "save", "compare", "output")
SCAN = ("walk", "details", "relations", "containers", "scan cpu")

FLOOR = """
import os
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for d in ("ns", "fd"):
        try:
            names = os.listdir(f"/proc/{pid}/{d}")
        except OSError:
            continue
        for n in names:
            try:
                os.readlink(f"/proc/{pid}/{d}/{n}")
            except OSError:
                pass
"""


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        max(r.max_rss_kb for r in runs),
    )


def phases(cmd: list[str], db: str) -> tuple[Run, dict[str, float]]:
    """The command's runs, and the median of each phase's milliseconds."""
    runs, spent = [], []
    with tempfile.TemporaryDirectory() as tmp:
        timings = str(Path(tmp) / "timings.json")
        env = {**os.environ, "NSAUDIT_TIMINGS": timings}
        for _ in range(RUNS):
            runs.append(timed([*cmd, "--db", db], env))
            spent.append(json.loads(Path(timings).read_text()))
    names = (*PHASES, *SCAN)
    return median_run(runs), {p: statistics.median(s.get(p, 0.0) for s in spent) for p in names}


def line(label: str, run: Run, lsns: Run) -> str:
    return (f"  {label:<22} wall {run.wall * 1000:7.0f} ms ({run.wall / lsns.wall:5.2f}x)  "
            f"cpu {run.cpu * 1000:7.0f} ms ({run.cpu / lsns.cpu:5.2f}x)  "
            f"peak RSS {run.max_rss_kb / 1024:5.0f} MB")  # fmt: skip


def measure(name: str) -> list[str]:
    """Measure one shape; what missed its target."""
    total, in_namespaces, target = SHAPES[name]
    missed = []
    with Population(total, in_namespaces):
        print(f"{name}: {processes()} processes, {2 * in_namespaces}+ namespaces")
        nsaudit = [sys.executable, "-m", "nsaudit"]
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.db")
            timed([*nsaudit, "snapshot", "--db", db])  # the first: creates the database
            lsns = median_run([timed(["lsns", "--json"]) for _ in range(LSNS_RUNS.get(name, RUNS))])
            snap, spent = phases([*nsaudit, "snapshot"], db)
            audit, _ = phases([*nsaudit, "audit"], db)
        floor = median_run([timed([sys.executable, "-c", FLOOR]) for _ in range(RUNS)])
        python = median_run([timed([sys.executable, "-c", "pass"]) for _ in range(RUNS)])
    print(line("lsns --json", lsns, lsns))
    print(line("nsaudit snapshot", snap, lsns))
    print(line("nsaudit audit", audit, lsns))
    print(line("floor: readlink walk", floor, lsns))
    print(line("floor: python -c pass", python, lsns))
    rest = snap.wall * 1000 - sum(spent[p] for p in PHASES)
    print("  snapshot breakdown (ms): " + ", ".join(f"{p} {spent[p]:.0f}" for p in PHASES)
          + f", start-up and the rest {rest:.0f}; the scan, in the prescan meanwhile: "
          + ", ".join(f"{p} {spent[p]:.0f}" for p in SCAN)
          + f" ({spent['scan cpu'] / (lsns.cpu * 1000):.2f}x lsns's whole run)")  # fmt: skip
    checks = [
        (f"snapshot wall <= {target}x lsns", snap.wall <= target * lsns.wall),
        ("snapshot cpu <= 1.0x lsns", snap.cpu <= lsns.cpu),
        ("audit wall <= 1.2x lsns", audit.wall <= 1.2 * lsns.wall),
    ]
    if name == "process-heavy":
        checks.append((f"snapshot peak RSS < {MAX_RSS_MB} MB", snap.max_rss_kb < MAX_RSS_MB * 1024))
    for what, met in checks:
        print(f"  {what}: {'met' if met else 'NOT met'}")
        if not met:
            missed.append(f"{name}: {what}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=list(SHAPES), action="append")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("snapshot_speed: needs root (unshare)")
        return 2
    missed = [m for name in args.shape or SHAPES for m in measure(name)]
    print("all targets met" if not missed else "NOT met: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
