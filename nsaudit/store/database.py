"""Opening the database for a command, to read or to write: only writers create the database
or bring its schema to head; errors become one-line exit-4 errors."""

from __future__ import annotations

import atexit
import os
import random
import secrets
import sqlite3
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cached_property
from shlex import quote
from typing import TYPE_CHECKING, TypeVar

from nsaudit.errors import DatabaseError
from nsaudit.store import engine as engines
from nsaudit.store.files import check_existing
from nsaudit.store.head import SCHEMA_HEAD
from nsaudit.store.location import resolve
from nsaudit.store.sql import Sql

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

T = TypeVar("T")
_SQLITE_IOERR = 10
_SQLITE_READONLY = 8
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
# An I/O error with less than this free where the database lives is the disk being full.
_NEARLY_FULL = 1 << 20
# PostgreSQL's SQLSTATEs: a transaction to run again (serialization failure, deadlock), and
# a role refused.
_RETRY_STATES = frozenset({"40001", "40P01"})
_INSUFFICIENT_PRIVILEGE = "42501"
_LOCK_NOT_AVAILABLE = "55P03"


class RetryableError(DatabaseError):
    """The database rolled the transaction back and asks for it to be run again."""


def retried(write: Callable[[], T], attempts: int = 12) -> T:
    """Run a write transaction, and again while the database asks for it (PostgreSQL's
    serialization failures and deadlocks), after a random pause that doubles each time up to
    two seconds: many hosts writing at once are spread out."""
    for attempt in range(attempts - 1):
        try:
            return write()
        except RetryableError:
            time.sleep(random.uniform(0.5, 1) * min(0.1 * 2**attempt, 2))
    return write()


class Database:
    """One database, named by --db, $NSAUDIT_DB or the default location."""

    def __init__(self, location: str | None) -> None:
        self.location = resolve(location)
        self._engines: dict[tuple[bool, bool], Engine] = {}

    @cached_property
    def sqlite(self) -> engines.SqliteFile | None:
        """The SQLite file the location names (None for another database). Worked out when
        first needed, so that a command's own argument errors come before a bad location's."""
        return engines.sqlite_file(self.location)

    def engine(self, write: bool, create: bool = True) -> Engine:
        key = (write, create)
        if key not in self._engines:
            with errors(self):
                self._engines[key] = engines.open_engine(self.location, write, create)
            _open.add(self)
        return self._engines[key]

    @contextmanager
    def reading(self, at_head: bool = True) -> Iterator[Connection]:
        """A read-only transaction. Nothing is created or migrated: a missing database, or one
        at an older schema (unless `at_head` is False), is an error that says what to run."""
        with errors(self), self.engine(False).begin() as conn:
            found = revision(conn)
            if found != SCHEMA_HEAD:
                from nsaudit.store import migrate

                migrate.check_known(conn)
                if at_head:
                    raise DatabaseError(self._not_at_head(conn, found))
            yield conn

    @contextmanager
    def writing(self, upgrade: bool = True, create: bool = True) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); a missing SQLite database is
        created (an error without `create`: for writes that need stored snapshots), and the
        schema is upgraded inside the transaction first (unless `upgrade` is False). Any
        failure rolls it all back: a snapshot is stored whole or not at all."""
        with errors(self), self.engine(True, create).begin() as conn:
            if self.sqlite is None:
                from sqlalchemy import inspect

                # SQLite connections refuse another program's database as they open, before
                # anything could write (engine.connect); other databases are checked here.
                engines.refuse_foreign(self.location, inspect(conn).get_table_names())
            # The common case, a database at head, costs one query and no Alembic import.
            if revision(conn) != SCHEMA_HEAD:
                from nsaudit.store import migrate

                if upgrade:
                    migrate.upgrade(conn)
                else:
                    migrate.check_known(conn)
            yield conn

    @contextmanager
    def writing_sql(self, create: bool = True) -> Iterator[Sql]:
        """writing(), through the database's driver itself (store/sql.py): an SQLite file at
        head is written without loading SQLAlchemy, which is most of a snapshot's start-up.
        Any other database, and a file to create or upgrade, goes through writing()."""
        target = self.sqlite
        if target is not None and os.path.lexists(target.path):
            with errors(self):
                check_existing(target.path)
                raw = engines.connect(target, write=True)
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    if _sqlite_revision(raw) == SCHEMA_HEAD:
                        try:
                            yield Sql(raw, "sqlite", named=True)
                        except BaseException:
                            raw.rollback()
                            raise
                        raw.commit()
                        return
                    raw.rollback()
                finally:
                    raw.close()
        with self.writing(create=create) as conn:
            yield Sql.of(conn)

    @contextmanager
    def writing_or_nothing(self) -> Iterator[Connection]:
        """writing(), for a long write that may fail late (an import): a failure leaves no
        trace, not even a database file that did not exist before. The rollback cannot undo
        the creation of the file, so a new SQLite database is built beside its place under
        another name and linked there once the transaction has committed."""
        target = self.sqlite
        if target is None or target.params or os.path.lexists(target.path):
            with self.writing() as conn:
                yield conn
            return
        scratch = Database(f"{target.path}.new-{os.getpid()}-{secrets.token_hex(4)}")
        assert scratch.sqlite is not None
        try:
            with scratch.writing() as conn:
                yield conn
            scratch.dispose()  # the last connection closed: the write-ahead log is folded in
            try:
                os.link(scratch.sqlite.path, target.path)
            except FileExistsError:
                raise DatabaseError(
                    f"database {target.path} was created by another program meanwhile; "
                    "nothing was written to it: run the command again"
                ) from None
            except OSError as e:
                raise DatabaseError(f"cannot create database {target.path}: {e.strerror}") from None
        finally:
            scratch.dispose()
            for suffix in ("", "-wal", "-shm", "-journal"):
                with suppress(FileNotFoundError):
                    os.unlink(scratch.sqlite.path + suffix)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()

    def _not_at_head(self, conn: Connection, revision: str | None) -> str:
        from sqlalchemy import inspect

        where = engines.shown(self.location)
        upgrade = f"nsaudit db upgrade --db {quote(where)}"
        if revision is None and not inspect(conn).get_table_names():
            return (
                f"database {where} is empty: take a snapshot with `nsaudit snapshot`, or run "
                f"`{upgrade}`"
            )
        return (
            f"database {where} has schema revision {revision or 'none'}, older than this "
            f"nsaudit's {SCHEMA_HEAD}; commands that only read do not upgrade it: run "
            f"`{upgrade}`"
        )


# Every Database with an engine: each closed at exit, where nsaudit skips the interpreter's
# teardown (nsaudit/__main__.py) that would close them (SQLite folds its write-ahead log into
# the database as the last connection closes).
_open: weakref.WeakSet[Database] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for database in list(_open):
        database.dispose()


def revision(conn: Connection) -> str | None:
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    """revision(), on the driver's own connection."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone():
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


@contextmanager
def errors(database: Database) -> Iterator[None]:
    """SQLAlchemy's exceptions as one-line DatabaseErrors naming the database."""
    location = engines.shown(database.location)
    try:
        yield
    except DatabaseError:
        raise
    except Exception as e:
        orig = _driver_error(e)
        if orig is None:
            raise
        detail = str(orig).splitlines()[0]
        code = getattr(orig, "sqlite_errorcode", None)
        base = code & 0xFF if isinstance(code, int) else None
        if base == _SQLITE_FULL or (base == _SQLITE_IOERR and _nearly_full(database)):
            raise DatabaseError(
                f"database {location}: no space left on device; nothing was written: free "
                "some space there and run again"
            ) from None
        if base == _SQLITE_READONLY or (base == _SQLITE_CANTOPEN and _read_only_folder(database)):
            raise DatabaseError(
                f"database {location} cannot be written ({detail}): it is read-only or on "
                "read-only media; commands that only read it still work"
            ) from None
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if state in _RETRY_STATES:
            raise RetryableError(f"database {location}: {detail}") from None
        if state == _LOCK_NOT_AVAILABLE:
            raise DatabaseError(
                f"database {location}: {detail}: another session held this host's turn (or a "
                "table) too long; nothing was stored: run again, and see pg_locks if it stays"
            ) from None
        if state == _INSUFFICIENT_PRIVILEGE:
            raise DatabaseError(f"database {location}: {detail}: {_not_allowed(detail)}") from None
        if "malformed" in detail or "not a database" in detail:
            raise DatabaseError(
                f"database {location} is corrupt ({detail}); it was not changed: restore it "
                "from a backup or give another --db"
            ) from None
        raise DatabaseError(f"database {location}: {detail}") from None


def _not_allowed(detail: str) -> str:
    """What to do when PostgreSQL refused the role (a fleet's: store/fleet.py)."""
    if "row-level security" in detail:
        return (
            "a host's role writes only its own host's history, under the host name that "
            "`nsaudit db add-host` registered for it (hostname in the settings file)"
        )
    return (
        "this database role may not do that: prune, hosts forget and imports of other hosts' "
        "bundles need the fleet's reporting role, and db upgrade its owner"
    )


def _driver_error(e: Exception) -> BaseException | None:
    """The database driver's error behind `e`, or None when `e` is not a database's error.
    SQLAlchemy's errors wrap it; store/sql.py's statements raise it as it is: an Error of a
    DB-API module (PEP 249: sqlite3's, psycopg2's)."""
    wrapped = sys.modules.get("sqlalchemy.exc")  # loaded if SQLAlchemy could have raised it
    if wrapped is not None and isinstance(e, wrapped.SQLAlchemyError):
        orig: BaseException | None = getattr(e, "orig", None)
        return orig or e
    for cls in type(e).__mro__:
        driver = sys.modules.get(cls.__module__.partition(".")[0])
        if cls.__name__ == "Error" and hasattr(driver, "paramstyle"):
            return e
    return None


def _folder(database: Database) -> str | None:
    """The folder of an SQLite database (None for another kind)."""
    if database.sqlite is None:
        return None
    return os.path.dirname(os.path.abspath(database.sqlite.path))


def _read_only_folder(database: Database) -> bool:
    """SQLite could not open the file's write-ahead log beside it: the folder is read-only."""
    folder = _folder(database)
    if folder is None:
        return False
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY) or not os.access(folder, os.W_OK)
    except OSError:
        return False


def _nearly_full(database: Database) -> bool:
    folder = _folder(database)
    if folder is None:
        return False
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _NEARLY_FULL
