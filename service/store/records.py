"""The values the store reads and writes: statuses, records of searches and individuals, pages.

Plain frozen dataclasses, no SQL: the API turns them into its response schemas, the driver reads
them to resume. JSON payloads (config, DNA, mutation record, result record, engine state) are
kept as the JSON-ready dicts the core produces (`DNA.to_dict`, `model_dump(mode="json")`,
`state_dict`), so the store never needs TensorFlow or the evolution engine to read them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from service.store.errors import StoreArgumentError

if TYPE_CHECKING:  # importing the training package would import TensorFlow
    from primer_search.training.result import TrainResult

T = TypeVar("T")


class SearchStatus(str, enum.Enum):
    CREATED = "created"  # stored, never driven yet
    RUNNING = "running"  # a driver proposes and evaluates
    PAUSED = "paused"  # no new proposals; resumable
    STOPPED = "stopped"  # stopped by the user; resumable only if the controller allows it
    FINISHED = "finished"  # reached its evaluation budget or deadline
    FAILED = "failed"  # the driver gave up (the reason is in `SearchRecord.error`)


class IndividualStatus(str, enum.Enum):
    PENDING = "pending"  # proposed for training, not yet handed to an evaluator
    RUNNING = "running"  # handed to an evaluator (see `attempts` and `worker`)
    DONE = "done"  # trained the whole budget
    STOPPED = "stopped"  # stopped at a hurdle; its fitness is the truncated one
    FAILED = "failed"  # training failed (or ran out of attempts); see `error`
    CACHED = "cached"  # not trained: the fitness cache knew its program
    REJECTED = "rejected"  # not trained: the static gate refused it; see `error`


UNFINISHED = frozenset({IndividualStatus.PENDING, IndividualStatus.RUNNING})
RESULT_STATUSES = frozenset(
    {IndividualStatus.DONE, IndividualStatus.STOPPED, IndividualStatus.FAILED}
)

SORT_KEYS = ("iid", "created", "fitness", "parameter_count", "step_seconds")
# The sort keys a value may be missing from (not trained, failed): those sort last either way.
NULLABLE_SORT_KEYS = frozenset({"fitness", "parameter_count", "step_seconds"})


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: `items` from position `offset`, and `total` matching rows."""

    items: list[T]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class SearchRecord:
    """A search without its engine state (read that with `get_engine_state`: it can be large).

    `num_individuals` counts every stored individual, `num_finished` those in a final status,
    `best_fitness` / `best_iid` the lowest fitness among DONE individuals. The lease is
    `lease_active` when it has a holder and has not expired by the database's clock."""

    id: int
    name: str
    status: SearchStatus
    config: dict[str, Any]
    seed_dna: dict[str, Any]
    num_individuals: int
    num_finished: int
    best_fitness: float | None
    best_iid: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_holder: str | None
    lease_expires_at: datetime | None
    lease_active: bool


@dataclass(frozen=True)
class IndividualRecord:
    """One proposal of the engine and what became of it.

    `iid` is the engine's proposal id (unique in its search). `dna` and `result` are None in
    list pages unless details were asked for; `mutation` (the MutationRecord as a dict) is always
    there, None for copies of the seed. `hurdle_reached` is the number of hurdles at which the
    candidate was evaluated (with status STOPPED, the hurdle that stopped it). `finish_seq` is
    its place in the order in which individuals got their final status (1, 2, ... in its
    search; None while pending or running)."""

    search_id: int
    iid: int
    kind: str  # the engine's ProposalKind value: train, cached, rejected
    status: IndividualStatus
    program_hash: str
    parent_iid: int | None
    mutation_type: str | None
    mutation: dict[str, Any] | None
    attempts: int
    worker: str | None
    fitness: float | None
    perplexity: float | None
    hurdle_fitness: tuple[float, ...]
    hurdle_reached: int
    error: str | None
    parameter_count: int | None
    step_seconds: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    dna: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    finish_seq: int | None = None


@dataclass(frozen=True)
class MutationStats:
    """What one mutation type did in a search. `applied` counts every child it made (whatever
    became of it); `compared` the children that, like their parent, have a fitness (children of
    the seed have no parent row and are never compared); of these, `beat_parent` got a lower
    (better) fitness; `mean_fitness_change` is the mean of child minus parent fitness over the
    compared ones (negative is an improvement), None when none was compared."""

    mutation_type: str
    applied: int
    compared: int
    beat_parent: int
    mean_fitness_change: float | None


@dataclass(frozen=True)
class FitnessPoints:
    """The individuals with a training result (DONE, STOPPED, FAILED), in the order their
    results arrived (`seq`, the finish_seq), as parallel columns: what the dashboard's
    fitness-over-time chart plots. `seconds` is each one's finished_at minus the search's
    `started_at` (None when the search never started). `last_seq` is the last `seq` (None when
    there is none): ask for the points after it next time."""

    search_id: int
    started_at: datetime | None
    seq: list[int]
    iid: list[int]
    status: list[IndividualStatus]
    fitness: list[float | None]
    perplexity: list[float | None]
    hurdle_reached: list[int]
    parameter_count: list[int | None]
    step_seconds: list[float | None]
    seconds: list[float | None]
    mutation_type: list[str | None]
    parent_iid: list[int | None]

    @property
    def count(self) -> int:
        return len(self.seq)

    @property
    def last_seq(self) -> int | None:
        return self.seq[-1] if self.seq else None


@dataclass(frozen=True)
class ReasonCount:
    """How many individuals failed (or were rejected) for one reason. `reason` is the error's
    kind: the text before its first ':' or ';' ("non_finite", "no result after 3 attempt(s)",
    "no base unit puts this program in the 'tiny' range [...] parameters"), or "invalid
    program" for a gate's validation issues (whose text starts with their location)."""

    reason: str
    count: int


@dataclass(frozen=True)
class TurnRecord:
    """What `record_turn` read and counted in its transaction: the search's `status` (read under
    its row lock, so a driver learns of a pause or stop with no query of its own), the attempt
    count of each candidate it marked running (iid -> attempts), and the fitness-cache keys
    that already had an entry (the earlier entry was kept; yours was not written)."""

    status: SearchStatus
    attempts: dict[int, int] = field(default_factory=dict)
    cache_kept: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """The outcome of training one individual, as `record_result` stores it.

    `status` is DONE, STOPPED or FAILED; DONE and STOPPED need a finite fitness. `result` is the
    full record (a TrainResult as JSON), kept whole for the API's detail view."""

    status: IndividualStatus
    fitness: float | None = None
    perplexity: float | None = None
    hurdle_fitness: tuple[float, ...] = ()
    hurdle_reached: int = 0
    error: str | None = None
    parameter_count: int | None = None
    step_seconds: float | None = None
    result: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.status not in RESULT_STATUSES:
            valid = ", ".join(sorted(s.value for s in RESULT_STATUSES))
            raise StoreArgumentError(
                f"an evaluation's status must be one of {valid}, got {self.status.value}"
            )
        if self.status is not IndividualStatus.FAILED and (
            self.fitness is None or not math.isfinite(self.fitness)
        ):
            raise StoreArgumentError(
                f"a {self.status.value} evaluation needs a finite fitness, got {self.fitness}"
            )

    @classmethod
    def from_train_result(cls, result: TrainResult) -> Evaluation:
        status = {
            "ok": IndividualStatus.DONE,
            "stopped_at_hurdle": IndividualStatus.STOPPED,
            "failed": IndividualStatus.FAILED,
        }[result.status.value]
        error = None
        if status is IndividualStatus.FAILED:
            kind = result.failure_kind.value if result.failure_kind else "unknown"
            error = f"{kind}: {result.failure_reason or 'no reason given'}"
        return cls(
            status=status,
            fitness=None if status is IndividualStatus.FAILED else result.fitness,
            perplexity=None if status is IndividualStatus.FAILED else result.perplexity,
            hurdle_fitness=tuple(h.fitness for h in result.hurdles),
            hurdle_reached=len(result.hurdles),
            error=error,
            parameter_count=result.parameter_count,
            step_seconds=result.step_seconds,
            result=result.model_dump(mode="json"),
        )

    @classmethod
    def failure(cls, reason: str, result: Mapping[str, Any] | None = None) -> Evaluation:
        """A failure without a training record (e.g. the evaluator died too many times)."""
        return cls(status=IndividualStatus.FAILED, error=reason, result=result)
