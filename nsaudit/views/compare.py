"""A Comparison of hosts as a Document: schema nsaudit.compare/1."""

from __future__ import annotations

from nsaudit.analysis.compare import Comparison
from nsaudit.model import NsType
from nsaudit.render import Document, Table

SCHEMA = "nsaudit.compare/1"


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def document(c: Comparison) -> Document:
    hosts = c.hosts
    differing = dict(c.differing_facts())
    status = []
    for t in NsType:
        statuses = differing.get(f"types.{t.value}.status") or dict(c.facts).get(
            f"types.{t.value}.status", (None,) * len(hosts)
        )
        evidence = "; ".join(
            f"{k.split('.', 2)[2]}: {' vs '.join(_text(v) for v in values)}"
            for k, values in differing.items()
            if k.startswith(f"types.{t.value}.") and not k.endswith(".status")
        )
        status.append((t.value, *(_text(s) for s in statuses), evidence))
    other = tuple(
        (k, *(_text(v) for v in values))
        for k, values in differing.items()
        if not k.startswith("types.")
    )
    tables = [
        Table(
            "Capabilities",
            ("TYPE", *hosts, "EVIDENCE THAT DIFFERS"),
            tuple(status),
            frozenset(hosts),
        ),
        Table("Other facts that differ", ("FACT", *hosts), other),
        Table(
            "Namespaces per type", ("TYPE", *hosts), tuple((t, *map(str, n)) for t, n in c.counts)
        ),
        Table(
            "Non-initial namespaces by holder",
            ("TYPE", "COMMAND", "USER", *hosts),
            tuple((*k, *map(str, n)) for k, n in c.holders),
        ),
        Table(
            "Bind-mount paths",
            ("PATH", *hosts),
            tuple((p, *("yes" if h else "no" for h in held)) for p, held in c.mounts),
        ),
        Table("Deepest nesting", ("TYPE", *hosts), tuple((t, *map(str, n)) for t, n in c.depth)),
        Table(
            "Containers by shape",
            ("RUNTIME", "IMAGE", "OWN NAMESPACES", "SHARED WITH HOST", *hosts),
            tuple((*k, *(_text(x) for x in n)) for k, n in c.containers),
            cut=frozenset({"IMAGE"}),
        ),
    ]
    lines = tuple(
        f"{s.host.hostname}: snapshot {s.id} (seq {s.seq}) at {s.taken_at}, kernel "
        f"{s.host.kernel or '?'}"
        for s in c.snapshots
    )
    payload = {
        "schema": SCHEMA,
        "hosts": [
            {
                "hostname": s.host.hostname,
                "machine_id": s.host.machine_id,
                "snapshot": s.id,
                "seq": s.seq,
                "taken_at": s.taken_at,
                "kernel": s.host.kernel,
            }
            for s in c.snapshots
        ],
        "facts": [{"key": k, "values": list(v)} for k, v in c.facts],
        "differing": sorted(differing),
        "counts": {t: list(n) for t, n in c.counts},
        "holders": [
            {"type": k[0], "command": k[1], "user": k[2], "counts": list(n)} for k, n in c.holders
        ],
        "mounts": [{"path": p, "held": list(h)} for p, h in c.mounts],
        "depth": {t: list(n) for t, n in c.depth},
        "containers": [
            {"runtime": k[0], "image": k[1], "own": k[2], "shared": k[3], "counts": list(n)}
            for k, n in c.containers
        ],
    }
    return Document(
        "nsaudit compare", payload, lines, tuple(t for t in tables if t.rows), tables[0]
    )
