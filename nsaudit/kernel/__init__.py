"""The detector: what namespace types this kernel builds, allows and lets a user create."""
