"""The database itself: its schema revision, an explicit upgrade, and its soundness."""

from __future__ import annotations

from dataclasses import dataclass

from nsaudit.store import integrity, migrate
from nsaudit.store.database import Database, revision


@dataclass(frozen=True)
class Revisions:
    """The database's schema revision before and after (equal: nothing to do), or its current
    revision against this nsaudit's newest (`head`)."""

    before: str | None
    after: str | None


def upgrade(database: Database) -> Revisions:
    """Bring the database to this nsaudit's schema (Alembic head)."""
    with database.writing(upgrade=False) as conn:
        before, after = migrate.upgrade(conn)
    return Revisions(before, after)


def current(database: Database) -> Revisions:
    """The database's revision (before) and this nsaudit's newest (after)."""
    with database.reading(at_head=False) as conn:
        found = migrate.check_known(conn)
    return Revisions(found, migrate.head())


def check(database: Database) -> integrity.Checked:
    """Check the database without writing to it (store/integrity.py)."""
    with database.reading(at_head=False) as conn:
        return integrity.check(conn, revision(conn))
