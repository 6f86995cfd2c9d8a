"""The API's response bodies, in families per resource (full-stack-fastapi-template): `XPublic`
for one item, `XsPublic` for a page of them. Request bodies are the library's own models
(`SearchConfig`, a DNA as a JSON object). Built from the store's records by the `from_*`
constructors, so the routes stay short."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from primer_search.errors import ValidationIssue
from service.progress import SearchProgress
from service.store import IndividualRecord, IndividualStatus, Page, SearchRecord, SearchStatus


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
    def from_page(cls, page: Page[SearchRecord]) -> SearchesPublic:
        data = [SearchPublic.from_record(s) for s in page.items]
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
    elapsed_seconds: float | None
    evaluations_per_hour: float | None

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
            **SearchPublic.from_record(p.search).model_dump(),
            config=p.search.config,
            counts=counts,
            elapsed_seconds=p.elapsed_seconds,
            evaluations_per_hour=p.evaluations_per_hour,
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
