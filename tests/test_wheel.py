"""A wheel built from the checkout carries the Alembic migrations inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("nsaudit-*.whl")
    return built


def test_wheel_ships_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "nsaudit/_migrations/env.py",
        "nsaudit/_migrations/script.py.mako",
        "nsaudit/_migrations/versions/__init__.py",
        "nsaudit/_migrations/versions/0001_initial.py",
        "nsaudit/_migrations/versions/0002_policy_checks.py",
        "nsaudit/_migrations/versions/0003_parent_command.py",
        "nsaudit/_migrations/versions/0004_text_codec.py",
        "nsaudit/render/templates/report.html.j2",
        "nsaudit/policy/load.py",
        "nsaudit/cli/detect.py",
    ):
        assert name in names, name
    assert not any(n.startswith(("tests/", "samples/")) for n in names)


def test_wheel_in_a_fresh_venv_finds_its_migrations(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [venv / "bin" / "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    db = tmp_path / "fresh.db"
    # Run from elsewhere, so that the checkout's migrations/ cannot be what is found.
    proc = subprocess.run(
        [venv / "bin" / "nsaudit", "db", "upgrade", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "upgraded from empty to revision 0004" in proc.stdout
    proc = subprocess.run(
        [venv / "bin" / "nsaudit", "snapshot", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # The HTML report's template ships in the wheel too.
    proc = subprocess.run(
        [venv / "bin" / "nsaudit", "report", "--db", str(db), "--format", "html"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "<svg" in proc.stdout and "</html>" in proc.stdout
