"""Entry point for `nsaudit` and `python -m nsaudit`."""

import sys

try:
    from nsaudit import sigint
except KeyboardInterrupt:  # Ctrl-C while Python loads nsaudit, before its handler is set
    import contextlib

    if sys.stderr is not None:  # None when standard error is closed (`2>&-`)
        # A message that cannot be shown does not change the exit code.
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("nsaudit: error: interrupted\n")
    raise SystemExit(130) from None


def run() -> None:
    """Run the CLI and end the process with its exit code (it does not return)."""
    _leave(_run())


def _run() -> int:
    """The CLI's exit code; Ctrl-C at any moment (start-up included) exits 130 with one line."""
    code = sigint.EXIT_INTERRUPTED
    try:
        # Inside the try: a SIGINT that lands while the handler is being set (Python's
        # signal.signal runs Python code) still ends in exit 130 and one line.
        sigint.install()
        from nsaudit.collect import prescan

        # The scan of `snapshot` and `audit` runs meanwhile on another core.
        prescan.start(sys.argv[1:])
        from nsaudit import timing

        with timing.phase("import"):
            from nsaudit.cli import main
        code = main()
    except SystemExit as e:  # shell completion ends in sys.exit()
        code = e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        code = sigint.EXIT_INTERRUPTED
    except Exception:
        # Ctrl-C can surface as another exception while Python builds nsaudit's classes at
        # import (a KeyboardInterrupt inside __set_name__ becomes a RuntimeError).
        if not sigint.interrupted():
            raise
    while True:
        # A SIGINT can still land on the call below, before settle() disarms the handler.
        try:
            return sigint.settle(code)
        except KeyboardInterrupt:
            code = sigint.EXIT_INTERRUPTED


def _leave(code: int) -> None:
    """End the process without the interpreter's teardown, which frees every module and object
    one by one for nothing (about 40 ms of a snapshot's CPU): the exit handlers run first (the
    databases' connections closed, nsaudit/timing.py's file written), then the output is
    flushed. SIGINT is blocked by now (sigint.settle)."""
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # Flushed by main() already but after Ctrl-C: output that cannot be written now (its
        # reader gone, the disk full: any failure) changes neither the exit code nor stderr.
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
