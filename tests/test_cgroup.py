"""Which container a process is in, from its cgroup file: every runtime's layout, cgroup v1 and
v2, systemd and cgroupfs drivers. Each path is as the runtime writes it; where it came from is
named beside it (README "Container hosts" lists the same)."""

from __future__ import annotations

import pytest

from nsaudit.collect.cgroup import Placement, from_path, placement, unescape

ID = "8737a0cb9d763470e492096486e031f02de90d1676014531e1e4fb1eec021fd3"
ID2 = "3b3d25b40eaa59afdd7741a02cf5eaa2e34ca91eb6d4edded4ea0bf94d2d93ba"
UID = "1d2f6c3e-7f0a-4b8e-9c55-0a1b2c3d4e5f"
UID_ = UID.replace("-", "_")

CASES = [
    # Docker 20.10, cgroupfs driver, cgroup v1 (seen on this project's CI machine).
    (f"/docker/{ID}", Placement("docker", ID)),
    # Docker, systemd driver (docs.docker.com: "native.cgroupdriver=systemd").
    (f"/system.slice/docker-{ID}.scope", Placement("docker", ID)),
    # Podman 4 as root, cgroupfs manager (seen on CI); its conmon is the host's.
    (f"/libpod_parent/libpod-{ID}", Placement("podman", ID)),
    ("/libpod_parent/conmon", None),
    # Podman, systemd manager: rootful, rootless, and conmon's own scope.
    (f"/machine.slice/libpod-{ID}.scope", Placement("podman", ID)),
    (
        f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope",
        Placement("podman", ID),
    ),
    (f"/machine.slice/libpod-conmon-{ID}.scope", None),
    # A podman pod (machine-libpod_pod_<pod id>.slice) holds its containers' scopes.
    (f"/machine.slice/machine-libpod_pod_{ID2}.slice/libpod-{ID}.scope", Placement("podman", ID)),
    # containerd's CRI on a kubelet with the systemd driver (kubepods-<qos>-pod<uid>.slice).
    (
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/"
        f"cri-containerd-{ID}.scope",
        Placement("containerd", ID, UID),
    ),
    # Guaranteed pods sit directly under kubepods.slice.
    (
        f"/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope",
        Placement("containerd", ID, UID),
    ),
    # kind nodes put kubepods under kubelet.slice (kind's own cgroup path normalisation tests).
    (
        f"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        f"kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope",
        Placement("containerd", ID, UID),
    ),
    # The kubelet's dockershim (Kubernetes before 1.24) under the systemd driver.
    (
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/"
        f"docker-{ID}.scope",
        Placement("docker", ID, UID),
    ),
    # The cgroupfs driver names neither runtime nor scope: kubepods/<qos>/pod<uid>/<id>.
    (f"/kubepods/besteffort/pod{UID}/{ID}", Placement("cri", ID, UID)),
    (f"/kubepods/pod{UID}/{ID}", Placement("cri", ID, UID)),
    # CRI-O (systemd driver), and its conmon.
    (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-{ID}.scope",
        Placement("crio", ID, UID),
    ),
    (f"/kubepods.slice/kubepods-burstable.slice/crio-conmon-{ID}.scope", None),
    # LXC 4 and later: the payload and its own sub-cgroups; the monitor is the host's.
    ("/lxc.payload.web-1", Placement("lxc", "web-1")),
    ("/lxc.payload.web-1/system.slice/cron.service", Placement("lxc", "web-1")),
    ("/lxc.monitor.web-1", None),
    # LXC 3 and earlier.
    ("/lxc/web-1", Placement("lxc", "web-1")),
    # systemd-nspawn as a service (systemd 246 and later split payload and supervisor)...
    ("/machine.slice/systemd-nspawn@web\\x2d1.service/payload", Placement("nspawn", "web-1")),
    (
        "/machine.slice/systemd-nspawn@web\\x2d1.service/payload/init.scope",
        Placement("nspawn", "web-1"),
    ),
    ("/machine.slice/systemd-nspawn@web\\x2d1.service/supervisor", None),
    # ...and run by hand, registered with machined.
    ("/machine.slice/machine-web\\x2d1.scope", Placement("nspawn", "web-1")),
    # The host's own processes.
    ("/", None),
    ("/init.scope", None),
    ("/system.slice/sshd.service", None),
    ("/user.slice/user-1000.slice/session-3.scope", None),
    # A container given its own cgroup tree names sub-cgroups as it likes: the outermost
    # match, the runtime's, wins.
    (f"/system.slice/docker-{ID}.scope/docker-{ID2}.scope", Placement("docker", ID)),
    (f"/libpod_parent/libpod-{ID}/lxc.payload.x", Placement("podman", ID)),
    # Not a container id: a 64-hex name anywhere else, a short one under docker.
    (f"/system.slice/{ID}", None),
    ("/docker/8737a0cb9d76", None),
]


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[c[0][-48:] for c in CASES])
def test_each_runtime_layout(path: str, expected: Placement | None) -> None:
    assert from_path(path) == expected


def test_cgroup_v1_v2_and_hybrid_files() -> None:
    hybrid = (  # as /proc/<pid>/cgroup reads on a hybrid host (seen on CI)
        f"9:name=systemd:/libpod_parent/libpod-{ID}\n"
        f"8:pids:/libpod_parent/libpod-{ID}\n"
        f"1:cpu:/libpod_parent/libpod-{ID}\n"
        f"0::/libpod_parent/libpod-{ID}\n"
    )
    assert placement(hybrid) == Placement("podman", ID)
    assert placement(f"0::/system.slice/docker-{ID}.scope\n") == Placement("docker", ID)
    v1 = f"12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"
    assert placement(v1) == Placement("docker", ID)
    # The unified line speaks first: on a hybrid host a process moved in v2 alone is where
    # the v2 line says.
    moved = f"1:name=systemd:/docker/{ID}\n0::/system.slice/docker-{ID2}.scope\n"
    assert placement(moved) == Placement("docker", ID2)
    assert placement("0::/init.scope\n1:name=systemd:/init.scope\n") is None
    assert placement("") is None
    assert placement("garbage\n") is None


def test_systemd_unit_escapes() -> None:
    assert unescape("web\\x2d1") == "web-1"
    assert unescape("a\\x5cb") == "a\\b"
    assert unescape("plain") == "plain"


def test_which_line_speaks_first() -> None:
    other = "cd" * 32
    # No unified line: systemd's named hierarchy before the controllers.
    named_last = f"4:memory:/docker/{other}\n1:name=systemd:/docker/{ID}\n"
    assert placement(named_last) == Placement("docker", ID)
    # Among controllers, the file's own order (not the paths' order).
    assert placement(f"4:memory:/docker/{other}\n2:cpu:/docker/{ID}\n") == Placement(
        "docker", other
    )
    # A line that is not hierarchy:controllers:path is skipped, not the end of the file.
    assert placement(f"garbage\n0::/docker/{ID}\n") == Placement("docker", ID)
    # A colon in the path (LXC names may hold one) belongs to the path.
    assert placement("0::/lxc.payload.web:1\n") == Placement("lxc", "web:1")
