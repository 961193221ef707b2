"""Policy files: the shipped samples load, and every malformed policy gets a clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SAMPLES, assert_clean_error, run

from nsaudit.errors import UsageError
from nsaudit.policy.load import load

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
    from nsaudit.policy.kinds import KINDS

    readme = _readme_kinds()
    assert sorted(readme) == sorted(KINDS)
    for kind, found in KINDS.items():
        assert readme[kind] - {"fail", "pass"} == set(found.keys), kind


@pytest.mark.parametrize(
    "kind", ["capability", "sysctl", "count", "holders", "unprivileged_owner", "created"]
)
def test_each_check_kind_refuses_a_key_it_does_not_declare(tmp_path: Path, kind: str) -> None:
    from nsaudit.policy.kinds import KINDS

    path = tmp_path / "p.toml"
    path.write_text(GOOD_RULE.replace('kind = "sysctl"', f'kind = "{kind}", extra = 1'))
    path.write_text('[policy]\nname = "p"\n' + path.read_text())
    known = ", ".join(sorted(KINDS[kind].keys))
    with pytest.raises(UsageError) as e:
        load(str(path))
    assert f"unknown key 'extra' for a {kind} check; known: {known}" in str(e.value)
