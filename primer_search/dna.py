"""The DNA: one stackable decoder block written as subprograms of primitive instructions.

PRIMER.md section 1. A DNA is an immutable pydantic value: it round-trips through JSON, compares
by value, and is checked by `validate_dna` against the rules of the search space. Everything that
reads a DNA (the compiler, the canonical hash, the renderer, the mutator) may assume it is valid.

State numbering inside a subprogram: states 0 and 1 are its two inputs; instruction i appends
state i + 2; the subprogram returns the output of its last instruction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from primer_search.errors import DNAValidationError, ValidationIssue
from primer_search.identity_cache import IdentityCache
from primer_search.ops import CALL, REGISTRY

FORMAT_VERSION = 1
# Relative widths allowed in the dimension bank (PRIMER.md section 1).
DIM_MULTIPLIERS: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)
BRANCHES: tuple[int, ...] = (1, 2, 4, 8, 16)
MAIN = 0
NUM_INPUTS = 2  # states 0 and 1 of every subprogram


class Instruction(BaseModel):
    """One instruction. It carries the union of all argument fields; an op ignores what it
    does not use (see `ops.REGISTRY[op].uses`). `callee` is read only by CALL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: str
    input1: int = 0
    input2: int = 0
    constant: int = 0
    dim: int = 0
    branch: int = 1
    callee: int = 0


class Subprogram(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    instructions: tuple[Instruction, ...]


class DNA(BaseModel):
    """A whole program: subprogram 0 is MAIN; the banks are shared by every instruction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    subprograms: tuple[Subprogram, ...]
    constants: tuple[float, ...] = (0.0, 0.125)
    dims: tuple[int, ...] = Field(default=(8, 32))

    def to_json(self, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def num_instructions(self) -> int:
        return sum(len(sub.instructions) for sub in self.subprograms)


class Limits(BaseModel):
    """Size limits that bound the memory and time any DNA can cost, even a hostile one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_subprograms: int = 16
    max_instructions: int = 64  # per subprogram
    max_resolved_instructions: int = 512  # calls expanded, branches not multiplied
    max_branch_product: int = 64  # product of branch factors along any chain of calls
    max_constants: int = 8
    max_dims: int = 8
    max_abs_constant: float = 1e6


DEFAULT_LIMITS = Limits()


def parse_dna(source: str | bytes | Mapping[str, Any] | DNA) -> DNA:
    """Build a DNA from JSON text or a dict, migrating older formats; structural errors become a
    DNAValidationError that names the field. Semantic rules are checked by `validate_dna`."""
    if isinstance(source, DNA):
        return source
    if isinstance(source, str | bytes):
        try:
            data = json.loads(source)
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, hostile nesting
            raise DNAValidationError([ValidationIssue(f"not valid JSON: {exc}")]) from None
    else:
        data = dict(source)
    if not isinstance(data, dict):
        raise DNAValidationError([ValidationIssue("a DNA must be a JSON object")])
    data = _migrate(data)
    try:
        return DNA.model_validate(data)
    except PydanticValidationError as exc:
        raise DNAValidationError([_issue_from_pydantic(err) for err in exc.errors()]) from None


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade a stored DNA to FORMAT_VERSION. Version 1 is the first format; later versions add
    their step here so that every DNA ever stored stays loadable."""
    version = data.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version < 1:
        raise DNAValidationError(
            [ValidationIssue(f"format_version must be a positive integer, got {version!r}")]
        )
    if version > FORMAT_VERSION:
        raise DNAValidationError(
            [
                ValidationIssue(
                    f"format_version {version} is newer than this primer-search understands "
                    f"({FORMAT_VERSION}); upgrade primer-search"
                )
            ]
        )
    return data


def _issue_from_pydantic(err: Mapping[str, Any]) -> ValidationIssue:
    loc = list(err.get("loc", ()))
    subprogram = instruction = None
    field = None
    if len(loc) >= 2 and loc[0] == "subprograms" and isinstance(loc[1], int):
        subprogram = loc[1]
        if len(loc) >= 4 and loc[2] == "instructions" and isinstance(loc[3], int):
            instruction = loc[3]
            field = ".".join(str(p) for p in loc[4:]) or None
        else:
            field = ".".join(str(p) for p in loc[2:]) or None
    else:
        field = ".".join(str(p) for p in loc) or None
    return ValidationIssue(str(err.get("msg", "invalid value")), subprogram, instruction, field)


def validate_dna(dna: DNA, limits: Limits = DEFAULT_LIMITS) -> list[ValidationIssue]:
    """Every rule broken by `dna`, as issues naming subprogram, instruction and field.

    Size limits are checked first and stop the check early, so that a hostile DNA costs no more
    than reading it."""
    if _VALID_DNAS.peek(dna) == limits:  # the engine checks a child, then its gate does
        return []
    issues = _check_sizes(dna, limits)
    if issues:
        return issues
    issues += _check_banks(dna, limits)
    n_constants, n_dims, n_subprograms = len(dna.constants), len(dna.dims), len(dna.subprograms)
    for s, sub in enumerate(dna.subprograms):
        # The search validates every child, which shares with its parent each subprogram the
        # mutation left alone: a subprogram found valid in the same context is not checked again.
        context = (s, n_constants, n_dims, n_subprograms)
        if _VALID_SUBPROGRAMS.peek(sub) == context:
            continue
        found = len(issues)
        for i, inst in enumerate(sub.instructions):
            # The common case, a valid instruction, in one expression; the issues come from
            # _check_instruction.
            n_states = i + NUM_INPUTS
            if not (
                0 <= inst.input1 < n_states
                and 0 <= inst.input2 < n_states
                and 0 <= inst.constant < n_constants
                and 0 <= inst.dim < n_dims
                and inst.branch in BRANCHES
                and (inst.op in REGISTRY if inst.op != CALL else s < inst.callee < n_subprograms)
            ):
                issues += _check_instruction(dna, s, i, inst, n_constants, n_dims)
        if len(issues) == found:
            _VALID_SUBPROGRAMS.put(sub, context)
    if issues:
        return issues
    resolved, product = _call_totals(dna)
    if resolved > limits.max_resolved_instructions:
        issues.append(
            ValidationIssue(
                f"{resolved} instructions once calls are expanded; the limit is "
                f"{limits.max_resolved_instructions}"
            )
        )
    if product > limits.max_branch_product:
        issues.append(
            ValidationIssue(
                f"nested branches multiply to {product}; the limit is {limits.max_branch_product}"
            )
        )
    if not issues:
        _VALID_DNAS.put(dna, limits)
    return issues


# DNA -> the limits it was found valid under (the last few DNAs checked).
_VALID_DNAS: IdentityCache[DNA, Limits] = IdentityCache(64)
# Subprogram -> (its index, number of constants, dims and subprograms) of a DNA it was valid in.
_VALID_SUBPROGRAMS: IdentityCache[Subprogram, tuple[int, int, int, int]] = IdentityCache(1024)


def check_dna(dna: DNA, limits: Limits = DEFAULT_LIMITS) -> DNA:
    """Return `dna` if valid, else raise DNAValidationError with every issue."""
    issues = validate_dna(dna, limits)
    if issues:
        raise DNAValidationError(issues)
    return dna


def _check_sizes(dna: DNA, limits: Limits) -> list[ValidationIssue]:
    issues = []
    n = len(dna.subprograms)
    if n == 0:
        issues.append(ValidationIssue("a DNA needs at least one subprogram (MAIN)"))
    if n > limits.max_subprograms:
        issues.append(ValidationIssue(f"{n} subprograms; the limit is {limits.max_subprograms}"))
    for s, sub in enumerate(dna.subprograms[: limits.max_subprograms]):
        count = len(sub.instructions)
        if count == 0:
            issues.append(ValidationIssue("empty subprogram: it has no output", subprogram=s))
        elif count > limits.max_instructions:
            issues.append(
                ValidationIssue(
                    f"{count} instructions; the limit per subprogram is {limits.max_instructions}",
                    subprogram=s,
                )
            )
    if not 1 <= len(dna.constants) <= limits.max_constants:
        issues.append(
            ValidationIssue(
                f"{len(dna.constants)} constants; between 1 and {limits.max_constants} allowed",
                field="constants",
            )
        )
    if not 1 <= len(dna.dims) <= limits.max_dims:
        issues.append(
            ValidationIssue(
                f"{len(dna.dims)} dims; between 1 and {limits.max_dims} allowed", field="dims"
            )
        )
    return issues


def _check_banks(dna: DNA, limits: Limits) -> list[ValidationIssue]:
    issues = []
    for k, value in enumerate(dna.constants):
        if not math.isfinite(value) or abs(value) > limits.max_abs_constant:
            issues.append(
                ValidationIssue(
                    f"constant {value!r} must be finite with |c| <= {limits.max_abs_constant:g}",
                    field=f"constants.{k}",
                )
            )
    for k, value in enumerate(dna.dims):
        if value not in DIM_MULTIPLIERS:
            issues.append(
                ValidationIssue(
                    f"dim multiplier {value!r} is not one of {list(DIM_MULTIPLIERS)}",
                    field=f"dims.{k}",
                )
            )
    return issues


def _check_instruction(
    dna: DNA, s: int, i: int, inst: Instruction, n_constants: int, n_dims: int
) -> list[ValidationIssue]:
    def issue(field: str, message: str) -> ValidationIssue:
        return ValidationIssue(message, subprogram=s, instruction=i, field=field)

    issues = []
    n_states = i + NUM_INPUTS  # states this instruction may read
    if inst.op != CALL and inst.op not in REGISTRY:
        issues.append(issue("op", f"unknown op {inst.op!r}; see `primer-search ops`"))
    for field in ("input1", "input2"):
        value = getattr(inst, field)
        if not 0 <= value < n_states:
            issues.append(issue(field, f"state {value} does not exist; valid: 0..{n_states - 1}"))
    if not 0 <= inst.constant < n_constants:
        issues.append(
            issue("constant", f"bank index {inst.constant} out of range 0..{n_constants - 1}")
        )
    if not 0 <= inst.dim < n_dims:
        issues.append(issue("dim", f"bank index {inst.dim} out of range 0..{n_dims - 1}"))
    if inst.branch not in BRANCHES:
        issues.append(issue("branch", f"branch {inst.branch} not allowed; use one of {BRANCHES}"))
    if inst.op == CALL and not s < inst.callee < len(dna.subprograms):
        issues.append(
            issue(
                "callee",
                f"a call from subprogram {s} must name a subprogram of higher index, "
                f"{s + 1}..{len(dna.subprograms) - 1}; got {inst.callee}",
            )
        )
    return issues


def resolved_instruction_count(dna: DNA) -> int:
    """Instructions of MAIN with every call expanded (branches not multiplied): 34 for our
    Transformer seed (the paper says 39 for its own, whose bodies it does not list exactly).
    Counts dead code too, since it bounds the work of reading a DNA.
    Assumes call indices are valid (higher than the caller)."""
    return _call_totals(dna)[0]


def max_branch_product(dna: DNA) -> int:
    """The largest product of branch factors along any chain of calls from MAIN."""
    return _call_totals(dna)[1]


def _call_totals(dna: DNA) -> tuple[int, int]:
    """resolved_instruction_count and max_branch_product in one pass over the subprograms."""
    n = len(dna.subprograms)
    counts, best = [0] * n, [1] * n
    for s in reversed(range(n)):
        primitives, calls = _CALLS.get(dna.subprograms[s], _calls)
        count = primitives
        product = 1
        for callee, branch in calls:
            count += counts[callee]
            product = max(product, branch * best[callee])
        counts[s], best[s] = count, product
    return counts[MAIN], best[MAIN]


def _calls(sub: Subprogram) -> tuple[int, tuple[tuple[int, int], ...]]:
    """How many primitives `sub` has, and the (callee, branch) of each of its calls."""
    calls = tuple((inst.callee, inst.branch) for inst in sub.instructions if inst.op == CALL)
    return len(sub.instructions) - len(calls), calls


# The two counts above read each subprogram of every child validated; most are its parent's.
_CALLS: IdentityCache[Subprogram, tuple[int, tuple[tuple[int, int], ...]]] = IdentityCache(1024)


def live_instructions(sub: Subprogram) -> list[bool]:
    """Which instructions of `sub` its output depends on (locally: calls count as one use of
    both inputs only where the callee reads them is decided by the lowering, not here)."""
    from primer_search.ops import uses_input2

    n = len(sub.instructions)
    live = [False] * n
    if n == 0:
        return live
    live[n - 1] = True
    for i in reversed(range(n)):
        if not live[i]:
            continue
        inst = sub.instructions[i]
        reads: Iterable[int] = (
            (inst.input1, inst.input2) if uses_input2(inst.op) else (inst.input1,)
        )
        for state in reads:
            if state >= NUM_INPUTS:
                live[state - NUM_INPUTS] = True
    return live
