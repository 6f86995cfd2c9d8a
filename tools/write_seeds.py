"""One-off authoring aid: writes primer_search/seeds/transformer.json (PRIMER.md section 3)."""

import json
import sys

C, ADD = "CALL", "ADD"


def call(callee, a=0, b=0, branch=1):
    d = {"op": C, "callee": callee, "input1": a, "input2": b}
    if branch != 1:
        d["branch"] = branch
    return d


def op(name, a=0, b=0, **kw):
    d = {"op": name, "input1": a, "input2": b}
    d.update(kw)
    return d


subs = [
    # S0 MAIN: norm -> 8 heads -> output projection -> residual -> norm -> FFN -> residual
    [
        call(5, 0, 0),
        call(1, 2, 2, branch=8),
        op("CONV_1X1", 3, dim=0),
        call(8, 0, 4),
        call(5, 5, 5),
        call(2, 6, 6),
        call(8, 5, 7),
    ],
    # S1 one attention head: Q, K, V projections; Q * 0.125; scores; softmax; weighted values
    [
        call(3, 0, 0),
        call(3, 0, 0),
        call(3, 0, 0),
        op("C_MUL", 2, constant=1),
        op("T_MAT_MUL", 5, 3),
        call(4, 6, 6),
        op("MAT_MUL", 7, 4),
    ],
    # S2 FFN: dense to d_ff + bias, ReLU, dense to d_model + bias
    [
        op("CONV_1X1", 0, dim=1),
        op("SHIFT", 2),
        call(9, 3, 3),
        op("CONV_1X1", 4, dim=0),
        op("SHIFT", 5),
    ],
    # S3 head projection
    [op("CONV_1X1", 0, dim=0)],
    # S4 softmax over keys: exp, causal mask, sum, divide
    [op("EXP", 0), op("MASK", 2), op("RED_SUM", 3), op("DIVIDE", 3, 4)],
    # S5 layer norm = z-score then scale-shift
    [call(6, 0, 0), call(7, 2, 2)],
    # S6 z-score
    [
        op("RED_MEAN", 0),
        op("DIFFERENCE", 0, 2),
        op("MULTIPLY", 3, 3),
        op("RED_MEAN", 4),
        op("ABS_ROOT", 5),
        op("DIVIDE", 3, 6),
    ],
    # S7 scale and shift
    [op("SCALE", 0), op("SHIFT", 2)],
    # S8 residual
    [op(ADD, 0, 1)],
    # S9 ReLU
    [op("MAX", 0, constant=0)],
]
dna = {
    "format_version": 1,
    "constants": [0.0, 0.125],
    "dims": [8, 32],
    "subprograms": [{"instructions": s} for s in subs],
}
json.dump(dna, sys.stdout, indent=1)
