"""Statements through the database driver itself (the DB-API), inside the caller's
transaction: what a snapshot's save and load run, so that a command that only takes a
snapshot need not load SQLAlchemy.

A statement is written once, with :name parameters (SQLite's own style), and converted for a
driver of another style (psycopg's %(name)s). Values are bound as they are: whole numbers,
text, None, and booleans (which SQLite stores as 0 and 1).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nsaudit.errors import DatabaseError

if TYPE_CHECKING:
    from sqlalchemy import Connection

# Rows inserted by one statement where the driver has no fast executemany (PostgreSQL).
_VALUES_PER_INSERT = 500
_NAME = re.compile(r"(?<![:\w]):(\w+)")
_CURSORS = itertools.count()


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """:name as %(name)s, and a % as %% (statements hold no quoted text with a colon)."""
    return _NAME.sub(r"%(\1)s", sql.replace("%", "%%"))


class Sql:
    """A DB-API connection in a transaction its caller began (and ends). `named`: the driver
    takes :name parameters (SQLite's); else %(name)s (psycopg's and most others')."""

    def __init__(self, connection: Any, dialect: str, named: bool) -> None:
        self.connection = connection
        self.dialect = dialect
        self.named = named

    @classmethod
    def of(cls, conn: Connection) -> Sql:
        """The driver's connection under a SQLAlchemy connection, in its transaction."""
        dialect = conn.dialect
        # sqlite3 takes :name as well as its default ?.
        style = "named" if dialect.name == "sqlite" else getattr(dialect.dbapi, "paramstyle", "")
        if style not in ("named", "pyformat"):
            raise DatabaseError(
                f"the database driver {dialect.driver!r} takes {style or 'unknown'} parameters; "
                "nsaudit needs one that takes named or pyformat ones (psycopg, psycopg2)"
            )
        return cls(conn.connection.driver_connection, dialect.name, style == "named")

    def native(self, sql: str) -> str:
        """The statement in the driver's own parameter style."""
        return sql if self.named else _pyformat(sql)

    @contextmanager
    def _run(self, sql: str, params: dict[str, Any]) -> Iterator[Any]:
        """A cursor that ran the statement, closed once read: a statement left open would
        hold SQLite's read of the database past the commit, and its last connection could
        not fold the write-ahead log back in as it closes."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self.native(sql), params)
            yield cursor
        finally:
            cursor.close()

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self._run(sql, params) as cursor:
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows

    def named_rows(self, sql: str, **params: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """The rows with the names of their columns."""
        with self._run(sql, params) as cursor:
            return tuple(d[0] for d in cursor.description), cursor.fetchall()

    def record(self, sql: str, **params: Any) -> dict[str, Any] | None:
        """The first row by column name, or None."""
        with self._run(sql, params) as cursor:
            row = cursor.fetchone()
            if row is None:
                return None
            return dict(zip((d[0] for d in cursor.description), row, strict=True))

    def value(self, sql: str, **params: Any) -> Any:
        """The first column of the first row, or None."""
        with self._run(sql, params) as cursor:
            row = cursor.fetchone()
            return None if row is None else row[0]

    def run(self, sql: str, **params: Any) -> None:
        with self._run(sql, params):
            pass

    def insert(self, table: str, **values: Any) -> int:
        """Insert one row; its new id."""
        names = ", ".join(values)
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(f':{k}' for k in values)})"
        if self.dialect in ("sqlite", "mysql", "mariadb"):
            with self._run(sql, values) as cursor:
                return int(cursor.lastrowid)
        with self._run(f"{sql} RETURNING id", values) as cursor:
            return int(cursor.fetchone()[0])

    def insert_many(self, table: str, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows of these columns: SQLite's executemany, else many rows a statement."""
        listed = ", ".join(names)
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(names))
            with closing(self.connection.cursor()) as cursor:
                cursor.executemany(f"INSERT INTO {table} ({listed}) VALUES ({marks})", rows)
            return
        for i in range(0, len(rows), _VALUES_PER_INSERT):
            groups, params = [], {}
            for n, row in enumerate(rows[i : i + _VALUES_PER_INSERT]):
                group, values = placeholders(f"v{n}_", row)
                groups.append(group)
                params.update(values)
            self.run(f"INSERT INTO {table} ({listed}) VALUES {', '.join(groups)}", **params)

    def stream(self, sql: str, **params: Any) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
        """The column names, and the rows as they are read: through a server-side cursor on
        PostgreSQL, SQLite's own stepping elsewhere."""
        if self.dialect == "postgresql":
            cursor = self.connection.cursor(name=f"nsaudit_{next(_CURSORS)}")
            cursor.itersize = 1000
            cursor.execute(self.native(sql), params)
            first = cursor.fetchmany(1)  # a named cursor describes its rows once it has read
        else:
            cursor, first = self.connection.cursor(), []
            cursor.execute(self.native(sql), params)
        return tuple(d[0] for d in cursor.description), _rows(first, cursor)


def _rows(first: list[tuple[Any, ...]], cursor: Any) -> Iterator[tuple[Any, ...]]:
    try:
        yield from first
        # Not `yield from`: closing this generator would close the cursor through it,
        # unguarded.
        for row in cursor:  # noqa: UP028
            yield row
    finally:
        # Left unread (Ctrl-C, a reader gone), the generator may be closed after its
        # connection was: that cursor is closed already, whatever the driver says.
        with suppress(Exception):
            cursor.close()


def placeholders(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:p0, :p1, ...)` for an IN list, and its parameters."""
    params = {f"{prefix}{n}": v for n, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params
