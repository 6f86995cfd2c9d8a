"""The DNA as a value (JSON round trip, immutability, format versions) and every validation rule,
each with a message that says where the problem is (issue 2; STYLE.md principles 3 and 7)."""

from __future__ import annotations

import json
import math
import time

import pytest

from primer_search.canonical import canonical_hash
from primer_search.dna import (
    DEFAULT_LIMITS,
    DIM_MULTIPLIERS,
    DNA,
    FORMAT_VERSION,
    Instruction,
    Subprogram,
    check_dna,
    parse_dna,
    resolved_instruction_count,
    validate_dna,
)
from primer_search.errors import DNAValidationError, PrimerSearchError, ValidationIssue
from primer_search.seeds import load_seed, seed_names


def I(op: str, a: int = 0, b: int = 0, **fields: int) -> Instruction:  # noqa: E743
    return Instruction(op=op, input1=a, input2=b, **fields)


def call(callee: int, a: int = 0, b: int = 0, branch: int = 1) -> Instruction:
    return Instruction(op="CALL", input1=a, input2=b, callee=callee, branch=branch)


def program(*subs: list[Instruction], **banks: tuple) -> DNA:
    return DNA(subprograms=tuple(Subprogram(instructions=tuple(s)) for s in subs), **banks)


# A small valid program that uses every field: a call, a constant, a dim, a branch.
SMALL = program(
    [I("CONV_1X1", 0, dim=1), call(1, 2, 0, branch=2), I("ADD", 0, 3)],
    [I("C_MUL", 0, constant=1), I("TANH", 2)],
    constants=(0.0, 0.5),
    dims=(8, 16),
)


def only_issue(dna: DNA, **limits: int) -> ValidationIssue:
    lim = DEFAULT_LIMITS.model_copy(update=limits) if limits else DEFAULT_LIMITS
    issues = validate_dna(dna, lim)
    assert len(issues) == 1, issues
    return issues[0]


def raised(dna: DNA) -> str:
    with pytest.raises(DNAValidationError) as exc:
        check_dna(dna)
    return str(exc.value)


# ---------------------------------------------------------------------------------------------
# A value.


def test_small_program_is_valid() -> None:
    assert validate_dna(SMALL) == []
    assert check_dna(SMALL) is SMALL


@pytest.mark.parametrize("name", seed_names())
def test_json_round_trip_of_every_seed(name: str) -> None:
    dna = load_seed(name)
    for text in (dna.to_json(), dna.to_json(indent=2), json.dumps(dna.to_dict())):
        again = parse_dna(text)
        assert again == dna
        assert hash(again) == hash(dna)
        assert canonical_hash(again) == canonical_hash(dna)


def test_json_round_trip_keeps_constants_exact() -> None:
    constants = (0.1, 1 / 3, math.pi, math.sqrt(2 / math.pi), 1e-300, -123456.789)
    dna = program([I("TANH")], constants=constants)
    again = parse_dna(dna.to_json())
    assert again.constants == constants  # bit-exact: a constant is part of the program
    assert parse_dna(dna.to_dict()) == dna  # a dict (the API's parsed body) as well


def test_dna_is_immutable_and_hashable() -> None:
    with pytest.raises(ValueError):  # pydantic's frozen-instance error is a ValueError
        SMALL.constants = (1.0,)  # type: ignore[misc]
    with pytest.raises(ValueError):
        SMALL.subprograms[0].instructions[0].op = "TANH"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SMALL.subprograms[0].instructions[0] = I("TANH")  # type: ignore[index]
    assert isinstance(SMALL.subprograms, tuple) and isinstance(SMALL.dims, tuple)
    assert len({SMALL, parse_dna(SMALL.to_json())}) == 1  # usable as a dict key or set member
    assert program([I("TANH")]) != SMALL


def test_parse_dna_returns_a_dna_unchanged() -> None:
    assert parse_dna(SMALL) is SMALL


# ---------------------------------------------------------------------------------------------
# Format versions: stored DNAs must stay loadable as the format grows.


def test_missing_format_version_means_version_1() -> None:
    data = SMALL.to_dict()
    del data["format_version"]
    assert parse_dna(data).format_version == 1 == FORMAT_VERSION
    assert json.loads(SMALL.to_json())["format_version"] == FORMAT_VERSION


def test_newer_format_version_is_rejected_with_advice() -> None:
    data = {**SMALL.to_dict(), "format_version": FORMAT_VERSION + 1}
    with pytest.raises(DNAValidationError) as exc:
        parse_dna(data)
    message = str(exc.value)
    assert f"format_version {FORMAT_VERSION + 1} is newer" in message
    assert "upgrade primer-search" in message


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, None])
def test_bad_format_version_is_rejected(version: object) -> None:
    with pytest.raises(DNAValidationError, match="format_version must be a positive integer"):
        parse_dna({**SMALL.to_dict(), "format_version": version})


# ---------------------------------------------------------------------------------------------
# Validation rules: one test each; the issue names subprogram, instruction and field.


def assert_located(issue: ValidationIssue, sub: int | None, inst: int | None, field: str | None):
    assert (issue.subprogram, issue.instruction, issue.field) == (sub, inst, field)
    parts = [
        p
        for p in (
            f"subprogram {sub}" if sub is not None else None,
            f"instruction {inst}" if inst is not None else None,
            f"field '{field}'" if field is not None else None,
        )
        if p
    ]
    assert str(issue).startswith((", ".join(parts) or "program") + ": ")


def test_unknown_op() -> None:
    dna = program([call(1)], [I("TANH"), I("SOFTMAX", 2)])
    issue = only_issue(dna)
    assert_located(issue, 1, 1, "op")
    assert "'SOFTMAX'" in issue.message
    assert "subprogram 1, instruction 1, field 'op'" in raised(dna)


@pytest.mark.parametrize("field", ["input1", "input2"])
@pytest.mark.parametrize("value", [4, -1])
def test_input_index_out_of_range(field: str, value: int) -> None:
    # Instruction 2 may read states 0..3 (two inputs and instructions 0 and 1).
    dna = program([I("TANH"), I("SIN"), Instruction(op="ADD", **{field: value})])
    issue = only_issue(dna)
    assert_located(issue, 0, 2, field)
    assert f"state {value} does not exist; valid: 0..3" in issue.message


def test_unused_input2_of_a_unary_op_must_still_exist() -> None:
    """Fields an op ignores are still checked: a mutation may turn the op into a binary one."""
    assert_located(only_issue(program([I("TANH", 0, 7)])), 0, 0, "input2")


@pytest.mark.parametrize(
    ("caller", "callee"),
    [(0, 0), (1, 1), (2, 1), (1, 3)],
    ids=["main-calls-itself", "self", "lower", "beyond-the-last"],
)
def test_call_must_go_to_a_higher_existing_subprogram(caller: int, callee: int) -> None:
    subs: list[list[Instruction]] = [[call(1)], [call(2)], [I("TANH")]]
    subs[caller] = [I("TANH"), call(callee, 2, 2)]
    issue = only_issue(program(*subs))
    assert_located(issue, caller, 1, "callee")
    assert f"got {callee}" in issue.message


def test_constant_bank_index_out_of_range() -> None:
    issue = only_issue(program([I("C_MUL", constant=2)], constants=(0.0, 1.0)))
    assert_located(issue, 0, 0, "constant")
    assert "bank index 2 out of range 0..1" in issue.message


def test_dim_bank_index_out_of_range() -> None:
    issue = only_issue(program([I("TANH"), I("CONV_1X1", 2, dim=3)], dims=(8, 32)))
    assert_located(issue, 0, 1, "dim")
    assert "bank index 3 out of range 0..1" in issue.message


def test_empty_subprogram() -> None:
    issue = only_issue(program([call(1)], []))
    assert_located(issue, 1, None, None)
    assert "empty subprogram" in issue.message


@pytest.mark.parametrize("branch", [0, 3, 32])
def test_branch_not_allowed(branch: int) -> None:
    issue = only_issue(program([I("TANH"), call(1, 2, 2, branch=branch)], [I("TANH")]))
    assert_located(issue, 0, 1, "branch")
    assert f"branch {branch} not allowed" in issue.message


def test_too_many_subprograms() -> None:
    n = DEFAULT_LIMITS.max_subprograms + 1
    subs = [[call(s + 1)] for s in range(n - 1)] + [[I("TANH")]]
    issue = only_issue(program(*subs))
    assert_located(issue, None, None, None)
    assert f"{n} subprograms; the limit is {n - 1}" in issue.message


def test_too_many_instructions_in_a_subprogram() -> None:
    n = DEFAULT_LIMITS.max_instructions + 1
    issue = only_issue(program([I("TANH")], [I("TANH")] * n))
    assert_located(issue, 1, None, None)
    assert f"{n} instructions; the limit per subprogram is {n - 1}" in issue.message


def test_too_many_resolved_instructions_through_nested_calls() -> None:
    """Each subprogram calls the next twice: 10 levels resolve to 2^10 instructions."""
    subs = [[call(s + 1), call(s + 1)] for s in range(10)] + [[I("TANH")]]
    dna = program(*subs)
    assert resolved_instruction_count(dna) == 2**10
    issue = only_issue(dna)
    assert_located(issue, None, None, None)
    assert "1024 instructions once calls are expanded; the limit is 512" in issue.message


def test_hostile_exponential_program_is_rejected_quickly() -> None:
    """64^15 resolved instructions: counted, not expanded, so rejecting it costs nothing."""
    n_subs, width = DEFAULT_LIMITS.max_subprograms, DEFAULT_LIMITS.max_instructions
    subs = [[call(s + 1)] * width for s in range(n_subs - 1)] + [[I("TANH")]]
    dna = program(*subs)
    start = time.perf_counter()
    issue = only_issue(dna)
    assert time.perf_counter() - start < 1.0
    assert f"{width ** (n_subs - 1)} instructions once calls are expanded" in issue.message


def test_nested_branches_limited() -> None:
    dna = program([call(1, branch=16)], [call(2, branch=8)], [I("TANH")])
    issue = only_issue(dna)
    assert_located(issue, None, None, None)
    assert "nested branches multiply to 128; the limit is 64" in issue.message
    # 8 x 8 is the limit itself: allowed.
    assert validate_dna(program([call(1, branch=8)], [call(2, branch=8)], [I("TANH")])) == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e7])
def test_constant_must_be_finite_and_bounded(value: float) -> None:
    issue = only_issue(program([I("TANH")], constants=(0.0, value)))
    assert_located(issue, None, None, "constants.1")
    assert "must be finite" in issue.message


@pytest.mark.parametrize("value", [0, 3, 128, -8])
def test_dim_multiplier_must_be_allowed(value: int) -> None:
    issue = only_issue(program([I("TANH")], dims=(8, value)))
    assert_located(issue, None, None, "dims.1")
    assert f"dim multiplier {value} is not one of {list(DIM_MULTIPLIERS)}" in issue.message


@pytest.mark.parametrize("bank", ["constants", "dims"])
def test_bank_sizes(bank: str) -> None:
    value = 0.0 if bank == "constants" else 8
    for size in (0, 9):
        issue = only_issue(program([I("TANH")], **{bank: (value,) * size}))
        assert_located(issue, None, None, bank)


def test_every_issue_is_reported_not_only_the_first() -> None:
    dna = program([I("NOPE"), I("C_MUL", 9, constant=5)])
    located = {(i.subprogram, i.instruction, i.field) for i in validate_dna(dna)}
    assert located == {(0, 0, "op"), (0, 1, "input1"), (0, 1, "constant")}
    text = raised(dna)
    assert "3 problem(s)" in text


# ---------------------------------------------------------------------------------------------
# Malformed input: a DNAValidationError (a PrimerSearchError), never a pydantic or Python error.

VALID_INSTRUCTION = {"op": "TANH", "input1": 0}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),  # not UTF-8
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting deep enough to recurse
        ("[1, 2]", "a DNA must be a JSON object"),
        ('"transformer"', "a DNA must be a JSON object"),
        ("{}", "field 'subprograms'"),
        ('{"subprograms": 3}', "field 'subprograms'"),
        ('{"subprograms": [{"instructions": [{"input1": 0}]}]}', "field 'op'"),
        (
            '{"subprograms": [{"instructions": [{"op": "TANH", "input1": "two"}]}]}',
            "subprogram 0, instruction 0, field 'input1'",
        ),
        (
            '{"subprograms": [{"instructions": [{"op": "TANH", "colour": 1}]}]}',
            "subprogram 0, instruction 0, field 'colour'",
        ),
        ('{"subprograms": [{"instructions": [{"op": 5}]}]}', "field 'op'"),
        ('{"subprograms": [], "dims": ["eight"]}', "field 'dims.0'"),
        ('{"subprograms": [], "extra": true}', "field 'extra'"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "deep-nesting",
        "array",
        "string",
        "no-subprograms",
        "subprograms-not-a-list",
        "no-op",
        "input-not-an-int",
        "unknown-field",
        "op-not-a-string",
        "dim-not-an-int",
        "unknown-top-level-field",
    ],
)
def test_malformed_input_is_a_validation_error(source: str | bytes, expected: str) -> None:
    with pytest.raises(DNAValidationError) as exc:
        parse_dna(source)
    assert isinstance(exc.value, PrimerSearchError)
    assert expected in str(exc.value)
    # No pydantic or json exception chained behind it for a traceback to show.
    assert exc.value.__cause__ is None
    assert exc.value.__context__ is None or exc.value.__suppress_context__


def test_parsed_but_invalid_program_is_caught_by_validation() -> None:
    """Structure parses, rules do not hold: parse_dna + check_dna is the full gate."""
    text = json.dumps({"subprograms": [{"instructions": [VALID_INSTRUCTION]}], "dims": [7]})
    dna = parse_dna(text)
    with pytest.raises(DNAValidationError, match="dims.0"):
        check_dna(dna)
