"""Bad input: one clear line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import IS_ROOT, KCONFIGS, assert_clean_error, run

CONFIG = KCONFIGS / "Debian_13_Trixie_x86_64.config"


def test_truncated_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "config.gz"
    bad.write_bytes(gzip.compress(CONFIG.read_bytes())[:5000])
    assert_clean_error(run("detect", "--kconfig", bad), 2, "--kconfig", "truncated gzip")


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(CONFIG.read_bytes()))
    data[100:200] = b"\0" * 100
    bad = tmp_path / "config.gz"
    bad.write_bytes(bytes(data))
    assert_clean_error(run("detect", "--kconfig", bad), 2, "corrupt gzip")


def test_binary_file() -> None:
    assert_clean_error(run("detect", "--kconfig", "/bin/true"), 2, "binary file")


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "config"
    empty.write_bytes(b"")
    assert_clean_error(run("detect", "--kconfig", empty), 2, "is empty")


def test_text_that_is_not_a_config(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n")
    assert_clean_error(run("detect", "--kconfig", text), 2, "not a kernel config")


def test_directory_as_kconfig(tmp_path: Path) -> None:
    assert_clean_error(run("detect", "--kconfig", tmp_path), 2, "is a directory")


def test_missing_kconfig(tmp_path: Path) -> None:
    assert_clean_error(run("detect", "--kconfig", tmp_path / "nope"), 2, "No such file")


def test_unreadable_file(tmp_path: Path) -> None:
    secret = tmp_path / "config"
    secret.write_bytes(CONFIG.read_bytes())
    secret.chmod(0)
    # Root reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it is refused too.
    prefix = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search") if IS_ROOT else ()
    proc = run("detect", "--kconfig", secret, prefix=prefix)
    assert_clean_error(proc, 2, "cannot be read", "Permission denied")


def test_root_that_does_not_exist(tmp_path: Path) -> None:
    assert_clean_error(run("detect", "--root", tmp_path / "nope"), 2, "--root", "does not exist")


def test_root_that_is_a_file() -> None:
    assert_clean_error(run("detect", "--root", CONFIG), 2, "not a directory")


@pytest.mark.skipif(not IS_ROOT, reason="needs root to drop root's file capabilities")
def test_root_that_cannot_be_read(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    prefix = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")
    assert_clean_error(run("detect", "--root", locked, prefix=prefix), 3, "cannot be read")


def test_unknown_type_in_require() -> None:
    proc = run("detect", "--require", "net,bogus")
    assert_clean_error(proc, 2, "--require", "'bogus'", "cgroup, ipc")


def test_empty_require() -> None:
    assert_clean_error(run("detect", "--require", ","), 2, "at least one")


def test_unknown_format() -> None:
    assert_clean_error(run("detect", "--format", "yaml"), 2, "--format")


def test_unknown_option() -> None:
    assert_clean_error(run("detect", "--frobnicate"), 2, "--frobnicate")


def test_unknown_command() -> None:
    assert_clean_error(run("frobnicate"), 2, "frobnicate")


def test_probe_with_another_root(tmp_path: Path) -> None:
    assert_clean_error(run("detect", "--probe", "--root", tmp_path), 2, "--probe", "--root")


def test_probe_as_unknown_user() -> None:
    assert_clean_error(run("detect", "--probe-as", "no-such-user-xyz"), 2, "no user")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = run("detect", "--kconfig", tmp_path, "--debug")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_broken_config_on_the_host_is_skipped_with_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "proc" / "sys" / "kernel").mkdir(parents=True)
    (root / "proc" / "sys" / "kernel" / "osrelease").write_text("6.12.43\n")
    (root / "proc" / "config.gz").write_bytes(gzip.compress(CONFIG.read_bytes())[:3000])
    (root / "boot").mkdir()
    (root / "boot" / "config-6.12.43").write_bytes(CONFIG.read_bytes())
    proc = run("detect", "--root", root, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["kconfig"]["path"] == str(root / "boot" / "config-6.12.43")
    assert any("truncated gzip" in w and "skipped" in w for w in report["warnings"])
    assert report["kconfig_tried"][0] == f"{root}/proc/config.gz is a truncated gzip file"
    assert report["kconfig_tried"][1] == f"{root}/boot/config-6.12.43: used"


def test_snapshot_of_a_tree_without_processes_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    proc = run("snapshot", "--root", "samples/roots/no-kconfig", "--db", db)
    assert_clean_error(proc, 3, "no processes under", "--root")
    assert not db.exists()


def test_database_url_password_is_never_printed() -> None:
    proc = run("snapshots", "--db", "postgresql://auditor:s3cret@127.0.0.1:1/nsaudit")
    assert_clean_error(proc, 4, "auditor:***@")
    assert "s3cret" not in proc.stderr


def test_unknown_database_dialect() -> None:
    assert_clean_error(run("snapshots", "--db", "bogus://x"), 4, "bogus")
