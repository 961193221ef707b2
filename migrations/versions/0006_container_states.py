"""Containers stored as states, as namespaces are: a row per container from the snapshot that
first saw it up to the one that no longer did, instead of every snapshot's whole list stored
again whenever one container changed (a host that replaces a container an hour wrote a new
list of all its containers an hour: 17 MiB a host-month with 40 containers, 90% of the
database).

Each snapshot keeps how many containers it found (container_count; NULL when it recorded
none, as before 0005), and snapshots.capability_id gets an index, for prune. The upgrade turns
each host's sequence of lists into states, and the downgrade the states back into lists,
stored once by digest as 0005 stored them, so that the two leave every snapshot's containers
as they were.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CHUNK = 500


def _body(payload: Any) -> str:
    """One container as store/snapshots.py writes it (copied: this revision must not change)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _snapshots(conn: sa.Connection, column: str) -> list[Any]:
    """Every snapshot's id, host, seq and `column`, host by host in seq order: read whole
    first, since the migration writes the snapshots table while it goes through them."""
    query = f"SELECT id, host_id, seq, {column} FROM snapshots ORDER BY host_id, seq"
    return conn.execute(sa.text(query)).all()


_STATES = sa.insert(
    sa.table(
        "container_states",
        sa.column("host_id"),
        sa.column("first_seq"),
        sa.column("end_seq"),
        sa.column("body"),
    )
)
_COUNTS = sa.text("UPDATE snapshots SET container_count = :count WHERE id = :snapshot")
_LINKS = sa.text("UPDATE snapshots SET container_set_id = :set WHERE id = :snapshot")


class _Batch:
    """Rows for one statement, executed _CHUNK at a time."""

    def __init__(self, conn: sa.Connection, statement: Any) -> None:
        self.conn, self.statement, self.rows = conn, statement, list[dict[str, Any]]()

    def add(self, **row: Any) -> None:
        self.rows.append(row)
        if len(self.rows) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.conn.execute(self.statement, self.rows)
            self.rows = []


def upgrade() -> None:
    op.create_table(
        "container_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("end_seq", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_container_states_host_id_hosts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_container_states"),
    )
    op.create_index("ix_container_states_host_open", "container_states", ["host_id", "end_seq"])
    op.create_index("ix_container_states_host_first", "container_states", ["host_id", "first_seq"])
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("container_count", sa.Integer(), nullable=True))
    # prune looks the capability reports no snapshot uses up by it.
    op.create_index("ix_snapshots_capability_id", "snapshots", ["capability_id"])
    conn = op.get_bind()
    # Each list is read when a snapshot needs it, and a state is written when it ends: the
    # lists, most of a large 0005 database, are never in memory together.
    states, counts = _Batch(conn, _STATES), _Batch(conn, _COUNTS)
    host, set_id, listed = None, None, set[str]()
    open_at: dict[str, int] = {}  # body -> the seq its state began with
    for r in _snapshots(conn, "container_set_id"):
        if r.host_id != host:
            for body, first in open_at.items():
                states.add(host_id=host, first_seq=first, end_seq=None, body=body)
            host, open_at = r.host_id, {}
        if r.container_set_id is None:
            continue  # recorded no containers: the states it does not see go on
        if r.container_set_id != set_id:
            set_id = r.container_set_id
            found = conn.execute(
                sa.text("SELECT body FROM container_sets WHERE id = :id"), {"id": set_id}
            ).scalar_one()
            # A container listed twice (as an old import could store it) is one.
            listed = {_body(c) for c in json.loads(found)}
        counts.add(snapshot=r.id, count=len(listed))
        for body in sorted(set(open_at) - listed):
            states.add(host_id=host, first_seq=open_at.pop(body), end_seq=r.seq, body=body)
        for body in sorted(listed - set(open_at)):
            open_at[body] = r.seq
    for body, first in open_at.items():
        states.add(host_id=host, first_seq=first, end_seq=None, body=body)
    states.flush()
    counts.flush()
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_constraint("fk_snapshots_container_set_id_container_sets", type_="foreignkey")
        batch.drop_column("container_set_id")
    op.drop_table("container_sets")


def downgrade() -> None:
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
    conn = op.get_bind()
    links = _Batch(conn, _LINKS)
    sets: dict[str, int] = {}
    host, states = None, list[Any]()
    for r in _snapshots(conn, "container_count"):
        if r.host_id != host:
            host = r.host_id
            states = conn.execute(
                sa.text(
                    "SELECT first_seq, end_seq, body FROM container_states WHERE host_id = :host"
                    " ORDER BY id"
                ),
                {"host": host},
            ).all()
        if r.container_count is None:
            continue
        payloads = [
            json.loads(s.body)
            for s in states
            if s.first_seq <= r.seq and (s.end_seq is None or s.end_seq > r.seq)
        ]
        payloads.sort(key=lambda c: (c["runtime"], c["id"]))
        body = json.dumps(payloads, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(body.encode()).hexdigest()
        if digest not in sets:
            found = {"sha": digest, "body": body}
            conn.execute(sa.text("INSERT INTO container_sets (sha256, body) VALUES (:sha, :body)"),
                         found)  # fmt: skip
            sets[digest] = conn.execute(
                sa.text("SELECT id FROM container_sets WHERE sha256 = :sha"), found
            ).scalar_one()
        links.add(snapshot=r.id, set=sets[digest])
    links.flush()
    op.drop_index("ix_snapshots_capability_id", table_name="snapshots")
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("container_count")
    op.drop_index("ix_container_states_host_first", table_name="container_states")
    op.drop_index("ix_container_states_host_open", table_name="container_states")
    op.drop_table("container_states")
