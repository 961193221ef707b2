"""Really create each namespace type: unshare(2) in a short-lived child, never in nsaudit."""

from __future__ import annotations

import ctypes
import errno
import os
import pwd
import signal
import time

from nsaudit.errors import UsageError
from nsaudit.kernel.nstypes import CLONE_NEWUSER, SPEC
from nsaudit.model import NsType, ProbeResult, ProbeRun

TIMEOUT = 10.0
# (uid_t)-1 means "no change" to setuid(2): the largest uid a process can have is one less.
_MAX_UID = 2**32 - 2
_DIRECT = 0
_VIA_USERNS = 1
_CHILD_FAILED = 255


def resolve_user(spec: str) -> pwd.struct_passwd:
    """A user named by name or number; UsageError when there is no such user."""
    if spec.isdigit():
        uid = int(spec)
        if uid > _MAX_UID:
            raise UsageError(f"--probe-as: uid {spec} is out of range (0 to {_MAX_UID})")
        try:
            return pwd.getpwuid(uid)
        except KeyError:
            # A uid needs no passwd entry (containers, sssd users): probe it as itself, with
            # its uid as its group, as `setpriv --reuid N --regid N` would.
            return pwd.struct_passwd((spec, "x", uid, uid, "", "/", ""))
    try:
        return pwd.getpwnam(spec)
    except KeyError:
        raise UsageError(
            f"--probe-as: no user {spec!r} on this host; name an existing user or a uid"
        ) from None


def probe(types: tuple[NsType, ...], user: pwd.struct_passwd | None = None) -> ProbeRun:
    """Probe every type as the current user, or as `user` (which needs root)."""
    if user is not None and user.pw_uid != os.geteuid() and os.geteuid() != 0:
        raise UsageError(f"--probe-as {user.pw_name} needs root; run nsaudit as root or drop it")
    if user is None:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
    else:
        uid, name = user.pw_uid, user.pw_name
    return ProbeRun(name, uid, tuple(_probe_one(t, user) for t in types))


def _probe_one(ns_type: NsType, user: pwd.struct_passwd | None) -> ProbeResult:
    """Try unshare(type); an unprivileged user may still get it inside a new user namespace."""
    flag = SPEC[ns_type].clone_flag
    code = _in_child(flag, user)
    if code == _DIRECT:
        return ProbeResult(ns_type, True, "direct", None, None)
    retry = code == errno.EPERM and ns_type is not NsType.USER
    if retry and _in_child(flag | CLONE_NEWUSER, user) == _DIRECT:
        return ProbeResult(ns_type, True, "user namespace", None, None)
    if code == _CHILD_FAILED:
        return ProbeResult(ns_type, False, None, None, "the probe process failed")
    return ProbeResult(
        ns_type, False, None, errno.errorcode.get(code, str(code)), os.strerror(code)
    )


def _in_child(flags: int, user: pwd.struct_passwd | None) -> int:
    """Run unshare(flags) in a forked child; its exit status is 0 or the errno."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported by its exit status
        code = _CHILD_FAILED
        try:
            if user is not None and user.pw_uid != os.geteuid():
                os.setgroups([])
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
            libc = ctypes.CDLL(None, use_errno=True)
            code = 0 if libc.unshare(flags) == 0 else ctypes.get_errno()
        finally:
            os._exit(code)
    deadline = time.monotonic() + TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else _CHILD_FAILED
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return errno.ETIMEDOUT
        time.sleep(0.001)
