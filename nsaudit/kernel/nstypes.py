"""What the kernel needs to build each namespace type, and since when it has it."""

from __future__ import annotations

from dataclasses import dataclass

from nsaudit.model import NsType

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class TypeSpec:
    """The kernel facts about one type.

    option: the config option that builds it (None: always built, as mnt is).
    umbrella: whether CONFIG_NAMESPACES must be set too.
    any_of: options of which at least one must be set (ipc needs System V IPC or POSIX mqueues).
    introduced: the first kernel release with the type (user: the first where it is usable).
    """

    type: NsType
    option: str | None
    umbrella: bool
    any_of: tuple[str, ...]
    introduced: tuple[int, ...]
    clone_flag: int
    for_children: bool = False

    @property
    def introduced_text(self) -> str:
        return ".".join(str(n) for n in self.introduced)


UMBRELLA = "CONFIG_NAMESPACES"

SPECS: tuple[TypeSpec, ...] = (
    TypeSpec(NsType.CGROUP, "CONFIG_CGROUPS", False, (), (4, 6), CLONE_NEWCGROUP),
    TypeSpec(
        NsType.IPC,
        "CONFIG_IPC_NS",
        True,
        ("CONFIG_SYSVIPC", "CONFIG_POSIX_MQUEUE"),
        (2, 6, 19),
        CLONE_NEWIPC,
    ),
    TypeSpec(NsType.MNT, None, False, (), (2, 4, 19), CLONE_NEWNS),
    TypeSpec(NsType.NET, "CONFIG_NET_NS", True, (), (2, 6, 24), CLONE_NEWNET),
    TypeSpec(NsType.PID, "CONFIG_PID_NS", True, (), (2, 6, 24), CLONE_NEWPID, for_children=True),
    TypeSpec(NsType.TIME, "CONFIG_TIME_NS", True, (), (5, 6), CLONE_NEWTIME, for_children=True),
    TypeSpec(NsType.USER, "CONFIG_USER_NS", True, (), (3, 8), CLONE_NEWUSER),
    TypeSpec(NsType.UTS, "CONFIG_UTS_NS", True, (), (2, 6, 19), CLONE_NEWUTS),
)

SPEC = {s.type: s for s in SPECS}


def parse_types(text: str) -> tuple[NsType, ...]:
    """Types from 'net,pid' or 'all'; ValueError naming the first unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if "all" in names:
        names = [n for n in names if n != "all"] + [t.value for t in NsType]
    out: list[NsType] = []
    for name in names:
        try:
            ns_type = NsType(name)
        except ValueError:
            raise ValueError(name) from None
        if ns_type not in out:
            out.append(ns_type)
    return tuple(out)
