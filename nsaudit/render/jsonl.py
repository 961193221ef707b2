"""A feed for SIEMs (journald, Wazuh, Fluent Bit): one JSON object per line, a line per rule
result (nsaudit.finding/1) or per change (nsaudit.change/1), flat and with stable field names,
built from the command's JSON payload so that it says what the JSON says."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from nsaudit.render.document import Document

FINDING = "nsaudit.finding/1"
CHANGE = "nsaudit.change/1"


class JsonlFormat:
    def render(self, doc: Document) -> str:
        return "".join(
            json.dumps(line, sort_keys=True, ensure_ascii=True) + "\n"
            for line in lines(doc.payload)
        )


def lines(payload: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    schema = payload["schema"]
    if schema == "nsaudit.check/1":
        host = payload["host"]
        for r in payload["results"]:
            yield _finding(payload["checked_at"], host["hostname"], host["machine_id"], payload, r)
    elif schema == "nsaudit.report/1":
        for h in payload["hosts"]:
            for r in h["results"] or ():
                until = payload["period"]["until"]
                yield _finding(until, h["hostname"], h["machine_id"], payload, r)
    elif schema == "nsaudit.diff/1":
        yield from _changes(payload)
    else:
        raise ValueError(f"{schema} has no jsonl form")


def _finding(
    time: str, host: str, machine_id: str | None, payload: Mapping[str, Any], r: Mapping[str, Any]
) -> dict[str, Any]:
    waiver = r["waiver"]
    return {
        "schema": FINDING,
        "time": time,
        "host": host,
        "machine_id": machine_id,
        "policy": payload["policy"]["name"],
        "rule": r["id"],
        "title": r["title"],
        "severity": r["severity"],
        "outcome": r["outcome"],
        "summary": r["summary"],
        "identifiers": r["identifiers"],
        "evidence": [e["text"] for e in r["evidence"]],
        "waiver": None if waiver is None else waiver["reason"],
        "waiver_expires": None if waiver is None else waiver["expires"],
    }


def _changes(payload: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    new = payload["new"]
    base = {
        "schema": CHANGE,
        "time": new["taken_at"],
        "host": new["hostname"],
        "snapshot": new["id"],
        "previous": payload["old"]["id"],
    }
    for change in ("created", "vanished"):
        for ns in payload[change]:
            yield _line(base, change, [], None, **_namespace(ns))
    for c in payload["changed"]:
        if not c["noise"]:
            yield _line(base, "changed", c["fields"], c["note"], **_namespace(c["new"]))
    for e in payload["containers"]:
        c = e["new"] or e["old"]
        detail = f"{len(e['created'])} namespaces created, {len(e['vanished'])} vanished"
        yield _line(base, f"container {e['event']}", [], detail, pid=c["pid"], container=c["id"],
                    container_name=c["name"], image=c["image"])  # fmt: skip
    for cap in payload["capabilities"]:
        detail = f"{cap['key']}: {cap['old']} -> {cap['new']}"
        yield _line(base, "capability", [cap["key"]], detail)


# What a change line says of its subject: null where the change has none (a capability).
_SUBJECT = ("type", "inode", "pid", "command", "user", "container", "container_name", "image")


def _line(
    base: Mapping[str, Any], change: str, fields: list[str], detail: str | None, **subject: Any
) -> dict[str, Any]:
    return {
        **base,
        "change": change,
        **{k: subject.get(k) for k in _SUBJECT},
        "fields": fields,
        "detail": detail,
    }


def _namespace(ns: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("type", "inode", "pid", "command", "user")
    return {**{k: ns[k] for k in keys}, "container": ns.get("container")}
