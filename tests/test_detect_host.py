"""`nsaudit detect` against the real host, checked against /proc read independently."""

from __future__ import annotations

import gzip
import os
import pwd
import re
import subprocess
from pathlib import Path

from conftest import by_type, lsns, needs_root, run, run_json
from nsmakers import UNSHARE_FLAG

TYPES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]


def test_present_agrees_with_proc_self_ns() -> None:
    report = run_json("detect")
    listed = set(os.listdir("/proc/self/ns"))
    assert [t["type"] for t in report["types"]] == TYPES
    for name, t in by_type(report).items():
        assert t["present"] == (name in listed), name
        if name in ("pid", "time"):
            assert t["for_children"] == (f"{name}_for_children" in listed)
        else:
            assert t["for_children"] is None


def test_limits_agree_with_proc_sys_user() -> None:
    report = by_type(run_json("detect"))
    for name in TYPES:
        path = Path(f"/proc/sys/user/max_{name}_namespaces")
        expected = int(path.read_text()) if path.exists() else None
        assert report[name]["limit"] == expected, name


def test_status_follows_the_evidence_on_this_host() -> None:
    report = by_type(run_json("detect"))
    for name in TYPES:
        limit = Path(f"/proc/sys/user/max_{name}_namespaces")
        switched_off = limit.exists() and limit.read_text().strip() == "0"
        present = os.path.lexists(f"/proc/self/ns/{name}")
        expected = "missing" if not present else ("disabled" if switched_off else "available")
        assert report[name]["status"] == expected, (name, report[name]["reason"])
        assert report[name]["reason"], name


def host_kernel_config() -> tuple[str, bytes, bool] | None:
    """The running kernel's config, found here independently of nsaudit, in the order the README
    gives: (path, text, gzip-compressed), or None when the host has none."""
    release = os.uname().release
    for path in (
        "/proc/config.gz",
        f"/boot/config-{release}",
        f"/lib/modules/{release}/config",
        f"/lib/modules/{release}/build/.config",
        f"/usr/src/linux-{release}/.config",
        "/usr/src/linux/.config",
    ):
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        compressed = data[:2] == b"\x1f\x8b"
        return path, gzip.decompress(data) if compressed else data, compressed
    return None


def test_config_values_agree_with_the_hosts_own_config() -> None:
    # Whichever file holds this kernel's config (none is an answer too): never a skip.
    found = host_kernel_config()
    report = run_json("detect")
    if found is None:
        assert report["kconfig"] is None
        return
    path, raw, compressed = found
    text = raw.decode("utf-8", "replace")
    assert report["kconfig"]["path"] == path
    assert report["kconfig"]["compressed"] is compressed
    for t in report["types"]:
        for opt in t["config"]:
            m = re.search(rf"^{opt['option']}=(.*)$", text, re.M)
            if m:
                expected = m[1]
            elif re.search(rf"^# {opt['option']} is not set$", text, re.M):
                expected = "not set"
            else:
                expected = None
            assert opt["value"] == expected, (t["type"], opt)


def test_running_release_is_uname() -> None:
    report = run_json("detect")
    assert report["kernel"]["release"] == os.uname().release
    assert report["schema"] == "nsaudit.detect/1"


@needs_root
def test_probe_as_root_finds_every_type_usable() -> None:
    report = run_json("detect", "--probe")
    (run_,) = report["probes"]
    assert run_["user"] == "root" and run_["uid"] == 0
    for r in run_["results"]:
        assert r["usable"] is True, r
        assert r["via"] == "direct"


def _really_can(user: str, ns_type: str) -> tuple[bool, str | None]:
    """What unshare(1), run as `user`, can really create: directly, or in a new user namespace."""
    pw = pwd.getpwnam(user)
    drop = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
    flag = UNSHARE_FLAG[ns_type]
    if subprocess.run([*drop, "unshare", flag, "true"], capture_output=True).returncode == 0:
        return True, "direct"
    if ns_type != "user":
        with_user = subprocess.run([*drop, "unshare", "--user", flag, "true"], capture_output=True)
        if with_user.returncode == 0:
            return True, "user namespace"
    return False, None


@needs_root
def test_probe_as_unprivileged_user_matches_what_unshare_can_do() -> None:
    report = run_json("detect", "--probe-as", "nobody")
    root_run, nobody = report["probes"]
    assert root_run["uid"] == 0
    assert nobody["user"] == "nobody"
    for r in nobody["results"]:
        usable, via = _really_can("nobody", r["type"])
        assert r["usable"] is usable, r
        assert r["via"] == via, r
        if not usable:
            assert r["errno"], r


@needs_root
def test_probe_leaves_the_host_unchanged() -> None:
    def namespaces() -> dict[str, str]:
        """Every namespace, with the command line of the process lsns names for it (none: held
        by a bind mount or an open file only)."""
        out = lsns("--raw", "--noheadings", "--output", "NS,COMMAND").decode(errors="replace")
        return {
            ns: command for ns, _, command in (line.partition(" ") for line in out.splitlines())
        }

    before = namespaces()
    assert run("detect", "--probe", "--probe-as", "nobody").returncode == 0
    new = {ns: command for ns, command in namespaces().items() if ns not in before}
    # A busy host makes namespaces of its own meanwhile: what the probe left would be held by
    # one of its forked children (nsaudit's command line) or by nothing lsns can name.
    assert {ns: c for ns, c in new.items() if "nsaudit" in c or not c} == {}


def test_require_all_passes_when_everything_is_available() -> None:
    report = by_type(run_json("detect"))
    proc = run("detect", "--require", "all")
    everything = all(t["status"] == "available" for t in report.values())
    assert proc.returncode == (0 if everything else 1), proc.stderr
