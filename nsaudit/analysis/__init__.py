"""Pure analysis of snapshots, no I/O: diff.py (two snapshots of a host: created, vanished,
changed), churn.py (created and vanished per step and day), compare.py (hosts side by side)."""
