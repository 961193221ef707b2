"""The database under hostile conditions (issue 9): other programs' databases, loose modes,
concurrent writers, read-only media, a full disk, big numbers, `db check`, `hosts forget`,
and two hosts that share a name. Real files, real mounts, real processes."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES, assert_clean_error, needs_root, run
from factories import kernel_report, ns, snap

from nsaudit.model import Container, HostInfo, NsType
from nsaudit.store.database import Database
from nsaudit.store.schema import SCHEMA_HEAD
from nsaudit.store.snapshots import save

PYTHON = shlex.quote(sys.executable)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(db: Path | str, *extra: str) -> dict[str, object]:
    proc = run("snapshot", "--db", db, "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def settle(db: Path) -> None:
    """Fold the write-ahead log into the file, so that the file alone is the database."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def store(db: Path, host: HostInfo, *taken_at: str) -> None:
    """Snapshots of `host`, one per time, without scanning (a fleet made in a moment)."""
    database = Database(str(db))
    for i, when in enumerate(taken_at):
        s = replace(snap(ns(NsType.NET, 1), ns(NsType.UTS, 2 + i)), taken_at=when, host=host)
        with database.writing() as conn:
            save(conn, s)
    database.dispose()


# Item 4: another program's database, loose modes, folders.


def test_another_programs_database_is_refused_and_left_byte_identical(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    subprocess.run(["sqlite3", str(db), "create table users(id)"], check=True)
    before = digest(db)
    for args in (("snapshot",), ("db", "upgrade"), ("show",), ("snapshots",), ("db", "check")):
        proc = run(*args, "--db", db)
        assert_clean_error(proc, 4, str(db), "tables nsaudit did not create (users)")
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.db"]
    # One foreign table beside nsaudit's own is refused too.
    own = tmp_path / "own.db"
    snapshot(own)
    with sqlite3.connect(own) as conn:
        conn.execute("create table notes(x)")
    assert_clean_error(run("snapshot", "--db", own), 4, "did not create (notes)")


def test_database_or_folder_others_can_write_is_refused_with_the_chmod(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    db = folder / "ns.db"
    snapshot(db)
    db.chmod(0o666)
    for args in (("snapshot",), ("show",)):
        assert_clean_error(run(*args, "--db", db), 4, "every user", f"chmod o-w {db}")
    db.chmod(0o600)
    folder.chmod(0o777)
    assert_clean_error(run("snapshot", "--db", db), 4, f"folder {folder}", f"chmod o-w {folder}")
    # Sticky, like /tmp: only the owner can rename or remove the file.
    folder.chmod(0o1777)
    snapshot(db)
    folder.chmod(0o700)
    assert len(json.loads(run("snapshots", "--db", db, "--format", "json").stdout)["snapshots"])


def test_new_folders_are_0700_at_every_level(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "c" / "ns.db"
    proc = run("db", "upgrade", "--db", db, prefix=("sh", "-c", 'umask 022; exec "$@"', "-"))
    assert proc.returncode == 0, proc.stderr
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert db.stat().st_mode & 0o777 == 0o600


def test_symlinked_folder_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    snapshot(real / "ns.db")
    link = tmp_path / "link"
    link.symlink_to(real)
    before = digest(real / "ns.db")
    for args in (("snapshot",), ("show",)):
        assert_clean_error(run(*args, "--db", link / "ns.db"), 4, "symbolic link")
    assert_clean_error(run("snapshot", "--db", link / "new.db"), 4, "symbolic link")
    assert digest(real / "ns.db") == before
    assert not (real / "new.db").exists()


# Review findings 4 and 10: the folder checks follow the path as the kernel does, and nothing
# is created before they pass.


def test_a_world_writable_folder_behind_a_symlinked_parent_is_refused(tmp_path: Path) -> None:
    public = tmp_path / "public"
    (public / "inner").mkdir(parents=True, mode=0o700)
    public.chmod(0o777)
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o700)
    (safe / "link").symlink_to(public / "inner")
    # A folder still to be made under the link, and one that already exists there.
    for args in (("snapshot",), ("db", "upgrade")):
        proc = run(*args, "--db", safe / "link" / "sub" / "ns.db")
        assert_clean_error(proc, 4, f"folder {public} ", f"chmod o-w {public}")
    assert list((public / "inner").iterdir()) == []
    (public / "inner" / "sub").mkdir(mode=0o700)
    for args in (("snapshot",), ("db", "upgrade")):
        proc = run(*args, "--db", safe / "link" / "sub" / "ns.db")
        assert_clean_error(proc, 4, f"folder {public} ", f"chmod o-w {public}")
    assert list((public / "inner" / "sub").iterdir()) == []
    # The database's own folder may still not be a symbolic link, wherever it leads.
    assert_clean_error(run("snapshot", "--db", safe / "link" / "ns.db"), 4, "symbolic link")
    # A symlinked folder further up that leads to safe folders is followed.
    (safe / "real").mkdir(mode=0o700)
    (safe / "up").symlink_to(safe / "real")
    snapshot(safe / "up" / "sub" / "ns.db")
    assert (safe / "real" / "sub" / "ns.db").is_file()
    assert (safe / "real" / "sub").stat().st_mode & 0o777 == 0o700


def test_a_world_writable_folder_holding_the_symlink_is_refused(tmp_path: Path) -> None:
    # Whoever can write the folder that holds a link can point the link elsewhere.
    public = tmp_path / "public"
    public.mkdir(mode=0o700)
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (public / "link").symlink_to(real)
    public.chmod(0o777)
    proc = run("db", "upgrade", "--db", public / "link" / "sub" / "ns.db")
    assert_clean_error(proc, 4, f"folder {public} ", f"chmod o-w {public}")
    assert list(real.iterdir()) == []


def test_refused_folders_leave_nothing_behind(tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o777)
    for args in (("snapshot",), ("db", "upgrade"), ("audit",)):
        proc = run(*args, "--db", public / "new1" / "new2" / "ns.db")
        assert_clean_error(proc, 4, f"folder {public} ", f"chmod o-w {public}")
        assert list(public.iterdir()) == [], args


def test_read_only_or_memory_sqlite_uris_create_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "sub" / "ro.db"
    read_only = f"sqlite:///file:{missing}?mode=ro&uri=true"
    for args in (("snapshot",), ("db", "upgrade"), ("audit",)):
        assert_clean_error(run(*args, "--db", read_only), 4, f"no database at {missing}")
    assert list(tmp_path.iterdir()) == []
    # An in-memory database has a name, not a file: it lives and ends with the command.
    memory = f"sqlite:///file:{tmp_path / 'sub' / 'mem.db'}?mode=memory&uri=true"
    for args in (("db", "upgrade"), ("snapshot",)):
        proc = run(*args, "--db", memory)
        assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []
    assert not list(REPO.glob("*mem.db*"))


def test_relative_sqlite_url_in_a_settings_file_is_beside_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o700)
    config = conf / "nsaudit.toml"
    for url, made in (
        ("sqlite:///rel.db", conf / "rel.db"),
        ("sqlite:///sub/rel.db", conf / "sub" / "rel.db"),
        ("sqlite:///file:uri.db?uri=true", conf / "uri.db"),
    ):
        config.write_text(f'database = "{url}"\n')
        proc = run("db", "upgrade", "--config", config)
        assert proc.returncode == 0, proc.stderr
        assert made.is_file(), url
    # The command runs in the repository (as cron would run it in /): nothing was made there.
    assert not (REPO / "rel.db").exists() and not (REPO / "sub").exists()
    assert not (REPO / "uri.db").exists()


# Item 5: overlapping runs, seq order and time order, one `latest`.


def test_eight_concurrent_snapshots_store_seq_order_in_time_order(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nsaudit", "snapshot", "--db", str(db), "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(8)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, seq, taken_at FROM snapshots ORDER BY seq").fetchall()
    assert [r[1] for r in rows] == list(range(1, 9))
    assert [r[2] for r in rows] == sorted(r[2] for r in rows), rows
    latest = json.loads(run("show", "latest", "--db", db, "--format", "json").stdout)
    listed = json.loads(run("snapshots", "--limit", "1", "--db", db, "--format", "json").stdout)
    diffed = json.loads(run("diff", "--db", db, "--format", "json").stdout)
    assert latest["id"] == listed["snapshots"][0]["id"] == diffed["new"]["id"] == rows[-1][0]
    assert diffed["old"]["id"] == rows[-2][0]
    assert diffed["old"]["taken_at"] <= diffed["new"]["taken_at"]
    assert run("db", "check", "--db", db).returncode == 0


def test_a_snapshot_older_than_the_newest_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    host = HostInfo("web", "a" * 32, "boot-1", "6.1")
    store(db, host, "2026-01-02T00:00:00+00:00")
    with pytest.raises(Exception, match="before its newest stored snapshot"):
        store(db, host, "2026-01-01T00:00:00+00:00")
    assert run("db", "check", "--db", db).returncode == 0


# Item 15: reading commands never create or migrate; read-only media; SQLite URIs.

READERS = [
    ("show",),
    ("snapshots",),
    ("diff",),
    ("hosts",),
    ("compare", "a", "b"),
    ("export",),
    ("report",),
    ("metrics",),
    ("db", "current"),
    ("db", "check"),
    ("check", "--no-snapshot", "--policy", str(SAMPLES / "policies" / "container-host.toml")),
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_reading_commands_never_create_a_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "typo" / "x.db"
    proc = run(*args, "--db", db)
    assert_clean_error(proc, 4, f"no database at {db}", "nsaudit snapshot")
    assert not (tmp_path / "typo").exists()


def test_reading_commands_do_not_migrate_an_older_schema(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from nsaudit.store.migrate import _config

    db = tmp_path / "old.db"
    db.touch(mode=0o600)
    with create_engine(f"sqlite:///{db}").begin() as conn:
        command.upgrade(_config(conn), "0002")
    before = digest(db)
    for args in (("show",), ("snapshots",), ("hosts",)):
        assert_clean_error(run(*args, "--db", db), 4, "revision 0002", "nsaudit db upgrade")
    assert digest(db) == before
    assert "revision 0002" in run("db", "current", "--db", db).stdout
    assert run("db", "upgrade", "--db", db).returncode == 0
    assert f"revision {SCHEMA_HEAD}" in run("db", "current", "--db", db).stdout


@needs_root
def test_read_only_bind_mount_is_readable(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    db = folder / "ns.db"
    snapshot(db)
    snapshot(db)
    readers = ["show 1", "show latest", "snapshots", "hosts", "diff 1 2", "db current", "db check"]
    expected = {r: run(*r.split(), "--db", db) for r in readers}
    # As the media would hold it: the file alone, without a -wal or -shm beside it.
    settle(db)
    for extra in folder.glob("ns.db-*"):
        extra.unlink()
    script = f"mount --bind -o ro {folder} {folder}\n" + "".join(
        f"{PYTHON} -m nsaudit {r} --db {db} > {tmp_path}/out.{i} 2>&1; echo $? >> {tmp_path}/rc\n"
        for i, r in enumerate([*readers, "snapshot"])
    )
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=REPO)
    codes = (tmp_path / "rc").read_text().split()
    for i, r in enumerate(readers):
        got = (tmp_path / f"out.{i}").read_text()
        assert (codes[i], got) == (str(expected[r].returncode), expected[r].stdout), r
    written = (tmp_path / f"out.{len(readers)}").read_text()
    assert codes[-1] == "4" and "cannot be written" in written, written


@needs_root
def test_read_only_folder_is_readable_by_a_user(tmp_path: Path) -> None:
    # A real unprivileged user, running this checkout with the system Python.
    public = Path(tempfile.mkdtemp(prefix="nsaudit-test-"))
    public.chmod(0o755)
    folder = public / "data"
    folder.mkdir()
    os.chown(folder, 65534, 65534)
    db = folder / "ns.db"
    site = next(REPO.glob(".venv/lib/python3*/site-packages"), None)
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if site is None or not system.exists():
        pytest.skip("needs this checkout's virtualenv and the matching system Python")
    env = {**os.environ, "HOME": str(public)}
    # The virtualenv's .pth files (the editable install) apply to a site dir, not PYTHONPATH.
    start = f"import runpy, site, sys; site.addsitedir({str(site)!r}); sys.argv[0] = 'nsaudit'; "
    start += "runpy.run_module('nsaudit', run_name='__main__')"
    user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(system), "-c"]

    def as_user(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*user, start, *args, "--db", str(db)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)

    try:
        assert as_user("snapshot").returncode == 0
        listing = as_user("snapshots")
        assert listing.returncode == 0
        # As a writer leaves it: the file alone, no -wal or -shm the folder could not hold.
        for extra in folder.glob("ns.db-*"):
            extra.unlink()
        folder.chmod(0o500)
        for args in (("snapshots",), ("show", "latest"), ("hosts",)):
            proc = as_user(*args)
            assert proc.returncode == 0, proc.stderr
        assert as_user("snapshots").stdout == listing.stdout
        proc = as_user("snapshot")
        assert proc.returncode == 4 and "ns.db" in proc.stderr, proc.stderr
    finally:
        folder.chmod(0o700)
        subprocess.run(["rm", "-rf", str(public)])


def test_sqlite_uri_is_opened_as_sqlite_opens_it(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snapshot(f"sqlite:///file:{db}?uri=true")
    assert db.exists()
    settle(db)
    before = digest(db)
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    shown = json.loads(run("show", "--db", read_only, "--format", "json").stdout)
    assert shown["seq"] == 1
    assert_clean_error(run("snapshot", "--db", read_only), 4, "cannot be written")
    assert digest(db) == before
    assert not list(REPO.glob("file:*")) and not list(tmp_path.glob("file:*"))


def test_a_nul_in_an_sqlite_file_name_is_refused(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/a%00b.db", f"sqlite:///file:{tmp_path}/a%2500b.db?uri=true"):
        for command in ("snapshot", "show"):
            assert_clean_error(run(command, "--db", url), 4, "NUL character")
        # A command's own argument errors come first, as before it opened anything.
        proc = run("report", "--host", "a", "--all-hosts", "--db", url)
        assert_clean_error(proc, 2, "either --host NAME")
        assert_clean_error(run("compare", "a", "a", "--db", url), 2, "named twice")
    assert not list(tmp_path.iterdir())


# Item 13: big numbers and a full disk.


def test_numbers_too_big_for_the_database_are_usage_errors(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snapshot(db)
    for args, words in (
        (("show", "99999999999999999999999"), ("no snapshot 99999999999999999999999",)),
        (("show", "latest~9223372036854775808"), ("no snapshot latest~9223372036854775808",)),
        (("diff", "1", "99999999999999999999"), ("no snapshot 99999999999999999999",)),
        (("export", "99999999999999999999"), ("no snapshot 99999999999999999999",)),
        (("snapshots", "--limit", "99999999999999999999"), ("--limit",)),
    ):
        assert_clean_error(run(*args, "--db", db), 2, *words)


@needs_root
def test_full_disk_says_no_space_and_keeps_the_database(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir(mode=0o700)
    db = mnt / "ns.db"
    out = tmp_path / "out"
    out.mkdir()
    nsaudit = f"{PYTHON} -m nsaudit"
    script = f"""
mount -t tmpfs -o size=1m,mode=0700 tmpfs {mnt} || exit 99
{nsaudit} snapshot --db {db} > /dev/null || exit 98
{nsaudit} show 1 --db {db} --format json > {out}/before
dd if=/dev/zero of={mnt}/filler bs=4096 2> /dev/null
{nsaudit} snapshot --db {db} > {out}/full.stdout 2> {out}/full.stderr
echo $? > {out}/full.rc
{nsaudit} show 1 --db {db} --format json > {out}/while-full
rm {mnt}/filler
{nsaudit} show 1 --db {db} --format json > {out}/after
{nsaudit} snapshots --db {db} --format json > {out}/list
{nsaudit} db check --db {db} > {out}/check
echo $? > {out}/check.rc
"""
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=REPO
    )
    assert done.returncode == 0, done.returncode
    assert (out / "full.rc").read_text().strip() == "4"
    stderr = (out / "full.stderr").read_text()
    assert stderr.startswith("nsaudit: error: ") and len(stderr.splitlines()) == 1, stderr
    assert "no space left on device" in stderr and "disk I/O error" not in stderr, stderr
    before = (out / "before").read_text()
    assert before and (out / "while-full").read_text() == before
    assert (out / "after").read_text() == before
    assert len(json.loads((out / "list").read_text())["snapshots"]) == 1
    assert (out / "check.rc").read_text().strip() == "0", (out / "check").read_text()


# Extras: db check, hosts forget, two hosts with one name.


def test_db_check_passes_a_sound_database_and_notes_prune_gaps(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    host = HostInfo("web", "a" * 32, "boot-1", "6.1")
    store(db, host, *(f"2025-0{m}-01T00:00:00+00:00" for m in range(1, 5)))
    store(db, host, "2099-01-01T00:00:00+00:00")
    assert run("prune", "--older-than", "1d", "--keep-last", "1", "--db", db).returncode == 0
    settle(db)
    before = digest(db)
    proc = run("db", "check", "--db", db)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "note: host 'web' (aaaaaaaaaaaa): seq 1-4 absent (pruned)" in proc.stdout
    assert f"sound (1 hosts, 1 snapshots, schema {SCHEMA_HEAD})" in proc.stdout
    assert proc.stderr == ""
    assert digest(db) == before


def test_db_check_lists_each_problem_and_exits_4(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    host = HostInfo("web", "a" * 32, "boot-1", "6.1")
    store(db, host, "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE snapshots SET taken_at = '2020-01-01T00:00:00+00:00' WHERE seq = 2")
        conn.execute("UPDATE snapshots SET namespace_count = 7 WHERE seq = 1")
        conn.execute(
            "INSERT INTO capability_reports (host_id, sha256, body) VALUES (1, 'x', '{broken')"
        )
        conn.execute("INSERT INTO policy_checks VALUES (1, 1, 1, 'p', 'x', 't', 0, 0, 0, '[1')")
    settle(db)
    before = digest(db)
    proc = run("db", "check", "--db", db)
    assert proc.returncode == 4
    problems = [line for line in proc.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 4, proc.stdout
    assert any("seq 2 (2020-01-01T00:00:00+00:00) was taken before seq 1" in p for p in problems)
    assert any("counted 7 namespaces but holds 2" in p for p in problems)
    assert any("capability report" in p and "not JSON" in p for p in problems)
    assert any("policy check record 1" in p for p in problems)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nsaudit: error: ") and "4 problems" in lines[0]
    assert digest(db) == before


def test_a_damaged_capability_report_is_a_database_error(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    database = Database(str(db))
    host = HostInfo("web", "a" * 32, "boot-1", "6.1")
    with database.writing() as conn:
        save(conn, replace(snap(ns(NsType.NET, 1), caps=kernel_report()), host=host))
    database.dispose()
    with sqlite3.connect(db) as conn:
        body = json.loads(conn.execute("SELECT body FROM capability_reports").fetchone()[0])
        body["types"][2]["status"] = "maybe"
        conn.execute("UPDATE capability_reports SET body = ?", (json.dumps(body),))
    settle(db)
    before = digest(db)
    damage = "types[2].status: expected one of available, disabled, missing, unknown"
    proc = run("show", "1", "--db", db)
    assert_clean_error(proc, 4, "capability report of snapshot 1 is damaged", damage, "db check")
    proc = run("db", "check", "--db", db)
    assert proc.returncode == 4
    problems = [line for line in proc.stdout.splitlines() if line.startswith("problem: ")]
    assert f"problem: capability report 1 is not an nsaudit.detect/1 report: {damage}" in "\n".join(
        problems
    ), proc.stdout
    assert any("snapshot 1" in p and "cannot be loaded" in p for p in problems), proc.stdout
    assert digest(db) == before


def test_a_damaged_container_state_is_a_database_error(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    database = Database(str(db))
    host = HostInfo("web", "a" * 32, "boot-1", "6.1")
    web = Container(
        id="c" * 64, runtime="docker", name="web", image="nginx:1.27", pod_namespace=None,
        pod_name=None, pod_uid=None, pid=7, shim="containerd-shim", namespaces=(), source=None,
        note=None,
    )  # fmt: skip
    with database.writing() as conn:
        save(conn, replace(snap(ns(NsType.NET, 1)), host=host, containers=(web,)))
    database.dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE container_states SET body = replace(body, '\"docker\"', '\"\"')")
    settle(db)
    before = digest(db)
    damage = 'containers[0].runtime: expected a non-empty string, got ""'
    proc = run("show", "1", "--db", db)
    assert_clean_error(proc, 4, "containers of snapshot 1 are damaged", damage, "db check")
    proc = run("db", "check", "--db", db)
    assert proc.returncode == 4
    problems = [line for line in proc.stdout.splitlines() if line.startswith("problem: ")]
    assert "problem: container state 1 is not a container: runtime: expected a " in (
        "\n".join(problems)
    ), proc.stdout
    assert any("snapshot 1" in p and "cannot be loaded" in p for p in problems), proc.stdout
    assert digest(db) == before


def fleet(db: Path) -> None:
    store(db, HostInfo("web", "a" * 32, "boot-1", "6.1"), "2026-01-01T00:00:00+00:00")
    store(
        db,
        HostInfo("web", "b" * 32, "boot-2", "6.2"),
        *[f"2026-01-0{d}T00:00:00+00:00" for d in (1, 2)],
    )
    store(db, HostInfo("db", "c" * 32, "boot-3", "6.3"), "2026-01-03T00:00:00+00:00")


def test_two_hosts_sharing_a_name_are_told_apart_by_machine_id(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    fleet(db)
    for args in (
        ("show", "--host", "web"),
        ("snapshots", "--host", "web"),
        ("diff", "--host", "web"),
        ("compare", "web", "db"),
        ("report", "--host", "web"),
        ("metrics", "--host", "web"),
    ):
        assert_clean_error(run(*args, "--db", db), 2, "2 hosts are named 'web'", "a" * 32, "b" * 32)
    shown = json.loads(run("show", "--host", "web@bbb", "--db", db, "--format", "json").stdout)
    assert shown["host"]["machine_id"] == "b" * 32 and shown["seq"] == 2
    listed = json.loads(
        run("snapshots", "--host", "web@aaaa", "--db", db, "--format", "json").stdout
    )
    assert [s["seq"] for s in listed["snapshots"]] == [1]
    assert run("diff", "--host", "web@b", "--db", db).returncode == 1
    compared = run("compare", "web@a", "web@b", "--db", db, "--format", "json")
    assert compared.returncode == 0, compared.stderr
    assert run("report", "--host", "web@a", "--host", "db", "--db", db).returncode == 0


def test_hosts_forget_removes_one_host_whole(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    fleet(db)
    kept = {ref: run("show", ref, "--db", db, "--format", "json").stdout for ref in ("1", "4")}
    before = digest(db)
    assert_clean_error(run("hosts", "forget", "web@b", "--db", db), 2, "--yes")
    assert_clean_error(run("hosts", "forget", "nosuch", "--yes", "--db", db), 2, "nosuch")
    assert_clean_error(run("hosts", "forget", "web", "--yes", "--db", db), 2, "2 hosts")
    settle(db)
    assert digest(db) == before
    # Options before the subcommand name the database too.
    proc = run("hosts", "--db", db, "forget", "web@b", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "2 snapshots" in proc.stdout
    listed = json.loads(run("hosts", "--db", db, "--format", "json").stdout)
    assert sorted((h["hostname"], h["machine_id"]) for h in listed["hosts"]) == [
        ("db", "c" * 32),
        ("web", "a" * 32),
    ]
    for ref, text in kept.items():
        assert run("show", ref, "--db", db, "--format", "json").stdout == text
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ns_states WHERE host_id = 2").fetchone() == (0,)
    assert run("db", "check", "--db", db).returncode == 0


def test_hosts_forget_asks_on_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    fleet(db)

    def answer(reply: bytes) -> tuple[int, str]:
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(REPO)
            os.execv(
                sys.executable,
                [sys.executable, "-m", "nsaudit", "hosts", "forget", "db", "--db", str(db)],
            )
        seen = b""
        deadline = time.monotonic() + 60
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                seen += os.read(fd, 4096)
        os.write(fd, reply)
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")

    code, text = answer(b"n\n")
    assert code == 2 and "Forget host 'db': 1 snapshots" in text, text
    assert run("show", "--host", "db", "--db", db).returncode == 0
    code, text = answer(b"y\n")
    assert code == 0 and "forgot host 'db'" in text, text
    assert run("show", "--host", "db", "--db", db).returncode == 2


def test_postgresql_scans_in_turn_and_reads_read_only(postgres_url: str) -> None:  # noqa: F811
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nsaudit", "snapshot", "--db", postgres_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    listed = json.loads(run("snapshots", "--db", postgres_url, "--format", "json").stdout)
    rows = sorted((s["seq"], s["taken_at"]) for s in listed["snapshots"])
    assert [t for _, t in rows] == sorted(t for _, t in rows)
    assert listed["snapshots"][0]["seq"] == rows[-1][0]
    proc = run("db", "check", "--db", postgres_url)
    assert proc.returncode == 0 and "sound" in proc.stdout, proc.stdout + proc.stderr
    host = json.loads(run("hosts", "--db", postgres_url, "--format", "json").stdout)["hosts"][0]
    proc = run("hosts", "forget", host["hostname"], "--yes", "--db", postgres_url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(run("hosts", "--db", postgres_url, "--format", "json").stdout)["hosts"] == []


# Review finding 6: standard input closed.


def test_forget_with_standard_input_closed_needs_yes_and_keeps_the_host(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snapshot(db)
    name = json.loads(run("hosts", "--db", db, "--format", "json").stdout)["hosts"][0]["hostname"]
    # `nsaudit hosts forget NAME <&-`: no terminal to ask, as with a pipe; not an internal error.
    script = '"$@" <&-'
    cmd = ["sh", "-c", script, "sh", sys.executable, "-m", "nsaudit"]
    proc = subprocess.run(
        [*cmd, "hosts", "forget", name, "--db", str(db)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_clean_error(proc, 2, "needs --yes", name)
    hosts = json.loads(run("hosts", "--db", db, "--format", "json").stdout)["hosts"]
    assert [h["hostname"] for h in hosts] == [name]
    # import - says the same kind of thing: standard input is closed, give a file.
    proc = subprocess.run(
        [*cmd, "import", "-", "--db", str(db)], cwd=REPO, capture_output=True, text=True
    )
    assert_clean_error(proc, 2, "standard input is closed")
