"""A fleet month: 1,000 hosts x 30 days of hourly snapshots, in SQLite and in PostgreSQL.

Each host is a container host of 300 namespaces: its own 8, 52 services' mount namespaces, 40
containers of 6 namespaces each (mnt uts ipc pid net cgroup; the net one held by a bind mount
as Kubernetes' CNI does), with a container replaced every hour (6 namespaces vanish, 6 are
created) and one reboot in the month (everything anew). Every snapshot's audit is recorded
(a policy_checks row). The database is written in bulk (executemany on SQLite, COPY on
PostgreSQL) with the rows `save` would write: going through save would take hours.

Printed per database: its size per host-month; `hosts`, `compare` of two hosts, `report
--all-hosts --policy` in HTML and JSON, and `prune` of the month, each with its wall time and
peak RSS; and the query plan of every statement those commands run, each marked by whether it
reads the big tables (snapshots, ns_states, policy_checks) through an index.

Targets (issue 14): hosts and compare under 1 s, the reports and the prune under 60 s.
Run as root for PostgreSQL (a throwaway server in /tmp, as the tests start one);
--backend sqlite for SQLite alone, --hosts N for a smaller fleet.
"""

from __future__ import annotations

import argparse
import functools
import glob
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from population import timed  # noqa: E402

from nsaudit import fields  # noqa: E402
from nsaudit.app import fleet, policy  # noqa: E402
from nsaudit.model import Container, Holder, HolderKind, Namespace, NamespaceId, NsType  # noqa: E402
from nsaudit.settings import Settings  # noqa: E402
from nsaudit.store import retention  # noqa: E402
from nsaudit.store.database import Database  # noqa: E402
from nsaudit.store.rows import to_row  # noqa: E402
from nsaudit.store.schema import (  # noqa: E402
    capability_reports,
    container_states,
    hosts,
    ns_states,
    policy_checks,
    snapshots,
)
from nsaudit.store.sql import Sql  # noqa: E402
from nsaudit.timespan import Duration  # noqa: E402

DAYS = 30
SERVICES = 52
CONTAINERS = 40
CONTAINER_TYPES = (NsType.MNT, NsType.UTS, NsType.IPC, NsType.PID, NsType.NET, NsType.CGROUP)
# The initial namespaces' inodes, as every boot of a Linux kernel numbers them.
INIT_INODES = {
    NsType.CGROUP: 4026531835,
    NsType.IPC: 4026531839,
    NsType.MNT: 4026531841,
    NsType.NET: 4026531840,
    NsType.PID: 4026531836,
    NsType.TIME: 4026531834,
    NsType.USER: 4026531837,
    NsType.UTS: 4026531838,
}
DEV = 4
IMAGES = ("nginx", "postgres", "redis-server", "java", "node", "envoy", "coredns", "python3")
SERVICE_NAMES = (
    "systemd-resolve",
    "chronyd",
    "systemd-logind",
    "irqbalance",
    "polkitd",
    "rsyslogd",
)
POLICY = Path(__file__).resolve().parents[2] / "samples" / "policies" / "container-host.toml"
BIG = ("snapshots", "ns_states", "policy_checks")


class Boot:
    """One boot of a host: its id, and the inodes and NS_GET_ID numbers it hands out."""

    def __init__(self, host: int, number: int) -> None:
        self.id = f"{host:08x}-{number:04x}-4000-8000-{random.getrandbits(48):012x}"
        self.inode = 4026532000
        self.ns_id = 4096

    def new(self) -> tuple[int, int]:
        self.inode += 1
        self.ns_id += 1
        return self.inode, self.ns_id


HOST_USERNS = NamespaceId(NsType.USER, DEV, INIT_INODES[NsType.USER])


def host_namespaces(boot: Boot) -> list[Namespace]:
    return [
        Namespace(
            id=NamespaceId(t, DEV, inode),
            ns_id=i + 1,
            nprocs=180,
            pid=1,
            pid_start=1,
            ppid=0,
            uid=0,
            user="root",
            command="systemd",
            cmdline="/sbin/init",
            parent=None,
            owner=None if t is NsType.USER else HOST_USERNS,
            owner_uid=0 if t is NsType.USER else None,
            holders=(),
            parent_command=None,
            container=None,
        )
        for i, (t, inode) in enumerate(sorted(INIT_INODES.items()))
    ]


def service(boot: Boot, n: int) -> Namespace:
    inode, ns_id = boot.new()
    name = SERVICE_NAMES[n % len(SERVICE_NAMES)]
    return Namespace(
        id=NamespaceId(NsType.MNT, DEV, inode),
        ns_id=ns_id,
        nprocs=1,
        pid=400 + n,
        pid_start=900 + n,
        ppid=1,
        uid=0 if n % 3 else 101,
        user="root" if n % 3 else "systemd-resolve",
        command=name[:15],
        cmdline=f"/usr/lib/systemd/{name}",
        parent=None,
        owner=HOST_USERNS,
        owner_uid=None,
        holders=(),
        parent_command="systemd",
        container=None,
    )


def container(boot: Boot, n: int, pid: int) -> list[Namespace]:
    cid = hashlib.sha256(f"{boot.id}/{n}/{pid}".encode()).hexdigest()
    image = IMAGES[n % len(IMAGES)]
    out = []
    for t in CONTAINER_TYPES:
        inode, ns_id = boot.new()
        holders = (
            (Holder(HolderKind.MOUNT, path=f"/run/netns/cni-{cid[:8]}-{cid[8:12]}"),)
            if t is NsType.NET
            else ()
        )
        out.append(
            Namespace(
                id=NamespaceId(t, DEV, inode),
                ns_id=ns_id,
                nprocs=1 + n % 4,
                pid=pid,
                pid_start=pid * 7,
                ppid=pid - 1,
                uid=0,
                user="root",
                command=image,
                cmdline=f"{image} --config /etc/{image}/{image}.conf",
                parent=HOST_PID if t is NsType.PID else None,
                owner=HOST_USERNS,
                owner_uid=None,
                holders=holders,
                parent_command="containerd-shim",
                container=cid,
            )
        )
    return out


HOST_PID = NamespaceId(NsType.PID, DEV, INIT_INODES[NsType.PID])
HOST_TIME = NamespaceId(NsType.TIME, DEV, INIT_INODES[NsType.TIME])


def fingerprint(state: dict[str, Any]) -> str:
    """As store/snapshots.py fingerprints a state."""
    body = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class HostRows:
    host: dict[str, Any]
    snapshots: list[dict[str, Any]]
    states: list[dict[str, Any]]
    containers: list[dict[str, Any]]
    checks: list[dict[str, Any]]


@functools.cache
def capability_body() -> str:
    """This machine's own capability report, as `nsaudit snapshot` stores it."""
    from nsaudit.app.kernel import detect
    from nsaudit.kernel.report import report

    return json.dumps(report(detect()).document, sort_keys=True, separators=(",", ":"))


def capability_row(host_id: int) -> dict[str, Any]:
    """A host's capability report (each host has its own; its id is the host's)."""
    body = capability_body()
    digest = hashlib.sha256(body.encode()).hexdigest()
    return {"id": host_id, "host_id": host_id, "sha256": digest, "body": body}


def container_body(own: list[Namespace], n: int) -> str:
    """A container as the store keeps it: its first process's namespaces, its own six and the
    host's time and user namespaces."""
    first = own[0]
    cid = first.container or ""
    found = Container(
        id=cid,
        runtime="cri",
        name=f"{first.command}-{cid[:5]}",
        image=f"registry.example/{first.command}:1.{n}",
        pod_namespace="default",
        pod_name=f"{first.command}-{n}",
        pod_uid=cid[:32],
        pid=first.pid,
        shim="containerd-shim",
        namespaces=tuple(sorted((*(ns.id for ns in own), HOST_TIME, HOST_USERNS))),
        source="containerd",
        note=None,
    )
    return json.dumps(fields.payload(found), sort_keys=True, separators=(",", ":"))


def host_month(h: int, start: datetime, rules: Sequence[tuple[str, str]]) -> HostRows:
    """One host's month: its rows as save() and audit would have written them."""
    random.seed(h)
    hours = DAYS * 24
    reboot_at = random.randrange(2, hours)
    boot = Boot(h, 0)
    pid = 2000
    live: dict[Any, tuple[Namespace, int, int]] = {}  # key -> (namespace, first_seq, state id)
    states: list[dict[str, Any]] = []
    snaps: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    containers: list[list[Namespace]] = []
    bodies: list[str] = []  # of each container, as the store keeps it
    container_rows: list[dict[str, Any]] = []
    open_containers: dict[str, int] = {}  # body -> its state's index in container_rows

    def open_state(ns: Namespace, seq: int) -> None:
        state = to_row(ns)
        state["boot_id"] = boot.id
        row = {
            **state,
            "host_id": h + 1,
            "first_seq": seq,
            "end_seq": None,
            "fingerprint": fingerprint(state),
        }
        states.append(row)
        live[(ns.id, boot.id)] = (ns, seq, len(states) - 1)

    def end_state(ns: Namespace, seq: int, boot_id: str) -> None:
        _, _, at = live.pop((ns.id, boot_id))
        states[at]["end_seq"] = seq

    def boot_up(seq: int) -> None:
        nonlocal pid
        containers.clear()
        bodies.clear()
        for ns in host_namespaces(boot):
            open_state(ns, seq)
        for n in range(SERVICES):
            open_state(service(boot, n), seq)
        for n in range(CONTAINERS):
            pid += 10
            containers.append(container(boot, n, pid))
            bodies.append(container_body(containers[-1], n))
            for ns in containers[-1]:
                open_state(ns, seq)

    jitter = timedelta(seconds=random.randrange(3600))
    for hour in range(hours):
        seq = hour + 1
        if seq == 1:
            boot_up(seq)
        elif hour == reboot_at:
            old = boot.id
            for ns, _, _ in list(live.values()):
                end_state(ns, seq, old)
            boot = Boot(h, 1)
            pid = 2000
            boot_up(seq)
        else:
            n = hour % CONTAINERS
            for ns in containers[n]:
                end_state(ns, seq, boot.id)
            pid += 10
            containers[n] = container(boot, n, pid)
            bodies[n] = container_body(containers[n], n)
            for ns in containers[n]:
                open_state(ns, seq)
        counts = {t.value: 0 for t in NsType}
        for ns, _, _ in live.values():
            counts[ns.id.type.value] += 1
        for body in set(open_containers) - set(bodies):
            container_rows[open_containers.pop(body)]["end_seq"] = seq
        for body in sorted(set(bodies) - set(open_containers)):
            open_containers[body] = len(container_rows)
            container_rows.append({"host_id": h + 1, "first_seq": seq, "end_seq": None,
                                   "body": body})  # fmt: skip
        taken = start + timedelta(hours=hour) + jitter
        snaps.append(
            {
                "host_id": h + 1,
                "seq": seq,
                "taken_at": taken.isoformat(timespec="microseconds"),
                "boot_id": boot.id,
                "kernel": "6.1.0-28-amd64",
                "nsaudit_version": "0.1.0",
                "label": None,
                "duration_ms": 180 + random.randrange(40),
                "threads": False,
                "namespace_count": sum(counts.values()),
                "counts": json.dumps(counts, sort_keys=True),
                "problems": "[]",
                "capability_id": h + 1,
                "container_count": len(bodies),
            }
        )
        failed = 1 if hour % 24 == 0 else 0
        checks.append(
            {
                "host_id": h + 1,
                "snapshot_seq": seq,
                "policy_name": "container-host",
                "policy_sha256": "0" * 64,
                "checked_at": (taken + timedelta(seconds=1)).isoformat(timespec="microseconds"),
                "passed": len(rules) - failed,
                "failed": failed,
                "waived": 0,
                "results": json.dumps(
                    [
                        [r, s, "fail" if failed and i == 0 else "pass"]
                        for i, (r, s) in enumerate(rules)
                    ],
                    separators=(",", ":"),
                ),
            }
        )
    host = {"id": h + 1, "hostname": f"node-{h:04d}", "machine_id": f"{h:032x}"}
    return HostRows(host, snaps, states, container_rows, checks)


# --- the two databases ------------------------------------------------------------------------

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PG_PORT = 54339


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server, as tests/conftest.py starts one."""
    bin_dir = PG_BIN[-1]
    data = Path(tempfile.mkdtemp(prefix="nsaudit-fleet-pg-", dir="/tmp"))
    shutil.chown(data, "postgres")

    def as_postgres(*cmd: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)

    as_postgres(f"{bin_dir}/initdb", "-D", str(data / "db"), "-A", "trust")
    options = f"-k {data} -p {PG_PORT} -c listen_addresses=127.0.0.1 -c max_wal_size=4GB"
    as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                "-o", options, "start")  # fmt: skip
    try:
        as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "fleet")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/fleet"
    finally:
        as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def write_rows(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into a table in bulk: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    names = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[n] for n in names])


def build(url: str, count: int, start: datetime) -> float:
    """The fleet's month written into the database at `url`; seconds it took."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nsaudit", "db", "upgrade", "--db", url], check=True,
                   capture_output=True)  # fmt: skip
    rules = [(f"CH-{i:02d}", "medium") for i in range(1, 15)]
    database = Database(url)
    with database.writing() as conn:
        for h in range(count):
            rows = host_month(h, start, rules)
            write_rows(conn, hosts, [rows.host])
            write_rows(conn, capability_reports, [capability_row(h + 1)])
            write_rows(conn, snapshots, rows.snapshots)
            write_rows(conn, ns_states, rows.states)
            write_rows(conn, container_states, rows.containers)
            write_rows(conn, policy_checks, rows.checks)
            if h % 100 == 99:
                print(f"  {h + 1} hosts written", file=sys.stderr)
        if conn.dialect.name == "postgresql":
            for table in ("hosts", "capability_reports"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))  # fmt: skip
    if url.startswith("postgresql"):
        # What autovacuum does on a server that has been running: tables analysed.
        with (
            database.engine(True).connect().execution_options(isolation_level="AUTOCOMMIT") as conn
        ):
            conn.execute(text("VACUUM ANALYZE"))
    database.dispose()
    return time.perf_counter() - started


def size_bytes(url: str) -> int:
    if not url.startswith("postgresql"):
        return sum(os.path.getsize(p) for p in glob.glob(url + "*"))
    database = Database(url)
    with database.reading() as conn:
        found = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    database.dispose()
    return found


# --- what the commands ask, and how the database answers it ----------------------------------


@contextmanager
def statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on the database meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE", "WITH")):
            seen.append((statement, parameters))

    engines = [database.engine(False), database.engine(True, False)]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    # A snapshot's own statements go to the driver directly (nsaudit/store/sql.py).
    through_driver = Sql._run

    @contextmanager
    def run(self: Sql, sql: str, params: Any) -> Iterator[Any]:
        record(None, None, self.native(sql), params)
        with through_driver(self, sql, params) as cursor:
            yield cursor

    Sql._run = run  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Sql._run = through_driver  # type: ignore[method-assign]
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def plans(database: Database, names: Sequence[str]) -> list[tuple[str, str, bool]]:
    """Each distinct statement hosts, compare, report and prune run: its plan, and whether
    it reaches the big tables only through indexes."""
    settings = Settings()
    with statements(database) as seen:
        fleet.hosts(database, Duration.parse("1d"))
        fleet.compare(database, names[:2])
        policy.report(database, settings, Duration.parse("30d"), policy=str(POLICY),
                      hostnames=[names[0]])  # fmt: skip
        with database.engine(True, False).connect() as conn, conn.begin() as transaction:
            retention.prune(conn, datetime.now(UTC).isoformat(), 1)
            transaction.rollback()
    out: list[tuple[str, str, bool]] = []
    done = set()
    with database.engine(True, False).connect() as conn:
        for statement, parameters in seen:
            if statement in done or any(
                w in statement for w in ("alembic_version", "sqlite_master", "pg_catalog")
            ):
                continue
            done.add(statement)
            explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            plan = "\n".join(str(r[-1]) for r in rows)
            out.append((" ".join(statement.split()), plan, indexed(plan)))
        conn.rollback()
    return out


def indexed(plan: str) -> bool:
    """Whether a plan reads every big table through an index (SQLite or PostgreSQL words)."""
    for line in plan.splitlines():
        words = line.replace("(", " ").split()
        for table in BIG:
            if f"Seq Scan on {table}" in line:
                return False
            if len(words) >= 2 and words[0] == "SCAN" and words[1] == table and "INDEX" not in line:
                return False
    return True


@dataclass(frozen=True)
class Measured:
    what: str
    seconds: float
    rss_mb: float
    limit: float

    @property
    def met(self) -> bool:
        return self.seconds < self.limit


def measure(url: str, tmp: Path, names: Sequence[str]) -> list[Measured]:
    nsaudit = [sys.executable, "-m", "nsaudit"]
    db = ["--db", url]
    report = [*nsaudit, "report", *db, "--all-hosts", "--policy", str(POLICY)]
    runs: list[tuple[str, list[str], float]] = [
        ("hosts", [*nsaudit, "hosts", *db], 1),
        ("compare (two hosts)", [*nsaudit, "compare", *db, *names[:2]], 1),
        ("report --all-hosts, HTML", [*report, "--format", "html", "-o", str(tmp / "r.html")], 60),
        ("report --all-hosts, JSON", [*report, "--format", "json", "-o", str(tmp / "r.json")], 60),
        ("prune of the month", [*nsaudit, "prune", *db, "--older-than", "1h"], 60),
    ]
    out = []
    for what, cmd, limit in runs:
        run = timed([*cmd])
        out.append(Measured(what, run.wall, run.max_rss_kb / 1024, limit))
        print(f"  {what}: {run.wall * 1000:.0f} ms, peak RSS {run.max_rss_kb / 1024:.0f} MB "
              f"(target < {limit} s: {'met' if run.wall < limit else 'NOT met'})")  # fmt: skip
    return out


def one_backend(name: str, url: str, count: int, tmp: Path) -> bool:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=DAYS)
    print(f"{name}: building {count} hosts x {DAYS * 24} hourly snapshots")
    took = build(url, count, start)
    size = size_bytes(url)
    print(f"  built in {took:.0f} s; {size / 2**20:.0f} MiB in all, "
          f"{size / count / 2**20:.2f} MiB per host-month")  # fmt: skip
    names = [f"node-{h:04d}" for h in range(2)]
    if url.startswith("postgresql"):
        url = as_a_fleet(url)
    database = Database(url)
    explained = plans(database, names)
    database.dispose()
    results = measure(url, tmp, names)
    print(f"  query plans ({sum(ok for *_, ok in explained)} of {len(explained)} read the big "
          "tables through indexes):")  # fmt: skip
    for statement, plan, ok in explained:
        print(f"    [{'index' if ok else 'SCAN '}] {statement[:160]}")
        for line in plan.splitlines():
            print(f"        {line}")
    return all(r.met for r in results)


def as_a_fleet(url: str) -> str:
    """Row-level security on (nsaudit db init-fleet): the URL of the reporting role, which
    the fleet's reports and prune run as."""
    from sqlalchemy.engine import make_url

    subprocess.run([sys.executable, "-m", "nsaudit", "db", "init-fleet", "--db", url],
                   check=True, capture_output=True)  # fmt: skip
    reporting = make_url(url).set(username="nsaudit_reporting")
    print("  row-level security on (db init-fleet); hosts, compare, report and prune run as "
          "nsaudit_reporting")  # fmt: skip
    return reporting.render_as_string(hide_password=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    met = True
    with tempfile.TemporaryDirectory(prefix="nsaudit-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        if args.backend in ("sqlite", "both"):
            met &= one_backend("SQLite", str(tmp / "fleet.db"), args.hosts, tmp)
        if args.backend in ("postgresql", "both"):
            if not PG_BIN or os.geteuid() != 0:
                print("PostgreSQL: needs root and Debian's postgresql package", file=sys.stderr)
                return 1
            with postgres() as url:
                met &= one_backend("PostgreSQL", url, args.hosts, tmp)
    print(f"targets: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
