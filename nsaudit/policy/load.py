"""Read a policy file (TOML). Every mistake is named with its file, line and rule."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from nsaudit import userfile
from nsaudit.errors import UsageError
from nsaudit.model import NsType, Outcome, Status
from nsaudit.policy.checks import (
    INVENTORY_KINDS,
    SYSCTLS,
    CapabilityCheck,
    Check,
    CountCheck,
    CreatedCheck,
    HoldersCheck,
    SysctlCheck,
    UnprivilegedOwnerCheck,
)
from nsaudit.policy.match import Allowlist, glob_problem
from nsaudit.policy.rules import SEVERITIES, Policy, Rule, Waiver
from nsaudit.tomlpos import line_of

MAX_BYTES = 16 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_WAIVER_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\.\s*waiver\s*\]\]")
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column \d+\)")
_TYPES = tuple(t.value for t in NsType)
_STATUSES = tuple(s.value for s in Status)
_POLICY_KEYS = {"name", "title", "description"}
_RULE_KEYS = {
    "id",
    "title",
    "severity",
    "references",
    "description",
    "check",
    "waiver",
    "partial",
}
_PARTIAL = ("error", "accept")
_WAIVER_KEYS = {"hosts", "reason", "expires", "approved_by"}
_ALLOW_KEYS = {"commands", "users", "paths", "parents"}


class _Text:
    """The policy file's lines, to say where a key is."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.rule_starts = [i for i, ln in enumerate(self.lines) if _RULE_HEADER.match(ln)]

    def rule_at(self, line: int) -> int | None:
        """The index of the rule whose block holds this (1-based) line."""
        found = None
        for n, start in enumerate(self.rule_starts):
            if start + 1 <= line:
                found = n
        return found

    def line_of(self, key: str, rule: int | None, waiver: int | None = None) -> int | None:
        if rule is None:
            lo, hi = 0, self.rule_starts[0] if self.rule_starts else len(self.lines)
        else:
            lo = self.rule_starts[rule] if rule < len(self.rule_starts) else 0
            hi = self.rule_starts[rule + 1] if rule + 1 < len(self.rule_starts) else len(self.lines)
        if waiver is not None:
            # Only the lines of the rule's waiver-th [[rule.waiver]] table.
            heads = [i for i in range(lo, hi) if _WAIVER_HEADER.match(self.lines[i])]
            if waiver < len(heads):
                lo = heads[waiver]
                hi = heads[waiver + 1] if waiver + 1 < len(heads) else hi
        found = line_of(self.lines, key, lo, hi)
        return found if found is not None or rule is None else lo + 1

    def error(
        self,
        problem: str,
        key: str | None = None,
        rule: int | None = None,
        rule_id: str | None = None,
        waiver: int | None = None,
        line: int | None = None,
    ) -> UsageError:
        if line is None and key is not None:
            line = self.line_of(key, rule, waiver)
        if line is None and rule is not None and rule < len(self.rule_starts):
            line = self.rule_starts[rule] + 1
        where = f"policy {self.path}"
        if line is not None:
            where += f", line {line}"
        if rule is not None:
            where += f", rule {rule_id}" if rule_id else f", rule #{rule + 1}"
        return UsageError(f"{where}: {problem}")


@dataclass(frozen=True)
class _At:
    """Where in the policy file a value sits: the file, the rule (its index and id), the
    waiver; errors name all that is known."""

    text: _Text
    rule: int | None = None
    rule_id: str | None = None
    waiver: int | None = None

    def error(self, problem: str, key: str | None = None) -> UsageError:
        return self.text.error(problem, key, self.rule, self.rule_id, self.waiver)


def load(path: str) -> Policy:
    try:
        raw = userfile.read(path, MAX_BYTES, streams=True)
    except OSError as e:
        raise UsageError(f"policy {path} cannot be read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_line = raw[: e.start].count(b"\n") + 1
        raise UsageError(
            f"policy {path}, line {bad_line}: not UTF-8 text (byte {raw[e.start]:#04x}); "
            "save the file as UTF-8"
        ) from None
    where = _Text(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = _TOML_WHERE.search(str(e))
        at = int(m[1]) if m else None
        rule = where.rule_at(at) if at else None
        rule_id = _rule_id_near(where, rule)
        message = _TOML_WHERE.sub("", str(e))
        raise where.error(
            f"not valid TOML: {message}; fix that line", rule=rule, rule_id=rule_id, line=at
        ) from None
    return _policy(where, data, hashlib.sha256(raw).hexdigest())


def _rule_id_near(where: _Text, rule: int | None) -> str | None:
    if rule is None:
        return None
    start = where.rule_starts[rule]
    end = where.rule_starts[rule + 1] if rule + 1 < len(where.rule_starts) else len(where.lines)
    for ln in where.lines[start:end]:
        m = re.match(r'\s*id\s*=\s*"([^"]*)"', ln)
        if m:
            return m[1]
    return None


def _policy(where: _Text, data: dict[str, Any], sha256: str) -> Policy:
    for key in data:
        if key not in ("policy", "rule"):
            raise where.error(f"unknown key {key!r}; a policy has [policy] and [[rule]]", key)
    head = data.get("policy")
    if not isinstance(head, dict):
        raise where.error("missing [policy] table with name and title", "policy")
    for key in head:
        if key not in _POLICY_KEYS:
            raise where.error(
                f"unknown key policy.{key}; known: {', '.join(sorted(_POLICY_KEYS))}", key
            )
    name = head.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise where.error(
            "policy.name is required: letters, digits, '.', '_' and '-' (it names the "
            "policy in the database and in metrics)",
            "name",
        )
    title = _opt_str(_At(where), head, "title") or name
    description = _opt_str(_At(where), head, "description")
    rules_data = data.get("rule")
    if not isinstance(rules_data, list) or not rules_data:
        raise where.error("a policy needs at least one [[rule]]", "rule")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, rule in enumerate(rules_data):
        parsed = _rule(where, n, rule)
        if parsed.id in seen:
            raise _At(where, n, parsed.id).error(f"rule id {parsed.id!r} is used twice", "id")
        seen.add(parsed.id)
        rules.append(parsed)
    return Policy(name, title, description, where.path, sha256, tuple(rules))


def _opt_str(at: _At, d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise at.error(f"{key} must be a non-empty string", key)
    return value


def _rule(where: _Text, n: int, rule: dict[str, Any]) -> Rule:
    rule_id = rule.get("id")
    at = _At(where, n)
    if not isinstance(rule_id, str) or not _NAME.match(rule_id):
        raise at.error(
            "every rule needs an id: letters, digits, '.', '_' and '-' (e.g. RHEL-08-040284)", "id"
        )
    at = _At(where, n, rule_id)
    for key in rule:
        if key not in _RULE_KEYS:
            raise at.error(f"unknown key {key!r}; known: {', '.join(sorted(_RULE_KEYS))}", key)
    title = rule.get("title")
    if not isinstance(title, str) or not title.strip():
        raise at.error("missing field 'title'", "title")
    severity = rule.get("severity")
    if severity not in SEVERITIES:
        raise at.error(f"severity must be one of {', '.join(SEVERITIES)}", "severity")
    references = rule.get("references", [])
    if not isinstance(references, list) or not all(isinstance(r, str) and r for r in references):
        raise at.error("references must be a list of strings", "references")
    description = _opt_str(at, rule, "description")
    check = rule.get("check")
    if not isinstance(check, dict):
        raise at.error(
            "missing field 'check': a table such as check = { kind = \"sysctl\", ... }", "check"
        )
    waivers = rule.get("waiver", [])
    if not isinstance(waivers, list):
        raise at.error("waivers are [[rule.waiver]] tables", "waiver")
    parsed = _check(at, check)
    partial = rule.get("partial", "error")
    if partial not in _PARTIAL:
        raise at.error(
            'partial must be "error" (the default: a partial scan cannot pass the rule) or '
            '"accept" (judge what the scan could see)',
            "partial",
        )
    if partial == "accept" and parsed.kind not in INVENTORY_KINDS:
        raise at.error(
            f"partial applies to {', '.join(sorted(INVENTORY_KINDS))} checks; a {parsed.kind} "
            "check reads the kernel's report, which a partial scan does not affect",
            "partial",
        )
    return Rule(
        rule_id,
        title,
        str(severity),
        tuple(references),
        description,
        parsed,
        tuple(_waiver(at, w, k) for k, w in enumerate(waivers)),
        partial == "accept",
    )


def _waiver(at: _At, w: Any, waiver: int) -> Waiver:
    if not isinstance(w, dict):
        raise at.error("a waiver is a [[rule.waiver]] table", "waiver")
    at = replace(at, waiver=waiver)  # the keys below are looked for in that waiver's table
    for key in w:
        if key not in _WAIVER_KEYS:
            raise at.error(
                f"unknown waiver key {key!r}; known: {', '.join(sorted(_WAIVER_KEYS))}", key
            )
    hosts = _globs(at, w, "hosts")
    if hosts is None:
        raise at.error("a waiver needs hosts (a glob or a list of globs)", "waiver")
    reason = w.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise at.error("a waiver needs a reason", "waiver")
    expires = w.get("expires")
    if isinstance(expires, datetime):
        raise at.error(
            "waiver expires must be a date such as 2027-03-31, not a date and time", "expires"
        )
    if not isinstance(expires, date):
        raise at.error(
            "a waiver needs expires, a TOML date such as 2027-03-31 (no quotes)",
            "expires" if "expires" in w else "waiver",
        )
    return Waiver(hosts, reason, expires, _opt_str(at, w, "approved_by"))


def _globs(at: _At, d: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = d.get(key)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items) or not items:
        raise at.error(f"{key} must be a glob or a list of globs", key)
    for p in items:
        problem = glob_problem(p)
        if problem:
            raise at.error(f"pattern {p!r} in {key} cannot be used: {problem}", key)
    return tuple(items)


def _choices(at: _At, d: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    value = d.get(key)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(v in allowed for v in items):
        raise at.error(f"check.{key} must be one or a list of: {', '.join(allowed)}", key)
    return tuple(items)


def _int(at: _At, d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise at.error(f"check.{key} must be a whole number >= 0", key)
    return value


def _allowlist(at: _At, d: Mapping[str, Any]) -> Allowlist | None:
    fields = {k: _globs(at, d, k) for k in sorted(_ALLOW_KEYS)}
    if all(v is None for v in fields.values()):
        return None
    return Allowlist(fields["commands"], fields["users"], fields["paths"], fields["parents"])


def _capability(at: _At, d: dict[str, Any]) -> Check:
    return CapabilityCheck(
        _choices(at, d, "type", _TYPES),
        _choices(at, d, "status", _STATUSES),
    )


def _sysctl(at: _At, d: dict[str, Any]) -> Check:
    name = d.get("name")
    if name not in SYSCTLS:
        raise at.error(f"check.name must be a sysctl nsaudit reads: {', '.join(SYSCTLS)}", "name")
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
    at_least = _int(at, d, "at_least")
    at_most = _int(at, d, "at_most")
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
    return SysctlCheck(str(name), one_of, at_least, at_most, Outcome(if_absent))


def _count(at: _At, d: dict[str, Any]) -> Check:
    ns_type = d.get("type")
    if ns_type not in _TYPES:
        raise at.error(f"a count check's type is one of: {', '.join(_TYPES)}", "type")
    at_most = _int(at, d, "at_most")
    if at_most is None:
        raise at.error("a count check needs at_most", "kind")
    return CountCheck(str(ns_type), at_most)


def _scoped(at: _At, d: dict[str, Any]) -> tuple[tuple[str, ...] | None, Allowlist]:
    types = _choices(at, d, "types", _TYPES) if "types" in d else None
    allow = _allowlist(at, d)
    if allow is None:
        raise at.error(
            f"a {d['kind']} check needs commands, parents, users or paths (glob lists)", "kind"
        )
    return types, allow


def _holders(at: _At, d: dict[str, Any]) -> Check:
    return HoldersCheck(*_scoped(at, d))


def _created(at: _At, d: dict[str, Any]) -> Check:
    return CreatedCheck(*_scoped(at, d))


def _unprivileged(at: _At, d: dict[str, Any]) -> Check:
    return UnprivilegedOwnerCheck(_allowlist(at, d))


_KINDS: dict[str, tuple[set[str], Callable[[_At, dict[str, Any]], Check]]] = {
    "capability": ({"type", "status"}, _capability),
    "sysctl": ({"name", "equals", "one_of", "at_least", "at_most", "if_absent"}, _sysctl),
    "count": ({"type", "at_most"}, _count),
    "holders": ({"types"} | _ALLOW_KEYS, _holders),
    "unprivileged_owner": (set(_ALLOW_KEYS), _unprivileged),
    "created": ({"types"} | _ALLOW_KEYS, _created),
}


def _check(at: _At, d: dict[str, Any]) -> Check:
    kind = d.get("kind")
    if kind not in _KINDS:
        raise at.error(f"unknown check kind {kind!r}; known: {', '.join(_KINDS)}", "kind")
    keys, build = _KINDS[kind]
    for key in d:
        if key != "kind" and key not in keys:
            raise at.error(
                f"unknown key {key!r} for a {kind} check; known: {', '.join(sorted(keys))}", key
            )
    return build(at, d)
