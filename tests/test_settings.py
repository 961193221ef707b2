"""The settings file: precedence, ignore rules, host name override, malformed files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_clean_error, needs_root, run
from nsmakers import in_new_namespaces


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nsaudit.toml"
    path.write_text(text)
    return path


def test_database_precedence_option_environment_file(tmp_path: Path) -> None:
    from_file, from_env, from_option = (tmp_path / f"{n}.db" for n in ("file", "env", "option"))
    config = write(tmp_path, f'database = "{from_file}"\n')
    # None of them exists: `db current` names the one it looked for (it never creates one).
    assert str(from_file) in run("db", "current", "--config", config).stderr
    env = {"NSAUDIT_CONFIG": str(config)}
    assert str(from_file) in run("db", "current", env=env).stderr
    env["NSAUDIT_DB"] = str(from_env)
    assert str(from_env) in run("db", "current", env=env).stderr
    assert str(from_option) in run("db", "current", "--db", from_option, env=env).stderr


@needs_root
def test_hostname_override(tmp_path: Path) -> None:
    config = write(tmp_path, f'database = "{tmp_path / "ns.db"}"\nhostname = "web-01"\n')
    stored = json.loads(run("snapshot", "--config", config, "--format", "json").stdout)
    assert stored["hostname"] == "web-01"
    shown = json.loads(run("show", "--config", config, "--format", "json").stdout)
    assert shown["host"]["hostname"] == "web-01"


@needs_root
def test_ignore_rules_hide_expected_churn_and_say_how_much(tmp_path: Path) -> None:
    db = tmp_path / "ns.db"
    config = write(tmp_path, '[[ignore]]\ncommand = "sleep*"\ntype = "uts"\n')
    assert run("audit", "--db", db, "--config", config).returncode in (0, 1)
    with in_new_namespaces("--uts") as pid:
        ours = os.readlink(f"/proc/{pid}/ns/uts")
        proc = run("audit", "--db", db, "--config", config, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)

    def named(entries: list[dict[str, Any]]) -> set[str]:
        return {f"{n['type']}:[{n['inode']}]" for n in entries}

    # A busy host may change meanwhile: what matters is that ours is hidden and counted.
    assert ours not in named(data["created"]) and data["summary"]["hidden"] >= 1
    # Without the rule the same change is a finding.
    proc = run("diff", "--db", db, "latest~1", "latest", "--format", "json")
    assert proc.returncode == 1 and ours in named(json.loads(proc.stdout)["created"])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("database = \n", ["line 1"]),
        ('database = "x"\n[retention]\nolder_than = "soon"\n', ["line 3", "'soon'"]),
        ('database = "x"\ncolour = "red"\n', ["line 2", "unknown key 'colour'"]),
        ('[[ignore]]\nprocess = "x"\n', ["line 2", "unknown key 'process'"]),
        ("hostname = 5\n", ["line 1", "hostname must be a string"]),
        ("[retention]\nkeep_last = -1\n", ["line 2", "keep_last"]),
        ('database = "a\\u0000b.db"\n', ["line 1", "database contains a NUL character"]),
        ('policy = "p\\u0000.toml"\n', ["line 1", "policy contains a NUL character"]),
    ],
)
def test_malformed_settings_file(tmp_path: Path, text: str, words: list[str]) -> None:
    config = write(tmp_path, text)
    proc = run("snapshots", "--config", config, "--db", tmp_path / "ns.db")
    assert_clean_error(proc, 2, str(config), *words)


def test_missing_settings_file(tmp_path: Path) -> None:
    assert_clean_error(run("snapshots", "--config", tmp_path / "nope.toml"), 2, "cannot be read")
