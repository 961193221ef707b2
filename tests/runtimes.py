"""Real container runtimes for the tests, offline: an image imported from busybox-static's
binary (no registry is reachable), podman run with runc and lowered ulimits (crun refuses
hybrid cgroups on machines like CI's, and raising rlimits is not permitted there), and
docker.io's dockerd where it answers (.ci/run starts it)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

IMAGE = "localhost/nsaudit-busybox:latest"
DOCKER_IMAGE = "nsaudit-busybox:latest"
# What podman needs on CI's machine: runc, and limits it may set.
PODMAN_RUN = ("--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def rootfs(path: Path) -> Path:
    """A root file system of busybox-static's binary: sh and sleep, as a tar file."""
    busybox = shutil.which("busybox")
    assert busybox is not None
    with tarfile.open(path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for tool in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{tool}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return path


def _imported(command: list[str], image: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tar = rootfs(Path(tmp) / "rootfs.tar")
        subprocess.run([*command, "import", str(tar), image], check=True, capture_output=True)


def podman_problem() -> str | None:
    """Why podman cannot run a container here, or None."""
    if shutil.which("podman") is None or shutil.which("busybox") is None:
        return "needs podman, runc and busybox-static (.ci/run installs them)"
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        _imported(["podman"], IMAGE)
    return None


def docker_problem() -> str | None:
    """Why docker cannot run a container here, or None."""
    if shutil.which("docker") is None or shutil.which("busybox") is None:
        return "needs docker.io and busybox-static (.ci/run installs them)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return "needs dockerd running (.ci/run starts it): " + info.stderr.strip()[-200:]
    known = subprocess.run(["docker", "image", "inspect", DOCKER_IMAGE], capture_output=True)
    if known.returncode != 0:
        _imported(["docker"], DOCKER_IMAGE)
    return None


def run(
    runtime: str, name: str, *flags: str, command: tuple[str, ...] = ("/bin/sleep", "100000")
) -> str:
    """Start a container (that sleeps, unless given another command); its full id."""
    extra = PODMAN_RUN if runtime == "podman" else ("--ulimit", "nofile=1024:1024")
    image = IMAGE if runtime == "podman" else DOCKER_IMAGE
    done = subprocess.run(
        [runtime, "run", "-d", "--name", name, *extra, *flags, image, *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def remove(runtime: str, *names: str) -> None:
    if names:
        now = ("-t", "0") if runtime == "podman" else ()
        subprocess.run([runtime, "rm", "-f", *now, *names], capture_output=True, timeout=120)


def pid(runtime: str, name: str) -> int:
    done = subprocess.run(
        [runtime, "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True
    )
    return int(done.stdout.strip())
