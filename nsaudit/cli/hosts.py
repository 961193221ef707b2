"""`nsaudit hosts` (and `hosts forget`), `prune` and `compare`: the fleet in the database."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options, db_option, duration
from nsaudit.errors import EXIT_OK, UsageError
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings
from nsaudit.timespan import Duration


@click.group(invoke_without_command=True)
@click.option(
    "--stale",
    metavar="DURATION",
    callback=duration,
    help="List only the hosts whose newest snapshot is older than this (2h), and exit 1 if "
    "there are any (retired hosts aside).",
)
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV])
@click.pass_context
def hosts(
    ctx: click.Context, stale: Duration | None, db: str, settings: Settings, common: Common
) -> int:
    """Every host in the database, with its last snapshot, kernel, boot and state: current,
    stale (no snapshot for longer than --stale, else the settings' stale_after, else 1d) or
    retired. Warns of hosts that report the same machine id. `nsaudit hosts forget NAME`
    retires or removes one."""
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    from nsaudit.app.fleet import clones
    from nsaudit.app.fleet import hosts as stored_hosts
    from nsaudit.errors import EXIT_FINDINGS
    from nsaudit.store.database import Database
    from nsaudit.views.hosts import document

    rows = stored_hosts(Database(db), stale or settings.stale)
    warnings = clones(rows)
    if stale is not None:
        rows = [r for r in rows if r.state == "stale"]
    common.emit(document(rows, warnings))
    return EXIT_FINDINGS if stale is not None and rows else EXIT_OK


@hosts.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask (needed when there is no terminal).")
@click.option(
    "--keep-history",
    is_flag=True,
    help="Retire the host instead: its history stays (show, diff, past reports), it is no "
    "longer stale and fleet reports leave it out, until it takes a snapshot again.",
)
@db_option
@click.pass_context
def forget(
    ctx: click.Context, name: str, yes: bool, keep_history: bool, db: str, settings: Settings
) -> int:
    """Remove host NAME (NAME@MACHINE_ID_PREFIX when two hosts share the name) from the
    database: its snapshots, namespace states and check records, in one transaction; or,
    with --keep-history, retire it. Asks first on a terminal; --yes otherwise."""
    import sys

    from nsaudit.app.fleet import forget as forget_host
    from nsaudit.app.fleet import host_counts, retire
    from nsaudit.render.escape import terminal
    from nsaudit.store.database import Database
    from nsaudit.store.location import resolve

    parent = ctx.parent.params if ctx.parent is not None else {}
    own = ctx.params.get("db") or ctx.params.get("config")
    if not own and (parent.get("db") or parent.get("config")):
        # `nsaudit hosts --db X forget NAME`: the database given to the group, not the default.
        from nsaudit import settings as settings_file

        db = resolve(parent.get("db"), settings_file.load(parent.get("config")).database)
    database = Database(db)
    if keep_history:
        when = retire(database, name)
        click.echo(f"retired host {terminal(name)!r} at {when}; its history stays")
        return EXIT_OK
    counts = host_counts(database, name)
    what = (
        f"host {terminal(name)!r}: {counts.snapshots} snapshots, {counts.states} namespace "
        f"states, {counts.checks} check records"
    )
    if not yes:
        # sys.stdin is None when standard input was closed (`<&-`): no terminal to ask either.
        if not (sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(f"forgetting {what} needs --yes (there is no terminal to ask)")
        if not click.confirm(f"Forget {what}?", default=False):
            raise UsageError(f"not confirmed: {what} kept")
    removed = forget_host(database, name)
    click.echo(
        f"forgot host {terminal(name)!r}: {removed.snapshots} snapshots, {removed.states} "
        f"namespace states, {removed.checks} check records"
    )
    return EXIT_OK


@click.command()
@click.option(
    "--older-than",
    "older_than",
    metavar="DURATION",
    callback=duration,
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
def prune(older_than: Duration | None, keep_last: int | None, db: str, settings: Settings) -> int:
    """Delete old snapshots in one transaction; every remaining snapshot's show and diff
    output stays exactly as it was."""
    from nsaudit.app.fleet import prune as prune_snapshots
    from nsaudit.store.database import Database
    from nsaudit.store.engine import shown

    found = prune_snapshots(Database(db), settings, older_than, keep_last)
    result, span = found.pruned, found.span
    click.echo(
        f"database {shown(db)}: deleted {result.snapshots} snapshots older than {span.text} "
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
    from nsaudit.app.fleet import compare as compare_hosts
    from nsaudit.store.database import Database
    from nsaudit.views.compare import document

    common.emit(document(compare_hosts(Database(db), names)))
    return EXIT_OK
