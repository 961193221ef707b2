"""A fleet: each host writes only its own history (store/fleet.py sets PostgreSQL's roles and
row-level security up on these columns).

- hosts.writer: the database role that writes the host's history ('' where there is no
  fleet); hosts.retired_at: when `hosts forget --keep-history` retired it.
- capability_reports.host_id: a report belongs to one host, as its snapshots do, so that a
  host can read and add its own without seeing another's. A report that several hosts shared
  is copied for each; one that no snapshot used is dropped (prune would have). The downgrade
  stores each report once by its digest again.
- fleet_roles: the roles `db init-fleet` made (owner, reporting, the hosts' group) and each
  host's role with the host name it may write.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


@contextmanager
def _rebuilding_reports() -> Iterator[None]:
    """SQLite rebuilds capability_reports to change its constraints, and dropping the old
    table would break the snapshots' references to it: they are set aside in a temporary
    table meanwhile and put back once the new table holds the same ids."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute(
        "CREATE TEMPORARY TABLE _report_links AS "
        "SELECT id, capability_id FROM snapshots WHERE capability_id IS NOT NULL"
    )
    op.execute("UPDATE snapshots SET capability_id = NULL WHERE capability_id IS NOT NULL")
    yield
    op.execute(
        "UPDATE snapshots SET capability_id = "
        "(SELECT capability_id FROM _report_links l WHERE l.id = snapshots.id) "
        "WHERE id IN (SELECT id FROM _report_links)"
    )
    op.execute("DROP TABLE _report_links")


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("writer", sa.String(63), nullable=False, server_default=""))
        batch.add_column(sa.Column("retired_at", sa.String(40), nullable=True))
    op.create_table(
        "fleet_roles",
        sa.Column("role", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("role", name="pk_fleet_roles"),
        sa.UniqueConstraint("hostname", name="uq_fleet_roles_hostname"),
    )
    with _rebuilding_reports(), op.batch_alter_table("capability_reports") as batch:
        batch.add_column(sa.Column("host_id", sa.Integer(), nullable=True))
        batch.drop_constraint("uq_capability_reports_sha256", type_="unique")
    conn = op.get_bind()
    uses = conn.execute(
        sa.text(
            "SELECT DISTINCT capability_id, host_id FROM snapshots "
            "WHERE capability_id IS NOT NULL ORDER BY capability_id, host_id"
        )
    ).all()
    owned: set[int] = set()
    for report, host in uses:
        if report not in owned:  # the first host that used it keeps it
            owned.add(report)
            conn.execute(
                sa.text("UPDATE capability_reports SET host_id = :host WHERE id = :report"),
                {"host": host, "report": report},
            )
            continue
        conn.execute(
            sa.text(
                "INSERT INTO capability_reports (host_id, sha256, body) "
                "SELECT :host, sha256, body FROM capability_reports WHERE id = :report"
            ),
            {"host": host, "report": report},
        )
        copy = conn.execute(
            sa.text(
                "SELECT max(id) FROM capability_reports WHERE host_id = :host AND sha256 = "
                "(SELECT sha256 FROM capability_reports WHERE id = :report)"
            ),
            {"host": host, "report": report},
        ).scalar_one()
        conn.execute(
            sa.text(
                "UPDATE snapshots SET capability_id = :copy "
                "WHERE host_id = :host AND capability_id = :report"
            ),
            {"copy": copy, "host": host, "report": report},
        )
    conn.execute(sa.text("DELETE FROM capability_reports WHERE host_id IS NULL"))
    with _rebuilding_reports(), op.batch_alter_table("capability_reports") as batch:
        batch.alter_column("host_id", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_capability_reports_host_id", ["host_id", "sha256"])
        batch.create_foreign_key(
            "fk_capability_reports_host_id_hosts", "hosts", ["host_id"], ["id"]
        )


def downgrade() -> None:
    conn = op.get_bind()
    first = dict(
        conn.execute(
            sa.text("SELECT sha256, min(id) FROM capability_reports GROUP BY sha256")
        ).all()
    )
    for report, digest in conn.execute(sa.text("SELECT id, sha256 FROM capability_reports")).all():
        if first[digest] != report:
            conn.execute(
                sa.text("UPDATE snapshots SET capability_id = :first WHERE capability_id = :copy"),
                {"first": first[digest], "copy": report},
            )
            conn.execute(
                sa.text("DELETE FROM capability_reports WHERE id = :copy"), {"copy": report}
            )
    with _rebuilding_reports(), op.batch_alter_table("capability_reports") as batch:
        batch.drop_constraint("fk_capability_reports_host_id_hosts", type_="foreignkey")
        batch.drop_constraint("uq_capability_reports_host_id", type_="unique")
        batch.drop_column("host_id")
        batch.create_unique_constraint("uq_capability_reports_sha256", ["sha256"])
    op.drop_table("fleet_roles")
    # Dropped in place (SQLite >= 3.35): the table others refer to is not rebuilt.
    op.drop_column("hosts", "retired_at")
    op.drop_column("hosts", "writer")
