"""Alembic environment: runs on the connection nsaudit hands over, never on an ini file's URL."""

from alembic import context

connection = context.config.attributes.get("connection")
target_metadata = context.config.attributes.get("target_metadata")

if connection is None:
    raise RuntimeError("nsaudit runs its migrations on a connection it opens itself")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
