"""Watcher runs travel in bundles.

- watch_runs.uuid: each run's name of its own (32 hex digits, random), so that a run is known
  again when a later bundle carries more of it: its id is the database's, and its started_at
  moves when prune cuts it. A run stored before gets one now.
- hosts.watch_pruned_before: up to when prune removed what the watcher recorded of the host
  (NULL: never), so that importing a bundle again does not bring it back.

Both columns may be NULL in the schema (nsaudit writes every run's uuid, and the upgrade gives
each stored run one): making a column NOT NULL rebuilds the table on SQLite, and dropping
watch_runs there would break its events' references to it. The downgrade drops the columns
with SQLite's own ALTER TABLE DROP COLUMN (3.35), which rebuilds nothing either.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hosts", sa.Column("watch_pruned_before", sa.String(40), nullable=True))
    op.add_column("watch_runs", sa.Column("uuid", sa.String(32), nullable=True))
    conn = op.get_bind()
    runs = sa.table("watch_runs", sa.column("id", sa.Integer), sa.column("uuid", sa.String))
    ids = [r[0] for r in conn.execute(sa.select(runs.c.id))]
    for run in ids:
        conn.execute(sa.update(runs).where(runs.c.id == run).values(uuid=uuid.uuid4().hex))
    op.create_index("ix_watch_runs_host_uuid", "watch_runs", ["host_id", "uuid"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_watch_runs_host_uuid", table_name="watch_runs")
    for table, column in (("watch_runs", "uuid"), ("hosts", "watch_pruned_before")):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        else:
            op.drop_column(table, column)
