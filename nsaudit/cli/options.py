"""The options every command shares, as one decorator, and how a Document reaches stdout."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from nsaudit.errors import OutputClosed
from nsaudit.model import NsType
from nsaudit.render import Document, OutputFormat, formatter

F = TypeVar("F", bound=Callable[..., Any])


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

    def emit(self, doc: Document) -> None:
        text = formatter(self.format, self.use_color()).render(doc)
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None


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


type_option = click.option(
    "--type",
    "ns_type",
    type=click.Choice([t.value for t in NsType]),
    help="Only namespaces of this type.",
)
