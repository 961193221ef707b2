"""The STIG's user-namespace items as its check text decides them (RHEL-09-213105 / V-257816,
RHEL-08-040284 / V-230548): the running value, the value the sysctl files set at boot as
systemd-sysctl applies them, conflicting files, and not applicable where containers run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOTS, SAMPLES, assert_clean_error, run
from factories import kernel_report, policy_file, restriction, rule_toml, snap

from nsaudit.hostfs import HostFS
from nsaudit.kernel import sysctlconf
from nsaudit.model import Outcome, PersistedSysctls, SysctlSetting
from nsaudit.policy.checks import Subject
from nsaudit.policy.kernel_checks import SysctlCheck

STIG = SAMPLES / "policies" / "stig-user-namespaces.toml"
STIG_RULES = ("RHEL-08-040284", "RHEL-09-213105")
MAX = "user.max_user_namespaces"


def stig_results(root: str) -> dict[str, dict[str, Any]]:
    proc = run("check", "--root", ROOTS / root, "--policy", STIG, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return {r["id"]: r for r in json.loads(proc.stdout)["results"]}


@pytest.mark.parametrize(
    ("root", "outcome", "words"),
    [
        ("stig-userns-persisted", "pass", ["90-stig-userns.conf:2 sets user.max_user_namespaces"]),
        ("stig-userns-not-persisted", "fail", ["no sysctl file sets user.max_user_namespaces"]),
        ("stig-userns-not-applied", "fail", ["user.max_user_namespaces = 15000 (want 0)"]),
        (
            "stig-userns-conflict",
            "fail",
            [
                "conflicting boot-time values",
                "usr/lib/sysctl.d/10-rootless-containers.conf:1 sets 28633",
                "etc/sysctl.d/90-stig-userns.conf:2 sets 0",
            ],
        ),
        ("stig-userns-container-host", "skip", ["not applicable: containers are in use"]),
    ],
)  # fmt: skip
def test_the_stig_sample_gives_the_stig_check_texts_verdict(
    root: str, outcome: str, words: list[str]
) -> None:
    results = stig_results(root)
    for rule in STIG_RULES:
        assert results[rule]["outcome"] == outcome, results[rule]
        for word in words:
            assert word in results[rule]["summary"], (word, results[rule]["summary"])


def test_a_conflict_names_each_file_and_line_as_evidence() -> None:
    evidence = stig_results("stig-userns-conflict")["RHEL-09-213105"]["evidence"]
    paths = [(e["path"], e["value"]) for e in evidence if "path" in e]
    root = ROOTS / "stig-userns-conflict"
    assert paths == [
        (str(root / "usr/lib/sysctl.d/10-rootless-containers.conf"), "28633"),
        (str(root / "etc/sysctl.d/90-stig-userns.conf"), "0"),
    ]


def test_the_sample_carries_the_real_identifiers() -> None:
    results = stig_results("stig-userns-persisted")
    assert results["RHEL-09-213105"]["identifiers"] == {
        "cce": ["CCE-83956-3"],
        "cci": ["CCI-000366"],
        "srg": ["SRG-OS-000480-GPOS-00227"],
        "stig": ["RHEL-09-213105"],
        "vuln": ["V-257816"],
        "stig_rule": ["SV-257816r942981_rule"],
        "nist": ["CM-6 b"],
    }
    assert results["RHEL-08-040284"]["identifiers"]["cce"] == ["CCE-82211-4"]


def test_a_container_host_lists_its_containers_as_why_the_rule_does_not_apply() -> None:
    result = stig_results("stig-userns-container-host")["RHEL-09-213105"]
    assert [e["text"] for e in result["evidence"]] == [f"container {'51' * 6} (docker)"]


def test_applicability_nobody_could_see_turns_a_failure_into_an_error(tmp_path: Path) -> None:
    # A root that runs nothing: whether containers are in use is unknown, so a failing
    # running value is not a finding the assessor would write down.
    (tmp_path / "proc/sys/user").mkdir(parents=True)
    (tmp_path / "proc/sys/user/max_user_namespaces").write_text("15000\n")
    results = stig_results_at(tmp_path)
    assert results["RHEL-09-213105"]["outcome"] == "error"
    assert "cannot tell whether the rule applies" in results["RHEL-09-213105"]["summary"]
    assert "containers are in use" in results["RHEL-09-213105"]["summary"]


def stig_results_at(root: Path) -> dict[str, dict[str, Any]]:
    proc = run("check", "--root", root, "--policy", STIG, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return {r["id"]: r for r in json.loads(proc.stdout)["results"]}


# systemd-sysctl's reading, file by file


def tree(root: Path, files: dict[str, str]) -> HostFS:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return HostFS(root)


def persisted(host: HostFS) -> PersistedSysctls:
    warnings: list[str] = []
    return sysctlconf.read(host, (MAX, "kernel.unprivileged_userns_clone"), warnings)


def values(p: PersistedSysctls, name: str = MAX) -> list[tuple[str, str]]:
    return [
        (s.path.rsplit("/", 3)[-3] + "/" + s.path.rsplit("/", 1)[-1], s.value) for s in p.of(name)
    ]


def test_files_apply_by_name_across_folders_and_etc_sysctl_conf_last(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "usr/lib/sysctl.d/99-late.conf": f"{MAX} = 3\n",
            "etc/sysctl.d/10-early.conf": f"{MAX}=1\n",
            "run/sysctl.d/50-mid.conf": f"  {MAX}   =   2  \n",
            "etc/sysctl.conf": f"{MAX} = 4\n",
        },
    )
    assert [v for _, v in values(persisted(host))] == ["1", "2", "3", "4"]


def test_a_file_in_etc_hides_the_vendor_file_of_the_same_name(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {"usr/lib/sysctl.d/50-x.conf": f"{MAX} = 9\n", "etc/sysctl.d/50-x.conf": f"{MAX} = 0\n"},
    )
    assert [v for _, v in values(persisted(host))] == ["0"]


def test_a_link_to_dev_null_masks_the_vendor_file(tmp_path: Path) -> None:
    host = tree(tmp_path, {"usr/lib/sysctl.d/50-x.conf": f"{MAX} = 9\n"})
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    os.symlink("/dev/null", tmp_path / "etc/sysctl.d/50-x.conf")
    assert persisted(host).of(MAX) == ()


def test_a_merged_usr_lib_link_is_read_once_and_absolute_links_stay_in_the_root(
    tmp_path: Path,
) -> None:
    host = tree(
        tmp_path, {"usr/lib/sysctl.d/50-x.conf": f"{MAX} = 5\n", "etc/real.conf": f"{MAX} = 6\n"}
    )
    os.symlink("usr/lib", tmp_path / "lib")
    os.symlink("/etc/real.conf", tmp_path / "usr/lib/sysctl.d/60-link.conf")
    assert [v for _, v in values(persisted(host))] == ["5", "6"]


def test_comments_slashes_dashes_and_globs(tmp_path: Path) -> None:
    host = tree(
        tmp_path,
        {
            "etc/sysctl.d/10-a.conf": (
                "# user.max_user_namespaces = 7\n; user.max_user_namespaces = 8\n"
                "-user/max_user_namespaces = 11\nnot an assignment\n"
                "kernel.unprivileged_userns_*=1\n"
            ),
            "etc/sysctl.d/20-b.conf": "user.max_*_namespaces = 99\n",
        },
    )
    p = persisted(host)
    # An explicit key beats every glob, whatever their order (systemd-sysctl).
    assert [v for _, v in values(p)] == ["11"]
    assert [(s.value, s.pattern) for s in p.of("kernel.unprivileged_userns_clone")] == [
        ("1", "kernel.unprivileged_userns_*")
    ]


def test_an_unreadable_file_makes_a_missing_boot_value_an_error(tmp_path: Path) -> None:
    host = tree(tmp_path, {})
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    os.mkfifo(tmp_path / "etc/sysctl.d/50-fifo.conf")
    p = persisted(host)
    assert p.unread and "50-fifo.conf" in p.unread[0]
    check = SysctlCheck(MAX, ("0",), None, None, Outcome.FAIL, persisted=True)
    verdict = check.evaluate(subject_with(p, "0"))
    assert verdict.outcome is Outcome.ERROR
    assert "the boot-time value of user.max_user_namespaces is unknown" in verdict.summary


def subject_with(p: PersistedSysctls | None, running: str) -> Subject:
    from dataclasses import replace

    caps = kernel_report(sysctls=(restriction(MAX, running),))
    caps = replace(caps, value=replace(caps.value, persisted=p))
    return Subject(snap(caps=caps), (), "now")


def test_a_report_without_the_boot_files_cannot_pass_a_persisted_check() -> None:
    check = SysctlCheck(MAX, ("0",), None, None, Outcome.FAIL, persisted=True)
    verdict = check.evaluate(subject_with(None, "0"))
    assert verdict.outcome is Outcome.ERROR
    assert "does not record the sysctl.d files" in verdict.summary


def test_a_wrong_boot_value_fails_naming_its_line() -> None:
    p = PersistedSysctls(
        ("/etc/sysctl.d/a.conf",), (SysctlSetting(MAX, "5", "/etc/sysctl.d/a.conf", 3),), ()
    )
    check = SysctlCheck(MAX, ("0",), None, None, Outcome.FAIL, persisted=True)
    verdict = check.evaluate(subject_with(p, "0"))
    assert verdict.outcome is Outcome.FAIL
    assert (
        verdict.summary
        == "/etc/sysctl.d/a.conf:3 sets user.max_user_namespaces = 5 at boot (want 0)"
    )


@pytest.mark.parametrize(
    ("identifiers", "words"),
    [
        ('{ cce = "CCE-83956" }', ["'CCE-83956' is not a CCE identifier", "CCE-83956-3"]),
        ('{ ccx = "x" }', ["unknown identifier family 'ccx'", "cce, cci"]),
        ('{ nist = [] }', ["identifiers.nist is a string or a list of strings"]),
        ('"CCE-83956-3"', ["identifiers is a table"]),
    ],
)  # fmt: skip
def test_a_misspelt_identifier_is_named_with_an_example(
    tmp_path: Path, identifiers: str, words: list[str]
) -> None:
    path = policy_file(
        tmp_path / "p.toml",
        rule_toml("R1", '{ kind = "capability", type = "user", status = ["disabled"] }',
                  f"identifiers = {identifiers}\n"),
    )  # fmt: skip
    assert_clean_error(run("check", "--policy", path, "--root", ROOTS / "no-kconfig"), 2, *words)


def test_not_applicable_if_names_its_conditions(tmp_path: Path) -> None:
    path = policy_file(
        tmp_path / "p.toml",
        rule_toml("R1", '{ kind = "capability", type = "user", status = ["disabled"] }',
                  'not_applicable_if = "vms"\n'),
    )  # fmt: skip
    assert_clean_error(
        run("check", "--policy", path, "--root", ROOTS / "no-kconfig"),
        2,
        "not_applicable_if is one or more of 'containers' (containers are in use)",
    )


# In-process: a rule's identifiers, word for word.


def identifiers_of(table: object) -> tuple[tuple[str, str], ...]:
    from nsaudit.policy.identifiers import parse
    from nsaudit.policy.place import Place, PolicyText

    at = Place(PolicyText("p.toml", '[[rule]]\nid = "R1"\nidentifiers = {}\n'), 0, "R1")
    return parse(at, {"identifiers": table} if table is not None else {})


def test_identifiers_in_family_order_each_once() -> None:
    assert identifiers_of(None) == ()
    assert identifiers_of({}) == ()
    got = identifiers_of(
        {"nist": ["CM-6 b", "AC-6 (10)"], "cce": "CCE-83956-3", "cci": ["CCI-000366", "CCI-000366"]}
    )
    assert got == (
        ("cce", "CCE-83956-3"),
        ("cci", "CCI-000366"),
        ("nist", "CM-6 b"),
        ("nist", "AC-6 (10)"),
    )
    every = {
        "cce": "CCE-82211-4", "cci": "CCI-000366", "srg": "SRG-OS-000480-GPOS-00227",
        "stig": "RHEL-09-213105", "vuln": "V-257816", "stig_rule": "SV-257816r942981_rule",
        "cis": "Bottlerocket 1.4.4", "nist": "SC-39",
    }  # fmt: skip
    assert [k for k, _ in identifiers_of(every)] == list(every)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("CCE-83956-3", 'identifiers is a table such as identifiers = { cce = "CCE-83956-3", '
                        'cci = ["CCI-000366"] }'),
        ({"ccx": "x"}, "unknown identifier family 'ccx'; known: cce, cci, srg, stig, vuln, "
                       "stig_rule, cis, nist"),
        ({"cce": []}, "identifiers.cce is a string or a list of strings"),
        ({"cce": 5}, "identifiers.cce is a string or a list of strings"),
        ({"cci": [5]}, "identifiers.cci: 5 is not a CCI identifier (e.g. CCI-000366)"),
        ({"cce": "CCE-83956-3 "}, "identifiers.cce: 'CCE-83956-3 ' is not a CCE identifier "
                                  "(e.g. CCE-83956-3)"),
        ({"vuln": "SV-257816"}, "identifiers.vuln: 'SV-257816' is not a Vul ID identifier "
                                "(e.g. V-257816)"),
        ({"stig_rule": "SV-257816r1"}, "identifiers.stig_rule: 'SV-257816r1' is not a Rule ID "
                                       "identifier (e.g. SV-257816r942981_rule)"),
        ({"srg": "SRG-OS-480"}, "identifiers.srg: 'SRG-OS-480' is not a SRG identifier "
                                "(e.g. SRG-OS-000480-GPOS-00227)"),
        ({"stig": "rhel-09-213105"}, "identifiers.stig: 'rhel-09-213105' is not a STIG ID "
                                     "identifier (e.g. RHEL-09-213105)"),
        ({"nist": "CM6"}, "identifiers.nist: 'CM6' is not a NIST 800-53 identifier (e.g. CM-6 b)"),
        ({"cis": "1"}, "identifiers.cis: '1' is not a CIS identifier (e.g. Bottlerocket 1.4.4)"),
    ],
)  # fmt: skip
def test_each_identifier_mistake_in_words(table: object, problem: str) -> None:
    from nsaudit.errors import UsageError

    with pytest.raises(UsageError) as e:
        identifiers_of(table)
    assert str(e.value) == f"policy p.toml, line 3, rule R1: {problem}"


def test_a_masked_name_reads_nothing_and_warns_of_nothing(tmp_path: Path) -> None:
    host = tree(tmp_path, {"usr/lib/sysctl.d/50-x.conf": f"{MAX} = 9\n"})
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    os.symlink("/dev/null", tmp_path / "etc/sysctl.d/50-x.conf")
    p = persisted(host)
    assert (p.files, p.settings, p.unread) == ((), (), ())


def test_values_keep_their_own_equals_signs_and_bad_bytes(tmp_path: Path) -> None:
    host = tree(tmp_path, {})
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    (tmp_path / "etc/sysctl.d/10-a.conf").write_bytes(f"{MAX} = a=b\xff\n".encode("latin-1"))
    (setting,) = persisted(host).of(MAX)
    assert setting.value == "a=b\ufffd"
    assert (setting.path, setting.line) == (str(tmp_path / "etc/sysctl.d/10-a.conf"), 1)


def test_a_glob_line_names_its_file_and_line(tmp_path: Path) -> None:
    host = tree(tmp_path, {"etc/sysctl.d/10-a.conf": "\n# x\nuser.max_*_namespaces = 5\n"})
    (setting,) = persisted(host).of(MAX)
    assert (setting.path, setting.line, setting.pattern) == (
        str(tmp_path / "etc/sysctl.d/10-a.conf"), 3, "user.max_*_namespaces"
    )  # fmt: skip


def test_unread_files_are_warnings_after_the_earlier_ones(tmp_path: Path) -> None:
    host = tree(tmp_path, {"etc/sysctl.d/20-ok.conf": f"{MAX} = 0\n"})
    os.mkfifo(tmp_path / "etc/sysctl.d/10-fifo.conf")
    warnings = ["earlier"]
    p = sysctlconf.read(host, (MAX,), warnings)
    assert warnings[0] == "earlier" and len(warnings) == 2
    assert warnings[1].startswith(f"boot-time sysctl file {tmp_path}/etc/sysctl.d/10-fifo.conf")
    # the files after an unreadable one are still read
    assert [s.value for s in p.of(MAX)] == ["0"]


def test_the_diff_tells_a_changed_boot_value_and_a_new_bypass_profile() -> None:
    from dataclasses import replace

    from nsaudit.analysis.diff import CapabilityChange, capability_changes
    from nsaudit.model import UsernsProfile

    def report(value: str | None, profiles: tuple[UsernsProfile, ...] | None) -> Any:
        base = kernel_report()
        files = None
        if value is not None:
            line = SysctlSetting(MAX, value, "/etc/sysctl.d/90.conf", 2)
            files = PersistedSysctls(("/etc/sysctl.d/90.conf",), (line,), ())
        return replace(base, value=replace(base.value, persisted=files, userns_profiles=profiles))

    busybox = UsernsProfile("busybox", "/usr/bin/busybox", "unconfined", "/etc/apparmor.d/b", 8)
    assert capability_changes(report("0", ()), report("28633", (busybox,))) == [
        CapabilityChange("apparmor.userns_profile.busybox", None, "unconfined"),
        CapabilityChange("sysctl.at_boot.user.max_user_namespaces", "0", "28633"),
    ]
    assert capability_changes(report("0", ()), report("0", ())) == []
    # A report of an nsaudit that did not read them: the upgrade is no change of the host.
    assert capability_changes(report(None, None), report("28633", (busybox,))) == []
