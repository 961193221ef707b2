"""Where the database is: option, environment, settings file, default. No SQLAlchemy here,
so that commands which may not open a database do not pay for importing it."""

from __future__ import annotations

import os
from pathlib import Path


def default_location() -> str:
    """/var/lib/nsaudit for root, $XDG_DATA_HOME/nsaudit (~/.local/share) for anyone else."""
    if os.geteuid() == 0:
        return "/var/lib/nsaudit/nsaudit.db"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return os.path.join(data, "nsaudit", "nsaudit.db")


def resolve(option: str | None, from_file: str | None = None) -> str:
    """--db, else $NSAUDIT_DB, else the settings file's database, else the default location."""
    return option or os.environ.get("NSAUDIT_DB") or from_file or default_location()


def is_url(location: str) -> bool:
    return "://" in location
