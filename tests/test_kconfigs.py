"""Real distribution kernel configs (samples/kconfigs) are read right, plain or gzip."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from conftest import KCONFIGS, by_type, run_json

CONFIGS = sorted(KCONFIGS.glob("*.config"))
OPTIONS = {
    "cgroup": ["CONFIG_CGROUPS"],
    "ipc": ["CONFIG_IPC_NS", "CONFIG_NAMESPACES", "CONFIG_SYSVIPC", "CONFIG_POSIX_MQUEUE"],
    "mnt": [],
    "net": ["CONFIG_NET_NS", "CONFIG_NAMESPACES"],
    "pid": ["CONFIG_PID_NS", "CONFIG_NAMESPACES"],
    "time": ["CONFIG_TIME_NS", "CONFIG_NAMESPACES"],
    "user": ["CONFIG_USER_NS", "CONFIG_NAMESPACES"],
    "uts": ["CONFIG_UTS_NS", "CONFIG_NAMESPACES"],
}
# What each kernel lacks, from its config alone (no /proc: an empty --root).
MISSING = {
    "Debian_10_Buster_x86_64.config": {"time"},
    "Ubuntu_20.04_LTS_Focal_x86_64.config": {"time"},
    "rhel-8.0.config": {"time"},
    "android_pixel-7.config": {"user", "pid", "ipc"},
}


def file_value(text: str, option: str) -> str | None:
    """The option's value as the file's own lines state it, read independently of nsaudit."""
    m = re.search(rf"^{option}=(.*)$", text, re.M)
    if m:
        return m[1].strip().strip('"')
    if re.search(rf"^# {option} is not set$", text, re.M):
        return "not set"
    return None


def test_all_twelve_configs_are_shipped() -> None:
    assert len(CONFIGS) == 12


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_values_match_the_file(path: Path, tmp_path: Path) -> None:
    report = run_json("detect", "--root", tmp_path, "--kconfig", path)
    text = path.read_bytes().decode("utf-8", "replace")
    assert report["kconfig"]["path"] == str(path)
    assert report["kconfig"]["compressed"] is False
    header = re.search(r"^# Linux/\S+ (\S+) Kernel Configuration", text, re.M)
    assert header and report["kconfig"]["release"] == header[1]
    types = by_type(report)
    for ns_type, options in OPTIONS.items():
        reported = [(o["option"], o["value"]) for o in types[ns_type]["config"]]
        assert reported == [(o, file_value(text, o)) for o in options], ns_type


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_status_from_config_alone(path: Path, tmp_path: Path) -> None:
    types = by_type(run_json("detect", "--root", tmp_path, "--kconfig", path))
    missing = MISSING.get(path.name, set())
    for ns_type, t in types.items():
        assert t["present"] is None and t["limit"] is None
        expected = "missing" if ns_type in missing else "available"
        assert t["status"] == expected, (ns_type, t["reason"])


def test_old_kernel_reason_names_the_option(tmp_path: Path) -> None:
    path = KCONFIGS / "Debian_10_Buster_x86_64.config"
    time = by_type(run_json("detect", "--root", tmp_path, "--kconfig", path))["time"]
    assert time["reason"] == "CONFIG_TIME_NS absent"
    assert time["kernel_ok"] is False


def test_android_ipc_needs_sysv_ipc_or_mqueue(tmp_path: Path) -> None:
    path = KCONFIGS / "android_pixel-7.config"
    report = by_type(run_json("detect", "--root", tmp_path, "--kconfig", path))
    values = dict((o["option"], o["value"]) for o in report["ipc"]["config"])
    assert values["CONFIG_SYSVIPC"] == "not set" and values["CONFIG_POSIX_MQUEUE"] == "not set"
    assert report["user"]["reason"] == "CONFIG_USER_NS is not set"


def test_gzip_is_judged_by_content_not_name(tmp_path: Path) -> None:
    source = KCONFIGS / "Fedora_42_Updates_x86_64.config"
    packed = tmp_path / "plain-looking.config"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    plain = tmp_path / "config.gz"
    plain.write_bytes(source.read_bytes())
    empty_root = tmp_path / "root"
    empty_root.mkdir()
    a = run_json("detect", "--root", empty_root, "--kconfig", packed)
    b = run_json("detect", "--root", empty_root, "--kconfig", plain)
    assert a["kconfig"]["compressed"] is True and b["kconfig"]["compressed"] is False
    assert a["types"] == b["types"]


def test_vendor_bytes_that_are_not_utf8_are_read(tmp_path: Path) -> None:
    source = (KCONFIGS / "Arch_x86_64.config").read_bytes()
    dirty = tmp_path / "dirty.config"
    dirty.write_bytes(b'CONFIG_LOCALVERSION="\xff\xfe latin \xe9"\n' + source)
    report = run_json("detect", "--root", tmp_path, "--kconfig", dirty)
    assert by_type(report)["user"]["status"] == "available"


def edited(tmp_path: Path, source: str, **values: str | None) -> Path:
    """A copy of a real config with options set (`"y"`), unset (`None`) as a config says it."""
    text = (KCONFIGS / source).read_text()
    for option, value in values.items():
        line = f"CONFIG_{option}={value}" if value else f"# CONFIG_{option} is not set"
        text, found = re.subn(
            rf"^(CONFIG_{option}=.*|# CONFIG_{option} is not set)$", line, text, flags=re.M
        )
        assert found == 1, option
    path = tmp_path / "edited.config"
    path.write_text(text)
    return path


def test_the_namespaces_umbrella_unset_leaves_only_mnt_and_cgroup(tmp_path: Path) -> None:
    # init/Kconfig: UTS_NS, TIME_NS, IPC_NS, USER_NS, PID_NS and NET_NS sit inside
    # `menuconfig NAMESPACES`; mount namespaces need no option, cgroup ones only CGROUPS.
    config = edited(tmp_path, "Debian_13_Trixie_x86_64.config", NAMESPACES=None)
    types = by_type(run_json("detect", "--root", tmp_path, "--kconfig", config))
    for ns_type in ("ipc", "net", "pid", "time", "user", "uts"):
        assert types[ns_type]["status"] == "missing", ns_type
        assert types[ns_type]["reason"] == "CONFIG_NAMESPACES is not set", ns_type
    assert types["mnt"]["status"] == types["cgroup"]["status"] == "available"


@pytest.mark.parametrize(
    ("sysvipc", "mqueue", "status"),
    [("y", None, "available"), (None, "y", "available"), (None, None, "missing")],
)
def test_ipc_namespaces_need_sysv_ipc_or_posix_mqueue(
    tmp_path: Path, sysvipc: str | None, mqueue: str | None, status: str
) -> None:
    # ipc/namespace.c isolates System V IPC and POSIX message queues: either makes it useful,
    # and the kernel builds IPC_NS only with one of them (init/Kconfig: depends on
    # (SYSVIPC || POSIX_MQUEUE)).
    config = edited(
        tmp_path, "Debian_13_Trixie_x86_64.config", SYSVIPC=sysvipc, POSIX_MQUEUE=mqueue
    )
    ipc = by_type(run_json("detect", "--root", tmp_path, "--kconfig", config))["ipc"]
    assert ipc["status"] == status
    if status == "missing":
        assert ipc["reason"] == "CONFIG_SYSVIPC is not set and CONFIG_POSIX_MQUEUE is not set"


def test_a_kernel_too_old_for_a_type_lacks_it_without_any_config(tmp_path: Path) -> None:
    # Linux 4.4: before cgroup (4.6) and time (5.6) namespaces. No config, no /proc/self/ns:
    # the release alone proves those two missing; of the others nothing can be told.
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text("4.4.0-210-generic\n")
    report = run_json("detect", "--root", tmp_path)
    types = by_type(report)
    assert types["cgroup"]["status"] == "missing"
    assert types["cgroup"]["reason"] == "kernel 4.4.0-210-generic predates cgroup namespaces (4.6)"
    assert types["time"]["status"] == "missing"
    for ns_type in ("ipc", "mnt", "net", "pid", "user", "uts"):
        assert types[ns_type]["status"] == "unknown", ns_type
