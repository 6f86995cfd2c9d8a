"""The compiler's fast paths compute exactly what the plain definitions compute.

They exist for speed (benchmarks/compiled_vs_keras.py): one matmul for the branches of a
projection that all read the same input, batch matmuls without broadcasting, ReLU for MAX with
C = 0, and no second mask on a matrix whose future keys are already masked. Each must leave every
value unchanged, non-finite ones included, since the causality guarantee rests on those values.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from primer_search.compiler import ProgramBlock, keys_already_masked
from primer_search.ops import REGISTRY, Applied, Kind
from primer_search.seeds import load_seed

M, F = Kind.MATRIX, Kind.FEATURE


def reference_conv(x: np.ndarray, kernel: np.ndarray, scope: tuple[int, ...]) -> np.ndarray:
    """Per branch, in numpy: out[t] = sum_j x[t - (k - 1 - j)] @ kernel[j], zeros before t = 0."""
    n = len(scope)
    k, _, w_out = kernel.shape[n:]
    batch, length = x.shape[n], x.shape[n + 1]
    out = np.zeros(scope + (batch, length, w_out))
    for branch in itertools.product(*(range(b) for b in scope)):
        xb = x[tuple(min(i, d - 1) for i, d in zip(branch, x.shape[:n], strict=True))]
        kb = kernel[branch]
        for j in range(k):
            shift = k - 1 - j
            out[branch][:, shift:] += xb[:, : length - shift] @ kb[j]
    return out


@pytest.mark.parametrize("width", [1, 3])
@pytest.mark.parametrize(
    "scope, lead",
    [
        ((), ()),
        ((8,), (1,)),  # fresh from ENTER: the joined-kernels path
        ((8,), (8,)),  # own input per branch: the batch-matmul path
        ((2, 4), (1, 1)),
        ((2, 4), (2, 4)),
        ((2, 4), (1, 4)),  # partly broadcast: the general path
    ],
)
def test_conv_paths_equal_the_per_branch_definition(width, scope, lead):
    rng = np.random.default_rng(width)
    x = rng.normal(size=lead + (3, 7, 5)).astype("float32")
    kernel = rng.normal(size=scope + (width, 5, 6)).astype("float32")
    applied = Applied((F,), (5,), 6, 0.0, scope, {"kernel": tf.constant(kernel)})
    got = REGISTRY[f"CONV_{width}X1"].apply([tf.constant(x)], applied)
    assert tuple(got.shape) == scope + (3, 7, 6)
    np.testing.assert_allclose(got.numpy(), reference_conv(x, kernel, scope), atol=1e-4)


def test_max_with_zero_keeps_tf_maximum_values():
    x = tf.constant([np.nan, -0.0, 0.0, 2.0, -2.0, np.inf, -np.inf], tf.float32)
    applied = Applied((F,), (7,), 7, 0.0, ())
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = REGISTRY["MAX"].apply([x], applied)
    np.testing.assert_array_equal(y.numpy(), tf.maximum(x, 0.0).numpy())
    grad = tape.gradient(y, x).numpy()
    assert grad[3] == 1.0 and grad[4] == 0.0 and grad[5] == 1.0


def test_only_masked_score_matrices_are_marked():
    block = ProgramBlock(load_seed("transformer"), base_unit=2, d_model=16)
    marked = keys_already_masked(block.graph, block.shapes)
    ops = sorted({block.graph.nodes[i].op for i, m in enumerate(marked) if m})
    assert ops == ["DIVIDE", "MASK"]  # the softmax's masked exponentials and probabilities


def _apply(op: str, xs: list, kinds: tuple, masked: tuple, constant: float = 0.0) -> tf.Tensor:
    widths = tuple(None if k is M else int(x.shape[-1]) for x, k in zip(xs, kinds, strict=True))
    applied = Applied(kinds, widths, None, constant, (), {}, masked)
    return REGISTRY[op].apply(xs, applied)


def _noisy(rng: np.random.Generator, shape: tuple[int, ...], specials: list[float]) -> tf.Tensor:
    values = rng.normal(size=shape) * 3
    pick = rng.random(shape) < 0.25
    return tf.constant(np.where(pick, rng.choice(specials, size=shape), values), tf.float32)


def _trusted_matrices(rng: np.random.Generator) -> list[tf.Tensor]:
    """Matrices made only by the ops keys_already_masked trusts, from inputs full of 0, +-inf,
    NaN: MASK, C_MUL of it, DIVIDE of those by a feature."""
    scores = _noisy(rng, (2, 6, 6), [0.0, np.nan, np.inf, -np.inf])
    masked = _apply("MASK", [scores], (M,), ())
    scaled = _apply("C_MUL", [masked], (M,), (), constant=-3.0)
    divisor = _noisy(rng, (2, 6, 2), [0.0, np.nan, np.inf])
    return [masked, scaled, _apply("DIVIDE", [scaled, divisor], (M, F), ())]


def test_skipping_the_second_mask_changes_no_value():
    rng = np.random.default_rng(0)
    for _ in range(40):
        values = _noisy(rng, (2, 6, 3), [np.nan, np.inf])
        for m in _trusted_matrices(rng):
            cases = [
                ("RED_SUM", [m], (M,)),
                ("RED_MEAN", [m], (M,)),
                ("MAT_MUL", [m, values], (M, F)),
                ("MAT_MUL", [m, m], (M, M)),
                ("T_MAT_MUL", [m, m], (M, M)),
            ]
            for op, xs, kinds in cases:
                plain = _apply(op, xs, kinds, ()).numpy()
                fast = _apply(op, xs, kinds, (True,) * len(xs)).numpy()
                np.testing.assert_array_equal(fast, plain, err_msg=op)


def test_an_untrusted_matrix_would_change_values_so_the_check_can_fail():
    # MULTIPLY by a feature is not trusted: 0 * inf puts NaN in the future keys of a row whose
    # past is +-inf. Skipping its mask would change values, so keys_already_masked must not mark it.
    rng = np.random.default_rng(1)
    changed = 0
    for _ in range(40):
        scores = _noisy(rng, (2, 6, 6), [0.0, np.inf])
        product = _apply(
            "MULTIPLY", [_apply("MASK", [scores], (M,), ()), scores[..., :1]], (M, F), ()
        )
        values = _noisy(rng, (2, 6, 3), [1.0])
        plain = _apply("MAT_MUL", [product, values], (M, F), ()).numpy()
        fast = _apply("MAT_MUL", [product, values], (M, F), (True, False)).numpy()
        changed += not np.array_equal(plain, fast, equal_nan=True)
    assert changed > 0
