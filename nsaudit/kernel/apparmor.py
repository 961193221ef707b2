"""The AppArmor profiles that grant `userns,`: the way around Ubuntu's restriction of
unprivileged user namespaces (a program run under such a profile gets them with capabilities)."""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field

from nsaudit.hostfs import HostFS
from nsaudit.model import UsernsProfile

PROFILES = "/etc/apparmor.d"
MAX_BYTES = 1024 * 1024
# Folders of /etc/apparmor.d that hold no profiles of their own: snippets, and the links
# that disable a profile or force it into complain mode.
_NOT_PROFILES = {"abstractions", "tunables", "local", "disable", "force-complain", "cache"}
_FLAGS = re.compile(r"(?:flags\s*=\s*)?\((?P<flags>[^)]*)\)")
_USERNS = re.compile(r"^\s*(?:audit\s+)?(?:allow\s+)?userns\s*(?:create\s*)?,")
_NO_CAPABILITIES = re.compile(r"^\s*(?:audit\s+)?deny\s+capability\s*,")
_INCLUDE = re.compile(r"^\s*#?include\s+(?:if\s+exists\s+)?<(?P<file>[^>]+)>")


def userns_profiles(host: HostFS, warnings: list[str]) -> tuple[UsernsProfile, ...] | None:
    """Every profile in /etc/apparmor.d that grants `userns,` (directly or through its
    local/ include), with the file and line that grants it. None: AppArmor's profile folder
    could not be read; () when there is none."""
    try:
        entries = sorted(os.listdir(host.path(PROFILES)))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return ()
        warnings.append(f"{host.show(PROFILES)} cannot be listed ({e.strerror})")
        return None
    disabled = _names(host, f"{PROFILES}/disable")
    complain = _names(host, f"{PROFILES}/force-complain")
    found: list[UsernsProfile] = []
    for entry in entries:
        path = f"{PROFILES}/{entry}"
        if entry in _NOT_PROFILES or entry in disabled or entry.startswith("."):
            continue
        if not host.path(path).is_file():
            continue
        text = _text(host, path, warnings)
        if text is not None:
            found += _grants(host, path, text, entry in complain, warnings)
    return tuple(found)


def _names(host: HostFS, folder: str) -> set[str]:
    try:
        return set(os.listdir(host.path(folder)))
    except OSError:
        return set()


def _text(host: HostFS, path: str, warnings: list[str]) -> str | None:
    try:
        return host.read_bytes(path, MAX_BYTES).decode("utf-8", "replace")
    except OSError as e:
        warnings.append(f"AppArmor profile {host.show(path)} cannot be read ({e.strerror})")
        return None


def _header(line: str) -> tuple[str, str | None, str] | None:
    """A profile's name, attachment and mode from its opening line, None if it opens none:
    `profile NAME [ATTACHMENT] [flags=(...)] {` or `/path/to/program [flags=(...)] {`. An
    attachment may hold braces of its own (/opt/google/chrome/{chrome,chrome-sandbox})."""
    stripped = line.strip()
    if not stripped.endswith("{") or not stripped.startswith(("profile ", "/", "@{")):
        return None
    flags_match = _FLAGS.search(stripped)
    flags: set[str] = set()
    if flags_match:
        flags = {f for f in flags_match["flags"].replace(",", " ").split()}
        stripped = stripped[: flags_match.start()] + stripped[flags_match.end() :]
    words = stripped[:-1].split()
    if words and words[0] == "profile":
        words = words[1:]
        if not words:
            return None
        name, attachment = words[0], (words[1] if len(words) > 1 else None)
    elif words:
        name = attachment = words[0]
    else:
        return None
    mode = next((m for m in ("unconfined", "complain", "kill") if m in flags), "enforce")
    return name, attachment, mode


@dataclass
class _Block:
    """A profile being read: what grants userns in it, and whether it denies every capability
    (the kernel's own unprivileged_userns profile does: a namespace without capabilities is
    what the restriction gives anyway, so that is no way around it)."""

    name: str
    attachment: str | None
    mode: str
    grants: list[tuple[str, int]] = field(default_factory=list)
    no_capabilities: bool = False


def _grants(
    host: HostFS, path: str, text: str, forced_complain: bool, warnings: list[str]
) -> list[UsernsProfile]:
    """The profiles of one file that grant userns: each block's innermost profile is the one
    a rule belongs to (a hat or child profile grants only itself)."""
    stack: list[_Block | None] = []
    out: list[UsernsProfile] = []
    for number, raw in enumerate(text.splitlines(), 1):
        include = _INCLUDE.match(raw)
        line = "" if include else raw.split("#", 1)[0]
        header = _header(line)
        if header is not None:
            name, attachment, mode = header
            if forced_complain and mode == "enforce":
                mode = "complain"
            stack.append(_Block(name, attachment, mode))
            continue
        current = next((p for p in reversed(stack) if p is not None), None)
        if current is not None and _USERNS.match(line):
            current.grants.append((host.show(path), number))
        elif current is not None and _NO_CAPABILITIES.match(line):
            current.no_capabilities = True
        elif current is not None and include and include["file"].startswith("local/"):
            local = f"{PROFILES}/{include['file']}"
            body = _text(host, local, warnings) if host.path(local).is_file() else None
            for n, ln in enumerate((body or "").splitlines(), 1):
                if _USERNS.match(ln.split("#", 1)[0]):
                    current.grants.append((host.show(local), n))
        if line.strip().endswith("{"):
            stack.append(None)  # a block that is not a profile: a conditional, a hat
        # A block closes on a line of its own: braces elsewhere are variables (@{PROC}) and
        # alternations (/opt/{a,b}) of paths.
        if line.strip().startswith("}") and stack:
            ended = stack.pop()
            if ended is not None and not ended.no_capabilities:
                out += [
                    UsernsProfile(ended.name, ended.attachment, ended.mode, where, n)
                    for where, n in ended.grants
                ]
    return out
