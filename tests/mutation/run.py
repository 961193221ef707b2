#!/usr/bin/env python3
"""Mutation testing of nsaudit's core with mutmut 3 (pyproject.toml [tool.mutmut] names the
modules). Not part of the default test run: it takes about an hour on two idle cores.

    tests/mutation/run.py              mutate, run the tests against every mutant, print scores
    tests/mutation/run.py --scores     print the scores of the last run again
    tests/mutation/run.py -- NAMES     (re)run only the mutants named (globs allowed)
    tests/mutation/run.py --max-children 1   one test process at a time (default: a core each)

Needs `pip install -e '.[test,mutation]'`, and root (the collector's tests make namespaces).
Results stay in mutants/ (git-ignored): mutmut re-tests the functions whose code changed, but
not a survivor whose tests changed (name it, or `rm -rf mutants` for a fresh measure).
A survivor that no test can kill is listed in tests/mutation/equivalent.txt with its reason;
the score counts it as neither killed nor survived. Exits 1 when a module scores under 85%.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGET = 85.0
MEMORY = 4_000_000_000  # bytes of address space for mutmut and each mutant's tests
# mutmut's exit codes (mutmut/stats.py): what counts as the tests catching the mutant.
CAUGHT = {
    1: "killed",
    3: "killed",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "crashed",
    -9: "crashed",
}
MISSED = {0: "survived", 5: "no tests", 33: "no tests"}


def _bounded() -> None:
    """A mutant that loops forever allocating (i += 1 made i -= 1) fails at 4 GB instead of
    taking the machine's memory."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def equivalents() -> dict[str, str]:
    """Mutants that behave as the original: name pattern -> why."""
    found = {}
    for line in (HERE / "equivalent.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.partition(" ")
            found[name] = why.strip()
    return found


def scores() -> int:
    equal = equivalents()
    worst = 100.0
    rows = []
    survivors = []
    for meta in sorted((REPO / "mutants").rglob("*.py.meta")):
        results = json.loads(meta.read_text())["exit_code_by_key"]
        count: Counter[str] = Counter()
        for name, code in results.items():
            if any(fnmatch.fnmatchcase(name, p) for p in equal):
                count["equivalent"] += 1
            elif code in CAUGHT:
                count["caught"] += 1
            elif code in MISSED:
                count[MISSED[code]] += 1
                survivors.append(name)
            else:
                count["not run" if code is None else f"exit {code}"] += 1
                survivors.append(name)
        judged = sum(count.values()) - count["equivalent"]
        score = 100.0 * count["caught"] / judged if judged else 100.0
        worst = min(worst, score)
        module = str(meta.relative_to(REPO / "mutants"))[: -len(".meta")]
        others = ", ".join(f"{k} {v}" for k, v in sorted(count.items()) if k != "caught")
        rows.append(f"{module:32} {count['caught']:5}/{judged:<5} {score:6.1f}%  {others}")
    print(f"{'module':32} {'caught':>11} {'score':>7}")
    print("\n".join(rows))
    if survivors:
        print(f"\n{len(survivors)} mutants not caught (mutmut show NAME):")
        print("\n".join(f"  {s}" for s in survivors))
    print(f"\nlowest module score {worst:.1f}% (target {TARGET:.0f}%)")
    return 0 if worst >= TARGET else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", action="store_true", help="print the last run's scores")
    parser.add_argument("--max-children", type=int, help="test processes at once")
    parser.add_argument("names", nargs="*", help="mutant names or globs to (re)run")
    args = parser.parse_args()
    if not args.scores:
        with tempfile.TemporaryDirectory(prefix="nsaudit-mutation-") as calls:
            env = {
                **os.environ,
                # sitecustomize.py and the pytest plugin that carry subprocess calls
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(HERE / "site"), os.environ.get("PYTHONPATH")])
                ),
                "NSAUDIT_MUTATION_CALLS": calls,
                "NSAUDIT_MUTATION_PROJECT": str(REPO),
            }
            env.pop("CI", None)
            # samples/roots hold /proc-like trees with dangling symlinks, which mutmut's copy
            # refuses: copied here as they are (pyproject.toml leaves samples out of also_copy).
            (REPO / "mutants").mkdir(exist_ok=True)
            shutil.rmtree(REPO / "mutants" / "samples", ignore_errors=True)
            shutil.copytree(REPO / "samples", REPO / "mutants" / "samples", symlinks=True)
            mutmut = Path(sys.executable).with_name("mutmut")
            children = []
            if args.max_children is not None:
                children = ["--max-children", str(args.max_children)]
            subprocess.run(
                [mutmut, "run", *children, *args.names],
                cwd=REPO,
                env=env,
                check=True,
                preexec_fn=_bounded,
            )
    return scores()


if __name__ == "__main__":
    sys.exit(main())
