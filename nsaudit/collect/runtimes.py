"""What a container's runtime says of it: name, image, pod. Read from the runtime's API over
its unix socket where it answers (briefly), else from its state files; never from inside the
container. Each runtime is asked once a scan, and only when a cgroup names one of its
containers; what cannot be learned becomes a note, never a failure."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from nsaudit.collect.cgroup import Placement
from nsaudit.hostfs import HostFS

TIMEOUT = 0.5  # seconds a step, for each daemon's socket
_MAX_STATE = 64 * 1024 * 1024
# c/storage's list of containers, in its storage driver's folder (overlay-containers,
# vfs-containers for rootless podman without fuse-overlayfs, btrfs-containers...).
_CONTAINERS_JSON = "*-containers/containers.json"
_CONTAINERD_TASKS = "/run/containerd/io.containerd.runtime.v2.task"
_CRIO_STATE = "/run/containers/storage/overlay-containers"
_KUBELET_LOGS = "/var/log/pods"


@dataclass(frozen=True)
class Described:
    """A runtime's word on one container, and where it came from."""

    runtime: str
    name: str | None = None
    image: str | None = None
    pod_namespace: str | None = None
    pod_name: str | None = None
    pod_uid: str | None = None
    source: str | None = None
    note: str | None = None


class Runtimes:
    """The runtimes of one host, each read at most once a scan."""

    def __init__(self, host: HostFS, environ: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.environ = os.environ if environ is None else environ
        self.tables: dict[tuple[str, int, str | None], tuple[dict[str, Described], str | None]]
        self.tables = {}

    def describe(self, where: Placement, uid: int | None, storage: str | None = None) -> Described:
        """What the container's runtime says of it; with a note when it says nothing. uid:
        whose container it is (a rootless one's user); storage: where that user's podman
        keeps it, when not in the default place."""
        if where.runtime in ("docker", "podman"):
            owner = 0 if where.runtime == "docker" or not uid else uid
            table, why = self._table(where.runtime, owner, storage if owner else None)
            found = table.get(where.id)
            if found is not None:
                return found
            return Described(where.runtime, note=why or f"{where.runtime} does not know it")
        if where.runtime in ("containerd", "crio", "cri"):
            return self._cri(where)
        if where.runtime == "lxc":
            return _lxc(self.host, where.id)
        return _nspawn(self.host, where.id)

    def _table(
        self, runtime: str, uid: int, storage: str | None
    ) -> tuple[dict[str, Described], str | None]:
        key = (runtime, uid, storage)
        if key not in self.tables:
            socket, state = _places(self.host, runtime, uid, self.environ)
            state = storage or state
            if not os.path.exists(socket):
                # No API: podman's is off unless its service runs; the state files are the
                # same record.
                self.tables[key] = _from_state(self.host, runtime, state)
                return self.tables[key]
            # Python's HTTP client (10 ms to import) only where a daemon's socket is.
            from nsaudit.collect import unixhttp

            try:
                listed = unixhttp.get_json(socket, "/containers/json", TIMEOUT)
                self.tables[key] = (_from_api(runtime, listed, socket), None)
            except unixhttp.Unanswered as e:
                table, why = _from_state(self.host, runtime, state)
                unanswered = f"API: {e}; " + (why or "read from its state files")
                table = {k: replace(d, note=unanswered) for k, d in table.items()}
                self.tables[key] = (table, unanswered)
        return self.tables[key]

    def _cri(self, where: Placement) -> Described:
        """A CRI container (containerd or CRI-O): its OCI bundle's annotations, which the CRI
        wrote from the pod's spec; the pod's names from the kubelet's log directory else."""
        tried = []
        for runtime, pattern in (
            ("containerd", f"{_CONTAINERD_TASKS}/*/{where.id}/config.json"),
            ("crio", f"{_CRIO_STATE}/{where.id}/userdata/config.json"),
        ):
            if where.runtime not in (runtime, "cri"):
                continue
            for path in self.host.glob(pattern):
                config = _read_json(self.host, path)
                if isinstance(config, dict):
                    return _annotated(runtime, config.get("annotations"), path, where.pod_uid)
            tried.append(pattern)
        pod = _pod_from_logs(self.host, where.pod_uid) if where.pod_uid else None
        note = f"no OCI bundle at {' or '.join(tried)}"
        if pod is None:
            return Described(where.runtime, pod_uid=where.pod_uid, note=note)
        namespace, name = pod
        return Described(
            where.runtime,
            pod_namespace=namespace,
            pod_name=name,
            pod_uid=where.pod_uid,
            source=_KUBELET_LOGS,
            note=note,
        )


def _places(host: HostFS, runtime: str, uid: int, environ: Mapping[str, str]) -> tuple[str, str]:
    """(API socket, storage folder) of a runtime: rootful, or a user's rootless podman. The
    socket is DOCKER_HOST's or CONTAINER_HOST's where one names a unix socket, as the
    runtimes' own command-line tools take it."""
    if runtime == "docker":
        socket, state = "/run/docker.sock", _docker_root(host)
        given = environ.get("DOCKER_HOST", "")
    elif uid == 0:
        socket, state = "/run/podman/podman.sock", "/var/lib/containers/storage"
        given = environ.get("CONTAINER_HOST", "")
    else:
        socket = f"/run/user/{uid}/podman/podman.sock"
        state = f"{_home(host, uid)}/.local/share/containers/storage"
        given = ""
    if given.startswith("unix://"):
        return given.removeprefix("unix://"), state
    return str(host.path(socket)), state


def _docker_root(host: HostFS) -> str:
    """dockerd's data-root: /etc/docker/daemon.json's, else /var/lib/docker."""
    config = _read_json(host, "/etc/docker/daemon.json")
    root = config.get("data-root") if isinstance(config, dict) else None
    return root if isinstance(root, str) and root.startswith("/") else "/var/lib/docker"


def _home(host: HostFS, uid: int) -> str:
    if host.live:
        try:
            return pwd.getpwuid(uid).pw_dir
        except KeyError:
            return f"/home/{uid}"
    try:
        text = host.read_bytes("/etc/passwd", _MAX_STATE).decode(errors="replace")
    except OSError:
        return f"/home/{uid}"
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) > 5 and parts[2] == str(uid):
            return parts[5]
    return f"/home/{uid}"


def _from_api(runtime: str, listed: Any, socket: str) -> dict[str, Described]:
    """Docker's /containers/json (podman answers the same): Id, Names, Image of each running
    container. Labels are not read: an image's author sets them."""
    out: dict[str, Described] = {}
    for c in listed if isinstance(listed, list) else ():
        if not isinstance(c, dict) or not isinstance(c.get("Id"), str):
            continue
        names = c.get("Names")
        name = names[0] if isinstance(names, list) and names and isinstance(names[0], str) else None
        image = c.get("Image") if isinstance(c.get("Image"), str) else None
        out[c["Id"]] = Described(
            runtime, name=name.removeprefix("/") if name else None, image=image, source=socket
        )
    return out


def _from_state(host: HostFS, runtime: str, root: str) -> tuple[dict[str, Described], str | None]:
    """The runtime's state files, written by the runtime, when its API does not answer."""
    if runtime == "docker":
        out: dict[str, Described] = {}
        for path in host.glob(f"{root}/containers/*/config.v2.json"):
            config = _read_json(host, path)
            if isinstance(config, dict) and isinstance(config.get("ID"), str):
                name, image = config.get("Name"), _get(config, "Config", "Image")
                out[config["ID"]] = Described(
                    runtime,
                    name=name.removeprefix("/") if isinstance(name, str) else None,
                    image=image if isinstance(image, str) else None,
                    source=path,
                )
        return out, None if out else f"no state under {root}/containers"
    found = host.glob(f"{root}/{_CONTAINERS_JSON}")
    if not found:
        return {}, f"no {_CONTAINERS_JSON} under {root}"
    out = {}
    unread = []
    for path in found:
        listed = _read_json(host, path)
        if isinstance(listed, list):
            out.update(_podman_state(runtime, path, listed))
        else:
            unread.append(f"{path} cannot be read")
    return out, "; ".join(unread) or None


def _podman_state(runtime: str, path: str, listed: list[Any]) -> dict[str, Described]:
    out: dict[str, Described] = {}
    for c in listed:
        if not isinstance(c, dict) or not isinstance(c.get("id"), str):
            continue
        try:
            meta = json.loads(c.get("metadata") or "{}")
        except (TypeError, ValueError):
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        names = c.get("names")
        name = meta.get("name") or (names[0] if isinstance(names, list) and names else None)
        image = meta.get("image-name")
        out[c["id"]] = Described(
            runtime,
            name=name if isinstance(name, str) else None,
            image=image if isinstance(image, str) else None,
            source=path,
        )
    return out


def _annotated(runtime: str, notes: Any, path: str, pod_uid: str | None) -> Described:
    """containerd's (io.kubernetes.cri.*) or CRI-O's (io.kubernetes.*) annotations."""
    notes = notes if isinstance(notes, dict) else {}

    def first(*keys: str) -> str | None:
        for key in keys:
            if isinstance(notes.get(key), str) and notes[key]:
                return str(notes[key])
        return None

    # A pod's sandbox (its pause container) has no name of its own: "POD", as CRI-O and the
    # kubelet's dockershim name it.
    sandbox = notes.get("io.kubernetes.cri.container-type") == "sandbox"
    return Described(
        runtime,
        name=first("io.kubernetes.cri.container-name", "io.kubernetes.container.name")
        or ("POD" if sandbox else None),
        image=first("io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName"),
        pod_namespace=first("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"),
        pod_name=first("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"),
        pod_uid=first("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid") or pod_uid,
        source=path,
    )


def _pod_from_logs(host: HostFS, uid: str) -> tuple[str, str] | None:
    """(namespace, name) of a pod: the kubelet names its log folder <namespace>_<name>_<uid>."""
    for path in host.glob(f"{_KUBELET_LOGS}/*_*_{uid}"):
        namespace, name, _ = os.path.basename(path).split("_", 2)
        return namespace, name
    return None


def _lxc(host: HostFS, name: str) -> Described:
    """An LXC container is its name; its root file system stands for an image."""
    path = f"/var/lib/lxc/{name}/config"
    rootfs = _config_value(host, path, "lxc.rootfs.path", " = ")
    note = None if rootfs else f"{path}: no lxc.rootfs.path"
    return Described("lxc", name=name, image=rootfs, source=path, note=note)


def _nspawn(host: HostFS, name: str) -> Described:
    """A systemd-nspawn machine is its name; machined records its root directory."""
    path = f"/run/systemd/machines/{name}"
    root = _config_value(host, path, "ROOT", "=")
    note = None if root else f"{path}: no ROOT"
    return Described("nspawn", name=name, image=root, source=path, note=note)


def _config_value(host: HostFS, path: str, key: str, sep: str) -> str | None:
    try:
        text = host.read_bytes(path, _MAX_STATE).decode(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        k, found, value = line.partition(sep.strip())
        if found and k.strip() == key:
            return value.strip() or None
    return None


def _read_json(host: HostFS, path: str) -> Any:
    try:
        return json.loads(host.read_bytes(path, _MAX_STATE))
    except (OSError, ValueError):
        return None


def _get(d: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        d = d.get(key) if isinstance(d, dict) else None  # type: ignore[assignment]
    return d
