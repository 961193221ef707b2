"""Container hosts this machine cannot be, through --root fixture trees (samples/roots/, each
with a README naming its sources): Kubernetes nodes on containerd and CRI-O, cgroup v2 with
the systemd driver and v1 with cgroupfs, and a systemd-nspawn machine registered with
machined (CI runs no systemd)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOTS, SAMPLES, run

POLICY = SAMPLES / "policies" / "container-host.toml"
WEB = ("default", "web-7d4b9c5f6-x2x9q", "00000001-1111-4222-8333-000000000001")
PROXY = ("kube-system", "kube-proxy-8fz2k", "00000002-1111-4222-8333-000000000002")


def scan(root: str) -> dict[str, Any]:
    proc = run("snapshot", "--root", ROOTS / root, "--no-store", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["problems"] == []
    return data


@pytest.mark.parametrize(
    ("root", "runtime", "shim", "pause"),
    [
        ("k8s-containerd-systemd-v2", "containerd", "containerd-shim", None),
        ("k8s-crio-cgroupfs-v1", "crio", "conmon", "registry.k8s.io/pause:3.10"),
    ],
)
def test_a_kubernetes_nodes_pods_and_containers(
    root: str, runtime: str, shim: str, pause: str | None
) -> None:
    data = scan(root)
    found = {
        (c["pod_namespace"], c["pod_name"], c["pod_uid"], c["name"]): c for c in data["containers"]
    }
    assert sorted(found) == sorted(
        [(*WEB, "POD"), (*WEB, "nginx"), (*PROXY, "POD"), (*PROXY, "kube-proxy")]
    )
    for c in found.values():
        assert (c["runtime"], c["shim"], c["note"]) == (runtime, shim, None)
    assert found[(*WEB, "nginx")]["image"] == "docker.io/library/nginx:1.27"
    assert found[(*WEB, "POD")]["image"] == pause
    # The pod's network namespace is its sandbox's; nginx's mount namespace is its own.
    sandbox, nginx = found[(*WEB, "POD")], found[(*WEB, "nginx")]
    net = next(ns for ns in nginx["namespaces"] if ns["type"] == "net")
    assert net in sandbox["namespaces"]
    owner = {(ns["type"], ns["inode"]): ns["container"] for ns in data["namespaces"]}
    assert owner[("net", net["inode"])] == sandbox["id"]
    mnt = next(ns for ns in nginx["namespaces"] if ns["type"] == "mnt")
    assert owner[("mnt", mnt["inode"])] == nginx["id"]


def test_check_fails_the_host_network_pod_only() -> None:
    proc = run(
        "check", "--root", ROOTS / "k8s-crio-cgroupfs-v1", "--policy", POLICY, "--format", "json"
    )
    assert proc.returncode == 1, proc.stderr
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    net = results["CH-10"]
    assert net["outcome"] == "fail" and net["summary"].startswith("2 of 4 containers share")
    texts = [e["text"] for e in net["evidence"]]
    assert all("pod kube-system/kube-proxy-8fz2k" in t for t in texts) and len(texts) == 2
    for rule in ("CH-11", "CH-12", "CH-13"):
        assert results[rule]["outcome"] == "pass", results[rule]


def test_a_systemd_nspawn_machine() -> None:
    data = scan("nspawn-machined-v2")
    (machine,) = data["containers"]
    assert (machine["runtime"], machine["id"]) == ("nspawn", "web-1")
    assert (machine["name"], machine["image"]) == ("web-1", "/var/lib/machines/web-1")
    # Its first process is the payload's init, under nspawn (the supervisor, the host's).
    assert (machine["pid"], machine["shim"], machine["note"]) == (501, "systemd-nspawn", None)
    own = [ns for ns in data["namespaces"] if ns["pid"] == 501]
    assert len(own) == 6 and all(ns["container"] == "web-1" for ns in own)


def _tree(tmp_path: Path) -> Any:
    """An empty container-host tree in tmp_path, as make_container_roots.py writes them."""
    sys.path.insert(0, str(ROOTS))
    try:
        import make_container_roots as make
    finally:
        sys.path.remove(str(ROOTS))
    make.HERE = tmp_path
    tree = make.Tree("host", True)
    tree.process(1, 0, "systemd", ["/sbin/init"], "/init.scope", {})
    return tree


def test_a_container_name_is_data(tmp_path: Path) -> None:
    # LXC names its cgroup after the container, whatever bytes the name holds.
    t = _tree(tmp_path)
    name = "ev\x1b[31mil\u202e=cmd"
    t.process(40, 1, "lxc-start", ["lxc-start"], f"/lxc.monitor.{name}", {})
    t.process(41, 40, "init", ["/sbin/init"], f"/lxc.payload.{name}", {"uts": t.inode()})
    table = run("snapshot", "--root", t.root, "--no-store", "--wide")
    assert table.returncode == 0, table.stderr
    assert "ev\\x1b[31mil\\u202e=cmd" in table.stdout and "\x1b" not in table.stdout
    as_json = run("snapshot", "--root", t.root, "--no-store", "--format", "json")
    (c,) = json.loads(as_json.stdout)["containers"]
    assert (c["runtime"], c["id"], c["name"]) == ("lxc", name, name)
    assert c["note"] == f"/var/lib/lxc/{name}/config: no lxc.rootfs.path"


@pytest.mark.parametrize(
    "state",
    [
        "not json",
        '{"a": 1}',
        '[{"id": 5}, "x", {"id": "' + "ab" * 32 + '", "metadata": "{broken", "names": 7}]',
    ],
)
def test_damaged_runtime_state_is_a_note_not_a_failure(tmp_path: Path, state: str) -> None:
    t = _tree(tmp_path)
    ident = "ab" * 32
    t.process(50, 1, "conmon", ["conmon"], "/libpod_parent/conmon", {})
    t.process(51, 50, "sleep", ["sleep"], f"/libpod_parent/libpod-{ident}", {"uts": t.inode()})
    t.file("var/lib/containers/storage/overlay-containers/containers.json", state)
    proc = run("snapshot", "--root", t.root, "--no-store", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (c,) = json.loads(proc.stdout)["containers"]
    assert (c["runtime"], c["id"], c["shim"]) == ("podman", ident, "conmon")
    assert c["name"] is None and c["image"] is None
    if state.startswith("["):
        assert c["note"] is None  # listed, with neither a usable name nor an image
    else:
        assert c["note"] == (
            "/var/lib/containers/storage/overlay-containers/containers.json cannot be read"
        )


def test_a_forged_scope_is_said_to_disagree(tmp_path: Path) -> None:
    # A process in a cgroup named like a docker scope, started by a shell, not a shim, and
    # unknown to dockerd: attributed by its cgroup, with both disagreements in the note.
    t = _tree(tmp_path)
    ident = "cd" * 32
    t.process(60, 1, "bash", ["bash"], "/user.slice", {})
    t.process(61, 60, "sleep", ["sleep"], f"/system.slice/docker-{ident}.scope", {"uts": t.inode()})
    proc = run("snapshot", "--root", t.root, "--no-store", "--format", "json")
    (c,) = json.loads(proc.stdout)["containers"]
    assert c["runtime"] == "docker" and c["name"] is None
    assert "docker does not know it" in c["note"] or "no state under" in c["note"]
    assert "its first process's parent is 'bash', not docker's shim" in c["note"]


def test_a_rootless_podman_container_is_its_users_and_in_her_user_namespace() -> None:
    root = ROOTS / "podman-rootless-systemd-v2"
    data = scan("podman-rootless-systemd-v2")
    (c,) = data["containers"]
    assert (c["runtime"], c["name"], c["image"]) == (
        "podman",
        "alice-web",
        "docker.io/library/alpine:3.20",
    )
    assert (
        c["source"]
        == "/home/alice/.local/share/containers/storage/overlay-containers/containers.json"
    )
    proc = run("check", "--root", root, "--policy", POLICY, "--format", "json")
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    # Not the host's user namespace: root in it is alice on the host.
    assert results["CH-14"]["outcome"] == "pass", results["CH-14"]


# The collector's attribution in this process (collect/containers.py), on trees like these.


def _attributed(root: Path) -> Any:
    from nsaudit.collect.snapshot import take
    from nsaudit.hostfs import HostFS

    return take(HostFS(root))


def test_every_field_the_collector_fills_in() -> None:
    s = _attributed(ROOTS / "podman-rootless-systemd-v2")
    (c,) = s.containers
    assert (c.pid, c.shim, c.note, c.pod_uid) == (1010, "conmon", None, None)
    assert [(n.type.value, n.inode) for n in c.namespaces] == [
        ("cgroup", 4026532308), ("ipc", 4026532303), ("mnt", 4026532307), ("net", 4026532305),
        ("pid", 4026532306), ("time", 4026531840), ("user", 4026532301), ("uts", 4026532304),
    ]  # fmt: skip
    mine = {(n.id.type.value, n.id.inode) for n in s.namespaces if n.container == c.id}
    assert mine == {(t, i) for t, i in [(n.type.value, n.inode) for n in c.namespaces]} - {
        ("time", 4026531840),
        ("user", 4026532301),
    }
    k8s = _attributed(ROOTS / "k8s-crio-cgroupfs-v1")
    nginx = next(c for c in k8s.containers if c.name == "nginx")
    assert nginx.pod_uid == "00000001-1111-4222-8333-000000000001" and nginx.pid == 1020


def test_a_rootless_containers_storage_is_where_its_own_conmon_says(tmp_path: Path) -> None:
    t = _tree(tmp_path)
    ident = "ef" * 32
    user = {"user": t.inode()}
    exit_args = ["--exit-command-arg", "--root", "--exit-command-arg", "/srv/alice"]
    t.process(70, 1, "conmon", ["/usr/bin/conmon", "-c", ident, *exit_args], "/", user, 1000)
    scope = f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ident}.scope"
    t.process(71, 70, "sleep", ["sleep"], scope, {**user, "uts": t.inode()}, 1000)
    listed = [{"id": ident, "metadata": json.dumps({"name": "a", "image-name": "i"})}]
    t.file("srv/alice/vfs-containers/containers.json", json.dumps(listed))
    (c,) = _attributed(t.root).containers
    assert (c.name, c.image, c.source) == ("a", "i", "/srv/alice/vfs-containers/containers.json")
    # A conmon of another user is not asked: the user's home is.
    (t.root / "proc/70/status").write_text("Name:\tconmon\nUid:\t0\t0\t0\t0\n")
    (c,) = _attributed(t.root).containers
    assert (
        c.name is None
        and c.note
        == "no *-containers/containers.json under /home/1000/.local/share/containers/storage"
    )


def test_an_unreadable_cgroup_makes_the_snapshot_partial(tmp_path: Path) -> None:
    t = _tree(tmp_path)
    t.process(80, 1, "sleep", ["sleep"], "/", {"uts": t.inode()})
    cgroup = t.root / "proc/80/cgroup"
    cgroup.unlink()
    os.mkfifo(cgroup)
    s = _attributed(t.root)
    assert [(p.pid, p.path) for p in s.problems] == [(80, f"{t.root}/proc/80/cgroup")]
    assert s.containers == () and all(n.container is None for n in s.namespaces)


def test_a_pod_without_its_bundle_is_named_from_the_kubelets_log_folder(tmp_path: Path) -> None:
    t = _tree(tmp_path)
    ident, uid = "ab" * 32, "00000009-1111-4222-8333-000000000009"
    t.process(
        90, 1, "pause", ["/pause"], f"/kubepods/besteffort/pod{uid}/{ident}", {"net": t.inode()}
    )
    (t.root / f"var/log/pods/shop_cart-5f6d_{uid}").mkdir(parents=True)
    (c,) = _attributed(t.root).containers
    assert (c.runtime, c.pod_namespace, c.pod_name, c.pod_uid, c.name) == (
        "cri", "shop", "cart-5f6d", uid, None,
    )  # fmt: skip
    assert c.source == "/var/log/pods" and c.note.startswith("no OCI bundle at ")
