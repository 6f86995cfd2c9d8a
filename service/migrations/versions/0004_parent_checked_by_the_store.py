"""The individuals' parent key is checked by the store, not by a foreign key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

`fk_individuals_parent` (search_id, parent_iid) -> (search_id, iid) made the database check,
for every individual inserted, that its parent is stored. On PostgreSQL that check takes a
FOR KEY SHARE lock on the parent's row, which rewrites the parent's tuple header and logs it:
a search that keeps one good parent (most of its children cache hits) locked and relogged the
same row for each child, and the check cost about 0.3 ms per individual, a third of a turn's
writes (benchmarks/controller_overhead.py). The store now checks the parents of a turn's new
individuals with one indexed read per turn (SQLStore.record_turn), under the search's row lock,
so the same refusal (StateConflictError) stands, and individuals are never deleted but with
their search. SQLite rebuilds the table to drop the constraint (a copy of the rows), with its
foreign-key checks deferred to the commit: dropping the old copy deletes parents before their
children, which an immediate check refuses.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")  # until the commit, which checks them all
    with op.batch_alter_table("individuals") as batch:
        batch.drop_constraint("fk_individuals_parent", type_="foreignkey")


def downgrade() -> None:
    # SQLite rebuilds the table; with its rows in it, the new copy's key would count them as
    # violations against the old copy, dropped under them. So the rows wait in a temporary table
    # and come back in one statement (checked at its end, when every parent is back).
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE individuals_0004 AS SELECT * FROM individuals")
        op.execute("DELETE FROM individuals")
    with op.batch_alter_table("individuals") as batch:
        batch.create_foreign_key(
            "fk_individuals_parent",
            "individuals",
            ["search_id", "parent_iid"],
            ["search_id", "iid"],
        )
    if sqlite:
        op.execute("INSERT INTO individuals SELECT * FROM individuals_0004")
        op.execute("DROP TABLE individuals_0004")
