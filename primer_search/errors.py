"""The project's exception tree: every error we raise on purpose derives from PrimerSearchError.

Messages name the bad value and what would be valid (STYLE.md, principle 7), so the CLI and the
API can show them to a user as they are, without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class PrimerSearchError(Exception):
    """Root of all errors raised on purpose by primer-search."""


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a DNA, located as precisely as the problem allows."""

    message: str
    subprogram: int | None = None
    instruction: int | None = None
    field: str | None = None

    def location(self) -> str:
        parts = []
        if self.subprogram is not None:
            parts.append(f"subprogram {self.subprogram}")
        if self.instruction is not None:
            parts.append(f"instruction {self.instruction}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts) if parts else "program"

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "subprogram": self.subprogram,
            "instruction": self.instruction,
            "field": self.field,
            "message": self.message,
        }


class DNAValidationError(PrimerSearchError):
    """A DNA that is malformed or breaks a rule of the search space; carries every issue found."""

    def __init__(self, issues: list[ValidationIssue]):
        assert issues, "DNAValidationError needs at least one issue"
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"invalid DNA ({len(self.issues)} problem(s)):\n{lines}")


class UnknownSeedError(PrimerSearchError):
    """A seed name that is not in the shipped library."""


class ParameterBudgetError(PrimerSearchError):
    """No base unit puts the model inside the preset's parameter range."""


class ConfigError(PrimerSearchError):
    """A configuration value out of its allowed range."""


class DataError(PrimerSearchError):
    """A corpus that cannot be read, parsed or tokenized as asked (issue 3, data)."""


class DataNotFoundError(DataError):
    """A corpus that is not on disk; the message says where we looked and how to fetch it."""
