"""`nsaudit schema`: the JSON Schema of each versioned JSON document nsaudit writes."""

from __future__ import annotations

import json
import sys

import click

from nsaudit.errors import EXIT_OK, UsageError


@click.command("schema")
@click.argument("name", required=False, metavar="[NAME]")
def schema(name: str | None) -> int:
    """Print the JSON Schema (draft 2020-12) of a JSON document, NAME as its "schema" key says
    (nsaudit.check/1, or check for short); without NAME, list the documents."""
    from nsaudit.views.schemas import BUILDERS
    from nsaudit.views.schemas import schema as build

    if name is None:
        sys.stdout.write("".join(f"{n}\n" for n in BUILDERS))
        return EXIT_OK
    full = name if name in BUILDERS else f"nsaudit.{name}/1"
    if full not in BUILDERS:
        known = ", ".join(n.removeprefix("nsaudit.").removesuffix("/1") for n in BUILDERS)
        raise UsageError(f"no document {name!r}; known: {known} (`nsaudit schema` lists them)")
    sys.stdout.write(json.dumps(build(full), indent=2, sort_keys=True) + "\n")
    return EXIT_OK
