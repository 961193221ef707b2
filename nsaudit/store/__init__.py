"""The recorder's database: tables, engine set-up, Alembic, save and load."""
