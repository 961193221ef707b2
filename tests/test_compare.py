"""`nsaudit compare`: two hosts' bundles, imported into one database, side by side."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from conftest import ROOTS, assert_clean_error, needs_root, run
from nsmakers import netns

pytestmark = needs_root


def test_two_hosts_from_bundles(tmp_path: Path) -> None:
    from nsaudit.collect.snapshot import take
    from nsaudit.hostfs import HostFS
    from nsaudit.kernel.detect import detect
    from nsaudit.kernel.report import report
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import save

    alpha_db, beta_db, fleet = tmp_path / "alpha.db", tmp_path / "beta.db", tmp_path / "fleet.db"
    config = tmp_path / "alpha.toml"
    config.write_text('hostname = "alpha"\n')
    with netns() as name:
        assert run("snapshot", "--db", alpha_db, "--config", config).returncode == 0
    # beta: this host's namespaces, with the capability report of a CentOS 7 kernel whose user
    # namespaces are switched off (a fixture tree: this host cannot switch its own off).
    live = take(HostFS("/"))
    beta = replace(
        live,
        host=replace(live.host, hostname="beta", machine_id="b" * 32),
        capabilities=report(detect(HostFS(str(ROOTS / "centos7-userns-disabled")))),
    )
    database = Database(str(beta_db))
    with database.writing() as conn:
        save(conn, beta)
    database.dispose()
    for db, bundle in ((alpha_db, "alpha.jsonl"), (beta_db, "beta.jsonl")):
        assert run("export", "--all", "--db", db, "-o", tmp_path / bundle).returncode == 0
    assert (
        run("import", tmp_path / "alpha.jsonl", tmp_path / "beta.jsonl", "--db", fleet).returncode
        == 0
    )

    data = json.loads(run("compare", "alpha", "beta", "--db", fleet, "--format", "json").stdout)
    assert data["schema"] == "nsaudit.compare/1"
    assert [h["hostname"] for h in data["hosts"]] == ["alpha", "beta"]
    facts = {f["key"]: f["values"] for f in data["facts"]}
    assert facts["types.user.status"] == ["available", "disabled"]
    assert facts["types.user.limit"][1] == 0
    assert "types.user.status" in data["differing"] and "types.net.status" not in data["differing"]
    assert {"path": f"/run/netns/{name}", "held": [True, False]} in data["mounts"]
    # Each host's count is its own snapshot's (the host may start and end namespaces between
    # the two snapshots, so the counts are not compared with each other).
    for column, bundle in enumerate(("alpha.jsonl", "beta.jsonl")):
        snapshot = json.loads((tmp_path / bundle).read_text().splitlines()[1])
        for ns_type in ("net", "user"):
            ours = sum(n["type"] == ns_type for n in snapshot["namespaces"])
            assert data["counts"][ns_type][column] == ours
    table = run("compare", "alpha", "beta", "--db", fleet).stdout
    user_row = next(line for line in table.splitlines() if line.startswith("user "))
    assert "available" in user_row and "disabled" in user_row and "limit:" in user_row


def test_compare_needs_two_known_hosts(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    assert run("snapshot", "--db", db).returncode == 0
    assert_clean_error(run("compare", "alpha", "--db", db), 2, "at least two")
    assert_clean_error(run("compare", "alpha", "beta", "--db", db), 2, "'alpha'")
