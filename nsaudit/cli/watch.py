"""`nsaudit watch`: record the namespaces created and entered between snapshots; `nsaudit
events`: list what it recorded."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options, db_option, duration
from nsaudit.errors import EXIT_INTERRUPTED, EXIT_OK
from nsaudit.model import MECHANISMS
from nsaudit.render import OutputFormat
from nsaudit.settings import Settings
from nsaudit.timespan import Duration


@click.command()
@click.option(
    "--mechanism",
    type=click.Choice(["auto", *MECHANISMS]),
    default="auto",
    show_default=True,
    help="What sees the events: eBPF tracepoints, the kernel's audit subsystem, or auto (eBPF, "
    "else audit, with a warning that says why and what audit cannot see).",
)
@click.option(
    "--for",
    "for_",
    metavar="DURATION",
    callback=duration,
    help="Stop after this long (30s, 10m); default: until SIGTERM or Ctrl-C.",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Events a transaction at most (else one a second).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Do not say which mechanism watches, nor what a run recorded (a fallback to audit is "
    "still said).",
)
@db_option
def watch(
    mechanism: str,
    for_: Duration | None,
    batch: int,
    quiet: bool,
    db: str,
    settings: Settings,
) -> int:
    """Record every namespace created (clone, clone3, unshare) and entered (setns) on this host
    until stopped, with who did it and when, in the database: `diff` and `audit` then show
    what lived and died between two snapshots. Needs root, or CAP_BPF and CAP_PERFMON (eBPF),
    or CAP_AUDIT_CONTROL and CAP_AUDIT_READ (audit). Runs as a service:
    samples/watch/nsaudit-watch.service. Exit 0 when stopped (SIGTERM, --for), 130 by Ctrl-C
    (after storing what it held), 2 when another watcher runs, 3 when neither mechanism can
    be used, 4 the database."""
    from nsaudit.app.watched import watch as run
    from nsaudit.cli.output import to_stderr
    from nsaudit.store.database import Database

    def say(line: str) -> None:
        to_stderr(f"nsaudit: {line}")

    totals, stopped_by = run(
        Database(db),
        settings,
        mechanism,
        None if for_ is None else for_.delta.total_seconds(),
        batch,
        announce=(lambda _: None) if quiet else say,
        warn=lambda line: say(f"warning: {line}"),
    )
    if not quiet:
        to_stderr(
            f"nsaudit: run {totals.run}: {totals.events} namespace events and {totals.exits} exits "
            f"recorded, {totals.lost} lost"
        )
    import signal

    return EXIT_INTERRUPTED if stopped_by == signal.SIGINT else EXIT_OK


@click.command()
@click.option("--host", metavar="NAME", help="The host (default: this one).")
@click.option("--since", metavar="DURATION", callback=duration, help="Only the last 2h, 7d, ...")
@db_option
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.CSV])
def events(
    host: str | None, since: Duration | None, db: str, settings: Settings, common: Common
) -> int:
    """The namespace events `nsaudit watch` recorded, oldest first, with the stretches of time
    no watcher covered and the events it lost. Exit 0, 2 for an unknown --host, 4 the
    database."""
    from nsaudit.app.watched import recorded
    from nsaudit.store.database import Database
    from nsaudit.views.events import document

    common.emit(document(recorded(Database(db), settings, host, since)))
    return EXIT_OK
