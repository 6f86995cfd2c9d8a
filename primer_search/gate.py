"""The static gate (issue 4): checks that need no training, applied to every child before it may
take a training slot. A rejected child is recorded with its reason and costs nothing else."""

from __future__ import annotations

from collections.abc import Callable

from primer_search.config import ModelConfig
from primer_search.dna import DEFAULT_LIMITS, DNA, Limits, validate_dna
from primer_search.errors import ParameterBudgetError
from primer_search.sizing import fit_base_unit

# A gate returns None to accept a program, or the reason it is rejected.
Gate = Callable[[DNA], "str | None"]


def accept_all(dna: DNA) -> str | None:
    return None


def static_gate(model_config: ModelConfig, limits: Limits = DEFAULT_LIMITS) -> Gate:
    """Reject programs that break the size limits or that no base unit fits into the preset's
    parameter range."""

    def gate(dna: DNA) -> str | None:
        issues = validate_dna(dna, limits)
        if issues:
            return "; ".join(str(issue) for issue in issues)
        try:
            fit_base_unit(dna, model_config)
        except ParameterBudgetError as exc:
            return str(exc)
        return None

    return gate
