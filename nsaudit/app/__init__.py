"""The application layer: what each command does, as plain functions that take typed arguments
and return result objects, callable from Python without click (as alembic's command.py).
The commands in nsaudit/cli/ parse their options, call one of these, and render the result.

kernel.py     detect: the capability report, with probes
inventory.py  this host, a fresh scan, take a snapshot (scan, store, compare), list, show, diff
policy.py     audit, check, report: a policy against this host or stored snapshots
fleet.py      hosts, forget, prune, compare hosts, metrics, export and import bundles
database.py   the schema's revision, upgrade, and the database's soundness
"""
