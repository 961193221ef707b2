"""The detector's status rules and the user-namespace verdicts, in-process, on small host trees.

Each test builds the evidence the README's "nsaudit detect" section names (the kernel config,
/proc/self/ns, /proc/sys/user/max_<type>_namespaces, the release, the sysctls, the LSM list)
in a tmp_path tree and asks nsaudit.kernel.detect.detect() what it makes of it. The expected
statuses follow the README's rules (/proc/self/ns outranks the config, the config outranks the
kernel version, a limit of 0 switches a type off; evidence that disagrees is a warning); the
unprivileged verdicts follow the kernel's documentation as quoted in tests/test_oracles.py
(USERNS7, KDOC-USER, DEBIAN, UBUNTU). Messages are user-facing, so they are asserted whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import KCONFIGS, ROOTS, needs_root, run

from nsaudit.errors import UsageError
from nsaudit.hostfs import HostFS
from nsaudit.kernel import userns
from nsaudit.kernel.detect import detect
from nsaudit.model import (
    Access,
    Answer,
    Capabilities,
    KconfigOption,
    NsType,
    Restriction,
    Status,
    TypeCapability,
)

TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
CLONE = "kernel.unprivileged_userns_clone"
APPARMOR = "kernel.apparmor_restrict_unprivileged_userns"
MAX_USER = "user.max_user_namespaces"

# Every option a type needs, all built in (the README's list).
ALL_Y = {
    "CONFIG_CGROUPS": "y",
    "CONFIG_NAMESPACES": "y",
    "CONFIG_IPC_NS": "y",
    "CONFIG_SYSVIPC": "y",
    "CONFIG_POSIX_MQUEUE": "y",
    "CONFIG_NET_NS": "y",
    "CONFIG_PID_NS": "y",
    "CONFIG_TIME_NS": "y",
    "CONFIG_USER_NS": "y",
    "CONFIG_UTS_NS": "y",
}


def tree(
    root: Path,
    *,
    release: str | None = "6.12.0",
    ns: tuple[str, ...] | None = TYPES,
    limits: dict[str, str] | None = None,
    sysctls: dict[str, str] | None = None,
    lsm: str | None = None,
    proc_sys: bool = True,
) -> Path:
    """A host tree: osrelease, /proc/self/ns links (None: no /proc/self/ns at all), the
    max_<type>_namespaces limits (1000 for every type unless given), user-namespace sysctls."""
    root.mkdir(parents=True, exist_ok=True)
    if proc_sys:
        (root / "proc/sys/kernel").mkdir(parents=True)
        (root / "proc/sys/user").mkdir(parents=True)
        if release is not None:
            (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
        for t in TYPES:
            value = (limits or {}).get(t, "1000")
            (root / f"proc/sys/user/max_{t}_namespaces").write_text(value + "\n")
        for name, value in (sysctls or {}).items():
            (root / "proc/sys" / name.replace(".", "/")).write_text(value + "\n")
    if ns is not None:
        d = root / "proc/self/ns"
        d.mkdir(parents=True)
        for i, t in enumerate(ns):
            (d / t).symlink_to(f"{t.removesuffix('_for_children')}:[{4026531835 + i}]")
    if lsm is not None:
        (root / "sys/kernel/security").mkdir(parents=True)
        (root / "sys/kernel/security/lsm").write_text(lsm + "\n")
    return root


def config(path: Path, values: dict[str, str], header: str | None = "6.12.0") -> str:
    lines = []
    if header is not None:
        lines.append(f"# Linux/x86 {header} Kernel Configuration")
    for name, value in values.items():
        lines.append(f"# {name} is not set" if value == "not set" else f"{name}={value}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def of(caps: Capabilities, name: str) -> TypeCapability:
    return caps.of(NsType(name))


# --- status: /proc/self/ns outranks the config, the config outranks the version -------------


def test_every_type_present_with_limits_is_available_with_evidence(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=(*TYPES, "pid_for_children", "time_for_children"))
    caps = detect(HostFS(root))
    assert caps.root == str(root)
    assert caps.release == "6.12.0"
    assert caps.release_source == f"{root}/proc/sys/kernel/osrelease"
    assert caps.kconfig is None
    assert [t.type.value for t in caps.types] == list(TYPES)
    for t in caps.types:
        name = t.type.value
        assert t.status is Status.AVAILABLE, t
        assert t.reason == f"/proc/self/ns/{name} exists", t
        assert t.present is True
        assert t.limit == 1000
        assert t.kernel_ok is True
        assert t.config == ()
        # Only pid and time have a *_for_children link (README: present).
        assert t.for_children is (True if name in ("pid", "time") else None), t
    assert of(caps, "time").introduced == "5.6"
    assert of(caps, "mnt").introduced == "2.4.19"
    assert caps.warnings == ()


def test_for_children_absent_is_false_and_no_proc_is_unknown(tmp_path: Path) -> None:
    caps = detect(HostFS(tree(tmp_path / "a")))
    assert of(caps, "pid").for_children is False
    assert of(caps, "time").for_children is False
    caps = detect(HostFS(tree(tmp_path / "b", ns=None)))
    assert of(caps, "pid").for_children is None
    assert of(caps, "pid").present is None


def test_absent_link_is_missing_even_when_the_config_builds_it(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=tuple(t for t in TYPES if t != "time"))
    kc = config(tmp_path / "c", ALL_Y)
    caps = detect(HostFS(root), kc)
    time = of(caps, "time")
    assert time.status is Status.MISSING
    assert time.present is False
    assert time.reason == "/proc/self/ns/time is absent; CONFIG_TIME_NS=y"
    assert caps.warnings == (
        f"CONFIG_TIME_NS=y in {kc} but /proc/self/ns/time is absent: the config does not "
        "describe the running kernel",
    )


def test_present_link_outranks_a_config_that_leaves_the_type_out(tmp_path: Path) -> None:
    root = tree(tmp_path / "r")
    kc = config(tmp_path / "c", {**ALL_Y, "CONFIG_NET_NS": "not set"})
    caps = detect(HostFS(root), kc)
    net = of(caps, "net")
    assert net.status is Status.AVAILABLE
    assert net.reason == "/proc/self/ns/net exists; CONFIG_NET_NS is not set"
    assert caps.warnings == (
        f"CONFIG_NET_NS is not set in {kc} but /proc/self/ns/net exists: the config does not "
        "describe the running kernel",
    )


def test_present_link_on_a_kernel_older_than_the_type_is_a_backport(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", release="5.4.0-generic")
    caps = detect(HostFS(root))
    time = of(caps, "time")
    assert time.status is Status.AVAILABLE
    assert time.kernel_ok is False
    assert of(caps, "user").kernel_ok is True
    assert caps.warnings == (
        "kernel 5.4.0-generic predates time namespaces (5.6), yet /proc/self/ns/time exists "
        "(a backport?)",
    )


def test_config_alone_decides_without_proc_self_ns(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=None)
    kc = config(tmp_path / "c", {**ALL_Y, "CONFIG_PID_NS": "not set"})
    caps = detect(HostFS(root), kc)
    assert caps.kconfig_tried == (f"{kc}: used (--kconfig)",)
    pid = of(caps, "pid")
    assert pid.status is Status.MISSING
    assert pid.reason == "CONFIG_PID_NS is not set"
    net = of(caps, "net")
    assert net.status is Status.AVAILABLE
    assert net.reason == "CONFIG_NET_NS=y"
    assert net.present is None
    assert net.config == (
        KconfigOption("CONFIG_NET_NS", "y"),
        KconfigOption("CONFIG_NAMESPACES", "y"),
    )
    mnt = of(caps, "mnt")
    assert mnt.status is Status.AVAILABLE
    assert mnt.reason == "always built (no config option)"
    assert mnt.config == ()
    assert of(caps, "cgroup").config == (KconfigOption("CONFIG_CGROUPS", "y"),)
    assert of(caps, "ipc").config == (
        KconfigOption("CONFIG_IPC_NS", "y"),
        KconfigOption("CONFIG_NAMESPACES", "y"),
        KconfigOption("CONFIG_SYSVIPC", "y"),
        KconfigOption("CONFIG_POSIX_MQUEUE", "y"),
    )
    assert caps.warnings == ()


def test_umbrella_off_makes_every_type_under_it_missing(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=None)
    kc = config(tmp_path / "c", {**ALL_Y, "CONFIG_NAMESPACES": "not set"})
    caps = detect(HostFS(root), kc)
    for name in ("ipc", "net", "pid", "time", "user", "uts"):
        t = of(caps, name)
        assert t.status is Status.MISSING, t
        assert t.reason == "CONFIG_NAMESPACES is not set", t
    # cgroup and mnt do not sit under the umbrella (README: "for all but cgroup and mnt").
    assert of(caps, "cgroup").status is Status.AVAILABLE
    assert of(caps, "mnt").status is Status.AVAILABLE


def test_ipc_needs_sysvipc_or_posix_mqueue(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=None)
    for sysv, mq, status in (
        ("y", "not set", Status.AVAILABLE),
        ("not set", "y", Status.AVAILABLE),
        ("not set", "not set", Status.MISSING),
    ):
        kc = config(tmp_path / "c", {**ALL_Y, "CONFIG_SYSVIPC": sysv, "CONFIG_POSIX_MQUEUE": mq})
        ipc = of(detect(HostFS(root), kc), "ipc")
        assert ipc.status is status, (sysv, mq, ipc)
    assert ipc.reason == "CONFIG_SYSVIPC is not set and CONFIG_POSIX_MQUEUE is not set"
    kc = config(tmp_path / "c", {k: v for k, v in ALL_Y.items() if k != "CONFIG_POSIX_MQUEUE"})
    ipc = of(detect(HostFS(root), kc), "ipc")
    assert ipc.status is Status.AVAILABLE
    assert ipc.reason == "CONFIG_IPC_NS=y"
    assert ipc.config[3] == KconfigOption("CONFIG_POSIX_MQUEUE", None)


def test_absent_option_is_missing_and_named_absent(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=None)
    kc = config(tmp_path / "c", {k: v for k, v in ALL_Y.items() if k != "CONFIG_UTS_NS"})
    uts = of(detect(HostFS(root), kc), "uts")
    assert uts.status is Status.MISSING
    assert uts.reason == "CONFIG_UTS_NS absent"
    assert uts.config[0] == KconfigOption("CONFIG_UTS_NS", None)


def test_module_value_counts_as_built_in_with_a_warning(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", ns=None)
    kc = config(tmp_path / "c", {**ALL_Y, "CONFIG_USER_NS": "m"})
    caps = detect(HostFS(root), kc)
    assert of(caps, "user").status is Status.AVAILABLE
    assert caps.warnings == ("CONFIG_USER_NS=m, but it is a yes/no option; counted as built in",)


def test_config_builds_a_type_the_kernel_release_predates(tmp_path: Path) -> None:
    # The config outranks the version (distributions backport), with a warning.
    root = tree(tmp_path / "r", ns=None, release="4.19.0-20-amd64")
    kc = config(tmp_path / "c", ALL_Y, header="4.19.235")
    caps = detect(HostFS(root), kc)
    time = of(caps, "time")
    assert time.status is Status.AVAILABLE
    assert time.kernel_ok is False
    assert caps.warnings == (
        "kernel 4.19.0-20-amd64 predates time namespaces (5.6), yet CONFIG_TIME_NS=y (a backport?)",
    )
    assert caps.kconfig is not None and caps.kconfig.matches_running is True


def test_no_config_and_no_proc_self_ns_uses_the_release(tmp_path: Path) -> None:
    # Too old for the type: missing, whatever else is unknown (issue 10: not `unknown`).
    root = tree(tmp_path / "r", ns=None, release="4.19.0-20-amd64")
    caps = detect(HostFS(root))
    time = of(caps, "time")
    assert time.status is Status.MISSING
    assert time.reason == "kernel 4.19.0-20-amd64 predates time namespaces (5.6)"
    assert time.kernel_ok is False
    net = of(caps, "net")
    assert net.status is Status.UNKNOWN
    assert net.reason == "no kernel config and no /proc/self/ns to tell"
    assert net.kernel_ok is True
    assert net.unprivileged == Answer("unknown", "the type's status is unknown")


def test_nothing_at_all_is_unknown(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    caps = detect(HostFS(root))
    assert caps.release is None and caps.release_source is None
    for t in caps.types:
        assert t.status is Status.UNKNOWN
        assert t.kernel_ok is None
        assert t.limit is None
    assert caps.unprivileged_userns == Answer(
        "unknown", "whether the kernel has user namespaces is unknown"
    )


def test_limit_zero_disables_only_that_type(tmp_path: Path) -> None:
    caps = detect(HostFS(tree(tmp_path / "r", limits={"net": "0", "pid": "1"})))
    net = of(caps, "net")
    assert net.status is Status.DISABLED
    assert net.limit == 0
    assert net.reason == "built in, but user.max_net_namespaces = 0 switches it off"
    assert net.unprivileged == Answer("no", "the type is disabled")
    assert of(caps, "pid").status is Status.AVAILABLE
    assert of(caps, "pid").limit == 1


def test_limit_zero_on_a_missing_type_stays_missing(tmp_path: Path) -> None:
    ns = tuple(t for t in TYPES if t != "net")
    net = of(detect(HostFS(tree(tmp_path / "r", ns=ns, limits={"net": "0"}))), "net")
    assert net.status is Status.MISSING
    assert net.unprivileged == Answer("no", "the type is missing")


def test_unreadable_and_garbled_limits_are_warnings(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", limits={"net": "lots"})
    (root / "proc/sys/user/max_pid_namespaces").unlink()
    (root / "proc/sys/user/max_pid_namespaces").mkdir()
    (root / "proc/sys/user/max_ipc_namespaces").unlink()
    caps = detect(HostFS(root))
    assert of(caps, "net").limit is None
    assert of(caps, "pid").limit is None
    assert of(caps, "ipc").limit is None
    assert of(caps, "net").status is Status.AVAILABLE
    assert of(caps, "pid").status is Status.AVAILABLE
    assert caps.warnings == (
        f"{root}/proc/sys/user/max_net_namespaces holds 'lots', not a number; ignored",
        f"{root}/proc/sys/user/max_pid_namespaces cannot be read (it is a directory, not a file)",
    )


# --- the release and the config file ----------------------------------------------------------


def test_config_of_another_series_is_a_warning(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", release="6.8.0-generic")
    kc = config(tmp_path / "c", ALL_Y, header="6.12.0")
    caps = detect(HostFS(root), kc)
    assert caps.kconfig is not None
    assert caps.kconfig.path == kc
    assert caps.kconfig.release == "6.12.0"
    assert caps.kconfig.compressed is False
    assert caps.kconfig.matches_running is False
    assert caps.release == "6.8.0-generic"
    assert caps.warnings == (
        f"{kc} belongs to kernel 6.12.0, but 6.8.0-generic is running: its values may not "
        "describe this kernel",
    )


def test_config_without_header_matches_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", release="6.8.0-generic")
    kc = config(tmp_path / "c", ALL_Y, header=None)
    caps = detect(HostFS(root), kc)
    assert caps.kconfig is not None and caps.kconfig.matches_running is None
    assert caps.kconfig.release is None
    assert caps.warnings == ()


def test_release_from_the_config_header_when_none_runs(tmp_path: Path) -> None:
    root = tmp_path / "image"
    root.mkdir()
    kc = config(tmp_path / "c", ALL_Y, header="5.4.0")
    caps = detect(HostFS(root), kc)
    assert caps.release == "5.4.0"
    assert caps.release_source == f"header of {kc}"
    assert caps.kconfig is not None and caps.kconfig.matches_running is None
    # The header's release is the one types are judged by: 5.4 predates time namespaces.
    time = of(caps, "time")
    assert time.kernel_ok is False
    assert caps.warnings == (
        "kernel 5.4.0 predates time namespaces (5.6), yet CONFIG_TIME_NS=y (a backport?)",
    )


def test_headerless_config_and_no_release(tmp_path: Path) -> None:
    root = tmp_path / "image"
    root.mkdir()
    caps = detect(HostFS(root), config(tmp_path / "c", ALL_Y, header=None))
    assert caps.release is None and caps.release_source is None


def test_empty_osrelease_is_no_release_under_a_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", release="")
    caps = detect(HostFS(root))
    assert caps.release is None and caps.release_source is None
    assert caps.warnings == ()


def test_unreadable_osrelease_is_a_warning(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", release=None)
    (root / "proc/sys/kernel/osrelease").mkdir()
    caps = detect(HostFS(root))
    assert caps.release is None and caps.release_source is None
    assert caps.warnings == (
        f"{root}/proc/sys/kernel/osrelease cannot be read (it is a directory, not a file)",
    )


def test_live_host_release_is_the_running_one() -> None:
    caps = detect(HostFS("/"))
    assert caps.release == os.uname().release
    assert caps.release_source == "/proc/sys/kernel/osrelease"


@needs_root
def test_live_host_without_osrelease_falls_back_to_uname(tmp_path: Path) -> None:
    # README JSON: kernel.source names where the release came from. An empty osrelease (bind
    # mounted over the real one in a private mount namespace) leaves uname(2) on a live host.
    empty = tmp_path / "osrelease"
    empty.write_text("")
    mount = 'mount --bind "$0" /proc/sys/kernel/osrelease && exec "$@"'
    proc = run(
        "detect",
        "--format",
        "json",
        prefix=("unshare", "-m", "--propagation", "private", "sh", "-c", mount, str(empty)),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["kernel"] == {"release": os.uname().release, "source": "uname(2)"}


def test_bad_kconfig_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("hello\n")
    with pytest.raises(UsageError) as e:
        detect(HostFS(tree(tmp_path / "r")), str(bad))
    assert str(e.value) == f"--kconfig: {bad} holds no CONFIG_ lines: not a kernel config"


def test_config_found_on_the_host_and_broken_ones_reported(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", release="4.19.0-20-amd64", ns=None)
    (root / "boot").mkdir()
    (root / "boot/config-4.19.0-20-amd64").write_text("")
    (root / "lib/modules/4.19.0-20-amd64").mkdir(parents=True)
    config(root / "lib/modules/4.19.0-20-amd64/config", ALL_Y, header="4.19.235")
    caps = detect(HostFS(root))
    shown = f"{root}/lib/modules/4.19.0-20-amd64/config"
    assert caps.kconfig is not None and caps.kconfig.path == shown
    assert caps.kconfig_tried == (
        f"{root}/proc/config.gz: not found",
        f"{root}/boot/config-4.19.0-20-amd64 is empty",
        f"{shown}: used",
    )
    assert caps.warnings[0] == f"{root}/boot/config-4.19.0-20-amd64 is empty; skipped"


def test_real_sample_roots(tmp_path: Path) -> None:
    # samples/README.md: debian10 has no time namespace; centos7 ships max_user_namespaces = 0.
    caps = detect(HostFS(ROOTS / "debian10-no-timens"))
    assert of(caps, "time").status is Status.MISSING
    assert caps.kconfig is not None and caps.kconfig.matches_running is True
    caps = detect(HostFS(ROOTS / "centos7-userns-disabled"))
    user = of(caps, "user")
    assert user.status is Status.DISABLED
    assert user.unprivileged == Answer("no", "the type is disabled")
    caps = detect(HostFS(tmp_path), str(KCONFIGS / "android_pixel-7.config"))
    assert of(caps, "user").status is Status.MISSING
    # Kconfig does not even offer IPC_NS without SYSVIPC or POSIX_MQUEUE: the file lacks it.
    assert of(caps, "ipc").reason == "CONFIG_IPC_NS absent"


# --- the user-namespace sysctls and the unprivileged verdicts -----------------------------------


# Ubuntu's switches around its AppArmor restriction, listed after the three older ones.
UBUNTU_APPARMOR = (
    "kernel.apparmor_restrict_unprivileged_unconfined",
    "kernel.apparmor_restrict_unprivileged_userns_complain",
    "kernel.unprivileged_userns_apparmor_policy",
)


def test_plain_kernel_allows_unprivileged_users_everything(tmp_path: Path) -> None:
    # KDOC-USER + USERNS7: a limit above 0 and neither distribution switch.
    root = tree(tmp_path / "r", limits={"user": "127574"})
    caps = detect(HostFS(root))
    assert [(r.name, r.value, r.meaning) for r in caps.restrictions[3:]] == [
        (name, None, "not on this kernel: no such switch") for name in UBUNTU_APPARMOR
    ]
    assert caps.restrictions[:3] == (
        Restriction(
            CLONE,
            f"{root}/proc/sys/kernel/unprivileged_userns_clone",
            None,
            "not on this kernel: no such switch",
        ),
        Restriction(
            APPARMOR,
            f"{root}/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            None,
            "not on this kernel: no such switch",
        ),
        Restriction(
            MAX_USER,
            f"{root}/proc/sys/user/max_user_namespaces",
            "127574",
            "at most 127574 user namespaces per user",
        ),
    )
    assert caps.unprivileged_userns == Answer(
        Access.ALLOWED, "no restriction in force (user.max_user_namespaces = 127574)"
    )
    user = of(caps, "user")
    assert user.reason == "/proc/self/ns/user exists"
    assert user.unprivileged == Answer(
        "yes", "no restriction in force (user.max_user_namespaces = 127574)"
    )
    assert of(caps, "net").unprivileged == Answer(
        "yes", "inside a new user namespace, which grants CAP_SYS_ADMIN there"
    )


def test_clone_switch_zero_denies_and_the_user_reason_says_so(tmp_path: Path) -> None:
    # DEBIAN: 0 denies CLONE_NEWUSER without privilege; root still can (status stays available).
    root = tree(tmp_path / "r", sysctls={CLONE: "0", APPARMOR: "1"}, lsm="capability,apparmor")
    caps = detect(HostFS(root))
    assert caps.restrictions[0].meaning == (
        "unprivileged users cannot create user namespaces; root still can"
    )
    why = "kernel.unprivileged_userns_clone = 0"
    assert caps.unprivileged_userns == Answer(Access.DENIED, why)
    user = of(caps, "user")
    assert user.status is Status.AVAILABLE
    assert user.reason == f"/proc/self/ns/user exists; unprivileged users: denied ({why})"
    assert user.unprivileged == Answer("no", why)
    assert of(caps, "net").reason == "/proc/self/ns/net exists"
    assert of(caps, "net").unprivileged == Answer(
        "no", f"needs CAP_SYS_ADMIN, which only a user namespace gives ({why})"
    )


def test_clone_switch_one_with_apparmor_restriction(tmp_path: Path) -> None:
    # UBUNTU: 1 with AppArmor active: created, but without capabilities.
    root = tree(tmp_path / "r", sysctls={CLONE: "1", APPARMOR: "1"}, lsm="capability,apparmor")
    caps = detect(HostFS(root))
    assert caps.restrictions[0].meaning == "unprivileged users may create user namespaces"
    assert caps.restrictions[1].meaning == (
        "an unprivileged user's new user namespace gets no capabilities unless its program's "
        "AppArmor profile allows userns"
    )
    why = (
        "kernel.apparmor_restrict_unprivileged_userns = 1: created without capabilities unless "
        "an AppArmor profile allows userns"
    )
    assert caps.unprivileged_userns == Answer(Access.RESTRICTED, why)
    user = of(caps, "user")
    assert user.reason == f"/proc/self/ns/user exists; unprivileged users: restricted ({why})"
    assert user.unprivileged == Answer("restricted", why)
    assert of(caps, "uts").unprivileged == Answer(
        "no", f"needs CAP_SYS_ADMIN, which only a user namespace gives ({why})"
    )


def test_apparmor_switch_when_it_cannot_be_told_whether_apparmor_runs(tmp_path: Path) -> None:
    # No LSM list and no module parameter: the switch may be in force, so restricted.
    root = tree(tmp_path / "r", sysctls={APPARMOR: "2"})
    caps = detect(HostFS(root))
    assert caps.unprivileged_userns.value == Access.RESTRICTED
    assert caps.unprivileged_userns.reason.startswith(
        "kernel.apparmor_restrict_unprivileged_userns = 2: "
    )


def test_apparmor_switch_without_apparmor_allows(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", sysctls={APPARMOR: "1", CLONE: "1"}, lsm="capability,selinux")
    caps = detect(HostFS(root))
    assert caps.restrictions[1].meaning == (
        "an unprivileged user's new user namespace gets no capabilities unless its program's "
        "AppArmor profile allows userns; AppArmor is not active, so this has no effect"
    )
    assert caps.unprivileged_userns == Answer(
        Access.ALLOWED,
        "no restriction in force (kernel.unprivileged_userns_clone = 1, "
        "kernel.apparmor_restrict_unprivileged_userns = 1, user.max_user_namespaces = 1000)",
    )
    assert of(caps, "user").reason == "/proc/self/ns/user exists"


def test_apparmor_switch_zero_restricts_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", sysctls={APPARMOR: "0"}, lsm="apparmor")
    caps = detect(HostFS(root))
    assert caps.restrictions[1].meaning == (
        "AppArmor does not restrict unprivileged user namespaces"
    )
    assert caps.unprivileged_userns.value == Access.ALLOWED


def test_max_user_namespaces_meanings(tmp_path: Path) -> None:
    # KDOC-USER: 0 lets no one create one; the file is new in 4.9.
    root = tree(tmp_path / "r", limits={"user": "0"})
    caps = detect(HostFS(root))
    assert caps.restrictions[2].meaning == "no one, root included, can create a user namespace"
    assert caps.unprivileged_userns == Answer(Access.DENIED, "user namespaces are disabled")
    assert of(caps, "user").reason == ("built in, but user.max_user_namespaces = 0 switches it off")
    (root / "proc/sys/user/max_user_namespaces").unlink()
    caps = detect(HostFS(root))
    assert caps.restrictions[2] == Restriction(
        MAX_USER,
        f"{root}/proc/sys/user/max_user_namespaces",
        None,
        "not on this kernel (before 4.9): no per-user limit",
    )
    assert caps.unprivileged_userns == Answer(Access.ALLOWED, "no restriction in force ()")


def test_unreadable_switch_makes_the_verdict_unknown(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", lsm="capability")
    (root / "proc/sys/kernel/unprivileged_userns_clone").mkdir()
    (root / "proc/sys/kernel/apparmor_restrict_unprivileged_userns").mkdir()
    caps = detect(HostFS(root))
    path = f"{root}/proc/sys/kernel/unprivileged_userns_clone"
    assert caps.restrictions[0] == Restriction(
        CLONE, path, None, f"unknown: {path} cannot be read (it is a directory, not a file)", False
    )
    assert caps.restrictions[2].read is True
    assert caps.warnings[0] == (
        f"{path} cannot be read (it is a directory, not a file); "
        "kernel.unprivileged_userns_clone is unknown"
    )
    assert len(caps.warnings) == 2
    assert caps.unprivileged_userns == Answer(
        Access.UNKNOWN,
        "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns "
        "could not be read",
    )
    user = of(caps, "user")
    assert user.unprivileged == Answer("unknown", caps.unprivileged_userns.reason)
    assert user.reason.endswith(
        "; unprivileged users: unknown (" + caps.unprivileged_userns.reason + ")"
    )
    assert of(caps, "pid").unprivileged == Answer("unknown", "user namespace access is unknown")


def test_clone_zero_decides_even_when_another_switch_is_unreadable(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", sysctls={CLONE: "0"})
    (root / "proc/sys/kernel/apparmor_restrict_unprivileged_userns").mkdir()
    caps = detect(HostFS(root))
    assert caps.unprivileged_userns == Answer(Access.DENIED, f"{CLONE} = 0")


def test_no_proc_sys_leaves_every_switch_unknown(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", proc_sys=False, lsm="apparmor")
    kc = config(tmp_path / "c", ALL_Y)
    caps = detect(HostFS(root), kc)
    unread = f"unknown: no {root}/proc/sys to read"
    assert [(r.name, r.meaning, r.read) for r in caps.restrictions[3:]] == [
        (name, unread, False) for name in UBUNTU_APPARMOR
    ]
    assert caps.restrictions[:3] == (
        Restriction(
            CLONE, f"{root}/proc/sys/kernel/unprivileged_userns_clone", None, unread, False
        ),
        Restriction(
            APPARMOR,
            f"{root}/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            None,
            unread,
            False,
        ),
        Restriction(MAX_USER, f"{root}/proc/sys/user/max_user_namespaces", None, unread, False),
    )
    assert caps.unprivileged_userns.value == Access.UNKNOWN
    # Not read, so nothing to warn about twice.
    assert caps.warnings == ()


def test_read_restrictions_cannot_tell_apparmor_without_proc_sys(tmp_path: Path) -> None:
    root = tree(tmp_path / "r", proc_sys=False, lsm="apparmor")
    warnings: list[str] = []
    _, active = userns.read_restrictions(HostFS(root), warnings)
    assert active is None
    root = tree(tmp_path / "s", lsm="capability,apparmor")
    assert userns.read_restrictions(HostFS(root), warnings)[1] is True
    assert warnings == []


@pytest.mark.parametrize(
    ("lsm", "enabled", "active"),
    [
        ("lockdown,capability,apparmor", None, True),
        ("lockdown,capability,apparmorx", None, False),
        ("", "Y", False),  # an empty LSM list is still the list: it wins over the parameter
        (None, "Y", True),
        (None, "y", True),
        (None, "N", False),
        (None, None, None),
    ],
)
def test_apparmor_is_active(
    tmp_path: Path, lsm: str | None, enabled: str | None, active: bool | None
) -> None:
    root = tree(tmp_path / "r", lsm=lsm)
    if enabled is not None:
        (root / "sys/module/apparmor/parameters").mkdir(parents=True)
        (root / "sys/module/apparmor/parameters/enabled").write_text(enabled + "\n")
    assert userns.read_restrictions(HostFS(root), [])[1] is active


def test_unreadable_lsm_list_cannot_tell(tmp_path: Path) -> None:
    root = tree(tmp_path / "r")
    (root / "sys/kernel/security/lsm").mkdir(parents=True)
    (root / "sys/module/apparmor/parameters").mkdir(parents=True)
    (root / "sys/module/apparmor/parameters/enabled").write_text("Y\n")
    assert userns.read_restrictions(HostFS(root), [])[1] is None


def test_sysctl_path() -> None:
    assert userns.sysctl_path(APPARMOR) == (
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    )
    assert userns.sysctl_path(MAX_USER) == "/proc/sys/user/max_user_namespaces"


def read(name: str, value: str | None, read: bool = True) -> Restriction:
    return Restriction(name, "/p", value, "", read)


@pytest.mark.parametrize(
    ("status", "restrictions", "apparmor", "want"),
    [
        (Status.UNKNOWN, (), None, (Access.UNKNOWN, "unknown")),
        (Status.MISSING, (), None, (Access.DENIED, "user namespaces are missing")),
        (Status.DISABLED, (), None, (Access.DENIED, "user namespaces are disabled")),
        # An unread switch that is absent from the values still counts as unread.
        ((Status.AVAILABLE), (read(CLONE, None, False),), None, (Access.UNKNOWN, "could")),
        (Status.AVAILABLE, (read(APPARMOR, "1"),), True, (Access.RESTRICTED, "= 1:")),
        (Status.AVAILABLE, (read(APPARMOR, "1"),), False, (Access.ALLOWED, "no restriction")),
        (Status.AVAILABLE, (read(APPARMOR, None),), True, (Access.ALLOWED, "no restriction")),
        (Status.AVAILABLE, (read(CLONE, "1"),), None, (Access.ALLOWED, "no restriction")),
    ],
)
def test_unprivileged_access_rules(
    status: Status,
    restrictions: tuple[Restriction, ...],
    apparmor: bool | None,
    want: tuple[str, str],
) -> None:
    got = userns.unprivileged_access(status, restrictions, apparmor)
    assert got.value == want[0], got
    assert want[1] in got.reason, got


@pytest.mark.parametrize(
    ("is_user", "status", "access", "want"),
    [
        (True, Status.AVAILABLE, Access.ALLOWED, "yes"),
        (True, Status.AVAILABLE, Access.RESTRICTED, "restricted"),
        (True, Status.AVAILABLE, Access.DENIED, "no"),
        (True, Status.AVAILABLE, Access.UNKNOWN, "unknown"),
        (False, Status.AVAILABLE, Access.ALLOWED, "yes"),
        (False, Status.AVAILABLE, Access.RESTRICTED, "no"),
        (False, Status.AVAILABLE, Access.DENIED, "no"),
        (False, Status.AVAILABLE, Access.UNKNOWN, "unknown"),
        (True, Status.UNKNOWN, Access.ALLOWED, "unknown"),
        (False, Status.MISSING, Access.ALLOWED, "no"),
    ],
)
def test_unprivileged_verdict_table(is_user: bool, status: Status, access: str, want: str) -> None:
    assert userns.unprivileged_verdict(is_user, status, Answer(access, "why")).value == want
