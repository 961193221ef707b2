"""pytest plugin for mutation runs only (tests/mutation/run.py loads it with -p).

Adds the functions that a test's subprocesses called (written by sitecustomize.py beside
this file) to the calls mutmut recorded in the test process, before mutmut files them under
the test."""

import json
import os
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    folder = os.environ.get("NSAUDIT_MUTATION_CALLS")
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or not folder:
        return
    from mutmut.state import state

    for path in Path(folder).glob("*.json"):
        state()._stats.update(json.loads(path.read_text()))
        path.unlink()
