"""The hosts in the database as a Document: schema nsaudit.hosts/1."""

from __future__ import annotations

from nsaudit.model import HostRow
from nsaudit.render import Document, Table

SCHEMA = "nsaudit.hosts/1"


def document(rows: list[HostRow]) -> Document:
    columns = ("HOST", "MACHINE", "SNAPSHOTS", "LAST", "SEQ", "TIME", "KERNEL", "BOOT", "PARTIAL")
    table = tuple(
        (
            r.hostname,
            (r.machine_id or "")[:12],
            str(r.snapshots),
            str(r.last_id),
            str(r.last_seq),
            r.last_taken_at,
            r.kernel or "",
            (r.boot_id or "")[:8],
            "yes" if r.partial else "no",
        )
        for r in rows
    )
    payload = {
        "schema": SCHEMA,
        "hosts": [
            {
                "hostname": r.hostname,
                "machine_id": r.machine_id,
                "snapshots": r.snapshots,
                "last": {
                    "id": r.last_id,
                    "seq": r.last_seq,
                    "taken_at": r.last_taken_at,
                    "kernel": r.kernel,
                    "boot_id": r.boot_id,
                    "partial": r.partial,
                },
            }
            for r in rows
        ],
    }
    records = tuple(
        (
            r.hostname,
            r.machine_id or "",
            str(r.snapshots),
            str(r.last_id),
            str(r.last_seq),
            r.last_taken_at,
            r.kernel or "",
            r.boot_id or "",
            "yes" if r.partial else "no",
        )
        for r in rows
    )
    return Document(
        "nsaudit hosts",
        payload,
        (),
        (Table(None, columns, table),),
        Table(None, tuple(c.lower() for c in columns), records),
    )
