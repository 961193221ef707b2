"""The check kinds that read the kernel's capability report: capability and sysctl."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, ClassVar

from nsaudit.kernel import sysctlconf, userns
from nsaudit.model import NS_TYPE_NAMES, Capabilities, Evidence, NsType, Outcome, Status
from nsaudit.policy.checks import Subject, Verdict
from nsaudit.policy.place import Place, choices, globs, whole

_STATUSES = tuple(s.value for s in Status)

SYSCTLS = userns.CHECKED_SYSCTLS
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
    persisted: bool = False
    kind: ClassVar[str] = "sysctl"
    keys: ClassVar[frozenset[str]] = frozenset(
        {"name", "equals", "one_of", "at_least", "at_most", "if_absent", "persisted"}
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
        persisted = d.get("persisted", False)
        if not isinstance(persisted, bool):
            raise at.error(
                "check.persisted is true (also check the value the sysctl.d files set at "
                "boot, as the STIG does) or false",
                "persisted",
            )
        return cls(str(name), one_of, at_least, at_most, Outcome(if_absent), persisted)

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
        text = f"{self.name} = {value} (want {self.want()})"
        running = Verdict(
            Outcome.PASS if self.accepts(value) else Outcome.FAIL,
            text,
            (Evidence(text, sysctl=self.name, value=value),),
        )
        if not self.persisted:
            return running
        return _joined(running, self._at_boot(report))

    def accepts(self, value: str) -> bool:
        ok = self.one_of is None or value in self.one_of
        if self.at_least is not None or self.at_most is not None:
            try:
                number = int(value)
            except ValueError:
                return False
            ok = ok and (self.at_least is None or number >= self.at_least)
            ok = ok and (self.at_most is None or number <= self.at_most)
        return ok

    def _at_boot(self, report: Capabilities) -> Verdict:
        """The value the sysctl files set at boot, as the STIG checks it: missing, wrong, or
        set to different values by different lines (each named) is a finding."""
        files = report.persisted
        if files is None:
            return Verdict(
                Outcome.ERROR,
                "the capability report does not record the sysctl.d files (an older nsaudit "
                "took it); take a new snapshot",
            )
        lines = files.of(self.name)
        evidence = tuple(
            Evidence(
                f"{s.where} sets {self.name} = {s.value}"
                + (f" (through the pattern {s.pattern})" if s.pattern else ""),
                path=s.path,
                sysctl=self.name,
                value=s.value,
            )
            for s in lines
        )
        values = sorted({s.value for s in lines})
        if len(values) > 1:
            where = "; ".join(f"{s.where} sets {s.value}" for s in lines)
            return Verdict(Outcome.FAIL, f"conflicting boot-time values: {where}", evidence)
        if lines and not self.accepts(lines[-1].value):
            return Verdict(
                Outcome.FAIL,
                f"{lines[-1].where} sets {self.name} = {lines[-1].value} at boot "
                f"(want {self.want()})",
                evidence,
            )
        unread = tuple(Evidence(f"{u}: it may set {self.name}") for u in files.unread)
        if unread:
            return Verdict(
                Outcome.ERROR,
                f"the boot-time value of {self.name} is unknown: {'; '.join(files.unread)}",
                evidence + unread,
            )
        if not lines:
            text = (
                f"no sysctl file sets {self.name}, so the value is lost at the next boot; "
                f"set it in a file of {sysctlconf.FOLDERS[0]}"
            )
            return Verdict(Outcome.FAIL, text, (Evidence(text, sysctl=self.name),))
        return Verdict(
            Outcome.PASS,
            f"{lines[-1].where} sets {self.name} = {lines[-1].value} at boot",
            evidence,
        )


def _joined(running: Verdict, at_boot: Verdict) -> Verdict:
    """Both checks as one verdict: a failure of either is a failure (what was read is real),
    else an error of either, else a pass."""
    both = (running, at_boot)
    outcome = next(
        o for o in (Outcome.FAIL, Outcome.ERROR, Outcome.PASS) if o in {v.outcome for v in both}
    )
    summary = "; ".join(v.summary for v in both if v.outcome is outcome)
    return Verdict(outcome, summary, running.evidence + at_boot.evidence)


@dataclass(frozen=True)
class AppArmorUsernsCheck:
    """No AppArmor profile outside `allow` (globs on profile names) grants `userns,`: each one
    that does is a way around kernel.apparmor_restrict_unprivileged_userns for whoever can run
    its program."""

    allow: tuple[str, ...]
    kind: ClassVar[str] = "apparmor_userns"
    keys: ClassVar[frozenset[str]] = frozenset({"allow"})

    @classmethod
    def parse(cls, at: Place, d: dict[str, Any]) -> AppArmorUsernsCheck:
        return cls(globs(at, d, "allow") or ())

    def evaluate(self, subject: Subject) -> Verdict:
        report = _report(subject)
        if isinstance(report, Verdict):
            return report
        if report.userns_profiles is None:
            return Verdict(
                Outcome.ERROR,
                "the AppArmor profiles are unknown: /etc/apparmor.d could not be read, or an "
                "older nsaudit took the report; take a new snapshot as root",
            )
        found = [
            p
            for p in report.userns_profiles
            if not any(fnmatch.fnmatchcase(p.name, g) for g in self.allow)
        ]
        if not found:
            allowed = len(report.userns_profiles)
            return Verdict(
                Outcome.PASS,
                "no AppArmor profile grants userns"
                + (f" but the {allowed} allowed" if allowed else ""),
            )
        evidence = [
            Evidence(
                f"profile {p.name} ({p.mode}"
                + (f", attached to {p.attachment}" if p.attachment else "")
                + f") grants userns at {p.path}:{p.line}",
                path=p.path,
            )
            for p in found
        ]
        values = {r.name: r.value for r in report.restrictions}
        if values.get(userns.APPARMOR_UNCONFINED) == "0":
            evidence.append(
                Evidence(
                    f"{userns.APPARMOR_UNCONFINED} = 0: any unconfined user can enter these "
                    "profiles with aa-exec -p",
                    sysctl=userns.APPARMOR_UNCONFINED,
                    value="0",
                )
            )
        names = ", ".join(p.name for p in found)
        return Verdict(
            Outcome.FAIL,
            f"{len(found)} AppArmor profile(s) grant userns, a way around the restriction "
            f"for whoever can run their programs: {names}",
            tuple(evidence),
        )
