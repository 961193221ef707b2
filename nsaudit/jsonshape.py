"""Shape checks for JSON from outside (bundles): each takes a value and its path in the
record (`namespaces[3].holders[0].pid`), and returns the value typed or raises Invalid, which
says where, what was expected and what was there, the value escaped (it is untrusted text)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from nsaudit import __version__

MAX_TEXT = 64 * 1024
# The databases store signed 64-bit integers: a larger number could never be written.
MAX_INT = 2**63 - 1
MAX_DEPTH = 64  # nesting of values nsaudit keeps without knowing them (capabilities' new keys)
R = TypeVar("R")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Invalid(Exception):
    """One field that does not fit the schema: where, what was expected, what was there."""

    def __init__(self, path: str, expected: str, got: str | None, problem: str = "") -> None:
        super().__init__(path, expected, got, problem)
        self.path, self.expected, self.got, self.problem = path, expected, got, problem

    def __str__(self) -> str:
        got = "" if self.got is None else f", got {self.got}"
        problem = f"{self.problem}; " if self.problem else ""
        return f"{self.path or 'the line'}: {problem}expected {self.expected}{got}"


@lru_cache(maxsize=4096)
def at(path: str, key: str | int) -> str:
    """The path of a key or index within `path` (the same few paths recur for every record:
    worked out once each)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = key if _PLAIN_KEY.match(key) else f"[{shown(key)}]"
    return f"{path}.{name}" if path and not name.startswith("[") else f"{path}{name}"


def each(items: list[Any], path: str, read: Callable[[Any, str], R]) -> Iterator[R]:
    """Each item of the list at `path` read on its own, `read(item, "")`: its paths are the
    same few for every item, worked out once, and an error still names the item's place."""
    for n, item in enumerate(items):
        try:
            yield read(item, "")
        except Invalid as e:
            where = at(path, n)
            inner = e.path if not e.path or e.path.startswith("[") else f".{e.path}"
            raise Invalid(where + inner, e.expected, e.got, e.problem) from None


def shown(value: object) -> str:
    """A value as an error names it: short, and escaped (bundles are untrusted text)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return json.dumps(value[:40]) + ("..." if len(value) > 40 else "")
    return json.dumps(value)[:40]


def obj(
    value: object,
    path: str,
    keys: tuple[str, ...],
    optional: tuple[str, ...] = (),
    open_keys: bool = False,
    what: str = "such object",
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(path, "an object", shown(value))
    for key in keys:
        if key not in value:
            raise Invalid(at(path, key), f"it in every {what}", None, "missing")
    if not open_keys:
        for key in value:
            if key not in keys and key not in optional:
                raise Invalid(
                    at(path, key),
                    f"only the keys this nsaudit ({__version__}) knows, since it would drop "
                    "this one: import with the nsaudit that wrote the bundle, or a newer one",
                    None,
                    "unknown key",
                )
    return value


def text(value: object, path: str, null: bool = False, empty: bool = True) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str) or (not empty and not value):
        what = "a string" if empty else "a non-empty string"
        raise Invalid(path, what + (" or null" if null else ""), shown(value))
    if len(value) > MAX_TEXT:
        raise Invalid(path, f"at most {MAX_TEXT} characters", f"{len(value)}")
    if "\0" in value:
        raise Invalid(path, "text without NUL characters (no host records one)", shown(value))
    return value


def string(value: object, path: str, empty: bool = True) -> str:
    found = text(value, path, empty=empty)
    assert found is not None
    return found


def whole(value: object, path: str, null: bool = False, low: int = 0) -> int | None:
    if value is None and null:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_INT:
        range_ = f"a whole number from {low} to 2^63-1" + (" or null" if null else "")
        raise Invalid(path, range_, shown(value))
    return value


def integer(value: object, path: str, low: int = 0) -> int:
    number = whole(value, path, low=low)
    assert number is not None
    return number


def flag(value: object, path: str, null: bool = False) -> bool | None:
    if value is None and null:
        return None
    if not isinstance(value, bool):
        raise Invalid(path, "true or false" + (" or null" if null else ""), shown(value))
    return value


def choice(value: object, path: str, choices: tuple[str, ...], null: bool = False) -> str | None:
    if value is None and null:
        return None
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(choices) + (" or null" if null else "")
        raise Invalid(path, f"one of {listed}", shown(value))
    return value


def one(value: object, path: str, choices: tuple[str, ...]) -> str:
    word = choice(value, path, choices)
    assert word is not None
    return word


def items(value: object, path: str, what: str, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid(path, f"a list of {what}", shown(value))
    if limit is not None and len(value) > limit:
        raise Invalid(path, f"at most {limit} {what}", f"{len(value)}")
    return value


def timestamp(value: object, path: str) -> str:
    """ISO 8601 with a time zone, written as nsaudit writes times (in UTC, `T` between date
    and time) so that times compare as text in the database."""
    text = string(value, path)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or when.utcoffset() is None:
        raise Invalid(
            path, "an ISO 8601 time with a time zone (2026-11-29T04:28:16+00:00)", shown(value)
        )
    try:
        return when.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:
        raise Invalid(path, "a time between the years 1 and 9999 in UTC", shown(value)) from None


def each_once(items: list[dict[str, Any]], path: str, key: str, choices: tuple[str, ...]) -> None:
    found = [item[key] for item in items]
    for n, name in enumerate(found):
        if name in found[:n]:
            raise Invalid(
                at(at(path, n), key),
                f"each of {', '.join(choices)} once",
                f"{shown(name)} a second time",
            )
    missing = [c for c in choices if c not in found]
    if missing:
        raise Invalid(path, f"each of {', '.join(choices)} once", f"no {', '.join(missing)}")


def depth_ok(value: object, path: str) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(path, f"at most {MAX_DEPTH} levels of nesting", "more")
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
