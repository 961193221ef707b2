"""`unprivileged` verdicts checked against the kernel's documentation and the distributions.

The expectations below are written from those sources, not from nsaudit's output:

- KDOC-USER: Documentation/admin-guide/sysctl/user.rst: max_<type>_namespaces is "the maximum
  number of <type> namespaces that any user in the current user namespace may create"; 0 lets
  no one, root included, create one.
- USERNS7: user_namespaces(7) / namespaces(7): every type but user needs CAP_SYS_ADMIN, which
  an unprivileged process only gets inside a user namespace it created (unprivileged user
  namespaces since Linux 3.8); a type or user namespaces not built in cannot be created at all.
- DEBIAN: Debian's patch "add sysctl to disallow unprivileged CLONE_NEWUSER by default"
  (debian/patches/debian/add-sysctl-to-disallow-unprivileged-CLONE_NEWUSER-by-default.patch,
  also in linux-hardened): kernel.unprivileged_userns_clone = 0 denies CLONE_NEWUSER without
  CAP_SYS_ADMIN; root still can. Debian 10's default is 0 (Debian 11 made it 1);
  linux-hardened's default is 0 unless CONFIG_USER_NS_UNPRIVILEGED=y.
- UBUNTU: Ubuntu 23.10+'s AppArmor patch: kernel.apparmor_restrict_unprivileged_userns = 1
  lets an unprivileged user create a user namespace but without capabilities, unless the
  program's AppArmor profile allows `userns`; it does nothing when AppArmor is not an active
  LSM (/sys/kernel/security/lsm).
- RHEL7: RHEL/CentOS 7 (3.10 with user namespaces backported in 7.4) ship
  user.max_user_namespaces = 0 (RHEL 7 release notes; STIG RHEL-08-040284 asks the same).
- UNKNOWN: with no /proc/sys to read (a mounted image, or only a kernel config), none of these
  switches is known, so whether an unprivileged user can create a user namespace is unknown
  (the README: `unknown`, "no evidence either way").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CONTAINER_ROOTS, KCONFIGS, ROOTS, STIG_ROOTS, by_type, run, run_json

TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")

# An expectation: (value, key words the reason must contain). A tuple of values where the
# sources allow more than one answer.
Want = tuple[str | tuple[str, ...], tuple[str, ...]]

# USERNS7: another type, inside a user namespace the user created.
YES: Want = ("yes", ("user namespace", "CAP_SYS_ADMIN"))
# USERNS7: a type that is not built in.
GONE: Want = ("no", ("missing",))


def via_userns_denied(*why: str) -> Want:
    """USERNS7: the type needs CAP_SYS_ADMIN and the user namespace that would give it is not
    to be had; the reason says why."""
    return ("no", ("CAP_SYS_ADMIN", *why))


UNKNOWN_OTHER: Want = ("unknown", ("unknown",))


def table(default: Want, user: Want, **others: Want) -> dict[str, Want]:
    return {t: (user if t == "user" else others.get(t, default)) for t in TYPES}


# name -> (per-type expectations, overall unprivileged_userns value, its key words)
Case = tuple[dict[str, Want], str | tuple[str, ...], tuple[str, ...]]

ROOT_CASES: dict[str, Case] = {
    # USERNS7: the Pixel 7 config has no CONFIG_USER_NS, no PID_NS, neither SYSVIPC nor
    # POSIX_MQUEUE: nothing can be created without privilege, whatever the sysctls.
    "android-image": (
        table(via_userns_denied("missing"), ("no", ("missing",)), ipc=GONE, pid=GONE),
        "denied",
        ("missing",),
    ),
    # RHEL7 + KDOC-USER: max_user_namespaces = 0; 3.10 has no cgroup (4.6) or time (5.6) ns.
    "centos7-userns-disabled": (
        table(via_userns_denied("disabled"), ("no", ("disabled",)), cgroup=GONE, time=GONE),
        "denied",
        ("disabled",),
    ),
    # DEBIAN: unprivileged_userns_clone = 0 (Debian 10's default); 4.19 has no time ns.
    "debian10-no-timens": (
        table(
            via_userns_denied("unprivileged_userns_clone = 0"),
            ("no", ("unprivileged_userns_clone = 0",)),
            time=GONE,
        ),
        "denied",
        ("unprivileged_userns_clone = 0",),
    ),
    # KDOC-USER + USERNS7: a plain kernel with every type, max_user_namespaces > 0 and neither
    # distribution switch: everything is open to an unprivileged user.
    "no-kconfig": (
        table(YES, ("yes", ("max_user_namespaces = 127574",))),
        "allowed",
        ("no restriction", "max_user_namespaces = 127574"),
    ),
    # UBUNTU: apparmor_restrict_unprivileged_userns = 1 with AppArmor active: the user
    # namespace comes without capabilities, so no other type can be made in it.
    "ubuntu2504-gzip-apparmor": (
        table(
            via_userns_denied("apparmor_restrict_unprivileged_userns = 1"),
            ("restricted", ("apparmor_restrict_unprivileged_userns = 1", "AppArmor")),
        ),
        "restricted",
        ("apparmor_restrict_unprivileged_userns = 1", "AppArmor"),
    ),
    # UBUNTU 24.04: the same restriction, with AppArmor's policy applied to unprivileged user
    # namespaces (unprivileged_userns_apparmor_policy = 1): its bypasses are profiles, which
    # detect lists (tests/test_apparmor.py), not a change of verdict.
    "ubuntu2404-apparmor-userns": (
        table(
            via_userns_denied("apparmor_restrict_unprivileged_userns = 1"),
            ("restricted", ("apparmor_restrict_unprivileged_userns = 1", "AppArmor")),
        ),
        "restricted",
        ("apparmor_restrict_unprivileged_userns = 1", "AppArmor"),
    ),
}


def config_only(missing: tuple[str, ...] = (), hardened: bool = False) -> Case:
    """UNKNOWN: a kernel config with user namespaces built in, and no /proc/sys to read.

    A type the config leaves out is `no` (USERNS7). linux-hardened's default (DEBIAN) denies,
    so there `denied` is as right as `unknown`; `yes`/`allowed` never is.
    """
    user: Want = (("unknown", "no") if hardened else "unknown", ())
    overall: str | tuple[str, ...] = ("unknown", "denied") if hardened else "unknown"
    other: Want = (("unknown", "no") if hardened else "unknown", ())
    return (table(other, user, **{t: GONE for t in missing}), overall, ())


KCONFIG_CASES: dict[str, Case] = {
    # Every one of these builds all eight types but time before 5.6 (USERNS7: time is 5.6).
    "Alma_Linux_10_x86_64.config": config_only(),
    "Arch_x86_64.config": config_only(),
    "CentOS_10_Stream_x86_64.config": config_only(),
    "Debian_10_Buster_x86_64.config": config_only(missing=("time",)),
    "Debian_13_Trixie_x86_64.config": config_only(),
    "Fedora_42_Updates_x86_64.config": config_only(),
    "OpenSUSE_x86_64.config": config_only(),
    "Ubuntu_20.04_LTS_Focal_x86_64.config": config_only(missing=("time",)),
    "Ubuntu_25.04_Plucky_x86_64.config": config_only(),
    # Same as the android-image root: no user namespaces at all, so the sysctls do not matter.
    "android_pixel-7.config": ROOT_CASES["android-image"],
    # linux-hardened without CONFIG_USER_NS_UNPRIVILEGED (DEBIAN).
    "nixpkgs-linux_hardened.config": config_only(hardened=True),
    "rhel-8.0.config": config_only(missing=("time",)),
}


def check(report: dict[str, Any], case: Case) -> None:
    types, overall, overall_words = case
    got = by_type(report)
    for name, (value, words) in types.items():
        verdict = got[name]["unprivileged"]
        allowed = value if isinstance(value, tuple) else (value,)
        assert verdict["value"] in allowed, (name, verdict)
        for word in words:
            assert word in verdict["reason"], (name, word, verdict)
    verdict = report["unprivileged_userns"]
    assert verdict["value"] in (overall if isinstance(overall, tuple) else (overall,)), verdict
    for word in overall_words:
        assert word in verdict["reason"], (word, verdict)


def test_every_sample_root_and_kconfig_has_an_expectation() -> None:
    trees = {p.name for p in ROOTS.iterdir() if p.is_dir()}
    assert trees == set(ROOT_CASES) | set(CONTAINER_ROOTS) | set(STIG_ROOTS)
    assert {p.name for p in KCONFIGS.iterdir()} == set(KCONFIG_CASES)


@pytest.mark.parametrize("root", sorted(ROOT_CASES))
def test_unprivileged_verdicts_of_each_sample_root(root: str) -> None:
    check(run_json("detect", "--root", ROOTS / root), ROOT_CASES[root])


@pytest.mark.parametrize(
    "config",
    sorted(KCONFIG_CASES),
)
def test_unprivileged_verdicts_of_each_kconfig_without_proc(config: str, tmp_path: Path) -> None:
    # An empty --root: only the config is evidence (the host's own /proc is not consulted).
    check(
        run_json("detect", "--root", tmp_path, "--kconfig", KCONFIGS / config),
        KCONFIG_CASES[config],
    )


APPARMOR = "kernel.apparmor_restrict_unprivileged_userns"
CLONE = "kernel.unprivileged_userns_clone"


def make_root(tmp: Path, sysctls: dict[str, str], lsm: str | None) -> Path:
    """A host tree with every type present and the given user-namespace sysctls."""
    (tmp / "proc/sys/kernel").mkdir(parents=True)
    (tmp / "proc/sys/user").mkdir(parents=True)
    (tmp / "proc/sys/kernel/osrelease").write_text("6.14.0-15-generic\n")
    ns = tmp / "proc/self/ns"
    ns.mkdir(parents=True)
    for i, t in enumerate(TYPES):
        (ns / t).symlink_to(f"{t}:[{4026531835 + i}]")
        (tmp / f"proc/sys/user/max_{t}_namespaces").write_text("1000\n")
    for name, value in sysctls.items():
        (tmp / "proc/sys" / name.replace(".", "/")).write_text(value + "\n")
    if lsm is not None:
        (tmp / "sys/kernel/security").mkdir(parents=True)
        (tmp / "sys/kernel/security/lsm").write_text(lsm + "\n")
    return tmp


def test_apparmor_switch_has_no_effect_when_apparmor_is_not_an_active_lsm(tmp_path: Path) -> None:
    # UBUNTU: the switch is AppArmor's; with SELinux as the LSM nothing enforces it.
    root = make_root(
        tmp_path,
        {APPARMOR: "1", CLONE: "1"},
        lsm="lockdown,capability,yama,selinux",
    )
    check(
        run_json("detect", "--root", root),
        (table(YES, ("yes", ())), "allowed", ("apparmor_restrict_unprivileged_userns",)),
    )


def test_apparmor_switch_zero_restricts_nothing(tmp_path: Path) -> None:
    # UBUNTU: 0 is the upstream behaviour.
    root = make_root(
        tmp_path,
        {APPARMOR: "0", CLONE: "1"},
        lsm="lockdown,capability,yama,apparmor",
    )
    check(run_json("detect", "--root", root), (table(YES, ("yes", ())), "allowed", ()))


def test_clone_switch_zero_outranks_apparmor(tmp_path: Path) -> None:
    # DEBIAN + UBUNTU: with unprivileged_userns_clone = 0 there is no user namespace for
    # AppArmor to strip of capabilities: denied, not restricted.
    root = make_root(
        tmp_path,
        {APPARMOR: "1", CLONE: "0"},
        lsm="lockdown,capability,yama,apparmor",
    )
    check(
        run_json("detect", "--root", root),
        (
            table(
                via_userns_denied("unprivileged_userns_clone = 0"),
                ("no", ("unprivileged_userns_clone = 0",)),
            ),
            "denied",
            ("unprivileged_userns_clone = 0",),
        ),
    )


def test_max_user_namespaces_zero_outranks_the_switches(tmp_path: Path) -> None:
    # KDOC-USER: 0 denies everyone; the switches that would allow it do not matter.
    root = make_root(
        tmp_path,
        {CLONE: "1", "user.max_user_namespaces": "0"},
        lsm=None,
    )
    report = run_json("detect", "--root", root)
    assert by_type(report)["user"]["status"] == "disabled"
    check(
        report,
        (table(via_userns_denied("disabled"), ("no", ("disabled",))), "denied", ("disabled",)),
    )


def test_max_net_namespaces_zero_denies_net_only(tmp_path: Path) -> None:
    # KDOC-USER: the limit of one type switches off that type, for everyone; the others stay
    # open through a user namespace (USERNS7).
    root = make_root(tmp_path, {"user.max_net_namespaces": "0"}, lsm=None)
    check(
        run_json("detect", "--root", root),
        (table(YES, ("yes", ()), net=("no", ("disabled",))), "allowed", ()),
    )


def test_an_unreadable_clone_switch_makes_the_verdict_unknown(tmp_path: Path) -> None:
    # DEBIAN: the switch decides; a path that holds a directory instead cannot be read, so
    # nothing says whether unprivileged users are denied.
    root = make_root(tmp_path, {}, lsm="lockdown,capability,yama")
    (root / "proc/sys/kernel/unprivileged_userns_clone").mkdir()
    check(
        run_json("detect", "--root", root),
        (table(UNKNOWN_OTHER, ("unknown", ())), "unknown", ()),
    )


def test_a_sysctl_rule_never_takes_an_unreadable_switch_for_an_absent_one(tmp_path: Path) -> None:
    # The same mistake in policies: `if_absent = "pass"` must not pass a switch that exists but
    # could not be read; the rule is `error`, with the reason.
    root = make_root(tmp_path / "root", {}, lsm="lockdown,capability,yama")
    (root / "proc/sys/kernel/unprivileged_userns_clone").mkdir()
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[policy]\nname = "p"\n\n[[rule]]\nid = "CLONE"\ntitle = "t"\nseverity = "low"\n'
        'check = { kind = "sysctl", name = "kernel.unprivileged_userns_clone", equals = 0, '
        'if_absent = "pass" }\n'
    )
    proc = run("check", "--policy", policy, "--root", root, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["outcome"] == "error", result
    assert "unknown" in result["summary"] and "cannot be read" in result["summary"], result
