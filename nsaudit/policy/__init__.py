"""Compliance policies, pure: rules from TOML, evaluated against a snapshot and its history."""
