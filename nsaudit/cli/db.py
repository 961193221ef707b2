"""`nsaudit db upgrade` and `nsaudit db current`: the schema, explicitly."""

from __future__ import annotations

import click

from nsaudit.cli.options import db_option
from nsaudit.errors import EXIT_OK
from nsaudit.settings import Settings


@click.group()
def db() -> None:
    """Manage the database schema (commands apply it on their own, too)."""


@db.command()
@db_option
def upgrade(db: str, settings: Settings) -> int:
    """Bring the database to this nsaudit's schema (Alembic head)."""
    from nsaudit.store import migrate
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown

    database = Database(db)
    with database.writing(upgrade=False) as conn:
        before, after = migrate.upgrade(conn)
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    click.echo(f"database {shown(database.location)}: {state} revision {after}")
    return EXIT_OK


@db.command()
@db_option
def current(db: str, settings: Settings) -> int:
    """Print the database's schema revision and this nsaudit's newest one."""
    from nsaudit.store import migrate
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown

    database = Database(db)
    with database.reading(at_head=False) as conn:
        revision = migrate.check_known(conn)
    head = migrate.head()
    note = "up to date" if revision == head else "an upgrade is due: nsaudit db upgrade"
    click.echo(
        f"database {shown(database.location)}: revision {revision or 'empty'} (head {head}; {note})"
    )
    return EXIT_OK
