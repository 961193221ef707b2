"""The database itself: its schema revision, an explicit upgrade, and its soundness."""

from __future__ import annotations

from dataclasses import dataclass

from nsaudit.store import fleet, integrity, migrate
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


def init_fleet(database: Database, prefix: str) -> fleet.Initialised:
    """Make a PostgreSQL database a fleet (store/fleet.py), in one transaction."""
    with database.writing(upgrade=False) as conn:
        made = fleet.prepare(conn, prefix)
        migrate.upgrade(conn, fleet=False)
        fleet.finish(conn, made.roles)
        return made


def add_host(database: Database, name: str, role: str | None) -> fleet.Added:
    with database.writing(upgrade=False) as conn:
        return fleet.add_host(conn, name, role)


def remove_host(database: Database, name: str) -> fleet.Removed:
    with database.writing(upgrade=False) as conn:
        return fleet.remove_host(conn, name)


def host_settings(database: Database, role: str) -> tuple[str, str]:
    """A host's database URL (its role, no password) and its pgpass line less the password."""
    from sqlalchemy.engine import make_url

    url = make_url(database.location).set(username=role, password=None)

    def field(value: object) -> str:
        return str(value).replace("\\", "\\\\").replace(":", "\\:")

    where = [url.host or "localhost", url.port or 5432, url.database or "*", role]
    return url.render_as_string(hide_password=False), ":".join(map(field, where))
