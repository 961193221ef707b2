"""A host's history, pure: which namespaces each snapshot created and vanished, and per day.

The store hands over raw steps (states opened and ended per snapshot); this turns them into
the diff engine's words: within a boot a namespace is its identity, across a reboot its shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nsaudit.diff import by_shape, key
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
    out: dict[str, Day] = {}
    for p in points:
        d = p.taken_at[:10]
        before = out.get(d)
        out[d] = Day(
            d,
            (before.snapshots if before else 0) + 1,
            {t.value: int(p.counts.get(t.value, 0)) for t in NsType},
            before.created if before else 0,
            before.vanished if before else 0,
            before.reboots if before else 0,
        )
    for step in steps:
        d = step.taken_at[:10]
        if d not in out:
            continue
        c = churn(step)
        day = out[d]
        out[d] = Day(
            d,
            day.snapshots,
            day.counts,
            day.created + len(c.created),
            day.vanished + len(c.vanished),
            day.reboots + int(c.rebooted),
        )
    return [out[d] for d in sorted(out)]
