"""The sysctls that restrict user namespaces, and what they leave an unprivileged user."""

from __future__ import annotations

from nsaudit.hostfs import HostFS
from nsaudit.model import NS_TYPE_NAMES, Access, Answer, Restriction, Status, Unprivileged

CLONE_SWITCH = "kernel.unprivileged_userns_clone"
APPARMOR_SWITCH = "kernel.apparmor_restrict_unprivileged_userns"
MAX_USERNS = "user.max_user_namespaces"
# Ubuntu's kernels (24.04 on): around the AppArmor restriction.
APPARMOR_UNCONFINED = "kernel.apparmor_restrict_unprivileged_unconfined"
APPARMOR_COMPLAIN = "kernel.apparmor_restrict_unprivileged_userns_complain"
APPARMOR_POLICY = "kernel.unprivileged_userns_apparmor_policy"

SYSCTLS = (
    CLONE_SWITCH,
    APPARMOR_SWITCH,
    MAX_USERNS,
    APPARMOR_UNCONFINED,
    APPARMOR_COMPLAIN,
    APPARMOR_POLICY,
)
# Every sysctl a policy may check: these, and the other types' limits beside max_user_namespaces.
CHECKED_SYSCTLS = (
    MAX_USERNS,
    CLONE_SWITCH,
    APPARMOR_SWITCH,
    APPARMOR_UNCONFINED,
    APPARMOR_COMPLAIN,
    APPARMOR_POLICY,
    *(f"user.max_{t}_namespaces" for t in NS_TYPE_NAMES if t != "user"),
)


def sysctl_path(name: str) -> str:
    return "/proc/sys/" + name.replace(".", "/")


def read_restrictions(
    host: HostFS, warnings: list[str]
) -> tuple[tuple[Restriction, ...], bool | None]:
    """The user-namespace sysctls, and whether AppArmor is active (None: cannot tell)."""
    apparmor_active = _apparmor_active(host)
    if not host.isdir("/proc/sys"):
        unread = f"unknown: no {host.show('/proc/sys')} to read"
        return (
            tuple(Restriction(n, host.show(sysctl_path(n)), None, unread, False) for n in SYSCTLS),
            None,
        )
    out = []
    for name in SYSCTLS:
        path = sysctl_path(name)
        try:
            value = host.read_value(path)
        except OSError as e:
            warnings.append(f"{host.show(path)} cannot be read ({e.strerror}); {name} is unknown")
            unread = f"unknown: {host.show(path)} cannot be read ({e.strerror})"
            out.append(Restriction(name, host.show(path), None, unread, False))
            continue
        out.append(
            Restriction(name, host.show(path), value, _meaning(name, value, apparmor_active))
        )
    return tuple(out), apparmor_active


def _apparmor_active(host: HostFS) -> bool | None:
    try:
        lsm = host.read_value("/sys/kernel/security/lsm")
        if lsm is not None:
            return "apparmor" in lsm.split(",")
        enabled = host.read_value("/sys/module/apparmor/parameters/enabled")
    except OSError:  # unreadable, or not a file (a --root tree may hold anything): cannot tell
        return None
    if enabled is not None:
        return enabled.upper().startswith("Y")
    return None


def _meaning(name: str, value: str | None, apparmor_active: bool | None) -> str:
    if name == MAX_USERNS:
        if value is None:
            return "not on this kernel (before 4.9): no per-user limit"
        if value == "0":
            return "no one, root included, can create a user namespace"
        return f"at most {value} user namespaces per user"
    if value is None:
        return "not on this kernel: no such switch"
    if name == CLONE_SWITCH:
        if value == "0":
            return "unprivileged users cannot create user namespaces; root still can"
        return "unprivileged users may create user namespaces"
    if name in _APPARMOR_MEANINGS:
        return _APPARMOR_MEANINGS[name][value == "0"]
    if value == "0":
        return "AppArmor does not restrict unprivileged user namespaces"
    meaning = (
        "an unprivileged user's new user namespace gets no capabilities unless its program's "
        "AppArmor profile allows userns"
    )
    if apparmor_active is False:
        meaning += "; AppArmor is not active, so this has no effect"
    return meaning


_APPARMOR_MEANINGS = {
    # (value not 0, value 0)
    APPARMOR_UNCONFINED: (
        "an unconfined process cannot move to a profile that grants userns (aa-exec -p) to get "
        "around the restriction",
        "an unconfined process may move to any profile that grants userns (aa-exec -p "
        "PROFILE): a way around the restriction",
    ),
    APPARMOR_COMPLAIN: (
        "a profile in complain mode is restricted too",
        "a profile in complain mode only logs: its programs get user namespaces with capabilities",
    ),
    APPARMOR_POLICY: (
        "AppArmor policy applies inside unprivileged user namespaces",
        "AppArmor policy does not mediate unprivileged user namespaces, so the restriction has "
        "no effect",
    ),
}


def unprivileged_access(
    user_status: Status, restrictions: tuple[Restriction, ...], apparmor_active: bool | None
) -> Answer:
    """Whether an unprivileged user can create a user namespace, and which evidence says so."""
    values = {r.name: r.value for r in restrictions}
    if user_status is Status.UNKNOWN:
        return Answer(Access.UNKNOWN, "whether the kernel has user namespaces is unknown")
    if user_status is not Status.AVAILABLE:
        return Answer(Access.DENIED, f"user namespaces are {user_status}")
    if values.get(CLONE_SWITCH) == "0":
        return Answer(Access.DENIED, f"{CLONE_SWITCH} = 0")
    unread = [r.name for r in restrictions if not r.read]
    if unread:
        # A switch that may deny or restrict could not be read: never a guess of "allowed".
        return Answer(Access.UNKNOWN, f"{', '.join(unread)} could not be read")
    apparmor = values.get(APPARMOR_SWITCH)
    mediated = values.get(APPARMOR_POLICY) != "0"
    if apparmor not in (None, "0") and apparmor_active is not False and mediated:
        return Answer(
            Access.RESTRICTED,
            f"{APPARMOR_SWITCH} = {apparmor}: created without capabilities "
            "unless an AppArmor profile allows userns",
        )
    checked = ", ".join(f"{r.name} = {r.value}" for r in restrictions if r.value is not None)
    return Answer(Access.ALLOWED, f"no restriction in force ({checked})")


_USER_ACCESS: dict[str, Unprivileged] = {
    Access.ALLOWED: Unprivileged.YES,
    Access.RESTRICTED: Unprivileged.RESTRICTED,
    Access.DENIED: Unprivileged.NO,
}


def unprivileged_verdict(is_user: bool, status: Status, userns: Answer) -> Answer:
    """What an unprivileged user can do with one type, given its user namespace access."""
    if status is Status.UNKNOWN:
        return Answer(Unprivileged.UNKNOWN, "the type's status is unknown")
    if status is not Status.AVAILABLE:
        return Answer(Unprivileged.NO, f"the type is {status}")
    if is_user:
        value = _USER_ACCESS.get(userns.value, Unprivileged.UNKNOWN)
        return Answer(value, userns.reason)
    if userns.value == Access.ALLOWED:
        return Answer(
            Unprivileged.YES, "inside a new user namespace, which grants CAP_SYS_ADMIN there"
        )
    if userns.value == Access.UNKNOWN:
        return Answer(Unprivileged.UNKNOWN, "user namespace access is unknown")
    return Answer(
        Unprivileged.NO, f"needs CAP_SYS_ADMIN, which only a user namespace gives ({userns.reason})"
    )
