"""Input files (issue 9, items 12, 16, 18): bundles checked field by field before anything is
written; every file nsaudit reads answers within seconds whatever it is (FIFO, device,
directory, sparse giant, gzip bomb, a link to /dev/zero under --root); settings paths are the
settings file's, keep_last agrees with --keep-last, bad globs in [[ignore]] are refused."""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, assert_clean_error

# Every command here must answer within this; a hang fails the test instead of blocking it.
TIMEOUT = 30
TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
TRAILER = {"end": "nsaudit.bundle/1", "snapshots": 1}


def nsaudit(
    *args: str | os.PathLike[str],
    cwd: Path = REPO,
    stdin: Any = subprocess.DEVNULL,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`python -m nsaudit ARGS`, killed (and the test failed) if it takes over TIMEOUT s."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "nsaudit", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        cwd=cwd,
        env=env,
        stdin=stdin,
        pass_fds=pass_fds,
        timeout=TIMEOUT,
    )


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- 12. bundles -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of two real snapshots of this host, capability reports and all."""
    folder = tmp_path_factory.mktemp("real")
    db = folder / "source.db"
    for _ in range(2):
        proc = nsaudit("snapshot", "--db", db)
        assert proc.returncode == 0, proc.stderr
    bundle = folder / "real.jsonl"
    proc = nsaudit("export", "--all", "--db", db, "-o", bundle)
    assert proc.returncode == 0, proc.stderr
    return bundle


def first_record(bundle: Path) -> tuple[str, dict[str, Any]]:
    lines = bundle.read_text().splitlines()
    return lines[0], json.loads(lines[1])


def one_snapshot(header: str, record: object) -> bytes:
    return f"{header}\n{json.dumps(record)}\n{json.dumps(TRAILER)}\n".encode()


def index_of(record: dict[str, Any], ns_type: str) -> int:
    return next(n for n, ns in enumerate(record["namespaces"]) if ns["type"] == ns_type)


def set_key(*path: str | int, value: object) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target: Any = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def drop_key(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target: Any = record
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def duplicate_namespace(record: dict[str, Any]) -> None:
    record["namespaces"].append(copy.deepcopy(record["namespaces"][0]))
    record["counts"][record["namespaces"][0]["type"]] += 1


def duplicate_type(record: dict[str, Any]) -> None:
    types = record["capabilities"]["types"]
    types[-1] = copy.deepcopy(types[0])


def parent_of_net(record: dict[str, Any]) -> None:
    ns = record["namespaces"][index_of(record, "net")]
    ns["parent"] = {"type": "net", "dev": ns["dev"], "inode": 1}


def net_path(record: dict[str, Any]) -> str:
    return f"namespaces[{index_of(record, 'net')}].parent"


def fake_holder(record: dict[str, Any], holder: dict[str, Any]) -> None:
    record["namespaces"][0]["holders"] = [holder]


# (change to the first snapshot record, words the one error line must hold: field, expected)
BAD_RECORDS: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "taken_at yesterday": (
        set_key("taken_at", value="yesterday"),
        ("taken_at:", "ISO 8601", "time zone", '"yesterday"'),
    ),
    "taken_at without a time zone": (
        set_key("taken_at", value="2026-11-29T04:28:16"),
        ("taken_at:", "time zone"),
    ),
    "capabilities not a report": (
        set_key("capabilities", value={"foo": 1}),
        ("capabilities.schema: missing", "nsaudit.detect/1"),
    ),
    "capabilities of another schema": (
        set_key("capabilities", "schema", value="nsaudit.detect/9"),
        ("capabilities.schema:", "nsaudit.detect/1"),
    ),
    "a type's status outside the vocabulary": (
        set_key("capabilities", "types", 2, "status", value="maybe"),
        ("capabilities.types[2].status:", "available, disabled, missing, unknown", '"maybe"'),
    ),
    "a type missing": (
        lambda r: r["capabilities"]["types"].pop(),
        ("capabilities.types:", "each of cgroup", "no uts"),
    ),
    "a type twice": (duplicate_type, ("capabilities.types[7].type:", "once")),
    "a limit as text": (
        set_key("capabilities", "types", 3, "limit", value="many"),
        ("capabilities.types[3].limit:", "whole number"),
    ),
    "unprivileged outside the vocabulary": (
        set_key("capabilities", "types", 6, "unprivileged", "value", value="sometimes"),
        ("capabilities.types[6].unprivileged.value:", "yes, no, restricted, unknown"),
    ),
    "a sysctl value as a number": (
        set_key("capabilities", "restrictions", 0, "value", value=1),
        ("capabilities.restrictions[0].value:", "a string or null"),
    ),
    "userns access outside the vocabulary": (
        set_key("capabilities", "unprivileged_userns", "value", value="maybe"),
        ("capabilities.unprivileged_userns.value:", "allowed, restricted, denied, unknown"),
    ),
    "a config option without a name": (
        set_key("capabilities", "types", 4, "config", 0, "option", value=""),
        ("capabilities.types[4].config[0].option:", "non-empty string"),
    ),
    "the same namespace twice": (
        duplicate_namespace,
        ("namespaces[", "each namespace (type, dev, inode) once", "again"),
    ),
    "no namespaces key": (drop_key("namespaces"), ("namespaces: missing",)),
    "a holder of an unknown kind": (
        lambda r: fake_holder(r, {"kind": "pipe", "pid": 1, "fd": 3, "path": None}),
        ("namespaces[0].holders[0].kind:", "fd, mount, for_children, thread", '"pipe"'),
    ),
    "an fd holder without its fd": (
        lambda r: fake_holder(r, {"kind": "fd", "pid": 1, "fd": None, "path": None}),
        ("namespaces[0].holders[0].fd:", "whole number"),
    ),
    "a mount holder without its path": (
        lambda r: fake_holder(r, {"kind": "mount", "pid": None, "fd": None, "path": None}),
        ("namespaces[0].holders[0].path:", "non-empty string"),
    ),
    "a namespace type outside the vocabulary": (
        set_key("namespaces", 0, "type", value="network"),
        ("namespaces[0].type:", "cgroup, ipc, mnt"),
    ),
    "a parent for a net namespace": (parent_of_net, ("parent:", "null for a net namespace")),
    "threads as text": (
        set_key("threads", value="yes"),
        ("threads:", "true or false", '"yes"'),
    ),
    "partial against the problems": (
        lambda r: r.update(partial=not r["partial"]),
        ("partial:", "as the problems say"),
    ),
    "counts against the namespaces": (
        set_key("counts", "net", value=10**6),
        ("counts.net:", "the number of net namespaces"),
    ),
    "an unknown key": (
        set_key("colour", value="red"),
        ("colour: unknown key", "import with the nsaudit that wrote the bundle"),
    ),
    "an unknown key in a namespace": (
        set_key("namespaces", 1, "colour", value="red"),
        ("namespaces[1].colour: unknown key",),
    ),
    "a hostile unknown key": (
        set_key("host", "x\x1b[2J", value=1),
        ("host[", "unknown key"),
    ),
    "an empty host name": (
        set_key("host", "hostname", value=""),
        ("host.hostname:", "non-empty string"),
    ),
    "seq 0": (set_key("seq", value=0), ("seq:", "from 1")),
    "a huge number": (set_key("duration_ms", value=2**70), ("duration_ms:", "2^63-1")),
    "a seq the database cannot hold": (set_key("seq", value=2**63), ("seq:", "2^63-1")),
    "a fraction": (set_key("namespaces", 0, "nprocs", value=1.5), ("namespaces[0].nprocs:",)),
}


@pytest.fixture
def target(real_bundle: Path, tmp_path: Path) -> Path:
    """A database that already holds the real bundle: a bad import must leave it as it is."""
    db = tmp_path / "db" / "target.db"
    db.parent.mkdir()
    proc = nsaudit("import", real_bundle, "--db", db)
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_bundle_field_names_line_field_and_expected(
    case: str, real_bundle: Path, target: Path, tmp_path: Path
) -> None:
    header, record = first_record(real_bundle)
    change, words = BAD_RECORDS[case]
    change(record)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(one_snapshot(header, record))
    before = files_of(target.parent)
    proc = nsaudit("import", real_bundle, bad, "--db", target)
    assert_clean_error(proc, 2, f"{bad}: line 2: ", "expected", *words, "nothing was imported")
    assert "\x1b" not in proc.stderr
    assert files_of(target.parent) == before


BAD_FILES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    # A long line is looked at before it is read whole: not a record, refused at once.
    "100,000 nested [": (b"[" * 100_000 + b"\n", ("line 1", "not a JSON object", "5b 5b")),
    "50,000 nested [": (b"[" * 50_000 + b"\n", ("line 1", "nested too deeply")),
    "100,000 nested objects after a header": (
        b'{"schema": "nsaudit.bundle/1", "nsaudit_version": "x"}\n' + b'{"a":' * 100_000,
        ("line 2", "nested too deeply"),
    ),
    "a number of 10,000 digits": (b"9" * 10_000 + b"\n", ("line 1", "digits")),
    "empty": (b"", ("empty", "no header")),
    "binary": (b"\x00" * 200_000, ("line 1", "not a JSON object", "00 00")),
    "not UTF-8": (b'{"schema": "\xff"}\n', ("line 1", "not UTF-8")),
    "a header of another schema": (
        b'{"schema": "nsaudit.bundle/9", "nsaudit_version": "9"}\n',
        ("line 1", "schema:", "nsaudit.bundle/1"),
    ),
    "a header with an unknown key": (
        b'{"schema": "nsaudit.bundle/1", "nsaudit_version": "9", "x": 1}\n',
        ("line 1", "x: unknown key"),
    ),
    "no trailer": (b'{"schema": "nsaudit.bundle/1", "nsaudit_version": "9"}\n', ("truncated",)),
    "a trailer that miscounts": (
        b'{"schema": "nsaudit.bundle/1", "nsaudit_version": "9"}\n'
        b'{"end": "nsaudit.bundle/1", "snapshots": 3}\n',
        ("line 2", "snapshots:", "expected 0"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_bundle_file_is_one_line_and_writes_nothing(
    case: str, real_bundle: Path, target: Path, tmp_path: Path
) -> None:
    data, words = BAD_FILES[case]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data)
    before = files_of(target.parent)
    proc = nsaudit("import", real_bundle, bad, "--db", target)
    assert_clean_error(proc, 2, f"bundle {bad}", *words)
    assert files_of(target.parent) == before


def test_real_capability_reports_with_probes_import(real_bundle: Path, tmp_path: Path) -> None:
    """The whole nsaudit.detect/1 vocabulary as nsaudit writes it passes, --probe included;
    a key a newer nsaudit adds to the report is kept, since the report is stored whole."""
    detect = nsaudit("detect", "--probe", "--format", "json")
    assert detect.returncode == 0, detect.stderr
    header, record = first_record(real_bundle)
    record["capabilities"] = json.loads(detect.stdout)
    record["capabilities"]["newer_key"] = {"from": ["a", "newer", "nsaudit"]}
    record["taken_at"] = "2026-11-29T06:28:16.009838+02:00"
    bundle = tmp_path / "probes.jsonl"
    bundle.write_bytes(one_snapshot(header, record))
    db = tmp_path / "ns.db"
    proc = nsaudit("import", bundle, "--db", db)
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again.jsonl"
    assert nsaudit("export", "--all", "--db", db, "-o", again).returncode == 0
    _, stored = first_record(again)
    assert stored["capabilities"] == record["capabilities"]
    # Another time zone is stored as the same moment in UTC, so times compare as text.
    assert stored["taken_at"] == "2026-11-29T04:28:16.009838+00:00"


# --- 16. any kind of file, any size ------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A FIFO nobody writes to: open(2) without O_NONBLOCK would wait forever."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.fixture
def sparse(tmp_path: Path) -> Path:
    """A 10 GB file that takes no disk: a reader that reads it whole runs out of memory."""
    path = tmp_path / "sparse"
    with path.open("wb") as f:
        f.truncate(10 * 1024**3)
    return path


def gzip_bomb(path: Path) -> Path:
    """A small gzip file that unpacks to 512 MiB of a repeated config line."""
    line = b"CONFIG_NET_NS=y\n" * 65536
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(512):
            f.write(line)
    return path


def special(name: str, tmp_path: Path, fifo: Path, sparse: Path) -> Path:
    return {
        "fifo": fifo,
        "zero": Path("/dev/zero"),
        "urandom": Path("/dev/urandom"),
        "directory": tmp_path,
        "sparse": sparse,
    }[name]


EXPECTED = {
    "zero": "character device",
    "urandom": "character device",
    "directory": "is a directory",
    "sparse": "10737418240 bytes",
}
KINDS = ("fifo", "zero", "urandom", "directory", "sparse")


@pytest.mark.parametrize("kind", KINDS)
def test_kconfig_of_any_kind(kind: str, tmp_path: Path, fifo: Path, sparse: Path) -> None:
    path = special(kind, tmp_path, fifo, sparse)
    proc = nsaudit("detect", "--kconfig", path)
    assert_clean_error(proc, 2, str(path), EXPECTED.get(kind, "is empty"))


def test_kconfig_gzip_bomb(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "config.gz")
    assert bomb.stat().st_size < 2 * 1024 * 1024
    proc = nsaudit("detect", "--kconfig", bomb)
    assert_clean_error(proc, 2, "unpacks to more than 67108864 bytes")


def test_kconfig_from_a_pipe_with_a_writer(tmp_path: Path) -> None:
    """A pipe is a stream the user chose (`--kconfig <(zcat config.gz)`): it is read."""
    source = REPO / "samples" / "kconfigs"
    config = next(p for p in sorted(source.iterdir()) if p.is_file())
    with config.open("rb") as f:
        proc = nsaudit("detect", "--kconfig", "/dev/stdin", "--format", "json", stdin=f)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kconfig"]["path"] == "/dev/stdin"


@pytest.mark.parametrize("kind", KINDS)
def test_settings_file_of_any_kind(kind: str, tmp_path: Path, fifo: Path, sparse: Path) -> None:
    path = special(kind, tmp_path, fifo, sparse)
    proc = nsaudit("db", "upgrade", "--config", path, "--db", tmp_path / "ns.db")
    if kind == "fifo":  # no writer: an empty file, so no settings
        assert proc.returncode == 0, proc.stderr
        return
    assert_clean_error(proc, 2, f"settings file {path} cannot be read", EXPECTED[kind])


def test_settings_file_dev_null_is_empty(tmp_path: Path) -> None:
    proc = nsaudit("db", "upgrade", "--config", "/dev/null", "--db", tmp_path / "ns.db")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_policy_of_any_kind(kind: str, tmp_path: Path, fifo: Path, sparse: Path) -> None:
    path = special(kind, tmp_path, fifo, sparse)
    proc = nsaudit("check", "--policy", path, "--db", tmp_path / "ns.db")
    if kind == "fifo":  # no writer: an empty policy
        assert_clean_error(proc, 2, f"policy {path}", "[policy]")
        return
    assert_clean_error(proc, 2, f"policy {path} cannot be read", EXPECTED[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_import_of_any_kind(kind: str, tmp_path: Path, fifo: Path, sparse: Path) -> None:
    path = special(kind, tmp_path, fifo, sparse)
    db = tmp_path / "ns.db"
    proc = nsaudit("import", path, "--db", db)
    words = {
        "fifo": ("empty",),  # no writer: EOF at once
        "sparse": ("line 1", "not a JSON object"),  # streamed: refused at its first bytes
    }.get(kind) or (EXPECTED[kind],)
    assert_clean_error(proc, 2, f"bundle {path}", *words)
    assert not db.exists()


def test_import_from_standard_input_that_is_a_device(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        proc = nsaudit("import", "-", "--db", tmp_path / "ns.db", stdin=zero)
    assert_clean_error(proc, 2, "bundle -", "character device")


@pytest.mark.parametrize(
    ("redirect", "words"),
    [("</dev/null", ("bundle -", "empty")), ("<&-", ("bundle -", "standard input is closed"))],
)
def test_import_from_empty_or_closed_standard_input(
    redirect: str, words: tuple[str, ...], tmp_path: Path
) -> None:
    db = tmp_path / "ns.db"
    command = f'exec "{sys.executable}" -m nsaudit import - --db "{db}" {redirect}'
    proc = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, cwd=REPO, timeout=TIMEOUT
    )
    assert_clean_error(proc, 2, *words)
    assert not db.exists()


@pytest.fixture
def slow_writer(real_bundle: Path) -> Iterator[Callable[[int], None]]:
    """Writes the bundle into a file descriptor in pieces, from another thread."""
    threads = []

    def start(fd: int) -> None:
        def write() -> None:
            with os.fdopen(fd, "wb") as f:
                for line in real_bundle.read_bytes().splitlines(keepends=True):
                    f.write(line)
                    f.flush()

        thread = threading.Thread(target=write)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(TIMEOUT)


def test_import_from_a_fifo_with_a_writer(
    fifo: Path, tmp_path: Path, slow_writer: Callable[[int], None]
) -> None:
    db = tmp_path / "ns.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nsaudit", "import", str(fifo), "--db", str(db)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Opening for writing waits for the reader: nsaudit has the FIFO open when this returns.
    slow_writer(os.open(fifo, os.O_WRONLY))
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "imported 2 snapshots" in out


def test_import_from_dev_fd_of_a_pipe(tmp_path: Path, slow_writer: Callable[[int], None]) -> None:
    """`nsaudit import <(cat bundle)`: a /dev/fd/N path of a pipe with a live writer."""
    read_end, write_end = os.pipe()
    slow_writer(write_end)
    try:
        proc = nsaudit(
            "import", f"/dev/fd/{read_end}", "--db", tmp_path / "ns.db", pass_fds=(read_end,)
        )
    finally:
        os.close(read_end)
    assert proc.returncode == 0, proc.stderr
    assert "imported 2 snapshots" in proc.stdout


def host_tree(tmp_path: Path) -> Path:
    """A --root tree whose files are traps: a link to /dev/zero for the release, a FIFO for
    the security modules, a sparse 10 GB kernel config, a gzip bomb for another."""
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/user").mkdir(parents=True)
    (root / "sys/kernel/security").mkdir(parents=True)
    (root / "boot").mkdir()
    (root / "etc").mkdir()
    (root / "proc/sys/kernel/osrelease").symlink_to("/dev/zero")
    (root / "proc/sys/kernel/hostname").symlink_to("/dev/urandom")
    (root / "proc/sys/user/max_net_namespaces").symlink_to("/dev/zero")
    os.mkfifo(root / "sys/kernel/security/lsm")
    os.mkfifo(root / "proc/sys/kernel/unprivileged_userns_clone")
    with (root / "boot/config-6.9.0").open("wb") as f:
        f.truncate(10 * 1024**3)
    gzip_bomb(root / "boot/config-6.8.0")
    (root / "boot/config-6.7.0").mkdir()
    (root / "etc/machine-id").symlink_to("/dev/zero")
    return root


def test_detect_under_a_root_of_traps(tmp_path: Path) -> None:
    root = host_tree(tmp_path)
    proc = nsaudit("detect", "--root", root, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    tried = "\n".join(report["kconfig_tried"])
    assert "config-6.9.0: it is 10737418240 bytes" in tried
    assert "config-6.8.0 unpacks to more than" in tried
    assert "config-6.7.0: it is a directory" in tried
    assert report["kernel"]["release"] is None
    assert any("osrelease cannot be read" in w for w in report["warnings"])
    assert any("max_net_namespaces" in w and "character device" in w for w in report["warnings"])
    clone = report["restrictions"][0]
    assert clone["name"] == "kernel.unprivileged_userns_clone" and clone["value"] is None


def test_snapshot_under_a_root_of_traps(tmp_path: Path) -> None:
    """A tree with a process whose files are FIFOs and an /etc/passwd that never ends."""
    root = host_tree(tmp_path)
    (root / "proc/1/ns").mkdir(parents=True)
    for name in ("stat", "cmdline", "mountinfo"):
        os.mkfifo(root / "proc/1" / name)
    (root / "proc/1/ns/mnt").symlink_to("mnt:[4026531841]")
    os.mkfifo(root / "proc/1/ns/mnt:[4026531841]")
    (root / "proc/self").symlink_to("1")
    os.symlink("/dev/zero", root / "etc/passwd")
    proc = nsaudit("snapshot", "--root", root, "--no-store", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    snap = json.loads(proc.stdout)
    assert snap["counts"]["mnt"] == 1 and snap["namespaces"][0]["command"] is None
    assert {"pid": 1, "path": f"{root}/proc/1/mountinfo", "errno": "EINVAL"} in snap["problems"]


# --- 18. settings ------------------------------------------------------------------------


def test_relative_database_is_the_settings_files(real_bundle: Path, tmp_path: Path) -> None:
    """cron starts in /: `database = "data/ns.db"` is beside the settings file, not in /."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "nsaudit.toml").write_text('database = "data/ns.db"\n')
    (folder / "data").mkdir()
    proc = nsaudit("import", real_bundle, "--config", "etc/nsaudit.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "data/ns.db").is_file()
    proc = nsaudit("db", "current", "--config", folder / "nsaudit.toml", cwd=Path("/"))
    assert str(folder / "data/ns.db") in proc.stdout
    assert not Path("/data/ns.db").exists()


def test_relative_policy_is_the_settings_files(tmp_path: Path) -> None:
    (tmp_path / "nsaudit.toml").write_text('policy = "policy.toml"\n')
    (tmp_path / "policy.toml").write_text('[policy]\ntitle = "no name"\n')
    proc = nsaudit(
        "check", "--config", tmp_path / "nsaudit.toml", "--db", tmp_path / "ns.db", cwd=Path("/")
    )
    # The error is about the policy beside the settings file: it was found there.
    assert_clean_error(proc, 2, f"policy {tmp_path / 'policy.toml'}", "policy.name")


def test_keep_last_zero_is_refused_in_the_file_as_on_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    option = nsaudit("prune", "--older-than", "90d", "--keep-last", "0", "--db", db)
    assert_clean_error(option, 2, "--keep-last", "0")
    for value in ("0", "true", "-1"):
        config = tmp_path / "nsaudit.toml"
        config.write_text(f"[retention]\nolder_than = '90d'\nkeep_last = {value}\n")
        proc = nsaudit("prune", "--config", config, "--db", db)
        assert_clean_error(proc, 2, "line 3", "keep_last must be a whole number >= 1")
    config.write_text("[retention]\nolder_than = '90d'\nkeep_last = 1\n")
    assert nsaudit("db", "upgrade", "--db", db).returncode == 0
    assert nsaudit("prune", "--config", config, "--db", db).returncode == 0


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ('command = "runc[*"', ("line 2", "'runc[*'", "ignore.command", "never closed")),
        ('user = "[!"', ("line 2", "ignore.user", "never closed")),
        ('path = ""', ("line 2", "ignore.path", "empty pattern")),
        ('type = "network"', ("line 2", "ignore.type must be one of cgroup")),
    ],
)
def test_bad_glob_in_ignore_is_refused(rule: str, words: tuple[str, ...], tmp_path: Path) -> None:
    config = tmp_path / "nsaudit.toml"
    config.write_text(f"[[ignore]]\n{rule}\n")
    proc = nsaudit("diff", "--config", config, "--db", tmp_path / "ns.db")
    assert_clean_error(proc, 2, str(config), *words)
