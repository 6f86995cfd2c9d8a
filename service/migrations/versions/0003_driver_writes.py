"""The driver's writes made cheaper: lz4 for the large JSON columns (PostgreSQL), and an index
that tells a driver whether another search shares its fitness-cache key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

The driver rewrites a search's engine state (about 20 KB of JSON at a population of 100) with
every turn, about once per evaluation (issue 5: 100 evaluations/s), and each individual brings
its DNA (about 4 KB) and its training record. PostgreSQL compresses such values before storing
them; its default method, pglz, took about a quarter of a turn's writes here, lz4 a small part
of that. Only values written from now on are compressed with lz4; both kinds read alike. lz4
needs PostgreSQL 14 or later built with it (as Debian's and the official images are): on a
server without it the columns keep pglz and the migration succeeds. SQLite compresses nothing.

`ix_fitness_cache_config_key_source` (config_key, source_search_id) answers
`cache_shared` from the index alone, on both backends.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COMPRESSED = [
    ("searches", "engine_state"),
    ("individuals", "dna"),
    ("individuals", "mutation"),
    ("individuals", "result"),
]


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    statements = " ".join(
        f"EXECUTE 'ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}';"
        for table, column in COMPRESSED
    )
    # Dynamic SQL in a block that catches the error: older servers do not even parse
    # SET COMPRESSION, and a server without lz4 refuses it; either way nothing changes.
    op.execute(
        f"""
        DO $$
        BEGIN
            {statements}
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'the JSON columns keep their compression: %', SQLERRM;
        END
        $$
        """
    )


def upgrade() -> None:
    _set_compression("lz4")
    op.create_index(
        "ix_fitness_cache_config_key_source", "fitness_cache", ["config_key", "source_search_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_fitness_cache_config_key_source", "fitness_cache")
    _set_compression("pglz")
