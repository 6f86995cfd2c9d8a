"""The store's schema version: upgrading it (Alembic, service/migrations) and checking it.

The CLI and the server call `upgrade_schema(url)` on start; it creates the tables in an empty
database and applies any newer migrations, in one transaction, refusing a database whose schema
was written by a newer primer-search. `SQLStore` checks on opening that the schema is exactly
this code's and says which call fixes it otherwise. Two processes upgrading at once take turns
(SQLite's write lock, a PostgreSQL advisory lock).

New migrations: `alembic -c service/migrations/alembic.ini revision --autogenerate -m "..."`
with `sqlalchemy.url` set in that file or passed by `-x url=...`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from service.store.database import (
    SQLITE_BEGIN,
    create_db_engine,
    display_url,
    translated_errors,
)
from service.store.errors import SchemaVersionError

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# Any constant: serializes concurrent upgrades of one PostgreSQL database.
_PG_UPGRADE_LOCK = 0x5052494D  # "PRIM"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations found in {MIGRATIONS_DIR}"
    return head


def current_revision(connection: Connection) -> str | None:
    """The database's schema revision; None for a database without our tables."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(target: str | Path | URL | Engine | None = None) -> str:
    """Creates or upgrades the store's tables at `target` (a URL, a SQLite path, an engine, or
    None for the default SQLite file) and returns the revision it is at. Raises
    SchemaVersionError if the database is newer than this code."""
    engine = target if isinstance(target, Engine) else create_db_engine(target)
    try:
        with translated_errors(engine.url), engine.connect() as connection:
            connection = connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_UPGRADE_LOCK})")
                refuse_newer(current_revision(connection), engine.url)
                command.upgrade(alembic_config(connection), "head")
                return head_revision()
    finally:
        if engine is not target:
            engine.dispose()


def check_schema(connection: Connection, url: URL) -> None:
    """Raises SchemaVersionError unless the database is at this code's revision."""
    current = current_revision(connection)
    refuse_newer(current, url)
    head = head_revision()
    if current != head:
        found = "no primer-search tables" if current is None else f"schema revision {current}"
        raise SchemaVersionError(
            f"the database {display_url(url)} has {found}; this primer-search needs revision "
            f"{head}: run service.store.upgrade_schema (the CLI and server do on start)"
        )


def refuse_newer(current: str | None, url: URL) -> None:
    if current is None:
        return
    script = ScriptDirectory.from_config(alembic_config())
    if current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaVersionError(
            f"the database {display_url(url)} has schema revision {current!r}, written by a "
            f"newer primer-search (this one knows up to {head_revision()!r}): upgrade "
            "primer-search; do not downgrade the database"
        )
