"""Write the container-host fixture trees beside this script (what a Kubernetes node and a
systemd-nspawn host look like to nsaudit through --root), as the tests read them:

    python3 samples/roots/make_container_roots.py

Each tree's README names where every path's shape comes from. Run it again after changing it;
the trees are committed, so that the tests need no generator."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
TYPES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
HOST = {t: 4026531835 + n for n, t in enumerate(TYPES)}
TASKS = "run/containerd/io.containerd.runtime.v2.task/k8s.io"
CRIO = "run/containers/storage/overlay-containers"


def cid(n: int) -> str:
    return f"{n:02x}" * 32


def uid(n: int) -> str:
    return f"{n:08x}-1111-4222-8333-{n:012x}"


class Tree:
    def __init__(self, name: str, v2: bool) -> None:
        self.root = HERE / name
        self.v2 = v2
        shutil.rmtree(self.root, ignore_errors=True)
        ns = self.root / "proc" / "self" / "ns"
        ns.mkdir(parents=True)
        for t in TYPES:
            os.symlink(f"{t}:[{HOST[t]}]", ns / t)
        self.next_inode = 4026532300

    def inode(self) -> int:
        self.next_inode += 1
        return self.next_inode

    def process(
        self,
        pid: int,
        ppid: int,
        comm: str,
        argv: list[str],
        cgroup: str,
        ns: dict[str, int],
        uid: int = 0,
    ) -> None:
        base = self.root / "proc" / str(pid)
        (base / "ns").mkdir(parents=True)
        (base / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        fields = [str(pid), f"({comm})", "S", str(ppid), str(pid), str(pid), "0", "-1", "4194560"]
        fields += ["0"] * 12 + [str(1000 + pid)] + ["0"] * 30
        (base / "stat").write_text(" ".join(fields) + "\n")
        (base / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        if self.v2:
            text = f"0::{cgroup}\n"
        else:
            text = "".join(
                f"{n}:{c}:{cgroup}\n"
                for n, c in ((12, "pids"), (4, "memory"), (2, "cpu,cpuacct"), (1, "name=systemd"))
            )
        (base / "cgroup").write_text(text)
        for t in TYPES:
            os.symlink(f"{t}:[{ns.get(t, HOST[t])}]", base / "ns" / t)

    def file(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def pod_namespaces(self, host_network: bool) -> dict[str, int]:
        own = {t: self.inode() for t in ("ipc", "uts", "net", "pid", "mnt", "cgroup")}
        if host_network:
            own.pop("net")
        if not self.v2:
            own.pop("cgroup")  # cgroup v1: the runtimes leave the host's cgroup namespace
        return own


_SOURCES = {
    "containerd": """\
- `proc/<pid>/cgroup`: one unified line (cgroup v2), the kubelet's systemd driver:
  `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid with _>.slice/`
  `cri-containerd-<id>.scope` (kubernetes.io, "Configuring a cgroup driver"; containerd's
  CRI plugin with `SystemdCgroup = true`).
- `run/containerd/io.containerd.runtime.v2.task/k8s.io/<id>/config.json`: the OCI bundle the
  containerd shim v2 runs, with the CRI's `io.kubernetes.cri.*` annotations (containerd
  `pkg/cri/annotations`: container-type, sandbox-name, sandbox-namespace, sandbox-uid,
  container-name, image-name).
""",
    "crio": """\
- `proc/<pid>/cgroup`: cgroup v1 controllers and name=systemd, the kubelet's cgroupfs driver:
  `/kubepods/besteffort/pod<uid>/<id>` (kubernetes.io, "Configuring a cgroup driver"), which
  names no runtime: nsaudit finds the bundle of either CRI.
- `run/containers/storage/overlay-containers/<id>/userdata/config.json`: CRI-O's bundle with
  its `io.kubernetes.*` annotations (cri-o `pkg/annotations` and k8s.io/kubelet
  `types/labels.go`: io.kubernetes.pod.name, .namespace, .uid, io.kubernetes.container.name,
  "POD" for the sandbox; io.kubernetes.cri-o.ImageName, ContainerType).
""",
}
_COMMON = """\
- `var/log/pods/<namespace>_<name>_<uid>/`: the kubelet's log folder of each pod
  (kubelet `pkg/kubelet/kuberuntime`, BuildPodLogsDirectory).
- `proc/<pid>/ns/*`: links as the kernel names them (`net:[4026531838]`); pod containers share
  the sandbox's net, ipc and uts namespaces and have mount and pid namespaces of their own;
  kube-proxy's pod is hostNetwork, so its net namespace is the host's.
- `proc/<pid>/stat`, `cmdline`: the shapes of proc(5); each container's parent is the
  runtime's shim (containerd-shim, conmon).
"""


def readme(t: Tree, title: str, sources: str) -> None:
    t.file(
        "README.md",
        f"# {title}\n\nWritten by `samples/roots/make_container_roots.py`; what each path is "
        f"shaped after:\n\n{sources}",
    )


def kubernetes(name: str, v2: bool, runtime: str) -> None:
    """A node: systemd, the runtime's shims, pod web (a sandbox and nginx) and pod kube-proxy
    (hostNetwork: its containers are in the host's network namespace)."""
    t = Tree(name, v2)
    t.process(1, 0, "systemd", ["/sbin/init"], "/init.scope", {})
    t.process(80, 1, "kubelet", ["/usr/bin/kubelet"], "/system.slice/kubelet.service", {})
    shim = "containerd-shim" if runtime == "containerd" else "conmon"
    pods = [("default", "web-7d4b9c5f6-x2x9q", uid(1), False, "docker.io/library/nginx:1.27",
             "nginx"),
            ("kube-system", "kube-proxy-8fz2k", uid(2), True,
             "registry.k8s.io/kube-proxy:v1.31.0", "kube-proxy")]  # fmt: skip
    pid = 1000
    for n, (namespace, pod, pod_uid, host_network, image, container) in enumerate(pods):
        own = t.pod_namespaces(host_network)
        for kind in ("sandbox", "container"):
            pid += 10
            ident = cid(16 * n + (1 if kind == "sandbox" else 2))
            scope = {"containerd": f"cri-containerd-{ident}.scope", "crio": f"crio-{ident}.scope"}
            if v2:
                qos = "kubepods-besteffort"
                slice_ = f"{qos}-pod{pod_uid.replace('-', '_')}.slice"
                path = f"/kubepods.slice/{qos}.slice/{slice_}/{scope[runtime]}"
            else:
                path = f"/kubepods/besteffort/pod{pod_uid}/{ident}"
            ns = dict(own)
            if kind == "container":  # its own mount and pid namespaces; the pod's others
                ns["mnt"], ns["pid"] = t.inode(), t.inode()
            t.process(pid - 1, 1, shim, [f"/usr/bin/{shim}"], "/system.slice", {})
            argv = ["/pause"] if kind == "sandbox" else [f"/usr/bin/{container}"]
            comm = "pause" if kind == "sandbox" else container
            t.process(pid, pid - 1, comm, argv, path, ns)
            if runtime == "containerd":
                notes = {
                    "io.kubernetes.cri.container-type": kind,
                    "io.kubernetes.cri.sandbox-name": pod,
                    "io.kubernetes.cri.sandbox-namespace": namespace,
                    "io.kubernetes.cri.sandbox-uid": pod_uid,
                }
                if kind == "container":
                    notes["io.kubernetes.cri.container-name"] = container
                    notes["io.kubernetes.cri.image-name"] = image
                t.file(f"{TASKS}/{ident}/config.json", json.dumps({"annotations": notes}))
            else:
                notes = {
                    "io.kubernetes.cri-o.ContainerType": kind,
                    "io.kubernetes.pod.name": pod,
                    "io.kubernetes.pod.namespace": namespace,
                    "io.kubernetes.pod.uid": pod_uid,
                    "io.kubernetes.container.name": "POD" if kind == "sandbox" else container,
                    "io.kubernetes.cri-o.ImageName": (
                        "registry.k8s.io/pause:3.10" if kind == "sandbox" else image
                    ),
                }
                t.file(f"{CRIO}/{ident}/userdata/config.json", json.dumps({"annotations": notes}))
        os.makedirs(t.root / f"var/log/pods/{namespace}_{pod}_{pod_uid}", exist_ok=True)
        (t.root / f"var/log/pods/{namespace}_{pod}_{pod_uid}/.keep").write_text("")
    driver = "systemd driver, cgroup v2" if v2 else "cgroupfs driver, cgroup v1"
    readme(t, f"A Kubernetes node: {runtime}, {driver}", _SOURCES[runtime] + _COMMON)


def nspawn() -> None:
    """systemd-nspawn@web-1.service (systemd 246 and later): payload and supervisor."""
    t = Tree("nspawn-machined-v2", True)
    t.process(1, 0, "systemd", ["/sbin/init"], "/init.scope", {})
    unit = "/machine.slice/systemd-nspawn@web\\x2d1.service"
    t.process(500, 1, "systemd-nspawn", ["systemd-nspawn", "-M", "web-1"], unit + "/supervisor", {})
    own = {x: t.inode() for x in ("ipc", "uts", "net", "pid", "mnt", "cgroup")}
    t.process(501, 500, "systemd", ["/usr/lib/systemd/systemd"], unit + "/payload/init.scope", own)
    t.process(520, 501, "sshd", ["sshd"], unit + "/payload/system.slice/ssh.service", own)
    t.file(
        "run/systemd/machines/web-1",
        "# This is private data. Do not parse.\nNAME=web-1\n"
        "SCOPE=systemd-nspawn@web\\x2d1.service\nSERVICE=systemd-nspawn\nROOT=/var/lib/machines/web-1\nCLASS=container\nLEADER=501\n",
    )
    readme(
        t,
        "A systemd-nspawn machine, web-1, registered with systemd-machined",
        """\
- `proc/<pid>/cgroup`: systemd 246 and later run `systemd-nspawn@.service` with the container
  in `payload/` and nspawn itself in `supervisor/` (systemd `src/nspawn/nspawn-cgroup.c`;
  unit names escape `-` as `\\x2d`, systemd.unit(5)).
- `run/systemd/machines/web-1`: machined's state file (systemd `src/machine/machine.c`,
  machine_save: NAME, SCOPE, SERVICE, ROOT, CLASS, LEADER).
- Why a fixture: nsaudit's CI machine runs no systemd, so `systemd-nspawn --register=no` runs
  there but puts the container in no cgroup of its own: nothing the kernel says names it.
""",
    )


def rootless() -> None:
    """Podman run by alice (uid 1000) under her systemd user manager: her user namespace (held
    by podman's pause process) owns the container's namespaces."""
    t = Tree("podman-rootless-systemd-v2", True)
    t.process(1, 0, "systemd", ["/sbin/init"], "/init.scope", {})
    home = "/user.slice/user-1000.slice/user@1000.service"
    t.process(900, 1, "systemd", ["/lib/systemd/systemd", "--user"], home + "/init.scope", {}, 1000)
    user = {"user": t.inode()}
    pause = {**user, "mnt": t.inode()}
    t.process(950, 1, "catatonit", ["catatonit", "-P"], home + "/user.slice/podman-pause.scope",
              pause, 1000)  # fmt: skip
    ident = cid(0x42)
    conmon = home + f"/user.slice/libpod-conmon-{ident}.scope"
    t.process(1000, 1, "conmon", ["/usr/bin/conmon", "-c", ident], conmon, pause, 1000)
    own = {**user, **{x: t.inode() for x in ("ipc", "uts", "net", "pid", "mnt", "cgroup")}}
    scope = home + f"/user.slice/libpod-{ident}.scope"
    t.process(1010, 1000, "sleep", ["sleep", "infinity"], scope, own, 1000)
    t.file(
        "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    )
    meta = {"image-name": "docker.io/library/alpine:3.20", "name": "alice-web"}
    listed = [{"id": ident, "names": ["alice-web"], "metadata": json.dumps(meta)}]
    storage = "home/alice/.local/share/containers/storage/overlay-containers/containers.json"
    t.file(storage, json.dumps(listed))
    readme(
        t,
        "Rootless Podman, uid 1000, under her systemd user manager (cgroup v2)",
        """\
- `proc/<pid>/cgroup`: podman with the systemd cgroup manager puts a rootless container in
  `user@<uid>.service/user.slice/libpod-<id>.scope` and its conmon in `libpod-conmon-<id>.scope`
  (podman `libpod/oci_conmon_linux.go`); its pause process keeps the user namespace.
- `proc/<pid>/status`: the Uid line, proc(5); every process here is alice's.
- `home/alice/.local/share/containers/storage/overlay-containers/containers.json`: c/storage's
  container list in the user's graphroot (containers-storage.conf(5)), with podman's metadata
  (`image-name`, `name`), as on this project's CI machine for a rootful container.
- Why a fixture: without systemd (CI's machine), rootless podman cannot give a container a
  cgroup of its own (cgroupfs manager on cgroup v1), so nothing the kernel says names it.
""",
    )


if __name__ == "__main__":
    kubernetes("k8s-containerd-systemd-v2", True, "containerd")
    kubernetes("k8s-crio-cgroupfs-v1", False, "crio")
    nspawn()
    rootless()
