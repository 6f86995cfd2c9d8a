"""Where the store lives and how it connects (service/store/database.py), and what it stores of a
training result; the contract itself is in test_store_contract.py."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from store_support import (
    POSTGRES_SKIP_REASON,
    postgres_schema,
    postgres_url,
    proposal,
    seed_dna,
)

from service.store import (
    Evaluation,
    IndividualStatus,
    SQLStore,
    StateConflictError,
    StoreArgumentError,
    StoreUnavailableError,
    database_url,
    default_database_path,
    upgrade_schema,
)

REPO = Path(__file__).resolve().parents[1]


def test_the_default_database_is_a_sqlite_file_in_the_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "primer-search" / "primer-search.db"
    assert default_database_path() == expected
    assert database_url(None).database == str(expected)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_database_path() == tmp_path / "data" / "primer-search" / "primer-search.db"


def test_urls_and_paths_are_resolved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url("runs.db").database == str(tmp_path / "runs.db")
    assert database_url(tmp_path / "x.db").drivername == "sqlite"
    assert database_url("sqlite:////tmp/a.db").database == "/tmp/a.db"
    for given in ("postgresql://u@h:5432/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert database_url(given).drivername == "postgresql+psycopg"
    with pytest.raises(StoreArgumentError, match=r"unsupported database URL 'mysql://u:\*\*\*@h"):
        database_url("mysql://u:secret@h/db")


def test_a_new_sqlite_file_gets_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    with SQLStore(path, upgrade=True) as store:
        assert store.create_search("s", {}, seed_dna()) == 1
    assert path.is_file()


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    # The pragmas are per connection: read them on one of the store's.
    with SQLStore(tmp_path / "s.db", upgrade=True) as store, store._engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "synchronous": 1,
    }


def test_an_in_memory_store_works_for_one_process() -> None:
    with SQLStore("sqlite://", upgrade=True) as store:
        sid = store.create_search("memory", {"a": 1}, seed_dna())
        assert store.get_search(sid).config == {"a": 1}


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    with pytest.raises(StoreUnavailableError) as error:
        SQLStore("postgresql://user:secret@127.0.0.1:1/db")
    assert "secret" not in str(error.value) and "127.0.0.1:1" in str(error.value)


def test_a_dropped_postgresql_connection_costs_one_call() -> None:
    base = postgres_url()
    if base is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_schema(base) as url:
        upgrade_schema(url)
        with SQLStore(url) as store:
            sid = store.create_search("s", {}, seed_dna())
            with store._engine.connect() as conn:  # the pool's one connection
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            admin = create_engine(database_url(base))
            with admin.begin() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
            with pytest.raises(StoreUnavailableError):
                store.get_search(sid)
            assert store.get_search(sid).id == sid  # the pool reconnected


def test_postgresql_plans_the_result_update_for_its_own_row() -> None:
    """A statement that psycopg prepared while the search was small still finds an individual
    by (search_id, iid) once the search has thousands: the connections plan every statement
    for its parameters (database.py). The generic plan PostgreSQL keeps otherwise, made with no
    table statistics, scanned ix_individuals_step_seconds, every row of the search."""
    base = postgres_url()
    if base is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_schema(base) as url:
        upgrade_schema(url)
        with SQLStore(url) as store, store._engine.connect() as conn:
            sid = store.create_search("s", {}, seed_dna())
            store.record_turn(sid, proposals=[proposal(iid) for iid in range(5)])
            conn.exec_driver_sql(
                "PREPARE result_update(int, bigint) AS UPDATE individuals SET fitness = 1 "
                "WHERE search_id = $1 AND iid = $2 AND status IN ('pending', 'running')"
            )
            for iid in range(8):  # past the 5 runs after which a generic plan may be kept
                conn.exec_driver_sql(f"EXECUTE result_update({sid}, {iid % 5})")
            conn.commit()
            for first in range(5, 3005, 500):
                new = [proposal(iid, parent=0) for iid in range(first, first + 500)]
                store.record_turn(sid, proposals=new)
            plan = [
                row[0]
                for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE result_update({sid}, 2000)")
            ]
            conn.rollback()
    scan = next(line for line in plan if "Index Scan using" in line)
    # The two indexes that begin with (search_id, iid): a seek to the row.
    assert scan.split("Index Scan using ")[1].split()[0] in (
        "pk_individuals",
        "ix_individuals_iid_fitness",
    ), "\n".join(plan)


def test_a_training_result_becomes_an_evaluation() -> None:
    from primer_search.training.result import FailureKind, HurdleRecord, Status, TrainResult

    common: dict[str, Any] = dict(
        budget="10s",
        seed=0,
        program_hash="abc",
        model_preset="tiny",
        train_preset="tiny",
        vocab_size=64,
        seq_len=16,
        batch_tokens=256,
        device="CPU",
        versions={},
        parameter_count=30_000,
        step_seconds=0.01,
    )
    hurdle = HurdleRecord(
        index=1,
        position=5.0,
        steps=10,
        tokens=2560,
        train_seconds=5.0,
        fitness=4.5,
        perplexity=math.exp(4.5),
        threshold=4.0,
        passed=False,
    )
    stopped = Evaluation.from_train_result(
        TrainResult(
            status=Status.STOPPED_AT_HURDLE,
            fitness=4.5,
            perplexity=math.exp(4.5),
            hurdles=[hurdle],
            stopped_at_hurdle=1,
            **common,
        )
    )
    assert (stopped.status, stopped.fitness, stopped.hurdle_fitness) == (
        IndividualStatus.STOPPED,
        4.5,
        (4.5,),
    )
    assert (stopped.hurdle_reached, stopped.parameter_count, stopped.error) == (1, 30_000, None)
    assert stopped.result is not None and stopped.result["status"] == "stopped_at_hurdle"
    failed = Evaluation.from_train_result(
        TrainResult(
            status=Status.FAILED,
            failure_kind=FailureKind.NON_FINITE,
            failure_reason="loss is NaN at step 3",
            **common,
        )
    )
    assert failed.status is IndividualStatus.FAILED and failed.fitness is None
    assert failed.error == "non_finite: loss is NaN at step 3"


def test_the_core_never_imports_the_service() -> None:
    """STYLE.md principle 2: primer_search/ knows nothing of SQL (nor of this package)."""
    offenders = []
    for path in (REPO / "primer_search").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("service", "sqlalchemy", "alembic") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_migration_0004_keeps_the_rows_and_the_store_still_refuses_unknown_parents(
    empty_url: Any,
) -> None:
    """0004 drops the parent foreign key (the store checks parents instead): a database written
    at 0003 keeps its individuals, and downgrading brings the key back."""
    from alembic import command
    from sqlalchemy import inspect
    from store_support import engine_state, proposal

    from service.store.database import create_db_engine
    from service.store.migrate import alembic_config

    def parent_keys(engine: Any) -> list[str]:
        keys = inspect(engine).get_foreign_keys("individuals")
        return [key["name"] for key in keys if key["referred_table"] == "individuals"]

    engine = create_db_engine(empty_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
    assert parent_keys(engine) == ["fk_individuals_parent"]
    with engine.begin() as conn:  # a search of 3 individuals, written as 0003's store did
        conn.exec_driver_sql(
            "INSERT INTO searches (name, status, config, seed_dna, num_individuals, num_finished,"
            " created_at, updated_at) VALUES ('old', 'paused', '{}', '{}', 3, 0,"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        for iid, parent in ((0, None), (1, 0), (2, 1)):
            conn.execute(
                text(
                    "INSERT INTO individuals (search_id, iid, kind, status, program_hash,"
                    " parent_iid, attempts, hurdle_reached, created_at, dna) VALUES (1, :iid,"
                    " 'train', 'pending', 'h', :parent, 0, 0, CURRENT_TIMESTAMP, '{}')"
                ),
                {"iid": iid, "parent": parent},
            )
    upgrade_schema(engine)
    assert parent_keys(engine) == []
    with SQLStore(empty_url) as store:
        assert [(i.iid, i.parent_iid) for i in store.list_individuals(1).items] == [
            (0, None),
            (1, 0),
            (2, 1),
        ]
        store.record_proposals(1, [proposal(3, parent=2), proposal(4, parent=3)], engine_state(1))
        with pytest.raises(StateConflictError, match="its parent 77 is not stored"):
            store.record_proposals(1, [proposal(5, parent=4), proposal(6, parent=77)], {})
        assert store.get_search(1).num_individuals == 5
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
        assert conn.exec_driver_sql("SELECT count(*) FROM individuals").scalar() == 5
    assert parent_keys(engine) == ["fk_individuals_parent"]
    engine.dispose()
