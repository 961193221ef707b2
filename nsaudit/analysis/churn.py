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
    ended = {key(n) for n in step.ended}
    opened = {key(n) for n in step.opened}
    return Churn(
        step.seq,
        step.taken_at,
        False,
        tuple(n for n in step.opened if key(n) not in ended),
        tuple(n for n in step.ended if key(n) not in opened),
    )


def created(steps: Iterable[Step]) -> tuple[Namespace, ...]:
    """Every namespace created over the steps, including those that vanished again."""
    return tuple(ns for step in steps for ns in churn(step).created)


def days(points: Sequence[HistoryPoint], steps: Sequence[Step]) -> list[Day]:
    """Per UTC day: snapshots, the last counts per type, created, vanished, reboots."""
    snapshots = Counter(p.taken_at[:10] for p in points)
    last = {p.taken_at[:10]: p.counts for p in points}  # points come oldest first
    created: Counter[str] = Counter()
    vanished: Counter[str] = Counter()
    reboots: Counter[str] = Counter()
    for step in steps:
        d = step.taken_at[:10]
        if d in last:
            c = churn(step)
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
