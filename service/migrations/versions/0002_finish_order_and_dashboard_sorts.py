"""The dashboard's reads: individuals.finish_seq (the order results arrived in) and two sorts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Adds `individuals.finish_seq` with its index (search_id, finish_seq, then every column of a
fitness point: the points are read from the index alone), an index for the hurdle statistics,
and the indexes for sorting by parameter count and by step time. Existing final individuals are
numbered 1, 2, ... per search by (finished_at, iid), as the store numbers them from now on
(cached and rejected ones were final at insert: their finished_at is their created_at), and each
search's num_finished is set to the count of its final individuals, where the next number
starts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FINAL = "status NOT IN ('pending', 'running')"


def upgrade() -> None:
    op.add_column("individuals", sa.Column("finish_seq", sa.Integer(), nullable=True))
    # UPDATE ... FROM with a window function: SQLite 3.33+ and PostgreSQL alike.
    op.execute(
        f"""
        UPDATE individuals SET finish_seq = numbered.seq
        FROM (
            SELECT search_id, iid, ROW_NUMBER() OVER (
                PARTITION BY search_id ORDER BY COALESCE(finished_at, created_at), iid
            ) AS seq
            FROM individuals WHERE {FINAL}
        ) AS numbered
        WHERE individuals.search_id = numbered.search_id AND individuals.iid = numbered.iid
        """
    )
    op.execute(
        f"""
        UPDATE searches SET num_finished = (
            SELECT COUNT(*) FROM individuals
            WHERE individuals.search_id = searches.id AND {FINAL}
        )
        """
    )
    # Covering: the fitness points are read from this index alone (service/store/schema.py).
    op.create_index(
        "ix_individuals_finish_seq",
        "individuals",
        [
            *("search_id", "finish_seq", "status", "iid", "fitness", "perplexity"),
            *("hurdle_reached", "parameter_count", "step_seconds", "finished_at"),
            *("mutation_type", "parent_iid"),
        ],
    )
    op.create_index(
        "ix_individuals_hurdle", "individuals", ["search_id", "status", "hurdle_reached"]
    )
    op.create_index(
        "ix_individuals_parameter_count", "individuals", ["search_id", "parameter_count", "iid"]
    )
    op.create_index(
        "ix_individuals_step_seconds", "individuals", ["search_id", "step_seconds", "iid"]
    )


def downgrade() -> None:
    op.drop_index("ix_individuals_step_seconds", "individuals")
    op.drop_index("ix_individuals_parameter_count", "individuals")
    op.drop_index("ix_individuals_hurdle", "individuals")
    op.drop_index("ix_individuals_finish_seq", "individuals")
    op.drop_column("individuals", "finish_seq")
