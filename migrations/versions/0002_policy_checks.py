"""Policy checks: which policy was checked against which snapshot of a host, and the outcome.

`nsaudit check` records each run, so that a rule about a period ("no namespace created by a
non-allowed command since the last check") knows where the last check ended, and
`nsaudit metrics` can publish the last outcome per rule.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_seq", sa.Integer(), nullable=False),
        sa.Column("policy_name", sa.String(255), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.Column("checked_at", sa.String(40), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("waived", sa.Integer(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_policy_checks_host_id_hosts"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_checks"),
    )
    op.create_index(
        "ix_policy_checks_host_policy", "policy_checks", ["host_id", "policy_name", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_policy_checks_host_policy", table_name="policy_checks")
    op.drop_table("policy_checks")
