"""The seed library (PRIMER.md section 3) and the compiled Transformer == hand-written Keras."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from functools import cache
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from primer_search.canonical import canonical_hash
from primer_search.compiler import ProgramBlock
from primer_search.config import ModelConfig, get_preset
from primer_search.dna import DNA, Instruction, Subprogram, validate_dna
from primer_search.errors import PrimerSearchError
from primer_search.graph import lower
from primer_search.model import DecoderLM, build_model, trainable_parameter_count
from primer_search.ops import CALL, REGISTRY
from primer_search.reference import (
    ReferenceBlock,
    copy_lm_weights,
    copy_weights_from_program,
    reference_lm_like,
)
from primer_search.render import render
from primer_search.seeds import SEED_NOTES, load_seed, seed_names
from primer_search.sizing import fit_base_unit, lm_parameter_count

SEEDS = ["transformer", "transformer_gelu", "transformer_plus_plus", "primer_ez", "primer"]
ROOT = Path(__file__).resolve().parent.parent


def test_the_library_ships_exactly_the_documented_seeds():
    assert sorted(seed_names()) == sorted(SEEDS)
    assert sorted(SEED_NOTES) == sorted(SEEDS)


def test_seed_files_are_what_the_authoring_script_writes():
    spec = importlib.util.spec_from_file_location("write_seeds", ROOT / "tools" / "write_seeds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in SEEDS:
        shipped = (ROOT / "primer_search" / "seeds" / f"{name}.json").read_text()
        assert module.seed_json(name) == shipped, f"{name}.json differs from tools/write_seeds.py"


@pytest.mark.parametrize("name", SEEDS)
def test_seed_loads_validates_and_renders(name):
    dna = load_seed(name)
    assert validate_dna(dna) == []
    assert len(dna.subprograms) == 10  # the paper's layout, S0 MAIN .. S9 activation
    code = render(dna)
    assert code.startswith("# constants") and "def main(x0, x1):" in code
    assert "# dead" not in code and "never called" not in code  # seeds carry no dead code


def test_seeds_have_distinct_canonical_hashes():
    hashes = {canonical_hash(load_seed(name)) for name in SEEDS}
    assert len(hashes) == len(SEEDS)


# The weight-bearing ops of each compiled block, which pin what each seed changes: GELU only
# touches weight-free code; Transformer++ drops the norm shifts and FFN biases and has a third FFN
# projection; Primer-EZ adds one depthwise conv per Q, K, V; Primer shares K's projection and conv
# with Q (a head-width Q projection instead of a third d_model -> head projection + conv).
EXPECTED_WEIGHTED_OPS = {
    "transformer": {"SCALE": 2, "SHIFT": 4, "CONV_1X1": 6},
    "transformer_gelu": {"SCALE": 2, "SHIFT": 4, "CONV_1X1": 6},
    "transformer_plus_plus": {"SCALE": 2, "CONV_1X1": 7},
    "primer_ez": {"SCALE": 2, "SHIFT": 4, "CONV_1X1": 6, "DCONV_3X1": 3},
    "primer": {"SCALE": 2, "SHIFT": 4, "CONV_1X1": 6, "DCONV_3X1": 2},
}


@pytest.mark.parametrize("name", SEEDS)
def test_seed_weighted_ops(name):
    ops = Counter(
        n.op for n in lower(load_seed(name)).nodes if n.op in REGISTRY and REGISTRY[n.op].weighted
    )
    assert dict(ops) == EXPECTED_WEIGHTED_OPS[name]


# ---------------------------------------------------------------------------------------------
# The subprograms that differ between seeds compute what their names say.


def subprogram_as_dna(dna: DNA, s: int) -> DNA:
    """Subprogram `s` of `dna` (with the subprograms it calls) as a DNA of its own."""

    def shifted(inst: Instruction) -> Instruction:
        return inst.model_copy(update={"callee": inst.callee - s}) if inst.op == CALL else inst

    subs = tuple(
        Subprogram(instructions=tuple(shifted(i) for i in sub.instructions))
        for sub in dna.subprograms[s:]
    )
    return DNA(subprograms=subs, constants=dna.constants, dims=dna.dims)


def run_subprogram(name: str, s: int, x: tf.Tensor) -> np.ndarray:
    dna = subprogram_as_dna(load_seed(name), s)
    return ProgramBlock(dna, base_unit=1, d_model=int(x.shape[-1]))(x).numpy()


def probe(width: int = 16) -> tf.Tensor:
    return tf.random.stateless_normal((2, 5, width), seed=(3, 4)) * 2.0


def layer_norm(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)


ACTIVATIONS = {
    "transformer": lambda x: np.maximum(x, 0.0),
    "transformer_gelu": lambda x: tf.nn.gelu(x, approximate=True).numpy(),
    "transformer_plus_plus": lambda x: x / (1.0 + np.exp(-x)),  # swish
    "primer_ez": lambda x: np.maximum(x, 0.0) ** 2,
    "primer": lambda x: np.maximum(x, 0.0) ** 2,
}
NORMALIZERS = {  # S6, before the learned scale (and shift)
    "transformer": layer_norm,
    "transformer_gelu": layer_norm,
    "transformer_plus_plus": lambda x: x / np.sqrt((x**2).mean(-1, keepdims=True)),  # RMSNorm
    "primer_ez": layer_norm,
    "primer": layer_norm,  # x (x - mean) variance estimate: the same in exact arithmetic
}


@pytest.mark.parametrize("name", SEEDS)
def test_seed_activation_subprogram(name):
    x = probe()
    np.testing.assert_allclose(run_subprogram(name, 9, x), ACTIVATIONS[name](x.numpy()), atol=1e-5)


@pytest.mark.parametrize("name", SEEDS)
def test_seed_normalization_subprogram(name):
    x = probe() + 0.5
    np.testing.assert_allclose(run_subprogram(name, 6, x), NORMALIZERS[name](x.numpy()), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Sizing, building, causality.


@cache
def tiny_model(name: str) -> DecoderLM:
    return build_model(load_seed(name), get_preset("tiny"))


@pytest.mark.parametrize("name", SEEDS)
def test_tiny_preset_fits_and_analytic_count_equals_trainable(name):
    config = get_preset("tiny")
    sizing = fit_base_unit(load_seed(name), config)
    assert config.min_params <= sizing.total_params <= config.max_params
    model = tiny_model(name)
    assert model.sizing == sizing
    assert trainable_parameter_count(model) == sizing.total_params


@pytest.mark.parametrize("name", SEEDS)
def test_paper_preset_analytic_count_is_in_the_papers_range(name):
    sizing = fit_base_unit(load_seed(name), get_preset("paper"))
    assert 32_000_000 <= sizing.total_params <= 38_000_000
    if name in ("transformer", "transformer_gelu", "primer_ez"):
        assert (sizing.d_model, sizing.base_unit) == (512, 64)  # d_model 512, 8 heads of 64


@pytest.mark.parametrize("name", SEEDS)
def test_compiled_seed_lm_has_no_temporal_leak(name):
    model = tiny_model(name)
    vocab, length, t = model.config.vocab_size, 24, 11
    tokens = tf.random.stateless_uniform((2, length), (5, 6), maxval=vocab, dtype=tf.int32)
    future = tf.random.stateless_uniform((2, length - t - 1), (7, 8), maxval=vocab, dtype=tf.int32)
    perturbed = tf.concat([tokens[:, : t + 1], future], axis=1)
    before, after = model(tokens).numpy(), model(perturbed).numpy()
    np.testing.assert_array_equal(before[:, : t + 1], after[:, : t + 1])
    assert np.abs(before[:, t + 1 :] - after[:, t + 1 :]).max() > 1e-3  # the probe can fail


# ---------------------------------------------------------------------------------------------
# The compiled `transformer` seed is the hand-written Keras decoder (issue 2).

HEAD_WIDTH = 64  # the seed's constant 0.125 is 1 / sqrt(64)


def randomize(layer: keras.layers.Layer, seed: int) -> None:
    """Weights far from their init, so a wrong mapping of any of them shows in the outputs."""
    rng = np.random.default_rng(seed)
    for variable in layer.trainable_variables:
        shape = tuple(variable.shape)
        if len(shape) <= 1:  # scales, shifts, biases, norm gains
            value = rng.normal(0.0, 0.5, shape) + (1.0 if "scale" in variable.path else 0.0)
        else:
            value = rng.normal(0.0, 1.5 / math.sqrt(shape[-2]), shape)
        variable.assign(value.astype("float32"))


def test_compiled_transformer_block_equals_the_keras_reference():
    d_model = 8 * HEAD_WIDTH
    block = ProgramBlock(load_seed("transformer"), base_unit=HEAD_WIDTH, d_model=d_model)
    x = tf.random.stateless_normal((2, 12, d_model), seed=(1, 2))
    block(x)
    randomize(block, seed=0)
    reference = ReferenceBlock(d_model, d_ff=32 * HEAD_WIDTH)
    copy_weights_from_program(reference, block)
    expected, got = block(x).numpy(), reference(x).numpy()
    assert np.abs(expected - x.numpy()).mean() > 0.1  # the block does more than its residuals
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert trainable_parameter_count(reference) == block.analytic_parameter_count()
    assert trainable_parameter_count(reference) == trainable_parameter_count(block)


def test_compiled_transformer_lm_equals_the_keras_reference_lm():
    config = ModelConfig(
        name="equality",
        vocab_size=64,
        seq_len=16,
        num_layers=2,
        min_params=1,
        max_params=10**9,
        target_params=1,
    )
    dna = load_seed("transformer")
    model = build_model(dna, config, lm_parameter_count(lower(dna), config, HEAD_WIDTH))
    for block in model.blocks:
        randomize(block, seed=1)
    reference = reference_lm_like(model)
    copy_lm_weights(reference, model)
    tokens = tf.random.stateless_uniform((2, 16), (9, 9), maxval=64, dtype=tf.int32)
    np.testing.assert_allclose(reference(tokens).numpy(), model(tokens).numpy(), atol=1e-4, rtol=0)
    assert trainable_parameter_count(reference) == trainable_parameter_count(model)


def test_copy_weights_rejects_another_program():
    block = ProgramBlock(load_seed("primer_ez"), base_unit=8, d_model=64)
    block(tf.zeros((1, 4, 64)))
    with pytest.raises(PrimerSearchError, match="not the transformer seed"):
        copy_weights_from_program(ReferenceBlock(64, d_ff=256), block)
