"""Containers: each namespace records the container its process runs in, and each snapshot
the containers it found (name, image, pod, first process and its namespaces).

Rows stored before stay NULL: snapshots taken before 0005 have no container record, and a
namespace state learns its container from the next snapshot without counting that as a change
(the field is declared added="0005": store/rows.py, learned).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "container_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_container_sets"),
        sa.UniqueConstraint("sha256", name="uq_container_sets_sha256"),
    )
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("container_set_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_snapshots_container_set_id_container_sets",
            "container_sets",
            ["container_set_id"],
            ["id"],
        )
    with op.batch_alter_table("ns_states") as batch:
        batch.add_column(sa.Column("container", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ns_states") as batch:
        batch.drop_column("container")
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_constraint("fk_snapshots_container_set_id_container_sets", type_="foreignkey")
        batch.drop_column("container_set_id")
    op.drop_table("container_sets")
