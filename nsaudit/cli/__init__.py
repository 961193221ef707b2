"""The command line: click commands, and the map from errors to documented exit codes."""

from __future__ import annotations

import logging
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
from nsaudit.cli.manpage import man
from nsaudit.cli.metrics import metrics
from nsaudit.cli.report import report
from nsaudit.cli.schema import schema
from nsaudit.cli.show import show, snapshots
from nsaudit.cli.snapshot import snapshot
from nsaudit.cli.watch import events, watch
from nsaudit.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    NsauditError,
    OutputClosed,
    OutputError,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nsaudit")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the traceback of an error; every command takes it, before or after its name.",
)
def cli(debug: bool) -> None:
    """Audit Linux namespaces: what this kernel can do, what namespaces exist, what changed.

    The shared options (--root, --format, --color/--no-color, --wide, --db, --config) may
    also come before the command: nsaudit --db X snapshot.

    Exit codes: 0 ok, 1 findings, 2 usage error, 3 host could not be read,
    4 database error, 5 output could not be written, 70 internal error (a bug: please
    report it), 130 interrupted, 141 the reader of the output went away. See the README
    for every command.
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
    watch,
    events,
    db,
    schema,
    man,
):
    cli.add_command(command)


# The shared options of common_options and db_option: flags, and options that take a value.
_SHARED_FLAGS = frozenset({"--color", "--no-color", "--wide"})
_SHARED_VALUED = frozenset({"--root", "--format", "--db", "--config"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn every outcome into a documented exit code, without tracebacks."""
    from nsaudit import sigint
    from nsaudit.cli import output

    args, debug = _without_debug(list(sys.argv[1:] if argv is None else argv))
    output.guard_stdout()
    if not debug:
        # A library's log record (SQLAlchemy's pool failing to close a connection under Ctrl-C)
        # would reach stderr through logging's last-resort handler: nsaudit's one line is all
        # that shows, and --debug lets them through.
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        result = _invoke(_hoist_shared(args))
        sys.stdout.flush()
    except click.exceptions.NoArgsIsHelpError as e:
        # `nsaudit` or `nsaudit db` alone: the help as --help prints it, and exit 2.
        sys.stdout.write(e.ctx.get_help() + "\n")
        sys.stdout.flush()
        return EXIT_USAGE
    except click.ClickException as e:
        # click's codes are 2 (UsageError) and 1 (a plain ClickException), which here would
        # read as "findings": a usage error either way.
        _error(_usage_line(e))
        return EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    except OutputClosed:
        # The reader went away (`nsaudit detect | head -1`): stop quietly.
        output.discard_stdout()
        return EXIT_BROKEN_PIPE
    except NsauditError as e:
        if isinstance(e, OutputError):
            output.discard_stdout()
        if debug:
            raise
        if sigint.interrupted():
            return EXIT_INTERRUPTED
        _error(str(e))
        return e.exit_code
    except Exception as e:
        if sigint.interrupted():
            # Ctrl-C can surface as another exception (a library's cleanup failing under it).
            return EXIT_INTERRUPTED
        if debug:
            raise
        _error(f"internal error: {type(e).__name__}: {e} (run again with --debug for details)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _without_debug(args: list[str]) -> tuple[list[str], bool]:
    """--debug is main()'s own (it decides whether a traceback is shown), so every command
    takes it, wherever it stands before a `--`."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != "--debug"] + args[end:]
    return kept, len(kept) != len(args)


def _invoke(args: list[str]) -> object:
    """What cli.main() does, without its handling of Ctrl-C: it prints an empty line to stderr
    before main() can report the interrupt in its one line."""
    if os.environ.get("_NSAUDIT_COMPLETE"):
        # Shell completion (click's own): prints the script or the candidates, then exits.
        return cli.main(args=args, prog_name="nsaudit", standalone_mode=False)
    try:
        with cli.make_context("nsaudit", args) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as e:  # --help, --version
        return e.exit_code


def _hoist_shared(args: list[str]) -> list[str]:
    """Move shared options given before the command (`nsaudit --db X snapshot`) to just after
    the whole command path (`nsaudit snapshot --db X`), where each command declares them."""
    front: list[str] = []
    i = 0
    while i < len(args):
        name = args[i].partition("=")[0]
        if name in _SHARED_FLAGS and "=" not in args[i]:
            front.append(args[i])
            i += 1
        elif name in _SHARED_VALUED:
            step = 1 if "=" in args[i] else 2
            front += args[i : i + step]
            i += step
        else:
            break
    rest = args[i:]
    if not front:
        return args
    command: click.Command = cli
    path = 0
    while isinstance(command, click.Group) and path < len(rest):
        sub = command.commands.get(rest[path])
        if sub is None:
            break
        command, path = sub, path + 1
    if path == 0:
        return args  # no command: click says what is wrong
    declared = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for option in front:
        name = option.partition("=")[0]
        if name.startswith("--") and name not in declared:
            where = " ".join(["nsaudit", *rest[:path]])
            raise click.UsageError(f"{where} does not take {name} (see '{where} --help')")
    return rest[:path] + front + rest[path:]


def _usage_line(e: click.ClickException) -> str:
    message = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        return f"{message} (see '{ctx.command_path} --help')"
    return message


def _error(message: str) -> None:
    # Messages quote paths, host names and file contents: escaped like any untrusted text.
    from nsaudit.cli.output import to_stderr
    from nsaudit.render.escape import terminal

    to_stderr(f"nsaudit: error: {terminal(message)}")
