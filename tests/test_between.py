"""The pure parts of watching: the stretches no run covered, and what was created and gone
between two snapshots (by inode within the boot, and by namespace id where both know it)."""

from __future__ import annotations

from factories import namespace_event as event
from factories import ns, snap
from hypothesis import given
from hypothesis import strategies as st

from nsaudit.analysis.between import between
from nsaudit.model import NamespaceEvent, NsType, Unwatched, Watched, WatchRun
from nsaudit.policy.checks import Subject
from nsaudit.policy.event_checks import EventsCheck
from nsaudit.settings import IgnoreRule
from nsaudit.store.events import unwatched


def run(start: str, seen: str, ended: str | None = None) -> WatchRun:
    return WatchRun(1, "bpf", start, seen, ended, 0, 0, "", "0" * 32)


def t(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000000+00:00"


def test_unwatched_stretches() -> None:
    runs = [run(t(10), t(20), t(20)), run(t(30), t(35))]
    assert unwatched(runs, t(0), t(50)) == [
        Unwatched(t(0), t(10)),
        Unwatched(t(20), t(30)),
        Unwatched(t(35), t(50)),
    ]
    assert unwatched([run(t(0), t(50), t(50))], t(10), t(40)) == []
    assert unwatched([], t(1), t(2)) == [Unwatched(t(1), t(2))]


@given(st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), max_size=6))
def test_unwatched_and_runs_cover_the_whole_stretch(spans: list[tuple[int, int]]) -> None:
    runs = [run(t(min(a, b)), t(max(a, b)), t(max(a, b))) for a, b in spans]
    gaps = unwatched(runs, t(0), t(59))
    covered = {s for r in runs for s in range(int(r.started_at[17:19]), int(r.seen_at[17:19]))}
    holes = {s for g in gaps for s in range(int(g.start[17:19]), int(g.end[17:19]))}
    assert covered | holes == set(range(59)) and not covered & holes


def watched(*events: NamespaceEvent, runs: tuple[WatchRun, ...] | None = None) -> Watched:
    covering = (run(t(0), t(59), t(59)),) if runs is None else runs
    return Watched(t(0), t(59), events, covering, tuple(unwatched(covering, t(0), t(59))))


def test_created_and_gone_by_inode_and_by_id_where_the_inode_was_reused() -> None:
    alive = event(900, 11)
    gone = event(901, 12)
    reused = event(902, 13)  # its inode is now another namespace's (id 99)
    later = snap(ns(NsType.USER, 900, ns_id=11), ns(NsType.USER, 902, ns_id=99))
    found = between(watched(alive, gone, reused), later, lambda e: False)
    assert found.gone == (gone, reused) and found.differs
    entered = event(900, 11, kind="setns")
    quiet = between(watched(alive, entered), later, lambda e: False)
    assert quiet.gone == () and quiet.entered == (entered,) and not quiet.differs


def test_ignore_rules_apply_to_events() -> None:
    rule = IgnoreRule(command="/tmp/*", type="user")
    found = between(watched(event(901, 12)), snap(), rule.matches_event)
    assert found.gone == () and found.hidden == 1 and not found.differs
    assert not IgnoreRule(type="net").matches_event(event(901, 12))
    # The comm a process sets itself hides nothing: the rule's command is the executable.
    assert not IgnoreRule(command="x").matches_event(event(901, 12))


def check(w: Watched | None) -> str:
    rule = EventsCheck(("user",), True, ("/usr/bin/bwrap",), None)
    return rule.evaluate(Subject(snap(), (), "p", watched=w)).outcome.value


def test_the_events_check_never_passes_what_it_did_not_see() -> None:
    assert check(None) == "error"
    assert check(watched()) == "pass"
    assert check(watched(event(901, 12))) == "fail"
    assert check(watched(event(901, 12, uid=0))) == "pass"
    assert check(watched(event(901, 12, exe="/usr/bin/bwrap"))) == "pass"
    gap = (run(t(10), t(59), t(59)),)
    assert check(watched(runs=gap)) == "error"
    assert check(watched(event(901, 12), runs=gap)) == "fail"
