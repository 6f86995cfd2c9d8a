"""The mutator, tested statistically in the AutoML-Zero style: over many seeded mutations, each type
makes exactly the change it should and nothing else, every type occurs, every child validates,
and the record describes the change (issue 4, "Mutations")."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from primer_search.canonical import canonical_hash
from primer_search.dna import (
    BRANCHES,
    DIM_MULTIPLIERS,
    DNA,
    NUM_INPUTS,
    Instruction,
    Limits,
    Subprogram,
    max_branch_product,
    resolved_instruction_count,
    validate_dna,
)
from primer_search.mutation import (
    MUTATIONS,
    MutationConfig,
    MutationError,
    MutationRecord,
    MutationType,
    mutate,
)
from primer_search.ops import CALL, REGISTRY
from primer_search.seeds import load_seed, seed_names

LIMITS = Limits()
INPUTS = ("input1", "input2")


def parents(seed: int, per_seed: int = 12, steps: int = 4) -> list[DNA]:
    """Every seed, and mutated copies of it (up to `steps` mutations away)."""
    rng = np.random.default_rng(seed)
    found = []
    for name in seed_names():
        dna = load_seed(name)
        found.append(dna)
        for _ in range(per_seed):
            child = dna
            for _ in range(int(rng.integers(1, steps + 1))):
                child, _record = mutate(child, rng)
            found.append(child)
    return found


def apply(kind: MutationType, seed: int, per_parent: int = 3):
    """(parent, child, record) for `kind` applied straight (no light check) to many parents."""
    rng = np.random.default_rng(seed)
    for parent in parents(seed):
        for _ in range(per_parent):
            result = MUTATIONS[kind](parent, rng, LIMITS)
            assert result is not None, f"{kind.value} should apply to every seed-like DNA"
            child, record = result
            assert validate_dna(child, LIMITS) == [], child.to_json()
            assert record.type is kind
            yield parent, child, record


def delete_rule(insts: tuple[Instruction, ...], i: int) -> list[Instruction]:
    """The documented deletion rule: reads of the deleted state read its input1, later states
    move down by one."""
    gone, bypass = i + NUM_INPUTS, insts[i].input1

    def read(state: int) -> int:
        return bypass if state == gone else state - (state > gone)

    later = [x.model_copy(update={f: read(getattr(x, f)) for f in INPUTS}) for x in insts[i + 1 :]]
    return [*insts[:i], *later]


def only_subprogram_changed(parent: DNA, child: DNA, s: int) -> None:
    assert child.constants == parent.constants and child.dims == parent.dims
    assert len(child.subprograms) == len(parent.subprograms)
    for k, (a, b) in enumerate(zip(parent.subprograms, child.subprograms, strict=True)):
        if k != s:
            assert a == b, f"subprogram {k} changed by a mutation of subprogram {s}"


def non_inputs(inst: Instruction) -> dict:
    return inst.model_dump(exclude=set(INPUTS))


# ---------------------------------------------------------------------------------------------
# Each type makes exactly its change.


def test_delete_removes_one_instruction_and_rewires_its_readers():
    for parent, child, record in apply(MutationType.DELETE, seed=1):
        s, i = record.subprogram, record.instruction
        assert s is not None and i is not None
        before, after = parent.subprograms[s].instructions, child.subprograms[s].instructions
        only_subprogram_changed(parent, child, s)
        assert len(after) == len(before) - 1 >= 1
        assert record.old == before[i].model_dump() and record.new is None
        assert list(after) == delete_rule(before, i)


def test_insert_adds_one_instruction_spliced_on_its_first_input():
    kinds = Counter()
    for parent, child, record in apply(MutationType.INSERT, seed=2):
        s, i = record.subprogram, record.instruction
        assert s is not None and i is not None
        before, after = parent.subprograms[s].instructions, child.subprograms[s].instructions
        only_subprogram_changed(parent, child, s)
        assert len(after) == len(before) + 1
        new = after[i]
        assert record.new == new.model_dump() and record.old is None
        # Every later read of the new instruction's input1 now reads the new state ...
        assert all(new.input1 not in (x.input1, x.input2) for x in after[i + 1 :])
        # ... and deleting it again gives the parent back: insert and delete are inverses.
        assert delete_rule(after, i) == list(before)
        kinds[new.op] += 1
        if new.op == CALL:
            assert s < new.callee < len(child.subprograms) and new.branch in BRANCHES
    assert kinds[CALL] > 0 and len(kinds) > 30, kinds  # calls and most primitives are drawn


def test_delete_and_insert_keeps_the_length_and_changes_one_subprogram():
    for parent, child, record in apply(MutationType.DELETE_AND_INSERT, seed=3):
        s, i, j = record.subprogram, record.instruction, record.second_instruction
        assert s is not None and i is not None and j is not None
        before, after = parent.subprograms[s].instructions, child.subprograms[s].instructions
        only_subprogram_changed(parent, child, s)
        assert len(after) == len(before)
        assert record.old == before[i].model_dump() and record.new == after[j].model_dump()
        assert delete_rule(after, j) == delete_rule(before, i)


def test_change_field_changes_exactly_one_field_it_reads():
    fields = Counter()
    for parent, child, record in apply(MutationType.CHANGE_FIELD, seed=4):
        s, i, name = record.subprogram, record.instruction, record.field
        assert s is not None and i is not None and name is not None
        only_subprogram_changed(parent, child, s)
        before, after = parent.subprograms[s].instructions, child.subprograms[s].instructions
        assert [k for k in range(len(before)) if before[k] != after[k]] == [i]
        a, b = before[i].model_dump(), after[i].model_dump()
        assert [f for f in a if a[f] != b[f]] == [name]
        assert (record.old, record.new) == (a[name], b[name])
        assert name == "op" or name in REGISTRY[before[i].op].uses
        fields[name] += 1
    assert set(fields) >= {"op", "input1", "input2", "constant", "dim", "callee", "branch"}, fields


def test_swap_exchanges_two_operations_in_an_unchanged_wiring():
    for parent, child, record in apply(MutationType.SWAP, seed=5):
        s, i, j = record.subprogram, record.instruction, record.second_instruction
        assert s is not None and i is not None and j is not None and i < j
        only_subprogram_changed(parent, child, s)
        before, after = parent.subprograms[s].instructions, child.subprograms[s].instructions
        # The wiring (which states each position reads) is unchanged ...
        assert [(x.input1, x.input2) for x in before] == [(x.input1, x.input2) for x in after]
        # ... the two operations traded places, and the multiset of operations is preserved.
        assert non_inputs(after[i]) == non_inputs(before[j])
        assert non_inputs(after[j]) == non_inputs(before[i])
        assert all(before[k] == after[k] for k in range(len(before)) if k not in (i, j))
        assert record.old == [before[i].model_dump(), before[j].model_dump()]
        assert record.new == [after[i].model_dump(), after[j].model_dump()]


def test_change_bank_changes_one_bank_entry_only():
    changed = Counter()
    for parent, child, record in apply(MutationType.CHANGE_BANK, seed=6):
        assert child.subprograms == parent.subprograms
        bank, _, k = (record.field or "").partition(".")
        index = int(k)
        old_bank, new_bank = getattr(parent, bank), getattr(child, bank)
        assert len(old_bank) == len(new_bank)
        assert [n for n in range(len(old_bank)) if old_bank[n] != new_bank[n]] in ([index], [])
        assert (record.old, record.new) == (old_bank[index], new_bank[index])
        other = "dims" if bank == "constants" else "constants"
        assert getattr(child, other) == getattr(parent, other)
        if bank == "dims":
            assert new_bank[index] in DIM_MULTIPLIERS and new_bank[index] != old_bank[index]
        changed[bank] += 1
    assert changed["dims"] > 0 and changed["constants"] > 0


def bank_changes(dna: DNA, rng: np.random.Generator, limits: Limits, n: int) -> list[float]:
    """New values of constant 0 over n bank changes of `dna`."""
    values = []
    for _ in range(n):
        result = MUTATIONS[MutationType.CHANGE_BANK](dna, rng, limits)
        assert result is not None
        if result[1].field == "constants.0":
            values.append(result[0].constants[0])
    return values


def test_constant_change_is_c_times_ten_to_x_plus_y():
    """c -> c * 10^X + Y with X, Y ~ N(0, 1): from c = 0 the new value is Y ~ N(0, 1); from
    c = 1e3, log10 of the new value is 3 + X up to a small Y, so about N(3, 1)."""
    rng = np.random.default_rng(7)
    program = (Subprogram(instructions=(Instruction(op="C_MUL", input1=0),)),)
    from_zero = np.array(
        bank_changes(DNA(subprograms=program, constants=(0.0,), dims=(8,)), rng, LIMITS, 2000)
    )
    from_big = np.array(
        bank_changes(DNA(subprograms=program, constants=(1e3,), dims=(8,)), rng, LIMITS, 2000)
    )
    assert len(from_zero) > 800 and len(from_big) > 800  # one constant and one dim in the banks
    assert abs(from_zero.mean()) < 0.1 and abs(from_zero.std() - 1.0) < 0.1
    logs = np.log10(from_big[from_big > 0])
    assert len(logs) > 0.99 * len(from_big)
    assert abs(logs.mean() - 3.0) < 0.1 and abs(logs.std() - 1.0) < 0.1


def test_constants_are_clipped_to_the_limit():
    rng = np.random.default_rng(8)
    limits = Limits(max_abs_constant=10.0)
    program = (Subprogram(instructions=(Instruction(op="C_MUL", input1=0),)),)
    values = bank_changes(DNA(subprograms=program, constants=(9.0,), dims=(8,)), rng, limits, 600)
    assert max(abs(v) for v in values) == 10.0


# ---------------------------------------------------------------------------------------------
# mutate(): selection, the light check, limits, determinism.


def test_types_are_drawn_uniformly():
    """With the light check off (max_tries=1) the records show the draw itself: each of the six
    types within 5 standard deviations of n / 6."""
    rng = np.random.default_rng(9)
    config = MutationConfig(max_tries=1)
    n = 3000
    counts = Counter(mutate(load_seed("transformer"), rng, config=config)[1].type for _ in range(n))
    sd = math.sqrt(n * (1 / 6) * (5 / 6))
    for kind in MutationType:
        assert abs(counts[kind] - n / 6) < 5 * sd, counts


def test_weights_select_types():
    rng = np.random.default_rng(10)
    config = MutationConfig(
        weights={MutationType.SWAP: 3.0, MutationType.DELETE: 1.0, MutationType.INSERT: 0.0}
    )
    counts = Counter(mutate(load_seed("primer"), rng, config=config)[1].type for _ in range(800))
    assert set(counts) <= {MutationType.SWAP, MutationType.DELETE}
    assert 2.0 < counts[MutationType.SWAP] / counts[MutationType.DELETE] < 4.5, counts


def test_light_check_children_differ_from_their_parent():
    rng = np.random.default_rng(11)
    seen = Counter()
    for parent in parents(12, per_seed=8):
        for _ in range(4):
            child, record = mutate(parent, rng)
            assert validate_dna(child, LIMITS) == []
            assert not record.same_graph
            assert canonical_hash(child) != canonical_hash(parent)
            assert 0 <= record.retries < MutationConfig().max_tries
            seen[record.type] += 1
    assert set(seen) == set(MutationType), seen


def test_light_check_bound_returns_the_last_child_flagged():
    """No bank value is live here, so every bank change computes the parent's graph."""
    rng = np.random.default_rng(13)
    add = Instruction(op="ADD", input1=0, input2=1)
    dna = DNA(subprograms=(Subprogram(instructions=(add,)),))
    config = MutationConfig.only(MutationType.CHANGE_BANK, max_tries=7)
    child, record = mutate(dna, rng, config=config)
    assert record.same_graph and record.retries == 6
    assert canonical_hash(child) == canonical_hash(dna) and child != dna


def test_children_always_validate_along_long_walks():
    rng = np.random.default_rng(14)
    for name in seed_names():
        dna = load_seed(name)
        for _ in range(150):
            dna, record = mutate(dna, rng)
            assert validate_dna(dna, LIMITS) == [], record


def test_tight_limits_are_respected():
    """Inserts and call changes stop at every limit, never past it."""
    rng = np.random.default_rng(15)
    seed = load_seed("transformer")
    limits = Limits(
        max_instructions=8,
        max_resolved_instructions=resolved_instruction_count(seed) + 6,
        max_branch_product=max_branch_product(seed) * 2,
    )
    config = MutationConfig(
        weights={MutationType.INSERT: 4.0, MutationType.CHANGE_FIELD: 2.0, MutationType.SWAP: 1.0}
    )
    dna, grew = seed, 0
    for _ in range(300):
        child, record = mutate(dna, rng, limits=limits, config=config)
        assert validate_dna(child, limits) == [], record
        grew += record.type is MutationType.INSERT
        dna = child
    assert grew > 0
    assert resolved_instruction_count(dna) <= limits.max_resolved_instructions


def test_deletes_shrink_to_one_instruction_per_subprogram_and_never_below():
    rng = np.random.default_rng(16)
    dna = load_seed("transformer_gelu")
    config = MutationConfig.only(MutationType.DELETE)
    sizes = set()
    with pytest.raises(MutationError, match="none of the mutation types"):
        for _ in range(200):
            dna, _record = mutate(dna, rng, config=config)
            sizes.update(len(sub.instructions) for sub in dna.subprograms)
    assert all(len(sub.instructions) == 1 for sub in dna.subprograms)
    assert min(sizes) == 1


def test_inserts_grow_to_the_instruction_limit_and_never_past_it():
    rng = np.random.default_rng(17)
    dna = DNA(subprograms=(Subprogram(instructions=(Instruction(op="ADD", input2=1),)),))
    limits = Limits(max_instructions=6)
    sizes = []
    with pytest.raises(MutationError):
        for _ in range(50):
            dna, _record = mutate(
                dna, rng, limits=limits, config=MutationConfig.only(MutationType.INSERT)
            )
            sizes.append(len(dna.subprograms[0].instructions))
    assert sizes == [2, 3, 4, 5, 6]


def test_same_seed_same_children():
    def run(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        dna, out = load_seed("primer_ez"), []
        for _ in range(40):
            dna, record = mutate(dna, rng)
            out.append(dna.to_json() + record.model_dump_json())
        return out

    assert run(18) == run(18)
    assert run(18) != run(19)


def test_record_round_trips_through_json():
    rng = np.random.default_rng(20)
    dna = load_seed("transformer")
    for _ in range(60):
        dna, record = mutate(dna, rng)
        assert MutationRecord.model_validate_json(record.model_dump_json()) == record


def test_config_rejects_bad_weights():
    with pytest.raises(ValidationError, match="swap"):
        MutationConfig(weights={MutationType.SWAP: -1.0})
    with pytest.raises(ValidationError, match="positive weight"):
        MutationConfig(weights={MutationType.SWAP: 0.0})
    with pytest.raises(ValidationError):
        MutationConfig(max_tries=0)


def test_invalid_parent_is_rejected():
    from primer_search.errors import DNAValidationError

    bad = DNA(subprograms=(Subprogram(instructions=(Instruction(op="ADD", input1=5),)),))
    with pytest.raises(DNAValidationError, match="input1"):
        mutate(bad, np.random.default_rng(0))


def test_budget_shortcuts_match_their_definitions():
    """The per-parent shortcuts of the draws list what their plain definitions list: the calls
    that fit once an instruction is deleted (delete-and-insert) are those of the program without
    it, and the fields change_field may change are those with another valid value. Tight limits
    too, so that some calls do not fit."""
    from primer_search.mutation import FIELDS, _Budget, _budget, _changeable, _field_values

    tight = Limits(max_resolved_instructions=60, max_branch_product=8)
    checked = 0
    for dna in parents(11, per_seed=6):
        budget = _budget(dna)
        program = [sub.instructions for sub in dna.subprograms]
        assert budget.pairable == [s for s, insts in enumerate(program) if len(insts) >= 2]
        for s, insts in enumerate(program):
            for i, inst in enumerate(insts):
                without = [*program[:s], insts[:i] + insts[i + 1 :], *program[s + 1 :]]
                for limits in (LIMITS, tight):
                    expected = _Budget.of(without).calls(s, limits)
                    assert budget.calls(s, limits, budget.resolved(inst)) == expected
                    uses = REGISTRY[inst.op].uses
                    assert _changeable(dna, budget, s, i, limits) == [
                        name
                        for name in FIELDS
                        if (name == "op" or name in uses)
                        and _field_values(dna, budget, s, i, name, limits)
                    ]
                    checked += 1
    assert checked > 1000
