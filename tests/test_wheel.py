"""A wheel built from the checkout carries the Alembic migrations inside the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

from nsaudit.store.schema import SCHEMA_HEAD


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    # From a copy of what the wheel is made of: a checkout's stale build/ would add files.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "nsaudit", "migrations"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("nsaudit-*.whl")
    return built


def test_wheel_ships_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every module of every package (a package left out of pyproject.toml would be missing),
    # every migration, and the files that are not Python.
    expected = {str(p.relative_to(REPO)) for p in (REPO / "nsaudit").rglob("*.py")}
    expected |= {
        f"nsaudit/_migrations/versions/{p.name}"
        for p in (REPO / "migrations" / "versions").glob("*.py")
    }
    expected |= {
        "nsaudit/_migrations/env.py",
        "nsaudit/_migrations/script.py.mako",
        "nsaudit/render/templates/report.html.j2",
    }
    # nsaudit watch's BPF object, and the source and script it is built from.
    expected |= {str(p.relative_to(REPO)) for p in (REPO / "nsaudit" / "watch" / "bpf").iterdir()}
    assert sorted(expected - names) == []
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
    assert f"upgraded from empty to revision {SCHEMA_HEAD}" in proc.stdout
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
