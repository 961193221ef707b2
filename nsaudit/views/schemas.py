"""The JSON Schema (draft 2020-12) of every versioned JSON document nsaudit writes, printed by
`nsaudit schema NAME`. Records (namespaces, containers, host rows) are built from the fields
they declare (nsaudit.model.column), so a field added there is in the schema too.

A version only gains keys: objects accept keys they do not list, so a consumer written for an
older nsaudit of the same version still validates a newer document."""

from __future__ import annotations

import dataclasses
from typing import Any

from nsaudit import fields
from nsaudit.model import (
    MECHANISMS,
    NS_TYPE_NAMES,
    Container,
    Evidence,
    HolderKind,
    Namespace,
    NamespaceEvent,
    Outcome,
    Status,
)
from nsaudit.model.identifiers import FAMILIES
from nsaudit.policy.rules import SEVERITIES

DRAFT = "https://json-schema.org/draft/2020-12/schema"
Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
COUNT: Schema = {"type": "integer", "minimum": 0}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
SCALAR: Schema = {"type": ["string", "integer", "number", "boolean", "null"]}


def null(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def one_of(*words: str) -> Schema:
    return {"enum": list(words)}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    """An object with these keys, each required unless optional; other keys allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
    }


def per_type(value: Schema) -> Schema:
    return obj({t: value for t in NS_TYPE_NAMES})


NS_TYPE = one_of(*NS_TYPE_NAMES)
REF = obj({"type": NS_TYPE, "dev": COUNT, "inode": COUNT})
HOLDER = obj(
    {
        "kind": one_of(*(k.value for k in HolderKind)),
        "pid": null(COUNT),
        "fd": null(COUNT),
        "path": null(STRING),
        "container": null(STRING),
    },
    optional=("container",),
)
_FIELD_KINDS: dict[str, Schema] = {
    "count": COUNT,
    "number": null(INT),
    "text": null(STRING),
    "flag": BOOL,
    "ref": null(REF),
    "refs": array(REF),
    "holders": array(HOLDER),
}


def record(kind: type[Any]) -> Schema:
    """A record's JSON object, from the fields it declares (nested keys "a.b" included)."""
    tree: dict[str, Any] = {}
    for f in fields.declared(kind):
        if f.kind == "id":
            tree.update({"type": NS_TYPE, "dev": COUNT, "inode": COUNT})
            continue
        value = _FIELD_KINDS[f.kind]
        if f.kind == "flag" and f.options.get("null"):
            value = null(BOOL)
        if f.options.get("required"):
            value = {"type": "string", "minLength": 1}
        *outer, key = f.json_keys()[0].split(".")
        node = tree
        for part in outer:
            node = node.setdefault(part, {})
        node[key] = value
    added = tuple(f.name for f in fields.declared(kind) if f.options.get("added"))
    return _objects(tree, added)


def _objects(tree: dict[str, Any], optional: tuple[str, ...]) -> Schema:
    return obj(
        {
            k: v if "type" in v or "anyOf" in v or "enum" in v else _objects(v, ())
            for k, v in tree.items()
        },
        optional=optional,
    )


NAMESPACE = record(Namespace)
CONTAINER = record(Container)
HOST_FACTS = obj(
    {
        "hostname": STRING,
        "machine_id": null(STRING),
        "boot_id": null(STRING),
        "kernel": null(STRING),
    }
)
COUNTS = per_type(COUNT)
ANSWER = obj({"value": STRING, "reason": STRING})


def header(name: str) -> Schema:
    return {"const": name}


def detect() -> Schema:
    option = obj({"option": STRING, "value": null(STRING)})
    type_entry = obj(
        {
            "type": NS_TYPE,
            "status": one_of(*(s.value for s in Status)),
            "reason": STRING,
            "config": array(option),
            "present": null(BOOL),
            "for_children": null(BOOL),
            "limit": null(COUNT),
            "introduced": STRING,
            "kernel_ok": null(BOOL),
            "unprivileged": obj(
                {"value": one_of("yes", "no", "restricted", "unknown"), "reason": STRING}
            ),
        }
    )
    restriction = obj(
        {"name": STRING, "path": STRING, "value": null(STRING), "meaning": STRING, "read": BOOL},
        optional=("read",),
    )
    probe = obj(
        {
            "user": STRING,
            "uid": COUNT,
            "results": array(
                obj(
                    {
                        "type": NS_TYPE,
                        "usable": BOOL,
                        "via": null(one_of("direct", "user namespace")),
                        "errno": null(STRING),
                        "error": null(STRING),
                    }
                )
            ),
        }
    )
    setting = obj(
        {
            "name": STRING,
            "value": STRING,
            "path": STRING,
            "line": COUNT,
            "pattern": null(STRING),
        }
    )
    profile = obj(
        {
            "name": STRING,
            "attachment": null(STRING),
            "mode": STRING,
            "path": STRING,
            "line": COUNT,
        }
    )
    return obj(
        {
            "schema": header("nsaudit.detect/1"),
            "nsaudit_version": STRING,
            "root": STRING,
            "kernel": obj({"release": null(STRING), "source": null(STRING)}),
            "kconfig": null(
                obj(
                    {
                        "path": STRING,
                        "compressed": BOOL,
                        "release": null(STRING),
                        "matches_running": null(BOOL),
                    }
                )
            ),
            "kconfig_tried": array(STRING),
            "types": {**array(type_entry), "minItems": 8, "maxItems": 8},
            "restrictions": array(restriction),
            "unprivileged_userns": obj(
                {"value": one_of("allowed", "restricted", "denied", "unknown"), "reason": STRING}
            ),
            "probes": array(probe),
            "warnings": array(STRING),
            "persisted_sysctls": null(
                obj({"files": array(STRING), "settings": array(setting), "unread": array(STRING)})
            ),
            "userns_profiles": null(array(profile)),
        },
        optional=("persisted_sysctls", "userns_profiles"),
    )


def snapshot() -> Schema:
    return obj(
        {
            "schema": header("nsaudit.snapshot/1"),
            "id": null(COUNT),
            "seq": null(COUNT),
            "taken_at": TIME,
            "host": HOST_FACTS,
            "nsaudit_version": STRING,
            "label": null(STRING),
            "duration_ms": null(COUNT),
            "threads": BOOL,
            "partial": BOOL,
            "counts": COUNTS,
            "problems": array(obj({"pid": null(COUNT), "path": STRING, "errno": STRING})),
            "namespaces": array(NAMESPACE),
            "containers": null(array(CONTAINER)),
        }
    )


def stored() -> Schema:
    return obj(
        {
            "schema": header("nsaudit.stored/1"),
            "id": COUNT,
            "seq": COUNT,
            "hostname": STRING,
            "taken_at": TIME,
            "namespaces": COUNT,
            "counts": COUNTS,
            "partial": BOOL,
            "problems": COUNT,
            "previous_seq": null(COUNT),
            "created": COUNT,
            "vanished": COUNT,
            "changed": COUNT,
            "process_count_changes": COUNT,
            "check": check(),  # audit --policy: the check of the snapshot it stored
        },
        optional=("check",),
    )


def snapshots() -> Schema:
    row = obj(
        {
            "id": COUNT,
            "seq": COUNT,
            "hostname": STRING,
            "taken_at": TIME,
            "kernel": null(STRING),
            "boot_id": null(STRING),
            "label": null(STRING),
            "namespaces": COUNT,
            "partial": BOOL,
        }
    )
    return obj({"schema": header("nsaudit.snapshots/1"), "snapshots": array(row)})


def hosts() -> Schema:
    from nsaudit.model import HostRow

    return obj(
        {
            "schema": header("nsaudit.hosts/1"),
            "hosts": array(record(HostRow)),
            "warnings": array(STRING),
        }
    )


def diff() -> Schema:
    about = obj(
        {"id": COUNT, "seq": COUNT, "taken_at": TIME, "hostname": STRING, "boot_id": null(STRING)}
    )
    event = obj(
        {
            "event": STRING,
            "old": null(CONTAINER),
            "new": null(CONTAINER),
            "created": array(REF),
            "vanished": array(REF),
            "reused": array(REF),
        }
    )
    change = obj(
        {
            "old": NAMESPACE,
            "new": NAMESPACE,
            "fields": array(STRING),
            "note": null(STRING),
            "noise": BOOL,
        }
    )
    return obj(
        {
            "schema": header("nsaudit.diff/1"),
            "old": about,
            "new": about,
            "rebooted": BOOL,
            "differs": BOOL,
            "created": array(NAMESPACE),
            "vanished": array(NAMESPACE),
            "changed": array(change),
            "capabilities": array(obj({"key": STRING, "old": SCALAR, "new": SCALAR})),
            "containers": array(event),
            "summary": obj(
                {
                    k: COUNT
                    for k in ("created", "vanished", "changed", "noise", "capabilities", "hidden")
                }
            ),
            "check": check(),  # audit --policy: the check of the snapshot it stored
            # What nsaudit watch saw between the two; null when no watcher ran for the host.
            "between": null(BETWEEN),
        },
        optional=("check", "between"),
    )


def compare() -> Schema:
    host = obj(
        {
            "hostname": STRING,
            "machine_id": null(STRING),
            "snapshot": COUNT,
            "seq": COUNT,
            "taken_at": TIME,
            "kernel": null(STRING),
        }
    )
    counts = array(COUNT)
    return obj(
        {
            "schema": header("nsaudit.compare/1"),
            "hosts": array(host),
            "facts": array(obj({"key": STRING, "values": array(SCALAR)})),
            "differing": array(STRING),
            "counts": per_type(counts),
            "holders": array(
                obj({"type": NS_TYPE, "command": STRING, "user": STRING, "counts": counts})
            ),
            "mounts": array(obj({"path": STRING, "held": array(BOOL)})),
            "depth": {"type": "object", "additionalProperties": counts},
            "containers": array(
                obj(
                    {
                        "runtime": STRING,
                        "image": null(STRING),
                        "own": STRING,
                        "shared": STRING,
                        "counts": counts,
                    }
                )
            ),
        }
    )


def result() -> Schema:
    """One rule's result, as check and report carry it."""
    # Evidence: its text, and each fact the evidence names (nsaudit.model.Evidence), absent
    # when unknown.
    facts = [f.name for f in dataclasses.fields(Evidence) if f.name != "text"]
    evidence = obj(
        {"text": STRING, **{k: null(INT if k == "pid" else STRING) for k in facts}},
        optional=tuple(facts),
    )
    waiver = obj(
        {
            "hosts": array(STRING),
            "reason": STRING,
            "expires": {"type": "string", "format": "date"},
            "expired": BOOL,
            "approved_by": null(STRING),
            "set_aside": null(one_of("fail", "error")),
        },
        optional=("set_aside",),
    )
    identifiers = {
        "type": "object",
        "properties": {
            f.key: array({"type": "string", "pattern": f"^{f.pattern.pattern}$"}) for f in FAMILIES
        },
        "additionalProperties": False,
    }
    return obj(
        {
            "id": STRING,
            "title": STRING,
            "description": null(STRING),
            "severity": one_of(*SEVERITIES),
            "references": array(STRING),
            "identifiers": identifiers,
            "outcome": one_of(*(o.value for o in Outcome)),
            "summary": STRING,
            "evidence": array(evidence),
            "waiver": null(waiver),
        },
        optional=("identifiers", "description"),
    )


POLICY = obj({"name": STRING, "title": STRING, "source": STRING, "sha256": STRING})


def check() -> Schema:
    return obj(
        {
            "schema": header("nsaudit.check/1"),
            "nsaudit_version": STRING,
            "checked_at": TIME,
            "policy": POLICY,
            "host": obj({"hostname": STRING, "machine_id": null(STRING)}),
            "snapshot": obj(
                {"id": null(COUNT), "seq": null(COUNT), "taken_at": TIME, "partial": BOOL}
            ),
            "period": STRING,
            # informational came later in nsaudit.check/1
            "summary": obj({o.value: COUNT for o in Outcome}, optional=("informational",)),
            "results": array(result()),
        }
    )


def report() -> Schema:
    capability = obj(
        {
            "type": NS_TYPE,
            "status": one_of(*(s.value for s in Status)),
            "reason": STRING,
            "config": array(STRING),
            "present": null(BOOL),
            "limit": null(COUNT),
            "unprivileged": STRING,
        }
    )
    host = obj(
        {
            "hostname": STRING,
            "machine_id": null(STRING),
            "snapshot": obj(
                {
                    "id": COUNT,
                    "seq": COUNT,
                    "taken_at": TIME,
                    "kernel": null(STRING),
                    "partial": BOOL,
                }
            ),
            "capabilities": array(capability),
            "containers": null(array(CONTAINER)),
            "policy_period": null(STRING),
            # What nsaudit watch recorded in the period, counted; null: no watcher ran.
            "watch": null(
                obj(
                    {
                        "created": COUNT,
                        "entered": COUNT,
                        "lost": COUNT,
                        "unwatched": array(obj({"start": TIME, "end": TIME})),
                        "mechanisms": array(one_of(*MECHANISMS)),
                        "blind": array(STRING),  # what the mechanisms could not see
                        # The events listed (at most 100, non-root users' first), and how
                        # many more there were; absent from reports before nsaudit listed them.
                        "events": array(record(NamespaceEvent)),
                        "unlisted": COUNT,
                    },
                    optional=("events", "unlisted"),
                )
            ),
            "results": null(array(result())),
            "history": obj(
                {
                    "points": array(
                        obj({"seq": COUNT, "taken_at": TIME, "counts": COUNTS, "partial": BOOL})
                    ),
                    "days": array(
                        obj(
                            {
                                "day": {"type": "string", "format": "date"},
                                "snapshots": COUNT,
                                "created": COUNT,
                                "vanished": COUNT,
                                "reboots": COUNT,
                                "counts": {"type": "object", "additionalProperties": COUNT},
                            }
                        )
                    ),
                }
            ),
        }
    )
    return obj(
        {
            "schema": header("nsaudit.report/1"),
            "nsaudit_version": STRING,
            "period": obj({"since": TIME, "until": TIME}),
            "policy": null(POLICY),
            "fleet": obj(
                {
                    "hosts": COUNT,
                    "failing": {"type": "object", "additionalProperties": array(STRING)},
                }
            ),
            "hosts": array(host),
        }
    )


def bundle() -> Schema:
    """One line of a bundle: its first (the header), a snapshot (nsaudit.snapshot/1 without
    its database id, with its capability report), a watcher run, an event or task exit of
    one, or its last (the trailer)."""
    line = snapshot()
    snapshot_line = {
        **line,
        "properties": {
            **{k: v for k, v in line["properties"].items() if k != "id"},
            "capabilities": null(detect()),
        },
        "required": [k for k in line["required"] if k != "id"] + ["capabilities"],
    }
    return {
        "oneOf": [
            obj({"schema": header("nsaudit.bundle/1"), "nsaudit_version": STRING}),
            snapshot_line,
            obj({"watch_run": carried_run()}),
            obj({"ns_event": obj({"run": UUID, "boot_ns": COUNT, "event": EVENT})}),
            obj({"task_exit": obj({"run": UUID, "at": TIME, "boot_ns": COUNT, "tid": COUNT})}),
            obj(
                {
                    "end": header("nsaudit.bundle/1"),
                    "snapshots": COUNT,
                    # Since nsaudit carried watcher runs; absent from older bundles.
                    "watch_runs": COUNT,
                    "ns_events": COUNT,
                    "task_exits": COUNT,
                },
                optional=("watch_runs", "ns_events", "task_exits"),
            ),
        ]
    }


EVENT = record(NamespaceEvent)


def finding() -> Schema:
    """A line of `--format jsonl` from check and report: one rule on one host."""
    return obj(
        {
            "schema": header("nsaudit.finding/1"),
            "time": TIME,
            "host": STRING,
            "machine_id": null(STRING),
            "policy": STRING,
            "rule": STRING,
            "title": STRING,
            "severity": one_of(*SEVERITIES),
            "outcome": one_of(*(o.value for o in Outcome)),
            "summary": STRING,
            "identifiers": result()["properties"]["identifiers"],
            "evidence": array(STRING),
            "waiver": null(STRING),
            "waiver_expires": null({"type": "string", "format": "date"}),
        }
    )


def change() -> Schema:
    """A line of `diff --format jsonl`: one namespace created, vanished or changed, one
    container event, or one capability change."""
    return obj(
        {
            "schema": header("nsaudit.change/1"),
            "time": TIME,
            "host": STRING,
            "snapshot": COUNT,
            "previous": COUNT,
            "change": STRING,
            "type": null(NS_TYPE),
            "inode": null(COUNT),
            "pid": null(COUNT),
            "command": null(STRING),
            "user": null(STRING),
            "container": null(STRING),
            "container_name": null(STRING),
            "image": null(STRING),
            "fields": array(STRING),
            "detail": null(STRING),
        }
    )


UUID: Schema = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
WATCH_RUN = obj(
    {
        "id": COUNT,
        "mechanism": one_of(*MECHANISMS),
        "started_at": TIME,
        "seen_at": TIME,
        "ended_at": null(TIME),
        "events": COUNT,
        "lost": COUNT,
        "blind": STRING,
        # Since nsaudit carried runs in bundles.
        "uuid": UUID,
    }
)


def carried_run() -> Schema:
    """A watcher run as a bundle carries it: as `nsaudit.events/1` has it, without its id,
    with its host and boot."""
    properties = {k: v for k, v in WATCH_RUN["properties"].items() if k != "id"}
    return obj(
        {
            **properties,
            "host": obj({"hostname": STRING, "machine_id": null(STRING)}),
            "boot_id": null(STRING),
        }
    )


# What `nsaudit watch` recorded of a stretch of time (views/events.py payload); null when no
# watcher ever ran for the host. Also in diff.
WATCHED = null(
    obj(
        {
            "start": TIME,
            "end": TIME,
            "events": array(record(NamespaceEvent)),
            "runs": array(WATCH_RUN),
            "unwatched": array(obj({"start": TIME, "end": TIME})),
            "lost": COUNT,
        }
    )
)


BETWEEN = obj(
    {
        "watched": WATCHED,
        "gone": array(record(NamespaceEvent)),
        "unknown": array(record(NamespaceEvent)),
        "entered": array(record(NamespaceEvent)),
        "hidden": COUNT,
    }
)


def events() -> Schema:
    return obj({"schema": header("nsaudit.events/1"), "watched": WATCHED})


BUILDERS = {
    "nsaudit.events/1": events,
    "nsaudit.detect/1": detect,
    "nsaudit.snapshot/1": snapshot,
    "nsaudit.stored/1": stored,
    "nsaudit.snapshots/1": snapshots,
    "nsaudit.hosts/1": hosts,
    "nsaudit.diff/1": diff,
    "nsaudit.compare/1": compare,
    "nsaudit.check/1": check,
    "nsaudit.report/1": report,
    "nsaudit.bundle/1": bundle,
    "nsaudit.finding/1": finding,
    "nsaudit.change/1": change,
}


def schema(name: str) -> Schema:
    """The schema of the document `name` (nsaudit.check/1), with its $schema and $id."""
    built = BUILDERS[name]()
    return {
        "$schema": DRAFT,
        "$id": f"https://nsaudit.org/schemas/{name.replace('/', '-')}.json",
        "title": name,
        **built,
    }
