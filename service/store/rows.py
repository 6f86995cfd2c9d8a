"""How the store's table rows become records (records.py) and proposals become rows, and the
column sets, filters and orders the SQL store's queries share."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_

from primer_search.evolution import Proposal, ProposalKind
from service.store.records import (
    NULLABLE_SORT_KEYS,
    UNFINISHED,
    IndividualRecord,
    IndividualStatus,
    SearchRecord,
    SearchStatus,
)
from service.store.schema import db_epoch, individuals, searches

SEARCH_COLUMNS = [c for c in searches.c if c.name != "engine_state"]
LEASE_ACTIVE = and_(
    searches.c.lease_holder.is_not(None), searches.c.lease_expires_at > db_epoch()
).label("lease_active")
SUMMARY_COLUMNS = [c for c in individuals.c if c.name not in ("dna", "result")]
DETAIL_COLUMNS = [*SUMMARY_COLUMNS, individuals.c.dna, individuals.c.result]


def status_values(statuses: Any) -> list[str]:
    if isinstance(statuses, (SearchStatus, IndividualStatus)):
        return [statuses.value]
    return [s.value for s in statuses]


def individual_is(search_id: int, iid: int) -> tuple[ColumnElement[bool], ...]:
    return individuals.c.search_id == search_id, individuals.c.iid == iid


def unfinished() -> ColumnElement[bool]:
    return individuals.c.status.in_(status_values(UNFINISHED))


def unfinished_inline() -> ColumnElement[bool]:
    """`unfinished()` with the statuses written into the SQL, for statements run with many
    parameter sets (executemany takes no IN list parameter)."""
    values: list[ColumnElement[str]] = [
        literal_column(f"'{status}'") for status in sorted(status_values(UNFINISHED))
    ]
    return individuals.c.status.in_(values)


def order_by(sort_by: str, descending: bool) -> list[Any]:
    column = {
        "iid": individuals.c.iid,
        "created": individuals.c.created_at,
        "fitness": individuals.c.fitness,
        "parameter_count": individuals.c.parameter_count,
        "step_seconds": individuals.c.step_seconds,
    }[sort_by]
    keys = [column, individuals.c.iid] if column is not individuals.c.iid else [column]
    ordered = [k.desc() if descending else k.asc() for k in keys]
    if sort_by in NULLABLE_SORT_KEYS:
        ordered[0] = ordered[0].nulls_last()
    return ordered


# A gate's validation issues start with their location ("subprogram 2, instruction 5: ..."):
# grouped under one reason, not one per location.
_ISSUE_PREFIXES = ("subprogram %", "instruction %", "field %", "program: %")
MAX_REASON_CHARS = 120


def reason_key(dialect: str) -> ColumnElement[str]:
    """An error's reason, in SQL: the text before its first ':' and ';' (a failure's kind, such
    as "non_finite: ...", "no result after 3 attempt(s); last: ..."), trimmed; "invalid
    program" for validation issues; "unknown" for none. See ReasonCount."""
    position = func.strpos if dialect == "postgresql" else func.instr
    error = func.coalesce(individuals.c.error, literal_column("'unknown'"))

    def before(text: ColumnElement[str], separator: str) -> ColumnElement[str]:
        at = position(text, literal_column(f"'{separator}'"))
        return case((at > 0, func.substr(text, 1, at - 1)), else_=text)

    kind = func.substr(func.trim(before(before(error, ":"), ";")), 1, MAX_REASON_CHARS)
    is_issue = or_(*(error.like(literal_column(f"'{p}'")) for p in _ISSUE_PREFIXES))
    return case((is_issue, literal_column("'invalid program'")), else_=kind)


def proposal_row(search_id: int, proposal: Proposal, now: datetime) -> dict[str, Any]:
    mutation = proposal.mutation
    row: dict[str, Any] = {
        "search_id": search_id,
        "iid": proposal.id,
        "kind": proposal.kind.value,
        "status": IndividualStatus.PENDING.value,
        # Models, not dicts: the JSON columns (schema.JSONText) write them directly, twice as
        # fast as through a dict.
        "dna": proposal.dna,
        "program_hash": proposal.program_hash,
        "parent_iid": proposal.parent_id,
        "mutation_type": None if mutation is None else mutation.type.value,
        "mutation": mutation,
        "attempts": 0,
        "worker": None,
        "fitness": None,
        "perplexity": None,
        "hurdle_fitness": [],
        "hurdle_reached": 0,
        "error": None,
        "result": None,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "finish_seq": None,  # record_turn numbers the final ones (cached, rejected)
    }
    if proposal.kind is ProposalKind.CACHED:
        assert proposal.cached is not None, f"cached proposal {proposal.id} without its fitness"
        row.update(
            status=IndividualStatus.CACHED.value,
            fitness=proposal.cached.fitness,
            perplexity=perplexity(proposal.cached.fitness),
            hurdle_fitness=list(proposal.cached.hurdle_fitness),
            hurdle_reached=len(proposal.cached.hurdle_fitness),
            result={"cached": proposal.cached},
            finished_at=now,
        )
    elif proposal.kind is ProposalKind.REJECTED:
        row.update(
            status=IndividualStatus.REJECTED.value, error=proposal.rejection, finished_at=now
        )
    return row


def perplexity(fitness: float) -> float:
    try:
        return math.exp(fitness)
    except OverflowError:
        return math.inf


def search_record(row: Any) -> SearchRecord:
    expires = row.lease_expires_at
    return SearchRecord(
        id=int(row.id),
        name=row.name,
        status=SearchStatus(row.status),
        config=row.config,
        seed_dna=row.seed_dna,
        num_individuals=int(row.num_individuals),
        num_finished=int(row.num_finished),
        best_fitness=row.best_fitness,
        best_iid=None if row.best_iid is None else int(row.best_iid),
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_holder=row.lease_holder,
        lease_expires_at=None
        if expires is None
        else datetime.fromtimestamp(expires, tz=timezone.utc),
        lease_active=bool(row.lease_active),
    )


def individual_record(row: Any) -> IndividualRecord:
    values = row._mapping
    return IndividualRecord(
        search_id=int(values["search_id"]),
        iid=int(values["iid"]),
        kind=values["kind"],
        status=IndividualStatus(values["status"]),
        program_hash=values["program_hash"],
        parent_iid=None if values["parent_iid"] is None else int(values["parent_iid"]),
        mutation_type=values["mutation_type"],
        mutation=values["mutation"],
        attempts=int(values["attempts"]),
        worker=values["worker"],
        fitness=values["fitness"],
        perplexity=values["perplexity"],
        hurdle_fitness=tuple(values["hurdle_fitness"] or ()),
        hurdle_reached=int(values["hurdle_reached"]),
        error=values["error"],
        parameter_count=values["parameter_count"],
        step_seconds=values["step_seconds"],
        created_at=values["created_at"],
        started_at=values["started_at"],
        finished_at=values["finished_at"],
        dna=values.get("dna"),
        result=values.get("result"),
        finish_seq=values["finish_seq"],
    )
