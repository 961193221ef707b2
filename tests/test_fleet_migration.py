"""Migration 0007: each capability report belongs to one host. Through the real downgrade to
0006's shared reports and the real upgrade back, every snapshot keeps its report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from conftest import new_postgres_database
from factories import kernel_report, ns, snap
from sqlalchemy import text

from nsaudit.model import HostInfo, NsType
from nsaudit.store import engine as engines
from nsaudit.store.migrate import _config
from nsaudit.store.snapshots import load, save

OLD, NEW = kernel_report("6.1"), kernel_report("6.3")
# Per host, each snapshot's report: web and db share OLD; db's last has none.
HISTORIES = {"web": [OLD, OLD, NEW], "db": [OLD, None]}


def _through_the_real_downgrade(url: str) -> None:
    engine = engines.open_engine(url, write=True)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
            ids = []
            for hostname, history in HISTORIES.items():
                host = HostInfo(hostname, hostname * 8, "boot-1", "6.1")
                for n, caps in enumerate(history):
                    taken = replace(snap(ns(NsType.NET, 1), caps=caps), host=host,
                                    taken_at=f"2026-01-01T0{n}:00:00+00:00")  # fmt: skip
                    ids.append(save(conn, taken).id)
            at_head = [load(conn, i).capabilities for i in ids]
            # web's OLD and NEW, and db's own OLD.
            assert conn.execute(text("SELECT count(*) FROM capability_reports")).scalar() == 3
            conn.execute(text("UPDATE hosts SET writer = 'x', retired_at = 'y'"))
            command.downgrade(_config(conn), "0006")
            # 0006's form: each report once by its digest.
            shared = conn.execute(text("SELECT count(*) FROM capability_reports")).scalar()
            assert shared == 2
            bodies = conn.execute(
                text(
                    "SELECT r.body FROM snapshots s LEFT JOIN capability_reports r "
                    "ON r.id = s.capability_id ORDER BY s.id"
                )
            ).scalars()
            assert [b is None for b in bodies] == [c is None for c in at_head]
            # A report no snapshot uses is dropped by the upgrade, as prune would.
            conn.execute(text("INSERT INTO capability_reports (sha256, body) VALUES ('u', '{}')"))
            command.upgrade(_config(conn), "head")
            again = [load(conn, i).capabilities for i in ids]
            owners = conn.execute(
                text(
                    "SELECT h.hostname, count(*) FROM capability_reports r "
                    "JOIN hosts h ON h.id = r.host_id GROUP BY h.hostname ORDER BY h.hostname"
                )
            ).all()
            writers = conn.execute(text("SELECT DISTINCT writer, retired_at FROM hosts")).all()
    finally:
        engine.dispose()
    assert at_head == [c for history in HISTORIES.values() for c in history]
    assert again == at_head
    assert [tuple(r) for r in owners] == [("db", 1), ("web", 2)]
    assert [tuple(w) for w in writers] == [("", None)]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_real_downgrade_and_upgrade_keep_every_snapshots_report(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        _through_the_real_downgrade(str(tmp_path / "ns.db"))
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    _through_the_real_downgrade(new_postgres_database(postgres_url, "reports"))
