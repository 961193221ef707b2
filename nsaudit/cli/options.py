"""The options every command shares, as one decorator, and how a Document reaches stdout."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import click

from nsaudit import timing
from nsaudit.errors import UsageError
from nsaudit.model import NsType
from nsaudit.refs import SnapshotRef
from nsaudit.render import Document, OutputFormat, formatter
from nsaudit.render.formats import JsonFormat
from nsaudit.timespan import Duration

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def duration(ctx: Any, param: Any, value: str | None) -> Duration | None:
    """A DURATION option (30m, 24h, 7d, 2w) parsed as the options are."""
    try:
        return None if value is None else Duration.parse(value)
    except ValueError as e:
        raise UsageError(f"{param.opts[0]}: {e}") from None


def snapshot_refs(ctx: Any, param: Any, value: Any) -> Any:
    """An argument's snapshot refs parsed (nsaudit/refs.py), before anything is opened: one
    ref, None, or a tuple of them as the argument takes them."""
    try:
        if isinstance(value, tuple):
            return tuple(SnapshotRef.parse(v) for v in value)
        return None if value is None else SnapshotRef.parse(value)
    except ValueError as e:
        raise UsageError(str(e)) from None


@dataclass(frozen=True)
class Common:
    """The shared options of one invocation."""

    root: str
    format: OutputFormat
    color: bool | None
    wide: bool = False

    def use_color(self) -> bool:
        """--color/--no-color, then NO_COLOR, then whether stdout is a terminal."""
        if self.color is not None:
            return self.color
        if os.environ.get("NO_COLOR"):
            return False
        return sys.stdout.isatty()

    def emit(self, doc: Document, output: str = "-") -> None:
        """Print the document, or write it to the file `output` (see write_atomically).

        On standard output a table fits the terminal unless --wide; in a file it is whole."""
        from nsaudit.cli import output as out

        with timing.phase("output"):
            if output != "-":
                shown = formatter(self.format, False)
            else:
                width = None if self.wide else out.terminal_width()
                shown = formatter(self.format, self.use_color(), width, out.unicode_stdout())
            # JSON is written as it is made; the other formats whole.
            pieces = shown.stream(doc) if isinstance(shown, JsonFormat) else (shown.render(doc),)
            write_to(output, lambda f: f.writelines(pieces))

    def ascii_only(self) -> bool:
        """Whether standard output cannot show box-drawing characters (trees in ASCII)."""
        from nsaudit.cli import output as out

        return not out.unicode_stdout()


def write_to(output: str, write: Callable[[IO[str]], T]) -> T:
    """Hand `write` standard output for - (flushed, so that a closed pipe is found here), or
    -o FILE as write_atomically writes it (/dev/stdout included)."""
    if output != "-":
        return write_atomically(output, write)
    done = write(sys.stdout)
    sys.stdout.flush()
    return done


def write_atomically(output: str, write: Callable[[IO[str]], T]) -> T:
    """Write -o FILE as shell redirection would, and a regular file atomically: see
    nsaudit.cli.output.write_file."""
    from nsaudit.cli.output import write_file

    return write_file(output, write)


def common_options(formats: Sequence[OutputFormat]) -> Callable[[F], F]:
    """--root, --format (limited to `formats`), --color/--no-color and --wide as `common`.
    main() also accepts them before the command; --debug belongs to main() alone."""

    def decorate(fn: F) -> F:
        @click.option(
            "--root",
            default="/",
            show_default=True,
            metavar="DIR",
            help="Read every host file (/proc, /sys, /boot, /lib/modules, /usr/src, "
            "/etc) under DIR instead of /.",
        )
        @click.option(
            "--format",
            "fmt",
            type=click.Choice([f.value for f in formats]),
            default=formats[0].value,
            show_default=True,
            help="Output format.",
        )
        @click.option(
            "--color/--no-color",
            default=None,
            help="Colour the table output (default: when stdout is a terminal and "
            "NO_COLOR is unset).",
        )
        @click.option(
            "--wide",
            is_flag=True,
            help="Show every cell whole (default: tables fit the terminal's width, $COLUMNS "
            "or 80, long cells cut with an ellipsis).",
        )
        @functools.wraps(fn)
        def wrapper(
            *args: Any,
            root: str,
            fmt: str,
            color: bool | None,
            wide: bool,
            **kwargs: Any,
        ) -> Any:
            common = Common(root, OutputFormat(fmt), color, wide)
            return fn(*args, common=common, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def db_option(fn: F) -> F:
    """--db and --config; the command gets `db` (the resolved location) and `settings`.

    Precedence: option, environment ($NSAUDIT_DB), settings file, default location.
    """

    @click.option(
        "--db",
        metavar="URL_OR_PATH",
        help="The database: an SQLite path or an SQLAlchemy URL "
        "(default: $NSAUDIT_DB, else the settings file's, else /var/lib/nsaudit/nsaudit.db "
        "for root, $XDG_DATA_HOME/nsaudit/nsaudit.db for others).",
    )
    @click.option(
        "--config",
        metavar="FILE",
        help="Settings file (default: $NSAUDIT_CONFIG, else /etc/nsaudit/nsaudit.toml if it "
        "exists).",
    )
    @functools.wraps(fn)
    def wrapper(*args: Any, db: str | None, config: str | None, **kwargs: Any) -> Any:
        from nsaudit import settings as settings_file
        from nsaudit.store.location import resolve

        settings = settings_file.load(config)
        return fn(*args, db=resolve(db, settings.database), settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


def output_option(what: str) -> Callable[[F], F]:
    """-o/--output FILE, default - (standard output), for commands that write `what`."""
    return click.option(
        "-o",
        "--output",
        default="-",
        show_default=True,
        metavar="FILE",
        help=f"Write {what} to FILE as the shell's > would, but a regular file atomically "
        "where it can be (a temporary file, then a rename; its mode and owner kept); "
        "- or /dev/stdout is standard output.",
    )


policy_option = click.option(
    "--policy",
    metavar="FILE",
    help="The policy (TOML; default: the settings file's policy, else "
    "/etc/nsaudit/policy.toml). samples/policies/ has three.",
)

type_option = click.option(
    "--type",
    "ns_type",
    type=click.Choice([t.value for t in NsType]),
    help="Only namespaces of this type.",
)
