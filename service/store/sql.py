"""`SQLStore`: the SearchStore contract (base.py) on SQLAlchemy 2, for SQLite and PostgreSQL.

Every method is one transaction opened by `_transaction`, the one place where database errors
are converted (service/store/database.py). Writes that concern a search first lock its row
(`_lock_search`: SELECT ... FOR UPDATE on PostgreSQL; a driver's turn instead updates the row
first, `_save_turn`, which locks it as well and returns what the turn needs; on SQLite the write
transaction's BEGIN IMMEDIATE already holds the database's write lock), which serializes them
per search and is where the driver's lease is checked.

The driver's turn (`record_turn`) is the hot path (issue 5: 100 evaluations/s): its statements
are built once at import, run with parameters only, several rows per statement; on PostgreSQL
every statement is a round trip, so a turn makes as few as it can (BEGIN, the search's row,
the results, the new individuals, the cache entries, COMMIT).
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Column,
    Connection,
    Float,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, RowMapping

from primer_search.dna import DNA
from primer_search.evolution import Proposal
from primer_search.fitness_cache import CachedFitness
from service.store.base import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_REASONS,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    MAX_POINTS,
    SearchStore,
    check_page,
    check_sort_key,
)
from service.store.database import (
    SQLITE_BEGIN,
    create_db_engine,
    display_url,
    translated_errors,
)
from service.store.errors import (
    LeaseLostError,
    NotFoundError,
    StateConflictError,
    StoreArgumentError,
)
from service.store.fitness_cache import CacheEntry
from service.store.migrate import check_schema, upgrade_schema
from service.store.records import (
    RESULT_STATUSES,
    UNFINISHED,
    Evaluation,
    FitnessPoints,
    IndividualRecord,
    IndividualStatus,
    MutationStats,
    Page,
    ReasonCount,
    SearchRecord,
    SearchStatus,
    TurnRecord,
)
from service.store.rows import (
    DETAIL_COLUMNS,
    LEASE_ACTIVE,
    SEARCH_COLUMNS,
    SUMMARY_COLUMNS,
    individual_is,
    individual_record,
    order_by,
    proposal_row,
    reason_key,
    search_record,
    status_values,
    unfinished,
    unfinished_inline,
)
from service.store.schema import (
    db_epoch,
    epoch_of,
    fitness_cache,
    individuals,
    searches,
    utc_now,
)

_IN_CHUNK = 500  # ids per IN (...) list, well under every backend's parameter limit
_FINAL_SEARCH = frozenset({SearchStatus.STOPPED, SearchStatus.FINISHED, SearchStatus.FAILED})
_STATUSES = {s.value: s for s in IndividualStatus}
_UNFINISHED_VALUES = frozenset(status_values(UNFINISHED))


def _param(column: Column[Any]) -> BindParameter[Any]:
    """A parameter typed like `column`, named `p_<column>` (SQLAlchemy reserves the bare column
    names for the SET and VALUES clauses it derives itself)."""
    return bindparam(f"p_{column.name}", type_=column.type)


# The driver's statements, built once: each turn runs them with new parameters only, so
# SQLAlchemy neither rebuilds them nor computes their cache keys again.
_I = individuals.c
_THE_INDIVIDUAL = (_I.search_id == _param(_I.search_id), _I.iid == _param(_I.iid))
_RESULT_COLUMNS = (
    *(_I.status, _I.fitness, _I.perplexity, _I.hurdle_fitness, _I.hurdle_reached, _I.error),
    *(_I.parameter_count, _I.step_seconds, _I.result, _I.finished_at, _I.finish_seq),
)
_RECORD_RESULT = (
    update(individuals)
    .where(*_THE_INDIVIDUAL, unfinished_inline())
    .values({c: _param(c) for c in _RESULT_COLUMNS})
)
_MARK_RUNNING = (
    update(individuals)
    .where(*_THE_INDIVIDUAL, unfinished_inline())
    .values(
        status=IndividualStatus.RUNNING.value,
        attempts=_I.attempts + 1,
        worker=_param(_I.worker),
        started_at=_param(_I.started_at),
    )
    .returning(_I.attempts)
)
_INSERT_INDIVIDUALS = insert(individuals)
_S = searches.c
# The stored individuals among the parents of a turn's new individuals (migration 0004).
_STORED_PARENTS = (
    _I.search_id == _param(_S.id),
    _I.iid.in_(bindparam("p_parents", expanding=True)),
)
_LOCK_SEARCH = (
    select(_S.status, _S.lease_holder, _S.num_finished)
    .where(_S.id == _param(_S.id))
    .with_for_update()
)
# The turn's best DONE result (p_turn_best, p_turn_best_iid: the lowest fitness, ties by iid;
# None when it has none) replaces the search's best if it has a lower fitness, or the same and a
# lower iid. A None best changes nothing (when the search has none either, it stays None).
_TURN_BEST = bindparam("p_turn_best", type_=Float)
_TURN_BEST_IID = bindparam("p_turn_best_iid", type_=BigInteger)
_BEATS_BEST = or_(
    _S.best_fitness.is_(None),
    _S.best_fitness > _TURN_BEST,
    and_(_S.best_fitness == _TURN_BEST, _S.best_iid > _TURN_BEST_IID),
)
# The first statement of a turn that changes the search: it locks the search's row (as
# `_lock_search`), counts the new individuals and returns what the turn checks and numbers with.
_SAVE_TURN = (
    update(searches)
    .where(_S.id == _param(_S.id))
    .values(
        num_individuals=_S.num_individuals + bindparam("p_added", type_=Integer),
        num_finished=_S.num_finished + bindparam("p_finishing", type_=Integer),
        best_fitness=case((_BEATS_BEST, _TURN_BEST), else_=_S.best_fitness),
        best_iid=case((_BEATS_BEST, _TURN_BEST_IID), else_=_S.best_iid),
        updated_at=_param(_S.updated_at),
    )
    .returning(
        _S.status,
        _S.lease_holder,
        _S.num_finished,
        # How many of the parents of the turn's new individuals (those not among them) are
        # stored: the store's parent check (migration 0004), without a round trip of its own.
        select(func.count()).where(*_STORED_PARENTS).scalar_subquery().label("parents_stored"),
    )
)
# Three index seeks (ix_fitness_cache_config_key_source), not a scan of the search's own entries.
_F = fitness_cache.c
_UNDER_KEY = _F.config_key == _param(_F.config_key)
_CACHE_SHARED = select(
    or_(
        *(
            exists().where(_UNDER_KEY, other)
            for other in (
                _F.source_search_id < _param(_S.id),
                _F.source_search_id > _param(_S.id),
                _F.source_search_id.is_(None),
            )
        )
    )
)
_CACHE_GET = select(fitness_cache).where(
    fitness_cache.c.program_hash == _param(fitness_cache.c.program_hash),
    fitness_cache.c.config_key == _param(fitness_cache.c.config_key),
)


class SQLStore(SearchStore):
    """The store in a SQL database: `target` is a SQLite path, a `sqlite:///` or
    `postgresql://` URL, or None for the default SQLite file (database.py). The schema must be at
    this code's revision (SchemaVersionError otherwise); `upgrade=True` upgrades it first."""

    def __init__(self, target: str | Path | URL | None = None, *, upgrade: bool = False):
        self._engine = create_db_engine(target)
        self.url = self._engine.url
        self._where = display_url(self.url)  # for error messages
        self._writer = self._engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        # One SELECT needs no transaction around it: no BEGIN and COMMIT, which on PostgreSQL
        # are a round trip each (SQLite: no BEGIN; PostgreSQL: autocommit).
        self._single_reader = self._engine.execution_options(
            **({"isolation_level": "AUTOCOMMIT"} if self.dialect == "postgresql" else {}),
            **{SQLITE_BEGIN: None},
        )
        self._save_turn_statements = (
            _SAVE_TURN,
            _SAVE_TURN.values(engine_state=_param(_S.engine_state)),
        )
        insert_for = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self._put_if_absent = (
            insert_for(fitness_cache)
            .on_conflict_do_nothing(index_elements=["program_hash", "config_key"])
            .returning(fitness_cache.c.program_hash, fitness_cache.c.config_key)
        )
        self._pid = os.getpid()
        try:
            if upgrade:
                upgrade_schema(self._engine)
            with self._transaction() as conn:
                check_schema(conn, self.url)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def location(self) -> str | None:
        if self.dialect == "sqlite" and self.url.database in (None, "", ":memory:"):
            return None
        return self.url.render_as_string(hide_password=False)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self, write: bool = False, single_read: bool = False) -> Iterator[Connection]:
        """One transaction: committed if the block ends normally, rolled back otherwise, with
        every database error converted to the store's errors. `single_read`: the block runs
        one SELECT, which is atomic by itself, so no transaction is opened around it."""
        if os.getpid() != self._pid:  # inherited through fork: never share the parent's sockets
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        engine = self._writer if write else self._single_reader if single_read else self._engine
        with translated_errors(self._where), engine.begin() as conn:
            yield conn

    # -- searches --------------------------------------------------------------------------------

    def create_search(
        self,
        name: str,
        config: Mapping[str, Any],
        seed_dna: DNA | Mapping[str, Any],
        engine_state: Mapping[str, Any] | None = None,
    ) -> int:
        if not name or len(name) > 200:
            raise StoreArgumentError(f"a search name needs 1 to 200 characters, got {name!r}")
        now = utc_now()
        seed = seed_dna.to_dict() if isinstance(seed_dna, DNA) else dict(seed_dna)
        with self._transaction(write=True) as conn:
            result = conn.execute(
                insert(searches)
                .values(
                    name=name,
                    status=SearchStatus.CREATED.value,
                    config=dict(config),
                    seed_dna=seed,
                    engine_state=None if engine_state is None else dict(engine_state),
                    num_individuals=0,
                    num_finished=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(searches.c.id)
            )
            return int(result.scalar_one())

    def get_search(self, search_id: int) -> SearchRecord:
        with self._transaction() as conn:
            row = conn.execute(
                select(*SEARCH_COLUMNS, LEASE_ACTIVE).where(searches.c.id == search_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no search {search_id}")
        return search_record(row)

    def list_searches(
        self,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
        status: SearchStatus | Collection[SearchStatus] | None = None,
    ) -> Page[SearchRecord]:
        check_page(offset, limit)
        where = [] if status is None else [searches.c.status.in_(status_values(status))]
        with self._transaction() as conn:
            total = conn.execute(
                select(func.count()).select_from(searches).where(*where)
            ).scalar_one()
            rows = conn.execute(
                select(*SEARCH_COLUMNS, LEASE_ACTIVE)
                .where(*where)
                .order_by(searches.c.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
            return Page([search_record(r) for r in rows], total, offset, limit)

    def update_status(
        self,
        search_id: int,
        new: SearchStatus,
        allowed_from: Collection[SearchStatus],
        error: str | None = None,
    ) -> SearchStatus:
        now = utc_now()
        with self._transaction(write=True) as conn:
            current = SearchStatus(self._lock_search(conn, search_id)["status"])
            if current not in allowed_from:
                allowed = ", ".join(sorted(s.value for s in allowed_from)) or "nothing"
                raise StateConflictError(
                    f"search {search_id} is {current.value}: it can become {new.value} only "
                    f"from {allowed}",
                    current=current.value,
                )
            values: dict[str, Any] = {"status": new.value, "updated_at": now, "error": error}
            if new is SearchStatus.RUNNING:
                values["started_at"] = func.coalesce(searches.c.started_at, now)
                values["finished_at"] = None
            elif new in _FINAL_SEARCH:
                values["finished_at"] = now
            conn.execute(update(searches).where(searches.c.id == search_id).values(values))
            return current

    def _lock_search(
        self, conn: Connection, search_id: int, lease_holder: str | None = None
    ) -> RowMapping:
        """Locks the search's row for the rest of the transaction and checks the lease."""
        row = conn.execute(_LOCK_SEARCH, {"p_id": search_id}).one_or_none()
        if row is None:
            raise NotFoundError(f"no search {search_id}")
        _check_lease(search_id, row.lease_holder, lease_holder)
        return row._mapping

    def _require_search(self, conn: Connection, search_id: int) -> None:
        found = conn.execute(select(searches.c.id).where(searches.c.id == search_id)).first()
        if found is None:
            raise NotFoundError(f"no search {search_id}")

    # -- the driver's writes ---------------------------------------------------------------------

    def record_turn(
        self,
        search_id: int,
        *,
        results: Sequence[tuple[int, Evaluation]] = (),
        proposals: Sequence[Proposal] = (),
        running: Mapping[int, str] | None = None,
        engine_state: Mapping[str, Any] | None = None,
        cache_entries: Sequence[CacheEntry] = (),
        lease_holder: str | None = None,
    ) -> TurnRecord:
        now = utc_now()
        rows = [proposal_row(search_id, p, now) for p in proposals]
        handed_out = dict(running or {})
        attempts = _hand_out_new(search_id, rows, handed_out, now)
        finishing = len(results) + sum(r["status"] not in _UNFINISHED_VALUES for r in rows)
        parents = {row["parent_iid"] for row in rows} - {row["iid"] for row in rows} - {None}
        with self._transaction(write=True) as conn:
            if results or rows or engine_state is not None:
                search = self._save_turn(
                    conn,
                    search_id,
                    lease_holder,
                    results,
                    len(rows),
                    finishing,
                    parents,
                    engine_state,
                    now,
                )
            else:  # hand-outs alone: lock and check, change nothing
                search = self._lock_search(conn, search_id, lease_holder)
            # Results, then cached and rejected proposals, take the next places in the search's
            # finish order (num_finished counts every final individual), under the row lock.
            seq = int(search["num_finished"]) - finishing
            if results:
                params = []
                for iid, evaluation in results:
                    seq += 1
                    params.append(_result_params(search_id, iid, evaluation, now, seq))
                if conn.execute(_RECORD_RESULT, params).rowcount != len(params):
                    self._refuse_results(conn, search_id, params)
            for row in rows:
                if row["status"] not in _UNFINISHED_VALUES:
                    seq += 1
                    row["finish_seq"] = seq
            if rows:
                if search["parents_stored"] != len(parents):
                    self._refuse_parents(conn, search_id, rows, parents)
                conn.execute(_INSERT_INDIVIDUALS, rows)
            for iid, worker in handed_out.items():  # stored candidates handed out (again)
                where = {"p_search_id": search_id, "p_iid": iid}
                count = conn.execute(
                    _MARK_RUNNING, {**where, "p_worker": worker, "p_started_at": now}
                ).scalar_one_or_none()
                if count is None:
                    self._refuse_change(conn, search_id, iid, "mark running")
                attempts[iid] = int(count)
            kept = self._put_entries(conn, search_id, cache_entries, now)
            return TurnRecord(SearchStatus(search["status"]), attempts, kept)

    def _save_turn(
        self,
        conn: Connection,
        search_id: int,
        lease_holder: str | None,
        results: Sequence[tuple[int, Evaluation]],
        added: int,
        finishing: int,
        parents: set[int],
        engine_state: Mapping[str, Any] | None,
        now: datetime,
    ) -> RowMapping:
        """Updates the search's row for a turn (counters, best, engine state) and counts the
        stored `parents` of the new individuals: the turn's first statement, which locks the
        row; then checks the lease (a refusal rolls it back)."""
        done = [
            (evaluation.fitness, iid)
            for iid, evaluation in results
            if evaluation.status is IndividualStatus.DONE and evaluation.fitness is not None
        ]
        best, best_iid = min(done) if done else (None, None)
        values: dict[str, Any] = {
            "p_id": search_id,
            "p_added": added,
            "p_finishing": finishing,
            "p_parents": list(parents),
            "p_turn_best": best,
            "p_turn_best_iid": best_iid,
            "p_updated_at": now,
        }
        without_state, with_state = self._save_turn_statements
        if engine_state is None:
            row = conn.execute(without_state, values).one_or_none()
        else:
            values["p_engine_state"] = dict(engine_state)
            row = conn.execute(with_state, values).one_or_none()
        if row is None:
            raise NotFoundError(f"no search {search_id}")
        _check_lease(search_id, row.lease_holder, lease_holder)
        return row._mapping

    def _put_entries(
        self,
        conn: Connection,
        search_id: int | None,
        entries: Sequence[CacheEntry],
        now: datetime,
    ) -> tuple[tuple[str, str], ...]:
        """Inserts the cache entries whose key is absent; returns the keys that were present."""
        if not entries:
            return ()
        rows = [
            {
                "program_hash": program_hash,
                "config_key": config_key,
                "fitness": value.fitness,
                "hurdle_fitness": list(value.hurdle_fitness),
                "source_search_id": search_id,
                "source_iid": value.source_id,
                "created_at": now,
            }
            for program_hash, config_key, value in entries
        ]
        inserted = {tuple(row) for row in conn.execute(self._put_if_absent, rows)}
        return tuple((h, k) for h, k, _ in entries if (h, k) not in inserted)

    def _refuse_parents(
        self, conn: Connection, search_id: int, rows: list[dict[str, Any]], parents: set[int]
    ) -> NoReturn:
        """Names the first new individual whose parent is neither stored in the search nor
        among the new ones (the store's check since migration 0004 dropped the foreign key)."""
        stored = set(
            conn.execute(
                select(_I.iid).where(*_STORED_PARENTS),
                {"p_id": search_id, "p_parents": list(parents)},
            ).scalars()
        )
        for row in rows:
            if row["parent_iid"] in parents - stored:
                raise StateConflictError(
                    f"cannot record individual {row['iid']} of search {search_id}: its parent "
                    f"{row['parent_iid']} is not stored"
                )
        raise AssertionError("a parent was missing, yet every parent is stored")

    def _refuse_results(
        self, conn: Connection, search_id: int, params: list[dict[str, Any]]
    ) -> NoReturn:
        """Names the first result that was not applied: its individual was final before (or
        unknown), or came twice. Each applied one holds the finish_seq it was given."""
        for p in params:
            seq = conn.execute(
                select(individuals.c.finish_seq).where(*individual_is(search_id, p["p_iid"]))
            ).scalar_one_or_none()
            if seq != p["p_finish_seq"]:
                self._refuse_change(conn, search_id, p["p_iid"], "record a result for")
        raise AssertionError("a result was not applied, yet every individual holds it")

    def _refuse_change(self, conn: Connection, search_id: int, iid: int, action: str) -> NoReturn:
        status = conn.execute(
            select(individuals.c.status).where(*individual_is(search_id, iid))
        ).scalar_one_or_none()
        if status is None:
            raise NotFoundError(f"no individual {iid} in search {search_id}")
        raise StateConflictError(
            f"cannot {action} individual {iid} of search {search_id}: it is already {status}",
            current=status,
        )

    # -- what a resuming driver reads ------------------------------------------------------------

    def get_engine_state(self, search_id: int) -> dict[str, Any] | None:
        with self._transaction() as conn:
            row = conn.execute(
                select(searches.c.engine_state).where(searches.c.id == search_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no search {search_id}")
        state: dict[str, Any] | None = row.engine_state
        return state

    def pending_individuals(self, search_id: int) -> list[IndividualRecord]:
        with self._transaction() as conn:
            rows = conn.execute(
                select(*DETAIL_COLUMNS)
                .where(individuals.c.search_id == search_id, unfinished())
                .order_by(individuals.c.iid)
            ).all()
            if not rows:
                self._require_search(conn, search_id)
        return [individual_record(r) for r in rows]

    def load_programs(self, search_id: int, iids: Iterable[int]) -> dict[int, dict[str, Any]]:
        wanted = sorted(set(iids))
        programs: dict[int, dict[str, Any]] = {}
        with self._transaction() as conn:
            self._require_search(conn, search_id)
            for start in range(0, len(wanted), _IN_CHUNK):
                rows = conn.execute(
                    select(individuals.c.iid, individuals.c.dna).where(
                        individuals.c.search_id == search_id,
                        individuals.c.iid.in_(wanted[start : start + _IN_CHUNK]),
                    )
                )
                programs.update({int(r.iid): r.dna for r in rows})
        return programs

    # -- reads for the API and the dashboard -----------------------------------------------------

    def get_individual(self, search_id: int, iid: int) -> IndividualRecord:
        with self._transaction() as conn:
            row = conn.execute(
                select(*DETAIL_COLUMNS).where(*individual_is(search_id, iid))
            ).one_or_none()
            if row is None:
                self._require_search(conn, search_id)
                raise NotFoundError(f"no individual {iid} in search {search_id}")
        return individual_record(row)

    def list_individuals(
        self,
        search_id: int,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
        sort_by: str = "iid",
        descending: bool = False,
        status: IndividualStatus | Collection[IndividualStatus] | None = None,
        details: bool = False,
        iids: Collection[int] | None = None,
    ) -> Page[IndividualRecord]:
        check_page(offset, limit)
        check_sort_key(sort_by)
        where = [individuals.c.search_id == search_id]
        if status is not None:
            where.append(individuals.c.status.in_(status_values(status)))
        if iids is not None:
            # Rendered inline (they are integers): a population may have more members than a
            # statement may have parameters.
            members: Any = bindparam(
                "members", sorted(set(iids)), expanding=True, literal_execute=True
            )
            where.append(individuals.c.iid.in_(members))
        columns = DETAIL_COLUMNS if details else SUMMARY_COLUMNS
        order = order_by(sort_by, descending)
        # The page's ids first, then their rows: the sort (and, with no index to walk, the
        # sort of the whole search) carries two columns instead of every summary column (the
        # mutation record's JSON): 85 ms -> 32 ms for a page in the middle of 25,000 on a
        # PostgreSQL without statistics, where the wide sort spilled to disk.
        page = (
            select(individuals.c.iid)
            .where(*where)
            .order_by(*order)
            .offset(offset)
            .limit(limit)
            .subquery("page")
        )
        with self._transaction() as conn:
            if status is None and iids is None:  # the search's own counter, kept by each turn
                total = conn.execute(
                    select(searches.c.num_individuals).where(searches.c.id == search_id)
                ).scalar_one_or_none()
                if total is None:
                    raise NotFoundError(f"no search {search_id}")
            else:
                total = conn.execute(
                    select(func.count()).select_from(individuals).where(*where)
                ).scalar_one()
                if total == 0:
                    self._require_search(conn, search_id)
            rows = conn.execute(
                select(*columns)
                .join(
                    page,
                    and_(individuals.c.search_id == search_id, individuals.c.iid == page.c.iid),
                )
                .order_by(*order)
            ).all()
        return Page([individual_record(r) for r in rows], total, offset, limit)

    def lineage(self, search_id: int, iid: int) -> list[IndividualRecord]:
        chain = (
            select(individuals.c.iid, individuals.c.parent_iid, literal(0, Integer).label("depth"))
            .where(*individual_is(search_id, iid))
            .cte("chain", recursive=True)
        )
        parent = individuals.alias("parent")
        chain = chain.union_all(
            select(parent.c.iid, parent.c.parent_iid, chain.c.depth + 1).where(
                parent.c.search_id == search_id, parent.c.iid == chain.c.parent_iid
            )
        )
        query = (
            select(*SUMMARY_COLUMNS)
            .join(
                chain, and_(individuals.c.search_id == search_id, individuals.c.iid == chain.c.iid)
            )
            .order_by(chain.c.depth)
        )
        with self._transaction() as conn:
            rows = conn.execute(query).all()
            if not rows:
                self._require_search(conn, search_id)
                raise NotFoundError(f"no individual {iid} in search {search_id}")
        return [individual_record(r) for r in rows]

    def best(
        self,
        search_id: int,
        k: int = 10,
        statuses: Collection[IndividualStatus] = (IndividualStatus.DONE,),
    ) -> list[IndividualRecord]:
        if not 1 <= k <= MAX_PAGE_SIZE:
            raise StoreArgumentError(f"k must be between 1 and {MAX_PAGE_SIZE}, got {k}")
        with self._transaction() as conn:
            rows = conn.execute(
                select(*DETAIL_COLUMNS)
                .where(
                    individuals.c.search_id == search_id,
                    individuals.c.status.in_(status_values(statuses)),
                    individuals.c.fitness.is_not(None),
                )
                .order_by(individuals.c.fitness, individuals.c.iid)
                .limit(k)
            ).all()
            if not rows:
                self._require_search(conn, search_id)
        return [individual_record(r) for r in rows]

    def status_counts(self, search_id: int) -> dict[IndividualStatus, int]:
        counts = dict.fromkeys(IndividualStatus, 0)
        with self._transaction() as conn:
            rows = conn.execute(
                select(individuals.c.status, func.count())
                .where(individuals.c.search_id == search_id)
                .group_by(individuals.c.status)
            ).all()
            if not rows:
                self._require_search(conn, search_id)
        counts.update({IndividualStatus(status): int(n) for status, n in rows})
        return counts

    def mutation_statistics(self, search_id: int) -> list[MutationStats]:
        child, parent = individuals.alias("child"), individuals.alias("parent")
        compared = and_(child.c.fitness.is_not(None), parent.c.fitness.is_not(None))
        query = (
            select(
                child.c.mutation_type,
                func.count().label("applied"),
                func.count(case((compared, 1))).label("compared"),
                func.count(case((and_(compared, child.c.fitness < parent.c.fitness), 1))).label(
                    "beat_parent"
                ),
                func.avg(case((compared, child.c.fitness - parent.c.fitness))).label("change"),
            )
            .select_from(
                child.outerjoin(
                    parent,
                    and_(
                        parent.c.search_id == child.c.search_id, parent.c.iid == child.c.parent_iid
                    ),
                )
            )
            .where(child.c.search_id == search_id, child.c.mutation_type.is_not(None))
            .group_by(child.c.mutation_type)
            .order_by(child.c.mutation_type)
        )
        with self._transaction() as conn:
            self._require_search(conn, search_id)
            rows = conn.execute(query).all()
        return [
            MutationStats(
                mutation_type=r.mutation_type,
                applied=int(r.applied),
                compared=int(r.compared),
                beat_parent=int(r.beat_parent),
                mean_fitness_change=None if r.change is None else float(r.change),
            )
            for r in rows
        ]

    def fitness_points(
        self, search_id: int, after_seq: int = 0, limit: int = MAX_POINTS
    ) -> FitnessPoints:
        if not 0 <= after_seq <= MAX_OFFSET:
            raise StoreArgumentError(f"after must be between 0 and {MAX_OFFSET}, got {after_seq}")
        if not 1 <= limit <= MAX_POINTS:
            raise StoreArgumentError(f"limit must be between 1 and {MAX_POINTS}, got {limit}")
        with self._transaction() as conn:
            search = conn.execute(
                select(searches.c.started_at).where(searches.c.id == search_id)
            ).one_or_none()
            if search is None:
                raise NotFoundError(f"no search {search_id}")
            started_at = search.started_at
            seconds: Any = cast(null(), Float)
            if started_at is not None:  # durations in SQL: no timestamp parsed per row
                seconds = epoch_of(individuals.c.finished_at) - started_at.timestamp()
            rows = conn.execute(
                select(
                    individuals.c.finish_seq,
                    individuals.c.iid,
                    individuals.c.status,
                    individuals.c.fitness,
                    individuals.c.perplexity,
                    individuals.c.hurdle_reached,
                    individuals.c.parameter_count,
                    individuals.c.step_seconds,
                    seconds,
                    individuals.c.mutation_type,
                    individuals.c.parent_iid,
                )
                .where(
                    individuals.c.search_id == search_id,
                    individuals.c.finish_seq > after_seq,
                    individuals.c.status.in_(status_values(RESULT_STATUSES)),
                )
                .order_by(individuals.c.finish_seq)
                .limit(limit)
            ).all()
        columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
        seq, iid, status, fitness, ppl, hurdle, params, step, secs, mutation, parent = columns or [
            [] for _ in range(11)
        ]
        return FitnessPoints(
            search_id=search_id,
            started_at=started_at,
            seq=seq,
            iid=iid,
            status=[_STATUSES[v] for v in status],  # a dict: 10x faster than the enum's call
            fitness=fitness,
            perplexity=ppl,
            hurdle_reached=hurdle,
            parameter_count=params,
            step_seconds=step,
            seconds=secs,
            mutation_type=mutation,
            parent_iid=parent,
        )

    def hurdle_histogram(self, search_id: int) -> dict[tuple[IndividualStatus, int], int]:
        with self._transaction() as conn:
            self._require_search(conn, search_id)
            rows = conn.execute(
                select(individuals.c.status, individuals.c.hurdle_reached, func.count())
                .where(
                    individuals.c.search_id == search_id,
                    individuals.c.status.in_(status_values(RESULT_STATUSES)),
                )
                .group_by(individuals.c.status, individuals.c.hurdle_reached)
            ).all()
        return {(IndividualStatus(status), int(k)): int(n) for status, k, n in rows}

    def reason_counts(
        self, search_id: int, status: IndividualStatus, limit: int = DEFAULT_REASONS
    ) -> list[ReasonCount]:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise StoreArgumentError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        reasons = (
            select(reason_key(self.dialect).label("reason"))
            .where(individuals.c.search_id == search_id, individuals.c.status == status.value)
            .subquery()
        )
        count = func.count().label("n")
        query = (
            select(reasons.c.reason, count)
            .group_by(reasons.c.reason)
            .order_by(count.desc(), reasons.c.reason)
            .limit(limit)
        )
        with self._transaction() as conn:
            self._require_search(conn, search_id)
            rows = conn.execute(query).all()
        return [ReasonCount(reason=r.reason, count=int(r.n)) for r in rows]

    def status_counts_by_search(
        self, search_ids: Collection[int]
    ) -> dict[int, dict[IndividualStatus, int]]:
        wanted = sorted(set(search_ids))
        counts = {sid: dict.fromkeys(IndividualStatus, 0) for sid in wanted}
        with self._transaction() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                rows = conn.execute(
                    select(individuals.c.search_id, individuals.c.status, func.count())
                    .where(individuals.c.search_id.in_(wanted[start : start + _IN_CHUNK]))
                    .group_by(individuals.c.search_id, individuals.c.status)
                )
                for sid, status, n in rows:
                    counts[int(sid)][IndividualStatus(status)] = int(n)
        return counts

    # -- the fitness cache -----------------------------------------------------------------------

    def cache_get(self, program_hash: str, config_key: str) -> CachedFitness | None:
        with self._transaction(single_read=True) as conn:
            row = conn.execute(
                _CACHE_GET, {"p_program_hash": program_hash, "p_config_key": config_key}
            ).one_or_none()
        return None if row is None else _cached_fitness(row)

    def cache_entries(self, config_key: str, source_search_id: int) -> dict[str, CachedFitness]:
        with self._transaction() as conn:
            rows = conn.execute(
                select(fitness_cache).where(
                    fitness_cache.c.config_key == config_key,
                    fitness_cache.c.source_search_id == source_search_id,
                )
            ).all()
        return {row.program_hash: _cached_fitness(row) for row in rows}

    def cache_shared(self, config_key: str, search_id: int) -> bool:
        with self._transaction(single_read=True) as conn:
            return bool(
                conn.execute(
                    _CACHE_SHARED, {"p_config_key": config_key, "p_id": search_id}
                ).scalar()
            )

    def cache_put(
        self,
        program_hash: str,
        config_key: str,
        value: CachedFitness,
        source_search_id: int | None = None,
    ) -> bool:
        with self._transaction(write=True) as conn:
            entry = (program_hash, config_key, value)
            return not self._put_entries(conn, source_search_id, [entry], utc_now())

    # -- the driver's lease ----------------------------------------------------------------------

    def acquire_lease(self, search_id: int, holder: str, ttl_seconds: float) -> bool:
        _check_lease_args(holder, ttl_seconds)
        free = or_(
            searches.c.lease_holder.is_(None),
            searches.c.lease_holder == holder,
            searches.c.lease_expires_at <= db_epoch(),
        )
        statement = (
            update(searches)
            .where(searches.c.id == search_id, free)
            .values(
                lease_holder=holder,
                lease_expires_at=db_epoch() + ttl_seconds,
                lease_ttl_seconds=ttl_seconds,
            )
        )
        return self._lease_update(search_id, statement)

    def heartbeat(self, search_id: int, holder: str) -> bool:
        statement = (
            update(searches)
            .where(searches.c.id == search_id, searches.c.lease_holder == holder)
            .values(lease_expires_at=db_epoch() + searches.c.lease_ttl_seconds)
        )
        return self._lease_update(search_id, statement)

    def release_lease(self, search_id: int, holder: str) -> bool:
        statement = (
            update(searches)
            .where(searches.c.id == search_id, searches.c.lease_holder == holder)
            .values(lease_holder=None, lease_expires_at=None, lease_ttl_seconds=None)
        )
        return self._lease_update(search_id, statement)

    def _lease_update(self, search_id: int, statement: Any) -> bool:
        with self._transaction(write=True) as conn:
            if conn.execute(statement).rowcount == 1:
                return True
            self._require_search(conn, search_id)
            return False


def _hand_out_new(
    search_id: int, rows: list[dict[str, Any]], handed_out: dict[int, str], now: datetime
) -> dict[int, int]:
    """Makes the new proposals among `handed_out` RUNNING rows (first attempt) and takes them
    out of it; returns their attempt counts."""
    attempts = {}
    for row in rows:
        worker = handed_out.pop(row["iid"], None)
        if worker is None:
            continue
        if row["status"] != IndividualStatus.PENDING.value:
            raise StateConflictError(
                f"cannot mark running individual {row['iid']} of search {search_id}: it is "
                f"{row['status']} (only trained proposals are handed out)",
                current=row["status"],
            )
        row.update(status=IndividualStatus.RUNNING.value, attempts=1, worker=worker, started_at=now)
        attempts[row["iid"]] = 1
    return attempts


def _result_params(
    search_id: int, iid: int, evaluation: Evaluation, now: datetime, seq: int
) -> dict[str, Any]:
    return {
        "p_search_id": search_id,
        "p_iid": iid,
        "p_status": evaluation.status.value,
        "p_fitness": evaluation.fitness,
        "p_perplexity": evaluation.perplexity,
        "p_hurdle_fitness": list(evaluation.hurdle_fitness),
        "p_hurdle_reached": evaluation.hurdle_reached,
        "p_error": evaluation.error,
        "p_parameter_count": evaluation.parameter_count,
        "p_step_seconds": evaluation.step_seconds,
        "p_result": None if evaluation.result is None else dict(evaluation.result),
        "p_finished_at": now,
        "p_finish_seq": seq,
    }


def _cached_fitness(row: Any) -> CachedFitness:
    return CachedFitness(
        fitness=row.fitness, hurdle_fitness=tuple(row.hurdle_fitness), source_id=row.source_iid
    )


def _check_lease(search_id: int, holder: str | None, lease_holder: str | None) -> None:
    """A driver's write (`lease_holder` given) needs the lease: `holder` is the search's."""
    if lease_holder is not None and holder != lease_holder:
        raise LeaseLostError(
            f"search {search_id} is driven by {holder or 'no one'}, not by {lease_holder}: "
            "this driver lost its lease and must stop",
            current=holder,
        )


def _check_lease_args(holder: str, ttl_seconds: float) -> None:
    if not holder or len(holder) > 200:
        raise StoreArgumentError(f"a lease holder needs 1 to 200 characters, got {holder!r}")
    if not (math.isfinite(ttl_seconds) and ttl_seconds > 0):
        raise StoreArgumentError(f"ttl_seconds must be a positive number, got {ttl_seconds}")
