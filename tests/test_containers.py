"""Container hosts, with real runtimes (issue 12): podman with runc and docker.io's dockerd,
images imported offline from busybox-static. Every test names its own containers and asserts
about them only: the host may run others."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import runtimes
from conftest import IS_ROOT, SAMPLES, nobody_dir, run, run_json

POLICY = SAMPLES / "policies" / "container-host.toml"
OWN_TYPES = {"ipc", "mnt", "net", "pid", "uts"}
# The sample policy's host_namespaces rules, by the type each checks.
RULE_OF = {"net": "CH-10", "pid": "CH-11", "ipc": "CH-12", "uts": "CH-13", "user": "CH-14"}


def _needs(problem: str | None) -> None:
    if not IS_ROOT:
        pytest.skip("needs root (CI runs as root)")
    if problem is not None:
        pytest.skip(problem)


def _started(runtime: str) -> Iterator[list[str]]:
    """The containers of a runtime this test starts (by name), removed after it."""
    problem = runtimes.podman_problem if runtime == "podman" else runtimes.docker_problem
    _needs(problem() if IS_ROOT else None)
    names: list[str] = []
    yield names
    runtimes.remove(runtime, *names)


@pytest.fixture
def podman() -> Iterator[list[str]]:
    yield from _started("podman")


@pytest.fixture
def docker() -> Iterator[list[str]]:
    yield from _started("docker")


def start(
    runtime: str, names: list[str], *flags: str, **command: tuple[str, ...]
) -> tuple[str, str]:
    """(name, id) of a new container of this test's."""
    name = f"nsa-{runtime[:2]}-{uuid.uuid4().hex[:8]}"
    names.append(name)
    return name, runtimes.run(runtime, name, *flags, **command)


def snapshot(db: Path, **env: str) -> dict[str, Any]:
    proc = run("snapshot", "--db", db, env=env or None)
    assert proc.returncode in (0, 1), proc.stderr
    return run_json("show", "--db", db)


def containers(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in shown["containers"]}


def test_show_names_every_containers_namespaces(
    tmp_path: Path, podman: list[str], docker: list[str]
) -> None:
    web, web_id = start("podman", podman)
    dweb, dweb_id = start("docker", docker)
    hostnet, hostnet_id = start("docker", docker, "--network", "host")
    shown = snapshot(tmp_path / "a.db")
    found = containers(shown)
    assert found[web]["id"] == web_id and found[web]["runtime"] == "podman"
    assert found[web]["image"] == runtimes.IMAGE and found[web]["shim"] == "conmon"
    assert found[dweb]["id"] == dweb_id and found[dweb]["runtime"] == "docker"
    assert found[dweb]["image"] == runtimes.DOCKER_IMAGE
    assert found[dweb]["shim"].startswith("containerd-shim")
    assert found[hostnet]["id"] == hostnet_id
    for name in (web, dweb, hostnet):
        assert found[name]["pid"] == runtimes.pid(found[name]["runtime"], name)
        assert found[name]["note"] is None, found[name]["note"]
    by_id: dict[str, set[str]] = {}
    for ns in shown["namespaces"]:
        if ns["container"] is not None:
            by_id.setdefault(ns["container"], set()).add(ns["type"])
    assert by_id[web_id] == by_id[dweb_id] == OWN_TYPES
    # A container's program is a file of its own image: its path names the container's mount
    # namespace, and so matches no host path an allowlist names (`exes`).
    for ns in shown["namespaces"]:
        if ns["container"] in (web_id, dweb_id) and ns["type"] == "mnt":
            assert ns["exe"] == f"mnt:[{ns['inode']}]/bin/busybox", ns
    # --network host: its net namespace is the host's, which is not the container's.
    assert by_id[hostnet_id] == OWN_TYPES - {"net"}
    host_net = next(ns for ns in found[hostnet]["namespaces"] if ns["type"] == "net")
    holder = next(
        ns for ns in shown["namespaces"] if ns["type"] == "net" and ns["inode"] == host_net["inode"]
    )
    assert holder["container"] is None
    # The terminal table names them too, by name and image.
    table = run("show", "--db", tmp_path / "a.db", "--tree", "container", "--wide")
    lines = table.stdout.splitlines()
    title = next(line for line in lines if line.startswith(web + " "))
    assert f"podman {web_id[:12]}, image {runtimes.IMAGE}" in title
    # The compliance report lists them, each with what it shares with the host.
    report = run("report", "--db", tmp_path / "a.db", "--format", "markdown", "--wide").stdout
    row = next(line for line in report.splitlines() if line.startswith(f"| {hostnet} "))
    assert "| ipc mnt pid uts " in row and " net " in row.split("|")[7], row


@pytest.mark.parametrize("shared", ["net", "pid", "ipc", "uts"])
def test_check_fails_exactly_the_podman_containers_that_share_a_host_namespace(
    tmp_path: Path, podman: list[str], shared: str
) -> None:
    sharing, _ = start("podman", podman, f"--{'network' if shared == 'net' else shared}", "host")
    own, _ = start("podman", podman)
    # A user namespace of its own (root in it is uid 100000 on the host).
    remapped, _ = start(
        "podman", podman, "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"
    )
    expect_failures(tmp_path, shared, sharing, own, remapped)


@pytest.mark.parametrize("shared", ["net", "pid", "ipc", "uts"])
def test_check_fails_exactly_the_docker_containers_that_share_a_host_namespace(
    tmp_path: Path, docker: list[str], shared: str
) -> None:
    # dockerd remaps user namespaces for all its containers or none (userns-remap): none here.
    sharing, _ = start("docker", docker, f"--{'network' if shared == 'net' else shared}", "host")
    own, _ = start("docker", docker)
    expect_failures(tmp_path, shared, sharing, own, None)


def expect_failures(
    tmp_path: Path, shared: str, sharing: str, own: str, remapped: str | None
) -> None:
    """The sample policy's host_namespaces rules, on this test's containers: the one that
    shares `shared` fails that rule alone, and every one not remapped fails the user rule."""
    db = tmp_path / "c.db"
    snapshot(db)
    proc = run("check", "--db", db, "--no-snapshot", "--policy", POLICY, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    ours = [name for name in (sharing, own, remapped) if name is not None]
    for ns_type, rule in RULE_OF.items():
        text = " ".join(e["text"] for e in results[rule]["evidence"])
        mine = {name for name in ours if f"container {name} (" in text}
        if ns_type == shared:
            expected = {sharing}
        elif ns_type == "user":
            expected = {sharing, own}  # rootful, not remapped: the host's user namespace
        else:
            expected = set()
        assert mine == expected, (rule, results[rule]["summary"], text)
        if expected:
            assert results[rule]["outcome"] == "fail"


def test_a_restart_is_one_line_of_the_diff(
    tmp_path: Path, podman: list[str], docker: list[str]
) -> None:
    web, web_id = start("podman", podman)
    dweb, _ = start("docker", docker)
    db = tmp_path / "d.db"
    snapshot(db)
    subprocess.run(["podman", "restart", "-t", "0", web], check=True, capture_output=True)
    # Recreated under the same name and image (a new id): a restart too.
    runtimes.remove("docker", dweb)
    runtimes.run("docker", dweb)
    snapshot(db)
    proc = run("diff", "--db", db, "--format", "json")
    assert proc.returncode == 1, proc.stderr  # what changed is a finding
    diff = json.loads(proc.stdout)
    events = {(e["new"] or e["old"])["name"]: e for e in diff["containers"]}
    assert events[web]["event"] == "restarted" and events[web]["new"]["id"] == web_id
    assert {n["type"] for n in events[web]["created"]} == OWN_TYPES
    assert {n["type"] for n in events[web]["vanished"]} == OWN_TYPES
    assert events[dweb]["event"] == "restarted"
    assert events[dweb]["old"]["id"] != events[dweb]["new"]["id"]
    table = run("diff", "--db", db, "--wide").stdout.splitlines()
    rows = [line for line in table if web in line or dweb in line]
    assert len(rows) == 2 and all(r.startswith("container restarted") for r in rows), rows
    # None of the namespaces they made or left is a line of its own (another namespace may
    # show an inode number the kernel gave again, of another type or identity).
    theirs = {
        (n["type"], str(n["inode"]))
        for e in (events[web], events[dweb])
        for n in (*e["created"], *e["vanished"])
    }
    rows = [line.split() for line in table if line.startswith(("created ", "vanished "))]
    assert not [r for r in rows if (r[1], r[2]) in theirs], table


def test_hosts_running_the_same_images_in_another_order_compare_equal(
    tmp_path: Path, podman: list[str], docker: list[str]
) -> None:
    db = tmp_path / "h.db"
    order = [("podman", ()), ("docker", ()), ("docker", ("--network", "host"))]
    for host, runs in (("alpha", order), ("beta", order[::-1])):
        for runtime, flags in runs:
            start(runtime, podman if runtime == "podman" else docker, *flags)
        settings = tmp_path / f"{host}.toml"
        settings.write_text(f'hostname = "{host}"\n')
        assert run("snapshot", "--db", db, "--config", settings).returncode in (0, 1)
        runtimes.remove("podman", *podman)
        runtimes.remove("docker", *docker)
        podman.clear()
        docker.clear()
    compared = run_json("compare", "alpha", "beta", "--db", db)
    shapes = {
        (c["runtime"], c["image"], c["own"], c["shared"]): c["counts"]
        for c in compared["containers"]
    }
    ours = {k: v for k, v in shapes.items() if k[1] in (runtimes.IMAGE, runtimes.DOCKER_IMAGE)}
    assert ours[("docker", runtimes.DOCKER_IMAGE, "ipc mnt pid uts", "cgroup net time user")]
    for key, counts in ours.items():
        assert counts[0] == counts[1], (key, counts)


CREATED_BY_PODMAN = """
[policy]
name = "podman-only"
[[rule]]
id = "CREATED"
title = "Namespaces are created by podman's containers only"
severity = "high"
check = { kind = "created", types = ["ipc", "net", "uts"], runtimes = ["podman"] }
"""


def test_a_container_gone_by_the_report_still_accounts_for_what_it_created(
    tmp_path: Path, podman: list[str]
) -> None:
    """The namespaces a container created are allowed by its runtime even when the container
    has gone by the last snapshot: the period's snapshots saw it."""
    db = tmp_path / "g.db"
    snapshot(db)
    name, _ = start("podman", podman)
    inodes = {n["inode"] for n in containers(snapshot(db))[name]["namespaces"]}
    runtimes.remove("podman", name)
    assert name not in containers(snapshot(db))
    policy = tmp_path / "p.toml"
    policy.write_text(CREATED_BY_PODMAN)
    proc = run("report", "--db", db, "--policy", policy, "--since", "1h", "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    (result,) = json.loads(proc.stdout)["hosts"][0]["results"]
    # Others' namespaces may fail the rule on a busy host; none of the container's does.
    assert "namespaces created" in result["summary"], result
    theirs = [e["text"] for e in result["evidence"] if any(f":[{i}]" in e["text"] for i in inodes)]
    assert theirs == [], theirs


class _Silent:
    """A unix socket that accepts connections and never answers, as a hung daemon does."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def test_a_hung_or_stopped_daemon_still_gives_a_whole_snapshot(
    tmp_path: Path, docker: list[str]
) -> None:
    name, _ = start("docker", docker)
    hung = _Silent(tmp_path / "hung.sock")
    try:
        shown = snapshot(tmp_path / "s.db", DOCKER_HOST=f"unix://{tmp_path / 'hung.sock'}")
    finally:
        hung.close()
    found = containers(shown)[name]
    # Named from dockerd's state files; why the API was not used is recorded.
    assert found["image"] == runtimes.DOCKER_IMAGE
    assert found["note"].startswith(f"API: {tmp_path / 'hung.sock'}: no answer within 0.5 s;")
    # A socket nothing listens on: a daemon that is down.
    down = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    down.bind(str(tmp_path / "down.sock"))
    try:
        shown = snapshot(tmp_path / "s.db", DOCKER_HOST=f"unix://{tmp_path / 'down.sock'}")
    finally:
        down.close()
    found = containers(shown)[name]
    assert found["image"] == runtimes.DOCKER_IMAGE
    assert "Connection refused" in found["note"], found["note"]
    assert not os.path.exists(tmp_path / "s.db-journal")


@pytest.fixture
def lxc() -> Iterator[list[str]]:
    """LXC containers this test creates from the busybox template (no download)."""
    _needs(None if shutil.which("lxc-create") else "needs lxc (.ci/run installs it)")
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["lxc-stop", "-k", "-n", name], capture_output=True, timeout=60)
        subprocess.run(["lxc-destroy", "-n", name], capture_output=True, timeout=60)


def test_an_lxc_container_is_named_by_its_cgroup_and_config(tmp_path: Path, lxc: list[str]) -> None:
    name = f"nsa-lxc-{uuid.uuid4().hex[:8]}"
    lxc.append(name)
    made = subprocess.run(
        ["lxc-create", "-n", name, "-t", "busybox"], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    # No bridge on this machine: a network namespace with loopback only.
    config = Path(f"/var/lib/lxc/{name}/config")
    lines = [ln for ln in config.read_text().splitlines() if not ln.startswith("lxc.net.0.")]
    config.write_text("\n".join([*lines, "lxc.net.0.type = empty", ""]))
    started = subprocess.run(["lxc-start", "-n", name, "-d"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    shown = snapshot(tmp_path / "l.db")
    found = containers(shown)[name]
    assert (found["runtime"], found["id"], found["shim"]) == ("lxc", name, "lxc-start")
    assert found["image"] == f"dir:/var/lib/lxc/{name}/rootfs" and found["note"] is None
    own = {ns["type"] for ns in shown["namespaces"] if ns["container"] == name}
    assert {"ipc", "mnt", "net", "pid", "uts"} <= own


def test_a_namespace_held_by_a_container_process_names_the_container(
    tmp_path: Path, podman: list[str]
) -> None:
    # A process that keeps a namespace open by an fd: its container is the holder's.
    script = "exec 3</proc/self/ns/uts; exec sleep 100000"
    name, ident = start("podman", podman, command=("/bin/sh", "-c", script))
    shown = snapshot(tmp_path / "f.db")
    pid = containers(shown)[name]["pid"]
    held = [
        h
        for ns in shown["namespaces"]
        for h in ns["holders"]
        if h["kind"] == "fd" and h["pid"] == pid and h["fd"] == 3
    ]
    assert held == [{"kind": "fd", "pid": pid, "fd": 3, "path": None, "container": ident}]


def _cgroup_mounts() -> list[Path]:
    """The unified hierarchy and systemd's named one: where systemd would put a scope."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, kind, options = line.split()[:4]
        if kind == "cgroup2" or (kind == "cgroup" and "name=systemd" in options.split(",")):
            out.append(Path(point))
    return out


def test_a_rootless_podman_container_owns_its_user_namespace(tmp_path: Path) -> None:
    """nobody's own podman (no subordinate ids: one uid mapped), its storage in a home of its
    own. CI's machine runs no systemd, so the test does what systemd's user manager does for
    rootless podman: it gives the container the scope `user@<uid>.service/user.slice/
    libpod-<id>.scope` (made by root, before the container starts in it)."""
    _needs(runtimes.podman_problem() if IS_ROOT else None)
    with nobody_dir() as home:
        _rootless(tmp_path, home)


def _rootless(tmp_path: Path, home: Path) -> None:
    (home / "run").mkdir()
    os.chown(home / "run", 65534, 65534)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run")}
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "podman"]
    tar = runtimes.rootfs(home / "rootfs.tar")
    os.chown(tar, 65534, 65534)

    def podman(*args: str) -> str:
        done = subprocess.run(
            [*as_nobody, *args], env=env, cwd=home, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    podman("import", "-q", str(tar), "localhost/rootless:latest")
    name = f"nsa-rl-{uuid.uuid4().hex[:8]}"
    flags = ("--network", "none", "--cgroup-manager", "cgroupfs", *runtimes.PODMAN_RUN)
    ident = podman("create", "--name", name, *flags, "localhost/rootless:latest", "sleep", "1000")
    # As systemd does for rootless podman: conmon in libpod-conmon-<id>.scope, the container
    # moved into libpod-<id>.scope once it runs.
    user_slice = "user.slice/user-65534.slice/user@65534.service/user.slice"
    conmon = [m / user_slice / f"libpod-conmon-{ident}.scope" for m in _cgroup_mounts()]
    payload = [m / user_slice / f"libpod-{ident}.scope" for m in _cgroup_mounts()]
    made = conmon + payload
    try:
        for path in made:
            path.mkdir(parents=True, exist_ok=True)

        def into_conmon_scope() -> None:
            for path in conmon:
                (path / "cgroup.procs").write_text("0")

        started = subprocess.run(
            [*as_nobody, "start", name], env=env, cwd=home, capture_output=True, text=True,
            preexec_fn=into_conmon_scope, timeout=120,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        pid = podman("inspect", "-f", "{{.State.Pid}}", name)
        for path in payload:
            (path / "cgroup.procs").write_text(pid)
        db = tmp_path / "r.db"
        shown = snapshot(db)
        found = containers(shown)[name]
        assert (found["runtime"], found["id"], found["image"]) == (
            "podman",
            ident,
            "localhost/rootless:latest",
        )
        # Its user's storage, as its conmon was told (vfs without fuse-overlayfs).
        storage = f"{home}/.local/share/containers/storage/"
        assert found["source"].startswith(storage), found["source"]
        assert found["source"].endswith("-containers/containers.json")
        user = next(ns for ns in found["namespaces"] if ns["type"] == "user")
        owner = next(
            ns
            for ns in shown["namespaces"]
            if ns["type"] == "user" and ns["inode"] == user["inode"]
        )
        assert owner["owner_uid"] == 65534
        proc = run("check", "--db", db, "--no-snapshot", "--policy", POLICY, "--format", "json")
        results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
        assert f"container {name} (" not in str(results["CH-14"]["evidence"])
    finally:
        subprocess.run([*as_nobody, "rm", "-f", "-t", "0", name], env=env, cwd=home,
                       capture_output=True, timeout=120)  # fmt: skip
        pause = home / "run" / "libpod" / "tmp" / "pause.pid"
        if pause.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pause.read_text()), 9)
        for path in made:
            for level in [path, *path.parents][:5]:
                with contextlib.suppress(OSError):
                    level.rmdir()
