"""Container hosts this machine cannot be, through --root fixture trees (samples/roots/, each
with a README naming its sources): Kubernetes nodes on containerd and CRI-O, cgroup v2 with
the systemd driver and v1 with cgroupfs, and a systemd-nspawn machine registered with
machined (CI runs no systemd)."""

from __future__ import annotations

import json
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
