"""The compiled train and eval steps of one candidate (Flax lm1b style: train_step / eval_step).

A batch is int32 (rows, seq_len + 1) from the corpus: inputs are its first seq_len tokens,
targets the last seq_len (the next token at every position). Sentences are packed, so every
position is a target; the loss is the mean cross-entropy per target token, in nats.

Each step is a tf.function with a fixed input signature, so it is traced once per candidate.
`compile_step` runs its first call apart, timed: tracing and (with XLA) compiling happen there,
and the caller keeps that time out of the training budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from primer_search.training.failures import first_line

Step = Callable[[Any], Any]

# Errors with which XLA refuses a program it cannot compile (an op without an XLA kernel, a
# shape it cannot make static). Out-of-memory is not among them: it fails the candidate.
_XLA_REFUSALS = (
    tf.errors.InvalidArgumentError,
    tf.errors.UnimplementedError,
    tf.errors.InternalError,
    tf.errors.UnknownError,
)


def token_cross_entropy(batch: Any, logits: Any) -> Any:
    """(rows, T + 1) tokens, (rows, T, V) logits -> (rows, T) cross-entropy in nats."""
    targets = batch[:, 1:]  # (rows, T)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> Step:
    variables = model.trainable_variables

    def train_step(batch: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = model(batch[:, :-1])  # (rows, T, V)
            loss = tf.reduce_mean(token_cross_entropy(batch, logits))
        grads = tape.gradient(loss, variables)
        # A weight the loss cannot reach (behind SIGN, say) gets a zero gradient, not None.
        grads = [
            tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables, strict=True)
        ]
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    return train_step


def make_eval_step(model: keras.Model) -> Step:
    def eval_step(batch: Any) -> Any:
        logits = model(batch[:, :-1])  # (rows, T, V)
        return tf.reduce_sum(token_cross_entropy(batch, logits))  # summed, in nats

    return eval_step


@dataclass(frozen=True)
class CompiledStep:
    fn: Step
    first_output: Any  # the first call's result (it ran on the batch given)
    seconds: float  # wall time of the first call: tracing, compiling, one execution
    jit_compile: bool
    fallback_reason: str | None


def compile_step(step: Step, batch: Any, jit_compile: bool, any_rows: bool = False) -> CompiledStep:
    """Trace (and with `jit_compile`, XLA-compile) `step` by running it once on `batch`.

    The step accepts batches of `batch`'s shape only, or with `any_rows` of any number of rows
    (a short last validation batch; XLA compiles each new shape once). If XLA refuses the program,
    the step is traced again without XLA and the reason is kept. XLA compiles before it runs
    anything, so a refused first call has not changed any weight."""
    shape = (None, *batch.shape[1:]) if any_rows else tuple(batch.shape)
    signature = [tf.TensorSpec(shape, batch.dtype)]
    fallback_reason = None
    start = time.perf_counter()  # a refused XLA attempt is compile time too
    if jit_compile:
        fn = _function(step, signature, jit_compile=True)
        try:
            output = _sync(fn(batch))
            return CompiledStep(fn, output, time.perf_counter() - start, True, None)
        except _XLA_REFUSALS as exc:
            fallback_reason = f"{type(exc).__name__}: {first_line(exc)}"
    fn = _function(step, signature, jit_compile=False)
    output = _sync(fn(batch))
    return CompiledStep(fn, output, time.perf_counter() - start, False, fallback_reason)


def _function(step: Step, signature: list[Any], jit_compile: bool) -> Any:
    fn = tf.function(step, input_signature=signature, jit_compile=jit_compile)
    # Every candidate traces its own steps, on purpose: TF's "triggered tf.function retracing"
    # warning would fire for each candidate of a search. (A private flag; harmless if renamed.)
    fn._omit_frequent_tracing_warning = True
    return fn


def _sync(value: Any) -> Any:
    """Wait for a step to finish (a host copy of its scalar output), so timings are real."""
    return value.numpy()
