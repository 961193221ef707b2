"""Migration 0006: containers stored as states. Through the real downgrade to 0005's lists
and the real upgrade back, every snapshot keeps exactly the containers it had."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from conftest import assert_clean_error, new_postgres_database, run
from factories import ns, snap
from sqlalchemy import Connection, text

from nsaudit import fields
from nsaudit.model import Container, HostInfo, NamespaceId, NsType
from nsaudit.store import engine as engines
from nsaudit.store.migrate import _config
from nsaudit.store.snapshots import load, save


def _container(name: str, pid: int) -> Container:
    return Container(
        id=name * 16, runtime="docker" if name < "m" else "podman", name=f"{name}-\x1b[31m",
        image="busybox", pod_namespace=None, pod_name=None, pod_uid=None, pid=pid,
        shim="containerd-shim", namespaces=(NamespaceId(NsType.NET, 4, pid),), source="docker",
        note=None,
    )  # fmt: skip


A, B, B2, Z = _container("a", 7), _container("b", 8), _container("b", 9), _container("z", 10)
# Per host, each snapshot's containers: b restarted (a new pid), a snapshot that recorded none
# (taken before 0005), a container that goes and comes back.
HISTORIES: dict[str, list[tuple[Container, ...] | None]] = {
    "web": [(A, B), (A, B), (A, B2, Z), None, (B2, Z), (A, B2, Z)],
    "db": [None, (Z,), (Z,)],
}


def _through_the_real_downgrade(url: str) -> None:
    engine = engines.open_engine(url, write=True)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
            ids = []
            for hostname, history in HISTORIES.items():
                host = HostInfo(hostname, hostname * 8, "boot-1", "6.1")
                for n, containers in enumerate(history):
                    taken = replace(snap(ns(NsType.NET, 1)), host=host, containers=containers,
                                    taken_at=f"2026-01-01T0{n}:00:00+00:00")  # fmt: skip
                    ids.append(save(conn, taken).id)
            at_head = [load(conn, i).containers for i in ids]
            states = conn.execute(text("SELECT count(*) FROM container_states")).scalar()
            command.downgrade(_config(conn), "0005")
            lists = conn.execute(
                text(
                    "SELECT s.id, c.body FROM snapshots s LEFT JOIN container_sets c "
                    "ON c.id = s.container_set_id ORDER BY s.id"
                )
            ).all()
            stored_sets = conn.execute(text("SELECT count(*) FROM container_sets")).scalar()
            command.upgrade(_config(conn), "head")
            again = [load(conn, i).containers for i in ids]
            states_again = conn.execute(text("SELECT count(*) FROM container_states")).scalar()
    finally:
        engine.dispose()
    expected = [c for history in HISTORIES.values() for c in history]
    assert at_head == expected
    # web: a twice (it went at seq 5), b, b2, z; db: z.
    assert states == states_again == 6
    # 0005's form: each snapshot's whole list, stored once by digest, as 0005 wrote them.
    assert [
        None if body is None else fields.containers_from_payload(json.loads(body), "")
        for _, body in lists
    ] == expected
    assert stored_sets == len({c for c in expected if c is not None})
    assert again == expected


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_real_downgrade_and_upgrade_keep_every_snapshots_containers(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        _through_the_real_downgrade(str(tmp_path / "ns.db"))
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    _through_the_real_downgrade(new_postgres_database(postgres_url, "containers"))


def test_a_revision_0005_database_is_nsaudits_and_upgrades(tmp_path: Path) -> None:
    """Its container_sets table, which 0006 drops, is nsaudit's own: the command that writes
    upgrades the database instead of refusing it as another program's."""
    db = tmp_path / "ns.db"
    engine = engines.open_engine(str(db), write=True)
    with engine.begin() as conn:
        _a_0005_snapshot_of_a_and_z(conn)
    engine.dispose()
    assert_clean_error(run("show", "--db", db), 4, "revision 0005", "nsaudit db upgrade")
    proc = run("db", "upgrade", "--db", db)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(run("show", "1", "--db", db, "--format", "json").stdout)
    assert [c["id"] for c in shown["containers"]] == [A.id, Z.id]


def test_a_container_listed_twice_by_0005_is_one_after_the_upgrade(tmp_path: Path) -> None:
    """An old import could store a list with a container twice: the upgrade keeps it once,
    and the snapshot stays readable."""
    db = tmp_path / "ns.db"
    engine = engines.open_engine(str(db), write=True)
    with engine.begin() as conn:
        _a_0005_snapshot_of_a_and_z(conn)
        body = json.loads(conn.execute(text("SELECT body FROM container_sets")).scalar_one())
        conn.execute(
            text("UPDATE container_sets SET body = :body"), {"body": json.dumps([*body, body[0]])}
        )
        command.upgrade(_config(conn), "head")
        assert load(conn, 1).containers == (A, Z)
    engine.dispose()
    assert run("db", "check", "--db", db).returncode == 0


def _a_0005_snapshot_of_a_and_z(conn: Connection) -> None:
    """A database at revision 0005 holding one snapshot, with containers A and Z."""
    command.upgrade(_config(conn), "head")
    save(conn, replace(snap(ns(NsType.NET, 1)), containers=(A, Z)))
    command.downgrade(_config(conn), "0005")
