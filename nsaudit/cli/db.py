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


@db.command("init-fleet")
@click.option("--prefix", default="nsaudit", show_default=True,
              help="The roles' names: PREFIX_owner, PREFIX_reporting, PREFIX_hosts.")  # fmt: skip
@db_option
def init_fleet(prefix: str, db: str, settings: Settings) -> int:
    """Make a PostgreSQL database a fleet: an owner role for the tables, a reporting role that
    reads every host, and row-level security so that each host's role (db add-host) writes
    and reads only its own history. Run as a superuser (or a role that may create roles);
    running it again changes no password."""
    from nsaudit.app.database import host_settings
    from nsaudit.app.database import init_fleet as initialise
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown

    database = Database(db)
    done = initialise(database, prefix)
    roles, made = done.roles, set(done.created)

    def state(role: str) -> str:
        return "created" if role in made else "existed"

    click.echo(f"database {shown(database.location)} is a fleet (row-level security on):")
    click.echo(f"  owner role      {roles.owner} ({state(roles.owner)}): owns the tables; "
               "db upgrade runs as it")  # fmt: skip
    click.echo(f"  reporting role  {roles.reporting} ({state(roles.reporting)}): reads every "
               "host; prune, hosts forget, import")  # fmt: skip
    click.echo(f"  hosts' role     {roles.hosts} ({state(roles.hosts)}): each host's role is "
               "a member (nsaudit db add-host NAME)")  # fmt: skip
    if done.reporting_password is not None:
        url, line = host_settings(database, roles.reporting)
        click.echo("the reporting host's settings: its password is shown this once")
        click.echo(f'  database = "{url}"')
        click.echo(f"  ~/.pgpass (mode 600): {line}:{done.reporting_password}")
    return EXIT_OK


@db.command("add-host")
@click.argument("name")
@click.option("--role", metavar="ROLE",
              help="An existing login role for the host (one a client certificate logs in "
              "as): no password is made.")  # fmt: skip
@click.option("--pgpass", "pgpass", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the host's pgpass line (its password) to FILE, a new file of mode "
              "600, instead of standard output.")  # fmt: skip
@db_option
def add_host(name: str, role: str | None, pgpass: str | None, db: str, settings: Settings) -> int:
    """Give host NAME a role of its own in a fleet (db init-fleet): a new role with a new
    password, or --role ROLE. The host's snapshots then land under NAME only, and it reads
    only its own. Prints the host's settings."""
    import json
    import os

    from nsaudit.app.database import add_host as added_host
    from nsaudit.app.database import host_settings
    from nsaudit.errors import UsageError
    from nsaudit.render.escape import terminal
    from nsaudit.store.database import Database

    if pgpass is not None and role is not None:
        raise UsageError("--pgpass holds a new role's password: give it without --role")
    database = Database(db)
    fd = None
    if pgpass is not None:
        # Made before the role, so that the password it is made with cannot be lost.
        try:
            fd = os.open(pgpass, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise UsageError(f"--pgpass {pgpass}: {e.strerror}; give a new file") from None
    try:
        added = added_host(database, name, role)
    except BaseException:
        if fd is not None:
            os.close(fd)
            os.unlink(pgpass or "")
        raise
    url, line = host_settings(database, added.role)
    click.echo(f"host {terminal(name)!r}: role {terminal(added.role)}"
               + (f"; it took over the history of {added.adopted} host(s) of that name"
                  if added.adopted else ""))  # fmt: skip
    click.echo("its settings file (/etc/nsaudit/nsaudit.toml):")
    click.echo(f"  database = {json.dumps(url)}")
    click.echo(f"  hostname = {json.dumps(name)}")
    if added.password is None:
        click.echo(
            f"it logs in as {terminal(added.role)} as it did (a certificate, or its own password)"
        )
    elif fd is not None:
        with os.fdopen(fd, "w") as f:
            f.write(f"{line}:{added.password}\n")
        click.echo(f"its pgpass line (the password) is in {terminal(pgpass or '')}: copy it to "
                   "the host's ~/.pgpass, mode 600")  # fmt: skip
    else:
        click.echo("its ~/.pgpass line (mode 600), with the password shown this once:")
        click.echo(f"  {line}:{added.password}")
    return EXIT_OK


@db.command("remove-host")
@click.argument("name")
@db_option
def remove_host(name: str, db: str, settings: Settings) -> int:
    """Take host NAME's role out of the fleet: it can no longer read or write anything. Its
    history stays (`nsaudit hosts forget NAME` retires or removes it)."""
    from nsaudit.app.database import remove_host as removed_host
    from nsaudit.render.escape import terminal
    from nsaudit.store.database import Database

    removed = removed_host(Database(db), name)
    what = "dropped" if removed.dropped else "left the hosts' role (the login itself stays)"
    click.echo(f"host {terminal(name)!r}: role {terminal(removed.role)} {what}; its history stays")
    return EXIT_OK
