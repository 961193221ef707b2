"""Opening the database for a command: the schema brought to head, errors made exit 4."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from nsaudit.errors import DatabaseError
from nsaudit.store import engine as engines
from nsaudit.store import migrate


class Database:
    """One database, named by --db, $NSAUDIT_DB or the default location."""

    def __init__(self, location: str | None) -> None:
        self.location = engines.resolve(location)
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
        with errors(self.location), self.engine.begin() as conn:
            if upgrade:
                migrate.upgrade(conn)
            else:
                migrate.check_known(conn)
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


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
