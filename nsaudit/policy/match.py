"""Glob allowlists: which commands, executables, users, bind-mount paths and containers may
hold a namespace."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from nsaudit.model import Container, Holder, HolderKind, Namespace


def glob_problem(pattern: str) -> str | None:
    """Why a glob pattern is unusable, or None. fnmatch takes an unclosed '[' literally,
    which is never what a policy author meant, so it is refused here."""
    if not pattern:
        return "an empty pattern matches nothing"
    depth_open = None
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "[" and depth_open is None:
            depth_open = i
            # ']' right after '[' or '[!' is a literal member of the set.
            j = i + 1
            if j < len(pattern) and pattern[j] == "!":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            i = j
            continue
        if ch == "]" and depth_open is not None:
            depth_open = None
        i += 1
    if depth_open is not None:
        return f"'[' at position {depth_open + 1} is never closed"
    # Nothing else to refuse: fnmatch.translate escapes everything else (empty ranges, '\\',
    # set operators), so the regex of any other pattern compiles.
    return None


@lru_cache(maxsize=1 << 14)
def matches(text: str | None, patterns: tuple[str, ...]) -> bool:
    """Whether the text matches one of the globs (a host's month of namespaces asks the same
    few questions thousands of times: each answered once)."""
    return text is not None and any(fnmatch.fnmatchcase(text, p) for p in patterns)


@dataclass(frozen=True)
class Allowlist:
    """Who may hold a namespace; anything not listed may not (deny by default).

    A member process is an allowed holder when its user matches `users` (if given) and its
    command matches `commands`, its parent's command matches `parents` or its executable
    matches `exes` (if any of those is given); at least one of the four must be given. The
    executable is the kernel's (Namespace.exe), which a rename does not change: a file that is
    not the host's file at that path ('mnt:[inode]/...') matches no glob (each is absolute,
    policy/place.py). A bind mount is an allowed holder when its path matches `paths`. A
    namespace passes when it has an allowed holder and, if paths are given, no bind mount
    anywhere else. A namespace held only by an fd or as a *_for_children target has no
    recorded command: it does not pass.

    A namespace of a container (its process runs in one, by its cgroup) is also allowed when
    the container matches every one of `runtimes`, `images` and `containers` (names) that is
    given (and, with paths given, it is bind-mounted nowhere else): what the kernel and the
    runtime say, which the container's processes cannot change, unlike their commands (the
    recommended way on a container host).
    """

    commands: tuple[str, ...] | None = None
    users: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    parents: tuple[str, ...] | None = None
    runtimes: tuple[str, ...] | None = None
    images: tuple[str, ...] | None = None
    containers: tuple[str, ...] | None = None
    exes: tuple[str, ...] | None = None

    @property
    def _about_processes(self) -> bool:
        return any(x is not None for x in (self.commands, self.exes, self.users, self.parents))

    @property
    def about_containers(self) -> bool:
        return any(x is not None for x in (self.runtimes, self.images, self.containers))

    def container_ok(self, c: Container | None) -> bool:
        """Whether a container is one the list allows (never when it names none)."""
        if c is None or not self.about_containers:
            return False
        return all(
            given is None or matches(value, given)
            for value, given in (
                (c.runtime, self.runtimes),
                (c.image, self.images),
                (c.name, self.containers),
            )
        )

    def _process_ok(self, ns: Namespace) -> bool:
        if not self._about_processes:
            return False
        if self.users is not None and not matches(ns.user, self.users):
            return False
        named = self._named(ns)
        if all(given is None for _, _, given in named):
            return True
        return any(given is not None and matches(value, given) for _, value, given in named)

    def _named(self, ns: Namespace) -> tuple[tuple[str, str | None, tuple[str, ...] | None], ...]:
        """(list, the process's value, the list's globs): what a process may be allowed by,
        besides its user."""
        return (
            ("commands", ns.command, self.commands),
            ("parents", ns.parent_command, self.parents),
            ("exes", ns.exe, self.exes),
        )

    def violation(self, ns: Namespace, container: Container | None = None) -> str | None:
        """Why the namespace (of that container, if any) is not allowed, in words, or None."""
        mounts = [h for h in ns.holders if h.kind == HolderKind.MOUNT]
        if self.paths is not None:
            stray = [h for h in mounts if not matches(h.path, self.paths)]
            if stray:
                return f"bind-mounted at {stray[0].path}, not an allowed path"
            if mounts:
                return None
        if self.container_ok(container):
            return None
        if ns.pid is not None:
            if self._process_ok(ns):
                return None
            if container is not None and self.about_containers:
                return f"held by {who(ns)}, in {container_words(container)}, which is not allowed"
            if not self._about_processes:
                return f"held by {who(ns)}, and not bind-mounted at an allowed path"
            named = (*self._named(ns), ("users", ns.user, self.users))
            lists = [name for name, _, given in named if given is not None]
            unknown = " (its executable is not recorded)" if self.exes and ns.exe is None else ""
            return (
                f"held by {who(ns)}, which the allowed {' and '.join(lists)} do not cover{unknown}"
            )
        if mounts:
            return f"held only by {_holders(mounts)}, and no bind-mount path is allowed"
        if ns.holders:  # none of them a mount (handled above): fds, *_for_children
            return f"held only by {_holders(ns.holders)}, whose command is not recorded"
        return "no holder recorded"


def container_words(c: Container) -> str:
    """'container web-1 (docker 8737a0cb9d76, image nginx:1.27)', as evidence names one."""
    pod = f", pod {c.pod}" if c.pod else ""
    return f"container {c.label} ({c.runtime} {c.id[:12]}, image {c.image or 'unknown'}{pod})"


def _holders(holders: Iterable[Holder]) -> str:
    return ", ".join(h.text for h in holders)


CMDLINE_SHOWN = 120


def who(ns: Namespace) -> str:
    """The member process in words: command, pid, user, parent, executable (when recorded) and
    (the start of) its command line."""
    if ns.pid is not None:
        line = ns.cmdline or ""
        line = line if len(line) <= CMDLINE_SHOWN else line[: CMDLINE_SHOWN - 3] + "..."
        more = f", parent {ns.parent_command or 'not recorded'}"
        more += f", executable {ns.exe}" if ns.exe else ""
        return f"{ns.command or '?'} (pid {ns.pid}, user {ns.user or ns.uid}{more})" + (
            f": {line}" if line else ""
        )
    return ", ".join(h.text for h in ns.holders) or "nothing recorded"
