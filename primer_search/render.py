"""A DNA as readable TF-like code, one line per instruction, subprograms as functions, in the
style of the listings in the paper's appendix. Dead code is kept but marked, so that a mutation
that only touched dead code is visible as such."""

from __future__ import annotations

from primer_search.dna import DNA, MAIN, NUM_INPUTS, Instruction, live_instructions
from primer_search.ops import CALL, REGISTRY


def subprogram_name(index: int) -> str:
    return "main" if index == MAIN else f"sub{index}"


def state_name(index: int) -> str:
    return f"x{index}"


def reachable_subprograms(dna: DNA) -> set[int]:
    """Subprograms called (directly or not) from live code of MAIN."""
    seen = {MAIN}
    todo = [MAIN]
    while todo:
        s = todo.pop()
        sub = dna.subprograms[s]
        for inst, live in zip(sub.instructions, live_instructions(sub), strict=True):
            if live and inst.op == CALL and inst.callee not in seen:
                seen.add(inst.callee)
                todo.append(inst.callee)
    return seen


def render_instruction(dna: DNA, inst: Instruction) -> str:
    a, b = state_name(inst.input1), state_name(inst.input2)
    if inst.op == CALL:
        branch = f", branch={inst.branch}" if inst.branch != 1 else ""
        return f"{subprogram_name(inst.callee)}({a}, {b}{branch})"
    spec = REGISTRY[inst.op]
    args = [a, b] if spec.arity == 2 else [a]
    if "constant" in spec.uses:
        args.append(f"c={dna.constants[inst.constant]:g}")
    if "dim" in spec.uses:
        args.append(f"dim={dna.dims[inst.dim]}u")
    return f"{inst.op.lower()}({', '.join(args)})"


def render(dna: DNA, show_dead: bool = True) -> str:
    """The program as code; `u` is the base unit chosen by sizing."""
    used = reachable_subprograms(dna)
    lines = [
        f"# constants = {list(dna.constants)}; dims = {list(dna.dims)} (multiples of u)",
    ]
    for s, sub in enumerate(dna.subprograms):
        if s not in used and not show_dead:
            continue
        lines.append("")
        note = "" if s in used else "  # never called: dead"
        lines.append(f"def {subprogram_name(s)}(x0, x1):{note}")
        for i, (inst, live) in enumerate(
            zip(sub.instructions, live_instructions(sub), strict=True)
        ):
            if not live and not show_dead:
                continue
            code = f"{state_name(i + NUM_INPUTS)} = {render_instruction(dna, inst)}"
            lines.append(f"  {code}" if live else f"  # dead: {code}")
        lines.append(f"  return {state_name(len(sub.instructions) + NUM_INPUTS - 1)}")
    return "\n".join(lines) + "\n"
