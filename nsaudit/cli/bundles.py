"""`nsaudit export` and `nsaudit import`: snapshots from one database to another, as bundles."""

from __future__ import annotations

import sys

import click

from nsaudit import userfile
from nsaudit.cli.options import db_option, output_option, write_atomically
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_OK, UsageError
from nsaudit.hostfs import HostFS
from nsaudit.settings import Settings


@click.command("export")
@click.argument("refs", nargs=-1, metavar="[REF...]")
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
    refs: tuple[str, ...],
    output: str,
    hostname: str | None,
    everything: bool,
    db: str,
    settings: Settings,
) -> int:
    """Write snapshots (REFS: ids, latest, latest~N; default latest) with their host records
    to a versioned JSON Lines bundle that `nsaudit import` loads elsewhere."""
    from nsaudit import bundle
    from nsaudit.collect.snapshot import host_info
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import list_rows, load, resolve

    if everything and refs:
        raise UsageError("give either REFS or --all")
    local = host_info(HostFS("/"), settings.hostname)
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
            ids = sorted({resolve(conn, ref, local, hostname) for ref in refs or ("latest",)})
        # One snapshot in memory at a time: a bundle of years of history streams out.
        snaps = (load(conn, i) for i in ids)
        if output == "-":
            bundle.write(snaps, sys.stdout)
            sys.stdout.flush()
            return EXIT_OK
        count = write_atomically(output, lambda f: bundle.write(snaps, f))
    to_stderr(f"exported {count} snapshots to {output}")
    return EXIT_OK


@click.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@db_option
def import_(files: tuple[str, ...], db: str, settings: Settings) -> int:
    """Load bundles (FILE..., - for standard input). Everything is validated before anything
    is written; importing the same bundle twice adds nothing."""
    from nsaudit import bundle
    from nsaudit.store.database import Database
    from nsaudit.store.snapshots import find, save

    snaps = []
    for name in files:
        try:
            if name == "-":
                if sys.stdin is None:  # started with standard input closed (`<&-`)
                    raise UsageError("bundle -: standard input is closed; give a file")
                userfile.check_stream(sys.stdin.buffer)
                snaps += bundle.read(sys.stdin.buffer)
            else:
                # A pipe (`<(zcat b.jsonl.gz)`, /dev/fd/N) is read as it comes, line by line.
                with userfile.open_binary(name, streams=True) as f:
                    snaps += bundle.read(f)
        except bundle.BundleError as e:
            raise UsageError(f"bundle {name}: {e}; nothing was imported") from None
        except OSError as e:
            raise UsageError(f"bundle {name} cannot be read: {e.strerror}") from None
    snaps.sort(key=lambda s: (s.host.hostname, s.host.machine_id or "", s.seq or 0))
    added = present = 0
    seen: set[tuple[str, str | None, int | None]] = set()
    with Database(db).writing() as conn:
        for snap in snaps:
            ident = (snap.host.hostname, snap.host.machine_id, snap.seq)
            if ident in seen:
                raise UsageError(
                    f"snapshot seq {snap.seq} of host {snap.host.hostname!r} is in "
                    "two bundles; nothing was imported"
                )
            seen.add(ident)
            stored = find(conn, snap.host, snap.seq or 0)
            if stored is not None:
                if stored[1] != snap.taken_at:
                    raise UsageError(
                        f"snapshot seq {snap.seq} of host {snap.host.hostname!r} is stored "
                        f"already with another time ({stored[1]}); nothing was imported"
                    )
                present += 1
                continue
            save(conn, snap)
            added += 1
    click.echo(f"imported {added} snapshots ({present} already present)")
    return EXIT_OK
