"""Analytic training FLOPs per token, checked against hand counts."""

from __future__ import annotations

import pytest
from training_support import MICRO, program

from primer_search.config import get_preset
from primer_search.graph import lower
from primer_search.seeds import load_seed
from primer_search.sizing import fit_base_unit, lm_parameter_count
from primer_search.training import training_flops_per_token
from primer_search.training.flops import forward_macs_per_token


@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_transformer_seed_counts_projections_attention_ffn_and_softmax(preset):
    config = get_preset(preset)
    dna = load_seed("transformer")
    sizing = fit_base_unit(dna, config)
    d, d_ff, t, layers = sizing.d_model, 32 * sizing.base_unit, config.seq_len, config.num_layers
    # Q, K, V and the output projection (4 d^2), the FFN (2 d d_ff), scores and their product
    # with V over all heads (2 T d), per layer; then the tied softmax (d V).
    per_layer = 4 * d * d + 2 * d * d_ff + 2 * t * d
    assert forward_macs_per_token(dna, config, sizing) == layers * per_layer + d * config.vocab_size
    assert training_flops_per_token(dna, config, sizing) == 6 * (
        layers * per_layer + d * config.vocab_size
    )


def test_paper_transformer_is_about_six_flops_per_parameter():
    config = get_preset("paper")
    dna = load_seed("transformer")
    sizing = fit_base_unit(dna, config)
    assert sizing.d_model == 512
    flops = training_flops_per_token(dna, config, sizing)
    # 6N (embeddings count through the tied softmax), plus attention, minus norms and positions.
    assert 5.8 * sizing.total_params < flops < 6.4 * sizing.total_params


def test_each_contracting_op_is_counted_and_elementwise_ones_are_not():
    dna = program(
        {"op": "CONV_3X1", "input1": 0, "dim": 0},  # x2: 3 * d * 8b
        {"op": "DCONV_7X1", "input1": 2},  # x3: 7 * 8b
        {"op": "MAT_MUL", "input1": 3, "input2": 3},  # x4: two features: elementwise, 0
        {"op": "T_MAT_MUL", "input1": 4, "input2": 4},  # x5: scores, T * 8b
        {"op": "MAT_MUL", "input1": 5, "input2": 4},  # x6: scores @ features, T * 8b
        {"op": "T_MAT_MUL", "input1": 5, "input2": 5},  # x7: scores x scores, T * T
        {"op": "MAT_MUL", "input1": 7, "input2": 5},  # x8: scores @ scores, T * T
        {"op": "RED_SUM", "input1": 8},  # x9: a reduction, 0
        {"op": "ADD", "input1": 9, "input2": 6},  # x10
        {"op": "ADD", "input1": 10, "input2": 0},  # x11: residual
        dims=(8,),
    )
    base_unit = 3
    sizing = lm_parameter_count(lower(dna), MICRO, base_unit)
    d, w, t = sizing.d_model, 8 * base_unit, MICRO.seq_len
    block = 3 * d * w + 7 * w + t * w + t * w + t * t + t * t
    assert forward_macs_per_token(dna, MICRO, sizing) == block + d * MICRO.vocab_size


def test_branched_calls_count_every_copy():
    # MAIN calls sub 1 with branch 4; sub 1 projects to width 8b / 4 per copy.
    from primer_search.dna import check_dna, parse_dna

    dna = check_dna(
        parse_dna(
            {
                "subprograms": [
                    {
                        "instructions": [
                            {"op": "CALL", "callee": 1, "input1": 0, "input2": 0, "branch": 4},
                            {"op": "ADD", "input1": 2, "input2": 0},
                        ]
                    },
                    {"instructions": [{"op": "CONV_1X1", "input1": 0, "dim": 0}]},
                ],
                "dims": [8],
            }
        )
    )
    base_unit = 4
    sizing = lm_parameter_count(lower(dna), MICRO, base_unit)
    d = sizing.d_model
    assert forward_macs_per_token(dna, MICRO, sizing) == 4 * d * (d // 4) + d * MICRO.vocab_size
