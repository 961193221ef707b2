"""Namespace states record their process's executable (Namespace.exe), which policies can
allow by (`exes`): unlike the command, a process does not change it by renaming itself.

Rows stored before stay NULL; the next snapshot fills in each namespace it still finds without
counting that as a change (the field is declared added="0010": store/rows.py, learned). The
column is added, never rebuilt: on SQLite a rebuild of ns_states would cost a whole copy.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ns_states", sa.Column("exe", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE ns_states DROP COLUMN exe")
    else:
        op.drop_column("ns_states", "exe")
