"""Where the store lives and how we connect to it: URLs, the default SQLite file, engines, and the
ONE place database errors become the project's errors.

SQLite is the embedded default, in `default_database_path()`; PostgreSQL is any
`postgresql://` URL (driven by psycopg 3). SQLite runs in WAL mode (readers never block the
writer), with foreign keys on and a busy timeout; write transactions start with BEGIN IMMEDIATE,
which takes SQLite's write lock at once, so two processes never deadlock upgrading a read lock
and a writer waits its turn (up to the busy timeout) instead of failing with "database is
locked". WAL needs a local file system (not NFS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from service.store.errors import (
    StateConflictError,
    StoreArgumentError,
    StoreError,
    StoreUnavailableError,
)

BUSY_TIMEOUT_SECONDS = 30.0
# Execution option naming the BEGIN mode of a SQLite transaction ("IMMEDIATE" for writers; None
# for a single statement, which SQLite runs atomically by itself).
SQLITE_BEGIN = "primer_search_sqlite_begin"


def default_database_path() -> Path:
    """`$XDG_DATA_HOME/primer-search/primer-search.db`, by default
    `~/.local/share/primer-search/primer-search.db`. The CLI's `--db` and its environment
    variable override it by passing another path or URL to `database_url`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "primer-search" / "primer-search.db"


def database_url(target: str | Path | URL | None = None) -> URL:
    """The SQLAlchemy URL for a store: None -> the default SQLite file; a path -> a SQLite file
    there; `sqlite:///PATH` or `sqlite://` (in memory, one process, for tests); a
    `postgresql://` (or `postgres://`) URL -> PostgreSQL through psycopg 3."""
    if target is None:
        target = default_database_path()
    if isinstance(target, Path) or (isinstance(target, str) and "://" not in target):
        return URL.create("sqlite", database=str(Path(target).expanduser().resolve()))
    try:
        url = make_url(target)
    except exc.ArgumentError:
        raise StoreArgumentError(f"malformed database URL {target!r}") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.get_driver_name() in ("", "pysqlite"):
        return url.set(drivername="sqlite")
    raise StoreArgumentError(
        f"unsupported database URL {url.render_as_string(hide_password=True)!r}: use a file "
        "path, sqlite:///PATH, or postgresql://USER@HOST:PORT/DATABASE"
    )


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create_db_engine(target: str | Path | URL | None = None) -> Engine:
    url = database_url(target)
    if url.get_backend_name() == "postgresql":
        # No pool_pre_ping: its extra round trip per transaction costs a third of a result's
        # time. A connection dropped by a server restart fails one call with
        # StoreUnavailableError (SQLAlchemy then discards every older pooled connection), which
        # the caller may retry; pool_recycle retires connections before idle timeouts kill them.
        engine = create_engine(url, pool_recycle=1800)
        _configure_postgresql(engine)
        return engine
    if url.database in (None, "", ":memory:"):
        # One connection shared by every user of the store: one process, one thread at a time.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreUnavailableError(f"cannot create the database folder {folder}: {e}") from e
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        )
    _configure_sqlite(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Plan each statement for its own parameters. psycopg prepares a statement on the
        # server after 5 runs, and PostgreSQL then keeps a generic plan made from the table's
        # statistics at that moment: for a new search, none. Such a plan found a result's row
        # through ix_individuals_step_seconds, reading every row of the search, so a turn's
        # write grew from 3-5 to 9-13 ms over 12,000 individuals (until an ANALYZE, which
        # autovacuum may not run for hours on a big table). A custom plan seeks the row.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.autocommit = autocommit


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would BEGIN lazily (and never for DDL); we emit
        # BEGIN ourselves in _on_begin, so that every transaction is a real one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: consistent after any crash
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode is not None:
            connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def translated_errors(url: URL | str) -> Iterator[None]:
    """Turns database exceptions into the store's errors (service/store/errors.py); the store's
    transactions and the schema upgrade run inside it. Our own errors pass through. `url` may
    be given as its `display_url` already (the store renders it once, not per transaction)."""
    where = url if isinstance(url, str) else display_url(url)
    try:
        yield
    except StoreError:
        raise
    except exc.IntegrityError as e:
        raise StateConflictError(f"conflicting write to {where}: {_first_line(e)}") from e
    except exc.DataError as e:  # a value the column cannot hold (PostgreSQL)
        raise StoreArgumentError(f"value out of range for {where}: {_first_line(e)}") from e
    except OverflowError as e:  # an integer too large for SQLite to bind
        raise StoreArgumentError(f"integer too large for {where}: {e}") from e
    except exc.OperationalError as e:
        raise StoreUnavailableError(
            f"database {where} unavailable or locked: {_first_line(e)}"
        ) from e
    except exc.InterfaceError as e:
        raise StoreUnavailableError(f"lost the connection to {where}: {_first_line(e)}") from e
    except exc.SQLAlchemyError as e:
        raise StoreError(f"database error on {where}: {_first_line(e)}") from e


def _first_line(error: exc.SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
