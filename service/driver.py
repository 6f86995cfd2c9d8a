"""The driver of one search (issue 5, "Controller and Ray evaluators").

    driver = SearchDriver(store, search_id, cache_dir=...)
    exit = driver.run()     # acquire the lease, drive to the end (or pause / stop), release

One turn of the loop: heartbeat the lease; submit the candidates of the turns written since
the last one; know the search's status (the API pauses and stops a search through the store);
hand the free evaluators work (resubmitted candidates first, then new children of the engine);
wait with `ray.wait` for an evaluation, with a timeout, and take every one that is back; report
them to the engine. The turn's writes are ONE transaction (`record_turn`): the results that came
back since the last turn, the new proposals, the hand-outs (each attempt counted before its
evaluator gets it) and the fitness-cache entries of the results, with the engine state after all
of it. A writer process (or, for an in-memory store, a thread) writes the turns in order
(service/turn_writer.py), so the driver collects and proposes while the database commits; but
nothing a turn allows happens before it is committed: its candidates are submitted, its results
reported to the progress callback, only then. So a process killed at any instant leaves a
search that `run()` of another driver resumes: the engine restored from the store has the same
pending proposals as the store, and those are resubmitted (see service/search_engine.py);
results that were back but not yet written are simply evaluated again. Each write also reads
the search's status under its row lock; a turn reads it on its own only when the last one read
is older than STATUS_MAX_AGE (after a long wait).

What counts as an evaluation: a TRAIN proposal that got its final result, DONE (trained the whole
budget), STOPPED (at a hurdle) or FAILED (by itself, or out of attempts). CACHED and REJECTED
proposals cost no training: they are recorded and do not count. The search proposes while
evaluated + in flight < max_evaluations and the deadline has not passed; it is FINISHED when
nothing is left in flight after that. The deadline counts from the search's first start, pauses
and interruptions included; work in flight at the deadline is finished, not abandoned.

Pause and stop. PAUSED (by the API): no new proposals; the evaluations in flight finish and are
recorded; the driver then exits (and goes on instead if the status returns to RUNNING before).
STOPPED (by the API, or `request_stop()`, which the CLI's Ctrl-C calls): the evaluators are
killed at once; their candidates stay PENDING / RUNNING in the store and are resubmitted when the
search is resumed. `request_stop(detach=True)` (a server shutting down) does the same but leaves
the status RUNNING, so the next server start resumes the search.

Faults. An evaluator that dies (or raises) costs its candidate an attempt: the candidate is
resubmitted to a fresh evaluator, and recorded FAILED with the reason once it has been handed out
`max_attempts` times (the store's `attempts` counts every hand-out, including those cut short by
an interrupted driver; a resumed driver always gives its candidates one more). An evaluator that
hangs is treated the same: an evaluation still running `candidate_timeout_seconds` after its
hand-out (SearchConfig: by default derived from a seconds budget, none for steps and tokens) has
its evaluator killed and replaced by the pool, and costs its candidate an attempt with the reason
"timed out after X s". A candidate that fails by itself (NaN, a program that does not build) is
an ordinary FAILED result.

One driver per search: the lease (store, base.py). Another live driver's lease makes `run()`
refuse with LeaseHeldError naming it; a lease whose holder died expires after its TTL and is
taken over; a driver that loses its lease stops at once without writing. A driver whose write
hangs (longer than a third of the TTL) stops renewing its lease, as a hung driver would.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from primer_search.evolution import Proposal, ProposalKind, RegularizedEvolution
from service.search_config import SearchConfig
from service.search_engine import SearchSetup, evaluation_of, open_engine, outcome_of
from service.store import (
    Evaluation,
    IndividualStatus,
    LeaseLostError,
    SearchStatus,
    SearchStore,
    StateConflictError,
    StoreError,
)
from service.store.fitness_cache import DriverFitnessCache
from service.turn_writer import Turn, TurnWriter, open_turn_writer
from workers.evaluator import EvaluationRequest, Evaluator, EvaluatorSetup
from workers.pool import Completion, EvaluatorPool, EvaluatorStartError

log = logging.getLogger(__name__)

S = SearchStatus
# The statuses a driver may take a search from: all but FINISHED (a finished search is done;
# FAILED is resumable, e.g. after a database outage or fixing the data).
RESUMABLE = frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.STOPPED, S.FAILED})
DEFAULT_LEASE_TTL = 30.0
# Settled (CACHED / REJECTED) proposals made in one turn at most, so a search whose children
# are all cache hits still heartbeats and reads its status.
MAX_SETTLED_PER_TURN = 200
# Seconds for which the status read by a turn's write decides the next turn's proposals: a
# pause or stop from the API stops the proposals within this (plus a turn), as a read every
# turn would, but under load (a turn every few milliseconds) the writes' reads suffice.
STATUS_MAX_AGE = 0.1
# Seconds between looks for written turns while some are being written and evaluators are busy:
# the driver waits on Ray and on the writer, and can block on only one of them. (The process
# writer also sends its next batch at these looks.)
WRITE_POLL_SECONDS = 0.001
# Seconds a driver that ends waits for the turns it put to be written.
CLOSE_WRITER_SECONDS = 60.0


class LeaseHeldError(StateConflictError):
    """Another driver holds the search's lease (the message names it and its expiry)."""


class SearchFinishedError(StateConflictError):
    """The search is finished: there is nothing to drive."""


class DriverExit(str, enum.Enum):
    """How `run()` ended."""

    FINISHED = "finished"  # the budget or the deadline was reached
    PAUSED = "paused"  # paused by the API; the work in flight was recorded
    STOPPED = "stopped"  # stopped (API, Ctrl-C); work in flight abandoned, resumable
    DETACHED = "detached"  # request_stop(detach=True): status left RUNNING
    LEASE_LOST = "lease_lost"  # another driver took the search over
    FAILED = "failed"  # the evaluators could not start; the search is FAILED with the reason


@dataclass(frozen=True)
class DriverProgress:
    """What the driver reports after each change: for a progress bar and logs. `latest` is the
    individual just recorded (a result, or a settled proposal), if any."""

    search_id: int
    evaluated: int
    max_evaluations: int | None
    in_flight: int
    failed: int
    cache_hits: int
    rejected: int
    best_fitness: float | None
    latest: Proposal | None = None
    evaluation: Evaluation | None = None


ProgressCallback = Callable[[DriverProgress], None]


@dataclass
class _Flight:
    proposal: Proposal
    attempts: int


def new_holder_id() -> str:
    """A lease holder id: readable (host and pid, for the refusal message) and unique."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SearchDriver:
    def __init__(
        self,
        store: SearchStore,
        search_id: int,
        *,
        cache_dir: str | Path,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        poll_seconds: float = 1.0,
        on_progress: ProgressCallback | None = None,
        evaluator_class: type = Evaluator,
        writer_process: bool = True,
    ):
        """`evaluator_class` is what the Ray actors run (see workers/pool.py): `Evaluator` trains;
        benchmarks of the controller pass an instant one. The turns are written by a child
        process when the store can be opened from one (service/write_process.py), unless
        `writer_process` is False: then by a thread of this process."""
        self.store = store
        self.search_id = search_id
        self.cache_dir = str(cache_dir)
        self.lease_ttl = lease_ttl
        self.poll_seconds = min(poll_seconds, lease_ttl / 3)
        self.on_progress = on_progress
        self.evaluator_class = evaluator_class
        self.writer_process = writer_process
        self.holder = new_holder_id()
        self._stop = threading.Event()
        self._detach = False
        self._last_heartbeat = 0.0
        self._flights: dict[object, _Flight] = {}
        self._queue: deque[Proposal] = deque()  # candidates waiting for a free evaluator
        # Reported to the engine, written with the next turn's write.
        self._results: list[tuple[Proposal, Evaluation]] = []
        self._writer: TurnWriter | None = None
        self._reserved: set[int] = set()  # evaluator slots whose hand-out is being written
        self._status_seen: SearchStatus | None = None
        self._status_read_at = -math.inf  # time.monotonic() of the last status read
        self._cache: DriverFitnessCache | None = None
        self._best: float | None = None
        self._max_evaluations: int | None = None
        self.engine: RegularizedEvolution | None = None

    # -- entry points ----------------------------------------------------------------------------

    def run(self) -> DriverExit:
        """Acquire the lease, drive, release the lease."""
        self.acquire()
        return self.drive()

    def request_stop(self, detach: bool = False) -> None:
        """Asks the driver, from any thread or a signal handler, to stop at its next turn (within
        `poll_seconds`): status STOPPED, or left RUNNING with `detach`."""
        self._detach = detach
        self._stop.set()

    def acquire(self) -> None:
        """Takes the lease, or raises LeaseHeldError / SearchFinishedError (NotFoundError for an
        unknown search). Separate from `drive` so a server can refuse synchronously."""
        self._refuse_finished()
        if not self.store.acquire_lease(self.search_id, self.holder, self.lease_ttl):
            raise LeaseHeldError(self._lease_message(), current="leased")
        self._last_heartbeat = time.monotonic()
        try:
            self._refuse_finished()  # it may have finished just before we got the lease
        except SearchFinishedError:
            self.store.release_lease(self.search_id, self.holder)
            raise

    def drive(self) -> DriverExit:
        """Drives the search whose lease `acquire` took, and releases the lease at the end."""
        pool: EvaluatorPool | None = None
        try:
            search = self.store.get_search(self.search_id)
            setup = SearchSetup.from_config(
                SearchConfig.model_validate(search.config), search.seed_dna
            )
            self._best = search.best_fitness
            self._max_evaluations = setup.config.max_evaluations
            self.store.update_status(self.search_id, S.RUNNING, RESUMABLE)
            # The writer first: a writer process starts while the evaluators do.
            self._writer = open_turn_writer(
                self.store, self.search_id, self.holder, process=self.writer_process
            )
            pool = self._start_pool(setup)
            return self._drive(setup, pool)
        except LeaseLostError:
            log.warning("search %s: lease lost; another driver took over", self.search_id)
            return DriverExit.LEASE_LOST
        except EvaluatorStartError as exc:
            self._fail(str(exc))
            return DriverExit.FAILED
        except StoreError:
            raise  # the database is the problem: leave the status for the next driver
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt | SystemExit):
                self._fail(f"the driver crashed: {exc!r}")
            raise
        finally:
            if self._writer is not None:
                self._writer.close(CLOSE_WRITER_SECONDS)
            if pool is not None:
                pool.shutdown()
            self._release()

    # -- the loop --------------------------------------------------------------------------------

    def _drive(self, setup: SearchSetup, pool: EvaluatorPool) -> DriverExit:
        assert self._writer is not None
        info = self._wait_until_started(pool)
        if info is None:
            return self._stopped()
        self._cache = DriverFitnessCache(self.store, self.search_id)
        self.engine = open_engine(
            self.store,
            self.search_id,
            setup,
            info["vocab_size"],
            info["corpus_identity"],
            cache=self._cache,
        )
        self._queue.extend(sorted(self.engine.pending, key=lambda p: p.id))
        self._report_progress()
        deadline = self._deadline(setup.config)
        while True:
            self._heartbeat()
            self._apply_written(setup, pool)
            status = self._status()
            if status is None:
                self._write(pool, [], [])  # the results already back are kept
                self._writer.drain(CLOSE_WRITER_SECONDS)  # their candidates are not submitted
                return self._stopped()
            may_propose = status is S.RUNNING and not _past(deadline)
            self._fill(pool, may_propose)
            if not (self._flights or self._queue or self._reserved or self._writer.pending):
                if status is S.PAUSED:
                    return DriverExit.PAUSED
                if not may_propose or not self._budget_left():
                    return self._finished()
            self._wait(setup, pool)

    def _wait(self, setup: SearchSetup, pool: EvaluatorPool) -> None:
        """Waits for an evaluation to come back (collecting every one that has), or for a
        turn being written to be committed."""
        assert self._writer is not None
        if self._writer.pending and not pool.busy:
            self._writer.wait(self.poll_seconds)
            return
        timeout = WRITE_POLL_SECONDS if self._writer.pending else self.poll_seconds
        for completion in pool.wait(timeout):
            self._collect(setup, completion)

    def _status(self) -> SearchStatus | None:
        """RUNNING or PAUSED: go on (PAUSED: finish what is in flight); None: stop now. The
        status the last write read, if recent enough (STATUS_MAX_AGE), else read now."""
        if self._stop.is_set():
            return None
        if time.monotonic() - self._status_read_at > STATUS_MAX_AGE:
            self._saw(self.store.get_search(self.search_id).status)
        status = self._status_seen
        return status if status in (S.RUNNING, S.PAUSED) else None

    def _saw(self, status: SearchStatus) -> None:
        self._status_seen, self._status_read_at = status, time.monotonic()

    def _fill(self, pool: EvaluatorPool, may_propose: bool) -> None:
        """Hands every idle evaluator a candidate (a resubmitted one, else a new child) in the
        turn it puts to be written."""
        free = [slot for slot in pool.idle() if slot not in self._reserved]
        new = self._propose(len(free) - len(self._queue)) if may_propose else []
        handouts: list[tuple[int, Proposal]] = []
        while free and self._queue:
            handouts.append((free.pop(0), self._queue.popleft()))
        handouts += [(free.pop(0), p) for p in new if p.kind is ProposalKind.TRAIN]
        self._write(pool, new, handouts)

    def _write(
        self, pool: EvaluatorPool, proposals: list[Proposal], handouts: list[tuple[int, Proposal]]
    ) -> None:
        """Puts the turn's one transaction (`record_turn`) to the writer: the results reported
        since the last turn, with their cache entries, the new proposals, and the hand-outs
        (their evaluators reserved until it is written), with the engine state now."""
        assert self.engine is not None and self._cache is not None and self._writer is not None
        results, self._results = self._results, []
        if not (results or proposals or handouts):
            return
        self._reserved.update(slot for slot, _ in handouts)
        self._writer.put(
            Turn(
                results=results,
                proposals=proposals,
                handouts=handouts,
                running={proposal.id: pool.worker(slot) for slot, proposal in handouts},
                engine_state=(
                    self.engine.state_dict(include_programs=False)
                    if results or proposals
                    else None  # hand-outs alone (resubmissions) leave the engine as it was
                ),
                cache_entries=self._cache.take_unsaved(),
            )
        )

    def _apply_written(self, setup: SearchSetup, pool: EvaluatorPool) -> None:
        """What the turns written since allow: their candidates are submitted, and their
        results and settled proposals reported (raises the error of a failed write)."""
        assert self._cache is not None and self._writer is not None
        for turn, record in self._writer.written():
            self._cache.forget(record.cache_kept)
            self._saw(record.status)
            for slot, proposal in turn.handouts:
                self._reserved.discard(slot)
                self._submit(setup, pool, slot, proposal, record.attempts[proposal.id])
            for proposal, evaluation in turn.results:
                if evaluation.status is IndividualStatus.DONE and evaluation.fitness is not None:
                    self._best = min(evaluation.fitness, self._best or evaluation.fitness)
                self._report_progress(proposal, evaluation)
            for proposal in turn.proposals:
                if proposal.kind is not ProposalKind.TRAIN:
                    self._report_progress(proposal)

    def _propose(self, wanted: int) -> list[Proposal]:
        """Up to `wanted` new TRAIN proposals (and the settled ones made on the way); the turn's
        write records them with the engine state before any is submitted."""
        assert self.engine is not None
        proposals: list[Proposal] = []
        trained = settled = 0
        while trained < wanted and settled < MAX_SETTLED_PER_TURN:
            if not self._budget_left(extra=trained):
                break
            proposal = self.engine.propose()
            if proposal is None:  # no parent yet: wait for a result
                break
            proposals.append(proposal)
            trained += proposal.kind is ProposalKind.TRAIN
            settled += proposal.kind is not ProposalKind.TRAIN
        return proposals

    def _submit(
        self, setup: SearchSetup, pool: EvaluatorPool, slot: int, proposal: Proposal, attempts: int
    ) -> None:
        request = EvaluationRequest(
            iid=proposal.id,
            dna=proposal.dna.to_dict(),
            budget=setup.config.budget,
            hurdles=setup.config.hurdles,
            thresholds=proposal.hurdle_thresholds,
            seed=setup.training_seed(proposal.id),
        )
        self._flights[pool.submit(slot, request)] = _Flight(proposal, attempts)

    def _collect(self, setup: SearchSetup, completion: Completion) -> None:
        flight = self._flights.pop(completion.ref)
        if completion.record is not None:
            self._report(flight.proposal, evaluation_of(completion.record))
        elif flight.attempts >= setup.config.max_attempts:
            reason = f"no result after {flight.attempts} attempt(s); last: {completion.lost}"
            self._report(flight.proposal, Evaluation.failure(reason))
        else:
            log.warning(
                "search %s: candidate %s lost (%s); resubmitting",
                *(self.search_id, flight.proposal.id, completion.lost),
            )
            self._queue.appendleft(flight.proposal)

    def _report(self, proposal: Proposal, evaluation: Evaluation) -> None:
        """Tells the engine; the next turn's write records it."""
        assert self.engine is not None
        self.engine.report(proposal.id, outcome_of(evaluation))
        self._results.append((proposal, evaluation))

    # -- budget, lease, status -------------------------------------------------------------------

    def _budget_left(self, extra: int = 0) -> bool:
        if self._max_evaluations is None:
            return True
        return self.evaluated + self._in_flight + extra < self._max_evaluations

    @property
    def _in_flight(self) -> int:
        """Candidates handed out or waiting to be: submitted, being written, or queued."""
        return len(self._flights) + len(self._reserved) + len(self._queue)

    @property
    def evaluated(self) -> int:
        counters = self.engine.counters if self.engine else None
        return counters.trained + counters.failed if counters else 0

    def _deadline(self, config: SearchConfig) -> datetime | None:
        if config.deadline_seconds is None:
            return None
        started = self.store.get_search(self.search_id).started_at
        assert started is not None  # set when the search became RUNNING
        return started + timedelta(seconds=config.deadline_seconds)

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat < self.lease_ttl / 3:
            return
        if self._writer is not None and self._writer.writing_for() > self.lease_ttl / 3:
            return  # a write hangs: the lease lapses, as it would if the driver hung itself
        if not self.store.heartbeat(self.search_id, self.holder):
            raise LeaseLostError(f"search {self.search_id}: this driver's lease was taken over")
        self._last_heartbeat = time.monotonic()

    def _start_pool(self, setup: SearchSetup) -> EvaluatorPool:
        resources = setup.config.resources
        evaluator_setup = EvaluatorSetup(
            data=setup.data,
            cache_dir=self.cache_dir,
            model_config=setup.model_config,
            train_config=setup.train_config,
            threads=max(1, int(resources.num_cpus)),
        )
        pool = EvaluatorPool(
            setup.config.evaluators,
            evaluator_setup,
            resources.num_cpus,
            resources.num_gpus,
            evaluator_class=self.evaluator_class,
            candidate_timeout=setup.config.candidate_timeout_seconds,
        )
        pool.start()
        return pool

    def _wait_until_started(self, pool: EvaluatorPool) -> dict[str, Any] | None:
        """The first evaluator's description once it has started (TensorFlow imported, corpus
        open), heartbeating meanwhile; None if asked to stop first."""
        while pool.info is None:
            if self._stop.is_set():
                return None
            self._heartbeat()
            pool.wait(self.poll_seconds)
        return pool.info

    def _finished(self) -> DriverExit:
        try:
            self.store.update_status(self.search_id, S.FINISHED, {S.RUNNING})
        except StateConflictError as exc:  # paused or stopped at the last moment: theirs
            log.info("search %s: not marked finished (%s)", self.search_id, exc)
        return DriverExit.FINISHED

    def _stopped(self) -> DriverExit:
        """The evaluators are killed by `drive`'s clean-up; the candidates in flight stay
        PENDING / RUNNING in the store for the next driver."""
        if self._stop.is_set() and self._detach:
            return DriverExit.DETACHED
        if self._stop.is_set():
            # Already stopped, or finished by the API meanwhile: leave it.
            with contextlib.suppress(StateConflictError):
                self.store.update_status(self.search_id, S.STOPPED, {S.RUNNING, S.PAUSED})
        return DriverExit.STOPPED

    def _fail(self, reason: str) -> None:
        try:
            self.store.update_status(self.search_id, S.FAILED, RESUMABLE, error=reason)
        except StoreError as exc:
            log.error("search %s: could not record the failure %r: %s", self.search_id, reason, exc)

    def _release(self) -> None:
        try:
            self.store.release_lease(self.search_id, self.holder)
        except StoreError as exc:  # it expires by itself after its TTL
            log.warning("search %s: could not release the lease: %s", self.search_id, exc)

    def _refuse_finished(self) -> None:
        if self.store.get_search(self.search_id).status is S.FINISHED:
            raise SearchFinishedError(
                f"search {self.search_id} is finished; there is nothing to resume",
                current=S.FINISHED.value,
            )

    def _lease_message(self) -> str:
        search = self.store.get_search(self.search_id)
        until = search.lease_expires_at
        when = until.astimezone(timezone.utc).strftime("%H:%M:%S UTC") if until else "soon"
        return (
            f"search {self.search_id} is being driven by {search.lease_holder} (its lease runs "
            f"until {when}); only one driver may drive a search. If that driver is dead, its "
            "lease expires by then and another driver can take over."
        )

    def _report_progress(
        self, latest: Proposal | None = None, evaluation: Evaluation | None = None
    ) -> None:
        if self.on_progress is None or self.engine is None:
            return
        counters = self.engine.counters
        self.on_progress(
            DriverProgress(
                search_id=self.search_id,
                evaluated=self.evaluated,
                max_evaluations=self._max_evaluations,
                in_flight=self._in_flight,
                failed=counters.failed,
                cache_hits=counters.cache_hits,
                rejected=counters.rejected,
                best_fitness=self._best,
                latest=latest,
                evaluation=evaluation,
            )
        )


def _past(deadline: datetime | None) -> bool:
    return deadline is not None and datetime.now(timezone.utc) >= deadline
