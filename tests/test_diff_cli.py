"""`nsaudit diff` and `nsaudit audit` on real changes of this host."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import assert_clean_error, needs_root, run
from nsmakers import in_new_namespaces, netns, ns_of, runs, wait_for

pytestmark = needs_root


def diff_json(db: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run("diff", "--db", db, "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["schema"] == "nsaudit.diff/1"
    return proc.returncode, data


def keys(items: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(n["type"], n["inode"]) for n in items}


def ids(n: dict[str, Any]) -> tuple[str, int, int | None]:
    return (n["type"], n["inode"], n["ns_id"])


def snap(db: Path) -> None:
    proc = run("snapshot", "--db", db)
    assert proc.returncode == 0, proc.stderr


def test_created_then_vanished(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snap(db)
    with in_new_namespaces("--net", "--uts") as pid, netns() as name:
        ours = {
            ("net", ns_of(pid, "net")[1]),
            ("uts", ns_of(pid, "uts")[1]),
            ("net", Path(f"/run/netns/{name}").stat().st_ino),
        }
        snap(db)
        code, data = diff_json(db)
        # A busy host may start or end other namespaces meanwhile: assert about ours.
        assert code == 1
        assert ours <= keys(data["created"])
        assert not ours & keys(data["vanished"]) and data["rebooted"] is False
        # The kernel may hand a freed inode to another namespace at once: after they are gone,
        # ours are told apart by their NS_GET_ID id too.
        ours_ids = {ids(n) for n in data["created"] if (n["type"], n["inode"]) in ours}
    snap(db)
    code, data = diff_json(db)
    assert code == 1
    assert ours_ids <= set(map(ids, data["vanished"]))
    assert not ours_ids & set(map(ids, data["created"]))
    # latest~2 -> latest: what was there before is there again.
    code, data = diff_json(db, "latest~2", "latest")
    assert not ours_ids & set(map(ids, data["created"] + data["vanished"]))


def test_last_process_gone_while_a_bind_mount_holds_it_is_changed(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    name = f"nsaudit-test-{uuid.uuid4().hex[:8]}"
    try:
        with in_new_namespaces("--net") as pid:
            subprocess.run(["ip", "netns", "attach", name, str(pid)], check=True)
            inode = ns_of(pid, "net")[1]
            snap(db)
        snap(db)
        code, data = diff_json(db, "--type", "net")
        assert code == 1
        assert ("net", inode) not in keys(data["vanished"]) | keys(data["created"])
        (change,) = [c for c in data["changed"] if c["new"]["inode"] == inode]
        assert change["note"] == f"lost its last process; still held by mount /run/netns/{name}"
        assert change["noise"] is False and "nprocs" in change["fields"]
        # --wide: on a busy host other rows may widen the columns before DETAIL.
        table = run("diff", "--db", db, "--type", "net", "--wide").stdout
        assert "lost its last process" in table
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_no_difference_exits_0_and_process_counts_are_noise(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    with in_new_namespaces("--uts") as pid:
        uts = ns_of(pid, "uts")
        snap(db)
        # A second member joins the namespace: its process count goes from 1 to 2.
        joiner = subprocess.Popen(["nsenter", "-t", str(pid), "--uts", "sleep", "300"])
        try:
            wait_for(lambda: ns_of(joiner.pid, "uts") == uts and runs(joiner.pid, "sleep"))
            snap(db)
        finally:
            joiner.kill()
            joiner.wait()
    code, data = diff_json(db, "--type", "uts", "--all")
    (change,) = [c for c in data["changed"] if c["new"]["inode"] == uts[1]]
    assert (change["old"]["nprocs"], change["new"]["nprocs"]) == (1, 2)
    assert change["fields"] == ["nprocs"] and change["noise"] is True
    # Only something else that a busy host did between the snapshots may make it exit 1.
    others = [c for c in data["changed"] if not c["noise"]] + data["created"] + data["vanished"]
    assert code == (1 if others else 0) and data["differs"] is bool(others)
    plain = diff_json(db, "--type", "uts")[1]
    assert all(c["new"]["inode"] != uts[1] for c in plain["changed"])


def test_reboot_is_reported_and_compared_by_shape(tmp_path: Path) -> None:
    from nsaudit.collect.snapshot import take
    from nsaudit.hostfs import HostFS
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save

    db = tmp_path / "ns.db"
    live = take(HostFS("/"))
    database = Database(str(db))
    with database.writing() as conn:
        save(conn, replace(live, host=replace(live.host, boot_id="before-reboot")))
        save(conn, live)
    database.dispose()
    code, data = diff_json(db)
    assert data["rebooted"] is True
    # The same namespaces by shape (inodes and all): nothing created or vanished.
    assert data["created"] == [] and data["vanished"] == [] and code == 0
    table = run("diff", "--db", db).stdout
    assert "host rebooted between the snapshots" in table


def test_audit_is_quiet_when_nothing_changed_and_exits_1_on_change(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    first = run("audit", "--db", db)
    assert first.returncode == 0 and "the first snapshot of this host" in first.stdout
    quiet = run("audit", "--db", db, "--quiet")
    # Silent exactly when nothing changed (on a busy host something else may have).
    assert quiet.returncode in (0, 1) and (quiet.returncode == 0) == (quiet.stdout == "")
    with in_new_namespaces("--uts") as pid:
        inode = ns_of(pid, "uts")[1]
        changed = run("audit", "--db", db, "--quiet", "--format", "json")
    assert changed.returncode == 1
    assert ("uts", inode) in keys(json.loads(changed.stdout)["created"])


def test_diff_errors(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    snap(db)
    assert_clean_error(run("diff", "--db", db), 2, "latest~1")
    snap(db)
    assert_clean_error(run("diff", "--db", db, "--since", "soon"), 2, "--since")
    assert_clean_error(run("diff", "1", "--since", "1h", "--db", db), 2, "--since")
    assert_clean_error(run("diff", "--db", db, "--since", "30d"), 2, "older than")
