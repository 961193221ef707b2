"""`nsaudit detect`: what namespace types this kernel builds, allows and lets users create."""

from __future__ import annotations

import click

from nsaudit.cli.options import Common, common_options
from nsaudit.cli.output import to_stderr
from nsaudit.errors import EXIT_FINDINGS, EXIT_OK
from nsaudit.kernel.nstypes import parse_types
from nsaudit.model import NsType
from nsaudit.render import OutputFormat


def _require(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[NsType, ...]:
    if value is None:
        return ()
    try:
        types = parse_types(value)
    except ValueError as e:
        choices = ", ".join(t.value for t in NsType)
        raise click.BadParameter(
            f"unknown namespace type {str(e)!r}; choose from {choices} or 'all'"
        ) from None
    if not types:
        raise click.BadParameter("name at least one namespace type")
    return types


@click.command()
@click.option(
    "--kconfig",
    metavar="FILE",
    help="Read this kernel config (plain or gzip) instead of searching the host.",
)
@click.option(
    "--probe",
    is_flag=True,
    help="Really create each type with unshare(2) in a short-lived child process.",
)
@click.option(
    "--probe-as",
    "probe_as",
    multiple=True,
    metavar="USER",
    help="Probe as this user too (name or uid; needs root; repeatable). Implies --probe.",
)
@click.option(
    "--require",
    callback=_require,
    metavar="TYPE[,TYPE...]",
    help="Exit 1 unless every listed type (or 'all') is available.",
)
@common_options([OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.MARKDOWN, OutputFormat.CSV])
def detect(
    kconfig: str | None,
    probe: bool,
    probe_as: tuple[str, ...],
    require: tuple[NsType, ...],
    common: Common,
) -> int:
    """Report, for each of the eight namespace types, whether the kernel builds it
    (config), shows it (/proc/self/ns), allows it (limits, sysctls) and, with --probe,
    really lets a user create it."""
    from nsaudit.app.kernel import detect as detect_kernel
    from nsaudit.app.kernel import unavailable
    from nsaudit.views.detect import document

    caps = detect_kernel(common.root, kconfig, probe, probe_as)
    common.emit(document(caps))
    short = unavailable(caps, require)
    if short:
        to_stderr(f"nsaudit: required namespace types not available: {', '.join(short)}")
        return EXIT_FINDINGS
    return EXIT_OK
