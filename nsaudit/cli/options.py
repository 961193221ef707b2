"""The options every command shares, as one decorator, and how a Document reaches stdout."""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from nsaudit.errors import OutputClosed, UsageError
from nsaudit.model import NsType
from nsaudit.render import Document, OutputFormat, formatter

if TYPE_CHECKING:
    from nsaudit.model import Snapshot
    from nsaudit.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class Common:
    """The shared options of one invocation."""

    root: str
    format: OutputFormat
    color: bool | None
    debug: bool

    def use_color(self) -> bool:
        """--color/--no-color, then NO_COLOR, then whether stdout is a terminal."""
        if self.color is not None:
            return self.color
        if os.environ.get("NO_COLOR"):
            return False
        return sys.stdout.isatty()

    def emit(self, doc: Document, output: str = "-") -> None:
        """Print the document, or write it to the file `output` atomically."""
        color = self.use_color() if output == "-" else False
        text = formatter(self.format, color).render(doc)
        if output != "-":
            write_atomically(output, lambda f: f.write(text))
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None

    def fresh_snapshot(
        self, settings: Settings, threads: bool, label: str | None, scan: bool = True
    ) -> Snapshot:
        """Detect the kernel's capabilities and scan every namespace, as `snapshot` does
        (without `scan`, the capabilities alone)."""
        from nsaudit.collect.snapshot import take
        from nsaudit.hostfs import HostFS
        from nsaudit.kernel.detect import detect
        from nsaudit.views import detect as detect_view

        host = HostFS(self.root)
        capabilities = detect_view.payload(detect(host))
        return take(
            host,
            threads=threads,
            label=label,
            capabilities=capabilities,
            hostname=settings.hostname,
            scan=scan,
        )


def write_atomically(output: str, write: Callable[[IO[str]], T]) -> T:
    """Write to a private temporary file beside `output`, then rename it into place: a
    reader never sees half a file, and a failure leaves the old file as it was."""
    folder = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nsaudit-", dir=folder)
    except OSError as e:
        raise UsageError(f"-o {output}: cannot write there: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            result = write(f)
        os.replace(tmp, output)
    except OSError as e:
        os.unlink(tmp)
        raise UsageError(f"-o {output}: cannot write there: {e.strerror}") from None
    except BaseException:
        os.unlink(tmp)
        raise
    return result


def common_options(formats: Sequence[OutputFormat]) -> Callable[[F], F]:
    """--root, --format (limited to `formats`), --color/--no-color and --debug as `common`."""

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
        @click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
        @functools.wraps(fn)
        def wrapper(
            *args: Any, root: str, fmt: str, color: bool | None, debug: bool, **kwargs: Any
        ) -> Any:
            common = Common(root, OutputFormat(fmt), color, debug)
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
        help=f"Write {what} to FILE atomically (a temporary file, then a rename); - is "
        "standard output.",
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
