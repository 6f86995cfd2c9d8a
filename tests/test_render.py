"""The readable rendering of a DNA (issue 2): subprograms as functions, one line per live
instruction, dead code and never-called subprograms visibly marked, like the paper's appendix."""

from __future__ import annotations

import re

import pytest

from primer_search.dna import DNA, Instruction, Subprogram, check_dna, live_instructions
from primer_search.ops import CALL, PRIMITIVES, REGISTRY
from primer_search.render import render
from primer_search.seeds import load_seed

ASSIGNMENT = re.compile(r"^  (x\d+) = (.+)$")
DEAD = re.compile(r"^  # dead: (x\d+) = (.+)$")


def I(op: str, a: int = 0, b: int = 0, **fields: int) -> Instruction:  # noqa: E743
    return Instruction(op=op, input1=a, input2=b, **fields)


def program(*subs: list[Instruction], **banks: tuple) -> DNA:
    return check_dna(
        DNA(subprograms=tuple(Subprogram(instructions=tuple(s)) for s in subs), **banks)
    )


def functions(text: str) -> dict[str, list[str]]:
    """The rendered text split into functions: header line -> body lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("def "):
            current = line
            out[current] = []
        elif current is not None and line:
            out[current].append(line)
    return out


# MAIN: x2 live, x3 dead (nothing reads it), x4 = call of sub1 (live), x5 = output.
# sub1 is called; sub2 is only called from dead code; sub3 is never called at all.
WITH_DEAD_CODE = program(
    [
        I("CONV_1X1", 0, dim=1),
        Instruction(op=CALL, input1=0, input2=0, callee=2),
        Instruction(op=CALL, input1=2, input2=0, callee=1, branch=4),
        I("ADD", 0, 4),
    ],
    [I("C_MUL", 0, constant=1), I("SIN", 0), I("MULTIPLY", 2, 0)],
    [I("TANH")],
    [I("EXP")],
    constants=(0.0, 0.5),
    dims=(8, 16),
)


def test_subprograms_render_as_functions_with_their_returns() -> None:
    text = render(WITH_DEAD_CODE)
    assert text.startswith("# constants = [0.0, 0.5]; dims = [8, 16]")
    bodies = functions(text)
    headers = [h.split("  #")[0] for h in bodies]
    assert headers == [
        "def main(x0, x1):",
        "def sub1(x0, x1):",
        "def sub2(x0, x1):",
        "def sub3(x0, x1):",
    ]
    for (header, body), sub in zip(bodies.items(), WITH_DEAD_CODE.subprograms, strict=True):
        last_state = len(sub.instructions) + 1
        assert body[-1] == f"  return x{last_state}", header


def test_one_line_per_instruction_and_dead_lines_marked() -> None:
    bodies = list(functions(render(WITH_DEAD_CODE)).values())
    for body, sub in zip(bodies, WITH_DEAD_CODE.subprograms, strict=True):
        lines = body[:-1]
        assert len(lines) == len(sub.instructions)
        for i, (line, live) in enumerate(zip(lines, live_instructions(sub), strict=True)):
            match = (ASSIGNMENT if live else DEAD).match(line)
            assert match, line
            assert match.group(1) == f"x{i + 2}"
    main = bodies[0]
    assert main[1] == "  # dead: x3 = sub2(x0, x0)"
    assert bodies[1][1] == "  # dead: x3 = sin(x0)"


def test_live_only_rendering_drops_dead_code() -> None:
    text = render(WITH_DEAD_CODE, show_dead=False)
    assert "dead" not in text
    assert "def sub2" not in text and "def sub3" not in text
    bodies = list(functions(text).values())
    assert bodies[0] == [
        "  x2 = conv_1x1(x0, dim=16u)",
        "  x4 = sub1(x2, x0, branch=4)",
        "  x5 = add(x0, x4)",
        "  return x5",
    ]
    assert bodies[1] == ["  x2 = c_mul(x0, c=0.5)", "  x4 = multiply(x2, x0)", "  return x4"]


def test_never_called_subprograms_are_marked() -> None:
    headers = list(functions(render(WITH_DEAD_CODE)))
    assert headers[1] == "def sub1(x0, x1):"  # called from live code
    assert headers[2] == "def sub2(x0, x1):  # never called: dead"  # called from dead code only
    assert headers[3] == "def sub3(x0, x1):  # never called: dead"


def test_the_transformer_reads_like_the_paper() -> None:
    dna = load_seed("transformer")
    text = render(dna)
    assert "dead" not in text  # the seed has no dead code
    lines = [line for line in text.splitlines() if ASSIGNMENT.match(line)]
    assert len(lines) == dna.num_instructions()
    main = functions(text)["def main(x0, x1):"]
    assert "  x3 = sub1(x2, x2, branch=8)" in main  # the heads
    head = functions(text)["def sub1(x0, x1):"]
    assert "  x5 = c_mul(x2, c=0.125)" in head
    assert "  x6 = t_mat_mul(x5, x3)" in head


@pytest.mark.parametrize("op", PRIMITIVES)
def test_every_primitive_renders_with_the_fields_it_uses(op: str) -> None:
    dna = program([I("SIN"), I(op, 2, 0, constant=1, dim=1)], constants=(0.0, -1.5), dims=(8, 24))
    line = functions(render(dna))["def main(x0, x1):"][1]
    spec = REGISTRY[op]
    args = ["x2", "x0"] if spec.arity == 2 else ["x2"]
    if "constant" in spec.uses:
        args.append("c=-1.5")
    if "dim" in spec.uses:
        args.append("dim=24u")
    assert line == f"  x3 = {op.lower()}({', '.join(args)})"
