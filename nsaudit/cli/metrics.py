"""`nsaudit metrics`: the Prometheus text format for node_exporter's textfile collector."""

from __future__ import annotations

import click

from nsaudit.cli.options import db_option, output_option, write_to
from nsaudit.errors import EXIT_OK
from nsaudit.settings import Settings


@click.command()
@output_option(
    "the metrics (for node_exporter's textfile collector: a .prom file in its directory)"
)
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="That host's latest snapshot instead of this host's.",
)
@db_option
def metrics(output: str, hostname: str | None, db: str, settings: Settings) -> int:
    """Publish the latest stored snapshot and the last policy checks as Prometheus metrics:
    namespaces per type, capability status per type, failing rules, snapshot time, partial,
    stale (no snapshot for longer than the settings' stale_after, default 1d), and the
    watcher's events, losses and liveness where `nsaudit watch` runs."""
    from nsaudit.app.fleet import metrics as published
    from nsaudit.store.database import Database
    from nsaudit.views.metrics import prometheus

    found = published(Database(db), settings, hostname)
    text = prometheus(
        found.snapshot,
        found.records,
        other_host=hostname is not None,
        stale=found.stale,
        watch=found.watch,
    )
    write_to(output, lambda f: f.write(text))
    return EXIT_OK
