"""One scan-and-save at a time per host, so that seq order is the order the scans were taken in."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from nsaudit.errors import DatabaseError
from nsaudit.model import HostInfo
from nsaudit.store.database import Database, errors
from nsaudit.store.engine import check_or_create


@contextmanager
def scanning(database: Database, host: HostInfo) -> Iterator[None]:
    """Hold the host's scan lock from before its scan until its snapshot is committed.

    Two overlapping runs would otherwise scan in one order and commit in the other. SQLite:
    flock on the database file itself (SQLite locks with POSIX fcntl locks, which flock does
    not touch on Linux); PostgreSQL: an advisory lock keyed on the host, in its own session.
    """
    if database.sqlite is not None:
        with _file_lock(database):
            _ready(database)
            yield
        return
    engine = database.engine(True)
    if engine.dialect.name != "postgresql":
        _ready(database)
        yield
        return
    digest = hashlib.sha256(f"nsaudit\0{host.hostname}\0{host.machine_id or ''}".encode())
    key = int.from_bytes(digest.digest()[:8], "big", signed=True)
    with errors(database), engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        _ready(database)
        # Closing the session releases the lock, whatever happens in between.
        yield


def _ready(database: Database) -> None:
    """Open the database for writing once before the scan: a database that will be refused
    (another program's, a newer schema, read-only) is refused before a scan of many seconds."""
    with database.writing():
        pass


@contextmanager
def _file_lock(database: Database) -> Iterator[None]:
    assert database.sqlite is not None
    path = database.sqlite.path
    # The file must exist to be locked: the first snapshot creates it (0600, checked).
    check_or_create(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise DatabaseError(f"database {path} cannot be opened: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        # Closing any descriptor of the file drops this process's POSIX locks on it, SQLite's
        # included: every SQLite connection is closed first.
        database.dispose()
        os.close(fd)
