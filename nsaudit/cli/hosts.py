"""`nsaudit hosts` and `nsaudit prune`: the fleet in the database, and its retention."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from nsaudit.cli.options import Common, common_options, db_option
from nsaudit.errors import EXIT_OK, UsageError
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings
from nsaudit.timespan import parse_duration


@click.command()
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV])
def hosts(db: str, settings: Settings, common: Common) -> int:
    """Every host in the database, with its last snapshot, kernel and boot."""
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import host_rows
    from nsaudit.views.hosts import document

    with Database(db).transaction() as conn:
        rows = host_rows(conn)
    common.emit(document(rows))
    return EXIT_OK


@click.command()
@click.option(
    "--older-than",
    "older_than",
    metavar="DURATION",
    help="Delete snapshots older than this (90d); default: the settings file's.",
)
@click.option(
    "--keep-last",
    "keep_last",
    type=click.IntRange(min=1),
    metavar="N",
    help="Keep each host's newest N snapshots whatever their age (default 1).",
)
@db_option
def prune(older_than: str | None, keep_last: int | None, db: str, settings: Settings) -> int:
    """Delete old snapshots in one transaction; every remaining snapshot's show and diff
    output stays exactly as it was."""
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown
    from nsaudit.store.retention import prune as prune_snapshots

    span = older_than or settings.older_than
    if span is None:
        raise UsageError(
            "prune needs --older-than DURATION (or retention.older_than in the settings file)"
        )
    try:
        cutoff = datetime.now(UTC) - parse_duration(span)
    except ValueError as e:
        raise UsageError(f"--older-than: {e}") from None
    keep = keep_last or settings.keep_last or 1
    with Database(db).transaction() as conn:
        result = prune_snapshots(conn, cutoff.isoformat(timespec="microseconds"), keep)
    click.echo(
        f"database {shown(db)}: deleted {result.snapshots} snapshots older than {span} "
        f"and {result.states} namespace states only they used, and {result.checks} older "
        f"policy check records; {result.kept} snapshots remain"
    )
    return EXIT_OK


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="HOST_A HOST_B [HOST...]")
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.MARKDOWN, OutputFormat.CSV])
def compare(names: tuple[str, ...], db: str, settings: Settings, common: Common) -> int:
    """Compare the latest snapshots of two or more hosts: capabilities side by side, and
    namespaces by shape (inode numbers mean nothing across hosts)."""
    from nsaudit.collect.snapshot import host_info
    from nsaudit.compare import compare as compare_hosts
    from nsaudit.hostfs import HostFS
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import load, resolve
    from nsaudit.views.compare import document

    if len(names) < 2:
        raise UsageError("compare needs at least two host names; `nsaudit hosts` lists them")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"host {twice[0]!r} is named twice; compare different hosts")
    local = host_info(HostFS("/"), settings.hostname)
    with Database(db).transaction() as conn:
        snaps = [load(conn, resolve(conn, "latest", local, name)) for name in names]
    common.emit(document(compare_hosts(snaps)))
    return EXIT_OK
