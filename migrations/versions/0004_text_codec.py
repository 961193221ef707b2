"""Process text stored before the reversible codec is re-encoded: backslashes doubled.

nsaudit before this revision stored command, cmdline, user_name and parent_command as it read
them, a backslash as one backslash (and a byte that is not UTF-8 as the four characters
`\\xNN`). nsaudit now reads `\\\\` as a backslash and `\\xNN` as that byte (store/text.py), so an
old `luks\\x2d1234 C:\\share` would come back as something else. Doubling each backslash keeps
every old row's text as it was shown; the fingerprint, a hash over these stored values, is
computed again so that the next snapshot finds an unchanged namespace unchanged. A row from
before revision 0003 keeps its fingerprint without parent_command, which the next snapshot
fills in (store/snapshots.py, _legacy_fingerprint).

The codec and the fingerprint are copied here, not imported: this revision must do the same
thing whatever later code does.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TEXT = ("command", "cmdline", "user_name", "parent_command")
# Every column _state() in store/snapshots.py puts into the fingerprint, plus boot_id.
_STATE = (
    "ns_type",
    "dev",
    "inode",
    "ns_id",
    "nprocs",
    "pid",
    "pid_start",
    "ppid",
    "command",
    "cmdline",
    "uid",
    "user_name",
    "parent_dev",
    "parent_inode",
    "owner_dev",
    "owner_inode",
    "owner_uid",
    "holders",
    "parent_command",
    "boot_id",
)
_STORED = re.compile(r"\\(\\|x[89a-f][0-9a-f])")
_BATCH = 500


def _encode(text: str | None) -> str | None:
    if text is None:
        return None
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _decode_to_old(text: str | None) -> str | None:
    # The old form of a byte that is not UTF-8 was the same `\xNN`: only `\\` changes back.
    if text is None:
        return None
    return _STORED.sub(lambda m: "\\" if m[1] == "\\" else m[0], text)


def _fingerprint(state: dict[str, Any]) -> str:
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _recode(convert: Callable[[str | None], str | None]) -> None:
    conn = op.get_bind()
    table = sa.table(
        "ns_states", sa.column("id"), sa.column("fingerprint"), *map(sa.column, _STATE)
    )
    # Only a row with a backslash changes; autoescape makes LIKE's escape character `/` on
    # both SQLite and PostgreSQL, where a backslash is otherwise PostgreSQL's.
    has_backslash = sa.or_(*(table.c[name].contains("\\", autoescape=True) for name in _TEXT))
    rows = conn.execute(sa.select(table).where(has_backslash).order_by(table.c.id)).mappings().all()
    updates: list[dict[str, Any]] = []
    for row in rows:
        old = {name: row[name] for name in _STATE}
        new = {**old, **{name: convert(old[name]) for name in _TEXT}}
        legacy = {k: v for k, v in old.items() if k != "parent_command"}
        if row["fingerprint"] == _fingerprint(legacy):
            # Stored before revision 0003: it stays a legacy fingerprint, to be filled in.
            fingerprint = _fingerprint({k: v for k, v in new.items() if k != "parent_command"})
        else:
            fingerprint = _fingerprint(new)
        updates.append({"row": row["id"], "fp": fingerprint, **{f"new_{n}": new[n] for n in _TEXT}})
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row"))
        .values(fingerprint=sa.bindparam("fp"), **{n: sa.bindparam(f"new_{n}") for n in _TEXT})
    )
    for i in range(0, len(updates), _BATCH):
        conn.execute(statement, updates[i : i + _BATCH])


def upgrade() -> None:
    _recode(_encode)


def downgrade() -> None:
    _recode(_decode_to_old)
