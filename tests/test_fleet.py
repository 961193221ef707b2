"""A fleet on a real PostgreSQL server: each host's role writes and reads only its own history,
and PostgreSQL enforces it (row-level security): tried through nsaudit and with raw SQL. With
row-level security switched off these tests fail."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_clean_error, new_postgres_database, run

from nsaudit.store.fleet import scram_verifier


@dataclass
class Fleet:
    admin: str  # the superuser's URL
    folder: Path
    pgpass: Path  # every role's line
    urls: dict[str, str]  # host name (or "reporting") -> its database URL
    roles: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.pgpass)}

    def settings(self, name: str, hostname: str | None = None) -> Path:
        """A host's settings file, as add-host printed it (another host name if given)."""
        path = self.folder / f"{name}-{hostname}.toml"
        path.write_text(f"database = {json.dumps(self.urls[name])}\n"
                        f"hostname = {json.dumps(hostname or name)}\n")  # fmt: skip
        return path

    def nsaudit(self, name: str, *args: str | Path, hostname: str | None = None) -> Any:
        return run(*args, "--config", self.settings(name, hostname), env=self.env)

    def add(self, name: str) -> None:
        # A new file each time (add-host makes it): a name added again gets one of its own.
        pgpass = self.folder / f"{name}-{len(list(self.folder.glob('*.pgpass')))}.pgpass"
        proc = run("db", "add-host", name, "--db", self.admin, "--pgpass", pgpass)
        assert proc.returncode == 0, proc.stderr
        assert pgpass.stat().st_mode & 0o777 == 0o600
        self.urls[name] = _setting(proc.stdout, "database")
        assert _setting(proc.stdout, "hostname") == name
        self.roles[name] = self.urls[name].split("//")[1].split("@")[0]
        line = pgpass.read_text()
        role = line.split(":")[3]
        kept = [k for k in self.pgpass.read_text().splitlines(True) if k.split(":")[3] != role]
        self.pgpass.write_text("".join(kept) + line)

    def sql(self, name: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """A statement run with raw SQL as the role of `name`, in a transaction of its own."""
        import psycopg

        url = self.urls[name].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, passfile=str(self.pgpass)) as conn:
            cur = conn.execute(statement.encode(), params or None)
            return cur.fetchall() if cur.description else []


def _setting(output: str, key: str) -> str:
    found = re.search(rf"^\s*{key} = (\".*\")$", output, re.M)
    assert found, output
    value: str = json.loads(found.group(1))
    return value


@pytest.fixture(scope="module")
def fleet(postgres_url: str) -> Iterator[Fleet]:
    admin = new_postgres_database(postgres_url, "fleet")
    folder = Path(tempfile.mkdtemp(prefix="nsaudit-fleet-"))
    proc = run("db", "init-fleet", "--db", admin)
    assert proc.returncode == 0, proc.stderr
    reporting = _setting(proc.stdout, "database")
    line = re.search(r"~/\.pgpass \(mode 600\): (\S+)$", proc.stdout, re.M)
    assert line, proc.stdout
    pgpass = folder / "pgpass"
    pgpass.write_text(line.group(1) + "\n")
    pgpass.chmod(0o600)
    found = Fleet(admin, folder, pgpass, {"reporting": reporting}, {})
    for name in ("web01", "db01"):
        found.add(name)
        for _ in range(2):
            proc = found.nsaudit(name, "snapshot")
            assert proc.returncode == 0, proc.stderr
    yield found


def test_each_host_stores_and_reads_only_its_own_history(fleet: Fleet) -> None:
    listing = json.loads(fleet.nsaudit("web01", "hosts", "--format", "json").stdout)
    assert [h["hostname"] for h in listing["hosts"]] == ["web01"]
    proc = fleet.nsaudit("web01", "audit", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert (json.loads(proc.stdout)["old"]["seq"], json.loads(proc.stdout)["new"]["seq"]) == (2, 3)
    # Another host's history is not there for it: not by name, not by raw SQL.
    assert_clean_error(fleet.nsaudit("web01", "show", "--host", "db01"), 2, "db01")
    assert fleet.sql("web01", "SELECT DISTINCT hostname, writer FROM hosts") == [
        ("web01", fleet.roles["web01"])
    ]
    tables = ("snapshots", "ns_states", "capability_reports", "container_states", "policy_checks")
    for table in tables:
        owners = fleet.sql("web01", f"SELECT DISTINCT h.hostname FROM {table} t "
                                    "JOIN hosts h ON h.id = t.host_id")  # fmt: skip
        # (No container runs here, or no policy was checked: none of those rows at all.)
        assert owners == [("web01",)] or (table in tables[3:] and owners == []), table
    assert fleet.sql("web01", "SELECT hostname FROM fleet_roles") == [("web01",)]
    # The reporting role reads every host.
    proc = run("hosts", "--db", fleet.urls["reporting"], "--format", "json", env=fleet.env)
    assert proc.returncode == 0, proc.stderr
    assert {h["hostname"] for h in json.loads(proc.stdout)["hosts"]} >= {"web01", "db01"}
    proc = run("compare", "web01", "db01", "--db", fleet.urls["reporting"], env=fleet.env)
    assert proc.returncode == 0, proc.stderr


def test_a_hosts_rows_learn_a_column_added_since_under_its_own_role(fleet: Fleet) -> None:
    """A row stored before a revision added a column (exe: 0010) learns it at the host's next
    snapshot, as the same row (store/snapshots.py, _learned): the host's role may update it."""
    import os
    import shutil

    import psycopg
    from conftest import STATE_COLUMNS_0009, fingerprint_at
    from nsmakers import in_new_namespaces

    admin = fleet.admin.replace("postgresql+psycopg://", "postgresql://")
    mine = "SELECT s.* FROM ns_states s JOIN hosts h ON h.id = s.host_id WHERE h.hostname = "
    mine += "'web01' AND s.ns_type = 'uts' AND s.end_seq IS NULL AND s.pid = %s"
    with in_new_namespaces("--uts", argv=["sleep", "300"]) as pid:
        assert fleet.nsaudit("web01", "snapshot").returncode == 0
        with psycopg.connect(admin, row_factory=psycopg.rows.dict_row) as conn:
            (row,) = conn.execute(mine.encode(), (pid,)).fetchall()
            # As nsaudit before 0010 stored it: no exe, and a fingerprint without it.
            before = fingerprint_at(STATE_COLUMNS_0009, row)
            conn.execute(b"UPDATE ns_states SET exe = NULL, fingerprint = %s WHERE id = %s",
                         (before, row["id"]))  # fmt: skip
        proc = fleet.nsaudit("web01", "snapshot")
        assert proc.returncode == 0, proc.stderr
        with psycopg.connect(admin, row_factory=psycopg.rows.dict_row) as conn:
            (now,) = conn.execute(mine.encode(), (pid,)).fetchall()
    assert now["id"] == row["id"]  # the same row, still open: no change
    assert now["exe"] == os.path.realpath(shutil.which("sleep") or "") == row["exe"]


def test_a_host_changes_and_deletes_nothing_of_another(fleet: Fleet) -> None:
    import psycopg

    other = fleet.sql("reporting", "SELECT id FROM hosts WHERE hostname = 'db01'")[0][0]
    report = fleet.sql("reporting", "SELECT min(id) FROM capability_reports WHERE host_id = "
                                    "%(h)s", h=other)[0][0]  # fmt: skip
    before = fleet.sql("reporting", "SELECT count(*), max(end_seq) FROM ns_states "
                                    "WHERE host_id = %(h)s", h=other)  # fmt: skip
    columns = ", ".join(
        c
        for (c,) in fleet.sql(
            "web01",
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'ns_states' AND column_name NOT IN "
            "('id', 'host_id')",
        )  # fmt: skip
    )
    # Rows it cannot see are rows it cannot change.
    assert fleet.sql("web01", "UPDATE ns_states SET end_seq = 1 WHERE host_id = %(h)s "
                              "RETURNING id", h=other) == []  # fmt: skip
    refused = [
        "DELETE FROM ns_states",
        "DELETE FROM snapshots",
        "DELETE FROM hosts",
        "UPDATE snapshots SET label = 'x'",
        "UPDATE hosts SET hostname = 'db01'",
        "TRUNCATE policy_checks",
        f"INSERT INTO snapshots (host_id, seq, taken_at, nsaudit_version, duration_ms, threads, "
        f"namespace_count, counts, problems) VALUES ({other}, 99, 't', 'v', 1, false, 0, '{{}}',"
        " '[]')",
        # One of its own namespace states, copied as the other host's.
        f"INSERT INTO ns_states (host_id, {columns}) SELECT {other}, {columns} FROM ns_states "
        "LIMIT 1",
        "INSERT INTO hosts (hostname, machine_id) VALUES ('db01', 'x')",
        # Nor can it stop the others: no lock that would keep them out.
        "LOCK TABLE ns_states IN ACCESS EXCLUSIVE MODE",
        "LOCK TABLE container_states IN SHARE MODE",
        # Nor point its own snapshot at another host's capability report.
        "INSERT INTO snapshots (host_id, seq, taken_at, nsaudit_version, duration_ms, threads, "
        "namespace_count, counts, problems, capability_id) SELECT h.id, 99, 't', 'v', 1, false,"
        f" 0, '{{}}', '[]', {report} FROM hosts h",
    ]
    for statement in refused:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            fleet.sql("web01", statement)
    # The writer a host gives is not taken: its row is its own role's, whatever it says.
    written = fleet.sql("web01", "INSERT INTO hosts (hostname, machine_id, writer) VALUES "
                                 "('web01', 'x', 'nsaudit_hosts') RETURNING writer")  # fmt: skip
    assert written == [(fleet.roles["web01"],)]
    fleet.sql("reporting", "DELETE FROM hosts WHERE machine_id = 'x'")
    after = fleet.sql("reporting", "SELECT count(*), max(end_seq) FROM ns_states "
                                   "WHERE host_id = %(h)s", h=other)  # fmt: skip
    assert after == before


def test_a_host_cannot_raise_its_own_privileges(fleet: Fleet) -> None:
    import psycopg

    me = fleet.roles["web01"]
    for statement in [
        "SET ROLE nsaudit_reporting",
        "SET ROLE nsaudit_owner",
        f"GRANT nsaudit_reporting TO {me}",
        f"ALTER ROLE {me} SUPERUSER",
        f"ALTER ROLE {me} BYPASSRLS",
        "ALTER TABLE snapshots DISABLE ROW LEVEL SECURITY",
        "DROP POLICY nsaudit_host ON snapshots",
        "CREATE POLICY mine ON snapshots TO nsaudit_hosts USING (true)",
        "CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'",
        "DELETE FROM fleet_roles",
        f"UPDATE fleet_roles SET hostname = 'db01' WHERE role = '{me}'",
    ]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            fleet.sql("web01", statement)
    # Through its group role it is no better off: that role writes no host's history.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        fleet.sql(
            "web01",
            "SET ROLE nsaudit_hosts; INSERT INTO hosts (hostname, machine_id) VALUES ('w', 'y')",
        )


def test_maintenance_needs_the_reporting_role(fleet: Fleet, tmp_path: Path) -> None:
    before = fleet.sql("reporting", "SELECT count(*) FROM snapshots")
    for args in (["prune", "--older-than", "0s"], ["hosts", "forget", "web01", "--yes"]):
        proc = fleet.nsaudit("web01", *args)
        assert_clean_error(proc, 4, "permission denied", "reporting role")
    proc = fleet.nsaudit("web01", "db", "upgrade")
    assert proc.returncode == 0, proc.stderr  # at head already: nothing to do
    # Another host's bundle, exported by the reporting host: refused as a whole.
    bundle = tmp_path / "db01.jsonl"
    proc = run("export", "--host", "db01", "--all", "--db", fleet.urls["reporting"],
               "-o", bundle, env=fleet.env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = fleet.nsaudit("web01", "import", bundle)
    assert proc.returncode == 4, proc.stderr
    assert "its own host's history" in proc.stderr
    assert fleet.sql("reporting", "SELECT count(*) FROM snapshots") == before


def test_a_host_cannot_write_under_another_name(fleet: Fleet) -> None:
    """Two machines named db01 (one misconfigured, or lying) cannot mix their histories."""
    before = fleet.sql("reporting", "SELECT count(*) FROM snapshots")
    proc = fleet.nsaudit("web01", "snapshot", hostname="db01")
    assert_clean_error(proc, 4, "row-level security", "db add-host")
    assert fleet.sql("reporting", "SELECT count(*) FROM snapshots") == before
    proc = run("db", "add-host", "db01", "--db", fleet.admin)
    assert_clean_error(proc, 2, "has a role already", "its own")


def test_a_removed_host_can_do_nothing_and_its_history_stays(fleet: Fleet) -> None:
    fleet.add("retired01")
    assert fleet.nsaudit("retired01", "snapshot").returncode == 0
    proc = run("db", "remove-host", "retired01", "--db", fleet.admin)
    assert proc.returncode == 0, proc.stderr
    assert "dropped" in proc.stdout
    proc = fleet.nsaudit("retired01", "snapshot")
    assert proc.returncode == 4 and "retired01" in proc.stderr, proc.stderr
    listing = run("hosts", "--db", fleet.urls["reporting"], "--format", "json", env=fleet.env)
    assert "retired01" in {h["hostname"] for h in json.loads(listing.stdout)["hosts"]}
    # Added again, the name takes its history back.
    fleet.add("retired01")
    proc = fleet.nsaudit("retired01", "snapshot", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["seq"] == 2


def test_db_upgrade_puts_the_fleets_policies_back(fleet: Fleet) -> None:
    """A policy dropped by hand (or a table a new migration adds) is covered again by the
    owner's next `db upgrade`; the reporting role's upgrade at head changes nothing."""
    from sqlalchemy import create_engine, text

    admin = create_engine(fleet.admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP POLICY nsaudit_host ON snapshots"))
        conn.execute(text("CREATE POLICY nsaudit_host ON snapshots TO nsaudit_hosts "
                          "USING (true)"))  # fmt: skip
    admin.dispose()
    hosts = {h for (h,) in fleet.sql("web01", "SELECT DISTINCT host_id FROM snapshots")}
    assert len(hosts) > 1  # what a host would see without its policy
    proc = run("db", "upgrade", "--db", fleet.urls["reporting"], env=fleet.env)
    assert proc.returncode == 0 and "already at" in proc.stdout, proc.stderr
    assert run("db", "upgrade", "--db", fleet.admin).returncode == 0
    hosts = {h for (h,) in fleet.sql("web01", "SELECT DISTINCT host_id FROM snapshots")}
    assert len(hosts) == 1


def test_a_role_name_used_again_inherits_nothing(fleet: Fleet) -> None:
    """old-name and old_name make one role name: the second host does not get the history of
    the first, which was removed."""
    fleet.add("old-name")
    assert fleet.nsaudit("old-name", "snapshot").returncode == 0
    assert run("db", "remove-host", "old-name", "--db", fleet.admin).returncode == 0
    fleet.add("old_name")
    assert fleet.roles["old_name"] == fleet.roles["old-name"]
    assert fleet.sql("old_name", "SELECT count(*) FROM snapshots") == [(0,)]
    proc = fleet.nsaudit("old_name", "snapshot", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["seq"] == 1


def test_a_bundle_imported_for_a_registered_host_is_its_own(fleet: Fleet, tmp_path: Path) -> None:
    """The reporting host imports what an air-gapped host exported: the host's own role
    carries on from it."""
    fleet.add("late01")
    local = tmp_path / "late01.db"
    settings = tmp_path / "late01.toml"
    settings.write_text('hostname = "late01"\n')
    assert run("snapshot", "--db", local, "--config", settings).returncode == 0
    bundle = tmp_path / "late01.jsonl"
    assert run("export", "--db", local, "--config", settings, "-o", bundle).returncode == 0
    proc = run("import", bundle, "--db", fleet.urls["reporting"], env=fleet.env)
    assert proc.returncode == 0, proc.stderr
    proc = fleet.nsaudit("late01", "snapshot", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["seq"] == 2


def test_a_host_with_a_login_of_its_own_gets_no_new_password(fleet: Fleet) -> None:
    """`--role`: a login that exists (a client certificate's, or one the operator made) is
    mapped to the host; nsaudit makes no password and prints none, and remove-host only
    takes it out of the fleet."""
    from sqlalchemy import create_engine, text

    verifier = scram_verifier("its-own-secret")
    admin = create_engine(fleet.admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE cert_web02 LOGIN PASSWORD '{verifier}'")
    proc = run("db", "add-host", "web02", "--role", "cert_web02", "--db", fleet.admin)
    assert proc.returncode == 0, proc.stderr
    assert "logs in as cert_web02 as it did" in proc.stdout and "pgpass" not in proc.stdout
    fleet.urls["web02"] = _setting(proc.stdout, "database")
    with fleet.pgpass.open("a") as f:
        f.write("127.0.0.1:*:fleet:cert_web02:its-own-secret\n")
    proc = fleet.nsaudit("web02", "snapshot", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert fleet.sql("web02", "SELECT DISTINCT hostname FROM hosts") == [("web02",)]
    assert run("db", "remove-host", "web02", "--db", fleet.admin).returncode == 0
    with admin.connect() as conn:
        assert conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = 'cert_web02'")).first()
    admin.dispose()
    assert fleet.nsaudit("web02", "snapshot").returncode == 4
    assert_clean_error(
        run("db", "add-host", "web03", "--role", "nobody_here", "--db", fleet.admin),
        2,
        "does not exist",
    )


def test_the_passwords_server_side_are_scram_verifiers(fleet: Fleet) -> None:
    """The server is sent a verifier, never the password (it would be in its logs)."""
    stored = fleet.sql("reporting", "SELECT 1")  # logs in: the verifier matches
    assert stored == [(1,)]
    verifier = scram_verifier("secret", b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert "secret" not in verifier


def test_init_fleet_again_changes_nothing_and_needs_postgresql(
    fleet: Fleet, tmp_path: Path
) -> None:
    proc = run("db", "init-fleet", "--db", fleet.admin)
    assert proc.returncode == 0, proc.stderr
    assert "created" not in proc.stdout and "password" not in proc.stdout
    assert fleet.nsaudit("web01", "snapshot").returncode == 0
    assert_clean_error(run("db", "init-fleet", "--db", tmp_path / "ns.db"), 2, "PostgreSQL")
    assert_clean_error(run("db", "init-fleet", "--db", fleet.admin, "--prefix", "other"), 2,
                       "--prefix nsaudit")  # fmt: skip


WRITERS = 200


def test_200_hosts_write_at_once_each_with_its_own_role(postgres_url: str, tmp_path: Path) -> None:
    """Every snapshot lands, each host's seqs have no gap, and no deadlock or serialization
    failure reaches a host: the database runs serializable transactions, so PostgreSQL does
    ask for retries."""
    import os
    import subprocess
    import sys

    from sqlalchemy import create_engine, text

    from nsaudit.app.database import add_host, host_settings
    from nsaudit.store.database import Database

    admin = new_postgres_database(postgres_url, "fleet_writers")
    assert run("db", "init-fleet", "--db", admin).returncode == 0
    database = Database(admin)
    lines, configs = [], []
    for n in range(WRITERS):
        name = f"w{n:03d}"
        added = add_host(database, name, None)
        url, line = host_settings(database, added.role)
        lines.append(f"{line}:{added.password}\n")
        config = tmp_path / f"{name}.toml"
        config.write_text(f'database = "{url}"\nhostname = "{name}"\n')
        configs.append(config)
    database.dispose()
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("".join(lines))
    pgpass.chmod(0o600)
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ALTER DATABASE fleet_writers SET default_transaction_isolation "
                          "TO 'serializable'"))  # fmt: skip
    env = {**os.environ, "PGPASSFILE": str(pgpass)}
    for _ in range(2):
        writers = [
            subprocess.Popen(
                [sys.executable, "-m", "nsaudit", "--debug", "snapshot", "--config", config],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )  # fmt: skip
            for config in configs
        ]
        failed = [(w.wait(timeout=600), w.stderr.read()) for w in writers]  # type: ignore[union-attr]
        for w in writers:
            w.stderr.close()  # type: ignore[union-attr]
        assert [f for f in failed if f != (0, "")] == []
    engine.dispose()
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        seqs = conn.execute(
            text(
                "SELECT h.hostname, string_agg(s.seq::text, ',' ORDER BY s.seq) FROM snapshots s "
                "JOIN hosts h ON h.id = s.host_id GROUP BY h.hostname ORDER BY h.hostname"
            )
        ).all()
        conn.execute(text("ALTER DATABASE fleet_writers RESET default_transaction_isolation"))
    engine.dispose()
    assert seqs == [(f"w{n:03d}", "1,2") for n in range(WRITERS)]


def test_a_deadlock_is_run_again_not_reported(postgres_url: str) -> None:
    """A real deadlock, in which PostgreSQL picks nsaudit's transaction to abort (40P01):
    the write runs again and lands."""
    import threading
    import time

    import psycopg
    from sqlalchemy import text

    from nsaudit.store.database import Database, retried

    url = new_postgres_database(postgres_url, "deadlock")
    assert run("db", "upgrade", "--db", url).returncode == 0
    database = Database(url)
    with database.writing() as conn:
        for name in ("a", "b"):
            conn.execute(text("INSERT INTO hosts (hostname, machine_id) VALUES (:n, 'm')"),
                         {"n": name})  # fmt: skip
    other = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    # Only nsaudit's session runs the deadlock check in time (1 s), so it is the one chosen,
    # however late the other one's update comes on a loaded host.
    other.execute("SET deadlock_timeout = '10min'")
    other.execute("UPDATE hosts SET machine_id = 'other' WHERE hostname = 'b'")
    waiting = threading.Event()

    def the_other_one() -> None:
        waiting.wait()
        time.sleep(0.3)  # nsaudit waits first: its deadlock check comes first
        other.execute("UPDATE hosts SET machine_id = 'other' WHERE hostname = 'a'")
        other.commit()

    thread = threading.Thread(target=the_other_one)
    thread.start()
    attempts = []

    def write() -> None:
        attempts.append(len(attempts))
        with database.writing() as conn:
            conn.execute(text("UPDATE hosts SET machine_id = 'nsaudit' WHERE hostname = 'a'"))
            waiting.set()
            conn.execute(text("UPDATE hosts SET machine_id = 'nsaudit' WHERE hostname = 'b'"))

    try:
        retried(write)
        with database.reading() as conn:
            stored = conn.execute(text("SELECT DISTINCT machine_id FROM hosts")).all()
    finally:
        thread.join(timeout=30)
        other.close()
        database.dispose()
    assert attempts == [0, 1]
    assert stored == [("nsaudit",)]  # run again after the other one, whole


def test_a_hosts_watcher_writes_its_own_events_and_no_other_host_sees_them(fleet: Fleet) -> None:
    import os
    import signal
    import subprocess
    import sys

    import psycopg
    from conftest import REPO
    from watching import bpf_problem

    if problem := bpf_problem():
        pytest.skip(problem)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "nsaudit", "watch", "--mechanism", "bpf",
         "--config", str(fleet.settings("web01"))],
        stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, **fleet.env},
    )  # fmt: skip
    assert watcher.stderr is not None
    assert "watching with" in watcher.stderr.readline()
    made = subprocess.Popen(["unshare", "--net", "true"])
    made.wait()
    watcher.send_signal(signal.SIGTERM)  # after the event, however long it took to come
    assert watcher.wait(60) == 0, watcher.stderr.read()
    shown = json.loads(fleet.nsaudit("web01", "events", "--format", "json").stdout)["watched"]
    assert [e["types"] for e in shown["events"] if e["pid"] == made.pid] == ["net"]
    # The reporting role reads it; another host sees nothing of it and cannot add to it.
    proc = run("events", "--host", "web01", "--db", fleet.urls["reporting"], "--format", "json",
               env=fleet.env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert any(e["pid"] == made.pid for e in json.loads(proc.stdout)["watched"]["events"])
    assert fleet.sql("db01", "SELECT count(*) FROM ns_events") == [(0,)]
    assert fleet.sql("db01", "SELECT count(*) FROM watch_runs") == [(0,)]
    run_id, host_id = fleet.sql("reporting", "SELECT id, host_id FROM watch_runs")[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        fleet.sql("db01", "INSERT INTO ns_events (host_id, run_id, at, boot_ns, kind, tid) "
                          f"VALUES ({host_id}, {run_id}, 'x', 0, 'exit', 1)")  # fmt: skip
    assert (
        fleet.sql("db01", f"UPDATE watch_runs SET lost = 0 WHERE id = {run_id} RETURNING id") == []
    )


def test_an_air_gapped_hosts_watcher_runs_come_in_a_bundle(fleet: Fleet, tmp_path: Path) -> None:
    """What an air-gapped host's watcher recorded is imported by the reporting role as that
    host's own; again, nothing is added; another host sees none of it."""
    from factories import namespace_event

    from nsaudit.model import HostInfo
    from nsaudit.store import events as stored
    from nsaudit.store.database import Database

    fleet.add("late02")
    local = tmp_path / "late02.db"
    with Database(str(local)).writing_sql() as sql:
        host = HostInfo("late02", "2" * 32, "boot-1", "6.18")
        host_id, run_id = stored.begin_run(sql, host, "bpf", "", "2026-01-01T00:00:00.000000+00:00")
        row = stored.event_row(namespace_event(901, 7), 5)
        stored.record(sql, host_id, run_id, [row], "2026-01-02T00:00:00.000000+00:00", 1, 0)
    bundle = tmp_path / "late02.jsonl"
    assert run("export", "--db", local, "--all", "-o", bundle).returncode == 0
    for added, present in ((1, 0), (0, 1)):
        proc = run("import", bundle, "--db", fleet.urls["reporting"], env=fleet.env)
        assert proc.returncode == 0, proc.stderr
        assert f"imported {added} watcher events and exits ({present} already" in proc.stdout
    proc = run("events", "--host", "late02", "--db", fleet.urls["reporting"], "--format", "json",
               env=fleet.env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (event,) = json.loads(proc.stdout)["watched"]["events"]
    assert event["ns_ids"] == "user:7"
    assert fleet.sql("late02", "SELECT count(*) FROM ns_events") == [(1,)]
    assert fleet.sql("db01", "SELECT count(*) FROM watch_runs WHERE events = 1") == [(0,)]
