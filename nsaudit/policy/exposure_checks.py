"""The kernel_exposure check kind: known local privilege escalations that an unprivileged user
reaches through a user namespace, matched against the running release's upstream range. The
data is a documented TOML file (samples/policies/data/kernel-userns-exposures.toml), not code.

Distributions backport fixes without changing the upstream version (Ubuntu's 5.15.0-91 holds
fixes from 5.15.130 and later), so a match says "exposed if unpatched": a question for the
assessor, `informational` unless the rule asks for `fail`."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any, ClassVar

from nsaudit import userfile
from nsaudit.kernel.release import version
from nsaudit.model import Access, Evidence, Outcome
from nsaudit.policy.checks import Subject, Verdict
from nsaudit.policy.place import Place

_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")
_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
_KEYS = {"id", "title", "affected", "source", "reached_by"}


@dataclass(frozen=True)
class Exposure:
    """One vulnerability: upstream releases [from, to) that have it, and where that is said."""

    id: str
    title: str
    affected: tuple[tuple[str, str], ...]
    source: str
    reached_by: str

    def range_of(self, release: tuple[int, int, int]) -> tuple[str, str] | None:
        for low, high in self.affected:
            if _triple(low) <= release < _triple(high):
                return low, high
        return None


def _triple(text: str) -> tuple[int, int, int]:
    found = version(text)
    assert found is not None
    return found


def load(at: Place, name: str) -> tuple[Exposure, ...]:
    """The exposures of a data file, its path relative to the policy file's folder."""
    path = os.path.join(os.path.dirname(at.text.path), name)
    try:
        raw = userfile.read(path, 1024 * 1024)
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as e:
        raise at.error(f"check.file {path} cannot be read: {e.strerror or e}", "file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise at.error(f"check.file {path} is not a valid TOML file: {e}", "file") from None
    entries = data.get("exposure")
    if not isinstance(entries, list) or not entries:
        raise at.error(f"check.file {path} has no [[exposure]] tables", "file")
    return tuple(_exposure(at, path, n, e) for n, e in enumerate(entries, 1))


def _exposure(at: Place, path: str, n: int, e: Any) -> Exposure:
    def bad(problem: str) -> Exception:
        return at.error(f"check.file {path}, exposure #{n}: {problem}", "file")

    if not isinstance(e, dict) or set(e) != _KEYS:
        raise bad(f"an exposure has exactly the keys {', '.join(sorted(_KEYS))}")
    if not isinstance(e["id"], str) or not _ID.match(e["id"]):
        raise bad("id is a CVE id such as CVE-2024-1086")
    ranges = e["affected"]
    if (
        not isinstance(ranges, list)
        or not ranges
        or not all(
            isinstance(r, list)
            and len(r) == 2
            and all(isinstance(v, str) and _VERSION.match(v) for v in r)
            and _triple(r[0]) < _triple(r[1])
            for r in ranges
        )
    ):
        raise bad('affected is a list of ["from", "fixed"] release pairs, from below fixed')
    for key in ("title", "source", "reached_by"):
        if not isinstance(e[key], str) or not e[key].strip():
            raise bad(f"{key} is a non-empty string")
    return Exposure(
        e["id"], e["title"], tuple((r[0], r[1]) for r in ranges), e["source"], e["reached_by"]
    )


@dataclass(frozen=True)
class KernelExposureCheck:
    """No exposure of the data file is reachable: the running release is outside its upstream
    ranges, or unprivileged users cannot create user namespaces."""

    file: str
    exposures: tuple[Exposure, ...]
    if_exposed: Outcome
    kind: ClassVar[str] = "kernel_exposure"
    keys: ClassVar[frozenset[str]] = frozenset({"file", "if_exposed"})

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> KernelExposureCheck:
        name = d.get("file")
        if not isinstance(name, str) or not name:
            raise at.error(
                "a kernel_exposure check needs file, the exposure data (a path relative to "
                "the policy, e.g. data/kernel-userns-exposures.toml)",
                "file" if "file" in d else "kind",
            )
        if_exposed = d.get("if_exposed", "informational")
        if if_exposed not in ("informational", "fail"):
            raise at.error('check.if_exposed must be "informational" (the default) or "fail"',
                           "if_exposed")  # fmt: skip
        return cls(name, load(at, name), Outcome(if_exposed))

    def evaluate(self, subject: Subject) -> Verdict:
        caps = subject.snapshot.capabilities
        if caps is None:
            return Verdict(Outcome.ERROR, "the snapshot has no capability report")
        report = caps.value
        release = version(report.release)
        if release is None:
            return Verdict(Outcome.ERROR, "the running kernel release is unknown")
        access = report.unprivileged_userns
        if access.value == Access.UNKNOWN:
            return Verdict(
                Outcome.ERROR,
                "whether unprivileged users can create user namespaces is unknown "
                f"({access.reason})",
            )
        matched = [(e, r) for e in self.exposures if (r := e.range_of(release)) is not None]
        if not matched:
            return Verdict(
                Outcome.PASS,
                f"{report.release} is outside the upstream ranges of "
                f"{', '.join(e.id for e in self.exposures)}",
            )
        via = _reach(report.unprivileged_userns.value, report.userns_profiles)
        evidence = tuple(
            Evidence(
                f"{e.id} ({e.title}): {report.release} is in the upstream range {lo} to {hi} "
                f"(fixed in {hi}; {e.source}); reached by {e.reached_by}"
            )
            for e, (lo, hi) in matched
        )
        ids = ", ".join(e.id for e, _ in matched)
        if via is None:
            return Verdict(
                Outcome.PASS,
                f"{report.release} is in the upstream range of {ids}, but unprivileged users "
                f"cannot create user namespaces ({access.reason})",
                evidence,
            )
        return Verdict(
            self.if_exposed,
            f"exposed if unpatched: {report.release} is in the upstream range of {ids} and "
            f"{via}; distributions backport fixes, so check the vendor's advisory for this "
            "kernel build",
            evidence,
        )


def _reach(access: object, profiles: object) -> str | None:
    """How an unprivileged user gets a user namespace with capabilities, or None."""
    if access == Access.ALLOWED:
        return "unprivileged users may create user namespaces"
    if access == Access.RESTRICTED:
        if profiles:
            return (
                "AppArmor profiles that grant userns give unprivileged users a way around "
                "its restriction"
            )
        if profiles is None:
            return "AppArmor restricts user namespaces, but its profiles could not be read"
        return None
    return None
