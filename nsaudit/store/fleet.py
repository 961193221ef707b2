"""A fleet on PostgreSQL: roles and row-level security, so that each host writes and reads
only its own history, and PostgreSQL itself enforces it.

- the owner role owns the tables; migrations run as it (a superuser, or a member of it, runs
  `db init-fleet` and `db upgrade`);
- the reporting role reads every host, and prunes, forgets and imports;
- the hosts' group role: each host's role is a member, and may insert its own host's rows
  (the host name `db add-host` registered for it), read them, close its own namespace and
  container states (an UPDATE of their rows), and delete nothing.

Table owners are not subject to row-level security (it is not forced): the owner migrates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nsaudit.errors import DatabaseError, UsageError
from nsaudit.store.head import TABLES

if TYPE_CHECKING:
    from sqlalchemy import Connection


def _host_grants() -> dict[str, str]:
    """What each host's role may do to a table (besides what row-level security lets it see).
    It updates only the columns save() changes as it closes a state (or a row learns columns
    added since it was written): a grant of UPDATE on a whole table would also let it LOCK the
    table, and so stop every other host."""
    from nsaudit.model import Namespace
    from nsaudit.store.rows import learned

    closing = sorted({"end_seq", "fingerprint", *(c for cs in learned(Namespace) for c in cs)})
    return {
        "hosts": "SELECT, INSERT",
        "snapshots": "SELECT, INSERT",
        "capability_reports": "SELECT, INSERT",
        "policy_checks": "SELECT, INSERT",
        "ns_states": f"SELECT, INSERT, UPDATE ({', '.join(closing)})",
        "container_states": "SELECT, INSERT, UPDATE (end_seq)",
        "fleet_roles": "SELECT",
        "watch_runs": "SELECT, INSERT, UPDATE (seen_at, events, lost, ended_at)",
        "ns_events": "SELECT, INSERT",
    }


# The host's own row: written by its role, under the name registered for that role (so that
# a role name used again later does not inherit the history of a host that was removed).
_REGISTERED = "hostname = (SELECT f.hostname FROM fleet_roles f WHERE f.role = current_user)"
_OWN_HOST_ROW = f"writer = current_user AND {_REGISTERED}"
# The rows of a host's own history, for tables with a host_id (the policy of hosts applies
# in the subquery).
_OWN_HOST = "host_id IN (SELECT id FROM hosts)"
_OWN_ROWS = {
    "hosts": (_OWN_HOST_ROW, _OWN_HOST_ROW),
    "fleet_roles": ("role = current_user", "false"),
    # A snapshot refers only to its own host's capability report (the foreign key alone is
    # checked as the tables' owner, who sees every host's).
    "snapshots": (
        _OWN_HOST,
        f"{_OWN_HOST} AND (capability_id IS NULL OR capability_id IN "
        "(SELECT id FROM capability_reports))",
    ),
    # An event belongs to one of the host's own watcher runs.
    "ns_events": (_OWN_HOST, f"{_OWN_HOST} AND run_id IN (SELECT id FROM watch_runs)"),
}
# Sessions a host's role may hold at once: a cron job needs two (its turn, its write).
_HOST_CONNECTIONS = 8
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCRAM_ITERATIONS = 4096


@dataclass(frozen=True)
class Roles:
    """A fleet's three roles."""

    owner: str
    reporting: str
    hosts: str

    @classmethod
    def named(cls, prefix: str) -> Roles:
        if not _ROLE_NAME.fullmatch(prefix) or len(prefix) > 40:
            raise UsageError(
                f"role prefix {prefix!r}: use lower-case letters, digits and _ (at most 40), "
                "starting with a letter"
            )
        return cls(f"{prefix}_owner", f"{prefix}_reporting", f"{prefix}_hosts")


def quoted(name: str) -> str:
    """A role or table name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def roles(conn: Connection) -> Roles | None:
    """The fleet's roles, or None when the database is no fleet (or not PostgreSQL)."""
    from sqlalchemy import inspect, text

    if conn.dialect.name != "postgresql" or not inspect(conn).has_table("fleet_roles"):
        return None
    kinds: dict[str, str] = dict(
        conn.execute(
            text("SELECT kind, role FROM fleet_roles WHERE kind IN ('owner', 'reporting', 'hosts')")
        ).all()
    )
    if len(kinds) < 3:
        return None
    return Roles(kinds["owner"], kinds["reporting"], kinds["hosts"])


def owned(conn: Connection) -> Roles | None:
    """The fleet's roles when this session may act as its owner (a superuser, or a member of
    the owner role); else None."""
    from sqlalchemy import text

    fleet = roles(conn)
    if fleet is None:
        return None
    may = conn.execute(
        text("SELECT pg_has_role(current_user, :owner, 'MEMBER')"), {"owner": fleet.owner}
    ).scalar()
    return fleet if may else None


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of a password (RFC 5802, 7677), as libpq's
    PQencryptPasswordConn makes it: the server is sent this, never the password."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    stored_key = hashlib.sha256(client_key).digest()
    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _exists(conn: Connection, role: str) -> bool:
    from sqlalchemy import text

    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    return found.first() is not None


def _create_login(conn: Connection, role: str, member_of: str | None = None) -> str:
    """Create a role that logs in with a new password: the password (shown once)."""
    password = secrets.token_urlsafe(24)
    verifier = scram_verifier(password).replace("'", "''")
    member = f" IN ROLE {quoted(member_of)}" if member_of else ""
    # As it is: the verifier's colons are no bind parameters.
    limit = f" CONNECTION LIMIT {_HOST_CONNECTIONS}" if member_of else ""
    conn.exec_driver_sql(f"CREATE ROLE {quoted(role)} LOGIN PASSWORD '{verifier}'{limit}{member}")
    return password


@dataclass(frozen=True)
class Initialised:
    """What `db init-fleet` made: the roles, and the reporting role's new password (None
    when the role existed: its password was left as it was)."""

    roles: Roles
    created: tuple[str, ...]
    reporting_password: str | None


def prepare(conn: Connection, prefix: str) -> Initialised:
    """Make the database a fleet, in the caller's transaction, as a role that may create
    roles: the three roles, and the tables owned by the owner. The session then acts as the
    owner: the caller brings the schema to head and calls finish()."""
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        raise UsageError("a fleet needs PostgreSQL (roles and row-level security): give --db URL")
    wanted = Roles.named(prefix)
    found = roles(conn)
    if found is not None and found != wanted:
        raise UsageError(
            f"the database is a fleet already, with roles {found.owner}, {found.reporting} and "
            f"{found.hosts}: run init-fleet again with --prefix {found.owner[: -len('_owner')]}"
        )
    created = []
    if not _exists(conn, wanted.owner):
        conn.execute(text(f"CREATE ROLE {quoted(wanted.owner)} NOLOGIN"))
        created.append(wanted.owner)
    password = None
    if not _exists(conn, wanted.reporting):
        password = _create_login(conn, wanted.reporting)
        created.append(wanted.reporting)
    if not _exists(conn, wanted.hosts):
        conn.execute(text(f"CREATE ROLE {quoted(wanted.hosts)} NOLOGIN"))
        created.append(wanted.hosts)
    me = conn.execute(text("SELECT current_user, rolsuper FROM pg_roles "
                           "WHERE rolname = current_user")).one()  # fmt: skip
    if not me.rolsuper:
        conn.execute(text(f"GRANT {quoted(wanted.owner)} TO {quoted(me.current_user)}"))
    schema = quoted(conn.execute(text("SELECT current_schema()")).scalar_one())
    # Nobody else creates objects beside the tables (a function that shadows a built-in would
    # run with the privileges of whoever calls it).
    conn.execute(text(f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"))
    conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {quoted(wanted.owner)}"))
    existing = conn.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    ).scalars()
    for table in sorted(set(existing) & (TABLES | {"alembic_version"})):
        conn.execute(text(f"ALTER TABLE {quoted(table)} OWNER TO {quoted(wanted.owner)}"))
    conn.execute(text(f"SET LOCAL ROLE {quoted(wanted.owner)}"))
    return Initialised(wanted, tuple(created), password)


def finish(conn: Connection, fleet: Roles) -> None:
    """The second half of init-fleet, as the owner, on the schema at head: the roles
    recorded, the grants and policies applied."""
    from sqlalchemy import text

    for kind, role in (("owner", fleet.owner), ("reporting", fleet.reporting),
                       ("hosts", fleet.hosts)):  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO fleet_roles (role, kind) VALUES (:role, :kind) "
                "ON CONFLICT (role) DO NOTHING"
            ),
            {"role": role, "kind": kind},
        )
    apply(conn, fleet)
    conn.execute(text("RESET ROLE"))


def apply(conn: Connection, fleet: Roles) -> None:
    """The grants and row-level security policies of every table, as the owner: run by
    init-fleet, and again after each upgrade (a new table gets its own)."""
    from sqlalchemy import text

    def run(statement: str) -> None:
        conn.execute(text(statement))

    reporting, hosts = quoted(fleet.reporting), quoted(fleet.hosts)
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    run(f"GRANT USAGE ON SCHEMA {quoted(schema)} TO {reporting}, {hosts}")
    run(f"GRANT SELECT ON alembic_version TO {reporting}, {hosts}")
    grants = _host_grants()
    for table in sorted(TABLES):
        name = quoted(table)
        run(f"REVOKE ALL ON {name} FROM PUBLIC")
        run(f"REVOKE ALL ON {name} FROM {hosts}")  # column grants of an older nsaudit too
        run(f"GRANT {grants[table]} ON {name} TO {hosts}")
        maintain = "SELECT" if table == "fleet_roles" else "SELECT, INSERT, UPDATE, DELETE"
        run(f"GRANT {maintain} ON {name} TO {reporting}")
        sequence = conn.execute(
            text(
                "SELECT pg_get_serial_sequence(:t, attname) FROM pg_attribute "
                "WHERE attrelid = CAST(:t AS regclass) AND attname = 'id'"
            ),
            {"t": table},
        ).scalar()
        if sequence is not None:  # already quoted where it needs to be
            # USAGE (nextval) alone: the sequence's last value is the whole fleet's activity.
            run(f"GRANT USAGE ON SEQUENCE {sequence} TO {reporting}, {hosts}")
        run(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        for policy in ("nsaudit_reporting", "nsaudit_host"):
            run(f"DROP POLICY IF EXISTS {policy} ON {name}")
        run(f"CREATE POLICY nsaudit_reporting ON {name} TO {reporting} USING (true) "
            "WITH CHECK (true)")  # fmt: skip
        using, check = _OWN_ROWS.get(table, (_OWN_HOST, _OWN_HOST))
        run(f"CREATE POLICY nsaudit_host ON {name} TO {hosts} USING ({using}) "
            f"WITH CHECK ({check})")  # fmt: skip
    # A host's row names the role that writes it: the role registered for its name (a bundle
    # the reporting role imports for a host is that host's history), else whoever adds it.
    run(
        "CREATE OR REPLACE FUNCTION nsaudit_host_writer() RETURNS trigger LANGUAGE plpgsql "
        "SET search_path = pg_catalog AS $$ BEGIN NEW.writer := coalesce((SELECT f.role FROM "
        f"{quoted(schema)}.fleet_roles f WHERE f.hostname = NEW.hostname), current_user); "
        "RETURN NEW; END $$"
    )
    run("DROP TRIGGER IF EXISTS nsaudit_host_writer ON hosts")
    run("CREATE TRIGGER nsaudit_host_writer BEFORE INSERT ON hosts FOR EACH ROW "
        "EXECUTE FUNCTION nsaudit_host_writer()")  # fmt: skip
    run("REVOKE ALL ON FUNCTION nsaudit_host_writer() FROM PUBLIC")


def _host_role_name(fleet: Roles, name: str) -> str:
    prefix = fleet.hosts.removesuffix("_hosts")
    slug = re.sub(r"[^a-z0-9_]", "_", name.lower())
    role = f"{prefix}_host_{slug}"
    if len(role.encode()) > 63:
        raise UsageError(
            f"host name {name!r} makes a role name longer than PostgreSQL's 63 bytes: give "
            "--role NAME (a role of your own choosing)"
        )
    return role


@dataclass(frozen=True)
class Added:
    """A host's role: its name, its new password (None for a role that existed: it logs in
    as it did, by certificate or its own password) and how many hosts of that name that no
    host's role wrote it adopted (their history continues as its own)."""

    role: str
    password: str | None
    adopted: int


def add_host(conn: Connection, name: str, role: str | None = None) -> Added:
    """Give host NAME a role of its own, in the caller's transaction: a new one with a new
    password, or `role` (an existing login, such as a client certificate's)."""
    from sqlalchemy import text

    fleet = _required(conn)
    registered = conn.execute(
        text("SELECT role FROM fleet_roles WHERE hostname = :name"), {"name": name}
    ).scalar()
    if registered is not None:
        raise UsageError(
            f"host {name!r} has a role already ({registered}); two machines cannot share a "
            "name: give the other its own (hostname in its settings file), or run "
            "`nsaudit db remove-host` first"
        )
    password = None
    if role is None:
        role = _host_role_name(fleet, name)
        if _exists(conn, role):
            raise UsageError(f"role {role} exists already: give --role, or remove it first")
        password = _create_login(conn, role, fleet.hosts)
        kind = "host"
    else:
        if not _exists(conn, role):
            raise UsageError(f"role {role!r} does not exist: create it first (CREATE ROLE)")
        if (
            role in (fleet.owner, fleet.reporting, fleet.hosts)
            or conn.execute(text("SELECT 1 FROM fleet_roles WHERE role = :r"), {"r": role}).first()
        ):
            raise UsageError(f"role {role!r} is one of the fleet's already: give another")
        conn.exec_driver_sql(f"GRANT {quoted(fleet.hosts)} TO {quoted(role)}")
        kind = "login"
    conn.execute(
        text("INSERT INTO fleet_roles (role, kind, hostname) VALUES (:role, :kind, :name)"),
        {"role": role, "kind": kind, "name": name},
    )
    adopted = conn.execute(
        text(
            "UPDATE hosts SET writer = :role WHERE hostname = :name AND writer NOT IN "
            "(SELECT f.role FROM fleet_roles f WHERE f.hostname IS NOT NULL AND f.role <> :role)"
        ),
        {"role": role, "name": name},
    ).rowcount
    return Added(role, password, int(adopted))


@dataclass(frozen=True)
class Removed:
    role: str
    dropped: bool


def remove_host(conn: Connection, name: str) -> Removed:
    """Take host NAME's role out of the fleet: a role add-host made is dropped, an existing
    login leaves the hosts' group. Its history stays (hosts forget removes it)."""
    from sqlalchemy import text

    fleet = _required(conn)
    found = conn.execute(
        text("SELECT role, kind FROM fleet_roles WHERE hostname = :name"), {"name": name}
    ).first()
    if found is None:
        raise UsageError(f"host {name!r} has no role in this fleet; `nsaudit hosts` lists hosts")
    conn.execute(text("DELETE FROM fleet_roles WHERE role = :r"), {"r": found.role})
    # Its history stays, written by no role: one that takes the name again adopts it.
    conn.execute(text("UPDATE hosts SET writer = '' WHERE writer = :r"), {"r": found.role})
    conn.exec_driver_sql(f"REVOKE {quoted(fleet.hosts)} FROM {quoted(found.role)}")
    dropped = found.kind == "host"
    if dropped:
        conn.exec_driver_sql(f"DROP ROLE {quoted(found.role)}")
    return Removed(found.role, dropped)


def _required(conn: Connection) -> Roles:
    fleet = roles(conn)
    if fleet is None:
        raise DatabaseError(
            "the database is not a fleet: run `nsaudit db init-fleet` first (PostgreSQL)"
        )
    return fleet
