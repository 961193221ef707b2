"""Alembic revisions; each file is one step of the schema."""
