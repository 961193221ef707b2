"""The kernel_exposure check kind: known privilege escalations through user namespaces, the
running release matched against their upstream ranges (samples/policies/data/), reported as a
question for the assessor, never as a verdict on a distribution's kernel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import ROOTS, SAMPLES, assert_clean_error, run
from factories import policy_file, rule_toml

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
