"""The store's tables, as SQLAlchemy Core metadata (the migrations in service/migrations create
them; tests/test_store_contract.py checks the two agree).

Three tables:

* `searches`: one row per search: its config, seed, status, the evolution engine's state
  (`state_dict(include_programs=False)`), a few counters kept up to date with every write, and
  the driver's lease.
* `individuals`: one row per proposal of the engine, keyed by (search_id, iid) where iid is the
  engine's proposal id; the columns the API sorts, filters and aggregates on are real columns,
  each list it serves has its index.
* `fitness_cache`: (canonical program hash, training config key) -> fitness, shared by searches.

JSON payloads are TEXT (`JSONText`: written by pydantic's serializer, read by Python's json
module), not the backends' JSON types: the engine state holds 128-bit integers (the RNG) and may
hold infinities (the fitness of a failed member), which PostgreSQL's JSON rejects or rounds;
nothing queries inside them. On PostgreSQL the large ones are compressed with lz4 (migration
0003).
Large JSON columns come last in each table: SQLite reads a row's columns in order, so scans and
joins over the small columns (fitness, status, parent) never touch the overflow pages of a DNA.
Timestamps are UTC (`UTCDateTime`); lease expiry is seconds since the epoch by the database's
own clock (`db_epoch`), so drivers on hosts with skewed clocks agree on who holds a lease.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pydantic_core
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so later migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class JSONText(TypeDecorator[Any]):
    """A JSON value stored as TEXT; round-trips big integers, infinities and NaN exactly."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            # pydantic's serializer writes JSON that reads back the same (Infinity and NaN
            # included) about 5x faster than the json module: the driver writes the engine
            # state (about 20 KB) with every turn. It also writes pydantic models (a DNA) as
            # their JSON dumps, without building the dict.
            return pydantic_core.to_json(value, inf_nan_mode="constants").decode()
        except (ValueError, UnicodeError):  # a lone surrogate, or a value it does not know
            return json.dumps(value, separators=(",", ":"), allow_nan=True, default=_dumped)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def _dumped(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every backend (SQLite has no
    time zones: it stores the naive UTC time)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store takes UTC-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class db_epoch(FunctionElement[float]):  # noqa: N801 (a SQL function, named like one)
    """The database server's clock, in seconds since the Unix epoch (a float)."""

    type = Float()
    inherit_cache = True


@compiles(db_epoch, "postgresql")
def _db_epoch_postgresql(element: db_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_epoch, "sqlite")
def _db_epoch_sqlite(element: db_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"  # millisecond resolution


class epoch_of(FunctionElement[float]):  # noqa: N801 (a SQL function, named like one)
    """A UTCDateTime column's value in seconds since the Unix epoch (a float; on SQLite to
    about 0.1 ms), so that durations are computed in SQL, not by parsing every timestamp."""

    type = Float()
    inherit_cache = True


@compiles(epoch_of, "postgresql")
def _epoch_of_postgresql(element: epoch_of, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"


@compiles(epoch_of, "sqlite")
def _epoch_of_sqlite(element: epoch_of, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


searches = Table(
    "searches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("num_individuals", Integer, nullable=False, default=0),
    Column("num_finished", Integer, nullable=False, default=0),
    Column("best_fitness", Float, nullable=True),
    Column("best_iid", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("lease_holder", String(200), nullable=True),
    Column("lease_expires_at", Float, nullable=True),  # db_epoch seconds
    Column("lease_ttl_seconds", Float, nullable=True),
    Column("config", JSONText, nullable=False),
    Column("seed_dna", JSONText, nullable=False),
    Column("engine_state", JSONText, nullable=True),
    Index("ix_searches_status", "status"),
    sqlite_autoincrement=True,  # ids are never reused, as on PostgreSQL
)

individuals = Table(
    "individuals",
    metadata,
    Column("search_id", Integer, ForeignKey("searches.id", ondelete="CASCADE"), nullable=False),
    Column("iid", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("program_hash", String(128), nullable=False),
    Column("parent_iid", BigInteger, nullable=True),
    Column("mutation_type", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker", String(200), nullable=True),
    Column("fitness", Float, nullable=True),
    Column("perplexity", Float, nullable=True),
    Column("hurdle_reached", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("parameter_count", BigInteger, nullable=True),
    Column("step_seconds", Float, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("hurdle_fitness", JSONText, nullable=True),
    Column("mutation", JSONText, nullable=True),
    Column("result", JSONText, nullable=True),
    Column("dna", JSONText, nullable=False),
    # The order in which results arrived: 1, 2, ... per search, set when the individual gets its
    # final status (a result, or at insert for cached and rejected ones); None while unfinished.
    # The dashboard's chart polls for the points after the last one it has. Last because
    # migration 0002 appended it; queries read it from ix_individuals_finish_seq, not the row.
    Column("finish_seq", Integer, nullable=True),
    PrimaryKeyConstraint("search_id", "iid"),  # serves lookups, paging by iid, lineage joins
    # parent_iid names an individual of the same search: SQLStore.record_turn checks it (no
    # foreign key since migration 0004, which says why).
    # One index per list the API and dashboard serve (issue 5), with iid as the tie-break so a
    # page is read straight from the index.
    Index("ix_individuals_fitness", "search_id", "fitness", "iid"),
    Index("ix_individuals_status", "search_id", "status", "fitness"),
    Index("ix_individuals_created", "search_id", "created_at", "iid"),
    Index("ix_individuals_parent", "search_id", "parent_iid"),
    # The mutation statistics join each child to its parent: these two cover both sides (the
    # child's type, parent and fitness; the parent's fitness by iid), 7x faster at 25,000.
    Index("ix_individuals_mutation_type", "search_id", "mutation_type", "parent_iid", "fitness"),
    Index("ix_individuals_iid_fitness", "search_id", "iid", "fitness"),
    # Added by migration 0002, for the dashboard. The fitness points (every trained individual,
    # in finish order) and the hurdle histogram are read from these indexes alone: a search's
    # rows are a page each on SQLite (a DNA fills one), so reading 25,000 of them costs 5-10x
    # more than the index.
    Index(
        "ix_individuals_finish_seq",
        *("search_id", "finish_seq", "status", "iid", "fitness", "perplexity"),
        *("hurdle_reached", "parameter_count", "step_seconds", "finished_at"),
        *("mutation_type", "parent_iid"),
    ),
    Index("ix_individuals_hurdle", "search_id", "status", "hurdle_reached"),
    Index("ix_individuals_parameter_count", "search_id", "parameter_count", "iid"),
    Index("ix_individuals_step_seconds", "search_id", "step_seconds", "iid"),
)

fitness_cache = Table(
    "fitness_cache",
    metadata,
    Column("program_hash", String(128), nullable=False),
    Column("config_key", String(255), nullable=False),
    Column("fitness", Float, nullable=False),
    Column("hurdle_fitness", JSONText, nullable=False),
    Column(
        "source_search_id",
        Integer,
        ForeignKey("searches.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("source_iid", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("program_hash", "config_key"),
    # Added by migration 0003: whether another search shares a key, from the index alone.
    Index("ix_fitness_cache_config_key_source", "config_key", "source_search_id"),
)
