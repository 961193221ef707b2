"""`nsaudit db upgrade`, `db current` and `db check`: the schema and soundness, explicitly."""

from __future__ import annotations

import click

from nsaudit.cli.options import db_option
from nsaudit.errors import EXIT_OK
from nsaudit.settings import Settings


@click.group()
def db() -> None:
    """Manage the database schema (commands that write apply it on their own, too), and
    check the database."""


@db.command()
@db_option
def upgrade(db: str, settings: Settings) -> int:
    """Bring the database to this nsaudit's schema (Alembic head)."""
    from nsaudit.app.database import upgrade as upgrade_database
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown

    database = Database(db)
    found = upgrade_database(database)
    before, after = found.before, found.after
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    click.echo(f"database {shown(database.location)}: {state} revision {after}")
    return EXIT_OK


@db.command()
@db_option
def current(db: str, settings: Settings) -> int:
    """Print the database's schema revision and this nsaudit's newest one."""
    from nsaudit.app.database import current as current_revision
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown

    database = Database(db)
    found = current_revision(database)
    revision, head = found.before, found.after
    note = "up to date" if revision == head else "an upgrade is due: nsaudit db upgrade"
    click.echo(
        f"database {shown(database.location)}: revision {revision or 'empty'} (head {head}; {note})"
    )
    return EXIT_OK


@db.command("check")
@db_option
def check_command(db: str, settings: Settings) -> int:
    """Check the database without writing to it: SQLite's integrity check, the schema at
    head, each host's seqs increasing in time order (gaps that prune leaves are notes), every
    snapshot, capability report and check record readable. Exit 0 when sound, 4 otherwise."""
    from nsaudit.app.database import check as check_database
    from nsaudit.errors import DatabaseError
    from nsaudit.render.escape import terminal
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown
    from nsaudit.store.schema import SCHEMA_HEAD

    database = Database(db)
    checked = check_database(database)
    for finding in checked.findings:
        click.echo(f"{'problem' if finding.problem else 'note'}: {terminal(finding.text)}")
    where = shown(database.location)
    if checked.problems:
        s = "s" if checked.problems > 1 else ""
        raise DatabaseError(
            f"database {where}: {checked.problems} problem{s} (listed on standard output); "
            "restore it from a backup, or export what still loads into a new database"
        )
    click.echo(
        f"database {where}: sound ({checked.hosts} hosts, {checked.snapshots} snapshots, "
        f"schema {SCHEMA_HEAD})"
    )
    return EXIT_OK
