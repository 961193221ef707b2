#!/usr/bin/env python3
"""The bugs issue 10 planted, planted again: each one-line change must fail a test.

    python tests/mutation/planted.py          every bug: CAUGHT or MISSED, exit 1 on a miss
    python tests/mutation/planted.py NAME...  only those

Each bug is applied to a fresh copy of the repository and the tests that defend the behaviour
run against it; they must have passed on the copy without the bug first. Not part of the
default run (a few minutes); tests/mutation/run.py measures the same thing for every mutant of
the core that mutmut can make, this the behaviours the issue named, data tables included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent.parent


class Bug(NamedTuple):
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = (
    Bug(
        "holders-only change counted as noise",
        "nsaudit/model/inventory.py",
        'column("holders", header="HOLDERS", diff="signal")',
        'column("holders", header="HOLDERS", diff="noise")',
        ("tests/test_diff.py",),
    ),
    Bug(
        "unreadable process does not make the snapshot partial",
        "nsaudit/collect/scan.py",
        "            if e.errno not in _GONE:\n                self._problem(pid, path, e)\n"
        "            return False, None",
        "            return False, None",
        ("tests/test_scan_trust.py", "tests/test_collect.py"),
    ),
    Bug(
        "unreadable bind mount does not make the snapshot partial",
        "nsaudit/collect/scan.py",
        "                if e.errno not in _GONE:\n"
        "                    self._problem(pid, path, e)\n"
        "                elif",
        "                if False:\n                    pass\n                elif",
        ("tests/test_scan_trust.py", "tests/test_collect.py"),
    ),
    Bug(
        "'snapshot is partial' note missing from check evidence",
        "nsaudit/policy/checks.py",
        "    return (Evidence(text),)",
        "    return ()",
        ("tests/test_scan_trust.py", "tests/test_check.py"),
    ),
    Bug(
        "Markdown link characters left unescaped",
        "nsaudit/render/escape.py",
        r"""re.compile(r"([\\`*\[\]<>|~&]""",
        r"""re.compile(r"([\\`*<>|~&]""",
        ("tests/test_render.py",),
    ),
    Bug(
        "Markdown entity character left unescaped",
        "nsaudit/render/escape.py",
        r"""re.compile(r"([\\`*\[\]<>|~&]""",
        r"""re.compile(r"([\\`*\[\]<>|~]""",
        ("tests/test_render.py",),
    ),
    Bug(
        "CSV formula prefixes other than '=' left unescaped",
        "nsaudit/render/escape.py",
        '_FORMULA_START = ("=", "+", "-", "@")',
        '_FORMULA_START = ("=",)',
        ("tests/test_render.py",),
    ),
    Bug(
        "ipc needs SYSVIPC alone (not SYSVIPC or POSIX_MQUEUE)",
        "nsaudit/kernel/nstypes.py",
        '("CONFIG_SYSVIPC", "CONFIG_POSIX_MQUEUE"),',
        '("CONFIG_SYSVIPC",),',
        ("tests/test_kconfigs.py", "tests/test_oracles.py"),
    ),
    Bug(
        "CONFIG_NAMESPACES umbrella ignored",
        "nsaudit/kernel/detect.py",
        "    if spec.umbrella and not values[UMBRELLA].enabled:",
        "    if False:",
        ("tests/test_kconfigs.py", "tests/test_oracles.py"),
    ),
    Bug(
        "too-old kernel without a config reported unknown, not missing",
        "nsaudit/kernel/detect.py",
        "    elif kernel_ok is False:\n        built = False",
        "    elif kernel_ok is False:\n        built = None",
        ("tests/test_kconfigs.py", "tests/test_oracles.py", "tests/test_cli.py"),
    ),
    Bug(
        "bundle with lines missing before its trailer imported",
        "nsaudit/bundle.py",
        "            _run(number, _trailer, record, count)",
        "            _run(number, _trailer, record, record['snapshots'])",
        ("tests/test_bundle_schema.py",),
    ),
    Bug(
        "bundle with data after its trailer imported",
        "nsaudit/bundle.py",
        "            if _line(stream, number + 1) is not None:",
        "            if False:",
        ("tests/test_bundle_schema.py",),
    ),
    Bug(
        "waiver no longer applies on its expiry day",
        "nsaudit/policy/evaluate.py",
        "in_force = [w for w in matching if w.expires >= today]",
        "in_force = [w for w in matching if w.expires > today]",
        ("tests/test_policy_rules.py", "tests/test_policy_checks.py"),
    ),
    Bug(
        "internal error exits 1, not 70",
        "nsaudit/errors.py",
        "EXIT_INTERNAL = 70",
        "EXIT_INTERNAL = 1",
        ("tests/test_core_units.py",),
    ),
    Bug(
        "unprivileged user namespaces: clone switch 0 read as allowed",
        "nsaudit/kernel/userns.py",
        '    if values.get(CLONE_SWITCH) == "0":\n        return Answer(Access.DENIED',
        '    if values.get(CLONE_SWITCH) == "1":\n        return Answer(Access.DENIED',
        ("tests/test_oracles.py",),
    ),
)


def copy_repo(into: Path) -> None:
    # samples/roots hold dangling symlinks (/proc-like trees): copied as links.
    skip = shutil.ignore_patterns(
        ".git",
        ".venv",
        "mutants",
        "__pycache__",
        "*.egg-info",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
    )
    shutil.copytree(REPO, into, symlinks=True, ignore=skip)


def pytest(where: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=where,
        capture_output=True,
        text=True,
    )


def plant(bug: Bug, where: Path) -> None:
    path = where / bug.path
    text = path.read_text()
    if text.count(bug.old) != 1:
        raise SystemExit(f"{bug.name}: {bug.path} no longer holds the line to change once")
    path.write_text(text.replace(bug.old, bug.new))


def main(names: list[str]) -> int:
    bugs = [b for b in BUGS if not names or b.name in names]
    missed = 0
    with tempfile.TemporaryDirectory(prefix="nsaudit-planted-") as tmp:
        os.chmod(tmp, 0o755)  # some tests run nsaudit as nobody on the copy's samples
        clean = Path(tmp) / "clean"
        copy_repo(clean)
        tests = tuple(sorted({t for b in bugs for t in b.tests}))
        baseline = pytest(clean, tests)
        if baseline.returncode != 0:
            print(baseline.stdout[-3000:])
            raise SystemExit("the tests fail without any bug planted: fix them first")
        for n, bug in enumerate(bugs):
            where = Path(tmp) / f"bug{n}"
            copy_repo(where)
            plant(bug, where)
            proc = pytest(where, bug.tests)
            caught = proc.returncode == 1
            missed += not caught
            failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED")][:1]
            print(f"{'CAUGHT' if caught else 'MISSED'}  {bug.name}  {' '.join(failed)}")
            shutil.rmtree(where)
    print(f"{len(bugs) - missed} of {len(bugs)} planted bugs caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
