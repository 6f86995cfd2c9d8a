"""The learning-rate schedule and the optimizer of candidate training (PRIMER.md section 4).

The paper trains every candidate with Adafactor, 10K warmup steps at 0.01, then
reciprocal-square-root decay. We read "warmup" as a linear ramp to the peak, then

    lr(s) = peak * s / warmup           for s <= warmup   (s = 1, 2, ... the update number)
    lr(s) = peak * sqrt(warmup / s)     after,

which meets the paper's rate at its end: peak * sqrt(warmup / s) = 0.01 * 100 / sqrt(s) =
1 / sqrt(s), T5's rsqrt schedule. Keras's Adafactor also caps its step at 1 / sqrt(s) (the
relative step of the Adafactor paper); with peak * sqrt(warmup) <= 1, true of every preset, the
cap never binds, so the schedule above is the rate applied. Adafactor's updates are relative to
each parameter's RMS (floor epsilon_2 = 1e-3), clipped at RMS 1, with decay 1 - s^-0.8 and no
momentum: the settings of the Adafactor paper and of T2T/Mesh-TF.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf


def learning_rate_at(step: int, peak: float, warmup_steps: int) -> float:
    """The rate of update number `step` (1-based), in plain Python for tests and plots."""
    step = max(1, step)
    if step <= warmup_steps:
        return peak * step / warmup_steps
    return peak * math.sqrt(warmup_steps / step)


@keras.saving.register_keras_serializable(package="primer_search")
class WarmupRsqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak` over `warmup_steps`, then peak * sqrt(warmup_steps / step)."""

    def __init__(self, peak: float, warmup_steps: int):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, iterations: Any) -> Any:
        # Keras passes the number of updates already applied: update number s = iterations + 1.
        step = tf.cast(iterations, tf.float32) + 1.0
        warmup = tf.cast(self.warmup_steps, tf.float32)
        ramp = self.peak * step / warmup
        decay = self.peak * tf.sqrt(warmup / step)
        return tf.where(step <= warmup, ramp, decay)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


def make_optimizer(peak: float, warmup_steps: int) -> keras.optimizers.Optimizer:
    """Adafactor with the paper's schedule (see the module docstring for its settings)."""
    return keras.optimizers.Adafactor(
        learning_rate=WarmupRsqrtDecay(peak, warmup_steps),
        beta_2_decay=-0.8,
        epsilon_1=1e-30,
        epsilon_2=1e-3,
        clip_threshold=1.0,
        relative_step=False,
    )
