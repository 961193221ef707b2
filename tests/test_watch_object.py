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


def test_each_program_leaves_the_verifier_room(tmp_path: Path) -> None:
    # The verifier walks every inlined copy of a function (each leave() brings the path walk
    # and the cgroup walk), at most a million steps a program: four copies in one program took
    # 900,000 here, and another kernel's verifier may walk further. Half is the bound.
    import re
    import subprocess

    from conftest import IS_ROOT

    if not IS_ROOT or shutil.which("bpftool") is None:
        pytest.skip("needs root and bpftool (.ci/run installs it)")
    pins = tmp_path / "bpffs"
    pins.mkdir()
    subprocess.run(["mount", "-t", "bpf", "nsaudit-test", pins], check=True)
    try:
        done = subprocess.run(
            ["bpftool", "-d", "prog", "loadall", OBJECT, pins / "nswatch"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        subprocess.run(["umount", pins], check=True)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [int(n) for n in re.findall(r"processed (\d+) insns", done.stderr)]
    assert len(steps) == 5, done.stderr[-2000:]  # task_newtask, sys_exit, the two per-call, exit
    assert max(steps) < 500_000, steps
