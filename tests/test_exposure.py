"""The kernel_exposure check kind: known privilege escalations through user namespaces, the
running release matched against their upstream ranges (samples/policies/data/), reported as a
question for the assessor, never as a verdict on a distribution's kernel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOTS, SAMPLES, assert_clean_error, run
from factories import policy_file, rule_toml

from nsaudit.model import Outcome

DATA = SAMPLES / "policies" / "data" / "kernel-userns-exposures.toml"


def exposure_policy(tmp_path: Path, extra: str = "", data: Path = DATA) -> Path:
    return policy_file(
        tmp_path / "p.toml",
        rule_toml("EXPOSED", f'{{ kind = "kernel_exposure", file = "{data}"{extra} }}'),
    )


def result(root: Path, policy: Path) -> tuple[int, dict[str, Any]]:
    proc = run("check", "--root", root, "--policy", policy, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["results"][0]


def test_a_release_in_range_with_user_namespaces_allowed_is_informational(tmp_path: Path) -> None:
    code, r = result(ROOTS / "stig-userns-not-applied", exposure_policy(tmp_path))
    assert code == 0  # informational is no failure
    assert r["outcome"] == "informational"
    assert r["summary"].startswith(
        "exposed if unpatched: 5.14.0-427.13.1.el9_4.x86_64 is in the upstream range of "
        "CVE-2022-0185, CVE-2023-0386, CVE-2024-1086 and unprivileged users may create user "
        "namespaces; distributions backport fixes"
    )
    texts = [e["text"] for e in r["evidence"]]
    assert any(
        t.startswith("CVE-2024-1086 (") and "upstream range 5.11 to 5.15.149" in t
        and "https://nvd.nist.gov/vuln/detail/CVE-2024-1086" in t
        for t in texts
    )  # fmt: skip


def test_a_policy_may_make_an_exposure_a_failure(tmp_path: Path) -> None:
    policy = exposure_policy(tmp_path, ', if_exposed = "fail"')
    code, r = result(ROOTS / "stig-userns-not-applied", policy)
    assert (code, r["outcome"]) == (1, "fail")


def test_no_user_namespaces_for_unprivileged_users_is_no_exposure(tmp_path: Path) -> None:
    code, r = result(ROOTS / "stig-userns-conflict", exposure_policy(tmp_path))
    assert r["outcome"] == "pass"
    assert "but unprivileged users cannot create user namespaces" in r["summary"]
    assert len(r["evidence"]) == 3  # the ranges it is in, still told


def test_apparmors_restriction_is_no_shield_while_profiles_grant_userns(tmp_path: Path) -> None:
    root = tmp_path / "ubuntu"
    shutil.copytree(ROOTS / "ubuntu2404-apparmor-userns", root, symlinks=True)
    (root / "proc/sys/kernel/osrelease").write_text("6.1.50-generic\n")
    _, r = result(root, exposure_policy(tmp_path))
    assert r["outcome"] == "informational"
    assert "CVE-2024-1086" in r["summary"] and "AppArmor profiles that grant userns" in r["summary"]
    shutil.rmtree(root / "etc/apparmor.d")
    _, r = result(root, exposure_policy(tmp_path))
    assert r["outcome"] == "pass"


def test_a_release_outside_every_range_passes(tmp_path: Path) -> None:
    _, r = result(ROOTS / "ubuntu2404-apparmor-userns", exposure_policy(tmp_path))
    assert r["outcome"] == "pass"
    assert r["summary"] == (
        "6.8.0-45-generic is outside the upstream ranges of CVE-2022-0185, CVE-2023-0386, "
        "CVE-2024-1086"
    )


def test_a_broken_data_file_is_named(tmp_path: Path) -> None:
    missing = exposure_policy(tmp_path, data=tmp_path / "none.toml")
    assert_clean_error(run("check", "--policy", missing, "--root", ROOTS / "no-kconfig"), 2,
                       "check.file", "none.toml cannot be read")  # fmt: skip
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[exposure]]\nid = "CVE-2024-1086"\ntitle = "t"\nsource = "s"\nreached_by = "r"\n'
        'affected = [["6.7", "6.1"]]\n'
    )
    assert_clean_error(
        run(
            "check", "--policy", exposure_policy(tmp_path, data=bad), "--root", ROOTS / "no-kconfig"
        ),
        2,
        "exposure #1",
        'affected is a list of ["from", "fixed"] release pairs',
    )


# In-process: each verdict and each mistake of the data file, word for word.


def place(path: Path) -> Any:
    from nsaudit.policy.place import Place, PolicyText

    text = '[[rule]]\nid = "R1"\ncheck = { kind = "kernel_exposure", file = "x" }\n'
    return Place(PolicyText(str(path), text), 0, "R1")


def mistake(tmp_path: Path, data: str | bytes | None, problem: str) -> None:
    from nsaudit.errors import UsageError
    from nsaudit.policy.exposure_checks import load

    target = tmp_path / "data.toml"
    if isinstance(data, bytes):
        target.write_bytes(data)
    elif data is not None:
        target.write_text(data)
    with pytest.raises(UsageError) as e:
        load(place(tmp_path / "policy.toml"), "data.toml")
    sep = "" if problem.startswith(",") else " "
    assert str(e.value) == (
        f"policy {tmp_path / 'policy.toml'}, line 3, rule R1: check.file {target}{sep}{problem}"
    )


GOOD = (
    '[[exposure]]\nid = "CVE-2024-1086"\ntitle = "t"\nsource = "s"\nreached_by = "r"\n'
    'affected = [["5.16", "6.1.76"]]\n'
)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "cannot be read: No such file or directory"),
        (b"\xff", "is not a valid TOML file: 'utf-8' codec can't decode byte 0xff in "
                  "position 0: invalid start byte"),
        ("x = [", "is not a valid TOML file: Invalid value (at end of document)"),
        ("", "has no [[exposure]] tables"),
        ("exposure = 1", "has no [[exposure]] tables"),
        (GOOD.replace('source = "s"\n', ""), ", exposure #1: an exposure has exactly the keys "
                                             "affected, id, reached_by, source, title"),
        (GOOD + "extra = 1\n", ", exposure #1: an exposure has exactly the keys affected, id, "
                               "reached_by, source, title"),
        (GOOD.replace("CVE-2024-1086", "CVE-24-1"), ", exposure #1: id is a CVE id such as "
                                                   "CVE-2024-1086"),
        (GOOD.replace('title = "t"', 'title = " "'), ", exposure #1: title is a non-empty string"),
        (GOOD.replace('source = "s"', "source = 1"), ", exposure #1: source is a non-empty string"),
        (GOOD.replace('reached_by = "r"', 'reached_by = ""'),
         ", exposure #1: reached_by is a non-empty string"),
    ]
    + [
        (GOOD.replace('[["5.16", "6.1.76"]]', bad),
         ', exposure #1: affected is a list of ["from", "fixed"] release pairs, from below fixed')
        for bad in ("[]", '"5.16"', '["5.16"]', '[["5.16"]]', '[["5.16", "6.1.76", "7"]]',
                    '[["5.16", 6]]', '[["5", "6.1"]]', '[["6.1.76", "6.1.76"]]',
                    '[["x.1", "6.1"]]')
    ],
)  # fmt: skip
def test_each_mistake_of_the_data_file(tmp_path: Path, data: str | None, problem: str) -> None:
    mistake(tmp_path, data, problem)


def test_a_good_data_file_and_the_second_entry_numbered(tmp_path: Path) -> None:
    from nsaudit.policy.exposure_checks import Exposure, load

    (tmp_path / "data.toml").write_text(GOOD + GOOD.replace('"s"', '"t"'))
    assert load(place(tmp_path / "policy.toml"), "data.toml")[1] == Exposure(
        "CVE-2024-1086", "t", (("5.16", "6.1.76"),), "t", "r"
    )
    mistake(tmp_path, GOOD + GOOD.replace("CVE-2024-1086", "x"),
            ", exposure #2: id is a CVE id such as CVE-2024-1086")  # fmt: skip


def test_a_range_holds_its_start_and_not_its_fix() -> None:
    from nsaudit.policy.exposure_checks import Exposure

    e = Exposure("CVE-1-1", "t", (("5.4", "5.4.10"), ("5.10", "5.10.3")), "s", "r")
    assert e.range_of((5, 4, 0)) == ("5.4", "5.4.10")
    assert e.range_of((5, 4, 9)) == ("5.4", "5.4.10")
    assert e.range_of((5, 4, 10)) is None
    assert e.range_of((5, 3, 99)) is None
    assert e.range_of((5, 10, 2)) == ("5.10", "5.10.3")
    assert e.range_of((5, 11, 0)) is None


def verdict_on(**caps: Any) -> Any:
    from dataclasses import replace

    from factories import kernel_report, snap

    from nsaudit.model import Access, Answer
    from nsaudit.policy.checks import Subject
    from nsaudit.policy.exposure_checks import Exposure, KernelExposureCheck

    report = kernel_report(release=caps.pop("release", "6.1.50-generic"))
    access = caps.pop("access", Access.ALLOWED)
    value = replace(report.value, unprivileged_userns=Answer(access, "why"), **caps)
    e = Exposure("CVE-1-1", "t", (("5.16", "6.1.76"),), "src", "how")
    check = KernelExposureCheck("f", (e,), caps.pop("outcome", Outcome.INFORMATIONAL))
    if caps.get("none"):
        return check.evaluate(Subject(snap(), (), "now"))
    return check.evaluate(Subject(snap(caps=replace(report, value=value)), (), "now"))


def test_each_verdict_in_words() -> None:
    from nsaudit.model import Access, UsernsProfile

    v = verdict_on()
    assert v.outcome is Outcome.INFORMATIONAL
    assert v.summary == (
        "exposed if unpatched: 6.1.50-generic is in the upstream range of CVE-1-1 and "
        "unprivileged users may create user namespaces; distributions backport fixes, so "
        "check the vendor's advisory for this kernel build"
    )
    assert [e.text for e in v.evidence] == [
        "CVE-1-1 (t): 6.1.50-generic is in the upstream range 5.16 to 6.1.76 (fixed in "
        "6.1.76; src); reached by how"
    ]
    denied = verdict_on(access=Access.DENIED)
    assert (denied.outcome, denied.summary) == (
        Outcome.PASS,
        "6.1.50-generic is in the upstream range of CVE-1-1, but unprivileged users cannot "
        "create user namespaces (why)",
    )
    unknown = verdict_on(access=Access.UNKNOWN)
    assert (unknown.outcome, unknown.summary) == (
        Outcome.ERROR,
        "whether unprivileged users can create user namespaces is unknown (why)",
    )
    no_release = verdict_on(release=None)
    assert (no_release.outcome, no_release.summary) == (
        Outcome.ERROR, "the running kernel release is unknown"
    )  # fmt: skip
    outside = verdict_on(release="6.1.76")
    assert (outside.outcome, outside.summary) == (
        Outcome.PASS, "6.1.76 is outside the upstream ranges of CVE-1-1"
    )  # fmt: skip
    bypass = UsernsProfile("busybox", "/usr/bin/busybox", "unconfined", "/etc/apparmor.d/b", 8)
    restricted = verdict_on(access=Access.RESTRICTED, userns_profiles=(bypass,))
    assert restricted.outcome is Outcome.INFORMATIONAL
    assert (
        "and AppArmor profiles that grant userns give unprivileged users a way around its "
        "restriction;" in restricted.summary
    )
    unread = verdict_on(access=Access.RESTRICTED, userns_profiles=None)
    assert "and AppArmor restricts user namespaces, but its profiles could not be read;" in (
        unread.summary
    )
    shut = verdict_on(access=Access.RESTRICTED, userns_profiles=())
    assert shut.outcome is Outcome.PASS and "cannot create user namespaces" in shut.summary


def test_no_capability_report_is_an_error() -> None:
    from factories import snap

    from nsaudit.policy.checks import Subject
    from nsaudit.policy.exposure_checks import Exposure, KernelExposureCheck

    e = Exposure("CVE-1-1", "t", (("5.16", "6.1.76"),), "src", "how")
    v = KernelExposureCheck("f", (e,), Outcome.FAIL).evaluate(Subject(snap(), (), "now"))
    assert (v.outcome, v.summary) == (Outcome.ERROR, "the snapshot has no capability report")


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ('{ kind = "kernel_exposure" }', "a kernel_exposure check needs file, the exposure data "
         "(a path relative to the policy, e.g. data/kernel-userns-exposures.toml)"),
        ('{ kind = "kernel_exposure", file = "" }', "a kernel_exposure check needs file"),
        ('{ kind = "kernel_exposure", file = 3 }', "a kernel_exposure check needs file"),
        (f'{{ kind = "kernel_exposure", file = "{DATA}", if_exposed = "pass" }}',
         'check.if_exposed must be "informational" (the default) or "fail"'),
    ],
)  # fmt: skip
def test_the_check_table_mistakes(tmp_path: Path, check: str, problem: str) -> None:
    path = policy_file(tmp_path / "p.toml", rule_toml("R1", check))
    assert_clean_error(run("check", "--policy", path, "--root", ROOTS / "no-kconfig"), 2, problem)
