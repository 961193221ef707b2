"""Ubuntu's AppArmor restriction of unprivileged user namespaces, in full: its four switches,
and the profiles that grant `userns,` (the way around it), on an Ubuntu 24.04-like tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import ROOTS, SAMPLES, run, run_json

from nsaudit.hostfs import HostFS
from nsaudit.kernel.apparmor import userns_profiles

UBUNTU = ROOTS / "ubuntu2404-apparmor-userns"
PROFILES = UBUNTU / "etc/apparmor.d"


def test_detect_shows_the_four_switches_and_the_profiles_that_grant_userns() -> None:
    report = run_json("detect", "--root", UBUNTU)
    values = {r["name"]: r["value"] for r in report["restrictions"]}
    assert values["kernel.apparmor_restrict_unprivileged_userns"] == "1"
    assert values["kernel.apparmor_restrict_unprivileged_unconfined"] == "1"
    assert values["kernel.apparmor_restrict_unprivileged_userns_complain"] == "0"
    assert values["kernel.unprivileged_userns_apparmor_policy"] == "1"
    assert report["unprivileged_userns"]["value"] == "restricted"
    assert [(p["name"], p["mode"], p["attachment"], p["path"], p["line"])
            for p in report["userns_profiles"]] == [
        ("busybox", "unconfined", "/usr/bin/busybox", str(PROFILES / "busybox"), 8),
        ("chrome", "unconfined", "/opt/google/chrome/{chrome,chrome-sandbox}",
         str(PROFILES / "chrome"), 8),
        ("tcpdump", "enforce", "/usr/bin/tcpdump", str(PROFILES / "local/usr.sbin.tcpdump"), 3),
    ]  # fmt: skip


def test_the_table_lists_each_bypass_with_where_it_is_granted() -> None:
    proc = run("detect", "--root", UBUNTU, "--wide")
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("AppArmor profiles that grant userns (ways around the restriction)")
    assert len(table) == 2
    assert "busybox  unconfined  /usr/bin/busybox" in table[1]
    assert f"{PROFILES}/busybox:8" in table[1]


def test_a_rule_names_every_profile_outside_its_allowlist_as_a_bypass() -> None:
    policy = SAMPLES / "policies/hardened-workstation.toml"
    proc = run("check", "--root", UBUNTU, "--policy", policy, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    result = {r["id"]: r for r in json.loads(proc.stdout)["results"]}["WS-08"]
    assert result["outcome"] == "fail"
    assert result["summary"].endswith("for whoever can run their programs: busybox, tcpdump")
    assert [e["text"] for e in result["evidence"]] == [
        f"profile busybox (unconfined, attached to /usr/bin/busybox) grants userns at "
        f"{PROFILES}/busybox:8",
        f"profile tcpdump (enforce, attached to /usr/bin/tcpdump) grants userns at "
        f"{PROFILES}/local/usr.sbin.tcpdump:3",
    ]


def write(root: Path, files: dict[str, str]) -> HostFS:
    for path, text in files.items():
        target = root / "etc/apparmor.d" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return HostFS(root)


def test_child_profiles_hats_and_forced_complain(tmp_path: Path) -> None:
    host = write(
        tmp_path,
        {
            "outer": (
                "/usr/bin/outer {\n  ^hat {\n    userns,\n  }\n"
                "  profile inner /usr/bin/inner {\n    userns,\n  }\n}\n"
            ),
            "plain": "profile plain /usr/bin/plain {\n  audit allow userns,\n}\n",
            "force-complain/plain": "",
            "denied": "profile denied {\n  deny userns,\n}\n",
        },
    )
    found = userns_profiles(host, [])
    assert found is not None
    # a hat's rule is its profile's (nsaudit reads no hat of its own); a child grants itself;
    # each profile is listed where it ends, so a child before its parent
    assert [(p.name, p.mode, p.line) for p in found] == [
        ("inner", "enforce", 6),
        ("/usr/bin/outer", "enforce", 3),
        ("plain", "complain", 2),
    ]


def test_no_apparmor_folder_is_no_profile_and_an_unreadable_one_is_unknown(tmp_path: Path) -> None:
    assert userns_profiles(HostFS(tmp_path), []) == ()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/apparmor.d").write_text("not a folder")
    assert userns_profiles(HostFS(tmp_path), []) == ()


def test_what_is_skipped_and_what_is_still_read(tmp_path: Path) -> None:
    host = write(
        tmp_path,
        {
            ".hidden": "profile hidden /x {\n  userns,\n}\n",
            "apache2.d/site": "profile site /y {\n  userns,\n}\n",  # a folder, not a profile
            "b-latin": (
                "profile latin /z flags=(complain,attach_disconnected) {\n  userns, # a\xe9\n}\n"
            ),
            "c-var": "@{HOME}/bin/tool {\n  userns, # one # two\n}\n",
            "d-kill": (
                "profile k /k flags=(kill) {\n  userns,\n  include if exists <local/none>\n}\n"
            ),
            "e-vars": "profile v /v {\n  @{PROC}/{a,b}/ r,\n  userns,\n}\n",
        },
    )
    warnings = ["earlier"]
    found = userns_profiles(host, warnings)
    assert found is not None
    assert [(p.name, p.attachment, p.mode, p.line) for p in found] == [
        ("latin", "/z", "complain", 2),
        ("@{HOME}/bin/tool", "@{HOME}/bin/tool", "enforce", 2),
        ("k", "/k", "kill", 2),
        ("v", "/v", "enforce", 3),  # braces of variables and alternations open no block
    ]
    assert warnings == ["earlier"]  # a missing local/ include is no warning


def test_an_unreadable_profile_is_a_warning_and_the_others_are_read(tmp_path: Path) -> None:
    host = write(tmp_path, {"b-ok": "profile ok /ok {\n  userns,\n}\n"})
    os.mkfifo(tmp_path / "etc/apparmor.d/a-fifo")
    warnings: list[str] = []
    found = userns_profiles(host, warnings)
    assert [p.name for p in found or ()] == ["ok"]
    assert warnings == []  # a FIFO is no regular file: not a profile at all
    (tmp_path / "etc/apparmor.d/a-big").write_bytes(b"x" * (1024 * 1024 + 1))
    found = userns_profiles(host, warnings)
    assert [p.name for p in found or ()] == ["ok"]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"AppArmor profile {tmp_path}/etc/apparmor.d/a-big cannot be read"
    )
