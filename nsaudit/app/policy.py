"""A policy against this host or stored snapshots: the cron job (audit), a check, a report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nsaudit import compliance, workers
from nsaudit.app.inventory import capabilities_only, local_host, scan, take, watcher_caught_up
from nsaudit.collect.process import has_processes
from nsaudit.errors import UsageError
from nsaudit.hostfs import HostFS
from nsaudit.model import HostRow, Snapshot
from nsaudit.policy.locate import locate
from nsaudit.policy.rules import Policy
from nsaudit.refs import LATEST
from nsaudit.settings import Settings
from nsaudit.store import evaluations, queries
from nsaudit.store.database import Database
from nsaudit.store.queries import host_rows, matching, resolve
from nsaudit.timespan import Duration


def check(
    database: Database,
    settings: Settings,
    root: str = "/",
    policy: str | None = None,
    hostname: str | None = None,
    stored: bool = False,
    record: bool = False,
    threads: bool = False,
    now: datetime | None = None,
) -> compliance.Evaluation:
    """Evaluate a policy against a fresh snapshot of this host, or (`stored`, or `hostname`)
    the latest stored one. Nothing is written unless `record`, which stores the snapshot and
    records the check as the policy's last one: a check by hand never changes what the
    scheduled audit reports."""
    rules = locate(policy, settings.policy, required=True)
    assert rules is not None
    now = now or datetime.now(UTC)
    if hostname is not None or stored:
        # A stored snapshot: a check that records nothing only reads the database.
        local = local_host(settings, root)
        opened = database.writing(create=False) if record else database.reading()
        with opened as conn:
            snapshot_id = resolve(conn, LATEST, local, hostname)
            return compliance.evaluate_stored(conn, snapshot_id, rules, now, record)
    if not has_processes(HostFS(root)):
        # A kernel image or fixture tree: its kernel rules can be checked, nothing is stored.
        reason = f"{root} runs no processes, so it holds no namespaces"
        return compliance.evaluate_offline(capabilities_only(settings, root), rules, reason, now)
    if not record:
        # Storing its snapshot would end the period the next scheduled audit diffs, and so
        # hide what changed since the last audit.
        fresh = scan(settings, root, threads)
        if root == "/":
            watcher_caught_up(database, fresh.taken_at)
        return _unstored(database, fresh, rules, now)
    taken = take(database, settings, root, threads, None, rules, now, compare=False)
    assert taken.evaluation is not None
    return taken.evaluation


def _unstored(
    database: Database, fresh: Snapshot, rules: Policy, now: datetime
) -> compliance.Evaluation:
    """The check of a fresh snapshot against what is stored, read without a write: no
    database is created where none is, and none is upgraded."""
    if database.sqlite is not None and not os.path.exists(database.sqlite.path):
        return compliance.evaluate_fresh(None, fresh, rules, now)
    with database.reading() as conn:
        return compliance.evaluate_fresh(conn, fresh, rules, now)


@dataclass(frozen=True)
class Report:
    """The report of one or more hosts over a period from `since` (ISO, UTC) to `now`."""

    hosts: Sequence[compliance.HostReport]
    since: str
    now: str
    policy: Policy | None

    @property
    def failed(self) -> bool:
        return any(h.evaluation is not None and h.evaluation.failed for h in self.hosts)


def report(
    database: Database,
    settings: Settings,
    since: Duration,
    root: str = "/",
    policy: str | None = None,
    hostnames: Sequence[str] = (),
    all_hosts: bool = False,
    policy_required: bool = False,
    now: datetime | None = None,
    jobs: int | None = None,
    stale_after: Duration | None = None,
) -> Report:
    """Stored snapshots over a period, per host: capabilities, the policy's results (nothing
    recorded) and history. The hosts named, or every host, or this one; they are evaluated in
    `jobs` processes at once (default: one per CPU). A host not seen for longer than
    `stale_after` (else the settings') passes no rule; retired hosts are not part of all."""
    if all_hosts and hostnames:
        raise UsageError("give either --host NAME ... or --all-hosts")
    now = now or datetime.now(UTC)
    cutoff = (now - since.delta).isoformat(timespec="microseconds")
    stale = stale_after or settings.stale
    rules = locate(policy, settings.policy, required=policy_required)
    local = local_host(settings, root)
    with database.reading() as conn:
        rows = host_rows(conn)
        chosen = _chosen(rows, hostnames, all_hosts, local.hostname, local.machine_id)
        host_ids = [evaluations.host_and_seq(conn, r.last_id)[0] for r in chosen]
    database.dispose()  # no connection is carried into the workers

    def part(host_id: int) -> compliance.HostReport:
        # Each host is read in a transaction of its own: a snapshot taken since the hosts
        # were chosen is its newest, and one pruned meanwhile is not looked for.
        with database.reading() as conn:
            newest = queries.newest(conn, host_id)
            return compliance.host_report(conn, newest, rules, cutoff, now, stale)

    reports = list(workers.ordered(host_ids, part, jobs or workers.cores()))
    return Report(reports, cutoff, now.isoformat(timespec="microseconds"), rules)


def _chosen(
    rows: list[HostRow],
    hostnames: Sequence[str],
    all_hosts: bool,
    local_name: str,
    local_machine: str | None,
) -> list[HostRow]:
    if all_hosts:
        # Retired hosts are the fleet's past: named, they are reported still.
        chosen = [r for r in rows if not r.retired]
    elif hostnames:
        known = [(r.hostname, r.machine_id) for r in rows]
        chosen = []
        for name in hostnames:
            found = matching(known, name)
            if not found:
                raise UsageError(f"no snapshots of host {name!r}; `nsaudit hosts` lists the hosts")
            chosen += [rows[i] for i in found if rows[i] not in chosen]
    else:
        chosen = [
            r for r in rows if r.hostname == local_name and (r.machine_id or None) == local_machine
        ]
        if not chosen:
            raise UsageError(
                f"no snapshots of this host ({local_name}); run `nsaudit audit` first, "
                "or name hosts with --host"
            )
    if not chosen:
        raise UsageError("the database has no snapshots; run `nsaudit audit` first")
    return chosen
