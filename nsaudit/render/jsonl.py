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
            yield {**base, "change": change, **_namespace(ns), "fields": [], "detail": None}
    for c in payload["changed"]:
        if not c["noise"]:
            detail = c["note"]
            yield {**base, "change": "changed", **_namespace(c["new"]), "fields": c["fields"],
                   "detail": detail}  # fmt: skip
    for e in payload["containers"]:
        c = e["new"] or e["old"]
        yield {
            **base,
            "change": f"container {e['event']}",
            "type": None,
            "inode": None,
            "pid": c["pid"],
            "command": None,
            "user": None,
            "container": c["id"],
            "container_name": c["name"],
            "image": c["image"],
            "fields": [],
            "detail": f"{len(e['created'])} namespaces created, {len(e['vanished'])} vanished",
        }
    for cap in payload["capabilities"]:
        yield {
            **base,
            "change": "capability",
            "type": None,
            "inode": None,
            "pid": None,
            "command": None,
            "user": None,
            "container": None,
            "container_name": None,
            "image": None,
            "fields": [cap["key"]],
            "detail": f"{cap['key']}: {cap['old']} -> {cap['new']}",
        }


def _namespace(ns: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": ns["type"],
        "inode": ns["inode"],
        "pid": ns["pid"],
        "command": ns["command"],
        "user": ns["user"],
        "container": ns.get("container"),
        "container_name": None,
        "image": None,
    }
