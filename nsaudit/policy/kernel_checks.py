"""The check kinds that read the kernel's capability report: capability and sysctl."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nsaudit.kernel import userns
from nsaudit.model import NS_TYPE_NAMES, Capabilities, Evidence, NsType, Outcome, Status
from nsaudit.policy.checks import Subject, Verdict
from nsaudit.policy.place import Place, choices, whole

_STATUSES = tuple(s.value for s in Status)

SYSCTLS = (
    "user.max_user_namespaces",
    "kernel.unprivileged_userns_clone",
    "kernel.apparmor_restrict_unprivileged_userns",
    *(f"user.max_{t.value}_namespaces" for t in NsType if t is not NsType.USER),
)
# The per-type limits, which the capability report also gives as each type's `limit`.
_LIMIT_OF = {f"user.max_{t.value}_namespaces": t for t in NsType}


def _report(subject: Subject) -> Capabilities | Verdict:
    """The snapshot's capability report, or the error of a rule that needs one."""
    if subject.snapshot.capabilities is None:
        return Verdict(
            Outcome.ERROR,
            "the snapshot has no capability report; take a new snapshot with `nsaudit snapshot`",
        )
    return subject.snapshot.capabilities.value


@dataclass(frozen=True)
class CapabilityCheck:
    """Each listed type's status (available, disabled, missing, unknown) is one allowed."""

    types: tuple[str, ...]
    status: tuple[str, ...]
    kind: ClassVar[str] = "capability"
    keys: ClassVar[frozenset[str]] = frozenset({"type", "status"})

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> CapabilityCheck:
        return cls(choices(at, d, "type", NS_TYPE_NAMES), choices(at, d, "status", _STATUSES))

    def evaluate(self, subject: Subject) -> Verdict:
        report = _report(subject)
        if isinstance(report, Verdict):
            return report
        evidence, bad = [], []
        for t in self.types:
            entry = report.of(NsType(t))
            status = entry.status.value
            if status not in self.status:
                bad.append(t)
            evidence.append(Evidence(f"{t} namespaces: {status} ({entry.reason})", value=status))
        want = " or ".join(self.status)
        if bad:
            return Verdict(
                Outcome.FAIL,
                f"{', '.join(bad)} namespaces are not {want}",
                tuple(evidence),
            )
        return Verdict(Outcome.PASS, f"{', '.join(self.types)}: {want}", tuple(evidence))


@dataclass(frozen=True)
class SysctlCheck:
    """A sysctl's value: equal to one of `one_of`, and within at_least..at_most."""

    name: str
    one_of: tuple[str, ...] | None
    at_least: int | None
    at_most: int | None
    if_absent: Outcome
    kind: ClassVar[str] = "sysctl"
    keys: ClassVar[frozenset[str]] = frozenset(
        {"name", "equals", "one_of", "at_least", "at_most", "if_absent"}
    )

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> SysctlCheck:
        name = d.get("name")
        if name not in SYSCTLS:
            raise at.error(
                f"check.name must be a sysctl nsaudit reads: {', '.join(SYSCTLS)}", "name"
            )
        one_of = None
        if "equals" in d and "one_of" in d:
            raise at.error("give either check.equals or check.one_of", "one_of")
        raw = [d["equals"]] if "equals" in d else d.get("one_of")
        if raw is not None:
            if (
                not isinstance(raw, list)
                or not raw
                or not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in raw)
            ):
                raise at.error(
                    "check.equals is a number or string; check.one_of a list of them",
                    "equals" if "equals" in d else "one_of",
                )
            one_of = tuple(str(v) for v in raw)
        at_least = whole(at, d, "at_least")
        at_most = whole(at, d, "at_most")
        if at_least is not None and at_most is not None and at_least > at_most:
            raise at.error(
                f"check.at_least ({at_least}) is above check.at_most ({at_most}): "
                "the rule could never pass",
                "at_least",
            )
        if one_of is None and at_least is None and at_most is None:
            raise at.error("a sysctl check needs equals, one_of, at_least or at_most", "kind")
        if_absent = d.get("if_absent", "fail")
        if if_absent not in ("pass", "fail"):
            raise at.error('check.if_absent must be "pass" or "fail"', "if_absent")
        return cls(str(name), one_of, at_least, at_most, Outcome(if_absent))

    def want(self) -> str:
        parts = []
        if self.one_of is not None:
            parts.append(" or ".join(self.one_of))
        if self.at_least is not None:
            parts.append(f">= {self.at_least}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most}")
        return " and ".join(parts)

    def value(self, report: Capabilities) -> str | None:
        for r in report.restrictions:
            if r.name == self.name:
                return r.value
        if self.name in _LIMIT_OF:
            limit = report.of(_LIMIT_OF[self.name]).limit
            return None if limit is None else str(limit)
        return None

    def unread(self, report: Capabilities) -> str | None:
        """Why the value is unknown (no /proc/sys, an unreadable file), or None. The limits
        of other types live beside user.max_user_namespaces, so they share its fate."""
        named = self.name if self.name in userns.SYSCTLS else userns.MAX_USERNS
        for r in report.restrictions:
            if r.name == named and not r.read:
                return r.meaning or f"{named} could not be read"
        return None

    def evaluate(self, subject: Subject) -> Verdict:
        report = _report(subject)
        if isinstance(report, Verdict):
            return report
        value = self.value(report)
        if value is None and (why := self.unread(report)) is not None:
            # Unknown is not absent: if_absent never decides a value nobody could read.
            e = Evidence(f"{self.name}: {why} (want {self.want()})", sysctl=self.name)
            return Verdict(Outcome.ERROR, f"{self.name} is unknown: {why}", (e,))
        if value is None:
            e = Evidence(
                f"{self.name} is not on this kernel (want {self.want()})", sysctl=self.name
            )
            return Verdict(self.if_absent, f"{self.name} is not on this kernel", (e,))
        ok = self.one_of is None or value in self.one_of
        if self.at_least is not None or self.at_most is not None:
            try:
                number = int(value)
            except ValueError:
                ok = False
            else:
                ok = ok and (self.at_least is None or number >= self.at_least)
                ok = ok and (self.at_most is None or number <= self.at_most)
        text = f"{self.name} = {value} (want {self.want()})"
        return Verdict(
            Outcome.PASS if ok else Outcome.FAIL,
            text,
            (Evidence(text, sysctl=self.name, value=value),),
        )
