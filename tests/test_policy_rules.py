"""Policy evaluation, pure: what the host's own namespaces are, and how allowlists read."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from factories import ns, snap

from nsaudit.model import NsType, Outcome, Snapshot, WaiverNote
from nsaudit.policy.checks import Subject, host_own
from nsaudit.policy.evaluate import evaluate
from nsaudit.policy.inventory_checks import CountCheck, HoldersCheck
from nsaudit.policy.match import Allowlist
from nsaudit.policy.rules import Policy, Rule, Waiver


def test_kernel_threads_namespaces_are_the_hosts_own() -> None:
    init = replace(ns(NsType.MNT, 1, command="systemd"), pid=1, ppid=0)
    devtmpfs = replace(
        ns(NsType.MNT, 2, command="kdevtmpfs"), pid=25, ppid=2, parent_command="kthreadd"
    )
    # Named like a kernel thread, but not a child of kthreadd: it is checked.
    impostor = replace(
        ns(NsType.MNT, 3, command="kdevtmpfs"), pid=900, ppid=77, parent_command="bash"
    )
    s = snap(init, devtmpfs, impostor)
    assert host_own(s) == {init.id, devtmpfs.id}
    verdict = HoldersCheck(None, Allowlist(commands=("systemd*",))).evaluate(Subject(s, (), "now"))
    assert verdict.outcome is Outcome.FAIL
    assert [e.namespace for e in verdict.evidence] == ["mnt:[3]"]
    assert "which the allowed commands do not cover" in verdict.evidence[0].text
    assert "parent bash" in verdict.evidence[0].text


def test_users_and_commands_or_parents() -> None:
    shimmed = replace(ns(NsType.NET, 5, command="nginx"), parent_command="containerd-shim")
    orphan = replace(ns(NsType.NET, 6, command="nginx"), parent_command=None)
    allow = Allowlist(commands=("sshd",), parents=("containerd-shim*",), users=("root",))
    assert allow.violation(shimmed) is None
    why = allow.violation(orphan)
    assert why is not None and "parent not recorded" in why
    assert "commands and parents and users" in why
    assert Allowlist(parents=("containerd-shim*",), users=("www-data",)).violation(shimmed)


def _waived(expires: date, today: date) -> tuple[Outcome, WaiverNote | None]:
    # One net namespace too many, and a waiver for this host: README "Policies": a waiver
    # applies up to and including its expiry day (UTC).
    rule = Rule(
        "NS-1",
        "at most no net namespace",
        "medium",
        (),
        None,
        CountCheck("net", 0),
        (Waiver(("host-*",), "a ticket", expires, "ops"),),
    )
    policy = Policy("p", "p", None, "p.toml", "0" * 64, (rule,))
    subject = Subject(snap(ns(NsType.NET, 7)), (), "now")
    (result,) = evaluate(policy, replace(subject, snapshot=_on("host-a", subject)), today)
    return result.outcome, result.waiver


def _on(hostname: str, subject: Subject) -> Snapshot:
    s = subject.snapshot
    return replace(s, host=replace(s.host, hostname=hostname))


def test_a_waiver_applies_on_its_expiry_day_and_not_the_day_after() -> None:
    expires = date(2026, 11, 29)
    outcome, note = _waived(expires, date(2026, 11, 28))
    assert outcome is Outcome.WAIVED and note is not None and note.expired is False
    outcome, note = _waived(expires, expires)
    assert outcome is Outcome.WAIVED and note is not None and note.expired is False
    outcome, note = _waived(expires, date(2026, 11, 30))
    assert outcome is Outcome.FAIL
    assert note == WaiverNote(("host-*",), "a ticket", "2026-11-29", True, "ops")
