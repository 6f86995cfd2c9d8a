"""The op vocabulary: the 39 primitives of PRIMER.md section 2 and CALL, in ONE registry.

Each entry says how many inputs the op reads, which instruction fields it uses, what state kind
and width it produces, which weights it owns (so the parameter count is analytic), and its
TensorFlow implementation. Tests and the CLI enumerate this registry; nothing else lists ops.

Hidden states come in two kinds:

* FEATURE: a sequence of vectors, shape (*branch, B, T, W) with a static width W.
* MATRIX: position-by-position scores, shape (*branch, B, T, T): row t is the query position, the
  last axis is the key position s. Produced by T_MAT_MUL of two features.

`*branch` are the leading axes added by branched calls (see `graph.py`); every op broadcasts over
them, and weights carry them so each branch has its own.

Causality (the guarantee of the compiler): a feature at position t depends only on tokens <= t;
a matrix entry (t, s) depends only on tokens <= max(t, s). Every op preserves this, because each
op that contracts, reduces or projects a matrix over its key axis first masks the keys s > t
(`mask_keys`, a select, so that no masked entry is multiplied; skipped only for a matrix the
compiler proved already masked, see compiler.keys_already_masked), MAT_MUL also zeroes the
non-finite entries of its right operand (0 * inf = nan would otherwise carry a future value into
an earlier row through its masked weight), convolutions are shifted so position t reads
t-k+1..t, cumulative ops run along time and include t, and no weight has a shape that depends on
T.

Binary ops on mismatched inputs (documented rule; the paper's is pseudo-random and unpublished):
* feature with feature: a width-1 input broadcasts; otherwise input1 sets the width and input2 is
  truncated or tiled to it. Input order therefore matters, and mutations can change it.
* a matrix with a feature: the result is a matrix; the feature is averaged over its width to one
  value per position, which broadcasts over the keys (a width-1 feature, such as a RED_SUM of
  scores, broadcasts exactly: that is the division in the softmax subprogram).
Ops that need a feature but get a matrix (the weighted ops) first reduce it to its causal mean
over keys, a width-1 feature. MAT_MUL and T_MAT_MUL fall back to the elementwise product when the
input kinds give no matrix product (for example MAT_MUL of two features).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CALL = "CALL"


class Kind(str, enum.Enum):
    FEATURE = "feature"
    MATRIX = "matrix"


class _LazyTF:
    """TensorFlow, imported on first use: validating or rendering a DNA (the CLI, the API) should
    not pay TensorFlow's start-up time; only building a model does."""

    def __getattr__(self, name: str) -> Any:
        import tensorflow

        return getattr(tensorflow, name)


tf: Any = _LazyTF()

Tensor = Any
Shape = tuple[int, ...]


@dataclass(frozen=True)
class WeightSpec:
    """A weight an op owns, without the leading branch axes (those come from the scope)."""

    name: str
    shape: Shape
    init: str  # "glorot", "ones", "zeros", "dconv"


@dataclass(frozen=True)
class Applied:
    """What an op implementation is given besides its input tensors."""

    kinds: tuple[Kind, ...]
    widths: tuple[int | None, ...]  # None for matrices
    out_width: int | None
    constant: float
    scope: tuple[int, ...]  # leading branch axes, innermost first
    weights: dict[str, Tensor] = field(default_factory=dict)
    # Per input: a matrix already masked (compiler.keys_already_masked), whose future keys a sum
    # or a contraction need not mask again. Empty means "not known": mask.
    keys_masked: tuple[bool, ...] = ()


@dataclass(frozen=True)
class OpSpec:
    name: str
    group: str
    arity: int
    uses: frozenset[str]
    meaning: str
    on_matrix: str
    # (kinds, widths, dim width) -> (kind, width); width None for a matrix
    infer: Callable[[tuple[Kind, ...], tuple[int | None, ...], int], tuple[Kind, int | None]]
    # (kinds, widths, dim width) -> the weights it owns
    weights: Callable[[tuple[Kind, ...], tuple[int | None, ...], int], tuple[WeightSpec, ...]]
    apply: Callable[[Sequence[Tensor], Applied], Tensor] | None

    @property
    def weighted(self) -> bool:
        return "dim" in self.uses or self.group in ("learned", "weighted")


# ---------------------------------------------------------------------------------------------
# Shared helpers: causal masks and the conversions between state kinds and widths.


def key_mask(m: Tensor) -> Tensor:
    """Boolean (T, T): True where key s <= query t."""
    t = tf.shape(m)[-2]
    positions = tf.range(t)
    return positions[None, :] <= positions[:, None]


def mask_keys(m: Tensor, fill: float = 0.0) -> Tensor:
    """Replace the future keys s > t of a matrix with `fill` (select, not multiply, so a
    non-finite future score cannot reach an earlier row through 0 * inf)."""
    return tf.where(key_mask(m), m, tf.cast(fill, m.dtype))


def finite_or_zero(x: Tensor) -> Tensor:
    """x with its non-finite entries replaced by 0 (a select, see `_mat_mul`)."""
    return tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))


def past_keys(m: Tensor, a: Applied, index: int) -> Tensor:
    """Input `index`, a matrix, with its future keys zeroed for a sum or a contraction: masked
    here unless the compiler proved it already is (`Applied.keys_masked`)."""
    already = index < len(a.keys_masked) and a.keys_masked[index]
    return m if already else mask_keys(m)


def batch_matmul(x: Tensor, y: Tensor, transpose_b: bool = False) -> Tensor:
    """tf.matmul of two states whose leading axes (branches, batch) may differ in size, as when
    one has met a branched weight and the other not yet (its branch axes are still 1): the
    leading axes are broadcast explicitly first. TF 2.21's oneDNN batch matmul corrupts the heap
    when it broadcasts itself a (b, 1) batch against (1, 1), i.e. any branched program run on a
    batch of one (tensorflow/tensorflow#117700 and #123109; found by
    tests/test_random_programs.py)."""
    if x.shape[:-2].as_list() != y.shape[:-2].as_list():
        lead = tf.broadcast_dynamic_shape(tf.shape(x)[:-2], tf.shape(y)[:-2])
        x = tf.broadcast_to(x, tf.concat([lead, tf.shape(x)[-2:]], axis=0))
        y = tf.broadcast_to(y, tf.concat([lead, tf.shape(y)[-2:]], axis=0))
    return tf.matmul(x, y, transpose_b=transpose_b)


def causal_key_mean(m: Tensor, already_masked: bool = False) -> Tensor:
    """(…, T, T) -> (…, T, 1): mean of row t over keys s <= t."""
    total = tf.reduce_sum(m if already_masked else mask_keys(m), axis=-1, keepdims=True)
    counts = tf.cast(tf.range(1, tf.shape(m)[-2] + 1), m.dtype)[:, None]
    return total / counts


def as_feature(x: Tensor, kind: Kind) -> Tensor:
    return causal_key_mean(x) if kind is Kind.MATRIX else x


def feature_width(kind: Kind, width: int | None) -> int:
    """Width an op sees after `as_feature`."""
    return 1 if kind is Kind.MATRIX else int(width or 1)


def fit_width(x: Tensor, width: int, target: int, broadcast: bool = True) -> Tensor:
    """Make a feature `target` wide: width 1 broadcasts (or is tiled when `broadcast` is off),
    a wider input is truncated, a narrower one tiled."""
    if width == target or (width == 1 and broadcast):
        return x
    if width == 1:
        return tf.repeat(x, target, axis=-1)
    if width > target:
        return x[..., :target]
    reps = -(-target // width)
    return tf.concat([x] * reps, axis=-1)[..., :target]


def shift_time(x: Tensor, steps: int) -> Tensor:
    """x[t - steps] at position t, zeros before the start: the causal shift of a convolution."""
    if steps == 0:
        return x
    rank = len(x.shape)
    paddings = [[0, 0]] * (rank - 2) + [[steps, 0], [0, 0]]
    return tf.pad(x, paddings)[..., :-steps, :]


def _weight_view(w: Tensor, scope: tuple[int, ...], tail: Shape) -> Tensor:
    """Reshape a weight stored as scope + op shape so it broadcasts against (*scope, B, T, …)."""
    return tf.reshape(w, tuple(scope) + tail)


# ---------------------------------------------------------------------------------------------
# Shape rules.


def _same(kinds: tuple[Kind, ...], widths: tuple[int | None, ...], _d: int):
    return kinds[0], widths[0]


def _binary_shape(kinds: tuple[Kind, ...], widths: tuple[int | None, ...], _d: int):
    if Kind.MATRIX in kinds:
        return Kind.MATRIX, None
    w1, w2 = int(widths[0] or 1), int(widths[1] or 1)
    return Kind.FEATURE, (w2 if w1 == 1 else w1)


def _reduce_shape(kinds, widths, _d):
    return Kind.FEATURE, 1


def _dim_shape(kinds, widths, d):
    return Kind.FEATURE, d


def _dconv_shape(kinds, widths, _d):
    return Kind.FEATURE, feature_width(kinds[0], widths[0])


def _matmul_shape(kinds, widths, d):
    if kinds[0] is Kind.MATRIX:
        return kinds[1], widths[1]
    return _binary_shape(kinds, widths, d)


def _t_matmul_shape(kinds, widths, d):
    if kinds[0] is kinds[1]:
        return Kind.MATRIX, None
    return _binary_shape(kinds, widths, d)


def _no_weights(kinds, widths, d) -> tuple[WeightSpec, ...]:
    return ()


# ---------------------------------------------------------------------------------------------
# Implementations.


def _align(xs: Sequence[Tensor], a: Applied) -> tuple[Tensor, Tensor]:
    """Bring two inputs of an elementwise op to a common kind and width (module docstring)."""
    x, y = xs
    kx, ky = a.kinds
    if Kind.MATRIX in a.kinds:
        if kx is Kind.FEATURE:
            x = tf.reduce_mean(x, axis=-1, keepdims=True)
        if ky is Kind.FEATURE:
            y = tf.reduce_mean(y, axis=-1, keepdims=True)
        return x, y
    target = int(a.out_width or 1)
    return fit_width(x, int(a.widths[0] or 1), target), fit_width(y, int(a.widths[1] or 1), target)


def _elementwise(fn: Callable[[Tensor, Tensor], Tensor]):
    def apply(xs: Sequence[Tensor], a: Applied) -> Tensor:
        return fn(*_align(xs, a))

    return apply


def _unary(fn: Callable[[Tensor], Tensor]):
    return lambda xs, a: fn(xs[0])


def _with_constant(fn: Callable[[Tensor, Tensor], Tensor]):
    return lambda xs, a: fn(xs[0], tf.cast(a.constant, xs[0].dtype))


def _max_constant(xs, a: Applied):
    x = xs[0]
    if a.constant == 0.0:
        # ReLU: the same values as tf.maximum(x, 0.0), NaN and -0.0 included, but one fused
        # gradient kernel (tf.maximum's gradient also builds and reduces one for C; this was the
        # Transformer seed's largest overhead on CPU). The gradient differs only at exactly
        # x = 0: 0 here (the usual ReLU convention), 1 for tf.maximum.
        return tf.nn.relu(x)
    return tf.maximum(x, tf.cast(a.constant, x.dtype))


def _learned_weights(init: str):
    def weights(kinds, widths, d):
        shape: Shape = (int(widths[0] or 1),) if kinds[0] is Kind.FEATURE else ()
        return (WeightSpec("w", shape, init),)

    return weights


def _scale(xs, a: Applied):
    tail = (1, 1, int(a.widths[0] or 1)) if a.kinds[0] is Kind.FEATURE else (1, 1, 1)
    return xs[0] * _weight_view(a.weights["w"], a.scope, tail)


def _shift(xs, a: Applied):
    tail = (1, 1, int(a.widths[0] or 1)) if a.kinds[0] is Kind.FEATURE else (1, 1, 1)
    return xs[0] + _weight_view(a.weights["w"], a.scope, tail)


def _reduction(tf_name: str, fill: Callable[[Any], float]):
    def apply(xs, a: Applied):
        x = xs[0]
        if a.kinds[0] is Kind.MATRIX:
            value = fill(x.dtype)
            x = past_keys(x, a, 0) if value == 0.0 else mask_keys(x, value)
        return getattr(tf, tf_name)(x, axis=-1, keepdims=True)

    return apply


def _red_mean(xs, a: Applied):
    if a.kinds[0] is Kind.MATRIX:
        return causal_key_mean(past_keys(xs[0], a, 0), already_masked=True)
    return tf.reduce_mean(xs[0], axis=-1, keepdims=True)


def _mat_mul(xs, a: Applied):
    if a.kinds[0] is Kind.MATRIX:
        # (…, T, T) @ (…, T, W) or (…, T, T): row t reads keys s <= t only. Masking the scores
        # is not enough: one product serves every row, and a non-finite y[s] would still reach
        # the rows t < s as 0 * inf = nan through their masked (zero) weight. So the
        # non-finite entries of y count as 0 (found by tests/test_random_programs.py).
        return batch_matmul(past_keys(xs[0], a, 0), finite_or_zero(xs[1]))
    return _elementwise(lambda x, y: x * y)(xs, a)


def _t_mat_mul(xs, a: Applied):
    kx, ky = a.kinds
    if kx is Kind.FEATURE and ky is Kind.FEATURE:
        # (…, T, W) @ (…, W, T) -> scores (…, T, T); no masking needed to create them.
        w = int(a.widths[0] or 1)
        y = fit_width(xs[1], int(a.widths[1] or 1), w, broadcast=False)
        return batch_matmul(xs[0], y, transpose_b=True)
    if kx is Kind.MATRIX and ky is Kind.MATRIX:
        # out[t, u] = sum_s x[t, s] y[u, s], each row contracted over its own past only.
        return batch_matmul(past_keys(xs[0], a, 0), past_keys(xs[1], a, 1), transpose_b=True)
    return _elementwise(lambda x, y: x * y)(xs, a)


def _conv_weights(width: int):
    def weights(kinds, widths, d):
        w_in = feature_width(kinds[0], widths[0])
        return (WeightSpec("kernel", (width, w_in, d), "glorot"),)

    return weights


def _conv(width: int):
    def apply(xs, a: Applied):
        x = as_feature(xs[0], a.kinds[0])
        kernel = a.weights["kernel"]  # (*scope, k, in, out)
        scope = tuple(a.scope)
        lead = tuple(x.shape[: len(scope)])
        if not scope:
            return _causal_conv(x, kernel)
        if all(n == 1 for n in lead):
            # Every branch reads the same input (fresh from ENTER, e.g. the Q, K, V projections
            # of the heads): one unbranched conv with the branches' kernels side by side, split
            # afterwards. The same sums as per-branch products, as one large matmul instead of a
            # broadcast batch of small ones (whose backward pass materializes b copies of dx).
            x = tf.squeeze(x, axis=list(range(len(scope))))  # (B, T, in)
            return _split_branches(_causal_conv(x, _join_branch_kernels(kernel, scope)), scope)
        out = None
        for j in range(width):
            # kernel tap j reads position t - (width - 1 - j), as conv1d on a left-padded input.
            shifted = shift_time(x, width - 1 - j)
            if lead == scope:  # (S, B*T, in) @ (S, in, out): a batch matmul without broadcasting
                term = _scoped_matmul(shifted, kernel[..., j, :, :], scope)
            else:  # some scope axes are still broadcast (size 1)
                term = tf.matmul(shifted, tf.expand_dims(kernel[..., j, :, :], axis=-3))
            out = term if out is None else out + term
        return out

    return apply


def _causal_conv(x: Tensor, kernel: Tensor) -> Tensor:
    """(B, T, in) conv (k, in, out) -> (B, T, out), position t reading t-k+1..t."""
    width = int(kernel.shape[0])
    if width == 1:
        # A 2-D matmul: tf.matmul of (B, T, in) by (in, out) would broadcast the kernel, and its
        # gradient would then be computed per batch element and summed (much slower).
        return tf.tensordot(x, kernel[0], axes=[[-1], [0]])
    padded = tf.pad(x, [[0, 0], [width - 1, 0], [0, 0]])
    return tf.nn.conv1d(padded, kernel, stride=1, padding="VALID")


def _join_branch_kernels(kernel: Tensor, scope: tuple[int, ...]) -> Tensor:
    """(*scope, k, in, out) -> (k, in, prod(scope) * out), branch-major on the last axis."""
    n = len(scope)
    k, w_in, w_out = (int(d) for d in kernel.shape[n:])
    moved = tf.transpose(kernel, [n, n + 1, *range(n), n + 2])  # (k, in, *scope, out)
    return tf.reshape(moved, (k, w_in, math.prod(scope) * w_out))


def _split_branches(y: Tensor, scope: tuple[int, ...]) -> Tensor:
    """(B, T, prod(scope) * out) -> (*scope, B, T, out), inverting `_join_branch_kernels`."""
    n = len(scope)
    w_out = int(y.shape[-1]) // math.prod(scope)
    shape = tf.shape(y)
    y = tf.reshape(y, [shape[0], shape[1], *scope, w_out])  # (B, T, *scope, out)
    return tf.transpose(y, [*range(2, 2 + n), 0, 1, 2 + n])


def _scoped_matmul(x: Tensor, kernel: Tensor, scope: tuple[int, ...]) -> Tensor:
    """(*scope, B, T, in) @ (*scope, in, out) -> (*scope, B, T, out), one matmul per branch."""
    n = len(scope)
    w_in, w_out = int(kernel.shape[-2]), int(kernel.shape[-1])
    shape = tf.shape(x)
    flat = tf.reshape(x, (math.prod(scope), -1, w_in))  # (S, B * T, in)
    y = tf.matmul(flat, tf.reshape(kernel, (math.prod(scope), w_in, w_out)))  # (S, B * T, out)
    return tf.reshape(y, [*scope, shape[n], shape[n + 1], w_out])


def _dconv_weights(width: int):
    def weights(kinds, widths, d):
        return (WeightSpec("kernel", (width, feature_width(kinds[0], widths[0])), "dconv"),)

    return weights


def _dconv(width: int):
    def apply(xs, a: Applied):
        x = as_feature(xs[0], a.kinds[0])
        kernel = a.weights["kernel"]  # (*scope, k, W)
        w = feature_width(a.kinds[0], a.widths[0])
        if not a.scope:
            padded = tf.pad(x, [[0, 0], [width - 1, 0], [0, 0]])[:, :, None, :]
            filters = tf.reshape(kernel, (width, 1, w, 1))
            out = tf.nn.depthwise_conv2d(padded, filters, [1, 1, 1, 1], "VALID")
            return out[:, :, 0, :]
        out = None
        for j in range(width):
            tap = _weight_view(kernel[..., j, :], a.scope, (1, 1, w))
            term = shift_time(x, width - 1 - j) * tap
            out = term if out is None else out + term
        return out

    return apply


# ---------------------------------------------------------------------------------------------
# The registry.

_U1 = frozenset({"input1"})
_U2 = frozenset({"input1", "input2"})
_UC = frozenset({"input1", "constant"})
_UD = frozenset({"input1", "dim"})

REGISTRY: dict[str, OpSpec] = {}


def _register(name, group, arity, uses, meaning, on_matrix, infer, apply, weights=_no_weights):
    REGISTRY[name] = OpSpec(name, group, arity, uses, meaning, on_matrix, infer, weights, apply)


_ELEMENTWISE_ON_MATRIX = "elementwise on the scores"

_register(
    "ADD",
    "binary",
    2,
    _U2,
    "x + y",
    _ELEMENTWISE_ON_MATRIX,
    _binary_shape,
    _elementwise(lambda x, y: x + y),
)
_register(
    "DIFFERENCE",
    "binary",
    2,
    _U2,
    "x - y",
    _ELEMENTWISE_ON_MATRIX,
    _binary_shape,
    _elementwise(lambda x, y: x - y),
)
_register(
    "DIVIDE",
    "binary",
    2,
    _U2,
    "x / y, 0 where y = 0 (divide_no_nan)",
    _ELEMENTWISE_ON_MATRIX,
    _binary_shape,
    _elementwise(lambda x, y: tf.math.divide_no_nan(x, y)),
)
_register(
    "MULTIPLY",
    "binary",
    2,
    _U2,
    "x * y",
    _ELEMENTWISE_ON_MATRIX,
    _binary_shape,
    _elementwise(lambda x, y: x * y),
)

for _name, _meaning, _fn in (
    ("ABS_ROOT", "sqrt(|x|)", lambda x: tf.sqrt(tf.abs(x))),
    ("SQUARE", "x^2", lambda x: tf.square(x)),
    ("EXP", "e^x", lambda x: tf.exp(x)),
    ("LOG", "log(|x|)", lambda x: tf.math.log(tf.abs(x))),
    ("ABS", "|x|", lambda x: tf.abs(x)),
    ("RECIP", "1/x, 0 where x = 0 (reciprocal_no_nan)", lambda x: tf.math.reciprocal_no_nan(x)),
    ("SIGN", "sign(x)", lambda x: tf.sign(x)),
    ("COS", "cos(x)", lambda x: tf.cos(x)),
    ("SIN", "sin(x)", lambda x: tf.sin(x)),
    ("TANH", "tanh(x)", lambda x: tf.tanh(x)),
    ("SIGMOID", "sigmoid(x)", lambda x: tf.sigmoid(x)),
):
    _register(_name, "unary", 1, _U1, _meaning, _ELEMENTWISE_ON_MATRIX, _same, _unary(_fn))

_register(
    "C_MUL",
    "constant",
    1,
    _UC,
    "x * C",
    _ELEMENTWISE_ON_MATRIX,
    _same,
    _with_constant(lambda x, c: x * c),
)
_register(
    "MAX",
    "constant",
    1,
    _UC,
    "max(x, C)",
    _ELEMENTWISE_ON_MATRIX,
    _same,
    _max_constant,
)
_register(
    "MIN",
    "constant",
    1,
    _UC,
    "min(x, C)",
    _ELEMENTWISE_ON_MATRIX,
    _same,
    _with_constant(lambda x, c: tf.minimum(x, c)),
)

_register(
    "SCALE",
    "learned",
    1,
    _U1,
    "x * w, w learned per channel (init 1)",
    "x * w with one learned scalar",
    _same,
    _scale,
    _learned_weights("ones"),
)
_register(
    "SHIFT",
    "learned",
    1,
    _U1,
    "x + w, w learned per channel (init 0)",
    "x + w with one learned scalar",
    _same,
    _shift,
    _learned_weights("zeros"),
)

_register(
    "MASK",
    "sequence",
    1,
    _U1,
    "tf.linalg.band_part(x, -1, 0) on the last two axes",
    "zeroes future keys s > t (the attention mask)",
    _same,
    _unary(lambda x: tf.linalg.band_part(x, -1, 0)),
)
_register(
    "CUM_PROD",
    "sequence",
    1,
    _U1,
    "cumulative product over time, t included",
    "cumulative product over query positions",
    _same,
    _unary(lambda x: tf.math.cumprod(x, axis=-2)),
)
_register(
    "CUM_SUM",
    "sequence",
    1,
    _U1,
    "cumulative sum over time, t included",
    "cumulative sum over query positions",
    _same,
    _unary(lambda x: tf.math.cumsum(x, axis=-2)),
)

_register(
    "RED_MEAN",
    "reduction",
    1,
    _U1,
    "mean over the last axis (width 1)",
    "mean over keys s <= t",
    _reduce_shape,
    _red_mean,
)
_register(
    "RED_SUM",
    "reduction",
    1,
    _U1,
    "sum over the last axis (width 1)",
    "sum over keys s <= t",
    _reduce_shape,
    _reduction("reduce_sum", lambda dt: 0.0),
)
_register(
    "RED_MIN",
    "reduction",
    1,
    _U1,
    "min over the last axis (width 1)",
    "min over keys s <= t",
    _reduce_shape,
    _reduction("reduce_min", lambda dt: float(np.finfo(dt.as_numpy_dtype).max)),
)
_register(
    "RED_MAX",
    "reduction",
    1,
    _U1,
    "max over the last axis (width 1)",
    "max over keys s <= t",
    _reduce_shape,
    _reduction("reduce_max", lambda dt: float(np.finfo(dt.as_numpy_dtype).min)),
)
_register(
    "RED_PROD",
    "reduction",
    1,
    _U1,
    "product over the last axis (width 1)",
    "product over keys s <= t",
    _reduce_shape,
    _reduction("reduce_prod", lambda dt: 1.0),
)

_register(
    "MAT_MUL",
    "matrix",
    2,
    _U2,
    "x @ y for scores x (keys s > t masked); elementwise product for a feature x",
    "scores @ features -> features; scores @ scores -> scores",
    _matmul_shape,
    _mat_mul,
)
_register(
    "T_MAT_MUL",
    "matrix",
    2,
    _U2,
    "x @ transpose(y): two features -> scores (T, T)",
    "two score matrices -> scores, each masked; mixed kinds: elementwise product",
    _t_matmul_shape,
    _t_mat_mul,
)

for _k in (1, 3, 7, 15, 31):
    _register(
        f"CONV_{_k}X1",
        "weighted",
        1,
        _UD,
        "dense projection to width dim (no bias)"
        if _k == 1
        else f"causal conv1d, kernel {_k}, to width dim (no bias)",
        "applied to the causal key-mean of the scores (width 1)",
        _dim_shape,
        _conv(_k),
        _conv_weights(_k),
    )
for _k in (3, 7, 15, 31):
    _register(
        f"DCONV_{_k}X1",
        "weighted",
        1,
        _U1,
        f"causal depthwise conv, kernel {_k}, keeps the width (no bias)",
        "applied to the causal key-mean of the scores (width 1)",
        _dconv_shape,
        _dconv(_k),
        _dconv_weights(_k),
    )

PRIMITIVES: tuple[str, ...] = tuple(REGISTRY)

# CALL is part of the vocabulary but is expanded by the lowering (graph.py), not applied.
REGISTRY[CALL] = OpSpec(
    CALL,
    "call",
    2,
    frozenset({"input1", "input2", "callee", "branch"}),
    "run subprogram `callee` on (input1, input2); with branch b, b copies with their own weights "
    "and widths divided by b, features concatenated on the last axis",
    "a matrix output of a branched call is averaged over the copies",
    _same,
    _no_weights,
    None,
)


def uses_input2(op: str) -> bool:
    spec = REGISTRY.get(op)
    return spec is not None and spec.arity == 2


def parameter_count(specs: Sequence[WeightSpec], scope: Sequence[int]) -> int:
    copies = math.prod(scope) if scope else 1
    return copies * sum(math.prod(s.shape) if s.shape else 1 for s in specs)
