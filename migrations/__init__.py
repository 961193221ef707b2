"""Alembic migrations of nsaudit's database, shipped in the wheel as nsaudit._migrations."""
