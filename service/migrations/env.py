"""Alembic's entry point: runs the migrations on the connection service.store.upgrade_schema
hands over (inside its transaction), or, from the alembic command line, on `-x url=...`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from service.store.database import create_db_engine
from service.store.schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE is limited
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    engine = create_db_engine(url)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()
