"""The database: real SQLite files (and, for the tests of what is stored, a real PostgreSQL
server), real migrations, real concurrent and killed writers."""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    REPO,
    as_nobody,
    assert_clean_error,
    needs_root,
    new_postgres_database,
    nobody_dir,
    run,
    run_window,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from nsmakers import in_new_namespaces, netns, ns_of, wait_for

from nsaudit.model import Holder, HolderKind, Namespace, NamespaceId, NsType
from nsaudit.store.schema import SCHEMA_HEAD


@dataclass
class Stored:
    """A database for the store's tests: an SQLite file, or a database on a real PostgreSQL
    server (the same tests, through the same commands)."""

    location: str
    kind: str

    def rows(self, statement: str, *params: object) -> list[tuple[Any, ...]]:
        """A query's rows (`?` placeholders)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as conn:
                return [tuple(r) for r in conn.execute(statement, params)]
        import psycopg

        url = self.location.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            cur = conn.execute(statement.replace("?", "%s").encode(), params)
            return [tuple(r) for r in cur.fetchall()]


@pytest.fixture(params=["sqlite", "postgresql"])
def stored(tmp_path: Path, request: pytest.FixtureRequest) -> Stored:
    if request.param == "sqlite":
        return Stored(str(tmp_path / "ns.db"), "sqlite")
    url = request.getfixturevalue("postgres_url")
    return Stored(new_postgres_database(url, f"store_{secrets.token_hex(4)}"), "postgresql")


def snapshot(db: Path | str, *extra: str) -> dict[str, Any]:
    proc = run("snapshot", "--db", db, "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def whole(db: Path | Stored) -> None:
    """Every stored snapshot loads with exactly the namespaces it counted."""
    found = db if isinstance(db, Stored) else Stored(str(db), "sqlite")
    for snapshot_id, count in found.rows("SELECT id, namespace_count FROM snapshots"):
        proc = run("show", str(snapshot_id), "--db", found.location, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert sum(data["counts"].values()) == len(data["namespaces"]) == count


def test_new_database_is_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "ns.db"
    first = snapshot(db)
    assert first["id"] == 1 and first["seq"] == 1 and first["previous_seq"] is None
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == SCHEMA_HEAD


def test_location_from_environment_then_default(tmp_path: Path) -> None:
    env_db = tmp_path / "env.db"
    proc = run("db", "upgrade", env={"NSAUDIT_DB": str(env_db)})
    assert proc.returncode == 0, proc.stderr
    assert str(env_db) in proc.stdout and env_db.exists()
    option_db = tmp_path / "option.db"
    proc = run("db", "current", "--db", option_db, env={"NSAUDIT_DB": str(env_db)})
    # Reading commands never create a database: the option's path is the one looked for.
    assert_clean_error(proc, 4, f"no database at {option_db}")
    assert not option_db.exists()


def test_default_location_for_a_user(tmp_path: Path) -> None:
    from nsaudit.store.location import default_location

    expected = "/var/lib/nsaudit/nsaudit.db" if os.geteuid() == 0 else None
    if expected:
        assert default_location() == expected


@needs_root
def test_unchanged_namespaces_are_stored_once(stored: Stored) -> None:
    db = stored.location
    with in_new_namespaces("--net", "--uts") as pid, netns() as name:
        ours = [
            ("net", ns_of(pid, "net")[1]),
            ("uts", ns_of(pid, "uts")[1]),
            ("net", os.stat(f"/run/netns/{name}").st_ino),
        ]
        first = snapshot(db)
        ((rows_after_first,),) = stored.rows("SELECT count(*) FROM ns_states")
        for _ in range(3):
            snapshot(db)
        ((reports,),) = stored.rows("SELECT count(*) FROM capability_reports")
        states = [
            stored.rows("SELECT count(*) FROM ns_states WHERE ns_type = ? AND inode = ?", *key)
            for key in ours
        ]
    assert first["namespaces"] == rows_after_first
    # The host's other namespaces may change meanwhile (a busy host): ours did not, so each
    # has the one row its first snapshot wrote, through four snapshots.
    assert states == [[(1,)]] * 3
    assert reports == 1


@needs_root
def test_summary_counts_created_and_vanished(stored: Stored) -> None:
    db = stored.location
    snapshot(db)
    with in_new_namespaces("--net", "--uts", "--ipc") as pid, netns() as name:
        ours = {os.readlink(f"/proc/{pid}/ns/{t}") for t in ("net", "uts", "ipc")}
        ours.add(f"net:[{os.stat(f'/run/netns/{name}').st_ino}]")
        created = snapshot(db)
    vanished = snapshot(db)
    # A busy host starts and ends other namespaces meanwhile: at least ours are counted.
    assert created["created"] >= 4 and vanished["vanished"] >= 4
    assert vanished["seq"] == 3 and vanished["previous_seq"] == 2

    def named(side: str, old: str, new: str) -> set[str]:
        data = json.loads(run("diff", old, new, "--db", db, "--format", "json").stdout)
        return {f"{n['type']}:[{n['inode']}]" for n in data[side]}

    assert ours <= named("created", "1", "2")
    assert ours <= named("vanished", "2", "3")
    table = run("snapshot", "--db", db).stdout
    assert table.startswith("snapshot 4 (host ") and "since seq 3: " in table


def test_show_refs_and_listing(stored: Stored) -> None:
    db = stored.location
    for label in ("one", "two", "three"):
        snapshot(db, "--label", label)
    listing = json.loads(run("snapshots", "--db", db, "--format", "json").stdout)
    assert listing["schema"] == "nsaudit.snapshots/1"
    assert [s["label"] for s in listing["snapshots"]] == ["three", "two", "one"]
    limited = json.loads(run("snapshots", "--db", db, "--limit", "1", "--format", "json").stdout)
    assert [s["id"] for s in limited["snapshots"]] == [3]
    host = listing["snapshots"][0]["hostname"]
    assert (
        run("snapshots", "--db", db, "--host", "elsewhere", "--format", "json").stdout.count('"id"')
        == 0
    )
    for ref, expected in (("latest", 3), ("latest~2", 1), ("2", 2)):
        data = json.loads(run("show", ref, "--db", db, "--format", "json").stdout)
        assert data["id"] == expected and data["label"] == ["one", "two", "three"][expected - 1]
    data = json.loads(run("show", "--host", host, "--db", db, "--format", "json").stdout)
    assert data["id"] == 3
    assert_clean_error(run("show", "latest~7", "--db", db), 2, "no snapshot latest~7")
    assert_clean_error(run("show", "99", "--db", db), 2, "no snapshot 99")
    assert_clean_error(run("show", "yesterday", "--db", db), 2, "'yesterday'")


def test_show_types_and_trees(stored: Stored) -> None:
    db = stored.location
    with in_new_namespaces("--user", "--map-root-user", "--net"):
        snapshot(db)
    data = json.loads(run("show", "--db", db, "--type", "net", "--format", "json").stdout)
    assert {n["type"] for n in data["namespaces"]} == {"net"} and len(data["namespaces"]) >= 2
    for tree in ("parent", "owner", "process"):
        proc = run("show", "--db", db, "--tree", tree)
        assert proc.returncode == 0, proc.stderr
    owner_tree = run("show", "--db", db, "--tree", "owner").stdout
    assert "└─" in owner_tree


def test_eight_overlapping_snapshots_all_land(stored: Stored) -> None:
    db = stored.location
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nsaudit", "snapshot", "--db", db],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in results), results
    seqs = sorted(r[0] for r in stored.rows("SELECT seq FROM snapshots"))
    assert seqs == list(range(1, 9))
    if stored.kind == "sqlite":
        assert integrity(Path(db)) == "ok"
    whole(stored)


def test_kill_9_during_writes_leaves_whole_snapshots(stored: Stored) -> None:
    db = stored.location
    snapshot(db)
    window = run_window("snapshot", "--db", db)
    rng = random.Random(1234)
    killed = 0
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-m", "nsaudit", "snapshot", "--db", db],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        time.sleep(rng.uniform(*window))
        proc.send_signal(signal.SIGKILL)
        killed += proc.wait() == -signal.SIGKILL
        if stored.kind == "sqlite":
            assert integrity(Path(db)) == "ok"
    assert killed, "every run ended before its SIGKILL"
    whole(stored)
    seqs = [r[0] for r in stored.rows("SELECT seq FROM snapshots ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snapshot(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(db)
    for args in (("snapshot",), ("snapshots",), ("db", "upgrade"), ("db", "current")):
        proc = run(*args, "--db", db)
        assert_clean_error(proc, 4, "9999_future", "newer nsaudit")
    assert digest(db) == before


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("my precious notes\n")
    assert_clean_error(run("snapshot", "--db", db), 4, "not an SQLite database")
    assert db.read_text() == "my precious notes\n"


def test_corrupt_database(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snapshot(db)
    snapshot(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    data[4096 : len(data)] = bytes(random.Random(7).randrange(256) for _ in range(len(data) - 4096))
    db.write_bytes(bytes(data))
    before = digest(db)
    proc = run("snapshot", "--db", db)
    assert_clean_error(proc, 4, str(db))
    assert digest(db) == before


def test_symlink_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    snapshot(real)
    link = tmp_path / "link.db"
    link.symlink_to(real)
    assert_clean_error(run("snapshot", "--db", link), 4, "symbolic link")


@needs_root
def test_database_of_another_user_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snapshot(db)
    os.chown(db, 65534, 65534)
    before = digest(db)
    assert_clean_error(run("snapshot", "--db", db), 4, "owned by uid 65534")
    assert digest(db) == before


def test_models_match_the_migrations(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from nsaudit.store.head import TABLES
    from nsaudit.store.schema import metadata

    db = tmp_path / "ns.db"
    assert run("db", "upgrade", "--db", db).returncode == 0
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    # What a snapshot's save, which loads no SQLAlchemy, knows of the tables.
    assert set(metadata.tables) == TABLES


@needs_root
def test_unprivileged_snapshot_is_partial_and_stored() -> None:
    with nobody_dir() as home:
        db = home / "ns.db"
        with in_new_namespaces("--net"):
            proc = as_nobody("snapshot", "--db", db, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        stored = json.loads(proc.stdout)
        assert stored["partial"] is True and stored["problems"] > 0
        assert stored["namespaces"] >= 8
        with sqlite3.connect(db) as conn:
            problems = json.loads(conn.execute("SELECT problems FROM snapshots").fetchone()[0])
        assert {p[2] for p in problems} == {"EACCES"}
        assert db.stat().st_uid == 65534
        text = as_nobody("show", "--db", db).stdout
        assert "partial: " in text and "EACCES" in text


HOSTILE = (
    "import os, sys, time\n"
    "open('/proc/self/comm','wb').write(b'\\x1b[31m<b>=x\\n')\n"
    "time.sleep(300)\n"
)


@needs_root
def test_untrusted_process_names_are_escaped_in_every_format(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    args: list[str | bytes] = [
        sys.executable,
        "-c",
        HOSTILE,
        '=HYPERLINK("x")',
        "\x1b]0;title\x07<script>alert(1)</script>",
        b"bad\xff\xfe",
        "line\nbreak\u202e",
    ]
    with in_new_namespaces("--uts", argv=args) as pid:
        # The name under test is the one the process gives itself once it runs.
        wait_for(lambda: "<b>" in Path(f"/proc/{pid}/comm").read_text())
        snapshot(db)
    for fmt in ("table", "markdown", "csv", "json"):
        out = run("show", "--db", db, "--type", "uts", "--format", fmt, "--no-color").stdout
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, fmt
        if fmt == "markdown":
            assert "<script>" not in out and "<b>" not in out
        if fmt == "csv":
            import csv
            import io

            for row in csv.reader(io.StringIO(out)):
                assert not any(c.startswith(("=", "@", "+")) for c in row), row
        if fmt == "json":
            data = json.loads(out)
            (ns,) = [n for n in data["namespaces"] if n["pid"] and "HYPERLINK" in n["cmdline"]]
            assert ns["command"] == "\x1b[31m<b>=x\n"
            # The bytes themselves (surrogate-escaped), not the text "\\xff\\xfe".
            assert "bad\udcff\udcfe" in ns["cmdline"]
    table = run("show", "--db", db, "--type", "uts", "--wide").stdout
    assert "\\x1b]0;title\\x07<script>" in table
    assert "bad\\xff\\xfe" in table


# snapshot --no-store, row by row against lsns: tests/test_lsns_oracle.py.


def test_schema_head_constant_is_alembics_head() -> None:
    from nsaudit.store.migrate import head
    from nsaudit.store.schema import SCHEMA_HEAD

    assert head() == SCHEMA_HEAD


IMPORTS = "import sys\nfrom nsaudit.cli import main\nmain(sys.argv[1:])\nprint(sorted(sys.modules))"


@pytest.mark.parametrize(
    "args", [["--help"], ["snapshot", "--no-store"], ["detect"], ["snapshots"]]
)
def test_commands_that_need_no_migration_do_not_import_alembic(
    tmp_path: Path, args: list[str]
) -> None:
    db = tmp_path / "ns.db"
    assert run("db", "upgrade", "--db", db).returncode == 0
    extra = ["--db", str(db)] if args == ["snapshots"] else []
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTS, *args, *extra], capture_output=True, text=True, cwd=REPO
    )
    modules = proc.stdout.strip().splitlines()[-1]
    assert "'nsaudit" in modules
    assert "alembic" not in modules


def test_a_stream_left_unread_closes_quietly_after_its_connection() -> None:
    """Ctrl-C in the middle of `show --format json`: the connection is closed first, and the
    stream's cursor after it, with nothing to say about it."""
    from nsaudit.store.sql import Sql

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(5)])
    names, rows = Sql(conn, "sqlite", named=True).stream("SELECT a FROM t ORDER BY a")
    assert (names, next(rows)) == (("a",), (0,))
    conn.close()
    rows.close()
    names, rows = Sql(sqlite3.connect(":memory:"), "sqlite", named=True).stream("SELECT 1")
    assert list(rows) == [(1,)]


@pytest.mark.parametrize("command", ["snapshot", "audit"])
def test_the_cron_job_stores_its_snapshot_without_loading_sqlalchemy(
    tmp_path: Path, command: str
) -> None:
    """Into an SQLite database at head, a snapshot is written through the driver itself
    (store/sql.py): loading SQLAlchemy would be a third of its CPU. It is stored whole, and
    the next one is diffed against it. With no policy, the policy engine is not loaded either."""
    from nsaudit.policy.locate import SYSTEM_POLICY

    db = tmp_path / "ns.db"
    assert run("db", "upgrade", "--db", db).returncode == 0
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", IMPORTS, command, "--db", str(db), "--format", "json"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert proc.returncode == 0, proc.stderr
        *output, modules = proc.stdout.strip().splitlines()
        assert "'nsaudit.store.sql'" in modules
        assert "sqlalchemy" not in modules
        if not os.path.exists(SYSTEM_POLICY):
            assert "'nsaudit.policy.load'" not in modules
        document = json.loads("\n".join(output))
    whole(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 2
    if command == "snapshot":
        assert (document["previous_seq"], document["seq"]) == (1, 2)
    else:  # audit prints the diff
        assert (document["old"]["seq"], document["new"]["seq"]) == (1, 2)


def test_a_snapshot_reads_back_whatever_the_order_of_its_columns(tmp_path: Path) -> None:
    """The row decoder finds each field's columns by position: any column order reads the same
    namespaces as the stored snapshot loads, holders, refs and escaped text included."""
    from sqlalchemy import select

    from nsaudit.model import Namespace
    from nsaudit.store.database import Database
    from nsaudit.store.rows import decoder
    from nsaudit.store.schema import ns_states
    from nsaudit.store.snapshots import load

    db = tmp_path / "ns.db"
    with in_new_namespaces("--net", "--uts"), netns():
        taken = snapshot(db)
    with Database(str(db)).reading() as conn:
        loaded = {ns.identity: ns for ns in load(conn, taken["id"]).namespaces}
        columns = list(ns_states.c)
        random.Random(7).shuffle(columns)
        rows = conn.execute(select(*columns).where(ns_states.c.end_seq.is_(None)))
        decode = decoder(Namespace, tuple(rows.keys()))
        read = [decode(r) for r in rows]
    assert {ns.identity: ns for ns in read} == loaded
    assert any(ns.holders for ns in read) and any(ns.owner for ns in read)


_text = st.none() | st.text(alphabet=st.sampled_from("ab \\x\udcff\u00e9\U0001f600\"'{}"))
_numbers = st.none() | st.integers(-(2**63), 2**63 - 1)
_refs = st.none() | st.builds(NamespaceId, st.just(NsType.USER), st.integers(1), st.integers(1))
_holders = st.lists(
    st.builds(Holder, st.sampled_from(HolderKind), pid=_numbers, fd=_numbers, path=_text),
    max_size=3,
).map(tuple)
_namespaces = st.builds(
    Namespace,
    id=st.builds(NamespaceId, st.sampled_from(NsType), st.integers(0), st.integers(0)),
    ns_id=_numbers,
    nprocs=st.integers(0, 2**31),
    pid=_numbers,
    pid_start=_numbers,
    ppid=_numbers,
    uid=_numbers,
    user=_text,
    command=_text,
    cmdline=_text,
    parent=st.none(),
    owner=_refs,
    owner_uid=_numbers,
    holders=_holders,
    parent_command=_text,
    container=_text,
).flatmap(
    # Only pid and user namespaces have a parent, of their own type.
    lambda n: (
        st.just(n)
        if n.id.type not in (NsType.PID, NsType.USER)
        else st.builds(NamespaceId, st.just(n.id.type), st.integers(1), st.integers(1)).map(
            lambda p: replace(n, parent=p)
        )
        | st.just(n)
    )
)


def _to_row_the_long_way(ns: Namespace) -> dict[str, Any]:
    """The row as the field declarations say, one by one (what to_row's generated writer
    must give)."""
    from nsaudit.fields import declared
    from nsaudit.store.rows import _names
    from nsaudit.store.text import to_db

    out: dict[str, Any] = {}
    for f in declared(Namespace):
        value, names = getattr(ns, f.name), _names(f)
        if f.kind == "id":
            out.update(zip(names, (value.type.value, value.dev, value.inode), strict=True))
        elif f.kind == "text":
            out[names[0]] = to_db(value)
        elif f.kind == "ref":
            out.update(zip(names, (value.dev, value.inode) if value else (None, None), strict=True))
        elif f.kind == "holders":
            held = [{k: v for k, v in vars(h).items() if v is not None} for h in value]
            out[names[0]] = json.dumps(held, sort_keys=True, separators=(",", ":"))
        else:
            out[names[0]] = value
    return out


@settings(max_examples=300)
@given(_namespaces)
def test_a_namespace_row_is_what_its_fields_declare_and_reads_back(ns: Namespace) -> None:
    """to_row's generated writer gives each column as the field's kind says (escaped text,
    refs, holders as compact JSON), and the row decoder gives the namespace back."""
    from nsaudit.store.rows import decoder, to_row

    row = to_row(ns)
    assert row == _to_row_the_long_way(ns)
    assert decoder(Namespace, tuple(row))(tuple(row.values())) == ns


_states = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    _numbers | _text | st.booleans() | st.floats(allow_nan=False) | st.lists(_numbers, max_size=2),
    max_size=25,
)


@settings(max_examples=300)
@given(_states)
def test_a_states_canonical_text_is_jsons_byte_for_byte(state: dict[str, Any]) -> None:
    """A stored state's fingerprint hashes this text: any difference from what json.dumps
    wrote would make every stored namespace read as changed at the next snapshot."""
    from nsaudit.store.rows import canonical

    assert canonical(state) == json.dumps(state, sort_keys=True, separators=(",", ":"))


def test_timings_name_where_a_snapshot_spends_its_time(tmp_path: Path) -> None:
    """NSAUDIT_TIMINGS (the benchmarks' breakdown) gets each phase's milliseconds; unset, no
    file is written."""
    timings = tmp_path / "timings.json"
    env = {**os.environ, "NSAUDIT_TIMINGS": str(timings)}
    proc = run("snapshot", "--db", tmp_path / "ns.db", env=env)
    assert proc.returncode == 0, proc.stderr
    spent = json.loads(timings.read_text())
    assert {"import", "detect", "walk", "details", "relations", "containers", "save",
            "compare", "output"} <= set(spent)  # fmt: skip
    assert all(isinstance(v, float) and v >= 0 for v in spent.values())
