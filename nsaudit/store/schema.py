"""The tables. Alembic migrations create and change them; this is what they must match.

A namespace that lives through many snapshots is one row in ns_states, valid from
first_seq up to (not including) end_seq; only a change of its attributes or holders, or
its disappearance, closes that row. So the database grows with change, not with time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from nsaudit.model import Namespace
from nsaudit.store.head import SCHEMA_HEAD as SCHEMA_HEAD
from nsaudit.store.rows import plan


def columns(record: type[Any]) -> list[Column[Any]]:
    """The record's columns, as its table declares them."""
    out: list[Column[Any]] = []
    for f, names in plan(record):
        if f.kind == "id":
            kind, dev, inode = names
            out += [
                Column(kind, String(8), nullable=False),
                Column(dev, BigInteger, nullable=False),
                Column(inode, BigInteger, nullable=False),
            ]
        elif f.kind == "count":
            out.append(Column(names[0], Integer, nullable=False))
        elif f.kind == "number":
            out.append(Column(names[0], BigInteger if f.options.get("big") else Integer))
        elif f.kind == "text":
            out.append(Column(names[0], Text))
        elif f.kind == "ref":
            out += [Column(c, BigInteger) for c in names]
        else:
            out.append(Column(names[0], Text, nullable=False))
    return out


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

hosts = Table(
    "hosts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("machine_id", String(64), nullable=False),
    # The database role that writes the host's history in a fleet (store/fleet.py); '' else.
    Column("writer", String(63), nullable=False, server_default=""),
    # When `hosts forget --keep-history` retired it (its history stays).
    Column("retired_at", String(40)),
    # Up to when prune removed what `nsaudit watch` recorded of it (NULL: never); an import
    # does not bring that back.
    Column("watch_pruned_before", String(40)),
    UniqueConstraint("hostname", "machine_id"),
)

# A host's capability reports (JSON), each stored once by its digest however many of the
# host's snapshots have the same.
capability_reports = Table(
    "capability_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("host_id", "sha256"),
)

# A fleet's roles (nsaudit db init-fleet, db add-host): kind owner, reporting or hosts (the
# hosts' group), or host, with the host name that role may write.
fleet_roles = Table(
    "fleet_roles",
    metadata,
    Column("role", String(63), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("hostname", String(255), unique=True),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("taken_at", String(40), nullable=False),
    Column("boot_id", String(64)),
    Column("kernel", String(255)),
    Column("nsaudit_version", String(32), nullable=False),
    Column("label", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("threads", Boolean, nullable=False),
    Column("namespace_count", Integer, nullable=False),
    Column("counts", Text, nullable=False),
    Column("problems", Text, nullable=False),
    Column("capability_id", Integer, ForeignKey("capability_reports.id")),
    # How many containers the snapshot found (container_states holds them); NULL for a
    # snapshot that recorded none, taken before 0005.
    Column("container_count", Integer),
    UniqueConstraint("host_id", "seq"),
    # prune finds the capability reports no snapshot uses by it.
    Index("ix_snapshots_capability_id", "capability_id"),
)


def _states(name: str, *columns: Column[Any]) -> Table:
    """A table of states: a row is one thing as snapshots saw it, from first_seq up to (not
    including) end_seq (NULL while it lasts), so a thing that only lives on costs nothing,
    however many snapshots see it."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
        Column("first_seq", Integer, nullable=False),
        Column("end_seq", Integer),
        *columns,
        Index(f"ix_{name}_host_open", "host_id", "end_seq"),
        Index(f"ix_{name}_host_first", "host_id", "first_seq"),
    )


ns_states = _states(
    "ns_states",
    Column("boot_id", String(64)),
    Column("fingerprint", String(64), nullable=False),
    *columns(Namespace),  # the namespace's declared fields (nsaudit/model/inventory.py)
)
# What a Namespace is read from: its own columns, without the state's bookkeeping.
NAMESPACE_COLUMNS = tuple(ns_states.c[c.name] for c in columns(Namespace))
# A container as a snapshot found it: its fields.payload as JSON.
container_states = _states("container_states", Column("body", Text, nullable=False))

policy_checks = Table(
    "policy_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("snapshot_seq", Integer, nullable=False),
    Column("policy_name", String(255), nullable=False),
    Column("policy_sha256", String(64), nullable=False),
    Column("checked_at", String(40), nullable=False),
    Column("passed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("waived", Integer, nullable=False),
    Column("results", Text, nullable=False),
    Index("ix_policy_checks_host_policy", "host_id", "policy_name", "id"),
)

# A run of `nsaudit watch`: from started_at until ended_at (NULL: it runs, or died; seen_at is
# when it was last known alive). A stretch no run covers was not watched. uuid: its name in
# every database a bundle takes it to (random, 32 hex digits).
watch_runs = Table(
    "watch_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("uuid", String(32)),  # NULL never (migration 0009 says why the schema allows it)
    Column("boot_id", String(64)),
    Column("mechanism", String(16), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("seen_at", String(40), nullable=False),
    Column("ended_at", String(40)),
    Column("events", BigInteger, nullable=False),
    Column("lost", BigInteger, nullable=False),
    Column("blind", Text, nullable=False),
    Index("ix_watch_runs_host_started", "host_id", "started_at"),
    Index("ix_watch_runs_host_uuid", "host_id", "uuid", unique=True),
)

# The namespaces created or entered between snapshots (kind: the event's; "exit" for the exit
# of a task that made or entered one, which tells how long it lived); body is the event's
# JSON (nsaudit.model.NamespaceEvent), NULL for an exit.
ns_events = Table(
    "ns_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("watch_runs.id"), nullable=False),
    Column("at", String(40), nullable=False),
    Column("boot_ns", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("tid", Integer, nullable=False),
    Column("body", Text),
    Index("ix_ns_events_host_at", "host_id", "at"),
    Index("ix_ns_events_run_tid", "run_id", "tid"),
)
