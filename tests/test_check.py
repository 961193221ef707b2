"""`nsaudit check`: each kind of rule, pass and fail, on real namespaces and fixture trees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOTS, SAMPLES, needs_root, run
from factories import policy_file, rule_toml, stig_running_only
from nsmakers import in_new_namespaces, netns, runs, wait_for

STIG = SAMPLES / "policies" / "stig-user-namespaces.toml"
# Root cannot read every process on every host (a sandbox's supervisor in another security
# domain): a rule a test expects to pass judges what the scan could see.
ACCEPT_PARTIAL = 'partial = "accept"\n'


def policy(tmp_path: Path, *rules: str, name: str = "test") -> Path:
    return policy_file(tmp_path / f"{name}.toml", *rules, name=name)


def utc_today() -> date:
    """The date nsaudit judges waivers by: UTC's, whatever this host's time zone."""
    return datetime.now(UTC).date()


def waiver_for_all_hosts() -> str:
    """A [[rule.waiver]] table for every host, in force for two more days."""
    expires = (utc_today() + timedelta(days=2)).isoformat()
    return f'[[rule.waiver]]\nhosts = "*"\nreason = "containers"\nexpires = {expires}\n'


def check(*args: str | Path) -> tuple[int, dict[str, Any]]:
    proc = run("check", *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def outcome(report: dict[str, Any], rule_id: str) -> dict[str, Any]:
    (found,) = [r for r in report["results"] if r["id"] == rule_id]
    return found


def flagged(report: dict[str, Any], rule_id: str) -> set[str]:
    """The namespaces (as net:[4026532001]) that a rule's evidence names."""
    return {e["namespace"] for e in outcome(report, rule_id)["evidence"] if e.get("namespace")}


def ns_name(pid: int, ns_type: str) -> str:
    """A process's namespace as its evidence names it: net:[4026532001]."""
    return os.readlink(f"/proc/{pid}/ns/{ns_type}")


def named_sleeper(tmp_path: Path, name: str) -> str:
    """A copy of sleep(1) whose process name (comm) is `name`."""
    path = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", path)
    return str(path)


def test_capability_and_sysctl_rules_on_this_host(tmp_path: Path) -> None:
    path = policy(
        tmp_path,
        rule_toml("TIME", '{ kind = "capability", type = "time", status = "available" }'),
        rule_toml(
            "USER-OFF", '{ kind = "capability", type = "user", status = ["disabled", "missing"] }'
        ),
        rule_toml("MAX0", '{ kind = "sysctl", name = "user.max_user_namespaces", equals = 0 }'),
        rule_toml("MAXOK", '{ kind = "sysctl", name = "user.max_user_namespaces", at_least = 1 }'),
        rule_toml("NETMAX", '{ kind = "sysctl", name = "user.max_net_namespaces", at_least = 1 }'),
    )
    code, report = check("--policy", path, "--db", tmp_path / "ns.db")
    assert code == 1
    assert outcome(report, "TIME")["outcome"] == "pass"
    assert outcome(report, "USER-OFF")["outcome"] == "fail"
    assert "user namespaces: available" in outcome(report, "USER-OFF")["evidence"][0]["text"]
    limit = Path("/proc/sys/user/max_user_namespaces").read_text().strip()
    max0 = outcome(report, "MAX0")
    assert max0["outcome"] == "fail"
    assert max0["evidence"] == [
        {
            "sysctl": "user.max_user_namespaces",
            "value": limit,
            "text": f"user.max_user_namespaces = {limit} (want 0)",
        }
    ]
    assert outcome(report, "MAXOK")["outcome"] == "pass"
    assert outcome(report, "NETMAX")["outcome"] == "pass"
    assert report["summary"] == {
        "pass": 3,
        "fail": 2,
        "waived": 0,
        "error": 0,
        "skip": 0,
        "informational": 0,
    }


def test_capability_and_sysctl_rules_on_fixture_kernels(tmp_path: Path) -> None:
    """Capabilities this host lacks: a kernel without time namespaces, a switched-off
    unprivileged_userns_clone, and user namespaces disabled by max_user_namespaces = 0."""
    path = policy(
        tmp_path,
        rule_toml("TIME", '{ kind = "capability", type = "time", status = "available" }'),
        rule_toml(
            "CLONE0",
            '{ kind = "sysctl", name = "kernel.unprivileged_userns_clone", equals = 0 }',
        ),
        rule_toml("NETS", '{ kind = "count", type = "net", at_most = 0 }'),
    )
    code, report = check("--policy", path, "--root", ROOTS / "debian10-no-timens")
    assert code == 1
    assert outcome(report, "TIME")["outcome"] == "fail"
    assert "time namespaces: missing" in outcome(report, "TIME")["evidence"][0]["text"]
    assert outcome(report, "CLONE0")["outcome"] == "pass"
    # A fixture tree runs nothing: rules about live namespaces do not apply there.
    assert outcome(report, "NETS")["outcome"] == "skip"
    assert report["snapshot"]["id"] is None

    code, report = check("--policy", path, "--root", ROOTS / "centos7-userns-disabled")
    clone = outcome(report, "CLONE0")
    assert clone["outcome"] == "fail"  # CentOS 7 has no such switch; if_absent defaults to fail
    assert "not on this kernel" in clone["summary"]
    absent_ok = policy(
        tmp_path,
        rule_toml(
            "CLONE0",
            '{ kind = "sysctl", name = "kernel.unprivileged_userns_clone", equals = 0, '
            'if_absent = "pass" }',
        ),
        name="absent",
    )
    code, report = check("--policy", absent_ok, "--root", ROOTS / "centos7-userns-disabled")
    assert code == 0 and outcome(report, "CLONE0")["outcome"] == "pass"


def test_shipped_stig_policy_fails_here_and_passes_on_the_disabled_sample(tmp_path: Path) -> None:
    code, report = check(
        "--policy", stig_running_only(tmp_path / "stig-here.toml"), "--db", tmp_path / "ns.db"
    )
    assert code == 1
    assert outcome(report, "RHEL-08-040284")["outcome"] == "fail"
    assert outcome(report, "NSAUDIT-USERNS-STATUS")["outcome"] == "fail"
    code, report = check(
        "--policy", STIG, "--root", ROOTS / "stig-userns-persisted", "--db", tmp_path / "r.db"
    )
    assert code == 0, report
    for item in ("RHEL-08-040284", "RHEL-09-213105", "ALMA-09-023010", "NSAUDIT-USERNS-STATUS"):
        assert outcome(report, item)["outcome"] == "pass", item
    assert outcome(report, "RHEL-08-040284")["evidence"][0]["value"] == "0"


def _stig_with_waiver(tmp_path: Path, expires: date, name: str) -> Path:
    text = stig_running_only(tmp_path / "stig-here.toml").read_text()
    waiver = (
        "[[rule.waiver]]\n"
        'hosts = ["waiver-test-*"]\n'
        'reason = "rootless builds required and documented"\n'
        f"expires = {expires.isoformat()}\n"
        'approved_by = "ISSO"\n'
    )
    marker = 'check = { kind = "sysctl", name = "user.max_user_namespaces", equals = 0 }\n'
    assert marker in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(marker, marker + waiver, 1))
    return path


def test_waiver_turns_the_failure_into_waived_and_an_expired_one_does_not(tmp_path: Path) -> None:
    config = tmp_path / "nsaudit.toml"
    config.write_text('hostname = "waiver-test-7"\n')
    db = tmp_path / "ns.db"
    future = _stig_with_waiver(tmp_path, utc_today() + timedelta(days=30), "future")
    code, report = check("--policy", future, "--db", db, "--config", config, "--record")
    result = outcome(report, "RHEL-08-040284")
    assert result["outcome"] == "waived"
    assert result["waiver"]["expired"] is False and result["waiver"]["approved_by"] == "ISSO"
    assert outcome(report, "RHEL-09-213105")["outcome"] == "fail"  # only one rule was waived

    past = _stig_with_waiver(tmp_path, utc_today() - timedelta(days=2), "past")
    code, report = check("--policy", past, "--db", db, "--config", config, "--no-snapshot")
    result = outcome(report, "RHEL-08-040284")
    assert code == 1 and result["outcome"] == "fail"
    assert result["waiver"]["expired"] is True
    text = run("check", "--policy", past, "--db", db, "--config", config, "--no-snapshot").stdout
    assert "expired on" in text and "no longer applies" in text

    # A waiver for other hosts does not apply here.
    other = tmp_path / "other.toml"
    other.write_text('hostname = "db-1"\n')
    code, report = check("--policy", future, "--db", db, "--config", other)
    assert outcome(report, "RHEL-08-040284")["outcome"] == "fail"
    assert outcome(report, "RHEL-08-040284")["waiver"] is None


def test_a_rule_that_does_not_apply_is_not_waived(tmp_path: Path) -> None:
    path = policy(
        tmp_path,
        rule_toml(
            "NETS",
            '{ kind = "count", type = "net", at_most = 0 }',
            waiver_for_all_hosts(),
        ),
    )
    code, report = check("--policy", path, "--root", ROOTS / "android-image")
    assert code == 0
    assert (
        outcome(report, "NETS")["outcome"] == "skip" and outcome(report, "NETS")["waiver"] is None
    )
    junit = run("check", "--policy", path, "--root", ROOTS / "android-image", "--format", "junit")
    assert 'skipped="1"' in junit.stdout and "<skipped" in junit.stdout


def test_waived_rules_alone_exit_0(tmp_path: Path) -> None:
    path = policy(
        tmp_path,
        rule_toml(
            "MAX0",
            '{ kind = "sysctl", name = "user.max_user_namespaces", equals = 0 }',
            waiver_for_all_hosts(),
        ),
    )
    code, report = check("--policy", path, "--db", tmp_path / "ns.db")
    assert code == 0 and report["summary"]["waived"] == 1
    proc = run("check", "--policy", path, "--db", tmp_path / "ns.db", "--quiet")
    assert proc.returncode == 0 and proc.stdout == ""


@needs_root
def test_count_rule_on_real_namespaces(tmp_path: Path) -> None:
    sleeper = named_sleeper(tmp_path, "nsaudit-count")
    path = policy(
        tmp_path,
        rule_toml("FEW", '{ kind = "count", type = "net", at_most = 1 }'),
        rule_toml("MANY", '{ kind = "count", type = "net", at_most = 100000 }', ACCEPT_PARTIAL),
    )
    with in_new_namespaces("--net", argv=[sleeper, "300"]) as pid:
        code, report = check("--policy", path, "--db", tmp_path / "ns.db")
    assert code == 1
    few = outcome(report, "FEW")
    assert few["outcome"] == "fail"
    (mine,) = [e for e in few["evidence"] if e.get("pid") == pid]
    assert mine["command"] == "nsaudit-count" and mine["namespace"].startswith("net:[")
    assert outcome(report, "MANY")["outcome"] == "pass"


@needs_root
def test_holders_by_executable_which_a_name_or_a_mount_cannot_fake(tmp_path: Path) -> None:
    """A process names itself (its comm); its executable is the kernel's. `exes` allows the
    program itself: neither another file under the same name, nor that file bound over the
    allowed path in a mount namespace of the process's own, nor one on a mount detached since
    (`umount -l`: the kernel then names the file from that mount's root, as the allowed path
    itself) passes."""
    real = os.path.realpath(named_sleeper(tmp_path, "nsaudit-exe"))
    (tmp_path / "other").mkdir()
    fake = named_sleeper(tmp_path / "other", "nsaudit-exe")
    rule = f'{{ kind = "holders", types = ["net"], exes = ["{real}"] }}'
    exes = policy(tmp_path, rule_toml("EXE", rule, ACCEPT_PARTIAL), name="exes")
    bind_over = f"mount --bind {fake} {real} && exec {real} 300"
    detached = tmp_path / "detached"
    detached.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", detached], check=True)
    try:
        # On the mount, the file's path from the mount's root is the allowed path.
        (detached / real.lstrip("/")).parent.mkdir(parents=True)
        shutil.copy(fake, detached / real.lstrip("/"))
        with (
            in_new_namespaces("--net", argv=[real, "300"]) as good,
            in_new_namespaces("--net", argv=[fake, "300"]) as same_name,
            in_new_namespaces("--net", "--mount", argv=["sh", "-c", bind_over]) as bound,
            in_new_namespaces("--net", argv=[str(detached / real.lstrip("/")), "300"]) as lazy,
        ):
            subprocess.run(["umount", "-l", detached], check=True)
            assert os.readlink(f"/proc/{lazy}/exe") == real  # what the kernel says of it
            wait_for(lambda: runs(bound, fake))
            mounts = {pid: os.readlink(f"/proc/{pid}/ns/mnt") for pid in (bound, lazy)}
            nets = {pid: ns_name(pid, "net") for pid in (good, same_name, bound, lazy)}
            db = tmp_path / "ns.db"
            code, report = check("--policy", exes, "--db", db, "--record")
            shown = json.loads(run("show", "--db", db, "--type", "net", "--format", "json").stdout)
    finally:
        subprocess.run(["umount", "-l", detached], check=False, capture_output=True)
    exe = {n["pid"]: n["exe"] for n in shown["namespaces"]}
    assert exe[good] == real and exe[same_name] == fake
    assert exe[bound] == f"{mounts[bound]}{real}"  # mnt:[4026532999]/tmp/.../nsaudit-exe
    assert exe[lazy] == f"{mounts[lazy]}{real}"  # this mount namespace's, but not its file
    assert code == 1
    bad = flagged(report, "EXE")
    assert nets[good] not in bad
    assert {nets[same_name], nets[bound], nets[lazy]} <= bad
    texts = [e["text"] for e in outcome(report, "EXE")["evidence"]]
    assert any(f"(pid {bound}, " in t and f"executable {exe[bound]})" in t for t in texts), texts


@needs_root
def test_holders_rule_by_command_user_and_bind_mount_path(tmp_path: Path) -> None:
    sleeper = named_sleeper(tmp_path, "nsaudit-holder")
    strict = policy(
        tmp_path,
        rule_toml("NET", '{ kind = "holders", types = ["net"], commands = ["systemd*"] }'),
        name="strict",
    )
    allowed = policy(
        tmp_path,
        rule_toml(
            "NET",
            '{ kind = "holders", types = ["net"], commands = ["nsaudit-holder"], '
            'paths = ["/run/netns/*"] }',
            ACCEPT_PARTIAL,
        ),
        rule_toml(
            "USERS",
            '{ kind = "holders", types = ["net"], users = ["root"], paths = ["/run/netns/*"] }',
            ACCEPT_PARTIAL,
        ),
        name="allowed",
    )
    wrong_path = policy(
        tmp_path,
        rule_toml("NET", '{ kind = "holders", types = ["net"], paths = ["/var/run/other/*"] }'),
        name="wrongpath",
    )
    db = tmp_path / "ns.db"
    with netns() as name, in_new_namespaces("--net", argv=[sleeper, "300"]) as pid:
        code, report = check("--policy", strict, "--db", db, "--record")
        assert code == 1
        texts = [e["text"] for e in outcome(report, "NET")["evidence"]]
        assert any(f"nsaudit-holder (pid {pid}, user root, parent " in t for t in texts), texts
        assert any(f"bind-mounted at /run/netns/{name}" in t or name in t for t in texts), texts

        ours = {ns_name(pid, "net"), f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"}
        assert ours <= flagged(report, "NET"), flagged(report, "NET")

        # The host may run other namespaces (containers, sandboxes): the allowlists must pass
        # ours, whatever they say of the rest.
        code, report = check("--policy", allowed, "--db", db, "--no-snapshot")
        assert not ours & flagged(report, "NET"), report
        assert not ours & flagged(report, "USERS"), report

        code, report = check("--policy", wrong_path, "--db", db, "--no-snapshot")
        texts = [e["text"] for e in outcome(report, "NET")["evidence"]]
        assert any(f"bind-mounted at /run/netns/{name}, not an allowed path" in t for t in texts)


def _unprivileged_userns(sleeper: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "--user",
            "--net",
            sleeper,
            "300",
        ]  # fmt: skip
    )


@needs_root
def test_unprivileged_owner_rule(tmp_path: Path) -> None:
    from nsmakers import in_new, kill_tree, runs, wait_for

    public = Path(tempfile.mkdtemp(prefix="nsaudit-test-"))  # pytest's tmp is root's only
    public.chmod(0o755)
    sleeper = named_sleeper(public, "nsaudit-unpriv")
    strict = policy(
        tmp_path,
        rule_toml("UNPRIV", '{ kind = "unprivileged_owner" }', ACCEPT_PARTIAL),
        name="strict",
    )
    excepted = policy(
        tmp_path,
        rule_toml(
            "UNPRIV",
            '{ kind = "unprivileged_owner", commands = ["nsaudit-unpriv"] }',
            ACCEPT_PARTIAL,
        ),
        name="excepted",
    )
    db = tmp_path / "ns.db"

    def about(report: dict[str, Any], pid: int) -> list[str]:
        # A busy host may hold other users' namespaces (rootless containers): only ours count.
        return [e["text"] for e in outcome(report, "UNPRIV")["evidence"] if e.get("pid") == pid]

    with in_new_namespaces("--user", "--net", argv=[sleeper, "300"]) as pid:
        code, report = check("--policy", strict, "--db", db)
        assert about(report, pid) == [], "a user namespace root made owns nothing unprivileged"
    proc = _unprivileged_userns(sleeper)
    try:
        wait_for(lambda: runs(proc.pid, sleeper) and in_new(proc.pid, ("user", "net")))
        code, report = check("--policy", strict, "--db", db, "--record")
        assert code == 1
        texts = about(report, proc.pid)
        assert len(texts) == 2, texts
        assert any("is a user namespace created by uid 65534" in t for t in texts), texts
        assert any("is owned by user namespace user:[" in t and "uid 65534" in t for t in texts)
        code, report = check("--policy", excepted, "--db", db, "--no-snapshot")
        assert about(report, proc.pid) == [], report
    finally:
        kill_tree(proc)
        shutil.rmtree(public)


@needs_root
def test_created_rule_covers_the_time_since_the_last_check(tmp_path: Path) -> None:
    sleeper = named_sleeper(tmp_path, "nsaudit-new")
    path = policy(
        tmp_path,
        rule_toml("NEW", '{ kind = "created", commands = ["systemd*", "sleep"] }', ACCEPT_PARTIAL),
    )
    db = tmp_path / "ns.db"
    check("--policy", path, "--db", db, "--record")  # the first check: where the period starts
    code, report = check("--policy", path, "--db", db, "--record")
    # Others may start namespaces meanwhile on a busy host; none of ours exists yet.
    assert not any("nsaudit-new" in e["text"] for e in outcome(report, "NEW")["evidence"])
    assert "the snapshots since the last check" in report["period"]

    # A namespace made and gone between two checks is still caught: a snapshot saw it.
    with in_new_namespaces("--uts", "--ipc", argv=[sleeper, "300"]) as pid:
        assert run("snapshot", "--db", db).returncode == 0
    assert not os.path.exists(f"/proc/{pid}"), "the namespaces' only process is gone"
    code, report = check("--policy", path, "--db", db, "--record")
    assert code == 1
    new = outcome(report, "NEW")
    assert new["outcome"] == "fail"
    assert {e["namespace"].split(":")[0] for e in new["evidence"] if e.get("pid") == pid} == {
        "uts",
        "ipc",
    }
    assert all("nsaudit-new" in e["text"] for e in new["evidence"] if e.get("pid") == pid)

    # The next check starts where that one ended.
    code, report = check("--policy", path, "--db", db, "--record")
    assert not any(e.get("pid") == pid for e in outcome(report, "NEW")["evidence"])


@needs_root
def test_audit_with_a_policy_records_the_check_and_exits_1_on_failure(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    path = policy(
        tmp_path,
        rule_toml("MAX0", '{ kind = "sysctl", name = "user.max_user_namespaces", equals = 0 }'),
    )
    proc = run("audit", "--db", db, "--policy", path, "--quiet")
    assert proc.returncode == 1
    assert "MAX0" in proc.stdout and "fail" in proc.stdout
    data = json.loads(run("audit", "--db", db, "--policy", path, "--format", "json").stdout)
    assert data["check"]["schema"] == "nsaudit.check/1"
    assert data["check"]["results"][0]["outcome"] == "fail"
    passing = policy(
        tmp_path,
        rule_toml("ANY", '{ kind = "sysctl", name = "user.max_user_namespaces", at_least = 0 }'),
        name="passing",
    )
    run("audit", "--db", db)
    proc = run("audit", "--db", db, "--policy", passing, "--quiet", "--format", "json")
    # A passing policy adds nothing to the exit status: only a change on a busy host may.
    if proc.returncode == 0:
        assert proc.stdout == ""
    else:
        data = json.loads(proc.stdout)
        assert data["differs"] and data["check"]["results"][0]["outcome"] == "pass"


def test_check_of_a_host_with_no_snapshots(tmp_path: Path) -> None:
    from conftest import assert_clean_error

    path = policy(tmp_path, rule_toml("ANY", '{ kind = "count", type = "net", at_most = 5 }'))
    run("check", "--policy", path, "--db", tmp_path / "ns.db", "--root", ROOTS / "no-kconfig")
    # A check of a stored snapshot never creates the database: this one exists, empty.
    run("db", "upgrade", "--db", tmp_path / "ns.db")
    proc = run("check", "--policy", path, "--db", tmp_path / "ns.db", "--host", "nowhere")
    assert_clean_error(proc, 2, "nowhere")


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "junit"])
def test_check_formats(tmp_path: Path, fmt: str) -> None:
    """Each format says that RHEL-08-040284 fails, and why: this host's own limit.
    (tests/test_format_content.py parses every format of every command in full.)"""
    import csv
    import io
    from xml.etree import ElementTree as ET

    limit = Path("/proc/sys/user/max_user_namespaces").read_text().strip()
    why = f"user.max_user_namespaces = {limit} (want 0)"
    # The running value alone, without identifiers: one line of evidence, four columns.
    policy = stig_running_only(tmp_path / "running.toml", identifiers=False)
    proc = run("check", "--policy", policy, "--db", tmp_path / "ns.db", "--format", fmt, "--wide")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    if fmt == "csv":
        (row,) = [r for r in csv.DictReader(io.StringIO(out)) if r["rule"] == "RHEL-08-040284"]
        said = (row["result"], row["summary"], row["evidence"])
    elif fmt == "junit":
        cases = ET.fromstring(out).iter("testcase")
        (case,) = [c for c in cases if c.get("name", "").split(":")[0] == "RHEL-08-040284"]
        failure = case.find("failure")
        assert failure is not None, ET.tostring(case)
        said = ("fail", failure.get("message"), failure.text)
    else:
        cut = (
            (lambda line: line.split())
            if fmt == "table"
            else (lambda line: [c.strip() for c in line.strip("|").split(" | ")])
        )
        rows = [cut(line) for line in out.splitlines() if "RHEL-08-040284" in line]
        result, evidence = rows  # its row in the results, and its evidence
        assert result[:3] == ["RHEL-08-040284", "medium", "fail"], result
        summary = " ".join(result[3:]) if fmt == "table" else result[3]
        said = ("fail", summary, " ".join(evidence[1:]) if fmt == "table" else evidence[1])
    assert said == ("fail", why, why)


@needs_root
def test_parents_allow_a_containers_namespaces_by_its_runtime_shim(tmp_path: Path) -> None:
    from nsmakers import children, in_new, kill_tree, runs, wait_for

    # Like containerd's shim: it starts the container's first process in new namespaces.
    shim = tmp_path / "containerd-shim-runc-v2"
    shim.write_text("#!/bin/sh\nunshare --net --uts sleep 300 &\nwait\n")
    shim.chmod(0o755)
    by_parent = policy(
        tmp_path,
        rule_toml(
            "CT",
            '{ kind = "holders", types = ["net", "uts"], parents = ["containerd-shim*"] }',
            ACCEPT_PARTIAL,
        ),
        name="parents",
    )
    by_command = policy(
        tmp_path,
        rule_toml(
            "CT", '{ kind = "holders", types = ["net", "uts"], commands = ["containerd-shim*"] }'
        ),
        name="commands",
    )
    proc = subprocess.Popen([str(shim)])
    try:
        # The shim's child has run unshare(1) when it runs sleep in new namespaces.
        def started() -> list[int]:
            return [c for c in children(proc.pid) if runs(c, "sleep") and in_new(c, ("net", "uts"))]

        wait_for(started)
        db = tmp_path / "ns.db"
        (sleeper,) = started()
        ours = {ns_name(sleeper, "net"), ns_name(sleeper, "uts")}
        code, report = check("--policy", by_parent, "--db", db, "--record")
        # Other containers on a busy host may fail the rule; the shim's never do.
        assert not ours & flagged(report, "CT"), report
        code, report = check("--policy", by_command, "--db", db, "--no-snapshot")
        assert code == 1
        assert ours <= flagged(report, "CT")
        texts = [e["text"] for e in outcome(report, "CT")["evidence"]]
        shim = "parent containerd-shim, executable "
        assert any("sleep (pid" in t and shim in t for t in texts), texts
        shown = json.loads(run("show", "--db", db, "--type", "uts", "--format", "json").stdout)
        assert "containerd-shim" in {n["parent_command"] for n in shown["namespaces"]}
    finally:
        kill_tree(proc)
