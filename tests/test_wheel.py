"""A wheel built from the checkout carries the Alembic migrations inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_wheel_ships_the_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("nsaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "nsaudit/_migrations/env.py",
        "nsaudit/_migrations/script.py.mako",
        "nsaudit/_migrations/versions/__init__.py",
        "nsaudit/cli/detect.py",
    ):
        assert name in names, name
    assert not any(n.startswith(("tests/", "samples/")) for n in names)
