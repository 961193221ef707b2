"""Opening the database safely, for reading or for writing: the file checked first (files.py:
no symlinks, no other user's file, nothing that other users can write), no other program's
database; WAL and BEGIN IMMEDIATE for writers."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quote
from urllib.parse import unquote

from nsaudit.errors import DatabaseError
from nsaudit.store.files import check_existing, check_or_create
from nsaudit.store.head import OWN_TABLES
from nsaudit.store.location import is_url

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import URL

BUSY_TIMEOUT_MS = 60_000
_SQLITE_CANTOPEN = 14
_SQLITE_READONLY = 8


def shown(location: str) -> str:
    """A location fit for a message or a log: a URL's password is masked."""
    if not is_url(location):
        return location
    from sqlalchemy.engine import make_url

    try:
        url = make_url(location)
        return location if url.password is None else url.render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


@dataclass(frozen=True)
class SqliteFile:
    """An SQLite database file, and the URI parameters it was given (`?mode=ro&uri=true`)."""

    path: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def creates(self) -> bool:
        """False for `mode=ro`: SQLite opens such a file only if it exists, and so does
        nsaudit, which then makes no file and no folder either."""
        return dict(self.params).get("mode") != "ro"

    def uri(self, write: bool, immutable: bool = False) -> str:
        params = dict(self.params)
        # Reading never creates; writing opens the file that check_or_create made or checked.
        if not write or params.get("mode") != "ro":
            params["mode"] = "rw" if write else "ro"
        if immutable:
            params["immutable"] = "1"
        query = "&".join(f"{url_quote(k)}={url_quote(v)}" for k, v in params.items())
        return f"file:{url_quote(os.path.abspath(self.path))}?{query}"


def sqlite_file(location: str) -> SqliteFile | None:
    """The SQLite file that a location names, or None for another database (or memory)."""
    target = _sqlite_file(location)
    if target is not None and "\0" in target.path:
        raise DatabaseError(
            f"database {shown(location)}: the file name holds a NUL character (%00); remove it"
        )
    return target


def _sqlite_file(location: str) -> SqliteFile | None:
    if not is_url(location):
        return SqliteFile(location)
    from sqlalchemy.engine import make_url

    try:
        url = make_url(location)
    except Exception:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    if query.pop("uri", "").lower() not in ("true", "1"):
        return SqliteFile(url.database)
    # An SQLite URI, opened as SQLite opens it: file:PATH or file://localhost/PATH, %-escapes.
    text = url.database.removeprefix("file:")
    text, _, inline = text.partition("?")
    if text.startswith("//"):
        authority, _, rest = text[2:].partition("/")
        if authority not in ("", "localhost"):
            raise DatabaseError(f"SQLite URI {location}: only local files can be opened")
        text = "/" + rest
    for pair in filter(None, inline.split("&")):
        key, _, value = pair.partition("=")
        query.setdefault(unquote(key), unquote(value))
    if query.get("mode") == "memory":
        # The path only names a database in memory: there is no file to check or create.
        return None
    return SqliteFile(unquote(text), tuple(sorted(query.items())))


def open_engine(location: str, write: bool, create: bool = True) -> Engine:
    """An engine for a URL or an SQLite path. Writing creates a missing SQLite file (0600, in
    folders created 0700) when `create`; reading never creates anything and never takes the
    write lock."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    target = sqlite_file(location)
    if target is not None:
        return _sqlite_engine(target, write, create)
    try:
        url: URL | str = make_url(location) if is_url(location) else location
        engine = create_engine(url, poolclass=NullPool)
    except Exception as e:
        raise DatabaseError(
            f"cannot use database URL {shown(location)}: {e}; check the URL and install "
            "its SQLAlchemy driver"
        ) from None
    if not write and engine.dialect.name == "postgresql":

        @event.listens_for(engine, "begin")
        def _read_only(conn: Any) -> None:
            # One snapshot of the database for the whole read, as SQLite's read transactions
            # are: a snapshot's header, namespaces and containers, read by separate
            # statements (show streams them), cannot come from before and after a prune.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    elif engine.dialect.name == "postgresql":

        @event.listens_for(engine, "begin")
        def _read_committed(conn: Any) -> None:
            # Whatever the server's default: a host's writes come one at a time already (the
            # advisory lock of store/hostlock.py) and touch its own rows only, so serializable
            # transactions would only add conflicts on index pages that hosts share, which
            # hundreds of hosts writing at once turn into failures. A deadlock or serialization
            # failure that still comes is run again (database.retried).
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    return engine


def foreign_tables(names: list[str]) -> list[str]:
    """The tables among `names` that nsaudit did not create."""
    return sorted(n for n in names if n not in OWN_TABLES and not n.startswith("sqlite_"))


def refuse_foreign(location: str, names: list[str]) -> None:
    foreign = foreign_tables(names)
    if foreign:
        listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise DatabaseError(
            f"database {shown(location)} holds tables nsaudit did not create ({listed}); "
            "nsaudit leaves another program's database alone: give another --db"
        )


def _sqlite_engine(target: SqliteFile, write: bool, create: bool) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if write and create and target.creates:
        check_or_create(target.path)
    else:
        check_existing(target.path)

    def opened() -> sqlite3.Connection:
        return connect(target, write)

    engine = create_engine("sqlite://", creator=opened, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the write lock at the start: overlapping runs queue, never deadlock.
        # Readers read one consistent moment and never lock anyone out.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def connect(target: SqliteFile, write: bool) -> sqlite3.Connection:
    conn = _open(target.uri(write))
    try:
        names = _table_names(conn)
    except sqlite3.OperationalError as e:
        if write or e.sqlite_errorcode & 0xFF not in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
            conn.close()
            raise
        # Read-only media (CANTOPEN), or a folder the reader cannot write (READONLY_CANTINIT):
        # SQLite cannot make the WAL index (-shm) beside the file. With no write-ahead log to
        # read, the file alone is the whole database and can be opened immutable.
        conn.close()
        wal = f"{target.path}-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise DatabaseError(
                f"database {target.path} cannot be read here: its write-ahead log {wal} holds "
                "changes and the folder cannot be written; open it once where it can be "
                "written (any nsaudit command that writes), then read it here"
            ) from None
        conn = _open(target.uri(write, immutable=True))
        names = _table_names(conn)
    # Before anything could write: another program's database stays byte for byte as it was.
    refuse_foreign(target.path, names)
    if write:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _open(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    # pysqlite's own transaction handling would defer BEGIN; nsaudit issues it itself.
    conn.isolation_level = None
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    return [str(r[0]) for r in rows]
