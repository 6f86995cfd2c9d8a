"""The initial schema: searches, individuals, fitness_cache (issue 5).

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written out in plain SQLAlchemy types (JSON payloads are TEXT, see service/store/schema.py), so
that this file never changes when the application's types do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("num_individuals", sa.Integer(), nullable=False),
        sa.Column("num_finished", sa.Integer(), nullable=False),
        sa.Column("best_fitness", sa.Float(), nullable=True),
        sa.Column("best_iid", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_holder", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("lease_ttl_seconds", sa.Float(), nullable=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("seed_dna", sa.Text(), nullable=False),
        sa.Column("engine_state", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_searches")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_searches_status", "searches", ["status"])

    op.create_table(
        "individuals",
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("iid", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("program_hash", sa.String(length=128), nullable=False),
        sa.Column("parent_iid", sa.BigInteger(), nullable=True),
        sa.Column("mutation_type", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("fitness", sa.Float(), nullable=True),
        sa.Column("perplexity", sa.Float(), nullable=True),
        sa.Column("hurdle_reached", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("parameter_count", sa.BigInteger(), nullable=True),
        sa.Column("step_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hurdle_fitness", sa.Text(), nullable=True),
        sa.Column("mutation", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("dna", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id", "parent_iid"],
            ["individuals.search_id", "individuals.iid"],
            name="fk_individuals_parent",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name=op.f("fk_individuals_search_id_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("search_id", "iid", name=op.f("pk_individuals")),
    )
    op.create_index("ix_individuals_fitness", "individuals", ["search_id", "fitness", "iid"])
    op.create_index("ix_individuals_status", "individuals", ["search_id", "status", "fitness"])
    op.create_index("ix_individuals_created", "individuals", ["search_id", "created_at", "iid"])
    op.create_index("ix_individuals_parent", "individuals", ["search_id", "parent_iid"])
    op.create_index(
        "ix_individuals_mutation_type",
        "individuals",
        ["search_id", "mutation_type", "parent_iid", "fitness"],
    )
    op.create_index("ix_individuals_iid_fitness", "individuals", ["search_id", "iid", "fitness"])

    op.create_table(
        "fitness_cache",
        sa.Column("program_hash", sa.String(length=128), nullable=False),
        sa.Column("config_key", sa.String(length=255), nullable=False),
        sa.Column("fitness", sa.Float(), nullable=False),
        sa.Column("hurdle_fitness", sa.Text(), nullable=False),
        sa.Column("source_search_id", sa.Integer(), nullable=True),
        sa.Column("source_iid", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_search_id"],
            ["searches.id"],
            name=op.f("fk_fitness_cache_source_search_id_searches"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("program_hash", "config_key", name=op.f("pk_fitness_cache")),
    )


def downgrade() -> None:
    op.drop_table("fitness_cache")
    op.drop_table("individuals")
    op.drop_table("searches")
