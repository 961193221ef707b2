"""Write the STIG fixture trees beside this script: RHEL 9 hosts whose user-namespace setting
is right, not persisted, lost, in conflict, or moot (a container host), as the tests and the
README's STIG example read them:

    python3 samples/roots/make_stig_roots.py

The trees are committed, so that the tests need no generator."""

from __future__ import annotations

import hashlib

from make_container_roots import Tree, cid

MAX = "proc/sys/user/max_user_namespaces"
OS_RELEASE = 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\n'
# What RHEL 9's own packages put in the sysctl folders, none of it about user namespaces.
VENDOR = {
    "usr/lib/sysctl.d/50-default.conf": "kernel.sysrq = 16\nkernel.core_uses_pid = 1\n",
    "usr/lib/sysctl.d/50-pid-max.conf": "kernel.pid_max = 4194304\n",
    "etc/sysctl.conf": "# System default settings live in /usr/lib/sysctl.d/00-system.conf.\n",
}
STIG_LINE = "# RHEL-09-213105\nuser.max_user_namespaces = 0\n"


def host(name: str, running: int, files: dict[str, str], container: bool = False) -> None:
    t = Tree(name, True)
    t.process(1, 0, "systemd", ["/usr/lib/systemd/systemd", "--switched-root"], "/init.scope", {})
    t.process(700, 1, "sshd", ["/usr/sbin/sshd", "-D"], "/system.slice/sshd.service", {})
    if container:
        ident = cid(0x51)
        shim = "/system.slice/containerd.service"
        t.process(900, 1, "containerd-shim", ["/usr/bin/containerd-shim-runc-v2"], shim, {})
        own = {x: t.inode() for x in ("ipc", "uts", "net", "pid", "mnt", "cgroup")}
        t.process(910, 900, "nginx", ["nginx"], f"/system.slice/docker-{ident}.scope", own)
    t.file(MAX, f"{running}\n")
    t.file("proc/sys/kernel/osrelease", "5.14.0-427.13.1.el9_4.x86_64\n")
    t.file("proc/sys/kernel/hostname", f"{name.removeprefix('stig-userns-')}.example.org\n")
    t.file("etc/machine-id", hashlib.md5(name.encode()).hexdigest() + "\n")
    t.file("etc/os-release", OS_RELEASE)
    for path, text in {**VENDOR, **files}.items():
        t.file(path, text)


if __name__ == "__main__":
    # The STIG's check text: running 0 and a file that sets 0 at boot, and no other value.
    host("stig-userns-persisted", 0, {"etc/sysctl.d/90-stig-userns.conf": STIG_LINE})
    # Set by hand with sysctl -w: right now, lost at the next boot.
    host("stig-userns-not-persisted", 0, {})
    # The file says 0 but nobody ran sysctl --system (or something set it since).
    host("stig-userns-not-applied", 15000, {"etc/sysctl.d/90-stig-userns.conf": STIG_LINE})
    # A package's file allows user namespaces and the admin's file forbids them: the admin's
    # wins at boot (90 sorts after 10), yet the two disagree, which the STIG calls a finding.
    host(
        "stig-userns-conflict",
        0,
        {
            "usr/lib/sysctl.d/10-rootless-containers.conf": "user.max_user_namespaces = 28633\n",
            "etc/sysctl.d/90-stig-userns.conf": STIG_LINE,
        },
    )
    # Containers in use: the STIG's note makes the requirement not applicable.
    host("stig-userns-container-host", 15000, {}, container=True)
