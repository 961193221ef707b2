"""One scan-and-save at a time per host, so that seq order is the order the scans were taken in."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from nsaudit.errors import DatabaseError
from nsaudit.model import HostInfo
from nsaudit.store.database import Database, errors, retried
from nsaudit.store.engine import SqliteFile
from nsaudit.store.files import check_existing, prepare_folder

# How long a run waits for its host's turn on PostgreSQL (another run's scan and save take
# seconds).
_TURN_TIMEOUT = "5min"


@contextmanager
def scanning(database: Database, host: HostInfo) -> Iterator[None]:
    """Hold the host's scan lock from before its scan until its snapshot is committed.

    Two overlapping runs would otherwise scan in one order and commit in the other. SQLite:
    flock on the database's folder, which exists before the file does (a scan that fails
    leaves no database behind) and whose descriptor, unlike one of the file, cannot drop
    SQLite's own POSIX locks when closed. PostgreSQL: an advisory lock keyed on the host, in
    a session of its own.
    """
    if database.sqlite is not None:
        with _folder_lock(database.sqlite):
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
    from sqlalchemy import text

    with errors(database), engine.connect() as conn:
        # Bounded: a session that holds the host's lock for good (another role can see its key
        # in pg_locks) stops this run with a clear error, not every run behind it for ever.
        conn.execute(text(f"SET lock_timeout = '{_TURN_TIMEOUT}'"))
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        _ready(database)
        # Closing the session releases the lock, whatever happens in between.
        yield


def _ready(database: Database) -> None:
    """Open an existing database for writing once before the scan: a database that will be
    refused (another program's, a newer schema, read-only) is refused before a long scan."""
    if database.sqlite is None or os.path.lexists(database.sqlite.path):
        retried(lambda: _open_once(database))


def _open_once(database: Database) -> None:
    with database.writing_sql(create=False):
        pass


@contextmanager
def _folder_lock(target: SqliteFile) -> Iterator[None]:
    if not target.creates:
        # mode=ro: nothing is made for it, so the file must be there already.
        check_existing(target.path)
    folder = os.path.dirname(os.path.abspath(target.path))
    try:
        prepare_folder(target.path, target.creates)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise DatabaseError(f"folder {folder} of database {target.path}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
