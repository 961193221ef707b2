"""Which policy file a command checks against: found without loading the policy engine, so that
a cron job with no policy never imports it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nsaudit.errors import UsageError

if TYPE_CHECKING:
    from nsaudit.policy.rules import Policy

SYSTEM_POLICY = "/etc/nsaudit/policy.toml"


def locate(option: str | None, setting: str | None, required: bool) -> Policy | None:
    """--policy FILE, else the settings file's policy, else /etc/nsaudit/policy.toml."""
    path = option or setting or (SYSTEM_POLICY if os.path.exists(SYSTEM_POLICY) else None)
    if path is None:
        if required:
            raise UsageError(
                "no policy: give --policy FILE, or set policy in the settings file "
                f"(or install {SYSTEM_POLICY}); samples/policies/ has three to copy"
            )
        return None
    from nsaudit.policy.load import load

    return load(path)
