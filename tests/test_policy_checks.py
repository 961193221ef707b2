"""Policy checks, evaluation and allowlists, in-process: what README "Policies" and
"nsaudit check" promise, message by message (messages are what a user reads)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from factories import kernel_report, ns, restriction, snap
from hypothesis import given, settings
from hypothesis import strategies as st

from nsaudit.model import (
    UNSEEN,
    CapabilityReport,
    Container,
    Evidence,
    Holder,
    HolderKind,
    Namespace,
    NamespaceId,
    NsType,
    Outcome,
    Restriction,
    ScanProblem,
    Snapshot,
    Status,
    WaiverNote,
)
from nsaudit.policy.checks import Check, Subject, Verdict, host_own, ns_name, unseen
from nsaudit.policy.evaluate import evaluate
from nsaudit.policy.inventory_checks import (
    CountCheck,
    CreatedCheck,
    HoldersCheck,
    UnprivilegedOwnerCheck,
    unprivileged_userns,
)
from nsaudit.policy.kernel_checks import SYSCTLS, CapabilityCheck, SysctlCheck
from nsaudit.policy.match import CMDLINE_SHOWN, Allowlist, glob_problem, matches, who
from nsaudit.policy.rules import Policy, Rule, Waiver

MOUNT_A = Holder("mount", path="/run/netns/a")
MOUNT_B = Holder("mount", path="/run/netns/b")
FD = Holder("fd", pid=7, fd=3)


def member(
    t: NsType,
    inode: int,
    pid: int,
    command: str | None = "sleep",
    **kw: Any,
) -> Namespace:
    """A namespace whose lowest member is `pid` (factories.ns gives root/uid 0)."""
    return replace(ns(t, inode, command=command), pid=pid, **kw)


def held(t: NsType, inode: int, *holders: Holder) -> Namespace:
    """A namespace no process is in: only bind mounts, fds or *_for_children hold it."""
    return ns(t, inode, nprocs=0, holders=holders)


def init(t: NsType, inode: int = 1) -> Namespace:
    """The host's own namespace of a type: that of pid 1."""
    return member(t, inode, 1, "systemd", ppid=0)


def subject(*namespaces: Namespace, **kw: Any) -> Subject:
    return Subject(snap(*namespaces), (), "now", **kw)


def texts(evidence: tuple[Evidence, ...]) -> list[str]:
    return [e.text for e in evidence]


# --- match.py: globs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "an empty pattern matches nothing"),
        ("[", "'[' at position 1 is never closed"),
        ("a[", "'[' at position 2 is never closed"),
        ("ab[cd", "'[' at position 3 is never closed"),
        ("[!", "'[' at position 1 is never closed"),
        # ']' right after '[' or '[!' is a member of the set, not its end
        ("[]", "'[' at position 1 is never closed"),
        ("[!]", "'[' at position 1 is never closed"),
        ("x[]y", "'[' at position 2 is never closed"),
        # a set closes, and the next '[' opens another
        ("[a][b", "'[' at position 4 is never closed"),
        ("[a]x[", "'[' at position 5 is never closed"),
        # '[' inside a set is a member: the set still needs its ']'
        ("[[", "'[' at position 1 is never closed"),
    ],
)
def test_unusable_globs_are_named(pattern: str, problem: str) -> None:
    assert glob_problem(pattern) == problem


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "sshd",
        "containerd-shim*",
        "[a]",
        "[]]",
        "[!]]",
        "[!a]",
        "[]a]",
        "x]",
        "]",
        "[[]",
        "a[]]b",
        "[a-z]?",
        "[!]x]",
    ],
)
def test_usable_globs(pattern: str) -> None:
    assert glob_problem(pattern) is None


@settings(max_examples=2000)
@given(st.text(alphabet="[]!-^\\az09*?&~|.()+{}", max_size=14))
def test_a_glob_it_accepts_can_be_used(pattern: str) -> None:
    # Only an unclosed '[' (and the empty pattern) is refused: anything else must work as
    # fnmatch reads it, so a rule never fails to load or to match later.
    if glob_problem(pattern) is None:
        re.compile(fnmatch.translate(pattern))
        fnmatch.fnmatchcase("containerd-shim", pattern)
    else:
        assert pattern == "" or "[" in pattern


def test_matches_needs_a_text_and_is_case_sensitive() -> None:
    assert matches("sshd", ("nginx", "ssh*"))
    assert not matches("SSHD", ("ssh*",))
    assert not matches(None, ("*",))
    assert not matches("sshd", ())


# --- match.py: allowlists -----------------------------------------------------------------------


def test_users_alone_allow_any_command_of_that_user() -> None:
    allow = Allowlist(users=("root",))
    assert allow.violation(member(NsType.NET, 5, 500, "anything")) is None
    www = member(NsType.NET, 6, 600, "nginx", uid=33, user="www-data")
    assert allow.violation(www) == (
        "held by nginx (pid 600, user www-data, parent not recorded), "
        "which the allowed users do not cover"
    )


def test_users_and_commands_must_both_match() -> None:
    allow = Allowlist(commands=("sshd",), users=("root",))
    assert allow.violation(member(NsType.NET, 5, 500, "sshd")) is None
    assert allow.violation(member(NsType.NET, 6, 600, "bash")) == (
        "held by bash (pid 600, user root, parent not recorded), "
        "which the allowed commands and users do not cover"
    )
    other = member(NsType.NET, 7, 700, "sshd", uid=1000, user="alice")
    assert allow.violation(other) is not None


def test_commands_or_parents() -> None:
    allow = Allowlist(commands=("sshd",), parents=("conmon",))
    assert allow.violation(member(NsType.NET, 5, 500, "sshd", parent_command="bash")) is None
    assert allow.violation(member(NsType.NET, 6, 600, "nginx", parent_command="conmon")) is None
    assert allow.violation(member(NsType.NET, 7, 700, "nginx", parent_command="bash")) == (
        "held by nginx (pid 700, user root, parent bash), "
        "which the allowed commands and parents do not cover"
    )
    # Only parents given: the command is not looked at.
    only_parents = Allowlist(parents=("conmon",))
    assert only_parents.violation(member(NsType.NET, 8, 800, "sshd", parent_command="x")) == (
        "held by sshd (pid 800, user root, parent x), which the allowed parents do not cover"
    )
    assert only_parents.violation(member(NsType.NET, 9, 900, "x", parent_command="conmon")) is None
    # Only commands given: the parent is not looked at.
    only_commands = Allowlist(commands=("sshd",))
    assert only_commands.violation(member(NsType.NET, 9, 900, "x", parent_command="sshd"))


def test_paths_allow_bind_mounts_and_refuse_the_others() -> None:
    allow = Allowlist(paths=("/run/netns/*",))
    assert allow.violation(held(NsType.NET, 5, MOUNT_A, MOUNT_B)) is None
    stray = Holder("mount", path="/tmp/x")
    assert allow.violation(held(NsType.NET, 6, MOUNT_A, stray)) == (
        "bind-mounted at /tmp/x, not an allowed path"
    )
    # An allowed mount is an allowed holder, whatever process is in the namespace.
    in_use = replace(member(NsType.NET, 7, 700, "bash"), holders=(MOUNT_A,))
    assert allow.violation(in_use) is None
    # With paths only, a process holding the namespace is not allowed.
    assert allow.violation(member(NsType.NET, 8, 800, "bash", cmdline="bash -i")) == (
        "held by bash (pid 800, user root, parent not recorded): bash -i, "
        "and not bind-mounted at an allowed path"
    )
    # A stray mount fails the rule even when the process is allowed.
    both = Allowlist(commands=("bash",), paths=("/run/netns/*",))
    proc_and_stray = replace(member(NsType.NET, 9, 900, "bash"), holders=(stray,))
    assert both.violation(proc_and_stray) == "bind-mounted at /tmp/x, not an allowed path"
    assert both.violation(member(NsType.NET, 10, 1000, "bash")) is None


def test_a_namespace_held_without_a_process() -> None:
    commands = Allowlist(commands=("*",))
    # No paths given: a bind mount is not an allowed holder.
    assert commands.violation(held(NsType.NET, 5, MOUNT_A, FD, MOUNT_B)) == (
        "held only by mount /run/netns/a, mount /run/netns/b, and no bind-mount path is allowed"
    )
    # An fd or a *_for_children target records no command: README "Policies".
    kids = Holder("for_children", pid=77)
    assert commands.violation(held(NsType.PID, 6, FD, kids)) == (
        "held only by fd 7:3, for-children 77, whose command is not recorded"
    )
    assert Allowlist(paths=("/run/netns/*",)).violation(held(NsType.NET, 7, FD)) == (
        "held only by fd 7:3, whose command is not recorded"
    )
    assert commands.violation(held(NsType.NET, 8)) == "no holder recorded"


def test_who_names_the_process() -> None:
    n = member(NsType.NET, 5, 500, "nginx", parent_command="conmon", cmdline="nginx -g x")
    assert who(n) == "nginx (pid 500, user root, parent conmon): nginx -g x"
    anon = member(NsType.NET, 6, 600, None, user=None, uid=1234)
    assert who(anon) == "? (pid 600, user 1234, parent not recorded)"
    assert who(replace(anon, cmdline="")) == "? (pid 600, user 1234, parent not recorded)"


def test_who_shortens_a_long_command_line() -> None:
    exact = "x" * CMDLINE_SHOWN
    assert CMDLINE_SHOWN == 120
    assert who(member(NsType.NET, 5, 500, cmdline=exact)).endswith(": " + exact)
    longer = "y" * 119 + "z" * 2
    shown = who(member(NsType.NET, 5, 500, cmdline=longer))
    assert shown.endswith(": " + "y" * 117 + "...")


def test_who_without_a_process_names_the_holders() -> None:
    assert who(held(NsType.NET, 5, MOUNT_A, FD)) == "mount /run/netns/a, fd 7:3"
    assert who(held(NsType.NET, 6)) == "nothing recorded"


# --- checks.py: what the evidence names ---------------------------------------------------------


def test_ns_name_is_as_proc_shows_it() -> None:
    assert ns_name(NamespaceId(NsType.NET, 4, 4026532001)) == "net:[4026532001]"


def test_evidence_names_the_namespace_process_user_and_mount() -> None:
    n = replace(
        member(NsType.NET, 9, 900, "nginx", parent_command="conmon", cmdline="nginx -g x"),
        holders=(FD, MOUNT_B, MOUNT_A),
    )

    def evidence_of(n: Namespace) -> Evidence:
        (e,) = CountCheck("net", 0).evaluate(subject(init(NsType.NET), n)).evidence
        return e

    assert evidence_of(n) == Evidence(
        "net:[9] held by nginx (pid 900, user root, parent conmon): nginx -g x",
        namespace="net:[9]",
        pid=900,
        command="nginx",
        parent_command="conmon",
        cmdline="nginx -g x",
        user="root",
        path="/run/netns/b",
    )
    # No user name: the uid; neither: nothing.
    assert evidence_of(replace(n, user=None, uid=1000)).user == "1000"
    assert evidence_of(replace(n, user=None, uid=None)).user is None
    e = evidence_of(held(NsType.NET, 3, FD))
    assert (e.path, e.pid, e.command) == (None, None, None)
    assert e.text == "net:[3] held by fd 7:3"


# --- checks.py: the host's own namespaces and partial scans -------------------------------------


def test_the_hosts_own_are_those_of_the_lowest_pid_and_of_kernel_threads() -> None:
    low = member(NsType.NET, 1, 1, "systemd")
    higher = member(NsType.NET, 2, 50, "sshd")
    kthread = member(NsType.MNT, 3, 25, "kdevtmpfs", ppid=2, parent_command="kthreadd")
    mnt = member(NsType.MNT, 4, 2, "kthreadd", ppid=0)
    # ppid 2 with another parent command, or kthreadd's name as parent of another ppid
    fake_parent = member(NsType.MNT, 5, 900, "x", ppid=2, parent_command="bash")
    fake_ppid = member(NsType.MNT, 6, 901, "x", ppid=3, parent_command="kthreadd")
    no_pid = held(NsType.UTS, 7, MOUNT_A)
    s = snap(higher, low, kthread, mnt, fake_parent, fake_ppid, no_pid)
    assert host_own(s) == {low.id, kthread.id, mnt.id}


def test_unseen_says_why_the_scan_missed_processes() -> None:
    assert unseen(snap()) is None
    problems = (
        ScanProblem(None, "/proc is mounted hidepid=2", UNSEEN),
        ScanProblem(12, "/proc/12/ns/net", "EACCES"),
        ScanProblem(12, "/proc/12/status", "EACCES"),
        ScanProblem(13, "/proc/13/ns/net", "ESRCH"),
        ScanProblem(None, "a pid namespace's /proc", UNSEEN),
    )
    s = replace(snap(), problems=problems)
    assert unseen(s) == (
        "/proc is mounted hidepid=2; a pid namespace's /proc; 2 process(es) could not be read"
    )
    only_pids = replace(snap(), problems=problems[1:2])
    assert unseen(only_pids) == "1 process(es) could not be read"
    only_unseen = replace(snap(), problems=problems[:1])
    assert unseen(only_unseen) == "/proc is mounted hidepid=2"


def partial(s: Snapshot, pids: int = 1) -> Snapshot:
    problems = tuple(ScanProblem(p, f"/proc/{p}/ns", "EACCES") for p in range(40, 40 + pids))
    return replace(s, problems=problems)


PARTIAL_NOTE = (
    "the snapshot is partial (1 process(es) could not be read): "
    "namespaces it could not see are not checked"
)


# --- kernel_checks.py: capability ---------------------------------------------------------------


def report(*sysctls: Restriction, **types: dict[str, Any]) -> CapabilityReport:
    """net available (limit 1000), user disabled (limit 0), time missing, the rest unknown; the
    user limit 0 and the clone switch read but not on this kernel, unless sysctls are given."""
    default = (
        restriction("user.max_user_namespaces", "0"),
        restriction("kernel.unprivileged_userns_clone", None),
    )
    each: dict[str, dict[str, Any]] = {
        "net": {"status": Status.AVAILABLE, "reason": "CONFIG_NET_NS=y", "limit": 1000},
        "user": {"status": Status.DISABLED, "reason": "user.max_user_namespaces = 0", "limit": 0},
        "time": {"status": Status.MISSING, "reason": "CONFIG_TIME_NS absent"},
    }
    return kernel_report(sysctls=sysctls or default, **{**each, **types})


def with_caps(caps: CapabilityReport | None) -> Subject:
    return Subject(snap(caps=caps), (), "now")


def test_capability_passes_when_every_type_has_an_allowed_status() -> None:
    v = CapabilityCheck(("net", "user"), ("available", "disabled")).evaluate(with_caps(report()))
    assert v.outcome is Outcome.PASS
    assert v.summary == "net, user: available or disabled"
    assert v.evidence == (
        Evidence("net namespaces: available (CONFIG_NET_NS=y)", value="available"),
        Evidence("user namespaces: disabled (user.max_user_namespaces = 0)", value="disabled"),
    )


def test_capability_fails_naming_the_types_that_are_not() -> None:
    check = CapabilityCheck(("user", "net", "time", "pid"), ("disabled",))
    v = check.evaluate(with_caps(report()))
    assert v.outcome is Outcome.FAIL
    assert v.summary == "net, time, pid namespaces are not disabled"
    assert texts(v.evidence) == [
        "user namespaces: disabled (user.max_user_namespaces = 0)",
        "net namespaces: available (CONFIG_NET_NS=y)",
        "time namespaces: missing (CONFIG_TIME_NS absent)",
        "pid namespaces: unknown (no evidence)",
    ]
    assert [e.value for e in v.evidence] == ["disabled", "available", "missing", "unknown"]
    # Unknown is a status a rule may allow.
    v = CapabilityCheck(("pid",), ("unknown",)).evaluate(with_caps(report()))
    assert v.outcome is Outcome.PASS


NO_REPORT = "the snapshot has no capability report; take a new snapshot with `nsaudit snapshot`"


@pytest.mark.parametrize(
    "check",
    [
        CapabilityCheck(("net",), ("available",)),
        SysctlCheck("user.max_user_namespaces", ("0",), None, None, Outcome.PASS),
    ],
)
def test_kernel_rules_err_without_a_capability_report(check: Check) -> None:
    assert check.evaluate(with_caps(None)) == Verdict(Outcome.ERROR, NO_REPORT)


# --- kernel_checks.py: sysctl -------------------------------------------------------------------


def sysctl(
    name: str,
    one_of: tuple[str, ...] | None = None,
    at_least: int | None = None,
    at_most: int | None = None,
    if_absent: Outcome = Outcome.FAIL,
) -> SysctlCheck:
    return SysctlCheck(name, one_of, at_least, at_most, if_absent)


def test_sysctl_names_are_those_the_readme_lists() -> None:
    assert SYSCTLS == (
        "user.max_user_namespaces",
        "kernel.unprivileged_userns_clone",
        "kernel.apparmor_restrict_unprivileged_userns",
        "kernel.apparmor_restrict_unprivileged_unconfined",
        "kernel.apparmor_restrict_unprivileged_userns_complain",
        "kernel.unprivileged_userns_apparmor_policy",
        "user.max_cgroup_namespaces",
        "user.max_ipc_namespaces",
        "user.max_mnt_namespaces",
        "user.max_net_namespaces",
        "user.max_pid_namespaces",
        "user.max_time_namespaces",
        "user.max_uts_namespaces",
    )


def test_sysctl_want_in_words() -> None:
    assert sysctl("x", ("0",)).want() == "0"
    assert sysctl("x", ("0", "1"), 0, 5).want() == "0 or 1 and >= 0 and <= 5"
    assert sysctl("x", at_most=7).want() == "<= 7"
    assert sysctl("x", at_least=3).want() == ">= 3"


def test_sysctl_equals() -> None:
    check = sysctl("user.max_user_namespaces", ("0",))
    v = check.evaluate(with_caps(report()))
    text = "user.max_user_namespaces = 0 (want 0)"
    assert v == Verdict(
        Outcome.PASS,
        text,
        (Evidence(text, sysctl="user.max_user_namespaces", value="0"),),
    )
    caps = report(restriction("user.max_user_namespaces", "15000"))
    v = check.evaluate(with_caps(caps))
    assert v.outcome is Outcome.FAIL
    assert v.summary == "user.max_user_namespaces = 15000 (want 0)"
    assert v.evidence[0].value == "15000"


def test_sysctl_ranges_include_their_bounds() -> None:
    caps = with_caps(report(restriction("user.max_user_namespaces", "10")))
    assert sysctl("user.max_user_namespaces", at_least=10).evaluate(caps).outcome is Outcome.PASS
    assert sysctl("user.max_user_namespaces", at_least=11).evaluate(caps).outcome is Outcome.FAIL
    assert sysctl("user.max_user_namespaces", at_most=10).evaluate(caps).outcome is Outcome.PASS
    assert sysctl("user.max_user_namespaces", at_most=9).evaluate(caps).outcome is Outcome.FAIL
    both = sysctl("user.max_user_namespaces", at_least=5, at_most=20)
    assert both.evaluate(caps).outcome is Outcome.PASS
    assert (
        sysctl("user.max_user_namespaces", at_least=11, at_most=20).evaluate(caps).outcome
        is Outcome.FAIL
    )
    assert (
        sysctl("user.max_user_namespaces", at_least=1, at_most=9).evaluate(caps).outcome
        is Outcome.FAIL
    )
    # one_of and a range: both must hold
    assert (
        sysctl("user.max_user_namespaces", ("10",), at_most=5).evaluate(caps).outcome
        is Outcome.FAIL
    )
    assert (
        sysctl("user.max_user_namespaces", ("9",), at_most=50).evaluate(caps).outcome
        is Outcome.FAIL
    )
    assert (
        sysctl("user.max_user_namespaces", ("10",), at_most=50).evaluate(caps).outcome
        is Outcome.PASS
    )


def test_sysctl_a_value_that_is_no_number_fails_a_range() -> None:
    caps = report(restriction("kernel.unprivileged_userns_clone", "on"))
    v = sysctl("kernel.unprivileged_userns_clone", at_most=0).evaluate(with_caps(caps))
    assert v.outcome is Outcome.FAIL
    assert v.summary == "kernel.unprivileged_userns_clone = on (want <= 0)"
    v = sysctl("kernel.unprivileged_userns_clone", ("on",)).evaluate(with_caps(caps))
    assert v.outcome is Outcome.PASS


def test_sysctl_limits_of_other_types_come_from_the_types() -> None:
    v = sysctl("user.max_net_namespaces", at_least=1).evaluate(with_caps(report()))
    assert v.outcome is Outcome.PASS
    assert v.summary == "user.max_net_namespaces = 1000 (want >= 1)"
    # A type without a limit, or missing from the report: not on this kernel.
    for name in ("user.max_time_namespaces", "user.max_pid_namespaces"):
        v = sysctl(name, at_least=1).evaluate(with_caps(report()))
        assert v.outcome is Outcome.FAIL
        assert v.summary == f"{name} is not on this kernel"


def test_sysctl_restrictions_come_before_the_types() -> None:
    caps = report(restriction("user.max_net_namespaces", "3"))
    v = sysctl("user.max_net_namespaces", at_most=5).evaluate(with_caps(caps))
    assert v.summary == "user.max_net_namespaces = 3 (want <= 5)"


def test_sysctl_the_kernel_does_not_have_counts_as_if_absent_says() -> None:
    name = "kernel.unprivileged_userns_clone"  # in the report with value None
    for if_absent in (Outcome.PASS, Outcome.FAIL):
        v = sysctl(name, ("0",), if_absent=if_absent).evaluate(with_caps(report()))
        assert v == Verdict(
            if_absent,
            f"{name} is not on this kernel",
            (Evidence(f"{name} is not on this kernel (want 0)", sysctl=name),),
        )
    name = "kernel.apparmor_restrict_unprivileged_userns"  # not in the report at all
    v = sysctl(name, ("1",), if_absent=Outcome.PASS).evaluate(with_caps(report()))
    assert v.outcome is Outcome.PASS
    # A name that is no sysctl of either list: absent too.
    v = sysctl("user.max_users", ("1",)).evaluate(with_caps(report()))
    assert v.summary == "user.max_users is not on this kernel"


def unreadable(name: str, meaning: str = "") -> Restriction:
    return restriction(name, None, read=False, meaning=meaning)


def test_sysctl_nobody_could_read_is_an_error_whatever_if_absent_says() -> None:
    name = "user.max_user_namespaces"
    caps = report(unreadable(name, "no /proc/sys in this root"))
    v = sysctl(name, ("0",), if_absent=Outcome.PASS).evaluate(with_caps(caps))
    assert v == Verdict(
        Outcome.ERROR,
        f"{name} is unknown: no /proc/sys in this root",
        (Evidence(f"{name}: no /proc/sys in this root (want 0)", sysctl=name),),
    )
    caps = report(unreadable(name))
    v = sysctl(name, ("0",)).evaluate(with_caps(caps))
    assert v.summary == f"{name} is unknown: {name} could not be read"


@pytest.mark.parametrize(
    "name",
    ["kernel.unprivileged_userns_clone", "kernel.apparmor_restrict_unprivileged_userns"],
)
def test_sysctl_the_switches_have_their_own_fate(name: str) -> None:
    mine = report(unreadable(name))
    v = sysctl(name, ("0",)).evaluate(with_caps(mine))
    assert v.summary == f"{name} is unknown: {name} could not be read"
    # The user namespace limit unreadable says nothing of this switch.
    others = report(unreadable("user.max_user_namespaces"))
    v = sysctl(name, ("0",)).evaluate(with_caps(others))
    assert v.summary == f"{name} is not on this kernel"


@pytest.mark.parametrize("ns_type", [t for t in NsType if t is not NsType.USER])
def test_sysctl_limits_of_other_types_share_the_user_limits_fate(ns_type: NsType) -> None:
    name = f"user.max_{ns_type.value}_namespaces"
    no_limit = {ns_type.value: {"limit": None}}
    caps = report(unreadable("user.max_user_namespaces", "/proc/sys is not mounted"), **no_limit)
    v = sysctl(name, at_least=1).evaluate(with_caps(caps))
    assert v.outcome is Outcome.ERROR
    assert v.summary == f"{name} is unknown: /proc/sys is not mounted"
    # A read file whose value is unknown is not "could not be read".
    caps = report(restriction("user.max_user_namespaces", None), **no_limit)
    assert sysctl(name, at_least=1).evaluate(with_caps(caps)).summary == (
        f"{name} is not on this kernel"
    )


# --- inventory_checks.py: count -----------------------------------------------------------------


def test_count_includes_the_hosts_own_and_passes_up_to_its_limit() -> None:
    s = subject(init(NsType.NET), member(NsType.NET, 2, 200), init(NsType.UTS, 3))
    v = CountCheck("net", 2).evaluate(s)
    assert v == Verdict(Outcome.PASS, "2 net namespaces (at most 2)")
    v = CountCheck("uts", 1).evaluate(s)
    assert v == Verdict(Outcome.PASS, "1 uts namespaces (at most 1)")


def test_count_over_its_limit_lists_the_namespaces_beyond_the_hosts_own() -> None:
    s = subject(
        init(NsType.NET),
        member(NsType.NET, 2, 200, "bash"),
        held(NsType.NET, 3, MOUNT_A),
        init(NsType.UTS, 4),
    )
    v = CountCheck("net", 1).evaluate(s)
    assert v.outcome is Outcome.FAIL
    assert v.summary == "3 net namespaces (at most 1)"
    assert texts(v.evidence) == [
        "net:[2] held by bash (pid 200, user root, parent not recorded)",
        "net:[3] held by mount /run/netns/a",
    ]


def test_count_on_a_partial_scan_says_so_in_its_evidence() -> None:
    s = Subject(partial(snap(init(NsType.NET), member(NsType.NET, 2, 200))), (), "now")
    v = CountCheck("net", 1).evaluate(s)
    assert v.outcome is Outcome.FAIL
    assert texts(v.evidence) == [
        "net:[2] held by sleep (pid 200, user root, parent not recorded)",
        PARTIAL_NOTE,
    ]
    v = CountCheck("net", 5).evaluate(s)
    assert v == Verdict(Outcome.PASS, "2 net namespaces (at most 5)", (Evidence(PARTIAL_NOTE),))


NOTHING_RUNS = "the root runs no processes"


@pytest.mark.parametrize(
    "check",
    [
        CountCheck("net", 0),
        HoldersCheck(None, Allowlist(commands=("*",))),
        UnprivilegedOwnerCheck(None),
        CreatedCheck(None, Allowlist(commands=("*",))),
    ],
)
def test_inventory_rules_do_not_apply_where_nothing_runs(check: Check) -> None:
    s = Subject(snap(member(NsType.NET, 2, 200)), (), "nothing", no_inventory=NOTHING_RUNS)
    assert check.evaluate(s) == Verdict(Outcome.SKIP, f"not applicable: {NOTHING_RUNS}")


# --- inventory_checks.py: holders ---------------------------------------------------------------


def test_holders_pass_when_every_namespace_beyond_the_hosts_own_is_allowed() -> None:
    allow = Allowlist(commands=("sshd",))
    s = subject(init(NsType.NET), member(NsType.NET, 2, 200, "sshd"), init(NsType.UTS, 3))
    assert HoldersCheck(None, allow).evaluate(s) == Verdict(
        Outcome.PASS, "all 1 non-initial namespaces have an allowed holder"
    )
    assert HoldersCheck(("uts",), allow).evaluate(s) == Verdict(
        Outcome.PASS, "no uts namespaces beyond the host's own"
    )
    assert HoldersCheck(None, allow).evaluate(subject(init(NsType.NET))) == Verdict(
        Outcome.PASS, "no non-initial namespaces beyond the host's own"
    )


def test_holders_fail_naming_each_namespace_without_an_allowed_holder() -> None:
    allow = Allowlist(commands=("sshd",))
    s = subject(
        init(NsType.NET),
        member(NsType.NET, 2, 200, "sshd"),
        member(NsType.NET, 3, 300, "bash"),
        init(NsType.UTS, 4),
        member(NsType.UTS, 5, 500, "bash"),
        init(NsType.IPC, 6),
        member(NsType.IPC, 7, 700, "sshd"),
    )
    v = HoldersCheck(("net", "uts"), allow).evaluate(s)
    assert v.outcome is Outcome.FAIL
    assert v.summary == "2 of 3 net/uts namespaces have no allowed holder"
    why = "(pid {0}, user root, parent not recorded), which the allowed commands do not cover"
    assert texts(v.evidence) == [
        f"net:[3] held by bash {why.format(300)}",
        f"uts:[5] held by bash {why.format(500)}",
    ]
    assert v.evidence[0].namespace == "net:[3]" and v.evidence[0].pid == 300
    v = HoldersCheck(None, allow).evaluate(s)
    assert v.summary == "2 of 4 non-initial namespaces have no allowed holder"


def test_holders_on_a_partial_scan_say_so_in_their_evidence() -> None:
    allow = Allowlist(commands=("sshd",))
    s = snap(init(NsType.NET), member(NsType.NET, 2, 200, "sshd"))
    v = HoldersCheck(None, allow).evaluate(Subject(partial(s), (), "now"))
    assert v == Verdict(
        Outcome.PASS,
        "all 1 non-initial namespaces have an allowed holder",
        (Evidence(PARTIAL_NOTE),),
    )
    bad = replace(s, namespaces=(*s.namespaces, member(NsType.NET, 3, 300, "bash")))
    v = HoldersCheck(None, allow).evaluate(Subject(partial(bad), (), "now"))
    assert v.outcome is Outcome.FAIL
    assert texts(v.evidence)[-1] == PARTIAL_NOTE and len(v.evidence) == 2


# --- inventory_checks.py: unprivileged_owner ----------------------------------------------------


def userns(
    inode: int, owner_uid: int | None, parent: Namespace | None = None, pid: int = 0
) -> Namespace:
    n = ns(NsType.USER, inode, nprocs=1 if pid else 0)
    return replace(
        n,
        owner_uid=owner_uid,
        parent=parent.id if parent is not None else None,
        pid=pid or None,
        command="podman" if pid else None,
    )


def owned(t: NsType, inode: int, owner: Namespace, pid: int = 0) -> Namespace:
    n = member(t, inode, pid) if pid else held(t, inode, MOUNT_A)
    return replace(n, owner=owner.id)


def test_unprivileged_user_namespaces_up_the_parent_chain() -> None:
    root_ns = userns(1, 0, pid=1)
    alice = userns(2, 1000, root_ns)
    nested = userns(3, 0, alice)  # made by root inside alice's: still alice's
    deeper = userns(4, None, nested)
    by_root = userns(5, 0, root_ns)
    unknown_owner = userns(6, None)
    orphan = userns(7, 0, ns(NsType.USER, 99))  # parent not in the snapshot
    bob = userns(8, 1001, alice)  # the nearest non-root creator counts
    s = snap(deeper, nested, alice, root_ns, by_root, unknown_owner, orphan, bob)
    assert unprivileged_userns(s) == {
        alice.id: 1000,
        nested.id: 1000,
        deeper.id: 1000,
        bob.id: 1001,
    }


def test_unprivileged_user_namespaces_in_a_parent_loop_end() -> None:
    a = userns(1, 0)
    b = replace(userns(2, 0), parent=a.id)
    a = replace(a, parent=b.id)
    assert unprivileged_userns(snap(a, b)) == {}
    c = replace(userns(3, 0), parent=a.id)
    d = replace(userns(4, 500), parent=c.id)
    assert unprivileged_userns(snap(a, b, c, d)) == {d.id: 500}


def test_unprivileged_owner_fails_for_the_user_namespace_and_what_it_owns() -> None:
    root_ns = userns(1, 0, pid=1)
    alice = userns(2, 1000, root_ns, pid=200)
    net = owned(NsType.NET, 3, alice, pid=300)
    mnt = owned(NsType.MNT, 4, alice)
    fine = owned(NsType.UTS, 5, root_ns, pid=500)
    unowned = held(NsType.IPC, 6, FD)
    s = subject(root_ns, alice, net, mnt, fine, unowned)
    v = UnprivilegedOwnerCheck(None).evaluate(s)
    assert v.outcome is Outcome.FAIL
    assert v.summary == "3 namespaces belong to user namespaces of non-root users"
    assert texts(v.evidence) == [
        "user:[2] is a user namespace created by uid 1000; held by podman (pid 200, user root, "
        "parent not recorded)",
        "net:[3] is owned by user namespace user:[2] created by uid 1000; held by sleep "
        "(pid 300, user root, parent not recorded)",
        "mnt:[4] is owned by user namespace user:[2] created by uid 1000; held by mount "
        "/run/netns/a",
    ]
    assert [e.namespace for e in v.evidence] == ["user:[2]", "net:[3]", "mnt:[4]"]


def test_unprivileged_owner_exceptions_and_passes() -> None:
    root_ns = userns(1, 0, pid=1)
    alice = userns(2, 1000, root_ns, pid=200)
    net = owned(NsType.NET, 3, alice, pid=300)
    s = subject(root_ns, alice, net)
    v = UnprivilegedOwnerCheck(Allowlist(commands=("podman",))).evaluate(s)
    assert v.outcome is Outcome.FAIL
    assert [e.namespace for e in v.evidence] == ["net:[3]"]
    v = UnprivilegedOwnerCheck(Allowlist(commands=("podman", "sleep"))).evaluate(s)
    assert v == Verdict(Outcome.PASS, "no namespace belongs to a user namespace of a non-root user")
    v = UnprivilegedOwnerCheck(None).evaluate(subject(root_ns, owned(NsType.NET, 3, root_ns, 30)))
    assert v.outcome is Outcome.PASS


def test_unprivileged_owner_on_a_partial_scan_says_so() -> None:
    root_ns = userns(1, 0, pid=1)
    v = UnprivilegedOwnerCheck(None).evaluate(Subject(partial(snap(root_ns)), (), "now"))
    assert v.outcome is Outcome.PASS and texts(v.evidence) == [PARTIAL_NOTE]
    alice = userns(2, 1000, root_ns, pid=200)
    v = UnprivilegedOwnerCheck(None).evaluate(Subject(partial(snap(root_ns, alice)), (), "now"))
    assert v.outcome is Outcome.FAIL and texts(v.evidence)[1:] == [PARTIAL_NOTE]


# --- inventory_checks.py: created ---------------------------------------------------------------


def test_created_checks_the_namespaces_of_the_period() -> None:
    allow = Allowlist(commands=("sshd",))
    now = snap(init(NsType.NET), init(NsType.UTS, 2))
    gone = member(NsType.NET, 3, 300, "bash")  # created, and vanished again
    ok = member(NsType.NET, 4, 400, "sshd")
    uts = member(NsType.UTS, 5, 500, "bash")
    v = CreatedCheck(None, allow).evaluate(Subject(now, (gone, ok, uts, now.namespaces[0]), "p"))
    assert v.outcome is Outcome.FAIL
    assert v.summary == "2 of 3 namespaces created have no allowed holder"
    why = "(pid {0}, user root, parent not recorded), which the allowed commands do not cover"
    assert texts(v.evidence) == [
        f"created net:[3] held by bash {why.format(300)}",
        f"created uts:[5] held by bash {why.format(500)}",
    ]
    v = CreatedCheck(("net",), allow).evaluate(Subject(now, (ok, uts), "p"))
    assert v == Verdict(Outcome.PASS, "1 namespaces created, all by allowed holders")
    v = CreatedCheck(("net",), allow).evaluate(Subject(now, (uts,), "p"))
    assert v == Verdict(Outcome.PASS, "no namespace created")


def test_created_on_a_partial_period_says_so_in_its_evidence() -> None:
    allow = Allowlist(commands=("sshd",))
    now = replace(snap(init(NsType.NET)), seq=5)
    gone = member(NsType.NET, 3, 300, "bash")
    earlier = "the period's snapshot seq 3 could not see every process"
    note = "namespaces it could not see are not checked"
    # This snapshot partial: the failure names it.
    v = CreatedCheck(None, allow).evaluate(Subject(partial(now), (gone,), "p"))
    assert v.outcome is Outcome.FAIL
    assert texts(v.evidence)[-1] == PARTIAL_NOTE
    # An earlier snapshot of the period partial: the failure names that one.
    v = CreatedCheck(None, allow).evaluate(Subject(now, (gone,), "p", partial_in_period=(3, 5)))
    assert texts(v.evidence)[-1] == f"the snapshot is partial ({earlier}): {note}"
    # Both, and on a pass too.
    v = CreatedCheck(None, allow).evaluate(Subject(partial(now), (), "p", partial_in_period=(3,)))
    assert v.outcome is Outcome.PASS
    both = f"1 process(es) could not be read; {earlier}"
    assert texts(v.evidence) == [f"the snapshot is partial ({both}): {note}"]
    # A complete period: no note.
    v = CreatedCheck(None, allow).evaluate(Subject(now, (gone,), "p", partial_in_period=(5,)))
    assert len(v.evidence) == 1


# --- evaluate.py: partial scans -----------------------------------------------------------------


def rule(check: Check, *waivers: Waiver, accept_partial: bool = False) -> Rule:
    return Rule(
        "R-1",
        "a rule",
        "high",
        ("CIS 1.2.3", "https://example.org/r1"),
        "why it matters",
        check,
        waivers,
        accept_partial,
    )


def run(r: Rule, s: Subject, today: date = date(2026, 11, 29)) -> Any:
    (result,) = evaluate(Policy("p", "P", None, "p.toml", "0" * 64, (r,)), s, today)
    return result


ALLOW_ALL = Allowlist(commands=("*",))


def cannot_tell(why: str, saw: str) -> str:
    return (
        f"cannot tell: the scan was partial ({why}), and what it saw ({saw}) may miss "
        'namespaces; snapshot as root, or set partial = "accept" on this rule'
    )


@pytest.mark.parametrize(
    ("check", "saw"),
    [
        (CountCheck("net", 5), "1 net namespaces (at most 5)"),
        (HoldersCheck(None, ALLOW_ALL), "no non-initial namespaces beyond the host's own"),
        (
            UnprivilegedOwnerCheck(None),
            "no namespace belongs to a user namespace of a non-root user",
        ),
        (CreatedCheck(None, ALLOW_ALL), "no namespace created"),
    ],
)
def test_an_inventory_rule_cannot_pass_on_a_partial_scan(check: Check, saw: str) -> None:
    s = Subject(partial(snap(init(NsType.NET)), pids=148), (), "now")
    result = run(rule(check), s)
    assert result.outcome is Outcome.ERROR
    assert result.summary == cannot_tell("148 process(es) could not be read", saw)
    # partial = "accept": the pass stands
    assert run(rule(check, accept_partial=True), s).outcome is Outcome.PASS
    # a complete scan passes
    assert run(rule(check), Subject(snap(init(NsType.NET)), (), "now")).outcome is Outcome.PASS


def test_a_failure_on_a_partial_scan_stays_a_failure() -> None:
    s = Subject(partial(snap(init(NsType.NET), member(NsType.NET, 2, 200))), (), "now")
    result = run(rule(CountCheck("net", 1)), s)
    assert result.outcome is Outcome.FAIL
    assert result.summary == "2 net namespaces (at most 1)"
    assert texts(result.evidence)[-1] == PARTIAL_NOTE


def test_kernel_rules_are_not_affected_by_a_partial_scan() -> None:
    s = Subject(partial(snap(caps=report())), (), "now")
    result = run(rule(CapabilityCheck(("net",), ("available",))), s)
    assert result.outcome is Outcome.PASS
    result = run(rule(sysctl("user.max_user_namespaces", ("0",))), s)
    assert result.outcome is Outcome.PASS


def test_the_partial_error_keeps_the_evidence() -> None:
    s = Subject(partial(snap(init(NsType.NET))), (), "now")
    result = run(rule(CountCheck("net", 5)), s)
    assert result.outcome is Outcome.ERROR
    assert texts(result.evidence) == [PARTIAL_NOTE]


def test_a_created_rule_cannot_pass_when_a_snapshot_of_its_period_was_partial() -> None:
    now = replace(snap(init(NsType.NET)), seq=5)
    check = CreatedCheck(None, ALLOW_ALL)
    earlier = "the period's snapshot seq 3, 4 could not see every process"
    s = Subject(now, (), "p", partial_in_period=(3, 4, 5))
    result = run(rule(check), s)
    assert result.outcome is Outcome.ERROR
    assert result.summary == cannot_tell(earlier, "no namespace created")
    assert run(rule(check, accept_partial=True), s).outcome is Outcome.PASS
    # With this snapshot partial too: both reasons.
    s = Subject(partial(now), (), "p", partial_in_period=(3, 4, 5))
    assert run(rule(check), s).summary == cannot_tell(
        f"1 process(es) could not be read; {earlier}", "no namespace created"
    )
    # Only this snapshot partial, as the period lists it: named once.
    s = Subject(partial(now), (), "p", partial_in_period=(5,))
    assert run(rule(check), s).summary == cannot_tell(
        "1 process(es) could not be read", "no namespace created"
    )
    # A complete snapshot whose period lists only itself is complete.
    s = Subject(now, (), "p", partial_in_period=(5,))
    assert run(rule(check), s).outcome is Outcome.PASS
    # Other kinds judge this snapshot only.
    s = Subject(now, (), "p", partial_in_period=(3,))
    assert run(rule(HoldersCheck(None, ALLOW_ALL)), s).outcome is Outcome.PASS
    assert run(rule(CountCheck("net", 5)), s).outcome is Outcome.PASS


# --- evaluate.py: results and waivers -----------------------------------------------------------


def failing(hostname: str = "build-7") -> Subject:
    s = snap(init(NsType.NET), member(NsType.NET, 2, 200))
    return Subject(replace(s, host=replace(s.host, hostname=hostname)), (), "now")


def waiver(expires: date, *hosts: str, reason: str = "ticket 1", by: str | None = "ISSO") -> Waiver:
    return Waiver(hosts or ("build-*",), reason, expires, by)


def test_a_result_carries_the_rule_and_the_verdict() -> None:
    r = rule(CountCheck("net", 1))
    result = run(r, failing())
    assert (result.rule_id, result.title, result.severity, result.references) == (
        "R-1",
        "a rule",
        "high",
        ("CIS 1.2.3", "https://example.org/r1"),
    )
    assert result.outcome is Outcome.FAIL
    assert result.summary == "2 net namespaces (at most 1)"
    assert [e.namespace for e in result.evidence] == ["net:[2]"]
    assert result.waiver is None


def test_results_keep_the_policys_order() -> None:
    rules = tuple(replace(rule(CountCheck("net", n)), id=f"R-{n}") for n in (3, 1, 2))
    results = evaluate(Policy("p", "P", None, "p.toml", "0" * 64, rules), failing(), date.today())
    assert [(r.rule_id, r.outcome) for r in results] == [
        ("R-3", Outcome.PASS),
        ("R-1", Outcome.FAIL),
        ("R-2", Outcome.PASS),
    ]


def test_a_waiver_in_force_waives_a_failure_on_matching_hosts_only() -> None:
    w = waiver(date(2027, 4, 1), "web-*", "build-*", reason="rootless builds", by=None)
    result = run(rule(CountCheck("net", 1), w), failing("build-7"))
    assert result.outcome is Outcome.WAIVED
    assert result.waiver == WaiverNote(
        ("web-*", "build-*"), "rootless builds", "2027-04-01", False, None, "fail"
    )
    assert result.summary == "2 net namespaces (at most 1)"  # the failure is still told
    other = run(rule(CountCheck("net", 1), w), failing("db-1"))
    assert other.outcome is Outcome.FAIL and other.waiver is None


def test_a_waiver_waives_an_error_but_never_touches_a_pass_or_a_skip() -> None:
    w = waiver(date(2027, 4, 1))
    err = run(rule(CapabilityCheck(("net",), ("available",)), w), failing())
    assert err.outcome is Outcome.WAIVED and err.summary == NO_REPORT
    ok = run(rule(CountCheck("net", 5), w), failing())
    assert ok.outcome is Outcome.PASS and ok.waiver is None
    s = replace(failing(), no_inventory=NOTHING_RUNS)
    skip = run(rule(CountCheck("net", 1), w), s)
    assert skip.outcome is Outcome.SKIP and skip.waiver is None


def test_the_first_waiver_in_force_is_the_one_reported() -> None:
    first = waiver(date(2027, 1, 1), reason="first")
    later = waiver(date(2028, 1, 1), reason="later")
    gone = waiver(date(2026, 1, 1), reason="expired")
    result = run(rule(CountCheck("net", 1), gone, first, later), failing())
    assert result.outcome is Outcome.WAIVED
    assert result.waiver is not None and result.waiver.reason == "first"
    assert result.waiver.expired is False


def test_expired_waivers_leave_the_failure_and_name_the_latest() -> None:
    # README: "a matching waiver that has expired no longer applies, the rule fails"
    older = waiver(date(2026, 1, 1), reason="older")
    newer = waiver(date(2026, 10, 1), reason="newer")
    oldest = waiver(date(2025, 6, 1), reason="oldest")
    elsewhere = waiver(date(2027, 1, 1), "db-*", reason="other hosts")
    result = run(rule(CountCheck("net", 1), older, newer, oldest, elsewhere), failing())
    assert result.outcome is Outcome.FAIL
    assert result.waiver == WaiverNote(("build-*",), "newer", "2026-10-01", True, "ISSO")
    # A pass says nothing of expired waivers.
    ok = run(rule(CountCheck("net", 5), older), failing())
    assert ok.outcome is Outcome.PASS and ok.waiver is None


def test_a_container_allowlist_still_refuses_a_stray_bind_mount() -> None:
    web = Container(
        id="a" * 64, runtime="docker", name="web", image="nginx:1.27", pod_namespace=None,
        pod_name=None, pod_uid=None, pid=10, shim="containerd-shim", namespaces=(), source=None,
        note=None,
    )  # fmt: skip
    allow = Allowlist(paths=("/run/netns/*",), runtimes=("docker",))
    base = replace(ns(NsType.NET, 5), container=web.id)
    assert allow.violation(base, web) is None
    stray = replace(base, holders=(Holder(HolderKind.MOUNT, path="/tmp/x"),))
    assert allow.violation(stray, web) == "bind-mounted at /tmp/x, not an allowed path"
    other = replace(web, runtime="podman")
    assert allow.violation(base, other) == (
        "held by sleep (pid 105, user root, parent not recorded), in container web (podman "
        "aaaaaaaaaaaa, image nginx:1.27), which is not allowed"
    )
