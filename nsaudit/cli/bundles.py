"""`nsaudit export` and `nsaudit import`: snapshots from one database to another, as bundles."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import click

from nsaudit import userfile
from nsaudit.cli.options import (
    db_option,
    local_host,
    output_option,
    snapshot_refs,
    write_to,
)
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_OK, UsageError
from nsaudit.refs import LATEST, SnapshotRef
from nsaudit.settings import Settings

if TYPE_CHECKING:
    from nsaudit.model import Snapshot


@click.command("export")
@click.argument("refs", nargs=-1, metavar="[REF...]", callback=snapshot_refs)
@output_option("the bundle")
@click.option(
    "--host",
    "hostname",
    metavar="NAME",
    help="latest and latest~N are that host's snapshots instead of this host's.",
)
@click.option("--all", "everything", is_flag=True, help="Every snapshot in the database.")
@db_option
def export(
    refs: tuple[SnapshotRef, ...],
    output: str,
    hostname: str | None,
    everything: bool,
    db: str,
    settings: Settings,
) -> int:
    """Write snapshots (REFS: ids, latest, latest~N; default latest) with their host records
    to a versioned JSON Lines bundle that `nsaudit import` loads elsewhere."""
    from nsaudit import bundle
    from nsaudit.store.database import Database
    from nsaudit.store.queries import list_rows, resolve
    from nsaudit.store.snapshots import load

    if everything and refs:
        raise UsageError("give either REFS or --all")
    local = local_host(settings)
    with Database(db).reading() as conn:
        if everything:
            rows = list_rows(conn, hostname, None)
            if not rows:
                raise UsageError(
                    f"no snapshots of host {hostname!r}; `nsaudit hosts` lists the hosts"
                    if hostname is not None
                    else "the database has no snapshots; nothing to export"
                )
            ids = [r.id for r in sorted(rows, key=lambda r: (r.hostname, r.seq))]
        else:
            ids = sorted({resolve(conn, ref, local, hostname) for ref in refs or (LATEST,)})
        # One snapshot in memory at a time: a bundle of years of history streams out.
        snaps = (load(conn, i) for i in ids)
        count = write_to(output, lambda f: bundle.write(snaps, f))
    if output != "-":
        to_stderr(f"exported {count} snapshots to {output}")
    return EXIT_OK


@click.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@db_option
def import_(files: tuple[str, ...], db: str, settings: Settings) -> int:
    """Load bundles (FILE..., - for standard input). Each snapshot is validated and stored as
    it is read, in one transaction: the first error stores nothing of any file, and importing
    the same bundle twice adds nothing."""
    from nsaudit import bundle
    from nsaudit.jsonshape import MAX_INT
    from nsaudit.store.database import Database
    from nsaudit.store.queries import find
    from nsaudit.store.snapshots import save

    if files.count("-") > 1:
        raise UsageError("- (standard input) is given more than once; give it once")
    added = present = 0
    first_added = MAX_INT
    order = bundle.SeqOrder()
    with ExitStack() as files_open:
        # Every file is opened and its header checked before the database is: a missing file
        # or one that is no bundle leaves the database (or its absence) as it was.
        sources = [(name, _records(name, files_open)) for name in files]
        with Database(db).writing_or_nothing() as conn:
            for name, records in sources:
                with _bundle_errors(name):
                    for number, snap in records:
                        stored = find(conn, snap.host, snap.seq or 0)
                        # Ids grow: one at or above the first this import stored is its own.
                        again = stored is not None and stored[0] >= first_added
                        order.check(snap, name, number, again)
                        if stored is None:
                            try:
                                saved = save(conn, snap)
                            except UsageError as e:
                                raise bundle.BundleError(f"line {number}: {e}") from None
                            first_added = min(first_added, saved.id)
                            added += 1
                        elif stored[1] == snap.taken_at:
                            present += 1
                        else:
                            raise bundle.BundleError(
                                f"line {number}: snapshot seq {snap.seq} of host "
                                f"{snap.host.hostname!r} is stored already with another time "
                                f"({stored[1]})"
                            )
                        del snap  # one snapshot in memory: not this one while the next is read
    click.echo(f"imported {added} snapshots ({present} already present)")
    return EXIT_OK


def _records(name: str, files_open: ExitStack) -> Iterator[tuple[int, Snapshot]]:
    """The bundle's snapshots as they are read, its header checked already."""
    from nsaudit import bundle

    with _bundle_errors(name):
        if name == "-":
            if sys.stdin is None:  # started with standard input closed (`<&-`)
                raise UsageError("bundle -: standard input is closed; give a file")
            userfile.check_stream(sys.stdin.buffer)
            return bundle.records(sys.stdin.buffer)
        # A pipe (`<(zcat b.jsonl.gz)`, /dev/fd/N) is read as it comes, line by line.
        f = files_open.enter_context(userfile.open_binary(name, streams=True))
        return bundle.records(f)


@contextmanager
def _bundle_errors(name: str) -> Iterator[None]:
    from nsaudit import bundle

    try:
        yield
    except bundle.BundleError as e:
        raise UsageError(f"bundle {name}: {e}; nothing was imported") from None
    except OSError as e:
        raise UsageError(f"bundle {name} cannot be read: {e.strerror}") from None
