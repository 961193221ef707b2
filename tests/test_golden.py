"""Golden outputs: every command in every format, on fixed inputs, byte for byte.

The inputs are fixed files: tests/golden/inputs/ holds bundles of three real snapshots of one
host (web-1, renamed) and one of another (db-2, with a CentOS 7 kernel's capabilities), a
policy with every check kind, and the fixture roots of samples/roots/. The commands that scan
a host (snapshot, audit, check without --host) scan a /proc tree built here. What changes from
run to run (the time of the run, a fresh snapshot's duration, temporary paths) is replaced by
a fixed word before the comparison; nothing else is.

A change of output is a change of behaviour: review the diff, then write the new outputs with
    NSAUDIT_GOLDEN=update python -m pytest tests/test_golden.py
and commit them with the change that made them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOTS, SAMPLES, conforms, needs_root
from factories import process

GOLDEN = Path(__file__).parent / "golden"
INPUTS = GOLDEN / "inputs"
OUTPUTS = GOLDEN / "outputs"
# Cases name their files under $WORK: a copy of the inputs at a path of fixed length, since a
# path's length sets the width of the table columns it appears in.
WORK = "$WORK"
POLICY = f"{WORK}/inputs/policy.toml"
UPDATE = os.environ.get("NSAUDIT_GOLDEN") == "update"
FOREVER = "36500d"  # a period that reaches the inputs' snapshots whenever the tests run

# Output formats per command, as the commands' --help lists them.
SHOW = ("table", "json", "csv", "markdown")
LISTS = ("table", "json", "csv")
DIFF = ("table", "json", "markdown")
COMPARE = ("table", "json", "markdown", "csv")
CHECK = ("table", "json", "markdown", "csv", "junit")
REPORT = ("text", "markdown", "html", "json", "junit")
DETECT = ("table", "json", "markdown", "csv")
COMMANDS = (
    "audit", "check", "compare", "db", "detect", "diff", "export", "hosts", "import", "man",
    "metrics", "prune", "report", "show", "snapshot", "snapshots",
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    db: str = "fleet"  # "fleet": the imported inputs (read only); "own": a database of its own
    tree: bool = False  # scans the built /proc tree (needs root: its processes' owners)


def _cases() -> Iterator[Case]:
    yield Case("help", ("--help",))
    for command in COMMANDS:
        yield Case(f"help-{command}", (command, "--help"))
    for fmt in LISTS:
        yield Case(f"hosts-{fmt}", ("hosts", "--format", fmt))
        yield Case(f"snapshots-{fmt}", ("snapshots", "--format", fmt))
    yield Case("snapshots-host", ("snapshots", "--host", "web-1"))
    yield Case("hosts-color", ("hosts", "--color"))
    for fmt in SHOW:
        yield Case(f"show-web-1-{fmt}", ("show", "latest", "--host", "web-1", "--format", fmt))
        yield Case(f"show-2-{fmt}", ("show", "2", "--format", fmt))
        yield Case(f"show-db-2-{fmt}", ("show", "latest", "--host", "db-2", "--format", fmt))
    yield Case("show-2-wide", ("show", "2", "--wide"))
    yield Case("show-2-narrow", ("show", "2"), db="fleet-narrow")
    yield Case("show-2-color", ("show", "2", "--color", "--wide"))
    for tree in ("parent", "owner", "process"):
        yield Case(f"show-2-tree-{tree}", ("show", "2", "--tree", tree))
    for fmt in DIFF:
        yield Case(f"diff-1-2-{fmt}", ("diff", "1", "2", "--format", fmt))
        yield Case(f"diff-2-3-{fmt}", ("diff", "2", "3", "--format", fmt))
    yield Case("diff-1-3-all", ("diff", "1", "3", "--all", "--wide"))
    yield Case("diff-latest", ("diff", "--host", "web-1", "latest~1", "latest"))
    yield Case("diff-since", ("diff", "--host", "web-1", "--since", "1s"))
    yield Case("diff-hosts", ("diff", "3", "4"))
    yield Case("diff-color", ("diff", "2", "3", "--color", "--wide"))
    for fmt in COMPARE:
        yield Case(f"compare-{fmt}", ("compare", "web-1", "db-2", "--format", fmt))
    for fmt in CHECK:
        for host in ("web-1", "db-2"):
            args = ("check", "--host", host, "--policy", POLICY, "--format", fmt)
            yield Case(f"check-{host}-{fmt}", args)
    for policy in sorted((SAMPLES / "policies").glob("*.toml")):
        args = ("check", "--host", "web-1", "--policy", f"{WORK}/policies/{policy.name}", "--wide")
        yield Case(f"check-web-1-{policy.stem}", args)
    yield Case("check-quiet", ("check", "--host", "db-2", "--policy", POLICY, "-q"))
    for fmt in REPORT:
        args = ("report", "--all-hosts", "--since", FOREVER, "--policy", POLICY)
        yield Case(f"report-{fmt}", (*args, "--stale-after", FOREVER, "--format", fmt))
    # The inputs' hosts are stale by now: no rule passes.
    yield Case("report-stale", ("report", "--host", "db-2", "--since", FOREVER, "--policy", POLICY))
    for fmt in ("text", "json"):
        args = ("report", "--host", "web-1", "--since", FOREVER)
        yield Case(f"report-web-1-{fmt}", (*args, "--format", fmt))
    for host in ("web-1", "db-2"):
        yield Case(f"metrics-{host}", ("metrics", "--host", host))
    yield Case("export-all", ("export", "1", "2", "3", "4"))
    yield Case("export-db-2", ("export", "--host", "db-2", "latest"))
    yield Case("db-check", ("db", "check"))
    yield Case("db-current", ("db", "current"))
    for root in sorted(p.name for p in ROOTS.iterdir()):
        for fmt in DETECT:
            args = ("detect", "--root", f"{WORK}/roots/{root}", "--format", fmt)
            yield Case(f"detect-{root}-{fmt}", args)
    for config in ("Debian_10_Buster_x86_64", "android_pixel-7", "rhel-8.0"):
        kconfig = f"{WORK}/kconfigs/{config}.config"
        args = ("detect", "--root", f"{WORK}/roots/no-kconfig", "--kconfig", kconfig)
        yield Case(f"detect-kconfig-{config}", args)
    # Mistakes: the message and the exit code are the contract too.
    yield Case("error-ref", ("show", "latest~9", "--host", "web-1"))
    yield Case("error-host", ("show", "latest", "--host", "nosuch"))
    yield Case("error-ref-grammar", ("show", "latest~x"))
    yield Case("error-ref-id", ("diff", "1", "99"))
    yield Case("error-ref-export", ("export", "--host", "web-1", "1", "lates"))
    yield Case("error-since", ("diff", "--host", "web-1", "--since", "soon"))
    yield Case("error-format", ("hosts", "--format", "xml"))
    not_toml = f"{WORK}/inputs/web-1.jsonl"
    yield Case("error-policy", ("check", "--host", "web-1", "--policy", not_toml))
    # Commands that write, each on a database of its own.
    bundles = (f"{WORK}/inputs/web-1.jsonl", f"{WORK}/inputs/db-2.jsonl")
    yield Case("import", ("import", *bundles), db="empty")
    yield Case("import-again", ("import", *bundles), db="own")
    yield Case("hosts-forget", ("hosts", "forget", "db-2", "--yes"), db="own")
    yield Case("prune", ("prune", "--keep-last", "1", "--older-than", "1s"), db="own")
    # Commands that scan: the built tree.
    for fmt in SHOW:
        yield Case(f"snapshot-tree-{fmt}", ("snapshot", "--no-store", "--format", fmt), tree=True)
    yield Case("snapshot-tree", ("snapshot", "--label", "golden <tree>"), db="empty", tree=True)
    for fmt in ("table", "json", "markdown"):
        yield Case(f"audit-tree-{fmt}", ("audit", "--format", fmt), db="empty", tree=True)
    for fmt in CHECK:
        args = ("check", "--policy", POLICY, "--format", fmt)
        yield Case(f"check-tree-{fmt}", args, db="empty", tree=True)


CASES = list(_cases())


def build_tree(root: Path) -> None:
    """A small host: Debian 10's kernel files, init and a container-like sleeper with
    namespaces of its own (one held by a bind mount too), and a process of alice's whose name
    is markup."""
    shutil.copytree(ROOTS / "debian10-no-timens", root, symlinks=True)
    (root / "etc").mkdir()
    users = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n"
    (root / "etc" / "passwd").write_text(users)
    (root / "etc" / "machine-id").write_text("1234567890abcdef1234567890abcdef\n")
    kernel = root / "proc" / "sys" / "kernel"
    (kernel / "hostname").write_text("tree-<1>\n")
    (kernel / "random").mkdir()
    (kernel / "random" / "boot_id").write_text("aaaabbbb-cccc-4ddd-8eee-ffff00001111\n")
    host = {
        t: f"{t}:[{inode}]"
        for t, inode in (
            ("cgroup", 4026531835), ("ipc", 4026531839), ("mnt", 4026531840),
            ("net", 4026531992), ("pid", 4026531836), ("user", 4026531837),
            ("uts", 4026531838),
        )
    }  # fmt: skip
    process(root, 1, host, comm="systemd", ppid=0, cmdline=b"/sbin/init\x00")
    box = {**host, "net": "net:[4026532300]", "uts": "uts:[4026532301]", "pid": "pid:[4026532302]"}
    process(root, 40, host, comm="conmon", cmdline=b"/usr/bin/conmon\x00-c\x00box\x00")
    process(root, 41, box, comm="sleep", ppid=40, cmdline=b"sleep\x00infinity\x00")
    markup = process(
        root, 50, {**host, "ipc": "ipc:[4026532400]"}, comm="<b>=x|[a](b)",
        cmdline=b"<b>=x|[a](b)\x00--flag=\"q\"\x00", fds={"3": "net:[4026532300]"},
    )  # fmt: skip
    mountinfo = (
        "22 1 0:21 / / rw - ext4 /dev/vda rw\n"
        "40 22 0:4 net:[4026532300] /run/netns/box rw - nsfs nsfs rw\n"
    )
    (root / "proc" / "1" / "mountinfo").write_text(mountinfo)
    for pid in (1, 40, 41):
        os.chown(root / "proc" / str(pid), 0, 0)
    os.chown(markup, 1000, 1000)


_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)")
# The inputs' own times stay; any other is the time of the run (a fresh snapshot's, a check's,
# a period's ends).
_FIXED_TIMES = frozenset(
    m[0][:19] for p in INPUTS.glob("*.jsonl") for m in _TIME.finditer(p.read_text())
)
_DURATIONS = (
    (re.compile(r'("duration_ms": ?)\d+'), r"\1<MS>"),
    (re.compile(r"(nsaudit_snapshot_duration_seconds )[0-9.e-]+"), r"\1<S>"),
)


def _steady(text: str, tree: bool) -> str:
    text = _TIME.sub(lambda m: m[0] if m[0][:19] in _FIXED_TIMES else "<NOW>", text)
    for pattern, word in _DURATIONS if tree else ():
        text = pattern.sub(word, text)
    return text


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    def text(self, case: Case) -> str:
        shown = " ".join(case.args)
        head = f"$ nsaudit {shown}\nexit {self.code}\n"
        return f"{head}--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def _run(case: Case, workdir: Path) -> Outcome:
    place = workdir / case.name
    place.mkdir()
    if case.db in ("fleet", "fleet-narrow"):
        db = workdir / "fleet.db"
    else:
        db = place / "ns.db"
        if case.db == "own":
            shutil.copy(workdir / "fleet.db", db)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NSAUDIT_", "NO_COLOR"))},
        "COLUMNS": "80" if case.db == "fleet-narrow" else "160",
        "NSAUDIT_DB": str(db),
        "NSAUDIT_CONFIG": str(workdir / "empty.toml"),
        "TZ": "UTC",
    }
    args = [a.replace(WORK, str(workdir)) for a in case.args]
    if case.tree:
        args[1:1] = ["--root", str(workdir / "tree")]
    proc = subprocess.run(
        [sys.executable, "-m", "nsaudit", *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=env,
        cwd=place,
        timeout=300,
    )
    conforms(args, proc)  # every JSON output against its published schema
    out = Outcome(proc.returncode, proc.stdout, proc.stderr)
    for path, word in ((str(db), "$DB"), (str(workdir), WORK)):
        out = Outcome(out.code, out.stdout.replace(path, word), out.stderr.replace(path, word))
    return Outcome(out.code, _steady(out.stdout, case.tree), _steady(out.stderr, case.tree))


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Outcome]]:
    """Every case run once (four at a time: each is a process of its own)."""
    # A fixed length, and only hex digits: mkdtemp's "_" would come out of Markdown as "\_",
    # which no longer reads as the path that becomes $WORK.
    while True:
        workdir = Path(f"/tmp/nsaudit-golden-{secrets.token_hex(4)}")
        with contextlib.suppress(FileExistsError):
            workdir.mkdir(mode=0o700)
            break
    try:
        for name, source in (("roots", ROOTS), ("inputs", INPUTS)):
            shutil.copytree(source, workdir / name, symlinks=True)
        for name in ("kconfigs", "policies"):
            shutil.copytree(SAMPLES / name, workdir / name)
        (workdir / "empty.toml").write_text("")  # no settings file of the host's
        bundles = [workdir / "inputs" / "web-1.jsonl", workdir / "inputs" / "db-2.jsonl"]
        env = {**os.environ, "NSAUDIT_CONFIG": str(workdir / "empty.toml")}
        fleet = ["--db", str(workdir / "fleet.db")]
        subprocess.run(
            [sys.executable, "-m", "nsaudit", *fleet, "import", *map(str, bundles)],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        cases = CASES
        if os.geteuid() == 0:
            build_tree(workdir / "tree")
        else:
            cases = [c for c in CASES if not c.tree]
        with ThreadPoolExecutor(4) as pool:
            done = pool.map(lambda c: _run(c, workdir), cases)
            yield {c.name: o for c, o in zip(cases, done, strict=True)}
    finally:
        shutil.rmtree(workdir)


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_root if c.tree else (), id=c.name) for c in CASES]
)
def test_golden(case: Case, outcomes: dict[str, Outcome]) -> None:
    text = outcomes[case.name].text(case)
    path = OUTPUTS / f"{case.name}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, errors="surrogateescape")
    assert path.exists(), f"no golden output for {case.name}: NSAUDIT_GOLDEN=update writes it"
    assert text == path.read_text(errors="surrogateescape")


def test_every_golden_file_has_its_case() -> None:
    assert sorted(p.stem for p in OUTPUTS.glob("*.txt")) == sorted(c.name for c in CASES)
