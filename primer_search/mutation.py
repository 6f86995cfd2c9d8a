"""The mutator: one random edit of a DNA per child (PRIMER.md section 4; issue 4).

The six mutation types of the paper form a closed enum; each is one small function below whose
docstring says what it changes and when it is a no-op. `mutate` draws one type (uniformly unless
configured), applies it, re-validates the child, and applies the paper's light check: a child
whose canonical hash (canonical.py) equals its parent's is discarded and the parent mutated
again from scratch (a fresh type too, so a type that cannot change this parent's live code, such
as a bank change where no live instruction reads the banks, does not stall it), up to
`MutationConfig.max_tries` attempts, after which the last child is returned with
`MutationRecord.same_graph` set. The types of the accepted children are therefore not exactly
uniform: types that often touch dead code (insert, above all) are accepted less often than they
are drawn. All randomness comes from the `numpy.random.Generator` handed
in, so a seeded search is reproducible. Pure Python: no TensorFlow here.

Decisions where the paper is silent (it works with the same absolute state numbering as dna.py:
instruction i of a subprogram produces state i + 2):

* Where. A mutation of an instruction picks the subprogram uniformly among those it can apply
  to, then the position uniformly (AutoML-Zero picks a component function, then an instruction).
* Delete splices the instruction out. Later instructions that read its state read its `input1`
  instead (the state it was applied to, so deleting a layer of a chain reconnects the chain, as
  removing a layer from a residual stack would); reads of later states move down by one. A
  subprogram is never emptied: delete applies only to subprograms of 2 or more instructions.
  Deleting the last instruction makes the one before it the subprogram's output.
* Insert splices a new random instruction in on its own `input1`: with the new instruction at
  position i reading state p, every later read of p becomes a read of the new state (so an
  activation inserted after a projection is applied to everything that used the projection,
  instead of sitting dead); reads of states >= i + 2 move up by one. Inserted at the end, it
  becomes the subprogram's output. Insert and delete are exact inverses under these two rules.
  Every field of the new instruction is drawn at random among the values valid at its position,
  the ones its op ignores included (AutoML-Zero's "randomized arguments"), so that a later op
  change can bring them to life; CALL is one op among the 40, and a new call only goes to a
  higher subprogram, with a callee and branch that keep the size limits.
* Delete-and-insert deletes one instruction then inserts one in the same subprogram (AutoML-Zero's
  "trade"), so the subprogram keeps its length; it also applies to one-instruction subprograms.
* Change-field changes one field the op reads (or the op itself) to another value valid at that
  position: inputs to earlier states, bank indexes within the banks, branch and callee only where
  the call keeps the size limits. A primitive becomes a CALL only where its dormant `callee` and
  `branch` already form a valid call, so that exactly one field changes; new calls otherwise come
  from inserts.
* Swap exchanges two instructions of one subprogram but leaves each position reading the states
  it read before: the two operations (op, constant, dim, branch, callee) trade places in an
  unchanged wiring. With absolute state numbers, moving the inputs along with an instruction
  would be meaningless (an instruction moved earlier could read states that do not exist yet);
  swapping the inputs back is what the paper means by "only their positions in the graph
  change". No state index is renumbered.
* Change-bank picks one entry of the constants and dims banks together, uniformly: a dim becomes
  another allowed multiplier; a constant c becomes c * 10^X + Y with X, Y ~ N(0, 1), clipped to
  the limits' largest allowed magnitude.
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from primer_search.canonical import canonical_hash
from primer_search.dna import (
    BRANCHES,
    DEFAULT_LIMITS,
    DIM_MULTIPLIERS,
    DNA,
    MAIN,
    NUM_INPUTS,
    Instruction,
    Limits,
    Subprogram,
    check_dna,
    validate_dna,
)
from primer_search.errors import PrimerSearchError
from primer_search.graph import live_of, op_reads
from primer_search.identity_cache import IdentityCache
from primer_search.ops import CALL, PRIMITIVES, REGISTRY

OPS: tuple[str, ...] = (*PRIMITIVES, CALL)  # what an inserted instruction or an op change draws
# Field order is fixed so that a seeded draw is reproducible.
FIELDS: tuple[str, ...] = ("op", "input1", "input2", "constant", "dim", "branch", "callee")


class MutationType(str, enum.Enum):
    DELETE = "delete"
    INSERT = "insert"
    DELETE_AND_INSERT = "delete_and_insert"
    CHANGE_FIELD = "change_field"
    SWAP = "swap"
    CHANGE_BANK = "change_bank"


class MutationRecord(BaseModel):
    """What one mutation changed, for the lineage view and the mutation statistics.

    Instructions are recorded whole (as dicts) where one is deleted, inserted or swapped; a
    changed field records its old and new value. `instruction` is the position in the parent
    (delete, change-field, swap) or in the child (insert); `second_instruction` is the insert
    position in the child for delete-and-insert and the later position for swap. For a bank
    change `field` is "constants.k" or "dims.k". `retries` counts the children the light check
    discarded before this one (they computed the parent's graph); `same_graph` is True only when
    `max_tries` ran out and this child still computes its parent's graph."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: MutationType
    subprogram: int | None = None
    instruction: int | None = None
    second_instruction: int | None = None
    field: str | None = None
    old: JsonValue = None
    new: JsonValue = None
    retries: int = 0
    same_graph: bool = False


class MutationConfig(BaseModel):
    """Which mutation types `mutate` draws, with what weights (a type left out is never drawn;
    the default is the paper's uniform choice), and `max_tries`, the light check's bound on the
    attempts per child."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[MutationType, float] = Field(
        default_factory=lambda: {t: 1.0 for t in MutationType}
    )
    max_tries: int = Field(default=50, ge=1)

    @field_validator("weights")
    @classmethod
    def _check_weights(cls, weights: dict[MutationType, float]) -> dict[MutationType, float]:
        for kind, weight in weights.items():
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"weight of {kind.value} must be finite and >= 0, got {weight}")
        if not any(w > 0 for w in weights.values()):
            raise ValueError(f"at least one mutation type needs a positive weight, got {weights}")
        return weights

    @classmethod
    def only(cls, *types: MutationType, max_tries: int = 50) -> MutationConfig:
        return cls(weights={t: 1.0 for t in types}, max_tries=max_tries)


DEFAULT_MUTATION_CONFIG = MutationConfig()


class MutationError(PrimerSearchError):
    """No configured mutation type can apply to the parent."""


def _positive(config: MutationConfig) -> list[str]:
    return [kind.value for kind, weight in config.weights.items() if weight > 0]


T = TypeVar("T")
Mutation = tuple[DNA, MutationRecord]
Program = Sequence[Sequence[Instruction]]  # the instructions of each subprogram


def mutate(
    dna: DNA,
    rng: np.random.Generator,
    limits: Limits = DEFAULT_LIMITS,
    config: MutationConfig = DEFAULT_MUTATION_CONFIG,
) -> Mutation:
    """One child of a valid `dna` and the record of its mutation (module docstring).

    Each attempt draws a type among the configured ones that can apply to `dna` (a type that
    cannot, such as delete when every subprogram has one instruction, is dropped for this parent
    and costs no attempt), then applies it. The light check makes a fresh attempt, type included,
    while the child computes the parent's graph."""
    child, record, _child_hash = mutate_with_hash(dna, rng, limits, config)
    return child, record


def mutate_with_hash(
    dna: DNA,
    rng: np.random.Generator,
    limits: Limits = DEFAULT_LIMITS,
    config: MutationConfig = DEFAULT_MUTATION_CONFIG,
    parent_hash: str | None = None,
) -> tuple[DNA, MutationRecord, str]:
    """`mutate`, also returning the child's canonical hash, which the light check computes
    anyway (the engine keys its cache with it). With `parent_hash`, the caller vouches that `dna`
    is valid under `limits` and has that hash (the engine: every member was checked as a child),
    and neither is recomputed. Same draws from `rng`, so the same child, either way."""
    if parent_hash is None:
        check_dna(dna, limits)
        parent_hash = canonical_hash(dna)
    kinds = [k for k in MutationType if config.weights.get(k, 0.0) > 0]
    cdf: tuple[float, ...] | None = None  # the cumulative draw probabilities of `kinds`
    last: Draft | Mutation | None = None  # the last attempt: a Draft while not built
    child_hash = parent_hash
    attempt = 0
    while attempt < config.max_tries:
        if not kinds:
            raise MutationError(
                f"none of the mutation types {_positive(config)} applies to this "
                "DNA (delete and swap need a subprogram of 2 or more instructions, insert needs "
                "room under the size limits)"
            )
        if cdf is None:
            cdf = _cumulative(tuple(config.weights[k] for k in kinds))
        kind = kinds[bisect.bisect_right(cdf, rng.random())]
        draft = DRAWS[kind](dna, rng, limits)
        if draft is None:
            kinds.remove(kind)
            cdf = None
            continue
        # A change confined to dead code leaves the parent's graph, and hash, as they were
        # (_neutral): the light check then retries without building, checking or lowering the
        # child, which a search drifting into dead code does for most attempts.
        last = draft
        if not _neutral(dna, draft):
            last = child, record = draft.build()
            _check_child(child, limits, record)
            child_hash = canonical_hash(child)
            if child_hash != parent_hash:
                break
        attempt += 1
    assert last is not None
    same = attempt == config.max_tries  # the light check ran out: the last child is returned
    if isinstance(last, Draft):  # a change to dead code, not built yet
        last = last.build()
        _check_child(last[0], limits, last[1])
    child, record = last
    retries = min(attempt, config.max_tries - 1)
    return child, record.model_copy(update={"retries": retries, "same_graph": same}), child_hash


@functools.lru_cache(maxsize=64)
def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    """The cumulative probabilities that `rng.choice(len(weights), p=normalized weights)` draws
    from, computed as numpy does: `bisect_right(cdf, rng.random())` is then the same draw from
    the same stream of numbers (and 30 times cheaper)."""
    p = np.array(weights, dtype=float)
    p /= p.sum()
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return tuple(float(c) for c in cdf)


def _neutral(parent: DNA, draft: Draft) -> bool:
    """Whether the mutation changed only code outside the parent's graph, so that the child
    lowers to the parent's graph (sufficient, not necessary; tests/test_evolution_speed.py checks
    it against the hash):

    * any change inside a subprogram that no live call reaches from MAIN (_reached);
    * a deleted, changed or swapped instruction that is dead in its subprogram
      (dna.live_instructions: its state never reaches the output; what reads it is dead too, so
      the wiring of live code is only renumbered);
    * an inserted instruction that stays dead: not at the end, and no live instruction after it
      reads the state it splices in on (_insert_at), so only dead readers move to it; for
      delete-and-insert, after the deletion of a dead instruction;
    * a bank entry that no live instruction of a reached subprogram reads."""
    kind = draft.type
    reached = _reached(parent)
    if kind is MutationType.CHANGE_BANK:
        bank, k = str(draft.field).split(".")
        side = 0 if bank == "constants" else 1
        return not any(
            int(k) in _BANK_READS.get(sub, _bank_reads)[side]
            for sub, on in zip(parent.subprograms, reached, strict=True)
            if on
        )
    s, i, spliced = draft.subprogram, draft.instruction, draft.spliced
    assert s is not None and i is not None
    if not reached[s]:
        return True  # the other types change subprogram s alone
    sub = parent.subprograms[s]
    live = live_of(sub)
    if kind is MutationType.INSERT:
        assert spliced is not None
        return _dead_insert(sub, live, i, spliced, deleted=None)
    if live[i]:
        return False
    j = draft.second_instruction
    if kind is MutationType.SWAP:
        assert j is not None
        return not live[j]
    if kind is MutationType.DELETE_AND_INSERT:
        assert j is not None and spliced is not None
        return _dead_insert(sub, live, j, spliced, deleted=i)
    return True


def _dead_insert(
    sub: Subprogram, live: list[bool], at: int, spliced: int, deleted: int | None
) -> bool:
    """Whether an instruction inserted at position `at` of `sub` (after the dead instruction
    `deleted` was removed, if given) and spliced in on state `spliced` stays dead: it is not the
    new output, and no live instruction after it reads `spliced` (the inputs of live
    instructions, renumbered past the deletion; a live one never reads the deleted state)."""
    length = len(sub.instructions) - (deleted is not None)
    if at >= length:
        return False  # the new last instruction: the subprogram's output
    for k, (inst, on) in enumerate(zip(sub.instructions, live, strict=True)):
        if not on:
            continue
        position, input1, input2 = k, inst.input1, inst.input2
        if deleted is not None:
            gone = NUM_INPUTS + deleted
            position -= k > deleted
            input1 -= input1 > gone
            input2 -= input2 > gone
        if position >= at and spliced in (input1, input2):
            return False
    return True


def _reached(dna: DNA) -> tuple[bool, ...]:
    """Which subprograms a chain of live calls reaches from MAIN (calls go to higher
    subprograms only), remembered: the light check asks once per attempt."""
    return _REACHED.get(dna, _reach)


def _reach(dna: DNA) -> tuple[bool, ...]:
    reached = [False] * len(dna.subprograms)
    reached[MAIN] = True
    for s, sub in enumerate(dna.subprograms):
        if reached[s]:
            for inst, on in zip(sub.instructions, live_of(sub), strict=True):
                if on and inst.op == CALL:
                    reached[inst.callee] = True
    return tuple(reached)


_REACHED: IdentityCache[DNA, tuple[bool, ...]] = IdentityCache(64)


def _bank_reads(sub: Subprogram) -> tuple[frozenset[int], frozenset[int]]:
    """The constants and the dims the live instructions of `sub` read."""
    constants, dims = set(), set()
    for inst, live in zip(sub.instructions, live_of(sub), strict=True):
        if live and inst.op != CALL:
            reads = op_reads(inst.op)
            if reads.constant:
                constants.add(inst.constant)
            if reads.dim:
                dims.add(inst.dim)
    return frozenset(constants), frozenset(dims)


_BANK_READS: IdentityCache[Subprogram, tuple[frozenset[int], frozenset[int]]] = IdentityCache(1024)


def _record(**fields: Any) -> MutationRecord:
    """A record of values the mutations made themselves (a type, ints, field names, bank values,
    instruction dicts), built without validation: validating its JsonValue fields cost a third
    of a mutation."""
    return MutationRecord.model_construct(**fields)


def _check_child(child: DNA, limits: Limits, record: MutationRecord) -> None:
    """Every child is valid by construction; an invalid one is a bug in this module."""
    issues = validate_dna(child, limits)
    if issues:
        raise AssertionError(
            f"mutation {record.model_dump_json()} made an invalid DNA: "
            f"{'; '.join(map(str, issues))}\n{child.to_json()}"
        )


# ---------------------------------------------------------------------------------------------
# The six mutations. Each draws its change (every draw from `rng` happens here) and returns it as
# a Draft, or None where it cannot apply; the child and its record are built only on demand, so
# that the light check discards a change to dead code without building it (_neutral).


class Draft(NamedTuple):
    """A drawn mutation: where it changes the parent (what _neutral reads; `spliced` is the
    input1 of an inserted instruction) and `build`, which makes the child and its record. A
    named tuple: the light check makes one per attempt, and a frozen dataclass costs several
    times as much to build."""

    type: MutationType
    build: Callable[[], Mutation]
    subprogram: int | None = None
    instruction: int | None = None
    second_instruction: int | None = None
    field: str | None = None
    spliced: int | None = None


def delete_instruction(dna: DNA, rng: np.random.Generator, limits: Limits) -> Draft | None:
    """Delete one instruction of a subprogram with 2 or more; readers of its state read its
    input1. No-op (None) when every subprogram has one instruction; the child computes the same
    graph when the instruction was dead."""
    subs = dna.subprograms
    s = _pick(rng, _budget(dna).pairable)
    if s is None:
        return None
    i = _index(rng, len(subs[s].instructions))

    def build() -> Mutation:
        insts = list(subs[s].instructions)
        old = insts[i].model_dump()
        record = _record(type=MutationType.DELETE, subprogram=s, instruction=i, old=old)
        return _replace(dna, s, _delete_at(insts, i)), record

    return Draft(MutationType.DELETE, build, s, i)


def insert_instruction(dna: DNA, rng: np.random.Generator, limits: Limits) -> Draft | None:
    """Insert a random instruction at a random position (the end included), spliced in on its
    input1. No-op (None) when every subprogram is at the instruction limit or the resolved
    instruction limit leaves no room; same graph when the new state is never read."""
    subs = dna.subprograms
    budget = _budget(dna)
    s = _pick(rng, budget.insertable(limits))
    if s is None:
        return None
    i = _index(rng, len(subs[s].instructions) + 1)
    fields = _random_fields(dna, budget, s, i, 0, rng, limits)

    def build() -> Mutation:
        new = Instruction(**fields)
        record = _record(
            type=MutationType.INSERT, subprogram=s, instruction=i, new=new.model_dump()
        )
        return _replace(dna, s, _insert_at(list(subs[s].instructions), i, new)), record

    return Draft(MutationType.INSERT, build, s, i, spliced=fields["input1"])


def delete_and_insert(dna: DNA, rng: np.random.Generator, limits: Limits) -> Draft | None:
    """Delete one instruction, then insert a random one in the same subprogram (its length is
    kept). Always applies; same graph when both the deleted and the new instruction are dead."""
    subs = dna.subprograms
    s = _index(rng, len(subs))
    insts = subs[s].instructions
    i = _index(rng, len(insts))
    j = _index(rng, len(insts))  # a position among the len - 1 left, the end included
    budget = _budget(dna)
    fields = _random_fields(dna, budget, s, j, budget.resolved(insts[i]), rng, limits)

    def build() -> Mutation:
        new = Instruction(**fields)
        record = _record(
            type=MutationType.DELETE_AND_INSERT,
            subprogram=s,
            instruction=i,
            second_instruction=j,
            old=insts[i].model_dump(),
            new=new.model_dump(),
        )
        return _replace(dna, s, _insert_at(_delete_at(list(insts), i), j, new)), record

    return Draft(MutationType.DELETE_AND_INSERT, build, s, i, j, spliced=fields["input1"])


def change_field(dna: DNA, rng: np.random.Generator, limits: Limits) -> Draft | None:
    """Change the op or one field the op reads of one instruction to another value valid at its
    position. Always applies (input1 always has another choice); same graph when the instruction
    is dead, or, for example, when a constant index moves to an equal constant."""
    subs = dna.subprograms
    budget = _budget(dna)
    s = _index(rng, len(subs))
    i = _index(rng, len(subs[s].instructions))
    inst = subs[s].instructions[i]
    name = _pick(rng, _changeable(dna, budget, s, i, limits))
    assert name is not None, "input1 always has another valid state"
    value = _pick(rng, _field_values(dna, budget, s, i, name, limits))

    def build() -> Mutation:
        insts = list(subs[s].instructions)
        insts[i] = inst.model_copy(update={name: value})
        record = _record(
            type=MutationType.CHANGE_FIELD,
            subprogram=s,
            instruction=i,
            field=name,
            old=getattr(inst, name),
            new=value,
        )
        return _replace(dna, s, insts), record

    return Draft(MutationType.CHANGE_FIELD, build, s, i, field=name)


def swap_instructions(dna: DNA, rng: np.random.Generator, limits: Limits) -> Draft | None:
    """Exchange two instructions of a subprogram except their inputs: the operations trade places
    in an unchanged wiring (module docstring). No-op (None) when every subprogram has one
    instruction; same graph when both are dead or their operations are equal."""
    subs = dna.subprograms
    s = _pick(rng, _budget(dna).pairable)
    if s is None:
        return None
    i, j = sorted(int(k) for k in rng.choice(len(subs[s].instructions), size=2, replace=False))

    def build() -> Mutation:
        insts = list(subs[s].instructions)
        a, b = insts[i], insts[j]
        insts[i] = b.model_copy(update={"input1": a.input1, "input2": a.input2})
        insts[j] = a.model_copy(update={"input1": b.input1, "input2": b.input2})
        record = _record(
            type=MutationType.SWAP,
            subprogram=s,
            instruction=i,
            second_instruction=j,
            old=[a.model_dump(), b.model_dump()],
            new=[insts[i].model_dump(), insts[j].model_dump()],
        )
        return _replace(dna, s, insts), record

    return Draft(MutationType.SWAP, build, s, i, j)


def change_bank(dna: DNA, rng: np.random.Generator, limits: Limits) -> Draft | None:
    """Change one bank entry: a dim to another allowed multiplier, a constant c to
    c * 10^X + Y (X, Y ~ N(0, 1)), clipped to +-limits.max_abs_constant. Always applies; same
    graph when no live instruction reads the entry."""
    k = _index(rng, len(dna.constants) + len(dna.dims))
    old: float | int
    new: float | int | None
    if k < len(dna.constants):
        bank, index = "constants", k
        old = dna.constants[index]
        x, y = float(rng.normal()), float(rng.normal())
        new = float(np.clip(old * 10.0**x + y, -limits.max_abs_constant, limits.max_abs_constant))
    else:
        bank, index = "dims", k - len(dna.constants)
        old = dna.dims[index]
        new = _pick(rng, [m for m in DIM_MULTIPLIERS if m != old])
        assert new is not None
    field = f"{bank}.{index}"

    def build() -> Mutation:
        values = getattr(dna, bank)
        record = _record(type=MutationType.CHANGE_BANK, field=field, old=old, new=new)
        return dna.model_copy(update={bank: (*values[:index], new, *values[index + 1 :])}), record

    return Draft(MutationType.CHANGE_BANK, build, field=field)


DRAWS: dict[MutationType, Callable[[DNA, np.random.Generator, Limits], Draft | None]] = {
    MutationType.DELETE: delete_instruction,
    MutationType.INSERT: insert_instruction,
    MutationType.DELETE_AND_INSERT: delete_and_insert,
    MutationType.CHANGE_FIELD: change_field,
    MutationType.SWAP: swap_instructions,
    MutationType.CHANGE_BANK: change_bank,
}


def _built(
    draw: Callable[[DNA, np.random.Generator, Limits], Draft | None],
) -> Callable[[DNA, np.random.Generator, Limits], Mutation | None]:
    def mutation(dna: DNA, rng: np.random.Generator, limits: Limits) -> Mutation | None:
        draft = draw(dna, rng, limits)
        return None if draft is None else draft.build()

    return functools.update_wrapper(mutation, draw)


# Each mutation type applied at once: the child and its record, or None where it cannot apply.
MUTATIONS: dict[MutationType, Callable[[DNA, np.random.Generator, Limits], Mutation | None]] = {
    kind: _built(draw) for kind, draw in DRAWS.items()
}


# ---------------------------------------------------------------------------------------------
# State renumbering: the two splice rules of the module docstring.


def _remap(inst: Instruction, mapping: Callable[[int], int]) -> Instruction:
    input1, input2 = mapping(inst.input1), mapping(inst.input2)
    if input1 == inst.input1 and input2 == inst.input2:
        return inst
    return inst.model_copy(update={"input1": input1, "input2": input2})


def _delete_at(insts: list[Instruction], i: int) -> list[Instruction]:
    """Remove instruction i; reads of its state i + 2 become reads of its input1."""
    gone, bypass = i + NUM_INPUTS, insts[i].input1

    def mapping(state: int) -> int:
        if state == gone:
            return bypass
        return state - 1 if state > gone else state

    return insts[:i] + [_remap(inst, mapping) for inst in insts[i + 1 :]]


def _insert_at(insts: list[Instruction], i: int, new: Instruction) -> list[Instruction]:
    """Put `new` at position i (state i + 2); later reads of its input1 become reads of it."""
    added, spliced = i + NUM_INPUTS, new.input1

    def mapping(state: int) -> int:
        if state == spliced:
            return added
        return state + 1 if state >= added else state

    return [*insts[:i], new, *(_remap(inst, mapping) for inst in insts[i:])]


# ---------------------------------------------------------------------------------------------
# Size limits that a call or an insert could break (dna.Limits), computed once per parent.


@dataclass(frozen=True)
class _Budget:
    """counts[s]: instructions of s with calls expanded; expansions[s]: how often s is expanded
    from MAIN (dead code included, as in dna.resolved_instruction_count); nested[s]: the largest
    branch product inside s; into[s]: the largest branch product of a chain of calls from MAIN
    to s (0 when no chain reaches s)."""

    counts: tuple[int, ...]
    expansions: tuple[int, ...]
    nested: tuple[int, ...]
    into: tuple[int, ...]
    lengths: tuple[int, ...]  # instructions of each subprogram
    # calls(): the new calls that fit, by (s, freed, the two limits they depend on)
    _calls: dict[tuple[int, int, int, int], list[tuple[int, int]]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    # insertable(): by the two limits it depends on
    _insertable: dict[tuple[int, int], list[int]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, program: Program) -> _Budget:
        n = len(program)
        counts, nested = [0] * n, [1] * n
        for s in reversed(range(n)):
            for inst in program[s]:
                is_call = inst.op == CALL
                counts[s] += counts[inst.callee] if is_call else 1
                if is_call:
                    nested[s] = max(nested[s], inst.branch * nested[inst.callee])
        expansions, into = [0] * n, [0] * n
        expansions[MAIN], into[MAIN] = 1, 1
        for s in range(n):
            for inst in program[s]:
                if inst.op == CALL:
                    expansions[inst.callee] += expansions[s]
                    if into[s]:
                        into[inst.callee] = max(into[inst.callee], into[s] * inst.branch)
        lengths = tuple(len(instructions) for instructions in program)
        return cls(tuple(counts), tuple(expansions), tuple(nested), tuple(into), lengths)

    @functools.cached_property
    def pairable(self) -> list[int]:
        """The subprograms of 2 or more instructions, which delete and swap pick among (do not
        modify the list)."""
        return [s for s, length in enumerate(self.lengths) if length >= 2]

    def insertable(self, limits: Limits) -> list[int]:
        """The subprograms an instruction can be inserted into under `limits` (do not modify
        the list), remembered like calls()."""
        key = (limits.max_instructions, limits.max_resolved_instructions)
        found = self._insertable.get(key)
        if found is None:
            found = self._insertable[key] = [
                s
                for s, length in enumerate(self.lengths)
                if length < limits.max_instructions and self.fits_primitive(s, limits)
            ]
        return found

    def resolved(self, inst: Instruction) -> int:
        """The resolved instructions `inst` counts per expansion of its subprogram."""
        return self.counts[inst.callee] if inst.op == CALL else 1

    def fits_primitive(self, s: int, limits: Limits) -> bool:
        return self.counts[MAIN] + self.expansions[s] <= limits.max_resolved_instructions

    def fits_call(self, s: int, callee: int, branch: int, freed: int, limits: Limits) -> bool:
        """Whether a call in s to `callee` with `branch`, replacing something that counted
        `freed` resolved instructions per expansion of s, keeps both limits."""
        resolved = self.counts[MAIN] + self.expansions[s] * (self.counts[callee] - freed)
        product = self.into[s] * branch * self.nested[callee]
        return resolved <= limits.max_resolved_instructions and product <= limits.max_branch_product

    def calls(self, s: int, limits: Limits, freed: int = 0) -> list[tuple[int, int]]:
        """The (callee, branch) pairs of a new call in s that fit (do not modify the list) once
        something counting `freed` resolved instructions per expansion of s is gone, remembered:
        the light check draws many instructions into one parent.

        With `freed` the resolved count of an instruction of s, these are the calls that fit the
        program without it (delete-and-insert): removing it leaves every callee (all higher than
        s), the expansions of s and the chains into s as they were, and takes `freed` times the
        expansions of s off MAIN's count, which is what fits_call subtracts."""
        key = (s, freed, limits.max_resolved_instructions, limits.max_branch_product)
        found = self._calls.get(key)
        if found is None:
            found = self._calls[key] = [
                (c, b)
                for c in range(s + 1, len(self.counts))
                for b in BRANCHES
                if self.fits_call(s, c, b, freed, limits)
            ]
        return found


def _budget(dna: DNA) -> _Budget:
    """The budget of an unmodified `dna`, remembered: the light check mutates one parent many
    times."""
    return _BUDGETS.get(dna, lambda d: _Budget.of([sub.instructions for sub in d.subprograms]))


_BUDGETS: IdentityCache[DNA, _Budget] = IdentityCache(64)


def _field_values(
    dna: DNA, budget: _Budget, s: int, i: int, name: str, limits: Limits
) -> Sequence[int | str]:
    """Every value other than the current one that field `name` of instruction (s, i) may take
    in a valid DNA."""
    inst = dna.subprograms[s].instructions[i]
    current = getattr(inst, name)
    freed = budget.counts[inst.callee] if inst.op == CALL else 1
    if name == "op":
        ops = [op for op in PRIMITIVES if op != current]
        if current != CALL and _valid_call(dna, s, inst.callee, inst.branch, budget, freed, limits):
            ops.append(CALL)
        return ops
    if name in ("input1", "input2"):
        candidates = list(range(i + NUM_INPUTS))
    elif name == "constant":
        candidates = list(range(len(dna.constants)))
    elif name == "dim":
        candidates = list(range(len(dna.dims)))
    elif name == "branch":
        candidates = [
            b for b in BRANCHES if _valid_call(dna, s, inst.callee, b, budget, freed, limits)
        ]
    else:  # callee
        candidates = [
            c
            for c in range(s + 1, len(dna.subprograms))
            if _valid_call(dna, s, c, inst.branch, budget, freed, limits)
        ]
    return [v for v in candidates if v != current]


def _changeable(dna: DNA, budget: _Budget, s: int, i: int, limits: Limits) -> list[str]:
    """The fields of instruction (s, i) that change_field may change: the op and each field it
    reads whose _field_values are not empty, in FIELDS order. Only a call's branch and callee
    need their values listed to know; the others always have another value in a valid DNA,
    except a bank index in a bank of one entry (the light check asks for most instructions of a
    parent, and listing the values of every field was most of a change_field draw)."""
    uses = REGISTRY[dna.subprograms[s].instructions[i].op].uses
    changeable = []
    for name in FIELDS:
        if name == "op" or (name in ("input1", "input2") and name in uses):
            changeable.append(name)  # another op; another of the i + 2 >= 2 states
        elif name not in uses:
            continue
        elif name == "constant" or name == "dim":
            if len(dna.constants if name == "constant" else dna.dims) > 1:
                changeable.append(name)
        elif _field_values(dna, budget, s, i, name, limits):  # a call's branch, callee
            changeable.append(name)
    return changeable


def _valid_call(
    dna: DNA, s: int, callee: int, branch: int, budget: _Budget, freed: int, limits: Limits
) -> bool:
    return s < callee < len(dna.subprograms) and budget.fits_call(s, callee, branch, freed, limits)


def _random_fields(
    dna: DNA,
    budget: _Budget,
    s: int,
    i: int,
    freed: int,
    rng: np.random.Generator,
    limits: Limits,
) -> dict[str, Any]:
    """The fields of an instruction for position i of subprogram s, each drawn uniformly among
    the values valid there, in a program `freed` resolved instructions per expansion of s
    smaller than `dna` (budget: `dna`'s; freed: 0, or what a deleted instruction counted).
    Assumes a primitive fits the resolved-instruction limit. Fields, not an Instruction: the
    light check mostly discards the draw, and only a built child needs the validated model."""
    calls = budget.calls(s, limits, freed)
    op = _pick(rng, OPS if calls else PRIMITIVES)
    assert op is not None
    states = i + NUM_INPUTS
    callee, branch = calls[_index(rng, len(calls))] if calls else (0, 1)
    return {
        "op": op,
        "input1": _index(rng, states),
        "input2": _index(rng, states),
        "constant": _index(rng, len(dna.constants)),
        "dim": _index(rng, len(dna.dims)),
        "branch": branch,
        "callee": callee,
    }


# ---------------------------------------------------------------------------------------------
# Small helpers.


def _replace(dna: DNA, s: int, insts: list[Instruction]) -> DNA:
    """`dna` with the instructions of subprogram s replaced; the other subprograms are reused as
    they are (values, so the child is the same; the identity caches keep what they know of
    them), and so is subprogram s if the mutation left it equal."""
    old = dna.subprograms[s]
    if old.instructions == tuple(insts):  # element by element, identity first
        return dna.model_copy()
    subprograms = (
        *dna.subprograms[:s],
        Subprogram(instructions=tuple(insts)),
        *dna.subprograms[s + 1 :],
    )
    return dna.model_copy(update={"subprograms": subprograms})


def _index(rng: np.random.Generator, n: int) -> int:
    return int(rng.integers(n))


def _pick(rng: np.random.Generator, items: Sequence[T]) -> T | None:
    return items[_index(rng, len(items))] if items else None


def mutation_counts(records: list[MutationRecord]) -> Mapping[MutationType, int]:
    """How many records of each type, every type listed (for the mutation statistics)."""
    counts = dict.fromkeys(MutationType, 0)
    for record in records:
        counts[record.type] += 1
    return counts
