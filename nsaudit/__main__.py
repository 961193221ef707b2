"""Entry point for `nsaudit` and `python -m nsaudit`."""

import sys


def run() -> int:
    """Import the CLI and run it; Ctrl-C during start-up exits 130 without a traceback too."""
    try:
        from nsaudit.cli import main
    except KeyboardInterrupt:
        print("nsaudit: error: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
