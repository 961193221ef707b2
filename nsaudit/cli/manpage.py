"""`nsaudit man`: manual pages in troff, generated from the commands' own help."""

from __future__ import annotations

import functools
import os
import sys
from typing import IO

import click

from nsaudit import __version__
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_OK, UsageError


@click.command("man")
@click.option(
    "-o",
    "--output",
    "folder",
    metavar="DIR",
    help="Write nsaudit.1 and a page per command (nsaudit-show.1, ...) into DIR "
    "(default: print nsaudit.1 to standard output).",
)
@click.pass_context
def man(ctx: click.Context, folder: str | None) -> int:
    """Print the manual page (troff; read it with `nsaudit man | man -l -`), or write every
    page into a directory, e.g. /usr/local/share/man/man1."""
    from nsaudit.cli.options import write_atomically

    root = ctx.find_root()
    pages = pages_of(root.command, root.info_name or "nsaudit")
    if folder is None:
        sys.stdout.write(pages[0][1])
        return EXIT_OK
    if not os.path.isdir(folder):
        raise UsageError(f"-o {folder}: not a directory; create it first")
    for name, text in pages:
        write_atomically(os.path.join(folder, name), functools.partial(_write, text))
    to_stderr(f"wrote {len(pages)} manual pages to {folder}")
    return EXIT_OK


def _write(text: str, f: IO[str]) -> int:
    return f.write(text)


def pages_of(command: click.Command, name: str) -> list[tuple[str, str]]:
    """(file name, troff) for the command and each subcommand, the command's page first."""
    pages = [(f"{name.replace(' ', '-')}.1", page(command, name))]
    if isinstance(command, click.Group):
        for sub_name, sub in sorted(command.commands.items()):
            if not sub.hidden:
                pages += pages_of(sub, f"{name} {sub_name}")
    return pages


def page(command: click.Command, name: str) -> str:
    """One manual page: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS, SEE ALSO."""
    title = name.replace(" ", "-")
    ctx = click.Context(command, info_name=name)
    out = [
        f'.TH "{_text(title.upper())}" 1 "" "nsaudit {_text(__version__)}" "nsaudit manual"',
        ".SH NAME",
        f"{_text(title)} \\- {_text(command.get_short_help_str(limit=200))}",
        ".SH SYNOPSIS",
        f".B {_text(name)}",
        _text(" ".join(command.collect_usage_pieces(ctx))),
        ".SH DESCRIPTION",
    ]
    for paragraph in (command.help or "").split("\n\n"):
        out += [".PP", _text(" ".join(paragraph.split()))]
    options = [
        p.get_help_record(ctx) for p in command.get_params(ctx) if isinstance(p, click.Option)
    ]
    if any(options):
        out.append(".SH OPTIONS")
        for record in options:
            if record is not None:
                out += [".TP", f"\\fB{_text(record[0])}\\fR", _text(" ".join(record[1].split()))]
    if isinstance(command, click.Group):
        out.append(".SH COMMANDS")
        for sub_name, sub in sorted(command.commands.items()):
            out += [
                ".TP",
                f"\\fB{_text(sub_name)}\\fR",
                _text(sub.get_short_help_str(limit=200)),
                f"See \\fB{_text(title)}\\-{_text(sub_name)}\\fR(1).",
            ]
    root = title.split("-", 1)[0]
    if title != root:
        out += [".SH SEE ALSO", f"\\fB{_text(root)}\\fR(1)"]
    return "\n".join(out) + "\n"


def _text(text: str) -> str:
    """Text safe in a troff line: backslashes and hyphens escaped, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = [("\\&" + line if line.startswith((".", "'")) else line) for line in text.split("\n")]
    return "\n".join(lines)
