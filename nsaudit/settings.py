"""The settings file: what cron should not repeat on every line (TOML)."""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from nsaudit import userfile
from nsaudit.errors import UsageError
from nsaudit.model import NS_TYPE_NAMES, Namespace, NamespaceEvent
from nsaudit.policy.match import glob_problem
from nsaudit.store.location import is_url
from nsaudit.tomlpos import line_of

if TYPE_CHECKING:
    from nsaudit.timespan import Duration

SYSTEM_FILE = "/etc/nsaudit/nsaudit.toml"
MAX_BYTES = 1024 * 1024
_TOP_KEYS = {"database", "hostname", "policy", "retention", "ignore", "stale_after"}
# A host whose newest snapshot is older than this is stale: `hosts`, reports and metrics say
# so, and a report passes none of its rules.
STALE_AFTER = "1d"
_RETENTION_KEYS = {"older_than", "keep_last"}
_IGNORE_KEYS = {"command", "user", "type", "path"}
# An SQLite URL's database part: sqlite:///rel.db is relative, sqlite:////abs.db is not.
_SQLITE_URL = re.compile(r"(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?", re.IGNORECASE | re.DOTALL)
_URI_ON = re.compile(r"[?&]uri=(?:true|1)(?:&|$)", re.IGNORECASE)


@dataclass(frozen=True)
class IgnoreRule:
    """Expected churn: a namespace matching every given field is left out of a diff's result."""

    command: str | None = None
    user: str | None = None
    type: str | None = None
    path: str | None = None

    def matches(self, ns: Namespace) -> bool:
        if self.type is not None and ns.id.type.value != self.type:
            return False
        if self.user is not None and not fnmatch.fnmatchcase(ns.user or "", self.user):
            return False
        if self.command is not None and not any(
            fnmatch.fnmatchcase(text, self.command) for text in (ns.command or "", ns.cmdline or "")
        ):
            return False
        return self.path is None or any(
            h.path is not None and fnmatch.fnmatchcase(h.path, self.path) for h in ns.holders
        )

    def matches_event(self, event: NamespaceEvent) -> bool:
        """The same for a namespace event of `nsaudit watch`: its types, its uid as the user,
        its executable as the command (not its comm, which the process sets itself: a rule
        would hide whatever took that name); an event has no bind-mount path."""
        if self.type is not None and self.type not in event.types.split(","):
            return False
        if self.user is not None and not fnmatch.fnmatchcase(str(event.uid), self.user):
            return False
        if self.command is not None and not fnmatch.fnmatchcase(event.exe or "", self.command):
            return False
        return self.path is None


@dataclass(frozen=True)
class Settings:
    """Settings from the file; every field None or empty when it is not set there."""

    source: str | None = None
    database: str | None = None
    hostname: str | None = None
    policy: str | None = None
    older_than: str | None = None
    keep_last: int | None = None
    ignore: tuple[IgnoreRule, ...] = field(default=())
    stale_after: str | None = None

    @property
    def stale(self) -> Duration:
        """How old a host's newest snapshot may be before the host is stale."""
        from nsaudit.timespan import Duration

        return Duration.parse(self.stale_after or STALE_AFTER)


def locate(option: str | None) -> str | None:
    """--config FILE, else $NSAUDIT_CONFIG, else /etc/nsaudit/nsaudit.toml if it exists."""
    if option:
        return option
    if os.environ.get("NSAUDIT_CONFIG"):
        return os.environ["NSAUDIT_CONFIG"]
    return SYSTEM_FILE if os.path.exists(SYSTEM_FILE) else None


def load(option: str | None) -> Settings:
    path = locate(option)
    if path is None:
        return Settings()
    try:
        raw = userfile.read(path, MAX_BYTES, streams=True)
    except OSError as e:
        raise UsageError(f"settings file {path} cannot be read: {e.strerror}") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"settings file {path}: {e}; fix that line") from None
    return _parse(path, text, data)


def _bad(path: str, text: str, key: str, problem: str) -> UsageError:
    line = line_of(text.splitlines(), key)
    where = f"{path}, line {line}" if line else path
    return UsageError(f"settings file {where}: {problem}")


def _parse(path: str, text: str, data: dict[str, object]) -> Settings:
    for key in data:
        if key not in _TOP_KEYS:
            raise _bad(
                path, text, key, f"unknown key {key!r}; known: {', '.join(sorted(_TOP_KEYS))}"
            )
    # Relative paths are the file's own: cron starts commands in /, not beside the file.
    database = _database_beside(path, _string(path, text, data, "database"))
    hostname = _string(path, text, data, "hostname")
    policy = _beside(path, _string(path, text, data, "policy"))
    retention = data.get("retention", {})
    if not isinstance(retention, dict):
        raise _bad(path, text, "retention", "retention must be a table: [retention]")
    for key in retention:
        if key not in _RETENTION_KEYS:
            raise _bad(path, text, key, f"unknown key retention.{key}")
    older_than = _duration(path, text, retention, "older_than")
    stale_after = _duration(path, text, data, "stale_after")
    keep_last = retention.get("keep_last")
    if keep_last is not None and (
        not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 1
    ):
        # As --keep-last: a host's newest snapshot is always kept, so 0 would not mean 0.
        raise _bad(
            path,
            text,
            "keep_last",
            f"retention.keep_last must be a whole number >= 1, not {keep_last!r} (each "
            "host's newest snapshot is always kept: it is what the next one is compared with)",
        )
    rules = data.get("ignore", [])
    if not isinstance(rules, list):
        raise _bad(path, text, "ignore", "ignore rules are [[ignore]] tables")
    parsed = []
    for rule in rules:
        if not isinstance(rule, dict) or not rule:
            raise _bad(path, text, "ignore", "an [[ignore]] rule needs command, user, type or path")
        for key, value in rule.items():
            if key not in _IGNORE_KEYS:
                raise _bad(
                    path,
                    text,
                    key,
                    f"unknown key {key!r} in an [[ignore]] rule; known: "
                    f"{', '.join(sorted(_IGNORE_KEYS))}",
                )
            if not isinstance(value, str):
                raise _bad(path, text, key, f"ignore.{key} must be a string")
            if key == "type":
                if value not in NS_TYPE_NAMES:
                    raise _bad(
                        path, text, key, f"ignore.type must be one of {', '.join(NS_TYPE_NAMES)}"
                    )
            elif (problem := glob_problem(value)) is not None:
                raise _bad(
                    path, text, key, f"pattern {value!r} in ignore.{key} cannot be used: {problem}"
                )
        parsed.append(IgnoreRule(**rule))
    return Settings(
        path,
        database,
        hostname,
        policy,
        older_than,
        keep_last if isinstance(keep_last, int) else None,
        tuple(parsed),
        stale_after,
    )


def _duration(path: str, text: str, table: dict[str, object], key: str) -> str | None:
    """A DURATION (30m, 24h, 7d, 2w) checked as it is read."""
    value = _string(path, text, table, key)
    if value is not None:
        from nsaudit.timespan import parse_duration

        try:
            parse_duration(value)
        except ValueError as e:
            raise _bad(path, text, key, f"{key}: {e}") from None
    return value


def _beside(settings_file: str, value: str | None) -> str | None:
    if value is None or is_url(value) or os.path.isabs(value):
        return value
    return os.path.join(os.path.dirname(os.path.abspath(settings_file)), value)


def _database_beside(settings_file: str, value: str | None) -> str | None:
    """As _beside, for an SQLite URL's relative path too (sqlite:///rel.db and, with
    uri=true, sqlite:///file:rel.db); other URLs are left as they are."""
    if value is None or not is_url(value):
        return _beside(settings_file, value)
    match = _SQLITE_URL.fullmatch(value)
    if match is None:
        return value
    head, database, query = match.group(1), match.group(2), match.group(3) or ""
    folder = os.path.dirname(os.path.abspath(settings_file))
    if _URI_ON.search(query) and database.startswith("file:"):
        rest = database.removeprefix("file:")
        if rest.startswith("/") or "mode=memory" in query.lower():
            return value
        # The URL's %-escapes are undone once when it is parsed, the URI's once more.
        return f"{head}file:{quote(quote(folder))}/{rest}{query}"
    if not database or database == ":memory:" or database.startswith("/"):
        return value
    return f"{head}{quote(folder)}/{database}{query}"


def _string(path: str, text: str, data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(path, text, key, f"{key} must be a string")
    if value is not None and "\0" in value:
        raise _bad(path, text, key, f"{key} contains a NUL character; remove it")
    return value
