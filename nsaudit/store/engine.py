"""Opening the database safely: no symlinks, no other user's file, WAL, BEGIN IMMEDIATE."""

from __future__ import annotations

import os
import stat
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from nsaudit.errors import DatabaseError
from nsaudit.store.location import is_url

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 60_000


def shown(location: str) -> str:
    """A location fit for a message or a log: a URL's password is masked."""
    if not is_url(location):
        return location
    try:
        return make_url(location).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def open_engine(location: str) -> Engine:
    """An engine for a URL or an SQLite path, which is created 0600 in a 0700 folder."""
    if is_url(location):
        url = make_url(location)
        if url.get_backend_name() == "sqlite" and url.database:
            return _sqlite_engine(url.database)
        try:
            return create_engine(url, poolclass=NullPool)
        except Exception as e:
            raise DatabaseError(
                f"cannot use database URL {shown(location)}: {e}; check the URL and install "
                "its SQLAlchemy driver"
            ) from None
    return _sqlite_engine(location)


def _sqlite_engine(path: str) -> Engine:
    _check_or_create(path)
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; nsaudit issues it itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Take the write lock at the start: two overlapping cron runs queue, never deadlock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _check_or_create(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        _create(path)
        return
    except OSError as e:
        raise DatabaseError(f"database {path} cannot be read: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise DatabaseError(
            f"database {path} is a symbolic link; nsaudit does not follow it: give the real path"
        )
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseError(f"database {path} is not a regular file; give a file path to --db")
    if st.st_uid != os.geteuid():
        raise DatabaseError(
            f"database {path} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); "
            "nsaudit refuses another user's database: use your own --db"
        )
    if st.st_size:
        try:
            with open(path, "rb") as f:
                head = f.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise DatabaseError(f"database {path} cannot be read: {e.strerror}") from None
        if head != SQLITE_MAGIC:
            raise DatabaseError(
                f"{path} is not an SQLite database; nsaudit leaves it alone: give another --db"
            )


def _create(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    except FileExistsError:
        _check_or_create(path)
    except OSError as e:
        raise DatabaseError(f"cannot create database {path}: {e.strerror}") from None
