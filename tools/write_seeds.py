"""Authoring aid: writes every seed of primer_search/seeds/ (PRIMER.md section 3).

    .venv/bin/python tools/write_seeds.py          # (re)write the JSON files
    .venv/bin/python tools/write_seeds.py --check  # exit 1 if a shipped file differs

Every seed is the paper's 10-subprogram Transformer with a few subprograms replaced, so the
differences between seeds read as the replacements below. All use primitive ops only; the
subprogram numbering (S0 MAIN ... S9 activation) is the same in every seed.

Constants are referred to by bank index. Every seed keeps the Transformer's bank prefix
[0.0, 0.125] (0.125 = 1/sqrt(head width 64) scales Q) so the shared subprograms are written once;
seeds that need more constants append them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEEDS_DIR = Path(__file__).resolve().parent.parent / "primer_search" / "seeds"

Inst = dict[str, Any]
C, ADD = "CALL", "ADD"
# Bank indexes shared by every seed.
ZERO, QSCALE = 0, 1
D_MODEL, D_FF = 0, 1  # dims bank: [8, d_ff multiplier]; 8 base units = d_model


def call(callee: int, a: int = 0, b: int = 0, branch: int = 1) -> Inst:
    d: Inst = {"op": C, "callee": callee, "input1": a, "input2": b}
    if branch != 1:
        d["branch"] = branch
    return d


def op(name: str, a: int = 0, b: int = 0, **kw: int) -> Inst:
    d: Inst = {"op": name, "input1": a, "input2": b}
    d.update(kw)
    return d


# ---------------------------------------------------------------------------------------------
# The Transformer (the paper's conceptual initialization). State numbering: 0 and 1 are the
# inputs, instruction i writes state i + 2.

MAIN = [
    # norm -> 8 heads -> output projection -> residual -> norm -> FFN -> residual
    call(5, 0, 0),
    call(1, 2, 2, branch=8),
    op("CONV_1X1", 3, dim=D_MODEL),
    call(8, 0, 4),
    call(5, 5, 5),
    call(2, 6, 6),
    call(8, 5, 7),
]
HEAD = [
    # Q, K, V projections; Q * 0.125; scores; softmax; weighted values
    call(3, 0, 0),
    call(3, 0, 0),
    call(3, 0, 0),
    op("C_MUL", 2, constant=QSCALE),
    op("T_MAT_MUL", 5, 3),
    call(4, 6, 6),
    op("MAT_MUL", 7, 4),
]
FFN = [
    # dense to d_ff + bias, activation (S9), dense to d_model + bias
    op("CONV_1X1", 0, dim=D_FF),
    op("SHIFT", 2),
    call(9, 3, 3),
    op("CONV_1X1", 4, dim=D_MODEL),
    op("SHIFT", 5),
]
HEAD_PROJECTION = [op("CONV_1X1", 0, dim=D_MODEL)]  # width d_model / 8 inside the heads
SOFTMAX = [op("EXP", 0), op("MASK", 2), op("RED_SUM", 3), op("DIVIDE", 3, 4)]
NORM = [call(6, 0, 0), call(7, 2, 2)]  # S6 then S7
Z_SCORE = [
    op("RED_MEAN", 0),
    op("DIFFERENCE", 0, 2),
    op("MULTIPLY", 3, 3),
    op("RED_MEAN", 4),
    op("ABS_ROOT", 5),
    op("DIVIDE", 3, 6),
]
SCALE_SHIFT = [op("SCALE", 0), op("SHIFT", 2)]
RESIDUAL = [op(ADD, 0, 1)]
RELU = [op("MAX", 0, constant=ZERO)]


def transformer() -> dict[str, Any]:
    return {
        "constants": [0.0, 0.125],
        "dims": [8, 32],
        "subs": [
            MAIN,
            HEAD,
            FFN,
            HEAD_PROJECTION,
            SOFTMAX,
            NORM,
            Z_SCORE,
            SCALE_SHIFT,
            RESIDUAL,
            RELU,
        ],
    }


# ---------------------------------------------------------------------------------------------
# Transformer + GELU: S9 becomes the tanh approximation
# 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written as 0.5x + 0.5x * tanh(...) because
# the vocabulary has no "add a constant" op.

HALF, GELU_SCALE, GELU_CUBIC = 2, 3, 4  # bank indexes appended by transformer_gelu

GELU = [
    op("SQUARE", 0),  # 2: x^2
    op("MULTIPLY", 2, 0),  # 3: x^3
    op("C_MUL", 3, constant=GELU_CUBIC),  # 4: 0.044715 x^3
    op(ADD, 0, 4),  # 5: x + 0.044715 x^3
    op("C_MUL", 5, constant=GELU_SCALE),  # 6: sqrt(2/pi) (...)
    op("TANH", 6),  # 7
    op("C_MUL", 0, constant=HALF),  # 8: 0.5 x
    op("MULTIPLY", 8, 7),  # 9: 0.5 x tanh(...)
    op(ADD, 8, 9),  # 10: 0.5 x (1 + tanh(...))
]


def transformer_gelu() -> dict[str, Any]:
    seed = transformer()
    seed["constants"] = [0.0, 0.125, 0.5, math.sqrt(2.0 / math.pi), 0.044715]
    seed["subs"][9] = GELU
    return seed


# ---------------------------------------------------------------------------------------------
# Transformer++: RMSNorm (no mean subtraction, no shift) and a SwiGLU FFN without biases
# (Shazeer 2020; the released T5 config medium_transformer_plusplus.gin uses swish x linear with
# mesh-tensorflow's bias-free dense layers). d_ff multiplier 24 instead of 32 keeps the FFN near
# the Transformer's parameter count: 3 * 24 = 72 vs 2 * 32 = 64 units^2 per d_model unit (the
# released LM1B config uses d_ff 1364 ~ 21.3 units; 24 is the nearest allowed multiplier).

SWIGLU_FFN = [
    op("CONV_1X1", 0, dim=D_FF),  # 2: gate a
    op("CONV_1X1", 0, dim=D_FF),  # 3: value b
    call(9, 2, 2),  # 4: swish(a)
    op("MULTIPLY", 4, 3),  # 5: swish(a) * b
    op("CONV_1X1", 5, dim=D_MODEL),  # 6: back to d_model
]
RMS = [
    op("SQUARE", 0),  # 2: x^2
    op("RED_MEAN", 2),  # 3: mean(x^2)
    op("ABS_ROOT", 3),  # 4: rms
    op("DIVIDE", 0, 4),  # 5: x / rms
]
SCALE_ONLY = [op("SCALE", 0)]
SWISH = [op("SIGMOID", 0), op("MULTIPLY", 0, 2)]  # x * sigmoid(x)


def transformer_plus_plus() -> dict[str, Any]:
    seed = transformer()
    seed["dims"] = [8, 24]
    seed["subs"][2] = SWIGLU_FFN
    seed["subs"][6] = RMS
    seed["subs"][7] = SCALE_ONLY
    seed["subs"][9] = SWISH
    return seed


# ---------------------------------------------------------------------------------------------
# Primer-EZ: squared ReLU, and a causal depthwise 3x1 conv after each Q, K, V projection. The
# conv sits in the head projection S3, i.e. per head; a depthwise conv is per channel, so this
# is the same function as one conv over all d_model channels before the head split.

SQUARED_RELU = [op("MAX", 0, constant=ZERO), op("SQUARE", 2)]
DCONV_HEAD_PROJECTION = [op("CONV_1X1", 0, dim=D_MODEL), op("DCONV_3X1", 2)]


def primer_ez() -> dict[str, Any]:
    seed = transformer()
    seed["subs"][3] = DCONV_HEAD_PROJECTION
    seed["subs"][9] = SQUARED_RELU
    return seed


# ---------------------------------------------------------------------------------------------
# Primer: Primer-EZ plus the three further changes of the authors' released Primer config
# (google-research/primer/gin/models/medium_primer.gin and t5_models.py, also used for LM1B via
# small_primer.gin); see SEED_NOTES for what is left out and why.

PRE_POST_NORM_MAIN = [
    # attention pre-norm as before; the FFN reads the raw residual stream and its OUTPUT is
    # normalized before the residual add: x + norm(ffn(x)) (PrePostNormLayerStack)
    call(5, 0, 0),
    call(1, 2, 2, branch=8),
    op("CONV_1X1", 3, dim=D_MODEL),
    call(8, 0, 4),
    call(2, 5, 5),
    call(5, 6, 6),
    call(8, 5, 7),
]
SHARED_QK_HEAD = [
    # one projection + dconv is K; Q is a further projection of that shared representation
    # (MDHA.share_qk_rep); V keeps its own projection + dconv
    call(3, 0, 0),  # 2: K = dconv(x Wk)
    op("CONV_1X1", 2, dim=D_MODEL),  # 3: Q = K Wq (head width to head width)
    call(3, 0, 0),  # 4: V
    op("C_MUL", 3, constant=QSCALE),
    op("T_MAT_MUL", 5, 2),
    call(4, 6, 6),
    op("MAT_MUL", 7, 4),
]
PRIMER_Z_SCORE = [
    # primer_norm: the variance estimate is mean(x (x - mean)) instead of mean((x - mean)^2);
    # equal in exact arithmetic, different rounding
    op("RED_MEAN", 0),
    op("DIFFERENCE", 0, 2),
    op("MULTIPLY", 0, 3),
    op("RED_MEAN", 4),
    op("ABS_ROOT", 5),
    op("DIVIDE", 3, 6),
]


def primer() -> dict[str, Any]:
    seed = primer_ez()
    seed["subs"][0] = PRE_POST_NORM_MAIN
    seed["subs"][1] = SHARED_QK_HEAD
    seed["subs"][6] = PRIMER_Z_SCORE
    return seed


SEEDS: dict[str, Callable[[], dict[str, Any]]] = {
    "transformer": transformer,
    "transformer_gelu": transformer_gelu,
    "transformer_plus_plus": transformer_plus_plus,
    "primer_ez": primer_ez,
    "primer": primer,
}


def seed_json(name: str) -> str:
    """The exact text of `<name>.json`."""
    seed = SEEDS[name]()
    dna = {
        "format_version": 1,
        "constants": seed["constants"],
        "dims": seed["dims"],
        "subprograms": [{"instructions": s} for s in seed["subs"]],
    }
    return json.dumps(dna, indent=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for name in SEEDS:
        path = SEEDS_DIR / f"{name}.json"
        text = seed_json(name)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run tools/write_seeds.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
