"""The recorder's first schema: hosts, capability reports, snapshots, namespace states.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("machine_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hosts"),
        sa.UniqueConstraint("hostname", "machine_id", name="uq_hosts_hostname"),
    )
    op.create_table(
        "capability_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_capability_reports"),
        sa.UniqueConstraint("sha256", name="uq_capability_reports_sha256"),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.String(40), nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=True),
        sa.Column("kernel", sa.String(255), nullable=True),
        sa.Column("nsaudit_version", sa.String(32), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Boolean(), nullable=False),
        sa.Column("namespace_count", sa.Integer(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("capability_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_snapshots_host_id_hosts"),
        sa.ForeignKeyConstraint(
            ["capability_id"],
            ["capability_reports.id"],
            name="fk_snapshots_capability_id_capability_reports",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.UniqueConstraint("host_id", "seq", name="uq_snapshots_host_id"),
    )
    op.create_table(
        "ns_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("end_seq", sa.Integer(), nullable=True),
        sa.Column("boot_id", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("ns_type", sa.String(8), nullable=False),
        sa.Column("dev", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("ns_id", sa.BigInteger(), nullable=True),
        sa.Column("nprocs", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pid_start", sa.BigInteger(), nullable=True),
        sa.Column("ppid", sa.Integer(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("cmdline", sa.Text(), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("parent_dev", sa.BigInteger(), nullable=True),
        sa.Column("parent_inode", sa.BigInteger(), nullable=True),
        sa.Column("owner_dev", sa.BigInteger(), nullable=True),
        sa.Column("owner_inode", sa.BigInteger(), nullable=True),
        sa.Column("owner_uid", sa.BigInteger(), nullable=True),
        sa.Column("holders", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name="fk_ns_states_host_id_hosts"),
        sa.PrimaryKeyConstraint("id", name="pk_ns_states"),
    )
    op.create_index("ix_ns_states_host_open", "ns_states", ["host_id", "end_seq"])
    op.create_index("ix_ns_states_host_first", "ns_states", ["host_id", "first_seq"])


def downgrade() -> None:
    op.drop_index("ix_ns_states_host_first", table_name="ns_states")
    op.drop_index("ix_ns_states_host_open", table_name="ns_states")
    op.drop_table("ns_states")
    op.drop_table("snapshots")
    op.drop_table("capability_reports")
    op.drop_table("hosts")
