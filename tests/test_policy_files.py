"""Policy files: the shipped samples load, and every malformed policy gets a clear error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, assert_clean_error, run

from nsaudit.errors import UsageError
from nsaudit.model import Outcome
from nsaudit.policy.container_checks import HostNamespacesCheck
from nsaudit.policy.inventory_checks import (
    CountCheck,
    CreatedCheck,
    HoldersCheck,
    UnprivilegedOwnerCheck,
)
from nsaudit.policy.kernel_checks import CapabilityCheck, SysctlCheck
from nsaudit.policy.kinds import KINDS
from nsaudit.policy.load import load
from nsaudit.policy.match import Allowlist

POLICIES = sorted((SAMPLES / "policies").glob("*.toml"))

GOOD_RULE = """
[[rule]]
id = "R-1"
title = "max user namespaces"
severity = "low"
check = { kind = "sysctl", name = "user.max_user_namespaces", at_least = 0 }
"""


def test_three_documented_sample_policies_load() -> None:
    assert {p.stem for p in POLICIES} >= {
        "stig-user-namespaces",
        "container-host",
        "hardened-workstation",
    }
    for path in POLICIES:
        policy = load(str(path))
        assert policy.rules, path
        assert path.read_text().startswith("#"), f"{path} starts with what it is for"
        for rule in policy.rules:
            assert rule.title and rule.severity


def test_stig_policy_names_the_stig_and_cis_items() -> None:
    policy = load(str(SAMPLES / "policies" / "stig-user-namespaces.toml"))
    ids = {r.id for r in policy.rules}
    assert {"RHEL-08-040284", "RHEL-09-213105", "ALMA-09-023010"} <= ids
    assert any(
        "Bottlerocket" in ref and "1.4.4" in ref for r in policy.rules for ref in r.references
    )


MALFORMED = [
    # (what, policy text, words the error must contain)
    (
        "bad TOML",
        '[policy]\nname = "p"\n' + GOOD_RULE + '\n[[rule]]\nid = "R-2"\ntitle = \n',
        ["line 12", "rule R-2", "not valid TOML"],
    ),
    (
        "unknown check",
        '[policy]\nname = "p"\n' + GOOD_RULE.replace('"sysctl"', '"sysctls"'),
        ["line 8", "rule R-1", "unknown check kind 'sysctls'", "known: capability"],
    ),
    (
        "missing title",
        '[policy]\nname = "p"\n' + GOOD_RULE.replace('title = "max user namespaces"\n', ""),
        ["rule R-1", "missing field 'title'"],
    ),
    (
        "missing check",
        '[policy]\nname = "p"\n' + GOOD_RULE.split("check =")[0],
        ["rule R-1", "missing field 'check'"],
    ),
    (
        "missing id",
        '[policy]\nname = "p"\n' + GOOD_RULE.replace('id = "R-1"\n', ""),
        ["line 4", "rule #1", "needs an id"],
    ),
    (
        "pattern that cannot compile",
        '[policy]\nname = "p"\n[[rule]]\nid = "H-1"\ntitle = "t"\nseverity = "high"\n'
        'check = { kind = "holders", commands = ["containerd-shim[", "systemd*"] }\n',
        ["line 7", "rule H-1", "'containerd-shim['", "never closed"],
    ),
    (
        "empty pattern",
        '[policy]\nname = "p"\n[[rule]]\nid = "H-1"\ntitle = "t"\nseverity = "high"\n'
        'check = { kind = "created", users = [""] }\n',
        ["rule H-1", "empty pattern"],
    ),
    (
        "unknown sysctl",
        '[policy]\nname = "p"\n' + GOOD_RULE.replace("user.max_user_namespaces", "vm.swappiness"),
        ["rule R-1", "sysctl nsaudit reads"],
    ),
    (
        "unknown key in a check",
        '[policy]\nname = "p"\n' + GOOD_RULE.replace("at_least = 0", "at_least = 0, atmost = 3"),
        ["rule R-1", "unknown key 'atmost'"],
    ),
    (
        "bad severity",
        '[policy]\nname = "p"\n' + GOOD_RULE.replace('"low"', '"severe"'),
        ["line 7", "rule R-1", "severity must be one of"],
    ),
    ("duplicate id", '[policy]\nname = "p"\n' + GOOD_RULE + GOOD_RULE, ["rule R-1", "used twice"]),
    (
        "waiver without expiry",
        '[policy]\nname = "p"\n'
        + GOOD_RULE
        + '[[rule.waiver]]\nhosts = "web-*"\nreason = "documented"\n',
        ["rule R-1", "expires"],
    ),
    (
        "waiver expiry as a string",
        '[policy]\nname = "p"\n'
        + GOOD_RULE
        + '[[rule.waiver]]\nhosts = "web-*"\nreason = "documented"\nexpires = "2027-01-01"\n',
        ["line 12", "rule R-1", "no quotes"],
    ),
    (
        "second waiver without a reason: its own line",
        '[policy]\nname = "p"\n'
        + GOOD_RULE
        + '[[rule.waiver]]\nhosts = "a"\nreason = "ok"\nexpires = 2999-01-01\n'
        + '[[rule.waiver]]\nhosts = "b"\nexpires = 2999-01-01\n',
        ["line 13", "rule R-1", "a waiver needs a reason"],
    ),
    (
        "second waiver's empty approved_by: its own line",
        '[policy]\nname = "p"\n'
        + GOOD_RULE
        + '[[rule.waiver]]\nhosts = "a"\nreason = "ok"\nexpires = 2999-01-01\napproved_by = "x"\n'
        + '[[rule.waiver]]\nhosts = "b"\nreason = "ok"\nexpires = 2999-01-01\napproved_by = ""\n',
        ["line 18", "rule R-1", "approved_by must be a non-empty string"],
    ),
    (
        "type that does not exist",
        '[policy]\nname = "p"\n[[rule]]\nid = "C-1"\ntitle = "t"\nseverity = "low"\n'
        'check = { kind = "capability", type = "usr", status = "disabled" }\n',
        ["rule C-1", "check.type must be one or a list of"],
    ),
    ("no policy table", GOOD_RULE, ["[policy]"]),
    ("no rules", '[policy]\nname = "p"\n', ["at least one [[rule]]"]),
]


@pytest.mark.parametrize(("what", "text", "words"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_policy_names_file_line_and_rule(
    tmp_path: Path, what: str, text: str, words: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    db = tmp_path / "ns.db"
    proc = run("check", "--policy", path, "--db", db, "--no-snapshot")
    assert_clean_error(proc, 2, f"policy {path}", *words)
    assert not db.exists(), "a bad policy is refused before the database is opened"


def test_no_policy_anywhere_says_how_to_give_one(tmp_path: Path) -> None:
    proc = run("check", "--db", tmp_path / "ns.db", env={"NSAUDIT_CONFIG": str(tmp_path / "none")})
    # The settings file named by NSAUDIT_CONFIG does not exist: that is the error.
    assert proc.returncode == 2
    proc = run("check", "--db", tmp_path / "ns.db")
    if not Path("/etc/nsaudit/policy.toml").exists():
        assert_clean_error(proc, 2, "no policy", "--policy FILE", "samples/policies")


def test_policy_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[policy]\nname = "p"\n[[rule]]\nid = "R"\ntitle = "caf\xe9"\n')
    proc = run("check", "--policy", path, "--db", tmp_path / "ns.db")
    assert_clean_error(proc, 2, "line 5", "not UTF-8")


def test_policy_that_cannot_be_read(tmp_path: Path) -> None:
    proc = run("check", "--policy", tmp_path / "missing.toml", "--db", tmp_path / "ns.db")
    assert_clean_error(proc, 2, "missing.toml", "cannot be read")


def _readme_kinds() -> dict[str, set[str]]:
    """The README's table of check kinds: kind -> the keys its fields column names."""
    from conftest import REPO

    table = (REPO / "README.md").read_text().split("| kind | fields | passes when |", 1)[1]
    out = {}
    for row in table.split("\n\n", 1)[0].splitlines()[2:]:
        kind, named = row.split("|")[1:3]
        words = set(re.findall(r"`([a-z_]+)`", named))
        out[kind.strip().strip("`")] = words - {"available", "disabled", "missing", "unknown"}
    return out


def test_each_check_kind_declares_the_keys_the_readme_lists() -> None:
    readme = _readme_kinds()
    assert sorted(readme) == sorted(KINDS)
    for kind, found in KINDS.items():
        assert readme[kind] - {"fail", "pass"} == set(found.keys), kind


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_check_kind_refuses_a_key_it_does_not_declare(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(GOOD_RULE.replace('kind = "sysctl"', f'kind = "{kind}", extra = 1'))
    path.write_text('[policy]\nname = "p"\n' + path.read_text())
    known = ", ".join(sorted(KINDS[kind].keys))
    with pytest.raises(UsageError) as e:
        load(str(path))
    assert f"unknown key 'extra' for a {kind} check; known: {known}" in str(e.value)


# Each check kind reads its own table (policy/kinds.py): what it builds, and each mistake with
# its words and the line of the key at fault (a [rule.check] table puts a key on each line).
TYPE_LIST = "cgroup, ipc, mnt, net, pid, time, user, uts"
KIND_CHECKS: list[tuple[list[str], Any]] = [
    (
        ['kind = "capability"', 'type = "user"', 'status = ["disabled", "missing"]'],
        CapabilityCheck(("user",), ("disabled", "missing")),
    ),
    (
        ['kind = "capability"', 'type = ["net", "pid"]', 'status = "available"'],
        CapabilityCheck(("net", "pid"), ("available",)),
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "equals = 0"],
        SysctlCheck("user.max_user_namespaces", ("0",), None, None, Outcome.FAIL),
    ),
    (
        [
            'kind = "sysctl"',
            'name = "kernel.unprivileged_userns_clone"',
            'one_of = [0, "1"]',
            'if_absent = "pass"',
        ],
        SysctlCheck("kernel.unprivileged_userns_clone", ("0", "1"), None, None, Outcome.PASS),
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_net_namespaces"', "at_least = 2", "at_most = 9"],
        SysctlCheck("user.max_net_namespaces", None, 2, 9, Outcome.FAIL),
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_net_namespaces"', "at_least = 3", "at_most = 3"],
        SysctlCheck("user.max_net_namespaces", None, 3, 3, Outcome.FAIL),
    ),
    (['kind = "count"', 'type = "net"', "at_most = 3"], CountCheck("net", 3)),
    (
        ['kind = "holders"', 'types = ["net"]', 'commands = ["sshd"]', 'paths = "/run/netns/*"'],
        HoldersCheck(("net",), Allowlist(("sshd",), None, ("/run/netns/*",), None)),
    ),
    (
        ['kind = "created"', 'parents = ["conmon"]', 'users = "root"'],
        CreatedCheck(None, Allowlist(None, ("root",), None, ("conmon",))),
    ),
    (['kind = "unprivileged_owner"'], UnprivilegedOwnerCheck(None)),
    (
        ['kind = "unprivileged_owner"', 'commands = "chrome*"'],
        UnprivilegedOwnerCheck(Allowlist(("chrome*",), None, None, None)),
    ),
    (
        ['kind = "holders"', 'runtimes = "docker"', 'images = ["nginx:*"]'],
        HoldersCheck(None, Allowlist(runtimes=("docker",), images=("nginx:*",))),
    ),
    (
        ['kind = "host_namespaces"', 'types = ["net", "pid"]'],
        HostNamespacesCheck(("net", "pid"), None),
    ),
    (
        ['kind = "host_namespaces"', 'types = "user"', 'images = "ci/*"', 'containers = ["web-*"]'],
        HostNamespacesCheck(("user",), Allowlist(images=("ci/*",), containers=("web-*",))),
    ),
]
KIND_ERRORS: list[tuple[list[str], int, str]] = [
    (['kind = "events"', 'unprivileged = "yes"'], 10, "check.unprivileged must be true or false"),
    (
        ['kind = "events"', 'exes = ["[x"]'],
        10,
        "pattern '[x' in exes cannot be used: '[' at position 1 is never closed",
    ),
    (
        ['kind = "holders"', 'exes = ["/usr/sbin/sshd", "*conmon"]'],
        10,
        "pattern '*conmon' in exes would match files that are not the host's: give the "
        "absolute path of the host's file (/usr/sbin/sshd)",
    ),
    (
        ['kind = "sysctls"'],
        9,
        "unknown check kind 'sysctls'; known: capability, sysctl, count, holders, "
        "unprivileged_owner, created, host_namespaces, apparmor_userns, kernel_exposure, events",
    ),
    (
        ['kind = "count"', 'type = "net"', "at_most = 1", "extra = 2"],
        12,
        "unknown key 'extra' for a count check; known: at_most, type",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "at_most = -1"],
        11,
        "check.at_most must be a whole number >= 0",
    ),
    (
        ['kind = "capability"', 'type = "usr"', 'status = "missing"'],
        10,
        f"check.type must be one or a list of: {TYPE_LIST}",
    ),
    (
        ['kind = "capability"', 'type = "user"', "status = []"],
        11,
        "check.status must be one or a list of: available, disabled, missing, unknown",
    ),
    (
        ['kind = "sysctl"', 'name = "kernel.pid_max"', "equals = 1"],
        10,
        "check.name must be a sysctl nsaudit reads: user.max_user_namespaces, "
        "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns, "
        "kernel.apparmor_restrict_unprivileged_unconfined, "
        "kernel.apparmor_restrict_unprivileged_userns_complain, "
        "kernel.unprivileged_userns_apparmor_policy, user.max_cgroup_namespaces, "
        "user.max_ipc_namespaces, user.max_mnt_namespaces, "
        "user.max_net_namespaces, user.max_pid_namespaces, user.max_time_namespaces, "
        "user.max_uts_namespaces",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "equals = 0", "one_of = [1]"],
        12,
        "give either check.equals or check.one_of",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "equals = true"],
        11,
        "check.equals is a number or string; check.one_of a list of them",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "one_of = []"],
        11,
        "check.equals is a number or string; check.one_of a list of them",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "at_least = 5", "at_most = 4"],
        11,
        "check.at_least (5) is above check.at_most (4): the rule could never pass",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"', "at_least = -1"],
        11,
        "check.at_least must be a whole number >= 0",
    ),
    (
        ['kind = "sysctl"', 'name = "user.max_user_namespaces"'],
        9,
        "a sysctl check needs equals, one_of, at_least or at_most",
    ),
    (
        [
            'kind = "sysctl"',
            'name = "user.max_user_namespaces"',
            "equals = 0",
            'if_absent = "skip"',
        ],
        12,
        'check.if_absent must be "pass" or "fail"',
    ),
    (
        ['kind = "count"', 'type = "nett"', "at_most = 1"],
        10,
        f"a count check's type is one of: {TYPE_LIST}",
    ),
    (['kind = "count"', 'type = "net"'], 9, "a count check needs at_most"),
    (
        ['kind = "count"', 'type = "net"', "at_most = 1.5"],
        11,
        "check.at_most must be a whole number >= 0",
    ),
    (
        ['kind = "holders"', 'types = ["net"]'],
        9,
        "a holders check needs commands, parents, exes, users, paths, runtimes, images or "
        "containers (glob lists)",
    ),
    (
        ['kind = "created"', 'types = "bogus"', 'commands = "x"'],
        10,
        f"check.types must be one or a list of: {TYPE_LIST}",
    ),
    (['kind = "unprivileged_owner"', "users = 5"], 10, "users must be a glob or a list of globs"),
    (['kind = "host_namespaces"'], 9, "a host_namespaces check needs types (namespace types)"),
    (
        ['kind = "host_namespaces"', 'types = "netns"'],
        10,
        f"check.types must be one or a list of: {TYPE_LIST}",
    ),
    (
        ['kind = "host_namespaces"', 'types = "net"', 'commands = "x"'],
        11,
        "unknown key 'commands' for a host_namespaces check; known: containers, images, runtimes, "
        "types",
    ),
    (
        ['kind = "host_namespaces"', 'types = "net"', 'images = "["'],
        11,
        "pattern '[' in images cannot be used: '[' at position 1 is never closed",
    ),
]


def _check_table(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "kinds.toml"
    path.write_text(
        '[policy]\nname = "p"\n\n[[rule]]\nid = "R"\ntitle = "t"\nseverity = "low"\n'
        "[rule.check]\n" + "".join(line + "\n" for line in lines)
    )
    return path


@pytest.mark.parametrize(("lines", "check"), KIND_CHECKS, ids=[c[0][0] for c in KIND_CHECKS])
def test_each_kind_builds_its_check_from_its_table(
    tmp_path: Path, lines: list[str], check: Any
) -> None:
    assert load(str(_check_table(tmp_path, lines))).rules[0].check == check


@pytest.mark.parametrize(("lines", "line", "problem"), KIND_ERRORS, ids=[e[2] for e in KIND_ERRORS])
def test_each_kind_names_its_mistakes_and_their_lines(
    tmp_path: Path, lines: list[str], line: int, problem: str
) -> None:
    path = _check_table(tmp_path, lines)
    with pytest.raises(UsageError) as e:
        load(str(path))
    assert str(e.value) == f"policy {path}, line {line}, rule R: {problem}"
