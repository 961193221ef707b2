"""What `nsaudit watch` records between snapshots: its runs (so that a stretch no run covered
is known as not watched) and the namespace events they saw.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watch_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=True),
        sa.Column("mechanism", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=False),
        sa.Column("seen_at", sa.String(length=40), nullable=False),
        sa.Column("ended_at", sa.String(length=40), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("lost", sa.BigInteger(), nullable=False),
        sa.Column("blind", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_watch_runs_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_runs")),
    )
    op.create_index("ix_watch_runs_host_started", "watch_runs", ["host_id", "started_at"])
    op.create_table(
        "ns_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("boot_ns", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("tid", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name=op.f("fk_ns_events_host_id_hosts")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["watch_runs.id"], name=op.f("fk_ns_events_run_id_watch_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ns_events")),
    )
    op.create_index("ix_ns_events_host_at", "ns_events", ["host_id", "at"])
    op.create_index("ix_ns_events_run_tid", "ns_events", ["run_id", "tid"])


def downgrade() -> None:
    op.drop_table("ns_events")
    op.drop_table("watch_runs")
