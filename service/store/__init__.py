"""The search store (issue 5, "Store"): searches, individuals and the fitness cache in SQL.

    from service.store import SQLStore, upgrade_schema
    upgrade_schema(url)            # on start: create or upgrade the tables
    store = SQLStore(url)          # a path, sqlite:///PATH, postgresql://..., or None (default)

`SearchStore` (base.py) is the one interface and its docstrings the contract; `SQLStore`
(sql.py) implements it on SQLite (the embedded default, database.py) and PostgreSQL. The core
(`primer_search/`) never imports this package.
"""

from service.store.base import SearchStore
from service.store.database import database_url, default_database_path
from service.store.errors import (
    LeaseLostError,
    NotFoundError,
    SchemaVersionError,
    StateConflictError,
    StoreArgumentError,
    StoreError,
    StoreUnavailableError,
)
from service.store.fitness_cache import StoreFitnessCache
from service.store.migrate import head_revision, upgrade_schema
from service.store.records import (
    Evaluation,
    FitnessPoints,
    IndividualRecord,
    IndividualStatus,
    MutationStats,
    Page,
    ReasonCount,
    SearchRecord,
    SearchStatus,
)
from service.store.sql import SQLStore

__all__ = [
    "Evaluation",
    "FitnessPoints",
    "IndividualRecord",
    "IndividualStatus",
    "LeaseLostError",
    "MutationStats",
    "NotFoundError",
    "Page",
    "ReasonCount",
    "SQLStore",
    "SchemaVersionError",
    "SearchRecord",
    "SearchStatus",
    "SearchStore",
    "StateConflictError",
    "StoreArgumentError",
    "StoreError",
    "StoreFitnessCache",
    "StoreUnavailableError",
    "database_url",
    "default_database_path",
    "head_revision",
    "upgrade_schema",
]
