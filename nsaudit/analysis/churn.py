"""A host's history, pure: which namespaces each snapshot created and vanished, and per day.

The store hands over raw steps (states opened and ended per snapshot); this turns them into
the diff engine's words: within a boot a namespace is its identity, across a reboot its shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nsaudit.analysis.diff import by_shape, key
from nsaudit.model import HistoryPoint, Namespace, NsType, Step


@dataclass(frozen=True)
class Churn:
    """What one snapshot created and vanished against the one before it."""

    seq: int
    taken_at: str
    rebooted: bool
    created: tuple[Namespace, ...]
    vanished: tuple[Namespace, ...]


@dataclass(frozen=True)
class Day:
    """One UTC day of a host's history."""

    day: str
    snapshots: int
    counts: dict[str, int]  # at the day's last snapshot
    created: int
    vanished: int
    reboots: int


def churn(step: Step) -> Churn:
    if step.rebooted:
        created, vanished = by_shape(list(step.ended), list(step.opened))
        return Churn(step.seq, step.taken_at, True, created, vanished)
    # A state that ended and one that began with the same key: a change, not churn.
    ended = {key(n): n for n in step.ended}
    opened = {key(n): n for n in step.opened}
    return Churn(
        step.seq,
        step.taken_at,
        False,
        tuple(n for k, n in opened.items() if k not in ended),
        tuple(n for k, n in ended.items() if k not in opened),
    )


def created(changes: Iterable[Churn]) -> tuple[Namespace, ...]:
    """Every namespace created over the snapshots, including those that vanished again."""
    return tuple(ns for c in changes for ns in c.created)


def days(points: Sequence[HistoryPoint], changes: Sequence[Churn]) -> list[Day]:
    """Per UTC day: snapshots, the last counts per type, created, vanished, reboots."""
    snapshots = Counter(p.taken_at[:10] for p in points)
    last = {p.taken_at[:10]: p.counts for p in points}  # points come oldest first
    created: Counter[str] = Counter()
    vanished: Counter[str] = Counter()
    reboots: Counter[str] = Counter()
    for c in changes:
        d = c.taken_at[:10]
        if d in last:
            created[d] += len(c.created)
            vanished[d] += len(c.vanished)
            reboots[d] += c.rebooted
    return [
        Day(
            d,
            snapshots[d],
            {t.value: int(last[d].get(t.value, 0)) for t in NsType},
            created[d],
            vanished[d],
            reboots[d],
        )
        for d in sorted(last)
    ]
