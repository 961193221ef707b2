"""Namespace states record the command of their first process's parent.

A container's first process is started by its runtime's shim (containerd-shim, conmon), so
policies can allow a namespace by who started it, not only by who is in it. Rows stored before
stay NULL; the next snapshot fills in the parent of each namespace it still finds, without
counting that as a change (the field is declared added="0003": store/rows.py, learned).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ns_states") as batch:
        batch.add_column(sa.Column("parent_command", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ns_states") as batch:
        batch.drop_column("parent_command")
