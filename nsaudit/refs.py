"""Snapshot refs as users write them: an id, `latest`, or `latest~N` (the Nth snapshot before
a host's latest). Parsing is here; the store finds what a ref names (store/queries.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_REF = re.compile(r"^(?:(\d+)|latest(?:~(\d+))?)$")


@dataclass(frozen=True)
class SnapshotRef:
    """A parsed ref: `id` for an id, else `back` snapshots before the latest; `text` as given."""

    text: str
    id: int | None = None
    back: int = 0

    @classmethod
    def parse(cls, text: str) -> SnapshotRef:
        m = _REF.match(text)
        if not m:
            raise ValueError(f"snapshot ref {text!r} is not an id, 'latest' or 'latest~N'")
        if m[1] is not None:
            return cls(text, id=int(m[1]))
        return cls(text, back=int(m[2] or 0))


LATEST = SnapshotRef("latest")
BEFORE_LATEST = SnapshotRef("latest~1", back=1)
