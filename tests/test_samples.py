"""The fixture host trees in samples/roots: what this host cannot produce."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOTS, SAMPLES, by_type, run, run_json

from nsaudit import __version__


def statuses(root: str) -> dict[str, str]:
    return {
        name: t["status"] for name, t in by_type(run_json("detect", "--root", ROOTS / root)).items()
    }


def test_every_sample_root_is_described_in_the_samples_readme() -> None:
    readme = (SAMPLES / "README.md").read_text()
    for root in (p for p in ROOTS.iterdir() if p.is_dir()):
        assert f"`{root.name}`" in readme, root.name


def test_centos7_user_namespaces_disabled_by_limit() -> None:
    report = run_json("detect", "--root", ROOTS / "centos7-userns-disabled")
    user = by_type(report)["user"]
    assert user["status"] == "disabled"
    assert user["limit"] == 0
    assert "max_user_namespaces = 0" in user["reason"]
    assert report["unprivileged_userns"]["value"] == "denied"
    assert statuses("centos7-userns-disabled") == {
        "cgroup": "missing",
        "ipc": "available",
        "mnt": "available",
        "net": "available",
        "pid": "available",
        "time": "missing",
        "user": "disabled",
        "uts": "available",
    }
    assert report["kconfig"] is None


def test_centos7_require_user_exits_1_and_names_it() -> None:
    proc = run("detect", "--root", ROOTS / "centos7-userns-disabled", "--require", "net,user")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "nsaudit: required namespace types not available: user (disabled)"


def test_debian10_has_no_time_namespaces_and_denies_unprivileged_users() -> None:
    report = run_json("detect", "--root", ROOTS / "debian10-no-timens")
    types = by_type(report)
    assert types["time"]["status"] == "missing"
    assert types["time"]["kernel_ok"] is False
    assert report["kconfig"]["release"] == "4.19.249"
    assert report["kconfig"]["matches_running"] is True
    assert report["warnings"] == []
    assert report["unprivileged_userns"] == {
        "value": "denied",
        "reason": "kernel.unprivileged_userns_clone = 0",
    }
    assert types["user"]["status"] == "available"
    assert "unprivileged users: denied" in types["user"]["reason"]
    assert {t["unprivileged"]["value"] for t in types.values()} == {"no"}
    assert (
        run("detect", "--root", ROOTS / "debian10-no-timens", "--require", "time").returncode == 1
    )


def test_ubuntu_gzipped_proc_config_and_apparmor_restriction() -> None:
    report = run_json("detect", "--root", ROOTS / "ubuntu2504-gzip-apparmor")
    assert report["kconfig"]["compressed"] is True
    assert report["kconfig"]["path"].endswith("/proc/config.gz")
    assert report["unprivileged_userns"]["value"] == "restricted"
    types = by_type(report)
    assert set(statuses("ubuntu2504-gzip-apparmor").values()) == {"available"}
    assert types["user"]["unprivileged"]["value"] == "restricted"
    assert types["net"]["unprivileged"]["value"] == "no"


def test_no_config_anywhere_still_reads_proc() -> None:
    report = run_json("detect", "--root", ROOTS / "no-kconfig")
    assert report["kconfig"] is None
    assert len(report["kconfig_tried"]) >= 6
    assert all("not found" in t for t in report["kconfig_tried"])
    for t in report["types"]:
        assert t["status"] == "available" and t["config"] == []
        assert t["reason"] == f"/proc/self/ns/{t['type']} exists"


def test_mounted_image_without_proc_uses_boot_config() -> None:
    report = run_json("detect", "--root", ROOTS / "android-image")
    assert report["kernel"]["release"] == "5.10.149"
    assert report["kernel"]["source"].startswith("header of ")
    assert report["kconfig"]["path"].endswith("/boot/config-5.10.149-android13")
    assert statuses("android-image") == {
        "cgroup": "available",
        "ipc": "missing",
        "mnt": "available",
        "net": "available",
        "pid": "missing",
        "time": "available",
        "user": "missing",
        "uts": "available",
    }
    assert {r["value"] for r in report["restrictions"]} == {None}


def test_config_of_another_kernel_series_is_a_warning(tmp_path: object) -> None:
    report = run_json(
        "detect",
        "--root",
        ROOTS / "debian10-no-timens",
        "--kconfig",
        SAMPLES / "kconfigs" / "Debian_13_Trixie_x86_64.config",
    )
    assert report["kconfig"]["matches_running"] is False
    warnings = "\n".join(report["warnings"])
    assert "belongs to kernel 6.12.43, but 4.19.0-20-amd64 is running" in warnings
    # /proc outranks the config: time is still missing, and the disagreement is reported.
    assert by_type(report)["time"]["status"] == "missing"
    assert "CONFIG_TIME_NS=y" in warnings and "/proc/self/ns/time is absent" in warnings


def test_json_matches_the_golden_file() -> None:
    """The JSON schema is stable: a change here must be a deliberate, documented one."""
    root = ROOTS / "debian10-no-timens"
    proc = run("detect", "--root", root, "--format", "json")
    actual = proc.stdout.replace(str(root), "<ROOT>")
    actual = actual.replace(f'"nsaudit_version": "{__version__}"', '"nsaudit_version": "<VERSION>"')
    golden = (Path(__file__).parent / "golden" / "detect-debian10.json").read_text()
    assert actual == golden
