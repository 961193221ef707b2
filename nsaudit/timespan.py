"""Durations as people write them on a command line: 30m, 24h, 7d, 2w."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LONGEST = timedelta(days=36525)


def parse_duration(text: str) -> timedelta:
    """A timedelta; ValueError naming the accepted form."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration such as 30m, 24h, 7d or 2w")
    one = timedelta(**{_UNITS[m[2]]: 1})
    if int(m[1]) > _LONGEST // one:
        raise ValueError(f"{text!r} is longer than 100 years")
    return one * int(m[1])


class Duration(NamedTuple):
    """A duration as written (for messages) and as a timedelta."""

    text: str
    delta: timedelta

    @classmethod
    def parse(cls, text: str) -> Duration:
        return cls(text, parse_duration(text))

    def passed_since(self, when: str, now: datetime) -> bool:
        """Whether more than this has passed from `when` (ISO 8601 with a zone) to `now`: a
        host seen last then is stale."""
        return datetime.fromisoformat(when) < now - self.delta
