"""The committed BPF object is what its source builds: the build script, run in a copy of the
source folder elsewhere, gives the same bytes (so the object in the wheel is the reviewed C)."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from nsaudit.watch.bpf import OBJECT


def test_the_committed_object_matches_its_source(tmp_path: Path) -> None:
    missing = [t for t in ("clang", "bpftool") if shutil.which(t) is None]
    if missing or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("needs clang, bpftool and libbpf-dev (.ci/run installs them)")
    copy = tmp_path / "elsewhere" / "bpf"
    shutil.copytree(OBJECT.parent, copy, ignore=shutil.ignore_patterns("*.o"))
    import subprocess

    subprocess.run([str(copy / "build"), str(tmp_path / "built.o")], check=True)
    assert filecmp.cmp(tmp_path / "built.o", OBJECT, shallow=False), (
        "nswatch.bpf.o is not what nswatch.bpf.c builds: run nsaudit/watch/bpf/build"
    )


def test_the_object_and_its_sources_ship_in_the_package() -> None:
    names = {p.name for p in OBJECT.parent.iterdir()}
    assert {"nswatch.bpf.c", "nswatch.h", "kernel_types.h", "build", "nswatch.bpf.o"} <= names
