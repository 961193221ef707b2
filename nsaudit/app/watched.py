"""`nsaudit watch` run for this host, and what it recorded of a host (`nsaudit events`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from nsaudit.app.inventory import local_host
from nsaudit.model import Watched
from nsaudit.settings import Settings
from nsaudit.store import events as stored
from nsaudit.store.database import Database
from nsaudit.store.queries import pick_host
from nsaudit.store.sql import Sql
from nsaudit.timespan import Duration
from nsaudit.watch.run import Totals


def recorded(
    database: Database, settings: Settings, hostname: str | None, since: Duration | None
) -> Watched | None:
    """The host's record over the last `since` (None: all of it); None when no watcher ever
    ran for it."""
    now = datetime.now(UTC)
    start = None if since is None else (now - since.delta).isoformat(timespec="microseconds")
    with database.reading() as conn:
        host = pick_host(conn, hostname, local_host(settings), required=hostname is not None)
        if host is None:
            return None
        return stored.between(Sql.of(conn), host, start, now.isoformat(timespec="microseconds"))


def watch(
    database: Database,
    settings: Settings,
    mechanism: str,
    seconds: float | None,
    batch: int,
    announce: Callable[[str], None],
    warn: Callable[[str], None],
) -> tuple[Totals, int | None]:
    """Watch this host until stopped (or for `seconds`): nsaudit.watch.run.watch."""
    from nsaudit.watch.run import watch as run

    return run(database, local_host(settings), mechanism, seconds, batch, announce, warn)
