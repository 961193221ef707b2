"""The published JSON Schemas (`nsaudit schema`) and the SIEM feed (`--format jsonl`): a line
per rule result or per change, with stable fields (tests/conftest.py validates every JSON
document and line the tests make against its schema)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOTS, SAMPLES, assert_clean_error, needs_root, run
from nsmakers import in_new_namespaces, ns_of

from nsaudit.views.schemas import BUILDERS

STIG = SAMPLES / "policies" / "stig-user-namespaces.toml"


def test_schema_lists_every_document_and_prints_each_as_valid_draft_2020_12() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    assert proc.stdout.split() == list(BUILDERS)
    for name in BUILDERS:
        printed = run("schema", name)
        assert printed.returncode == 0, printed.stderr
        schema = json.loads(printed.stdout)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == name
    short = json.loads(run("schema", "check").stdout)
    assert short["title"] == "nsaudit.check/1"


def test_an_unknown_document_is_named_with_the_known_ones() -> None:
    assert_clean_error(run("schema", "checks"), 2, "no document 'checks'", "check, report")


def closed_objects(node: object, path: str = "") -> list[str]:
    """Where a schema refuses keys it does not list."""
    found = []
    if isinstance(node, dict):
        if node.get("additionalProperties") is False:
            found.append(path)
        for k, v in node.items():
            found += closed_objects(v, f"{path}/{k}")
    elif isinstance(node, list):
        for n, v in enumerate(node):
            found += closed_objects(v, f"{path}/{n}")
    return found


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_schema_accepts_keys_a_later_nsaudit_adds(name: str) -> None:
    # A version only gains keys: only the identifier families, a closed vocabulary, are shut.
    from nsaudit.views.schemas import schema

    assert all(p.endswith("/identifiers") for p in closed_objects(schema(name)))


def test_check_jsonl_is_a_finding_per_rule_with_its_identifiers() -> None:
    proc = run("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG,
               "--format", "jsonl")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [f["rule"] for f in lines] == [
        "RHEL-08-040284",
        "RHEL-09-213105",
        "ALMA-09-023010",
        "CIS-BOTTLEROCKET-1.4.4",
        "NSAUDIT-USERNS-STATUS",
        "NSAUDIT-USERNS-LIVE",
        "NSAUDIT-USERNS-EXPOSURE",
    ]
    rhel9 = lines[1]
    assert rhel9["schema"] == "nsaudit.finding/1"
    assert rhel9["host"] == "conflict.example.org"
    assert rhel9["outcome"] == "fail" and rhel9["severity"] == "medium"
    assert rhel9["identifiers"]["cce"] == ["CCE-83956-3"]
    assert any("10-rootless-containers.conf:1" in e for e in rhel9["evidence"])


def test_a_process_name_cannot_break_a_jsonl_line() -> None:
    # ensure_ascii: no byte of a line can drive a terminal or end the line early.
    proc = run("check", "--root", ROOTS / "stig-userns-conflict", "--policy", STIG,
               "--format", "jsonl")  # fmt: skip
    assert proc.stdout.isascii()
    assert all(line.startswith("{") and line.endswith("}") for line in proc.stdout.splitlines())


@needs_root
def test_diff_jsonl_is_a_line_per_change(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    assert run("snapshot", "--db", db, "--format", "json").returncode == 0
    with in_new_namespaces("--net") as pid:
        inode = ns_of(pid, "net")[1]
        assert run("snapshot", "--db", db, "--format", "json").returncode == 0
    proc = run("diff", "--db", db, "--format", "jsonl")
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    (ours,) = [c for c in lines if c["type"] == "net" and c["inode"] == inode]
    assert ours["change"] == "created" and ours["pid"] == pid
    assert ours["schema"] == "nsaudit.change/1"
    assert {c["change"] for c in lines} <= {"created", "vanished", "changed", "capability"} | {
        c["change"] for c in lines if c["change"].startswith("container ")
    }
