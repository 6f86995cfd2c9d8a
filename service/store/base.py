"""The store's one interface: what the controller, the API and the dashboard may rely on.

`SearchStore` is an abstract class whose docstrings are the contract; every backend (SQLite and
PostgreSQL through `SQLStore`) passes the same contract tests (tests/test_store_contract.py).

Transactions. Every method is one transaction: it is applied whole or not at all. The methods
that change an engine state (`record_turn`, and its parts `record_proposals`, `record_result`)
write it together with the individual rows it concerns, so a process killed at any instant
leaves a search whose engine state and individuals agree, and a driver can resume it from
`get_engine_state`, `load_programs` and `pending_individuals`. The driver writes one
`record_turn` per turn (results, proposals, hand-outs, cache entries and the engine state
together): on PostgreSQL each round trip costs, on SQLite each commit.

What may change, and when. A search's config and seed never change after `create_search`. Its
status changes only through `update_status`, which checks the current status under a row lock
(two controllers cannot both pause and resume one search). An individual is inserted once, by
`record_turn` or `record_proposals`, with status PENDING (kind train; RUNNING if handed out in
the same turn), CACHED or REJECTED; PENDING and RUNNING individuals may be marked running
(again) and then get exactly one result (DONE, STOPPED or FAILED), after which the row never
changes. Writes for one search are serialized by a lock on its `searches` row (SQLite: the
database's write lock, taken at BEGIN IMMEDIATE). The store does not police which search
statuses allow driver writes: the lease does (below).

One driver per search. A driver holds the search's lease (`acquire_lease`, renewed by
`heartbeat` well within its TTL, expiry judged by the database's clock). The driver's writes take
`lease_holder=` its holder id; they then fail with LeaseLostError, writing nothing, when the
lease is held by someone else or by no one, so a driver that stalled past its TTL and was
replaced cannot corrupt the search. Tools and tests may pass None to skip the check.

Threads and processes. A store object may be shared by the threads of one process (each call
takes its own pooled connection); processes each open their own (a store inherited through
fork re-opens its connections in the child). Any number of processes may use one database at a
time; SQLite writers take turns, waiting up to a busy timeout.

Errors (service/store/errors.py): NotFoundError for an unknown search or individual;
StateConflictError (with `current`) for a change the current state forbids; LeaseLostError for
a driver write without the lease; StoreArgumentError for bad arguments; StoreUnavailableError
when the database is unreachable or stays locked (nothing was applied; retrying is safe);
SchemaVersionError when the database's schema is not this code's. Nothing else escapes.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from primer_search.dna import DNA
from primer_search.evolution import Proposal
from primer_search.fitness_cache import CachedFitness
from service.store.errors import StoreArgumentError
from service.store.fitness_cache import CacheEntry, StoreFitnessCache
from service.store.records import (
    SORT_KEYS,
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

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_POINTS = 50_000  # fitness points per answer: two full 25,000-individual searches
DEFAULT_REASONS = 20


class SearchStore(abc.ABC):
    # -- searches --------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_search(
        self,
        name: str,
        config: Mapping[str, Any],
        seed_dna: DNA | Mapping[str, Any],
        engine_state: Mapping[str, Any] | None = None,
    ) -> int:
        """Stores a new search with status CREATED and returns its id: a small integer, unique
        in this database, never reused (users type it: `primer-search resume 3`). `config` is
        the whole search config as JSON-ready data."""

    @abc.abstractmethod
    def get_search(self, search_id: int) -> SearchRecord:
        """The search (without its engine state). NotFoundError if there is none."""

    @abc.abstractmethod
    def list_searches(
        self,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
        status: SearchStatus | Collection[SearchStatus] | None = None,
    ) -> Page[SearchRecord]:
        """Searches, newest first, optionally only those with the given status(es)."""

    @abc.abstractmethod
    def update_status(
        self,
        search_id: int,
        new: SearchStatus,
        allowed_from: Collection[SearchStatus],
        error: str | None = None,
    ) -> SearchStatus:
        """Moves the search to `new` if its current status is in `allowed_from`, else raises
        StateConflictError naming the current status (and changes nothing). Returns the status
        it had. Sets `started_at` the first time it becomes RUNNING and `finished_at` when it
        becomes STOPPED, FINISHED or FAILED (cleared if it runs again); `error` is stored as the
        search's error (pass the reason with FAILED)."""

    # -- the driver's writes ---------------------------------------------------------------------

    @abc.abstractmethod
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
        """Everything a driver writes between two hand-outs, in ONE transaction (a driver's turn:
        the results that came back, the proposals made after them, the candidates handed out):

        1. `results`, (iid, evaluation) pairs in arrival order, as `record_result` stores one:
           each individual must be PENDING or RUNNING and gets the next finish_seq;
        2. `proposals`, inserted as `record_proposals` inserts them (their CACHED and REJECTED
           ones numbered after the results);
        3. `running` (iid -> worker), marked running as `mark_running` marks one: a TRAIN
           proposal of this call is inserted RUNNING with attempts 1, a stored PENDING or
           RUNNING individual gets attempts + 1;
        4. `cache_entries` (program hash, config key, fitness) inserted into the fitness cache if
           their key is absent, as `cache_put` does, with this search as their source: an
           entry is then committed with the result it comes from, never without it;
        5. the engine state replaced by `engine_state` (`state_dict(include_programs=False)`
           taken after the reports and proposals; None leaves the stored one: pass it whenever
           results or proposals changed it).

        Any conflict that those methods raise (an individual already final or unknown, a
        proposal id already stored, a parent not stored, a lost lease) rolls the whole turn
        back: nothing of it is written. Returns a TurnRecord: the search's status read under
        its row lock, the attempt count of each candidate in `running`, and the cache keys
        that already had an entry. Not idempotent, like its parts.

        Durability: a crash of the caller loses nothing committed. PostgreSQL keeps every
        commit through a crash of the server too (unless its operator turned synchronous_commit
        off); SQLite in WAL mode with synchronous=NORMAL may lose the last turns committed
        before a crash of the machine, each whole, never a part, so the search resumes from an
        earlier turn and evaluates those candidates again."""

    def record_proposals(
        self,
        search_id: int,
        proposals: Sequence[Proposal],
        engine_state: Mapping[str, Any],
        lease_holder: str | None = None,
    ) -> None:
        """Inserts one individual per proposal (TRAIN -> PENDING, CACHED -> CACHED with the
        cached fitness, REJECTED -> REJECTED with the gate's reason) and replaces the engine
        state, in one transaction. `engine_state` is `state_dict(include_programs=False)` taken
        after the proposals were made. An empty `proposals` only saves the state. A proposal
        id already stored in the search raises StateConflictError; a parent id that is not
        stored in the search is a conflict too. Not idempotent: a driver retrying after an
        ambiguous failure (the connection dropped at commit) checks with `get_individual`
        whether the first attempt was applied. (`record_turn` with proposals alone.)"""
        self.record_turn(
            search_id, proposals=proposals, engine_state=engine_state, lease_holder=lease_holder
        )

    def mark_running(
        self, search_id: int, iid: int, worker: str, lease_holder: str | None = None
    ) -> int:
        """Records that `worker` starts evaluating the individual: status RUNNING, attempts + 1,
        `started_at` now. Allowed from PENDING and from RUNNING (a resubmission after an
        evaluator died); otherwise StateConflictError. Returns the attempt count.
        (`record_turn` with one candidate in `running`.)"""
        turn = self.record_turn(search_id, running={iid: worker}, lease_holder=lease_holder)
        return turn.attempts[iid]

    def record_result(
        self,
        search_id: int,
        iid: int,
        evaluation: Evaluation,
        engine_state: Mapping[str, Any],
        lease_holder: str | None = None,
    ) -> None:
        """Stores the evaluation of a PENDING or RUNNING individual and replaces the engine state
        (`state_dict(include_programs=False)` after `report`) in one transaction. An individual
        that already has a final status raises StateConflictError with that status, and nothing
        is written: there are no silent duplicates. Idempotency is the caller's: a driver
        that retries after an ambiguous failure and gets this conflict for the SAME evaluation
        knows its first attempt committed (compare with `get_individual`) and may go on.
        (`record_turn` with one result.)"""
        self.record_turn(
            search_id,
            results=[(iid, evaluation)],
            engine_state=engine_state,
            lease_holder=lease_holder,
        )

    # -- what a resuming driver reads ------------------------------------------------------------

    @abc.abstractmethod
    def get_engine_state(self, search_id: int) -> dict[str, Any] | None:
        """The engine state last written (None before the first write)."""

    @abc.abstractmethod
    def pending_individuals(self, search_id: int) -> list[IndividualRecord]:
        """The PENDING and RUNNING individuals, by iid, with their DNA: what a resumed driver
        resubmits."""

    @abc.abstractmethod
    def load_programs(self, search_id: int, iids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """{iid: DNA as JSON} for the given individuals (what `RegularizedEvolution.from_state`
        needs as `programs`); iids not stored are absent from the answer."""

    # -- reads for the API and the dashboard -----------------------------------------------------

    @abc.abstractmethod
    def get_individual(self, search_id: int, iid: int) -> IndividualRecord:
        """The individual with its DNA and result. NotFoundError for an unknown search or iid."""

    @abc.abstractmethod
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
        """One page of a search's individuals, sorted by `sort_by` (iid, created, fitness,
        parameter_count or step_seconds; ties broken by iid in the same direction; individuals
        without the value come last in both directions), optionally only those with the given
        status(es) and only those among `iids` (e.g. the engine's population; ids not stored are
        ignored). Reads only the page and a count, never the population. `details` adds each
        one's DNA and result."""

    @abc.abstractmethod
    def lineage(self, search_id: int, iid: int) -> list[IndividualRecord]:
        """The individual, its parent, its parent's parent... up to the first generation (whose
        parent is the seed): child first. NotFoundError for an unknown individual."""

    @abc.abstractmethod
    def best(
        self,
        search_id: int,
        k: int = 10,
        statuses: Collection[IndividualStatus] = (IndividualStatus.DONE,),
    ) -> list[IndividualRecord]:
        """The k lowest-fitness individuals among those with the given statuses (by default
        those trained to the end: truncated and cached fitness are not new full evaluations),
        ties by iid, with their DNA and result."""

    @abc.abstractmethod
    def status_counts(self, search_id: int) -> dict[IndividualStatus, int]:
        """How many individuals have each status (every status present, zeros included)."""

    @abc.abstractmethod
    def mutation_statistics(self, search_id: int) -> list[MutationStats]:
        """Per mutation type, by type name: see MutationStats."""

    @abc.abstractmethod
    def status_counts_by_search(
        self, search_ids: Collection[int]
    ) -> dict[int, dict[IndividualStatus, int]]:
        """`status_counts` of several searches in one query (a page of the search list): every
        given id gets every status, zeros included (an unknown id too: no NotFoundError)."""

    @abc.abstractmethod
    def fitness_points(
        self, search_id: int, after_seq: int = 0, limit: int = MAX_POINTS
    ) -> FitnessPoints:
        """The first `limit` (1 to MAX_POINTS) individuals with a training result (DONE,
        STOPPED, FAILED) whose finish_seq is greater than `after_seq`, in finish_seq order, as
        columns (see FitnessPoints). Every individual gets its finish_seq when its status
        becomes final, one more than the last in its search, so a client that asks again with
        the `last_seq` it got receives exactly the results recorded since, in order."""

    @abc.abstractmethod
    def hurdle_histogram(self, search_id: int) -> dict[tuple[IndividualStatus, int], int]:
        """{(status, hurdle_reached): how many} over the individuals with a training result
        (DONE, STOPPED, FAILED); pairs with none are absent. With status STOPPED,
        hurdle_reached is the hurdle that stopped the candidate."""

    @abc.abstractmethod
    def reason_counts(
        self, search_id: int, status: IndividualStatus, limit: int = DEFAULT_REASONS
    ) -> list[ReasonCount]:
        """The individuals with `status` (FAILED or REJECTED: those with an error), grouped by
        the reason of their error (see ReasonCount), most frequent first (ties by reason), the
        first `limit` (1 to MAX_PAGE_SIZE) reasons."""

    # -- the fitness cache -----------------------------------------------------------------------

    @abc.abstractmethod
    def cache_get(self, program_hash: str, config_key: str) -> CachedFitness | None:
        """The cached fitness of a program under a training config key, if any."""

    @abc.abstractmethod
    def cache_entries(self, config_key: str, source_search_id: int) -> dict[str, CachedFitness]:
        """{program hash: fitness} of the entries under `config_key` that `source_search_id`
        put: what a resumed driver knows of its own search's evaluations without asking."""

    @abc.abstractmethod
    def cache_shared(self, config_key: str, search_id: int) -> bool:
        """Whether an entry under `config_key` was put by another search than `search_id` (or
        by none): if not, a lookup for a program this search never put finds nothing (as of
        this call). Reads an index, whatever the number of entries."""

    @abc.abstractmethod
    def cache_put(
        self,
        program_hash: str,
        config_key: str,
        value: CachedFitness,
        source_search_id: int | None = None,
    ) -> bool:
        """Inserts the entry if the key is absent (the first evaluation wins; concurrent puts
        from several searches are safe). Returns whether it was inserted."""

    def fitness_cache(self, search_id: int | None = None) -> StoreFitnessCache:
        """This store as a `primer_search.fitness_cache.FitnessCache` for the engine; entries it
        puts name `search_id` as their source."""
        return StoreFitnessCache(self, search_id)

    # -- the driver's lease ----------------------------------------------------------------------

    @abc.abstractmethod
    def acquire_lease(self, search_id: int, holder: str, ttl_seconds: float) -> bool:
        """Takes the search's lease for `holder` for `ttl_seconds` (by the database's clock) if it
        is free, expired, or already held by `holder` (then it is renewed). Returns whether
        `holder` holds it now."""

    @abc.abstractmethod
    def heartbeat(self, search_id: int, holder: str) -> bool:
        """Renews `holder`'s lease for its TTL. False if `holder` no longer holds it (released,
        or expired and taken over): the driver must stop. A lease that expired but was not
        taken over is still the holder's, and renewed."""

    @abc.abstractmethod
    def release_lease(self, search_id: int, holder: str) -> bool:
        """Gives the lease up if `holder` holds it; returns whether it did."""

    # -- lifetime --------------------------------------------------------------------------------

    def location(self) -> str | None:
        """Where another process can open this store (its URL, password included: never log
        it), or None when only this process can (an in-memory database). The driver writes its
        turns from a process of its own when there is one (service/write_process.py)."""
        return None

    def close(self) -> None:  # noqa: B027 (optional for backends without resources)
        """Releases connections; the store must not be used afterwards."""

    def __enter__(self) -> SearchStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# Offsets and ids must fit a signed 64-bit integer, the widest both backends bind.
MAX_OFFSET = 2**63 - 1


def check_page(offset: int, limit: int) -> None:
    if not 0 <= offset <= MAX_OFFSET:
        raise StoreArgumentError(f"offset must be between 0 and {MAX_OFFSET}, got {offset}")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise StoreArgumentError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")


def check_sort_key(sort_by: str) -> None:
    if sort_by not in SORT_KEYS:
        raise StoreArgumentError(f"sort_by must be one of {', '.join(SORT_KEYS)}, got {sort_by!r}")
