"""POST /dna/validate: check a program against every rule of the search space and size it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from primer_search.canonical import canonical_hash
from primer_search.config import PRESETS, get_preset
from primer_search.dna import parse_dna, validate_dna
from primer_search.errors import DNAValidationError, ParameterBudgetError
from primer_search.sizing import fit_base_unit
from service.api.schemas import DNAValidationPublic, IssuePublic, SizingPublic

router = APIRouter(prefix="/dna", tags=["dna"])

PresetName = Annotated[str, Query(description=f"A model preset: {', '.join(PRESETS)}.")]


@router.post("/validate")
def validate(
    dna: Annotated[dict[str, Any], Body(description="A DNA as a JSON object.")],
    preset: PresetName = "tiny",
) -> DNAValidationPublic:
    """200 with `valid` and every issue (subprogram, instruction, field, message) for any JSON
    object, however wrong as a program; 422 only for a body that is not a JSON object or an
    unknown preset. A valid program is sized analytically (no TensorFlow) under `preset`."""
    config = get_preset(preset)  # ConfigError -> 422
    try:
        program = parse_dna(dna)
    except DNAValidationError as exc:
        return DNAValidationPublic(valid=False, issues=_issues(exc.issues))
    issues = validate_dna(program)
    if issues:
        return DNAValidationPublic(valid=False, issues=_issues(issues))
    answer = DNAValidationPublic(valid=True, issues=[], program_hash=canonical_hash(program))
    try:
        s = fit_base_unit(program, config)
    except ParameterBudgetError as exc:
        answer.sizing_error = str(exc)
        return answer
    answer.sizing = SizingPublic(
        preset=preset,
        base_unit=s.base_unit,
        d_model=s.d_model,
        block_parameters=s.block_params,
        parameter_count=s.total_params,
    )
    return answer


def _issues(issues: Any) -> list[IssuePublic]:
    return [IssuePublic.from_issue(issue) for issue in issues]
