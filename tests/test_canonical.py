"""The canonical hash: equal for programs that compute the same graph, different for any live
change (issue 2). The search relies on both halves: "mutate again if the child equals its
parent" (PRIMER.md section 4) must not skip real changes, and the fitness cache must not
retrain a program that only differs in dead code."""

from __future__ import annotations

import pytest

from primer_search.canonical import canonical_form, canonical_hash
from primer_search.dna import (
    BRANCHES,
    DIM_MULTIPLIERS,
    DNA,
    NUM_INPUTS,
    Instruction,
    Subprogram,
    check_dna,
    live_instructions,
)
from primer_search.ops import CALL, PRIMITIVES, REGISTRY
from primer_search.render import reachable_subprograms
from primer_search.seeds import load_seed


def I(op: str, a: int = 0, b: int = 0, **fields: int) -> Instruction:  # noqa: E743
    return Instruction(op=op, input1=a, input2=b, **fields)


def call(callee: int, a: int = 0, b: int = 0, branch: int = 1) -> Instruction:
    return Instruction(op=CALL, input1=a, input2=b, callee=callee, branch=branch)


def program(*subs: list[Instruction], **banks: tuple) -> DNA:
    return check_dna(
        DNA(subprograms=tuple(Subprogram(instructions=tuple(s)) for s in subs), **banks)
    )


def h(dna: DNA) -> str:
    return canonical_hash(check_dna(dna))


@pytest.fixture(scope="module")
def seed() -> DNA:
    return load_seed("transformer")


# ---------------------------------------------------------------------------------------------
# Edits, written as the mutator would make them.


def with_sub(dna: DNA, s: int, instructions: list[Instruction]) -> DNA:
    subs = list(dna.subprograms)
    subs[s] = Subprogram(instructions=tuple(instructions))
    return dna.model_copy(update={"subprograms": tuple(subs)})


def with_field(dna: DNA, s: int, i: int, **update: object) -> DNA:
    insts = list(dna.subprograms[s].instructions)
    insts[i] = insts[i].model_copy(update=update)
    return with_sub(dna, s, insts)


def renumber(inst: Instruction, mapping) -> Instruction:
    return inst.model_copy(update={"input1": mapping(inst.input1), "input2": mapping(inst.input2)})


def insert_before_last(dna: DNA, s: int, new: Instruction) -> DNA:
    """`new` becomes the second-to-last instruction; nothing reads it, nothing else moves."""
    insts = list(dna.subprograms[s].instructions)
    return with_sub(dna, s, insts[:-1] + [new, insts[-1]])


def inline(dna: DNA, s: int, i: int) -> DNA:
    """Replace the branch-1 call at (s, i) by the callee's body, by hand."""
    insts = list(dna.subprograms[s].instructions)
    site = insts[i]
    assert site.op == CALL and site.branch == 1
    body = dna.subprograms[site.callee].instructions
    first = i + NUM_INPUTS  # the state the first inlined instruction writes

    def in_body(k: int) -> int:
        return (site.input1, site.input2)[k] if k < NUM_INPUTS else first + k - NUM_INPUTS

    def after(k: int) -> int:  # the call's own output becomes the body's last state
        return k if k < first else k + len(body) - 1

    inlined = [renumber(b, in_body) for b in body]
    return with_sub(dna, s, insts[:i] + inlined + [renumber(r, after) for r in insts[i + 1 :]])


def swap_adjacent(dna: DNA, s: int, i: int) -> DNA:
    """Swap instructions i and i+1 of subprogram s and the references to their states, so only
    their positions change (the paper's swap mutation, PRIMER.md section 4)."""
    insts = list(dna.subprograms[s].instructions)
    a, b = i + NUM_INPUTS, i + 1 + NUM_INPUTS
    assert b not in (insts[i + 1].input1, insts[i + 1].input2), "not independent"

    def swap(k: int) -> int:
        return {a: b, b: a}.get(k, k)

    new = insts[:i] + [insts[i + 1], insts[i]] + [renumber(r, swap) for r in insts[i + 2 :]]
    return with_sub(dna, s, new)


def live_sites(dna: DNA) -> list[tuple[int, int]]:
    """(subprogram, instruction) of every live instruction in every called subprogram."""
    return [
        (s, i)
        for s in sorted(reachable_subprograms(dna))
        for i, live in enumerate(live_instructions(dna.subprograms[s]))
        if live
    ]


# ---------------------------------------------------------------------------------------------
# Dead-code-only edits keep the hash.


@pytest.mark.parametrize(
    "dead",
    [I("TANH", 0), I("CONV_31X1", 1, dim=1), call(9, 0, 1, branch=8)],
    ids=["unary", "weighted", "branched-call"],
)
def test_unused_instruction_before_the_last_keeps_the_hash(seed: DNA, dead: Instruction) -> None:
    for s in range(len(seed.subprograms) - 1):  # the call needs a higher callee
        edited = insert_before_last(seed, s, dead)
        assert h(edited) == h(seed), f"dead instruction in subprogram {s}"
        assert edited != seed


def test_fields_an_op_ignores_do_not_change_the_hash(seed: DNA) -> None:
    """Every live instruction of the seed, every field its op does not use."""
    checked = 0
    for s, i in live_sites(seed):
        inst = seed.subprograms[s].instructions[i]
        uses = REGISTRY[inst.op].uses
        n_states = i + NUM_INPUTS
        alternatives = {
            "input2": n_states - 1 - inst.input2,  # another existing state
            "constant": 1 - inst.constant,
            "dim": 1 - inst.dim,
            "branch": 4 if inst.branch != 4 else 2,
            "callee": len(seed.subprograms) - 1,
        }
        for field, value in alternatives.items():
            if field in uses or (field == "callee" and inst.op == CALL):
                continue
            if value == getattr(inst, field):
                continue
            edited = with_field(seed, s, i, **{field: value})
            assert h(edited) == h(seed), f"{field} of {inst.op} at subprogram {s}, inst {i}"
            checked += 1
    assert checked > 50  # the sweep really ran


def test_input_a_callee_ignores_does_not_change_the_hash(seed: DNA) -> None:
    """MAIN's first instruction calls the layer norm, which reads its input 0 only."""
    norm_call = seed.subprograms[0].instructions[0]
    assert norm_call.op == CALL and norm_call.callee == 5
    assert h(with_field(seed, 0, 0, input2=1)) == h(seed)


def test_unused_subprogram_keeps_the_hash(seed: DNA) -> None:
    subs = seed.subprograms + (Subprogram(instructions=(I("CONV_3X1", 0, dim=1),)),)
    assert h(seed.model_copy(update={"subprograms": subs})) == h(seed)


def test_edits_inside_a_never_called_subprogram_keep_the_hash(seed: DNA) -> None:
    extra = Subprogram(instructions=(I("SIN"),))
    base = seed.model_copy(update={"subprograms": seed.subprograms + (extra,)})
    last = len(base.subprograms) - 1
    assert h(with_field(base, last, 0, op="COS")) == h(seed)


def test_unused_bank_entries_are_ignored(seed: DNA) -> None:
    grown = seed.model_copy(
        update={"constants": seed.constants + (3.0,), "dims": seed.dims + (64,)}
    )
    assert h(grown) == h(seed)
    changed = grown.model_copy(
        update={"constants": seed.constants + (-7.5,), "dims": seed.dims + (1,)}
    )
    assert h(changed) == h(seed)


def test_bank_indexes_to_equal_values_hash_equal() -> None:
    """Bank values are substituted: which index holds the value does not matter."""
    banks = {"constants": (0.5, 0.5), "dims": (8, 8)}
    a = program([I("C_MUL", constant=0), I("CONV_1X1", 2, dim=0)], **banks)
    b = program([I("C_MUL", constant=1), I("CONV_1X1", 2, dim=1)], **banks)
    assert h(a) == h(b)


# ---------------------------------------------------------------------------------------------
# Live edits change the hash.


def test_live_op_change(seed: DNA) -> None:
    assert h(with_field(seed, 9, 0, op="MIN")) != h(seed)  # ReLU's max -> min
    assert h(with_field(seed, 4, 0, op="SIGMOID")) != h(seed)  # the softmax's exp


def test_every_primitive_hashes_differently_in_the_same_place() -> None:
    """The registry enumerated: op i at the output of the same program, 39 distinct hashes."""
    hashes = {op: h(program([I("SIN"), I(op, 0, 2)])) for op in PRIMITIVES}
    assert len(set(hashes.values())) == len(PRIMITIVES)


def test_live_input_change(seed: DNA) -> None:
    scores = seed.subprograms[1].instructions[4]
    assert (scores.op, scores.input1, scores.input2) == ("T_MAT_MUL", 5, 3)  # Q K^T
    assert h(with_field(seed, 1, 4, input2=4)) != h(seed)  # Q V^T
    # Swapping the inputs of a non-commutative op: x - mean vs mean - x in the z-score.
    diff = seed.subprograms[6].instructions[1]
    assert (diff.op, diff.input1, diff.input2) == ("DIFFERENCE", 0, 2)
    assert h(with_field(seed, 6, 1, input1=2, input2=0)) != h(seed)


def test_live_constant_value_and_index(seed: DNA) -> None:
    assert seed.constants == (0.0, 0.125)
    assert h(seed.model_copy(update={"constants": (0.0, 0.25)})) != h(seed)
    assert h(seed.model_copy(update={"constants": (0.0, -0.125)})) != h(seed)
    assert h(with_field(seed, 1, 3, constant=0)) != h(seed)  # Q * 0.0 instead of Q * 0.125


def test_every_dim_multiplier_hashes_differently(seed: DNA) -> None:
    hashes = {h(seed.model_copy(update={"dims": (8, m)})) for m in DIM_MULTIPLIERS}
    assert len(hashes) == len(DIM_MULTIPLIERS)


def test_every_branch_of_a_call_hashes_differently(seed: DNA) -> None:
    heads = seed.subprograms[0].instructions[1]
    assert heads.op == CALL and heads.branch == 8
    hashes = {h(with_field(seed, 0, 1, branch=b)) for b in BRANCHES}
    assert len(hashes) == len(BRANCHES)


def test_live_callee_change() -> None:
    base = program([call(1)], [I("TANH")], [I("SIGMOID")])
    assert h(with_field(base, 0, 0, callee=2)) != h(base)


# ---------------------------------------------------------------------------------------------
# Same graph, written differently.


def test_call_inlined_by_hand_hashes_equal(seed: DNA) -> None:
    """Every branch-1 call of the seed, inlined one at a time (nested calls included: the
    layer-norm call brings its own two calls into MAIN)."""
    inlined = 0
    for s, i in live_sites(seed):
        inst = seed.subprograms[s].instructions[i]
        if inst.op == CALL and inst.branch == 1:
            edited = inline(seed, s, i)
            assert h(edited) == h(seed), f"inlining the call at subprogram {s}, inst {i}"
            inlined += 1
    assert inlined >= 8


def test_fully_inlined_main_hashes_equal(seed: DNA) -> None:
    dna = seed
    while True:
        sites = [
            i
            for i, inst in enumerate(dna.subprograms[0].instructions)
            if inst.op == CALL and inst.branch == 1
        ]
        if not sites:
            break
        dna = inline(dna, 0, sites[0])
    assert len(dna.subprograms[0].instructions) > len(seed.subprograms[0].instructions)
    assert h(dna) == h(seed)


def test_a_branched_call_is_not_its_inlined_body() -> None:
    """branch 2 runs two copies with their own weights: not the same graph as one copy."""
    body = [I("CONV_1X1", 0, dim=0)]
    assert h(program([call(1, branch=2)], body)) != h(program(body))


def test_reordering_independent_instructions_keeps_the_hash(seed: DNA) -> None:
    # The attention head's Q and K projections (instructions 0 and 1 of subprogram 1).
    assert h(swap_adjacent(seed, 1, 0)) == h(seed)
    # Two different independent instructions, and the op reading both.
    a = program([I("CONV_1X1", 0, dim=0), I("SIN", 0), I("DIFFERENCE", 2, 3)])
    b = swap_adjacent(a, 0, 0)
    assert [inst.op for inst in b.subprograms[0].instructions] == ["SIN", "CONV_1X1", "DIFFERENCE"]
    assert (b.subprograms[0].instructions[2].input1, b.subprograms[0].instructions[2].input2) == (
        3,
        2,
    )
    assert h(a) == h(b)


def test_independent_projections_of_one_input_are_not_merged() -> None:
    """T_MAT_MUL(CONV(x), CONV(x)) has two weight matrices (Q and K); T_MAT_MUL(y, y) has one."""
    two = program([I("CONV_1X1", 0), I("CONV_1X1", 0), I("T_MAT_MUL", 2, 3)])
    one = program([I("CONV_1X1", 0), I("T_MAT_MUL", 2, 2)])
    assert h(two) != h(one)
    assert len(canonical_form(two)) == len(canonical_form(one)) + 1


def test_repeated_weight_free_computations_are_one_computation() -> None:
    """EXP(x) computed twice is the same function as once: no weights tell them apart."""
    twice = program([I("EXP", 0), I("EXP", 0), I("ADD", 2, 3)])
    once = program([I("EXP", 0), I("ADD", 2, 2)])
    assert h(twice) == h(once)


def test_canonical_form_is_a_topological_node_list() -> None:
    dna = program([call(1, branch=2), I("ADD", 0, 2)], [I("CONV_1X1", 0, dim=0)])
    form = canonical_form(dna)
    ops = [entry[0] for entry in form]
    assert ops == ["INPUT", "ENTER", "CONV_1X1", "EXIT", "ADD"]
    for position, entry in enumerate(form):
        assert all(p < position for p in entry[1])
    conv = form[2]
    assert conv[2] == [2]  # scope: one branch axis of 2
    assert conv[3] == 8  # the dim multiplier, not its bank index


def test_hash_is_stable_across_releases() -> None:
    """Stored fitness caches and databases are keyed by this hash. If a deliberate change to the
    canonical form breaks this test, stored hashes are invalidated: say so in the changelog."""
    dna = program(
        [I("CONV_1X1", 0, dim=0), call(1, 2, 0, branch=2), I("ADD", 0, 3)],
        [I("C_MUL", 0, constant=1), I("TANH", 2)],
        constants=(0.0, 0.5),
        dims=(8, 16),
    )
    assert canonical_hash(dna) == GOLDEN_HASH


GOLDEN_HASH = "628aa000295750d01e19e0eaaf112c37aecc7de930ee7296747617c27e8057e7"
