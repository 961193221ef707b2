"""Read a policy file (TOML): the policy, its rules and waivers; each check kind reads its own
table (kinds.py). Every mistake is named with its file, line and rule."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from nsaudit import userfile
from nsaudit.errors import UsageError
from nsaudit.policy import identifiers, kinds
from nsaudit.policy.place import Place, PolicyText, globs, optional_text
from nsaudit.policy.rules import CONDITIONS, SEVERITIES, Policy, Rule, Waiver

MAX_BYTES = 16 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column \d+\)")
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
    "identifiers",
    "not_applicable_if",
}
_PARTIAL = ("error", "accept")
_WAIVER_KEYS = {"hosts", "reason", "expires", "approved_by"}


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
    where = PolicyText(path, text)
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


def _rule_id_near(where: PolicyText, rule: int | None) -> str | None:
    if rule is None:
        return None
    start = where.rule_starts[rule]
    end = where.rule_starts[rule + 1] if rule + 1 < len(where.rule_starts) else len(where.lines)
    for ln in where.lines[start:end]:
        m = re.match(r'\s*id\s*=\s*"([^"]*)"', ln)
        if m:
            return m[1]
    return None


def _policy(where: PolicyText, data: dict[str, Any], sha256: str) -> Policy:
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
    title = optional_text(Place(where), head, "title") or name
    description = optional_text(Place(where), head, "description")
    rules_data = data.get("rule")
    if not isinstance(rules_data, list) or not rules_data:
        raise where.error("a policy needs at least one [[rule]]", "rule")
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, rule in enumerate(rules_data):
        parsed = _rule(where, n, rule)
        if parsed.id in seen:
            raise Place(where, n, parsed.id).error(f"rule id {parsed.id!r} is used twice", "id")
        seen.add(parsed.id)
        rules.append(parsed)
    return Policy(name, title, description, where.path, sha256, tuple(rules))


def _rule(where: PolicyText, n: int, rule: dict[str, Any]) -> Rule:
    rule_id = rule.get("id")
    at = Place(where, n)
    if not isinstance(rule_id, str) or not _NAME.match(rule_id):
        raise at.error(
            "every rule needs an id: letters, digits, '.', '_' and '-' (e.g. RHEL-08-040284)", "id"
        )
    at = Place(where, n, rule_id)
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
    description = optional_text(at, rule, "description")
    check = rule.get("check")
    if not isinstance(check, dict):
        raise at.error(
            "missing field 'check': a table such as check = { kind = \"sysctl\", ... }", "check"
        )
    waivers = rule.get("waiver", [])
    if not isinstance(waivers, list):
        raise at.error("waivers are [[rule.waiver]] tables", "waiver")
    parsed = kinds.parse(at, check)
    partial = rule.get("partial", "error")
    if partial not in _PARTIAL:
        raise at.error(
            'partial must be "error" (the default: a partial scan cannot pass the rule) or '
            '"accept" (judge what the scan could see)',
            "partial",
        )
    if partial == "accept" and parsed.kind not in kinds.INVENTORY_KINDS:
        inventory = ", ".join(sorted(kinds.INVENTORY_KINDS))
        raise at.error(
            f"partial applies to {inventory} checks; a {parsed.kind} "
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
        identifiers.parse(at, rule),
        _conditions(at, rule),
    )


def _conditions(at: Place, rule: dict[str, Any]) -> tuple[str, ...]:
    raw = rule.get("not_applicable_if", [])
    values = [raw] if isinstance(raw, str) else raw
    known = ", ".join(f"{k!r} ({why})" for k, why in CONDITIONS.items())
    if not isinstance(values, list) or not all(v in CONDITIONS for v in values):
        raise at.error(f"not_applicable_if is one or more of {known}", "not_applicable_if")
    return tuple(values)


def _waiver(at: Place, w: Any, waiver: int) -> Waiver:
    if not isinstance(w, dict):
        raise at.error("a waiver is a [[rule.waiver]] table", "waiver")
    at = replace(at, waiver=waiver)  # the keys below are looked for in that waiver's table
    for key in w:
        if key not in _WAIVER_KEYS:
            raise at.error(
                f"unknown waiver key {key!r}; known: {', '.join(sorted(_WAIVER_KEYS))}", key
            )
    hosts = globs(at, w, "hosts")
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
    return Waiver(hosts, reason, expires, optional_text(at, w, "approved_by"))
