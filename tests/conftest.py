"""Shared test helpers: run the real CLI in a subprocess, where the samples are, and a real
PostgreSQL server (tests/factories.py builds test data)."""

from __future__ import annotations

import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
KCONFIGS = SAMPLES / "kconfigs"
ROOTS = SAMPLES / "roots"
IS_ROOT = os.geteuid() == 0

# The container-host trees of samples/roots/ (tests/test_container_roots.py); the others are
# kernel trees with detect expectations (tests/test_oracles.py).
CONTAINER_ROOTS = (
    "k8s-containerd-systemd-v2",
    "k8s-crio-cgroupfs-v1",
    "nspawn-machined-v2",
    "podman-rootless-systemd-v2",
)
# RHEL 9 hosts for the STIG's user-namespace items (samples/roots/make_stig_roots.py).
STIG_ROOTS = (
    "stig-userns-conflict",
    "stig-userns-container-host",
    "stig-userns-not-applied",
    "stig-userns-not-persisted",
    "stig-userns-persisted",
)

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (CI runs as root)")

# Tests that may skip in CI, each with the reason it cannot run there. Any other skip fails a
# CI run: a test that needs a component skips outside CI only (.ci/run installs them all).
CI_MAY_SKIP: dict[str, str] = {
    "tests/test_text_codec_migration.py::test_text_stored_before_the_codec_reads_the_same": (
        "runs nsaudit as it was before the text codec, from git history a shallow clone lacks"
    ),
}


# What makes a real namespace in the tests: tests/nsmakers.py's makers, and unshare(1).
_NAMESPACE_MAKERS = frozenset(
    {"in_new_namespaces", "netns", "fd_held_netns", "nested_user_and_pid"}
)
_UNSHARE = re.compile(r"(^|[\s.])unshare[\s(]")


def _strings(values: Any) -> Iterator[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, tuple | list | frozenset):
            yield from _strings(value)


def _makes_namespaces(code: Any, module: Any, seen: set[Any]) -> bool:
    """Whether a function's code, a function defined in it, or a function or constant of its
    module that it names, calls a namespace maker or runs unshare(1)."""
    if code in seen:
        return False
    seen.add(code)
    named = [getattr(module, n, None) for n in code.co_names]
    strings = [*_strings(code.co_consts), *_strings(v for v in named)]
    if _NAMESPACE_MAKERS & set(code.co_names) or any(
        s == "unshare" or _UNSHARE.search(s) for s in strings
    ):
        return True
    inner = [c for c in code.co_consts if hasattr(c, "co_names")]
    inner += [
        getattr(inspect.unwrap(f), "__code__", None)
        for f in named
        if callable(f) and getattr(f, "__module__", None) == module.__name__
    ]
    return any(_makes_namespaces(c, module, seen) for c in inner if hasattr(c, "co_names"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that make real namespaces (`pytest -m namespaces`: the ones to run in a
    loop for flakiness), by what their code and fixtures call."""
    for item in items:
        fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        functions = [getattr(item, "function", None)]
        functions += [defs[-1].func for defs in fixtures.values()]
        seen: set[Any] = set()
        for f in functions:
            code = getattr(inspect.unwrap(f), "__code__", None) if callable(f) else None
            module = sys.modules.get(getattr(f, "__module__", ""), None)
            if code is not None and module is not None and _makes_namespaces(code, module, seen):
                item.add_marker("namespaces")
                break


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped) or hasattr(report, "wasxfail"):
        return
    if any(item.nodeid.startswith(allowed) for allowed in CI_MAY_SKIP):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI ({reason}): CI has every component, so a skip there is a failure "
        "(tests/conftest.py CI_MAY_SKIP lists the exceptions)"
    )


# ns_states' columns (with boot_id) as schema revisions stored them: a fingerprint written
# then covers these only, whatever columns later revisions add.
STATE_COLUMNS_0002 = (
    "boot_id", "ns_type", "dev", "inode", "ns_id", "nprocs", "pid", "pid_start", "ppid",
    "command", "cmdline", "uid", "user_name", "parent_dev", "parent_inode", "owner_dev",
    "owner_inode", "owner_uid", "holders",
)  # fmt: skip
STATE_COLUMNS_0004 = (*STATE_COLUMNS_0002, "parent_command")
STATE_COLUMNS_0009 = (*STATE_COLUMNS_0004, "container")


def fingerprint_at(columns: tuple[str, ...], state: dict[str, Any]) -> str:
    """The fingerprint nsaudit wrote for `state` when its rows had only these columns."""
    from nsaudit.store.snapshots import _fingerprint

    return _fingerprint({k: v for k, v in state.items() if k in columns})


def run(
    *args: str | os.PathLike[str],
    prefix: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m nsaudit ARGS` as a user would, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("NO_COLOR", None) if env is None or "NO_COLOR" not in env else None
    cmd = [*prefix, sys.executable, "-m", "nsaudit", *map(os.fspath, args)]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=full_env,
        cwd=REPO,
        timeout=120,
    )
    conforms(cmd[cmd.index("nsaudit") + 1 :], proc)
    return proc


def run_window(*args: str | os.PathLike[str]) -> tuple[float, float]:
    """When a signal sent after starting `python -m nsaudit ARGS` lands inside its run on this
    host: after Python has started nsaudit (`--version`, the fastest of 3) and before the whole
    command ends (the slowest of 2), both measured here. Fixed delays miss a fast host's short
    run (CI once: 12 of 12 SIGINTs came too early or too late)."""

    def seconds(*what: str | os.PathLike[str]) -> float:
        began = time.monotonic()
        assert run(*what).returncode == 0
        return time.monotonic() - began

    starting = min(seconds("--version") for _ in range(3))
    whole = max(seconds(*args) for _ in range(2))
    return starting, max(whole, starting + 0.05)


def lsns(*args: str) -> bytes:
    """util-linux lsns's output (it must succeed)."""
    for _ in range(5):
        # lsns 2.38 exits 1 with no message now and then when a process vanishes under it
        # (seen 1 in 60 runs on a host making namespaces every 30 ms): its hiccup, not ours.
        proc = subprocess.run(["lsns", *args], capture_output=True)
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def conforms(args: list[str], proc: subprocess.CompletedProcess[str]) -> None:
    """Every JSON document a command prints validates against its published schema (`nsaudit
    schema`), closed: a key the schema does not list is an error here, so neither can drift."""
    formats = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--format"]
    formats += [a.removeprefix("--format=") for a in args if a.startswith("--format=")]
    as_json = "json" in formats
    lines = "jsonl" in formats
    exported = bool(args) and args[0] == "export" and "-o" not in args and "--output" not in args
    if (
        proc.returncode not in (0, 1)
        or not proc.stdout.strip()
        or not (as_json or exported or lines)
        or "--help" in args
    ):
        return
    from schema_check import validate

    if lines:
        for line in proc.stdout.splitlines():
            document = json.loads(line)
            validate(document, document["schema"])
        return
    if exported:
        for line in proc.stdout.splitlines():
            validate(json.loads(line), "nsaudit.bundle/1")
        return
    document = json.loads(proc.stdout)
    validate(document, document["schema"])


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
# main() beside a process of the same user in the host's namespaces with a higher pid than its
# own (it starts after nsaudit does).
_BESIDE_A_SLEEPER = """
import subprocess, sys
from nsaudit.cli import main
sleeper = subprocess.Popen(["sleep", "300"])
try:
    code = main(sys.argv[1:])
finally:
    sleeper.kill()
sys.exit(code)
"""


def as_nobody(
    *args: str | os.PathLike[str], sleeper: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `nsaudit ARGS` as uid 65534 (needs root); with `sleeper`, beside a `sleep` of its own."""
    if not sleeper:
        return run(*args, prefix=NOBODY)
    return subprocess.run(
        [*NOBODY, sys.executable, "-c", _BESIDE_A_SLEEPER, *map(os.fspath, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@contextmanager
def nobody_dir() -> Iterator[Path]:
    """A directory uid 65534 may write (pytest's tmp_path is root's alone)."""
    home = Path(tempfile.mkdtemp(prefix="nsaudit-nobody-", dir="/tmp"))
    try:
        home.chmod(0o755)
        os.chown(home, 65534, 65534)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_json(*args: str | os.PathLike[str]) -> dict[str, Any]:
    """Run a command with --format json; it must succeed."""
    proc = run(*args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def by_type(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["type"]: t for t in report["types"]}


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """One line on stderr naming the problem, the documented exit code, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nsaudit: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert proc.stdout == ""


def python_starting(returncode: int, stderr: str) -> bool:
    """A SIGINT that came before the interpreter ran a line of nsaudit: the process died of the
    signal itself (a shell reports 130 too), or Python's own start-up was interrupted. Nothing
    nsaudit can catch; nothing of nsaudit's shows."""
    starting = returncode == -2 or stderr.startswith("Fatal Python error: init_")
    # `python -m`: interrupted while Python imports runpy, before it looks for nsaudit.
    starting = starting or stderr.startswith("Could not import runpy module")
    starting = starting or (
        stderr.startswith("Traceback") and stderr.endswith("KeyboardInterrupt\n")
    )
    # Interrupted while Python's site module runs a .pth file (an editable install's finder):
    # site prints the error, ignores the rest of that file and goes on (seen in CI).
    first = stderr.partition("\n")[0]
    starting = starting or (
        first.startswith("Error processing line") and first.endswith(".pth:")
        and "KeyboardInterrupt" in stderr
    )  # fmt: skip
    return starting and "/nsaudit/" not in stderr


# A real PostgreSQL server for the tests that use one (module scope: one server a module).
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PORT = 54329


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not PG_BIN or not IS_ROOT:
        pytest.skip("needs root and Debian's postgresql package (.ci/run installs it)")
    pytest.importorskip("psycopg")
    bin_dir = PG_BIN[-1]
    data = Path(tempfile.mkdtemp(prefix="nsaudit-pg-", dir="/tmp"))
    shutil.chown(data, "postgres")

    def as_postgres(*cmd: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120
        )

    as_postgres(f"{bin_dir}/initdb", "-D", str(data / "db"), "-A", "trust")
    # The superuser logs in without a password; every other role (a fleet's: test_fleet.py)
    # with its password, from a pgpass file.
    (data / "db" / "pg_hba.conf").write_text(
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    as_postgres(
        f"{bin_dir}/pg_ctl",
        "-D",
        str(data / "db"),
        "-w",
        "-l",
        str(data / "log"),
        "-o",
        f"-k {data} -p {PORT} -c listen_addresses=127.0.0.1 -c max_connections=500",
        "start",
    )
    try:
        as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(PORT), "nsaudit")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{PORT}/nsaudit"
    finally:
        as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def new_postgres_database(postgres_url: str, name: str) -> str:
    """The URL of a new, empty database of that name on the tests' PostgreSQL server."""
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name
