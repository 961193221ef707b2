"""Bundles: snapshots with their host records as JSON Lines (schema nsaudit.bundle/1).

Line 1 is a header, then one snapshot a line, then a trailer that counts them, so that a
truncated file is told from a short one. Reading validates everything and builds Snapshots;
nothing is written anywhere here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from nsaudit import __version__
from nsaudit.model import Holder, HostInfo, Namespace, NamespaceId, NsType, ScanProblem, Snapshot
from nsaudit.views.snapshot import snapshot_payload

SCHEMA = "nsaudit.bundle/1"
MAX_LINE = 256 * 1024 * 1024
MAX_NAMESPACES = 2_000_000
MAX_TEXT = 64 * 1024
MAX_INT = 2**64 - 1
HOLDER_KINDS = frozenset({"fd", "mount", "for_children", "thread"})


class BundleError(Exception):
    """What is wrong with a bundle, naming the line."""


def write(snapshots: Iterable[Snapshot], out: IO[str]) -> int:
    """Stream snapshots into `out`, one line each; the number written."""
    out.write(json.dumps({"schema": SCHEMA, "nsaudit_version": __version__}) + "\n")
    count = 0
    for snap in snapshots:
        record = snapshot_payload(snap, snap.namespaces)
        record["capabilities"] = snap.capabilities
        del record["id"]
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n")
        count += 1
    out.write(json.dumps({"end": SCHEMA, "snapshots": count}) + "\n")
    return count


def read(lines: Iterable[str]) -> list[Snapshot]:
    """Every snapshot of a bundle, or BundleError for the first thing wrong with it."""
    it = iter(enumerate(lines, 1))
    header = _json(next(it, (1, "")), "the header")
    if header.get("schema") != SCHEMA:
        raise BundleError(
            f"line 1: schema {header.get('schema')!r} is not {SCHEMA}; "
            "export it again with this nsaudit's version"
        )
    out: list[Snapshot] = []
    seen: set[tuple[str, str | None, int]] = set()
    for number, line in it:
        record = _json((number, line), "a snapshot")
        if "end" in record:
            if record.get("snapshots") != len(out) or record.get("end") != SCHEMA:
                raise BundleError(
                    f"line {number}: the trailer counts {record.get('snapshots')!r} "
                    f"snapshots, the bundle holds {len(out)}"
                )
            if next(it, None) is not None:
                raise BundleError(f"line {number + 1}: data after the trailer")
            return out
        try:
            snap = _snapshot(record)
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"line {number}: {e}") from None
        ident = (snap.host.hostname, snap.host.machine_id, snap.seq or 0)
        if ident in seen:
            raise BundleError(
                f"line {number}: duplicate snapshot seq {snap.seq} of host {snap.host.hostname!r}"
            )
        seen.add(ident)
        out.append(snap)
    raise BundleError("the bundle is truncated: it has no trailer line")


def _json(item: tuple[int, str], what: str) -> dict[str, Any]:
    number, line = item
    if len(line) > MAX_LINE:
        raise BundleError(f"line {number}: longer than {MAX_LINE} bytes")
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        raise BundleError(f"line {number}: not JSON ({e.msg}): is the file truncated?") from None
    if not isinstance(value, dict):
        raise BundleError(f"line {number}: {what} must be a JSON object")
    return value


def _str(d: dict[str, Any], key: str, optional: bool = True) -> str | None:
    value = d[key]
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{key} is longer than {MAX_TEXT} characters")
    return value


def _int(d: dict[str, Any], key: str, optional: bool = True) -> int | None:
    value = d[key]
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INT:
        raise TypeError(f"{key} must be a whole number from 0 to 2^64-1, not {value!r}")
    return value


def _ref(d: dict[str, Any], key: str) -> NamespaceId | None:
    value = d[key]
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{key} must be an object or null")
    return NamespaceId(
        NsType(value["type"]), _int(value, "dev", False) or 0, _int(value, "inode", False) or 0
    )


def _namespace(d: dict[str, Any]) -> Namespace:
    holders = d["holders"]
    if not isinstance(holders, list):
        raise TypeError("holders must be a list")
    parsed = []
    for h in holders:
        if not isinstance(h, dict) or h.get("kind") not in HOLDER_KINDS:
            raise ValueError(f"holder {h!r} is not one of {sorted(HOLDER_KINDS)}")
        parsed.append(Holder(h["kind"], _int(h, "pid"), _int(h, "fd"), _str(h, "path")))
    return Namespace(
        id=NamespaceId(NsType(d["type"]), _int(d, "dev", False) or 0, _int(d, "inode", False) or 0),
        nprocs=_int(d, "nprocs", False) or 0,
        pid=_int(d, "pid"),
        pid_start=_int(d, "pid_start"),
        ppid=_int(d, "ppid"),
        command=_str(d, "command"),
        cmdline=_str(d, "cmdline"),
        uid=_int(d, "uid"),
        user=_str(d, "user"),
        ns_id=_int(d, "ns_id"),
        parent=_ref(d, "parent"),
        owner=_ref(d, "owner"),
        owner_uid=_int(d, "owner_uid"),
        holders=tuple(parsed),
        parent_command=_str(d, "parent_command") if "parent_command" in d else None,
    )


def _snapshot(d: dict[str, Any]) -> Snapshot:
    host = d["host"]
    if not isinstance(host, dict):
        raise TypeError("host must be an object")
    namespaces = d["namespaces"]
    if not isinstance(namespaces, list):
        raise TypeError("namespaces must be a list")
    if len(namespaces) > MAX_NAMESPACES:
        raise ValueError(f"more than {MAX_NAMESPACES} namespaces in one snapshot")
    problems = d["problems"]
    if not isinstance(problems, list):
        raise TypeError("problems must be a list")
    caps = d["capabilities"]
    if caps is not None and not isinstance(caps, dict):
        raise TypeError("capabilities must be an object or null")
    seq = _int(d, "seq", False)
    if not seq:
        raise ValueError("seq must be 1 or more")
    hostname = _str(host, "hostname", False) or ""
    if not hostname:
        raise ValueError("host.hostname is empty")
    return Snapshot(
        host=HostInfo(
            hostname, _str(host, "machine_id"), _str(host, "boot_id"), _str(host, "kernel")
        ),
        taken_at=_str(d, "taken_at", False) or "",
        nsaudit_version=_str(d, "nsaudit_version", False) or "",
        label=_str(d, "label"),
        duration_ms=_int(d, "duration_ms", False) or 0,
        threads=bool(d["threads"]),
        namespaces=tuple(_namespace(n) for n in _dicts(namespaces, "namespace")),
        problems=tuple(
            ScanProblem(_int(p, "pid"), _str(p, "path", False) or "", _str(p, "errno", False) or "")
            for p in _dicts(problems, "problem")
        ),
        capabilities=caps,
        seq=seq,
    )


def _dicts(items: list[Any], what: str) -> Iterator[dict[str, Any]]:
    for item in items:
        if not isinstance(item, dict):
            raise TypeError(f"a {what} must be an object")
        yield item
