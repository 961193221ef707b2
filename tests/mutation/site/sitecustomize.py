"""Mutation runs only (tests/mutation/run.py puts this folder on PYTHONPATH).

Most tests run `python -m nsaudit` in a subprocess. While mutmut records which tests reach
which function (MUTANT_UNDER_TEST=stats), a subprocess records its calls in its own memory;
this hands them to the test process through a file, so that mutmut runs those tests against
the mutants of every function they reach. Outside a mutation run this file does nothing.
"""

import atexit
import json
import os


def _hand_over() -> None:
    try:
        from mutmut.state import state
    except ImportError:
        return
    calls = sorted(state()._stats)
    if not calls:
        return
    folder = os.environ["NSAUDIT_MUTATION_CALLS"]
    path = os.path.join(folder, f"{os.getpid()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(calls, f)
    os.rename(path + ".tmp", path)


def _load_config(project: str) -> None:
    """mutmut reads its settings from the current folder, and some tests run nsaudit in
    another: load them from the project's before any mutant asks."""
    try:
        from mutmut.configuration import config
    except ImportError:
        return
    here = os.getcwd()
    os.chdir(project)
    try:
        config()
    finally:
        os.chdir(here)


if os.environ.get("MUTANT_UNDER_TEST") and os.environ.get("NSAUDIT_MUTATION_PROJECT"):
    _load_config(os.environ["NSAUDIT_MUTATION_PROJECT"])
if os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get("NSAUDIT_MUTATION_CALLS"):
    atexit.register(_hand_over)
