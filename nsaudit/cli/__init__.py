"""The command line: click commands, and the map from errors to documented exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from nsaudit import __version__
from nsaudit.cli.audit import audit
from nsaudit.cli.bundles import export, import_
from nsaudit.cli.check import check
from nsaudit.cli.db import db
from nsaudit.cli.detect import detect
from nsaudit.cli.diff import diff_command
from nsaudit.cli.hosts import compare, hosts, prune
from nsaudit.cli.metrics import metrics
from nsaudit.cli.report import report
from nsaudit.cli.show import show, snapshots
from nsaudit.cli.snapshot import snapshot
from nsaudit.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    NsauditError,
    OutputClosed,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nsaudit")
def cli() -> None:
    """Audit Linux namespaces: what this kernel can do, what namespaces exist, what changed.

    Exit codes: 0 ok, 1 findings, 2 usage error, 3 host could not be read,
    4 database error, 130 interrupted. See the README for every command.
    """


for command in (
    detect,
    snapshot,
    snapshots,
    show,
    diff_command,
    audit,
    check,
    report,
    metrics,
    hosts,
    compare,
    export,
    import_,
    prune,
    db,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn every outcome into a documented exit code, without tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="nsaudit", standalone_mode=False)
        sys.stdout.flush()
    except click.ClickException as e:
        _error(_usage_line(e))
        return e.exit_code if e.exit_code != 1 else EXIT_USAGE
    except click.exceptions.Abort:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except (OutputClosed, BrokenPipeError):
        # The reader went away (`nsaudit detect | head -1`): stop quietly, and keep Python's
        # final flush of stdout from failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except NsauditError as e:
        if debug:
            raise
        _error(str(e))
        return e.exit_code
    except Exception as e:
        if debug:
            raise
        _error(f"internal error: {type(e).__name__}: {e} (run again with --debug for details)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _usage_line(e: click.ClickException) -> str:
    message = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        return f"{message} (see '{ctx.command_path} --help')"
    return message


def _error(message: str) -> None:
    # Messages quote paths, host names and file contents: escaped like any untrusted text.
    from nsaudit.render.escape import terminal

    print(f"nsaudit: error: {terminal(message)}", file=sys.stderr)
