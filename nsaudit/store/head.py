"""What this nsaudit's schema is, known without loading SQLAlchemy: its revision and its
tables (store/schema.py declares them; a test checks that the two agree)."""

from __future__ import annotations

from importlib import resources


def _newest_revision() -> str:
    """The newest revision in migrations/versions, by the number each file name starts with
    (cheaper than loading Alembic's scripts; a test checks that Alembic agrees)."""
    versions = resources.files("nsaudit._migrations") / "versions"
    return max(p.name[:4] for p in versions.iterdir() if p.name[:4].isdigit())


SCHEMA_HEAD = _newest_revision()

TABLES = frozenset(
    {
        "hosts",
        "capability_reports",
        "snapshots",
        "ns_states",
        "container_states",
        "policy_checks",
        "fleet_roles",
        "watch_runs",
        "ns_events",
    }
)
# The tables nsaudit's migrations create, and those earlier revisions had that later ones
# dropped (a database at such a revision is nsaudit's, to upgrade); SQLite's own (sqlite_*)
# are allowed too.
OWN_TABLES = TABLES | {"alembic_version", "container_sets"}
