"""Opening the database for a command: the schema brought to head, errors made exit 4."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from nsaudit.errors import DatabaseError
from nsaudit.store import engine as engines
from nsaudit.store.location import resolve
from nsaudit.store.schema import SCHEMA_HEAD


class Database:
    """One database, named by --db, $NSAUDIT_DB or the default location."""

    def __init__(self, location: str | None) -> None:
        self.location = resolve(location)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engines.open_engine(self.location)
        return self._engine

    @contextmanager
    def transaction(self, upgrade: bool = True) -> Iterator[Connection]:
        """One transaction (BEGIN IMMEDIATE on SQLite); the schema is upgraded inside it first.

        Any failure rolls the whole transaction back: a snapshot is stored whole or not at all.
        """
        with errors(engines.shown(self.location)), self.engine.begin() as conn:
            # The common case, a database at head, costs one query and no Alembic import.
            if _revision(conn) != SCHEMA_HEAD:
                from nsaudit.store import migrate

                if upgrade:
                    migrate.upgrade(conn)
                else:
                    migrate.check_known(conn)
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def errors(location: str) -> Iterator[None]:
    """SQLAlchemy's exceptions as one-line DatabaseErrors naming the database."""
    try:
        yield
    except DatabaseError:
        raise
    except SQLAlchemyError as e:
        detail = str(getattr(e, "orig", None) or e).splitlines()[0]
        if "malformed" in detail or "not a database" in detail:
            raise DatabaseError(
                f"database {location} is corrupt ({detail}); it was not changed: restore it "
                "from a backup or give another --db"
            ) from None
        raise DatabaseError(f"database {location}: {detail}") from None
