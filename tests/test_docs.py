"""Docs that cannot drift: the README's Quick start, commands, options and exit codes."""

from __future__ import annotations

import re

import click
from conftest import REPO

from nsaudit.cli import cli
from nsaudit.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_DATABASE,
    EXIT_FINDINGS,
    EXIT_HOST,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)

README = (REPO / "README.md").read_text()


def quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block
    return [line for line in block[1].splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands() -> None:
    install_and_run, install_and_test = quick_start()
    assert "pip install ." in install_and_run and "nsaudit audit" in install_and_run
    assert "'.[test]'" in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_quick_start() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "## Quick start" in ci and "quickstart[1]" in ci


def test_every_command_and_option_is_documented() -> None:
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"## `nsaudit {name}`" in README, name
        subcommands = list(command.commands.values()) if isinstance(command, click.Group) else []
        for sub in subcommands:
            assert sub.help and f"nsaudit {name} {sub.name}" in README, (name, sub.name)
        params = [p for c in [command, *subcommands] for p in c.params]
        for param in params:
            if isinstance(param, click.Argument):
                assert param.human_readable_name.upper() in README, (name, param.name)
                continue
            for opt in param.opts + param.secondary_opts:
                assert f"`{opt}" in README or f"{opt} " in README, (name, opt)


def test_every_exit_code_is_documented() -> None:
    codes = [
        EXIT_OK,
        EXIT_FINDINGS,
        EXIT_USAGE,
        EXIT_HOST,
        EXIT_DATABASE,
        EXIT_INTERNAL,
        EXIT_INTERRUPTED,
        EXIT_BROKEN_PIPE,
    ]
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in codes:
        assert re.search(rf"^\| {code} \|", table, re.M), code


def test_every_sample_kconfig_has_its_source_named() -> None:
    readme = (REPO / "samples" / "README.md").read_text()
    assert "a13xp0p0v/kernel-hardening-checker" in readme
