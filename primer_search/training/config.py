"""Training configuration: a frozen dataclass with presets named like the model presets.

The sequence length comes from the ModelConfig; dropout does not exist (the paper trains
candidates without regularization, PRIMER.md section 4, and the model has no dropout layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from primer_search.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """How one candidate is trained: batch size, Adafactor schedule (schedule.py), XLA."""

    name: str
    batch_tokens: int  # target tokens per step; rows = batch_tokens // seq_len
    peak_learning_rate: float
    warmup_steps: int
    # Compile the train and eval steps with XLA; a program XLA cannot compile falls back to a
    # plain tf.function (the result says which ran).
    jit_compile: bool = False

    def __post_init__(self) -> None:
        if self.batch_tokens < 1:
            raise ConfigError(f"batch_tokens must be >= 1, got {self.batch_tokens}")
        if self.warmup_steps < 1:
            raise ConfigError(f"warmup_steps must be >= 1, got {self.warmup_steps}")
        if not (math.isfinite(self.peak_learning_rate) and self.peak_learning_rate > 0):
            raise ConfigError(
                f"peak_learning_rate must be positive and finite, got {self.peak_learning_rate}"
            )

    def rows(self, seq_len: int) -> int:
        """Sequences per batch for a model of `seq_len`."""
        if self.batch_tokens < seq_len:
            raise ConfigError(
                f"batch_tokens {self.batch_tokens} is less than one sequence of {seq_len} tokens"
            )
        return self.batch_tokens // seq_len

    def tokens_per_step(self, seq_len: int) -> int:
        return self.rows(seq_len) * seq_len

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


TRAIN_PRESETS: dict[str, TrainConfig] = {
    # CPU, for tests and the demo: 16 sequences of 64 per step. A CPU minute is a few hundred
    # steps, so the paper's 10K warmup would never end: 100 steps reach the peak early. Chosen
    # on the built-in corpus with the Transformer seed (tiny model, seed 0, 2 shared cores):
    #   validation log-ppl at 200 steps, batch 1024: peak 0.005 4.59, 0.01 4.04, 0.02 3.76,
    #   0.05 3.69; at 500 steps: 0.02 3.45, 0.05 3.41. Batch 2048 for 100 steps (the same tokens,
    #   about the same time): 0.02 4.33, 0.05 4.22, so the smaller batch wins on CPU budgets.
    # The Keras Adafactor cap 1/sqrt(step) never binds: peak * sqrt(warmup) = 0.5.
    "tiny": TrainConfig(
        name="tiny",
        batch_tokens=1024,
        peak_learning_rate=0.05,
        warmup_steps=100,
        # XLA on CPU, measured on the tiny Transformer (2 shared cores): at 1024 tokens compile
        # 16.2 s against 4.9 s, step 0.168 s against 0.170 s; at 2048 tokens, under heavier
        # load, 24.7 s against 7.4 s and 0.82 s against 0.41 s. No gain, three times the compile.
        jit_compile=False,
    ),
    # The paper's candidate training (PRIMER.md section 4): 4096 tokens per batch, Adafactor,
    # 10K warmup steps at 0.01, then rsqrt decay. XLA on, as on the paper's TPUs: it fuses a
    # program's many small elementwise ops (not measured on a GPU yet; a program XLA refuses
    # falls back to plain TensorFlow).
    "paper": TrainConfig(
        name="paper",
        batch_tokens=4096,
        peak_learning_rate=0.01,
        warmup_steps=10_000,
        jit_compile=True,
    ),
}


def get_train_preset(name: str) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise ConfigError(
            f"unknown training preset {name!r}; available: {', '.join(TRAIN_PRESETS)}"
        )
    return TRAIN_PRESETS[name]
