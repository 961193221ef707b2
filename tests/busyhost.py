"""Make this host busy, as a developer's workstation or a container host is: unrelated
namespaces held by processes and bind mounts, and a real container where podman can run one.

    python tests/busyhost.py start [--namespaces N]   # prints what it made; leaves it running
    python tests/busyhost.py stop                     # removes all of it

The suite must pass with this load alive (issue 9, item 20): tests assert about what they
made, never that the host holds nothing else. `.ci/run` runs the suite under it. Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import runtimes  # tests/runtimes.py, beside this script

STATE = Path(os.environ.get("NSAUDIT_BUSYHOST_STATE", "/run/nsaudit-busyhost.json"))
NETNS_PREFIX = "busyhost-"
CONTAINER = "nsaudit-busyhost"
# The flags of a container-like process: four namespaces of its own, as runtimes make them.
FLAGS = ("--net", "--uts", "--ipc", "--mount")


def start(namespaces: int) -> dict[str, object]:
    groups = max(1, namespaces // (len(FLAGS) + 1))
    pids = []
    for _ in range(groups):
        # setsid: the load outlives this script and is not killed with the test run's group.
        proc = subprocess.Popen(
            ["setsid", "unshare", *FLAGS, "sleep", "infinity"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pids.append(proc.pid)
    # A user namespace of a non-root user, as rootless containers and browser sandboxes make.
    rootless = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "--user"]
    proc = subprocess.Popen(
        ["setsid", *rootless, "--net", "sleep", "infinity"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids.append(proc.pid)
    mounts = []
    for i in range(groups):
        name = f"{NETNS_PREFIX}{i}"
        if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0:
            mounts.append(name)
    state: dict[str, object] = {"pids": pids, "netns": mounts, "container": _container()}
    STATE.write_text(json.dumps(state))
    return state


def _container() -> str | None:
    """A podman container from busybox-static, made offline; None when podman cannot run."""
    problem = runtimes.podman_problem()
    if problem is not None:
        print(f"busyhost: no container: {problem}", file=sys.stderr)
        return None
    runtimes.remove("podman", CONTAINER)
    try:
        runtimes.run("podman", CONTAINER)
    except AssertionError as e:
        print(f"busyhost: no container: {e}", file=sys.stderr)
        return None
    return CONTAINER


def stop() -> None:
    try:
        state = json.loads(STATE.read_text())
    except FileNotFoundError:
        return
    for pid in state.get("pids", []):
        # unshare execs sleep in the same process: killing the pid ends the namespaces.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for name in state.get("netns", []):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if state.get("container") and shutil.which("podman"):
        runtimes.remove("podman", state["container"])
    STATE.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--namespaces", type=int, default=300)
    args = parser.parse_args()
    if args.action == "stop":
        stop()
        return 0
    stop()
    state = start(args.namespaces)
    pids, netns = state["pids"], state["netns"]
    assert isinstance(pids, list) and isinstance(netns, list)
    print(
        f"busyhost: {len(pids)} processes with {len(FLAGS)} namespaces each, "
        f"{len(netns)} bind-mounted net namespaces, container: {state['container'] or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
