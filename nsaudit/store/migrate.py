"""Alembic, configured in code: bring a database to the newest schema, refuse a newer one."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from nsaudit.errors import DatabaseError
from nsaudit.store.schema import metadata


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("nsaudit._migrations")))
    cfg.attributes["connection"] = connection
    cfg.attributes["target_metadata"] = metadata
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_known(connection: Connection) -> str | None:
    """The database's revision; DatabaseError when a newer nsaudit wrote it."""
    revision = current(connection)
    if revision is None:
        return None
    try:
        ScriptDirectory.from_config(_config()).get_revision(revision)
    except CommandError:
        raise DatabaseError(
            f"the database has schema revision {revision}, which this nsaudit does not know: "
            "a newer nsaudit wrote it; upgrade nsaudit (the database was not changed)"
        ) from None
    return revision


def upgrade(connection: Connection, fleet: bool = True) -> tuple[str | None, str]:
    """Upgrade inside the caller's transaction; (revision before, revision after). A fleet's
    database (store/fleet.py), upgraded by its owner (or a member), is upgraded as the owner
    role, and its grants and row-level security policies are applied again, even at head: a
    new table gets its own, and a policy dropped by hand is back."""
    from nsaudit.store import fleet as fleets

    before = check_known(connection)
    target = head()
    roles = fleets.owned(connection) if fleet else None
    if roles is not None:
        connection.exec_driver_sql(f"SET LOCAL ROLE {fleets.quoted(roles.owner)}")
    if before != target:
        command.upgrade(_config(connection), "head")
    if roles is not None:
        fleets.apply(connection, roles)
        connection.exec_driver_sql("RESET ROLE")
    return before, target
