"""Each watcher run gets a name of its own (watch_runs.uuid, 32 hex digits, random), so that a
run travels in bundles and is known again when a later bundle carries more of it: its id is
the database's, and its started_at moves when prune cuts it. A run stored before gets one now.

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
    with op.batch_alter_table("watch_runs") as batch:
        batch.add_column(sa.Column("uuid", sa.String(32), nullable=True))
    conn = op.get_bind()
    runs = sa.table("watch_runs", sa.column("id", sa.Integer), sa.column("uuid", sa.String))
    ids = [r[0] for r in conn.execute(sa.select(runs.c.id))]
    for run in ids:
        conn.execute(sa.update(runs).where(runs.c.id == run).values(uuid=uuid.uuid4().hex))
    with op.batch_alter_table("watch_runs") as batch:
        batch.alter_column("uuid", existing_type=sa.String(32), nullable=False)
        batch.create_index("ix_watch_runs_host_uuid", ["host_id", "uuid"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("watch_runs") as batch:
        batch.drop_index("ix_watch_runs_host_uuid")
        batch.drop_column("uuid")
