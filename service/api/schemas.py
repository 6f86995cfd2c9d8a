"""The API's response bodies, in families per resource (full-stack-fastapi-template): `XPublic`
for one item, `XsPublic` for a page of them. Request bodies are the library's own models
(`SearchConfig`, a DNA as a JSON object). Built from the store's records by the `from_*`
constructors, so the routes stay short."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from primer_search.errors import ValidationIssue
from service.export import readable_code
from service.progress import (
    HurdleLevel,
    SearchProgress,
    SearchStatistics,
    progress_of,
)
from service.store import (
    FitnessPoints,
    IndividualRecord,
    IndividualStatus,
    MutationStats,
    Page,
    ReasonCount,
    SearchRecord,
    SearchStatus,
)


class Message(BaseModel):
    detail: str


class HealthPublic(BaseModel):
    status: str
    version: str
    database: str  # the backend's name: sqlite or postgresql


# -- seeds and DNA ----------------------------------------------------------------------------


class SeedSummary(BaseModel):
    name: str
    note: str
    num_subprograms: int
    num_instructions: int
    program_hash: str


class SeedsPublic(BaseModel):
    data: list[SeedSummary]
    count: int


class SeedPublic(SeedSummary):
    dna: dict[str, Any]
    code: str


class IssuePublic(BaseModel):
    subprogram: int | None
    instruction: int | None
    field: str | None
    message: str

    @classmethod
    def from_issue(cls, issue: ValidationIssue) -> IssuePublic:
        return cls(**issue.to_dict())


class SizingPublic(BaseModel):
    preset: str
    base_unit: int
    d_model: int
    block_parameters: int
    parameter_count: int


class DNAValidationPublic(BaseModel):
    """`valid` with the analytic size under `preset`, or the issues. A valid program that no
    base unit fits into the preset's parameter range has `sizing_error` instead of `sizing`."""

    valid: bool
    issues: list[IssuePublic]
    program_hash: str | None = None
    sizing: SizingPublic | None = None
    sizing_error: str | None = None


# -- searches ---------------------------------------------------------------------------------


class SearchPublic(BaseModel):
    id: int
    name: str
    status: SearchStatus
    num_individuals: int
    num_finished: int
    best_fitness: float | None
    best_iid: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    driven: bool  # its lease is held: a driver (here or in another process) works on it
    # From service/progress.py; None in pages built without the status counts (the CLI's list).
    evaluated: int | None = None  # done + stopped at a hurdle + failed
    elapsed_seconds: float | None = None
    evaluations_per_hour: float | None = None

    @classmethod
    def from_progress(cls, p: SearchProgress) -> SearchPublic:
        return cls.from_record(p.search).model_copy(
            update={
                "evaluated": p.evaluated,
                "elapsed_seconds": p.elapsed_seconds,
                "evaluations_per_hour": p.evaluations_per_hour,
            }
        )

    @classmethod
    def from_record(cls, s: SearchRecord) -> SearchPublic:
        return cls(
            id=s.id,
            name=s.name,
            status=s.status,
            num_individuals=s.num_individuals,
            num_finished=s.num_finished,
            best_fitness=s.best_fitness,
            best_iid=s.best_iid,
            error=s.error,
            created_at=s.created_at,
            updated_at=s.updated_at,
            started_at=s.started_at,
            finished_at=s.finished_at,
            driven=s.lease_active,
        )


class SearchesPublic(BaseModel):
    data: list[SearchPublic]
    total: int
    offset: int
    limit: int

    @classmethod
    def from_page(
        cls,
        page: Page[SearchRecord],
        counts: Mapping[int, Mapping[IndividualStatus, int]] | None = None,
        now: datetime | None = None,
    ) -> SearchesPublic:
        """With `counts` (`store.status_counts_by_search` of the page's ids), each item has its
        progress numbers; without, they are None."""
        data = [
            SearchPublic.from_record(s)
            if counts is None
            else SearchPublic.from_progress(progress_of(s, counts[s.id], now))
            for s in page.items
        ]
        return cls(data=data, total=page.total, offset=page.offset, limit=page.limit)


class SearchCounts(BaseModel):
    evaluated: int  # done + stopped at a hurdle + failed: what the budget counts
    done: int
    running: int
    pending: int
    failed: int
    stopped_at_hurdle: int
    cache_hits: int
    rejected: int


class SearchDetailPublic(SearchPublic):
    config: dict[str, Any]
    counts: SearchCounts

    @classmethod
    def from_progress(cls, p: SearchProgress) -> SearchDetailPublic:
        c = p.counts
        counts = SearchCounts(
            evaluated=p.evaluated,
            done=c[IndividualStatus.DONE],
            running=c[IndividualStatus.RUNNING],
            pending=c[IndividualStatus.PENDING],
            failed=c[IndividualStatus.FAILED],
            stopped_at_hurdle=c[IndividualStatus.STOPPED],
            cache_hits=c[IndividualStatus.CACHED],
            rejected=c[IndividualStatus.REJECTED],
        )
        return cls(
            **SearchPublic.from_progress(p).model_dump(), config=p.search.config, counts=counts
        )


# -- individuals ------------------------------------------------------------------------------


class IndividualPublic(BaseModel):
    iid: int
    kind: str
    status: IndividualStatus
    program_hash: str
    parent_iid: int | None
    mutation_type: str | None
    attempts: int
    worker: str | None
    fitness: float | None
    perplexity: float | None
    hurdle_fitness: list[float]
    hurdle_reached: int
    error: str | None
    parameter_count: int | None
    step_seconds: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    finish_seq: int | None  # its place in the order results arrived (see PointsPublic)

    @classmethod
    def from_record(cls, r: IndividualRecord) -> IndividualPublic:
        return cls(**_summary_fields(r))


def _summary_fields(r: IndividualRecord) -> dict[str, Any]:
    names = IndividualPublic.model_fields.keys()
    fields = {name: getattr(r, name) for name in names}
    fields["hurdle_fitness"] = list(r.hurdle_fitness)
    return fields


class IndividualsPublic(BaseModel):
    data: list[IndividualPublic]
    total: int
    offset: int
    limit: int

    @classmethod
    def from_page(cls, page: Page[IndividualRecord]) -> IndividualsPublic:
        data = [IndividualPublic.from_record(r) for r in page.items]
        return cls(data=data, total=page.total, offset=page.offset, limit=page.limit)


class IndividualDetailPublic(IndividualPublic):
    mutation: dict[str, Any] | None
    dna: dict[str, Any] | None
    code: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_record_with_code(cls, r: IndividualRecord, code: str | None) -> IndividualDetailPublic:
        return cls(**_summary_fields(r), mutation=r.mutation, dna=r.dna, code=code, result=r.result)


class LineageStep(BaseModel):
    """One generation of the chain: the individual, the mutation that made it from its parent,
    and `fitness_change` = its fitness minus its parent's (negative is better; None when either
    has no fitness, or for the first generation, whose parent is the seed)."""

    iid: int
    parent_iid: int | None
    status: IndividualStatus
    mutation_type: str | None
    mutation: dict[str, Any] | None
    fitness: float | None
    fitness_change: float | None


class LineagePublic(BaseModel):
    """Child first; the last step's parent is the seed (`reaches_seed`)."""

    data: list[LineageStep]
    reaches_seed: bool

    @classmethod
    def from_records(cls, chain: list[IndividualRecord]) -> LineagePublic:
        steps = []
        for r, parent in zip(chain, [*chain[1:], None], strict=True):
            change = None
            if parent is not None and r.fitness is not None and parent.fitness is not None:
                change = r.fitness - parent.fitness
            steps.append(
                LineageStep(
                    iid=r.iid,
                    parent_iid=r.parent_iid,
                    status=r.status,
                    mutation_type=r.mutation_type,
                    mutation=r.mutation,
                    fitness=r.fitness,
                    fitness_change=change,
                )
            )
        return cls(data=steps, reaches_seed=bool(chain) and chain[-1].parent_iid is None)


class BestPublic(BaseModel):
    data: list[IndividualDetailPublic]
    count: int


class DiffLine(BaseModel):
    """One line of a diff: `old` / `new` are its 1-based line numbers in the parent's / the
    child's code (None on the side it is not in)."""

    op: Literal["equal", "insert", "delete"]
    text: str
    old: int | None
    new: int | None


class DiffPublic(BaseModel):
    """The child's readable code against its parent's (or the search's seed's, for the first
    generation): `parent_label` is "individual <iid>" or "seed <name>"."""

    iid: int
    parent_iid: int | None
    parent_label: str
    mutation: dict[str, Any] | None
    mutation_type: str | None
    lines: list[DiffLine]

    @classmethod
    def from_records(
        cls, child: IndividualRecord, parent_dna: dict[str, Any] | None, parent_label: str
    ) -> DiffPublic:
        return cls(
            iid=child.iid,
            parent_iid=child.parent_iid,
            parent_label=parent_label,
            mutation=child.mutation,
            mutation_type=child.mutation_type,
            lines=code_diff(readable_code(parent_dna) or "", readable_code(child.dna) or ""),
        )


def code_diff(old: str, new: str) -> list[DiffLine]:
    """Every line of both codes, in order: equal ones once, a changed block as its deleted lines
    then its inserted ones (difflib's opcodes; autojunk off: programs repeat lines)."""
    a, b = old.splitlines(), new.splitlines()
    lines = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [
                DiffLine(op="equal", text=a[i], old=i + 1, new=j + 1)
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        lines += [DiffLine(op="delete", text=a[i], old=i + 1, new=None) for i in range(i1, i2)]
        lines += [DiffLine(op="insert", text=b[j], old=None, new=j + 1) for j in range(j1, j2)]
    return lines


# -- the dashboard's aggregates -----------------------------------------------------------------


class PointsPublic(BaseModel):
    """Individuals with a training result in the order their results arrived, as parallel
    columns (one entry per point in each list). `seconds`: finished_at minus the search's
    started_at. Poll with `?after=<last_seq>` for the points recorded since."""

    search_id: int
    started_at: datetime | None
    count: int
    last_seq: int | None
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

    @classmethod
    def from_points(cls, p: FitnessPoints) -> PointsPublic:
        return cls(**vars(p), count=p.count, last_seq=p.last_seq)


class MutationStatsPublic(BaseModel):
    mutation_type: str
    applied: int
    compared: int
    beat_parent: int
    mean_fitness_change: float | None

    @classmethod
    def from_stats(cls, m: MutationStats) -> MutationStatsPublic:
        return cls(**vars(m))


class HurdleLevelPublic(BaseModel):
    hurdle: int
    reached: int
    passed: int
    pass_rate: float | None

    @classmethod
    def from_level(cls, level: HurdleLevel) -> HurdleLevelPublic:
        return cls(**vars(level))


class HurdlesPublic(BaseModel):
    count: int
    positions: list[float]
    levels: list[HurdleLevelPublic]
    stopped: int
    budget_fraction_saved: float | None
    training_seconds_saved: float | None


class ReasonPublic(BaseModel):
    reason: str
    count: int

    @classmethod
    def from_reason(cls, r: ReasonCount) -> ReasonPublic:
        return cls(reason=r.reason, count=r.count)


class StatisticsPublic(BaseModel):
    """What a search's evaluations did: counts by status, the mutation types' record, the
    hurdles' pass rates and savings, and why candidates failed or were rejected (the 20 most
    frequent reasons each)."""

    counts: dict[IndividualStatus, int]
    evaluated: int
    cache_hits: int
    rejected: int
    mutations: list[MutationStatsPublic]
    hurdles: HurdlesPublic
    failures: list[ReasonPublic]
    rejections: list[ReasonPublic]

    @classmethod
    def from_statistics(cls, s: SearchStatistics) -> StatisticsPublic:
        h = s.hurdles
        hurdles = HurdlesPublic(
            count=h.count,
            positions=h.positions,
            levels=[HurdleLevelPublic.from_level(level) for level in h.levels],
            stopped=h.stopped,
            budget_fraction_saved=h.budget_fraction_saved,
            training_seconds_saved=h.training_seconds_saved,
        )
        return cls(
            counts=s.counts,
            evaluated=s.evaluated,
            cache_hits=s.counts[IndividualStatus.CACHED],
            rejected=s.counts[IndividualStatus.REJECTED],
            mutations=[MutationStatsPublic.from_stats(m) for m in s.mutations],
            hurdles=hurdles,
            failures=[ReasonPublic.from_reason(r) for r in s.failures],
            rejections=[ReasonPublic.from_reason(r) for r in s.rejections],
        )
