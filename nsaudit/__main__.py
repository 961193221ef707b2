"""Entry point for `python -m nsaudit`."""

import sys

from nsaudit.cli import main

sys.exit(main())
